"""Staff accounts on SQLite and PostgreSQL: Argon2id hashes, lockout, server-side sessions that
end on sign-out, idleness, age, a new password or a disabled account; grants checked and
expanded to the units inside a unit; every change in the audit log."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from qabilet.attestation.access import Grant, check_grant, descendants, reach
from qabilet.attestation.accounts import (
    AccountLocked,
    AccountRepository,
    SignInRefused,
    password_hasher,
)
from qabilet.attestation.tables import StaffAccountRow, StaffSessionRow
from qabilet.engine.exceptions import ConflictError, InvalidParameterError
from qabilet.itembank.database import SettingsError, connect
from qabilet.itembank.session_store import ROLES, SessionStore
from tests.attestation._world import PASSWORD, build
from tests.conftest import together


@pytest.fixture
def accounts(db_url):
    build(db_url)
    engine = connect(db_url)
    yield AccountRepository(engine, max_failures=3, lockout=timedelta(minutes=15))
    engine.dispose()


def test_the_password_is_stored_as_an_argon2id_hash_and_checked(accounts):
    stored = _stored(accounts.engine, "hr-a")
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert PasswordHasher().verify(stored, PASSWORD)  # argon2's own verification of our hash
    secret, session = accounts.sign_in("hr-a", PASSWORD, address="10.0.0.1")
    assert accounts.session(secret) == session and len(session.csrf) >= 32
    with accounts.engine.connect() as c:  # the database holds the cookie's digest, not the cookie
        ids = c.execute(select(StaffSessionRow.id)).scalars().all()
    assert secret not in ids and len(ids) == 1


def _stored(engine, username: str) -> str:
    with engine.connect() as c:
        return c.execute(select(StaffAccountRow.password_hash)
                         .where(StaffAccountRow.id == username)).scalar_one()


def test_hashes_take_rfc_9106s_parameters_unless_the_test_profile_is_named(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'accounts.db'}"
    build(url)  # with the suite's profile (tests/conftest.py): the least Argon2id allows
    engine = connect(url)
    assert "$v=19$m=8,t=1,p=1$" in _stored(engine, "hr-a")
    monkeypatch.delenv("QABILET_ARGON2_PROFILE")  # as where people sign in
    password_hasher.cache_clear()
    try:
        # RFC 9106 §4, the second recommended option: t=3 passes, p=4 lanes, m=2^16 KiB
        assert "$v=19$m=65536,t=3,p=4$" in password_hasher().hash("a long enough password")
        AccountRepository(engine).sign_in("hr-a", PASSWORD, address="a")
        remade = _stored(engine, "hr-a")  # remade with the profile in force, on signing in
        assert "$v=19$m=65536,t=3,p=4$" in remade and PasswordHasher().verify(remade, PASSWORD)
        monkeypatch.setenv("QABILET_ARGON2_PROFILE", "fast")
        password_hasher.cache_clear()
        with pytest.raises(SettingsError, match="QABILET_ARGON2_PROFILE: expected one of "
                                                "'rfc9106', 'test'; got 'fast'"):
            AccountRepository(engine)
    finally:
        monkeypatch.undo()
        password_hasher.cache_clear()
        engine.dispose()


def test_failures_in_a_row_lock_the_account_and_a_success_resets_the_count(accounts):
    for _ in range(2):
        with pytest.raises(SignInRefused, match="wrong name or password") as refused:
            accounts.sign_in("hr-a", "not the password", address="10.0.0.1")
        assert not isinstance(refused.value, AccountLocked)
    accounts.sign_in("hr-a", PASSWORD, address="10.0.0.1")  # resets the count
    for _ in range(2):
        with pytest.raises(SignInRefused):
            accounts.sign_in("hr-a", "wrong again!!", address="10.0.0.1")
    with pytest.raises(AccountLocked):  # the third in a row
        accounts.sign_in("hr-a", "wrong again!!", address="10.0.0.1")
    with pytest.raises(AccountLocked):  # now even the right password
        accounts.sign_in("hr-a", PASSWORD, address="10.0.0.1")
    assert accounts.account("hr-a").locked_until is not None
    accounts.unlock("hr-a", by="admin")
    accounts.sign_in("hr-a", PASSWORD, address="10.0.0.1")
    actions = [e["action"] for e in SessionStore(accounts.engine).audit_trail("account:hr-a")]
    assert actions.count("account.sign_in_failed") == 5 and "account.lockout" in actions
    assert actions.count("account.sign_in") == 2 and "account.unlock" in actions


def test_wrong_passwords_sent_to_several_servers_at_once_are_each_counted(pg_url):
    """Four failed sign-ins at the same moment, each through a server of its own (an engine of
    its own), on PostgreSQL: every one is counted — the failures 1 and 2 audited once each, then
    the lockout — not read together and written over one another (all counted as one, before
    the account's row was locked)."""
    servers = [AccountRepository(connect(pg_url, migrate=k == 0), max_failures=2)
               for k in range(4)]
    servers[0].create_account("hr-a", "HR-A", PASSWORD, by="test")
    _, refusals = together(lambda server: server.sign_in("hr-a", "not the password",
                                                         address="10.0.0.9"),
                           [(s,) for s in servers])
    trail = SessionStore(servers[0].engine).audit_trail("account:hr-a")
    counted = [e["detail"]["failures"] for e in trail if e["action"] == "account.sign_in_failed"]
    assert len(refusals) == 4 and all(isinstance(r, SignInRefused) for r in refusals)
    assert sorted(counted) == [1, 2]
    assert [e["action"] for e in trail].count("account.lockout") == 1
    assert sum(isinstance(r, AccountLocked) for r in refusals) == 3  # the second, and two after
    for server in servers:
        server.engine.dispose()


def test_an_unknown_name_and_a_wrong_password_are_refused_alike(accounts):
    messages = set()
    for name in ("nobody-here", "hr-a", "NOT A NAME"):
        with pytest.raises(SignInRefused) as refused:
            accounts.sign_in(name, "not the password", address="10.0.0.1")
        messages.add(str(refused.value))
    assert messages == {"wrong name or password"}


def test_a_session_ends_on_sign_out_idleness_age_a_new_password_and_disabling(accounts):
    secret, _ = accounts.sign_in("hr-a", PASSWORD, address="a")
    accounts.sign_out(secret)
    assert accounts.session(secret) is None
    for change in ("idle", "old"):
        secret, _ = accounts.sign_in("hr-a", PASSWORD, address="a")
        long_ago = accounts.session(secret).created_at - (
            accounts.idle if change == "idle" else accounts.lifetime) - timedelta(seconds=1)
        column = StaffSessionRow.seen_at if change == "idle" else StaffSessionRow.created_at
        with accounts.engine.begin() as c:
            c.execute(update(StaffSessionRow).values({column: long_ago}))
        assert accounts.session(secret) is None, change
    secret, _ = accounts.sign_in("hr-a", PASSWORD, address="a")
    accounts.set_password("hr-a", "a different long password", by="admin")
    assert accounts.session(secret) is None
    secret, _ = accounts.sign_in("hr-a", "a different long password", address="a")
    accounts.disable("hr-a", by="admin")
    assert accounts.session(secret) is None
    with pytest.raises(SignInRefused):
        accounts.sign_in("hr-a", "a different long password", address="a")


def test_accounts_and_grants_are_checked(accounts):
    with pytest.raises(InvalidParameterError, match="password: expected 12"):
        accounts.create_account("new-one", "New", "short", by="admin")
    with pytest.raises(InvalidParameterError, match="contains the account's name"):
        accounts.create_account("longname", "New", "my longname password", by="admin")
    with pytest.raises(InvalidParameterError, match="username"):
        accounts.create_account("Bad Name", "New", PASSWORD, by="admin")
    with pytest.raises(ConflictError, match="taken"):
        accounts.create_account("hr-a", "Again", PASSWORD, by="admin")
    with pytest.raises(ConflictError, match="has an account"):
        accounts.create_account("second-b1", "Again", PASSWORD, employee="B-1", by="admin")
    for grant, problem in ((Grant("supervisor", "U-A"), "names no unit"),
                           (Grant("psychometrician", "U-A"), "whole organisation"),
                           (Grant("interviewer", "U-A"), "date of their training"),
                           (Grant("hr", "U-A", date(2020, 1, 1)), "only an interviewer"),
                           (Grant("janitor"), "role: expected one of")):
        with pytest.raises(InvalidParameterError, match=problem):
            accounts.grant("hr-a", grant, by="admin")
    with pytest.raises(InvalidParameterError, match="must be an employee's"):
        accounts.grant("hr-a", Grant("supervisor"), by="admin")  # hr-a is nobody's account
    with pytest.raises(InvalidParameterError, match="no unit 'U-Z'"):
        accounts.grant("hr-a", Grant("commission", "U-Z"), by="admin")
    scoped = accounts.reach_of("hr-a")  # an administrator of U-A gives grants inside U-A only
    admin = reach("account:x", [Grant("administrator", "U-A")], {"U-A": None, "U-A1": "U-A",
                                                                "U-B": None})
    assert scoped.covers("U-A1", "hr")
    with pytest.raises(InvalidParameterError, match="outside"):
        accounts.grant("staff-b", Grant("supervisor"), by="x", within=admin)  # B-1 is in U-B
    made = accounts.grant("hr-a", Grant("interviewer", "U-A1", date(2017, 2, 1)), by="x",
                          within=admin)
    assert made in [*accounts.account("hr-a").grants] and made.id is not None


def test_a_reach_covers_a_unit_and_the_units_inside_it_and_nothing_else():
    parents = {"HQ": None, "A": "HQ", "A1": "A", "A2": "A", "A11": "A1", "B": "HQ", "X": None}
    assert descendants(parents, "A") == {"A", "A1", "A2", "A11"}
    r = reach("key:1", [Grant("hr", "A1"), Grant("hr", "B"), Grant("proctor", "A")], parents)
    assert r.units("hr") == {"A1", "A11", "B"} and r.units("proctor") == {"A", "A1", "A2", "A11"}
    assert r.covers("A11", "hr") and not r.covers("A2", "hr") and r.covers("A2", "proctor")
    assert not r.covers(None, "hr") and r.units("commission") == frozenset()
    everywhere = reach("key:2", [Grant("hr", "A"), Grant("hr")], parents)
    assert everywhere.units("hr") is None and everywhere.covers(None, "hr")
    supervisor = reach("account:s", [Grant("supervisor")], parents, person="P-1")
    assert supervisor.holds("supervisor") and not supervisor.covers("A", "supervisor")


def test_the_key_roles_are_the_staff_roles_machines_may_hold():
    for role in ROLES:
        check_grant(Grant(role), for_key=True)
    for role in ("supervisor", "interviewer"):
        with pytest.raises(ValueError, match="held by people"):
            check_grant(Grant(role), for_key=True)
