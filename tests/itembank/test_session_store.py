"""The session store on SQLite and PostgreSQL: durable log, idempotent and exclusive answers,
concurrent submissions, hashed secrets, expiring tokens, the audit trail."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from engine.exceptions import ConflictError, NotFoundError
from itembank.database import connect
from itembank.session_store import SessionStore
from itembank.tables import ApiKeyRow, SessionRow
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


def test_concurrent_submissions_for_one_position_record_exactly_one(store, db_url):
    session, _ = _session(store)
    stores = [SessionStore(connect(db_url)) for _ in range(6)]
    barrier = threading.Barrier(len(stores))
    outcomes: list[str] = []

    def submit(k, st):
        barrier.wait()
        try:
            r = st.append(session.id, "answer", _answer("TRN-L1", k % 2, 1), position=1)
            outcomes.append("replayed" if r.replayed else "recorded")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=submit, args=(k, st)) for k, st in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events = store.events(session.id)
    assert len(events) == 1 and outcomes.count("recorded") == 1
    winner = events[0].payload["code"]
    # the others: the same answer is a replay, the other answer a conflict
    assert outcomes.count("replayed") == sum(k % 2 == winner for k in range(6)) - 1
    assert outcomes.count("conflict") == sum(k % 2 != winner for k in range(6))


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
    key_id, role = store.authenticate(key)
    assert role == "operator" and store.authenticate(key[:-1] + "x") is None
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
