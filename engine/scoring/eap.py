"""Expected a posteriori (EAP) scoring and the marginal likelihood on a quadrature grid."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qabilet.engine._parallel import run_blocks
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.latent import LatentDistribution
from qabilet.engine.likelihood import (
    Responses,
    check_responses,
    collapse_patterns,
    flat_log_prob,
    log_normalise,
    loglik_blocks,
)
from qabilet.engine.models._base import Array, ItemSet
from qabilet.engine.quadrature import Grid, equispaced_grid
from qabilet.engine.scoring.result import AbilityEstimate

__all__ = ["EAP_POINTS", "eap", "marginal_loglik", "posterior_on_grid"]

#: default nodes per dimension of the EAP product grid, by number of factors
EAP_POINTS = {1: 121, 2: 41, 3: 21, 4: 13}


def _prior_of(items: ItemSet, prior: LatentDistribution | None) -> LatentDistribution:
    if prior is None:
        prior = getattr(items, "latent", None) or LatentDistribution.standard(items.n_dims)
    if prior.n_dims != items.n_dims:
        raise InvalidParameterError(
            f"prior: the items measure {items.n_dims} factor(s); the prior has {prior.n_dims}"
        )
    return prior


def _posterior_blocks(
    items: ItemSet, resp: Responses, grid: Grid, collapse: bool = True
) -> tuple[Iterator[tuple[slice, Array, Array]], NDArray[np.intp] | None, int]:
    """Posterior weights and log marginal likelihoods, block by block of distinct patterns.

    Returns ``(blocks, inverse, n_rows)``: ``blocks`` yields ``(rows, post, log_marginal)``
    (``post`` is a reused buffer); rows index distinct patterns when ``inverse`` is not None.
    """
    if grid.nodes.shape[1] != items.n_dims:
        raise InvalidParameterError(
            f"grid: nodes have {grid.nodes.shape[1]} dimension(s); the items {items.n_dims}"
        )
    lp = flat_log_prob(items, grid.nodes)
    inverse = None
    collapsed = collapse_patterns(resp, 0.5) if collapse and resp.x.shape[0] > 1 else None
    if collapsed is not None:
        resp, inverse, _ = collapsed

    def blocks() -> Iterator[tuple[slice, Array, Array]]:
        for rows, ll in loglik_blocks(items, resp, lp):
            ll += grid.log_weights[None, :]
            log_marg = log_normalise(ll)
            yield rows, ll, log_marg

    return blocks(), inverse, resp.x.shape[0]


def _eap_moments(items: ItemSet, resp: Responses, grid: Grid) -> tuple[Array, Array]:
    """Posterior means and covariances, block-parallel.

    Per block of persons: the log-likelihood at every node as one matrix product per category
    (the indicator of "answered k" times log P(k)), the prior added, a max-shift and ``exp`` in
    place, then all moments in one product with the basis :math:`[1, \\theta_j,
    \\theta_j\\theta_k]`: :math:`\\mathrm{E}[\\theta] = S_1/S_0`,
    :math:`\\mathrm{Cov} = S_2/S_0 - \\mathrm{E}\\,\\mathrm{E}^\\top`.
    """
    nodes = grid.nodes
    n_quad, d = nodes.shape
    if grid.nodes.shape[1] != items.n_dims:
        raise InvalidParameterError(
            f"grid: nodes have {grid.nodes.shape[1]} dimension(s); the items {items.n_dims}"
        )
    (log_p,) = items._kernel(nodes @ items.slopes.T, 0)  # (Q, I, K)
    log_p = np.where(np.isfinite(log_p), log_p, 0.0)  # padding is never selected
    linear, alpha, delta = items._linear_logits()
    other = np.flatnonzero(~linear)
    lin = np.flatnonzero(linear)
    # linear items: Σ_i log P_i0(θ) + (Σ_i α_{i,x} a_i)·θ + Σ_i δ_{i,x}; others: one product per
    # category of the indicator of "answered k" with log P(k)
    base = np.ascontiguousarray(log_p[:, lin, 0].T)
    # per category k ≥ 1: the columns [α_k a (d of them), δ_k] whose sum gives the statistics
    stats = [
        np.column_stack([alpha[lin, k : k + 1] * items.slopes[lin], delta[lin, k]])
        for k in range(1, items.max_categories)
    ]
    per_cat = [np.ascontiguousarray(log_p[:, other, k].T) for k in range(items.max_categories)]
    pairs = [(j, k) for j in range(d) for k in range(j, d)]
    basis = np.column_stack(
        [np.ones(n_quad), nodes] + [nodes[:, j] * nodes[:, k] for j, k in pairs]
    )
    n = resp.x.shape[0]
    sums = np.empty((n, basis.shape[1]))
    log_w = grid.log_weights
    lin_basis = np.vstack([nodes.T, np.ones((1, n_quad)), log_w[None, :]])

    def work(start: int, stop: int) -> None:
        x, o = resp.x[start:stop], resp.observed[start:stop]
        ll = np.empty((stop - start, n_quad))
        if lin.size:
            xl, ol = x[:, lin], o[:, lin]
            np.matmul(ol.astype(np.float64), base, out=ll)
            suff = sum(((xl == k + 1) & ol).astype(np.float64) @ m for k, m in enumerate(stats))
            # rank-(d+1) update: θ·Σα a + Σδ + log prior, in one product
            ll += np.column_stack([suff, np.ones(stop - start)]) @ lin_basis
        else:
            ll[:] = log_w
        if other.size:
            xo, oo = x[:, other], o[:, other]
            for k, table in enumerate(per_cat):
                ll += ((xo == k) & oo).astype(np.float64) @ table
        ll -= ll.max(axis=1, keepdims=True)
        np.exp(ll, out=ll)
        np.matmul(ll, basis, out=sums[start:stop])

    block = max(64, 256_000 // max(n_quad, 1))  # ~2 MB of work rows (measured best here)
    run_blocks(work, n, block)
    mean = sums[:, 1 : 1 + d] / sums[:, :1]
    second = sums[:, 1 + d :] / sums[:, :1]
    cov = np.empty((n, d, d))
    for c, (j, k) in enumerate(pairs):  # a few factors at most
        cov[:, j, k] = cov[:, k, j] = second[:, c] - mean[:, j] * mean[:, k]
    return mean, cov


def posterior_on_grid(
    items: ItemSet,
    responses: ArrayLike,
    observed: ArrayLike | None = None,
    *,
    grid: Grid,
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
    blocks, inverse, n_rows = _posterior_blocks(items, resp, grid)
    log_post, log_marg = np.empty((n_rows, grid.n_quad)), np.empty(n_rows)
    with np.errstate(divide="ignore"):
        for rows, post, lm in blocks:
            log_post[rows], log_marg[rows] = np.log(post), lm
    if inverse is not None:
        return log_post[inverse], log_marg[inverse]
    return log_post, log_marg


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
    >>> from qabilet.engine.models import TwoPL
    >>> round(marginal_loglik(TwoPL([1.0], [0.0]), [[0], [1]]), 6)  # each pattern has P = 1/2
    -1.386294
    """
    prior = _prior_of(items, latent)
    grid = equispaced_grid(prior, n_points, bounds)
    resp = check_responses(items, responses, observed)
    blocks, inverse, n_rows = _posterior_blocks(items, resp, grid)
    log_marg = np.empty(n_rows)
    for rows, _, lm in blocks:
        log_marg[rows] = lm
    if inverse is not None:
        return float(np.bincount(inverse, minlength=log_marg.size) @ log_marg)
    return float(log_marg.sum())


def eap(
    items: ItemSet,
    responses: ArrayLike,
    observed: ArrayLike | None = None,
    *,
    prior: LatentDistribution | None = None,
    n_points: int | None = None,
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
        A model or an :class:`~qabilet.engine.bank.ItemBank` (mixed models are scored in one call).
    responses : array_like, shape (n_persons, n_items)
        Categories ``0 … K_i − 1``.
    observed : array_like of bool, optional
        Missing-data mask (True = answered).
    prior : LatentDistribution, optional
        The prior; the bank's latent distribution, or N(0, I), when omitted.
    n_points : int, optional
        Nodes per dimension of the product grid. Default: :data:`EAP_POINTS` by number of
        factors — 121 for one (mirt's scoring grid), 41, 21 and 13 for two to four.
    bounds : (float, float)
        Grid interval in every dimension.

    Returns
    -------
    AbilityEstimate
        With the posterior covariance in ``cov`` for several factors. A person with no
        observed response gets the prior mean and SD (status ``"no_responses"``).

    Examples
    --------
    >>> from qabilet.engine.models import TwoPL
    >>> est = eap(TwoPL([1.0, 1.0], [0.0, 0.0]), [[1, 1], [0, 0]])
    >>> bool(est.theta[0] > 0 > est.theta[1]), bool(np.isclose(est.theta[0], -est.theta[1]))
    (True, True)
    """
    prior = _prior_of(items, prior)
    if n_points is None:
        if prior.n_dims not in EAP_POINTS:
            raise InvalidParameterError(
                f"eap: product grids are offered up to 4 factors; got {prior.n_dims} (use map)"
            )
        n_points = EAP_POINTS[prior.n_dims]
    grid = equispaced_grid(prior, n_points, bounds)
    resp = check_responses(items, responses, observed)
    collapsed = collapse_patterns(resp, max_unique_fraction=0.5)
    target = collapsed[0] if collapsed is not None else resp
    mean, cov = _eap_moments(items, target, grid)
    if collapsed is not None:
        mean, cov = mean[collapsed[1]], cov[collapsed[1]]
    se = np.sqrt(np.maximum(np.einsum("njj->nj", cov), 0.0))  # cancellation can give −1e−17
    status = np.where(resp.observed.any(axis=1), "ok", "no_responses")
    if prior.n_dims == 1:
        return AbilityEstimate(mean[:, 0], se[:, 0], "eap", status, prior.factor_names)
    return AbilityEstimate(mean, se, "eap", status, prior.factor_names, cov=cov)
