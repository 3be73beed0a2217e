"""Stopping rules: whether each session ends now, and why.

:func:`stop_reasons` applies the blueprint's rules in a fixed order of precedence and returns
one reason per session, the empty string for "go on" (:data:`STOP_REASONS`). The minimum
length and the minimum content quotas hold back every rule but the ones that leave no choice (no
item left, maximum length, time).

Classification (Wald 1947; Reckase 1983; Eggen 1999): at each cut score :math:`c` the test
compares :math:`\\theta_- = c - \\delta` with :math:`\\theta_+ = c + \\delta`. With
:math:`\\Lambda = \\ell(\\theta_+) - \\ell(\\theta_-)` (SPRT) or, for the generalized likelihood
ratio, :math:`\\Lambda = \\max_{\\theta \\ge \\theta_+}\\ell(\\theta) - \\max_{\\theta \\le
\\theta_-}\\ell(\\theta)` (Bartroff, Finkelman & Lai 2008), the cut is decided "above" when
:math:`\\Lambda \\ge \\log\\frac{1-\\beta}{\\alpha}` and "below" when :math:`\\Lambda \\le
\\log\\frac{\\beta}{1-\\alpha}`; the test stops when every cut is decided.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from qabilet.engine.cat.snapshot import CatContext, Snapshot
from qabilet.engine.models._base import Array

__all__ = ["REASON_DTYPE", "STOP_REASONS", "bands", "edge_log_lik", "stop_reasons"]

#: what each stop reason means
STOP_REASONS: dict[str, str] = {
    "no_items_left": "every eligible item has been given",
    "max_items": "the maximum test length was reached",
    "time_limit": "the time budget is spent",
    "classified": "the band is decided at every cut score",
    "se_target": "the standard error fell below the target",
    "min_information": "no item left is informative enough at the estimate",
}


#: the dtype that holds every stop reason
REASON_DTYPE = f"<U{max(map(len, STOP_REASONS))}"


def edge_log_lik(context: CatContext, snap: Snapshot) -> Array:
    """Log-likelihood of each session's answers at the indifference edges.

    Returns
    -------
    ndarray, shape (n, n_factors, 2 n_cuts)
        At :math:`c_j - \\delta` then :math:`c_j + \\delta` on each factor. For several factors
        (simple structure: every item loads on one) the likelihood factorises, and factor
        :math:`k`'s part sums the items that load on it.
    """
    if snap.responses is None:
        raise ValueError("snap.responses: the likelihood at the edges reads the answers; got None")
    cols = context.offsets[None, :] + snap.responses
    table = context.edge_log_p[:, cols]  # (d * 2C, n, n_items)
    d = context.bank.n_dims
    loads = context.bank.slopes != 0  # (n_items, d)
    per_row = np.repeat(loads.T, table.shape[0] // d, axis=0)  # the factor of each table row
    mask = snap.scored[None, :, :] & per_row[:, None, :]
    sums = np.where(mask, table, 0.0).sum(axis=2)  # (d * 2C, n)
    return sums.reshape(d, -1, snap.n).transpose(2, 0, 1)


def _decisions(context: CatContext, snap: Snapshot) -> NDArray[np.int8]:
    """Per session, factor and cut: +1 above, −1 below, 0 undecided; ``(n, d, n_cuts)``."""
    bp = context.blueprint
    n_cuts = len(bp.cut_scores)
    edges = edge_log_lik(context, snap)
    low, high = edges[..., :n_cuts], edges[..., n_cuts:]
    if bp.classification == "glr":  # one factor (check_bank refuses GLR for several)
        nodes = context.grid.nodes[:, 0]
        cuts = np.asarray(bp.cut_scores)
        above = nodes[None, :] >= (cuts + bp.indifference)[:, None]  # (C, Q)
        below = nodes[None, :] <= (cuts - bp.indifference)[:, None]
        ll = snap.log_lik[:, None, :]  # (n, 1, Q)
        high = np.maximum(high, np.where(above[None], ll, -np.inf).max(axis=2)[:, None, :])
        low = np.maximum(low, np.where(below[None], ll, -np.inf).max(axis=2)[:, None, :])
    ratio = high - low
    upper = np.log((1 - bp.beta) / bp.alpha)
    lower = np.log(bp.beta / (1 - bp.alpha))
    return (ratio >= upper).astype(np.int8) - (ratio <= lower).astype(np.int8)


def bands(context: CatContext, snap: Snapshot) -> NDArray[np.intp]:
    """The band of each session: how many cut scores it lies above.

    A cut the likelihood-ratio test has decided counts as decided; an undecided one (the test
    ended first) is read from the estimate against the cut.

    Returns
    -------
    ndarray of int, shape (n,), or (n, n_factors) for several factors
    """
    cuts = np.asarray(context.blueprint.cut_scores)
    d = context.bank.n_dims
    shape = (snap.n,) if d == 1 else (snap.n, d)
    if cuts.size == 0:
        return np.zeros(shape, dtype=np.intp)
    theta = snap.theta.reshape(snap.n, d, 1)
    by_estimate = np.where(theta >= cuts[None, None, :], 1, -1)
    if context.blueprint.classification is None:  # no likelihood-ratio test: the estimate
        return (by_estimate > 0).sum(axis=2).reshape(shape)
    decided = _decisions(context, snap)
    return (np.where(decided != 0, decided, by_estimate) > 0).sum(axis=2).reshape(shape)


def stop_reasons(context: CatContext, snap: Snapshot, elapsed_s: Array | None = None,
                 available: NDArray[np.bool_] | None = None) -> NDArray[np.str_]:
    """One stop reason per session (``""`` to continue), shape ``(snap.n,)``.

    Parameters
    ----------
    context : CatContext
    snap : Snapshot
    elapsed_s : ndarray, shape (n,), optional
        Seconds each session has used, for ``time_limit_s``.
    available : ndarray of bool, shape (n, n_items), optional
        ``snap.available(context)``, when the caller has it already.
    """
    bp = context.blueprint
    length = snap.administered.sum(axis=1)
    available = snap.available(context) if available is None else available
    out = np.full(snap.n, "", dtype=REASON_DTYPE)
    may_stop = snap.n_scored >= max(bp.min_items, 1)
    if context.content.active:
        may_stop &= context.content.minimums_met(snap.administered)
    if bp.min_information is not None:
        info = np.where(available, context.bank.information(snap.theta), 0.0).max(axis=1)
        out[may_stop & (info < bp.min_information)] = "min_information"
    if bp.se_target is not None:
        below = snap.se < bp.se_target
        # several factors: every one of them precise enough
        precise = below.all(axis=1) if below.ndim > 1 else below
        out[may_stop & precise] = "se_target"
    if bp.classification is not None:
        out[may_stop & np.all(_decisions(context, snap) != 0, axis=(1, 2))] = "classified"
    if bp.time_limit_s is not None and elapsed_s is not None:
        out[np.asarray(elapsed_s) >= bp.time_limit_s] = "time_limit"
    out[length >= bp.max_items] = "max_items"
    out[~available.any(axis=1)] = "no_items_left"
    return out
