"""Every endpoint × every party, over real HTTP: no credentials, a bad key, an operator, a
psychometrician, the session's candidate, another session's candidate.

The table below says who each endpoint serves; the test fails when the served API has an
endpoint the table does not list, so a new route must say who may call it.
"""

from __future__ import annotations

import httpx
import pytest

from tests.api._server import staff, start_session

OP, PSY, OWN = "operator", "psychometrician", "candidate"
SESSION = {OP, OWN}
#: (method, path) → the parties it serves
SERVES = {
    ("POST", "/v1/candidates"): {OP},
    ("POST", "/v1/sessions"): {OP},
    ("GET", "/v1/sessions/{session_id}"): SESSION,
    ("GET", "/v1/sessions/{session_id}/item"): SESSION,
    ("POST", "/v1/sessions/{session_id}/answers"): SESSION,
    ("GET", "/v1/sessions/{session_id}/profile"): SESSION,
    ("GET", "/v1/sessions/{session_id}/report"): SESSION,
    ("GET", "/v1/sessions/{session_id}/report.pdf"): SESSION,
    ("POST", "/v1/sessions/{session_id}/finish"): SESSION,
    ("POST", "/v1/sessions/{session_id}/pause"): {OP},
    ("POST", "/v1/sessions/{session_id}/resume"): {OP},
    ("POST", "/v1/sessions/{session_id}/extra-time"): {OP},
    ("POST", "/v1/sessions/{session_id}/incidents"): {OP},
    ("POST", "/v1/sessions/{session_id}/terminate"): {OP},
    ("GET", "/v1/sessions/{session_id}/events"): {OP},
    ("POST", "/v1/sessions/{session_id}/token"): {OP},
    ("GET", "/v1/reports/group"): {OP},
    ("GET", "/v1/admin/bank"): {PSY},
    ("POST", "/v1/admin/bank"): {PSY},
    ("POST", "/v1/admin/versions"): {PSY},
    ("POST", "/v1/admin/versions/{number}/publish"): {PSY},
    ("GET", "/v1/admin/versions/{number}/report"): {PSY},
    ("POST", "/v1/admin/norm-sets/{number}/publish"): {PSY},
    ("GET", "/v1/admin/responses"): {PSY},
    ("POST", "/v1/admin/calibrations"): {PSY},
    ("GET", "/v1/admin/calibrations"): {PSY},
    ("GET", "/v1/admin/calibrations/{job_id}"): {PSY},
    ("POST", "/v1/admin/keys"): {PSY},
    ("GET", "/v1/admin/keys"): {PSY},
    ("DELETE", "/v1/admin/keys/{key_id}"): {PSY},
    ("GET", "/v1/admin/audit"): {PSY},
    ("POST", "/v1/admin/items/{item_id}/reviews"): {PSY},
    ("GET", "/v1/admin/items/{item_id}/reviews"): {PSY},
    ("POST", "/v1/admin/pretest"): {PSY},
}
PARTIES = ("nobody", "bad key", OP, PSY, OWN, "other candidate")


@pytest.fixture
def world(server):
    base, keys = server
    a, b = start_session(base, keys), start_session(base, keys)
    headers = {"nobody": {}, "bad key": {},
               OP: staff(keys), PSY: staff(keys, PSY),
               OWN: {"X-Session-Token": a["token"]},
               "other candidate": {"X-Session-Token": b["token"]}}
    return base, a["id"], headers


def test_the_table_lists_every_served_endpoint(world):
    base, _, _ = world
    paths = httpx.get(f"{base}/openapi.json").json()["paths"]
    served = {(m.upper(), p) for p, ops in paths.items() for m in ops}
    assert served == set(SERVES)


@pytest.mark.parametrize("party", PARTIES)
def test_each_party_reaches_exactly_its_endpoints(world, party):
    base, session_id, headers = world
    for k, ((method, path), parties) in enumerate(SERVES.items()):
        url = base + path.format(session_id=session_id, number=1, job_id="nope", key_id="nope",
                                 item_id="TRN-L01")
        sent = headers[party]
        if party == "bad key":  # a key id of its own each time: one id's failures are throttled
            sent = {"Authorization": f"Bearer qk_{k:04x}_nope"}
        r = httpx.request(method, url, headers=sent, json={} if method == "POST" else None)
        where = f"{party} → {method} {path}: {r.status_code} {r.text[:200]}"
        if party in parties:
            assert r.status_code not in (401, 403), where
        elif party in ("nobody", "bad key"):
            assert r.status_code == 401, where
        else:
            assert r.status_code == 403, where
        assert r.status_code < 500, where
        if r.status_code in (401, 403):
            assert isinstance(r.json()["detail"], str) and r.json()["detail"], where
