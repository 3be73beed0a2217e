"""One step of the adaptive loop for many sessions at once: stop, or which item next.

The session functions (:mod:`qabilet.engine.cat.session`) and the simulation harness
(:mod:`qabilet.engine.cat.simulate`) both call :func:`next_items`, so a simulated test follows exactly
the rules a live one does.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from qabilet.engine.cat.blueprint import Blueprint
from qabilet.engine.cat.exposure import ExposureRule, NoExposureControl, Randomesque, exposure_rule
from qabilet.engine.cat.selection import MaximumInformation, SelectionRule, selection_rule
from qabilet.engine.cat.snapshot import CatContext, Snapshot
from qabilet.engine.cat.stopping import stop_reasons
from qabilet.engine.models._base import Array

__all__ = ["next_items", "rules_of"]


@lru_cache(maxsize=256)
def rules_of(blueprint: Blueprint) -> tuple[SelectionRule, ExposureRule]:
    # blueprints are frozen and hashable, so the strategy objects are built once per design
    """The selection and exposure strategy objects a blueprint names."""
    return selection_rule(blueprint.selection), exposure_rule(blueprint.exposure)


def _content_controlled(context: CatContext, snap: Snapshot, scores: Array,
                        available: NDArray[np.bool_]) -> tuple[Array, NDArray[np.bool_]]:
    """Scores and availability under the quotas: weighted deviations or a shadow test."""
    bp = context.blueprint
    plan = context.content
    if bp.content_method == "shadow":
        return scores, plan.shadow_free(scores, snap.administered, available, bp.max_items)
    # weighted deviations: merit rescaled to [0, 1] over the available items, less the
    # projected quota deviation of each choice
    some = available.any(axis=1, keepdims=True)
    lo = np.where(available, scores, np.inf).min(axis=1, keepdims=True)
    hi = np.where(available, scores, -np.inf).max(axis=1, keepdims=True)
    lo, hi = np.where(some, lo, 0.0), np.where(some, hi, 1.0)
    merit = (scores - lo) / np.where(hi > lo, hi - lo, 1.0)
    # binding minimums are hard (ContentPlan.needed); a session with no such item left keeps all
    allowed = available & plan.needed(snap.administered, bp.max_items)
    available = np.where(allowed.any(axis=1, keepdims=True), allowed, available)
    return merit - bp.content_weight * plan.deviations(snap.administered, bp.max_items), available


def _top_needed(exposure: ExposureRule) -> int | None:
    """How many of the best items the exposure rule looks at (None: it needs them all)."""
    if isinstance(exposure, NoExposureControl):
        return 1
    if isinstance(exposure, Randomesque):
        return exposure.k
    return None


def _pruned_information(context: CatContext, snap: Snapshot, available: NDArray[np.bool_],
                        exposure: ExposureRule, k: int, rng: np.random.Generator
                        ) -> NDArray[np.intp] | None:
    """Maximum-information choices from the most informative items only, where that is exact.

    Every item's information is bounded by its peak over the grid's interval
    (:attr:`CatContext.peak_information`). The information of the ``M`` items with the highest
    peaks is computed; a session whose ``k``-th best among them exceeds the largest peak of all
    the other items (strictly, so ties keep bank order) gets its choice from them — the same
    choice the full ranking gives. The others are ranked over the whole bank. Returns None when
    the bank is too small for the shortcut to pay.
    """
    cols = context.top_items
    if context.top_bank is None or cols.size < k or cols.size == int(context.eligible.sum()):
        return None
    info = context.top_bank.information(snap.theta)
    sub_available = available[:, cols]
    info[~sub_available] = -np.inf
    kth = info.max(axis=1) if k == 1 else -np.partition(-info, k - 1, axis=1)[:, k - 1]
    exact = kth > context.top_bound
    out = np.empty(snap.n, dtype=np.intp)
    rows = np.flatnonzero(exact)
    if rows.size:
        part = snap if rows.size == snap.n else snap.rows(rows)
        out[rows] = cols[exposure.choose(context, part, info[rows], sub_available[rows], rng)]
    rows = np.flatnonzero(~exact)
    if rows.size:
        part = snap.rows(rows)
        full = MaximumInformation().scores(context, part, rng)
        out[rows] = exposure.choose(context, part, full, available[rows], rng)
    return out


def _ranked_choice(context: CatContext, snap: Snapshot, available: NDArray[np.bool_],
                   rng: np.random.Generator) -> NDArray[np.intp]:
    """The selection rule's scores, the content constraints, then the exposure rule."""
    selection, exposure = rules_of(context.blueprint)
    quotas = context.content.active and bool(context.blueprint.quotas)
    k = _top_needed(exposure)
    if isinstance(selection, MaximumInformation) and k is not None and not quotas:
        chosen = _pruned_information(context, snap, available, exposure, k, rng)
        if chosen is not None:
            return chosen
    scores = selection.scores(context, snap, rng)
    if quotas:
        scores, available = _content_controlled(context, snap, scores, available)
    return exposure.choose(context, snap, scores, available, rng)


def next_items(
    context: CatContext, snap: Snapshot, rng: np.random.Generator,
    elapsed_s: Array | None = None,
) -> tuple[NDArray[np.str_], NDArray[np.intp]]:
    """Stop reasons and next items of every session in ``snap``.

    ``elapsed_s`` (seconds used by each session, supplied by the caller) feeds the time limit.

    Returns
    -------
    reasons : ndarray of str, shape (n,)
        ``""`` where the session goes on (see :data:`qabilet.engine.cat.stopping.STOP_REASONS`).
    items : ndarray of int, shape (n,)
        The next item's bank index where the session goes on, −1 where it stops.
    """
    available = snap.available(context)
    reasons = stop_reasons(context, snap, elapsed_s, available)
    items = np.full(snap.n, -1, dtype=np.intp)
    go = np.flatnonzero(reasons == "")
    if go.size == 0:
        return reasons, items
    sub = snap if go.size == snap.n else snap.rows(go)
    available = available[go]
    chosen = np.empty(go.size, dtype=np.intp)
    k0 = context.blueprint.start_candidates
    opening = (sub.administered.sum(axis=1) == 0) if k0 > 1 else np.zeros(go.size, dtype=bool)
    rows = np.flatnonzero(opening)
    if rows.size:  # the opening item: one of the k0 best at the start θ
        part = sub.rows(rows)
        selection, _ = rules_of(context.blueprint)
        chosen[rows] = Randomesque(k0).choose(context, part, selection.scores(context, part, rng),
                                              available[rows], rng)
    rows = np.flatnonzero(~opening)
    if rows.size:
        part = sub if rows.size == go.size else sub.rows(rows)
        chosen[rows] = _ranked_choice(context, part, available[rows], rng)
    items[go] = chosen
    return reasons, items
