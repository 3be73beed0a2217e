"""Repository fixtures: every test that takes ``repo`` runs on SQLite and on a real PostgreSQL.

PostgreSQL comes from ``QABILET_TEST_DATABASE_URL`` (``.ci/run`` sets it); each test gets a
schema of its own, dropped afterwards. Without the variable the PostgreSQL half skips with a
message (fails under ``QABILET_REQUIRE_ALL=1``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from itembank.database import connect, database_url
from itembank.repository import BankRepository
from tests.conftest import skip_or_fail

PG_ENV = "QABILET_TEST_DATABASE_URL"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL whose connections see only a fresh, empty schema of the test PostgreSQL database."""
    base = os.environ.get(PG_ENV)
    if not base:
        skip_or_fail(f"PostgreSQL tests need {PG_ENV}=postgresql://user@host:port/db (a running "
                     f"server; Debian: apt-get install postgresql)")
    admin = create_engine(database_url(base))
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        with admin.begin() as c:
            c.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001 - any connection failure means: no server here
        admin.dispose()
        skip_or_fail(f"PostgreSQL at {base} is not reachable: {exc}")
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as c:
        c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """The URL of an empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bank.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def repo(db_url: str) -> Iterator[BankRepository]:
    """A repository on an empty, migrated database of each backend."""
    engine = connect(db_url)
    yield BankRepository(engine)
    engine.dispose()
