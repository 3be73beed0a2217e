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

from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import InvalidParameterError

__all__ = [
    "CLASSIFICATIONS",
    "CONTENT_METHODS",
    "ESTIMATORS",
    "EXPOSURES",
    "SELECTIONS",
    "Blueprint",
    "parse_exposure",
]

#: selection rules by name (see :mod:`qabilet.engine.cat.selection`)
SELECTIONS = ("mfi", "mpwi", "mepv", "kl", "klp", "dopt", "aopt", "random")
#: what a multidimensional bank can use
MULTIDIMENSIONAL = {"selection": ("dopt", "aopt", "random"), "estimator": ("eap", "map")}
#: exposure-control rules by name: ``randomesque:K`` (candidates), ``sh:RATE`` (Sympson–Hetter
#: target rate), ``astrat:S`` (a-stratification into S strata)
EXPOSURES = ("none", "randomesque", "sh", "astrat")
#: interim and final estimators
ESTIMATORS = ("eap", "map", "ml")
#: classification stopping rules
CLASSIFICATIONS = ("sprt", "glr")
#: content-control methods
CONTENT_METHODS = ("wdm", "shadow")


def _sh_pairs(values: Any, n_classes: int) -> tuple[tuple[str, float | tuple[float, ...]], ...]:
    """Validated ``sh_parameters``: one K in (0, 1] per item, or ``n_classes`` of them."""
    items = values.items() if isinstance(values, Mapping) else values
    pairs: list[tuple[str, float | tuple[float, ...]]] = []
    for i, v in items:
        try:
            k = np.atleast_1d(np.asarray(v, dtype=np.float64))
        except (TypeError, ValueError):
            k = np.full(0, np.nan)
        scalar = np.ndim(v) == 0
        if k.ndim != 1 or k.size != max(n_classes, 1) or scalar == bool(n_classes):
            what = f"a list of {n_classes} parameters (one per class)" if n_classes else "a number"
            raise InvalidParameterError(f"sh_parameters[{str(i)!r}]: expected {what}; got {v!r}")
        bad = k[~((k > 0) & (k <= 1))]
        if bad.size:
            raise InvalidParameterError(f"sh_parameters[{str(i)!r}]: expected an exposure "
                                        f"parameter in (0, 1]; got {bad[0]:g}")
        pairs.append((str(i), tuple(k.tolist()) if n_classes else float(k[0])))
    if len({i for i, _ in pairs}) != len(pairs):
        raise InvalidParameterError("sh_parameters: an item id is listed twice")
    return tuple(pairs)


def parse_exposure(spec: str) -> tuple[str, float | None]:
    """Split an exposure specification such as ``"randomesque:5"`` into name and setting.

    Examples
    --------
    >>> parse_exposure("randomesque:5")
    ('randomesque', 5)
    >>> parse_exposure("sh:0.25")
    ('sh', 0.25)
    >>> parse_exposure("none")
    ('none', None)
    """
    name, _, arg = str(spec).strip().lower().partition(":")
    expected = "none, randomesque:K, sh:RATE or astrat:S"
    if name not in EXPOSURES:
        raise InvalidParameterError(f"exposure: expected one of {expected}; got {spec!r}")
    if name == "none":
        if arg:
            raise InvalidParameterError(f"exposure: 'none' takes no setting; got {spec!r}")
        return name, None
    try:
        value: float = float(arg) if name == "sh" else int(arg)
    except ValueError:
        what = "a rate in (0, 1]" if name == "sh" else "an integer"
        raise InvalidParameterError(
            f"exposure: expected {name}:{'RATE' if name == 'sh' else 'K'} with {what}; "
            f"got {spec!r}"
        ) from None
    if name == "randomesque" and value < 1:
        raise InvalidParameterError(f"exposure: randomesque needs K >= 1; got {value:g}")
    if name == "astrat" and value < 2:
        raise InvalidParameterError(f"exposure: astrat needs at least 2 strata; got {value:g}")
    if name == "sh" and not 0 < value <= 1:
        raise InvalidParameterError(
            f"exposure: sh needs a target exposure rate in (0, 1]; got {value:g}"
        )
    return name, value


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
        current estimate, ``"mpwi"`` maximum posterior-weighted information, ``"mepv"`` minimum
        expected posterior variance, ``"kl"`` Kullback–Leibler information over an interval,
        ``"klp"`` posterior-weighted KL, ``"dopt"`` / ``"aopt"`` Bayesian D- and A-optimality
        (Segall 1996; for several factors — the four competencies), ``"random"`` (for
        calibration designs).
    exposure : str
        ``"none"``; ``"randomesque:K"`` (Kingsbury & Zara 1989: one of the K best items at
        random); ``"sh:RATE"`` (Sympson & Hetter 1985, with ``sh_parameters`` derived for the
        target maximum rate by :func:`qabilet.engine.cat.derive_sympson_hetter`); ``"astrat:S"``
        (a-stratification with b-blocking into S strata, Chang, Qian & Ying 2001).
    sh_parameters : tuple of (str, float), optional
        Sympson–Hetter exposure parameters :math:`K_i \\in (0, 1]` by item id (items not listed
        have 1); a JSON object ``{id: K}`` in files. With ``sh_classes``, one parameter per
        class: ``{id: [K_1, …, K_C]}``.
    sh_classes : tuple of float
        Conditional Sympson–Hetter (Stocking & Lewis 1998): cut points on θ that divide the
        trait into classes, each with its own parameters; a session's class is that of its
        current estimate, so that candidates of similar ability share few items. Empty (the
        default): one set of parameters for everyone.
    estimator : str
        Interim and final estimate (:data:`ESTIMATORS`): ``"eap"`` (posterior mean and SD on the
        grid), ``"map"``, or ``"ml"`` (with the EAP used while the ML estimate does not exist,
        i.e. while every answer is in an extreme category).
    start_theta : float
        The trait value the first item is chosen at. The scoring prior is always the bank's
        latent distribution (docs/design.md §5, fairness); this only places the first item. The
        bank stores a blueprint per position level, so the level chooses its own start.
    start_candidates : int
        The first item is drawn at random among the this many best items at ``start_theta``
        (1: the best; more spreads the exposure of opening items).
    pretest_items : tuple of str
        Ids of unscored pretest items (seeded for later fixed-parameter calibration); they need
        no parameters and never enter the estimate.
    pretest_positions : tuple of int
        1-based positions in the test at which a pretest item is given (while any is left).
        Pretest items do not count towards ``min_items`` / ``max_items``.
    content : tuple of (str, str)
        A content category per item id (competency, format); ``{id: category}`` in files.
    quotas : tuple of (str, int, int)
        ``(category, minimum, maximum)`` items per test; ``{category: [min, max]}`` in files.
    enemies : tuple of tuple of str
        Enemy sets: at most one item of each set in a test.
    content_method : {"wdm", "shadow"}
        How quotas are met: weighted deviations (Stocking & Swanson 1993) or shadow tests
        solved by mixed-integer programming (van der Linden & Reese 1998); see
        :mod:`qabilet.engine.cat.content`.
    content_weight : float
        Weighted deviations: the weight of one item of projected quota deviation against the
        selection rule's merit scaled to [0, 1].
    min_information : float, optional
        Stop when no available item has at least this much Fisher information at the estimate.
    time_limit_s : float, optional
        Stop when the caller reports this many seconds spent (``next_item(state,
        elapsed_s=…)``); the engine keeps no clock.
    classification : {"sprt", "glr"}, optional
        Stop when the band of the trait is decided at every cut score: Wald's sequential
        probability ratio test between :math:`c - \\delta` and :math:`c + \\delta` (Reckase
        1983; Eggen 1999), or the generalized likelihood ratio, which maximises the likelihood
        over each side of the indifference region (Bartroff, Finkelman & Lai 2008). For several
        factors with simple structure (each competency its own items), SPRT decides the band of
        every factor at every cut, on that factor's items.
    cut_scores : tuple of float
        The band edges on the latent scale (from the norm set of the position level).
    indifference : float
        Half-width :math:`\\delta` of the indifference region around each cut.
    alpha, beta : float
        Error rates at the edges of the indifference region: :math:`\\alpha` of calling
        "above" at :math:`c - \\delta`, :math:`\\beta` of calling "below" at :math:`c + \\delta`.
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
    sh_parameters: tuple[tuple[str, float | tuple[float, ...]], ...] | None = None
    sh_classes: tuple[float, ...] = ()
    estimator: str = "eap"
    start_theta: float = 0.0
    start_candidates: int = 1
    pretest_items: tuple[str, ...] = ()
    pretest_positions: tuple[int, ...] = ()
    content: tuple[tuple[str, str], ...] = ()
    quotas: tuple[tuple[str, int, int], ...] = ()
    enemies: tuple[tuple[str, ...], ...] = ()
    content_method: str = "wdm"
    content_weight: float = 1.0
    min_information: float | None = None
    time_limit_s: float | None = None
    classification: str | None = None
    cut_scores: tuple[float, ...] = ()
    indifference: float = 0.2
    alpha: float = 0.05
    beta: float = 0.05
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
        self._check_pretest()
        self._check_content()
        for name in ("min_items", "max_items", "n_points", "start_candidates"):
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
        if self.start_candidates < 1:
            raise InvalidParameterError(
                f"start_candidates: expected >= 1; got {self.start_candidates}"
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
        set_(self, "exposure", name if k is None else f"{name}:{k:g}")
        classes = tuple(float(c) for c in self.sh_classes)
        if any(not np.isfinite(c) for c in classes) or list(classes) != sorted(set(classes)):
            raise InvalidParameterError(f"sh_classes: expected finite, strictly increasing cut "
                                        f"points; got {list(self.sh_classes)!r}")
        set_(self, "sh_classes", classes)
        if self.sh_parameters is not None:
            set_(self, "sh_parameters", _sh_pairs(self.sh_parameters, len(classes) + 1
                                                  if classes else 0))
        if name == "sh" and self.sh_parameters is None:
            raise InvalidParameterError(
                "sh_parameters: exposure 'sh' needs the items' exposure parameters; derive them "
                "for the target rate with engine.cat.derive_sympson_hetter (qabilet simulate "
                "does so itself)"
            )
        estimator = str(self.estimator).lower()
        if estimator not in ESTIMATORS:
            raise InvalidParameterError(
                f"estimator: expected one of {', '.join(ESTIMATORS)}; got {self.estimator!r}"
            )
        set_(self, "estimator", estimator)
        for name in ("min_information", "time_limit_s"):
            value = getattr(self, name)
            if value is not None:
                v = float(value)
                if not (np.isfinite(v) and v > 0):
                    raise InvalidParameterError(
                        f"{name}: expected a positive number or None; got {value!r}"
                    )
                set_(self, name, v)
        self._check_classification()
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

    def _check_content(self) -> None:
        set_ = object.__setattr__
        content = self.content.items() if isinstance(self.content, Mapping) else self.content
        pairs = tuple((str(i), str(c)) for i, c in content)
        if len({i for i, _ in pairs}) != len(pairs):
            raise InvalidParameterError("content: an item id is tagged twice")
        quotas = []
        raw = self.quotas.items() if isinstance(self.quotas, Mapping) else (
            (q[0], q[1:]) for q in self.quotas)
        for name, bounds in raw:
            try:
                lo, hi = (int(v) for v in bounds)
            except (TypeError, ValueError):
                raise InvalidParameterError(
                    f"quotas[{name!r}]: expected [minimum, maximum] item counts; got {bounds!r}"
                ) from None
            if not 0 <= lo <= hi:
                raise InvalidParameterError(
                    f"quotas[{name!r}]: expected 0 <= minimum <= maximum; got [{lo}, {hi}]"
                )
            quotas.append((str(name), lo, hi))
        tagged = {c for _, c in pairs}
        missing = [q for q, _, _ in quotas if q not in tagged]
        if missing:
            raise InvalidParameterError(
                f"quotas[{missing[0]!r}]: no item is tagged with this category in 'content'"
            )
        if sum(lo for _, lo, _ in quotas) > int(self.max_items):
            raise InvalidParameterError(
                f"quotas: the minimums add up to {sum(lo for _, lo, _ in quotas)} items, more "
                f"than max_items = {self.max_items}"
            )
        enemies = tuple(tuple(str(i) for i in group) for group in self.enemies)
        if any(len(g) < 2 for g in enemies):
            raise InvalidParameterError("enemies: every enemy set needs at least two items")
        method = str(self.content_method).lower()
        if method not in CONTENT_METHODS:
            raise InvalidParameterError(
                f"content_method: expected one of {', '.join(CONTENT_METHODS)}; got "
                f"{self.content_method!r}"
            )
        weight = float(self.content_weight)
        if not (np.isfinite(weight) and weight >= 0):
            raise InvalidParameterError(f"content_weight: expected >= 0; got {weight:g}")
        set_(self, "content", pairs)
        set_(self, "quotas", tuple(quotas))
        set_(self, "enemies", enemies)
        set_(self, "content_method", method)
        set_(self, "content_weight", weight)

    def _check_pretest(self) -> None:
        set_ = object.__setattr__
        items = tuple(str(x) for x in self.pretest_items)
        if len(set(items)) != len(items):
            raise InvalidParameterError("pretest_items: an item id is listed twice")
        if self.items is not None and set(items) & set(self.items):
            both = sorted(set(items) & set(self.items))[0]
            raise InvalidParameterError(
                f"pretest_items: {both!r} is also an operational (scored) item"
            )
        try:
            positions = tuple(int(p) for p in self.pretest_positions)
        except (TypeError, ValueError):
            raise InvalidParameterError(
                f"pretest_positions: expected integers; got {self.pretest_positions!r}"
            ) from None
        if any(p < 1 for p in positions) or list(positions) != sorted(set(positions)):
            raise InvalidParameterError(
                f"pretest_positions: expected increasing positions >= 1; got {positions!r}"
            )
        if positions and not items:
            raise InvalidParameterError("pretest_positions: given, but no pretest_items")
        set_(self, "pretest_items", items)
        set_(self, "pretest_positions", positions)

    def _check_classification(self) -> None:
        set_ = object.__setattr__
        cuts = tuple(float(c) for c in self.cut_scores)
        if any(not np.isfinite(c) for c in cuts) or list(cuts) != sorted(set(cuts)):
            raise InvalidParameterError(
                f"cut_scores: expected finite, strictly increasing values; got {self.cut_scores!r}"
            )
        set_(self, "cut_scores", cuts)
        for name in ("alpha", "beta"):
            v = float(getattr(self, name))
            if not 0 < v < 0.5:
                raise InvalidParameterError(f"{name}: expected an error rate in (0, 0.5); got {v:g}")
            set_(self, name, v)
        delta = float(self.indifference)
        if not (np.isfinite(delta) and delta > 0):
            raise InvalidParameterError(f"indifference: expected a positive half-width; got {delta:g}")
        set_(self, "indifference", delta)
        if self.classification is not None:
            rule = str(self.classification).lower()
            if rule not in CLASSIFICATIONS:
                raise InvalidParameterError(
                    f"classification: expected one of {', '.join(CLASSIFICATIONS)} or None; got "
                    f"{self.classification!r}"
                )
            if not cuts:
                raise InvalidParameterError(
                    "cut_scores: a classification stop needs at least one cut score"
                )
            set_(self, "classification", rule)

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
        for name in ("bounds", "cut_scores", "pretest_items", "pretest_positions", "sh_classes"):
            if name in values and values[name] is not None:
                values[name] = tuple(values[name])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping that :meth:`from_dict` reads back."""
        out = asdict(self)
        out["items"] = None if self.items is None else list(self.items)
        out["sh_parameters"] = None if self.sh_parameters is None else {
            i: list(v) if isinstance(v, tuple) else v for i, v in self.sh_parameters}
        out["sh_classes"] = list(self.sh_classes)
        out["bounds"] = list(self.bounds)
        out["cut_scores"] = list(self.cut_scores)
        out["pretest_items"] = list(self.pretest_items)
        out["content"] = dict(self.content)
        out["quotas"] = {name: [lo, hi] for name, lo, hi in self.quotas}
        out["enemies"] = [list(g) for g in self.enemies]
        out["pretest_positions"] = list(self.pretest_positions)
        return out

    def _check_multidimensional(self, bank: ItemBank) -> None:
        """Refuse the rules that have no multidimensional form here."""
        n_dims = bank.n_dims
        if n_dims > 4:
            raise InvalidParameterError(
                f"bank: the adaptive engine's EAP uses a product grid, up to 4 factors; this bank "
                f"measures {n_dims}"
            )
        for name, allowed in MULTIDIMENSIONAL.items():
            if getattr(self, name) not in allowed:
                raise InvalidParameterError(
                    f"{name}: a bank of {n_dims} factors needs one of {', '.join(allowed)}; got "
                    f"{getattr(self, name)!r}"
                )
        simple = bool(np.all((bank.slopes != 0).sum(axis=1) == 1))
        unsupported = [(self.exposure.startswith("astrat"), "exposure 'astrat'"),
                       (self.classification == "glr", "classification 'glr' (use 'sprt')"),
                       (self.classification is not None and not simple,
                        "classification on items that load on several factors (it needs simple "
                        "structure)"),
                       (self.min_information is not None, "min_information"),
                       (bool(self.sh_classes), "sh_classes (conditional Sympson–Hetter)")]
        for bad, what in unsupported:
            if bad:
                raise InvalidParameterError(f"{what}: not available for a bank of {n_dims} factors")

    def sh_parameter_array(self, bank: ItemBank) -> NDArray[np.float64]:
        """Sympson–Hetter parameters in bank order (1 for items not listed).

        Shape ``(n_items,)``, or ``(n_classes, n_items)`` with ``sh_classes``.
        """
        out = np.ones((len(self.sh_classes) + 1, bank.n_items) if self.sh_classes
                      else bank.n_items)
        if self.sh_parameters:
            ids, values = zip(*self.sh_parameters, strict=True)
            out[..., bank.index_of(ids)] = np.asarray(values, dtype=np.float64).T
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
            An eligible id the bank does not hold, fewer eligible items than ``min_items``, or
            a rule with no multidimensional form for a bank of several factors (one-factor
            rules: ``mfi``, ``mpwi``, ``mepv``, ``kl``, ``klp``, ``ml``, ``astrat``,
            classification, ``min_information``).
        """
        if not isinstance(bank, ItemBank):
            raise InvalidParameterError(
                f"bank: expected an engine.bank.ItemBank (item ids are needed); got "
                f"{type(bank).__name__}"
            )
        if bank.n_dims > 1:
            self._check_multidimensional(bank)
        try:
            mask = self.eligible_mask(bank)
        except InvalidParameterError as exc:
            raise InvalidParameterError(f"items: {exc}") from None
        if self.sh_parameters is not None:
            try:
                bank.index_of([i for i, _ in self.sh_parameters])
            except InvalidParameterError as exc:
                raise InvalidParameterError(f"sh_parameters: {exc}") from None
        operational = set(np.asarray(bank.item_ids, dtype=object)[mask].tolist())
        clash = [i for i in self.pretest_items if i in operational]
        if clash:
            raise InvalidParameterError(
                f"pretest_items: {clash[0]!r} is an eligible operational item of the bank"
            )
        n_eligible = int(mask.sum())
        if n_eligible < self.min_items:
            raise InvalidParameterError(
                f"min_items: the blueprint asks for at least {self.min_items} items but only "
                f"{n_eligible} are eligible"
            )
        return mask
