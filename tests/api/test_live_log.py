"""The log a process holds is the stored log: two processes' LiveSessions on one database (two
workers), answering one session in turn, each seeing every event the other committed."""

from __future__ import annotations

from datetime import timedelta

from api.live import LiveSessions
from itembank.database import connect
from itembank.repository import BankRepository
from itembank.session_store import SessionStore


def _worker(url: str) -> LiveSessions:
    engine = connect(url)
    return LiveSessions(BankRepository(engine), SessionStore(engine))


def test_two_workers_answering_one_session_in_turn_each_see_the_whole_log(demo_db):
    a, b = _worker(demo_db), _worker(demo_db)
    store = a.store
    candidate = store.add_candidate()
    session, token = a.create(candidate_id=candidate, level="middle", language="en",
                              token_ttl=timedelta(hours=1), time_limit_s=None,
                              item_time_limit_s=None)
    assert a.token_valid(session.id, token) and not b.token_valid(session.id, token + "x")
    assert not a.token_valid("no-such-session", token)
    given = []
    for k in range(8):
        me, other = (a, b) if k % 2 == 0 else (b, a)
        live = me.state(session.id, start_clock=True)
        assert live.view.answered == k  # the other worker's answers are seen
        item = live.view.item_id
        done, after = me.record(session.id, "answer", {"item_id": item, "code": 0},
                                position=live.view.position, actor="candidate")
        assert not done.replayed and after.view.answered == k + 1
        given.append(item)
        # a retry through the other worker is recognised from the stored log
        again, _ = other.record(session.id, "answer", {"item_id": item, "code": 0},
                                position=live.view.position, actor="candidate")
        assert again.replayed and again.event.seq == done.event.seq
    stored = store.events(session.id)
    assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
    for w in (a, b):
        assert [e.model_dump() for e in w.log(session.id)] == [e.model_dump() for e in stored]
    assert [e.payload["item_id"] for e in stored if e.kind == "answer"] == given
    assert len(set(given)) == len(given)  # an item is never given twice


def test_a_held_log_is_read_again_when_the_store_disagrees(demo_db):
    """A held prefix that does not end where the stored tail starts is dropped and re-read."""
    a = _worker(demo_db)
    candidate = a.store.add_candidate()
    session, _ = a.create(candidate_id=candidate, level="middle", language="en",
                          token_ttl=timedelta(hours=1), time_limit_s=None, item_time_limit_s=None)
    a.store.append(session.id, "incident", {"note": "one"})
    a.store.append(session.id, "incident", {"note": "two"})
    held = a.log(session.id)
    a._logs.put(session.id, held[1:])  # a corrupt prefix: one event short
    a.store.append(session.id, "incident", {"note": "three"})
    assert [e.payload["note"] for e in a.log(session.id)] == ["one", "two", "three"]
