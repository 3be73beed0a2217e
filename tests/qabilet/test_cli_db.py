"""Servers started together on one database: `qabilet db upgrade`, migrations and the first start
taking turns under PostgreSQL advisory locks."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import inspect
from typer.testing import CliRunner

from qabilet.cli import app
from qabilet.cli_serve import first_start
from qabilet.itembank.database import (
    MIGRATION_LOCK,
    connect,
    current_revision,
    exclusive,
    upgrade,
)
from qabilet.itembank.repository import BankRepository
from qabilet.itembank.session_store import SessionStore
from tests.conftest import pg_schema, together
from tests.itembank import _bank

runner = CliRunner()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """An empty schema of the test PostgreSQL database (skips without one)."""
    yield from pg_schema("db")


def test_db_upgrade_migrates_a_new_database_then_finds_it_up_to_date(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    first = runner.invoke(app, ["db", "upgrade", "--database", url])
    assert first.exit_code == 0, first.output
    head = current_revision(connect(url, migrate=False))
    assert head is not None and first.stdout == f"The schema was migrated from revision none to {head}.\n"
    again = runner.invoke(app, ["db", "upgrade", "--database", url])
    assert again.stdout == f"The schema is up to date (revision {head}).\n"
    bad = runner.invoke(app, ["db", "upgrade", "--database", "nonsense"])
    assert bad.exit_code == 2 and "database: expected a URL" in bad.output


def test_servers_migrating_at_once_take_turns(pg_url):
    """Two processes' migrations on an empty PostgreSQL schema, released at the same moment: each
    waits for the migration lock (held here first, so nothing may change while it is), then one
    migrates and the other finds the schema up to date — no error, one schema."""
    engines = [connect(pg_url, migrate=False) for _ in range(3)]
    holder, servers = engines[0], engines[1:]
    outcome: dict[str, tuple[list, list[BaseException]]] = {}
    try:
        with exclusive(holder, MIGRATION_LOCK):
            waiting = threading.Thread(target=lambda: outcome.update(
                both=together(upgrade, [(e,) for e in servers])))
            waiting.start()
            time.sleep(0.5)
            assert waiting.is_alive() and inspect(holder).get_table_names() == []
        waiting.join(120)
        results, errors = outcome["both"]
        assert not errors and results == [None, None], errors
        head = current_revision(connect("sqlite://"))  # a new database's, migrated
        assert head is not None and current_revision(holder) == head
        assert "session_events" in inspect(holder).get_table_names()
    finally:
        for e in engines:
            e.dispose()


def test_servers_starting_on_an_empty_database_build_the_bank_once(pg_url):
    """Two servers' first start on one empty database at the same moment: one builds the bank and
    makes the two staff keys, the other finds it built (before the advisory lock both built)."""

    def build(repo: BankRepository) -> None:
        time.sleep(0.3)  # a build takes a while: the other server asks meanwhile
        _bank.fill(repo)

    engines = [connect(pg_url, migrate=k == 0) for k in range(2)]
    try:
        results, errors = together(
            first_start, [(BankRepository(e), SessionStore(e), build) for e in engines])
        assert not errors, errors
        assert sorted(len(keys) for keys in results) == [0, 2]
        repo = BankRepository(engines[0])
        assert len(repo.versions()) == 1 and len(SessionStore(engines[0]).api_keys()) == 2
    finally:
        for e in engines:
            e.dispose()
