"""The edge of the app: client input checked before a route sees it, security headers going out.

Two plain ASGI layers (no ``BaseHTTPMiddleware``: the candidates' answers pass through both) and
three exception handlers, put in place by :func:`install`:

:class:`EdgeGuard`, the outermost layer,
    refuses with 422 a URL whose path or query, once percent-decoded, is not UTF-8 or holds a
    control character (``%00``…``%1F``, ``%7F``), before anything — the credential check, a
    database lookup by session id — reads it; and adds the security headers to every response:
    ``X-Content-Type-Options: nosniff`` on all; ``Cache-Control: no-store`` on all but the
    static assets (the API's answers carry tokens, keys, items and profiles); on an HTML page
    also ``Referrer-Policy: no-referrer`` and a ``Content-Security-Policy`` — the page's own, or
    the policy given (the documentation pages set theirs: :mod:`qabilet.api.docs_pages`). A header the
    route set itself is kept.
:class:`StrictJSONBodies`, the innermost layer,
    reads a JSON body (``application/json`` or ``application/*+json``) whole and refuses with
    422, naming the JSON path of the value, what JSON allows but no field of the API can take:
    ``NaN``, ``Infinity`` and numbers that overflow a double, integers beyond 64 bits, strings
    (or keys) holding NUL or a lone UTF-16 surrogate, documents nested deeper than
    :data:`MAX_DEPTH`, and bodies that are not UTF-8 JSON at all. The body is then handed on
    unchanged. It sits inside the request guard of :mod:`qabilet.api.limits`, so the credentials and the
    size limit are checked before a byte is read here.
the handlers
    turn a :class:`~fastapi.exceptions.RequestValidationError` into 422 problems that name the
    field, the expectation and at most a short escaped preview of what came (never the value
    itself: a huge or invalid value cannot be echoed); and a value the database refuses
    (:class:`sqlalchemy.exc.DataError`, or a bound parameter a driver cannot convert) into 422
    as a last line of defence.

Every refusal has the body of a validation error: ``{"detail": [{"type": …, "loc": [...],
"msg": …, "got": …}]}`` (``got`` when there is something to preview).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["LARGE_BODY", "MAX_DEPTH", "EdgeGuard", "StrictJSONBodies", "install", "json_problem",
           "preview", "url_problem"]


#: how deeply arrays and objects may nest in a request body (a bank document needs about 6)
MAX_DEPTH = 32
#: a body longer than this is an import's (the request guard lets no other route past 16 KiB):
#: decoding it here would hold the event loop for seconds, so the import checks it itself, with
#: :func:`json_problem`, in its own process (:mod:`qabilet.api.offload`)
LARGE_BODY = 64 * 1024
_log = logging.getLogger("qabilet.api")
_INT64 = 2**63
_PREVIEW = 32  # characters of a string shown back
_MAX_PROBLEMS = 20  # problems listed in one refusal
_SUSPECT_URL = re.compile(rb"[%\x00-\x1f\x7f-\xff]")  # what needs a closer look in a raw URL
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")  # NUL, and UTF-16 surrogates (always lone in a str)


def _byte_classes() -> bytes:
    """The classes of bytes that :func:`json_problem` looks for, as a :meth:`bytes.translate` table.

    ``0`` a digit or a sign, ``e`` an exponent, ``[`` an array or object opening, ``!`` a NUL or
    a byte that is not ASCII; a space for anything else.
    """
    table = bytearray(b" " * 256)
    for chars, cls in ((b"0123456789+-", b"0"), (b"eE", b"e"), (b"[{", b"["),
                       (b"\x00" + bytes(range(128, 256)), b"!")):
        for c in chars:
            table[c] = cls[0]
    return bytes(table)


_CLASSES = _byte_classes()
_LONG_INTEGER = b"0" * 19  # 19 digits may exceed 64 bits
_LONG_EXPONENT = b"0e000"  # an exponent of three digits may overflow a double


# -- the problems' shape ----------------------------------------------------------------------------
def preview(value: Any) -> str:
    """A short, printable description of a value a client sent (never the value in full).

    Parameters
    ----------
    value : object
        A decoded JSON value, or the bytes of a body that was not JSON.

    Returns
    -------
    str
        ``repr`` of a short string or number (non-printable characters escaped, at most 32
        characters of a string and 64 of their escapes, with its length when cut), else what
        it is.

    Examples
    --------
    >>> preview("1"), preview(True), preview(1.5), preview({"a": 1}), preview([1, 2])
    ("'1'", 'True', '1.5', 'an object of 1 member(s)', 'an array of 2 element(s)')
    >>> preview("a\\x00" + "b" * 100)
    "'a\\\\x00bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'… (102 characters)"
    """
    if isinstance(value, str):
        shown = repr(value[:_PREVIEW])  # repr escapes controls and surrogates
        if len(shown) > 2 * _PREVIEW:  # escapes of up to 10 characters each
            shown = shown[:2 * _PREVIEW] + "…"
        return shown if len(value) <= _PREVIEW else f"{shown}… ({len(value)} characters)"
    if value is None or isinstance(value, bool | float):
        return repr(value)
    if isinstance(value, int):
        return repr(value) if abs(value) < 10**_PREVIEW else f"an integer of over {_PREVIEW} digits"
    if isinstance(value, Mapping):
        return f"an object of {len(value)} member(s)"
    if isinstance(value, list | tuple):
        return f"an array of {len(value)} element(s)"
    if isinstance(value, bytes | bytearray):
        return f"{len(value)} bytes"
    return type(value).__name__


def _loc_part(part: Any) -> str | int:
    """An element of a problem's location: an index, a field name, or a key shown by preview."""
    if isinstance(part, int) and not isinstance(part, bool):
        return part
    if isinstance(part, str) and len(part) <= _PREVIEW and not _BAD_TEXT.search(part):
        return part
    return preview(part)


def _text(message: str, limit: int = 300) -> str:
    """A message made safe to send: lone surrogates escaped, at most ``limit`` characters."""
    safe = message.encode("utf-8", "backslashreplace").decode("utf-8")
    return safe if len(safe) <= limit else safe[:limit] + "…"


def _problem(loc: Iterable[Any], msg: str, kind: str, got: str | None = None) -> dict[str, Any]:
    problem = {"type": kind, "loc": [_loc_part(p) for p in loc], "msg": _text(msg)}
    if got is not None:
        problem["got"] = got
    return problem


def _refusal(problems: list[dict[str, Any]], status: int = 422) -> JSONResponse:
    return JSONResponse({"detail": problems[:_MAX_PROBLEMS]}, status_code=status)


# -- URLs ------------------------------------------------------------------------------------------
def url_problem(scope: Scope) -> dict[str, Any] | None:
    """What is wrong with the request's path or query string, or None.

    Refused: a part that is not UTF-8 once percent-decoded, or that holds a control character
    (U+0000–U+001F, U+007F) — no id, name or date the API takes has one, and PostgreSQL stores
    no NUL.

    Examples
    --------
    >>> url_problem({"raw_path": b"/v1/sessions/abc", "query_string": b"level=high"}) is None
    True
    >>> url_problem({"raw_path": b"/v1/sessions/x%00", "query_string": b""})["loc"]
    ['path']
    >>> url_problem({"raw_path": b"/a", "query_string": b"target=%ff"})["msg"]
    'the query string is not UTF-8 once percent-decoded (invalid start byte at byte 7)'
    """
    raw_path = scope.get("raw_path") or scope.get("path", "").encode("utf-8")
    query = scope.get("query_string", b"")
    if _SUSPECT_URL.search(raw_path) is None and (not query or _SUSPECT_URL.search(query) is None):
        return None  # printable ASCII without escapes: nothing to decode
    for where, raw in (("path", raw_path), ("query", query)):
        if not raw or _SUSPECT_URL.search(raw) is None:
            continue
        name = "the path" if where == "path" else "the query string"
        try:
            text = unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            return _problem([where], f"{name} is not UTF-8 once percent-decoded ({exc.reason} at "
                                     f"byte {exc.start})", "url_not_utf8")
        found = _CONTROL.search(text)
        if found is not None:
            return _problem([where], f"{name} holds a control character "
                                     f"(U+{ord(found.group()):04X}); expected printable text",
                            "url_control_character")
    return None


# -- JSON bodies -----------------------------------------------------------------------------------
def json_problem(body: bytes, max_depth: int = MAX_DEPTH) -> dict[str, Any] | None:
    """What is wrong with a JSON request body, naming the value's JSON path; None if nothing.

    Parameters
    ----------
    body : bytes
        The body as received (UTF-8; JSON's UTF-16 and UTF-32 are recognised too).
    max_depth : int
        How deeply arrays and objects may nest.

    Returns
    -------
    dict or None
        ``{"type", "loc", "msg"[, "got"]}``; ``loc`` starts with ``"body"``.

    Examples
    --------
    >>> json_problem(b'{"position": 1, "item_id": "A"}') is None
    True
    >>> json_problem(b'{"a": [1, NaN]}')["loc"], json_problem(b'{"a": [1, NaN]}')["msg"]
    (['body', 'a', 1], 'expected a finite number; got NaN')
    >>> json_problem(b'{"note": "x\\\\u0000"}')["type"]
    'string_nul'

    Notes
    -----
    A body of ASCII with no ``\\u`` escape, no NUL, no ``NaN`` or ``Infinity``, no exponent of
    three digits, no run of 19 digits and no more brackets than ``max_depth`` can hold none of
    these values, and is passed without being decoded (FastAPI decodes it next; a syntax error
    is then its 422): a candidate's answer costs a few scans of its bytes, not a decoding.
    """
    classes = body.translate(_CLASSES)
    if not (b"!" in classes or _LONG_EXPONENT in classes or _LONG_INTEGER in classes
            or b"\\u" in body or b"NaN" in body or b"Infinity" in body
            or classes.count(b"[") > max_depth):
        return None
    try:
        document = json.loads(body)
    except UnicodeDecodeError as exc:
        return _problem(["body"], f"expected UTF-8 JSON; the body is not UTF-8 ({exc.reason} at "
                                  f"byte {exc.start})", "json_invalid")
    except json.JSONDecodeError as exc:
        return _problem(["body"], f"expected JSON: {exc.msg} at line {exc.lineno} column "
                                  f"{exc.colno}", "json_invalid")
    except ValueError:  # an integer of more digits than Python converts (4300)
        return _problem(["body"], "expected JSON with numbers of a sensible size; an integer has "
                                  "thousands of digits", "json_invalid")
    except RecursionError:
        return _problem(["body"], f"expected JSON nested at most {max_depth} levels deep",
                        "json_too_deep")
    return _first_bad_value(document, max_depth)


def _first_bad_value(document: Any, max_depth: int) -> dict[str, Any] | None:
    """The first value (in document order) that no field can take, as a problem; None if none."""
    pending: list[tuple[Any, tuple[Any, ...]]] = [(document, ("body",))]
    while pending:
        value, loc = pending.pop()
        kind = type(value)
        if kind is str:
            problem = _text_problem(value, loc)
            if problem is not None:
                return problem
        elif kind is float:
            if not math.isfinite(value):
                what = "NaN" if math.isnan(value) else "Infinity, or a number beyond a double's range"
                return _problem(loc, f"expected a finite number; got {what}", "finite_number")
        elif kind is int:
            if not -_INT64 <= value < _INT64:
                return _problem(loc, "expected an integer within 64 bits (|n| < 2**63)",
                                "int_too_large", preview(value))
        elif kind is dict or kind is list:
            if len(loc) > max_depth:
                return _problem(loc, f"expected JSON nested at most {max_depth} levels deep",
                                "json_too_deep")
            if kind is dict:
                for key in value:
                    problem = _text_problem(key, (*loc, key), key=True)
                    if problem is not None:
                        return problem
                members = list(value.items())
            else:
                members = list(enumerate(value))
            pending.extend((child, (*loc, name)) for name, child in reversed(members))
    return None


def _text_problem(text: str, loc: tuple[Any, ...], key: bool = False) -> dict[str, Any] | None:
    found = _BAD_TEXT.search(text)
    if found is None:
        return None
    what = "a key" if key else "text"
    at = found.start()
    if found.group() == "\x00":
        return _problem(loc, f"expected {what} without NUL (\\u0000); found one at character {at}",
                        "string_nul", preview(text))
    return _problem(loc, f"expected {what} of valid Unicode; found a lone surrogate "
                         f"(\\u{ord(found.group()):04x}) at character {at}", "string_surrogate",
                    preview(text))


def _is_json(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """True if the request says its body is JSON (as FastAPI decides whether to parse it)."""
    for name, value in headers:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or (media.startswith(b"application/")
                                                    and media.endswith(b"+json"))
    return False


class StrictJSONBodies:
    """The ASGI layer that refuses JSON bodies no field can take (see the module's docstring).

    Parameters
    ----------
    app : ASGI application
    max_depth : int
        How deeply arrays and objects may nest.
    """

    def __init__(self, app: ASGIApp, max_depth: int = MAX_DEPTH) -> None:
        self.app, self.max_depth = app, max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a JSON body no field can take; hand any other request on as it came."""
        if scope["type"] != "http" or not _is_json(scope["headers"]):
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        try:
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away before its body was complete
                chunks.append(message.get("body", b""))
                more = message.get("more_body", False)
        except HTTPException as exc:  # raised while reading: the request guard's size limit
            await JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                               headers=exc.headers)(scope, receive, send)
            return
        body = b"".join(chunks)
        problem = json_problem(body, self.max_depth) if 0 < len(body) <= LARGE_BODY else None
        if problem is not None:
            await _refusal([problem])(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


# -- URLs in, headers out ---------------------------------------------------------------------------
class EdgeGuard:
    """The outermost ASGI layer: bad URLs refused, security headers added (module docstring).

    Parameters
    ----------
    app : ASGI application
    html_policy : str
        The Content-Security-Policy of an HTML page that sets none.
    static_prefix : str
        Paths under it are assets, which may be cached.
    """

    def __init__(self, app: ASGIApp, html_policy: str, static_prefix: str = "/static/") -> None:
        self.app, self.static_prefix = app, static_prefix
        self.html_policy = html_policy.encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a bad URL; add the security headers to the response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        cacheable = path.startswith(self.static_prefix)
        policy = self.html_policy

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _secured(list(message.get("headers", ())), cacheable, policy)
            await send(message)

        problem = url_problem(scope)
        if problem is not None:
            await _refusal([problem])(scope, receive, secured)
            return
        await self.app(scope, receive, secured)


def _secured(headers: list[tuple[bytes, bytes]], cacheable: bool, policy: bytes
             ) -> list[tuple[bytes, bytes]]:
    """``headers`` with the security headers a response lacks (module docstring)."""
    present = {name for name, _ in headers}  # ASGI header names are lower-case
    html = b"content-type" in present and any(
        name == b"content-type" and value[:9].lower() == b"text/html" for name, value in headers)
    if b"x-content-type-options" not in present:
        headers.append((b"x-content-type-options", b"nosniff"))
    if (html or not cacheable) and b"cache-control" not in present:
        headers.append((b"cache-control", b"no-store"))
    if html:
        if b"content-security-policy" not in present:
            headers.append((b"content-security-policy", policy))
        if b"referrer-policy" not in present:
            headers.append((b"referrer-policy", b"no-referrer"))
    return headers


# -- handlers ---------------------------------------------------------------------------------------
async def validation_failed(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming each bad field, what it expects and a short preview of what came."""
    problems = []
    for error in exc.errors():
        got = None if error.get("type") == "missing" else preview(error.get("input"))
        problems.append(_problem(error.get("loc", ()), str(error.get("msg", "invalid")),
                                 str(error.get("type", "invalid")), got))
    return _refusal(problems)


async def database_refused(request: Request, exc: Exception) -> JSONResponse:
    """422 for a value the database (or its driver) cannot take; any other error is raised on.

    The last line of defence behind :class:`EdgeGuard` and :class:`StrictJSONBodies`: a value
    that reached a query and was refused there (a NUL in PostgreSQL text, an integer out of a
    column's range) is the client's, and nothing was written (the transaction rolled back).
    """
    from sqlalchemy.exc import DataError, DBAPIError

    data = isinstance(exc, DataError) or (
        not isinstance(exc, DBAPIError)
        and isinstance(getattr(exc, "orig", None), ValueError | OverflowError))
    if not data:
        raise exc  # a defect or an outage: the app's other handlers (api.faults, the 500)
    cause = getattr(exc, "orig", None) or exc
    _log.warning("a value refused by the database on %s %s: %s", request.method,
                 request.url.path, _text(str(cause).splitlines()[0] if str(cause) else "", 200))
    return _refusal([_problem(["body"], "a value of the request was refused by the database "
                                        "(a character or a number it cannot store); nothing "
                                        "was changed", "database_refused")])


def install(app: FastAPI, *, html_policy: str) -> None:
    """Put the edge in place: the two layers and the handlers (see the module's docstring).

    Call it after every other middleware is added: :class:`EdgeGuard` goes first in the stack
    (it wraps every other layer, so the requests they see have clean URLs and their responses
    get the headers) and :class:`StrictJSONBodies` last (inside the request guard of
    :mod:`qabilet.api.limits`, which checks the credentials and the size before a body is read).

    Parameters
    ----------
    app : fastapi.FastAPI
    html_policy : str
        The Content-Security-Policy of an HTML page that sets none (the reports).
    """
    from sqlalchemy.exc import DataError, StatementError

    app.user_middleware.insert(0, Middleware(EdgeGuard, html_policy=html_policy))
    app.user_middleware.append(Middleware(StrictJSONBodies))
    app.add_exception_handler(RequestValidationError, validation_failed)  # type: ignore[arg-type]
    app.add_exception_handler(DataError, database_refused)
    app.add_exception_handler(StatementError, database_refused)
