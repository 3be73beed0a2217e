"""Classical item statistics: item means (p-values), item–rest correlations and Cronbach's alpha.

Everything comes from one covariance matrix of the item scores. With missing responses it is the
*pairwise* (available-case) matrix: each covariance uses the persons who answered both items, with
those persons' own means,

.. math::

    C_{ij} = \\frac{\\sum_{p \\in O_{ij}} x_{pi}x_{pj} - \\frac{1}{n_{ij}}\\sum_{p\\in O_{ij}} x_{pi}
             \\sum_{p\\in O_{ij}} x_{pj}}{n_{ij} - 1},

as R's ``psych::alpha`` does with ``use = "pairwise"``. A rest score is then never formed from
partly missing rows; instead its variance and covariances are sums of entries of :math:`C`:

.. math::

    r_{i,\\mathrm{rest}} = \\frac{\\sum_{j \\ne i} C_{ij}}
                                {\\sqrt{C_{ii}\\,\\sum_{j, l \\ne i} C_{jl}}}, \\qquad
    \\alpha = \\frac{k}{k - 1}\\Big(1 - \\frac{\\operatorname{tr} C}{\\mathbf 1^\\top C\\,\\mathbf 1}\\Big)

(Cronbach 1951); alpha-if-item-deleted is the same formula on :math:`C` without row and column
``i``. With complete data these are exactly the Pearson correlations of each item with the rest
score and the textbook alpha; with missing data they are the usual available-case estimates (a
pairwise matrix need not be positive semi-definite, and the estimates assume the responses are
missing at random).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qabilet.calibration._diagnostics import Report, fmt, read_inputs, text_table
from qabilet.engine.exceptions import InvalidResponseError
from qabilet.engine.likelihood import Responses, observed_mask

__all__ = ["ItemStatistics", "item_statistics"]

Array = NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class ItemStatistics(Report):
    """Classical statistics of every item (see :func:`item_statistics`).

    Attributes
    ----------
    item_ids : tuple of str
    n : ndarray of int, shape (n_items,)
        Persons who answered each item.
    mean : ndarray, shape (n_items,)
        Mean item score (the proportion correct, or "p-value", of a 0/1 item).
    sd : ndarray, shape (n_items,)
        Standard deviation of the item score (n − 1 denominator).
    p_value : ndarray, shape (n_items,)
        Mean score as a proportion of the maximum, ``mean / (K_i − 1)`` (classical difficulty).
    proportions : ndarray, shape (n_items, max_categories)
        Proportion of answers in each category (NaN beyond an item's categories).
    item_rest : ndarray, shape (n_items,)
        Correlation of the item with the sum of the other items (corrected item–total).
    item_total : ndarray, shape (n_items,)
        Correlation of the item with the total score including it.
    alpha_if_deleted : ndarray, shape (n_items,)
        Cronbach's alpha of the other items.
    alpha : float
        Cronbach's alpha of all items.
    covariance : ndarray, shape (n_items, n_items)
        The (pairwise) covariance matrix of the item scores.
    n_persons : int
    n_complete : int
        Persons who answered every item.
    pairwise : bool
        True when some response is missing (the statistics are available-case estimates).
    """

    item_ids: tuple[str, ...]
    n: NDArray[np.int64]
    mean: Array
    sd: Array
    p_value: Array
    proportions: Array
    item_rest: Array
    item_total: Array
    alpha_if_deleted: Array
    alpha: float
    covariance: Array
    n_persons: int
    n_complete: int
    pairwise: bool

    def summary(self) -> str:
        """The statistics as a text table, with alpha and how missing data were handled."""
        how = (
            "pairwise (available-case) covariances: some responses are missing"
            if self.pairwise else "complete data"
        )
        head = (
            f"Classical item statistics: {len(self.item_ids)} items, {self.n_persons} persons "
            f"({self.n_complete} complete); {how}\nCronbach's alpha {fmt(self.alpha)}\n"
        )
        cols = [
            ("item", list(self.item_ids)),
            ("n", [fmt(v) for v in self.n]),
            ("mean", [fmt(v) for v in self.mean]),
            ("sd", [fmt(v) for v in self.sd]),
            ("p", [fmt(v) for v in self.p_value]),
            ("item-rest r", [fmt(v) for v in self.item_rest]),
            ("item-total r", [fmt(v) for v in self.item_total]),
            ("alpha if deleted", [fmt(v) for v in self.alpha_if_deleted]),
        ]
        return head + text_table(cols)

    def to_frame(self) -> Any:
        """One row per item (pandas is imported here only)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "n": self.n, "mean": self.mean, "sd": self.sd, "p": self.p_value,
                "item_rest": self.item_rest, "item_total": self.item_total,
                "alpha_if_deleted": self.alpha_if_deleted,
            },
            index=pd.Index(self.item_ids, name="item"),
        )

    def __repr__(self) -> str:
        return (
            f"ItemStatistics(n_items={len(self.item_ids)}, n_persons={self.n_persons}, "
            f"alpha={self.alpha:.4f})"
        )


def _plain_responses(responses: Any, observed: ArrayLike | None) -> tuple[Responses, NDArray[np.int64]]:
    """Responses without a bank: non-negative integers, categories 0..max per item."""
    r = np.asarray(responses)
    if r.ndim != 2:
        raise InvalidResponseError(f"responses: expected a persons × items table; got {r.shape}")
    obs = observed_mask(r, observed)
    filled = np.where(obs, r, 0)
    bad = obs & ((filled < 0) | (filled != np.round(filled)))
    if bad.any():
        p, i = np.argwhere(bad)[0]
        raise InvalidResponseError(
            f"responses[{p}, {i}]: expected a non-negative integer score; got {r[p, i]}"
        )
    x = filled.astype(np.intp)
    n_cat = np.maximum(x.max(axis=0, initial=0) + 1, 2).astype(np.int64)
    return Responses(x, obs), n_cat


def item_statistics(
    items: Any, responses: Any, observed: ArrayLike | None = None
) -> ItemStatistics:
    """Classical test theory statistics of each item and Cronbach's alpha.

    Parameters
    ----------
    items : ItemBank, item model, CalibrationResult or None
        Gives the item ids and categories (and, for a CalibrationResult, recodes the responses). ``None``
        reads the responses as scores ``0, 1, …`` (item ids ``Q1, Q2, …``).
    responses : array_like or DataFrame, shape (n_persons, n_items)
        Item scores (categories ``0 … K_i − 1``; NaN or ``observed`` marks missing).
    observed : array_like of bool, optional
        True where answered.

    Returns
    -------
    ItemStatistics

    Notes
    -----
    Missing responses are handled pairwise (see the module docstring): each covariance uses the
    persons who answered both items. Items with no variance get NaN correlations.

    Examples
    --------
    >>> x = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 1]])
    >>> st = item_statistics(None, x)
    >>> st.mean.tolist(), round(st.alpha, 4)
    ([0.75, 0.5, 0.25], 0.75)
    """
    if items is None:
        resp, n_cat = _plain_responses(responses, observed)
        ids = tuple(f"Q{i + 1}" for i in range(resp.x.shape[1]))
    else:
        data = read_inputs(items, responses, observed, "item_statistics", unidimensional=False)
        resp, n_cat, ids = data.resp, data.bank.n_categories, data.item_ids
    n_items = resp.x.shape[1]
    if n_items < 2:
        raise InvalidResponseError(f"responses: expected at least two items; got {n_items}")
    o = resp.observed.astype(np.float64)
    xf = np.where(resp.observed, resp.x, 0).astype(np.float64)
    n_pair = o.T @ o  # persons answering both i and j
    sums = xf.T @ o  # [i, j]: Σ x_i over persons answering i and j
    cross = xf.T @ xf
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = (cross - sums * sums.T / n_pair) / (n_pair - 1.0)
    n = np.diag(n_pair).astype(np.int64)
    mean = np.diag(sums) / np.where(n > 0, n, np.nan)
    var = np.diag(cov).copy()
    k = float(n_items)
    total_var = cov.sum()
    row = cov.sum(axis=1)
    rest_var = total_var - 2.0 * row + var  # Σ_{j,l≠i} C_jl
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = k / (k - 1.0) * (1.0 - np.trace(cov) / total_var)
        item_rest = (row - var) / np.sqrt(var * rest_var)
        item_total = row / np.sqrt(var * total_var)
        alpha_del = (
            (k - 1.0) / (k - 2.0) * (1.0 - (np.trace(cov) - var) / rest_var)
            if n_items > 2 else np.full(n_items, np.nan)
        )
    kmax = int(n_cat.max())
    counts = np.stack([((resp.x == c) & resp.observed).sum(axis=0) for c in range(kmax)], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        props = np.where(np.arange(kmax)[None, :] < n_cat[:, None], counts / n[:, None], np.nan)
    return ItemStatistics(
        item_ids=tuple(ids),
        n=n,
        mean=mean,
        sd=np.sqrt(var),
        p_value=mean / (n_cat - 1),
        proportions=props,
        item_rest=item_rest,
        item_total=item_total,
        alpha_if_deleted=alpha_del,
        alpha=float(alpha),
        covariance=cov,
        n_persons=int(resp.x.shape[0]),
        n_complete=int(resp.observed.all(axis=1).sum()),
        pairwise=not bool(resp.observed.all()),
    )
