"""The observed information of marginal maximum likelihood in closed form (Louis 1982).

For independent persons with complete data :math:`(x_p, \\theta)`, Louis' identity (T. A. Louis,
*Finding the observed information matrix when using the EM algorithm*, JRSS-B 44:226–233, 1982,
eq. 3.1) writes the observed information as an expected complete-data information less the
posterior covariance of the complete-data score:

.. math::

    I_{obs}(\\psi) = \\sum_p m_p\\Big\\{E_q\\big[-\\partial^2_\\psi\\log f(x_p,\\theta_q;\\psi)\\big]
        - \\mathrm{Cov}_q\\big[\\partial_\\psi\\log f(x_p,\\theta_q;\\psi)\\big]\\Big\\},

expectations over each pattern's posterior :math:`\\pi_{pq}` on the quadrature nodes. With
:math:`\\log f(x_p, \\theta_q) = \\log w_q(\\lambda) + \\sum_i o_{pi}\\log P_i(x_{pi}\\mid\\theta_q)`:

* the first term is :math:`-\\partial^2_\\psi \\sum_{q,i,k}\\bar r_{iqk}\\log P_{ik}(\\theta_q)
  - \\partial^2_\\lambda \\sum_q n_q\\log w_q` at the expected counts held fixed: block-diagonal
  by item and the latent parameters (the caller differentiates each item's analytic
  complete-data score, no E-step);
* the second is :math:`\\sum_p m_p[\\sum_q\\pi_{pq}s_{pq}s_{pq}^\\top - \\bar s_p\\bar s_p^\\top]`
  with :math:`s_{pq}` stacking :math:`\\partial\\log P_i(x_{pi}\\mid\\theta_q)/\\partial\\psi_i`
  over the items and :math:`\\partial\\log w_q/\\partial\\lambda`, and
  :math:`\\bar s_p = \\sum_q \\pi_{pq}s_{pq}` the pattern's observed-data score — computed here
  (:func:`score_covariance`), one matrix product per block of nodes.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from qabilet.calibration._estep import Patterns

Array = NDArray[np.float64]

_CELLS = 2_000_000  # entries of one block of per-node score vectors (patterns × nodes × scores)
_ROWS = 4096  # patterns per block


def score_covariance(patterns: Patterns, lp_t: Array, log_w: Array, category_scores: Array,
                     latent_scores: Array) -> tuple[Array, Array]:
    """The summed posterior covariance of the complete-data scores, and the observed scores.

    Parameters
    ----------
    patterns : Patterns
        The response patterns of one group, with their counts :math:`m_p`.
    lp_t : ndarray, shape (width, n_quad)
        Log-probabilities of the (item, category) pairs at the nodes.
    log_w : ndarray, shape (n_quad,)
        The group's normalised log prior weights.
    category_scores : ndarray, shape (n_quad, width, n_scores)
        :math:`\\partial\\log P_i(k\\mid\\theta_q)/\\partial\\psi` of every (item, category) pair,
        in the coordinates of the scores (each pair non-zero on its own item's entries only).
    latent_scores : ndarray, shape (n_quad, n_scores)
        :math:`\\partial\\log w_q/\\partial\\lambda` (zero on the item entries).

    Returns
    -------
    covariance : ndarray, shape (n_scores, n_scores)
        :math:`\\sum_p m_p[\\sum_q\\pi_{pq}s_{pq}s_{pq}^\\top - \\bar s_p\\bar s_p^\\top]` with
        :math:`s_{pq} = \\sum_i o_{pi}\\,\\partial\\log P_i(x_{pi}\\mid\\theta_q) + \\partial\\log w_q`.
    outer : ndarray, shape (n_scores, n_scores)
        :math:`J = \\sum_p m_p\\bar s_p\\bar s_p^\\top`, the outer products of the persons'
        observed-data scores :math:`\\bar s_p = \\sum_q\\pi_{pq}s_{pq}` (Fisher's identity): the
        "meat" of the sandwich covariance.
    """
    n_quad, width, n_s = category_scores.shape
    out = np.zeros((n_s, n_s))
    outer = np.zeros((n_s, n_s))
    for start in range(0, patterns.n_unique, _ROWS):  # blocks of patterns
        stop = min(start + _ROWS, patterns.n_unique)
        onehot, post, _ = patterns.posterior(start, stop, lp_t, log_w)
        counts = patterns.counts[start:stop]
        s_bar = np.zeros((stop - start, n_s))
        step = max(1, _CELLS // max((stop - start) * n_s, 1))
        for q0 in range(0, n_quad, step):  # blocks of nodes: one matrix product each
            q1 = min(q0 + step, n_quad)
            per_node = category_scores[q0:q1].transpose(1, 0, 2).reshape(width, -1)
            s = np.asarray(onehot @ per_node).reshape(stop - start, q1 - q0, n_s)
            s += latent_scores[None, q0:q1]
            w = post[:, q0:q1]
            weighted = s * (w * counts[:, None])[..., None]
            out += weighted.reshape(-1, n_s).T @ s.reshape(-1, n_s)
            s_bar += np.einsum("pq,pqs->ps", w, s)
        outer += (s_bar * counts[:, None]).T @ s_bar
    return out - outer, outer
