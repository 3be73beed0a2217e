"""Failed credentials are throttled: per session, per key id, and per client address as the last
resort (a room behind one address is not locked out by one person's typos); 429 with
``Retry-After`` during a lockout, before any credential is verified; each lockout audited once."""

from __future__ import annotations

import ipaddress
import shutil

import httpx
import pytest

from qabilet.api.auth import client_address
from qabilet.api.settings import Settings
from qabilet.api.throttle import Throttle
from tests.api._server import Server, staff, staff_keys, start_session


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the counter ------------------------------------------------------------------------------------
def test_a_scope_is_locked_at_its_limit_until_its_oldest_failure_ages_out():
    clock = Clock()
    t = Throttle({"session": (3, 60.0), "addr": (10, 60.0)}, clock=clock)
    s = ("session", "s1")
    assert t.failed([s]) == []
    clock.now += 10
    assert t.failed([s]) == []
    assert t.retry_after([s]) is None
    clock.now += 10
    started = t.failed([s, ("addr", "10.0.0.1")])
    assert [(lock.scope, lock.failures, lock.window_s) for lock in started] == [(s, 3, 60.0)]
    assert started[0].retry_after_s == pytest.approx(40.0)  # the first failure, 20 s ago, ages out
    assert t.retry_after([s]) == pytest.approx(40.0)
    assert t.retry_after([("addr", "10.0.0.1")]) is None  # 1 of 10
    assert t.retry_after([("session", "s2")]) is None
    clock.now += 40
    assert t.retry_after([s]) is None
    # sliding: one more failure locks it until the second one ages out (10 s later), not audited
    # again within the window
    assert t.failed([s]) == []
    assert t.retry_after([s]) == pytest.approx(10.0)


def test_a_lockout_is_reported_once_per_window_however_long_the_guessing():
    clock = Clock()
    t = Throttle({"key": (2, 100.0)}, clock=clock)
    reports = 0
    for _ in range(50):
        reports += len(t.failed([("key", "k")]))
        clock.now += 5.0  # 250 s of failures at the allowed rate
    assert reports == 3  # at 5 s, then after 100 s and 200 s


def test_memory_is_bounded_and_aged_out_scopes_are_forgotten():
    clock = Clock()
    t = Throttle({"session": (2, 60.0)}, max_scopes=100, clock=clock)
    for k in range(1000):
        t.failed([("session", f"s{k}")])
    assert len(t._scopes) == 100
    clock.now += 61
    t.failed([("session", "new")])
    assert list(t._scopes) == [("session", "new")]
    with pytest.raises(ValueError, match="'addr'"):
        Throttle({"addr": (0, 60.0)})


# -- the client's address ---------------------------------------------------------------------------
def _scope(peer: str, *forwarded: str) -> dict:
    return {"client": (peer, 5000), "headers": [(b"x-forwarded-for", f.encode()) for f in forwarded]}


def test_forwarded_for_is_believed_only_from_a_trusted_proxy():
    proxies = (ipaddress.ip_network("10.9.0.0/16"), ipaddress.ip_network("::1/128"))
    # from an untrusted peer the header is ignored: a guesser cannot pick its address
    assert client_address(_scope("203.0.113.5", "198.51.100.1"), proxies) == "203.0.113.5"
    assert client_address(_scope("203.0.113.5", "198.51.100.1"), ()) == "203.0.113.5"
    # from a trusted proxy: the rightmost address that is not a trusted proxy
    assert client_address(_scope("10.9.0.1", "198.51.100.7"), proxies) == "198.51.100.7"
    assert client_address(_scope("10.9.0.1", "6.6.6.6, 198.51.100.7, 10.9.0.2"),
                          proxies) == "198.51.100.7"
    assert client_address(_scope("10.9.0.1", "6.6.6.6", "198.51.100.7"), proxies) == "198.51.100.7"
    assert client_address(_scope("::1", "not an address"), proxies) == "not an address"
    assert client_address(_scope("10.9.0.1"), proxies) == "10.9.0.1"  # no header: the proxy
    assert client_address({"client": None, "headers": []}, proxies) == "unknown"


def test_the_guard_settings_come_from_the_environment_and_bad_ones_are_named(monkeypatch):
    monkeypatch.setenv("QABILET_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7 ,::1")
    monkeypatch.setenv("QABILET_FAILURES_PER_ADDRESS", "500")
    monkeypatch.setenv("QABILET_MAX_IMPORT_BYTES", "1048576")
    s = Settings.from_env()
    assert [str(n) for n in s.trusted_proxies] == ["10.0.0.0/8", "192.168.1.7/32", "::1/128"]
    assert s.failure_limits == {"session": (20, 600.0), "key": (20, 600.0), "addr": (500, 600.0)}
    assert (s.max_body_bytes, s.max_import_bytes) == (16384, 1048576)
    monkeypatch.setenv("QABILET_TRUSTED_PROXIES", "10.0.0.0/33")
    with pytest.raises(ValueError, match="QABILET_TRUSTED_PROXIES"):
        Settings.from_env()
    monkeypatch.setenv("QABILET_TRUSTED_PROXIES", "")
    for bad in ("0", "-3", "lots", "1.5"):
        monkeypatch.setenv("QABILET_FAILURES_PER_KEY", bad)
        with pytest.raises(ValueError, match="QABILET_FAILURES_PER_KEY"):
            Settings.from_env()


# -- over HTTP ----------------------------------------------------------------------------------------
LIMITS = {"QABILET_FAILURES_PER_SESSION": "5", "QABILET_FAILURES_PER_KEY": "5",
          "QABILET_FAILURES_PER_ADDRESS": "40", "QABILET_FAILURE_WINDOW_S": "600"}


@pytest.fixture(scope="module")
def throttled(demo_db_file, tmp_path_factory):
    """A server with small limits, whose proxy at 127.0.0.1 is trusted (clients named by XFF)."""
    copy = tmp_path_factory.mktemp("throttle") / "demo.db"
    shutil.copy(demo_db_file, copy)
    url = f"sqlite:///{copy}"
    keys = staff_keys(url)
    server = Server(url, env={**LIMITS, "QABILET_TRUSTED_PROXIES": "127.0.0.1"}).start()
    yield server.base, keys
    server.stop()


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def _lockouts(base, keys, target):
    trail = httpx.get(f"{base}/v1/admin/audit", params={"target": target},
                      headers=staff(keys, "psychometrician")).json()
    return [row for row in trail if row["action"] == "auth.lockout"]


def test_bad_tokens_on_one_session_lock_that_session_only(throttled):
    base, keys = throttled
    victim, neighbour = start_session(base, keys), start_session(base, keys)
    url = f"{base}/v1/sessions/{victim['id']}/item"
    for k in range(5):
        bad = httpx.get(url, headers={"X-Session-Token": f"guess-{k}", **_from("10.1.0.1")})
        assert bad.status_code == 403, bad.text
    locked = httpx.get(url, headers={"X-Session-Token": "guess-5", **_from("10.1.0.2")})
    assert locked.status_code == 429 and 0 < int(locked.headers["Retry-After"]) <= 600
    assert "retry after" in locked.json()["detail"]
    # before verification: the right token waits too, from anywhere; the operator does not
    right = httpx.get(url, headers={"X-Session-Token": victim["token"], **_from("10.1.0.3")})
    assert right.status_code == 429
    assert httpx.get(url, headers={**staff(keys), **_from("10.1.0.1")}).status_code == 200
    # the room is not locked out: the same address still serves its other candidates
    other = httpx.get(f"{base}/v1/sessions/{neighbour['id']}/item",
                      headers={"X-Session-Token": neighbour["token"], **_from("10.1.0.1")})
    assert other.status_code == 200
    rows = _lockouts(base, keys, victim["id"])
    assert len(rows) == 1 and rows[0]["actor"] == "throttle"
    assert rows[0]["detail"]["scope"] == "session" and rows[0]["detail"]["failures"] == 5
    assert rows[0]["detail"]["address"] == "10.1.0.1"


def test_bad_secrets_for_one_key_id_lock_that_key_id(throttled):
    base, keys = throttled
    made = httpx.post(f"{base}/v1/admin/keys", json={"role": "operator", "label": "locked"},
                      headers=staff(keys, "psychometrician")).json()
    key_id, own = made["id"], {"Authorization": f"Bearer {made['key']}"}
    for k in range(5):
        bad = httpx.get(f"{base}/v1/admin/keys",
                        headers={"Authorization": f"Bearer qk_{key_id}_guess{k}",
                                 **_from(f"10.2.0.{k}")})  # spread over addresses: still counted
        assert bad.status_code == 401
    locked = httpx.post(f"{base}/v1/candidates", json={"display_name": "B"},
                        headers={**own, **_from("10.2.1.1")})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    psy = httpx.get(f"{base}/v1/admin/keys", headers={**staff(keys, "psychometrician"),
                                                      **_from("10.2.0.1")})
    assert psy.status_code == 200  # another key, from a guessing address
    rows = _lockouts(base, keys, f"key:{key_id}")
    assert len(rows) == 1 and rows[0]["detail"]["failures"] == 5


def test_an_address_guessing_everywhere_is_locked_last_and_alone(throttled):
    base, keys = throttled
    sessions = [start_session(base, keys) for _ in range(2)]
    for k in range(40):  # a new key id or session each time: only the address counts up
        if k % 2:
            r = httpx.get(f"{base}/v1/admin/keys",
                          headers={"Authorization": f"Bearer qk_spray{k}_x", **_from("10.3.0.1")})
        else:
            r = httpx.get(f"{base}/v1/sessions/nosuch{k}/item",
                          headers={"X-Session-Token": "x", **_from("10.3.0.1")})
        assert r.status_code in (401, 403), (k, r.text)
    for s in sessions:
        refused = httpx.get(f"{base}/v1/sessions/{s['id']}/item",
                            headers={"X-Session-Token": s["token"], **_from("10.3.0.1")})
        assert refused.status_code == 429
        elsewhere = httpx.get(f"{base}/v1/sessions/{s['id']}/item",
                              headers={"X-Session-Token": s["token"], **_from("10.3.0.2")})
        assert elsewhere.status_code == 200
    rows = _lockouts(base, keys, "addr:10.3.0.1")
    assert len(rows) == 1 and rows[0]["detail"]["failures"] == 40


def test_a_forged_forwarded_for_from_an_untrusted_peer_does_not_reset_the_count(demo_db):
    keys = staff_keys(demo_db)
    server = Server(demo_db, env={**LIMITS, "QABILET_FAILURES_PER_ADDRESS": "8"}).start()
    try:
        base = server.base
        codes = [httpx.get(f"{base}/v1/admin/keys",
                           headers={"Authorization": f"Bearer qk_k{k}_x", **_from(f"10.4.0.{k}")}
                           ).status_code for k in range(10)]
        assert codes == [401] * 8 + [429] * 2
        assert httpx.get(f"{base}/v1/admin/keys",
                         headers=staff(keys, "psychometrician")).status_code == 429
    finally:
        server.stop()
