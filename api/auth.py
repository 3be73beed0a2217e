"""Who is asking: API keys for operators and psychometricians, session tokens for candidates.

An API key (``Authorization: Bearer qk_…``, stored hashed, revocable) carries its role. A
candidate token (``X-Session-Token``, handed out in the session link) reaches only the
candidate endpoints of its own session. Each route names the parties it serves through one of
the dependencies below, each with its :class:`Policy`; anyone else gets 401 (no or bad
credentials) or 403 (the wrong party).

:func:`authenticate` is the one check. The request guard (:mod:`qabilet.api.limits`) runs it from the
headers alone, before the body is read, and leaves its :class:`Caller` in the ASGI scope
(:data:`CALLER`), where the dependencies take it: nothing is checked twice. A request that did
not pass the guard (an app built without it) is checked by the dependency itself, the same way.

Failed credentials are guesses: each is counted (:mod:`qabilet.api.throttle`) against the session
(a candidate token), the key id (an API key) and the client's address. A scope over its limit
is refused with 429 and ``Retry-After`` before any credential is verified, and the start of
each lockout is a row of the audit log (``auth.lockout``).

The dependencies are coroutines: they run on the event loop, not in the thread pool (a hop
there and back costs more than what they do — a candidate's token is checked against the
session held in memory; a key is one read by primary key).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import HTTPException, Request

from qabilet.api.dependencies import Services, services_of
from qabilet.api.throttle import Lockout

if TYPE_CHECKING:
    from qabilet.itembank.session_store import SessionStore

__all__ = ["CALLER", "BadCredentials", "Caller", "Policy", "authenticate", "caller",
           "client_address", "client_scheme", "operator", "policy_of", "psychometrician", "requires",
           "session_operator",
           "session_party", "staff"]

#: the ASGI scope's key for the :class:`Caller` the request guard found
CALLER = "qabilet.caller"
_log = logging.getLogger("qabilet.api.auth")


@dataclass(frozen=True, slots=True)
class Caller:
    """A party: a key's role, scope and actor name for the audit log (``key:<id>``), or a candidate.

    ``scope`` is the unit a key is limited to (with the units inside it), None for every unit
    (:mod:`qabilet.attestation.access`; :mod:`qabilet.api.reach` checks it).
    """

    role: str  # a staff role (qabilet.attestation.access.KEY_ROLES) or candidate
    actor: str
    session_id: str | None = None
    scope: str | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """Which parties a route serves.

    Attributes
    ----------
    roles : tuple of str
        The key roles admitted; empty for a route open to anyone (credentials, when sent, are
        still checked).
    what : str
        The credentials it wants, as the 401 and 403 messages name them.
    candidate : bool
        The candidate holding the token of the route's ``{session_id}`` is admitted too.
    """

    roles: tuple[str, ...]
    what: str = ""
    candidate: bool = False


class BadCredentials(HTTPException):
    """Credentials that were presented and are wrong: a guess, counted by the throttle."""


def client_address(scope: MutableMapping[str, Any], trusted: Sequence[Any] = ()) -> str:
    """The client's address: the socket's peer, or what a trusted proxy forwarded.

    ``X-Forwarded-For`` is read only when the peer is one of the ``trusted`` networks
    (:class:`ipaddress.IPv4Network` / ``IPv6Network``); its entries are walked from the right
    (the one the nearest proxy appended) past the trusted proxies, and the first other address
    is the client's. A client cannot choose its address by sending the header itself: a proxy
    appends, so a forged entry stays to the left of the real one.
    """
    peer = (scope.get("client") or ("unknown", 0))[0]
    if not trusted or not _trusted(peer, trusted):
        return peer
    forwarded = [value for name, value in scope["headers"] if name == b"x-forwarded-for"]
    hops = [hop.strip() for value in forwarded for hop in value.decode("latin-1").split(",")]
    for hop in reversed(hops):
        if not hop:
            continue
        if not _trusted(hop, trusted):
            return hop
        peer = hop
    return peer


def client_scheme(scope: MutableMapping[str, Any], trusted: Sequence[Any] = ()) -> str:
    """The scheme the client used (``http`` or ``https``): the connection's, or a trusted proxy's word.

    Behind a reverse proxy that terminates TLS the connection to the server is plain HTTP; the
    proxy says what the client used in ``X-Forwarded-Proto``. The header is read only when the
    peer is one of the ``trusted`` networks (as ``X-Forwarded-For`` is, :func:`client_address`),
    and its last entry is taken (the one the nearest proxy set); anything but ``http`` or
    ``https`` leaves the connection's scheme.
    """
    scheme = str(scope.get("scheme") or "http")
    peer = (scope.get("client") or ("unknown", 0))[0]
    if not trusted or not _trusted(peer, trusted):
        return scheme
    said = [hop.strip().lower() for name, value in scope["headers"] if name == b"x-forwarded-proto"
            for hop in value.decode("latin-1").split(",") if hop.strip()]
    return said[-1] if said and said[-1] in ("http", "https") else scheme


def _trusted(address: str, trusted: Sequence[Any]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in trusted)


def _key_id(authorization: str) -> str | None:
    """The key id named by ``Bearer qk_<id>_<secret>`` (not verified), or None."""
    scheme, _, key = authorization.partition(" ")
    parts = key.strip().split("_", 2)
    if scheme.lower() != "bearer" or len(parts) != 3 or parts[0] != "qk" or not parts[1]:
        return None
    return parts[1][:64]


def authenticate(services: Services, policy: Policy, *, authorization: str | None, token: str | None,
                 session_id: str | None, address: str) -> Caller | None:
    """The party the credentials name, admitted by ``policy``; or an HTTP error to send.

    Parameters
    ----------
    services : Services
        The app's (:func:`qabilet.api.dependencies.services_of`): its ``store``, ``live``
        sessions and ``throttle`` are used.
    policy : Policy
        The route's.
    authorization, token : str, optional
        The ``Authorization`` and ``X-Session-Token`` headers.
    session_id : str, optional
        The route's ``{session_id}``.
    address : str
        The client's (:func:`client_address`).

    Returns
    -------
    Caller or None
        None only for a route open to anyone, asked without credentials.

    Raises
    ------
    fastapi.HTTPException
        429 (with ``Retry-After``) while the session, the key id or the address is locked out;
        401 for no or a bad key; 403 for a bad token or the wrong party.
    """
    throttle = services.throttle
    key_id = _key_id(authorization) if authorization else None
    scopes = [("addr", address)]
    if key_id is not None:
        scopes.append(("key", key_id))
    elif token and not authorization and policy.candidate and session_id:
        scopes.append(("session", session_id))
    wait = throttle.retry_after(scopes)
    if wait is not None:
        raise HTTPException(429, f"too many failed credentials from here or for this "
                                 f"{scopes[-1][0]}; retry after {math.ceil(wait)} s",
                            headers={"Retry-After": str(math.ceil(wait))})
    try:
        return _verify(services, policy, authorization, token, session_id)
    except BadCredentials:
        for lockout in throttle.failed(scopes):
            _audit(services.store, lockout, address)
        raise


def _verify(services: Services, policy: Policy, authorization: str | None, token: str | None,
            session_id: str | None) -> Caller | None:
    who: Caller | None = None
    if authorization:
        scheme, _, key = authorization.partition(" ")
        found = services.store.authenticate(key.strip()) if scheme.lower() == "bearer" else None
        if found is None:
            raise BadCredentials(401, "Authorization: expected 'Bearer <API key>' with a valid, "
                                      "unrevoked key")
        who = Caller(role=found[1], actor=f"key:{found[0]}", scope=found[2])
    elif token:
        if policy.candidate and session_id is not None:
            if not services.live.token_valid(session_id, token):
                raise BadCredentials(403, "X-Session-Token: not this session's token, or expired")
            return Caller(role="candidate", actor=f"candidate:{session_id}", session_id=session_id)
        who = Caller(role="candidate", actor="candidate")
    if not policy.roles:
        return who
    if who is None:
        raise HTTPException(401, f"{policy.what} is required")
    if who.role not in policy.roles:
        raise HTTPException(403, f"this needs {policy.what}; the caller's role is {who.role}")
    return who


def _audit(store: SessionStore, lockout: Lockout, address: str) -> None:
    """One audit row for a lockout that starts, written off the event loop when there is one."""
    kind, key = lockout.scope
    target = key if kind == "session" else f"{kind}:{key}"
    detail = {"scope": kind, "failures": lockout.failures, "window_s": lockout.window_s,
              "retry_after_s": round(lockout.retry_after_s, 1), "address": address}

    def write() -> None:
        try:
            store.audit("throttle", "auth.lockout", target, detail)
        except Exception:  # the refusal stands; a lost audit row is logged, never raised
            _log.exception("could not audit the lockout of %s %s", kind, key)

    _log.warning("lockout of %s %s after %d failed credentials (last from %s)", kind, key,
                 lockout.failures, address)
    try:
        asyncio.get_running_loop().run_in_executor(None, write)
    except RuntimeError:  # no event loop: this thread may wait
        write()


def _checked(request: Request, policy: Policy, session_id: str | None = None) -> Caller | None:
    """The guard's caller when the request passed it; otherwise :func:`authenticate` now.

    The headers are read here, not declared as the dependencies' parameters: FastAPI would parse
    and validate them on every request, for a caller the guard has found already (and the
    OpenAPI document gives them as the security schemes, not as parameters).
    """
    scope = request.scope
    if CALLER in scope:
        return scope[CALLER]
    services = services_of(request.app)
    headers = request.headers
    return authenticate(services, policy, authorization=headers.get("authorization"),
                        token=headers.get("x-session-token"), session_id=session_id,
                        address=client_address(scope, services.settings.trusted_proxies))


_ANYONE = Policy(roles=())
_OPERATOR = Policy(("operator",), "an operator's API key (Authorization: Bearer <API key>)")
_PROCTOR = Policy(("operator", "proctor"),
                  "an operator's or proctor's API key (Authorization: Bearer <API key>)")
_PSYCHOMETRICIAN = Policy(("psychometrician",),
                          "a psychometrician's API key (Authorization: Bearer <API key>)")
_STAFF = Policy(("operator", "psychometrician"),
                "an operator's or psychometrician's API key (Authorization: Bearer <API key>)")
_PARTY = Policy(("operator",), "an operator's API key or the session's token (X-Session-Token)",
                candidate=True)


async def caller(request: Request) -> Caller | None:
    """The party the credentials name, if any (bad credentials are refused)."""
    return _checked(request, _ANYONE)


async def operator(request: Request) -> Caller:
    """An operator's key."""
    return _checked(request, _OPERATOR)  # type: ignore[return-value]


async def psychometrician(request: Request) -> Caller:
    """A psychometrician's key."""
    return _checked(request, _PSYCHOMETRICIAN)  # type: ignore[return-value]


async def staff(request: Request) -> Caller:
    """An operator's or a psychometrician's key."""
    return _checked(request, _STAFF)  # type: ignore[return-value]


async def session_operator(session_id: str, request: Request) -> Caller:
    """An operator or a proctor, about a session that exists within their reach (404 otherwise)."""
    who: Caller = _checked(request, _PROCTOR)  # type: ignore[assignment]
    services = services_of(request.app)
    session = services.live.session(session_id)
    if who.scope is not None:
        from qabilet.api.reach import check_session_reach
        check_session_reach(services, who, session)
    return who


async def session_party(request: Request) -> Caller:
    """The session's operator, or the candidate holding this session's valid token.

    For the routes of one session (``{session_id}`` in their path, which declare it). One
    dependency, not one on :func:`operator`, and no parameters of its own: the candidates' calls
    are the API's busiest, and FastAPI resolves each level and each parameter on every request.
    """
    session_id: str = request.path_params["session_id"]
    who = _checked(request, _PARTY, session_id)
    assert who is not None  # the policy admits no one without credentials
    if who.role == "operator":
        services = services_of(request.app)
        session = services.live.session(session_id)  # 404 for an operator asking about nothing
        if who.scope is not None:
            from qabilet.api.reach import check_session_reach
            check_session_reach(services, who, session)
    return who


def requires(*roles: str) -> Any:
    """A dependency admitting API keys of ``roles`` (their scope is the route's to check).

    The routes of :mod:`qabilet.api.routes_attestation` read the caller's reach from it
    (:func:`qabilet.api.reach.reach_of`); the request guard finds its policy as for the others.
    """
    named = " or ".join(f"{'an' if r[0] in 'aeiou' else 'a'} {r}'s" for r in roles)
    policy = Policy(tuple(roles), f"{named} API key (Authorization: Bearer <API key>)")

    async def dependency(request: Request) -> Caller:
        return _checked(request, policy)  # type: ignore[return-value]

    dependency.__name__ = f"requires_{'_'.join(roles)}"
    dependency.__qabilet_policy__ = policy  # type: ignore[attr-defined]
    return dependency


#: the policy of each dependency, found in a route's dependency tree by :func:`policy_of`
_POLICIES = {caller: _ANYONE, operator: _OPERATOR, psychometrician: _PSYCHOMETRICIAN,
             staff: _STAFF, session_operator: _PROCTOR, session_party: _PARTY}


def policy_of(dependant: Any) -> Policy | None:
    """The policy of a FastAPI route's dependency tree (``route.dependant``); None if it has none."""
    for sub in dependant.dependencies:
        found = (_POLICIES.get(sub.call) or getattr(sub.call, "__qabilet_policy__", None)
                 or policy_of(sub))
        if found is not None:
            return found
    return None
