"""Profile arithmetic: a trait estimate and its posterior against a norm group.

A candidate's result on one dimension is the posterior of θ, summarised by its mean
:math:`\\hat\\theta` (EAP) and standard deviation :math:`s`, and read here as the normal
:math:`N(\\hat\\theta, s^2)`. The norm group of the candidate's position level is a normal
:math:`N(\\mu, \\sigma^2)` on the same latent scale (docs/design.md §3: norms live on the latent scale,
so a shorter or longer adaptive test does not shift them), with :math:`z = (\\theta - \\mu)/\\sigma`:

* **percentile** :math:`100\\,\\Phi(z)` — the share of the norm group below θ;
* **T-score** :math:`50 + 10 z`;
* **sten** (standard ten, Canfield 1951): ten half-SD bands centred on the mean (5.5),
  :math:`\\mathrm{sten} = \\min(10, \\max(1, \\lfloor 2z \\rfloor + 6))` — sten 5 is
  :math:`-0.5 \\le z < 0`, sten 6 is :math:`0 \\le z < 0.5`, sten 1 is :math:`z < -2`, sten 10 is
  :math:`z \\ge 2`.

Each score has the interval that the central ``level`` (default 90 %) posterior interval of θ,
:math:`\\hat\\theta \\pm z_{(1+\\ell)/2}\\, s`, maps to (every conversion is increasing in θ).

**Bands.** With cut scores :math:`c_1 < c_2` on the latent scale, the posterior probabilities of
the three bands are :math:`\\Phi((c_1 - \\hat\\theta)/s)` (development area),
:math:`\\Phi((c_2 - \\hat\\theta)/s) - \\Phi((c_1 - \\hat\\theta)/s)` (meets the level) and
:math:`1 - \\Phi((c_2 - \\hat\\theta)/s)` (strength). The band stated is the one whose probability
reaches ``min_confidence``; when none does, or when :math:`s` exceeds ``max_sd``, the band is
withheld — the measurement cannot tell.

**A group's bands.** Of :math:`n` profiles, :math:`k` state a band; its share :math:`k/n` is
given with Wilson's score interval (Wilson 1927), which stays inside [0, 1] and keeps close to
its coverage at small :math:`n` and shares near 0 or 1, where the normal approximation does not
(Brown, Cai & DasGupta 2001):

.. math:: \\frac{\\hat p + \\frac{z^2}{2n} \\pm z\\sqrt{\\frac{\\hat p(1-\\hat p)}{n}
          + \\frac{z^2}{4n^2}}}{1 + \\frac{z^2}{n}}.

**Reliability** of one measurement: :math:`1 - s^2/\\sigma_\\theta^2`, the share of the
population's variance that the measurement resolves (conditional reliability; Green, Bock,
Humphreys, Linn & Reckase 1984).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr, ndtri

from qabilet.engine.exceptions import InvalidParameterError

__all__ = [
    "BANDS",
    "BandDecision",
    "BandShares",
    "NormScores",
    "band_decision",
    "band_shares",
    "conditional_reliability",
    "norm_scores",
    "sten",
    "wilson_interval",
]

Array = NDArray[np.float64]

#: the three bands, lowest first
BANDS = ("development", "meets", "strength")


@dataclass(frozen=True, slots=True)
class NormScores:
    """Norm-referenced scores with their posterior intervals (arrays shaped like θ).

    Attributes
    ----------
    z : ndarray
        :math:`(\\hat\\theta - \\mu)/\\sigma`.
    percentile, percentile_low, percentile_high : ndarray
        :math:`100\\Phi(z)` and its interval.
    t_score, t_low, t_high : ndarray
        :math:`50 + 10z` and its interval.
    sten, sten_low, sten_high : ndarray of int
        The sten and the stens of the interval's ends.
    level : float
        Coverage of the intervals.
    """

    z: Array
    percentile: Array
    percentile_low: Array
    percentile_high: Array
    t_score: Array
    t_low: Array
    t_high: Array
    sten: NDArray[np.int64]
    sten_low: NDArray[np.int64]
    sten_high: NDArray[np.int64]
    level: float


@dataclass(frozen=True, slots=True)
class BandDecision:
    """The band of each estimate, its posterior probability, or why it is withheld.

    Attributes
    ----------
    band : ndarray of str
        ``development``, ``meets``, ``strength``, or ``""`` when withheld.
    probability : ndarray
        The stated band's posterior probability (the largest one when withheld).
    probabilities : ndarray, shape (..., 3)
        Posterior probability of each band, in :data:`BANDS` order.
    withheld : ndarray of str
        ``""``, ``"imprecise"`` (posterior SD above ``max_sd``) or ``"uncertain"`` (no band
        reaches ``min_confidence``).
    """

    band: NDArray[np.str_]
    probability: Array
    probabilities: Array
    withheld: NDArray[np.str_]


def _as_arrays(theta: ArrayLike, sd: ArrayLike) -> tuple[Array, Array]:
    t = np.asarray(theta, dtype=np.float64)
    s = np.asarray(sd, dtype=np.float64)
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(s))):
        raise InvalidParameterError("theta, sd: expected finite numbers")
    if np.any(s <= 0):
        raise InvalidParameterError("sd: expected posterior standard deviations > 0")
    t_b, s_b = np.broadcast_arrays(t, s)
    return t_b, s_b


def sten(z: ArrayLike) -> NDArray[np.int64]:
    """The sten of standard scores ``z``: :math:`\\min(10, \\max(1, \\lfloor 2z \\rfloor + 6))`.

    Examples
    --------
    >>> sten([-2.1, -0.2, 0.0, 0.49, 2.0]).tolist()
    [1, 5, 6, 6, 10]
    """
    return np.clip(np.floor(2 * np.asarray(z, dtype=np.float64)) + 6, 1, 10).astype(np.int64)


def norm_scores(theta: ArrayLike, sd: ArrayLike, mean: float, norm_sd: float, *,
                level: float = 0.90) -> NormScores:
    """Percentile, T-score and sten of estimates against a norm group, with intervals.

    Parameters
    ----------
    theta, sd : array_like
        Posterior means and standard deviations.
    mean, norm_sd : float
        The norm group's latent distribution :math:`N(\\mu, \\sigma^2)`.
    level : float
        Coverage of the posterior interval.

    Examples
    --------
    >>> s = norm_scores(0.5, 0.3, mean=0.0, norm_sd=1.0)
    >>> round(float(s.percentile), 1), float(s.t_score), int(s.sten)
    (69.1, 55.0, 7)
    >>> round(float(s.percentile_low), 1), round(float(s.percentile_high), 1)
    (50.3, 84.0)
    """
    t, s = _as_arrays(theta, sd)
    if not norm_sd > 0:
        raise InvalidParameterError(f"norm_sd: expected > 0; got {norm_sd}")
    if not 0 < level < 1:
        raise InvalidParameterError(f"level: expected a coverage in (0, 1); got {level}")
    half = ndtri((1 + level) / 2) * s
    z, z_lo, z_hi = ((x - mean) / norm_sd for x in (t, t - half, t + half))
    return NormScores(
        z=z, percentile=100 * ndtr(z), percentile_low=100 * ndtr(z_lo),
        percentile_high=100 * ndtr(z_hi), t_score=50 + 10 * z, t_low=50 + 10 * z_lo,
        t_high=50 + 10 * z_hi, sten=sten(z), sten_low=sten(z_lo), sten_high=sten(z_hi),
        level=float(level))


def band_decision(theta: ArrayLike, sd: ArrayLike, cuts: tuple[float, float], *,
                  min_confidence: float = 0.70, max_sd: float = 0.60) -> BandDecision:
    """The band of each estimate by its posterior probability (see the module docstring).

    Examples
    --------
    >>> d = band_decision([1.2, 0.7, -1.5], 0.3, cuts=(-0.67, 0.67))
    >>> d.band.tolist(), d.withheld.tolist()
    (['strength', '', 'development'], ['', 'uncertain', ''])
    >>> round(float(d.probability[0]), 3)
    0.961
    """
    t, s = _as_arrays(theta, sd)
    lo, hi = (float(c) for c in cuts)
    if not lo < hi:
        raise InvalidParameterError(f"cuts: expected lower < upper; got {cuts}")
    if not 0.5 < min_confidence < 1:
        raise InvalidParameterError(f"min_confidence: expected a probability in (0.5, 1); got "
                                    f"{min_confidence}")
    below = ndtr((lo - t) / s)
    above = 1 - ndtr((hi - t) / s)
    probs = np.stack([below, np.clip(1 - below - above, 0.0, 1.0), above], axis=-1)
    best = probs.argmax(axis=-1)
    p = np.take_along_axis(probs, best[..., None], axis=-1)[..., 0]
    withheld = np.where(s > max_sd, "imprecise", np.where(p < min_confidence, "uncertain", ""))
    band = np.where(withheld == "", np.asarray(BANDS)[best], "")
    return BandDecision(band=band, probability=p, probabilities=probs, withheld=withheld)


def wilson_interval(successes: ArrayLike, n: ArrayLike, *, level: float = 0.95
                    ) -> tuple[Array, Array]:
    """Wilson's score interval of the proportions ``successes / n`` (see the module docstring).

    Parameters
    ----------
    successes, n : array_like of int
        Counts, :math:`0 \\le k \\le n`, :math:`n \\ge 1` (broadcast together).
    level : float
        Coverage (95 %).

    Returns
    -------
    low, high : ndarray

    Examples
    --------
    >>> low, high = wilson_interval([0, 3, 10], 10)
    >>> low.round(3).tolist(), high.round(3).tolist()
    ([0.0, 0.108, 0.722], [0.278, 0.603, 1.0])
    """
    k = np.asarray(successes, dtype=np.float64)
    m = np.asarray(n, dtype=np.float64)
    if not (np.all(m >= 1) and np.all(k >= 0) and np.all(k <= m)):
        raise InvalidParameterError("successes, n: expected counts with 0 <= successes <= n and "
                                    "n >= 1")
    if not 0 < level < 1:
        raise InvalidParameterError(f"level: expected a coverage in (0, 1); got {level}")
    z = ndtri((1 + level) / 2)
    p = k / m
    centre = p + z * z / (2 * m)
    half = z * np.sqrt(p * (1 - p) / m + z * z / (4 * m * m))
    scale = 1 + z * z / m
    # the interval holds p̂ (the score statistic is 0 there): rounding at 0 and 1 is not let out
    low = np.clip(np.minimum((centre - half) / scale, p), 0.0, 1.0)
    return low, np.clip(np.maximum((centre + half) / scale, p), 0.0, 1.0)


@dataclass(frozen=True, slots=True)
class BandShares:
    """How many of a group's results are in each band, and the shares with their intervals.

    Each array has four entries: :data:`BANDS` in order, then the results whose band is withheld.

    Attributes
    ----------
    count : ndarray of int
    n : int
        Results in the group.
    share, low, high : ndarray
        ``count / n`` and its Wilson interval.
    level : float
        Coverage of the intervals.
    """

    count: NDArray[np.int64]
    n: int
    share: Array
    low: Array
    high: Array
    level: float


def band_shares(bands: ArrayLike, *, level: float = 0.95) -> BandShares:
    """The bands of a group's results counted, as shares with Wilson intervals.

    Parameters
    ----------
    bands : array_like of str
        Each result's band (one of :data:`BANDS`), or ``""`` (or None) where it is withheld.
    level : float
        Coverage of the intervals (95 %).

    Examples
    --------
    >>> s = band_shares(["meets", "meets", "strength", "", "development"])
    >>> s.count.tolist(), s.share.tolist()
    ([1, 2, 1, 1], [0.2, 0.4, 0.2, 0.2])
    """
    given = np.asarray([b or "" for b in np.asarray(bands, dtype=object).reshape(-1)], dtype=str)
    if given.size == 0:
        raise InvalidParameterError("bands: expected at least one result")
    kinds = np.asarray((*BANDS, ""))
    unknown = set(given.tolist()) - set(kinds.tolist())
    if unknown:
        raise InvalidParameterError(f"bands: expected {', '.join(BANDS)} or '' (withheld); got "
                                    f"{sorted(unknown)}")
    count = (given[:, None] == kinds[None, :]).sum(axis=0).astype(np.int64)
    low, high = wilson_interval(count, given.size, level=level)
    return BandShares(count=count, n=int(given.size), share=count / given.size, low=low, high=high,
                      level=float(level))


def conditional_reliability(sd: ArrayLike, population_variance: float = 1.0) -> Array:
    """:math:`1 - s^2/\\sigma_\\theta^2`, at least 0.

    Examples
    --------
    >>> conditional_reliability([0.3, 0.5]).round(2).tolist()
    [0.91, 0.75]
    """
    s = np.asarray(sd, dtype=np.float64)
    if not population_variance > 0:
        raise InvalidParameterError(f"population_variance: expected > 0; got {population_variance}")
    return np.maximum(1 - s**2 / population_variance, 0.0)
