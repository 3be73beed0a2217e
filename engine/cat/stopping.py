"""Stopping rules: whether each session ends now, and why.

:func:`stop_reasons` applies the blueprint's rules in a fixed order of precedence and returns
one reason per session, the empty string for "go on":

1. ``"no_items_left"`` — no eligible item remains;
2. ``"max_items"`` — the maximum length is reached;
3. ``"se_target"`` — the standard error is below the target (strictly, as mirtCAT's
   ``min_SEM``), once ``min_items`` scored answers are in.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from engine.cat.snapshot import CatContext, Snapshot

__all__ = ["STOP_REASONS", "stop_reasons"]

#: what each stop reason means
STOP_REASONS: dict[str, str] = {
    "no_items_left": "every eligible item has been given",
    "max_items": "the maximum test length was reached",
    "se_target": "the standard error fell below the target",
}


def stop_reasons(context: CatContext, snap: Snapshot) -> NDArray[np.str_]:
    """One stop reason per session (``""`` to continue), shape ``(snap.n,)``."""
    bp = context.blueprint
    length = snap.administered.sum(axis=1)
    out = np.full(snap.n, "", dtype="<U13")
    if bp.se_target is not None:
        precise = (snap.se < bp.se_target) & (snap.n_scored >= max(bp.min_items, 1))
        out[precise] = "se_target"
    out[length >= bp.max_items] = "max_items"
    out[~snap.available(context).any(axis=1)] = "no_items_left"
    return out
