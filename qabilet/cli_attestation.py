"""``qabilet attestation``: the organisation an attestation runs in (issue: the attestation package)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from qabilet.cli import _fail, _user_errors, app
from qabilet.cli_bank import DatabaseOption

if TYPE_CHECKING:
    from qabilet.attestation.repository import OrganisationRepository

__all__ = ["attestation_app"]

attestation_app = typer.Typer(name="attestation", no_args_is_help=True, add_completion=False,
                              help="The attestation around the test: its organisation (agencies, "
                                   "units, test centres, categories, employees).")
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
