"""The request guard: body limits by route, and credentials checked before any body is read.

FastAPI reads and parses a request's body before it runs the route's dependencies, so a check
of credentials in a dependency comes after a client has sent (and the server has held and
parsed) whatever it liked. :class:`RequestGuard` is a plain ASGI layer in front of the app
that, for each HTTP request, from its method, path and headers alone:

1. finds the route (method and path template) and its body limit: ``max_body_bytes`` (16 KiB
   by default: a candidate's answer is a few hundred bytes) for every route, and
   ``max_import_bytes`` (32 MiB) for the bank and parameter imports (:data:`IMPORT_ROUTES`);
2. refuses a ``Content-Length`` over the limit with 413 at once, the body unread and the
   connection closed; a chunked body is counted as it is read and stopped with 413 (and the
   connection closed) as soon as it passes the limit;
3. for a route that names its parties (:func:`qabilet.api.auth.policy_of`), checks the credentials
   (:func:`qabilet.api.auth.authenticate`: throttled, 429 with ``Retry-After`` during a lockout) and
   hands the :class:`~qabilet.api.auth.Caller` to the route's dependencies through the scope; a
   refused request is answered before a byte of its body is read.

Nothing else is wrapped: a request whose ``Content-Length`` fits (every candidate's answer)
goes to the app untouched, so the candidates' hot path pays a dictionary lookup or a few
regular-expression matches and the credential check it paid before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from re import Pattern
from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from qabilet.api.auth import CALLER, Policy, authenticate, client_address, policy_of
from qabilet.api.dependencies import services_of

__all__ = ["IMPORT_ROUTES", "LIMIT_RESPONSES", "RequestGuard", "flat_routes"]


#: the routes that take a whole document, and ``max_import_bytes`` of it (method, path template)
IMPORT_ROUTES = frozenset({("POST", "/v1/admin/bank"), ("POST", "/v1/admin/versions"),
                           ("POST", "/v1/attestation/organisation"),
                           # a test's QTI metadata and usage data (base64, 1 MiB each at most)
                           ("POST", "/ims/cat/v1p3/sections"),
                           # the staff pages' forms that carry a file (checked at 10 MiB there)
                           ("POST", "/staff/campaigns/{campaign_id}/exemptions"),
                           ("POST", "/staff/campaigns/{campaign_id}/sheets/{personal_number}")})

#: the guard's statuses, for the OpenAPI document of every route
LIMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: {"description": "The body is over the route's size limit (nothing of it was kept)"},
    429: {"description": "Too many failed credentials for this session, key or address; "
                         "retry after `Retry-After` seconds"}}


@dataclass(frozen=True, slots=True)
class _Route:
    methods: frozenset[str]
    regex: Pattern[str] | None  # None: a path without parameters, matched by the table's dict
    limit: int
    policy: Policy | None


class BodyTooLarge(HTTPException):
    """A body that grew past its route's limit while it was read (413; the connection closes)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over this route's limit of {limit} bytes",
                         headers={"Connection": "close"})


def flat_routes(routes: list[Any]) -> Any:
    """Every route, those of included routers too (FastAPI ≥ 0.160 includes routers lazily)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # an older FastAPI: included routes are in the app's list
        return routes
    return iter_route_contexts(routes)


class _Table:
    """The app's routes, matched as its router would: exact paths first, then templates."""

    def __init__(self, app: Any, default: int, imports: int) -> None:
        self.default = default
        self.exact: dict[str, list[_Route]] = {}
        self.templated: list[_Route] = []
        for route in flat_routes(app.routes):
            dependant = getattr(route, "dependant", None)
            if dependant is None:  # the static files' mount, the documentation pages
                continue
            methods = frozenset(route.methods or ())
            big = any((m, route.path) in IMPORT_ROUTES for m in methods)
            entry = _Route(methods, None if "{" not in route.path else route.path_regex,
                           imports if big else default, policy_of(dependant))
            if entry.regex is None:
                self.exact.setdefault(route.path, []).append(entry)
            else:
                self.templated.append(entry)

    def find(self, method: str, path: str) -> tuple[_Route | None, str | None]:
        """The route that ``method`` on ``path`` reaches, and its ``session_id`` (if it has one)."""
        for entry in self.exact.get(path, ()):
            if method in entry.methods:
                return entry, None
        for entry in self.templated:
            match = entry.regex.match(path)  # type: ignore[union-attr]
            if match is not None and method in entry.methods:
                return entry, match.groupdict().get("session_id")
        return None, None


class RequestGuard:
    """The ASGI layer described in the module's docstring.

    Parameters
    ----------
    app : ASGI application
        What it guards (the rest of the FastAPI app's middleware stack).

    Notes
    -----
    The limits, the trusted proxies and the throttle are the FastAPI app's (``scope["app"]``):
    its services' (:func:`qabilet.api.dependencies.services_of`) ``settings`` and
    ``throttle``. The route table is built at the first request, when every router has been
    included.
    """

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app
        self._table: _Table | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Guard one request (an HTTP one; other scopes pass through)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fastapi_app = scope["app"]
        services = services_of(fastapi_app)
        settings = services.settings
        table = self._table
        if table is None:
            table = self._table = _Table(fastapi_app, settings.max_body_bytes,
                                         settings.max_import_bytes)
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        route, session_id = table.find(scope["method"], path)
        limit = route.limit if route is not None else table.default

        length, chunked, authorization, token = None, False, None, None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"x-session-token":
                token = value.decode("latin-1")
        unread_is_big = chunked
        if length is not None:
            if not length.isdigit():
                await _refuse(scope, receive, send, 400,
                              "Content-Length: expected a number of bytes", close=True)
                return
            size = int(length)
            if size > limit:
                await _refuse(scope, receive, send, 413,
                              f"the request body ({size} bytes) is over this route's limit of "
                              f"{limit} bytes", close=True)
                return
            unread_is_big = unread_is_big or size > table.default

        if route is not None and route.policy is not None:
            try:
                scope[CALLER] = authenticate(
                    services, route.policy, authorization=authorization, token=token,
                    session_id=session_id,
                    address=client_address(scope, settings.trusted_proxies))
            except HTTPException as exc:
                await _refuse(scope, receive, send, exc.status_code, exc.detail,
                              close=unread_is_big, headers=dict(exc.headers or {}))
                return

        if not chunked:  # uvicorn delivers no more than Content-Length
            await self.app(scope, receive, send)
            return
        await self._limited(scope, receive, send, limit)

    async def _limited(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """The app on a chunked body counted as it is read; the connection closes if unread."""
        seen = 0
        complete = False

        async def counted() -> Message:
            nonlocal seen, complete
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
                complete = not message.get("more_body", False)
            return message

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start" and not complete:
                message = {**message, "headers": [*message.get("headers", ()),
                                                  (b"connection", b"close")]}
            await send(message)

        await self.app(scope, counted, closing)


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: Any, *,
                  close: bool, headers: dict[str, str] | None = None) -> None:
    """An error response ``{"detail": …}`` sent by the guard itself (the app never sees it)."""
    sent = {**(headers or {}), **({"Connection": "close"} if close else {})}
    await JSONResponse({"detail": detail}, status_code=status, headers=sent)(scope, receive, send)
