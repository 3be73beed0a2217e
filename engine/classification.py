"""Classification accuracy and consistency of bands cut on the trait scale.

A band is the interval between two consecutive cut scores :math:`c_1 < \\dots < c_{K-1}`
(with :math:`c_0 = -\\infty`, :math:`c_K = \\infty`). Two questions about any rule that states
bands (a profile, a classification stop): how often is the stated band the candidate's true one
(**accuracy**), and how often would two independent measurements of the same candidate state the
same band (**consistency**)? Three estimates, each from what is at hand:

* :func:`rudner` — from the persons' estimates and standard errors alone (Rudner 2001, 2005,
  his "P" method): each person's true θ is taken as :math:`N(\\hat\\theta_j, s_j^2)`, so the
  probability of band k is :math:`p_{jk} = \\Phi((c_k - \\hat\\theta_j)/s_j) -
  \\Phi((c_{k-1} - \\hat\\theta_j)/s_j)`; accuracy is the mean of :math:`p_{j,\\hat k_j}` over the
  persons whose band :math:`\\hat k_j` was stated, consistency the mean of
  :math:`\\sum_k p_{jk}^2`. It works for adaptive tests, where every candidate has other items.
* :func:`rudner_at_nodes` — the same at quadrature nodes of the population (Rudner's "D"
  method): at true :math:`\\theta_q` the estimate is :math:`N(\\theta_q, \\mathrm{SEM}(\\theta_q)^2)`,
  accuracy :math:`\\sum_q w_q p_{q,k(\\theta_q)}`, consistency :math:`\\sum_q w_q\\sum_k p_{qk}^2`.
* :func:`lee` — a fixed form scored by its summed score (Lee 2010, *J. Educ. Meas.* 47:1–17):
  the exact distribution of the summed score at each node (Lord–Wingersky), each score's band
  from its EAP, then accuracy :math:`\\sum_q w_q P(\\text{band}(X) = k(\\theta_q)\\mid\\theta_q)`
  and consistency :math:`\\sum_q w_q\\sum_k P(\\text{band}(X) = k\\mid\\theta_q)^2`.

With true values known (a simulation), :func:`observed_accuracy` counts the stated bands that
are right. References: L. M. Rudner, *Computing the expected proportions of misclassified
examinees*, PARE 7(14), 2001; *Expected classification accuracy*, PARE 10(13), 2005.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.latent import LatentDistribution
from qabilet.engine.models._base import Array, ItemSet
from qabilet.engine.scoring.sum_score import summed_score_distribution

__all__ = ["Classification", "band_of", "band_probabilities", "lee", "observed_accuracy",
           "rudner", "rudner_at_nodes"]


@dataclass(frozen=True, slots=True, eq=False)
class Classification:
    """Accuracy and consistency of stated bands.

    Attributes
    ----------
    accuracy : float
        Expected share of stated bands that are the true band.
    consistency : float
        Expected share of candidates whom two independent measurements put in the same band.
    confusion : ndarray, shape (n_bands, n_bands)
        Expected shares by true band (rows) and stated band (columns), over the stated ones;
        they sum to 1.
    stated : float
        Share of candidates whose band was stated (1 unless a rule withheld some).
    method : str
        ``"rudner"``, ``"rudner-nodes"``, ``"lee"`` or ``"observed"``.
    """

    accuracy: float
    consistency: float
    confusion: Array
    stated: float
    method: str

    def to_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        return {"method": self.method, "accuracy": self.accuracy,
                "consistency": None if np.isnan(self.consistency) else self.consistency,
                "stated": self.stated, "confusion": self.confusion.tolist()}


def _cuts(cuts: ArrayLike) -> Array:
    c = np.atleast_1d(np.asarray(cuts, dtype=np.float64))
    if c.ndim != 1 or c.size == 0 or not np.all(np.isfinite(c)) or np.any(np.diff(c) <= 0):
        raise InvalidParameterError(f"cuts: expected finite, strictly increasing cut scores; got "
                                    f"{np.asarray(cuts).tolist()}")
    return c


def band_of(theta: ArrayLike, cuts: ArrayLike) -> NDArray[np.intp]:
    """The band of each value: how many cut scores it lies at or above.

    Examples
    --------
    >>> band_of([-1.0, -0.67, 0.0, 2.0], [-0.67, 0.67]).tolist()
    [0, 1, 1, 2]
    """
    return np.searchsorted(_cuts(cuts), np.asarray(theta, dtype=np.float64), side="right")


def band_probabilities(theta: ArrayLike, se: ArrayLike, cuts: ArrayLike) -> Array:
    """:math:`P(\\text{band } k)` for a trait distributed :math:`N(\\theta, s^2)`, shape (n, K).

    Examples
    --------
    >>> band_probabilities([0.0], [1.0], [0.0]).round(3).tolist()
    [[0.5, 0.5]]
    """
    t, s = np.broadcast_arrays(np.asarray(theta, dtype=np.float64),
                               np.asarray(se, dtype=np.float64))
    if t.ndim != 1 or not (np.all(np.isfinite(t)) and np.all(np.isfinite(s)) and np.all(s > 0)):
        raise InvalidParameterError("theta, se: expected one finite estimate and one positive "
                                    "standard error per person")
    edges = ndtr((_cuts(cuts)[None, :] - t[:, None]) / s[:, None])  # P(θ < c_k)
    below = np.hstack([np.zeros((t.size, 1)), edges, np.ones((t.size, 1))])
    return np.diff(below, axis=1)


def _summary(prob_true: Array, stated_band: NDArray[np.intp], stated: NDArray[np.bool_],
             weights: Array, consistency: float, method: str) -> Classification:
    """Accuracy and confusion from each case's band probabilities and its stated band."""
    w = weights * stated
    total = float(w.sum())
    if total <= 0:
        raise InvalidParameterError("no band was stated: accuracy is undefined")
    n_bands = prob_true.shape[1]
    confusion = np.zeros((n_bands, n_bands))
    np.add.at(confusion.T, stated_band[stated], (prob_true * w[:, None])[stated])
    confusion /= total
    return Classification(accuracy=float(np.trace(confusion)), consistency=consistency,
                          confusion=confusion, stated=total / float(weights.sum()),
                          method=method)


def rudner(theta: ArrayLike, se: ArrayLike, cuts: ArrayLike, *,
           stated_band: ArrayLike | None = None) -> Classification:
    """Expected accuracy and consistency from estimates and standard errors (Rudner's P method).

    Parameters
    ----------
    theta, se : array_like, shape (n,)
        Each person's estimate and its standard error (posterior mean and SD for EAP).
    cuts : array_like
        The cut scores, increasing.
    stated_band : array_like of int, shape (n,), optional
        The band each person was given, −1 where it was withheld; by default the band of the
        estimate for everyone.

    Examples
    --------
    By hand: the three persons' stated bands have probabilities Φ(5/3) = 0.9522,
    Φ(4/3) − Φ(−2) = 0.8860 and Φ(7/3) = 0.9902; the mean is the accuracy.

    >>> r = rudner([-1.0, 0.1, 1.2], [0.3, 0.3, 0.3], [-0.5, 0.5])
    >>> round(r.accuracy, 3), round(r.consistency, 3)
    (0.943, 0.894)
    """
    t = np.asarray(theta, dtype=np.float64)
    probs = band_probabilities(t, se, cuts)
    band = band_of(t, cuts) if stated_band is None else np.asarray(stated_band, dtype=np.intp)
    if band.shape != t.shape or np.any(band >= probs.shape[1]) or np.any(band < -1):
        raise InvalidParameterError(f"stated_band: expected one band in 0..{probs.shape[1] - 1} "
                                    "(or −1, withheld) per person")
    stated = band >= 0
    consistency = float(np.mean(np.sum(probs ** 2, axis=1)[stated])) if stated.any() else np.nan
    return _summary(probs, np.maximum(band, 0), stated, np.ones(t.size), consistency, "rudner")


def rudner_at_nodes(nodes: ArrayLike, weights: ArrayLike, sem: ArrayLike,
                    cuts: ArrayLike) -> Classification:
    """Expected accuracy and consistency over a population (Rudner's D method).

    Parameters
    ----------
    nodes, weights : array_like, shape (Q,)
        The population's θ distribution on nodes (weights normalised here).
    sem : array_like, shape (Q,)
        The standard error of measurement at each node (e.g. :math:`1/\\sqrt{I(\\theta)}`).
    cuts : array_like

    Examples
    --------
    >>> r = rudner_at_nodes([-1.0, 1.0], [0.5, 0.5], [0.5, 0.5], [0.0])
    >>> round(r.accuracy, 4), round(r.consistency, 4)
    (0.9772, 0.9555)
    """
    q = np.asarray(nodes, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != q.shape or np.any(w < 0) or not w.sum() > 0:
        raise InvalidParameterError("weights: expected one non-negative weight per node")
    w = w / w.sum()
    probs = band_probabilities(q, sem, cuts)  # the estimate's band at each true θ
    true = band_of(q, cuts)
    n_bands = probs.shape[1]
    confusion = np.zeros((n_bands, n_bands))
    np.add.at(confusion, true, probs * w[:, None])
    return Classification(accuracy=float(np.trace(confusion)),
                          consistency=float(w @ np.sum(probs ** 2, axis=1)),
                          confusion=confusion, stated=1.0, method="rudner-nodes")


def lee(items: ItemSet, cuts: ArrayLike, *, prior: LatentDistribution | None = None,
        n_points: int = 121, bounds: tuple[float, float] = (-6.0, 6.0)) -> Classification:
    """Accuracy and consistency of a fixed form scored by its summed score (Lee 2010).

    Each summed score s is given the band of its EAP; the Lord–Wingersky distribution of the
    summed score at each node gives :math:`P(\\text{band } k \\mid \\theta_q)`.

    Examples
    --------
    >>> from qabilet.engine.models import TwoPL
    >>> r = lee(TwoPL([1.5] * 20, np.linspace(-2, 2, 20)), [0.0])
    >>> 0.85 < r.accuracy < 0.95 and 0.8 < r.consistency < r.accuracy
    True
    """
    c = _cuts(cuts)
    dist, grid = summed_score_distribution(items, prior=prior, n_points=n_points, bounds=bounds)
    w = grid.weights
    joint = dist * w[:, None]
    eap = grid.nodes[:, 0] @ (joint / joint.sum(axis=0))
    score_band = band_of(eap, c)
    n_bands = c.size + 1
    by_band = np.zeros((dist.shape[0], n_bands))  # P(band of X = k | θ_q)
    np.add.at(by_band.T, score_band, dist.T)
    true = band_of(grid.nodes[:, 0], c)
    confusion = np.zeros((n_bands, n_bands))
    np.add.at(confusion, true, by_band * w[:, None])
    return Classification(accuracy=float(np.trace(confusion)),
                          consistency=float(w @ np.sum(by_band ** 2, axis=1)),
                          confusion=confusion, stated=1.0, method="lee")


def observed_accuracy(true_theta: ArrayLike, stated_band: ArrayLike,
                      cuts: ArrayLike) -> Classification:
    """The share of stated bands that are the true one, with true values known (a simulation).

    ``stated_band`` is −1 where no band was stated. Consistency needs two measurements of each
    person and is NaN here.

    Examples
    --------
    >>> observed_accuracy([-1.0, 0.2, 0.9, 1.5], [0, 1, 1, -1], [0.0, 1.0]).accuracy
    1.0
    """
    true = band_of(true_theta, cuts)
    band = np.asarray(stated_band, dtype=np.intp)
    n_bands = np.asarray(cuts).size + 1
    if band.shape != true.shape or np.any(band >= n_bands) or np.any(band < -1):
        raise InvalidParameterError(f"stated_band: expected one band in 0..{n_bands - 1} (or −1, "
                                    "withheld) per person")
    onehot = np.eye(n_bands)[true]
    return _summary(onehot, np.maximum(band, 0), band >= 0, np.ones(true.size), np.nan,
                    "observed")
