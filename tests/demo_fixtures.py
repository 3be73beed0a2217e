"""The demonstration bank, built once per test session (about 30 s) and copied per test.

Loaded as a plugin by ``tests/conftest.py``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from itembank.database import connect
from itembank.repository import BankRepository


@pytest.fixture(scope="session")
def demo_db_file(tmp_path_factory) -> Path:
    from qabilet.demo_bank import build_demo_bank

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    engine = connect(f"sqlite:///{path}")
    build = build_demo_bank(BankRepository(engine))
    engine.dispose()
    path.with_suffix(".build").write_text(repr(build))
    return path


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
