"""Language versions over real HTTP (issue 18): a session whose candidate answers in Russian is
adapted and scored with the Russian parameters of the items that have them, under the version's
one prior; checked against the posterior integrated by hand."""

from __future__ import annotations

import httpx
import pytest

from qabilet.itembank.database import connect
from qabilet.itembank.repository import BankRepository
from tests.api._server import Server, staff, staff_keys, start_session
from tests.delivery._language_versions import BOOSTED, integrity_by_hand, publish_language_versions


@pytest.fixture
def grouped_server(demo_db):
    engine = connect(demo_db)
    publish_language_versions(BankRepository(engine))
    engine.dispose()
    keys = staff_keys(demo_db)
    running = Server(demo_db).start()
    yield running.base, keys, demo_db
    running.stop()


def _take(base: str, session: dict, language: str) -> None:
    """Answer every item (code: the position modulo the choices), each answer in ``language``."""
    me, sid = {"X-Session-Token": session["token"]}, session["id"]
    while not (item := httpx.get(f"{base}/v1/sessions/{sid}/item", headers=me).json())["finished"]:
        r = httpx.post(f"{base}/v1/sessions/{sid}/answers", headers=me,
                       json={"position": item["position"], "item_id": item["item_id"],
                             "code": item["position"] % len(item["choices"]),
                             "language": language})
        assert r.status_code == 200, r.text


def _integrity(base: str, keys, session: dict) -> tuple[list[tuple[str, int, str]], float, float]:
    """The session's integrity answers (item, code, language) and its profile's θ and SD."""
    events = httpx.get(f"{base}/v1/sessions/{session['id']}/events", headers=staff(keys)).json()
    given = [(e["payload"]["item_id"], e["payload"]["code"], e["payload"]["language"])
             for e in events if e["kind"] == "answer" and e["payload"]["item_id"].startswith("PQ-INT")]
    profile = httpx.get(f"{base}/v1/sessions/{session['id']}/profile", headers=staff(keys)).json()
    (result,) = [d for d in profile["personal"] if d["dimension"] == "integrity"]
    return given, result["theta"], result["sd"]


def test_answers_in_russian_are_adapted_and_scored_with_the_russian_parameters(grouped_server):
    base, keys, url = grouped_server
    version = BankRepository(connect(url)).version(2)
    runs = {}
    for language in ("ru", "kk"):  # both sessions created in Kazakh; one candidate switches
        session = start_session(base, keys, "kk")
        assert session["bank_version"] == 2
        _take(base, session, language)
        assert httpx.post(f"{base}/v1/sessions/{session['id']}/finish",
                          headers={"X-Session-Token": session["token"]}).status_code == 200
        runs[language] = _integrity(base, keys, session)
    # chosen with the Russian parameters: the item the Russian version makes the most informative
    assert runs["ru"][0][0][0] == BOOSTED and runs["kk"][0][0][0] != BOOSTED
    for language, (given, theta, sd) in runs.items():
        assert {lang for _, _, lang in given} == {language}
        assert (theta, sd) == pytest.approx(integrity_by_hand(version, given), abs=2e-3), language
