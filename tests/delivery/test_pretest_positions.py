"""Where a session's pretest items go: never first, never two in a row, before any section may
stop, and every such placement equally likely."""

from __future__ import annotations

from collections import Counter
from itertools import combinations

import pytest
from scipy.stats import chisquare

from qabilet.delivery.session_state import pretest_positions


@pytest.mark.parametrize(("count", "shortest"), [(1, 2), (2, 6), (3, 6), (5, 49), (10, 49)])
def test_positions_are_apart_and_come_before_any_section_may_stop(count, shortest):
    for seed in range(300):
        x = pretest_positions(seed, count, shortest + count - 1)
        assert len(x) == count and x[0] >= 2
        assert all(b - a >= 2 for a, b in zip(x, x[1:], strict=False))
        # the j-th comes after x_j - j scored items: fewer than the test's minimum
        assert all(p - j < shortest for j, p in enumerate(x, start=1))


def test_every_placement_is_equally_likely():
    span, count = 8, 3
    allowed = [c for c in combinations(range(2, span + 1), count)
               if all(b - a >= 2 for a, b in zip(c, c[1:], strict=False))]
    seen = Counter(pretest_positions(seed, count, span) for seed in range(20_000))
    assert set(seen) == set(allowed)
    assert chisquare([seen[c] for c in allowed]).pvalue > 0.001


def test_no_room_means_no_positions():
    assert pretest_positions(1, 3, 5) == ()  # 2..5 cannot hold three positions apart
    assert pretest_positions(1, 0, 9) == ()
