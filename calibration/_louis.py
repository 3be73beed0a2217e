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
  (:func:`score_covariance`): one matrix product per block of nodes when the patterns answer
  most items, and in its pair form (:func:`pair_sums`) when they answer few.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from qabilet.calibration._estep import Patterns
from qabilet.engine.likelihood import category_offsets

Array = NDArray[np.float64]

_CELLS = 2_000_000  # entries of one block of per-node score vectors (patterns × nodes × scores)
_ROWS = 4096  # patterns per block
_PAIRS = 1_000_000  # (column, column) pairs of one block of patterns in the pair form
_PAIR_NODES = 1 << 24  # entries of the pair form's sums (pairs of columns × nodes) per pass
_PRODUCT = 1 << 22  # entries of one product of a block's pairs with its weights (pairs × nodes)
# costs in units of one pair of answered columns' multiply-add at one node (about 0.5 ns): of
# listing a pair and sorting it into the sum matrix; of a pattern × node × score² multiply-add of
# the dense form; of a pattern × score² one of J. Measured on 2PL and GRM fits with 0–90 % missing
_PAIR_COST, _DENSE_COST, _OUTER_COST = 40.0, 0.1, 0.2


def pattern_categories(patterns: Patterns, missing: int) -> NDArray[np.int16]:
    """The category of every pattern's response to every item.

    Returns
    -------
    ndarray of int16, shape (n_patterns, n_items + 1)
        Category answered (0..K−1); ``missing`` where the item is missing, and in the last
        column, which serves the latent scores. (Items have at most 32,767 categories.)
    """
    offsets = np.concatenate([[0], np.cumsum(patterns.n_categories)])
    rows, cols = patterns.onehot.nonzero()
    items = np.searchsorted(offsets, cols, side="right") - 1
    out = np.full((patterns.n_unique, patterns.n_categories.size + 1), missing, dtype=np.int16)
    out[rows, items] = cols - offsets[items]
    return out


def score_covariance(patterns: Patterns, lp_t: Array, log_w: Array, category_scores: Array,
                     item_of_score: NDArray[np.intp], latent_scores: Array, form: str = "auto"
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
    form : {"auto", "dense", "pairs"}
        How the first sum is taken: over the patterns' whole score vectors (``"dense"``), over
        the pairs of their answered (item, category) columns (``"pairs"``, :func:`pair_sums`),
        or by the cheaper of the two for these patterns (``"auto"``). Both give the same sums.

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
    (a gather, no product over the one-hot matrix). The dense form takes the products of the
    score vectors as one matrix product per block of nodes and patterns: its cost grows with
    the square of all the scores, answered or not. The pair form's grows with the square of
    each pattern's answered items, which is far less when patterns answer a few items of many
    (linked forms, adaptive tests).
    """
    n_quad, rows, n_s = category_scores.shape
    cats = pattern_categories(patterns, rows - 1)
    latent = bool((item_of_score == cats.shape[1] - 1).any())
    if form == "auto":
        answered = (cats[:, :-1] != rows - 1).sum(axis=1) + latent
        n_pairs = float(np.sum(answered * (answered + 1.0) / 2.0))
        dense_cost = _DENSE_COST * patterns.n_unique * n_quad * n_s * n_s
        pair_cost = (n_pairs * (_PAIR_COST + n_quad)
                     + _OUTER_COST * patterns.n_unique * n_s * n_s)
        form = "pairs" if pair_cost < dense_cost else "dense"
    flat = category_scores.reshape(n_quad, rows * n_s)
    # entry f of pattern p's score vector sits at flat column (its answer to f's item, f)
    columns = _ScoreColumns(cats, item_of_score)
    if form == "dense":
        return _dense_covariance(patterns, lp_t, log_w, flat, columns, latent_scores)
    if form != "pairs":
        raise ValueError(f"form: expected auto, dense or pairs; got {form!r}")
    outer = _observed_outer(patterns, lp_t, log_w, flat, columns, latent_scores)
    # the latent entries: a column every pattern has (category 0), one past the items'
    offsets = np.append(category_offsets(patterns.n_categories), patterns.width)
    sums = pair_sums(patterns, lp_t, log_w, cats, offsets, rows - 1, latent)
    # ∂log P_i(k | θ_q)/∂ψ_f at row (column of item i's category k) and column f
    k = np.arange(rows - 1)
    own = k[None, :] < np.append(patterns.n_categories, 1)[item_of_score][:, None]  # (n_s, K)
    f_of, k_of = np.nonzero(own)
    rows_of = offsets[item_of_score[f_of]] + k_of
    values = category_scores[:, k_of, f_of] + latent_scores[:, f_of]  # (n_quad, entries)
    return _contract(sums, values, rows_of, f_of, patterns.width + latent, n_s) - outer, outer


def _contract(sums: Array, values: Array, rows_of: NDArray[np.intp], f_of: NDArray[np.intp],
              n_cols: int, n_s: int) -> Array:
    """:math:`\\sum_q A_q^\\top C_q A_q` from the pair sums (upper triangles of :math:`C_q`).

    :math:`A_q` (columns × scores) holds ``values[q]`` at ``(rows_of, f_of)``. With :math:`U_q`
    the upper triangle of :math:`C_q` and its diagonal halved, :math:`C_q = U_q + U_q^\\top`, so
    the sum is :math:`H + H^\\top` with :math:`H = \\sum_q A_q^\\top U_q^\\top A_q`.
    """
    upper = np.triu_indices(n_cols)
    sums[upper[0] == upper[1]] /= 2.0
    half = np.zeros((n_s, n_s))
    u = np.zeros((n_cols, n_cols))  # below the diagonal: zeros throughout
    for q in range(sums.shape[1]):  # nodes
        u[upper] = sums[:, q]
        a_t = sparse.csr_matrix((values[q], (f_of, rows_of)), shape=(n_s, n_cols))  # A_qᵀ
        half += a_t @ np.asarray(a_t @ u).T
    return half + half.T


def pair_sums(patterns: Patterns, lp_t: Array, log_w: Array, cats: NDArray[np.int16],
              offsets: NDArray[np.intp], missing: int, constant: bool) -> Array:
    """The patterns' posterior weights summed over each pair of (item, category) columns.

    .. math::

        C_{ab,q} = \\sum_p m_p\\,\\pi_{pq}\\,y_{pa}\\,y_{pb}, \\qquad a \\le b,

    with :math:`y_{pa} = 1` when pattern p answered the item of column a in its category. The
    score products follow as :math:`\\sum_p m_p\\sum_q\\pi_{pq}s_{pq}s_{pq}^\\top =
    \\sum_q A_q^\\top C_q A_q`, :math:`A_q` holding :math:`\\partial\\log P_i(k\\mid\\theta_q)
    /\\partial\\psi` in the row of column (i, k). Each pattern lists the pairs of its answered
    columns (those of one answer count at once); a sparse matrix of pairs × patterns, times
    the patterns' posterior weights, sums them: the work is :math:`\\sum_p n_p^2/2` pairs
    times the nodes, :math:`n_p` the pattern's answers.

    Parameters
    ----------
    cats : ndarray of int, shape (n_patterns, n_items + 1)
        The category of every pattern's answer to every item, ``missing`` where there is none;
        the last column is read as ``constant`` says.
    offsets : ndarray of int, shape (n_items + 1,)
        The first column of each item's categories, and the constant column's.
    missing : int
        The category that marks no answer.
    constant : bool
        Whether every pattern has the last column (in category 0): the latent entries.

    Returns
    -------
    ndarray, shape (n_cols (n_cols + 1) / 2, n_quad)
        The sums over the pairs :math:`a \\le b` of columns, in the order of
        ``numpy.triu_indices(n_cols)``, ``n_cols`` = ``offsets[-1] + constant``.
    """
    answered = cats != missing
    answered[:, -1] = constant
    rows, items = np.nonzero(answered)  # row by row, items (so columns) increasing
    column = offsets[items] + np.where(items < cats.shape[1] - 1, cats[rows, items], 0)
    del rows, items
    n_cols = int(offsets[-1]) + constant
    starts = np.concatenate([[0], np.cumsum(answered.sum(axis=1))])
    lengths = np.diff(starts)
    n_quad = lp_t.shape[1]
    n_tri = n_cols * (n_cols + 1) // 2
    sums = np.zeros((n_tri, n_quad))
    step = max(1, _PAIR_NODES // max(n_tri, 1))
    sub = max(1, _PRODUCT // max(n_tri, 1))
    bounds = _pattern_blocks(lengths * (lengths + 1) // 2, _PAIRS)
    for q0 in range(0, n_quad, step):  # nodes, when all of them would not fit at once
        q1 = min(q0 + step, n_quad)
        for start, stop in zip(bounds[:-1], bounds[1:]):  # patterns, a few million pairs each
            _, post, _ = patterns.posterior(start, stop, lp_t, log_w)
            weights = post[:, q0:q1] * patterns.counts[start:stop, None]
            order, pid = _pairs_of(column, starts[start:stop + 1], lengths[start:stop], n_cols)
            per_pattern = lengths[start:stop][order]
            indptr = np.concatenate([[0], np.cumsum(per_pattern * (per_pattern + 1) // 2)])
            incidence = sparse.csc_matrix((np.ones(pid.size), pid, indptr),
                                          shape=(n_tri, stop - start)).tocsr()
            del pid
            weights = weights[order]
            for n0 in range(0, q1 - q0, sub):  # a few nodes at a time: a small product
                n1 = min(n0 + sub, q1 - q0)
                sums[:, q0 + n0:q0 + n1] += incidence @ weights[:, n0:n1]
    return sums


def _pairs_of(column: NDArray[np.intp], starts: NDArray[np.intp], lengths: NDArray[np.intp],
              n_cols: int) -> tuple[NDArray[np.intp], NDArray[np.int64]]:
    """The patterns in the order listed, and the triangle index of each pattern's pairs a ≤ b."""
    order, out = [], []
    for n in np.unique(lengths):  # patterns of one answer count at once: a handful of counts
        which = np.flatnonzero(lengths == n)
        cols = column[starts[which][:, None] + np.arange(n)].astype(np.int64)  # (patterns, n)
        i, j = np.triu_indices(int(n))
        a, b = cols[:, i], cols[:, j]
        out.append((a * (2 * n_cols - a + 1) // 2 + (b - a)).ravel())  # row a starts there
        order.append(which)
    pid = np.concatenate(out)
    return np.concatenate(order), pid.astype(np.int32) if pid.size and pid.max() < 2**31 else pid


def _pattern_blocks(cost: NDArray[np.integer], budget: int) -> NDArray[np.intp]:
    """Bounds of consecutive blocks of patterns whose costs sum to about ``budget`` each."""
    total = np.cumsum(cost)
    cut = np.searchsorted(total, np.arange(budget, int(total[-1]) if total.size else 0, budget))
    return np.unique(np.concatenate([[0], cut, [cost.size]]))


class _ScoreColumns:
    """Where entry f of each pattern's score vector sits among the flattened category scores.

    Column (its answer to f's item) × n_scores + f of ``category_scores.reshape(n_quad, -1)``;
    made per block of patterns (all at once it would take patterns × scores integers).
    """

    def __init__(self, cats: NDArray[np.int16], item_of_score: NDArray[np.intp]) -> None:
        self.cats = cats
        self.item_of_score = item_of_score

    def __getitem__(self, rows: slice) -> NDArray[np.intp]:
        n_s = self.item_of_score.size
        return self.cats[rows][:, self.item_of_score].astype(np.intp) * n_s + np.arange(n_s)

    @property
    def n_scores(self) -> int:
        return int(self.item_of_score.size)


def _observed_outer(patterns: Patterns, lp_t: Array, log_w: Array, flat: Array,
                    columns: _ScoreColumns, latent_scores: Array) -> Array:
    """The outer products of the observed-data scores, :math:`J = \\sum_p m_p\\bar s_p\\bar s_p^\\top`.

    :math:`\\bar s_p = \\sum_q\\pi_{pq}s_{pq}` is read from the posterior means of every
    category's scores (one matrix product per block of patterns).
    """
    n_s = columns.n_scores
    outer = np.zeros((n_s, n_s))
    step = max(1, min(_ROWS, _CELLS // flat.shape[1]))
    for start in range(0, patterns.n_unique, step):
        stop = min(start + step, patterns.n_unique)
        _, post, _ = patterns.posterior(start, stop, lp_t, log_w)
        s_bar = np.take_along_axis(post @ flat, columns[start:stop], axis=1) + post @ latent_scores
        outer += (s_bar * patterns.counts[start:stop, None]).T @ s_bar
    return outer


def _dense_covariance(patterns: Patterns, lp_t: Array, log_w: Array, flat: Array,
                      columns: _ScoreColumns, latent_scores: Array) -> tuple[Array, Array]:
    """:func:`score_covariance` over the whole score vectors: a matrix product per block."""
    n_quad, n_s = latent_scores.shape
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
