"""Modal scoring by Newton iterations, vectorised over persons: MAP, ML and WLE.

All three solve an estimating equation :math:`U^*(\\theta) = 0` for every person at once:

* ML:  :math:`U^* = \\sum_i o_i\\,\\partial_\\theta\\log P_i(x_i\\mid\\theta)`;
* MAP: :math:`U^* = U - \\Sigma^{-1}(\\theta - \\mu)` (normal prior, the latent distribution);
* WLE: :math:`U^* = U + \\tfrac12\\,\\mathrm{tr}\\big(\\mathcal I^{-1}(J_r + K_r)\\big)_r`, Warm's
  (1989) bias correction, which for one factor is :math:`J(\\theta) / (2\\mathcal I(\\theta))` with
  :math:`J = \\sum_i\\sum_k P'_{ik}P''_{ik}/P_{ik}`; for several factors it is Firth's (1993)
  generalisation, with per item
  :math:`J_r + K_r = c_i\\,a_{ir}\\,\\mathbf a_i\\mathbf a_i^\\top`,
  :math:`c_i = \\sum_k P_k f'_k (f''_k + f'^2_k)` in the projection :math:`s = \\mathbf a^\\top\\theta`.

Steps use the observed information where it is positive definite (Newton) and the expected
(Fisher) information otherwise (Fisher scoring), with a step length limit and the search
interval ``bounds``. Every person's iteration stops on its own tolerance.

ML has no finite solution when every response is in the lowest (or highest) category — the
highest (lowest) for a reverse-keyed item, whose slope is negative; such a
person is reported at the bound with SE NaN and status ``"extreme_low"``/``"extreme_high"`` —
never an exception and never a silent infinity. A person with no response gets NaN (ML, WLE) or
the prior (MAP), status ``"no_responses"``.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qabilet.engine.exceptions import ConvergenceWarning, InvalidParameterError
from qabilet.engine.latent import LatentDistribution
from qabilet.engine.likelihood import Responses, check_responses
from qabilet.engine.models._base import Array, Codes, ItemSet
from qabilet.engine.scoring.eap import _prior_of
from qabilet.engine.scoring.result import AbilityEstimate

__all__ = ["maximum_a_posteriori", "maximum_likelihood", "weighted_likelihood"]

# persons per block, so that the (persons × items × categories) work arrays stay near 16 MB each
_BLOCK_CELLS = 2_000_000
_RIDGE = 1e-10


def _check_options(bounds: tuple[float, float], tol: float, max_iter: int) -> tuple[float, float]:
    lo, hi = float(bounds[0]), float(bounds[1])
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise InvalidParameterError(
            f"bounds: expected finite (low, high), low < high; got {bounds}"
        )
    if not tol > 0:
        raise InvalidParameterError(f"tol: expected a positive number; got {tol}")
    if int(max_iter) < 1:
        raise InvalidParameterError(f"max_iter: expected at least 1; got {max_iter}")
    return lo, hi


def _solve(mat: Array, vec: Array) -> Array:
    """Batched solve of ``mat @ out = vec`` for ``(m, d, d)`` and ``(m, d)``."""
    if mat.shape[-1] == 1:
        return vec / mat[:, :, 0]
    # numpy types solve() as floating of any width; float64 systems solve in float64
    return np.linalg.solve(mat, vec[..., None])[..., 0].astype(np.float64, copy=False)


def _positive_definite(mat: Array) -> NDArray[np.bool_]:
    if mat.shape[-1] == 1:
        return mat[:, 0, 0] > 0
    return np.linalg.eigvalsh(mat)[:, 0] > 0


class _Equations:
    """Score, information and (for WLE) correction of a block of persons at θ."""

    def __init__(self, items: ItemSet, kind: str, prior: LatentDistribution | None) -> None:
        self.items = items
        self.kind = kind
        self.slopes = a = items.slopes
        d = a.shape[1]
        self.outer = (a[:, :, None] * a[:, None, :]).reshape(a.shape[0], d * d)  # a_i a_iᵀ
        # the prior's mean and precision (MAP), None for ML and WLE
        self.prior: tuple[Array, Array] | None = (
            None if prior is None else (prior.mean, prior.precision)
        )

    def evaluate(
        self, theta: Array, x: Codes, obs: NDArray[np.bool_]
    ) -> tuple[Array, Array, Array]:
        """Return (estimating function, observed information, expected information)."""
        a = self.slopes
        m, d = theta.shape
        s = theta @ a.T
        f1, f2, info_s, c = self.items._newton_terms(s, x, obs, self.kind == "wle")
        grad = f1 @ a
        observed = -(f2 @ self.outer).reshape(m, d, d)
        expected = (info_s @ self.outer).reshape(m, d, d)
        if self.prior is None and d > 1:
            # a factor no answered item loads on has no information: a tiny ridge keeps the
            # systems solvable (that factor stays at its start, its SE is huge, not an error)
            expected = expected + _RIDGE * np.eye(d)
        if self.kind == "wle":
            inv = np.linalg.inv(expected)
            quad = (self.outer @ inv.reshape(m, d * d).T).T  # a_iᵀ I⁻¹ a_i (symmetric I⁻¹)
            grad = grad + 0.5 * (c * quad) @ a
        if self.prior is not None:
            mean, precision = self.prior
            grad = grad - (theta - mean) @ precision
            observed = observed + precision
            expected = expected + precision
        return grad, observed, expected


def _extremes(items: ItemSet, resp: Responses) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Persons whose every observed response is at the low / high end of its item.

    The low end of an item is its lowest category, or its highest for a reverse-keyed item
    (slopes ≤ 0, one < 0: the category probabilities run the other way, docs/design.md §5); an
    item with slopes of both signs has no end every factor agrees on, so a person who answered
    one is never extreme. With every response at the low end the likelihood increases as θ
    decreases, so the ML estimate is −∞ (and +∞ at the high end).
    """
    sign = np.sign(items.slopes)
    reverse = np.all(sign <= 0, axis=1) & np.any(sign < 0, axis=1)
    mixed = np.any(sign > 0, axis=1) & np.any(sign < 0, axis=1)
    top = items.n_categories - 1
    low_end, high_end = np.where(reverse, top, 0), np.where(reverse, 0, top)
    any_obs = resp.observed.any(axis=1)
    skip = ~resp.observed
    low = any_obs & np.all(skip | ((resp.x == low_end) & ~mixed), axis=1)
    high = any_obs & np.all(skip | ((resp.x == high_end) & ~mixed), axis=1)
    return low, high


def _solve_block(
    eq: _Equations,
    theta: Array,
    resp: Responses,
    lo: float,
    hi: float,
    tol: float,
    max_iter: int,
    max_step: float,
) -> tuple[Array, NDArray[np.int64], NDArray[np.bool_]]:
    """Iterate every person of a block until its step is below ``tol``."""
    n = theta.shape[0]
    n_iter = np.zeros(n, dtype=np.int64)
    done = np.zeros(n, dtype=bool)
    for it in range(1, max_iter + 1):
        act = np.flatnonzero(~done)
        if act.size == 0:
            break
        t = theta[act]
        grad, observed, expected = eq.evaluate(t, resp.x[act], resp.observed[act])
        use_observed = _positive_definite(observed)
        info = np.where(use_observed[:, None, None], observed, expected)
        step = _solve(info, grad)
        norm = np.sqrt((step**2).sum(axis=1))
        step *= np.minimum(1.0, max_step / np.maximum(norm, 1e-300))[:, None]
        new = np.clip(t + step, lo, hi)
        moved = np.abs(new - t).max(axis=1)
        theta[act] = new
        n_iter[act] = it
        done[act] = moved < tol
    return theta, n_iter, done


def _modal(
    items: ItemSet,
    responses: ArrayLike,
    observed: ArrayLike | None,
    kind: str,
    prior: LatentDistribution | None,
    bounds: tuple[float, float],
    tol: float,
    max_iter: int,
    max_step: float,
) -> AbilityEstimate:
    lo, hi = _check_options(bounds, tol, max_iter)
    resp = check_responses(items, responses, observed)
    n, d = resp.x.shape[0], items.n_dims
    names = (
        prior.factor_names
        if prior is not None
        else getattr(getattr(items, "latent", None), "factor_names", None)
        or (("theta",) if d == 1 else tuple(f"F{j + 1}" for j in range(d)))
    )
    eq = _Equations(items, kind, prior)
    has_obs = resp.observed.any(axis=1)
    status = np.full(n, "ok", dtype="<U13")
    status[~has_obs] = "no_responses"
    solve = has_obs.copy()
    if kind == "ml":
        low, high = _extremes(items, resp)
        status[low], status[high] = "extreme_low", "extreme_high"
        solve &= ~(low | high)
    start = np.clip(prior.mean if prior is not None else np.zeros(d), lo, hi)
    theta = np.tile(start, (n, 1))
    n_iter = np.zeros(n, dtype=np.int64)
    done = np.ones(n, dtype=bool)
    idx = np.flatnonzero(solve)
    block = max(1, _BLOCK_CELLS // max(items.n_items * items.max_categories, 1))
    for b0 in range(0, idx.size, block):  # blocks bound memory; persons inside are vectorised
        sel = idx[b0 : b0 + block]
        sub = Responses(resp.x[sel], resp.observed[sel])
        theta[sel], n_iter[sel], done[sel] = _solve_block(
            eq, theta[sel], sub, lo, hi, tol, max_iter, max_step
        )
    # standard errors at the estimate
    cov = np.full((n, d, d), np.nan)
    if idx.size:
        _, obs_info, exp_info = eq.evaluate(theta[idx], resp.x[idx], resp.observed[idx])
        if kind == "map":  # posterior information: observed where positive definite
            pd = _positive_definite(obs_info)
            info = np.where(pd[:, None, None], obs_info, exp_info)
        else:
            info = exp_info
        if kind == "wle":  # Fisher information of the likelihood (the correction has none)
            info = _Equations(items, "ml", None).evaluate(
                theta[idx], resp.x[idx], resp.observed[idx]
            )[2]
        ok = _positive_definite(info)
        cov[idx[ok]] = np.linalg.inv(info[ok])
    if prior is not None:  # MAP (the only kind with a prior): no answers, the prior's moments
        theta[~has_obs] = prior.mean
        cov[~has_obs] = prior.cov
    else:
        theta[~has_obs] = np.nan
    if kind == "ml":
        theta[status == "extreme_low"] = lo
        theta[status == "extreme_high"] = hi
    at_bound = solve & np.any((theta <= lo) | (theta >= hi), axis=1)
    status[at_bound] = "at_bound"
    not_conv = solve & ~done & ~at_bound
    status[not_conv] = "not_converged"
    if not_conv.any():
        warnings.warn(
            f"{kind}: {int(not_conv.sum())} person(s) did not converge in {max_iter} iterations "
            f"(status 'not_converged')",
            ConvergenceWarning,
            stacklevel=3,
        )
    se = np.sqrt(np.einsum("njj->nj", cov))
    if d == 1:
        return AbilityEstimate(theta[:, 0], se[:, 0], kind, status, tuple(names), n_iter=n_iter)
    return AbilityEstimate(theta, se, kind, status, tuple(names), cov=cov, n_iter=n_iter)


def maximum_a_posteriori(
    items: ItemSet,
    responses: ArrayLike,
    observed: ArrayLike | None = None,
    *,
    prior: LatentDistribution | None = None,
    bounds: tuple[float, float] = (-6.0, 6.0),
    tol: float = 1e-8,
    max_iter: int = 100,
    max_step: float = 1.0,
) -> AbilityEstimate:
    """Maximum a posteriori (Bayes modal) estimates with a normal prior.

    .. math:: \\hat\\theta = \\arg\\max_\\theta\\ \\log L(\\theta) + \\log\\phi(\\theta;\\mu,\\Sigma)

    The SE comes from the posterior information at the mode,
    :math:`-\\partial^2_\\theta[\\log L + \\log\\phi]`, as in mirt's ``fscores(method = "MAP")``.

    Parameters
    ----------
    items : ItemSet
        A model or item bank (any number of factors).
    responses, observed : array_like
        Categories and missing-data mask, shape (n_persons, n_items).
    prior : LatentDistribution, optional
        The bank's latent distribution, or N(0, I), when omitted.
    bounds : (float, float)
        Search interval for every factor.
    tol : float
        Stop when no coordinate moves more than ``tol``.
    max_iter : int
        Iteration limit (``ConvergenceWarning`` and status ``"not_converged"`` beyond it).
    max_step : float
        Longest Newton step (Euclidean norm).

    Returns
    -------
    AbilityEstimate
    """
    prior = _prior_of(items, prior)
    return _modal(items, responses, observed, "map", prior, bounds, tol, max_iter, max_step)


def maximum_likelihood(
    items: ItemSet,
    responses: ArrayLike,
    observed: ArrayLike | None = None,
    *,
    bounds: tuple[float, float] = (-6.0, 6.0),
    tol: float = 1e-8,
    max_iter: int = 100,
    max_step: float = 1.0,
) -> AbilityEstimate:
    """Maximum likelihood estimates; SE :math:`= \\mathcal I(\\hat\\theta)^{-1/2}` (Fisher).

    All-lowest and all-highest patterns have no finite ML estimate: they are reported at the
    bound with SE NaN and status ``"extreme_low"`` / ``"extreme_high"``. See
    :func:`maximum_a_posteriori` for the parameters.

    Examples
    --------
    >>> from qabilet.engine.models import TwoPL
    >>> est = maximum_likelihood(TwoPL([1.0] * 2, [0.0] * 2), [[1, 0], [1, 1]])
    >>> est.theta.tolist(), est.status.tolist()
    ([0.0, 6.0], ['ok', 'extreme_high'])
    """
    return _modal(items, responses, observed, "ml", None, bounds, tol, max_iter, max_step)


def weighted_likelihood(
    items: ItemSet,
    responses: ArrayLike,
    observed: ArrayLike | None = None,
    *,
    bounds: tuple[float, float] = (-6.0, 6.0),
    tol: float = 1e-8,
    max_iter: int = 100,
    max_step: float = 1.0,
) -> AbilityEstimate:
    """Warm's (1989) weighted likelihood estimates; SE :math:`= \\mathcal I(\\hat\\theta)^{-1/2}`.

    Finite for all-lowest and all-highest patterns of 1PL/2PL/GRM/GPCM tests, with a bias of
    order :math:`O(n^{-2})` instead of ML's :math:`O(n^{-1})`. See :func:`maximum_a_posteriori`
    for the parameters.
    """
    return _modal(items, responses, observed, "wle", None, bounds, tol, max_iter, max_step)
