"""The server killed (SIGKILL) at random moments while candidates answer concurrently, then
restarted: every session goes on where it was, no acknowledged answer is lost, none is doubled.

Each simulated candidate retries a request that got no response with the same body, as the
candidate page does; an answer is *acknowledged* when its 200 arrived.
"""

from __future__ import annotations

import random
import threading
import time

import httpx

from qabilet.itembank.database import connect
from qabilet.itembank.session_store import SessionStore
from tests.api._server import Crowd, Server, start_session

N_CANDIDATES = 6
ANSWERS_EACH = 24
KILLS = 4


def _retrying(method: str, url: str, stop: threading.Event, **kw) -> httpx.Response:
    while not stop.is_set():
        try:
            return httpx.request(method, url, timeout=5, **kw)
        except httpx.TransportError:  # the server is down: try again, the same request
            time.sleep(0.05)
    raise RuntimeError("stopped")


def _candidate(base: str, session: dict, acked: dict, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    me = {"X-Session-Token": session["token"]}
    url = f"{base}/v1/sessions/{session['id']}"
    while len(acked) < ANSWERS_EACH and not stop.is_set():
        item = _retrying("GET", f"{url}/item", stop, headers=me)
        if item.status_code != 200:
            continue  # e.g. a 500 while the server comes up; ask again
        shown = item.json()
        if shown["finished"]:
            return
        body = {"position": shown["position"], "item_id": shown["item_id"],
                "code": rng.randrange(len(shown["choices"])), "response_time_s": 1.0}
        while not stop.is_set():
            r = _retrying("POST", f"{url}/answers", stop, headers=me, json=body)
            if r.status_code == 200:
                acked[body["position"]] = (body["item_id"], body["code"])
                break
            assert r.status_code < 500 or r.status_code == 503, r.text
            if r.status_code == 409:
                raise AssertionError(f"a retried answer was refused: {r.text}")


def test_sigkill_during_concurrent_sessions_loses_no_acknowledged_answer(demo_db):
    engine = connect(demo_db)
    store = SessionStore(engine)
    keys = {"operator": store.create_api_key("operator")}
    server = Server(demo_db).start()
    try:
        sessions = [start_session(server.base, keys, time_limit_s=None, item_time_limit_s=None)
                    for _ in range(N_CANDIDATES)]
        acked = [{} for _ in sessions]
        stop = threading.Event()
        crowd = Crowd(_candidate, [(server.base, s, a, stop, k) for k, (s, a)
                                   in enumerate(zip(sessions, acked, strict=True))]).start()
        rng = random.Random(7)
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.3, 1.5))
            server.kill()
            time.sleep(rng.uniform(0.0, 0.5))
            server.start()
        try:
            crowd.join(240)
        finally:
            stop.set()
        for s, mine in zip(sessions, acked, strict=True):
            stored = [e for e in store.events(s["id"]) if e.kind == "answer"]
            positions = [e.position for e in stored]
            assert positions == list(range(1, len(stored) + 1))  # no gap, no duplicate
            assert len(mine) == ANSWERS_EACH and len(stored) == ANSWERS_EACH
            for e in stored:
                assert mine[e.position] == (e.payload["item_id"], e.payload["code"])
            state = httpx.get(f"{server.base}/v1/sessions/{s['id']}",
                              headers={"X-Session-Token": s["token"]}).json()
            assert state["answered"] == ANSWERS_EACH  # resumed where it was
    finally:
        server.kill()
        engine.dispose()
