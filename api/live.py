"""Live sessions: the state of a session read from its log, with the server's rules applied.

:meth:`LiveSessions.state` is the one way the routes see a session. It reads the stored log,
derives where the session stands (:func:`api.session_state.derive`) and reads its clocks
(:func:`api.session_clock.read_clock`); then it writes what the rules say has happened by now and
reads again, until nothing more is due:

* the candidate's first view of an item starts the clock (``start``);
* the test's time ran out → ``timeout``, the session is closed;
* the shown item's time ran out → ``item_timeout`` at its position, and the next item is shown;
* every section has stopped → ``finish`` (reason ``completed``).

A closed session gets its profile issued, with its answers recorded for calibration in the same
transaction — also when a crash came between the closing event and the profile: the next read
issues it. Every write goes through :meth:`itembank.session_store.SessionStore.append`, whose
slots make the rules' writes single even when several workers apply them at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from api.session_clock import Clock, read_clock
from api.session_state import Plan, SessionView, derive, plan_for
from engine.exceptions import ConflictError, NotFoundError
from itembank._runtime import installed_version, now
from itembank.session_store import CLOSING

if TYPE_CHECKING:
    from itembank.profiles import Profile
    from itembank.repository import BankRepository
    from itembank.session_store import SessionEvent, SessionStore, StoredSession

__all__ = ["Live", "LiveSessions", "profile_id_of"]


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
    profile_id: str | None

    @property
    def status(self) -> str:
        """``ready`` (clock not started), ``active``, ``paused`` or ``finished``."""
        if self.view.finished:
            return "finished"
        if self.clock.paused:
            return "paused"
        return "active" if self.clock.started else "ready"

    @property
    def closed_reason(self) -> str | None:
        """``completed``, ``finished`` (ended early on request), ``terminated`` or ``timeout``."""
        closing = next((e for e in self.events if e.kind in CLOSING), None)
        if closing is None:
            return None
        if closing.kind == "finish":
            return "completed" if closing.payload.get("reason") == "completed" else "finished"
        return "terminated" if closing.kind == "terminate" else "timeout"


class LiveSessions:
    """The sessions of one database, with the rules applied as they are read."""

    def __init__(self, repo: BankRepository, store: SessionStore) -> None:
        self.repo, self.store = repo, store
        self._pinned: dict[str, StoredSession] = {}  # what a session pinned never changes

    def session(self, session_id: str) -> StoredSession:
        """The session as created (404 when there is none)."""
        found = self._pinned.get(session_id)
        if found is None:
            found = self._pinned[session_id] = self.store.session(session_id)
        return found

    def create(self, *, candidate_id: str, level: str, language: str, token_ttl: timedelta,
               time_limit_s: float | None, item_time_limit_s: float | None
               ) -> tuple[StoredSession, str]:
        """A new session of a registered candidate; returns it with its token.

        It pins the level's newest blueprint, that blueprint's bank version and the version's
        newest norm set.

        Raises
        ------
        NotFoundError
            No blueprint for the level, or no norm set of the level for its version.
        """
        blueprint = self.repo.blueprint(level)
        version = self.repo.version(blueprint.bank_version)
        norms = self.repo.norm_set(bank_version=version.number)
        norms.for_level(level)
        return self.store.create_session(
            candidate_id=candidate_id, level=level, language=language,
            bank_version=version.number, norm_set=norms.number,
            blueprint_number=blueprint.number, token_ttl=token_ttl, time_limit_s=time_limit_s,
            item_time_limit_s=item_time_limit_s)

    def state(self, session_id: str, *, start_clock: bool = False, actor: str = "server") -> Live:
        """The session now, after writing whatever the rules say is due (see the module docstring).

        ``start_clock`` starts the test's time when it has not started (a candidate's view).
        """
        session = self.session(session_id)
        plan = plan_for(self.repo, session.bank_version, session.level, session.blueprint_number)
        for _ in range(plan.max_items + 4):  # each turn writes one event; the log is finite
            events = self.store.events(session_id)
            view = derive(plan, session, events)
            at = now()
            clock = read_clock(session, events, at)
            if view.finished:
                if view.closed_by == "completed":
                    self.store.append(session_id, "finish", {"by": actor, "reason": "completed"})
                    continue
                return Live(session, plan, view, clock, events, self._issued(session, events))
            if not clock.started and start_clock:
                self.store.append(session_id, "start", {"by": actor})
            elif clock.test_expired(at):
                self.store.append(session_id, "timeout", {"deadline": clock.deadline.isoformat()})
            elif clock.item_expired(at):
                self.store.append(session_id, "item_timeout",
                                  {"item_id": view.item_id,
                                   "deadline": clock.item_deadline.isoformat()},
                                  position=view.position)
            else:
                return Live(session, plan, view, clock, events, None)
        raise ConflictError(f"session {session_id!r}: its state did not settle; retry the request")

    def close(self, session_id: str, kind: str, actor: str, **detail: Any) -> Live:
        """Close the session (``finish`` or ``terminate``) and issue its profile."""
        self.store.append(session_id, kind, {"by": actor, **detail})
        return self.state(session_id, actor=actor)

    # -- the profile ----------------------------------------------------------------------------
    def _issued(self, session: StoredSession, events: list[SessionEvent]) -> str:
        """The closed session's profile id, issuing it first when it is not yet."""
        profile_id = profile_id_of(session.id)
        try:
            self.repo.profile(profile_id)
        except NotFoundError:
            try:
                self.repo.issue_profile(*self._score(session, events, profile_id))
            except ConflictError:  # a concurrent reader issued it first
                self.repo.profile(profile_id)
        return profile_id

    def _score(self, session: StoredSession, events: list[SessionEvent],
               profile_id: str) -> tuple[Profile, list]:
        from api.profiles import Answer, build_profile
        from itembank.repository import Response

        given = [e for e in events if e.kind == "answer"]
        answers = [Answer(e.payload["item_id"], int(e.payload["code"]),
                          e.payload.get("response_time_s")) for e in given]
        profile = build_profile(
            version=self.repo.version(session.bank_version),
            norm_set=self.repo.norm_set(session.norm_set),
            items={i.id: i for i in self.repo.items()}, dimensions=self.repo.dimensions(),
            recommendations=self.repo.recommendations(), level=session.level,
            language=session.language, answers=answers, candidate_id=session.candidate_id,
            software_version=installed_version(), session_id=session.id,
            tested_at=session.created_at, profile_id=profile_id)
        responses = [Response(person_id=session.candidate_id, session_id=session.id,
                              item_id=e.payload["item_id"], bank_version=session.bank_version,
                              language=e.payload.get("language") or session.language,
                              level=session.level, category=int(e.payload["code"]),
                              answered_at=e.at, response_time_s=e.payload.get("response_time_s"))
                     for e in given]
        return profile, responses
