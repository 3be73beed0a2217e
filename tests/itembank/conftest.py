"""Repository fixtures: every test that takes ``repo`` runs on SQLite and on a real PostgreSQL.

PostgreSQL comes from ``QABILET_TEST_DATABASE_URL`` (``.ci/run`` sets it); each test gets a
schema of its own, dropped afterwards. Without the variable the PostgreSQL half skips with a
message (fails under ``QABILET_REQUIRE_ALL=1``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qabilet.itembank.database import connect
from qabilet.itembank.repository import BankRepository
from tests.conftest import pg_schema


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL whose connections see only a fresh, empty schema of the test PostgreSQL database."""
    yield from pg_schema()


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
