"""Shared test settings."""

import os

import pytest

REQUIRE_ALL = os.environ.get("QABILET_REQUIRE_ALL") == "1"

pytest_plugins = ["tests.demo_fixtures", "tests.api._server"]


def skip_or_fail(reason: str) -> None:
    """Skip with a message, or fail when QABILET_REQUIRE_ALL=1 (CI)."""
    if REQUIRE_ALL:
        pytest.fail(f"required by QABILET_REQUIRE_ALL=1: {reason}")
    pytest.skip(reason)
