"""Small facts of the running process shared by the bank's modules: the time, the version."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import overload

__all__ = ["as_utc", "installed_version", "now"]


def now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """A stored time as UTC: SQLite hands back naive datetimes, and every stored time is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@cache
def installed_version() -> str:
    """The installed qabilet's version (``unknown`` when run from an uninstalled tree); read once."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("qabilet")
    except PackageNotFoundError:
        return "unknown"
