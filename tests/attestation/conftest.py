"""Every test that takes ``db_url`` runs on SQLite and on a real PostgreSQL (as the bank's do).

SQLite's database is a copy of one migrated once per test session (the migrations run the same
way for every test; copying a file is ten times faster); PostgreSQL's, a fresh schema migrated
for the test (``tests/itembank/conftest.py``).
"""

import shutil
from pathlib import Path

import pytest

from qabilet.itembank.database import connect
from tests.itembank.conftest import pg_url  # noqa: F401  (fixtures)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite database at the newest schema (not to be written: tests copy it)."""
    path = tmp_path_factory.mktemp("migrated") / "empty.db"
    connect(f"sqlite:///{path}").dispose()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated database of each backend, the test's own."""
    if request.param == "sqlite":
        copy = tmp_path / "bank.db"
        shutil.copy(request.getfixturevalue("migrated_sqlite"), copy)
        return f"sqlite:///{copy}"
    return request.getfixturevalue("pg_url")
