"""Candidate tokens over real HTTP: valid for the whole test, reissued by the operator (the old
one refused at once by every worker), refused after the session's end and its grace; response
times measured by the server, whatever the client says."""

from __future__ import annotations

import time

import httpx
import pytest

from qabilet.itembank.database import connect
from qabilet.itembank.repository import BankRepository
from tests.api._server import Server, staff, staff_keys, start_session


@pytest.fixture
def short_lived(demo_db):
    """A server on two workers whose links expire 1.8 s after issue and tokens 1.2 s after the
    session's end."""
    keys = staff_keys(demo_db)
    running = Server(demo_db, workers=2, env={"QABILET_TOKEN_TTL_HOURS": "0.0005",
                                               "QABILET_TOKEN_GRACE_MINUTES": "0.02"}).start()
    yield running.base, keys
    running.stop()


def _get(base: str, sid: str, token: str) -> int:
    """One request on a new connection (so that both workers take turns answering)."""
    return httpx.get(f"{base}/v1/sessions/{sid}/item",
                     headers={"X-Session-Token": token}).status_code


def test_a_started_test_keeps_its_token_past_the_links_expiry(short_lived):
    base, keys = short_lived
    started, unopened = start_session(base, keys), start_session(base, keys)
    assert _get(base, started["id"], started["token"]) == 200  # starts the test
    time.sleep(2.2)
    assert _get(base, started["id"], started["token"]) == 200
    assert _get(base, unopened["id"], unopened["token"]) == 403  # a link never opened expires
    # the proctor reissues it: a new link, with its own time to be opened
    r = httpx.post(f"{base}/v1/sessions/{unopened['id']}/token", headers=staff(keys))
    assert r.status_code == 200 and r.json()["token"] and "#token=" in r.json()["link"]
    assert _get(base, unopened["id"], r.json()["token"]) == 200


def test_a_reissued_token_is_refused_at_once_by_every_worker(short_lived):
    base, keys = short_lived
    session = start_session(base, keys)
    sid, old = session["id"], session["token"]
    assert [_get(base, sid, old) for _ in range(12)] == [200] * 12  # both workers hold it
    candidate = httpx.post(f"{base}/v1/sessions/{sid}/token", headers={"X-Session-Token": old})
    assert candidate.status_code == 403  # the candidate cannot reissue it
    r = httpx.post(f"{base}/v1/sessions/{sid}/token", headers=staff(keys))
    assert r.status_code == 200, r.text
    new = r.json()["token"]
    assert [_get(base, sid, old) for _ in range(12)] == [403] * 12
    assert [_get(base, sid, new) for _ in range(12)] == [200] * 12
    trail = httpx.get(f"{base}/v1/admin/audit", params={"target": sid},
                      headers=staff(keys, "psychometrician")).json()
    assert [a["action"] for a in trail].count("session.token_reissue") == 1
    events = httpx.get(f"{base}/v1/sessions/{sid}/events", headers=staff(keys)).json()
    assert [e for e in events if e["kind"] == "token"][0]["payload"].keys() == \
        {"by", "link_expires_at"}  # no digest handed out


def test_after_the_end_the_token_opens_the_profile_for_a_grace_only(short_lived):
    base, keys = short_lived
    session = start_session(base, keys)
    sid, me = session["id"], {"X-Session-Token": session["token"]}
    assert _get(base, sid, session["token"]) == 200
    assert httpx.post(f"{base}/v1/sessions/{sid}/finish", headers=me).status_code == 200
    assert httpx.get(f"{base}/v1/sessions/{sid}/profile", headers=me).status_code == 200
    again = httpx.post(f"{base}/v1/sessions/{sid}/token", headers=staff(keys))
    assert again.status_code == 409 and "closed" in again.json()["detail"]
    time.sleep(1.5)
    assert httpx.get(f"{base}/v1/sessions/{sid}/profile", headers=me).status_code == 403


def test_response_times_are_measured_by_the_server(server, demo_db):
    """Answers given at once while the body claims 25 s are flagged as implausibly fast; the
    responses table holds the server's times, not the body's."""
    base, keys = server
    session = start_session(base, keys, time_limit_s=3600)
    sid, me = session["id"], {"X-Session-Token": session["token"]}
    url = f"{base}/v1/sessions/{sid}"
    with httpx.Client(timeout=30) as client:
        for k in range(10):
            item = client.get(f"{url}/item", headers=me).json()
            if item["finished"]:
                break
            if k == 0:
                time.sleep(1.2)  # one answer that took its time, while the body says 0.3 s
            r = client.post(f"{url}/answers", headers=me,
                            json={"position": item["position"], "item_id": item["item_id"],
                                  "code": 0, "response_time_s": 0.3 if k == 0 else 25.0})
            assert r.status_code == 200, r.text
        assert client.post(f"{url}/finish", headers=me).status_code == 200
        profile = client.get(f"{url}/profile", headers=staff(keys)).json()
    assert "fast" in [f["code"] for f in profile["validity"]]
    engine = connect(demo_db, migrate=False)
    times = [r.response_time_s for r in BankRepository(engine).responses() if r.session_id == sid]
    engine.dispose()
    assert len(times) == 10
    assert 1.2 <= times[0] < 10  # the server's clock, not the 0.3 s claimed
    assert all(t < 5 for t in times[1:])  # not the 25 s claimed
