"""Parameter files (JSON, docs/design.md §6): the schema, reading and writing.

A parameter file holds a calibrated bank: a default model, the latent distribution (always
written; a hand-written unidimensional file may leave it out and reads as N(0, 1)), the fit
information of the calibration that produced it, and one record per item with its id, model,
parameters, the original category codes (``categories``) and standard errors (``se``)::

    {"model": "grm",
     "latent": {"factor_names": ["theta"], "mean": [0.0], "cov": [[1.0]]},
     "items": [{"id": "Q1", "a": 1.3, "b": [-1.2, 0.1, 1.4], "categories": [1, 2, 3, 4]}]}

Unidimensional items are written in traditional form (``a``, ``b``, ``c``, ``u``; ``tau`` for the
rating scale model; category slopes and intercepts ``a``, ``d`` for the nominal model) and
multidimensional ones in slope-intercept form (a list of slopes ``a``, one per factor, and the
intercept(s) ``d``; ``ak`` are the nominal model's category scoring values).

The schema checks structure — types, which parameters each model has and their shapes, the
number of slopes against the latent distribution, unique item ids — and names the JSON path of a
problem (``items[3] ('Q4').b: expected a number; got [0.1, 0.2]``). The parameter values
themselves (order of thresholds, asymptotes in [0, 1), …) are checked by :mod:`qabilet.engine` when the
bank is built; those errors keep the engine's message and gain the file name.

**Multi-group files.** A multi-group calibration writes each group's latent distribution in
``groups`` and names the group that fixed the scale in ``reference_group``; the top-level
``latent`` is that group's. Items are equal in every group unless they carry their own
``groups`` object: the parameters of the item as that group answers it (a language version of
an item, an item with DIF), complete and in the item's model, with their own ``se``. The
item's top-level parameters are the reference group's, and a group an item does not list
answers it with those::

    {"model": "2pl", "reference_group": "kk",
     "latent": {"mean": [0.0], "cov": [[1.0]]},
     "groups": {"kk": {"mean": [0.0], "cov": [[1.0]]}, "ru": {"mean": [0.41], "cov": [[1.2]]}},
     "items": [{"id": "Q1", "a": 1.1, "b": -0.2},
               {"id": "Q4", "a": 1.3, "b": 0.1, "groups": {"ru": {"a": 1.2, "b": 0.8}}}]}

:meth:`ParameterFile.to_bank` builds the bank of one group (``to_bank(group="ru")``: the
group's item parameters and latent distribution) or, by default, the top-level one.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import DataFileError, InvalidParameterError, UnknownModelError
from qabilet.engine.latent import LatentDistribution
from qabilet.engine.models.registry import get_model
from qabilet.itembank._files import write_text_atomic
from qabilet.itembank.response_file import PERSON_ID

__all__ = [
    "GroupParameters",
    "ItemRecord",
    "LatentRecord",
    "ParameterFile",
    "load_bank",
    "read_parameter_file",
    "write_parameter_file",
]

# -- parameter names and shapes per model --------------------------------------------------------
_NUM = "a number"
_VEC = "a list of numbers"
_SLOPES = "a number or a list of numbers (one slope per factor)"
_TRADITIONAL = "traditional"
_SLOPE_INTERCEPT = "slope-intercept"

_SHAPES = {"number": _NUM, "numbers": _VEC, "shared": _VEC, "slopes": _SLOPES}


def _forms(model: str) -> tuple[dict[str, str], dict[str, str]]:
    """A model's parameters in traditional and in slope-intercept form, with their shapes.

    Derived from the model's declaration (:attr:`qabilet.engine.models.ItemModel.PARAMETERS`).
    """
    declared = get_model(model).PARAMETERS
    return ({f.name: _SHAPES[f.shape] for f in declared.traditional},
            {f.name: _SHAPES[f.shape] for f in declared.slope_intercept})


def _optional(model: str) -> frozenset[str]:
    """The parameters a record of ``model`` may leave out (the model fixes or defaults them)."""
    declared = get_model(model).PARAMETERS
    return frozenset(f.name for f in (*declared.traditional, *declared.slope_intercept)
                     if f.default is not None)


_PARAMETER_NAMES = ("a", "ak", "b", "c", "u", "d", "tau")


# -- value validators (one clear message instead of pydantic's per-union-member errors) ---------
def _show(value: Any) -> str:
    try:
        text = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fail(kind: str, value: Any) -> PydanticCustomError:
    return PydanticCustomError("qabilet_value", "expected {kind}; got {got}",
                               {"kind": kind, "got": _show(value)})


def _as_number(value: Any, kind: str, whole: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(kind, whole)
    try:
        out = float(value)
    except OverflowError:
        raise _fail(kind, whole) from None
    if not math.isfinite(out):
        raise _fail(kind.replace("number", "finite number"), whole)
    return out


def _number(value: Any) -> float:
    return _as_number(value, "a number", value)


def _numbers(value: Any) -> list[float]:
    kind = "a non-empty list of numbers"
    if not isinstance(value, list | tuple) or not value:
        raise _fail(kind, value)
    return [_as_number(v, kind, value) for v in value]


def _number_or_numbers(value: Any) -> float | list[float]:
    if isinstance(value, list | tuple):
        return _numbers(value)
    return _as_number(value, "a number or a non-empty list of numbers", value)


def _standard_error(value: Any) -> float | list[float | None] | None:
    kind = "a standard error (a number ≥ 0, null, or a list of them)"
    if value is None:
        return None
    if isinstance(value, list | tuple):
        out = [None if v is None else _as_number(v, kind, value) for v in value]
        if any(v is not None and v < 0 for v in out):
            raise _fail(kind, value)
        return out
    se = _as_number(value, kind, value)
    if se < 0:
        raise _fail(kind, value)
    return se


Number = Annotated[float, PlainValidator(_number)]
Numbers = Annotated[list[float], PlainValidator(_numbers)]
NumberOrNumbers = Annotated[float | list[float], PlainValidator(_number_or_numbers)]
StandardError = Annotated[float | list[float | None] | None, PlainValidator(_standard_error)]


def _located(where: Sequence[str | int], message: str) -> PydanticCustomError:
    """Make an error at ``where`` (a path below the validated object) with a full message."""
    return PydanticCustomError("qabilet", "{message}", {"message": message, "where": list(where)})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


# -- the schema ---------------------------------------------------------------------------------
class LatentRecord(_Strict):
    """The latent (population) distribution: a multivariate normal.

    Attributes
    ----------
    factor_names : list of str, optional
        One name per factor; ``["theta"]`` or ``["F1", "F2", …]`` when omitted.
    mean : list of float, length n_dims
        Factor means.
    cov : list of lists of float, shape (n_dims, n_dims)
        Covariance matrix (symmetric, positive definite).
    """

    factor_names: list[str] | None = None
    mean: Numbers
    cov: list[Numbers]

    @model_validator(mode="after")
    def _check(self) -> LatentRecord:
        d = len(self.mean)
        shape = [len(row) for row in self.cov]
        if len(self.cov) != d or any(n != d for n in shape):
            raise _located(["cov"], f"expected a {d}×{d} matrix (one row and column per factor of "
                                    f"mean); got rows of lengths {shape}")
        if self.factor_names is not None and len(self.factor_names) != d:
            raise _located(["factor_names"], f"expected {d} name(s), one per factor of mean; got "
                                             f"{len(self.factor_names)}")
        try:
            self.to_latent()
        except InvalidParameterError as exc:
            message = str(exc).removeprefix("latent: ")
            field = "factor_names" if "factor names" in message else "cov"
            raise _located([field], message.removeprefix(f"{field} ")) from None
        return self

    @property
    def n_dims(self) -> int:
        """Number of factors."""
        return len(self.mean)

    def to_latent(self) -> LatentDistribution:
        """Build the engine's :class:`~qabilet.engine.latent.LatentDistribution`."""
        return LatentDistribution(self.mean, self.cov, self.factor_names)

    @classmethod
    def from_latent(cls, latent: LatentDistribution) -> LatentRecord:
        """Make the record of an engine latent distribution."""
        return cls.model_validate(latent.to_dict())


class _ParameterSet:
    """What the records holding an item's parameters share (fields a … tau and se)."""

    def parameters(self) -> dict[str, float | list[float]]:
        """Return the parameters given, by name."""
        return {name: getattr(self, name) for name in _PARAMETER_NAMES
                if getattr(self, name) is not None}

    def form(self, model: str) -> str:
        """Return ``"traditional"`` or ``"slope-intercept"``: how the item is written."""
        marker = get_model(model).PARAMETERS.marker
        return _SLOPE_INTERCEPT if getattr(self, marker) is not None else _TRADITIONAL


class GroupParameters(_ParameterSet, _Strict):
    """An item's parameters as one group answers it (an entry of :attr:`ItemRecord.groups`).

    Attributes
    ----------
    a, ak, b, c, u, d, tau : float or list of float, optional
        Every parameter of the item's model, as at the item's top level (complete, not only the
        ones that differ).
    se : dict, optional
        Standard errors of these parameters.
    """

    a: NumberOrNumbers | None = None
    ak: Numbers | None = None
    b: NumberOrNumbers | None = None
    c: Number | None = None
    u: Number | None = None
    d: NumberOrNumbers | None = None
    tau: Numbers | None = None
    se: dict[str, StandardError] | None = None


class ItemRecord(_ParameterSet, _Strict):
    """One item: id, model, parameters, original category codes and standard errors.

    Attributes
    ----------
    id : str
        Unique within the file; the item's column name in response files.
    model : str, optional
        A registered model name (``2pl``, ``grm``, …); the file's ``model`` when omitted.
    a, ak, b, c, u, d, tau : float or list of float, optional
        The parameters the model has, in traditional or slope-intercept form (docs/design.md §5).
    categories : list of int, optional
        The original response codes, in the order of categories ``0 … K−1``.
    se : dict, optional
        Standard errors, keyed by parameter name, shaped like the parameter (null: not estimated).
    groups : dict of GroupParameters, optional
        A multi-group file's group-specific parameters: group label → the item's parameters in
        that group. The top-level parameters are the reference group's and those of every group
        not listed.
    """

    id: str
    model: str | None = None
    a: NumberOrNumbers | None = None
    ak: Numbers | None = None
    b: NumberOrNumbers | None = None
    c: Number | None = None
    u: Number | None = None
    d: NumberOrNumbers | None = None
    tau: Numbers | None = None
    categories: list[int] | None = None
    se: dict[str, StandardError] | None = None
    groups: dict[str, GroupParameters] | None = None

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not value or value != value.strip():
            raise PydanticCustomError(
                "qabilet_value", "expected a non-empty id without surrounding spaces; got {got}",
                {"got": _show(value)})
        if value == PERSON_ID:
            raise PydanticCustomError(
                "qabilet_value", "{got} is reserved for the person id column of response files",
                {"got": _show(value)})
        return value

    @field_validator("categories")
    @classmethod
    def _check_categories(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and (len(value) < 2 or len(set(value)) != len(value)):
            raise PydanticCustomError(
                "qabilet_value", "expected at least two distinct codes; got {got}",
                {"got": _show(value)})
        return value

    @property
    def reverse_keyed(self) -> bool:
        """Whether the item is reverse-keyed: a negative slope ``a`` (on some factor).

        Examples
        --------
        >>> ItemRecord(id="Q1", model="grm", a=-1.2, b=[1.0, -1.0]).reverse_keyed
        True
        """
        return self.a is not None and min(self.a if isinstance(self.a, list) else [self.a]) < 0

    def parameters_in(self, group: str | None = None) -> ItemRecord | GroupParameters:
        """Return the record of the item's parameters in ``group`` (top level: None or unlisted)."""
        if group is not None and self.groups and group in self.groups:
            return self.groups[group]
        return self


class ParameterFile(_Strict):
    """A parameter file (docs/design.md §6).

    Attributes
    ----------
    model : str, optional
        Default model of items that do not name one.
    latent : LatentRecord
        The latent distribution (the scoring prior). A file without it reads as N(0, 1) (one
        factor, ``theta``), as in mirt; a file whose items have several slopes must give it (it
        names the factors).
    groups : dict of LatentRecord, optional
        Per-group latent distributions of a multi-group fit.
    reference_group : str, optional
        The group whose latent distribution fixed the scale; ``latent`` and the items'
        top-level parameters are its own.
    loglik, aic, bic : float, optional
        Fit statistics of the calibration.
    n_iter : int, optional
        EM iterations used.
    converged : bool, optional
        Whether the calibration met its tolerance.
    method : str, optional
        How the parameters were estimated.
    factor_correlations : list of list of float, optional
        For several factors: their correlation matrix (derived from ``latent.cov``, written for
        readers; it must agree with it).
    items : list of ItemRecord
        The items, in bank order.

    Examples
    --------
    >>> pf = ParameterFile.model_validate({
    ...     "model": "grm", "latent": {"mean": [0.0], "cov": [[1.0]]},
    ...     "items": [{"id": "Q1", "a": 1.3, "b": [-1.0, 0.5], "categories": [1, 2, 3]}]})
    >>> pf.to_bank().n_categories.tolist(), pf.recodings()
    ([3], {'Q1': (1, 2, 3)})
    """

    model: str | None = None
    latent: LatentRecord = Field(
        default_factory=lambda: LatentRecord.from_latent(LatentDistribution.standard()))
    groups: dict[str, LatentRecord] | None = None
    reference_group: str | None = None
    loglik: Number | None = None
    aic: Number | None = None
    bic: Number | None = None
    n_iter: int | None = Field(default=None, ge=0)
    converged: bool | None = None
    method: str | None = None
    factor_correlations: list[list[Number]] | None = None
    items: list[ItemRecord] = Field(min_length=1)

    _source: str | None = PrivateAttr(default=None)

    # -- structural checks that need the whole file ----------------------------------------------
    @field_validator("model")
    @classmethod
    def _check_default_model(cls, value: str | None) -> str | None:
        return None if value is None else _model_name(value, [])

    @model_validator(mode="after")
    def _check_items(self) -> ParameterFile:
        self._check_latent_given()
        n_dims = self.latent.n_dims
        first_use: dict[str, int] = {}
        for i, item in enumerate(self.items):
            if item.id in first_use:
                first = first_use[item.id]
                raise _located(["items", i, "id"],
                               f"duplicate item id; items[{first}] has the same id")
            first_use[item.id] = i
            if item.model is None and self.model is None:
                raise _located(["items", i, "model"], "missing; give the item a model or the file "
                                                      "a default model")
            model = _model_name(item.model or self.model, ["items", i, "model"])
            _check_parameters(item, model, n_dims, ["items", i])
            for label, params in (item.groups or {}).items():
                where: list[str | int] = ["items", i, "groups", label]
                self._check_group_label(label, where)
                _check_parameters(params, model, n_dims, where)
        if self.factor_correlations is not None:
            cov = np.asarray(self.latent.cov, dtype=np.float64)
            sd = np.sqrt(np.diag(cov))
            given = np.asarray(self.factor_correlations, dtype=np.float64)
            if given.shape != cov.shape or not np.allclose(given, cov / np.outer(sd, sd),
                                                           atol=1e-9):
                raise _located(["factor_correlations"],
                               "expected the correlation matrix of latent.cov")
        for name, group in (self.groups or {}).items():
            if group.n_dims != n_dims:
                raise _located(["groups", name, "mean"],
                               f"expected {n_dims} factor(s) as in latent; got {group.n_dims}")
        reference = self.reference_group
        if reference is not None:
            self._check_group_label(reference, ["reference_group"], reference=True)
            ref = self.groups[reference]  # type: ignore[index]
            same = (np.allclose(ref.mean, self.latent.mean, rtol=0, atol=1e-12)
                    and np.allclose(ref.cov, self.latent.cov, rtol=0, atol=1e-12))
            if not same:
                raise _located(["groups", reference],
                               "the reference group's latent distribution must equal latent (the "
                               f"top level is the reference group's); got mean {ref.mean}, cov "
                               f"{ref.cov} against {self.latent.mean}, {self.latent.cov}")
        return self

    def _check_latent_given(self) -> None:
        """A file without ``latent`` reads as N(0, 1): refuse it when its items have several slopes.

        Several factors need the block: the items' slopes are only positions, so the factors'
        names (a score file's ``theta_<factor>`` columns, the bank's dimensions) are the block's.
        """
        if "latent" in self.model_fields_set:
            return
        for i, item in enumerate(self.items):
            name = item.model or self.model
            if name is None:
                continue  # refused with its own message by _check_items
            model = _model_name(name, ["items", i, "model"])
            if item.form(model) == _SLOPE_INTERCEPT and isinstance(item.a, list) and len(item.a) > 1:
                n = len(item.a)
                example = _dumps({"factor_names": [f"F{k + 1}" for k in range(n)],
                                  "mean": [0.0] * n, "cov": np.eye(n).tolist()})
                raise _located(["latent"], f"missing; items[{i}] ({item.id!r}) has {n} slopes, one "
                                           f"per factor, and only the latent block names the "
                                           f"factors (a file without it reads as N(0, 1), one "
                                           f"factor). Add the block with your factors' names, e.g. "
                                           f'"latent": {example} for N(0, I)')

    def _check_group_label(self, label: str, where: list[str | int], *,
                           reference: bool = False) -> None:
        """A group label used by an item or as ``reference_group`` must be a key of ``groups``."""
        labels = list(self.groups or {})
        if not labels:
            raise _located(where, "needs the file's groups (the per-group latent distributions); "
                                  "the file has none")
        if label not in labels:
            raise _located(where, f"expected one of the file's groups ({', '.join(labels)}); got "
                                  f"{label!r}")
        if not reference and label == self.reference_group:
            raise _located(where, "the reference group's parameters are the item's top-level "
                                  "ones; give them there, not in groups")

    # -- to and from the engine ------------------------------------------------------------------
    def item_models(self) -> list[str]:
        """Return the registered model name of every item (the default filled in)."""
        return [get_model(item.model or self.model or "").name for item in self.items]

    def to_bank(self, group: str | None = None) -> ItemBank:
        """Build the engine's :class:`~qabilet.engine.bank.ItemBank`, with the latent distribution.

        Parameters
        ----------
        group : str, optional
            A group of a multi-group file: the items as that group answers them (its
            group-specific parameters where an item has them) and the group's latent
            distribution. By default the top-level parameters and ``latent``. For scoring, give
            every group the same prior (docs/design.md §5): ``to_bank(group).with_latent(...)``.

        Raises
        ------
        DataFileError
            When the engine rejects parameter values (thresholds out of order, an asymptote out of
            range, …) or ``categories`` does not list one code per category; the message keeps the
            item's position and id.
        InvalidParameterError
            When ``group`` is not one of the file's groups.

        Examples
        --------
        >>> pf = ParameterFile.model_validate({
        ...     "model": "2pl", "reference_group": "kk", "latent": {"mean": [0.0], "cov": [[1.0]]},
        ...     "groups": {"kk": {"mean": [0.0], "cov": [[1.0]]},
        ...                "ru": {"mean": [0.5], "cov": [[1.2]]}},
        ...     "items": [{"id": "Q1", "a": 1.0, "b": 0.0},
        ...               {"id": "Q2", "a": 1.3, "b": 0.2, "groups": {"ru": {"a": 1.3, "b": 0.9}}}]})
        >>> [r["b"] for r in pf.to_bank(group="ru").to_records()], pf.to_bank("ru").latent.mean
        ([0.0, 0.9], array([0.5]))
        >>> [r["b"] for r in pf.to_bank().to_records()], pf.group_specific_items()
        ([0.0, 0.2], ('Q2',))
        """
        latent = self.latent
        if group is not None:
            labels = list(self.groups or {})
            if group not in labels:
                has = (f"expected one of its groups ({', '.join(labels)})" if labels
                       else "the file has no groups")
                raise InvalidParameterError(f"group: {has}; got {group!r}")
            latent = self.groups[group]  # type: ignore[index]
        records = [{"id": item.id, "model": model, **item.parameters_in(group).parameters()}
                   for item, model in zip(self.items, self.item_models(), strict=True)]
        try:
            bank = ItemBank.from_records(records, latent=latent.to_latent())
        except InvalidParameterError as exc:
            where = "" if group is None else f" (the parameters of group {group!r})"
            raise DataFileError(f"{exc}{where}", path=self._source) from None
        for i, item in enumerate(self.items):
            k = int(bank.n_categories[i])
            if item.categories is not None and len(item.categories) != k:
                raise DataFileError(
                    f"{_item_path(i, item.id)}.categories: expected {k} codes, one per category of "
                    f"this {bank.model_names[i]} item; got {len(item.categories)}",
                    path=self._source,
                )
        return bank

    def recodings(self) -> dict[str, tuple[int, ...]]:
        """Original category codes of the items that have them: ``{item id: (code of 0, …)}``."""
        return {item.id: tuple(item.categories) for item in self.items
                if item.categories is not None}

    def group_latents(self) -> dict[str, LatentDistribution]:
        """Build the per-group latent distributions of a multi-group fit (may be empty)."""
        return {name: g.to_latent() for name, g in (self.groups or {}).items()}

    def group_specific_items(self) -> tuple[str, ...]:
        """Ids of the items that have parameters of their own in some group."""
        return tuple(item.id for item in self.items if item.groups)

    @classmethod
    def from_data(cls, data: Any, *, source: str | None = None) -> ParameterFile:
        """Validate parsed JSON.

        Parameters
        ----------
        data : object
            What :func:`json.load` returned.
        source : str, optional
            The file name, for error messages.

        Raises
        ------
        DataFileError
            Naming the JSON path of the first problem and what was expected.
        """
        try:
            out = cls.model_validate(data)
        except ValidationError as exc:
            raise DataFileError(_describe(exc, data), path=source) from None
        out._source = source
        return out

    @classmethod
    def from_bank(
        cls,
        bank: ItemBank,
        *,
        recodings: Mapping[str, Sequence[int]] | None = None,
        se: Mapping[str, Mapping[str, Any]] | None = None,
        groups: Mapping[str, LatentDistribution] | None = None,
        group_banks: Mapping[str, ItemBank] | None = None,
        group_se: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
        reference_group: str | None = None,
        loglik: float | None = None,
        aic: float | None = None,
        bic: float | None = None,
        n_iter: int | None = None,
        converged: bool | None = None,
        method: str | None = None,
    ) -> ParameterFile:
        """Make the parameter file of an engine bank and of the fit that produced it.

        Parameters
        ----------
        bank : ItemBank
            Items and latent distribution (of the reference group, in a multi-group file).
        recodings : mapping, optional
            ``{item id: original codes of categories 0 … K−1}``.
        se : mapping, optional
            ``{item id: {parameter name: standard error(s)}}``.
        groups : mapping of LatentDistribution, optional
            Per-group latent distributions; by default those of ``group_banks``.
        group_banks : mapping of ItemBank, optional
            Group label → the items as that group answers them (the same ids and models as
            ``bank``), e.g. each group's ``bank`` of a calibration result. An item whose
            parameters in a group differ from its parameters in ``bank`` gets that group's in its
            ``groups``.
        group_se : mapping, optional
            ``{group: {item id: {parameter name: standard error(s)}}}`` of those group-specific
            parameters.
        reference_group : str, optional
            The group whose parameters and latent distribution ``bank`` holds.
        loglik, aic, bic, n_iter, converged, method : optional
            Fit information.

        Raises
        ------
        InvalidParameterError
            When the result would not be a valid parameter file (naming the JSON path).
        """
        unknown = sorted(set(recodings or {}).union(se or {}) - set(bank.item_ids))
        if unknown:
            raise InvalidParameterError(f"recodings/se: unknown item id(s) {unknown}")
        per_group = _group_records(bank, group_banks or {}, group_se or {}, reference_group)
        if group_banks and groups is None:
            groups = {label: b.latent for label, b in group_banks.items()}
        elif group_banks and set(group_banks) != set(groups or {}):
            raise InvalidParameterError(f"groups, group_banks: expected the same groups; got "
                                        f"{sorted(groups or {})} and {sorted(group_banks)}")
        items = []
        for record in bank.to_records():
            item_id = record["id"]
            if recodings and item_id in recodings:
                record["categories"] = [int(x) for x in recodings[item_id]]
            if se and item_id in se:
                record["se"] = {k: _plain(v) for k, v in se[item_id].items()}
            if item_id in per_group:
                record["groups"] = per_group[item_id]
            items.append(record)
        models = set(bank.model_names)
        data: dict[str, Any] = {
            "model": models.pop() if len(models) == 1 else None,
            "latent": bank.latent.to_dict(),
            "groups": {k: g.to_dict() for k, g in groups.items()} if groups else None,
            "reference_group": reference_group,
            "loglik": _plain(loglik),
            "aic": _plain(aic),
            "bic": _plain(bic),
            "n_iter": None if n_iter is None else int(n_iter),
            "converged": None if converged is None else bool(converged),
            "method": method,
            "factor_correlations": (bank.latent.correlation.tolist() if bank.n_dims > 1
                                    else None),
            "items": items,
        }
        try:
            pf = cls.model_validate(data)
        except ValidationError as exc:
            raise InvalidParameterError(_describe(exc, data)) from None
        for label in [None, *(pf.groups or {})]:  # the values, not only the structure: a file
            pf.to_bank(label)                      # we write must read back, for every group
        return pf

    def to_json(self) -> str:
        """Return the file's text: a line per top-level field and per item, exact floats."""
        data = self.model_dump(mode="json", exclude_none=True)
        lines = []
        for n, (key, value) in enumerate(data.items()):
            comma = "," if n < len(data) - 1 else ""
            if key == "items":
                inner = ",\n".join("    " + _dumps(item) for item in value)
                lines.append(f'  "items": [\n{inner}\n  ]{comma}')
            else:
                lines.append(f"  {_dumps(key)}: {_dumps(value)}{comma}")
        return "{\n" + "\n".join(lines) + "\n}\n"


# -- reading and writing ------------------------------------------------------------------------
def read_parameter_file(path: str | os.PathLike[str]) -> ParameterFile:
    """Read and validate a parameter file.

    Parameters
    ----------
    path : str or path-like
        A JSON file (UTF-8).

    Returns
    -------
    ParameterFile
        Validated; :meth:`ParameterFile.to_bank` builds the engine bank.

    Raises
    ------
    DataFileError
        Not UTF-8, not JSON (with line and column), a key repeated in an object, or a schema
        violation (with the JSON path, e.g. ``items[3] ('Q4').b``).
    OSError
        When the file cannot be read.
    """
    source = str(path)
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFileError(f"expected UTF-8 text; byte {exc.start} is not", path=source) from None
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise DataFileError(
            f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}", path=source
        ) from None
    except _DuplicateKeyError as exc:
        raise DataFileError(f"not valid JSON: key {exc.args[0]!r} repeats in one object",
                            path=source) from None
    return ParameterFile.from_data(data, source=source)


def load_bank(path: str | os.PathLike[str]) -> tuple[ItemBank, dict[str, tuple[int, ...]]]:
    """Read a parameter file and build the bank and the category recodings.

    Parameters
    ----------
    path : str or path-like
        A parameter file.

    Returns
    -------
    bank : ItemBank
        The items, with the file's latent distribution.
    recodings : dict
        ``{item id: original codes of categories 0 … K−1}`` for the items that list them.

    Raises
    ------
    DataFileError
        As :func:`read_parameter_file` and :meth:`ParameterFile.to_bank`.
    """
    pf = read_parameter_file(path)
    return pf.to_bank(), pf.recodings()


def write_parameter_file(path: str | os.PathLike[str], bank: ItemBank, **fit_info: Any) -> None:
    """Write a bank and its fit information as a parameter file, atomically.

    Parameters
    ----------
    path : str or path-like
        The destination; replaced only once the complete file is on disk.
    bank : ItemBank
        Items and latent distribution.
    **fit_info
        The keyword arguments of :meth:`ParameterFile.from_bank` (``recodings``, ``se``,
        ``groups``, ``group_banks``, ``group_se``, ``reference_group``, ``loglik``, ``aic``,
        ``bic``, ``n_iter``, ``converged``, ``method``); an unknown name is a ``TypeError``.

    Raises
    ------
    InvalidParameterError
        When the content would not be a valid parameter file; nothing is written.
    OSError
        When the directory is missing or not writable; nothing is written.
    """
    write_text_atomic(path, ParameterFile.from_bank(bank, **fit_info).to_json())


# -- helpers ------------------------------------------------------------------------------------
def _group_records(
    bank: ItemBank,
    group_banks: Mapping[str, ItemBank],
    group_se: Mapping[str, Mapping[str, Mapping[str, Any]]],
    reference: str | None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """``{item id: {group: parameters (and se)}}`` for the items a group answers differently."""
    if reference is not None and group_banks and reference not in group_banks:
        raise InvalidParameterError(f"reference_group: expected one of the groups "
                                    f"{sorted(group_banks)}; got {reference!r}")
    unknown = sorted(set(group_se) - set(group_banks))
    if unknown:
        raise InvalidParameterError(f"group_se: unknown group(s) {unknown}")
    top = [_without_id(r) for r in bank.to_records()]
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for label, other in group_banks.items():
        if other.item_ids != bank.item_ids or other.model_names != bank.model_names:
            raise InvalidParameterError(f"group_banks[{label!r}]: expected the items of bank (the "
                                        "same ids and models, in the same order)")
        ses = group_se.get(label, {})
        extra = sorted(set(ses) - set(bank.item_ids))
        if extra:
            raise InvalidParameterError(f"group_se[{label!r}]: unknown item id(s) {extra}")
        for item_id, mine, theirs in zip(bank.item_ids, top, other.to_records(), strict=True):
            params = _without_id(theirs)
            if params == mine:
                continue
            if label == reference:
                raise InvalidParameterError(
                    f"group_banks[{label!r}]: the reference group's items must be bank's; item "
                    f"{item_id!r} differs")
            if item_id in ses:
                params["se"] = {k: _plain(v) for k, v in ses[item_id].items()}
            out.setdefault(item_id, {})[label] = params
    return out


def _without_id(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("id", "model")}


def _model_name(name: str | None, where: list[str | int]) -> str:
    try:
        return get_model(str(name)).name
    except UnknownModelError as exc:
        raise _located(where, str(exc)) from None


def _check_parameters(item: ItemRecord | GroupParameters, model: str, n_dims: int,
                      where: list[str | int]) -> None:
    """Which parameters a ``model`` item has in its form, their shapes and the number of slopes."""
    form = item.form(model)
    traditional, slope_intercept = _forms(model)
    shapes, other = (traditional, slope_intercept) if form == _TRADITIONAL else (
        slope_intercept, traditional)
    given = item.parameters()
    marker = get_model(model).PARAMETERS.marker
    for name, value in given.items():
        if name not in shapes:
            if name in other:
                message = (f"belongs to the {_other(form)} form of a {model} item, but {marker!r} "
                           f"makes this item's form {form}; give the parameters of one form")
                if not shapes:
                    message = (f"a {model} item is written in traditional form only; expected "
                               f"{', '.join(traditional)}")
                    name = marker
            else:
                names = ", ".join(dict.fromkeys([*traditional, *slope_intercept]))
                message = f"is not a parameter of a {model} item; expected {names}"
            raise _located([*where, name], message)
        kind = shapes[name]
        is_list = isinstance(value, list)
        if (kind == _NUM and is_list) or (kind == _VEC and not is_list):
            raise _located([*where, name], f"expected {kind} for a {model} item in {form} form; "
                                           f"got {_show(value)}")
    required = [name for name in shapes if name not in _optional(model)]
    missing = [name for name in required if name not in given]
    if missing:
        optional = [name for name in shapes if name not in required]
        may = f" and may have {', '.join(optional)}" if optional else ""
        raise _located([*where, missing[0]], f"missing; a {model} item in {form} form needs "
                                             f"{', '.join(required)}{may}")
    if form == _TRADITIONAL:
        if n_dims != 1:
            raise _located(where, f"a {model} item in traditional form measures one factor, but "
                                  f"latent has {n_dims}; write multidimensional items in slope-"
                                  "intercept form (a list of slopes a, one per factor, and d)")
    else:
        a = given.get("a", 1.0)
        n_slopes = len(a) if isinstance(a, list) else 1
        if n_slopes != n_dims:
            raise _located([*where, "a"], f"expected {n_dims} slope(s), one per factor of latent; "
                                          f"got {n_slopes}")
    known = set(traditional) | set(slope_intercept)
    for name in item.se or {}:
        if name not in known:
            raise _located([*where, "se", name], f"is not a parameter of a {model} item; expected "
                                                 f"one of {', '.join(sorted(known))}")


def _other(form: str) -> str:
    return _SLOPE_INTERCEPT if form == _TRADITIONAL else _TRADITIONAL


def _item_path(i: int, item_id: Any) -> str:
    return f"items[{i}] ({item_id!r})" if isinstance(item_id, str) else f"items[{i}]"


def _json_path(loc: Sequence[str | int], data: Any) -> str:
    """``("items", 3, "b")`` → ``items[3] ('Q4').b`` (the id read from the raw data)."""
    out = ""
    node = data
    parent: str | int | None = None
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            if parent == "items" and isinstance(node, dict) and isinstance(node.get("id"), str):
                out += f" ({node['id']!r})"
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
        parent = part
    return out


def _fields_for(loc: Sequence[str | int]) -> list[str]:
    """Field names of the schema object that holds the last part of ``loc``."""
    head = list(loc[:-1])
    if not head:
        cls: type[BaseModel] = ParameterFile
    elif head[0] == "items":
        cls = GroupParameters if "groups" in head[2:3] else ItemRecord
    else:
        cls = LatentRecord
    return list(cls.model_fields)


def _describe(exc: ValidationError, data: Any) -> str:
    """Describe the first error as ``<json path>: <what was expected>; got <what came>``."""
    errors = exc.errors()
    err = errors[0]
    ctx = err.get("ctx") or {}
    loc = [*err["loc"], *ctx.get("where", [])]
    kind = err["type"]
    if kind == "qabilet":
        message = ctx["message"]
    elif kind == "qabilet_value":
        message = err["msg"]
    elif kind == "missing":
        message = "missing (a required field)"
    elif kind == "extra_forbidden":
        message = f"unexpected field; expected one of {', '.join(_fields_for(loc))}"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        message = f"expected a JSON object {{...}}; got {_show(err.get('input'))}"
    elif kind == "too_short":
        message = f"expected at least {ctx.get('min_length', 1)} entry; got none"
    else:
        message = err["msg"].replace("Input should be", "expected")
        message = message[0].lower() + message[1:]
        message += f"; got {_show(err.get('input'))}"
    path = _json_path(loc, data) or "top level"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return f"{path}: {message}{more}"


class _DuplicateKeyError(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(key)
        out[key] = value
    return out


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def _plain(value: Any) -> Any:
    """Numbers and arrays as JSON-ready Python values (NaN → None)."""
    if value is None:
        return None
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        x = float(arr)
        return x if math.isfinite(x) else None
    return [x if math.isfinite(x) else None for x in arr.ravel().tolist()]
