"""Trait scores from forced-choice answers: MAP with the exact block likelihood, Laplace SEs.

The log posterior of a person's traits :math:`\\boldsymbol\\eta` given their answers is

.. math:: \\ell(\\boldsymbol\\eta) = \\sum_b \\log \\sum_{r \\in \\text{answer}_b}
          P(r \\mid \\boldsymbol\\eta) - \\tfrac12 \\boldsymbol\\eta^\\top \\Phi^{-1}
          \\boldsymbol\\eta + \\text{const},

with the blocks' exact ranking probabilities (:class:`~qabilet.engine.forced_choice.ThurstonianBlocks`)
and the traits' prior :math:`N(\\mathbf 0, \\Phi)` (unit variances, correlations :math:`\\Phi`).
Its gradient is analytic: a ranking's probability is an orthant probability of the utility
differences, whose derivative in their means is a density times a lower-dimensional
distribution function (:func:`~qabilet.engine.orthant.orthant_gradient`), and
:math:`\\partial t_s / \\partial\\eta_{\\tau(s)} = \\lambda_s`. The mode is found by Newton's method
for every person at once, the Hessian by central differences of the analytic gradient, each
step halved until the posterior rises. The standard errors are the Laplace approximation's,
:math:`\\sqrt{\\operatorname{diag}(-H^{-1})}` at the mode (Brown & Maydeu-Olivares 2011 score
with the same MAP; with the exact likelihood the block's comparisons are not counted as
independent evidence, so the SEs are not understated).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qabilet.engine.exceptions import InvalidParameterError, InvalidResponseError
from qabilet.engine.forced_choice import BlockResponses, Selection, ThurstonianBlocks
from qabilet.engine.orthant import orthant_gradient
from qabilet.engine.scoring.result import AbilityEstimate

__all__ = ["block_gradient", "block_map"]

Array = NDArray[np.float64]

#: the step of the central differences of the gradient that make the Hessian
_STEP = 1e-5


def block_gradient(model: ThurstonianBlocks, eta: ArrayLike, responses: BlockResponses,
                   selections: Sequence[Selection] | None = None) -> tuple[Array, Array]:
    """Each person's log-likelihood and its gradient in the traits.

    Parameters
    ----------
    eta : array_like, shape (n_persons, n_traits)
    responses : BlockResponses
    selections : sequence of Selection, optional
        ``model.selections(responses)``, when the caller holds it.

    Returns
    -------
    loglik : ndarray, shape (n_persons,)
    gradient : ndarray, shape (n_persons, n_traits)
    """
    e = np.asarray(eta, dtype=np.float64)
    d = model.design
    if e.ndim != 2 or responses.codes.shape != (e.shape[0], d.n_blocks):
        raise InvalidResponseError(f"eta, responses: expected (n_persons, {d.n_traits}) traits and "
                                   f"(n_persons, {d.n_blocks}) answers; got {e.shape} and "
                                   f"{responses.codes.shape}")
    chosen = model.selections(responses) if selections is None else selections
    utility = model.utility_means(e)
    loglik = np.zeros(e.shape[0])
    grad = np.zeros_like(e)
    for group, sel in zip(model.groups, chosen, strict=True):
        probs, mean, cov = model.selected_probabilities(utility, group, sel)  # (p, g, m)
        dmean = np.where(sel.valid[..., None], orthant_gradient(mean, cov), 0.0)  # (p, g, m, n-1)
        p = probs.sum(axis=-1)  # (p, g)
        dp = np.einsum("pgmk,pgmkn->pgn", dmean, group.diff[sel.rankings])  # ∂P/∂utility
        with np.errstate(divide="ignore", invalid="ignore"):
            loglik += np.sum(np.where(sel.answered, np.log(p), 0.0), axis=1)
            dlog = np.where(sel.answered[..., None], dp / p[..., None], 0.0)  # (p, g, n)
        # each statement's utility moves with its trait by its loading
        contributions = (dlog * model.lam[group.members]).reshape(e.shape[0], -1)
        traits = d.trait_of[group.members].reshape(-1)
        grad += contributions @ np.eye(d.n_traits)[traits]
    return loglik, grad


def block_map(model: ThurstonianBlocks, responses: BlockResponses, corr: ArrayLike | None = None,
              *, max_iter: int = 50, tol: float = 1e-6) -> AbilityEstimate:
    """MAP trait scores and their Laplace standard errors (see the module notes).

    Parameters
    ----------
    model : ThurstonianBlocks
    responses : BlockResponses
    corr : array_like, shape (n_traits, n_traits), optional
        The traits' correlations (the prior's covariance, unit variances); identity by default.
    max_iter : int
        Newton steps at most.
    tol : float
        Converged when no trait moves by more than this.

    Returns
    -------
    AbilityEstimate
        ``theta`` and ``se`` of shape (n_persons, n_traits), ``cov`` the posterior covariances,
        ``status`` ``ok``, ``no_responses`` (the prior's mean and SDs) or ``not_converged``.
    """
    d = model.design
    k = d.n_traits
    phi = np.eye(k) if corr is None else np.asarray(corr, dtype=np.float64)
    if phi.shape != (k, k) or not np.allclose(np.diag(phi), 1.0) or not np.allclose(phi, phi.T):
        raise InvalidParameterError(f"corr: expected a symmetric {k} × {k} correlation matrix")
    precision = np.linalg.inv(phi)
    n = responses.codes.shape[0]
    eta = np.zeros((n, k))

    chosen = model.selections(responses)

    def posterior(x: Array, rows: NDArray[np.intp]) -> tuple[Array, Array]:
        part = [sel.rows(rows) for sel in chosen]
        ll, g = block_gradient(model, x, BlockResponses(responses.codes[rows], responses.tables),
                               part)
        return ll - 0.5 * np.einsum("pi,ij,pj->p", x, precision, x), g - x @ precision

    def hessian(x: Array, rows: NDArray[np.intp]) -> Array:
        cols = []
        for j in range(k):
            step = np.zeros(k)
            step[j] = _STEP
            cols.append((posterior(x + step, rows)[1] - posterior(x - step, rows)[1]) / (2 * _STEP))
        h = np.stack(cols, axis=-1)
        return (h + h.transpose(0, 2, 1)) / 2

    everyone = np.arange(n)
    value, grad = posterior(eta, everyone)
    moving = np.ones(n, dtype=bool)
    iterations = np.zeros(n, dtype=np.int64)
    for _ in range(max_iter):
        if not moving.any():
            break
        rows = np.flatnonzero(moving)
        h = hessian(eta[rows], rows)
        # Newton's direction where it goes uphill (a negative definite Hessian), else the gradient
        try:
            direction = -np.linalg.solve(h, grad[rows][..., None])[..., 0]
        except np.linalg.LinAlgError:
            direction = grad[rows].copy()
        uphill = np.einsum("pi,pi->p", direction, grad[rows]) > 0
        direction = np.where(uphill[:, None], direction, grad[rows])
        size = np.ones(rows.size)
        for _halving in range(30):
            trial = eta[rows] + size[:, None] * direction
            new_value, new_grad = posterior(trial, rows)
            better = new_value >= value[rows] - 1e-12
            if better.all():
                break
            size = np.where(better, size, size / 2)
        eta[rows] = trial
        value[rows], grad[rows] = new_value, new_grad
        iterations[rows] += 1
        moving[rows] = np.max(np.abs(size[:, None] * direction), axis=1) > tol
    cov: Array = np.asarray(np.linalg.inv(-hessian(eta, everyone)), dtype=np.float64)
    se = np.sqrt(np.clip(np.diagonal(cov, axis1=1, axis2=2), 0.0, None))
    status = np.where(moving, "not_converged", "ok").astype("<U13")
    none = (responses.codes < 0).all(axis=1)
    eta[none], se[none], cov[none] = 0.0, np.sqrt(np.diag(phi)), phi
    status[none] = "no_responses"
    return AbilityEstimate(theta=eta, se=se, method="map", status=status, factor_names=d.traits,
                           cov=cov, n_iter=iterations)
