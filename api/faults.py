"""The database unavailable for a while: ``503 Service Unavailable`` with ``Retry-After``, not 500.

A PostgreSQL server restarting, a connection it dropped, a SQLite file whose write lock another
process holds past the busy timeout (:func:`qabilet.itembank.database.database_unavailable` tells these
from defects): the request's step failed before anything was committed — a transaction that began
was rolled back, an answer queued for the group commit was not written — so the client is told
to send it again after :data:`RETRY_AFTER_S` seconds. An answer sent again is recorded once (its
position's slot, :mod:`qabilet.itembank.session_store`), also in the rare case where the database
committed it and the connection broke before it could say so.

The handlers are registered for the exception types a database raises
(:func:`qabilet.itembank.database.unavailable_error_types`), wherever in a request they come from: a
route, a dependency (the key's or the token's check), the group commit's future awaited by a
route. One of those types that is not an outage (a programming error) is raised on, to the app's
handler of every other exception (500). That handler calls :func:`unavailable_response` too, for
an outage raised outside the routes (a middleware).

An engine takes a new connection by itself once the database is back (see
:func:`qabilet.itembank.database.connect`); nothing is restarted.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from qabilet.itembank.database import database_unavailable, unavailable_error_types

__all__ = ["RETRY_AFTER_S", "install", "unavailable_response"]

#: the seconds after which a client should send a request again (``Retry-After``)
RETRY_AFTER_S = 2
_log = logging.getLogger("qabilet.api")


def unavailable_response(request: Request, exc: BaseException) -> JSONResponse | None:
    """The 503 answer to an error that says the database is unavailable; None for any other.

    Parameters
    ----------
    request : fastapi.Request
        The request that failed (named in the log's line).
    exc : BaseException
        What it raised.

    Returns
    -------
    JSONResponse or None
        ``503`` with ``Retry-After: RETRY_AFTER_S`` and ``{"detail": …}`` saying when to send the
        request again (a commit whose confirmation the outage cut may have happened: an answer
        sent again is recorded once; other writes are best checked first).
    """
    if not database_unavailable(exc):
        return None
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    _log.warning("database unavailable on %s %s: %s: %s", request.method, request.url.path,
                 type(exc).__name__, first_line[:300])
    return JSONResponse(
        {"detail": f"the database is unavailable for the moment; send the request again in "
                   f"{RETRY_AFTER_S} s. An answer sent again is recorded once; another write "
                   f"(a candidate, a session, extra time) may have been stored if the outage cut "
                   f"its commit's confirmation: check before sending it again"},
        status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})


async def _handler(request: Request, exc: Exception) -> JSONResponse:
    response = unavailable_response(request, exc)
    if response is None:
        raise exc  # a defect, not an outage: the app's handler of every other exception (500)
    return response


def install(app: FastAPI) -> None:
    """Answer the database's unavailability with 503 (see the module docstring).

    Register before or after the app's other handlers: the types here are the database's and
    its driver's (and exception groups), which no other handler takes.
    """
    for kind in unavailable_error_types():
        if issubclass(kind, Exception):  # all are; a handler takes nothing broader
            app.add_exception_handler(kind, _handler)
