"""Staff accounts: people who sign in to the staff pages, their grants, their server-side sessions.

A staff account has a name, optionally the employee record of its person (a supervisor's reach is
that person's employees; an employee's own page is theirs), a password stored only as its
**Argon2id** hash (RFC 9106's low-memory profile, through argon2-cffi: :func:`password_hasher`;
a hash made with other parameters is remade at the next sign-in), and
:class:`~qabilet.attestation.access.Grant`\\ s.

Signing in (:meth:`AccountRepository.sign_in`) checks the password, counts failures and locks the
account for ``lockout`` after ``max_failures`` of them in a row (a lockout is a row of the audit
log); it opens a **server-side session**: the browser's cookie holds a random secret, the database
its SHA-256 and the session's CSRF token, so that signing out (or disabling the account) ends it
at once on every server. A session ends after ``idle`` without a request, and ``lifetime`` after
it began whatever happens. The refusal never says whether the name exists (an unknown name costs
a hash verification too); it says when an account is locked.

Every change — an account made, a password set, a grant given or withdrawn, a sign-in, a failure,
a lockout, a sign-out — is a row of the audit log, written in the change's transaction.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY, Parameters
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qabilet.attestation._store import Store
from qabilet.attestation.access import Grant, Reach, check_grant, reach
from qabilet.attestation.tables import (
    EmployeeRow,
    StaffAccountRow,
    StaffGrantRow,
    StaffSessionRow,
    UnitRow,
)
from qabilet.engine.exceptions import (
    ConflictError,
    InvalidParameterError,
    NotFoundError,
    QabiletError,
)
from qabilet.itembank._runtime import as_utc, now
from qabilet.itembank.database import SettingsError

__all__ = ["ARGON2_PROFILES", "Account", "AccountLocked", "AccountRepository", "SignInRefused",
           "StaffSession", "check_password", "password_hasher", "unit_parents"]

#: an account's name: lower-case letters, digits, ``.``, ``_``, ``-``; 2–64 characters
USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")
#: a password's length, in characters (NIST SP 800-63B: length, no composition rules)
PASSWORD_LENGTH = (12, 256)
#: the environment variable naming the Argon2id parameters' profile (:func:`password_hasher`)
ARGON2_ENV = "QABILET_ARGON2_PROFILE"
#: Argon2id's parameters by profile: ``rfc9106``, RFC 9106's second recommended (low-memory)
#: profile — t=3, m=64 MiB, p=4 — the default and the only one for real passwords; ``test``, the
#: least the algorithm allows (t=1, m=8 KiB, p=1), for the test suite's throw-away accounts only
ARGON2_PROFILES: dict[str, Parameters] = {
    "rfc9106": RFC_9106_LOW_MEMORY,
    "test": Parameters(type=Type.ID, version=19, salt_len=16, hash_len=32, time_cost=1,
                       memory_cost=8, parallelism=1),
}


class SignInRefused(QabiletError):
    """A wrong name or password, or an account that is disabled (said the same way)."""


class AccountLocked(SignInRefused):
    """Too many failed sign-ins in a row: refused until ``until`` (UTC)."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"too many failed sign-ins for this account: try again after "
                         f"{until:%H:%M} UTC")
        self.until = until


@dataclass(frozen=True, slots=True)
class Account:
    """A staff account as the pages and the API show it (never its hash)."""

    id: str
    name: str
    employee: str | None
    created_at: datetime
    disabled_at: datetime | None
    locked_until: datetime | None
    grants: tuple[Grant, ...]


@dataclass(frozen=True, slots=True)
class StaffSession:
    """A signed-in account's session: whose, its CSRF token, when it began."""

    account: str
    csrf: str
    created_at: datetime


@cache
def password_hasher() -> PasswordHasher:
    """Argon2id with the parameters of the profile ``QABILET_ARGON2_PROFILE`` names (read once).

    Unset or empty: ``rfc9106`` (:data:`ARGON2_PROFILES`). ``test`` makes a hash thousands of
    times cheaper (64 MiB and three passes against 8 KiB and one), for test suites; never set it
    where real people sign in. A hash's parameters are stored in it, so every hash verifies
    whatever the profile; each is remade with the profile in force at its account's next
    sign-in.

    Raises
    ------
    SettingsError
        A value that names no profile, for example
        ``QABILET_ARGON2_PROFILE: expected one of 'rfc9106', 'test'; got 'fast'``.
    """
    name = os.environ.get(ARGON2_ENV, "").strip() or "rfc9106"
    if name not in ARGON2_PROFILES:
        raise SettingsError(f"{ARGON2_ENV}: expected one of "
                            f"{', '.join(map(repr, ARGON2_PROFILES))}; got {name!r}")
    return PasswordHasher.from_parameters(ARGON2_PROFILES[name])


@cache
def _decoy() -> str:
    """A hash to verify unknown names against: a refusal takes as long either way."""
    return password_hasher().hash(secrets.token_urlsafe(16))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_password(password: str, username: str) -> None:
    """Refuse a password that is too short or long, or holds the account's name (ValueError)."""
    low, high = PASSWORD_LENGTH
    if not low <= len(password) <= high:
        raise ValueError(f"password: expected {low} to {high} characters; got {len(password)}")
    if username.lower() in password.lower():
        raise ValueError("password: it contains the account's name")


def unit_parents(s: Session) -> dict[str, str | None]:
    """Every unit's parent (None for a unit at the top of its agency)."""
    return {unit: parent for unit, parent in s.execute(select(UnitRow.id, UnitRow.parent))}


class AccountRepository(Store):
    """Staff accounts, grants and sessions on one database (migrated: migration 0012).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The bank's database.
    max_failures : int
        Failed sign-ins in a row that lock an account.
    lockout, idle, lifetime : datetime.timedelta
        How long a lockout lasts; how long a session lives without a request; how long it lives
        at most.
    """

    def __init__(self, engine: Engine, *, max_failures: int = 5,
                 lockout: timedelta = timedelta(minutes=15), idle: timedelta = timedelta(minutes=30),
                 lifetime: timedelta = timedelta(hours=12)) -> None:
        super().__init__(engine)
        self.max_failures, self.lockout, self.idle, self.lifetime = max_failures, lockout, idle, lifetime
        password_hasher()  # a bad QABILET_ARGON2_PROFILE stops here, not at the first sign-in

    @classmethod
    def _row(cls, s: Session, username: str) -> StaffAccountRow:
        return cls._found(s, StaffAccountRow, username, f"no staff account {username!r}")

    # -- accounts and grants ------------------------------------------------------------------------
    def create_account(self, username: str, name: str, password: str, *, by: str,
                       employee: str | None = None) -> Account:
        """A new account; ``employee`` is its person's personal number (one account each).

        Raises
        ------
        InvalidParameterError
            A name not of :data:`USERNAME`'s form, an empty display name, a weak password, an
            employee who is not in the organisation.
        ConflictError
            The name is taken, or the employee has an account already.
        """
        if not USERNAME.match(username):
            raise InvalidParameterError(f"username: expected 2 to 64 lower-case letters, digits, "
                                        f"'.', '_' or '-', starting with a letter; got {username!r}")
        if not 0 < len(name.strip()) <= 200:
            raise InvalidParameterError("name: expected 1 to 200 characters")
        try:
            check_password(password, username)
        except ValueError as exc:
            raise InvalidParameterError(str(exc)) from None
        hashed = password_hasher().hash(password)
        try:
            with self._transaction() as s:
                if s.get(StaffAccountRow, username) is not None:
                    raise ConflictError(f"username: {username!r} is taken")
                if employee is not None and s.get(EmployeeRow, employee) is None:
                    raise InvalidParameterError(f"employee: no employee with personal number "
                                                f"{employee!r}")
                s.add(StaffAccountRow(id=username, name=name.strip(), employee=employee,
                                      password_hash=hashed, created_at=now(), failures=0))
                self._audit(s, by, "account.create", f"account:{username}",
                            {"employee": employee})
        except IntegrityError:
            raise ConflictError(f"employee: {employee!r} has an account already") from None
        return self.account(username)

    def set_password(self, username: str, password: str, *, by: str) -> None:
        """Set a new password; the account's sessions end and a lockout is lifted."""
        try:
            check_password(password, username)
        except ValueError as exc:
            raise InvalidParameterError(str(exc)) from None
        hashed = password_hasher().hash(password)
        with self._transaction() as s:
            row = self._row(s, username)
            row.password_hash, row.failures, row.locked_until = hashed, 0, None
            self._end_sessions(s, username)
            self._audit(s, by, "account.password", f"account:{username}")

    def grant(self, username: str, grant: Grant, *, by: str,
              within: Reach | None = None) -> Grant:
        """Give an account a role (checked: :func:`~qabilet.attestation.access.check_grant`).

        ``within``: the granting administrator's reach — a grant they may give covers only units
        their own administrator role covers (an unscoped administrator gives any).
        """
        try:
            check_grant(grant)
        except ValueError as exc:
            raise InvalidParameterError(str(exc)) from None
        if within is not None and not _may_grant(within, grant):
            raise InvalidParameterError(f"unit: {grant.unit or 'every unit'} is outside what "
                                        f"the granting administrator covers")
        with self._transaction() as s:
            row = self._row(s, username)
            if grant.unit is not None and s.get(UnitRow, grant.unit) is None:
                raise InvalidParameterError(f"unit: no unit {grant.unit!r}")
            if grant.role == "supervisor":
                person = None if row.employee is None else s.get(EmployeeRow, row.employee)
                if person is None:
                    raise InvalidParameterError("role: a supervisor's account must be an "
                                                "employee's (its employees are those they "
                                                "supervise)")
                if within is not None and not within.covers(person.unit, "administrator"):
                    raise InvalidParameterError(f"unit: {person.unit} (the supervisor's) is "
                                                f"outside what the granting administrator covers")
            stored = StaffGrantRow(account=username, role=grant.role, unit=grant.unit,
                                   trained_on=grant.trained_on, granted_at=now(), granted_by=by)
            s.add(stored)
            s.flush()
            self._audit(s, by, "account.grant", f"account:{username}",
                        {"grant": stored.id, "role": grant.role, "unit": grant.unit,
                         "trained_on": None if grant.trained_on is None else str(grant.trained_on)})
            return Grant(grant.role, grant.unit, grant.trained_on, stored.id)

    def withdraw(self, username: str, grant_id: int, *, by: str,
                 within: Reach | None = None) -> None:
        """Withdraw one of an account's grants (``within``: as for :meth:`grant`)."""
        with self._transaction() as s:
            row = s.get(StaffGrantRow, grant_id)
            if row is None or row.account != username:
                raise NotFoundError(f"account {username!r} has no grant {grant_id}")
            held = Grant(row.role, row.unit, row.trained_on, row.id)
            if within is not None and not _may_grant(within, held):
                raise NotFoundError(f"account {username!r} has no grant {grant_id} within your reach")
            s.delete(row)
            self._audit(s, by, "account.withdraw", f"account:{username}",
                        {"grant": grant_id, "role": row.role, "unit": row.unit})

    def disable(self, username: str, *, by: str) -> None:
        """Disable an account: it cannot sign in, and its sessions end now."""
        with self._transaction() as s:
            row = self._row(s, username)
            row.disabled_at = row.disabled_at or now()
            self._end_sessions(s, username)
            self._audit(s, by, "account.disable", f"account:{username}")

    def unlock(self, username: str, *, by: str) -> None:
        """Lift a lockout before it ends."""
        with self._transaction() as s:
            row = self._row(s, username)
            row.failures, row.locked_until = 0, None
            self._audit(s, by, "account.unlock", f"account:{username}")

    def account(self, username: str) -> Account:
        """One account, with its grants."""
        with self._transaction() as s:
            return self._account(s, self._row(s, username))

    def accounts(self) -> list[Account]:
        """Every account, by name."""
        with self._transaction() as s:
            return [self._account(s, r)
                    for r in s.scalars(select(StaffAccountRow).order_by(StaffAccountRow.id))]

    @staticmethod
    def _grants(s: Session, username: str) -> tuple[Grant, ...]:
        rows = s.scalars(select(StaffGrantRow).where(StaffGrantRow.account == username)
                         .order_by(StaffGrantRow.id))
        return tuple(Grant(r.role, r.unit, r.trained_on, r.id) for r in rows)

    def _account(self, s: Session, row: StaffAccountRow) -> Account:
        locked = as_utc(row.locked_until) if row.locked_until is not None else None
        return Account(row.id, row.name, row.employee, as_utc(row.created_at),
                       as_utc(row.disabled_at) if row.disabled_at is not None else None,
                       locked if locked is not None and locked > now() else None,
                       self._grants(s, row.id))

    def reach_of(self, username: str) -> Reach:
        """What the account's grants reach (:func:`~qabilet.attestation.access.reach`)."""
        with self._transaction() as s:
            row = self._row(s, username)
            return reach(f"account:{username}", self._grants(s, username), unit_parents(s),
                         person=row.employee)

    def key_reach(self, key_id: str, role: str, scope: str | None) -> Reach:
        """What an API key's one grant reaches (its role at its scope's unit, or everywhere)."""
        with self._transaction() as s:
            parents = unit_parents(s) if scope is not None else {}
        return reach(f"key:{key_id}", [Grant(role, scope)], parents)

    # -- signing in and out ---------------------------------------------------------------------------
    def sign_in(self, username: str, password: str, *, address: str) -> tuple[str, StaffSession]:
        """Check the password and open a session: the cookie's secret and the session.

        Raises
        ------
        AccountLocked
            The account is locked (now, or by this failure).
        SignInRefused
            A wrong name or password, or a disabled account.
        """
        at = now()
        refusal: SignInRefused | None = None
        with self._transaction() as s:
            row = s.get(StaffAccountRow, username) if USERNAME.match(username) else None
            if row is None:
                _verify(_decoy(), password)
                self._audit(s, "anonymous", "account.sign_in_failed", None,
                            {"username": username[:64], "address": address})
                refusal = SignInRefused("wrong name or password")
            elif row.locked_until is not None and as_utc(row.locked_until) > at:
                refusal = AccountLocked(as_utc(row.locked_until))
            elif not _verify(row.password_hash, password) or row.disabled_at is not None:
                refusal = self._failed(s, row, at, address)
            else:
                if password_hasher().check_needs_rehash(row.password_hash):
                    row.password_hash = password_hasher().hash(password)
                row.failures, row.locked_until = 0, None
                secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
                s.add(StaffSessionRow(id=_digest(secret), account=username, csrf=csrf,
                                      created_at=at, seen_at=at))
                self._audit(s, f"account:{username}", "account.sign_in", f"account:{username}",
                            {"address": address})
        if refusal is not None:  # raised after the failure's count is committed
            raise refusal
        return secret, StaffSession(username, csrf, at)

    def _failed(self, s: Session, row: StaffAccountRow, at: datetime,
                address: str) -> SignInRefused:
        """Count a failure, locking the account at the limit; the refusal to raise."""
        row.failures = (row.failures or 0) + 1
        self._audit(s, "anonymous", "account.sign_in_failed", f"account:{row.id}",
                    {"failures": row.failures, "address": address})
        if row.failures < self.max_failures:
            return SignInRefused("wrong name or password")
        row.failures, row.locked_until = 0, at + self.lockout
        self._audit(s, "anonymous", "account.lockout", f"account:{row.id}",
                    {"until": row.locked_until.isoformat(), "address": address})
        return AccountLocked(row.locked_until)

    def session(self, secret: str) -> StaffSession | None:
        """The open session of a cookie's secret; None when unknown, ended, idle or too old.

        The time of its last request is written at most once a minute.
        """
        at = now()
        with self._transaction() as s:
            row = s.get(StaffSessionRow, _digest(secret))
            if row is None or row.ended_at is not None:
                return None
            account = s.get(StaffAccountRow, row.account)
            if (account is None or account.disabled_at is not None
                    or at - as_utc(row.seen_at) > self.idle
                    or at - as_utc(row.created_at) > self.lifetime):
                row.ended_at = row.ended_at or at
                return None
            if at - as_utc(row.seen_at) > timedelta(minutes=1):
                row.seen_at = at
            return StaffSession(row.account, row.csrf, as_utc(row.created_at))

    def sign_out(self, secret: str) -> None:
        """End the session of a cookie's secret (nothing happens for one already ended)."""
        with self._transaction() as s:
            row = s.get(StaffSessionRow, _digest(secret))
            if row is None or row.ended_at is not None:
                return
            row.ended_at = now()
            self._audit(s, f"account:{row.account}", "account.sign_out", f"account:{row.account}")

    @staticmethod
    def _end_sessions(s: Session, username: str) -> None:
        s.execute(update(StaffSessionRow).where(StaffSessionRow.account == username,
                                                StaffSessionRow.ended_at.is_(None))
                  .values(ended_at=now()))


def _verify(hashed: str, password: str) -> bool:
    try:
        return bool(password_hasher().verify(hashed, password))
    except (VerificationError, InvalidHashError):
        return False


def _may_grant(within: Reach, grant: Grant) -> bool:
    """Whether an administrator of ``within`` may give ``grant``: its unit within theirs."""
    if within.everywhere("administrator"):
        return True
    if grant.role == "supervisor":
        return True  # checked against the account's person's unit by the caller
    if grant.unit is None:
        return False  # every unit's role: an unscoped administrator's to give
    return within.covers(grant.unit, "administrator")

