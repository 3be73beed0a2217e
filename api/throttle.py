"""Counting failed credentials: a scope that fails too often is refused for a while.

A *scope* is what a guess is aimed at: ``("session", <session id>)`` for candidate tokens tried
on one session, ``("key", <key id>)`` for secrets tried with one API key's id, and
``("addr", <client address>)`` for everything one address tries (the last resort, with a
generous limit: a test centre's candidates may share one NAT or proxy address, and one
person's typos must not lock out a room). Each kind has a limit of failures within a sliding
window; a scope that reached it is *locked* until its oldest failure in the window has aged
out, so a scope never gets more than ``limit`` failures per ``window_s`` seconds.

The counts live in the worker process: with W workers (``qabilet serve --workers W``) a
guesser whose connections the kernel spreads over them gets at most W × the limit, and with S
such servers behind a proxy S × W × the limit — the counts are not shared through the database,
which would cost every request a read (the secrets guessed are 192- and 256-bit random strings,
and staff passwords have their own lockout, counted in the database). Memory
is bounded: each scope keeps at most ``limit`` timestamps, scopes whose failures aged out are
dropped as new failures come in, and beyond ``max_scopes`` the least recently failing scopes
are forgotten.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

__all__ = ["Lockout", "Throttle"]

Scope = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Lockout:
    """A lockout that a failure has just started (what the audit log records).

    Attributes
    ----------
    scope : tuple of str
        ``(kind, key)``: ``("session", id)``, ``("key", key id)`` or ``("addr", address)``.
    failures : int
        Failures counted within the window (the kind's limit).
    window_s : float
        The window they fell in.
    retry_after_s : float
        Seconds until the scope takes a request again.
    """

    scope: Scope
    failures: int
    window_s: float
    retry_after_s: float


class _Failures:
    """One scope's recent failures (at most its limit of them) and its last audited lockout."""

    __slots__ = ("audited", "times")

    def __init__(self, limit: int) -> None:
        self.times: deque[float] = deque(maxlen=limit)
        self.audited = float("-inf")


class Throttle:
    """Failures per scope in a sliding window; a scope at its limit is locked.

    Parameters
    ----------
    limits : mapping of str to (int, float)
        Per kind of scope (``"session"``, ``"key"``, ``"addr"``): the number of failures
        allowed within a window, and the window in seconds. A kind not named is not counted.
    max_scopes : int
        How many scopes are remembered at most (the least recently failing are forgotten).
    clock : callable, optional
        Seconds, monotonic (``time.monotonic``); tests pass their own.

    Raises
    ------
    ValueError
        A limit below 1 or a window that is not positive, naming the kind.

    Examples
    --------
    >>> now = [0.0]
    >>> t = Throttle({"session": (2, 60.0)}, clock=lambda: now[0])
    >>> t.failed([("session", "s1")])
    []
    >>> [lock.retry_after_s for lock in t.failed([("session", "s1")])]
    [60.0]
    >>> t.retry_after([("session", "s1")])
    60.0
    >>> now[0] = 60.0
    >>> t.retry_after([("session", "s1")]) is None
    True
    """

    def __init__(self, limits: Mapping[str, tuple[int, float]], *, max_scopes: int = 50_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        for kind, (limit, window_s) in limits.items():
            if limit < 1 or not window_s > 0:
                raise ValueError(f"throttle limit for {kind!r}: expected at least 1 failure in a "
                                 f"positive window; got {limit} in {window_s} s")
        self._limits = dict(limits)
        self._max_scopes = max_scopes
        self._clock = clock
        self._scopes: OrderedDict[Scope, _Failures] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, scopes: Iterable[Scope]) -> float | None:
        """Seconds until the most locked of ``scopes`` takes requests again; None if none is locked."""
        now = self._clock()
        wait = 0.0
        for scope in scopes:
            entry = self._scopes.get(scope)
            if entry is not None:
                wait = max(wait, self._wait(scope[0], entry, now))
        return wait or None

    def _wait(self, kind: str, entry: _Failures, now: float) -> float:
        limit, window_s = self._limits[kind]
        times = entry.times
        if len(times) < limit:
            return 0.0
        return max(0.0, times[0] + window_s - now)

    def failed(self, scopes: Iterable[Scope]) -> list[Lockout]:
        """Count one failure against each of ``scopes``; the lockouts it starts.

        A lockout is reported once per window and scope: a guesser who keeps hitting the limit
        makes one audit row per window, not one per attempt.
        """
        now = self._clock()
        started = []
        with self._lock:
            for scope in scopes:
                if scope[0] not in self._limits:
                    continue
                limit, window_s = self._limits[scope[0]]
                entry = self._scopes.pop(scope, None) or _Failures(limit)
                self._scopes[scope] = entry  # the most recently failing scope is last
                entry.times.append(now)
                wait = self._wait(scope[0], entry, now)
                if wait > 0 and now - entry.audited >= window_s:
                    entry.audited = now
                    started.append(Lockout(scope, len(entry.times), window_s, wait))
            self._forget(now)
        return started

    def _forget(self, now: float) -> None:
        """Drop scopes whose failures all aged out (oldest first), and the excess."""
        scopes = self._scopes
        while scopes:
            scope, entry = next(iter(scopes.items()))
            if len(scopes) <= self._max_scopes and \
                    now - entry.times[-1] < self._limits[scope[0]][1]:
                break
            scopes.popitem(last=False)
