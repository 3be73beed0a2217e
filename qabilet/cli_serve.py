"""``qabilet serve``: the HTTP API under uvicorn. Registered on :data:`qabilet.cli.app`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from qabilet.cli import _fail, _user_errors, app
from qabilet.cli_bank import DatabaseOption

if TYPE_CHECKING:
    from qabilet.itembank.repository import BankRepository
    from qabilet.itembank.session_store import SessionStore

__all__ = ["first_start", "serve"]

#: the advisory lock of :func:`first_start` (:func:`qabilet.itembank.database.exclusive`)
FIRST_START_LOCK = "first-start"


def first_start(repo: BankRepository, store: SessionStore,
                build: Callable[[BankRepository], Any]) -> list[tuple[str, str]]:
    """On an empty database: ``build`` the bank, and make an operator's and a psychometrician's key.

    Returns ``(role, key)`` of the keys made (none when the bank was not empty). Servers started
    together on one empty PostgreSQL database take turns (the advisory lock
    :data:`FIRST_START_LOCK`): the first builds, the others then find the bank built and make
    nothing.
    """
    from qabilet.itembank.database import exclusive

    with exclusive(repo.engine, FIRST_START_LOCK):
        if not repo.is_empty():
            return []
        typer.echo("Building the demonstration bank (once; about 30 s) …", err=True)
        build(repo)
        return [(role, store.create_api_key(role, "first start"))
                for role in ("operator", "psychometrician")]


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes (they "
                                         "share the database).")] = 1,
    database: DatabaseOption = None,
    demo_session: Annotated[bool, typer.Option(
        "--demo-session", help="Register a demonstration candidate and print the link of a "
        "ready session (middle level, Russian; the page switches language).")] = False,
) -> None:
    """Serve the API; on an empty database, build the demonstration bank and print staff keys.

    The keys (an operator's and a psychometrician's) are shown once; only their hashes are stored.
    """
    with _user_errors():
        from qabilet.api.live import LiveSessions
        from qabilet.api.serving import serve as serve_api
        from qabilet.api.settings import Settings
        from qabilet.demo_bank import build_demo_bank
        from qabilet.itembank.database import connect
        from qabilet.itembank.repository import BankRepository
        from qabilet.itembank.session_store import SessionStore

        # read once, here; the workers are handed them (api.serving)
        settings = Settings.from_env(**({"database_url": database} if database else {}))
        if "public_url" not in settings.model_fields_set:
            settings = settings.model_copy(update={"public_url": f"http://{host}:{port}"})
        try:
            repo = BankRepository(connect(settings=settings))  # migrated once, before the workers
        except ValueError as exc:  # the URL, or its driver
            raise _fail(str(exc)) from None
        store = SessionStore(repo.engine)
        for role, key in first_start(repo, store, build_demo_bank):
            typer.echo(f"{role.capitalize()} API key (shown once): {key}")
        if demo_session:
            candidate = store.add_candidate(display_name="Demonstration candidate")
            session, token = LiveSessions(repo, store).create(
                candidate_id=candidate, level="middle", language="ru",
                token_ttl=timedelta(hours=settings.token_ttl_hours),
                time_limit_s=settings.time_limit_s, item_time_limit_s=settings.item_time_limit_s)
            store.audit("cli:serve", "session.create", session.id, {"demo": True})
            typer.echo(f"Demo session (open in a browser): "
                       f"{settings.public_url}/take/{session.id}#token={token}")
        typer.echo(f"OpenAPI docs: {settings.public_url}/docs")
        repo.engine.dispose()
        try:
            serve_api(host, port, workers=workers, settings=settings, migrated=True)
        except OSError as exc:  # the address, before any worker starts
            raise OSError(f"--host/--port: cannot listen on {host}:{port} "
                          f"({exc.strerror or exc})") from None

