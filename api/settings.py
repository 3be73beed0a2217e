"""The server's settings, read once from the environment (``QABILET_*``)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
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
        How long a candidate's link stays valid before the test starts (from its issue, or its
        reissue); once started, a token lives as long as its session.
    token_grace_minutes : float
        How long after the session closes its token still opens it (to read the profile).
    public_url : str
        Base of the links handed to candidates.
    time_limit_s, item_time_limit_s : float, optional
        The time limits of a session whose request names none: 90 minutes for the test, 5 for
        an item; 0 in the environment means no limit.
    max_body_bytes : int
        The largest request body of a route (16 KiB: a candidate's answer is a few hundred
        bytes); a larger one is refused with 413 before it is read (:mod:`qabilet.api.limits`).
    max_import_bytes : int
        The largest body of the bank and parameter imports (32 MiB).
    trusted_proxies : tuple of ipaddress networks
        The reverse proxies whose ``X-Forwarded-For`` names the client (addresses or CIDRs);
        from any other peer the header is ignored and the socket's address is the client's.
    failures_per_session, failures_per_key, failures_per_address : int
        Failed credentials allowed within ``failure_window_s`` for one session's token (20),
        one API key id (20) and one client address (300: a test centre's room may share one
        address); past that the scope is refused with 429 (:mod:`qabilet.api.throttle`). Counted per
        worker process.
    failure_window_s : float
        The sliding window of those counts (600 s).
    """

    database_url: str | None = None
    token_ttl_hours: float = 8.0
    token_grace_minutes: float = 60.0
    public_url: str = "http://127.0.0.1:8000"
    time_limit_s: float | None = 5400.0
    item_time_limit_s: float | None = 300.0
    max_body_bytes: int = 16 * 1024
    max_import_bytes: int = 32 * 1024 * 1024
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    failures_per_session: int = 20
    failures_per_key: int = 20
    failures_per_address: int = 300
    failure_window_s: float = 600.0

    @property
    def failure_limits(self) -> dict[str, tuple[int, float]]:
        """The throttle's limits: failures per window, by kind of scope.

        See :class:`qabilet.api.throttle.Throttle`.
        """
        window = self.failure_window_s
        return {"session": (self.failures_per_session, window),
                "key": (self.failures_per_key, window),
                "addr": (self.failures_per_address, window)}

    @classmethod
    def from_env(cls) -> Settings:
        """Settings from the environment.

        ``QABILET_DATABASE_URL``, ``QABILET_TOKEN_TTL_HOURS``, ``QABILET_TOKEN_GRACE_MINUTES``,
        ``QABILET_PUBLIC_URL``,
        ``QABILET_TIME_LIMIT_S`` and ``QABILET_ITEM_TIME_LIMIT_S``; the guard's
        ``QABILET_MAX_BODY_BYTES``, ``QABILET_MAX_IMPORT_BYTES``, ``QABILET_TRUSTED_PROXIES``
        (comma-separated), ``QABILET_FAILURES_PER_SESSION``, ``QABILET_FAILURES_PER_KEY``,
        ``QABILET_FAILURES_PER_ADDRESS`` and ``QABILET_FAILURE_WINDOW_S``.

        Raises
        ------
        ValueError
            A setting that is not a number (or not a positive one, for the guard's), or a
            trusted proxy that is not an address or network, naming it.
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
                   token_grace_minutes=number("QABILET_TOKEN_GRACE_MINUTES", 60.0) or 0.0,
                   public_url=env.get("QABILET_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/"),
                   time_limit_s=number("QABILET_TIME_LIMIT_S", 5400.0),
                   item_time_limit_s=number("QABILET_ITEM_TIME_LIMIT_S", 300.0),
                   **_guard_from(env))


def _guard_from(env: Mapping[str, str]) -> dict[str, object]:
    """The request guard's settings from the environment (those set; the rest default)."""
    out: dict[str, object] = {}
    numbers = {"max_body_bytes": int, "max_import_bytes": int, "failures_per_session": int,
               "failures_per_key": int, "failures_per_address": int, "failure_window_s": float}
    for field, kind in numbers.items():
        name = f"QABILET_{field.upper()}"
        raw = env.get(name, "").strip()
        if not raw:
            continue
        try:
            value = kind(raw)
        except ValueError:
            value = 0
        if not value > 0:
            raise ValueError(f"{name}: expected a positive {'integer' if kind is int else 'number'}"
                             f"; got {raw!r}")
        out[field] = value
    proxies = [p.strip() for p in env.get("QABILET_TRUSTED_PROXIES", "").split(",") if p.strip()]
    try:
        out["trusted_proxies"] = tuple(ipaddress.ip_network(p, strict=False) for p in proxies)
    except ValueError as exc:
        raise ValueError(f"QABILET_TRUSTED_PROXIES: expected addresses or networks (CIDR) "
                         f"separated by commas; {exc}") from None
    return out
