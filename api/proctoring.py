"""The proctor's actions on a session, shared by the HTTP routes and the proctor's room page.

Each is an event of the session's log (:meth:`qabilet.api.live.LiveSessions.record`, or its
closing for ``terminate``) and a line of the audit trail, by the acting key or account. An
action the session's state does not allow — anything once it is over, a pause of a paused
session, extra time for a session without a time limit — is a :class:`ConflictError` (409).
"""

from __future__ import annotations

from typing import Any

from qabilet.api.live import Live, LiveSessions
from qabilet.engine.exceptions import ConflictError
from qabilet.itembank.session_store import SessionStore

__all__ = ["ACTIONS", "proctor"]

#: the actions, as the log names them
ACTIONS = ("pause", "resume", "extra_time", "incident", "terminate")


def proctor(sessions: LiveSessions, store: SessionStore, session_id: str, actor: str, kind: str,
            detail: dict[str, Any]) -> Live:
    """Do ``kind`` (one of :data:`ACTIONS`) to the session, as ``actor``; the session after it.

    Raises
    ------
    ConflictError
        The session is over; or paused already (``pause``), not paused (``resume``), without a
        time limit (``extra_time``).
    """
    if kind not in ACTIONS:
        raise ValueError(f"kind: expected one of {', '.join(ACTIONS)}; got {kind!r}")
    live = sessions.state(session_id)
    if live.view.finished:
        raise ConflictError(f"the session is over ({live.closed_reason}); {kind} refused")
    if kind == "terminate":
        live = sessions.close(session_id, "terminate", actor, reason=detail.get("reason"))
        store.audit(actor, "session.terminate", session_id, {"reason": detail.get("reason")})
        return live
    if kind == "pause" and live.clock.paused or kind == "resume" and not live.clock.paused:
        raise ConflictError(f"the session is {'already' if kind == 'pause' else 'not'} paused")
    if kind == "extra_time" and live.session.time_limit_s is None:
        raise ConflictError("the session has no time limit to extend")
    _, after = sessions.record(session_id, kind, {"by": actor, **detail}, actor=actor)
    store.audit(actor, f"session.{kind}", session_id, detail)
    return after
