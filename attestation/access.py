"""Staff roles scoped to units: who may see and act on which unit's records.

Eight roles (:data:`STAFF_ROLES`): the **administrator** (accounts, grants, the organisation), the
**HR officer** (employees, campaigns, exemptions, disputed sheets), the **supervisor** (their own
employees' evaluation sheets), the **test-centre operator** (sessions, candidates, schedules), the
**proctor** (the sessions in a centre's rooms), the **interviewer** (interviews, with the date
of their training course), the **commission member** (decisions) and the **psychometrician**
(the bank; organisation-wide, it reads answers without identities).

A :class:`Grant` gives a role at a unit, which covers the unit and every unit inside it (a
territorial unit's departments), or everywhere (``unit`` None). A supervisor's grant names no
unit: it reaches the employees whose ``supervisor`` is the account's own person, and no one
else. People hold grants on their staff accounts (:mod:`qabilet.attestation.accounts`), machines
on their API keys (one grant per key: its role and its scope); the supervisor's and the
interviewer's roles belong to people, never to keys (:data:`PERSONAL_ROLES`).

A :class:`Reach` is what one caller's grants amount to, the unit tree expanded once: the checks
of every route and page read it (:meth:`Reach.covers`, :meth:`Reach.units`), never the grants.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

__all__ = ["EMPLOYEE_READERS", "KEY_ROLES", "ORGANISATION_WIDE", "PERSONAL_ROLES", "STAFF_ROLES",
           "Grant", "Reach", "check_grant", "descendants", "is_self", "reach", "reads_exemption",
           "reads_sheet", "supervises"]

#: every staff role, in the order the pages list them
STAFF_ROLES = ("administrator", "hr", "supervisor", "operator", "proctor", "interviewer",
               "commission", "psychometrician")
#: roles held by people only: a supervisor's reach is their own employees, an interviewer's
#: grant carries the date of their training
PERSONAL_ROLES = frozenset({"supervisor", "interviewer"})
#: roles a machine's API key may carry
KEY_ROLES = tuple(r for r in STAFF_ROLES if r not in PERSONAL_ROLES)
#: roles that are the whole organisation's, never a unit's (the bank is one)
ORGANISATION_WIDE = frozenset({"psychometrician"})
#: the roles that read employees' records in their units (a supervisor reads their own employees)
EMPLOYEE_READERS = ("administrator", "hr", "operator", "commission")


@dataclass(frozen=True, slots=True)
class Grant:
    """A role held at a unit (and the units inside it), or everywhere when ``unit`` is None.

    Attributes
    ----------
    role : str
        One of :data:`STAFF_ROLES`.
    unit : str, optional
        The unit; None for every unit (a supervisor's grant never names one).
    trained_on : datetime.date, optional
        An interviewer's: the day they completed the interviewers' training course.
    id : int, optional
        The stored grant's number (None for a key's, which is the key itself).
    """

    role: str
    unit: str | None = None
    trained_on: date | None = None
    id: int | None = None


def check_grant(grant: Grant, *, for_key: bool = False) -> None:
    """Refuse a grant that cannot be held: a ValueError naming the field and what was expected.

    A role of :data:`STAFF_ROLES` (of :data:`KEY_ROLES` for a key); a supervisor's grant without
    a unit; an organisation-wide role's without a unit; an interviewer's with the date of their
    training, which no other role carries.
    """
    roles = KEY_ROLES if for_key else STAFF_ROLES
    if grant.role not in roles:
        raise ValueError(f"role: expected one of {', '.join(roles)}; got {grant.role!r}"
                         + (" (held by people, on staff accounts)"
                            if for_key and grant.role in PERSONAL_ROLES else ""))
    if grant.unit is not None and (grant.role == "supervisor" or grant.role in ORGANISATION_WIDE):
        raise ValueError(f"unit: a {grant.role}'s grant names no unit ("
                         + ("it reaches the account's own employees)" if grant.role == "supervisor"
                            else "the role is the whole organisation's)"))
    if (grant.role == "interviewer") != (grant.trained_on is not None):
        raise ValueError("trained_on: an interviewer's grant needs the date of their training "
                         "course" if grant.role == "interviewer" else
                         f"trained_on: only an interviewer's grant has one, not a {grant.role}'s")


def descendants(parents: Mapping[str, str | None], unit: str) -> frozenset[str]:
    """``unit`` and every unit inside it, given each unit's parent (a tree: no cycles)."""
    children: dict[str, list[str]] = {}
    for child, parent in parents.items():
        if parent is not None:
            children.setdefault(parent, []).append(child)
    found, todo = {unit}, [unit]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class Reach:
    """What a caller's grants amount to.

    Attributes
    ----------
    actor : str
        The audit log's name for the caller (``account:<id>``, ``key:<id>``).
    grants : tuple of Grant
        As held.
    person : str, optional
        The personal number of the account's own employee record (None for a key, or an account
        that is nobody's in the organisation document).
    units_by_role : mapping
        Each role held → the units it covers, or None for every unit.
    """

    actor: str
    grants: tuple[Grant, ...] = ()
    person: str | None = None
    units_by_role: Mapping[str, frozenset[str] | None] = field(default_factory=dict)

    @property
    def roles(self) -> frozenset[str]:
        """The roles held."""
        return frozenset(self.units_by_role)

    def holds(self, *roles: str) -> bool:
        """Whether any of ``roles`` is held (anywhere)."""
        return any(r in self.units_by_role for r in roles)

    def units(self, *roles: str) -> frozenset[str] | None:
        """The units the roles cover together; None for every unit, empty when none is held."""
        found: set[str] = set()
        for role in roles:
            if role not in self.units_by_role:
                continue
            units = self.units_by_role[role]
            if units is None:
                return None
            found |= units
        return frozenset(found)

    def covers(self, unit: str | None, *roles: str) -> bool:
        """Whether one of ``roles`` reaches ``unit`` (a record of no unit: only an unscoped one)."""
        units = self.units(*roles)
        return units is None or (unit is not None and unit in units)

    def everywhere(self, *roles: str) -> bool:
        """Whether one of ``roles`` is held for every unit."""
        return any(r in self.units_by_role and self.units_by_role[r] is None for r in roles)


def reach(actor: str, grants: Iterable[Grant], parents: Mapping[str, str | None], *,
          person: str | None = None) -> Reach:
    """The :class:`Reach` of ``grants``, each unit expanded to the units inside it.

    A supervisor's grant is recorded as covering no unit: what it reaches is ``person``'s
    employees, which the routes ask for by name (:meth:`OrganisationRepository.employees
    <qabilet.attestation.repository.OrganisationRepository.employees>` ``supervisor=``).
    """
    held = tuple(grants)
    by_role: dict[str, frozenset[str] | None] = {}
    for g in held:
        if g.role == "supervisor":
            by_role.setdefault("supervisor", frozenset())
            continue
        known = by_role.get(g.role, frozenset())
        if g.unit is None or known is None:
            by_role[g.role] = None
        else:
            by_role[g.role] = known | descendants(parents, g.unit)
    return Reach(actor=actor, grants=held, person=person, units_by_role=by_role)


def is_self(who: Reach, personal_number: str) -> bool:
    """Whether the caller is the employee ``personal_number`` (their account's person)."""
    return who.person is not None and who.person == personal_number


def supervises(who: Reach, supervisor: str | None) -> bool:
    """Whether the caller is, as a supervisor, the given employee's ``supervisor``."""
    return who.holds("supervisor") and who.person is not None and who.person == supervisor


def reads_sheet(who: Reach, *, personal_number: str, unit: str, supervisor: str | None) -> bool:
    """Whether the caller may read an employee's evaluation sheet.

    The employee, their supervisor, and the HR officers and commission members of their unit.
    """
    return (is_self(who, personal_number) or supervises(who, supervisor)
            or who.covers(unit, "hr", "commission"))


def reads_exemption(who: Reach, *, personal_number: str, unit: str) -> bool:
    """Whether the caller may read an exemption request and its document.

    The employee and their unit's HR officers and administrators — never another employee.
    """
    return is_self(who, personal_number) or who.covers(unit, "hr", "administrator")
