"""Full-information calibration of forced-choice blocks (Thurstonian IRT) by MH-RM.

*The model* (Brown & Maydeu-Olivares 2011; :mod:`qabilet.engine.forced_choice`). Statement
:math:`s` has the utility :math:`t_s = \\mu_s + \\lambda_s\\eta_{\\tau(s)} + \\varepsilon_s`,
:math:`\\varepsilon_s \\sim N(0, \\psi_s^2)`, the traits :math:`\\boldsymbol\\eta \\sim N(\\mathbf 0,
\\Phi)` with unit variances; a ranking :math:`r` of a block is the event that its consecutive
utility differences :math:`\\mathbf D = A_r\\mathbf t` are positive, and an answer (a full
ranking, or a partial order such as most/least of a quad) the set of rankings consistent with
it, so that

.. math:: \\log f(x_p \\mid \\boldsymbol\\eta) = \\sum_b \\log \\sum_{r \\in x_{pb}}
          \\Phi_{d}\\big(S_r^{-1}A_r(\\boldsymbol\\mu + \\Lambda\\boldsymbol\\eta); R_r\\big),
          \\qquad d = n_b - 1 \\le 3,

exactly: the unobserved middle pair of a most/least quad is summed over, and a block's
comparisons are never treated as independent. The scale is :func:`scale_anchors`'s: per block
the first statement has :math:`\\mu = 0` and :math:`\\psi^2 = 1` (a pair: both 0.5).

*The estimator*: Metropolis–Hastings Robbins–Monro (Cai 2010, *Psychometrika* 75:33–57).
By Fisher's identity the marginal score is the posterior expectation of the complete-data score
:math:`\\partial_\\theta\\{\\log f(x_p\\mid\\boldsymbol\\eta_p) + \\log\\phi(\\boldsymbol\\eta_p;
\\mathbf 0, \\Phi)\\}`. Every cycle

1. *imputes* every person's traits by a few random-walk Metropolis steps, all persons at once:
   :math:`\\boldsymbol\\eta^* = \\boldsymbol\\eta + c\\,L\\mathbf z`, :math:`LL^\\top = \\Phi`,
   accepted with probability :math:`\\min\\{1, f(x_p\\mid\\boldsymbol\\eta^*)\\phi(\\boldsymbol\\eta^*)
   / f(x_p\\mid\\boldsymbol\\eta)\\phi(\\boldsymbol\\eta)\\}`, the scale :math:`c` tuned towards an
   acceptance of 0.3 while burning in (Gelman, Roberts & Gilks 1996) and then held;
2. computes the complete-data score :math:`\\mathbf s_k` at the imputations;
3. takes the Robbins–Monro step :math:`\\Gamma_k = \\Gamma_{k-1} + \\gamma_k(H_k - \\Gamma_{k-1})`,
   :math:`\\theta_{k+1} = \\theta_k + \\gamma_k\\Gamma_k^{-1}\\mathbf s_k`, with :math:`H_k` the
   complete-data Fisher information of each block's parameters estimated by their scores'
   covariance over persons (positive definite, unlike the complete-data Hessian, which the
   error variances leave indefinite: the likelihood is log-concave in μ and λ only), and for
   the correlations the expected information.

The gains follow Cai's three stages: constant 1 while burning in (stage 1, 150 cycles as mirt's
default: with the complete-data information as the preconditioner the steps converge like EM,
and the correlations, whose information is mostly missing, approach their estimate slowly —
about 150–200 cycles from a crude start or from the truth on 9 traits in simulation, and
from the limited-information estimates too), constant
1 while the estimates are averaged for stage 3's start (stage 2), then
:math:`\\gamma_k = (0.1/k)^{0.75}`
(stage 3) until no parameter moves by more than ``tol`` of its complete-data standard error
(:math:`\\sqrt{(\\Gamma_k^{-1})_{jj}}`) for ``window`` cycles in a row — a unit that makes one
tolerance fit a sharply determined correlation and the intercept of a block nearly always
ranked the same way (whose standard error may be several units) alike.

*The complete-data score.* With :math:`m_s = \\mu_s + \\lambda_s\\eta_{\\tau(s)}`,
:math:`\\partial\\log P/\\partial\\mu_s = P^{-1}\\partial P/\\partial m_s` and
:math:`\\partial\\log P/\\partial\\lambda_s = \\eta_{\\tau(s)}P^{-1}\\partial P/\\partial m_s`,
the derivative in the mean from the orthant's (a density times a lower-dimensional distribution
function, Plackett 1954) through :math:`A_r`. The error variances enter by the heat equation of
the normal law, :math:`\\partial P/\\partial\\psi_s^2 = \\tfrac12\\,\\partial^2P/\\partial m_s^2`
(the utilities' errors are independent), whose second derivatives in the standardised means
:math:`z` of an orthant probability :math:`\\Phi_d(\\mathbf z; R)` are
:math:`\\partial^2\\Phi_d/\\partial z_k\\partial z_j = \\phi_2(z_k, z_j; \\rho_{kj})\\,
\\Phi_{d-2}(\\cdot\\mid z_k, z_j)` and
:math:`\\partial^2\\Phi_d/\\partial z_k^2 = -z_k\\,\\partial\\Phi_d/\\partial z_k - \\sum_{j\\ne k}
\\rho_{kj}\\,\\partial^2\\Phi_d/\\partial z_k\\partial z_j`. The error variances are estimated on
the log scale (they stay positive). The correlations :math:`\\rho_{ij}` of :math:`\\Phi` are the
parameters of the traits' part: per person :math:`\\partial\\log\\phi/\\partial\\rho_{ij} =
u_iu_j - (\\Phi^{-1})_{ij}`, :math:`\\mathbf u = \\Phi^{-1}\\boldsymbol\\eta`, with the expected
information :math:`\\tfrac n2\\operatorname{tr}(\\Phi^{-1}E_{ij}\\Phi^{-1}E_{kl})`
(:math:`E_{ij}` the symmetric unit matrix); a step that would leave :math:`\\Phi` not positive
definite is halved.

*The complete-data information* of the statements is block diagonal (a block's terms depend
only on its statements): central differences of the analytic score, moving one slot of every
block at once (the first statement's loading of every triplet, …), give every block's matrix in
one evaluation per slot and side.

*The log-likelihood* :math:`\\sum_p \\log\\int f(x_p\\mid\\boldsymbol\\eta)\\phi(\\boldsymbol\\eta;
\\mathbf 0, \\Phi)\\,d\\boldsymbol\\eta` at the estimates, by importance sampling: per person
``loglik_points`` draws from :math:`N(\\bar{\\boldsymbol\\eta}_p, 1.2^2 S_p)`, the mean and
covariance of the person's stage-3 imputations (the covariance shrunk half-way to the persons'
average); the Monte Carlo SE by the delta method.

*Standard errors*: Louis' (1982) identity as Cai (2010, §3.4) accumulates it over stage 3,

.. math:: I(\\hat\\theta) = \\sum_p E[-\\partial^2\\log f_p\\mid x_p]
          - \\sum_p \\operatorname{Cov}[\\partial\\log f_p\\mid x_p],

the first term averaged over the stage's complete-data informations, the second from every
person's mean and second moment of their complete-data score over the stage's imputations; the
sum of the means' outer products is corrected by their Monte Carlo variance, estimated by batch
means of 10 cycles (the chains are autocorrelated, so it is larger than the per-draw variance
over the number of draws). The inverse's diagonal, by the delta method for
:math:`\\psi^2 = e^{\\log\\psi^2}`. NaN for the fixed values.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr, ndtri, owens_t

from qabilet.calibration.forced_choice_fit import ForcedChoiceFit, scale_anchors
from qabilet.engine._parallel import n_workers, run_blocks
from qabilet.engine.exceptions import InvalidParameterError, InvalidResponseError
from qabilet.engine.forced_choice import RANKINGS, BlockDesign, BlockResponses, ThurstonianBlocks
from qabilet.engine.orthant import bivariate_normal_cdf, trivariate_normal_cdf

__all__ = ["fit_forced_choice_mhrm"]

Array = NDArray[np.float64]

_TARGET_ACCEPTANCE = 0.3  # the random-walk proposals' acceptance aimed at (Gelman et al. 1996)
_GAIN_SCALE, _GAIN_POWER = 0.1, 0.75  # stage 3's gains (0.1 / k)^0.75
_MAX_STEP = 0.5  # the largest change of a parameter in one cycle (a guard while burning in)
#: bounds of log ψ² (relative to the block's anchor at 1): a guard against a block whose answers
#: are nearly always the same order pulling an error variance to 0 (a Heywood case)
_LOG_PSI_BOUNDS = (float(np.log(0.02)), float(np.log(50.0)))
_FD_STEP = 1e-4  # central differences of the score that make the complete-data information
_WARM_UP = 50  # Metropolis steps before the first Robbins-Monro step
_IS_WIDTH = 1.2  # the importance proposal's SDs over the posterior's
_SE_BATCH = 10  # stage-3 cycles per batch of the batch means (Louis' identity's Monte Carlo error)
_LOG = logging.getLogger(__name__)
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)
_SMALL = 1e-6  # bivariate probabilities below this are recomputed by Genz's algorithm


def _phi(x: Array) -> Array:
    out: Array = np.exp(-0.5 * x * x) * _INV_SQRT_2PI
    return out


def _bivariate(h: Array, k: Array, rho: Array) -> Array:
    """:math:`\\Phi_2(h, k; \\rho)` by Owen's (1956) T function.

    .. math:: \\Phi_2(h, k; \\rho) = \\tfrac12\\Phi(h) + \\tfrac12\\Phi(k) - T(h, a_h) - T(k, a_k)
              - \\beta, \\quad a_h = \\frac{k - \\rho h}{h\\sqrt{1 - \\rho^2}},\\;
              a_k = \\frac{h - \\rho k}{k\\sqrt{1 - \\rho^2}},

    :math:`\\beta = \\tfrac12` when :math:`hk < 0` (or :math:`hk = 0` and :math:`h + k < 0`),
    else 0 (Owen 1956, eq. 3.1); scipy's ``owens_t`` (Patefield & Tandy 2000) is accurate to
    double precision. Values below :data:`_SMALL`, where the formula's cancellation costs
    relative accuracy, are recomputed by :func:`~qabilet.engine.orthant.bivariate_normal_cdf`.
    """
    q = np.sqrt(1.0 - rho * rho)
    hh = np.where(h == 0.0, 1e-300, h)
    kk = np.where(k == 0.0, 1e-300, k)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a_h = (kk - rho * hh) / (hh * q)
        a_k = (hh - rho * kk) / (kk * q)
    hk = hh * kk
    beta = np.where((hk < 0) | ((hk == 0) & (hh + kk < 0)), 0.5, 0.0)
    out: Array = 0.5 * ndtr(hh) + 0.5 * ndtr(kk) - owens_t(hh, a_h) - owens_t(kk, a_k) - beta
    small = out < _SMALL
    if small.any():
        out[small] = bivariate_normal_cdf(h[small], k[small], rho[small])
    return out


@dataclass
class _Group:
    """The blocks of one size and their answers, prepared once per fit.

    ``ranked[p, g, m, i]`` is the statement at rank ``i`` of the ``m``-th ranking person ``p``'s
    answer to block ``g`` allows; ``back[p, g, m, j]`` the rank of the block's ``j``-th statement
    in it (to carry derivatives back to the block's order).
    """

    blocks: NDArray[np.intp]
    members: NDArray[np.intp]  # (g, n)
    rankings: NDArray[np.intp]  # (p, g, m)
    valid: NDArray[np.bool_]  # (p, g, m)
    answered: NDArray[np.bool_]  # (p, g)
    ranked: NDArray[np.intp]  # (p, g * m * n) statements, flattened for take_along_axis
    back: NDArray[np.intp]  # (p, g, m, n)

    @property
    def size(self) -> int:
        return int(self.members.shape[1])

    def rows(self, start: int, stop: int) -> _Group:
        """The persons ``start:stop`` (views)."""
        return _Group(self.blocks, self.members, self.rankings[start:stop], self.valid[start:stop],
                      self.answered[start:stop], self.ranked[start:stop], self.back[start:stop])

    @property
    def shape(self) -> tuple[int, int, int]:
        p, g, m = self.rankings.shape
        return p, g, m


@dataclass
class _Tables:
    """A group's ranking constants at the current error variances: per (block, ranking)."""

    sd: Array  # (p, g, m, d) the differences' SDs, gathered for the persons' rankings
    corr: Array  # (p, g, m, d, d) their correlations

    def rows(self, start: int, stop: int) -> _Tables:
        """The persons ``start:stop`` (views)."""
        return _Tables(self.sd[start:stop], self.corr[start:stop])


def _prepare(design: BlockDesign, responses: BlockResponses) -> list[_Group]:
    model = ThurstonianBlocks(design, np.zeros(design.n_statements), np.ones(design.n_statements),
                              np.ones(design.n_statements))
    out = []
    for group, sel in zip(model.groups, model.selections(responses), strict=True):
        n = group.members.shape[1]
        order = np.asarray(RANKINGS[n], dtype=np.intp)  # (n!, n) block positions by rank
        rank_of = np.argsort(order, axis=1)  # (n!, n) the rank of each block position
        positions = order[sel.rankings]  # (p, g, m, n)
        g_index = np.arange(group.members.shape[0])[None, :, None, None]
        ranked = group.members[g_index, positions]
        p = ranked.shape[0]
        out.append(_Group(group.blocks, group.members, sel.rankings, sel.valid, sel.answered,
                          np.ascontiguousarray(ranked.reshape(p, -1)), rank_of[sel.rankings]))
    return out


def _tables(group: _Group, psi2: Array) -> _Tables:
    """The differences' SDs and correlations per person's allowed ranking (no trait involved).

    For consecutive differences :math:`D_k = t_{r_k} - t_{r_{k+1}}`:
    :math:`\\operatorname{Var} D_k = \\psi^2_{r_k} + \\psi^2_{r_{k+1}}`,
    :math:`\\operatorname{Cov}(D_k, D_{k+1}) = -\\psi^2_{r_{k+1}}`, others 0.
    """
    n = group.size
    d = n - 1
    order = np.asarray(RANKINGS[n], dtype=np.intp)
    ps = psi2[group.members][:, order]  # (g, n!, n) by rank
    var = ps[..., :-1] + ps[..., 1:]
    sd = np.sqrt(var)
    corr = np.broadcast_to(np.eye(d), (*var.shape[:2], d, d)).copy()
    for k in range(d - 1):
        c = -ps[..., k + 1] / (sd[..., k] * sd[..., k + 1])
        corr[..., k, k + 1] = c
        corr[..., k + 1, k] = c
    gi = np.arange(group.members.shape[0])[None, :, None]
    return _Tables(sd[gi, group.rankings], corr[gi, group.rankings])


def _orthant_terms(z: Array, corr: Array, second: bool, first: bool = True
                   ) -> tuple[Array, Array, Array | None]:
    """:math:`\\Phi_d(\\mathbf z; R)`, its gradient and (optionally) Hessian in ``z``.

    Without ``first`` only the probability (``z`` returned in the gradient's place).

    ``z`` (..., d), ``corr`` (..., d, d), d = 1, 2 or 3. The gradient is
    :math:`\\phi(z_k)\\,\\Phi_{d-1}(\\mathbf w_{\\cdot k}; R_{\\cdot k})` (Plackett 1954), the
    Hessian's off-diagonal :math:`\\phi_2(z_k, z_j; \\rho_{kj})\\,\\Phi(\\cdot\\mid z_k, z_j)`
    and its diagonal :math:`-z_k g_k - \\sum_{j \\ne k}\\rho_{kj}H_{kj}` (the module notes).
    """
    d = z.shape[-1]
    if not first:
        if d == 1:
            return ndtr(z[..., 0]), z, None
        if d == 2:
            return _bivariate(z[..., 0], z[..., 1], corr[..., 0, 1]), z, None
        rho = np.stack([corr[..., 0, 1], corr[..., 0, 2], corr[..., 1, 2]], axis=-1)
        return trivariate_normal_cdf(z, rho), z, None
    dens = _phi(z)
    hess: Array | None = None
    if d == 1:
        prob = ndtr(z[..., 0])
        grad = dens
        if second:
            hess = (-z * dens)[..., None]
        return prob, grad, hess
    if d == 2:
        rho = corr[..., 0, 1]
        q = np.sqrt(1.0 - rho * rho)
        prob = _bivariate(z[..., 0], z[..., 1], rho)
        grad = dens * ndtr((z[..., ::-1] - rho[..., None] * z) / q[..., None])
        if second:
            cross = dens[..., 0] * _phi((z[..., 1] - rho * z[..., 0]) / q) / q  # φ2(z1, z2; ρ)
            hess = np.empty((*z.shape, 2))
            hess[..., 0, 1] = hess[..., 1, 0] = cross
            hess[..., 0, 0] = -z[..., 0] * grad[..., 0] - rho * cross
            hess[..., 1, 1] = -z[..., 1] * grad[..., 1] - rho * cross
        return prob, grad, hess
    r12, r13, r23 = corr[..., 0, 1], corr[..., 0, 2], corr[..., 1, 2]
    prob = trivariate_normal_cdf(z, np.stack([r12, r13, r23], axis=-1))
    grad = np.empty(z.shape)
    for k, (j, o) in enumerate(((1, 2), (0, 2), (0, 1))):
        rjk, rok, rjo = corr[..., j, k], corr[..., o, k], corr[..., j, o]
        qj, qo = np.sqrt(1.0 - rjk * rjk), np.sqrt(1.0 - rok * rok)
        partial = np.clip((rjo - rjk * rok) / (qj * qo), -1.0, 1.0)
        zk = z[..., k]
        grad[..., k] = dens[..., k] * _bivariate((z[..., j] - rjk * zk) / qj,
                                                 (z[..., o] - rok * zk) / qo, partial)
    if second:
        hess = np.empty((*z.shape, 3))
        for k, j, o in ((0, 1, 2), (0, 2, 1), (1, 2, 0)):
            rkj, rko, rjo = corr[..., k, j], corr[..., k, o], corr[..., j, o]
            q = 1.0 - rkj * rkj
            zk, zj = z[..., k], z[..., j]
            pair = _phi(zk) * _phi((zj - rkj * zk) / np.sqrt(q)) / np.sqrt(q)
            mean = (zk * (rko - rkj * rjo) + zj * (rjo - rkj * rko)) / q
            var = 1.0 - (rko * rko + rjo * rjo - 2.0 * rkj * rko * rjo) / q
            cross = pair * ndtr((z[..., o] - mean) / np.sqrt(np.maximum(var, 1e-300)))
            hess[..., k, j] = hess[..., j, k] = cross
        for k in range(3):
            others = [j for j in range(3) if j != k]
            hess[..., k, k] = -z[..., k] * grad[..., k] - sum(corr[..., k, j] * hess[..., k, j]
                                                              for j in others)
    return prob, grad, hess


def _group_loglik(group: _Group, tab: _Tables, utility: Array) -> Array:
    """A group's log-likelihood terms only, (n_persons, g), 0 where not answered."""
    p, g, m = group.shape
    n = group.size
    ur = np.take_along_axis(utility, group.ranked, axis=1).reshape(p, g, m, n)
    z = (ur[..., :-1] - ur[..., 1:]) / tab.sd
    prob = _orthant_terms(z, tab.corr, False, False)[0]
    total = np.where(group.valid, prob, 0.0).sum(axis=-1) if m > 1 else prob[..., 0]
    out: Array = np.where(group.answered, np.log(np.maximum(total, 1e-300)), 0.0)
    return out


def _group_terms(group: _Group, tab: _Tables, utility: Array, second: bool = True
                 ) -> tuple[Array, Array, Array | None]:
    """A group's log-likelihood terms and their derivatives in the block's utility means.

    Parameters
    ----------
    group : _Group
    tab : _Tables
        At the current error variances.
    utility : ndarray, shape (n_persons, n_statements)
        :math:`m_s = \\mu_s + \\lambda_s\\eta_{\\tau(s)}`.
    second : bool
        Whether to compute :math:`\\partial\\log P/\\partial\\psi^2` too.

    Returns
    -------
    logp : ndarray, shape (n_persons, g)
        :math:`\\log P(x_{pb})`, 0 where not answered.
    dm : ndarray, shape (n_persons, g, n)
        :math:`\\partial\\log P/\\partial m_s` in the block's statement order.
    dpsi : ndarray or None, shape (n_persons, g, n)
        :math:`\\partial\\log P/\\partial\\psi^2_s = \\tfrac12 P^{-1}\\partial^2 P/\\partial m_s^2`.
    """
    p, g, m = group.shape
    n = group.size
    ur = np.take_along_axis(utility, group.ranked, axis=1).reshape(p, g, m, n)
    z = (ur[..., :-1] - ur[..., 1:]) / tab.sd
    prob, gz, hz = _orthant_terms(z, tab.corr, second)
    prob = np.where(group.valid, prob, 0.0)
    total = prob.sum(axis=-1)
    safe = np.maximum(total, 1e-300)
    logp = np.where(group.answered, np.log(safe), 0.0)
    inv = np.where(group.answered, 1.0 / safe, 0.0)[..., None, None]  # (p, g, 1, 1)
    gmu = np.where(group.valid[..., None], gz / tab.sd, 0.0)  # ∂P/∂(mean of D_k)
    # to the ranked utilities: ∂/∂t_(i) = g_i − g_(i−1)
    gr = np.zeros((p, g, m, n))
    gr[..., :-1] += gmu
    gr[..., 1:] -= gmu
    dm = np.take_along_axis(gr * inv, group.back, axis=-1).sum(axis=2)
    dpsi = None
    if second and hz is not None:
        hmu = hz / (tab.sd[..., :, None] * tab.sd[..., None, :])
        hmu = np.where(group.valid[..., None, None], hmu, 0.0)
        diag = np.diagonal(hmu, axis1=-2, axis2=-1)  # (p, g, m, d)
        hr = np.zeros((p, g, m, n))
        hr[..., :-1] += diag
        hr[..., 1:] += diag
        if n > 2:
            hr[..., 1:-1] -= 2.0 * np.diagonal(hmu, offset=1, axis1=-2, axis2=-1)
        dpsi = 0.5 * np.take_along_axis(hr * inv, group.back, axis=-1).sum(axis=2)
    return logp, dm, dpsi


def _start_intercepts(groups: Sequence[_Group], n_statements: int) -> Array:
    """Crude intercepts from how often each statement is ranked above its block's first.

    At λ = ±1, ψ² = 1 and independent traits the difference of two statements' utilities has
    variance 4, so :math:`\\mu_s - \\mu_{\\text{first}} \\approx 2\\,\\Phi^{-1}(p_{s \\succ
    \\text{first}})`, the proportion clipped to [0.01, 0.99]; a partial answer counts its first
    consistent ranking.
    """
    mu = np.zeros(n_statements)
    for group in groups:
        rank = group.back[:, :, 0, :]  # (p, g, n): the rank of each block position
        above = (rank < rank[..., :1]) & group.answered[..., None]
        count = np.maximum(group.answered.sum(axis=0), 1)[:, None]
        share = np.clip(above.sum(axis=0) / count, 0.01, 0.99)
        mu[group.members] = 2.0 * ndtri(share)
        mu[group.members[:, 0]] = 0.0
    return mu


def _correlation_information(inv_phi: Array, scatter: Array, n: int,
                             tril: tuple[NDArray[np.intp], NDArray[np.intp]]) -> Array:
    """The complete-data information of the correlations given the traits' scatter T.

    :math:`-\\partial^2/\\partial\\rho_a\\partial\\rho_b\\sum_p\\log\\phi(\\boldsymbol\\eta_p;
    \\mathbf 0, \\Phi) = -\\tfrac n2\\operatorname{tr}(\\Phi^{-1}E_b\\Phi^{-1}E_a) +
    \\operatorname{tr}(\\Phi^{-1}E_b\\Phi^{-1}E_a\\Phi^{-1}T)`, :math:`T = \\sum_p
    \\boldsymbol\\eta_p\\boldsymbol\\eta_p^\\top` (or its posterior expectation), :math:`E_a`
    the symmetric unit matrix of correlation :math:`a` (Magnus & Neudecker 1999, ch. 15); the
    expected information :math:`\\tfrac n2\\operatorname{tr}(\\Phi^{-1}E_a\\Phi^{-1}E_b)` when
    :math:`T = n\\Phi`, which the unit variances do not force.
    """
    k = inv_phi.shape[0]
    units = np.zeros((tril[0].size, k, k))
    at = np.arange(tril[0].size)
    units[at, tril[0], tril[1]] = 1.0
    units[at, tril[1], tril[0]] = 1.0
    we = inv_phi @ units  # (A, k, k)
    first = np.einsum("bij,aji->ab", we, we)
    second = np.einsum("bij,ajl,li->ab", we, we, inv_phi @ scatter)
    out: Array = -0.5 * n * first + 0.5 * (second + second.T)
    return out


def _correlation_scores(eta: Array, inv_phi: Array, tril: tuple[NDArray[np.intp], NDArray[np.intp]]
                        ) -> Array:
    """Each person's score of the correlations, shape (n, n_correlations).

    :math:`\\partial\\log\\phi(\\boldsymbol\\eta; \\mathbf 0, \\Phi)/\\partial\\rho_{ij} =
    u_iu_j - (\\Phi^{-1})_{ij}`, :math:`\\mathbf u = \\Phi^{-1}\\boldsymbol\\eta`.
    """
    u = eta @ inv_phi
    out: Array = u[:, tril[0]] * u[:, tril[1]] - inv_phi[tril]
    return out


class _Layout:
    """The free parameters' vector: free μ, all λ, free log ψ², then Φ's lower triangle."""

    def __init__(self, design: BlockDesign, groups: Sequence[_Group]) -> None:
        fixed, fixed_psi2 = scale_anchors(design)
        s_count = design.n_statements
        k = design.n_traits
        self.design = design
        self.free_mu = ~fixed
        self.free_psi = ~np.isfinite(fixed_psi2)
        self.fixed_psi2 = fixed_psi2
        self.mu_at = np.full(s_count, -1, dtype=np.intp)
        self.lam_at = np.full(s_count, -1, dtype=np.intp)
        self.psi_at = np.full(s_count, -1, dtype=np.intp)
        start = 0
        for where, free in ((self.mu_at, self.free_mu), (self.lam_at, np.ones(s_count, dtype=bool)),
                            (self.psi_at, self.free_psi)):
            idx = np.flatnonzero(free)
            where[idx] = start + np.arange(idx.size)
            start += idx.size
        self.n_items = start
        self.tril = np.tril_indices(k, -1)
        self.n_phi = self.tril[0].size
        self.size = start + self.n_phi
        # per group: each block's free parameters, in slots (kind, position in the block)
        self.slots: list[list[tuple[str, int]]] = []
        self.index: list[NDArray[np.intp]] = []  # (g, q)
        for group in groups:
            n = group.size
            slots = [(kind, j) for kind, at in (("mu", self.mu_at), ("lam", self.lam_at),
                                                 ("psi", self.psi_at))
                     for j in range(n) if at[group.members[0, j]] >= 0]
            at_of = {"mu": self.mu_at, "lam": self.lam_at, "psi": self.psi_at}
            self.slots.append(slots)
            self.index.append(np.stack([at_of[kind][group.members[:, j]] for kind, j in slots],
                                       axis=1))


def _correlation_step(phi: Array, step: Array, tril: tuple[NDArray[np.intp], NDArray[np.intp]]) -> Array:
    """Φ moved by ``step`` in its correlations, halved until positive definite."""
    for _ in range(30):
        new = phi.copy()
        new[tril] += step
        new.T[tril] = new[tril]
        if np.linalg.eigvalsh(new)[0] > 1e-4 and np.all(np.abs(new[tril]) < 0.999):
            return new
        step = step / 2
    return phi


def _correlation_matrix(phi: Array, floor: float = 0.05) -> Array:
    """``phi`` made a positive-definite correlation matrix to start from.

    A limited-information fit estimates the correlations one by one, and a weakly determined
    design can leave them jointly indefinite; its eigenvalues are raised to ``floor`` and the
    result rescaled to a unit diagonal (Higham's projection, one step).
    """
    values, vectors = np.linalg.eigh(0.5 * (phi + phi.T))
    if values.min() >= floor:
        return phi.copy()
    fixed = (vectors * np.maximum(values, floor)) @ vectors.T
    d = np.sqrt(np.diag(fixed))
    out: Array = fixed / np.outer(d, d)
    return out


def fit_forced_choice_mhrm(design: BlockDesign, responses: BlockResponses, *,
                           start: ForcedChoiceFit | None = None, max_cycles: int = 500,
                           burn_in: int = 150, average: int = 50, min_stage3: int = 80,
                           tol: float = 0.02, window: int = 3, mh_steps: int = 3,
                           hessian_every: int = 10, seed: int | None = 0,
                           compute_se: bool = True, loglik_points: int = 32) -> ForcedChoiceFit:
    """Calibrate a forced-choice design by MH-RM (see the module notes).

    Parameters
    ----------
    design : BlockDesign
    responses : BlockResponses
        Per person and block the answer (full rankings or partial orders); the likelihood of a
        partial order sums its consistent rankings exactly.
    start : ForcedChoiceFit, optional
        Start values (e.g. the limited-information fit); by default λ = keyed, ψ² = 1 (0.5 in
        pairs), Φ = I and μ from the pairwise proportions (:func:`_start_intercepts`).
    max_cycles : int
        Cycles at most over the three stages.
    burn_in, average : int
        Cycles of stage 1 (gain 1, the proposal scale tuned) and stage 2 (gain 1, averaged).
        150 cycles of stage 1 (mirt's default) also from a ``start`` fit: on 9 traits the
        correlations need them even from the limited-information estimates (RMSE 0.015 after
        150 cycles, 0.021 after 30, on 5,000 persons × 30 triplets).
    min_stage3 : int
        Stage 3 runs at least this many cycles (the standard errors accumulate over it).
    tol, window : float, int
        Converged when no parameter moves by more than ``tol`` complete-data standard errors
        (the module notes) for ``window`` stage-3 cycles in
        a row.
    mh_steps : int
        Metropolis steps per person per cycle.
    hessian_every : int
        Louis' complete-data Hessian of the statements (central differences of the score) is
        taken every this many stage-3 cycles and averaged.
    seed : int or None
        The sampler's seed (a fit with a seed is reproducible).
    compute_se : bool
        Whether to accumulate Louis' information for the standard errors.
    loglik_points : int
        Importance-sampling points per person for the marginal log-likelihood (0: none).

    Returns
    -------
    ForcedChoiceFit
        ``method="mhrm"``; ``statistics`` holds ``cycles`` per stage, ``acceptance`` (the last
        cycle's), ``proposal_scale``, ``max_change`` (over the last window, in
        complete-data SEs), ``gain`` (stage 3's last), ``information_rank`` (of Louis'
        information; below ``n_parameters`` a direction was left without information),
        ``loglik`` (the marginal log-likelihood) and ``loglik_mc_se`` (its Monte Carlo SE).

    Raises
    ------
    InvalidResponseError
        ``responses`` not of ``design``'s blocks.
    InvalidParameterError
        ``start`` of another design.
    """
    began = time.perf_counter()
    if responses.codes.ndim != 2 or responses.codes.shape[1] != design.n_blocks:
        raise InvalidResponseError(f"responses: expected {design.n_blocks} blocks; got codes of "
                                   f"shape {responses.codes.shape}")
    rng = np.random.default_rng(seed)
    groups = _prepare(design, responses)
    lay = _Layout(design, groups)
    n_persons = responses.codes.shape[0]
    k = design.n_traits
    trait_of = design.trait_of
    if start is not None:
        if start.design.n_statements != design.n_statements or start.design.n_traits != k:
            raise InvalidParameterError("start: expected a fit of the same design")
        mu, lam, psi2 = start.mu.copy(), start.lam.copy(), start.psi2.copy()
        phi = _correlation_matrix(start.phi)
    else:
        mu = _start_intercepts(groups, design.n_statements)
        lam = design.keyed.astype(np.float64)
        psi2 = np.ones(design.n_statements)
        phi = np.eye(k)
    mu[~lay.free_mu] = 0.0
    psi2[~lay.free_psi] = lay.fixed_psi2[~lay.free_psi]
    log_psi = np.clip(np.log(psi2), *_LOG_PSI_BOUNDS)

    def all_tables(lp: Array) -> list[_Tables]:
        return [_tables(g, np.exp(lp)) for g in groups]

    chunk = max(500, -(-n_persons // n_workers()))

    def loglik(eta: Array, tabs: list[_Tables]) -> Array:
        u = mu + lam * eta[:, trait_of]
        total = np.zeros(eta.shape[0])

        def work(a: int, b: int) -> None:
            for g, t in zip(groups, tabs, strict=True):
                total[a:b] += _group_loglik(g.rows(a, b), t.rows(a, b), u[a:b]).sum(axis=1)

        run_blocks(work, n_persons, chunk)
        return total

    def statement_scores(eta: Array, tabs: list[_Tables], m_: Array, l_: Array
                         ) -> tuple[Array, Array]:
        """Per person ∂log f/∂m_s and ∂log f/∂ψ²_s, (n, S) each."""
        u = m_ + l_ * eta[:, trait_of]
        dm = np.zeros((eta.shape[0], design.n_statements))
        dp = np.zeros_like(dm)

        def work(a: int, b: int) -> None:
            for g, t in zip(groups, tabs, strict=True):
                _, gm, gp = _group_terms(g.rows(a, b), t.rows(a, b), u[a:b])
                assert gp is not None
                dm[a:b, g.members] = gm
                dp[a:b, g.members] = gp

        run_blocks(work, n_persons, chunk)
        return dm, dp

    def person_scores(eta: Array, dm: Array, dp: Array, inv_phi: Array) -> Array:
        """The complete-data score per person, (n, size), in the layout's order."""
        out = np.empty((eta.shape[0], lay.size))
        free = lay.free_mu
        out[:, lay.mu_at[free]] = dm[:, free]
        out[:, lay.lam_at] = dm * eta[:, trait_of]
        fp = lay.free_psi
        out[:, lay.psi_at[fp]] = dp[:, fp] * np.exp(log_psi[fp])
        out[:, lay.n_items:] = _correlation_scores(eta, inv_phi, lay.tril)
        return out

    def item_information(eta: Array) -> list[Array]:
        """Per group the blocks' complete-data information, (g, q, q), by central differences."""
        out = []
        for g, slots in zip(groups, lay.slots, strict=True):
            cols = []
            for kind, j in slots:
                sides = []
                for sign in (1.0, -1.0):
                    m_, l_, p_ = mu.copy(), lam.copy(), log_psi.copy()
                    target = {"mu": m_, "lam": l_, "psi": p_}[kind]
                    target[g.members[:, j]] += sign * _FD_STEP
                    t = _tables(g, np.exp(p_))
                    u = m_ + l_ * eta[:, trait_of]
                    gm = np.empty((n_persons, *g.members.shape))
                    gp = np.empty_like(gm)

                    def work(a: int, b: int, g: _Group = g, t: _Tables = t, u: Array = u,
                             gm: Array = gm, gp: Array = gp) -> None:
                        _, gm[a:b], gp_ = _group_terms(g.rows(a, b), t.rows(a, b), u[a:b])
                        assert gp_ is not None
                        gp[a:b] = gp_

                    run_blocks(work, n_persons, chunk)
                    # the block's score in its slots, summed over persons: (g, q)
                    parts = []
                    for kind2, j2 in slots:
                        if kind2 == "mu":
                            parts.append(gm[:, :, j2].sum(axis=0))
                        elif kind2 == "lam":
                            parts.append((gm[:, :, j2] * eta[:, trait_of[g.members[:, j2]]]).sum(axis=0))
                        else:
                            parts.append((gp[:, :, j2] * np.exp(p_[g.members[:, j2]])).sum(axis=0))
                    sides.append(np.stack(parts, axis=1))
                cols.append(-(sides[0] - sides[1]) / (2 * _FD_STEP))
            h = np.stack(cols, axis=2)  # (g, q, q)
            out.append(0.5 * (h + h.transpose(0, 2, 1)))
        return out

    def phi_information(inv_phi: Array, n: int) -> Array:
        """Expected complete-data information of the correlations, n/2 tr(Φ⁻¹E_aΦ⁻¹E_b)."""
        i, j = lay.tril
        # tr(Φ⁻¹E_ij Φ⁻¹E_kl) = 2(Φ⁻¹_jk Φ⁻¹_li + Φ⁻¹_ik Φ⁻¹_lj) for symmetric units
        out: Array = n * (inv_phi[np.ix_(j, i)] * inv_phi[np.ix_(i, j)]
                          + inv_phi[np.ix_(i, i)] * inv_phi[np.ix_(j, j)])
        return out

    # -- the chains ---------------------------------------------------------------------------
    eta = rng.standard_normal((n_persons, k)) * 0.1
    tabs = all_tables(log_psi)
    inv_phi = np.asarray(np.linalg.inv(phi), dtype=np.float64)
    chol = np.linalg.cholesky(phi)
    ll = loglik(eta, tabs)
    scale = 2.4 / np.sqrt(k) * 0.5
    accepted = 0.0

    def metropolis(steps: int) -> float:
        nonlocal eta, ll
        rate = 0.0
        prior = -0.5 * np.einsum("pi,ij,pj->p", eta, inv_phi, eta)
        for _ in range(steps):
            prop = eta + scale * rng.standard_normal(eta.shape) @ chol.T
            ll_new = loglik(prop, tabs)
            prior_new = -0.5 * np.einsum("pi,ij,pj->p", prop, inv_phi, prop)
            with np.errstate(invalid="ignore"):
                take = np.log(rng.random(n_persons)) < (ll_new + prior_new - ll - prior)
            eta[take] = prop[take]
            ll[take] = ll_new[take]
            prior[take] = prior_new[take]
            rate += take.mean()
        return rate / max(steps, 1)

    for _ in range(_WARM_UP):  # the chains to the posterior at the start values, tuning the scale
        accepted = metropolis(1)
        scale *= float(np.exp(accepted - _TARGET_ACCEPTANCE))

    info_items = [np.zeros((index.shape[0], index.shape[1], index.shape[1])) for index in lay.index]
    info_phi = phi_information(inv_phi, n_persons)

    def solve_step(score: Array, info_items: list[Array], info_phi: Array) -> Array:
        step = np.zeros(lay.size)
        for index, h in zip(lay.index, info_items, strict=True):
            s = score[index]  # (g, q)
            values, vectors = np.linalg.eigh(h)
            size = np.abs(values)
            size = np.maximum(size, 1e-3 * size.max(axis=1, keepdims=True) + 1e-8)
            along = np.einsum("gqr,gq->gr", vectors, s) / size
            step[index] = np.einsum("gqr,gr->gq", vectors, along)
        if lay.n_phi:
            step[lay.n_items:] = np.linalg.solve(info_phi, score[lay.n_items:])
        return step

    def complete_se(info_items: list[Array], info_phi: Array) -> Array:
        """Each parameter's complete-data standard error (the unit ``tol`` is in)."""
        out = np.empty(lay.size)
        for index, h in zip(lay.index, info_items, strict=True):
            values, vectors = np.linalg.eigh(h)
            values = np.maximum(values, 1e-8 * np.maximum(values.max(axis=1, keepdims=True), 1e-300))
            out[index] = np.sqrt(np.einsum("gqr,gr->gq", vectors**2, 1.0 / values))
        if lay.n_phi:
            out[lay.n_items:] = np.sqrt(np.diag(np.linalg.inv(info_phi)))
        return out

    def vector() -> Array:
        out = np.empty(lay.size)
        out[lay.mu_at[lay.free_mu]] = mu[lay.free_mu]
        out[lay.lam_at] = lam
        out[lay.psi_at[lay.free_psi]] = log_psi[lay.free_psi]
        out[lay.n_items:] = phi[lay.tril]
        return out

    def assign(theta: Array) -> None:
        nonlocal phi, inv_phi, chol, tabs
        mu[lay.free_mu] = theta[lay.mu_at[lay.free_mu]]
        lam[:] = theta[lay.lam_at]
        log_psi[lay.free_psi] = np.clip(theta[lay.psi_at[lay.free_psi]], *_LOG_PSI_BOUNDS)
        if lay.n_phi:
            phi = _correlation_step(phi, theta[lay.n_items:] - phi[lay.tril], lay.tril)
        inv_phi = np.asarray(np.linalg.inv(phi), dtype=np.float64)
        chol = np.linalg.cholesky(phi)
        tabs = all_tables(log_psi)

    # stage 3's accumulators (Louis' identity)
    p_size = lay.size
    mean_score = np.zeros((n_persons, p_size)) if compute_se else np.zeros((0, p_size))
    batch_sum = np.zeros_like(mean_score)
    batch_outer = np.zeros((p_size, p_size))
    batch_fill = n_batches = 0
    outer = np.zeros((p_size, p_size))
    eta_sum = np.zeros((n_persons, k))  # the posterior moments of every person's traits
    eta_outer = np.zeros((n_persons, k, k))
    eta_count = 0
    hess_sum_items = [np.zeros_like(h) for h in info_items]  # Louis' E[−H]
    hess_count = 0
    draws = 0
    averaged = np.zeros(lay.size)
    cycles = {"stage1": 0, "stage2": 0, "stage3": 0}
    changes: list[float] = []
    converged = False
    gain = 1.0
    stage3 = 0
    for cycle in range(max_cycles):
        stage = 1 if cycle < burn_in else 2 if cycle < burn_in + average else 3
        accepted = metropolis(mh_steps)
        if stage == 1:
            scale *= float(np.exp(accepted - _TARGET_ACCEPTANCE))
        dm, dp = statement_scores(eta, tabs, mu, lam)
        per = person_scores(eta, dm, dp, inv_phi)
        score = per.sum(axis=0)
        if stage == 3:
            stage3 += 1
            gain = (_GAIN_SCALE / stage3) ** _GAIN_POWER
        # the preconditioner: the complete-data Fisher information of each block's parameters,
        # the scores' covariance over persons, by Robbins-Monro
        centred = per - per.mean(axis=0)
        info_items = [old + gain * (np.einsum("pgq,pgr->gqr", centred[:, index], centred[:, index])
                                    - old) for old, index in zip(info_items, lay.index, strict=True)]
        info_phi = phi_information(inv_phi, n_persons)
        if stage == 3 and compute_se and (stage3 - 1) % hessian_every == 0:
            h_now = item_information(eta)
            hess_sum_items = [a + b for a, b in zip(hess_sum_items, h_now, strict=True)]
            hess_count += 1
        if stage == 3:
            eta_sum += eta
            eta_outer += eta[:, :, None] * eta[:, None, :]
            eta_count += 1
        if stage == 3 and compute_se:
            outer += per.T @ per
            draws += 1
            batch_sum += per
            batch_fill += 1
            if batch_fill == _SE_BATCH:
                batch_mean = batch_sum / _SE_BATCH
                batch_outer += batch_mean.T @ batch_mean
                mean_score += batch_sum
                n_batches += 1
                batch_sum[:] = 0.0
                batch_fill = 0
        step = gain * solve_step(score, info_items, info_phi)
        step = np.clip(step, -_MAX_STEP, _MAX_STEP)
        before = vector()
        assign(before + step)
        change = np.abs(vector() - before)
        moved = float(np.max(change / complete_se(info_items, info_phi)))
        if _LOG.isEnabledFor(logging.DEBUG):
            _LOG.debug("cycle %d stage %d %.1fs acceptance %.2f largest change %.4f (parameter %d "
                       "of %d) mean |λ| %.4f mean ρ %.4f", cycle, stage, time.perf_counter() - began,
                       accepted, moved, int(np.argmax(change)), lay.size, np.mean(np.abs(lam)),
                       np.mean(phi[lay.tril]) if lay.n_phi else 0.0)
        ll = loglik(eta, tabs)
        cycles[f"stage{stage}"] += 1
        if stage == 2:
            averaged += vector()
            if cycle == burn_in + average - 1:
                assign(averaged / average)
                ll = loglik(eta, tabs)
        if stage == 3:
            changes.append(moved)
            if (stage3 >= min_stage3 and len(changes) >= window
                    and max(changes[-window:]) < tol):
                converged = True
                break

    # -- the log-likelihood by importance sampling --------------------------------------------
    loglik_value, loglik_se = float("nan"), float("nan")
    if loglik_points and eta_count > 1:
        centre = eta_sum / eta_count
        spread = eta_outer / eta_count - centre[:, :, None] * centre[:, None, :]
        spread = spread * eta_count / (eta_count - 1)
        # shrunk half-way to the persons' average posterior covariance: a person's own, from a
        # few autocorrelated draws, may miss a direction (then the weights degenerate)
        spread = 0.5 * spread + 0.5 * spread.mean(axis=0) + 1e-4 * np.eye(k)
        factor = np.linalg.cholesky(_IS_WIDTH**2 * spread)  # (n, k, k)
        log_det_q = 2.0 * np.log(np.diagonal(factor, axis1=1, axis2=2)).sum(axis=1)
        _, log_det_phi = np.linalg.slogdet(phi)
        terms = np.empty((n_persons, loglik_points))
        for r in range(loglik_points):
            z = rng.standard_normal((n_persons, k))
            point = centre + np.einsum("pij,pj->pi", factor, z)
            log_prior = -0.5 * (np.einsum("pi,ij,pj->p", point, inv_phi, point) + log_det_phi)
            log_q = -0.5 * (np.einsum("pi,pi->p", z, z) + log_det_q)
            terms[:, r] = loglik(point, tabs) + log_prior - log_q
        top = terms.max(axis=1, keepdims=True)
        weights = np.exp(terms - top)
        per_person = top[:, 0] + np.log(weights.mean(axis=1))
        loglik_value = float(per_person.sum())
        # the delta method's Monte Carlo SE of each person's log of the mean weight
        rel = weights.std(axis=1, ddof=1) / (weights.mean(axis=1) * np.sqrt(loglik_points))
        loglik_se = float(np.sqrt(np.sum(rel**2)))

    # -- standard errors ----------------------------------------------------------------------
    se = np.full(lay.size, np.nan)
    info_rank = 0
    if compute_se and n_batches >= 2 and hess_count:
        info = np.zeros((p_size, p_size))
        for index, h in zip(lay.index, hess_sum_items, strict=True):
            hb = h / hess_count
            for b in range(index.shape[0]):
                info[np.ix_(index[b], index[b])] += hb[b]
        if lay.n_phi:
            info[lay.n_items:, lay.n_items:] += _correlation_information(
                inv_phi, eta_outer.sum(axis=0) / eta_count, n_persons, lay.tril)
        means = mean_score / (n_batches * _SE_BATCH)
        squares = means.T @ means
        # Σ_p E[s_p]E[s_p]ᵀ: the means' outer products less their Monte Carlo variance, which
        # the chains' autocorrelation makes larger than Var/M — by batch means
        spread = (batch_outer - n_batches * squares) / (n_batches - 1)
        cov = outer / draws - (squares - spread / n_batches)
        info -= cov
        info = 0.5 * (info + info.T)
        values, vectors = np.linalg.eigh(info)
        keep = values > values.max() * 1e-10
        info_rank = int(keep.sum())
        # a direction the Monte Carlo estimate leaves without positive information gets no
        # variance from it (the pseudo-inverse); ``information_rank`` tells
        inverse = (vectors[:, keep] / values[keep]) @ vectors[:, keep].T
        se = np.sqrt(np.clip(np.diag(inverse), 0.0, None))
    nan = np.full(design.n_statements, np.nan)
    mu_se, lam_se, psi2_se = nan.copy(), se[lay.lam_at], nan.copy()
    mu_se[lay.free_mu] = se[lay.mu_at[lay.free_mu]]
    psi2_se[lay.free_psi] = se[lay.psi_at[lay.free_psi]] * np.exp(log_psi[lay.free_psi])
    phi_se = np.full((k, k), np.nan)
    if lay.n_phi:
        phi_se[lay.tril] = se[lay.n_items:]
        phi_se.T[lay.tril] = se[lay.n_items:]
    stats: dict[str, Any] = {
        "cycles": cycles, "acceptance": float(accepted), "proposal_scale": float(scale),
        "max_change": float(max(changes[-window:])) if changes else float("nan"),
        "gain": float(gain), "mh_steps": mh_steps, "se_draws": draws,
        "information_rank": info_rank, "n_parameters": lay.size,
        "loglik": loglik_value, "loglik_mc_se": loglik_se, "loglik_points": loglik_points,
    }
    return ForcedChoiceFit(design=design, mu=mu.copy(), lam=lam.copy(), psi2=np.exp(log_psi),
                           phi=phi.copy(), mu_se=mu_se, lam_se=lam_se, psi2_se=psi2_se,
                           phi_se=phi_se, method="mhrm", n_persons=n_persons, converged=converged,
                           iterations=sum(cycles.values()), seconds=time.perf_counter() - began,
                           statistics=stats)
