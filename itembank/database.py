"""Opening the bank's database and bringing its schema up to date.

The embedded default is a SQLite file, ``qabilet.db`` in the working directory (or the URL in
``QABILET_DATABASE_URL``, read with the database's other settings by :class:`DatabaseSettings`);
production gives a PostgreSQL URL
(``postgresql://user@host/db``, served by psycopg 3: ``pip install 'qabilet[postgresql]'``).
The schema is made and changed only by the Alembic migrations in :mod:`qabilet.itembank.migrations`.

Several processes may open one database at once — the workers of a server, several servers on
one PostgreSQL, a command run beside them. Bringing the schema up to date (:func:`upgrade`) is
done under a PostgreSQL advisory lock, so that servers started together migrate one after the
other (the second finds the schema up to date); :func:`exclusive` takes such a lock for any other
step that must run once (the demonstration bank's first build).

A database may be unavailable for a while — a PostgreSQL server restarting, a SQLite file whose
write lock another process holds past the busy timeout. :func:`database_unavailable` tells such
an error (the operation had no effect and may be tried again later) from a defect; connections
to a server are checked before use, so that an engine reconnects by itself once the server is
back.
"""

from __future__ import annotations

import hashlib
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BeforeValidator, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from qabilet.engine.exceptions import QabiletError

__all__ = ["BUSY_ENV_VAR", "CONNECT_TIMEOUT_S", "DEFAULT_FILE", "ENV_PREFIX", "ENV_VAR",
           "MIGRATION_LOCK", "SYNC_ENV_VAR", "DatabaseSettings", "SettingsError", "connect",
           "current_revision", "database_unavailable", "database_url", "exclusive", "lock_key",
           "unavailable_error_types", "upgrade"]

#: the SQLite file of the embedded default
DEFAULT_FILE = "qabilet.db"
#: the prefix of every setting's environment variable (a field ``x_y`` is ``QABILET_X_Y``)
ENV_PREFIX = "QABILET_"
#: the environment variable naming the database
ENV_VAR = "QABILET_DATABASE_URL"
#: the environment variable choosing SQLite's ``synchronous`` mode: ``full`` (the default) or
#: ``normal``
SYNC_ENV_VAR = "QABILET_SQLITE_SYNCHRONOUS"
#: the environment variable setting how long a SQLite write waits for another connection's lock,
#: in seconds (30 by default), before it fails with "database is locked"
BUSY_ENV_VAR = "QABILET_SQLITE_BUSY_TIMEOUT_S"
#: how long opening a connection to a database server may take, in seconds, when the URL does
#: not say (psycopg's ``connect_timeout``): an unreachable host fails, not hangs
CONNECT_TIMEOUT_S = 10
#: the advisory lock :func:`upgrade` holds while it migrates (see :func:`lock_key`)
MIGRATION_LOCK = "migrate"
#: SQLite's primary result codes of a database busy for the moment: SQLITE_BUSY, SQLITE_LOCKED,
#: SQLITE_PROTOCOL (a write-ahead-log lock race)
_SQLITE_TRANSIENT = (5, 6, 15)


class SettingsError(QabiletError, ValueError):
    """Settings that cannot be used: one line per bad variable, naming it and what it expects."""


def _sync_mode(value: Any) -> Any:
    """``full`` or ``normal``, in any case and spacing."""
    mode = value.strip().lower() if isinstance(value, str) else value
    if mode not in ("full", "normal"):
        raise ValueError("expected one of full, normal")
    return mode


class DatabaseSettings(BaseSettings):
    """The database's settings, from the environment (``QABILET_*``) or given.

    The server's settings (:class:`qabilet.api.settings.Settings`) extend these, so that one
    class read once carries them all. An empty variable counts as unset.

    Attributes
    ----------
    database_url : str
        ``QABILET_DATABASE_URL``: the database (``sqlite:///qabilet.db`` by default; see
        :func:`database_url`).
    sqlite_synchronous : {"full", "normal"}
        ``QABILET_SQLITE_SYNCHRONOUS``: SQLite's ``synchronous`` mode (see :func:`connect`).
    sqlite_busy_timeout_s : float
        ``QABILET_SQLITE_BUSY_TIMEOUT_S``: how long a SQLite write waits for another
        connection's lock, 0 to 86400 seconds (30).
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True,
                                      extra="ignore", frozen=True, allow_inf_nan=False)

    database_url: str = f"sqlite:///{DEFAULT_FILE}"
    sqlite_synchronous: Annotated[Literal["full", "normal"], BeforeValidator(_sync_mode)] = "full"
    sqlite_busy_timeout_s: float = Field(default=30.0, ge=0, lt=86_400)

    @classmethod
    def from_env(cls, **given: Any) -> Self:
        """The settings from the environment, ``given`` ones taking precedence.

        Raises
        ------
        SettingsError
            A variable that is not what its setting expects, naming it, for example
            ``QABILET_SQLITE_SYNCHRONOUS: expected one of 'full', 'normal'; got 'off'``.
        """
        try:
            return cls(**given)
        except ValidationError as exc:
            raise SettingsError("\n".join(_problem(error) for error in exc.errors())) from None


def _problem(error: Any) -> str:
    """One line of a :class:`SettingsError`: the variable, what it expects, what it got."""
    field = str(error["loc"][0]) if error["loc"] else "settings"
    expected = error["msg"].removeprefix("Value error, ").replace("Input should be ", "expected ")
    for bound in ("greater", "less"):
        expected = expected.replace(f"expected {bound}", f"expected a number {bound}")
    got = error.get("input")
    return f"{ENV_PREFIX}{field.upper()}: {expected}; got {got!r}"


def database_url(url: str | None = None) -> str:
    """The URL to use: ``url``, else ``$QABILET_DATABASE_URL``, else ``sqlite:///qabilet.db``.

    A PostgreSQL URL without a driver gets psycopg 3 (``postgresql+psycopg://``).

    Examples
    --------
    >>> database_url("postgresql://postgres@127.0.0.1/test")
    'postgresql+psycopg://postgres@127.0.0.1/test'
    """
    chosen = url or DatabaseSettings.from_env().database_url
    try:
        parsed = make_url(chosen)
    except ArgumentError:
        raise ValueError(f"database: expected a URL such as sqlite:///qabilet.db or "
                         f"postgresql://user@host/db; got {chosen!r}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def connect(url: str | None = None, *, migrate: bool = True,
            settings: DatabaseSettings | None = None) -> Engine:
    """Open the database at ``url`` (see :func:`database_url`), migrated to the newest schema.

    ``settings`` (by default read from the environment, :class:`DatabaseSettings`) give the URL
    when ``url`` is None, and the SQLite options below.

    SQLite gets foreign keys enforced, a busy timeout and write-ahead logging (WAL: readers and
    the one writer do not block each other), so that several processes can share one file; its
    directory must exist. A write waits up to ``$QABILET_SQLITE_BUSY_TIMEOUT_S`` seconds (30 by
    default) for another connection's write lock, then fails with "database is locked" (an error
    :func:`database_unavailable` recognises). Its ``synchronous`` mode is
    ``$QABILET_SQLITE_SYNCHRONOUS``:

    * ``full`` (the default): a commit is on disk — one fsync of the log — before it returns,
      so an acknowledged answer survives a crash of the process *and* of the machine;
    * ``normal``: a commit is in the operating system's cache when it returns and on disk at the
      next checkpoint — it survives the process being killed (the crash test's SIGKILL), but a
      power cut or a kernel crash may lose the last commits. No fsync waits: ~15 % more answers
      per second under load in ``benchmarks/bench_http.py``.

    A server's connections (PostgreSQL) are checked when taken from the pool (``pool_pre_ping``):
    after the server restarts, the pool replaces the connections it had instead of failing a
    request with each; a connection attempt gives up after :data:`CONNECT_TIMEOUT_S` seconds
    unless the URL sets ``connect_timeout``.

    Raises
    ------
    ValueError
        A URL that is not one, or a backend whose driver is not installed.
    SettingsError
        Settings read from the environment that cannot be used: a
        ``QABILET_SQLITE_SYNCHRONOUS`` that is neither ``full`` nor ``normal``, a
        ``QABILET_SQLITE_BUSY_TIMEOUT_S`` that is not a number of seconds from 0 to 86400.
    """
    settings = settings or DatabaseSettings.from_env()
    resolved = database_url(url or settings.database_url)
    sync = settings.sqlite_synchronous
    busy_ms = round(settings.sqlite_busy_timeout_s * 1000)
    parsed = make_url(resolved)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).resolve().parent
        if not folder.is_dir():
            raise ValueError(f"database: the folder of {parsed.database!r} does not exist")
    options: dict[str, Any] = {}
    if parsed.get_backend_name() != "sqlite":  # a server: it may restart under us
        options["pool_pre_ping"] = True
        if parsed.get_driver_name() == "psycopg" and "connect_timeout" not in parsed.query:
            options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    try:
        engine = create_engine(resolved, **options)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise ValueError(f"database: no driver for {parsed.drivername!r} ({exc}); for PostgreSQL, "
                         f"pip install 'qabilet[postgresql]'") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", partial(_sqlite_pragmas, synchronous=sync.upper(),
                                                busy_ms=busy_ms))
    if migrate:
        upgrade(engine)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, *, synchronous: str, busy_ms: int
                    ) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "memory":
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, nor it them
    cursor.execute(f"PRAGMA synchronous={synchronous}")  # FULL: on disk before it returns
    cursor.close()


def lock_key(name: str) -> int:
    """The 64-bit key of the advisory lock ``name`` (the first 8 bytes of its SHA-256, signed).

    PostgreSQL's advisory locks are named by a ``bigint``; qabilet's are ``qabilet:<name>``,
    made a number here so that they cannot meet another application's small integers.

    Examples
    --------
    >>> lock_key("migrate") == lock_key("migrate") != lock_key("demo-bank")
    True
    """
    digest = hashlib.sha256(f"qabilet:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _locked(connection: Connection, name: str, *, transaction: bool) -> None:
    """Wait for PostgreSQL's advisory lock ``name`` of the connection's schema; nothing elsewhere.

    The lock is per schema (its key mixes :func:`lock_key` with ``current_schema()``): two
    installations in two schemas of one database do not wait for each other. ``transaction``:
    held until the transaction ends (``pg_advisory_xact_lock``), else until released.
    """
    if connection.dialect.name != "postgresql":
        return
    function = "pg_advisory_xact_lock" if transaction else "pg_advisory_lock"
    connection.execute(text(f"SELECT {function}(:key # hashtextextended(current_schema(), 0))"),
                       {"key": lock_key(name)})


@contextmanager
def exclusive(engine: Engine, name: str) -> Iterator[None]:
    """Run the block while holding the advisory lock ``name``: one process at a time.

    On PostgreSQL, a session-level advisory lock on a connection of its own, held for the
    block and released after it (or by the server when the process dies: the connection ends);
    another process asking for the same name waits. On SQLite nothing is taken: several
    servers share a PostgreSQL database, not a file.
    """
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as connection:
        _locked(connection, name, transaction=False)
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock_all()"))
            connection.commit()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the Alembic migrations on ``engine`` up to ``revision``, one process at a time.

    On PostgreSQL the migration's transaction first takes the advisory lock
    :data:`MIGRATION_LOCK` (:func:`exclusive`'s kind, held to the commit): servers started
    together on one database migrate one after the other, and the second finds the schema at
    ``revision`` and changes nothing. PostgreSQL's DDL is transactional, so a migration that
    fails changes nothing either.
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    with engine.begin() as connection:
        _locked(connection, MIGRATION_LOCK, transaction=True)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The schema's Alembic revision (None for a database never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def unavailable_error_types() -> tuple[type[BaseException], ...]:
    """The exception types :func:`database_unavailable` may recognise (to register handlers for).

    SQLAlchemy's errors, ``sqlite3``'s, psycopg's when it is loaded, and exception groups.
    """
    types: tuple[type[BaseException], ...] = (sa_exc.DBAPIError, sa_exc.TimeoutError,
                                              sa_exc.DisconnectionError, sqlite3.Error,
                                              ExceptionGroup)
    psycopg = sys.modules.get("psycopg")
    return types + ((psycopg.Error,) if psycopg is not None else ())


def database_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` says the database is unavailable for the moment, not that a step is wrong.

    Unavailable: the server cannot be reached, has closed the connection, is starting up or
    shutting down, refused or cancelled the transaction (any DBAPI ``OperationalError`` or
    ``InterfaceError`` of psycopg; a connection SQLAlchemy marked invalidated; the pool's timeout);
    a SQLite database whose lock another connection held past the busy timeout (``SQLITE_BUSY``,
    ``SQLITE_LOCKED``). Such an operation was not carried out — the transaction, if one began, was
    rolled back — and may be tried again later. SQLite's other errors (no such table, a syntax
    error, a constraint) and every integrity or programming error are defects: False.

    The error's explicit causes (``raise … from exc``), a SQLAlchemy error's driver error and the
    members of an exception group are looked at too.

    Examples
    --------
    >>> import sqlite3
    >>> database_unavailable(sqlite3.OperationalError("database is locked"))
    True
    >>> database_unavailable(sqlite3.OperationalError("no such table: items"))
    False
    """
    pending, seen = [exc], set[int]()
    while pending and len(seen) < 32:
        e = pending.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if _unavailable_itself(e):
            return True
        if isinstance(e, BaseExceptionGroup):
            pending.extend(e.exceptions)
        if e.__cause__ is not None:
            pending.append(e.__cause__)
    return False


def _unavailable_itself(e: BaseException) -> bool:
    if isinstance(e, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return True  # no connection free in the pool in time / none that works
    if isinstance(e, sa_exc.DBAPIError):
        if e.connection_invalidated:
            return True
        driver = _driver_says(e.orig)
        return driver if driver is not None else isinstance(e, sa_exc.OperationalError)
    return bool(_driver_says(e))


def _driver_says(e: BaseException | None) -> bool | None:
    """Whether a driver's error is an unavailable database; None for a driver not known here."""
    if isinstance(e, sqlite3.Error):
        code = getattr(e, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in _SQLITE_TRANSIENT
        text = str(e).lower()  # an error made without a code (by hand, or by a wrapper)
        return "database is locked" in text or "database table is locked" in text
    psycopg = sys.modules.get("psycopg")  # psycopg's errors exist only once it is loaded
    if psycopg is not None and isinstance(e, psycopg.Error):
        return isinstance(e, psycopg.OperationalError | psycopg.InterfaceError)
    return None
