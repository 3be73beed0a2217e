"""The server's settings: one class, read once from the environment (``QABILET_*``).

``qabilet serve`` reads them in its first process and hands them to each worker (they are not
read again there). A variable that is not what its setting expects stops the server before it
starts, with one line naming it (:class:`~qabilet.itembank.database.SettingsError`).
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, PositiveFloat, PositiveInt
from pydantic_settings import NoDecode

from qabilet.itembank.database import DatabaseSettings

__all__ = ["Settings"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _zero_is_none(value: Any) -> Any:
    """``0`` (a number or its text) means no limit."""
    try:
        return None if value is not None and float(value) == 0 else value
    except (TypeError, ValueError):
        return value  # not a number: the field's own check names it


def _networks(value: Any) -> Any:
    """Addresses or networks (CIDR) separated by commas, as networks."""
    if not isinstance(value, str):
        return value
    try:
        return tuple(ipaddress.ip_network(part.strip(), strict=False)
                     for part in value.split(",") if part.strip())
    except ValueError as exc:
        raise ValueError(f"expected addresses or networks (CIDR) separated by commas ({exc})"
                         ) from None


#: a time limit in seconds; 0 (or null) is none
Limit = Annotated[Annotated[float, Field(gt=0)] | None, BeforeValidator(_zero_is_none)]


class Settings(DatabaseSettings):
    """What a server instance runs with: each field is the variable ``QABILET_<FIELD>``.

    The database's settings (``database_url``, ``sqlite_synchronous``,
    ``sqlite_busy_timeout_s``) are inherited from
    :class:`~qabilet.itembank.database.DatabaseSettings`.

    Attributes
    ----------
    token_ttl_hours : float
        How long a candidate's link stays valid before the test starts (from its issue, or its
        reissue); once started, a token lives as long as its session (8).
    token_grace_minutes : float
        How long after the session closes its token still opens it, to read the profile (60;
        0: not at all).
    public_url : str
        Base of the links handed to candidates (a trailing ``/`` is dropped).
    time_limit_s, item_time_limit_s : float, optional
        The time limits of a session whose request names none: 90 minutes for the test, 5 for
        an item; 0 means no limit.
    max_body_bytes : int
        The largest request body of a route (16 KiB: a candidate's answer is a few hundred
        bytes); a larger one is refused with 413 before it is read (:mod:`qabilet.api.limits`).
    max_import_bytes : int
        The largest body of the bank and parameter imports (32 MiB).
    trusted_proxies : tuple of ipaddress networks
        The reverse proxies whose ``X-Forwarded-For`` names the client and whose
        ``X-Forwarded-Proto`` says whether it came over TLS (addresses or CIDRs, separated by
        commas); from any other peer the headers are ignored: the socket's address is the
        client's, and its scheme the request's.
    failures_per_session, failures_per_key, failures_per_address : int
        Failed credentials allowed within ``failure_window_s`` for one session's token (20),
        one API key id (20) and one client address (300: a test centre's room may share one
        address); past that the scope is refused with 429 (:mod:`qabilet.api.throttle`). Counted
        per worker process.
    failure_window_s : float
        The sliding window of those counts (600 s).
    group_min_count : int
        The smallest group, and dimension row, the group report shows (10); a request may ask
        for a larger one, never a smaller one. At least 5: below that one person's result
        could be read off the report.
    staff_max_failures : int
        Failed sign-ins in a row that lock a staff account (5).
    staff_lockout_minutes : float
        How long the lockout lasts (15).
    staff_idle_minutes, staff_session_hours : float
        A staff session ends after this long without a request (30 minutes), and at most this
        long after it began (12 hours).
    staff_cookie_secure : "auto", "always" or "never"
        The staff session cookie's ``Secure`` attribute: ``auto`` sets it when the request came
        over TLS — to the server, or to a proxy of ``trusted_proxies`` that says so in
        ``X-Forwarded-Proto``; ``always`` when TLS ends at a proxy that does not say it.

    Examples
    --------
    >>> Settings(time_limit_s=0, public_url="https://exam.example/").time_limit_s is None
    True
    """

    token_ttl_hours: PositiveFloat = 8.0
    token_grace_minutes: float = Field(default=60.0, ge=0)
    public_url: Annotated[str, AfterValidator(lambda url: url.rstrip("/"))] = \
        "http://127.0.0.1:8000"
    time_limit_s: Limit = 5400.0
    item_time_limit_s: Limit = 300.0
    max_body_bytes: PositiveInt = 16 * 1024
    max_import_bytes: PositiveInt = 32 * 1024 * 1024
    trusted_proxies: Annotated[tuple[Network, ...], NoDecode, BeforeValidator(_networks)] = ()
    failures_per_session: PositiveInt = 20
    failures_per_key: PositiveInt = 20
    failures_per_address: PositiveInt = 300
    failure_window_s: PositiveFloat = 600.0
    group_min_count: int = Field(default=10, ge=5)
    staff_max_failures: PositiveInt = 5
    staff_lockout_minutes: PositiveFloat = 15.0
    staff_idle_minutes: PositiveFloat = 30.0
    staff_session_hours: PositiveFloat = 12.0
    staff_cookie_secure: Literal["auto", "always", "never"] = "auto"

    @property
    def failure_limits(self) -> dict[str, tuple[int, float]]:
        """The throttle's limits: failures per window, by kind of scope.

        See :class:`qabilet.api.throttle.Throttle`.
        """
        window = self.failure_window_s
        return {"session": (self.failures_per_session, window),
                "key": (self.failures_per_key, window),
                "addr": (self.failures_per_address, window)}
