"""The session store on SQLite and PostgreSQL: durable log, idempotent and exclusive answers,
concurrent submissions, hashed secrets, expiring tokens, the audit trail."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from qabilet.engine.exceptions import ConflictError, NotFoundError, SessionClosedError
from qabilet.itembank.database import connect
from qabilet.itembank.session_store import SessionStore
from qabilet.itembank.tables import ApiKeyRow, SessionRow
from tests.itembank import _bank


@pytest.fixture
def store(repo):
    _bank.fill(repo)
    return SessionStore(repo.engine)


def _session(store, ttl=timedelta(hours=2)):
    candidate = store.add_candidate(external_id="HR-77", display_name="A. Candidate")
    return store.create_session(candidate_id=candidate, level="middle", language="kk",
                                bank_version=1, norm_set=1, blueprint_number=1, token_ttl=ttl)


def _answer(item, code, position):
    return {"item_id": item, "code": code, "position": position, "shown_at": "t0"}


def test_a_session_pins_what_it_started_on(store):
    session, token = _session(store)
    again = store.session(session.id)
    assert again == session and (again.bank_version, again.norm_set) == (1, 1)
    assert store.token_valid(session.id, token) and not store.token_valid(session.id, token + "x")
    with pytest.raises(ConflictError, match="HR-77"):
        store.add_candidate(external_id="HR-77")
    with pytest.raises(NotFoundError):
        store.create_session(candidate_id="nobody", level="low", language="ru", bank_version=1,
                             norm_set=1, blueprint_number=1, token_ttl=timedelta(hours=1))


def test_tokens_expire(store):
    session, token = _session(store, ttl=timedelta(minutes=5))
    assert store.token_valid(session.id, token)
    assert not store.token_valid(session.id, token, at=datetime.now(UTC) + timedelta(minutes=6))


def test_the_log_keeps_order_and_a_retry_is_the_same_answer(store):
    session, _ = _session(store)
    first = store.append(session.id, "answer", _answer("TRN-L1", 3, 1), position=1)
    store.append(session.id, "pause", {"by": "proctor"})
    retry = store.append(session.id, "answer", _answer("TRN-L1", 3, 1), position=1)
    assert retry.replayed and retry.event == first.event
    second = store.append(session.id, "answer", _answer("TRN-L2", 0, 2), position=2)
    assert [e.seq for e in store.events(session.id)] == [1, 2, 3]
    assert [e.kind for e in store.events(session.id)] == ["answer", "pause", "answer"]
    assert second.event.position == 2 and not second.replayed


def test_a_different_answer_for_an_answered_position_is_refused(store):
    session, _ = _session(store)
    store.append(session.id, "answer", _answer("TRN-L1", 3, 1), position=1)
    with pytest.raises(ConflictError, match="position 1 is already answered .*code 3.* code 4"):
        store.append(session.id, "answer", _answer("TRN-L1", 4, 1), position=1)
    assert len(store.events(session.id)) == 1


def _race_for_position_one(store, session_id, submits):
    """Run the ``submits`` (``k -> Appended``, answering position 1 with code ``code_of(k)``) at
    once; assert exactly one is recorded, the same answer replayed, the other one refused."""
    barrier = threading.Barrier(len(submits))
    outcomes: list[tuple[int, str]] = []

    def run(k, submit):
        barrier.wait()
        try:
            outcomes.append((k, "replayed" if submit().replayed else "recorded"))
        except ConflictError:
            outcomes.append((k, "conflict"))

    threads = [threading.Thread(target=run, args=kc) for kc in enumerate(submits)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events = store.events(session_id)
    assert len(events) == 1
    return events[0].payload["code"], [o for _, o in sorted(outcomes)]


def _one_recorded(winner, codes, outcomes):
    """The winner's code recorded once; the others: the same answer a replay, another a conflict."""
    assert outcomes.count("recorded") == 1
    assert outcomes.count("replayed") == codes.count(winner) - 1
    assert all(o == "conflict" for o, c in zip(outcomes, codes, strict=True) if c != winner)


def test_concurrent_submissions_for_one_position_record_exactly_one(store, db_url):
    session, _ = _session(store)
    stores = [SessionStore(connect(db_url)) for _ in range(6)]
    codes = [k % 2 for k in range(6)]
    submits = [lambda st=st, c=c: st.append(session.id, "answer", _answer("TRN-L1", c, 1),
                                            position=1) for st, c in zip(stores, codes)]
    winner, outcomes = _race_for_position_one(store, session.id, submits)
    _one_recorded(winner, codes, outcomes)


def test_concurrent_events_get_distinct_sequence_numbers(store, db_url):
    session, _ = _session(store)
    stores = [SessionStore(connect(db_url)) for _ in range(4)]

    def log(st, k):
        for j in range(5):
            st.append(session.id, "incident", {"k": k, "j": j})

    threads = [threading.Thread(target=log, args=(st, k)) for k, st in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [e.seq for e in store.events(session.id)] == list(range(1, 21))


def test_keys_and_tokens_are_stored_hashed_and_keys_revocable(store, repo):
    key = store.create_api_key("operator", "front desk")
    key_id, role, scope = store.authenticate(key)
    assert (role, scope) == ("operator", None) and store.authenticate(key[:-1] + "x") is None
    assert store.authenticate("not-a-key") is None
    session, token = _session(store)
    with repo.transaction() as s:
        stored = [r.key_hash for r in s.scalars(select(ApiKeyRow))]
        token_hash = s.get(SessionRow, session.id).token_hash
    assert all(key.split("_", 2)[2] not in h for h in stored) and token not in token_hash
    store.revoke_api_key(key_id)
    assert store.authenticate(key) is None
    with pytest.raises(ValueError, match="role"):
        store.create_api_key("admin")


def test_the_audit_trail_says_who_did_what(store):
    session, _ = _session(store)
    store.audit("key:abc", "session.create", session.id, {"level": "middle"})
    store.audit("key:abc", "session.pause", session.id)
    trail = store.audit_trail(session.id)
    assert [t["action"] for t in trail] == ["session.create", "session.pause"]
    assert trail[0]["actor"] == "key:abc" and trail[0]["detail"] == {"level": "middle"}


def test_appends_committed_together_are_each_durable_and_ordered(store, db_url):
    session, _ = _session(store)
    futures = [store.append_soon(session.id, "answer", _answer(f"TRN-L{k}", k % 4, k), position=k)
               for k in range(1, 13)]
    appended = [f.result(10) for f in futures]
    store.close()
    assert [a.event.seq for a in appended] == list(range(1, 13))
    assert not any(a.replayed for a in appended)
    fresh = SessionStore(connect(db_url))  # what another process reads from the database
    assert [(e.seq, e.position, e.payload["code"]) for e in fresh.events(session.id)] == \
        [(k, k, k % 4) for k in range(1, 13)]


def test_grouped_submissions_for_one_position_record_exactly_one(store, db_url):
    session, _ = _session(store)
    stores = [SessionStore(connect(db_url)) for _ in range(3)]
    codes = [k // 3 for k in range(6)]  # two submissions through each store's writer
    submits = [lambda st=stores[k % 3], c=c: st.append_soon(
        session.id, "answer", _answer("TRN-L1", c, 1), position=1).result(10)
        for k, c in enumerate(codes)]
    winner, outcomes = _race_for_position_one(store, session.id, submits)
    for st in stores:
        st.close()
    _one_recorded(winner, codes, outcomes)


def test_a_grouped_append_to_no_session_fails_alone(store):
    session, _ = _session(store)
    good = store.append_soon(session.id, "pause", {"by": "proctor"})
    bad = store.append_soon("no-such-session", "pause", {"by": "proctor"})
    with pytest.raises(NotFoundError, match="no-such-session"):
        bad.result(10)
    assert good.result(10).event.seq == 1
    store.close()
    assert [e.kind for e in store.events(session.id)] == ["pause"]
    assert store.events("no-such-session") == []
    with pytest.raises(ValueError, match="position"):  # refused at once, never queued
        store.append_soon(session.id, "answer", _answer("TRN-L1", 1, 1))


def test_calls_on_an_event_loop_hold_one_connection_and_drop_a_failed_one(store):
    import asyncio

    session, _ = _session(store)

    async def calls():
        first = store.append(session.id, "pause", {"by": "proctor"})
        held = store._held.pair[1]
        store.events(session.id)
        same = store._held.pair[1] is held
        held.invalidate()  # as a dropped server connection leaves it
        store.append(session.id, "resume", {"by": "proctor"})
        return first, same, store._held.pair[1] is not held

    first, same, replaced = asyncio.run(calls())
    assert first.event.seq == 1 and same and replaced
    assert [e.kind for e in store.events(session.id)] == ["pause", "resume"]


# -- nothing after the end (issue: answers acknowledged after the session closed) ------------------
def test_no_event_is_stored_after_a_closing_event(store):
    session, _ = _session(store)
    given = store.append(session.id, "answer", _answer("TRN-L1", 3, 1), position=1)
    store.append(session.id, "terminate", {"by": "key:op", "reason": "left the room"})
    for kind, payload, position in [("answer", _answer("TRN-L2", 1, 2), 2), ("pause", {}, None),
                                    ("start", {}, None), ("incident", {"note": "x"}, None),
                                    ("item_timeout", {"item_id": "TRN-L2"}, 2)]:
        with pytest.raises(SessionClosedError, match="is closed \\(terminate") as refused:
            store.append(session.id, kind, payload, position=position)
        assert refused.value.reason == "terminate"
    with pytest.raises(SessionClosedError):
        store.append_soon(session.id, "answer", _answer("TRN-L2", 1, 2), position=2).result(10)
    # a retry of an answer stored before the end is still a replay; a second end, the first
    assert store.append(session.id, "answer", _answer("TRN-L1", 3, 1), position=1).event \
        == given.event
    assert store.append(session.id, "finish", {"by": "candidate"}).replayed
    assert [e.kind for e in store.events(session.id)] == ["answer", "terminate"]


@pytest.mark.parametrize("closing", ["terminate", "finish", "timeout"])
def test_answers_racing_the_end_are_stored_before_it_or_refused(store, closing):
    """Answers sent at the moment the session closes, through the group commit and alone: every
    acknowledged one precedes the closing event in the log, every other one is refused."""
    rounds, acknowledged, refused = 25, 0, 0
    for _ in range(rounds):
        session, _ = _session_of_new_candidate(store)
        results = _race_round(store, session.id, closing)
        log = store.events(session.id)
        end = next(e.seq for e in log if e.kind == closing)
        assert log[-1].seq == end, "an event was stored after the closing one"
        stored = {e.position for e in log if e.kind == "answer"}
        for k in (1, 2, 3):
            if isinstance(results[k], SessionClosedError):
                refused += 1
                assert k not in stored
            else:
                acknowledged += 1
                assert k in stored and results[k].event.seq < end
    assert acknowledged + refused == 3 * rounds


def _race_round(store, session_id, closing):
    """Three answers (two through the group commit) and the closing event, sent at once."""
    barrier = threading.Barrier(4)
    results: dict[object, object] = {}

    def answer(k, soon):
        barrier.wait()
        payload = _answer(f"TRN-L{k}", 1, k)
        try:
            if soon:
                results[k] = store.append_soon(session_id, "answer", payload,
                                               position=k).result(30)
            else:
                results[k] = store.append(session_id, "answer", payload, position=k)
        except SessionClosedError as exc:
            results[k] = exc

    def close():
        barrier.wait()
        results["close"] = store.append(session_id, closing, {"by": "test"})

    threads = [threading.Thread(target=answer, args=(k, k % 2 == 0)) for k in (1, 2, 3)]
    threads.append(threading.Thread(target=close))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _session_of_new_candidate(store):
    candidate = store.add_candidate()
    return store.create_session(candidate_id=candidate, level="middle", language="kk",
                                bank_version=1, norm_set=1, blueprint_number=1,
                                token_ttl=timedelta(hours=1))


# -- a token lives as long as its session ----------------------------------------------------------
def test_a_token_lives_as_long_as_its_session_and_a_grace(store):
    session, token = _session(store, ttl=timedelta(minutes=5))
    later = datetime.now(UTC) + timedelta(hours=9)
    assert not store.token_valid(session.id, token, at=later)  # a link never opened expires
    store.append(session.id, "start", {"by": "candidate"})
    assert store.token_valid(session.id, token, at=later)  # a started test keeps its token
    end = store.append(session.id, "finish", {"by": "candidate"}).event.at
    grace = timedelta(minutes=30)
    assert store.token_valid(session.id, token, at=end + grace, grace=grace)
    assert not store.token_valid(session.id, token, at=end + grace + timedelta(seconds=1),
                                 grace=grace)


def test_a_reissued_token_replaces_the_old_one_at_once(store):
    session, old = _session(store, ttl=timedelta(minutes=5))
    stale = datetime.now(UTC) + timedelta(hours=1)
    new = store.reissue_token(session.id, by="key:op", link_ttl=timedelta(hours=2))
    assert new != old and not store.token_valid(session.id, old)
    assert store.token_valid(session.id, new)
    assert store.token_valid(session.id, new, at=stale)  # the new link has its own time to open
    other = SessionStore(store._engine)  # another process: it reads the same log
    assert not other.token_valid(session.id, old) and other.token_valid(session.id, new)
    event = store.events(session.id)[-1]
    assert event.kind == "token" and new not in str(event.payload)  # its digest only
    store.append(session.id, "terminate", {"by": "key:op", "reason": "left"})
    with pytest.raises(SessionClosedError):
        store.reissue_token(session.id, by="key:op", link_ttl=timedelta(hours=2))
