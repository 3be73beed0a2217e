"""The IMS CAT interface's session state: an opaque token naming a session and a position.

The interface hands the platform a ``sessionState`` with every answer and takes it back with
the next results; qabilet's event log stays the truth, so the state carries nothing but which
session it belongs to and the test position it was issued at, signed so that it cannot be made
up::

    v1.<base64url(JSON {"s": session id, "p": position})>.<base64url(HMAC-SHA-256)>

The key is the database's (``signing_keys.cat_state``, made by migration 0016), so a state
issued by one server is read by any other on the same database. A state whose signature does
not verify is *forged* (refused); one issued at another position than the one the session now
stands at is *stale* — the platform's results then either repeat what the log holds (a retry,
answered with the current state) or are refused (:mod:`qabilet.api.ims_cat`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

from fastapi import HTTPException

__all__ = ["State", "issue", "read"]

_PREFIX = "v1"


@dataclass(frozen=True, slots=True)
class State:
    """What a state names: its session and the test position it was issued at."""

    session_id: str
    position: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, signed: str) -> str:
    return _b64(hmac.new(key, signed.encode("ascii"), hashlib.sha256).digest())


def issue(key: bytes, session_id: str, position: int) -> str:
    """The state of ``session_id`` at ``position``, signed with ``key``."""
    body = _b64(json.dumps({"s": session_id, "p": position}, separators=(",", ":")).encode())
    signed = f"{_PREFIX}.{body}"
    return f"{signed}.{_mac(key, signed)}"


def read(key: bytes, state: str, field: str = "sessionState") -> State:
    """The session and position ``state`` names, its signature checked.

    Raises
    ------
    fastapi.HTTPException
        422, naming ``field``: not a state this database's servers issued (malformed, or its
        signature does not verify).
    """
    forged = HTTPException(422, f"{field}: not a session state issued by this service")
    prefix, _, rest = state.partition(".")
    body, _, mac = rest.partition(".")
    if prefix != _PREFIX or not body or not mac:
        raise forged
    if not hmac.compare_digest(mac.encode("ascii", "replace"),
                               _mac(key, f"{prefix}.{body}").encode("ascii")):
        raise forged
    try:
        named = json.loads(_unb64(body))
        return State(session_id=str(named["s"]), position=int(named["p"]))
    except (ValueError, KeyError, TypeError):  # signed by us, so never; but refuse, never fail
        raise forged from None
