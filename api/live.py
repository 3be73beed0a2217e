"""Live sessions: the state of a session read from its log, with the server's rules applied.

:meth:`LiveSessions.state` is the one way the routes see a session. It reads the stored log,
derives where the session stands (:func:`qabilet.delivery.session_state.derive`) and reads its clocks
(:func:`qabilet.delivery.session_clock.read_clock`); then it writes what the rules say has happened by now and
reads again, until nothing more is due:

* the candidate's first view of an item starts the clock (``start``);
* the test's time ran out → ``timeout``, the session is closed;
* the shown item's time ran out → ``item_timeout`` at its position, and the next item is shown;
* every section has stopped → ``finish`` (reason ``completed``).

A closed session gets its profile issued, with its answers recorded for calibration in the same
transaction — also when a crash came between the closing event and the profile: the next read
issues it. Issuing (scoring, norms, texts: tens of milliseconds) is not done on the event loop,
where it would hold up every other candidate's call: the candidates' calls hand it to the
process's issuing thread and answer at once; a call that returns the profile (the profile and
its report, finish, terminate) issues it itself or waits for the thread.

Every write goes through :meth:`qabilet.itembank.session_store.SessionStore.append` (an answer from a
coroutine through its group commit, ``append_soon``), whose slots make the rules' writes single
even when several workers apply them at once.

A request costs one read of the log's tail (the events after those this process holds) and,
for an answer, one insert: the rest comes from what the process already holds, which is never
stale because what it holds cannot change.

Several servers on one database (separate processes, separate machines, a session's requests
going to any of them) need nothing more: what a process holds is a prefix of a log whose events
are never changed or removed and whose ``seq`` runs without gaps, every request reads the tail
after it, and every write is checked by the database — an answer by its position's unique
slot, the rules' writes by theirs, a closed session by the append itself — so a write decided
on a log that another server has moved on meanwhile is refused or replayed, never stored twice
(:meth:`LiveSessions._apply` then reads the log again).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from qabilet.api.schemas import ClosedReason, SessionStatus
from qabilet.delivery._lru import LRU, TTLValue
from qabilet.delivery.session_clock import Clock, read_clock, response_times
from qabilet.delivery.session_state import Plan, SessionView, derive, plan_for
from qabilet.engine.exceptions import (
    ConflictError,
    InvalidParameterError,
    NotFoundError,
)
from qabilet.itembank._runtime import installed_version, now
from qabilet.itembank.session_store import CLOSING, TOKEN_GRACE, token_accepted

if TYPE_CHECKING:
    from qabilet.itembank.profiles import Profile
    from qabilet.itembank.repository import BankRepository
    from qabilet.itembank.session_store import Appended, SessionEvent, SessionStore, StoredSession
    from qabilet.itembank.versions import NormSet

__all__ = ["Live", "LiveSessions", "profile_id_of"]

_log = logging.getLogger("qabilet.api")
#: the log as the current request's credential check read it (see LiveSessions._log_of_request)
_CHECKED: ContextVar[tuple[str, tuple[SessionEvent, ...]] | None] = ContextVar(
    "qabilet_checked_log", default=None)


def profile_id_of(session_id: str) -> str:
    """The id of the profile a session issues (one per session; re-scoring makes new ids)."""
    return f"p-{session_id}"


@dataclass(frozen=True, slots=True)
class Live:
    """A session as it stands now."""

    session: StoredSession
    plan: Plan
    view: SessionView
    clock: Clock
    events: list[SessionEvent]
    profile_id: str | None  # a closed session's (issued, or being issued: see the module docstring)

    @property
    def status(self) -> SessionStatus:
        """``ready`` (clock not started), ``active``, ``paused`` or ``finished``."""
        if self.view.finished:
            return "finished"
        if self.clock.paused:
            return "paused"
        return "active" if self.clock.started else "ready"

    @property
    def closed_reason(self) -> ClosedReason | None:
        """``completed``, ``finished`` (ended early on request), ``terminated`` or ``timeout``."""
        closing = next((e for e in self.events if e.kind in CLOSING), None)
        if closing is None:
            return None
        if closing.kind == "finish":
            return "completed" if closing.payload.get("reason") == "completed" else "finished"
        return "terminated" if closing.kind == "terminate" else "timeout"


class LiveSessions:
    """The sessions of one database, with the rules applied as they are read.

    Per process it keeps what cannot change: each session as created (with its token's digest),
    the prefix of each log it has read (events are never changed or removed, and ``seq`` runs
    without gaps), the published versions and norm sets a profile is scored on, and which
    profiles are issued. Every request still reads the log's tail from the database, so an event
    another worker, or another server, committed is seen at once.
    """

    def __init__(self, repo: BankRepository, store: SessionStore, *, sessions: int = 50_000,
                 logs: int = 5_000, token_grace: timedelta = TOKEN_GRACE) -> None:
        self.repo, self.store, self.token_grace = repo, store, token_grace
        self._pinned: LRU[str, tuple[StoredSession, str]] = LRU(sessions)
        self._logs: LRU[str, tuple[SessionEvent, ...]] = LRU(logs)
        self._issued_ids: LRU[str, bool] = LRU(sessions)
        self._issuing = threading.Lock()  # one issuer at a time: the thread, or a request
        self._queued: set[str] = set()
        self._issuer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qabilet-issue")
        self._norms: dict[int, NormSet] = {}
        self._bank_texts = TTLValue(self._read_bank_texts, ttl_s=60.0)

    def session(self, session_id: str) -> StoredSession:
        """The session as created (404 when there is none)."""
        return self._pinned_of(session_id)[0]

    def _pinned_of(self, session_id: str) -> tuple[StoredSession, str]:
        found = self._pinned.get(session_id)
        if found is None:
            found = self.store.pinned(session_id)
            self._pinned.put(session_id, found)
        return found

    def token_valid(self, session_id: str, token: str) -> bool:
        """True when ``token`` is the session's current candidate token, still valid.

        Read against the log as it stands (its tail read now), so a token replaced by a reissue
        on any worker or server is refused at once; valid for the session's life and
        ``token_grace`` after it (:func:`qabilet.itembank.session_store.token_accepted`).
        """
        try:
            session, digest = self._pinned_of(session_id)
        except NotFoundError:
            return False
        events = self.log(session_id)
        _CHECKED.set((session_id, events))  # the request's state read starts from it
        return token_accepted(session, digest, token, events, grace=self.token_grace)

    def reissue_token(self, session_id: str, *, by: str, link_ttl: timedelta) -> str:
        """A new token for the session's candidate, the old one refused from now on.

        Raises
        ------
        SessionClosedError
            The session has ended.
        """
        self.session(session_id)  # 404 first
        return self.store.reissue_token(session_id, by=by, link_ttl=link_ttl)

    def create(self, *, candidate_id: str, level: str, language: str, token_ttl: timedelta,
               time_limit_s: float | None, item_time_limit_s: float | None,
               blueprint_number: int | None = None,
               test_centre: str | None = None,
               norm_set: int | None = None) -> tuple[StoredSession, str]:
        """A new session of a registered candidate (at ``test_centre``); returns it with its token.

        It pins the level's blueprint ``blueprint_number`` (default: its newest), that
        blueprint's bank version and the version's norm set ``norm_set`` (default: its newest;
        one of another version is refused).

        Raises
        ------
        NotFoundError
            No such blueprint for the level, or no norm set of the level for its version.
        """
        blueprint = self.repo.blueprint(level, blueprint_number)
        version = self.repo.version(blueprint.bank_version)
        norms = self.repo.norm_set(norm_set, bank_version=version.number)
        if norms.bank_version != version.number:
            raise InvalidParameterError(f"norm_set: norm set {norms.number} is bank version "
                                        f"{norms.bank_version}'s, not {version.number}'s")
        norms.for_level(level)
        return self.store.create_session(
            candidate_id=candidate_id, level=level, language=language,
            bank_version=version.number, norm_set=norms.number,
            blueprint_number=blueprint.number, token_ttl=token_ttl, time_limit_s=time_limit_s,
            item_time_limit_s=item_time_limit_s, test_centre=test_centre)

    # -- the log ----------------------------------------------------------------------------------
    def log(self, session_id: str) -> tuple[SessionEvent, ...]:
        """The session's whole log: the prefix read before and the events committed after it."""
        known = self._held(session_id)
        new = self.store.events(session_id, after=len(known))
        if not new:
            return known
        if new[0].seq != len(known) + 1:  # never expected: read the whole log again
            known, new = (), self.store.events(session_id)
        known = known + tuple(new)
        self._logs.put(session_id, known)
        return known

    def _log_of_request(self, session_id: str) -> tuple[SessionEvent, ...]:
        """The log as this request's credential check read it moments ago, else read now.

        A candidate's token is checked against the log (:meth:`token_valid`); the request's
        state then starts from that read instead of reading the tail a second time. The read is
        the request's own (a context variable of its task), serves once, and serves no one after
        this process wrote to the log.
        """
        checked = _CHECKED.get()
        if checked is not None and checked[0] == session_id:
            _CHECKED.set(None)
            return checked[1]
        return self.log(session_id)

    def _held(self, session_id: str) -> tuple[SessionEvent, ...]:
        """The prefix held for the session: events 1 … n (empty when none is, or it is not that)."""
        known = self._logs.get(session_id) or ()
        return known if not known or known[-1].seq == len(known) else ()

    def _append(self, session_id: str, kind: str, payload: dict[str, Any],
                position: int | None = None) -> tuple[Appended, tuple[SessionEvent, ...]]:
        """Commit an event; the log after it.

        When the committed event is the one after the prefix held here, the prefix and it are
        the log as it stood at the commit, and nothing is read; else the tail is read.
        """
        done = self.store.append(session_id, kind, payload, position=position)
        return done, self._after(session_id, done)

    def _after(self, session_id: str, done: Appended) -> tuple[SessionEvent, ...]:
        """The log after a committed event (see :meth:`_append`)."""
        _CHECKED.set(None)  # a read from before this write serves no one
        known = self._held(session_id)
        if not done.replayed and done.event.seq == len(known) + 1:
            known = known + (done.event,)
            self._logs.put(session_id, known)
            return known
        return self.log(session_id)

    # -- the state ----------------------------------------------------------------------------------
    def state(self, session_id: str, *, start_clock: bool = False, actor: str = "server",
              issue: bool = False) -> Live:
        """The session now, after writing whatever the rules say is due (see the module docstring).

        ``start_clock`` starts the test's time when it has not started (a candidate's view).
        ``issue``: a closed session's profile is issued before this returns (else it is handed
        to the issuing thread when it is not yet).
        """
        session = self.session(session_id)
        return self._settle(session, self._log_of_request(session_id), start_clock, actor, issue)

    def record(self, session_id: str, kind: str, payload: dict[str, Any], *, actor: str,
               position: int | None = None) -> tuple[Appended, Live]:
        """Commit an event (an answer, a proctor's action), then the session's state after it.

        Raises
        ------
        ConflictError
            A different answer for an answered position (see
            :meth:`qabilet.itembank.session_store.SessionStore.append`).
        """
        session = self.session(session_id)
        done, events = self._append(session_id, kind, payload, position)
        return done, self._settle(session, events, False, actor, False)

    async def record_soon(self, session_id: str, kind: str, payload: dict[str, Any], *,
                          actor: str, position: int | None = None) -> tuple[Appended, Live]:
        """:meth:`record` for a coroutine on the event loop.

        The loop serves other calls while the store's writer thread commits the event with
        those queued meanwhile (a group commit,
        :meth:`qabilet.itembank.session_store.SessionStore.append_soon`).
        """
        session = self.session(session_id)
        done = await asyncio.wrap_future(
            self.store.append_soon(session_id, kind, payload, position=position))
        return done, self._settle(session, self._after(session_id, done), False, actor, False)

    def close(self, session_id: str, kind: str, actor: str, **detail: Any) -> Live:
        """Close the session (``finish`` or ``terminate``) and issue its profile."""
        session = self.session(session_id)
        _, events = self._append(session_id, kind, {"by": actor, **detail})
        return self._settle(session, events, False, actor, True)

    def _settle(self, session: StoredSession, events: tuple[SessionEvent, ...], start_clock: bool,
                actor: str, issue: bool) -> Live:
        plan = plan_for(self.repo, session.bank_version, session.level, session.blueprint_number)
        for _ in range(plan.max_items + 4):  # each turn writes one event; the log is finite
            log = list(events)
            view = derive(plan, session, log)
            at = now()
            clock = read_clock(session, events, at)
            if view.finished:
                if view.closed_by == "completed":
                    events = self._apply(session.id, "finish",
                                         {"by": actor, "reason": "completed"})
                    continue
                if issue:
                    self._issue(session, plan, events)
                else:
                    self._issue_soon(session, plan, events)
                return Live(session, plan, view, clock, log, profile_id_of(session.id))
            if not clock.started and start_clock:
                events = self._apply(session.id, "start", {"by": actor})
            elif clock.test_expired(at) and clock.deadline is not None:
                events = self._apply(session.id, "timeout",
                                     {"deadline": clock.deadline.isoformat()})
            elif clock.item_expired(at) and clock.item_deadline is not None:
                events = self._apply(session.id, "item_timeout",
                                     {"item_id": view.item_id,
                                      "deadline": clock.item_deadline.isoformat()},
                                     position=view.position)
            else:
                return Live(session, plan, view, clock, log, None)
        raise ConflictError(f"session {session.id!r}: its state did not settle; retry the request")

    def _apply(self, session_id: str, kind: str, payload: dict[str, Any],
               position: int | None = None) -> tuple[SessionEvent, ...]:
        """Write what a rule says is due; the log after it.

        The rule was read off a log that may be behind the database by now: another request —
        on another worker, or another server — may have written since (the request's state
        starts from its credential check's read, and a write takes a moment). When the write
        finds the session closed meanwhile, or its slot taken (an item's time-out at a position
        answered meanwhile), nothing is written, and the log is read again: the rules then see
        what happened instead.
        """
        try:
            return self._append(session_id, kind, payload, position)[1]
        except ConflictError:  # SessionClosedError too
            return self.log(session_id)

    # -- the profile ----------------------------------------------------------------------------
    def _issue(self, session: StoredSession, plan: Plan, events: tuple[SessionEvent, ...]) -> None:
        """Issue the closed session's profile unless it is issued (by anyone: another worker too)."""
        profile_id = profile_id_of(session.id)
        if self._issued_ids.get(profile_id) is not None:
            return
        with self._issuing:
            if self._issued_ids.get(profile_id) is None:
                if not self.repo.has_profile(profile_id):
                    try:
                        self.repo.issue_profile(*self._score(session, plan, events, profile_id))
                    except ConflictError:  # another worker issued it first
                        self.repo.profile(profile_id)
                self._issued_ids.put(profile_id, True)

    def _issue_soon(self, session: StoredSession, plan: Plan,
                    events: tuple[SessionEvent, ...]) -> None:
        """Hand the profile to the issuing thread, unless it is issued or already handed over."""
        profile_id = profile_id_of(session.id)
        if self._issued_ids.get(profile_id) is not None or profile_id in self._queued:
            return
        self._queued.add(profile_id)
        self._issuer.submit(self._issue_queued, session, plan, events)

    def _issue_queued(self, session: StoredSession, plan: Plan,
                      events: tuple[SessionEvent, ...]) -> None:
        try:
            self._issue(session, plan, events)
        except Exception:  # the next read hands it over again; a request issues it itself
            _log.exception("issuing the profile of session %s failed", session.id)
        finally:
            self._queued.discard(profile_id_of(session.id))

    def shutdown(self) -> None:
        """Let the issuing and writing threads finish what they were handed."""
        self._issuer.shutdown(wait=True, cancel_futures=False)
        self.store.close()

    def _norm_set(self, number: int) -> NormSet:
        """A pinned norm set (published: it never changes)."""
        if number not in self._norms:
            self._norms[number] = self.repo.norm_set(number)
        return self._norms[number]

    def _read_bank_texts(self) -> tuple[dict, list]:
        return self.repo.dimensions(), self.repo.recommendations()

    def _score(self, session: StoredSession, plan: Plan, events: tuple[SessionEvent, ...],
               profile_id: str) -> tuple[Profile, list]:
        from qabilet.delivery.profiles import Answer, build_profile
        from qabilet.itembank.repository import Response

        given = [e for e in events if e.kind == "answer"]
        seeded = set(plan.pretest)  # answers to them are kept for calibration, never scored
        seconds = response_times(events)  # measured by the server, never the client's figure
        answers = [Answer(e.payload["item_id"], _code(e.payload), seconds.get(e.seq),
                          e.payload.get("language") or session.language, e.payload.get("ranking"))
                   for e in given]
        dimensions, recommendations = self._bank_texts.get()
        profile = build_profile(
            version=plan.version or self.repo.version(session.bank_version), scales=plan.scales,
            norm_set=self._norm_set(session.norm_set),
            items=plan.items or {i.id: i for i in self.repo.items(version=session.bank_version)},
            dimensions=dimensions, recommendations=recommendations,
            level=session.level, answers=answers,  # in the language the candidate used last:
            language=next((a.language for a in reversed(answers) if a.language), session.language),
            candidate_id=session.candidate_id, software_version=installed_version(),
            session_id=session.id, tested_at=session.created_at, profile_id=profile_id)
        responses = [Response(person_id=session.candidate_id, session_id=session.id,
                              item_id=e.payload["item_id"], bank_version=session.bank_version,
                              language=e.payload.get("language") or session.language,
                              level=session.level, code=_code(e.payload),
                              answered_at=e.at, response_time_s=seconds.get(e.seq),
                              pretest=e.payload["item_id"] in seeded,
                              ranking=e.payload.get("ranking"))
                     for e in given]
        return profile, responses


def _code(payload: dict[str, Any]) -> int:
    """An answer event's code: the item's, or −1 for a block's (whose answer is its ranking)."""
    return -1 if payload.get("ranking") else int(payload["code"])
