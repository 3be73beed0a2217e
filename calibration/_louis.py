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


def pattern_categories(patterns: Patterns, missing: int) -> NDArray[np.intp]:
    """The category of every pattern's response to every item.

    Returns
    -------
    ndarray of int, shape (n_patterns, n_items + 1)
        Category answered (0..K−1); ``missing`` where the item is missing, and in the last
        column, which serves the latent scores.
    """
    offsets = np.concatenate([[0], np.cumsum(patterns.n_categories)])
    rows, cols = patterns.onehot.nonzero()
    items = np.searchsorted(offsets, cols, side="right") - 1
    out = np.full((patterns.n_unique, patterns.n_categories.size + 1), missing, dtype=np.intp)
    out[rows, items] = cols - offsets[items]
    return out


def score_covariance(patterns: Patterns, lp_t: Array, log_w: Array, category_scores: Array,
                     item_of_score: NDArray[np.intp], latent_scores: Array
                     ) -> tuple[Array, Array]:
    """The summed posterior covariance of the complete-data scores, and the observed scores'.

    Parameters
    ----------
    patterns : Patterns
        The response patterns of one group, with their counts :math:`m_p`.
    lp_t : ndarray, shape (width, n_quad)
        Log-probabilities of the (item, category) pairs at the nodes.
    log_w : ndarray, shape (n_quad,)
        The group's normalised log prior weights.
    category_scores : ndarray, shape (n_quad, max_categories + 1, n_scores)
        Entry :math:`(q, k, f)`: :math:`\\partial\\log P_i(k\\mid\\theta_q)/\\partial\\psi_f`
        for the item i whose parameter :math:`\\psi_f` is; the last category all zeros (a
        missing response, and the latent entries).
    item_of_score : ndarray of int, shape (n_scores,)
        The item whose parameter each entry is (``n_items`` for the latent entries).
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

    Notes
    -----
    Entry r of item i's block of :math:`s_{pq}` is read from the pattern's answer to item i
    (a gather, no product over the one-hot matrix); the products of the score vectors are one
    matrix product per block of nodes and patterns.
    """
    n_quad, rows, n_s = category_scores.shape
    flat = category_scores.reshape(n_quad, rows * n_s)
    # entry f of pattern p's score vector sits at flat column (its answer to f's item, f)
    columns = pattern_categories(patterns, rows - 1)[:, item_of_score] * n_s + np.arange(n_s)
    out = np.zeros((n_s, n_s))
    outer = np.zeros((n_s, n_s))
    for start in range(0, patterns.n_unique, _ROWS):  # blocks of patterns
        stop = min(start + _ROWS, patterns.n_unique)
        _, post, _ = patterns.posterior(start, stop, lp_t, log_w)
        counts = patterns.counts[start:stop]
        cols = columns[start:stop]
        s_bar = np.zeros((stop - start, n_s))
        step = max(1, _CELLS // max((stop - start) * n_s, 1))
        for q0 in range(0, n_quad, step):  # blocks of nodes: one matrix product each
            q1 = min(q0 + step, n_quad)
            s = np.take(flat[q0:q1], cols, axis=1)  # (nodes, patterns, scores), contiguous
            s += latent_scores[q0:q1, None, :]
            root = np.sqrt(post[:, q0:q1].T)  # (nodes, patterns)
            s *= root[..., None]
            s_bar += np.einsum("qp,qps->ps", root, s)
            s *= np.sqrt(counts)[None, :, None]
            u = s.reshape(-1, n_s)
            out += u.T @ u  # Σ m_p π_pq s s^T: one symmetric rank-k update (BLAS syrk)
        outer += (s_bar * counts[:, None]).T @ s_bar
    return out - outer, outer
