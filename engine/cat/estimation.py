"""Interim estimates during an adaptive test: EAP by default, MAP or ML on request.

All three run on every session of a snapshot at once (the core's vectorised scorers). ML has no
finite estimate while every answer is in an extreme category (all correct, all wrong), which is
the rule rather than the exception after one or two items; there the EAP value stands in until
the answers are mixed — the usual guard against wild early ML estimates (Bock & Mislevy 1982
recommend EAP for exactly this reason).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from qabilet.engine.cat.snapshot import CatContext, Snapshot, posterior_mean_cov, posterior_moments
from qabilet.engine.models._base import Array, Codes
from qabilet.engine.scoring.newton import maximum_a_posteriori, maximum_likelihood

__all__ = ["snapshot"]


def snapshot(
    context: CatContext,
    log_lik: Array,
    responses: Codes | None,
    administered: NDArray[np.bool_],
    scored: NDArray[np.bool_],
    lottery: Array | None = None,
) -> Snapshot:
    """The estimates of ``n`` sessions from their answers.

    Parameters
    ----------
    context : CatContext
    log_lik : ndarray, shape (n, n_quad)
        Log-likelihood of the scored answers at the grid's nodes.
    responses : ndarray of int, shape (n, n_items), or None
        Answers (any value where not scored); required when ``context.needs_responses``.
    administered : ndarray of bool, shape (n, n_items)
        Items given.
    scored : ndarray of bool, shape (n, n_items)
        Items given and scored (pretest items are given, not scored).
    lottery : ndarray, shape (n, n_items), optional
        The sessions' fixed Sympson–Hetter draws.

    Returns
    -------
    Snapshot
    """
    bp = context.blueprint
    cov = None
    if context.bank.n_dims == 1:
        theta, se = posterior_moments(log_lik, context.grid)
    else:
        theta, cov = posterior_mean_cov(log_lik, context.grid)
        se = np.sqrt(np.maximum(np.diagonal(cov, axis1=1, axis2=2), 0.0))
    n_scored = scored.sum(axis=1).astype(np.int64)
    some = n_scored > 0
    if bp.estimator != "eap" and some.any() and responses is not None:
        rows = np.flatnonzero(some)
        if bp.estimator == "map":
            est = maximum_a_posteriori(context.bank, responses[rows], scored[rows],
                                       prior=context.bank.latent, bounds=bp.bounds)
            usable = np.ones(rows.size, dtype=bool)
        else:
            est = maximum_likelihood(context.bank, responses[rows], scored[rows],
                                     bounds=bp.bounds)
            usable = est.status == "ok"
        theta[rows[usable]] = est.theta[usable]
        se[rows[usable]] = est.se[usable]
        if cov is not None and est.cov is not None:
            cov[rows[usable]] = est.cov[usable]
    theta[~some] = bp.start_theta
    return Snapshot(theta=theta, se=se, log_lik=log_lik, administered=administered,
                    n_scored=n_scored, responses=responses, scored=scored, lottery=lottery,
                    cov=cov)
