"""A session's clocks, read off its event log: the test's time and the current item's.

The server keeps time, not the browser: a candidate who closes the page or loses the connection
keeps using time, and a limit passes whether or not anyone is asking. Time runs from the
session's ``start`` event (the candidate's first view of an item) and stops while the session is
paused (between a ``pause`` and the next ``resume``). With :math:`P` the paused intervals, the
time used between instants :math:`a` and :math:`b` is

.. math:: u(a, b) = (b - a) - \\sum_{[p, r] \\in P} |[a, b] \\cap [p, r]|,

the test's limit is the session's ``time_limit_s`` plus every ``extra_time`` granted, and the
current item's clock starts when the item was first shown: at the start, or when the previous
position was taken (its answer committed, or its own time ran out at its deadline).

An answer's **response time** is measured the same way, by the server alone:
:math:`u(\text{shown}, \text{answered})`, the test time from the moment its item became the one
shown to the moment the answer was received (:func:`response_times`). A figure the client
sends is kept in the log beside it, never used for a decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from qabilet.itembank.session_store import SessionEvent, StoredSession

__all__ = ["Clock", "read_clock", "response_times"]


@dataclass(frozen=True, slots=True)
class Clock:
    """Where a session's time stands at one instant.

    Attributes
    ----------
    started : bool
        The clock runs (a ``start`` event is in the log).
    paused : bool
    limit_s : float, optional
        The test's limit with extra time; None when the session has none.
    used_s : float
        Test time used.
    remaining_s, item_remaining_s : float, optional
        Time left for the test and for the item shown (never below 0); None without a limit.
    deadline, item_deadline : datetime, optional
        When the limit passes (None: no limit, not started, or paused — a paused clock stands).
    """

    started: bool
    paused: bool
    limit_s: float | None
    used_s: float
    remaining_s: float | None
    item_remaining_s: float | None
    deadline: datetime | None
    item_deadline: datetime | None

    def test_expired(self, now: datetime) -> bool:
        """The test's time has run out by ``now``."""
        return self.deadline is not None and self.deadline <= now

    def item_expired(self, now: datetime) -> bool:
        """The shown item's time has run out by ``now`` (and the test's has not run out first)."""
        return (self.item_deadline is not None and self.item_deadline <= now
                and not (self.deadline is not None and self.deadline <= self.item_deadline))


def _paused_intervals(events: Sequence[SessionEvent]) -> list[tuple[datetime, datetime | None]]:
    out: list[tuple[datetime, datetime | None]] = []
    for e in events:
        if e.kind == "pause" and (not out or out[-1][1] is not None):
            out.append((e.at, None))
        elif e.kind == "resume" and out and out[-1][1] is None:
            out[-1] = (out[-1][0], e.at)
    return out


def _used(a: datetime, b: datetime, paused: list[tuple[datetime, datetime | None]]) -> float:
    """:math:`u(a, b)`, seconds (0 when ``b`` is before ``a``)."""
    total = max((b - a).total_seconds(), 0.0)
    for p, r in paused:
        lo, hi = max(a, p), min(b, r or b)
        total -= max((hi - lo).total_seconds(), 0.0)
    return max(total, 0.0)


def _deadline(a: datetime, budget: float, paused: list[tuple[datetime, datetime | None]]
              ) -> datetime | None:
    """The instant :math:`t` with :math:`u(a, t) = ` ``budget``; None when a pause is open first."""
    t, left = a, budget
    for p, r in sorted(paused):
        if r is not None and r <= t:
            continue
        p = max(p, t)
        run = (p - t).total_seconds()
        if run >= left:
            break
        left -= run
        if r is None:
            return None
        t = r
    return t + timedelta(seconds=left)


def _shown_at(events: Sequence[SessionEvent]) -> list[datetime | None]:
    """When the item shown was first shown, before each event and (last) after them all.

    An item is shown from the start, or from the moment the position before it was taken: its
    answer committed, or its own time run out at its deadline. None before the start.
    """
    shown: datetime | None = None
    out = []
    for e in events:
        out.append(shown)
        if e.kind == "start":
            shown = e.at if shown is None else shown
        elif e.kind == "answer" and shown is not None:
            shown = max(shown, e.at)
        elif e.kind == "item_timeout" and shown is not None:
            shown = max(shown, datetime.fromisoformat(e.payload["deadline"]))
    return [*out, shown]


def response_times(events: Sequence[SessionEvent]) -> dict[int, float]:
    """The server-measured seconds of each answer, by its ``seq``.

    .. math:: t = u(\text{shown}, \text{answered})

    the test time (pauses excluded, see the module docstring) from the moment the answer's item
    was first shown to the moment the server received the answer; an answer recorded before any
    ``start`` event (not possible through the API) has none.
    """
    paused = _paused_intervals(events)
    return {e.seq: _used(shown, e.at, paused) for e, shown in zip(events, _shown_at(events))
            if e.kind == "answer" and shown is not None}


def read_clock(session: StoredSession, events: Sequence[SessionEvent], now: datetime) -> Clock:
    """The session's clocks at ``now``, from its pinned limits and its log."""
    started = next((e.at for e in events if e.kind == "start"), None)
    paused = _paused_intervals(events)
    is_paused = bool(paused) and paused[-1][1] is None
    extra = sum(float(e.payload.get("seconds", 0.0)) for e in events if e.kind == "extra_time")
    limit = None if session.time_limit_s is None else session.time_limit_s + extra
    if started is None:
        return Clock(False, is_paused, limit, 0.0, limit, session.item_time_limit_s, None, None)
    used = _used(started, now, paused)
    remaining = deadline = None
    if limit is not None:
        remaining = max(limit - used, 0.0)
        deadline = _deadline(started, limit, paused)
    item_remaining = item_deadline = None
    if session.item_time_limit_s is not None:
        shown = _shown_at(events)[-1] or started
        item_remaining = max(session.item_time_limit_s - _used(shown, now, paused), 0.0)
        item_deadline = _deadline(shown, session.item_time_limit_s, paused)
    return Clock(True, is_paused, limit, used, remaining, item_remaining, deadline, item_deadline)
