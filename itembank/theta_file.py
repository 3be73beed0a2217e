"""True trait values for simulations: a ``person_id,theta`` CSV file."""

from __future__ import annotations

import csv
import math
import os

import numpy as np
from numpy.typing import NDArray

from qabilet.engine.exceptions import DataFileError

__all__ = ["read_theta_csv"]


def read_theta_csv(path: str | os.PathLike[str]) -> tuple[tuple[str, ...], NDArray[np.float64]]:
    """Read person ids and true θ values.

    The file has a header with the columns ``person_id`` and ``theta`` (others are ignored) and
    one row per person; every θ is a finite number and every id is unique.

    Returns
    -------
    person_ids : tuple of str
    theta : ndarray, shape (n_persons,)

    Raises
    ------
    DataFileError
        Naming the row (1-based; the header is row 0) and the column.
    """
    where = str(path)
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise DataFileError("expected a header with person_id and theta; the file is empty",
                                path=where)
        header = [h.strip() for h in header]
        missing = [c for c in ("person_id", "theta") if c not in header]
        if missing:
            raise DataFileError(f"expected the column(s) {', '.join(missing)} in the header; got "
                                f"{', '.join(header)}", path=where, row=0)
        i_id, i_theta = header.index("person_id"), header.index("theta")
        ids: list[str] = []
        values: list[float] = []
        seen: dict[str, int] = {}
        for row_no, row in enumerate(reader, start=1):
            if not row:
                continue
            if len(row) != len(header):
                raise DataFileError(f"expected {len(header)} cells; got {len(row)}",
                                    path=where, row=row_no)
            pid, cell = row[i_id].strip(), row[i_theta].strip()
            if not pid:
                raise DataFileError("expected a person id; got an empty cell", path=where,
                                    row=row_no, column="person_id")
            if pid in seen:
                raise DataFileError(f"person id {pid!r} repeats row {seen[pid]}", path=where,
                                    row=row_no, column="person_id")
            try:
                value = float(cell)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                raise DataFileError(f"expected a finite number; got {cell!r}", path=where,
                                    row=row_no, column="theta")
            seen[pid] = row_no
            ids.append(pid)
            values.append(value)
    if not ids:
        raise DataFileError("expected at least one data row", path=where)
    return tuple(ids), np.asarray(values)
