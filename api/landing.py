"""The front door: ``/`` answers with a small page, and ``/favicon.ico`` with the server's icon.

``/`` is a page, not a redirect to ``/docs``: whoever opens the server's bare address — a test
centre's IT checking the install, a candidate who lost the link, a psychometrician — learns what
the server is and which version runs (what a support call needs), and is sent on from there:
the API's documentation (``/docs``, ``/redoc``), and, for candidates, the link their proctor
hands out (``/take/<session>#token=…``: the page of a session needs that session's link, so there
is no general candidate page to link to). A redirect would send all of them to an API console.

The page has no script; its one stylesheet is inline and admitted by its digest, so its
Content-Security-Policy admits nothing else (the other security headers: :mod:`qabilet.api.edge`).
"""

from __future__ import annotations

import base64
import hashlib
from html import escape
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse

__all__ = ["FAVICON", "install", "landing_html"]

#: the server's icon (16, 32 and 48 pixels)
FAVICON = Path(__file__).with_name("static") / "favicon.ico"
_STYLE = ("body{font:16px/1.5 system-ui,sans-serif;color:#17202a;background:#f3f5f8;margin:0}"
          "main{max-width:40rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:14px}"
          "h1{margin-top:0;color:#0f5da8}a{color:#0f5da8}code{background:#e8f1fb;padding:0 .2em}"
          ".version{color:#4f5b67}")


def landing_html(title: str, version: str) -> str:
    """The landing page of a server ``title`` at ``version``."""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)}</title><link rel="icon" href="/favicon.ico">'
        f"<style>{_STYLE}</style></head>\n<body><main>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="version">Version <span id="version">{escape(version)}</span></p>'
        "<p>An adaptive testing server: test sessions, the candidates' page, profiles and the "
        "item bank's administration.</p>"
        "<h2>Candidates</h2><p>Open the link your proctor gives you "
        "(<code>/take/&lt;session&gt;#token=…</code>). Without it this server cannot show you "
        "your test: ask the proctor for it.</p>"
        "<h2>Staff and integrators</h2><ul>"
        '<li><a href="/docs">API documentation</a> (Swagger UI: try the routes with your '
        "API key)</li>"
        '<li><a href="/redoc">API reference</a> (ReDoc)</li>'
        '<li><a href="/openapi.json">OpenAPI document</a></li></ul>'
        "</main></body></html>\n")


def _policy() -> str:
    digest = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
    return (f"default-src 'none'; style-src 'sha256-{digest}'; img-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def install(app: FastAPI) -> None:
    """Serve ``/`` and ``/favicon.ico`` (neither in the OpenAPI document)."""
    page, policy = landing_html(app.title, app.version), _policy()

    @app.get("/", include_in_schema=False)
    async def landing() -> HTMLResponse:
        return HTMLResponse(page, headers={"Content-Security-Policy": policy})

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        # an asset: it may be cached, as the static files may (api.edge keeps a route's own)
        return FileResponse(FAVICON, media_type="image/x-icon",
                            headers={"Cache-Control": "public, max-age=86400"})
