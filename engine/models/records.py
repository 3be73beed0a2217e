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


def record_form(name: str, record: Mapping[str, Any]) -> str:
    """``"slope_intercept"`` or ``"traditional"``: how a record of model ``name`` is written.

    A record holding the model's slope-intercept marker (``d``; ``ak`` for ``nominal``, whose
    traditional form has ``d`` too) is in slope-intercept form.
    """
    marker = get_model(name).PARAMETERS.marker
    return "slope_intercept" if marker in record else "traditional"


def _column(records: Sequence[Mapping[str, Any]], key: str, default: Any = None) -> list[Any]:
    """Field ``key`` of every record; ``default`` for a record that leaves it out (or an error)."""
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

    The fields are the model's declared ones (:attr:`ItemModel.PARAMETERS`) in that form;
    parameters the model fixes (the slope of a Rasch item) are left out.
    """
    declared = model.PARAMETERS
    multi = model.n_dims > 1
    fields = [f for f in (declared.slope_intercept if multi else declared.traditional)
              if f.written]
    arrays = model.to_slope_intercept() if multi else model.to_traditional()
    columns = {f.name: _per_item(arrays[f.key], f.shape, model.n_items) for f in fields}
    return [{name: values[i] for name, values in columns.items()} for i in range(model.n_items)]


def _per_item(values: np.ndarray, shape: str, n_items: int) -> list[Any]:
    """One record value per item from a conversion's array, as the field's shape says."""
    if shape == "shared":  # one list for every item (the rating scale's thresholds)
        return [values.tolist()] * n_items
    if shape == "number":
        return [float(x) for x in values]
    if shape == "slopes":
        return [row.tolist() for row in values]
    return [_trim(row) for row in values]
