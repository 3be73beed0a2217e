"""Local dependence between item pairs: Yen's Q3 and Chen & Thissen's LD-X².

*Q3* (Yen 1984): the correlation, over persons, of the residuals
:math:`d_{pi} = x_{pi} - E[X_i\\mid\\hat\\theta_p]` of two items, with :math:`\\hat\\theta_p` the
EAP estimate (as mirt's ``residuals(type = "Q3")``). Under local independence Q3 is close to
:math:`-1/(n - 1)` for :math:`n` items, not 0, so a pair is judged against the average Q3 of the
test: Christensen, Makransky & Horton (2017) flag pairs more than about 0.2 above it and report
:math:`Q_{3,\\max} - \\bar Q_3`. With missing responses each correlation uses the persons who
answered both items.

*LD-X²* (Chen & Thissen 1997): for each pair, Pearson's X² of the observed two-way table of
categories against the model's marginal table,

.. math::

    E_{kl} = n_{ij} \\int P_i(k\\mid\\theta) P_j(l\\mid\\theta)\\,g(\\theta)\\,d\\theta, \\qquad
    X^2_{ij} = \\sum_{k,l} \\frac{(O_{kl} - E_{kl})^2}{E_{kl}},

on :math:`(K_i - 1)(K_j - 1)` degrees of freedom (approximately: the parameters were estimated
from the same data). The sign is that of the observed minus expected cross-product of item
scores, :math:`\\sum_{kl} k\\,l\\,(O_{kl} - E_{kl})` — positive for positive dependence — and
the signed Cramér's V is :math:`\\sqrt{X^2 / (n_{ij}(\\min(K_i, K_j) - 1))}` (mirt prints it above
the diagonal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import chi2

from qabilet.calibration._diagnostics import (
    Report,
    category_table,
    fmt,
    grid_options,
    read_inputs,
    text_table,
)
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.likelihood import category_offsets, flat_log_prob
from qabilet.engine.quadrature import equispaced_grid
from qabilet.engine.scoring import eap

__all__ = ["LocalDependence", "local_dependence"]

Array = NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class LocalDependence(Report):
    """Q3 and LD-X² of every item pair (see :func:`local_dependence`).

    Attributes
    ----------
    item_ids : tuple of str
    q3 : ndarray, shape (n_items, n_items)
        Residual correlations at the EAP estimates (NaN on the diagonal).
    q3_mean : float
        Mean of the off-diagonal Q3.
    q3_expected : float
        :math:`-1/(n - 1)`, Yen's approximate expectation under local independence.
    q3_star : float
        :math:`\\max_{i<j} Q_{3,ij} - \\bar Q_3` (Christensen et al. 2017).
    max_pair : tuple of int
        The pair with the largest :math:`|Q_3 - \\bar Q_3|`.
    flagged_pairs : tuple of tuple of int
        Pairs ``(i, j)``, ``i < j``, with :math:`|Q_3 - \\bar Q_3|` above ``threshold``.
    threshold : float
    ld_x2 : ndarray, shape (n_items, n_items)
        Chen & Thissen's X² (symmetric, NaN on the diagonal).
    ld_df : ndarray of int, shape (n_items, n_items)
    ld_p_value : ndarray, shape (n_items, n_items)
    ld_signed_v : ndarray, shape (n_items, n_items)
        Signed Cramér's V.
    n_persons : int
    """

    item_ids: tuple[str, ...]
    q3: Array
    q3_mean: float
    q3_expected: float
    q3_star: float
    max_pair: tuple[int, int]
    flagged_pairs: tuple[tuple[int, int], ...]
    threshold: float
    ld_x2: Array
    ld_df: NDArray[np.int64]
    ld_p_value: Array
    ld_signed_v: Array
    n_persons: int

    def pairs(self) -> list[tuple[str, str, float, float, int, float, float]]:
        """Every pair ``(item_i, item_j, Q3, LD-X², df, p, signed V)`` with ``i < j``."""
        iu, ju = np.triu_indices(len(self.item_ids), 1)
        return [
            (self.item_ids[i], self.item_ids[j], float(self.q3[i, j]), float(self.ld_x2[i, j]),
             int(self.ld_df[i, j]), float(self.ld_p_value[i, j]), float(self.ld_signed_v[i, j]))
            for i, j in zip(iu.tolist(), ju.tolist())
        ]

    def summary(self) -> str:
        """The Q3 overview and the flagged pairs (or the largest, when none is)."""
        i, j = self.max_pair
        lines = [
            f"Local dependence: {len(self.item_ids)} items, {self.n_persons} persons",
            f"Q3 (Yen 1984) at EAP estimates: mean {fmt(self.q3_mean)} (about "
            f"{fmt(self.q3_expected)} expected under local independence), Q3* = max − mean "
            f"{fmt(self.q3_star)}",
            f"largest |Q3 − mean|: {self.item_ids[i]} – {self.item_ids[j]} "
            f"(Q3 {fmt(self.q3[i, j])}); pairs beyond {self.threshold:g}: "
            f"{len(self.flagged_pairs)}",
        ]
        show = list(self.flagged_pairs) or [self.max_pair]
        cols = [
            ("pair", [f"{self.item_ids[a]} – {self.item_ids[b]}" for a, b in show]),
            ("Q3", [fmt(self.q3[a, b]) for a, b in show]),
            ("LD-X2", [fmt(self.ld_x2[a, b]) for a, b in show]),
            ("df", [fmt(self.ld_df[a, b]) for a, b in show]),
            ("p", [fmt(self.ld_p_value[a, b], 4) for a, b in show]),
            ("signed V", [fmt(self.ld_signed_v[a, b]) for a, b in show]),
        ]
        return "\n".join(lines) + "\n" + text_table(cols)

    def to_frame(self) -> Any:
        """One row per item pair (pandas is imported here only)."""
        import pandas as pd

        return pd.DataFrame(
            self.pairs(), columns=["item_i", "item_j", "q3", "ld_x2", "df", "p", "signed_v"]
        )

    def __repr__(self) -> str:
        return (
            f"LocalDependence(n_items={len(self.item_ids)}, q3_mean={self.q3_mean:.4f}, "
            f"flagged_pairs={len(self.flagged_pairs)})"
        )


def _pairwise_correlation(values: Array, observed: NDArray[np.bool_]) -> Array:
    """Pearson correlations of the columns over the rows where both are observed."""
    o = observed.astype(np.float64)
    v = np.where(observed, values, 0.0)
    n = o.T @ o
    s = v.T @ o  # [i, j]: Σ v_i over rows observing both
    ss = (v * v).T @ o
    cross = v.T @ v
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = cross - s * s.T / n
        var_i = ss - s * s / n  # of column i over rows observing i and j
        return cov / np.sqrt(var_i * var_i.T)


def local_dependence(
    items: Any,
    responses: Any,
    observed: ArrayLike | None = None,
    *,
    threshold: float = 0.2,
    n_points: int | None = None,
    bounds: tuple[float, float] | None = None,
) -> LocalDependence:
    """Yen's Q3 and Chen & Thissen's LD-X² for every item pair (see the module docstring).

    Parameters
    ----------
    items : ItemBank, item model or CalibrationResult
    responses : array_like or DataFrame, shape (n_persons, n_items)
    observed : array_like of bool, optional
        Missing responses: each pair uses the persons who answered both.
    threshold : float
        Flag pairs whose Q3 differs from the mean Q3 by more than this (0.2, Christensen et
        al. 2017).
    n_points, bounds : optional
        The quadrature grid of the LD-X² expectations (default: the fit's, or 61 nodes on
        [−6, 6]); the EAP estimates use the engine's scoring grid.

    Returns
    -------
    LocalDependence

    Examples
    --------
    >>> from qabilet.engine.models import TwoPL
    >>> from qabilet.engine.simulation import simulate_responses
    >>> items = TwoPL(np.ones(8), np.linspace(-1.5, 1.5, 8))
    >>> x = simulate_responses(items, np.random.default_rng(0).normal(size=2000), rng=1)
    >>> x[:, 7] = x[:, 6]  # item 8 copies item 7
    >>> ld = local_dependence(items, x)
    >>> ld.max_pair, ld.flagged_pairs
    ((6, 7), ((6, 7),))
    """
    data = read_inputs(items, responses, observed, "local_dependence")
    if not (np.isfinite(threshold) and threshold > 0):
        raise InvalidParameterError(f"threshold: expected a positive number; got {threshold}")
    bank, resp = data.bank, data.resp
    n_items = bank.n_items
    if n_items < 3:
        raise InvalidParameterError("local_dependence: needs at least three items")
    # Q3: residual correlations at EAP
    theta = eap(bank, resp.x, resp.observed).theta
    expected = bank.expected_score(theta)  # (n, I)
    q3 = _pairwise_correlation(resp.x - expected, resp.observed)
    np.fill_diagonal(q3, np.nan)
    iu = np.triu_indices(n_items, 1)
    upper = q3[iu]
    q3_mean = float(np.nanmean(upper))
    dev = np.abs(upper - q3_mean)
    top = int(np.nanargmax(dev))
    max_pair = (int(iu[0][top]), int(iu[1][top]))
    flagged = tuple(
        (int(a), int(b)) for a, b, d in zip(iu[0], iu[1], dev) if d > threshold
    )
    # LD-X²: observed and model two-way tables for all pairs at once
    n_pts, bnds = grid_options(data.fit, n_points, bounds)
    grid = equispaced_grid(bank.latent, n_pts, bnds)
    p_flat = np.exp(flat_log_prob(bank, grid.nodes))  # (Q, ΣK)
    model = p_flat.T @ (grid.weights[:, None] * p_flat)  # P(X_i = k, X_j = l) off the diagonal
    offsets = category_offsets(bank.n_categories)
    width = int(bank.n_categories.sum())
    item_of = np.repeat(np.arange(n_items), bank.n_categories)
    table = category_table(resp, bank.n_categories)
    o = resp.observed.astype(np.float64)
    n_pair = o.T @ o
    exp_counts = n_pair[item_of][:, item_of] * model
    with np.errstate(invalid="ignore", divide="ignore"):
        cells = np.where(exp_counts > 0, (table - exp_counts) ** 2 / exp_counts, 0.0)
    x2 = np.add.reduceat(np.add.reduceat(cells, offsets, axis=0), offsets, axis=1)
    score = (np.arange(width) - offsets[item_of]).astype(np.float64)  # category k of each column
    cross = score[:, None] * score[None, :] * (table - exp_counts)
    sign = np.sign(np.add.reduceat(np.add.reduceat(cross, offsets, axis=0), offsets, axis=1))
    k = bank.n_categories
    df = ((k[:, None] - 1) * (k[None, :] - 1)).astype(np.int64)
    np.fill_diagonal(x2, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = chi2.sf(x2, df)
        v = sign * np.sqrt(x2 / (n_pair * (np.minimum(k[:, None], k[None, :]) - 1)))
    return LocalDependence(
        item_ids=bank.item_ids,
        q3=q3,
        q3_mean=q3_mean,
        q3_expected=-1.0 / (n_items - 1),
        q3_star=float(np.nanmax(upper) - q3_mean),
        max_pair=max_pair,
        flagged_pairs=flagged,
        threshold=float(threshold),
        ld_x2=x2,
        ld_df=df,
        ld_p_value=p,
        ld_signed_v=v,
        n_persons=int(resp.x.shape[0]),
    )
