"""The error tree of qabilet.

Every package raises these (``qabilet.engine`` defines them because every other package may import it).
Each error subclasses the builtin a caller would naturally catch, so ``except ValueError`` keeps
working. Messages name the thing, the expectation and what came, e.g.
``items[17] ('KZ-ACC-031'): c must be in [0, 1); got 1.2``.

::

    QabiletError (Exception)
    ├── InvalidParameterError (QabiletError, ValueError)   item or latent parameters out of domain
    ├── InvalidResponseError (QabiletError, ValueError)    responses not matching the items
    ├── DataFileError (QabiletError, ValueError)           a malformed input file (row, column)
    │   └── ImportRejectedError (DataFileError)            an import refused whole: every bad row
    ├── NotFoundError (QabiletError, LookupError)          no such item, bank version or norm set
    ├── ConflictError (QabiletError, ValueError)           an id taken, a version in the wrong state
    │   ├── ImmutableRecordError (ConflictError)           a change to a published record
    │   └── SessionClosedError (ConflictError)             an event for a session already closed
    ├── UnknownModelError (QabiletError, KeyError)         a model name not in the registry
    ├── NotFittedError (QabiletError, ValueError, AttributeError)
    └── ConvergenceWarning (UserWarning)                   an iterative method stopped at its limit
"""

from __future__ import annotations

__all__ = [
    "ConvergenceWarning",
    "ConflictError",
    "DataFileError",
    "ImmutableRecordError",
    "ImportRejectedError",
    "InvalidParameterError",
    "InvalidResponseError",
    "NotFittedError",
    "NotFoundError",
    "QabiletError",
    "SessionClosedError",
    "UnknownModelError",
]


def _rebuilt(cls: type[BaseException], args: tuple, kwargs: dict) -> BaseException:
    """An error made again from its arguments (unpickling, e.g. from another process)."""
    return cls(*args, **kwargs)


class QabiletError(Exception):
    """Base class of every error qabilet raises on purpose."""


class InvalidParameterError(QabiletError, ValueError):
    """Item or latent-distribution parameters outside their domain or of the wrong shape."""


class InvalidResponseError(QabiletError, ValueError):
    """Responses that do not fit the items (category out of range, wrong shape, bad mask)."""


class DataFileError(QabiletError, ValueError):
    """A malformed input file; the message names the file, row and column.

    Parameters
    ----------
    message : str
        What was expected and what came.
    path : str, optional
        The file.
    row : int, optional
        1-based data row (the header is row 0), when the problem is in one row.
    column : str, optional
        The column name, when the problem is in one cell or column.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.path = path
        self.row = row
        self.column = column
        self._message = message
        where = []
        if path is not None:
            where.append(str(path))
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)

    def __reduce__(self) -> tuple:
        return _rebuilt, (type(self), (self._message,),
                          {"path": self.path, "row": self.row, "column": self.column})


class ImportRejectedError(DataFileError):
    """An import refused as a whole; :attr:`problems` lists every bad row, not only the first.

    Parameters
    ----------
    problems : sequence of (row, field, reason)
        ``row`` is the 1-based data row (CSV) or item position (JSON), ``field`` the column or
        JSON path, ``reason`` what was expected and what came.
    path : str, optional
        The file.

    Examples
    --------
    >>> err = ImportRejectedError([(3, "a", "expected a number; got 'x'")], path="bank.csv")
    >>> print(err)
    bank.csv: 1 bad row, nothing imported
      row 3, a: expected a number; got 'x'
    """

    def __init__(self, problems: list[tuple[int, str, str]], *, path: str | None = None) -> None:
        self.problems = list(problems)
        rows = {row for row, _, _ in self.problems}
        lines = [f"{len(rows)} bad row{'s' if len(rows) != 1 else ''}, nothing imported"]
        lines += [f"  row {row}, {field}: {reason}" for row, field, reason in self.problems]
        super().__init__("\n".join(lines), path=path)

    def __reduce__(self) -> tuple:
        return _rebuilt, (type(self), (self.problems,), {"path": self.path})


class NotFoundError(QabiletError, LookupError):
    """No record with the id asked for (item, bank version, norm set, blueprint)."""

    def __str__(self) -> str:  # LookupError subclasses may quote; keep the message readable
        return str(self.args[0]) if self.args else ""


class ConflictError(QabiletError, ValueError):
    """A write that contradicts what is stored: an id already taken, a version in the wrong state."""


class ImmutableRecordError(ConflictError):
    """A change to a published bank version or norm set: published records never change."""


class SessionClosedError(ConflictError):
    """An event (an answer, a proctor's action) for a session whose log already holds its end.

    Attributes
    ----------
    reason : str
        The kind of the closing event: ``finish``, ``terminate`` or ``timeout``.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple:
        return _rebuilt, (type(self), self.args, {"reason": self.reason})


class UnknownModelError(QabiletError, KeyError):
    """A model name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else ""


class NotFittedError(QabiletError, ValueError, AttributeError):
    """A fitted attribute was used before ``fit`` was called."""


class ConvergenceWarning(UserWarning):
    """An iterative method stopped at its iteration limit before meeting its tolerance."""
