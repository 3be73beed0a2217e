"""Who is asking: API keys for operators and psychometricians, session tokens for candidates.

An API key (``Authorization: Bearer qk_…``, stored hashed, revocable) carries its role. A
candidate token (``X-Session-Token``, handed out in the session link, expiring) reaches only the
candidate endpoints of its own session. Each route names the parties it serves through one of
the dependencies below; anyone else gets 401 (no or bad credentials) or 403 (the wrong party).

The dependencies are coroutines: they run on the event loop, not in the thread pool (a hop
there and back costs more than what they do — a candidate's token is checked against the
session held in memory; a key is one read by primary key).
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

__all__ = ["Caller", "caller", "operator", "psychometrician", "session_operator", "session_party",
           "staff"]


@dataclass(frozen=True, slots=True)
class Caller:
    """A party: a key's role and its actor name for the audit log (``key:<id>``), or a candidate."""

    role: str  # operator, psychometrician or candidate
    actor: str
    session_id: str | None = None


Authorization = Annotated[str | None, Header()]
SessionToken = Annotated[str | None, Header()]


async def caller(request: Request, authorization: Authorization = None,
                 x_session_token: SessionToken = None) -> Caller | None:
    """The party the credentials name (a candidate's token is checked against its session later)."""
    return _identify(request, authorization, x_session_token)


def _identify(request: Request, authorization: str | None, x_session_token: str | None
              ) -> Caller | None:
    if authorization:
        scheme, _, key = authorization.partition(" ")
        found = request.app.state.store.authenticate(key.strip()) if scheme.lower() == "bearer" \
            else None
        if found is None:
            raise HTTPException(401, "Authorization: expected 'Bearer <API key>' with a valid, "
                                     "unrevoked key")
        return Caller(role=found[1], actor=f"key:{found[0]}")
    if x_session_token:
        return Caller(role="candidate", actor="candidate")
    return None


def _role(who: Caller | None, wanted: tuple[str, ...], what: str) -> Caller:
    if who is None:
        raise HTTPException(401, f"{what} is required (Authorization: Bearer <API key>)")
    if who.role not in wanted:
        raise HTTPException(403, f"this needs {what}; the caller is a {who.role}")
    return who


async def operator(who: Annotated[Caller | None, Depends(caller)]) -> Caller:
    """An operator's key."""
    return _role(who, ("operator",), "an operator's API key")


async def psychometrician(who: Annotated[Caller | None, Depends(caller)]) -> Caller:
    """A psychometrician's key."""
    return _role(who, ("psychometrician",), "a psychometrician's API key")


async def staff(who: Annotated[Caller | None, Depends(caller)]) -> Caller:
    """An operator's or a psychometrician's key."""
    return _role(who, ("operator", "psychometrician"), "an operator's or psychometrician's API key")


async def session_operator(session_id: str, request: Request,
                           who: Annotated[Caller, Depends(operator)]) -> Caller:
    """An operator, about a session that exists (404 otherwise)."""
    request.app.state.live.session(session_id)
    return who


async def session_party(session_id: str, request: Request, authorization: Authorization = None,
                        x_session_token: SessionToken = None) -> Caller:
    """The session's operator, or the candidate holding this session's valid token.

    One dependency, not one on :func:`caller`: the candidates' calls are the API's busiest, and
    each level of dependencies costs them (FastAPI resolves it on every request).
    """
    who = _identify(request, authorization, x_session_token)
    if who is None:
        raise HTTPException(401, "an operator's API key or the session's token (X-Session-Token) "
                                 "is required")
    if who.role == "candidate":
        if not request.app.state.live.token_valid(session_id, x_session_token or ""):
            raise HTTPException(403, "X-Session-Token: not this session's token, or expired")
        return Caller(role="candidate", actor=f"candidate:{session_id}", session_id=session_id)
    if who.role != "operator":
        raise HTTPException(403, f"this needs an operator's key or the session's token; the "
                                 f"caller is a {who.role}")
    request.app.state.live.session(session_id)  # 404 for an operator asking about nothing
    return who
