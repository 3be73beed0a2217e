"""The per-process caches of the API: least-recently-used eviction and a re-read after a TTL."""

from __future__ import annotations

import pytest

from qabilet.delivery._lru import LRU, TTLValue


def test_lru_drops_the_entry_used_longest_ago():
    c: LRU[str, int] = LRU(2)
    c.put("a", 1)
    c.put("b", 2)
    assert c.get("a") == 1  # "b" is now the older
    c.put("c", 3)
    assert (c.get("a"), c.get("b"), c.get("c"), len(c)) == (1, None, 3, 2)
    with pytest.raises(ValueError, match="size: expected at least 1; got 0"):
        LRU(0)


def test_ttl_value_is_read_once_until_it_is_old():
    reads = []

    def read() -> int:
        reads.append(1)
        return len(reads)

    kept = TTLValue(read, ttl_s=3600.0)
    assert [kept.get(), kept.get(), kept.get()] == [1, 1, 1] and len(reads) == 1
    stale = TTLValue(read, ttl_s=0.0)  # every value is already old
    assert [stale.get(), stale.get()] == [2, 3]
