"""Statements compiled once for a database, run on the driver's cursor of a SQLAlchemy connection.

The session log's statements run on every candidate request. Through ``Connection.execute``
each run looks its statement up in SQLAlchemy's compiled cache, builds an execution context and
a result object around the driver's cursor: several times the cost of the driver's own call for
a one-row insert or a read of a log's last events. A :class:`Prepared` statement does that work
once — the SQL string, the order of its parameters, the type conversions of its parameters and
of its result columns (the same ones SQLAlchemy applies) — and each run is the driver's
``execute`` and ``fetchall``.

The connection stays SQLAlchemy's: its transaction, its pool and its isolation level are
untouched. A driver error is raised as SQLAlchemy raises it (:meth:`sqlalchemy.exc.DBAPIError.instance`:
an ``IntegrityError``, an ``OperationalError`` … with the driver's error as ``orig``), and a
connection the driver reports lost is invalidated, so :func:`qabilet.itembank.database.database_unavailable`
and the callers' retries see what they would see through ``Connection.execute``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from typing import Any, cast

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement, ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["Prepared"]

_Convert = Callable[[Any], Any]


class Prepared:
    """A statement compiled for one dialect; its runs go straight to the driver's cursor.

    Parameters
    ----------
    statement : sqlalchemy.sql.ClauseElement
        A Core statement whose parameters are ``bindparam`` names (no expanding ``IN`` lists).
    dialect : sqlalchemy.engine.Dialect
        The engine's (``engine.dialect``).
    columns : sequence of ColumnElement, optional
        The statement's result columns, in order, whose types convert the values read (a
        ``DateTime`` from SQLite's text, a JSON document from its text …).
    """

    __slots__ = ("_defaults", "_dialect", "_error", "_names", "_params", "_results", "sql")

    def __init__(self, statement: ClauseElement, dialect: Dialect,
                 columns: Sequence[ColumnElement[Any]] = ()) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql = compiled.string
        self._dialect = dialect
        self._error = dialect.loaded_dbapi.Error
        self._names = tuple(compiled.positiontup or ()) if compiled.positional else None
        binds = compiled.binds
        self._defaults = compiled.construct_params(
            {name: None for name, bind in binds.items() if bind.required}) or {}
        self._params = {name: convert for name, bind in binds.items()
                        if (convert := _bind_converter(bind.type, dialect)) is not None}
        self._results: tuple[_Convert | None, ...] = tuple(
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)

    def _arguments(self, values: Mapping[str, Any]) -> Any:
        """The driver's parameters: the values named, the statement's literals, converted."""
        params = {**self._defaults, **values}
        for name, convert in self._params.items():
            params[name] = convert(params[name])
        return params if self._names is None else tuple(params[n] for n in self._names)

    def rows(self, connection: Connection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run the statement on ``connection`` (in its transaction, if any); the rows it returns.

        Raises
        ------
        sqlalchemy.exc.DBAPIError
            The driver's error, as SQLAlchemy wraps it (the connection invalidated when the
            driver reports it lost).
        """
        arguments = self._arguments(values)
        fairy = connection.connection
        cursor = fairy.cursor()
        try:
            cursor.execute(self.sql, arguments)
            found = cursor.fetchall() if cursor.description is not None else []
            cursor.close()
        except self._error as exc:
            lost = self._dialect.is_disconnect(exc, fairy.dbapi_connection, cursor)
            with suppress(self._error):  # the error raised below is the one that matters
                cursor.close()
            if lost:
                connection.invalidate(exc)
            raise DBAPIError.instance(self.sql, arguments, exc, self._error,
                                      connection_invalidated=lost,
                                      dialect=self._dialect) from exc
        if not any(self._results):
            return [tuple(row) for row in found]
        return [tuple(v if convert is None else convert(v)
                      for v, convert in zip(row, self._results, strict=True)) for row in found]

    def scalar(self, connection: Connection, values: Mapping[str, Any]) -> Any:
        """The first column of the first row returned, or None when none is."""
        found = self.rows(connection, values)
        return found[0][0] if found else None


def _bind_converter(type_: Any, dialect: Dialect) -> _Convert | None:
    """The conversion SQLAlchemy applies to a parameter of ``type_`` before the driver sees it."""
    converter: _Convert | None = type_.dialect_impl(dialect).bind_processor(dialect)
    return converter
