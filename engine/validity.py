"""Validity indices of a response record: careless and response-style patterns, fast answers.

These describe how a candidate answered, not what they are like; a profile shows them to the
operator only. Person misfit (lz*) is in :mod:`qabilet.calibration.person_fit`.

* **Longest string** (Johnson 2005; Curran 2016): the longest run of identical consecutive
  answers to Likert statements, in the order given — straight-lining shows as a long run.
* **Acquiescence** (agreeing whatever the statement says; Paulhus 1991), from a balanced set of
  positively and reverse-keyed statements on a K-point scale with midpoint
  :math:`m = (K-1)/2`:

  .. math:: A = \\tfrac12\\big(\\bar x_{+} + \\bar x_{-}\\big) - m,

  the mean of the two keyings' mean raw answers, less the midpoint. Someone who answers by
  content agrees with one keying and disagrees with the other, so :math:`A \\approx 0`; someone
  who agrees (disagrees) with everything has :math:`A > 0` (:math:`A < 0`), at most
  :math:`\\pm m`.
* **Fast answers**: answers given faster than a per-item minimum time.

Arrays are persons × items, items in the order they were given, with an ``observed`` mask.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qabilet.engine.exceptions import InvalidParameterError

__all__ = ["acquiescence", "fast_answers", "longest_string"]

Array = NDArray[np.float64]


def _matrix(values: ArrayLike, observed: ArrayLike | None, name: str
            ) -> tuple[NDArray, NDArray[np.bool_]]:
    x = np.asarray(values)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise InvalidParameterError(f"{name}: expected persons × items; got shape {x.shape}")
    obs = np.ones(x.shape, dtype=bool) if observed is None else np.asarray(observed, dtype=bool)
    if obs.ndim == 1:
        obs = obs[None, :]
    if obs.shape != x.shape:
        raise InvalidParameterError(f"observed: expected shape {x.shape}; got {obs.shape}")
    return x, obs


def longest_string(answers: ArrayLike, observed: ArrayLike | None = None) -> NDArray[np.int64]:
    """The longest run of identical consecutive observed answers of each person.

    A missing answer ends a run.

    Examples
    --------
    >>> longest_string([[4, 4, 4, 2, 4, 4], [0, 1, 2, 3, 4, 0]]).tolist()
    [3, 1]
    """
    x, obs = _matrix(answers, observed, "answers")
    n, m = x.shape
    if m == 0:
        return np.zeros(n, dtype=np.int64)
    same = np.zeros((n, m), dtype=bool)
    same[:, 1:] = (x[:, 1:] == x[:, :-1]) & obs[:, 1:] & obs[:, :-1]
    starts = ~same  # a new run at every cell that does not continue the previous one
    run = np.cumsum(starts.ravel())  # one id per run across all persons
    lengths = np.bincount(run, weights=obs.ravel())  # missing cells count for nothing
    first_run = run.reshape(n, m)[:, 0]
    return np.maximum.reduceat(lengths[1:], first_run - 1).astype(np.int64) if n else \
        np.zeros(0, dtype=np.int64)


def acquiescence(answers: ArrayLike, direction: ArrayLike, n_categories: int,
                 observed: ArrayLike | None = None, *, min_each: int = 3) -> Array:
    """The acquiescence index :math:`A` of each person (NaN with too few of either keying).

    Parameters
    ----------
    answers : array_like, shape (n_persons, n_items)
        Raw answers 0 … K−1 (0: disagree most), as given, not reverse-scored.
    direction : array_like, shape (n_items,)
        1 for positively keyed statements, −1 for reverse-keyed ones.
    n_categories : int
        K, the scale's number of points.
    min_each : int
        Observed statements needed of each keying.

    Examples
    --------
    >>> direction = [1, 1, 1, -1, -1, -1]
    >>> acquiescence([[4, 4, 3, 0, 1, 0], [4, 4, 4, 4, 3, 4]], direction, 5).tolist()
    [0.0, 1.833333333333333]
    """
    x, obs = _matrix(answers, observed, "answers")
    d = np.asarray(direction)
    if d.shape != (x.shape[1],) or not np.all(np.isin(d, (1, -1))):
        raise InvalidParameterError(f"direction: expected {x.shape[1]} values of 1 or -1")
    xf = x.astype(np.float64)
    means = []
    for sign in (1, -1):  # the two keyings
        use = obs & (d == sign)[None, :]
        count = use.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            means.append(np.where(count >= min_each, (xf * use).sum(axis=1) / count, np.nan))
    return 0.5 * (means[0] + means[1]) - (n_categories - 1) / 2


def fast_answers(times: ArrayLike, min_seconds: ArrayLike, observed: ArrayLike | None = None
                 ) -> NDArray[np.int64]:
    """How many observed answers of each person came faster than the item's minimum time.

    Missing times (NaN) count as not fast.

    Examples
    --------
    >>> fast_answers([[0.4, 5.0, 1.1], [3.0, 2.5, float("nan")]], [1.0, 2.0, 1.5]).tolist()
    [2, 0]
    """
    t, obs = _matrix(np.asarray(times, dtype=np.float64), observed, "times")
    limit = np.asarray(min_seconds, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return ((t < limit) & obs & np.isfinite(t)).sum(axis=1).astype(np.int64)
