"""Races of an answer against the end of its session, over real HTTP: the trials and their tally.

Each trial starts a session, answers its first item, then sends the answer to the second item at
the same moment as the session's end — the operator's ``terminate``, the candidate's ``finish``,
or a read that finds the test's time run out (its ``timeout``). An answer is *acknowledged* when
it got 200 (not a replay). Afterwards every acknowledged answer must be in the issued profile and
in the responses table, and the session's ``answered`` must count exactly those: an answer
acknowledged and not scored is *lost*.

Used by ``tests/api/test_session_races.py`` (a few dozen trials in the suite) and by
``make check-long`` (``QABILET_RACE_TRIALS=200`` per back-end and kind of end).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx

from qabilet.itembank.database import connect
from qabilet.itembank.repository import BankRepository
from tests.api._server import staff, start_session

__all__ = ["Tally", "race"]

ENDS = ("terminate", "finish", "timeout")
TIME_LIMIT_S = 1.0


@dataclass
class Tally:
    """What the trials of one kind of end gave."""

    end: str
    trials: int = 0
    acknowledged: int = 0
    refused: int = 0
    lost: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    #: each loss: (session id, acknowledged, answered, scored, in the responses table)
    losses: list[tuple[str, int, int, int, int]] = field(default_factory=list)


def _answer_body(item: dict) -> dict:
    return {"position": item["position"], "item_id": item["item_id"], "code": 0}


def _trial(base: str, keys: dict, end: str, offset_s: float, tally: Tally) -> tuple[str, int]:
    """One race; returns the session id and the answers it acknowledged."""
    limits = {"time_limit_s": TIME_LIMIT_S} if end == "timeout" else {}
    session = start_session(base, keys, **limits)
    url, me = f"{base}/v1/sessions/{session['id']}", {"X-Session-Token": session["token"]}
    with httpx.Client(timeout=30) as candidate, httpx.Client(timeout=30) as other:
        first = candidate.get(f"{url}/item", headers=me).json()  # starts the clock
        started = time.monotonic()
        assert candidate.post(f"{url}/answers", headers=me,
                              json=_answer_body(first)).status_code == 200
        second = candidate.get(f"{url}/item", headers=me).json()
        if second.get("finished"):
            return session["id"], 1
        if end == "terminate":
            closing = ("POST", f"{url}/terminate", staff(keys), {"reason": "race"})
        elif end == "finish":
            closing = ("POST", f"{url}/finish", me, None)
        else:  # a read at the deadline writes the time-out
            closing = ("GET", url, staff(keys), None)
            time.sleep(max(0.0, TIME_LIMIT_S + offset_s - (time.monotonic() - started)))
        barrier = threading.Barrier(2)
        got: dict[str, httpx.Response] = {}

        def send_answer() -> None:
            barrier.wait()
            got["answer"] = candidate.post(f"{url}/answers", headers=me, json=_answer_body(second))

        def send_end() -> None:
            barrier.wait()
            method, where, headers, body = closing
            got["end"] = other.request(method, where, headers=headers, json=body)

        threads = [threading.Thread(target=send_answer), threading.Thread(target=send_end)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        status = got["answer"].status_code
        tally.statuses[status] = tally.statuses.get(status, 0) + 1
        acked = status == 200 and not got["answer"].json()["replayed"]
        if end == "timeout":  # the read may have come first: wait for the limit, then close
            time.sleep(max(0.0, TIME_LIMIT_S + 0.05 - (time.monotonic() - started)))
        other.get(url, headers=staff(keys))
    return session["id"], 1 + int(acked)


def race(base: str, database_url: str, keys: dict, end: str, trials: int) -> Tally:
    """Run ``trials`` races of an answer against ``end``; count what was acknowledged and lost."""
    tally = Tally(end)
    expected: dict[str, int] = {}
    for k in range(trials):
        offset = -0.040 + 0.045 * (k % 10) / 9  # around the deadline: −40 … +5 ms
        session_id, acked = _trial(base, keys, end, offset, tally)
        expected[session_id] = acked
        tally.trials += 1
        tally.acknowledged += acked - 1
        tally.refused += 2 - acked
    seen: dict[str, tuple[int, int]] = {}  # the profile issued first: the responses come with it
    with httpx.Client(timeout=30) as operator:
        for session_id in expected:
            url = f"{base}/v1/sessions/{session_id}"
            answered = operator.get(url, headers=staff(keys)).json()["answered"]
            profile = operator.get(f"{url}/profile", headers=staff(keys)).json()
            seen[session_id] = (answered, sum(d["n_items"] for d in
                                              profile["professional"] + profile["personal"]))
    engine = connect(database_url, migrate=False)
    stored: dict[str, int] = {}
    for r in BankRepository(engine).responses():
        if r.session_id in expected:
            stored[r.session_id] = stored.get(r.session_id, 0) + 1
    engine.dispose()
    for session_id, acked in expected.items():
        answered, scored = seen[session_id]
        if not acked == answered == scored == stored.get(session_id, 0):
            tally.lost += 1
            tally.losses.append((session_id, acked, answered, scored, stored.get(session_id, 0)))
    return tally
