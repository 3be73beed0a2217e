"""The E-step of Bock–Aitkin EM: expected category counts at the quadrature nodes.

With collapsed patterns p (counts :math:`m_p`) and posterior weights :math:`\\pi_{pq}`, the
expected number of responses in category k of item i at node q is

.. math:: \\bar r_{iqk} = \\sum_p m_p\\,o_{pi}\\,[x_{pi} = k]\\,\\pi_{pq}

(Bock & Aitkin 1981, eq. 7) — one matrix product of the patterns' one-hot matrix with the
weighted posterior, block by block of patterns.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from qabilet.engine._parallel import run_blocks
from qabilet.engine.likelihood import Responses, category_offsets, collapse_patterns, log_normalise

Array = NDArray[np.float64]

_DENSE_LIMIT = 32_000_000  # one-hot cells kept dense (256 MB); sparser data goes to CSR
_BLOCK_ROWS = 4096


class Patterns:
    """Distinct response patterns with counts and their one-hot matrix, built once per fit.

    Parameters
    ----------
    resp : Responses
        Recoded responses and mask.
    n_categories : ndarray of int, shape (n_items,)
    weights : ndarray, shape (n_persons,), optional
        Person weights (e.g. group membership); 1 when omitted.
    """

    def __init__(self, resp: Responses, n_categories: NDArray[np.int64],
                 weights: Array | None = None) -> None:
        n, n_items = resp.x.shape
        # nearly all patterns distinct (sparse CAT data): collapsing would cost more than it saves
        collapsed = collapse_patterns(resp, max_unique_fraction=0.9)
        counts: Array
        if collapsed is None:
            uniq, inverse, counts = resp, np.arange(n), np.ones(n)
        else:
            uniq, inverse, counts = collapsed
        if weights is not None:
            counts = np.bincount(inverse, weights=weights,
                                 minlength=uniq.x.shape[0]).astype(np.float64)
        self.inverse = inverse
        self.counts = counts
        self.n_persons = float(counts.sum())
        self.n_categories = n_categories
        self.width = int(n_categories.sum())
        kmax = int(n_categories.max())
        self.valid = np.arange(kmax)[None, :] < n_categories[:, None]  # (I, K)
        obs = uniq.observed
        rows, items = np.nonzero(obs)  # the observed cells only (row by row)
        cols = category_offsets(n_categories)[items] + uniq.x[rows, items]
        n_u = uniq.x.shape[0]
        if n_u * self.width <= _DENSE_LIMIT and rows.size > 0.25 * obs.size:
            onehot = np.zeros((n_u, self.width))
            onehot[rows, cols] = 1.0
            self.onehot: Array | sparse.csr_matrix = onehot
        else:
            self.onehot = sparse.csr_matrix(
                (np.ones(rows.size), (rows, cols)), shape=(n_u, self.width)
            )
        self.n_unique = n_u

    def posterior(self, start: int, stop: int, lp_t: Array, log_w: Array
                  ) -> tuple[Array | sparse.csr_matrix, Array, Array]:
        """The one-hot rows of patterns ``start:stop``, their posterior weights and log-marginals.

        Parameters
        ----------
        lp_t : ndarray, shape (width, n_quad)
            Log-probabilities of the (item, category) pairs at the nodes, transposed.
        log_w : ndarray, shape (n_quad,)
            Log prior weights (normalised).

        Returns
        -------
        onehot : ndarray or csr_matrix, shape (stop − start, width)
        weights : ndarray, shape (stop − start, n_quad)
            :math:`\\pi_{pq}`, each row summing to one.
        log_marginal : ndarray, shape (stop − start,)
            :math:`\\log \\sum_q w_q L_p(\\theta_q)`.
        """
        oh = self.onehot[start:stop]
        ll = np.asarray(oh @ lp_t)
        ll += log_w[None, :]
        log_marg = log_normalise(ll)  # ll now holds the posterior weights
        return oh, ll, log_marg

    def estep(self, log_p_flat: Array, log_w: Array) -> tuple[Array, Array, float]:
        """Expected counts, the posterior mass at each node, and the marginal log-likelihood.

        Parameters
        ----------
        log_p_flat : ndarray, shape (n_quad, width)
            Log-probabilities of the real (item, category) pairs at the nodes.
        log_w : ndarray, shape (n_quad,)
            Log prior weights (normalised).

        Returns
        -------
        r_flat : ndarray, shape (n_quad, width)
            Expected counts per node and (item, category).
        n_q : ndarray, shape (n_quad,)
            Expected number of persons at each node.
        loglik : float
            :math:`\\sum_p m_p \\log \\sum_q w_q L_p(\\theta_q)`.
        """
        lp_t = np.ascontiguousarray(log_p_flat.T)
        parts: dict[int, tuple[Array, Array, float]] = {}

        def work(start: int, stop: int) -> None:
            oh, ll, log_marg = self.posterior(start, stop, lp_t, log_w)
            c = self.counts[start:stop]
            ll *= c[:, None]
            parts[start] = (np.asarray(oh.T @ ll), ll.sum(axis=0), float(c @ log_marg))

        run_blocks(work, self.n_unique, _BLOCK_ROWS)
        ordered = [parts[k] for k in sorted(parts)]  # a fixed order: sums are reproducible
        r_t: Array = np.sum([p[0] for p in ordered], axis=0)
        n_q: Array = np.sum([p[1] for p in ordered], axis=0)
        loglik = float(sum(p[2] for p in ordered))
        return r_t.T, n_q, loglik
