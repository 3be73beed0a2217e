"""Per-cell statistics of a study's tidy table, each a group-by over the rows (no loop over them).

For cell :math:`c` with rows :math:`j = 1 … n_c` (its simulees of every replication pooled),
errors :math:`e_j = \\hat\\theta_j - \\theta_j`, standard errors :math:`s_j` and lengths
:math:`L_j`:

- bias :math:`\\bar e = \\sum_j e_j / n_c`; RMSE :math:`\\sqrt{\\sum_j e_j^2 / n_c}`;
- mean SE :math:`\\sum_j s_j / n_c`; mean length :math:`\\bar L = \\sum_j L_j / n_c`;
- an item's exposure rate :math:`m_i / n_c`, :math:`m_i` the simulees given item :math:`i`;
  the cell's ``max_exposure`` is the largest;
- the overlap rate :math:`\\sum_i m_i (m_i - 1) / (n_c (n_c - 1) \\bar L)`, the expected share of
  its items a test has in common with another simulee's (Chen, Ankenmann & Spray 2003) — as
  :class:`qabilet.engine.cat.CatSummary` computes it for one simulation;
- conditional on true θ: the same bias, RMSE, mean SE and mean length over the rows whose
  :math:`\\theta_j` falls in :math:`[k w, (k + 1) w)`, :math:`w` the bin width.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qabilet.engine.exceptions import DataFileError
from qabilet.study.cells import FACTORS

__all__ = ["CONDITIONAL_COLUMNS", "SUMMARY_COLUMNS", "StudySummary", "summarise"]

#: ``summary.csv``
SUMMARY_COLUMNS = ("cell", *FACTORS, "replications", "n", "bias", "rmse", "mean_se",
                   "mean_length", "max_exposure", "overlap")
#: ``conditional.csv``
CONDITIONAL_COLUMNS = ("cell", *FACTORS, "theta_low", "theta_high", "n", "bias", "rmse",
                       "mean_se", "mean_length")

Columns = dict[str, NDArray[Any]]


@dataclass(frozen=True, slots=True, eq=False)
class StudySummary:
    """Per-cell and per-cell × θ-bin statistics.

    Their columns are those of ``summary.csv`` and ``conditional.csv``.
    """

    cells: Columns
    conditional: Columns
    bin_width: float


def _means(group: NDArray[np.intp], n: NDArray[np.float64], values: NDArray[np.float64]
           ) -> NDArray[np.float64]:
    return np.bincount(group, weights=values, minlength=n.size) / n


def _statistics(group: NDArray[np.intp], table: Mapping[str, NDArray[Any]]) -> Columns:
    """n, bias, RMSE, mean SE and mean length per group."""
    n = np.bincount(group).astype(np.float64)
    err = table["theta"] - table["true_theta"]
    return {"n": n.astype(np.int64), "bias": _means(group, n, err),
            "rmse": np.sqrt(_means(group, n, err * err)),
            "mean_se": _means(group, n, table["se"]),
            "mean_length": _means(group, n, table["length"].astype(np.float64))}


def _exposure(cell: NDArray[np.intp], n: NDArray[np.int64], mean_length: NDArray[np.float64],
              table: Mapping[str, NDArray[Any]]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Each cell's largest exposure rate and its overlap rate, from the items given."""
    tokens = np.asarray(" ".join(table["items"].tolist()).split())
    length = table["length"]
    if tokens.size != int(length.sum()):
        raise DataFileError("items: expected as many item ids in each row as its length")
    ids, item = np.unique(tokens, return_inverse=True)
    owner = np.repeat(cell, length)
    counts = np.bincount(owner * ids.size + item, minlength=n.size * ids.size
                         ).reshape(n.size, ids.size).astype(np.float64)
    nf = n.astype(np.float64)
    max_exposure = counts.max(axis=1, initial=0.0) / nf
    pairs = nf * (nf - 1.0) * mean_length
    with np.errstate(invalid="ignore", divide="ignore"):
        overlap = np.where(pairs > 0, (counts * (counts - 1.0)).sum(axis=1) / pairs, np.nan)
    return max_exposure, overlap


def summarise(table: Mapping[str, NDArray[Any]], bin_width: float = 0.5) -> StudySummary:
    """The statistics of every cell, and of every cell × θ bin.

    Parameters
    ----------
    table : mapping of column name to array
        The tidy table (:func:`qabilet.study.table.read_table`).
    bin_width : float
        Width :math:`w` of the true-θ bins.
    """
    if not bin_width > 0:
        raise DataFileError(f"bin_width: expected a positive width; got {bin_width}")
    numbers, first, cell = np.unique(table["cell"], return_index=True, return_inverse=True)
    stats = _statistics(cell, table)
    reps = np.zeros(numbers.size, dtype=np.int64)
    np.maximum.at(reps, cell, table["replication"])
    max_exposure, overlap = _exposure(cell, stats["n"], stats["mean_length"], table)
    cells = {"cell": numbers, **{f: table[f][first] for f in FACTORS}, "replications": reps,
             **stats, "max_exposure": max_exposure, "overlap": overlap}
    k = np.floor(table["true_theta"] / bin_width).astype(np.int64)
    keys, key_first, group = np.unique(np.column_stack([cell, k]), axis=0, return_index=True,
                                       return_inverse=True)
    group = group.reshape(-1)
    rows = table["cell"][key_first]
    conditional = {"cell": rows, **{f: table[f][key_first] for f in FACTORS},
                   "theta_low": keys[:, 1] * bin_width, "theta_high": (keys[:, 1] + 1) * bin_width,
                   **_statistics(group, table)}
    return StudySummary(cells, conditional, float(bin_width))
