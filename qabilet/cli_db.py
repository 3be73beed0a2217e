"""``qabilet db …``: the database's schema, from the command line.

Registered on :data:`qabilet.cli.app`. Every command that opens the database brings its schema
up to date first (:func:`qabilet.itembank.database.connect`), ``qabilet serve`` too; with
several servers on one database, a deployment migrates once, with ``qabilet db upgrade``,
before it starts or restarts them (docs/deployment.md). Migrations run under a PostgreSQL
advisory lock, so two processes that migrate at once take turns
(:func:`qabilet.itembank.database.upgrade`).
"""

from __future__ import annotations

import typer

from qabilet.cli import _fail, _user_errors, app
from qabilet.cli_bank import DatabaseOption

__all__ = ["db_app"]

db_app = typer.Typer(name="db", no_args_is_help=True, add_completion=False,
                     help="The database's schema: bring it up to date.")
app.add_typer(db_app)


@db_app.command()
def upgrade(database: DatabaseOption = None) -> None:
    """Bring the database's schema up to date (the migrations it lacks), then say where it is."""
    with _user_errors():
        from qabilet.itembank.database import connect, current_revision
        from qabilet.itembank.database import upgrade as migrate

        try:
            engine = connect(database, migrate=False)
        except ValueError as exc:  # the URL, or its driver
            raise _fail(str(exc)) from None
        try:
            before = current_revision(engine)
            migrate(engine)
            after = current_revision(engine)
        finally:
            engine.dispose()
        if before == after:
            typer.echo(f"The schema is up to date (revision {after}).")
        else:
            typer.echo(f"The schema was migrated from revision {before or 'none'} to {after}.")
