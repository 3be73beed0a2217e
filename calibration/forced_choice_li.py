"""Limited-information calibration of forced-choice blocks: DWLS on the pairwise tetrachorics.

The estimator the literature runs in Mplus and lavaan for Thurstonian IRT (Brown &
Maydeu-Olivares 2011, 2012), written here in closed form and vectorised.

*Pairwise outcomes.* A block of :math:`n` statements is coded as its :math:`n(n-1)/2`
comparisons :math:`y_{ij} = 1` when statement :math:`i` is preferred to :math:`j`
(:func:`pairwise_outcomes`), the binary indicator of the utility difference
:math:`y^*_{ij} = t_i - t_j > 0`. With :math:`A` the comparisons' contrast matrix (+1 at
:math:`i`, −1 at :math:`j`),

.. math:: E(\\mathbf y^*) = A\\boldsymbol\\mu, \\qquad
          \\operatorname{Cov}(\\mathbf y^*) = C = A(\\Lambda\\Phi\\Lambda^\\top + \\Psi)A^\\top,

so the model implies each comparison's threshold :math:`\\tau_p = -m_p / \\sqrt{C_{pp}}` and
the tetrachoric correlations :math:`\\rho_{pq} = C_{pq} / \\sqrt{C_{pp}C_{qq}}`.

*Step 1, the sample statistics* (two-step, Olsson 1979): thresholds
:math:`\\hat\\tau_p = -\\Phi^{-1}(\\bar y_p)` and, for every two comparisons, the
tetrachoric :math:`\\hat\\rho_{pq}` solving
:math:`\\Phi_2(-\\hat\\tau_p, -\\hat\\tau_q; \\rho) = \\hat\\pi_{pq}` (the share preferring both;
with margins fixed, the 2×2 table's one free cell), by safeguarded Newton steps on all
pairs at once. Their asymptotic covariance :math:`\\Gamma` comes from each person's influence
on them (the derivative of the estimating equations; Muthén & Satorra 1995):

.. math:: \\mathrm{IF}_{\\tau_p} = -\\frac{y_p - \\bar y_p}{\\phi(\\hat\\tau_p)}, \\qquad
          \\mathrm{IF}_{\\rho_{pq}} = \\frac{(y_py_q - \\hat\\pi_{pq})
          - \\partial_{\\tau_p}\\pi_{pq}\\,\\mathrm{IF}_{\\tau_p}
          - \\partial_{\\tau_q}\\pi_{pq}\\,\\mathrm{IF}_{\\tau_q}}{\\phi_2(\\hat\\tau_p,
          \\hat\\tau_q; \\hat\\rho_{pq})},

:math:`\\partial_{\\tau_p}\\pi_{pq} = -\\phi(\\tau_p)\\,\\Phi\\big((\\rho\\tau_p - \\tau_q) /
\\sqrt{1-\\rho^2}\\big)`; :math:`\\hat\\Gamma = \\mathrm{IF}^\\top\\mathrm{IF} / N`.
A table with an empty cell has its correlation on the boundary, moved inside by half a count
(as lavaan does); the persons' influences cannot see that cell's uncertainty (nor can a
bootstrap), so such a correlation's variance is raised to at least the model's,
:math:`1 / (N\\sum_c (\\partial\\pi_c/\\partial\\rho)^2/\\pi_c)` — its weight falls, as it
does in lavaan (whose weights equal these to 1e−7 on every other statistic).

*Step 2, the structured fit*: diagonally weighted least squares,
:math:`F = (\\mathbf s - \\boldsymbol\\sigma(\\theta))^\\top W (\\mathbf s -
\\boldsymbol\\sigma(\\theta))` with :math:`W = \\operatorname{diag}(\\hat\\Gamma)^{-1}` (``"dwls"``)
or :math:`W = I` (``"uls"``), by a trust-region least-squares solver with the analytic
Jacobian (every parameter moves :math:`C` by a rank-two term). Robust standard errors by the
sandwich :math:`\\operatorname{acov}(\\hat\\theta) = H^{-1}\\Delta^\\top W\\hat\\Gamma W\\Delta
H^{-1} / N`, :math:`H = \\Delta^\\top W\\Delta`, :math:`\\Delta = \\partial\\sigma/\\partial\\theta`.

*The test of fit*: :math:`T = N F_{\\min}`, scaled and shifted (Asparouhov & Muthén 2010) with
:math:`U = W - W\\Delta H^{-1}\\Delta^\\top W`:
:math:`T_{ss} = aT + b`, :math:`a = \\sqrt{d / \\operatorname{tr}((U\\Gamma)^2)}`,
:math:`b = d - a\\operatorname{tr}(U\\Gamma)`, referred to :math:`\\chi^2_d`. Ranking data make
some tetrachorics redundant — :math:`n(n-1)(n-2)/6` per block (Maydeu-Olivares & Böckenholt
2005) — so the degrees of freedom are the statistics less the parameters less the
redundancies (Brown & Maydeu-Olivares 2012; software that does not subtract them reports too
many).

Most/least answers to quads leave the middle comparison unobserved, and not at random: the
pairwise statistics of such data are biased, which is why the full-information estimator
(:mod:`qabilet.calibration.forced_choice_mhrm`) exists; here they are used as a start.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import least_squares
from scipy.special import ndtr, ndtri
from scipy.stats import chi2

from qabilet.calibration.forced_choice_fit import ForcedChoiceFit, scale_anchors
from qabilet.engine.exceptions import InvalidParameterError, InvalidResponseError
from qabilet.engine.forced_choice import RANKINGS, BlockDesign, BlockResponses
from qabilet.engine.orthant import bivariate_normal_cdf

__all__ = ["PairwiseData", "fit_forced_choice", "pairwise_outcomes", "scaled_shifted", "tetrachorics"]

Array = NDArray[np.float64]
_SQRT2PI = np.sqrt(2.0 * np.pi)


def _phi(x: Array) -> Array:
    out: Array = np.exp(-0.5 * x * x) / _SQRT2PI
    return out


def _phi2(h: Array, k: Array, r: Array) -> Array:
    """The bivariate standard normal density of correlation ``r`` at (h, k)."""
    q = 1.0 - r * r
    out: Array = np.exp(-(h * h - 2.0 * r * h * k + k * k) / (2.0 * q)) / (2.0 * np.pi * np.sqrt(q))
    return out


def pairwise_outcomes(design: BlockDesign, responses: BlockResponses
                      ) -> tuple[Array, NDArray[np.intp]]:
    """Every block's comparisons, per person: 1 (first preferred), 0, or NaN (not observed).

    Parameters
    ----------
    design : BlockDesign
    responses : BlockResponses

    Returns
    -------
    y : ndarray, shape (n_persons, n_comparisons)
        NaN where the block was not answered or the answer leaves the pair's order open (the
        middle two of a most/least answer).
    pairs : ndarray of int, shape (n_comparisons, 2)
        The statements compared (positions in ``design.statement_ids``), block by block, each
        block's pairs in design order: (1, 2), (1, 3), …, (n − 1, n).
    """
    codes = responses.codes
    if codes.ndim != 2 or codes.shape[1] != design.n_blocks:
        raise InvalidResponseError(f"responses: expected {design.n_blocks} blocks; got codes of "
                                   f"shape {codes.shape}")
    columns, pairs = [], []
    for b, members in enumerate(design.blocks):
        n = members.size
        rankings = np.asarray(RANKINGS[n])
        place = np.argsort(rankings, axis=1)  # (n!, n): each position's place in the ranking
        i, j = np.triu_indices(n, 1)
        before = place[:, i] < place[:, j]  # (n!, n pairs)
        table = responses.tables[b].astype(np.float64)  # (answers, n!)
        share = table @ before / np.maximum(table.sum(axis=1, keepdims=True), 1.0)
        value = np.where(share == 1.0, 1.0, np.where(share == 0.0, 0.0, np.nan))
        value = np.vstack([value, np.full((1, i.size), np.nan)])  # row −1: not answered
        columns.append(value[codes[:, b]])
        pairs.append(np.column_stack([members[i], members[j]]))
    return np.hstack(columns), np.vstack(pairs).astype(np.intp)


@dataclass(frozen=True, slots=True, eq=False)
class PairwiseData:
    """The sample statistics of the pairwise outcomes and each person's influence on them.

    Attributes
    ----------
    thresholds : ndarray, shape (P,)
    tetrachorics : ndarray, shape (P, P)
        Unit diagonal.
    upper : tuple of ndarray
        The row and column indices of the correlations used, ``np.triu_indices(P, 1)``.
    influence : ndarray, shape (N, P + P(P − 1)/2)
        Each person's influence on the thresholds then the correlations (``upper`` order).
    n_persons : int
    """

    thresholds: Array
    tetrachorics: Array
    upper: tuple[NDArray[np.intp], NDArray[np.intp]]
    influence: Array
    n_persons: int

    @property
    def statistics(self) -> Array:
        """Thresholds then the correlations above the diagonal."""
        out: Array = np.concatenate([self.thresholds, self.tetrachorics[self.upper]])
        return out

    @property
    def variances(self) -> Array:
        """The diagonal of :math:`\\hat\\Gamma`, the statistics' asymptotic variances (× N)."""
        out: Array = np.einsum("ns,ns->s", self.influence, self.influence) / self.n_persons
        return out


def tetrachorics(y: Array, *, tol: float = 1e-12, max_iter: int = 60) -> PairwiseData:
    """Thresholds, tetrachoric correlations and influences of binary outcomes with NaN missing.

    Pairwise-present: each threshold from the persons who have the outcome, each correlation
    from those who have both; a person's influence is scaled by ``N / n`` present.

    Parameters
    ----------
    y : ndarray, shape (N, P)
        0, 1 or NaN.

    Raises
    ------
    InvalidResponseError
        An outcome every person gave the same way, or one no two persons both observed.
    """
    n_persons, n_out = y.shape
    seen = ~np.isnan(y)
    y0 = np.where(seen, y, 0.0)
    count = seen.sum(axis=0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = y0.sum(axis=0) / count
    constant = np.flatnonzero(~((share > 0) & (share < 1)))
    if constant.size:
        raise InvalidResponseError(f"comparison {int(constant[0])}: every person who answered it "
                                   f"gave the same order (or none answered); its threshold is "
                                   f"infinite — drop the block or collect more answers")
    tau = -ndtri(share)
    row, col = np.triu_indices(n_out, 1)
    both = (seen.T.astype(np.float64) @ seen)[row, col]
    if np.any(both < 2):
        k = int(np.flatnonzero(both < 2)[0])
        raise InvalidResponseError(f"comparisons {int(row[k])} and {int(col[k])}: fewer than two "
                                   f"persons observed both")
    joint = (y0.T @ y0)[row, col] / both
    h, k = -tau[row], -tau[col]
    # attainable joint shares for these margins, kept off the ends (an empty cell: ρ = ±1)
    lo = np.maximum(0.0, share[row] + share[col] - 1.0)
    hi = np.minimum(share[row], share[col])
    eps = 0.5 / both
    target = np.clip(joint, lo + np.minimum(eps, (hi - lo) / 4), hi - np.minimum(eps, (hi - lo) / 4))
    rho = np.zeros(row.size)
    low, high = np.full(row.size, -1.0), np.full(row.size, 1.0)
    for _ in range(max_iter):
        r = np.clip(rho, -0.999999, 0.999999)
        f = bivariate_normal_cdf(h, k, r) - target
        low = np.where(f < 0, r, low)
        high = np.where(f > 0, r, high)
        step = f / _phi2(h, k, r)
        new = r - step
        outside = ~((new > low) & (new < high))
        new = np.where(outside, 0.5 * (low + high), new)
        done = np.max(np.abs(new - rho)) < tol
        rho = new
        if done:
            break
    corr = np.eye(n_out)
    corr[row, col] = corr[col, row] = rho
    # influences: thresholds, then correlations
    scale_t = n_persons / count
    inf_t = np.where(seen, -(y0 - share) / _phi(tau), 0.0) * scale_t
    sq = np.sqrt(1.0 - rho * rho)
    d_row = -_phi(tau[row]) * ndtr((rho * tau[row] - tau[col]) / sq)
    d_col = -_phi(tau[col]) * ndtr((rho * tau[col] - tau[row]) / sq)
    dens = _phi2(tau[row], tau[col], rho)
    present = seen[:, row] & seen[:, col]
    cells = np.where(present, y0[:, row] * y0[:, col] - joint, 0.0) * (n_persons / both)
    inf_r = (cells - d_row * inf_t[:, row] - d_col * inf_t[:, col]) / dens
    # a table with an empty cell: the correlation is a boundary estimate moved inside by the
    # half count, and the persons' influences (like a bootstrap) cannot see the cell's
    # uncertainty; its variance is at least the model's, 1 / Σ_c (∂π_c/∂ρ)² / π_c
    n11 = joint * both
    n10, n01 = (y0.T @ seen)[row, col] - n11, (seen.T @ y0)[row, col] - n11
    empty = (np.minimum(n11, both - n10 - n01 - n11) <= 0) | (np.minimum(n10, n01) <= 0)
    if np.any(empty):
        p11 = bivariate_normal_cdf(h, k, rho)
        cell = np.stack([p11, share[row] - p11, share[col] - p11,
                         1.0 - share[row] - share[col] + p11])
        model_var = 1.0 / (dens**2 * np.sum(1.0 / np.clip(cell, 1e-300, None), axis=0))
        model_var *= n_persons / both
        seen_var = np.einsum("ns,ns->s", inf_r, inf_r) / n_persons
        grow = np.where(empty, np.sqrt(np.maximum(model_var / seen_var, 1.0)), 1.0)
        inf_r = inf_r * grow
    return PairwiseData(tau, corr, (row, col), np.hstack([inf_t, inf_r]), n_persons)


class _Structure:
    """The model-implied thresholds and tetrachorics and their Jacobian in the free parameters.

    Free parameters, in order: μ of each block's statements after the first, every λ, ψ² of
    the statements not fixed by :func:`scale_anchors`, the trait correlations above the
    diagonal.
    """

    def __init__(self, design: BlockDesign, pairs: NDArray[np.intp]) -> None:
        self.design = design
        n_s, k = design.n_statements, design.n_traits
        self.contrast = np.zeros((pairs.shape[0], n_s))
        self.contrast[np.arange(pairs.shape[0]), pairs[:, 0]] = 1.0
        self.contrast[np.arange(pairs.shape[0]), pairs[:, 1]] = -1.0
        fixed, fixed_psi2 = scale_anchors(design)
        self.mu_free = np.flatnonzero(~fixed)
        self.psi_free = np.flatnonzero(np.isnan(fixed_psi2))
        self.fixed_psi2 = fixed_psi2
        self.phi_rows, self.phi_cols = np.triu_indices(k, 1)
        self.sizes = (self.mu_free.size, n_s, self.psi_free.size, self.phi_rows.size)
        self.upper = np.triu_indices(pairs.shape[0], 1)

    @property
    def n_free(self) -> int:
        return int(sum(self.sizes))

    def unpack(self, x: Array) -> tuple[Array, Array, Array, Array]:
        """(μ, λ, ψ², Φ) from the free parameters."""
        d = self.design
        a, b, c, _ = np.cumsum(self.sizes)
        mu = np.zeros(d.n_statements)
        mu[self.mu_free] = x[:a]
        lam = x[a:b].copy()
        psi2 = self.fixed_psi2.copy()
        psi2[self.psi_free] = x[b:c]
        phi = np.eye(d.n_traits)
        phi[self.phi_rows, self.phi_cols] = phi[self.phi_cols, self.phi_rows] = x[c:]
        return mu, lam, psi2, phi

    def pack(self, mu: Array, lam: Array, psi2: Array, phi: Array) -> Array:
        """The free parameters of (μ, λ, ψ², Φ)."""
        out: Array = np.concatenate([mu[self.mu_free], lam, psi2[self.psi_free],
                                     phi[self.phi_rows, self.phi_cols]])
        return out

    def implied(self, x: Array, jacobian: bool = False) -> tuple[Array, Array | None]:
        """The implied statistics, and their Jacobian ``(n_statistics, n_free)`` when asked.

        The statistics: thresholds, then the correlations above the diagonal.
        """
        d, a_mat = self.design, self.contrast
        mu, lam, psi2, phi = self.unpack(x)
        loadings = np.zeros((d.n_statements, d.n_traits))
        loadings[np.arange(d.n_statements), d.trait_of] = lam
        sigma = loadings @ phi @ loadings.T + np.diag(psi2)
        cov = a_mat @ sigma @ a_mat.T
        sd = np.sqrt(np.diag(cov))
        m = a_mat @ mu
        tau = -m / sd
        r, c = self.upper
        rho = cov[r, c] / (sd[r] * sd[c])
        stats = np.concatenate([tau, rho])
        if not jacobian:
            return stats, None
        # every free parameter moves C by x yᵀ + y xᵀ (rank two) and m by dm
        a_cols = a_mat.T  # (n_s, P): the contrasts of each statement
        lam_dir = (a_mat @ (loadings @ phi)[:, d.trait_of]).T  # (n_s, P)
        w = (a_mat @ loadings).T  # (k, P)
        zeros_mu = np.zeros((self.mu_free.size, a_mat.shape[0]))
        xs = np.vstack([zeros_mu, a_cols, a_cols[self.psi_free], w[self.phi_rows]])
        ys = np.vstack([zeros_mu, lam_dir, 0.5 * a_cols[self.psi_free], w[self.phi_cols]])
        dm = np.vstack([a_cols[self.mu_free], np.zeros((xs.shape[0] - self.mu_free.size,
                                                        a_mat.shape[0]))])
        rel_sd = xs * ys / (sd * sd)  # d sd_p / sd_p
        d_tau = -dm / sd - tau * rel_sd
        d_cov = xs[:, r] * ys[:, c] + ys[:, r] * xs[:, c]
        d_rho = d_cov / (sd[r] * sd[c]) - rho * (rel_sd[:, r] + rel_sd[:, c])
        return stats, np.hstack([d_tau, d_rho]).T


def _start(structure: _Structure, tau: Array) -> Array:
    """A start: loadings at their keyed sign, unit error variances, uncorrelated traits.

    The μ are those that best reproduce the thresholds at those values (least squares).
    """
    d = structure.design
    lam = d.keyed.astype(np.float64)
    psi2 = np.where(np.isnan(structure.fixed_psi2), 1.0, structure.fixed_psi2)
    sd = np.sqrt(np.abs(structure.contrast) @ (lam**2 + psi2))
    design_mu = structure.contrast[:, structure.mu_free]
    mu = np.zeros(d.n_statements)
    mu[structure.mu_free] = np.linalg.lstsq(design_mu, -tau * sd, rcond=None)[0]
    return structure.pack(mu, lam, psi2, np.eye(d.n_traits))


def scaled_shifted(statistic: float, trace_ug: float, trace_ug2: float, df: int) -> float:
    """The scaled and shifted test statistic (Asparouhov & Muthén 2010).

    .. math:: T_{ss} = aT + b, \\quad a = \\sqrt{d / \\operatorname{tr}((U\\Gamma)^2)}, \\quad
              b = d - a\\operatorname{tr}(U\\Gamma).
    """
    a = np.sqrt(df / trace_ug2)
    return float(a * statistic + df - a * trace_ug)


def _check_comparisons(design: BlockDesign, y: Array, pairs: NDArray[np.intp]) -> None:
    """Refuse, naming the block and statements, a comparison that nobody made both ways."""
    seen = ~np.isnan(y)
    ones = np.where(seen, y, 0.0).sum(axis=0)
    count = seen.sum(axis=0)
    block_of = np.repeat(np.arange(design.n_blocks), [m.size * (m.size - 1) // 2
                                                      for m in design.blocks])
    for p in np.flatnonzero((ones == 0) | (ones == count)):
        i, j = (design.statement_ids[k] for k in pairs[p])
        block = design.block_ids[block_of[p]]
        if count[p] == 0:
            raise InvalidResponseError(f"block {block}: nobody's answer orders {i} and {j}; "
                                       f"every comparison needs answers both ways")
        first, second = (i, j) if ones[p] else (j, i)
        raise InvalidResponseError(f"block {block}: all {int(count[p])} persons who ordered {i} "
                                   f"and {j} put {first} first; a comparison made one way only "
                                   f"has no threshold — drop the block or collect more answers")


def fit_forced_choice(design: BlockDesign, responses: BlockResponses, *,
                      weights: str = "dwls", tol: float = 1e-10) -> ForcedChoiceFit:
    """Thurstonian IRT by least squares on the pairwise thresholds and tetrachorics.

    Parameters
    ----------
    design : BlockDesign
    responses : BlockResponses
    weights : {"dwls", "uls"}
        Diagonally weighted (the inverse asymptotic variances) or unweighted least squares.
    tol : float
        The solver's tolerance on the function, the parameters and the gradient.

    Returns
    -------
    ForcedChoiceFit
        ``statistics``: ``fmin``, ``chisq`` (:math:`N F`), ``chisq_scaled``, ``df``,
        ``n_redundancies``, ``pvalue``, ``rmsea``, ``trace_ug``, ``trace_ug2``,
        ``phi_positive_definite``, ``share_unobserved`` (comparisons left open by partial
        answers), ``seconds_statistics`` and ``seconds_fit``.

    Raises
    ------
    InvalidParameterError
        ``weights`` not one of the two.
    InvalidResponseError
        A comparison nobody answered both ways.
    """
    if weights not in ("dwls", "uls"):
        raise InvalidParameterError(f"weights: expected 'dwls' or 'uls'; got {weights!r}")
    started = time.perf_counter()
    y, pairs = pairwise_outcomes(design, responses)
    answered = responses.codes >= 0
    unobserved = float(np.isnan(y).sum() - sum(
        (~answered[:, b]).sum() * (m.size * (m.size - 1) // 2) for b, m in enumerate(design.blocks)))
    _check_comparisons(design, y, pairs)
    data = tetrachorics(y)
    n = data.n_persons
    stats_done = time.perf_counter()
    structure = _Structure(design, pairs)
    s = data.statistics
    w = 1.0 / data.variances if weights == "dwls" else np.ones(s.size)
    root_w = np.sqrt(w)
    n_mu, n_lam, n_psi, _ = structure.sizes
    lower = np.full(structure.n_free, -np.inf)
    upper = np.full(structure.n_free, np.inf)
    lower[n_mu + n_lam:n_mu + n_lam + n_psi] = 1e-6
    lower[n_mu + n_lam + n_psi:], upper[n_mu + n_lam + n_psi:] = -0.999, 0.999

    def residual(x: Array) -> Array:
        out: Array = root_w * (s - structure.implied(x)[0])
        return out

    def jac(x: Array) -> Array:
        j = structure.implied(x, jacobian=True)[1]
        assert j is not None
        out: Array = -root_w[:, None] * j
        return out

    x0 = np.clip(_start(structure, data.thresholds), lower + 1e-3, upper - 1e-3)
    result = least_squares(residual, x0, jac=jac, bounds=(lower, upper), method="trf",
                           x_scale="jac", ftol=tol, xtol=tol, gtol=tol, max_nfev=2000)
    x = result.x
    sigma, delta = structure.implied(x, jacobian=True)
    assert delta is not None
    fmin = float(np.sum(w * (s - sigma) ** 2))
    hess = delta.T @ (w[:, None] * delta)
    h_inv = np.linalg.pinv(hess)
    g = data.influence @ (w[:, None] * delta)  # (N, K)
    meat = g.T @ g / n
    acov = h_inv @ meat @ h_inv / n
    se = np.sqrt(np.clip(np.diag(acov), 0.0, None))
    # traces of UΓ and (UΓ)² for the scaled-shifted statistic, in the smaller of the two spaces
    infl = data.influence
    if n <= s.size:
        m_mat = ((infl * w) @ infl.T - g @ h_inv @ g.T) / n
        tr1, tr2 = float(np.trace(m_mat)), float(np.sum(m_mat * m_mat))
    else:
        gamma = infl.T @ infl / n
        wg = w[:, None] * gamma
        ug = wg - (w[:, None] * delta) @ (h_inv @ (delta.T @ wg))
        tr1, tr2 = float(np.trace(ug)), float(np.sum(ug * ug.T))
    redundancies = sum(m.size * (m.size - 1) * (m.size - 2) // 6 for m in design.blocks)
    df = int(s.size - structure.n_free - redundancies)
    statistic = n * fmin
    scaled = scaled_shifted(statistic, tr1, tr2, df) if df > 0 else float("nan")
    p_value = float(chi2.sf(scaled, df)) if df > 0 else float("nan")
    rmsea = float(np.sqrt(max(scaled - df, 0.0) / (df * (n - 1)))) if df > 0 else float("nan")
    mu, lam, psi2, phi = structure.unpack(x)
    mu_se, lam_se, psi2_se, phi_se = structure.unpack(se)
    mu_se[~np.isin(np.arange(design.n_statements), structure.mu_free)] = np.nan
    psi2_se[~np.isnan(structure.fixed_psi2)] = np.nan
    np.fill_diagonal(phi_se, np.nan)
    done = time.perf_counter()
    statistics = {
        "fmin": fmin, "chisq": statistic, "chisq_scaled": scaled, "df": df,
        "n_redundancies": redundancies, "pvalue": p_value, "rmsea": rmsea,
        "trace_ug": tr1, "trace_ug2": tr2,
        "phi_positive_definite": bool(np.linalg.eigvalsh(phi).min() > 0),
        "share_unobserved": unobserved / y.size, "solver": result.message,
        "seconds_statistics": stats_done - started, "seconds_fit": done - stats_done}
    return ForcedChoiceFit(design, mu, lam, psi2, phi, mu_se, lam_se, psi2_se, phi_se,
                           method=weights, n_persons=n, converged=bool(result.success),
                           iterations=int(result.nfev), seconds=done - started,
                           statistics=statistics)
