"""Response files and score files (CSV, docs/design.md §6).

A response file has a header and one row per person. A column named ``person_id``, if present,
holds the person's id (otherwise the data row number is the id); a column named by
``group_column`` holds each person's group label (multi-group calibration); columns named in
``exclude`` are skipped; every other column is an item, named by its id. A cell is an integer category and an
empty cell is a missing response. Errors name the data row (1-based; the header is row 0) and the
column.

An answer file (``qabilet report``) is read by :func:`read_answer_sheets`: ``person_id``,
optional ``level`` and ``language`` columns, and the answer codes as given (not recoded), from
which profiles are built; its companion times file holds response times in seconds.

A score file has ``person_id``, then ``theta`` and ``se`` (one factor) or ``theta_<factor>`` and
``se_<factor>`` (several), then ``status`` (:data:`qabilet.engine.scoring.STATUS_CODES`). Floats are
written at full precision; an undefined value (NaN) is an empty cell.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qabilet.engine.exceptions import DataFileError, ImportRejectedError, InvalidParameterError
from qabilet.itembank._files import write_text_atomic

if TYPE_CHECKING:
    from qabilet.engine.scoring.result import AbilityEstimate

__all__ = [
    "PERSON_ID",
    "SHEET_COLUMNS",
    "AnswerSheet",
    "ResponseData",
    "format_responses_csv",
    "format_scores_csv",
    "read_answer_sheets",
    "read_responses_csv",
    "write_scores_csv",
]

#: the column that holds person ids, in response files and score files
PERSON_ID = "person_id"

# an integer cell has at most this many digits (int64 holds 18 safely)
_MAX_DIGITS = 18


@dataclass(frozen=True, slots=True, eq=False)
class ResponseData:
    """Responses read from a file, in the item order asked for.

    Attributes
    ----------
    person_ids : tuple of str
        One id per person (row), in file order.
    item_ids : tuple of str
        One id per item (column of ``responses``).
    responses : ndarray of int, shape (n_persons, n_items)
        Categories ``0 … K_i − 1`` where observed, 0 elsewhere (read-only), in the smallest
        signed integer type that holds the largest (``int8`` up to 128 categories: a sparse
        50,000 × 300 matrix is 15 MB, not 120).
    observed : ndarray of bool, shape (n_persons, n_items)
        True where a response was given (read-only).
    groups : tuple of str, optional
        One group label per person, when a group column was read.
    """

    person_ids: tuple[str, ...]
    item_ids: tuple[str, ...]
    responses: NDArray[np.signedinteger]
    observed: NDArray[np.bool_]
    groups: tuple[str, ...] | None = None

    @property
    def n_persons(self) -> int:
        """Number of persons (rows)."""
        return len(self.person_ids)

    @property
    def n_items(self) -> int:
        """Number of items (columns)."""
        return len(self.item_ids)


def read_responses_csv(
    path: str | os.PathLike[str],
    *,
    item_ids: Sequence[str] | None = None,
    n_categories: ArrayLike | None = None,
    recodings: Mapping[str, Sequence[int]] | None = None,
    exclude: Iterable[str] = (),
    group_column: str | None = None,
) -> ResponseData:
    r"""Read a response file.

    Parameters
    ----------
    path : str or path-like
        A CSV file (UTF-8, a byte-order mark is allowed) with a header row.
    item_ids : sequence of str, optional
        The bank's items. Every item column must be one of them; bank items absent from the file
        are unobserved; the result's columns follow this order. Without it, every non-excluded
        column other than ``person_id`` is an item, in file order.
    n_categories : array_like of int, optional
        Number of categories of each item of ``item_ids``; codes must lie in ``0 … K_i − 1``.
        Without it, codes must be non-negative integers.
    recodings : mapping, optional
        ``{item id: original codes of categories 0 … K−1}``: the listed codes are read and
        mapped to their positions, any other code is an error. Items not listed read
        ``0 … K_i − 1`` directly.
    exclude : iterable of str
        Columns that are neither items nor the person id (each must be in the header).
    group_column : str, optional
        A column holding each person's group label (never an item; every cell non-empty);
        the labels are returned in :attr:`ResponseData.groups`.

    Returns
    -------
    ResponseData

    Raises
    ------
    DataFileError
        Naming the row (1-based; the header is row 0) and the column: an unknown or repeated
        column, a row with too few or too many cells, a cell that is not an integer, a category
        out of range, a missing or repeated person id, a missing group column or label.
    InvalidParameterError
        When ``n_categories`` or ``recodings`` do not fit ``item_ids``.
    OSError
        When the file cannot be read.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.csv"
    >>> _ = p.write_text("person_id,Q2,Q1\nana,1,\nbek,0,2\n")
    >>> data = read_responses_csv(p, item_ids=["Q1", "Q2"], n_categories=[3, 2])
    >>> data.person_ids, data.responses.tolist(), data.observed.tolist()
    (('ana', 'bek'), [[0, 1], [2, 0]], [[False, True], [True, True]])
    """
    source = str(path)
    fast = _FastTable.read(path)
    if fast is not None:
        header, row_numbers, rows = fast.header, fast.row_numbers, fast.rows
    else:
        header, rows, row_numbers = _read_rows(path, source)

    # -- the header: person id, excluded columns, items ------------------------------------------
    names = [h.strip() for h in header]
    seen: dict[str, int] = {}
    for j, name in enumerate(names):
        if not name:
            raise DataFileError(f"header cell {j + 1} is empty; every column needs a name",
                                path=source, row=0)
        if name in seen:
            raise DataFileError("column name repeats in the header", path=source, row=0,
                                column=name)
        seen[name] = j
    excluded = {str(x).strip() for x in exclude}
    absent = sorted(excluded - set(names))
    if absent:
        raise DataFileError("column to exclude is not in the header", path=source, row=0,
                            column=absent[0])
    person_col = seen.get(PERSON_ID) if PERSON_ID not in excluded else None
    group_col = None
    if group_column is not None:
        group_name = str(group_column).strip()
        if group_name not in seen:
            raise DataFileError("group column is not in the header", path=source, row=0,
                                column=group_name)
        if group_name == PERSON_ID:
            raise DataFileError("the person id column cannot be the group column", path=source,
                                row=0, column=group_name)
        group_col = seen[group_name]
        excluded.add(group_name)
    item_cols = [j for j, name in enumerate(names) if name not in excluded and j != person_col]
    file_items = [names[j] for j in item_cols]
    if item_ids is not None:
        out_items = tuple(str(x) for x in item_ids)
        position = {item: k for k, item in enumerate(out_items)}
        for name in file_items:
            if name not in position:
                raise DataFileError(
                    "not an item of the parameter file (check the name, or exclude the column)",
                    path=source, row=0, column=name,
                )
    else:
        if n_categories is not None:
            raise InvalidParameterError("n_categories: needs item_ids (one count per item id)")
        out_items = tuple(file_items)
        position = {item: k for k, item in enumerate(out_items)}
        if not out_items:
            raise DataFileError("no item columns in the header", path=source, row=0)
    if n_categories is None:
        k_all = None
    else:
        k_all = np.asarray(n_categories, dtype=np.int64).reshape(-1)
        if k_all.size != len(out_items):
            raise InvalidParameterError(
                f"n_categories: expected {len(out_items)} counts (one per item id); got "
                f"{k_all.size}"
            )
    codes_of = _check_recodings(recodings, out_items, k_all)

    # -- the cells -------------------------------------------------------------------------------
    if not row_numbers:
        raise DataFileError("no data rows after the header", path=source)
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    ragged = np.flatnonzero(lengths != len(names))  # the fast path has no ragged rows
    if ragged.size:
        p = int(ragged[0])
        n = int(lengths[p])
        column = names[n] if n < len(names) else None
        raise DataFileError(
            f"the header has {len(names)} columns; this row has {n} cells",
            path=source, row=row_numbers[p], column=column,
        )
    cells: NDArray[np.str_] | _Columns
    if fast is not None:  # strings only for the columns that hold them
        cells = fast.string_columns([c for c in (person_col, group_col) if c is not None])
    else:
        cells = np.char.strip(np.array(rows, dtype=str).reshape(len(rows), len(names)))
    person_ids = _person_ids(cells, person_col, row_numbers, source)
    groups = None
    if group_col is not None:
        labels = cells[:, group_col]
        empty = np.flatnonzero(labels == "")
        if empty.size:
            raise DataFileError("expected a group label; the cell is empty", path=source,
                                row=row_numbers[int(empty[0])], column=names[group_col])
        groups = tuple(labels.tolist())

    parsed = fast.integers(item_cols) if fast is not None else None
    if parsed is not None:
        values, observed = parsed
    else:
        if isinstance(cells, np.ndarray):
            table = cells
        else:  # an unusual cell after the fast path: the exact path finds and names it
            header, rows, row_numbers = _read_rows(path, source)
            table = np.char.strip(np.array(rows, dtype=str).reshape(len(rows), len(names)))
        values, observed = _integer_cells(table[:, item_cols], row_numbers, file_items, source)

    # -- categories: recode, check the range, and place columns in the requested order -----------
    # the observed cells only, item by item (``values`` is in this order): sparse data stay small
    item_of, person = np.nonzero(observed.T)
    counts = observed.sum(axis=0)
    ends = np.cumsum(counts)
    categories = values.copy()
    recoded = np.array([name in codes_of for name in file_items], dtype=bool)
    target = np.array([position[name] for name in file_items], dtype=np.intp)
    plain = ~recoded[item_of]
    upper = None if k_all is None else k_all[target]
    bad = plain & ((values < 0) if upper is None else ((values < 0) | (values >= upper[item_of])))
    if bad.any():
        first = np.flatnonzero(bad)
        p = int(first[np.lexsort((item_of[first], person[first]))[0]])  # the first in file order
        c = int(item_of[p])
        expected = ("a category 0, 1, 2, …" if upper is None
                    else f"a category in 0..{upper[c] - 1} (the item has {upper[c]})")
        raise DataFileError(f"expected {expected}; got {values[p]}", path=source,
                            row=row_numbers[person[p]], column=file_items[c])
    for j in np.flatnonzero(recoded).tolist():  # one vectorised lookup per recoded item
        name = file_items[j]
        codes = codes_of[name]
        order = np.argsort(codes, kind="stable")
        sorted_codes = codes[order]
        cells_j = slice(int(ends[j] - counts[j]), int(ends[j]))
        v = values[cells_j]
        at = np.minimum(np.searchsorted(sorted_codes, v), codes.size - 1)
        bad = sorted_codes[at] != v
        if bad.any():
            p = int(np.flatnonzero(bad)[0])
            raise DataFileError(
                f"expected one of this item's codes {codes.tolist()} (from the parameter file); "
                f"got {v[p]}",
                path=source, row=row_numbers[person[cells_j][p]], column=name,
            )
        categories[cells_j] = order[at]
    n = len(row_numbers)
    largest = int(categories.max()) if categories.size else 0
    dtype = next(t for t in (np.int8, np.int16, np.int32, np.int64) if largest <= np.iinfo(t).max)
    responses = np.zeros((n, len(out_items)), dtype=dtype)
    responses[person, target[item_of]] = categories
    mask = np.zeros((n, len(out_items)), dtype=bool)
    mask[:, target] = observed
    responses.flags.writeable = False
    mask.flags.writeable = False
    return ResponseData(person_ids, out_items, responses, mask, groups)


def format_scores_csv(person_ids: Sequence[str], estimate: AbilityEstimate) -> str:
    """Format a score file.

    Parameters
    ----------
    person_ids : sequence of str
        One id per person, in the order of the estimates.
    estimate : AbilityEstimate
        The scores.

    Returns
    -------
    str
        ``person_id,theta,se,status`` (or ``theta_<factor>``, ``se_<factor>`` per factor), one line
        per person; floats at full precision (``repr``), NaN as an empty cell.

    Raises
    ------
    InvalidParameterError
        When the number of ids and of estimates differ.
    """
    ids = [str(x) for x in person_ids]
    if len(ids) != estimate.n_persons:
        raise InvalidParameterError(
            f"person_ids: expected {estimate.n_persons} ids (one per estimate); got {len(ids)}"
        )
    columns = estimate.columns()
    header = [PERSON_ID, *columns, "status"]
    text_columns = [ids, *(_float_cells(v) for v in columns.values()),
                    [str(s) for s in estimate.status.tolist()]]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(zip(*text_columns, strict=True))
    return buffer.getvalue()


def write_scores_csv(
    path: str | os.PathLike[str], person_ids: Sequence[str], estimate: AbilityEstimate
) -> None:
    """Write a score file atomically (see :func:`format_scores_csv`).

    Parameters
    ----------
    path : str or path-like
        The destination; replaced only once the complete file is on disk.
    person_ids : sequence of str
        One id per person.
    estimate : AbilityEstimate
        The scores.

    Raises
    ------
    InvalidParameterError
        When the number of ids and of estimates differ; nothing is written.
    OSError
        When the directory is missing or not writable; nothing is written.
    """
    write_text_atomic(path, format_scores_csv(person_ids, estimate))


def format_responses_csv(
    person_ids: Sequence[str],
    item_ids: Sequence[str],
    responses: ArrayLike,
    observed: ArrayLike | None = None,
) -> str:
    """Format a response file (the inverse of :func:`read_responses_csv`).

    Parameters
    ----------
    person_ids : sequence of str
        One id per row, written in the ``person_id`` column.
    item_ids : sequence of str
        One id per column.
    responses : array_like of int, shape (n_persons, n_items)
        Categories.
    observed : array_like of bool, shape (n_persons, n_items), optional
        False cells are written empty (missing); every cell is observed when omitted.

    Returns
    -------
    str

    Raises
    ------
    InvalidParameterError
        When the shapes do not agree or a category is not an integer.
    """
    x = np.asarray(responses)
    ids = [str(p) for p in person_ids]
    items = [str(i) for i in item_ids]
    if x.ndim != 2 or x.shape != (len(ids), len(items)):
        raise InvalidParameterError(
            f"responses: expected shape ({len(ids)}, {len(items)}) (persons, items); got {x.shape}"
        )
    obs = np.ones(x.shape, dtype=bool) if observed is None else np.asarray(observed, dtype=bool)
    if obs.shape != x.shape:
        raise InvalidParameterError(f"observed: expected shape {x.shape}; got {obs.shape}")
    filled = np.where(obs, x, 0)
    if not np.issubdtype(filled.dtype, np.integer):
        if not np.array_equal(filled, np.round(filled)):
            raise InvalidParameterError("responses: expected integer categories")
        filled = filled.astype(np.int64)
    cells = np.where(obs, filled.astype(str), "")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([PERSON_ID, *items])
    writer.writerows([pid, *row] for pid, row in zip(ids, cells.tolist(), strict=True))
    return buffer.getvalue()


# -- answer sheets: a profile's answers as given -------------------------------------------------
#: columns of an answer file that are not items
SHEET_COLUMNS = (PERSON_ID, "language", "level")


@dataclass(frozen=True, slots=True)
class AnswerSheet:
    """One candidate's row of an answer file, as :func:`read_answer_sheets` reads it.

    Attributes
    ----------
    row : int
        The data row (1-based; the header is row 0).
    person_id, level, language : str
        Who answered, at which position level and in which language (the file's ``level`` and
        ``language`` cells, or the defaults where the file has none).
    codes : dict of str to int
        Answer codes as given (the options' or scale points' 0, 1, …, not recoded) by item id,
        in file order; unanswered items are absent.
    seconds : dict of str to float
        Response times by item id, where the times file has one.
    """

    row: int
    person_id: str
    level: str
    language: str
    codes: dict[str, int]
    seconds: dict[str, float]


def read_answer_sheets(
    path: str | os.PathLike[str],
    item_ids: Iterable[str],
    *,
    exclude: Iterable[str] = (),
    times: str | os.PathLike[str] | None = None,
    level: str = "middle",
    language: str = "ru",
) -> list[AnswerSheet]:
    """Read an answer file: one candidate per row, the answers to build profiles from.

    The file has a header with ``person_id``, optional ``level`` and ``language`` columns, the
    columns named in ``exclude``, and one column per item of ``item_ids``; a cell is an answer
    code (0, 1, …) or empty. The optional times file (the response export's companion) has
    ``person_id`` and response times in seconds per item column.

    Parameters
    ----------
    path : path-like
        The answer file.
    item_ids : iterable of str
        The items the file may answer (a bank version's).
    exclude : iterable of str
        Other columns that are not items.
    times : path-like, optional
        The times file.
    level, language : str
        For rows (or files) without a ``level`` or ``language`` cell.

    Returns
    -------
    list of AnswerSheet
        In file order.

    Raises
    ------
    DataFileError
        No ``person_id`` column, or a column that is neither an item nor excluded.
    ImportRejectedError
        Every bad cell: a code that is not 0, 1, …, a time that is not seconds ≥ 0, a level or
        language outside :data:`~qabilet.itembank.content.LEVELS` /
        :data:`~qabilet.itembank.content.LANGUAGES`, a person id given twice (``row``, the
        column as ``field``).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "answers.csv"
    >>> _ = f.write_text("person_id,level,Q1,Q2\\nA,high,3,\\nB,,0,1\\n")
    >>> [(s.person_id, s.level, s.codes) for s in read_answer_sheets(f, ["Q1", "Q2"])]
    [('A', 'high', {'Q1': 3}), ('B', 'middle', {'Q1': 0, 'Q2': 1})]
    """
    from qabilet.itembank.content import LANGUAGES, LEVELS

    header, rows = _dict_rows(path)
    if PERSON_ID not in header:
        raise DataFileError(f"expected a header with a {PERSON_ID} column", path=str(path))
    known, skipped = set(item_ids), {*SHEET_COLUMNS, *exclude}
    columns = [c for c in header if c not in skipped]
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise DataFileError(f"columns {', '.join(unknown[:5])} are not items of the bank version "
                            f"(name other columns in --exclude)", path=str(path))
    problems: list[tuple[int, str, str]] = []
    seen: dict[str, int] = {}
    for n, row in enumerate(rows, start=1):
        pid = row[PERSON_ID]
        if pid in seen:
            problems.append((n, PERSON_ID, f"{pid!r} is row {seen[pid]} already"))
        seen.setdefault(pid, n)
        for name, value, allowed in (("level", row.get("level") or level, LEVELS),
                                     ("language", row.get("language") or language, LANGUAGES)):
            if value not in allowed:
                problems.append((n, name, f"expected one of {', '.join(allowed)}; got {value!r}"))
        problems += [(n, c, f"expected an answer code 0, 1, …; got {row[c]!r}")
                     for c in columns if row[c].strip() and not row[c].strip().isdigit()]
    if problems:
        raise ImportRejectedError(problems, path=str(path))
    seconds = {} if times is None else _read_seconds(times, columns)
    return [AnswerSheet(row=n, person_id=row[PERSON_ID], level=row.get("level") or level,
                        language=row.get("language") or language,
                        codes={c: int(row[c]) for c in columns if row[c].strip()},
                        seconds=seconds.get(row[PERSON_ID], {}))
            for n, row in enumerate(rows, start=1)]


def _dict_rows(path: str | os.PathLike[str]) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the rows of a CSV file as dicts (a short row's missing cells are empty)."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh, restval="")
        rows = list(reader)
        return list(reader.fieldnames or []), [{k: v or "" for k, v in r.items()} for r in rows]


def _read_seconds(path: str | os.PathLike[str],
                  columns: list[str]) -> dict[str, dict[str, float]]:
    """Response times by person and item; a cell that is not seconds ≥ 0 is a problem."""
    _, rows = _dict_rows(path)
    problems: list[tuple[int, str, str]] = []
    found: dict[str, dict[str, float]] = {}
    for n, row in enumerate(rows, start=1):
        mine = found.setdefault(row.get(PERSON_ID, ""), {})
        for c in columns:
            cell = row.get(c, "").strip()
            if not cell:
                continue
            try:
                value = float(cell)
            except ValueError:
                value = float("nan")
            if not value >= 0:
                problems.append((n, c, f"expected seconds ≥ 0; got {cell!r}"))
            mine[c] = value
    if problems:
        raise ImportRejectedError(problems, path=str(path))
    return found


# -- helpers ------------------------------------------------------------------------------------
def _integer_cells(file_cells: NDArray[np.str_], row_numbers: list[int], file_items: list[str],
                   source: str) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Integer codes of the answered item cells, and the observed mask (the exact path).

    The codes are those of the observed cells only, column by column (the order of
    ``np.nonzero(observed.T)``), as :meth:`_FastTable.integers` gives them.
    """
    observed = file_cells != ""
    body = np.char.lstrip(file_cells, "+-")
    n_signs = np.char.str_len(file_cells) - np.char.str_len(body)
    digits_only = np.char.str_len(np.char.strip(body, "0123456789")) == 0  # ASCII digits only
    n_digits = np.char.str_len(body)
    ok = ~observed | (digits_only & (n_digits > 0) & (n_digits <= _MAX_DIGITS) & (n_signs <= 1))
    if not ok.all():
        p, j = np.argwhere(~ok)[0]
        raise DataFileError(
            f"expected an integer category (or an empty cell for a missing response); got "
            f"{str(file_cells[p, j])!r}",
            path=source, row=row_numbers[p], column=file_items[j],
        )
    return file_cells.T[observed.T].astype(np.int64), observed


class _FastTable:
    """A plain numeric CSV parsed at the byte level, or None when anything is unusual.

    Plain means: UTF-8, no quotes, spaces, tabs or blank lines, the same number of cells on every
    line. Then cell boundaries are the positions of commas and newlines, and the item cells are
    read as unsigned integers digit by digit for all cells at once — tens of times faster than
    the csv module and per-cell strings on large files. Any cell that is not empty or all
    digits sends the file to the exact path, which names the offending row and column.
    """

    def __init__(self, header: list[str], body: NDArray[np.uint8],
                 starts: NDArray[np.signedinteger], lengths: NDArray[np.signedinteger]) -> None:
        self.header = header
        self.body = body
        self.starts = starts  # (n_rows, n_cols)
        self.lengths = lengths
        self.row_numbers = list(range(1, starts.shape[0] + 1))
        self.rows: list[list[str]] = []  # the exact path's rows are not needed

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> _FastTable | None:
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except OSError:
            return None  # the exact path reports it
        if raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if any(ch in raw for ch in (b'"', b" ", b"\t")):
            return None
        raw = raw.replace(b"\r\n", b"\n")
        if b"\r" in raw or b"\n\n" in raw:
            return None
        if not raw.endswith(b"\n"):
            raw += b"\n"
        first = raw.find(b"\n")
        try:
            header = raw[:first].decode("utf-8").split(",")
            raw[first + 1 :].decode("utf-8")
        except UnicodeDecodeError:
            return None
        if not any(h for h in header) or first + 1 >= len(raw):
            return None
        body = np.frombuffer(raw, dtype=np.uint8, offset=first + 1)
        seps = _positions((body == 44) | (body == 10))
        n_cols = len(header)
        if seps.size % n_cols:
            return None
        grid = seps.reshape(-1, n_cols)
        if not (np.all(body[grid[:, -1]] == 10) and np.all(body[grid[:, :-1]] == 44)):
            return None  # ragged rows: the exact path names them
        starts = np.empty_like(grid)
        starts.reshape(-1)[0] = 0
        np.add(seps[:-1], 1, out=starts.reshape(-1)[1:])
        return cls(header, body, starts, np.subtract(grid, starts, out=grid))  # seps: not needed

    def string_columns(self, columns: list[int]) -> _Columns:
        """The strings of ``columns`` (a column or two: person id, group).

        Indexable as ``cells[:, c]``, like the exact path's array.
        """
        raw = self.body.tobytes()
        return _Columns({
            c: np.array([raw[a : a + m].decode("utf-8").strip() for a, m in
                         zip(self.starts[:, c].tolist(), self.lengths[:, c].tolist())], dtype=str)
            for c in columns
        })

    def integers(self, columns: list[int]) -> tuple[NDArray[np.int64], NDArray[np.bool_]] | None:
        """Codes of the answered cells of ``columns`` and their mask; None for an unusual cell.

        None when a cell is neither empty nor digits. The codes are the observed cells' only,
        column by column (the order of ``np.nonzero(observed.T)``): sparse data never take a
        dense matrix of codes.
        """
        observed = (self.lengths > 0)[:, columns]
        column, person = np.nonzero(observed.T)
        cells = (person, np.asarray(columns, dtype=np.intp)[column])
        starts = self.starts[cells]
        size = self.lengths[cells]
        longest = int(size.max()) if size.size else 0
        if longest > _MAX_DIGITS:
            return None
        found = np.zeros(size.shape, dtype=np.int64)
        for k in range(longest):  # digit by digit, every answered cell at once
            live = size > k
            digit = self.body[starts[live] + k].astype(np.int64) - 48
            if np.any((digit < 0) | (digit > 9)):
                return None
            found[live] = found[live] * 10 + digit
        return found, observed


def _positions(flags: NDArray[np.bool_], block: int = 1 << 20) -> NDArray[np.signedinteger]:
    """``np.flatnonzero(flags)`` as int32 when the positions fit (half the memory of int64).

    Found a block at a time, so that no int64 array of every position is ever made.
    """
    dtype = np.int32 if flags.size <= np.iinfo(np.int32).max else np.int64
    out: NDArray[np.signedinteger] = np.empty(int(np.count_nonzero(flags)), dtype=dtype)
    at = 0
    for lo in range(0, flags.size, block):
        found = np.flatnonzero(flags[lo : lo + block])
        out[at : at + found.size] = found + lo
        at += found.size
    return out


class _Columns:
    """Some columns of a table of strings, indexed as ``cells[:, column]``."""

    def __init__(self, columns: dict[int, NDArray[np.str_]]) -> None:
        self._columns = columns

    def __getitem__(self, key: tuple[slice, int]) -> NDArray[np.str_]:
        return self._columns[key[1]]


def _read_rows(
    path: str | os.PathLike[str], source: str
) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, non-blank data rows and their row numbers (a blank line is skipped, not a person)."""
    rows: list[list[str]] = []
    numbers: list[int] = []
    number = 0
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, strict=True)
            header = next(reader, None)
            if header is None or not any(cell.strip() for cell in header):
                raise DataFileError("expected a header row naming the columns; the first line "
                                    "is empty", path=source, row=0)
            for number, row in enumerate(reader, start=1):
                if row:
                    rows.append(row)
                    numbers.append(number)
    except UnicodeDecodeError as exc:
        raise DataFileError(f"expected UTF-8 text; byte {exc.start} of a block is not",
                            path=source) from None
    except csv.Error as exc:
        raise DataFileError(f"malformed CSV: {exc}", path=source, row=number + 1) from None
    return header, rows, numbers


def _person_ids(
    cells: NDArray[np.str_] | _Columns, person_col: int | None, row_numbers: list[int],
    source: str,
) -> tuple[str, ...]:
    if person_col is None:
        return tuple(str(n) for n in row_numbers)
    ids = cells[:, person_col].tolist()
    first: dict[str, int] = {}
    for p, pid in enumerate(ids):
        if not pid:
            raise DataFileError("expected a person id; the cell is empty", path=source,
                                row=row_numbers[p], column=PERSON_ID)
        if pid in first:
            raise DataFileError(f"person id {pid!r} repeats (first in row {first[pid]})",
                                path=source, row=row_numbers[p], column=PERSON_ID)
        first[pid] = row_numbers[p]
    return tuple(ids)


def _check_recodings(
    recodings: Mapping[str, Sequence[int]] | None,
    item_ids: tuple[str, ...],
    n_categories: NDArray[np.int64] | None,
) -> dict[str, NDArray[np.int64]]:
    """Recodings of the requested items as integer arrays, checked against ``n_categories``."""
    out: dict[str, NDArray[np.int64]] = {}
    for k, item in enumerate(item_ids):
        if recodings is None or item not in recodings:
            continue
        codes = np.asarray(recodings[item], dtype=np.int64).reshape(-1)
        if codes.size < 2 or np.unique(codes).size != codes.size:
            raise InvalidParameterError(
                f"recodings[{item!r}]: expected at least two distinct codes; got {codes.tolist()}"
            )
        if n_categories is not None and codes.size != n_categories[k]:
            raise InvalidParameterError(
                f"recodings[{item!r}]: expected {n_categories[k]} codes (one per category); got "
                f"{codes.size}"
            )
        out[item] = codes
    return out


def _float_cells(values: NDArray[np.float64]) -> list[str]:
    """Floats as text that reads back exactly (``repr``); NaN as an empty cell."""
    return ["" if x != x else repr(x) for x in np.asarray(values, dtype=np.float64).tolist()]
