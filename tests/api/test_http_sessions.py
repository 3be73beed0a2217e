"""A whole session over real HTTP (uvicorn on 127.0.0.1) on a copy of the demonstration bank:
creation to the issued profile and its report; retries, conflicts and roles."""

from __future__ import annotations

import subprocess
import sys

import httpx
import numpy as np

from qabilet.itembank.database import connect
from qabilet.itembank.session_store import SessionStore
from tests.api._server import free_port, staff, start_session, wait_for


def test_a_whole_session_from_creation_to_the_issued_profile(server):
    base, keys = server
    session = start_session(base, keys, "kk")
    sid, token = session["id"], session["token"]
    me = {"X-Session-Token": token}
    rng = np.random.default_rng(1)
    answered = 0
    while True:
        item = httpx.get(f"{base}/v1/sessions/{sid}/item", headers=me).json()
        if item["finished"]:
            break
        assert item["language"] == "kk" and item["stem"] and len(item["choices"]) in (4, 5)
        assert not {"a", "b", "d", "key", "parameters", "orientation"} & set(item)
        code = int(rng.integers(len(item["choices"])))
        r = httpx.post(f"{base}/v1/sessions/{sid}/answers", headers=me,
                       json={"position": item["position"], "item_id": item["item_id"],
                             "code": code, "response_time_s": 12.0})
        assert r.status_code == 200 and not r.json()["replayed"], r.text
        answered += 1
    assert 40 <= answered <= 120
    done = httpx.post(f"{base}/v1/sessions/{sid}/finish", headers=me)
    assert done.status_code == 200
    full = httpx.get(f"{base}/v1/sessions/{sid}/profile", headers=staff(keys)).json()
    mine = httpx.get(f"{base}/v1/sessions/{sid}/profile", headers=me).json()
    assert len(full["professional"]) == 4 and len(full["personal"]) == 5
    assert "validity" in full and "validity" not in mine
    assert full["bank_version"] == session["bank_version"] and full["session_id"] == sid
    report = httpx.get(f"{base}/v1/sessions/{sid}/report", headers=me)
    assert report.status_code == 200 and 'lang="kk"' in report.text and "<svg" in report.text
    again = httpx.post(f"{base}/v1/sessions/{sid}/finish", headers=me).json()
    assert again["profile_id"] == done.json()["profile_id"]  # finishing twice issues one profile


def test_retries_replay_and_different_answers_conflict(server):
    base, keys = server
    session = start_session(base, keys)
    me = {"X-Session-Token": session["token"]}
    sid = session["id"]
    item = httpx.get(f"{base}/v1/sessions/{sid}/item", headers=me).json()
    body = {"position": 1, "item_id": item["item_id"], "code": 1}
    first = httpx.post(f"{base}/v1/sessions/{sid}/answers", headers=me, json=body)
    retry = httpx.post(f"{base}/v1/sessions/{sid}/answers", headers=me, json=body)
    assert first.status_code == retry.status_code == 200 and retry.json()["replayed"]
    other = httpx.post(f"{base}/v1/sessions/{sid}/answers", headers=me, json={**body, "code": 2})
    assert other.status_code == 409 and "already answered" in other.json()["detail"]
    ahead = httpx.post(f"{base}/v1/sessions/{sid}/answers", headers=me,
                       json={**body, "position": 5})
    assert ahead.status_code == 409 and "position" in ahead.json()["detail"]
    bad = httpx.post(f"{base}/v1/sessions/{sid}/answers", headers=me, json={**body, "code": "x"})
    assert bad.status_code == 422 and "code" in bad.text
    assert httpx.get(f"{base}/v1/sessions/{sid}", headers=me).json()["answered"] == 1


def test_roles(server):
    base, keys = server
    a, b = start_session(base, keys), start_session(base, keys)
    url = f"{base}/v1/sessions/{a['id']}/item"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"X-Session-Token": b["token"]}).status_code == 403
    assert httpx.get(url, headers={"X-Session-Token": a["token"]}).status_code == 200
    assert httpx.get(url, headers=staff(keys)).status_code == 200
    assert httpx.get(url, headers={"Authorization": "Bearer qk_nope_nope"}).status_code == 401
    new = httpx.post(f"{base}/v1/candidates", json={}, headers=staff(keys, "psychometrician"))
    assert new.status_code == 403
    assert httpx.post(f"{base}/v1/candidates", json={},
                      headers={"X-Session-Token": a["token"]}).status_code == 403
    missing = httpx.get(f"{base}/v1/sessions/nope", headers=staff(keys))
    assert missing.status_code == 404 and "does not exist" in missing.json()["detail"]


def test_qabilet_serve_with_two_workers_serves_one_database(demo_db):
    """Two worker processes on one database: a session created through one answers through any.

    ``--demo-session`` (what ``make run`` uses) prints a ready session's link and the docs' URL.
    """
    store = SessionStore(connect(demo_db))
    key = store.create_api_key("operator")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "qabilet", "serve", "--port", str(port),
                             "--workers", "2", "--database", demo_db, "--demo-session"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        printed = [proc.stdout.readline() for _ in range(2)]
        assert printed[1].strip() == f"OpenAPI docs: {base}/docs"
        link = printed[0].split(": ", 1)[1].strip()
        assert link.startswith(f"{base}/take/") and "#token=" in link
        wait_for(base)
        page, token = link.split("#token=")
        assert httpx.get(page).status_code == 200
        demo_id = page.rsplit("/", 1)[1]
        shown = httpx.get(f"{base}/v1/sessions/{demo_id}/item", headers={"X-Session-Token": token})
        assert shown.status_code == 200 and shown.json()["stem"]
        assert httpx.get(f"{base}/docs").status_code == 200
        session = start_session(base, {"operator": key})
        me = {"X-Session-Token": session["token"]}
        for _ in range(6):  # new connections, spread by the OS over the two workers
            item = httpx.get(f"{base}/v1/sessions/{session['id']}/item", headers=me).json()
            r = httpx.post(f"{base}/v1/sessions/{session['id']}/answers", headers=me,
                           json={"position": item["position"], "item_id": item["item_id"],
                                 "code": 0})
            assert r.status_code == 200, r.text
        assert httpx.get(f"{base}/v1/sessions/{session['id']}", headers=me).json()["answered"] == 6
    finally:
        proc.terminate()
        proc.wait(15)
