"""A real server per test module on each backend, for tests that send many requests to one server.

``served_on(request, tmp_path_factory)`` is the body of a module-scoped fixture parametrised by
backend (``"sqlite"``: a private copy of the demonstration bank; ``"postgresql"``: the
``demo_pg`` copy, which needs ``QABILET_TEST_DATABASE_URL`` — a skip, or a failure under
``QABILET_REQUIRE_ALL=1``).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.api._server import Server, staff_keys

__all__ = ["BACKENDS", "Served", "served_on"]

BACKENDS = ("sqlite", "postgresql")


@dataclass(frozen=True)
class Served:
    """A running server: its base URL, staff keys and backend."""

    base: str
    keys: dict[str, str]
    backend: str


def served_on(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Served]:
    """Start a server on the backend ``request.param`` names; yield it; stop it."""
    backend = request.param
    if backend == "sqlite":
        copy = tmp_path_factory.mktemp("served") / "demo.db"
        shutil.copy(request.getfixturevalue("demo_db_file"), copy)
        url = f"sqlite:///{copy}"
    else:
        url = request.getfixturevalue("demo_pg")
    keys = staff_keys(url)
    server = Server(url).start()
    try:
        yield Served(server.base, keys, backend)
    finally:
        server.stop()
