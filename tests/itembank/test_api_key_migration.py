"""Migrations down and up again on SQLite and PostgreSQL: 0006 (the keys' scope: keys survive),
0007 (the responses' ``code``: answers survive), 0008 (recommendations per level: the texts for
every level survive) and 0009 (item review and pretest items: versions, blueprints and answers
survive, the reviews and flags go)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect

import qabilet.itembank
from qabilet.itembank.database import connect
from qabilet.itembank.repository import BankRepository, Response
from qabilet.itembank.session_store import SessionStore


def _migrate(engine, step, revision):
    config = Config()
    config.set_main_option("script_location",
                           str(Path(qabilet.itembank.__file__).with_name("migrations")))
    with engine.begin() as c:
        config.attributes["connection"] = c
        step(config, revision)


def _columns(engine, table="api_keys"):
    return {c["name"] for c in inspect(engine).get_columns(table)}


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


def test_the_responses_code_column_is_renamed_both_ways_and_answers_survive(db_url):
    from datetime import UTC, datetime

    from tests.itembank import _bank

    engine = connect(db_url)
    repo = BankRepository(engine)
    _bank.fill(repo)
    t0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
    answers = [Response("P1", "TRN-L1", 1, "kk", "middle", 3, t0, 6.5, "s1"),
               Response("P2", "TRN-L2", 1, "ru", "low", 0, t0, None, "s2")]
    assert repo.record_responses(answers) == 2
    assert "code" in _columns(engine, "responses") and "category" not in _columns(engine, "responses")

    _migrate(engine, command.downgrade, "0006")
    assert "category" in _columns(engine, "responses") and "code" not in _columns(engine, "responses")
    _migrate(engine, command.upgrade, "head")
    assert repo.responses() == answers
    engine.dispose()


def test_recommendations_per_level_go_and_come_back_and_texts_for_every_level_survive(db_url):
    from qabilet.itembank.content import Recommendation

    engine = connect(db_url)
    repo = BankRepository(engine)
    every = Recommendation(target="integrity", band="meets", text={"en": "For everyone."})
    senior = Recommendation(target="integrity", band="meets", text={"en": "For senior posts."},
                            levels=["high"])
    repo.put_recommendations([every, senior])
    assert repo.recommendations() == [every, senior]

    _migrate(engine, command.downgrade, "0007")
    assert "scope" not in _columns(engine, "recommendations")
    _migrate(engine, command.upgrade, "head")
    assert repo.recommendations() == [every]  # the per-level text could not be kept in 0007's key
    repo.put_recommendations([senior])
    assert repo.recommendations() == [every, senior]
    engine.dispose()


def test_reviews_and_pretest_lists_go_and_come_back_and_the_bank_survives(db_url):
    from datetime import UTC, datetime

    from tests.itembank import _bank

    engine = connect(db_url)
    repo = BankRepository(engine)
    _bank.fill(repo)
    t0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
    answers = [Response("P1", "TRN-L1", 1, "kk", "middle", 3, t0, 6.5, "s1"),
               Response("P1", "NEW-1", 1, "kk", "middle", 2, t0, 4.0, "s1", pretest=True)]
    repo.record_responses(answers)
    assert {"pretest"} <= _columns(engine, "bank_versions") & _columns(engine, "responses")
    assert "item_reviews" in inspect(engine).get_table_names()
    versions = repo.versions()

    _migrate(engine, command.downgrade, "0008")
    assert "pretest" not in _columns(engine, "responses") | _columns(engine, "bank_versions")
    assert "item_reviews" not in inspect(engine).get_table_names()
    _migrate(engine, command.upgrade, "head")
    assert repo.versions() == versions
    assert [r.pretest for r in repo.responses()] == [False, False]  # the flag was lost going down
    engine.dispose()
