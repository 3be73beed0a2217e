"""An answer to a session's item, checked against where the session stands, and recorded.

One path for every route that takes answers: qabilet's own (``POST /v1/sessions/{id}/answers``)
and the IMS CAT interface's results (:mod:`qabilet.api.ims_cat`). The session's event log
decides (:mod:`qabilet.api.live`): an answer for a taken position is a retry (the stored one is
returned, ``replayed``) or a conflict (409); an answer for another position than the one shown,
or for another item, is refused (409), and so is one after the session's end or while it is
paused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException

from qabilet.api.live import Live, LiveSessions

__all__ = ["Recorded", "record_answer"]


@dataclass(frozen=True, slots=True)
class Recorded:
    """An answer as stored: a retry's (``replayed``), and whether the session is now over."""

    replayed: bool
    finished: bool


async def record_answer(sessions: LiveSessions, live: Live, *, position: int, item_id: str,
                        code: int | None, payload: dict[str, Any], actor: str,
                        field: str = "") -> Recorded:
    """Record the answer ``payload`` for ``position`` of the session ``live`` stands for.

    ``field`` prefixes the names of the fields in the refusals (the body's path to them).

    Raises
    ------
    fastapi.HTTPException
        409: the session is over or paused, another position or item is shown, or a taken
        position gets a different answer; 422: a code beyond the item's choices.
    """
    session_id, v = live.session.id, live.view
    if position < v.position:  # a taken position: a retry, or a conflict
        done, _ = await sessions.record_soon(session_id, "answer", payload, position=position,
                                             actor=actor)
        return Recorded(replayed=done.replayed, finished=v.finished)
    if v.finished:
        raise HTTPException(409, f"the session is over ({live.closed_reason}); no more answers "
                                 f"are taken")
    if live.clock.paused:
        raise HTTPException(409, "the session is paused by the proctor; answers wait for resume")
    if position > v.position:
        raise HTTPException(409, f"{field}position: the item at position {v.position} is the one "
                                 f"shown; got {position}")
    if item_id != v.item_id:
        raise HTTPException(409, f"{field}item_id: position {v.position} shows {v.item_id!r}; got "
                                 f"{item_id!r}")
    if code is not None:
        n_codes = live.plan.n_choices(item_id)
        if code >= n_codes:
            raise HTTPException(422, f"{field}code: item {item_id!r} has choices 0–{n_codes - 1}; "
                                     f"got {code}")
    done, after = await sessions.record_soon(session_id, "answer", payload, position=position,
                                             actor=actor)
    return Recorded(replayed=done.replayed, finished=after.view.finished)
