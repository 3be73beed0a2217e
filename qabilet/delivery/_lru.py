"""Small thread-safe caches for the per-process state of :mod:`qabilet.api`.

Handlers run in a thread pool, so every cache they share takes a lock. :class:`LRU` keeps at most
``size`` entries and drops the one used longest ago; :class:`TTLValue` keeps one value read from
the bank and reads it again once it is ``ttl_s`` seconds old (for what an edit of the bank may
change, shown a little late).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from threading import Lock
from time import monotonic
from typing import Generic, TypeVar

__all__ = ["LRU", "TTLValue"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most ``size`` entries; :meth:`get` and :meth:`put` mark an entry as used.

    Examples
    --------
    >>> c = LRU(2)
    >>> c.put("a", 1); c.put("b", 2); c.get("a"); c.put("c", 3)
    1
    >>> c.get("b") is None, c.get("a"), c.get("c")
    (True, 1, 3)
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"size: expected at least 1; got {size}")
        self._size = size
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = Lock()

    def get(self, key: K) -> V | None:
        """The entry of ``key``, or None."""
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        """Keep ``value`` for ``key``, dropping the least recently used entry when full."""
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class TTLValue(Generic[V]):
    """``read()``'s value, read again when it is older than ``ttl_s`` seconds."""

    def __init__(self, read: Callable[[], V], *, ttl_s: float) -> None:
        self._read, self._ttl = read, ttl_s
        self._kept: tuple[float, V] | None = None
        self._lock = Lock()

    def get(self) -> V:
        """The value, fresh enough."""
        kept = self._kept
        if kept is None or monotonic() - kept[0] >= self._ttl:
            value = self._read()
            with self._lock:
                self._kept = kept = (monotonic(), value)
        return kept[1]
