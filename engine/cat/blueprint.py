"""The blueprint of an adaptive test: which items, how the next one is chosen, when to stop.

A :class:`Blueprint` is a plain, frozen value. The engine validates it on construction (cheap
checks of every field) and against a bank with :meth:`Blueprint.check_bank`; the item bank
stores blueprints per position level and validates them at its own edge (pydantic) before
they reach the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine.bank import ItemBank
from engine.exceptions import InvalidParameterError

__all__ = ["ESTIMATORS", "EXPOSURES", "SELECTIONS", "Blueprint", "parse_exposure"]

#: selection rules by name (see :mod:`engine.cat.selection`)
SELECTIONS = ("mfi", "random")
#: exposure-control rules by name; ``randomesque:K`` takes the number of candidates
EXPOSURES = ("none", "randomesque")
#: interim and final estimators
ESTIMATORS = ("eap", "map", "ml")


def parse_exposure(spec: str) -> tuple[str, int | None]:
    """Split an exposure specification such as ``"randomesque:5"`` into name and setting.

    Examples
    --------
    >>> parse_exposure("randomesque:5")
    ('randomesque', 5)
    >>> parse_exposure("none")
    ('none', None)
    """
    name, _, arg = str(spec).strip().lower().partition(":")
    if name not in EXPOSURES:
        raise InvalidParameterError(
            f"exposure: expected one of none, randomesque:K; got {spec!r}"
        )
    if name == "none":
        if arg:
            raise InvalidParameterError(f"exposure: 'none' takes no setting; got {spec!r}")
        return name, None
    try:
        k = int(arg)
    except ValueError:
        raise InvalidParameterError(
            f"exposure: expected randomesque:K with an integer K >= 1; got {spec!r}"
        ) from None
    if k < 1:
        raise InvalidParameterError(f"exposure: randomesque needs K >= 1; got {k}")
    return name, k


@dataclass(frozen=True, slots=True)
class Blueprint:
    """What an adaptive test may use and how it runs.

    Parameters
    ----------
    items : tuple of str, optional
        Ids of the bank items eligible for the test; every item of the bank when omitted.
    min_items, max_items : int
        Length limits: no stop before ``min_items`` answers; a stop at ``max_items``.
    se_target : float or None
        Stop as soon as the standard error of the estimate is **below** this value (strictly, as
        mirtCAT's ``min_SEM``); None for a fixed-length test.
    selection : str
        The selection rule (:data:`SELECTIONS`): ``"mfi"`` maximum Fisher information at the
        current estimate, ``"random"`` (for calibration designs).
    exposure : str
        ``"none"`` or ``"randomesque:K"`` (Kingsbury & Zara 1989: one of the K most informative
        items at random).
    estimator : str
        Interim and final estimate (:data:`ESTIMATORS`): ``"eap"`` (posterior mean and SD on the
        grid), ``"map"``, or ``"ml"`` (with the EAP used while the ML estimate does not exist,
        i.e. while every answer is in an extreme category).
    start_theta : float
        The trait value the first item is chosen at. The scoring prior is always the bank's
        latent distribution (DESIGN.md §5, fairness); this only places the first item.
    n_points : int
        Nodes of the EAP grid (equispaced on ``bounds``); mirtCAT uses 61.
    bounds : (float, float)
        The grid's interval, and the search interval of MAP/ML.

    Examples
    --------
    >>> bp = Blueprint(max_items=20, se_target=0.3, exposure="randomesque:5")
    >>> Blueprint.from_dict(bp.to_dict()) == bp
    True
    """

    items: tuple[str, ...] | None = None
    min_items: int = 1
    max_items: int = 30
    se_target: float | None = 0.3
    selection: str = "mfi"
    exposure: str = "none"
    estimator: str = "eap"
    start_theta: float = 0.0
    n_points: int = 121
    bounds: tuple[float, float] = (-6.0, 6.0)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if self.items is not None:
            items = tuple(str(x) for x in self.items)
            if not items:
                raise InvalidParameterError("items: expected at least one eligible item id")
            if len(set(items)) != len(items):
                dup = next(x for x in items if items.count(x) > 1)
                raise InvalidParameterError(f"items: {dup!r} is listed twice")
            set_(self, "items", items)
        for name in ("min_items", "max_items", "n_points"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise InvalidParameterError(f"{name}: expected an integer; got {value!r}")
            set_(self, name, int(value))
        if self.min_items < 0:
            raise InvalidParameterError(f"min_items: expected >= 0; got {self.min_items}")
        if self.max_items < max(self.min_items, 1):
            raise InvalidParameterError(
                f"max_items: expected >= max(min_items, 1) = {max(self.min_items, 1)}; "
                f"got {self.max_items}"
            )
        if self.n_points < 2:
            raise InvalidParameterError(f"n_points: expected at least 2; got {self.n_points}")
        if self.se_target is not None:
            se = float(self.se_target)
            if not (np.isfinite(se) and se > 0):
                raise InvalidParameterError(
                    f"se_target: expected a positive number or None; got {self.se_target!r}"
                )
            set_(self, "se_target", se)
        selection = str(self.selection).lower()
        if selection not in SELECTIONS:
            raise InvalidParameterError(
                f"selection: expected one of {', '.join(SELECTIONS)}; got {self.selection!r}"
            )
        set_(self, "selection", selection)
        name, k = parse_exposure(self.exposure)
        set_(self, "exposure", name if k is None else f"{name}:{k}")
        estimator = str(self.estimator).lower()
        if estimator not in ESTIMATORS:
            raise InvalidParameterError(
                f"estimator: expected one of {', '.join(ESTIMATORS)}; got {self.estimator!r}"
            )
        set_(self, "estimator", estimator)
        start = float(self.start_theta)
        lo, hi = (float(b) for b in self.bounds)
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise InvalidParameterError(
                f"bounds: expected finite (low, high) with low < high; got {self.bounds!r}"
            )
        if not lo <= start <= hi:
            raise InvalidParameterError(
                f"start_theta: expected a value in bounds [{lo:g}, {hi:g}]; got {start:g}"
            )
        set_(self, "start_theta", start)
        set_(self, "bounds", (lo, hi))

    # -- files and requests -----------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Blueprint:
        """Build from a mapping (a JSON object); an unknown key is an error naming it."""
        if not isinstance(data, Mapping):
            raise InvalidParameterError(
                f"blueprint: expected an object; got {type(data).__name__}"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidParameterError(
                f"blueprint: unknown field(s) {', '.join(map(repr, unknown))}; expected some of "
                f"{', '.join(sorted(known))}"
            )
        values = dict(data)
        if values.get("items") is not None:
            values["items"] = tuple(values["items"])
        if "bounds" in values:
            values["bounds"] = tuple(values["bounds"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping that :meth:`from_dict` reads back."""
        out = asdict(self)
        out["items"] = None if self.items is None else list(self.items)
        out["bounds"] = list(self.bounds)
        return out

    # -- against a bank -----------------------------------------------------------------------------
    def eligible_mask(self, bank: ItemBank) -> NDArray[np.bool_]:
        """The bank items this test may give, as a boolean mask in bank order."""
        mask = np.zeros(bank.n_items, dtype=bool)
        if self.items is None:
            mask[:] = True
        else:
            mask[bank.index_of(self.items)] = True
        return mask

    def check_bank(self, bank: ItemBank) -> NDArray[np.bool_]:
        """Refuse a blueprint the bank cannot serve; return the eligible mask.

        Raises
        ------
        InvalidParameterError
            An eligible id the bank does not hold, fewer eligible items than ``min_items``, a
            multidimensional bank (slice (b) of the adaptive engine), or a bank prior whose
            mean lies outside ``bounds``.
        """
        if not isinstance(bank, ItemBank):
            raise InvalidParameterError(
                f"bank: expected an engine.bank.ItemBank (item ids are needed); got "
                f"{type(bank).__name__}"
            )
        if bank.n_dims != 1:
            raise InvalidParameterError(
                f"bank: the adaptive engine serves unidimensional banks so far; this one measures "
                f"{bank.n_dims} factors"
            )
        try:
            mask = self.eligible_mask(bank)
        except InvalidParameterError as exc:
            raise InvalidParameterError(f"items: {exc}") from None
        n_eligible = int(mask.sum())
        if n_eligible < self.min_items:
            raise InvalidParameterError(
                f"min_items: the blueprint asks for at least {self.min_items} items but only "
                f"{n_eligible} are eligible"
            )
        return mask
