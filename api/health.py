"""``GET /health``: whether this server can serve — for a load balancer's or an orchestrator's check.

It answers 200 with ``{"status": "ok", …}`` only after a round trip to the database, so a server
that runs but cannot reach PostgreSQL is taken out of rotation; while the database is
unavailable it answers 503 with ``Retry-After`` (:mod:`qabilet.api.faults`). It reads no session
and needs no credentials; it is not in the OpenAPI document (as ``/`` is not).

With several servers on one database the servers' clocks are compared with each other through
the log — a session's clock started by one server is read by the next — so the answer also says
how far this server's clock is from the database server's (``clock_offset_s``: this server's
time minus the database's, taken at the middle of the round trip; PostgreSQL only, null on
SQLite, whose clock is this machine's). A monitor alerts on it (docs/deployment.md, time).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from sqlalchemy import text

from qabilet.api.dependencies import services_of
from qabilet.itembank._runtime import as_utc, now

__all__ = ["clock_offset_s", "install"]


def clock_offset_s(engine: Any) -> float | None:
    """The clock of this machine minus the database server's, in seconds (None for SQLite).

    One ``SELECT clock_timestamp()``; the local time is taken at the middle of the round trip,
    so the error is at most half the round trip.
    """
    with engine.connect() as connection:
        if connection.dialect.name != "postgresql":
            connection.execute(text("SELECT 1"))
            return None
        before = time.monotonic()
        at = now()
        theirs: datetime = connection.execute(text("SELECT clock_timestamp()")).scalar_one()
        half = (time.monotonic() - before) / 2
    return (at - as_utc(theirs)).total_seconds() + half


def install(app: FastAPI) -> None:
    """Serve ``/health`` (not in the OpenAPI document)."""

    @app.get("/health", include_in_schema=False)
    def health(request: Request) -> dict[str, Any]:
        services = services_of(request.app)
        offset = clock_offset_s(services.repo.engine)
        return {"status": "ok", "version": request.app.version, "database": "ok",
                "clock_offset_s": None if offset is None else round(offset, 4)}
