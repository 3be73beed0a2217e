"""Per-item parameter records (the ``items`` of a parameter file, docs/design.md §6) ↔ model objects.

A record is a mapping with the item's parameters, in traditional form for unidimensional items
(``{"a": 1.3, "b": [-1.2, 0.1]}``) or slope-intercept form (``{"a": [0.9, 0.4], "d": 0.2}``; a
record with ``d`` — ``ak`` for ``nominal`` — is read as slope-intercept). The fields of each
model and form are its declaration's (:attr:`ItemModel.PARAMETERS`); reading files and
validating their structure is :mod:`qabilet.itembank`'s job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.models._base import ItemModel
from qabilet.engine.models.registry import get_model, model_names

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

    The fields read are those the model declares in the records' form
    (:attr:`ItemModel.PARAMETERS`), a field a record leaves out at its declared default; a
    parameter another model declares but this one does not is refused.

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
    form = record_form(cls.name, records[0]) if records else "traditional"
    declared = cls.PARAMETERS.form(form)
    mine = {f.name for f in declared}
    known = {f.name for other in model_names()  # every parameter some registered model has
             for f in (*get_model(other).PARAMETERS.traditional,
                       *get_model(other).PARAMETERS.slope_intercept)}
    for i, record in enumerate(records):  # at the edge, once per item
        foreign = sorted((set(record) & known) - mine)
        if foreign:
            raise InvalidParameterError(
                f"items[{i}]: {foreign[0]!r} is not a parameter of a {cls.name} item in "
                f"{form.replace('_', '-')} form; expected {', '.join(f.name for f in declared)}")
    fields = {f.name: _column(records, f.name, f.default) for f in declared}
    return cls.from_record_fields(fields, form == "slope_intercept")


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
