"""Summed-score tables: the Lord–Wingersky recursion and EAP by summed score."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qabilet.engine.exceptions import InvalidParameterError, InvalidResponseError
from qabilet.engine.latent import LatentDistribution
from qabilet.engine.models._base import ItemSet
from qabilet.engine.quadrature import Grid, equispaced_grid
from qabilet.engine.scoring.eap import _prior_of

__all__ = ["SumScoreTable", "summed_score_distribution", "summed_score_table"]


@dataclass(frozen=True, slots=True, eq=False)
class SumScoreTable:
    """EAP estimates and probabilities of each summed score.

    Attributes
    ----------
    scores : ndarray of int, shape (n_scores,)
        ``0 … Σ_i (K_i − 1)``.
    probability : ndarray, shape (n_scores,)
        Marginal probability of each summed score under the latent distribution.
    theta : ndarray, shape (n_scores,)
        EAP of θ given the summed score.
    se : ndarray, shape (n_scores,)
        Posterior SD given the summed score.
    """

    scores: NDArray[np.int64]
    probability: NDArray[np.float64]
    theta: NDArray[np.float64]
    se: NDArray[np.float64]

    def lookup(self, summed: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """EAP and SD for each summed score in ``summed``."""
        s = np.asarray(summed)
        if np.any((s < 0) | (s > self.scores[-1])) or not np.all(s == np.round(s)):
            raise InvalidResponseError(
                f"summed: expected integer scores in 0..{int(self.scores[-1])}"
            )
        s = s.astype(np.intp)
        return self.theta[s], self.se[s]

    def summary(self) -> str:
        """The table as aligned text."""
        rows = ["score  probability      theta         se"]
        rows += [
            f"{s:5d}  {p:11.6f}  {t:9.4f}  {e:9.4f}"
            for s, p, t, e in zip(self.scores, self.probability, self.theta, self.se)
        ]
        return "\n".join(rows)


def summed_score_distribution(
    items: ItemSet,
    *,
    prior: LatentDistribution | None = None,
    n_points: int = 121,
    bounds: tuple[float, float] = (-6.0, 6.0),
) -> tuple[NDArray[np.float64], Grid]:
    """The distribution of the summed score at each node (Lord & Wingersky 1984).

    .. math:: L^{(i)}_{s}(\\theta) = \\sum_k L^{(i-1)}_{s-k}(\\theta)\\,P_i(k\\mid\\theta),

    adding one item at a time from :math:`L^{(0)}_0 = 1`.

    Returns
    -------
    dist : ndarray, shape (n_points, max_score + 1)
        :math:`P(S = s \\mid \\theta_q)`; each row sums to 1.
    grid : Grid
        The nodes and the prior's weights on them.

    Examples
    --------
    >>> from qabilet.engine.models import Rasch
    >>> dist, grid = summed_score_distribution(Rasch([0.0, 0.0]), n_points=3)
    >>> dist[1].round(3).tolist()  # at θ = 0: scores 0, 1, 2
    [0.25, 0.5, 0.25]
    """
    if items.n_dims != 1:
        raise InvalidParameterError("summed scores: need a unidimensional test")
    grid = equispaced_grid(_prior_of(items, prior), n_points, bounds)
    p = items.prob(grid.nodes[:, 0])  # (Q, I, K)
    max_score = int((items.n_categories - 1).sum())
    dist = np.zeros((grid.n_quad, max_score + 1))
    dist[:, 0] = 1.0
    top = 0
    for i in range(items.n_items):  # the recursion runs over items; nodes and scores are vectors
        k_i = int(items.n_categories[i])
        new = np.zeros_like(dist)
        for k in range(k_i):
            new[:, k : top + k + 1] += dist[:, : top + 1] * p[:, i, k : k + 1]
        dist, top = new, top + k_i - 1
    return dist, grid


def summed_score_table(
    items: ItemSet,
    *,
    prior: LatentDistribution | None = None,
    n_points: int = 121,
    bounds: tuple[float, float] = (-6.0, 6.0),
) -> SumScoreTable:
    """EAP-by-summed-score table of a unidimensional test (Thissen et al. 1995).

    The likelihood of each summed score at every node comes from the Lord & Wingersky (1984)
    recursion, adding one item at a time:

    .. math:: L^{(i)}_{s}(\\theta) = \\sum_k L^{(i-1)}_{s-k}(\\theta)\\,P_i(k\\mid\\theta),

    then :math:`P(S = s) = \\sum_q L_s(\\theta_q) w_q` and the EAP and SD of θ given s.

    Examples
    --------
    >>> from qabilet.engine.models import Rasch
    >>> t = summed_score_table(Rasch([0.0, 0.0]))
    >>> bool(np.isclose(t.theta[0], -t.theta[2])), round(float(t.probability.sum()), 12)
    (True, 1.0)
    """
    dist, grid = summed_score_distribution(items, prior=prior, n_points=n_points, bounds=bounds)
    max_score = dist.shape[1] - 1
    joint = dist * grid.weights[:, None]  # (Q, S)
    prob = joint.sum(axis=0)
    post = joint / prob[None, :]
    nodes = grid.nodes[:, 0]
    theta = nodes @ post
    se = np.sqrt(((nodes[:, None] - theta[None, :]) ** 2 * post).sum(axis=0))
    return SumScoreTable(np.arange(max_score + 1), prob, theta, se)
