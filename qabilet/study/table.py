"""The tidy table: a cell's results file, the whole study's table, and reading it back.

CSV, not Parquet: the table is small (100 cells × 1,000 simulees is about 10 MB of text), every
tool a researcher uses reads it (pandas, R, a spreadsheet) without another dependency, and the
numbers are written exactly (the shortest text that reads back as the same float), so a
resumed study's table is byte for byte an uninterrupted one's.

A cell's file (``cells/<key>.csv``) holds :data:`CELL_COLUMNS`; the study's table
(``results.csv``) puts the cell's number and its factors' levels in front (:data:`COLUMNS`).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qabilet.engine.exceptions import DataFileError
from qabilet.study.cells import FACTORS, CellResult

__all__ = ["CELL_COLUMNS", "COLUMNS", "cell_csv", "csv_text", "read_table", "table_text"]

#: a cell's results file, one row per simulee of each replication
CELL_COLUMNS = ("replication", "simulee", "true_theta", "theta", "se", "length", "stop_reason",
                "items")
#: the study's tidy table
COLUMNS = ("cell", *FACTORS, *CELL_COLUMNS)
_INTEGERS = ("cell", "replication", "simulee", "length")
_FLOATS = ("true_theta", "theta", "se")


def csv_text(columns: Mapping[str, Sequence[Any] | NDArray[Any]]) -> str:
    """Columns of equal length as CSV text (a header, then the rows; floats written exactly)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    lists = [c.tolist() if isinstance(c, np.ndarray) else list(c) for c in columns.values()]
    writer.writerows(zip(*lists))  # output formatting: one row per line
    return out.getvalue()


def cell_csv(result: CellResult, item_ids: Sequence[str]) -> str:
    """A cell's results file: :data:`CELL_COLUMNS`, the items given as ids separated by spaces."""
    names = np.asarray([*item_ids, ""], dtype=object)  # index −1: after the end of a test
    given = names[result.items]
    items = [" ".join(row).strip() for row in given.tolist()]  # output formatting
    return csv_text({"replication": result.replication, "simulee": result.simulee,
                     "true_theta": result.true_theta, "theta": result.theta, "se": result.se,
                     "length": result.length, "stop_reason": result.stop_reason,
                     "items": items})


def table_text(parts: Sequence[tuple[int, Mapping[str, str], str]]) -> str:
    """The study's table from its cells' files: (number, factors' levels, the file's text)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for number, factors, text in parts:
        prefix = io.StringIO()
        csv.writer(prefix, lineterminator="").writerow([number, *(factors[f] for f in FACTORS)])
        head = prefix.getvalue() + ","
        body = text.split("\n", 1)[1]
        out.write("".join(head + line + "\n" for line in body.splitlines()))
    return out.getvalue()


def read_table(path: str | os.PathLike[str]) -> dict[str, NDArray[Any]]:
    """The study's tidy table as columns (numbers as numbers).

    Raises
    ------
    DataFileError
        Not the table this package writes (its header), or a cell that is not a number.
    """
    where = str(path)
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows or tuple(rows[0]) != COLUMNS:
        raise DataFileError(f"expected the header {','.join(COLUMNS)}", path=where, row=0)
    body = rows[1:]
    if any(len(r) != len(COLUMNS) for r in body):
        bad = next(k for k, r in enumerate(body, start=1) if len(r) != len(COLUMNS))
        raise DataFileError(f"expected {len(COLUMNS)} cells", path=where, row=bad)
    raw = np.asarray(body, dtype=object).reshape(len(body), len(COLUMNS))
    out: dict[str, NDArray[Any]] = {}
    for k, name in enumerate(COLUMNS):
        column = raw[:, k].astype(str)
        try:
            if name in _INTEGERS:
                out[name] = column.astype(np.int64)
            elif name in _FLOATS:
                out[name] = column.astype(np.float64)
            else:
                out[name] = column
        except ValueError:
            raise DataFileError(f"expected {'whole ' if name in _INTEGERS else ''}numbers",
                                path=where, column=name) from None
    return out
