"""Correlations between separately calibrated scales, by pairwise marginal likelihood.

When each competency is calibrated on its own (one unidimensional fit per scale, each standardised
to N(0, 1)), the correlation between two scales is estimated with the items fixed: for scales
*j* and *k* answered by the same persons,

.. math::

    \\ell(\\rho) = \\sum_p \\log \\sum_{q, r} L_{pj}(x_q)\\, L_{pk}(x_r)\\, \\phi_2(x_q, x_r; \\rho)\\,
    \\Delta^2,

where :math:`L_{pj}` is person *p*'s likelihood on scale *j* at grid node :math:`x_q` and
:math:`\\phi_2` the standard bivariate normal density. The estimator maximises :math:`\\ell` over
ρ for each pair — the pairwise (composite) likelihood of Katsikatsou, Moustaki, Yang-Wallentin &
Jöreskog (2012), here with item parameters fixed at their calibrated values (a two-stage
estimator). Its standard error comes from the curvature of :math:`\\ell` at the maximum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize_scalar

from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import InvalidParameterError, InvalidResponseError
from qabilet.engine.likelihood import check_responses, flat_log_prob, log_normalise, loglik_blocks

__all__ = ["FactorCorrelations", "factor_correlations"]


@dataclass(frozen=True, slots=True)
class FactorCorrelations:
    """Estimated correlations between scales.

    Attributes
    ----------
    names : tuple of str
        Scale names, in the order of the matrices.
    correlation : ndarray, shape (n_scales, n_scales)
        The estimates (unit diagonal), made positive definite when the pairwise estimates were
        not (``adjusted``).
    se : ndarray, shape (n_scales, n_scales)
        Standard errors of the pairwise estimates (0 on the diagonal).
    adjusted : bool
        True when the pairwise matrix had to be moved to the nearest positive definite one.
    """

    names: tuple[str, ...]
    correlation: NDArray[np.float64]
    se: NDArray[np.float64]
    adjusted: bool


def _likelihood_on_grid(bank: ItemBank, responses: ArrayLike, observed: ArrayLike | None,
                        nodes: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each person's likelihood at ``nodes``, rows scaled to sum to 1 (the scale cancels in ρ)."""
    resp = check_responses(bank, responses, observed)
    log_p = flat_log_prob(bank, nodes[:, None])
    out = np.empty((resp.x.shape[0], nodes.size))
    for rows, block in loglik_blocks(bank, resp, log_p):
        log_normalise(block)
        out[rows] = block
    return out


def _bivariate_weights(x: NDArray[np.float64], rho: float) -> NDArray[np.float64]:
    """φ₂(x_q, x_r; ρ) on the grid, normalised to sum to 1."""
    q = (x[:, None] ** 2 - 2 * rho * x[:, None] * x[None, :] + x[None, :] ** 2) / (1 - rho**2)
    w = np.exp(-0.5 * q)
    return w / w.sum()


def _pair_loglik(rho: float, lj: NDArray[np.float64], lk: NDArray[np.float64],
                 x: NDArray[np.float64]) -> float:
    inner = np.einsum("pq,pq->p", lj @ _bivariate_weights(x, rho), lk)
    return float(np.log(np.maximum(inner, 1e-300)).sum())


def factor_correlations(
    banks: Sequence[ItemBank],
    responses: Sequence[ArrayLike],
    observed: Sequence[ArrayLike | None] | None = None,
    *,
    names: Sequence[str] | None = None,
    n_points: int = 61,
    bounds: tuple[float, float] = (-6.0, 6.0),
) -> FactorCorrelations:
    """Estimate the correlations of separately calibrated unidimensional scales.

    Parameters
    ----------
    banks : sequence of ItemBank
        One calibrated unidimensional bank per scale, each on the N(0, 1) metric.
    responses : sequence of array_like
        Per scale, shape (n_persons, n_items of that scale), categories 0 … K−1; the same persons
        in the same order in every scale.
    observed : sequence of array_like, optional
        Missing-data masks, per scale.
    names : sequence of str, optional
        Scale names (default: each bank's factor name).
    n_points : int
        Grid nodes per axis on ``bounds``.

    Returns
    -------
    FactorCorrelations

    Examples
    --------
    >>> from qabilet.engine.simulation import simulate_responses
    >>> rng = np.random.default_rng(5)
    >>> theta = rng.multivariate_normal([0, 0], [[1, 0.6], [0.6, 1]], size=3000)
    >>> bank = ItemBank.from_records([{"id": f"Q{i}", "model": "2pl", "a": 1.5, "b": b}
    ...                               for i, b in enumerate(np.linspace(-1.5, 1.5, 12))])
    >>> x = [simulate_responses(bank, theta[:, k], rng) for k in range(2)]
    >>> est = factor_correlations([bank, bank], x, names=["x", "y"])
    >>> round(float(est.correlation[0, 1]), 1)
    0.6
    """
    if len(banks) != len(responses) or len(banks) < 2:
        raise InvalidParameterError(f"banks, responses: expected two or more scales, one response "
                                    f"matrix each; got {len(banks)} and {len(responses)}")
    if any(b.n_dims != 1 for b in banks):
        raise InvalidParameterError("banks: expected unidimensional banks, one per scale")
    masks = list(observed) if observed is not None else [None] * len(banks)
    n = {np.shape(r)[0] for r in responses}
    if len(n) != 1:
        raise InvalidResponseError(f"responses: expected the same persons in every scale; got "
                                   f"{sorted(n)} rows")
    labels = tuple(names) if names is not None else tuple(b.latent.factor_names[0] for b in banks)
    x = np.linspace(*bounds, n_points)
    grids = [_likelihood_on_grid(b, r, o, x) for b, r, o in zip(banks, responses, masks, strict=True)]
    m = len(banks)
    corr, se = np.eye(m), np.zeros((m, m))
    for j in range(m):
        for k in range(j + 1, m):  # a loop over pairs of scales, not persons or items
            fit = minimize_scalar(lambda r, j=j, k=k: -_pair_loglik(r, grids[j], grids[k], x),
                                  bounds=(-0.99, 0.99), method="bounded",
                                  options={"xatol": 1e-6})
            rho = float(fit.x)
            h = 1e-3
            curv = (_pair_loglik(rho + h, grids[j], grids[k], x) - 2 * -fit.fun
                    + _pair_loglik(rho - h, grids[j], grids[k], x)) / h**2
            corr[j, k] = corr[k, j] = rho
            se[j, k] = se[k, j] = np.sqrt(-1 / curv) if curv < 0 else np.nan
    values, vectors = np.linalg.eigh(corr)
    adjusted = bool(values.min() < 1e-6)
    if adjusted:  # nearest positive definite correlation: clip the spectrum, rescale to unit diag
        fixed = vectors @ np.diag(np.maximum(values, 1e-6)) @ vectors.T
        d = np.sqrt(np.diag(fixed))
        corr = fixed / np.outer(d, d)
    return FactorCorrelations(labels, corr, se, adjusted)
