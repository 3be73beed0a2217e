"""The server's settings, read once from the environment (``QABILET_*``)."""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["Settings"]


@dataclass(frozen=True, slots=True)
class Settings:
    """What a server instance runs with.

    Attributes
    ----------
    database_url : str, optional
        The bank's database (default: ``QABILET_DATABASE_URL`` or ``sqlite:///qabilet.db``).
    token_ttl_hours : float
        How long a candidate's session link stays valid.
    public_url : str
        Base of the links handed to candidates.
    time_limit_s, item_time_limit_s : float, optional
        The time limits of a session whose request names none: 90 minutes for the test, 5 for
        an item; 0 in the environment means no limit.
    """

    database_url: str | None = None
    token_ttl_hours: float = 8.0
    public_url: str = "http://127.0.0.1:8000"
    time_limit_s: float | None = 5400.0
    item_time_limit_s: float | None = 300.0

    @classmethod
    def from_env(cls) -> Settings:
        """Settings from the environment.

        ``QABILET_DATABASE_URL``, ``QABILET_TOKEN_TTL_HOURS``, ``QABILET_PUBLIC_URL``,
        ``QABILET_TIME_LIMIT_S`` and ``QABILET_ITEM_TIME_LIMIT_S``.

        Raises
        ------
        ValueError
            A setting that is not a number, naming it.
        """
        env = os.environ

        def number(name: str, default: float | None) -> float | None:
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{name}: expected a number of seconds or hours; got {raw!r}") \
                    from None
            return value if value > 0 else None

        return cls(database_url=env.get("QABILET_DATABASE_URL"),
                   token_ttl_hours=number("QABILET_TOKEN_TTL_HOURS", 8.0) or 8.0,
                   public_url=env.get("QABILET_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/"),
                   time_limit_s=number("QABILET_TIME_LIMIT_S", 5400.0),
                   item_time_limit_s=number("QABILET_ITEM_TIME_LIMIT_S", 300.0))
