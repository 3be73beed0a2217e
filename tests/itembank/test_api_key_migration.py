"""Migration 0006 (the keys' scope) down and up again on SQLite and PostgreSQL: keys survive."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect

import qabilet.itembank
from qabilet.itembank.database import connect
from qabilet.itembank.session_store import SessionStore


def _migrate(engine, step, revision):
    config = Config()
    config.set_main_option("script_location",
                           str(Path(qabilet.itembank.__file__).with_name("migrations")))
    with engine.begin() as c:
        config.attributes["connection"] = c
        step(config, revision)


def _columns(engine):
    return {c["name"] for c in inspect(engine).get_columns("api_keys")}


def test_the_scope_column_goes_and_comes_back_and_keys_keep_working(db_url):
    engine = connect(db_url)
    store = SessionStore(engine)
    scoped = store.create_api_key("operator", "front desk", scope="centre-7")
    plain = store.create_api_key("psychometrician")
    assert "scope" in _columns(engine)
    assert [k["scope"] for k in store.api_keys()] == ["centre-7", None]

    _migrate(engine, command.downgrade, "0005")
    assert "scope" not in _columns(engine)
    assert {"id", "role", "key_hash", "label", "created_at", "revoked_at"} <= _columns(engine)

    _migrate(engine, command.upgrade, "0006")
    assert [(k["role"], k["label"], k["scope"]) for k in store.api_keys()] == [
        ("operator", "front desk", None), ("psychometrician", None, None)]
    assert store.authenticate(scoped)[1] == "operator"
    assert store.authenticate(plain)[1] == "psychometrician"
    engine.dispose()
