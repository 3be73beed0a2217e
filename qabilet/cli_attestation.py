"""``qabilet attestation``: the organisation an attestation runs in (issue: the attestation package)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from qabilet.cli import _fail, _user_errors, app
from qabilet.cli_bank import DatabaseOption

if TYPE_CHECKING:
    from qabilet.attestation.accounts import Account, AccountRepository
    from qabilet.attestation.repository import OrganisationRepository

__all__ = ["attestation_app"]

attestation_app = typer.Typer(name="attestation", no_args_is_help=True, add_completion=False,
                              help="The attestation around the test: its organisation (agencies, "
                                   "units, test centres, categories, employees) and staff "
                                   "accounts.")
app.add_typer(attestation_app)


def _organisation(database: str | None) -> OrganisationRepository:
    from qabilet.attestation.repository import OrganisationRepository
    from qabilet.itembank.database import connect

    try:
        return OrganisationRepository(connect(database))
    except ValueError as exc:
        raise _fail(str(exc)) from None


@attestation_app.command("import-org")
def import_org(
    file: Annotated[Path, typer.Argument(metavar="FILE", exists=True, dir_okay=False,
                                         help="An organisation document (.json).")],
    database: DatabaseOption = None,
) -> None:
    """Import an organisation document whole: every problem is reported and nothing is stored."""
    import getpass

    with _user_errors():
        from qabilet.attestation.repository import read_organisation

        document = read_organisation(file.read_text(encoding="utf-8"), path=str(file))
        counts = _organisation(database).import_organisation(document, by=getpass.getuser())
        typer.echo(f"Imported {file}: {counts.agencies} agencies, {counts.units} units, "
                   f"{counts.test_centres} test centres, {counts.interview_rooms} interview "
                   f"rooms, {counts.categories} position categories, {counts.employees} "
                   f"employees.")


@attestation_app.command()
def employees(
    database: DatabaseOption = None,
    unit: Annotated[str | None, typer.Option("--unit", help="Only this unit's.")] = None,
    supervisor: Annotated[str | None, typer.Option(
        "--supervisor", metavar="PERSONAL_NUMBER", help="Only those this employee supervises.")]
    = None,
) -> None:
    """List the employees: personal number, name, unit, category and attestation level."""
    with _user_errors():
        repo = _organisation(database)
        levels = {c.id: c.level for c in repo.categories()}
        for e in repo.employees(unit=unit, supervisor=supervisor):
            typer.echo(f"{e.personal_number}\t{e.surname} {e.given_name}\t{e.unit}\t"
                       f"{e.category}\t{levels[e.category]}")


# -- staff accounts --------------------------------------------------------------------------------
account_app = typer.Typer(name="account", no_args_is_help=True, add_completion=False,
                          help="Staff accounts for the staff pages: create, grant and withdraw "
                               "roles, list, set a password, unlock, disable.")
attestation_app.add_typer(account_app)


def _accounts(database: str | None) -> AccountRepository:
    from qabilet.attestation.accounts import AccountRepository

    return AccountRepository(_organisation(database).engine)


def _actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


def _password(stdin: bool) -> str:
    """The new password: the first line of standard input, or typed twice at a prompt."""
    if stdin:
        import sys

        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


PasswordStdin = Annotated[bool, typer.Option(
    "--password-stdin", help="Read the password from the first line of standard input "
                             "(otherwise typed at a prompt, twice).")]


def _grants(account: Account) -> str:
    return ", ".join(f"{g.role}@{g.unit or '*'}#{g.id}" + (f" (trained {g.trained_on})"
                                                          if g.trained_on else "")
                     for g in account.grants) or "—"


@account_app.command("create")
def create_account(
    username: Annotated[str, typer.Argument(metavar="USERNAME", help="The account's name "
                                            "(lower-case letters, digits, . _ -).")],
    name: Annotated[str, typer.Option("--name", help="The person's name, as pages show it.")],
    employee: Annotated[str | None, typer.Option(
        "--employee", metavar="PERSONAL_NUMBER",
        help="The person's employee record (needed for a supervisor).")] = None,
    password_stdin: PasswordStdin = False,
    database: DatabaseOption = None,
) -> None:
    """Create a staff account with its first password (at least 12 characters)."""
    with _user_errors():
        made = _accounts(database).create_account(username, name, _password(password_stdin),
                                                  employee=employee, by=_actor())
        typer.echo(f"Created the account {made.id!r} ({made.name}); grant it a role with "
                   f"`qabilet attestation account grant {made.id} --role …`.")


@account_app.command("grant")
def grant(
    username: Annotated[str, typer.Argument(metavar="USERNAME")],
    role: Annotated[str, typer.Option("--role", help="administrator, hr, supervisor, operator, "
                                                     "proctor, interviewer, commission or "
                                                     "psychometrician.")],
    unit: Annotated[str | None, typer.Option(
        "--unit", help="The unit (with the units inside it); left out: every unit.")] = None,
    trained_on: Annotated[str | None, typer.Option(
        "--trained-on", metavar="YYYY-MM-DD",
        help="An interviewer's: the day they completed the training course.")] = None,
    database: DatabaseOption = None,
) -> None:
    """Give an account a role at a unit, or at every unit."""
    from datetime import date

    from qabilet.attestation.access import Grant

    with _user_errors():
        try:
            day = None if trained_on is None else date.fromisoformat(trained_on)
        except ValueError:
            raise _fail(f"--trained-on: expected a date as YYYY-MM-DD; got {trained_on!r}") from None
        made = _accounts(database).grant(username, Grant(role, unit, day), by=_actor())
        typer.echo(f"Granted {username!r} {role} at {unit or 'every unit'} (grant {made.id}).")


@account_app.command("withdraw")
def withdraw(
    username: Annotated[str, typer.Argument(metavar="USERNAME")],
    grant_id: Annotated[int, typer.Argument(metavar="GRANT", help="The grant's number "
                                            "(`qabilet attestation account list`).")],
    database: DatabaseOption = None,
) -> None:
    """Withdraw one of an account's grants."""
    with _user_errors():
        _accounts(database).withdraw(username, grant_id, by=_actor())
        typer.echo(f"Withdrew grant {grant_id} from {username!r}.")


@account_app.command("list")
def list_accounts(database: DatabaseOption = None) -> None:
    """List the accounts: name, person, state and grants (role@unit#number)."""
    with _user_errors():
        for a in _accounts(database).accounts():
            state = ("disabled" if a.disabled_at else
                     f"locked until {a.locked_until:%H:%M} UTC" if a.locked_until else "active")
            typer.echo(f"{a.id}\t{a.name}\t{a.employee or '—'}\t{state}\t{_grants(a)}")


@account_app.command("password")
def password(
    username: Annotated[str, typer.Argument(metavar="USERNAME")],
    password_stdin: PasswordStdin = False,
    database: DatabaseOption = None,
) -> None:
    """Set a new password: the account's sessions end and a lockout is lifted."""
    with _user_errors():
        _accounts(database).set_password(username, _password(password_stdin), by=_actor())
        typer.echo(f"Set a new password for {username!r}; its sessions have ended.")


@account_app.command("unlock")
def unlock(username: Annotated[str, typer.Argument(metavar="USERNAME")],
           database: DatabaseOption = None) -> None:
    """Lift a lockout before it ends."""
    with _user_errors():
        _accounts(database).unlock(username, by=_actor())
        typer.echo(f"Unlocked {username!r}.")


@account_app.command("disable")
def disable(username: Annotated[str, typer.Argument(metavar="USERNAME")],
            database: DatabaseOption = None) -> None:
    """Disable an account: it cannot sign in and its sessions end (it stays, for the audit)."""
    with _user_errors():
        _accounts(database).disable(username, by=_actor())
        typer.echo(f"Disabled {username!r}; its sessions have ended.")


@attestation_app.command("demo-org")
def demo_org(
    out: Annotated[Path, typer.Option("--out", metavar="FILE", dir_okay=False,
                                      help="Where to write the document (.json).")],
    units: Annotated[int, typer.Option("--units", min=1, max=20,
                                       help="The central office and territorial units.")] = 3,
    employees: Annotated[int, typer.Option("--employees", min=3,
                                           help="People in all, spread over the units.")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="The same seed, the same document.")] = 0,
) -> None:
    """Write an invented organisation document to try the attestation with (nobody's data)."""
    import json

    from qabilet.demo_organisation import demo_organisation

    with _user_errors():
        try:
            document = demo_organisation(units=units, employees=employees, seed=seed)
        except ValueError as exc:
            raise _fail(str(exc)) from None
        out.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
        typer.echo(f"Wrote {out}: {units} units with a test centre each, {employees} employees "
                   f"(invented).")


# -- personal data ---------------------------------------------------------------------------------
@attestation_app.command("export-person")
def export_person_command(
    personal_number: Annotated[str, typer.Argument(metavar="PERSONAL_NUMBER")],
    out: Annotated[Path, typer.Option("--out", metavar="FILE", dir_okay=False,
                                      help="Where to write the JSON document.")],
    database: DatabaseOption = None,
) -> None:
    """Write everything the attestation holds about an employee, as asked by them (audited)."""
    import json

    from qabilet.attestation.personal_data import export_person

    with _user_errors():
        document = export_person(_organisation(database).engine, personal_number, by=_actor())
        out.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
        typer.echo(f"Wrote {out}: {len(document['campaigns'])} campaigns, "
                   f"{len(document['sessions'])} sessions, {len(document['profiles'])} profiles.")


@attestation_app.command("erase")
def erase_command(
    personal_number: Annotated[str, typer.Argument(metavar="PERSONAL_NUMBER")],
    database: DatabaseOption = None,
) -> None:
    """Pseudonymise one employee now: names, documents and words go; answers and hashes stay."""
    from qabilet.attestation.personal_data import erase_person

    with _user_errors():
        done = erase_person(_organisation(database).engine, personal_number, by=_actor())
        typer.echo(f"Erased {personal_number}." if done else
                   f"{personal_number} was erased already; nothing changed.")


@attestation_app.command("erase-expired")
def erase_expired_command(
    retention_days: Annotated[int, typer.Option(
        "--retention-days", min=1, help="How long after a campaign's decisions its members' "
                                        "data are kept.")],
    database: DatabaseOption = None,
) -> None:
    """Erase everyone whose every campaign ended longer ago than the retention period."""
    from datetime import timedelta

    from qabilet.attestation.personal_data import erase_expired

    with _user_errors():
        erased = erase_expired(_organisation(database).engine,
                               retention=timedelta(days=retention_days), by=_actor())
        typer.echo(f"Erased {len(erased)} employees" + (f": {', '.join(erased)}." if erased
                                                        else "."))
