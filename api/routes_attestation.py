"""``/v1/attestation``: the organisation and the staff accounts, for machines holding API keys.

Every route names the roles it serves (:func:`qabilet.api.auth.requires`) and reads the key's
reach (:func:`qabilet.api.reach.reach_of`): a list holds only what the key's units cover, one
record outside them is a 404 like one that does not exist. The organisation document is
imported by an administrator of every unit; a scoped administrator manages the accounts of
their units' people and gives grants within their units. Reads of employees' records are
audited (``employee.list``, ``employee.read``), as every change is.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from qabilet.api.auth import Caller, requires
from qabilet.api.dependencies import Services, services_of
from qabilet.api.reach import reach_of, unscoped
from qabilet.api.schemas import ERRORS
from qabilet.api.schemas_attestation import (
    AccountCreate,
    AccountPublic,
    GrantCreate,
    OrganisationImported,
    PasswordSet,
    account_public,
)
from qabilet.attestation.access import EMPLOYEE_READERS, KEY_ROLES, Grant, Reach
from qabilet.attestation.accounts import Account
from qabilet.attestation.organisation import Employee, TestCentre, Unit
from qabilet.attestation.repository import read_organisation
from qabilet.engine.exceptions import InvalidParameterError, NotFoundError

__all__ = ["router"]

router = APIRouter(prefix="/v1/attestation", tags=["attestation"], responses=ERRORS)

Administrator = Annotated[Caller, Depends(requires("administrator"))]
AnyStaff = Annotated[Caller, Depends(requires(*KEY_ROLES))]
Readers = Annotated[Caller, Depends(requires(*EMPLOYEE_READERS))]
CentreStaff = Annotated[Caller, Depends(requires("administrator", "hr", "operator", "proctor"))]
UnitId = Annotated[str | None, Query(min_length=1, max_length=64, description="One unit's only.")]
Username = Annotated[str, Path(min_length=1, max_length=64)]


def _services(request: Request) -> Services:
    return services_of(request.app)


def _reach(request: Request, who: Caller) -> tuple[Services, Reach]:
    """The app's services and what the caller's key reaches (:func:`~qabilet.api.reach.reach_of`)."""
    services = _services(request)
    return services, reach_of(services, who)


@router.post("/organisation", status_code=201, response_model=OrganisationImported,
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"type": "object", "additionalProperties": True}}},
                 "description": "An organisation document (`\"format\": \"qabilet-organisation\"`)."}})
async def import_organisation(request: Request, who: Administrator) -> OrganisationImported:
    """Import the organisation document, all or nothing (an administrator of every unit).

    Every problem is named in the 422 body by list, entry and field; nothing is stored then.
    """
    unscoped(who, "the organisation document")
    body = (await request.body()).decode("utf-8", errors="replace")
    services = _services(request)
    document = await run_in_threadpool(read_organisation, body)
    counts = await run_in_threadpool(services.organisation.import_organisation, document,
                                     by=who.actor)
    return OrganisationImported(**{k: getattr(counts, k) for k in OrganisationImported.model_fields})


@router.get("/units", response_model=list[Unit])
def units(request: Request, who: AnyStaff) -> list[Unit]:
    """The units the key's role covers, by id."""
    services, reach = _reach(request, who)
    return services.organisation.units(within=reach.units(who.role))


@router.get("/test-centres", response_model=list[TestCentre])
def test_centres(request: Request, who: CentreStaff) -> list[TestCentre]:
    """The test centres of the units the key's role covers, by id."""
    services, reach = _reach(request, who)
    return services.organisation.test_centres(within=reach.units(who.role))


@router.get("/employees", response_model=list[Employee])
def employees(request: Request, who: Readers, unit: UnitId = None) -> list[Employee]:
    """The employees of the units the key covers (of one of them), by personal number."""
    services, reach = _reach(request, who)
    covered = reach.units(who.role)
    if unit is not None and covered is not None and unit not in covered:
        return []
    found = services.organisation.employees(unit=unit, units=covered)
    services.store.audit(who.actor, "employee.list", unit, {"count": len(found)})
    return found


@router.get("/employees/{personal_number}", response_model=Employee)
def employee(request: Request, who: Readers,
             personal_number: Annotated[str, Path(min_length=1, max_length=64)]) -> Employee:
    """One employee of the units the key covers (404 for anyone else)."""
    services, reach = _reach(request, who)
    found = services.organisation.employee(personal_number)
    if not reach.covers(found.unit, who.role):
        raise NotFoundError(f"no employee with personal number {personal_number!r}")
    services.store.audit(who.actor, "employee.read", f"employee:{personal_number}")
    return found


# -- staff accounts --------------------------------------------------------------------------------
def _within(services: Services, admin: Reach, account: Account) -> bool:
    """Whether an administrator reaches an account: their own unit's person, or grants in their units."""
    if admin.everywhere("administrator"):
        return True
    if account.employee is not None:
        unit = services.organisation.employee(account.employee).unit
        return admin.covers(unit, "administrator")
    units = [g.unit for g in account.grants]
    return bool(units) and all(admin.covers(u, "administrator") for u in units)


def _reached(request: Request, who: Caller, username: str) -> tuple[Services, Reach]:
    """The services and the administrator's reach, once they reach the account (404 otherwise).

    The first step of every route on one account: an account outside the administrator's units
    is answered as one that does not exist.
    """
    services, admin = _reach(request, who)
    try:
        found: Account | None = services.accounts.account(username)
    except NotFoundError:
        found = None
    if found is None or not _within(services, admin, found):
        raise NotFoundError(f"no staff account {username!r}")
    return services, admin


@router.get("/accounts", response_model=list[AccountPublic])
def accounts(request: Request, who: Administrator) -> list[AccountPublic]:
    """The staff accounts the administrator reaches, by name, with their grants."""
    services, admin = _reach(request, who)
    return [account_public(a) for a in services.accounts.accounts() if _within(services, admin, a)]


@router.post("/accounts", status_code=201, response_model=AccountPublic)
def create_account(request: Request, body: AccountCreate, who: Administrator) -> AccountPublic:
    """A new staff account with its first password (tell it to its person by hand).

    A scoped administrator makes accounts for the people of their units (``employee``).
    """
    services, admin = _reach(request, who)
    if not admin.everywhere("administrator"):
        person = None
        if body.employee is not None:
            try:
                person = services.organisation.employee(body.employee)
            except NotFoundError:
                person = None
        if person is None or not admin.covers(person.unit, "administrator"):
            raise InvalidParameterError("employee: a scoped administrator makes accounts for "
                                        "the employees of their units only")
    made = services.accounts.create_account(body.username, body.name, body.password,
                                            employee=body.employee, by=who.actor)
    return account_public(made)


@router.post("/accounts/{username}/grants", status_code=201, response_model=AccountPublic)
def add_grant(request: Request, username: Username, body: GrantCreate,
              who: Administrator) -> AccountPublic:
    """Give the account a role at a unit (or every unit), within the administrator's units."""
    services, admin = _reached(request, who, username)
    services.accounts.grant(username, Grant(body.role, body.unit, body.trained_on), by=who.actor,
                            within=admin)
    return account_public(services.accounts.account(username))


@router.delete("/accounts/{username}/grants/{grant_id}", status_code=204, response_class=Response,
               responses={204: {"description": "Withdrawn (no body)"}})
def withdraw_grant(request: Request, username: Username,
                   grant_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
                   who: Administrator) -> Response:
    """Withdraw one of the account's grants."""
    services, admin = _reached(request, who, username)
    services.accounts.withdraw(username, grant_id, by=who.actor, within=admin)
    return Response(status_code=204)


@router.post("/accounts/{username}/password", status_code=204, response_class=Response,
             responses={204: {"description": "Set; the account's sessions ended (no body)"}})
def set_password(request: Request, username: Username, body: PasswordSet,
                 who: Administrator) -> Response:
    """Set a new password (its sessions end, a lockout is lifted)."""
    services, _ = _reached(request, who, username)
    services.accounts.set_password(username, body.password, by=who.actor)
    return Response(status_code=204)


@router.post("/accounts/{username}/disable", response_model=AccountPublic)
def disable(request: Request, username: Username, who: Administrator) -> AccountPublic:
    """Disable the account: no sign-in, its sessions end now (it stays, for the audit trail)."""
    services, _ = _reached(request, who, username)
    services.accounts.disable(username, by=who.actor)
    return account_public(services.accounts.account(username))


@router.post("/accounts/{username}/unlock", response_model=AccountPublic)
def unlock(request: Request, username: Username, who: Administrator) -> AccountPublic:
    """Lift a lockout before it ends."""
    services, _ = _reached(request, who, username)
    services.accounts.unlock(username, by=who.actor)
    return account_public(services.accounts.account(username))
