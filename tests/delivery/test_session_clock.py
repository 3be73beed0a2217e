"""The session clocks against hand-computed times: pauses stop them, extra time extends the
test, an item's clock starts when the previous position was taken."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qabilet.delivery.session_clock import read_clock, response_times
from qabilet.itembank.session_store import SessionEvent, StoredSession

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _session(limit=600.0, item_limit=60.0) -> StoredSession:
    return StoredSession(id="s", candidate_id="c", level="middle", language="ru", bank_version=1,
                         norm_set=1, blueprint_number=1, seed=1, token_expires_at=_at(10**5),
                         created_at=T0, time_limit_s=limit, item_time_limit_s=item_limit)


def _log(*events: tuple[str, float, dict]) -> list[SessionEvent]:
    out = []
    position = 0
    for seq, (kind, t, payload) in enumerate(events, start=1):
        if kind in ("answer", "item_timeout"):
            position += 1
        out.append(SessionEvent(seq=seq, kind=kind, at=_at(t), payload=payload,
                                position=position if kind in ("answer", "item_timeout") else None))
    return out


def test_nothing_runs_before_the_start():
    clock = read_clock(_session(), [], _at(5000))
    assert not clock.started and clock.remaining_s == 600 and clock.deadline is None


def test_time_used_is_wall_time_without_pauses():
    log = _log(("start", 10, {}), ("answer", 40, {}))
    clock = read_clock(_session(), log, _at(70))
    assert clock.used_s == pytest.approx(60)
    assert clock.remaining_s == pytest.approx(540)
    assert clock.deadline == _at(610)
    assert clock.item_remaining_s == pytest.approx(30)  # item 2 shown at 40
    assert clock.item_deadline == _at(100)


def test_a_pause_stops_both_clocks_and_a_resume_restarts_them():
    log = _log(("start", 0, {}), ("pause", 20, {}), ("resume", 120, {}))
    paused = read_clock(_session(), log[:2], _at(90))
    assert paused.paused and paused.used_s == pytest.approx(20)
    assert paused.deadline is None and paused.item_deadline is None  # a standing clock
    after = read_clock(_session(), log, _at(130))
    assert after.used_s == pytest.approx(30)  # 20 before the pause, 10 after
    assert after.deadline == _at(600 + 100)
    assert after.item_deadline == _at(60 + 100)
    assert after.item_remaining_s == pytest.approx(30)


def test_extra_time_extends_the_test_limit():
    log = _log(("start", 0, {}), ("extra_time", 100, {"seconds": 300}))
    clock = read_clock(_session(), log, _at(200))
    assert clock.limit_s == 900 and clock.remaining_s == pytest.approx(700)
    assert clock.deadline == _at(900)


def test_an_item_timed_out_at_its_deadline_starts_the_next_at_that_deadline():
    log = _log(("start", 0, {}), ("item_timeout", 500, {"deadline": _at(60).isoformat()}))
    clock = read_clock(_session(), log, _at(100))
    assert clock.item_deadline == _at(120)
    assert clock.item_expired(_at(120)) and not clock.item_expired(_at(119))


def test_a_deadline_passed_before_a_pause_is_still_passed():
    log = _log(("start", 0, {}), ("pause", 90, {}))  # the item's 60 s ran out at 60
    clock = read_clock(_session(), log, _at(100))
    assert clock.item_deadline == _at(60) and clock.item_expired(_at(100))


def test_the_test_running_out_first_wins_over_the_item():
    log = _log(("start", 0, {}))
    clock = read_clock(_session(limit=30, item_limit=60), log, _at(100))
    assert clock.test_expired(_at(100)) and not clock.item_expired(_at(100))


def test_no_limits_no_deadlines():
    clock = read_clock(_session(limit=None, item_limit=None), _log(("start", 0, {})), _at(10**4))
    assert clock.remaining_s is None and clock.item_remaining_s is None
    assert not clock.test_expired(_at(10**6)) and not clock.item_expired(_at(10**6))


def test_response_times_are_the_servers_own_measure():
    """Hand-computed: the time from the item being shown to the answer, pauses left out; the
    figure a client sent plays no part."""
    log = _log(("start", 10, {}),
               ("answer", 15, {"item_id": "A", "code": 1, "client_response_time_s": 99.0}),
               ("pause", 16, {}), ("resume", 20, {}),
               ("answer", 22, {"item_id": "B", "code": 0, "client_response_time_s": 0.1}),
               ("item_timeout", 82, {"item_id": "C", "deadline": _at(82).isoformat()}),
               ("extra_time", 83, {"seconds": 60}),
               ("answer", 84.5, {"item_id": "D", "code": 2}))
    assert response_times(log) == pytest.approx({2: 5.0, 5: 3.0, 8: 2.5}, abs=1e-9)
    assert response_times(_log(("answer", 5, {"item_id": "A", "code": 1}))) == {}
