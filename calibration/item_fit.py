"""Item fit by summed scores: S-X² (Orlando & Thissen 2000; polytomous: Kang & Chen 2008).

Persons are grouped by their observed summed score :math:`s`; within each group the observed
proportions of each category of item :math:`i` are compared with those the model implies for
persons with that summed score,

.. math::

    E_{iks} = \\frac{\\int P_i(k\\mid\\theta)\\,L^{(-i)}_{s-k}(\\theta)\\,g(\\theta)\\,d\\theta}
                    {\\int L_s(\\theta)\\,g(\\theta)\\,d\\theta},

where :math:`L^{(-i)}_r(\\theta)` is the probability of rest score :math:`r` on the other items
and :math:`L_s` that of summed score :math:`s` on all of them, both from the Lord & Wingersky
(1984) recursion, and :math:`g` the latent density (a rectangle rule on the calibration grid).
Then

.. math::

    S\\text{-}X^2_i = \\sum_s N_s \\sum_k \\frac{(O_{iks} - E_{iks})^2}{E_{iks}},

with :math:`N_s` persons at score :math:`s` and :math:`O_{iks}` the observed proportions, on
:math:`\\sum_s (\\text{cells}_s - 1) - m_i` degrees of freedom, :math:`m_i` the number of the
item's parameters estimated from the data. Summed scores at which only one category of the item
is possible (0 and the maximum) carry no information and are left out.

Sparse cells (expected count below ``mincell``, 1 by default as in Orlando & Thissen and mirt)
are collapsed:

* dichotomous items — adjacent score groups are pooled, from the low end upwards, until every
  pooled group has both expected counts at least ``mincell``; a sparse remainder at the high end
  joins the last group (Orlando & Thissen 2000);
* polytomous items — within each score group, the sparsest category is merged with its smaller
  adjacent category until every cell reaches ``mincell``; a score group left with one cell adds
  nothing (its observed and expected counts are equal). This is the "categories first" step of
  mirt's description; groups are not pooled across scores afterwards, which is conservative.

The summed score needs every item answered: S-X² refuses incomplete data (use the complete
cases, which is valid when responses are missing completely at random).

Each item's misfit is also given as an RMSEA, :math:`\\sqrt{\\max(S\\text{-}X^2 - df, 0) /
(df\\,(N - 1))}`, as mirt reports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import chi2

from qabilet.calibration._diagnostics import (
    Report,
    estimated_parameters,
    fmt,
    grid_options,
    read_inputs,
    require_complete,
    text_table,
)
from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.quadrature import equispaced_grid

__all__ = ["ItemFit", "item_fit"]

Array = NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class ItemFit(Report):
    """S-X² item fit of every item (see :func:`item_fit`).

    Attributes
    ----------
    item_ids : tuple of str
    s_x2 : ndarray, shape (n_items,)
        The statistic after collapsing.
    df : ndarray of int, shape (n_items,)
        Degrees of freedom: cells minus score groups minus ``n_estimated``.
    p_value : ndarray, shape (n_items,)
        Upper tail of χ²(df); NaN where df < 1.
    rmsea : ndarray, shape (n_items,)
    n_estimated : ndarray of int, shape (n_items,)
        Parameters of the item counted as estimated from these data.
    observed, expected : ndarray, shape (n_items, max_categories, n_scores)
        Counts of each category at each summed score before collapsing (persons with score s
        answering k; the model's expectation for them).
    n_persons : int
    mincell : float
    alpha : float
        Level at which ``flagged`` is set.
    """

    item_ids: tuple[str, ...]
    s_x2: Array
    df: NDArray[np.int64]
    p_value: Array
    rmsea: Array
    n_estimated: NDArray[np.int64]
    observed: Array
    expected: Array
    n_persons: int
    mincell: float
    alpha: float

    @property
    def flagged(self) -> NDArray[np.bool_]:
        """Items whose p-value is below ``alpha``."""
        return np.asarray(self.p_value < self.alpha)

    def summary(self) -> str:
        """The statistics as a text table."""
        head = (
            f"S-X² item fit (Orlando & Thissen 2000; Kang & Chen 2008): {len(self.item_ids)} "
            f"items, {self.n_persons} persons, cells with expected count < {self.mincell:g} "
            f"collapsed; * p < {self.alpha:g}\n"
        )
        cols = [
            ("item", list(self.item_ids)),
            ("S-X2", [fmt(v) for v in self.s_x2]),
            ("df", [fmt(v) for v in self.df]),
            ("p", [fmt(v, 4) for v in self.p_value]),
            ("RMSEA", [fmt(v) for v in self.rmsea]),
            ("", ["*" if f else "" for f in self.flagged]),
        ]
        return head + text_table(cols)

    def to_frame(self) -> Any:
        """One row per item (pandas is imported here only)."""
        import pandas as pd

        return pd.DataFrame(
            {"s_x2": self.s_x2, "df": self.df, "p": self.p_value, "rmsea": self.rmsea,
             "n_estimated": self.n_estimated},
            index=pd.Index(self.item_ids, name="item"),
        )

    def __repr__(self) -> str:
        return f"ItemFit(n_items={len(self.item_ids)}, flagged={int(self.flagged.sum())})"


def rest_score_distributions(bank: ItemBank, prob: Array) -> Array:
    """:math:`L^{(-i)}_r(\\theta_q)` for every item i at once (Lord & Wingersky 1984).

    The recursion adds one item at a time to a batch of distributions, one per left-out item;
    in batch ``i`` item ``i`` is added as a certain 0, so the batch stays its rest score.

    Parameters
    ----------
    bank : ItemBank
    prob : ndarray, shape (n_quad, n_items, max_categories)
        Category probabilities at the nodes (0 on padding).

    Returns
    -------
    ndarray, shape (n_items, n_quad, max_score + 1)
    """
    n_quad, n_items, _ = prob.shape
    n_cat = bank.n_categories
    max_score = int((n_cat - 1).sum())
    dist = np.zeros((n_items, n_quad, max_score + 1))
    dist[:, :, 0] = 1.0
    top = 0
    eye = np.eye(n_items, dtype=bool)
    for j in range(n_items):  # the recursion runs over items; batches, nodes, scores are vectors
        k_j = int(n_cat[j])
        new = np.zeros_like(dist)
        for k in range(k_j):
            factor = np.where(eye[:, j, None], float(k == 0), prob[None, :, j, k])  # (I, Q)
            new[:, :, k : top + k + 1] += dist[:, :, : top + 1] * factor[:, :, None]
        dist, top = new, top + k_j - 1
    return dist


def _collapse_scores(obs: Array, exp: Array, mincell: float) -> tuple[float, int]:
    """Pool adjacent score groups (rows) until both cells reach ``mincell``; (X², groups)."""
    groups_o, groups_e = [], []
    acc_o, acc_e = np.zeros(obs.shape[1]), np.zeros(obs.shape[1])
    for o_row, e_row in zip(obs, exp):  # a few dozen score groups of one item
        acc_o, acc_e = acc_o + o_row, acc_e + e_row
        if acc_e.min() >= mincell:
            groups_o.append(acc_o)
            groups_e.append(acc_e)
            acc_o, acc_e = np.zeros_like(acc_o), np.zeros_like(acc_e)
    if acc_e.sum() > 0:
        if groups_o:
            groups_o[-1] = groups_o[-1] + acc_o
            groups_e[-1] = groups_e[-1] + acc_e
        else:
            groups_o.append(acc_o)
            groups_e.append(acc_e)
    if not groups_o:
        return 0.0, 0
    go, ge = np.array(groups_o), np.array(groups_e)
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(ge > 0, (go - ge) ** 2 / ge, 0.0)
    return float(terms.sum()), len(groups_o)


def _collapse_categories(o_row: Array, e_row: Array, mincell: float) -> tuple[float, int]:
    """Merge a score group's sparse categories with their smaller neighbour; (X², cells)."""
    o, e = list(o_row), list(e_row)
    while len(e) > 1 and min(e) < mincell:
        j = int(np.argmin(e))
        if j == 0:
            t = 1
        elif j == len(e) - 1:
            t = j - 1
        else:
            t = j - 1 if e[j - 1] <= e[j + 1] else j + 1
        o[t] += o[j]
        e[t] += e[j]
        del o[j], e[j]
    if len(e) < 2:
        return 0.0, 1
    ea, oa = np.array(e), np.array(o)
    return float(((oa - ea) ** 2 / ea).sum()), len(e)


def item_fit(
    items: Any,
    responses: Any,
    observed: ArrayLike | None = None,
    *,
    mincell: float = 1.0,
    alpha: float = 0.05,
    parameters_estimated: bool = True,
    n_points: int | None = None,
    bounds: tuple[float, float] | None = None,
) -> ItemFit:
    """S-X² item fit statistics (Orlando & Thissen 2000; Kang & Chen 2008).

    Parameters
    ----------
    items : ItemBank, item model or CalibrationResult
        The calibrated items (with a CalibrationResult, responses are in the calibrated codes).
    responses : array_like or DataFrame, shape (n_persons, n_items)
        Complete responses (categories ``0 … K_i − 1`` for a bank).
    observed : array_like of bool, optional
        Must be all True when given (S-X² needs complete data).
    mincell : float
        Cells with a smaller expected count are collapsed (see the module docstring).
    alpha : float
        Level for ``ItemFit.flagged``.
    parameters_estimated : bool
        Whether the bank's parameters were estimated from these responses (degrees of freedom
        are then reduced by each item's number of free parameters). Ignored for a CalibrationResult, whose
        anchors are known to be fixed.
    n_points, bounds : optional
        The quadrature grid (default: the fit's, or 61 nodes on [−6, 6] as mirt).

    Returns
    -------
    ItemFit

    Examples
    --------
    >>> from qabilet.engine.models import TwoPL
    >>> from qabilet.engine.simulation import simulate_responses
    >>> bank = TwoPL(np.linspace(0.8, 1.6, 6), np.linspace(-1.0, 1.0, 6))
    >>> x = simulate_responses(bank, np.random.default_rng(1).normal(size=500), rng=2)
    >>> fit = item_fit(bank, x, parameters_estimated=False)
    >>> fit.df.tolist()  # five score groups 1..5 per item, nothing estimated
    [5, 5, 5, 5, 5, 5]
    """
    data = read_inputs(items, responses, observed, "item_fit")
    require_complete(data.resp, "item_fit", "S-X² groups persons by their summed score")
    if not (np.isfinite(mincell) and mincell >= 0):
        raise InvalidParameterError(f"mincell: expected a non-negative number; got {mincell}")
    if not 0 < alpha < 1:
        raise InvalidParameterError(f"alpha: expected a level in (0, 1); got {alpha}")
    bank, x = data.bank, data.resp.x
    if bank.n_items < 2:
        raise InvalidParameterError("item_fit: needs at least two items (a rest score)")
    est = estimated_parameters(bank, data.fit, parameters_estimated, "item_fit")
    n_pts, bnds = grid_options(data.fit, n_points, bounds)
    grid = equispaced_grid(bank.latent, n_pts, bnds)
    prob = bank.prob(grid.nodes[:, 0])  # (Q, I, K), 0 on padding
    rest = rest_score_distributions(bank, prob)  # (I, Q, S+1)
    n_items, kmax = bank.n_items, bank.max_categories
    n_scores = rest.shape[2]
    w = grid.weights
    joint = np.zeros((n_items, kmax, n_scores))  # ∫ P_i(k) L^{(-i)}_{s-k} g
    for k in range(kmax):  # categories: a handful
        wp = (w[:, None] * prob[:, :, k]).T  # (I, Q)
        joint[:, k, k:] = np.einsum("iq,iqs->is", wp, rest[:, :, : n_scores - k])
    marginal = joint.sum(axis=1, keepdims=True)  # P(S = s), the same for every item
    with np.errstate(invalid="ignore", divide="ignore"):
        cond = np.where(marginal > 0, joint / marginal, 0.0)
    total = x.sum(axis=1)
    n_s = np.bincount(total, minlength=n_scores).astype(np.float64)
    flat = (np.arange(n_items)[None, :] * kmax + x) * n_scores + total[:, None]
    obs = np.bincount(flat.ravel(), minlength=n_items * kmax * n_scores).astype(np.float64)
    obs = obs.reshape(n_items, kmax, n_scores)
    exp = cond * n_s[None, None, :]
    stat = np.zeros(n_items)
    cells = np.zeros(n_items, dtype=np.int64)
    for i in range(n_items):  # collapsing is per item and per table: small, irregular work
        k_i = int(bank.n_categories[i])
        possible = cond[i, :k_i, :] > 0  # (K_i, S+1)
        rows = (possible.sum(axis=0) >= 2) & (n_s > 0)
        o_i, e_i = obs[i, :k_i][:, rows].T, exp[i, :k_i][:, rows].T
        if k_i == 2:
            stat[i], groups = _collapse_scores(o_i, e_i, mincell)
            cells[i] = groups
        else:
            for o_row, e_row, ok in zip(o_i, e_i, possible[:, rows].T):
                s_row, n_cells = _collapse_categories(o_row[ok], e_row[ok], mincell)
                stat[i] += s_row
                cells[i] += n_cells - 1
    df = cells - est.per_item
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(df >= 1, chi2.sf(stat, np.maximum(df, 1)), np.nan)
        n = float(x.shape[0])
        rmsea = np.where(df >= 1, np.sqrt(np.maximum(stat - df, 0.0) / (df * (n - 1.0))), np.nan)
    return ItemFit(
        item_ids=bank.item_ids,
        s_x2=stat,
        df=df.astype(np.int64),
        p_value=p,
        rmsea=rmsea,
        n_estimated=est.per_item,
        observed=obs,
        expected=exp,
        n_persons=int(x.shape[0]),
        mincell=float(mincell),
        alpha=float(alpha),
    )
