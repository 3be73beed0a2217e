"""Opening the bank's database and bringing its schema up to date.

The embedded default is a SQLite file, ``qabilet.db`` in the working directory (or the URL in
``QABILET_DATABASE_URL``); production gives a PostgreSQL URL
(``postgresql://user@host/db``, served by psycopg 3: ``pip install 'qabilet[postgresql]'``).
The schema is made and changed only by the Alembic migrations in :mod:`itembank.migrations`.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

__all__ = ["DEFAULT_FILE", "ENV_VAR", "SYNC_ENV_VAR", "connect", "database_url", "upgrade"]

#: the SQLite file of the embedded default
DEFAULT_FILE = "qabilet.db"
#: the environment variable naming the database
ENV_VAR = "QABILET_DATABASE_URL"
#: the environment variable choosing SQLite's ``synchronous`` mode: ``full`` (the default) or
#: ``normal``
SYNC_ENV_VAR = "QABILET_SQLITE_SYNCHRONOUS"
_SYNC_MODES = ("full", "normal")


def database_url(url: str | None = None) -> str:
    """The URL to use: ``url``, else ``$QABILET_DATABASE_URL``, else ``sqlite:///qabilet.db``.

    A PostgreSQL URL without a driver gets psycopg 3 (``postgresql+psycopg://``).

    Examples
    --------
    >>> database_url("postgresql://postgres@127.0.0.1/test")
    'postgresql+psycopg://postgres@127.0.0.1/test'
    """
    chosen = url or os.environ.get(ENV_VAR) or f"sqlite:///{DEFAULT_FILE}"
    try:
        parsed = make_url(chosen)
    except ArgumentError:
        raise ValueError(f"database: expected a URL such as sqlite:///qabilet.db or "
                         f"postgresql://user@host/db; got {chosen!r}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def connect(url: str | None = None, *, migrate: bool = True) -> Engine:
    """Open the database at ``url`` (see :func:`database_url`), migrated to the newest schema.

    SQLite gets foreign keys enforced, a busy timeout and write-ahead logging (WAL: readers and
    the one writer do not block each other), so that several processes can share one file; its
    directory must exist. Its ``synchronous`` mode is ``$QABILET_SQLITE_SYNCHRONOUS``:

    * ``full`` (the default): a commit is on disk — one fsync of the log — before it returns,
      so an acknowledged answer survives a crash of the process *and* of the machine;
    * ``normal``: a commit is in the operating system's cache when it returns and on disk at the
      next checkpoint — it survives the process being killed (the crash test's SIGKILL), but a
      power cut or a kernel crash may lose the last commits. No fsync waits: ~15 % more answers
      per second under load in ``benchmarks/bench_http.py``.

    Raises
    ------
    ValueError
        A URL that is not one, a backend whose driver is not installed, or a
        ``QABILET_SQLITE_SYNCHRONOUS`` that is neither ``full`` nor ``normal``.
    """
    resolved = database_url(url)
    sync = (os.environ.get(SYNC_ENV_VAR) or "full").strip().lower()
    if sync not in _SYNC_MODES:
        raise ValueError(f"{SYNC_ENV_VAR}: expected one of {', '.join(_SYNC_MODES)}; got "
                         f"{os.environ.get(SYNC_ENV_VAR)!r}")
    parsed = make_url(resolved)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).resolve().parent
        if not folder.is_dir():
            raise ValueError(f"database: the folder of {parsed.database!r} does not exist")
    try:
        engine = create_engine(resolved)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise ValueError(f"database: no driver for {parsed.drivername!r} ({exc}); for PostgreSQL, "
                         f"pip install 'qabilet[postgresql]'") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", partial(_sqlite_pragmas, synchronous=sync.upper()))
    if migrate:
        upgrade(engine)
    return engine


def _sqlite_pragmas(dbapi_connection, _record, *, synchronous: str) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "memory":
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, nor it them
    cursor.execute(f"PRAGMA synchronous={synchronous}")  # FULL: on disk before it returns
    cursor.close()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the Alembic migrations on ``engine`` up to ``revision``."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
