"""The OpenAPI document's security schemes: the staff key and the candidate token.

Credentials are checked by :func:`qabilet.api.auth.authenticate` — from the headers, before the
body is read (:mod:`qabilet.api.limits`) — and each route names the parties it serves by its
dependency's :class:`~qabilet.api.auth.Policy`. The document says the same from the same source:
:func:`install` declares two schemes (``staffKey``: ``Authorization: Bearer <API key>``;
``candidateToken``: the ``X-Session-Token`` header) and gives each operation the ones its policy
admits, so Swagger UI (``/docs``) shows an *Authorize* button and sends what is entered there.
The two headers are then no longer listed as operation parameters (they are the schemes').
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from qabilet.api.auth import Policy, policy_of
from qabilet.api.limits import flat_routes

__all__ = ["SCHEMES", "install", "requirements"]

#: the schemes, as the document's ``components.securitySchemes`` lists them
SCHEMES: dict[str, dict[str, Any]] = {
    "staffKey": {"type": "http", "scheme": "bearer", "bearerFormat": "qk_<id>_<secret>",
                 "description": "An operator's or a psychometrician's API key "
                                "(`Authorization: Bearer qk_…`); its role decides what it may do."},
    "candidateToken": {"type": "apiKey", "in": "header", "name": "X-Session-Token",
                       "description": "A candidate's token, from the session's link "
                                      "(`/take/<session>#token=…`); it opens that session only."}}
_HEADERS = {("header", "authorization"), ("header", "x-session-token")}


def requirements(policy: Policy | None) -> list[dict[str, list[str]]]:
    """The security requirements of an operation whose route has ``policy`` (any one suffices).

    Empty for a route open to anyone.

    Examples
    --------
    >>> requirements(Policy(("operator",), candidate=True))
    [{'staffKey': []}, {'candidateToken': []}]
    >>> requirements(Policy(()))
    []
    """
    needed: list[dict[str, list[str]]] = []
    if policy is not None and policy.roles:
        needed.append({"staffKey": []})
    if policy is not None and policy.candidate:
        needed.append({"candidateToken": []})
    return needed


def install(app: FastAPI) -> None:
    """Make ``app.openapi`` add the schemes and each operation's requirements (once; cached)."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        document.setdefault("components", {})["securitySchemes"] = SCHEMES
        for route in flat_routes(app.routes):
            dependant = getattr(route, "dependant", None)
            if dependant is None or not getattr(route, "include_in_schema", False):
                continue
            needed = requirements(policy_of(dependant))
            for method in route.methods or ():
                operation = document["paths"].get(route.path_format, {}).get(method.lower())
                if operation is None:
                    continue
                kept = [p for p in operation.get("parameters", ())
                        if (p.get("in"), p.get("name", "").lower()) not in _HEADERS]
                if kept:
                    operation["parameters"] = kept
                else:
                    operation.pop("parameters", None)
                if needed:
                    operation["security"] = needed
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
