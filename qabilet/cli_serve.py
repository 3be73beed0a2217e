"""``qabilet serve``: the HTTP API under uvicorn. Registered on :data:`qabilet.cli.app`."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from qabilet.cli import _user_errors, app
from qabilet.cli_bank import DatabaseOption, _repo

__all__ = ["serve"]


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes (they "
                                         "share the database).")] = 1,
    database: DatabaseOption = None,
) -> None:
    """Serve the API; on an empty database, build the demonstration bank and print an operator key.

    The key is shown once; only its hash is stored.
    """
    with _user_errors():
        import uvicorn

        from itembank.session_store import SessionStore
        from qabilet.demo_bank import build_demo_bank

        repo = _repo(database)
        if repo.is_empty():
            typer.echo("Building the demonstration bank (once; about 30 s) …", err=True)
            build_demo_bank(repo)
            key = SessionStore(repo.engine).create_api_key("operator", "first start")
            typer.echo(f"Operator API key (shown once): {key}")
        if database:
            os.environ["QABILET_DATABASE_URL"] = database
        os.environ.setdefault("QABILET_PUBLIC_URL", f"http://{host}:{port}")
        typer.echo(f"OpenAPI docs: http://{host}:{port}/docs")
        uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers,
                    log_level="warning")
