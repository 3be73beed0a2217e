"""The files of a CAT simulation (``qabilet simulate``): blueprint, true values, answers.

A blueprint file is a JSON object of :class:`qabilet.engine.cat.Blueprint`'s fields. True values
are a θ file (:mod:`qabilet.itembank.theta_file`); answers are a full response matrix
(:mod:`qabilet.itembank.response_file`, every simulee answering every item), so that engines can
be compared on identical answers. Given both, the θ file is matched to the answers by
``person_id``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import DataFileError
from qabilet.itembank.response_file import read_responses_csv
from qabilet.itembank.theta_file import read_theta_csv

__all__ = ["Simulees", "read_blueprint_fields", "read_simulees"]


def read_blueprint_fields(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The fields of a blueprint file (checked by ``Blueprint.from_dict``, not here).

    Raises
    ------
    DataFileError
        Not JSON, or not a JSON object.
    OSError
        The file cannot be read.
    """
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    try:
        fields = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFileError(f"expected a JSON object; {exc.msg} at line {exc.lineno}",
                            path=str(path)) from None
    if not isinstance(fields, dict):
        raise DataFileError("expected a JSON object (the blueprint's fields)", path=str(path))
    return fields


@dataclass(frozen=True, slots=True, eq=False)
class Simulees:
    """Who a simulation runs for, from files; all None when neither file was given.

    Attributes
    ----------
    person_ids : list of str, optional
    theta : ndarray, shape (n,), optional
        True values, in the order of ``person_ids``.
    responses : ndarray of int, shape (n, n_items), optional
        Every simulee's answer to every item, in bank order (model categories).
    """

    person_ids: list[str] | None = None
    theta: NDArray[np.float64] | None = None
    responses: NDArray[np.int64] | None = None


def read_simulees(bank: ItemBank, *, responses: str | os.PathLike[str] | None = None,
                  theta: str | os.PathLike[str] | None = None,
                  recodings: Mapping[str, Sequence[int]] | None = None) -> Simulees:
    """Read the simulees' answers and/or true values.

    Parameters
    ----------
    bank : ItemBank
        The items the answers are read for.
    responses : path-like, optional
        A full response matrix.
    theta : path-like, optional
        True values (``person_id,theta``); with ``responses``, one for each of its persons.
    recodings : mapping, optional
        Answer codes per item (a parameter file's), applied to ``responses``.

    Raises
    ------
    DataFileError
        An empty cell in ``responses`` (row and column named), a person of ``responses``
        without a true value, or any error of the two readers.
    """
    person_ids: list[str] | None = None
    answers = values = None
    if responses is not None:
        data = read_responses_csv(responses, item_ids=bank.item_ids,
                                  n_categories=bank.n_categories, recodings=recodings)
        missing = ~data.observed
        if missing.any():
            row, col = (int(v) for v in np.argwhere(missing)[0])
            raise DataFileError("expected an answer to every item (a full matrix); got an "
                                "empty cell", path=str(responses), row=row + 1,
                                column=bank.item_ids[col])
        person_ids, answers = list(data.person_ids), data.responses
    if theta is not None:
        ids, read = read_theta_csv(theta)
        if person_ids is None:
            person_ids, values = list(ids), read
        else:
            where = {pid: i for i, pid in enumerate(ids)}
            absent = [p for p in person_ids if p not in where]
            if absent:
                raise DataFileError(f"expected a true θ for every simulee of {responses}; "
                                    f"{absent[0]!r} has none", path=str(theta),
                                    column="person_id")
            values = read[[where[p] for p in person_ids]]
    return Simulees(person_ids, values, answers)
