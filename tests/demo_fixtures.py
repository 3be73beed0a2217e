"""The demonstration bank, built once per test session (about 30 s) and copied per test.

Loaded as a plugin by ``tests/conftest.py``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from qabilet.itembank.database import connect
from qabilet.itembank.repository import BankRepository


@pytest.fixture(scope="session")
def demo_db_file(tmp_path_factory) -> Path:
    from qabilet.demo_bank import build_demo_bank

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    engine = connect(f"sqlite:///{path}")
    build = build_demo_bank(BankRepository(engine))
    engine.dispose()
    path.with_suffix(".build.json").write_text(json.dumps(asdict(build)))
    return path


@pytest.fixture(scope="session")
def demo_build(demo_db_file) -> dict:
    """What the session's build of the demonstration bank reported (``DemoBuild`` fields)."""
    return json.loads(demo_db_file.with_suffix(".build.json").read_text())


@pytest.fixture
def demo_db(demo_db_file, tmp_path) -> str:
    """The URL of a private copy of the demonstration bank."""
    copy = tmp_path / "demo.db"
    shutil.copy(demo_db_file, copy)
    return f"sqlite:///{copy}"


@pytest.fixture
def demo_repo(demo_db):
    engine = connect(demo_db)
    yield BankRepository(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def demo_pg(demo_db_file) -> Iterator[str]:
    """The URL of a PostgreSQL copy of the demonstration bank (a schema of its own, dropped after).

    Rows are copied from the SQLite build into a freshly migrated schema (:func:`copy_demo`); the
    tests that use it add sessions of their own, never change the bank. Needs
    ``QABILET_TEST_DATABASE_URL`` (skips without it; fails under ``QABILET_REQUIRE_ALL=1``).
    """
    from tests.conftest import pg_schema

    schema = pg_schema("demo")
    url = next(schema)
    copy_demo(demo_db_file, url)
    yield url
    next(schema, None)  # drops it


def copy_demo(demo_db_file: Path, url: str) -> None:
    """Copy the demonstration bank's rows into the empty database at ``url`` (migrated here).

    Table by table from the SQLite build, in the order of their foreign keys.
    """
    from sqlalchemy import delete, insert, select

    from qabilet.itembank.tables import Base

    source, target = connect(f"sqlite:///{demo_db_file}"), connect(url)
    with source.connect() as src, target.begin() as dst:
        for table in reversed(Base.metadata.sorted_tables):  # what the migrations wrote (a key)
            dst.execute(delete(table))
        for table in Base.metadata.sorted_tables:
            rows = [dict(r._mapping) for r in src.execute(select(table))]
            if rows:
                dst.execute(insert(table), rows)
    source.dispose()
    target.dispose()
