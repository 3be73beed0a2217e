"""The OpenAPI documentation pages (``/docs``, ``/redoc``), served without the internet.

FastAPI's own pages load Swagger UI and ReDoc from public CDNs: on a test centre's closed
network they stay blank, and their Content-Security-Policy has to admit those hosts and any
inline script. Here the pages load the copies of Swagger UI and ReDoc that the
``fastapi-offline`` package ships (its static files only), from ``/static/docs/``, under a
policy that admits the server itself and the pages' one inline script by its SHA-256 digest.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS", "install", "policy_for"]

#: where the Swagger UI and ReDoc files are served
ASSETS = "/static/docs"


def policy_for(html: str) -> str:
    """The Content-Security-Policy of a documentation page: its inline scripts by digest.

    Swagger UI and ReDoc set styles inline and ReDoc runs a worker from a ``blob:``; nothing
    comes from another host.
    """
    digests = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL))
    return ("default-src 'self'; script-src 'self'" + (f" {digests}" if digests else "")
            + "; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
              "worker-src 'self' blob:; font-src 'self' data:; object-src 'none'; "
              "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _page(html: str) -> HTMLResponse:
    return HTMLResponse(html, headers={"Content-Security-Policy": policy_for(html)})


def _text(page: HTMLResponse) -> str:
    return bytes(page.body).decode()


def install(app: FastAPI, *, openapi_url: str = "/openapi.json") -> None:
    """Serve ``/docs`` and ``/redoc`` from local assets (the app is made with neither).

    Call it before a mount at ``/static``, which would otherwise take ``/static/docs/…``.
    """
    assets = files("fastapi_offline") / "static"
    app.mount(ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")
    title = f"{app.title} — API"
    swagger = _text(get_swagger_ui_html(
        openapi_url=openapi_url, title=title, swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon.png"))
    redoc = _text(get_redoc_html(openapi_url=openapi_url, title=title,
                           redoc_js_url=f"{ASSETS}/redoc.standalone.js",
                           redoc_favicon_url=f"{ASSETS}/favicon.png",
                           with_google_fonts=False))

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return _page(swagger)

    @app.get("/redoc", include_in_schema=False)
    async def redoc_page() -> HTMLResponse:
        return _page(redoc)
