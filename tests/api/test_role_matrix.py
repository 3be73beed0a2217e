"""Every endpoint × every party × in and out of scope, over real HTTP.

The parties: no credentials, a bad key, a key of every key role for every unit, a key of every
role that can be scoped limited to unit ``U-A`` (with ``U-A1`` inside it), the session's candidate
and another session's. The table below says which roles each endpoint serves and what it is
about (a session, an employee, an account, a list, the whole organisation); the test fails when
the served API has an endpoint the table does not list, so a new route must say who may call it.

A scoped key is sent at the records of its unit and at those of unit ``U-B``: a session held at
``TC-B``, an employee and an account of ``U-B``. Outside its unit it gets 404 (or 403 for what
covers every unit), a list holds only its unit's records, and afterwards the audit trail shows no
action of it on anything of ``U-B``: zero cross-unit reads or actions.
"""

from __future__ import annotations

import httpx
import pytest

from qabilet.itembank.database import connect
from qabilet.itembank.session_store import SessionStore
from tests.api._staff import world_server
from tests.attestation._world import EMPLOYEES_A, UNITS_A

ADMIN, HR, OP, PROC, COMM, PSY = ("administrator", "hr", "operator", "proctor", "commission",
                                  "psychometrician")
OWN, OTHER = "candidate", "other candidate"
KEY_ROLES = (ADMIN, HR, OP, PROC, COMM, PSY)
SCOPED = (ADMIN, HR, OP, PROC, COMM)
READERS = {ADMIN, HR, OP, COMM}
SESSION, PROCTORING = {OP, OWN}, {OP, PROC}
#: (method, path) → (the roles it serves, what it is about)
SERVES = {
    ("POST", "/v1/candidates"): ({OP}, "open"),
    ("POST", "/v1/sessions"): ({OP}, "open"),
    ("GET", "/v1/sessions/{session_id}"): (SESSION, "session"),
    ("GET", "/v1/sessions/{session_id}/item"): (SESSION, "session"),
    ("POST", "/v1/sessions/{session_id}/answers"): (SESSION, "session"),
    ("GET", "/v1/sessions/{session_id}/profile"): (SESSION, "session"),
    ("GET", "/v1/sessions/{session_id}/report"): (SESSION, "session"),
    ("GET", "/v1/sessions/{session_id}/report.pdf"): (SESSION, "session"),
    ("POST", "/v1/sessions/{session_id}/finish"): (SESSION, "session"),
    ("POST", "/v1/sessions/{session_id}/pause"): (PROCTORING, "session"),
    ("POST", "/v1/sessions/{session_id}/resume"): (PROCTORING, "session"),
    ("POST", "/v1/sessions/{session_id}/extra-time"): (PROCTORING, "session"),
    ("POST", "/v1/sessions/{session_id}/incidents"): (PROCTORING, "session"),
    ("POST", "/v1/sessions/{session_id}/terminate"): (PROCTORING, "session"),
    ("GET", "/v1/sessions/{session_id}/events"): (PROCTORING, "session"),
    ("POST", "/v1/sessions/{session_id}/token"): (PROCTORING, "session"),
    ("GET", "/v1/reports/group"): ({OP}, "open"),  # a scoped key's: its centres' sessions
    ("GET", "/v1/admin/bank"): ({PSY}, "open"),
    ("POST", "/v1/admin/bank"): ({PSY}, "open"),
    ("POST", "/v1/admin/versions"): ({PSY}, "open"),
    ("POST", "/v1/admin/versions/{number}/publish"): ({PSY}, "open"),
    ("GET", "/v1/admin/versions/{number}/report"): ({PSY}, "open"),
    ("POST", "/v1/admin/norm-sets/{number}/publish"): ({PSY}, "open"),
    ("GET", "/v1/admin/responses"): ({PSY}, "open"),
    ("POST", "/v1/admin/calibrations"): ({PSY}, "open"),
    ("GET", "/v1/admin/calibrations"): ({PSY}, "open"),
    ("GET", "/v1/admin/calibrations/{job_id}"): ({PSY}, "open"),
    ("POST", "/v1/admin/keys"): ({PSY, ADMIN}, "open"),
    ("GET", "/v1/admin/keys"): ({PSY, ADMIN}, "keys"),
    ("DELETE", "/v1/admin/keys/{key_id}"): ({PSY, ADMIN}, "key"),
    ("GET", "/v1/admin/audit"): ({PSY, ADMIN}, "organisation"),
    ("POST", "/v1/admin/items/{item_id}/reviews"): ({PSY}, "open"),
    ("GET", "/v1/admin/items/{item_id}/reviews"): ({PSY}, "open"),
    ("POST", "/v1/admin/pretest"): ({PSY}, "open"),
    ("POST", "/v1/attestation/organisation"): ({ADMIN}, "organisation"),
    ("GET", "/v1/attestation/units"): (set(KEY_ROLES), "units"),
    ("GET", "/v1/attestation/test-centres"): ({ADMIN, HR, OP, PROC}, "centres"),
    ("GET", "/v1/attestation/employees"): (READERS, "employees"),
    ("GET", "/v1/attestation/employees/{personal_number}"): (READERS, "employee"),
    ("GET", "/v1/attestation/accounts"): ({ADMIN}, "accounts"),
    ("POST", "/v1/attestation/accounts"): ({ADMIN}, "open"),
    ("POST", "/v1/attestation/accounts/{username}/grants"): ({ADMIN}, "account"),
    ("DELETE", "/v1/attestation/accounts/{username}/grants/{grant_id}"): ({ADMIN}, "account"),
    ("POST", "/v1/attestation/accounts/{username}/password"): ({ADMIN}, "account"),
    ("POST", "/v1/attestation/accounts/{username}/disable"): ({ADMIN}, "account"),
    ("POST", "/v1/attestation/accounts/{username}/unlock"): ({ADMIN}, "account"),
    # the IMS CAT interface: a platform's operator key, on its own sections (404 for others')
    ("POST", "/ims/cat/v1p3/sections"): ({OP}, "open"),
    ("GET", "/ims/cat/v1p3/sections/{section_id}"): ({OP}, "open"),
    ("DELETE", "/ims/cat/v1p3/sections/{section_id}"): ({OP}, "open"),
    ("POST", "/ims/cat/v1p3/sections/{section_id}/sessions"): ({OP}, "open"),
    ("POST", "/ims/cat/v1p3/sections/{section_id}/sessions/{session_id}/results"): ({OP}, "open"),
    ("DELETE", "/ims/cat/v1p3/sections/{section_id}/sessions/{session_id}"): ({OP}, "open"),
}
PARTIES = ("nobody", "bad key", *KEY_ROLES, *(f"{r}@U-A" for r in SCOPED), OWN, OTHER)
#: what a list of each kind holds, as (field, the values of unit A's records)
LISTS = {"units": ("id", UNITS_A), "centres": ("id", {"TC-A"}),
         "employees": ("personal_number", EMPLOYEES_A), "accounts": ("username", {"head-a", "hr-a", "a-one"}),
         "keys": ("scope", UNITS_A)}
#: bodies that pass validation, so that what is checked is the reach
BODIES = {"/grants": {"role": "hr", "unit": "U-A1"}, "/password": {"password": "a new long password"}}
#: the records a path names, in unit A and in unit B
TARGETS = {"in": {"personal_number": "A-1", "username": "head-a", "key_id": "nope"},
           "out": {"personal_number": "B-1", "username": "staff-b", "key_id": "nope"}}


@pytest.fixture(scope="module")
def http():
    """One client for the module's requests (its connections kept alive); it keeps no cookie."""
    with httpx.Client(timeout=60) as client:
        yield client


def _session(http: httpx.Client, base: str, key: str, centre: str) -> dict:
    h = {"Authorization": f"Bearer {key}"}
    c = http.post(f"{base}/v1/candidates", json={"display_name": "A"}, headers=h)
    s = http.post(f"{base}/v1/sessions", headers=h, json={
        "candidate_id": c.json()["id"], "level": "middle", "language": "ru", "test_centre": centre})
    assert s.status_code == 201, s.text
    return s.json()


@pytest.fixture(scope="module")
def world(demo_db_file, tmp_path_factory, http):
    for base, url in world_server(demo_db_file, tmp_path_factory, "matrix"):
        engine = connect(url)
        store = SessionStore(engine)
        keys = {role: store.create_api_key(role) for role in KEY_ROLES}
        keys |= {f"{role}@U-A": store.create_api_key(role, scope="U-A") for role in SCOPED}
        keys["operator@U-B"] = store.create_api_key("operator", scope="U-B")
        in_a, in_b = _session(http, base, keys[OP], "TC-A"), _session(http, base, keys[OP], "TC-B")
        headers = {"nobody": {}, "bad key": {}, OWN: {"X-Session-Token": in_a["token"]},
                   OTHER: {"X-Session-Token": in_b["token"]},
                   **{party: {"Authorization": f"Bearer {key}"} for party, key in keys.items()}}
        yield base, {"in": in_a["id"], "out": in_b["id"]}, headers, store
        engine.dispose()


def test_the_table_lists_every_served_endpoint(world, http):
    base = world[0]
    paths = http.get(f"{base}/openapi.json").json()["paths"]
    served = {(m.upper(), p) for p, ops in paths.items() for m in ops}
    assert served == set(SERVES)


def _call(http: httpx.Client, base: str, method: str, path: str, sessions: dict, where: str,
          sent: dict) -> httpx.Response:
    url = base + path.format(session_id=sessions[where], number=1, job_id="nope",
                             item_id="TRN-L01", grant_id=999_999, section_id="nope", **TARGETS[where])
    body = next((b for tail, b in BODIES.items() if path.endswith(tail)), {})
    http.cookies.clear()  # only the headers of the party speak for it
    return http.request(method, url, headers=sent, json=body if method != "GET" else None)


@pytest.mark.parametrize("party", PARTIES)
def test_each_party_reaches_exactly_its_endpoints(world, http, party):
    base, sessions, headers, store = world
    role, _, scope = party.partition("@")
    for k, ((method, path), (roles, kind)) in enumerate(SERVES.items()):
        sent = headers[party]
        if party == "bad key":  # a key id of its own each time: one id's failures are throttled
            sent = {"Authorization": f"Bearer qk_{k:04x}_nope"}
        targeted = scope and kind in ("session", "employee", "account", "key")
        for where in ("in", "out") if targeted else ("in",):
            r = _call(http, base, method, path, sessions, where, sent)
            said = f"{party} → {method} {path} ({where}): {r.status_code} {r.text[:200]}"
            assert r.status_code < 500, said
            if role not in roles:
                assert r.status_code == (401 if party in ("nobody", "bad key") else 403), said
                assert isinstance(r.json()["detail"], str) and r.json()["detail"], said
            elif not scope:
                assert r.status_code not in (401, 403), said
            elif kind == "organisation":
                assert r.status_code == 403, said
            elif kind in LISTS:
                assert r.status_code == 200, said
                field, allowed = LISTS[kind]
                assert {entry[field] for entry in r.json()} <= allowed, said
            elif where == "in":
                assert r.status_code not in (401, 403), said
                if kind in ("session", "employee") and method == "GET":
                    assert r.status_code == 200, said
            else:
                assert r.status_code in (403, 404), said
    if scope:  # nothing of unit B was read or changed by this key
        key_id = headers[party]["Authorization"].split("_")[1]
        touched = [e for e in store.audit_trail() if e["actor"] == f"key:{key_id}"]
        foreign = {sessions["out"], "employee:B-1", "employee:B-HEAD", "account:staff-b",
                   "account:hr-b", "U-B"}
        assert not [e for e in touched if e["target"] in foreign], touched
        assert not [e for e in store.events(sessions["out"]) if key_id in str(e.payload)]


def test_a_scoped_operator_starts_sessions_only_at_its_units_centres(world, http):
    base, _, headers, _ = world
    op = headers["operator@U-A"]
    c = http.post(f"{base}/v1/candidates", json={"display_name": "A"}, headers=op).json()
    body = {"candidate_id": c["id"], "level": "middle", "language": "ru"}
    for centre, detail in ((None, "test_centre: required"), ("TC-B", "no test centre 'TC-B'"),
                           ("TC-X", "no test centre 'TC-X'")):
        sent = body if centre is None else {**body, "test_centre": centre}
        r = http.post(f"{base}/v1/sessions", json=sent, headers=op)
        assert r.status_code == 422 and detail in r.text, r.text
    r = http.post(f"{base}/v1/sessions", json={**body, "test_centre": "TC-A"}, headers=op)
    assert r.status_code == 201 and r.json()["test_centre"] == "TC-A"
    other = headers["operator@U-B"]  # and the other unit's operator cannot reach it
    assert http.get(f"{base}/v1/sessions/{r.json()['id']}", headers=other).status_code == 404


def test_keys_are_made_within_the_makers_reach(world, http):
    base, _, headers, _ = world
    made = {}
    for maker, role, scope, status in (
            ("administrator@U-A", "proctor", "U-A1", 201),  # inside its unit
            ("administrator@U-A", "proctor", "U-B", 422),  # another unit
            ("administrator@U-A", "hr", None, 422),  # every unit
            ("administrator@U-A", "psychometrician", None, 422),
            ("administrator", "psychometrician", "U-A", 422),  # organisation-wide role
            ("administrator", "operator", "U-NONE", 422),  # no such unit
            (PSY, "administrator", None, 422),  # a psychometrician's are operators' and theirs
            (PSY, "operator", None, 201)):
        body = {"role": role, **({"scope": scope} if scope else {})}
        r = http.post(f"{base}/v1/admin/keys", json=body, headers=headers[maker])
        assert r.status_code == status, (maker, role, scope, r.text)
        made[(maker, role, scope)] = r
    key = made[("administrator@U-A", "proctor", "U-A1")].json()
    listed = http.get(f"{base}/v1/admin/keys", headers=headers["administrator@U-A"]).json()
    assert key["id"] in {k["id"] for k in listed}
    assert http.delete(f"{base}/v1/admin/keys/{key['id']}",
                       headers=headers[PSY]).status_code == 404  # not a psychometrician's kind
