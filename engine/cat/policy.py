"""One step of the adaptive loop for many sessions at once: stop, or which item next.

The session functions (:mod:`engine.cat.session`) and the simulation harness
(:mod:`engine.cat.simulate`) both call :func:`next_items`, so a simulated test follows exactly
the rules a live one does.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from engine.cat.blueprint import Blueprint
from engine.cat.exposure import ExposureRule, Randomesque, exposure_rule
from engine.cat.selection import SelectionRule, selection_rule
from engine.cat.snapshot import CatContext, Snapshot
from engine.cat.stopping import stop_reasons
from engine.models._base import Array

__all__ = ["next_items", "rules_of"]


@lru_cache(maxsize=256)
def rules_of(blueprint: Blueprint) -> tuple[SelectionRule, ExposureRule]:
    # blueprints are frozen and hashable, so the strategy objects are built once per design
    """The selection and exposure strategy objects a blueprint names."""
    return selection_rule(blueprint.selection), exposure_rule(blueprint.exposure)


def _content_controlled(context: CatContext, snap: Snapshot, scores: Array,
                        available: NDArray[np.bool_], go: NDArray[np.intp]
                        ) -> tuple[Array, NDArray[np.bool_]]:
    """Scores and availability under the quotas: weighted deviations or a shadow test."""
    bp = context.blueprint
    plan = context.content
    if bp.content_method == "shadow":
        free = available.copy()
        free[go] = plan.shadow_free(scores[go], snap.administered[go], available[go],
                                    bp.max_items)
        return scores, free
    # weighted deviations: merit rescaled to [0, 1] over the available items, less the
    # projected quota deviation of each choice
    masked = np.where(available, scores, np.nan)
    with np.errstate(invalid="ignore"):
        lo = np.nanmin(np.where(available.any(axis=1, keepdims=True), masked, 0.0), axis=1,
                       keepdims=True)
        hi = np.nanmax(np.where(available.any(axis=1, keepdims=True), masked, 0.0), axis=1,
                       keepdims=True)
    merit = (scores - lo) / np.where(hi > lo, hi - lo, 1.0)
    return merit - bp.content_weight * plan.deviations(snap.administered, bp.max_items), available


def next_items(
    context: CatContext, snap: Snapshot, rng: np.random.Generator,
    elapsed_s: Array | None = None,
) -> tuple[NDArray[np.str_], NDArray[np.intp]]:
    """Stop reasons and next items of every session in ``snap``.

    ``elapsed_s`` (seconds used by each session, supplied by the caller) feeds the time limit.

    Returns
    -------
    reasons : ndarray of str, shape (n,)
        ``""`` where the session goes on (see :data:`engine.cat.stopping.STOP_REASONS`).
    items : ndarray of int, shape (n,)
        The next item's bank index where the session goes on, −1 where it stops.
    """
    reasons = stop_reasons(context, snap, elapsed_s)
    items = np.full(snap.n, -1, dtype=np.intp)
    go = np.flatnonzero(reasons == "")
    if go.size:
        selection, exposure = rules_of(context.blueprint)
        scores = selection.scores(context, snap, rng)
        available = snap.available(context)
        if context.content.active and context.blueprint.quotas:
            scores, available = _content_controlled(context, snap, scores, available, go)
        sub = snap if go.size == snap.n else snap.rows(go)
        chosen = exposure.choose(context, sub, scores[go], available[go], rng)
        k = context.blueprint.start_candidates
        first = np.flatnonzero(sub.administered.sum(axis=1) == 0)
        if k > 1 and first.size:  # the opening item: one of the k best at the start θ
            opening = Randomesque(k).choose(context, sub.rows(first), scores[go][first],
                                            available[go][first], rng)
            chosen[first] = opening
        items[go] = chosen
    return reasons, items
