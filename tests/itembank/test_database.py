"""Opening the database: SQLite's journal and synchronous modes, and the setting that chooses it."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from qabilet.itembank.database import SYNC_ENV_VAR, connect

# PRAGMA synchronous reads back as a number: 1 NORMAL, 2 FULL (sqlite.org/pragma.html#pragma_synchronous)
NORMAL, FULL = 1, 2


def _modes(url: str) -> tuple[str, int]:
    engine = connect(url, migrate=False)
    with engine.connect() as c:
        modes = (c.execute(text("PRAGMA journal_mode")).scalar(),
                 c.execute(text("PRAGMA synchronous")).scalar())
    engine.dispose()
    return modes


def test_sqlite_is_in_wal_mode_and_a_commit_waits_for_the_disk_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv(SYNC_ENV_VAR, raising=False)
    assert _modes(f"sqlite:///{tmp_path / 'a.db'}") == ("wal", FULL)


def test_the_setting_chooses_normal(tmp_path, monkeypatch):
    monkeypatch.setenv(SYNC_ENV_VAR, " Normal ")
    assert _modes(f"sqlite:///{tmp_path / 'a.db'}") == ("wal", NORMAL)


def test_a_bad_setting_is_refused_naming_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(SYNC_ENV_VAR, "off")
    with pytest.raises(ValueError, match=f"{SYNC_ENV_VAR}: expected one of full, normal; got 'off'"):
        connect(f"sqlite:///{tmp_path / 'a.db'}")
