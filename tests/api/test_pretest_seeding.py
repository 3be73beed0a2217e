"""Pretest items in live sessions over real HTTP (issue 19): seeded at positions drawn per
session — never first, never two in a row — shown like any other item, never scored, their
answers flagged in the responses table; and a pinned session given and scored as it ran after
its items' status and texts change."""

from __future__ import annotations

import httpx
import pytest

from qabilet.delivery.profiles import Answer, build_profile
from qabilet.delivery.session_state import _build_plan, derive
from qabilet.itembank.database import connect
from qabilet.itembank.repository import BankRepository
from qabilet.itembank.session_store import SessionStore
from tests.api._server import Server, staff, staff_keys, start_session
from tests.delivery._pretest import NEW, PER_SESSION, publish_pretest_version


@pytest.fixture
def seeded_server(demo_db):
    engine = connect(demo_db)
    version = publish_pretest_version(BankRepository(engine))
    engine.dispose()
    keys = staff_keys(demo_db)
    running = Server(demo_db).start()
    yield running.base, keys, demo_db, version
    running.stop()


def _take(base: str, session: dict) -> list[dict]:
    """Answer every item (code: the position modulo the choices); the items as shown."""
    me, sid, shown = {"X-Session-Token": session["token"]}, session["id"], []
    while not (item := httpx.get(f"{base}/v1/sessions/{sid}/item", headers=me).json())["finished"]:
        shown.append(item)
        r = httpx.post(f"{base}/v1/sessions/{sid}/answers", headers=me,
                       json={"position": item["position"], "item_id": item["item_id"],
                             "code": item["position"] % len(item["choices"])})
        assert r.status_code == 200, r.text
    assert httpx.post(f"{base}/v1/sessions/{sid}/finish", headers=me).status_code == 200
    return shown


def _profile(base, keys, session) -> dict:
    return httpx.get(f"{base}/v1/sessions/{session['id']}/profile", headers=staff(keys)).json()


def test_pretest_items_are_seeded_apart_shown_alike_and_never_scored(seeded_server):
    base, keys, url, version = seeded_server
    repo = BankRepository(connect(url))
    placements = set()
    for k in range(4):
        session = start_session(base, keys, ("kk", "ru", "en", "ru")[k])
        assert session["bank_version"] == version
        shown = _take(base, session)
        positions = [s["position"] for s in shown if s["item_id"] in NEW]
        assert len(positions) == PER_SESSION and len(set(s["item_id"] for s in shown)) == len(shown)
        assert min(positions) >= 2 and all(b - a >= 2 for a, b in zip(positions, positions[1:],
                                                                       strict=False))
        placements.add(tuple(positions))
        seeded = [s for s in shown if s["item_id"] in NEW]
        assert all(s["format"] == "likert" and len(s["choices"]) == 5 and s["stem"]
                   for s in seeded)  # shown like any Likert statement, in the session's language
        profile = _profile(base, keys, session)
        counted = sum(d["n_items"] for d in (*profile["professional"], *profile["personal"]))
        assert counted == len(shown) - PER_SESSION  # every scored item, no pretest one
        answers = [Answer(s["item_id"], s["position"] % len(s["choices"]), None, session["language"])
                   for s in shown if s["item_id"] not in NEW]
        alone = build_profile(version=repo.version(version), norm_set=repo.norm_set(),
                              items={i.id: i for i in repo.items(version=version)},
                              dimensions=repo.dimensions(), recommendations=[], level="middle",
                              answers=answers, language=session["language"], candidate_id="x",
                              software_version="test")
        by_dim = {d.dimension: d.theta for d in (*alone.professional, *alone.personal)}
        assert {d["dimension"]: d["theta"] for d in (*profile["professional"],
                                                     *profile["personal"])} == pytest.approx(by_dim)
        flagged = [(r.item_id, r.pretest) for r in repo.responses() if r.session_id == session["id"]]
        assert sorted(i for i, p in flagged if p) == sorted(s["item_id"] for s in seeded)
        assert not any(p for i, p in flagged if i not in NEW)
    assert len(placements) > 1  # the positions are drawn per session
    assert len(repo.responses(pretest=True)) == 4 * PER_SESSION


def test_a_pinned_session_is_given_and_scored_as_it_ran_after_its_items_change(seeded_server):
    base, keys, url, version = seeded_server
    session = start_session(base, keys, "ru")
    shown = _take(base, session)
    issued = _profile(base, keys, session)
    engine = connect(url)
    repo, store = BankRepository(engine), SessionStore(engine)
    scored = [s["item_id"] for s in shown if s["item_id"] not in NEW]
    # later: a scored item is retired, another one's text is rewritten, a pretest item rejected
    repo.retire_items([scored[0]], by="psychometrician", reason="drifted")
    edited = repo.item(scored[1])
    repo.add_items([edited.model_copy(update={"text": {
        **edited.text, "ru": edited.text["ru"].model_copy(update={"stem": "Новый текст."})}})],
        replace=True)
    repo.review(next(s["item_id"] for s in shown if s["item_id"] in NEW), "retired",
                by="psychometrician", reason="rejected after trying out")
    assert repo.item(scored[0]).status == "retired"

    stored = store.session(session["id"])
    events = store.events(session["id"])
    plan = _build_plan(repo, stored.bank_version, stored.level, stored.blueprint_number)
    assert plan.items[scored[0]].status == "operational"  # as version 2 holds it
    for k in range(len(shown)):  # the log replayed: every position gives the item it gave
        prefix = [e for e in events if e.kind == "answer"][:k]
        cut = [e for e in events
               if e.kind not in ("answer", "finish", "terminate", "timeout") or e in prefix]
        assert derive(plan, stored, cut).item_id == shown[k]["item_id"], k
    assert repo.item(scored[1], version=version).text["ru"].stem != "Новый текст."
    answers = [Answer(e.payload["item_id"], int(e.payload["code"]), None, e.payload["language"])
               for e in events if e.kind == "answer"]
    again = build_profile(version=plan.version, norm_set=repo.norm_set(), items=plan.items,
                          dimensions=repo.dimensions(), recommendations=[], level="middle",
                          answers=answers, language="ru", candidate_id="x", software_version="test")
    assert {d.dimension: (d.theta, d.n_items) for d in (*again.professional, *again.personal)} == {
        d["dimension"]: (pytest.approx(d["theta"], abs=1e-12), d["n_items"])
        for d in (*issued["professional"], *issued["personal"])}
    engine.dispose()
