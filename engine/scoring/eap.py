"""Expected a posteriori (EAP) scoring and the marginal likelihood on a quadrature grid."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import logsumexp

from engine.exceptions import InvalidParameterError
from engine.latent import LatentDistribution
from engine.models._base import Array, ItemSet
from engine.quadrature import Grid, equispaced_grid
from engine.scoring._responses import (
    check_responses,
    collapse_patterns,
    flat_log_prob,
    loglik_on_nodes,
)
from engine.scoring.result import AbilityEstimate

__all__ = ["eap", "marginal_loglik", "posterior_on_grid"]


def _prior_of(items: ItemSet, prior: LatentDistribution | None) -> LatentDistribution:
    if prior is None:
        prior = getattr(items, "latent", None) or LatentDistribution.standard(items.n_dims)
    if prior.n_dims != items.n_dims:
        raise InvalidParameterError(
            f"prior: the items measure {items.n_dims} factor(s); the prior has {prior.n_dims}"
        )
    return prior


def posterior_on_grid(
    items: ItemSet,
    responses: ArrayLike,
    observed: ArrayLike | None = None,
    *,
    grid: Grid,
    collapse: bool = True,
) -> tuple[Array, Array]:
    """Log posterior weights at the grid nodes and log marginal likelihood of each person.

    .. math::

        \\log\\pi_{pq} = \\ell_{pq} + \\log w_q - \\log\\sum_r e^{\\ell_{pr}} w_r,

    with :math:`\\ell_{pq}` the log-likelihood of person p's observed responses at node q.

    Returns
    -------
    log_post : ndarray, shape (n_persons, n_quad)
    log_marginal : ndarray, shape (n_persons,)
    """
    resp = check_responses(items, responses, observed)
    if grid.nodes.shape[1] != items.n_dims:
        raise InvalidParameterError(
            f"grid: nodes have {grid.nodes.shape[1]} dimension(s); the items {items.n_dims}"
        )
    lp = flat_log_prob(items, grid.nodes)
    if collapse and resp.x.shape[0] > 1:
        uniq, inverse, _ = collapse_patterns(resp)
        ll = loglik_on_nodes(items, uniq, lp)
    else:
        inverse = None
        ll = loglik_on_nodes(items, resp, lp)
    ll += grid.log_weights[None, :]
    log_marg = logsumexp(ll, axis=1)
    ll -= log_marg[:, None]
    if inverse is not None:
        return ll[inverse], log_marg[inverse]
    return ll, log_marg


def marginal_loglik(
    items: ItemSet,
    responses: ArrayLike,
    observed: ArrayLike | None = None,
    *,
    latent: LatentDistribution | None = None,
    n_points: int = 61,
    bounds: tuple[float, float] = (-6.0, 6.0),
) -> float:
    """Marginal log-likelihood of a response matrix on an equispaced grid (mirt's ``logLik``).

    .. math:: \\log L = \\sum_p \\log \\sum_q w_q \\prod_i P_i(x_{pi}\\mid\\theta_q)^{o_{pi}}

    with :math:`w_q` the normalised latent density (Bock & Aitkin 1981). mirt uses 61 nodes on
    [−6, 6] for a unidimensional calibration.

    Examples
    --------
    >>> from engine.models import TwoPL
    >>> round(marginal_loglik(TwoPL([1.0], [0.0]), [[0], [1]]), 6)  # each pattern has P = 1/2
    -1.386294
    """
    prior = _prior_of(items, latent)
    grid = equispaced_grid(prior, n_points, bounds)
    _, log_marg = posterior_on_grid(items, responses, observed, grid=grid)
    return float(log_marg.sum())


def eap(
    items: ItemSet,
    responses: ArrayLike,
    observed: ArrayLike | None = None,
    *,
    prior: LatentDistribution | None = None,
    n_points: int = 121,
    bounds: tuple[float, float] = (-6.0, 6.0),
) -> AbilityEstimate:
    """Expected a posteriori estimates and posterior standard deviations.

    .. math::

        \\hat\\theta_p = \\sum_q \\theta_q\\,\\pi_{pq}, \\qquad
        \\mathrm{SD}_p^2 = \\sum_q (\\theta_q - \\hat\\theta_p)^2\\,\\pi_{pq}

    on an equispaced (product) grid (Bock & Mislevy 1982). mirt scores on 121 nodes on [−6, 6].

    Parameters
    ----------
    items : ItemSet
        A model or an :class:`~engine.bank.ItemBank` (mixed models are scored in one call).
    responses : array_like, shape (n_persons, n_items)
        Categories ``0 … K_i − 1``.
    observed : array_like of bool, optional
        Missing-data mask (True = answered).
    prior : LatentDistribution, optional
        The prior; the bank's latent distribution, or N(0, I), when omitted.
    n_points : int
        Nodes per dimension (product grid; keep ``n_points ** n_dims`` moderate for 3–4 factors).
    bounds : (float, float)
        Grid interval in every dimension.

    Returns
    -------
    AbilityEstimate
        With the posterior covariance in ``cov`` for several factors. A person with no
        observed response gets the prior mean and SD (status ``"no_responses"``).

    Examples
    --------
    >>> from engine.models import TwoPL
    >>> est = eap(TwoPL([1.0, 1.0], [0.0, 0.0]), [[1, 1], [0, 0]])
    >>> bool(est.theta[0] > 0 > est.theta[1]), bool(np.isclose(est.theta[0], -est.theta[1]))
    (True, True)
    """
    prior = _prior_of(items, prior)
    if prior.n_dims > 4 and n_points ** prior.n_dims > 5_000_000:
        raise InvalidParameterError("eap: product grids are limited to 4 factors; use map")
    grid = equispaced_grid(prior, n_points, bounds)
    log_post, _ = posterior_on_grid(items, responses, observed, grid=grid)
    post = np.exp(log_post)
    nodes = grid.nodes
    mean = post @ nodes  # (n, d)
    d = nodes.shape[1]
    cov = np.empty((mean.shape[0], d, d))
    for j in range(d):  # a few factors at most
        dev_j = nodes[None, :, j] - mean[:, j : j + 1]
        for k in range(j, d):
            dev_k = nodes[None, :, k] - mean[:, k : k + 1]
            cov[:, j, k] = cov[:, k, j] = (post * dev_j * dev_k).sum(axis=1)
    se = np.sqrt(np.einsum("njj->nj", cov))
    resp_obs = check_responses(items, responses, observed).observed
    status = np.where(resp_obs.any(axis=1), "ok", "no_responses")
    if d == 1:
        return AbilityEstimate(mean[:, 0], se[:, 0], "eap", status, prior.factor_names)
    return AbilityEstimate(mean, se, "eap", status, prior.factor_names, cov=cov)
