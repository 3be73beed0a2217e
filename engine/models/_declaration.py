"""What parameters a model has, declared once on its class (:attr:`ItemModel.PARAMETERS`).

A declaration says, for one registered model name:

* its **columns** — the entries of :meth:`ItemModel.param_vector` (slope-intercept form, mirt's
  names ``a1``, ``d``, ``g``, ``ak0`` …), each with its kind, whether a calibration estimates it
  (free, fixed, or tied: one value shared by every item of the model), the categories whose
  entry is fixed by the identification, the prior kind that applies and its bounds;
* its **record fields** in both forms of docs/design.md §5 — the parameters of a parameter
  file's item record (``a``, ``b``, ``c`` …), their shape, the key of
  :meth:`ItemModel.to_traditional` / :meth:`ItemModel.to_slope_intercept` that holds them, the
  value a record may leave out, and whether they are written.

Everything that needs a model's parameters — the records of :mod:`qabilet.engine.models.records`,
the parameter file's schema, the calibration's free entries, tied parameters, logit-scale
asymptotes and prior kinds, the delta-method standard errors — is derived from it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Literal

__all__ = ["Column", "Field", "ModelParameters", "split_name", "with_slopes"]

Kind = Literal["slope", "intercept", "threshold", "location", "lower asymptote",
               "upper asymptote", "category slope"]
Estimated = Literal["free", "fixed", "tied"]
Shape = Literal["number", "numbers", "slopes", "shared"]

_INDEXED = re.compile(r"^(?P<stem>[a-z]+?)(?P<index>\d*)$")


@dataclass(frozen=True, slots=True)
class Column:
    """One kind of entry of :meth:`ItemModel.param_vector` (slope-intercept form).

    Attributes
    ----------
    stem : str
        mirt's name without its number: ``"a"`` for ``a1 … aD`` (one per factor), ``"d"`` for
        ``d`` or ``d0 …``/``d1 …`` (one per category or threshold), ``"g"``, ``"u"``, ``"ak"``,
        ``"b"``, ``"tau"``.
    kind : str
        What the parameter is (slope, intercept, threshold, location, lower asymptote, upper
        asymptote, category slope).
    estimated : {"free", "fixed", "tied"}
        Whether a calibration estimates it: for every item separately, not at all, or as one
        value shared by every item of the model (one per column).
    fixed_categories : tuple of {"first", "last"}
        Entries of a per-category column fixed by the identification (``d0 = 0``; mirt's
        nominal scoring ``ak0 = 0``, ``ak(K−1) = K − 1``).
    prior : str or None
        The prior kind (``"a"``, ``"d"``, ``"c"``, ``"u"``) that applies to it.
    bounds : (float, float)
        Its domain; a parameter in (0, 1) is estimated on the logit scale.
    """

    stem: str
    kind: Kind
    estimated: Estimated = "free"
    fixed_categories: tuple[Literal["first", "last"], ...] = ()
    prior: str | None = None
    bounds: tuple[float, float] = (-math.inf, math.inf)

    @property
    def logit(self) -> bool:
        """Estimated on the logit scale (a parameter in (0, 1): the asymptotes)."""
        return self.bounds == (0.0, 1.0)

    @property
    def is_estimated(self) -> bool:
        """Whether a calibration estimates any entry of it."""
        return self.estimated != "fixed"

    def matches(self, name: str) -> bool:
        """Whether ``name`` (a ``param_names()`` entry) is one of this column's entries."""
        return split_name(name)[0] == self.stem


def split_name(name: str) -> tuple[str, int | None]:
    """``"d2"`` → ``("d", 2)``, ``"g"`` → ``("g", None)``: a column name's stem and number."""
    found = _INDEXED.match(name)
    if found is None:
        return name, None
    return found["stem"], int(found["index"]) if found["index"] else None


@dataclass(frozen=True, slots=True)
class Field:
    """One parameter of an item record in one form (a parameter file's ``a``, ``b`` …).

    Attributes
    ----------
    name : str
        The record's key.
    shape : {"number", "numbers", "slopes", "shared"}
        A number; a list per item (one per category or threshold); a number, or in
        slope-intercept form a list with one slope per factor; a list shared by every item.
    source : str
        The key of ``to_traditional()`` / ``to_slope_intercept()`` holding it (``name`` by
        default).
    default : float or None
        The value of a record that leaves it out (None: a record must give it).
    written : bool
        Whether records written by qabilet hold it (False for a value the model fixes, e.g.
        the slope 1 of a Rasch item).
    same_as : str or None
        The column stem it equals entry by entry (its standard errors are that column's).
    se_written : bool
        Whether a parameter file carries its standard errors (False for the nominal model's
        category slopes, products of mirt's parameters).
    """

    name: str
    shape: Shape
    source: str = ""
    default: float | None = None
    written: bool = True
    same_as: str | None = None
    se_written: bool = True

    @property
    def key(self) -> str:
        """The key of the model's conversion that holds it."""
        return self.source or self.name

    @property
    def is_list(self) -> bool:
        """A list per item (in a record)."""
        return self.shape in ("numbers", "shared")


@dataclass(frozen=True, slots=True)
class ModelParameters:
    """The declaration of one model's parameters (see the module notes).

    Attributes
    ----------
    columns : tuple of Column
        The kinds of ``param_vector`` entries, in their order.
    traditional : tuple of Field
        Record fields in traditional form (unidimensional items), in the order written.
    slope_intercept : tuple of Field
        Record fields in slope-intercept form; empty when the model has only the traditional
        form (``rsm``).
    n_categories : int or None
        The number of categories every item has (2 for dichotomous models), or None.
    variance_free : bool
        A calibration estimates the latent variance (the slopes being fixed), as mirt does.
    """

    columns: tuple[Column, ...]
    traditional: tuple[Field, ...]
    slope_intercept: tuple[Field, ...]
    n_categories: int | None = None
    variance_free: bool = False

    def column(self, name: str) -> Column:
        """The column declaration of the ``param_names()`` entry ``name``."""
        for col in self.columns:
            if col.matches(name):
                return col
        raise KeyError(name)

    def form(self, which: str) -> tuple[Field, ...]:
        """The record fields of ``"traditional"`` or ``"slope_intercept"`` form."""
        return self.traditional if which == "traditional" else self.slope_intercept

    @property
    def marker(self) -> str:
        """The field that marks a record as slope-intercept (``d``; ``ak`` for ``nominal``)."""
        traditional = {f.name for f in self.traditional}
        return next((f.name for f in self.slope_intercept if f.name not in traditional), "d")

    @property
    def ordered(self) -> bool:
        """Whether the categories are ordered (no estimated category slopes, as the nominal's)."""
        return not any(c.kind == "category slope" and c.is_estimated for c in self.columns)

    def prior_kinds(self) -> frozenset[str]:
        """The prior kinds that apply to an estimated parameter of the model."""
        return frozenset(c.prior for c in self.columns if c.prior and c.is_estimated)


# -- the shared pieces of the declarations --------------------------------------------------------
SLOPES = Column("a", "slope", prior="a")
FIXED_SLOPES = Column("a", "slope", estimated="fixed", prior="a")
TRADITIONAL_SLOPE = Field("a", "number", same_as="a")
FIXED_SLOPE = Field("a", "number", default=1.0, written=False)
SI_SLOPES = Field("a", "slopes", same_as="a")
SI_FIXED_SLOPES = Field("a", "slopes", default=1.0, same_as="a")


def with_slopes(slopes: Estimated, *, columns: tuple[Column, ...], traditional: tuple[Field, ...],
                slope_intercept: tuple[Field, ...], n_categories: int | None = None
                ) -> ModelParameters:
    """The declaration of a model whose first parameter is a slope per item and factor (``a``).

    ``slopes`` says how a calibration treats them: ``"free"`` (estimated per item), ``"tied"``
    (one slope shared by every item of the model) or ``"fixed"`` (at 1: the latent variance is
    then free, as mirt's ``Rasch``); the other columns and fields follow the slope's.
    """
    fixed = slopes == "fixed"
    return ModelParameters(
        columns=(FIXED_SLOPES if fixed else replace(SLOPES, estimated=slopes), *columns),
        traditional=(FIXED_SLOPE if fixed else TRADITIONAL_SLOPE, *traditional),
        slope_intercept=(SI_FIXED_SLOPES if fixed else SI_SLOPES, *slope_intercept),
        n_categories=n_categories, variance_free=fixed)
