"""Limited-information goodness of fit: M2 (Maydeu-Olivares & Joe 2005, 2006) and RMSEA.

The statistic compares the univariate and bivariate margins of the data with the model's. For
items with categories :math:`0 … K_i - 1` the moments are the probabilities of every category
:math:`k \\ge 1` of every item, :math:`\\pi_{ik} = P(X_i = k)`, and of every pair of such
categories of two items, :math:`\\pi_{ik,jl} = P(X_i = k, X_j = l)`, :math:`i < j` — for
dichotomous items, the proportions correct and the joint proportions correct of the pairs
(Maydeu-Olivares & Joe 2005; the polytomous form is that of their 2006 paper, mirt's
``type = "M2"``, not the reduced M2* of Cai & Hansen 2013). With :math:`p` the sample moments,
:math:`\\hat\\pi` the model's at the estimates, :math:`N` persons,

.. math::

    M_2 = N\\,(p - \\hat\\pi)^\\top C_2\\,(p - \\hat\\pi), \\qquad
    C_2 = \\Delta_c\\big(\\Delta_c^\\top\\,\\Xi_2\\,\\Delta_c\\big)^{-1}\\Delta_c^\\top,

where :math:`\\Xi_2/N` is the covariance matrix of :math:`p`, :math:`\\Delta = \\partial\\pi/
\\partial\\psi^\\top` the Jacobian with respect to the estimated parameters and :math:`\\Delta_c`
an orthonormal basis of its orthogonal complement (which equals the form
:math:`\\Xi^{-1} - \\Xi^{-1}\\Delta(\\Delta^\\top\\Xi^{-1}\\Delta)^{-1}\\Delta^\\top\\Xi^{-1}`
without inverting :math:`\\Xi`). :math:`M_2` is asymptotically χ² on
(moments − estimated parameters) degrees of freedom.

Everything is an integral over the latent density on the calibration grid: with conditional
independence, :math:`E[m_A m_B\\mid\\theta] = \\prod_{(i,k) \\in A \\cup B} P_{ik}(\\theta)` —
zero when :math:`A` and :math:`B` ask for different categories of the same item — so

.. math::

    \\Xi_{AB} = \\sum_q w_q \\prod_{(i,k)\\in A\\cup B} P_{ik}(\\theta_q) - \\pi_A\\pi_B, \\qquad
    \\Delta_{A\\psi} = \\sum_q w_q\\,m_A(\\theta_q)\\sum_{(i,k)\\in A}
                       \\frac{\\partial\\log P_{ik}(\\theta_q)}{\\partial\\psi}

(the parameter derivatives from each model's ``dlog_prob_dparams``; a free latent mean or
variance enters through the grid weights). The RMSEA is
:math:`\\sqrt{\\max(M_2 - df, 0) / (N\\,df)}` with a 90% interval from the noncentral χ²
(Maydeu-Olivares & Joe 2014); the SRMSR is the root mean square of the differences between the
observed and model-implied correlations of the item scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.linalg import cho_factor, cho_solve
from scipy.optimize import brentq
from scipy.stats import chi2, ncx2

from qabilet.calibration._diagnostics import (
    Estimated,
    Report,
    category_table,
    estimated_parameters,
    fmt,
    grid_options,
    read_inputs,
    require_complete,
    text_table,
)
from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.likelihood import category_offsets, flat_log_prob
from qabilet.engine.quadrature import Grid, equispaced_grid

__all__ = ["M2Fit", "m2"]

Array = NDArray[np.float64]
_MAX_MOMENTS = 4000  # Ξ is moments × moments


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class M2Fit(Report):
    """Limited-information fit of the whole model (see :func:`m2`).

    Attributes
    ----------
    m2 : float
    df : int
        Moments minus estimated parameters.
    p_value : float
    rmsea : float
    rmsea_ci : tuple of float
        90% interval of the RMSEA.
    srmsr : float
        Standardised root mean square residual of the item-score correlations.
    n_moments : int
    n_estimated : int
    n_persons : int
    residuals : ndarray, shape (n_moments,)
        Observed minus model moments, univariate first, then pairs in item order.
    """

    m2: float
    df: int
    p_value: float
    rmsea: float
    rmsea_ci: tuple[float, float]
    srmsr: float
    n_moments: int
    n_estimated: int
    n_persons: int
    residuals: Array

    def summary(self) -> str:
        """The statistics as text."""
        head = (
            f"M2 limited-information fit (Maydeu-Olivares & Joe 2005, 2006): {self.n_persons} "
            f"persons, {self.n_moments} moments, {self.n_estimated} estimated parameters\n"
        )
        cols = [
            ("M2", [fmt(self.m2)]),
            ("df", [fmt(self.df)]),
            ("p", [fmt(self.p_value, 4)]),
            ("RMSEA", [fmt(self.rmsea, 4)]),
            ("RMSEA 90% CI", [f"[{fmt(self.rmsea_ci[0], 4)}, {fmt(self.rmsea_ci[1], 4)}]"]),
            ("SRMSR", [fmt(self.srmsr, 4)]),
        ]
        return head + text_table(cols)

    def to_frame(self) -> Any:
        """One row (pandas is imported here only)."""
        import pandas as pd

        return pd.DataFrame([{
            "m2": self.m2, "df": self.df, "p": self.p_value, "rmsea": self.rmsea,
            "rmsea_5": self.rmsea_ci[0], "rmsea_95": self.rmsea_ci[1], "srmsr": self.srmsr,
        }])

    def __repr__(self) -> str:
        return f"M2Fit(m2={self.m2:.4f}, df={self.df}, p={self.p_value:.4g})"


def _moments(bank: ItemBank) -> tuple[NDArray[np.intp], NDArray[np.intp], int]:
    """Items and flat (item, category) columns of every moment; −1 marks no second slot.

    Returns ``(items, cols, n_uni)`` with ``items, cols`` of shape (n_moments, 2).
    """
    offsets = category_offsets(bank.n_categories)
    item_of = np.repeat(np.arange(bank.n_items), bank.n_categories)
    cat_of = np.arange(item_of.size) - offsets[item_of]
    cols = np.flatnonzero(cat_of > 0)  # categories k ≥ 1
    a, b = np.triu_indices(cols.size, 1)
    pair = item_of[cols[a]] < item_of[cols[b]]
    a, b = a[pair], b[pair]
    n_uni = cols.size
    first = np.concatenate([cols, cols[a]])
    second = np.concatenate([np.full(n_uni, -1), cols[b]])
    items = np.stack([item_of[first], np.where(second >= 0, item_of[second], -1)], axis=1)
    return items.astype(np.intp), np.stack([first, second], axis=1).astype(np.intp), int(n_uni)


def _shared_pairs(items: NDArray[np.intp], n_items: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Pairs of moments (A, B) that involve a common item, each pair once."""
    moment = np.repeat(np.arange(items.shape[0]), 2)
    item = items.reshape(-1)
    keep = item >= 0
    moment, item = moment[keep], item[keep]
    order = np.argsort(item, kind="stable")
    moment, item = moment[order], item[order]
    bounds = np.searchsorted(item, np.arange(n_items + 1))
    left, right = [], []
    for i in range(n_items):  # per item: every pair of the moments that contain it
        ms = moment[bounds[i] : bounds[i + 1]]
        left.append(np.repeat(ms, ms.size))
        right.append(np.tile(ms, ms.size))
    key = np.unique(np.concatenate(left) * items.shape[0] + np.concatenate(right))
    return key // items.shape[0], key % items.shape[0]


def _xi(log_p: Array, weights: Array, items: NDArray[np.intp], cols: NDArray[np.intp],
        log_m: Array, pi: Array) -> Array:
    """:math:`\\Xi_2`: the covariance of the moment indicators of one person.

    Moments on disjoint items have :math:`E[m_Am_B\\mid\\theta] = m_A m_B`, one matrix product
    over the nodes; the pairs that share an item are then replaced by the product over the union
    of their categories (zero when they ask for different categories of the same item).
    """
    m = np.exp(log_m)
    out = (m * weights[:, None]).T @ m
    a, b = _shared_pairs(items, int(items.max()) + 1)
    dummy = log_p.shape[1] - 1
    overlap = [np.full(a.size, dummy, dtype=np.intp) for _ in range(2)]
    conflict = np.zeros(a.size, dtype=bool)
    for sa in range(2):  # slots of A and of B
        for sb in range(2):
            same_item = (items[a, sa] == items[b, sb]) & (items[a, sa] >= 0)
            same_col = same_item & (cols[a, sa] == cols[b, sb])
            overlap[sa] = np.where(same_col, cols[a, sa], overlap[sa])
            conflict |= same_item & ~same_col
    values = np.zeros(a.size)
    block = max(1, 4_000_000 // max(log_p.shape[0], 1))
    for start in range(0, a.size, block):  # blocks of pairs bound the (nodes × pairs) array
        sl = slice(start, start + block)
        log_e = (log_m[:, a[sl]] + log_m[:, b[sl]] - log_p[:, overlap[0][sl]]
                 - log_p[:, overlap[1][sl]])
        values[sl] = weights @ np.exp(log_e)
    out[a, b] = np.where(conflict, 0.0, values)
    return out - np.outer(pi, pi)


def _jacobian(bank: ItemBank, est: Estimated, grid: Grid, items: NDArray[np.intp],
              cols: NDArray[np.intp], m: Array) -> Array:
    """:math:`\\Delta = \\partial\\pi / \\partial\\psi^\\top` over the estimated parameters."""
    nodes = grid.nodes[:, 0]
    w = grid.weights
    n_mom = items.shape[0]
    delta = np.zeros((n_mom, est.n_free))
    offsets = category_offsets(bank.n_categories)
    width = int(bank.n_categories.sum())
    wm = w[:, None] * m  # (Q, moments)
    for model, pos, index in zip(bank.models, bank.positions, est.index):  # blocks: a few
        if (index < 0).all():
            continue
        grad = model.dlog_prob_dparams(nodes)  # (Q, n_block, K_block, n_params)
        row_of = np.full(bank.n_items + 1, -1, dtype=np.intp)  # item → row in block (−1: none)
        row_of[pos] = np.arange(pos.size)
        valid = np.arange(model.max_categories)[None, :] < model.n_categories[:, None]
        flat_cols = (offsets[pos][:, None] + np.arange(model.max_categories)[None, :])[valid]
        for par in range(index.shape[1]):  # parameter columns: a handful
            if (index[:, par] < 0).all():
                continue
            g = np.zeros((nodes.size, width + 1))  # last column: the empty slot
            g[:, flat_cols] = grad[:, :, :, par][:, valid]
            for slot in range(2):
                contrib = np.einsum("qa,qa->a", wm, g[:, cols[:, slot]])
                rows = row_of[items[:, slot]]
                phi = np.where(rows >= 0, index[np.maximum(rows, 0), par], -1)
                keep = phi >= 0
                np.add.at(delta, (np.flatnonzero(keep), phi[keep]), contrib[keep])
    mean, var = float(bank.latent.mean[0]), float(bank.latent.cov[0, 0])
    for idx, score in ((est.mean_index, (nodes - mean) / var),
                       (est.var_index, (nodes - mean) ** 2 / (2.0 * var**2))):
        if idx >= 0:  # d log w_q = score_q − E_w[score] for weights normalised on the grid
            delta[:, idx] = (w * (score - w @ score)) @ m
    return delta


def _quadratic_form(xi: Array, delta: Array, resid: Array, n_free: int) -> float:
    """The quadratic form :math:`e^\\top C_2\\,e` of M2.

    With :math:`C_2 = \\Xi^{-1} - \\Xi^{-1}\\Delta(\\Delta^\\top\\Xi^{-1}\\Delta)^{-1}
    \\Delta^\\top\\Xi^{-1}`, by a Cholesky factor of Ξ: a third of the work of the
    orthogonal-complement form, which is the fallback when Ξ is numerically singular.
    """
    if n_free:
        sing = np.linalg.svd(delta, compute_uv=False)
        rank = int((sing > sing.max() * max(delta.shape) * np.finfo(float).eps).sum())
        if rank < n_free:
            raise InvalidParameterError(
                f"m2: the {n_free} estimated parameters are not identified by the univariate "
                f"and bivariate margins (Jacobian rank {rank})"
            )
    try:
        factor = cho_factor(xi, lower=True)
    except np.linalg.LinAlgError:
        factor = None
    if factor is not None:
        xe = cho_solve(factor, resid)
        value = float(resid @ xe)
        if n_free:
            xd = cho_solve(factor, delta)
            proj = delta.T @ xe
            value -= float(proj @ np.linalg.solve(delta.T @ xd, proj))
        return value
    if n_free:  # orthogonal complement of Δ
        u = np.linalg.svd(delta, full_matrices=True)[0]
        basis = u[:, n_free:]
    else:
        basis = np.eye(xi.shape[0])
    z = basis.T @ resid
    return float(z @ np.linalg.lstsq(basis.T @ xi @ basis, z, rcond=None)[0])


def _rmsea_interval(stat: float, df: int, n: float, level: float = 0.90) -> tuple[float, float]:
    """RMSEA bounds from the noncentrality λ with ncx2.cdf(stat; df, λ) = 1 ∓ level)/2."""
    out = []
    for target in ((1 + level) / 2, (1 - level) / 2):
        if chi2.cdf(stat, df) < target:
            out.append(0.0)
            continue
        hi = max(stat, 1.0)
        while ncx2.cdf(stat, df, hi) > target:
            hi *= 2.0
        lam = brentq(lambda nc, t=target: ncx2.cdf(stat, df, nc) - t, 0.0, hi)
        out.append(float(np.sqrt(lam / (n * df))))
    return out[0], out[1]


def _srmsr(bank: ItemBank, items: NDArray[np.intp], cols: NDArray[np.intp], n_uni: int,
           observed: Array, model: Array) -> float:
    """Root mean square of observed minus model correlations of the item scores."""
    offsets = category_offsets(bank.n_categories)
    k1 = (cols[:, 0] - offsets[items[:, 0]]).astype(np.float64)
    k2 = np.where(cols[:, 1] >= 0, cols[:, 1] - offsets[np.maximum(items[:, 1], 0)], 0)
    n_items = bank.n_items
    out = []
    for mom in (observed, model):
        mean = np.zeros(n_items)
        second = np.zeros(n_items)
        np.add.at(mean, items[:n_uni, 0], k1[:n_uni] * mom[:n_uni])
        np.add.at(second, items[:n_uni, 0], k1[:n_uni] ** 2 * mom[:n_uni])
        cross = np.zeros((n_items, n_items))
        np.add.at(cross, (items[n_uni:, 0], items[n_uni:, 1]),
                  k1[n_uni:] * k2[n_uni:] * mom[n_uni:])
        cov = cross - np.outer(mean, mean)
        sd = np.sqrt(second - mean**2)
        out.append(cov / np.outer(sd, sd))
    iu = np.triu_indices(n_items, 1)
    return float(np.sqrt(np.mean((out[0][iu] - out[1][iu]) ** 2)))


def m2(
    items: Any,
    responses: Any,
    observed: ArrayLike | None = None,
    *,
    parameters_estimated: bool = True,
    n_points: int | None = None,
    bounds: tuple[float, float] | None = None,
) -> M2Fit:
    """M2 statistic, RMSEA and SRMSR of a calibrated model (see the module docstring).

    Parameters
    ----------
    items : ItemBank, item model or CalibrationResult
        The calibrated (unidimensional) items; with a CalibrationResult the estimated parameters are
        those of the fit (anchors fixed).
    responses : array_like or DataFrame, shape (n_persons, n_items)
        Complete responses.
    observed : array_like of bool, optional
        Must be all True when given.
    parameters_estimated : bool
        For a bank: whether its parameters were estimated from these responses (the degrees of
        freedom and :math:`C_2` then account for every parameter its models calibrate).
    n_points, bounds : optional
        The quadrature grid (default: the fit's, or 61 nodes on [−6, 6] as mirt).

    Returns
    -------
    M2Fit

    Examples
    --------
    >>> from qabilet.engine.models import TwoPL
    >>> from qabilet.engine.simulation import simulate_responses
    >>> items = TwoPL(np.linspace(0.8, 1.8, 6), np.linspace(-1.0, 1.0, 6))
    >>> x = simulate_responses(items, np.random.default_rng(0).normal(size=1000), rng=1)
    >>> res = m2(items, x)  # as if these parameters had been estimated from x
    >>> res.n_moments, res.df
    (21, 9)
    """
    data = read_inputs(items, responses, observed, "m2")
    require_complete(data.resp, "m2", "the sample margins are those of complete patterns")
    bank, x = data.bank, data.resp.x
    est = estimated_parameters(bank, data.fit, parameters_estimated, "m2")
    item_idx, cols, n_uni = _moments(bank)
    n_mom = item_idx.shape[0]
    if n_mom > _MAX_MOMENTS:
        raise InvalidParameterError(
            f"m2: {n_mom} moments (items × categories) are too many for this computation; "
            f"at most {_MAX_MOMENTS}"
        )
    df = n_mom - est.n_free
    if df < 1:
        raise InvalidParameterError(
            f"m2: no degrees of freedom: {n_mom} univariate and bivariate moments, "
            f"{est.n_free} estimated parameters"
        )
    n_pts, bnds = grid_options(data.fit, n_points, bounds)
    grid = equispaced_grid(bank.latent, n_pts, bnds)
    log_p = flat_log_prob(bank, grid.nodes)
    log_p = np.concatenate([log_p, np.zeros((log_p.shape[0], 1))], axis=1)  # the empty slot
    second = np.where(cols[:, 1] >= 0, cols[:, 1], log_p.shape[1] - 1)
    log_m = log_p[:, cols[:, 0]] + log_p[:, second]  # (Q, moments)
    m = np.exp(log_m)
    w = grid.weights
    pi = w @ m
    # sample moments from the one-hot table of every (item, category)
    n = float(x.shape[0])
    table = category_table(data.resp, bank.n_categories) / n
    p = table[cols[:, 0], np.where(cols[:, 1] >= 0, cols[:, 1], cols[:, 0])]
    xi = _xi(log_p, w, item_idx, np.where(cols >= 0, cols, log_p.shape[1] - 1), log_m, pi)
    delta = _jacobian(bank, est, grid, item_idx, np.where(cols >= 0, cols, log_p.shape[1] - 1), m)
    resid = p - pi
    stat = _quadratic_form(xi, delta, resid, est.n_free) * n
    rmsea = float(np.sqrt(max(stat - df, 0.0) / (n * df)))
    return M2Fit(
        m2=stat,
        df=int(df),
        p_value=float(chi2.sf(stat, df)),
        rmsea=rmsea,
        rmsea_ci=_rmsea_interval(stat, df, n),
        srmsr=_srmsr(bank, item_idx, cols, n_uni, p, pi),
        n_moments=int(n_mom),
        n_estimated=int(est.n_free),
        n_persons=int(n),
        residuals=resid,
    )
