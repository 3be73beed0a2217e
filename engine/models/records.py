"""Per-item parameter records (the ``items`` of a parameter file, docs/design.md §6) ↔ model objects.

A record is a mapping with the item's parameters, in traditional form for unidimensional items
(``{"a": 1.3, "b": [-1.2, 0.1]}``) or slope-intercept form (``{"a": [0.9, 0.4], "d": 0.2}``; a
record with ``d`` is read as slope-intercept). This module knows the parameter names of every
model; reading files and validating their structure is :mod:`qabilet.itembank`'s job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.models._base import ItemModel
from qabilet.engine.models.dichotomous import FourPL, OnePL, Rasch
from qabilet.engine.models.graded import GradedResponse
from qabilet.engine.models.nominal import NominalResponse
from qabilet.engine.models.partial_credit import (
    GeneralizedPartialCredit,
    PartialCredit,
    RatingScale,
)
from qabilet.engine.models.registry import get_model

__all__ = ["model_from_records", "model_to_records", "record_form"]

_DICHOTOMOUS_FIXED = {
    "rasch": ("a", "c", "u"),
    "1pl": ("c", "u"),
    "2pl": ("c", "u"),
    "3pl": ("u",),
    "4pl": (),
}


def record_form(name: str, record: Mapping[str, Any]) -> str:
    """``"slope_intercept"`` or ``"traditional"``: how a record of model ``name`` is written."""
    if name == "nominal":
        return "slope_intercept" if "ak" in record else "traditional"
    return "slope_intercept" if "d" in record else "traditional"


def _column(records: Sequence[Mapping[str, Any]], key: str, default: Any = None) -> list[Any]:
    out = []
    for i, r in enumerate(records):
        if key not in r and default is None:
            raise InvalidParameterError(f"items[{i}]: missing parameter {key!r}")
        out.append(r.get(key, default))
    return out


def model_from_records(name: str, records: Sequence[Mapping[str, Any]]) -> ItemModel:
    """Build one model object from the records of items that share model ``name`` and form.

    Parameters
    ----------
    name : str
        A registered model name.
    records : sequence of mappings
        Parameters per item (all in the same form, see :func:`record_form`).

    Returns
    -------
    ItemModel
    """
    cls = get_model(name)
    name = cls.name
    si = record_form(name, records[0]) == "slope_intercept" if records else False
    if issubclass(cls, FourPL):
        if si:
            a = _column(records, "a", 1.0 if name == "rasch" else None)
            return cls.from_slope_intercept(
                _slope_matrix(a),
                _column(records, "d"),
                _column(records, "c", 0.0),
                _column(records, "u", 1.0),
            )
        b = _column(records, "b")
        if cls is Rasch:
            return Rasch(b, _column(records, "a", 1.0))
        if issubclass(cls, OnePL):
            return cls(_column(records, "a"), b)
        slopes = _slope_matrix(_column(records, "a"))
        if slopes.shape[1] != 1:
            raise InvalidParameterError(
                f"{name}: items with several slopes are written in slope-intercept form (a, d)"
            )
        d = -slopes[:, 0] * np.asarray(b, dtype=np.float64)
        return cls.from_slope_intercept(
            slopes, d, _column(records, "c", 0.0), _column(records, "u", 1.0)
        )
    if cls is GradedResponse:
        if si:
            return GradedResponse.from_slope_intercept(
                _slope_matrix(_column(records, "a")), _column(records, "d")
            )
        return GradedResponse(_column(records, "a"), _column(records, "b"))
    if cls is RatingScale:
        taus = _column(records, "tau")
        first = np.asarray(taus[0], dtype=np.float64)
        for i, t in enumerate(taus):
            if np.shape(t) != first.shape or not np.allclose(t, first):
                raise InvalidParameterError(
                    f"items[{i}]: rsm thresholds tau must be shared by all items"
                )
        return RatingScale(_column(records, "b"), first)
    if issubclass(cls, GeneralizedPartialCredit):
        default_a = 1.0 if cls is PartialCredit else None
        if si:
            return cls.from_slope_intercept(
                _slope_matrix(_column(records, "a", default_a)), _column(records, "d")
            )
        if cls is PartialCredit:
            return PartialCredit(_column(records, "b"), _column(records, "a", 1.0))
        return cls(_column(records, "a"), _column(records, "b"))
    if cls is NominalResponse:
        if si:
            return NominalResponse.from_slope_intercept(
                _slope_matrix(_column(records, "a")), _column(records, "ak"), _column(records, "d")
            )
        return NominalResponse(_column(records, "a"), _column(records, "d"))
    raise InvalidParameterError(f"model {name!r} has no record reader")  # pragma: no cover


def _slope_matrix(values: list[Any]) -> np.ndarray:
    """Slopes from records: numbers (one factor) or equal-length lists (one per factor)."""
    lengths = {np.size(v) for v in values}
    if len(lengths) > 1:
        raise InvalidParameterError(
            f"a: every item of one model must have the same number of slopes; got {sorted(lengths)}"
        )
    arr = np.asarray(values, dtype=np.float64)
    return arr.reshape(len(values), -1)


def _trim(row: np.ndarray) -> list[float]:
    return [float(x) for x in row if not np.isnan(x)]


def model_to_records(model: ItemModel) -> list[dict[str, Any]]:
    """Parameters of every item as records: traditional for one factor, slope-intercept otherwise.

    Parameters fixed by the model (``c`` of a 2PL, the slope of a Rasch item) are left out.
    """
    name = model.name
    multi = model.n_dims > 1
    out: list[dict[str, Any]] = []
    if isinstance(model, FourPL):
        p = model.to_slope_intercept() if multi else model.to_traditional()
        fixed = _DICHOTOMOUS_FIXED[name]
        for i in range(model.n_items):
            rec: dict[str, Any] = {}
            if multi:
                rec["a"] = p["a"][i].tolist()
                rec["d"] = float(p["d"][i])
            else:
                if "a" not in fixed:
                    rec["a"] = float(p["a"][i])
                rec["b"] = float(p["b"][i])
            for key in ("c", "u"):
                if key not in fixed:
                    rec[key] = float(p[key][i])
            out.append(rec)
        return out
    if isinstance(model, RatingScale):
        return [
            {"b": float(model.location[i]), "tau": model.tau.tolist()} for i in range(model.n_items)
        ]
    if isinstance(model, NominalResponse):
        if multi:
            p = model.to_slope_intercept()
            return [
                {"a": p["a"][i].tolist(), "ak": _trim(p["ak"][i]), "d": _trim(p["d"][i])}
                for i in range(model.n_items)
            ]
        p = model.to_traditional()
        return [{"a": _trim(p["a"][i]), "d": _trim(p["d"][i])} for i in range(model.n_items)]
    # graded and partial credit: a and a vector of b (or d)
    p = model.to_slope_intercept() if multi else model.to_traditional()
    vec = "d" if multi else "b"
    records = []
    for i in range(model.n_items):
        rec = {}
        if multi:
            rec["a"] = p["a"][i].tolist()
        elif not isinstance(model, PartialCredit):
            rec["a"] = float(p["a"][i])
        rec[vec] = _trim(p[vec][i])
        records.append(rec)
    return records
