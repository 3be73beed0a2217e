"""The log a process holds is the stored log: two processes' LiveSessions on one database (two
workers), answering one session in turn, each seeing every event the other committed; answers
through the group commit; a closed session's profile issued off the event loop, or at once when
asked for, and after a crash between the closing event and the profile."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from qabilet.api.live import LiveSessions
from qabilet.itembank.database import connect
from qabilet.itembank.repository import BankRepository
from qabilet.itembank.session_store import SessionStore


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


def _started(live: LiveSessions):
    candidate = live.store.add_candidate()
    session, _ = live.create(candidate_id=candidate, level="middle", language="en",
                             token_ttl=timedelta(hours=1), time_limit_s=None,
                             item_time_limit_s=None)
    return session


def _answer_all(live: LiveSessions, session_id: str) -> list[str]:
    """Answer every item the session gives, from a coroutine (as the answer route does)."""

    async def answering():
        given = []
        now = live.state(session_id, start_clock=True)
        while not now.view.finished:
            given.append(now.view.item_id)
            done, now = await live.record_soon(session_id, "answer",
                                               {"item_id": now.view.item_id, "code": 1},
                                               position=now.view.position, actor="candidate")
            assert not done.replayed
        return given

    return asyncio.run(answering())


def test_answers_through_the_group_commit_close_the_session_and_its_profile_is_issued(demo_db):
    live = _worker(demo_db)
    session = _started(live)
    given = _answer_all(live, session.id)
    now = live.state(session.id)
    assert now.status == "finished" and now.profile_id is not None
    live.shutdown()  # the issuing thread finishes what it was handed
    fresh = _worker(demo_db)  # another process reads what is stored
    stored = [e.payload["item_id"] for e in fresh.store.events(session.id) if e.kind == "answer"]
    assert stored == given and len(set(given)) == len(given)
    assert fresh.repo.has_profile(now.profile_id)
    assert live.store._group.committed[1] == len(given)  # every answer went through the writer


def test_a_profile_asked_for_is_issued_before_the_read_returns(demo_db):
    first = _worker(demo_db)
    session = _started(first)
    first._issue_soon = lambda *a: None  # a crash right after the closing event: no profile
    _answer_all(first, session.id)
    asked = _worker(demo_db)
    now = asked.state(session.id, issue=True)  # the profile route's read
    assert asked.repo.has_profile(now.profile_id)  # no waiting for a thread
    assert asked.repo.profile(now.profile_id).session_id == session.id


def test_a_closed_session_read_without_asking_hands_its_profile_to_the_thread(demo_db):
    first = _worker(demo_db)
    session = _started(first)
    first._issue_soon = lambda *a: None  # a crash right after the closing event: no profile
    _answer_all(first, session.id)
    profile_id = first.state(session.id).profile_id
    assert not first.repo.has_profile(profile_id)
    second = _worker(demo_db)
    assert second.state(session.id).profile_id == profile_id  # the candidate's read, on the loop
    second.shutdown()
    assert second.repo.has_profile(profile_id)


def test_a_requests_state_starts_from_its_credential_checks_read_once(demo_db):
    """One read of the log's tail for the token and the state; a second state, a write or another
    session reads again."""
    a = _worker(demo_db)
    candidate = a.store.add_candidate()
    session, token = a.create(candidate_id=candidate, level="middle", language="en",
                              token_ttl=timedelta(hours=1), time_limit_s=None,
                              item_time_limit_s=None)
    reads = []
    events = a.store.events
    a.store.events = lambda sid, after=0: reads.append(sid) or events(sid, after=after)
    assert a.token_valid(session.id, token) and len(reads) == 1
    a.state(session.id)
    assert len(reads) == 1  # the check's read served
    a.state(session.id)
    assert len(reads) == 2  # once only
    assert a.token_valid(session.id, token) and len(reads) == 3
    a.store.append(session.id, "incident", {"note": "from elsewhere"})
    a.record(session.id, "incident", {"note": "here"}, actor="key:op")  # this process writes
    live = a.state(session.id)
    assert [e.kind for e in live.events].count("incident") == 2
