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
    """

    database_url: str | None = None
    token_ttl_hours: float = 8.0
    public_url: str = "http://127.0.0.1:8000"

    @classmethod
    def from_env(cls) -> Settings:
        """Settings from ``QABILET_DATABASE_URL``, ``QABILET_TOKEN_TTL_HOURS``, ``QABILET_PUBLIC_URL``."""
        ttl = os.environ.get("QABILET_TOKEN_TTL_HOURS")
        return cls(database_url=os.environ.get("QABILET_DATABASE_URL"),
                   token_ttl_hours=float(ttl) if ttl else 8.0,
                   public_url=os.environ.get("QABILET_PUBLIC_URL", "http://127.0.0.1:8000"))
