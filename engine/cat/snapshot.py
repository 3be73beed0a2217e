"""What the rules of an adaptive test read: the fixed context and a snapshot of n sessions.

One live session is a snapshot of one row; the simulation harness keeps thousands of rows and
moves them in lock-step. Both call the same rules on the same arrays, so the harness is the
session, vectorised.

The posterior is kept on the blueprint's grid as the running log-likelihood of the answers,
:math:`\\ell_q = \\sum_{j} \\log P_{i_j}(x_j \\mid \\theta_q)`; the EAP estimate and its posterior SD
are

.. math:: \\hat\\theta = \\sum_q w_q\\theta_q, \\qquad
          \\mathrm{SD} = \\Big(\\sum_q w_q(\\theta_q - \\hat\\theta)^2\\Big)^{1/2}, \\qquad
          w_q \\propto \\pi_q e^{\\ell_q}

with :math:`\\pi_q` the prior weights at the nodes (Bock & Mislevy 1982).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qabilet.engine.bank import ItemBank
from qabilet.engine.cat.blueprint import Blueprint
from qabilet.engine.cat.content import ContentPlan, content_plan
from qabilet.engine.likelihood import category_offsets, flat_log_prob
from qabilet.engine.models._base import Array, Codes
from qabilet.engine.quadrature import Grid, equispaced_grid
from qabilet.engine.scoring.eap import EAP_POINTS

#: items whose information maximum-information selection computes first
_TOP_ITEMS = 64

__all__ = ["CatContext", "Snapshot", "posterior_mean_cov", "posterior_moments",
           "posterior_weights"]


@dataclass(frozen=True, slots=True, eq=False)
class CatContext:
    """The fixed part of a test: the bank, the blueprint, the grid and precomputed tables.

    Build it with :meth:`build`; it is shared, never modified, by every state of a session.

    Attributes
    ----------
    bank : ItemBank
    blueprint : Blueprint
    grid : Grid
        The EAP grid, weighted by the bank's latent distribution (the same prior for everyone).
    eligible : ndarray of bool, shape (n_items,)
    log_p : ndarray, shape (n_quad, sum_i K_i)
        :math:`\\log P_i(k\\mid\\theta_q)` flattened over the (item, category) pairs.
    offsets : ndarray of int, shape (n_items,)
        Column of each item's category 0 in ``log_p``.
    information : ndarray, shape (n_quad, n_items)
        Fisher information of every item at the nodes.
    location : ndarray, shape (n_items,)
        Where each item's information peaks (the difficulty ``b`` of a 2PL item), located on a
        fine grid (0.01 apart on ``bounds``) — the difficulty a-stratification matches.
    sh_parameters : ndarray, shape (n_items,) or (n_classes, n_items)
        Sympson–Hetter exposure parameters in bank order (1 where none is set); one row per
        class of the blueprint's ``sh_classes``.
    edge_log_p : ndarray, shape (n_dims * 2 * n_cuts, sum_i K_i)
        Log-probabilities at the edges of the indifference regions, :math:`c_j - \\delta` then
        :math:`c_j + \\delta` for each cut score, on each factor's axis in turn (for
        classification stops).
    content : ContentPlan
        Quotas and enemy sets in bank order (checked feasible).
    peak_information : ndarray, shape (n_items,)
        An upper bound of each item's information on ``bounds``: its maximum on the fine grid,
        raised by 0.1 % (more than the grid can miss the peak by).
    top_items : ndarray of int
        The (at most 64) eligible items with the highest peaks, in bank order.
    top_bound : float
        The highest peak among the other eligible items (−inf if none).
    top_bank : ItemBank or None
        ``bank.subset(top_items)`` (None for several factors): maximum information ranks these first
        (:func:`qabilet.engine.cat.policy.next_items`).
    """

    bank: ItemBank
    blueprint: Blueprint
    grid: Grid
    eligible: NDArray[np.bool_]
    log_p: Array
    offsets: NDArray[np.intp]
    information: Array
    location: Array
    sh_parameters: Array
    edge_log_p: Array
    content: ContentPlan
    peak_information: Array
    top_items: NDArray[np.intp]
    top_bound: float
    top_bank: ItemBank | None

    @classmethod
    def build(cls, bank: ItemBank, blueprint: Blueprint) -> CatContext:
        """Validate the blueprint against the bank and precompute the tables."""
        eligible = blueprint.check_bank(bank)
        d = bank.n_dims
        n_points = blueprint.n_points if d == 1 else min(blueprint.n_points, EAP_POINTS[d])
        grid = equispaced_grid(bank.latent, n_points, blueprint.bounds)
        log_p = flat_log_prob(bank, grid.nodes)
        content = content_plan(blueprint, bank, eligible)
        offsets = category_offsets(bank.n_categories)
        sh = blueprint.sh_parameter_array(bank)
        if d > 1:  # the one-dimensional tables have no use (check_bank refuses their rules)
            none = np.zeros(0, dtype=np.intp)
            return cls(bank=bank, blueprint=blueprint, grid=grid, eligible=eligible, log_p=log_p,
                       offsets=offsets, information=np.zeros((grid.n_quad, 0)),
                       location=np.zeros(bank.n_items), sh_parameters=sh,
                       edge_log_p=flat_log_prob(bank, cls._edge_points(blueprint, d)),
                       content=content,
                       peak_information=np.full(bank.n_items, np.inf), top_items=none,
                       top_bound=np.inf, top_bank=None)
        lo, hi = blueprint.bounds
        fine = np.linspace(lo, hi, int(round((hi - lo) / 0.01)) + 1)
        fine_info = bank.information(fine)
        location = fine[np.argmax(fine_info, axis=0)]
        peak = fine_info.max(axis=0) * (1.0 + 1e-3)
        by_peak = np.flatnonzero(eligible)[np.argsort(-peak[eligible], kind="stable")]
        top = np.sort(by_peak[:_TOP_ITEMS])
        bound = float(peak[by_peak[_TOP_ITEMS]]) if by_peak.size > _TOP_ITEMS else -np.inf
        return cls(bank=bank, blueprint=blueprint, grid=grid, eligible=eligible, log_p=log_p,
                   offsets=offsets, information=bank.information(grid.nodes[:, 0]),
                   location=location, sh_parameters=sh,
                   edge_log_p=flat_log_prob(bank, cls._edge_points(blueprint, 1)),
                   content=content, peak_information=peak,
                   top_items=top, top_bound=bound, top_bank=bank.subset(top))

    @staticmethod
    def _edge_points(blueprint: Blueprint, n_dims: int) -> Array:
        """The indifference edges on each factor's axis: ``(n_dims * 2 n_cuts, n_dims)``."""
        cuts = np.asarray(blueprint.cut_scores, dtype=np.float64)
        delta = blueprint.indifference
        edges = np.concatenate([cuts - delta, cuts + delta])
        points = np.zeros((n_dims, edges.size, n_dims))
        points[np.arange(n_dims), :, np.arange(n_dims)] = edges
        return points.reshape(-1, n_dims)

    @property
    def needs_responses(self) -> bool:
        """Whether a rule reads the answers themselves (MAP/ML estimates, classification)."""
        bp = self.blueprint
        return bp.estimator != "eap" or bp.classification is not None

    def per_item(self, flat: Array) -> Array:
        """Sum a ``(n, sum_i K_i)`` array over each item's categories: ``(n, n_items)``."""
        return np.add.reduceat(flat, self.offsets, axis=1)

    def answer_log_lik(self, items: NDArray[np.intp], responses: Codes) -> Array:
        """Log-likelihood of one answer per row at every node, shape ``(len(items), n_quad)``."""
        return self.log_p[:, self.offsets[items] + responses].T


def posterior_weights(log_lik: Array, grid: Grid) -> Array:
    """Normalised posterior weights :math:`w_q \\propto \\pi_q e^{\\ell_q}`, shape (n, n_quad)."""
    log_w = log_lik + grid.log_weights[None, :]
    log_w -= log_w.max(axis=1, keepdims=True)
    w = np.exp(log_w)
    w /= w.sum(axis=1, keepdims=True)
    return w


def posterior_mean_cov(log_lik: Array, grid: Grid) -> tuple[Array, Array]:
    """Posterior means ``(n, d)`` and covariances ``(n, d, d)`` on a (product) grid.

    .. math:: \\hat{\\boldsymbol\\theta} = \\sum_q w_q\\boldsymbol\\theta_q, \\qquad
              \\Sigma = \\sum_q w_q\\boldsymbol\\theta_q\\boldsymbol\\theta_q^\\top
              - \\hat{\\boldsymbol\\theta}\\hat{\\boldsymbol\\theta}^\\top
    """
    w = posterior_weights(log_lik, grid)
    nodes = grid.nodes
    mean = w @ nodes
    second = np.einsum("nq,qd,qe->nde", w, nodes, nodes)
    return mean, second - mean[:, :, None] * mean[:, None, :]


def posterior_moments(log_lik: Array, grid: Grid) -> tuple[Array, Array]:
    """EAP estimates and posterior SDs from log-likelihoods on the grid.

    Parameters
    ----------
    log_lik : ndarray, shape (n, n_quad)
        Log-likelihood of each row's answers at the nodes.
    grid : Grid
        One-dimensional grid with its prior log-weights.

    Returns
    -------
    theta, se : ndarray, shape (n,)
    """
    w = posterior_weights(log_lik, grid)
    nodes = grid.nodes[:, 0]
    theta = w @ nodes
    var = w @ (nodes * nodes) - theta * theta
    return theta, np.sqrt(np.maximum(var, 0.0))


@dataclass(frozen=True, slots=True, eq=False)
class Snapshot:
    """The state of ``n`` sessions at one moment, as the rules see it.

    Attributes
    ----------
    theta : ndarray, shape (n,), or (n, n_dims) for several factors
        The current estimate (``start_theta`` before the first answer).
    se : ndarray, same shape as ``theta``
        Its standard error (the prior SD before the first answer), per factor.
    log_lik : ndarray, shape (n, n_quad)
        Log-likelihood of the answers so far at the grid's nodes.
    administered : ndarray of bool, shape (n, n_items)
        Items already given (pretest items included).
    n_scored : ndarray of int, shape (n,)
        Scored answers so far.
    responses : ndarray of int, shape (n, n_items), or None
        The answers (any value where not given); None when no rule of the blueprint reads them
        (EAP and the likelihood on the grid need only ``log_lik``).
    scored : ndarray of bool, shape (n, n_items)
        Items given and scored.
    lottery : ndarray, shape (n, n_items), optional
        Uniform draws fixed for the whole session, one per item (Sympson–Hetter: an item whose
        draw exceeds its parameter is never given to this candidate — the same as removing it
        the first time it is passed over).
    cov : ndarray, shape (n, n_dims, n_dims), optional
        The posterior covariance of the estimate, for several factors.
    """

    theta: Array
    se: Array
    log_lik: Array
    administered: NDArray[np.bool_]
    n_scored: NDArray[np.int64]
    responses: Codes | None
    scored: NDArray[np.bool_]
    lottery: Array | None = None
    cov: Array | None = None

    @property
    def n(self) -> int:
        """Number of sessions."""
        return int(self.theta.shape[0])

    def rows(self, index: NDArray[np.intp]) -> Snapshot:
        """The snapshot of some of the sessions."""
        administered = self.administered[index]
        scored = administered if self.scored is self.administered else self.scored[index]
        return Snapshot(self.theta[index], self.se[index], self.log_lik[index], administered,
                        self.n_scored[index],
                        None if self.responses is None else self.responses[index], scored,
                        None if self.lottery is None else self.lottery[index],
                        None if self.cov is None else self.cov[index])

    def available(self, context: CatContext) -> NDArray[np.bool_]:
        """Items each session may still be given.

        Eligible, not yet administered, not in a full content category, and no enemy of an
        item given.
        """
        out = context.eligible[None, :] & ~self.administered
        if context.content.active:
            out &= ~context.content.blocked(self.administered)
        return out
