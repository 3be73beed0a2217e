"""What a caller reaches: an API key's scope turned into units, and the checks of scoped routes.

A key carries one role and a scope — a unit, covering the units inside it, or none for every
unit (:mod:`qabilet.attestation.access`). The session routes check a scoped operator's or
proctor's key against the unit of the session's test centre; the attestation routes
(:mod:`qabilet.api.routes_attestation`) filter what they list by the caller's :class:`Reach` and
answer 404 for one record outside it — the same answer as for a record that does not exist, so
that a caller learns nothing of another unit's records.
"""

from __future__ import annotations

from fastapi import HTTPException

from qabilet.api.auth import Caller
from qabilet.api.dependencies import Services
from qabilet.attestation.access import Grant, Reach, check_grant
from qabilet.engine.exceptions import InvalidParameterError, NotFoundError
from qabilet.itembank.session_store import StoredSession

__all__ = ["check_centre", "check_key", "check_session_reach", "manages_key", "reach_of", "unscoped"]

#: the key roles a psychometrician may make (and see, and revoke): their own and the operators'
PSYCHOMETRICIANS_KEYS = ("operator", "psychometrician")


def reach_of(services: Services, who: Caller) -> Reach:
    """The reach of a key's caller (its one grant, the unit tree expanded)."""
    key_id = who.actor.removeprefix("key:")
    return services.accounts.key_reach(key_id, who.role, who.scope)


def check_session_reach(services: Services, who: Caller, session: StoredSession) -> None:
    """Refuse (404) a scoped caller a session that is not held at a centre of their units.

    A session with no test centre (made outside an attestation) is an unscoped caller's only.
    """
    centre = session.test_centre
    unit = None if centre is None else services.organisation.unit_of_centre(centre)
    if not reach_of(services, who).covers(unit, who.role):
        raise NotFoundError(f"session {session.id!r} does not exist")


def check_centre(services: Services, who: Caller, centre: str | None, field: str = "test_centre") -> None:
    """Refuse (422) a test centre that does not exist, or is outside a scoped key's units.

    A scoped key must name one (its sessions are held at its units' centres); ``field`` is the
    request's name for it.
    """
    if centre is None:
        if who.scope is not None:
            raise InvalidParameterError(f"{field}: required from a key scoped to unit "
                                        f"{who.scope!r} (one of its test centres)")
        return
    try:
        unit = services.organisation.unit_of_centre(centre)
    except NotFoundError:
        unit = None
    if unit is None or not reach_of(services, who).covers(unit, who.role):
        raise InvalidParameterError(f"{field}: no test centre {centre!r}"
                                    + (" within this key's scope" if who.scope else ""))


def unscoped(who: Caller, what: str) -> None:
    """Refuse (403) a key scoped to a unit what covers every unit."""
    if who.scope is not None:
        raise HTTPException(403, f"{what} covers every unit: it needs a key with no scope (this "
                                 f"one is scoped to unit {who.scope!r})")


def manages_key(services: Services, who: Caller, role: str, scope: str | None) -> bool:
    """Whether ``who`` may see and revoke a key of ``role`` at ``scope``.

    A psychometrician: operators' and psychometricians' keys; an administrator: keys whose
    scope is within the units they cover (an unscoped administrator: every key).
    """
    if who.role == "psychometrician":
        return role in PSYCHOMETRICIANS_KEYS
    admin = reach_of(services, who)
    if admin.everywhere("administrator"):
        return True
    return scope is not None and role != "psychometrician" and admin.covers(scope, "administrator")


def check_key(services: Services, who: Caller, role: str, scope: str | None) -> None:
    """Refuse (422) a key ``who`` may not make: a role or scope out of their reach, a bad grant."""
    try:
        check_grant(Grant(role, scope), for_key=True)
    except ValueError as exc:
        raise InvalidParameterError(str(exc)) from None
    if scope is not None and scope not in services.organisation.unit_parents():
        raise InvalidParameterError(f"scope: no unit {scope!r}")
    if not manages_key(services, who, role, scope):
        raise InvalidParameterError(
            f"role: a {who.role} makes only " + (", ".join(PSYCHOMETRICIANS_KEYS) + " keys"
                                                 if who.role == "psychometrician" else
                                                 "keys scoped within the units they administer"))
