"""Response-style indices on constructed records, against hand counts and a looped computation."""

import numpy as np

from qabilet.engine.validity import acquiescence, fast_answers, longest_string


def _looped_longest(row, obs):
    best = run = 0
    prev = None
    for x, o in zip(row, obs, strict=True):
        run = run + 1 if o and prev is not None and x == prev else (1 if o else 0)
        prev = x if o else None
        best = max(best, run)
    return best


def test_longest_string_equals_a_looped_count_with_missing_cells():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, (300, 25))
    obs = rng.random(x.shape) > 0.15
    expected = [_looped_longest(r, o) for r, o in zip(x, obs, strict=True)]
    assert longest_string(x, obs).tolist() == expected


def test_acquiescence_separates_content_from_agreement():
    direction = np.array([1, -1] * 6)
    content = np.where(direction == 1, 4, 0)[None, :]       # agrees with one keying only
    yes = np.full((1, 12), 4)                                # agrees with everything
    no = np.zeros((1, 12), dtype=int)                        # disagrees with everything
    a = np.vstack([content, yes, no])
    np.testing.assert_allclose(acquiescence(a, direction, 5), [0.0, 2.0, -2.0])
    few = np.ones((1, 12), dtype=bool)
    few[0, 1::2] = False  # no reverse-keyed statement answered
    assert np.isnan(acquiescence(yes, direction, 5, few)[0])


def test_fast_answers_count_only_observed_times_below_their_limits():
    t = np.array([[0.5, 0.5, 9.0, np.nan], [3.0, 3.0, 3.0, 3.0]])
    limits = np.array([1.0, 0.4, 2.0, 2.0])
    assert fast_answers(t, limits).tolist() == [1, 0]
    assert fast_answers(t, limits, [[False, True, True, True], [True] * 4]).tolist() == [0, 0]
