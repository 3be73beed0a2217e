"""Adjusted p-values for a family of tests, shared by the diagnostics that test many items.

* **Bonferroni**: :math:`\\tilde p_i = \\min(1, M p_i)`.
* **Holm** (1979), step-down: :math:`\\tilde p_{(i)} = \\max_{h \\le i} \\min(1, (M - h + 1)\\,p_{(h)})`
  for the sorted :math:`p_{(1)} \\le \\dots \\le p_{(M)}`. Rejecting where :math:`\\tilde p < \\alpha`
  controls the familywise error rate (the probability of any false rejection) at :math:`\\alpha`
  under any dependence between the tests, and rejects at least what Bonferroni rejects.
* **Benjamini–Hochberg** (1995), step-up: :math:`\\tilde p_{(i)} = \\min_{h \\ge i}
  \\min(1, M p_{(h)} / h)`. Rejecting where :math:`\\tilde p < \\alpha` controls the false
  discovery rate (the expected share of false rejections among the rejections) at
  :math:`\\alpha` for independent or positively dependent tests (Benjamini & Yekutieli 2001) —
  weaker than familywise control, and more powerful when many items have DIF.

These are R's ``p.adjust(method = "bonferroni" | "holm" | "BH")``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qabilet.engine.exceptions import InvalidParameterError

__all__ = ["ADJUSTMENTS", "adjust_p_values", "benjamini_hochberg", "holm"]

Array = NDArray[np.float64]

#: the adjustments :func:`adjust_p_values` knows
ADJUSTMENTS = ("holm", "bh", "bonferroni", "none")


def _vector(p_values: ArrayLike) -> Array:
    """The p-values as a vector of probabilities (NaN allowed: a test not carried out)."""
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1 or np.any((p < 0) | (p > 1)):
        raise InvalidParameterError(f"p_values: expected a vector of probabilities; got {p!r}")
    return p


def holm(p_values: ArrayLike) -> Array:
    """Holm's (1979) step-down adjusted p-values, in the order given.

    :math:`\\tilde p_{(i)} = \\max_{h \\le i} \\min(1, (M - h + 1)\\,p_{(h)})` for the sorted
    :math:`p_{(1)} \\le \\dots \\le p_{(M)}`; rejecting where :math:`\\tilde p < \\alpha` controls the
    familywise error rate at :math:`\\alpha`. NaN entries (tests not carried out) stay NaN and are
    not counted in :math:`M`.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03]).round(2).tolist()
    [0.03, 0.06, 0.06]
    """
    p = _vector(p_values)
    out = np.full(p.size, np.nan)
    done = np.flatnonzero(~np.isnan(p))
    order = done[np.argsort(p[done], kind="stable")]
    m = order.size
    out[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return out


def benjamini_hochberg(p_values: ArrayLike) -> Array:
    """Benjamini–Hochberg (1995) step-up adjusted p-values (false discovery rate), in the order given.

    :math:`\\tilde p_{(i)} = \\min_{h \\ge i} \\min(1, M p_{(h)} / h)`; NaN entries stay NaN and
    are not counted in :math:`M`.

    Examples
    --------
    >>> benjamini_hochberg([0.01, 0.04, 0.03]).round(2).tolist()
    [0.03, 0.04, 0.04]
    """
    p = _vector(p_values)
    out = np.full(p.size, np.nan)
    done = np.flatnonzero(~np.isnan(p))
    order = done[np.argsort(p[done], kind="stable")]
    m = order.size
    scaled = m * p[order] / np.arange(1, m + 1)
    out[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return out


def adjust_p_values(p_values: ArrayLike, method: str) -> Array:
    """Adjusted p-values by ``method``: ``"holm"``, ``"bh"``, ``"bonferroni"`` or ``"none"``.

    Examples
    --------
    >>> adjust_p_values([0.01, 0.04, 0.03], "bonferroni").round(2).tolist()
    [0.03, 0.12, 0.09]
    """
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    p = _vector(p_values)
    if method == "bonferroni":
        return np.minimum(1.0, np.count_nonzero(~np.isnan(p)) * p)
    if method == "none":
        return p.copy()
    raise InvalidParameterError(f"adjust: expected one of {', '.join(ADJUSTMENTS)}; got {method!r}")
