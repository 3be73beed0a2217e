"""The bodies of ``/v1/attestation`` (:mod:`qabilet.api.routes_attestation`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from qabilet.api.schemas import _In
from qabilet.attestation.accounts import PASSWORD_LENGTH, Account

__all__ = ["AccountCreate", "AccountPublic", "GrantCreate", "GrantPublic", "OrganisationImported",
           "PasswordSet", "account_public"]

Role = Literal["administrator", "hr", "supervisor", "operator", "proctor", "interviewer",
               "commission", "psychometrician"]
Password = Field(min_length=PASSWORD_LENGTH[0], max_length=PASSWORD_LENGTH[1],
                 description="At least 12 characters, without the account's name.")


class OrganisationImported(BaseModel):
    """How many records of each kind the import stored (added or replaced)."""

    agencies: int
    units: int
    test_centres: int
    interview_rooms: int
    categories: int
    employees: int


class AccountCreate(_In):
    """A staff account to make."""

    username: str = Field(min_length=2, max_length=64, pattern=r"^[a-z][a-z0-9._-]+$")
    name: str = Field(min_length=1, max_length=200)
    password: str = Password
    employee: str | None = Field(default=None, min_length=1, max_length=64,
                                 description="The personal number of the account's person.")


class PasswordSet(_In):
    """A new password."""

    password: str = Password


class GrantCreate(_In):
    """A role to give, at a unit (with the units inside it) or at every unit."""

    role: Role
    unit: str | None = Field(default=None, min_length=1, max_length=64)
    trained_on: date | None = Field(default=None, strict=False, description="An interviewer's: the day they "
                                                              "completed the training course.")


class GrantPublic(BaseModel):
    """A role held."""

    id: int
    role: str
    unit: str | None
    trained_on: date | None


class AccountPublic(BaseModel):
    """A staff account (never its password's hash)."""

    username: str
    name: str
    employee: str | None
    created_at: datetime
    disabled_at: datetime | None
    locked_until: datetime | None
    grants: list[GrantPublic]


def account_public(account: Account) -> AccountPublic:
    """An account as the API shows it."""
    return AccountPublic(username=account.id, name=account.name, employee=account.employee,
                         created_at=account.created_at, disabled_at=account.disabled_at,
                         locked_until=account.locked_until,
                         grants=[GrantPublic(id=g.id or 0, role=g.role, unit=g.unit,
                                             trained_on=g.trained_on) for g in account.grants])
