"""Exposure control: turn the selection rule's scores into one item per session.

A rule is a small strategy object with ``choose(context, snap, scores, available, rng)``
returning one item index per session, always an available one (the contract test checks it).
"""

from __future__ import annotations

from typing import ClassVar, Protocol

import numpy as np
from numpy.typing import NDArray

from qabilet.engine.cat.blueprint import parse_exposure
from qabilet.engine.cat.snapshot import CatContext, Snapshot
from qabilet.engine.models._base import Array

__all__ = [
    "AStratified",
    "ExposureRule",
    "NoExposureControl",
    "Randomesque",
    "SympsonHetter",
    "exposure_rule",
    "strata",
]


def _masked(scores: Array, available: NDArray[np.bool_]) -> Array:
    return np.where(available, scores, -np.inf)


class ExposureRule(Protocol):
    """The contract of an exposure-control rule."""

    name: ClassVar[str]

    def choose(self, context: CatContext, snap: Snapshot, scores: Array,
               available: NDArray[np.bool_], rng: np.random.Generator) -> NDArray[np.intp]:
        """One available item per row of ``scores`` (rows with an available item only)."""
        ...


class NoExposureControl:
    """The best available item; ties go to the first in bank order (as mirtCAT and catR)."""

    name: ClassVar[str] = "none"

    def choose(self, context: CatContext, snap: Snapshot, scores: Array,
               available: NDArray[np.bool_], rng: np.random.Generator) -> NDArray[np.intp]:
        """Row-wise argmax over the available items."""
        return np.argmax(_masked(scores, available), axis=1)


class Randomesque:
    """One of the ``k`` best available items, uniformly at random (Kingsbury & Zara 1989).

    With fewer than ``k`` items left, one of those left.

    Parameters
    ----------
    k : int
        Number of candidates.
    """

    name: ClassVar[str] = "randomesque"

    def __init__(self, k: int) -> None:
        self.k = int(k)

    def choose(self, context: CatContext, snap: Snapshot, scores: Array,
               available: NDArray[np.bool_], rng: np.random.Generator) -> NDArray[np.intp]:
        """Draw among the top ``k`` of each row."""
        masked = _masked(scores, available)
        n, n_items = masked.shape
        k = min(self.k, n_items)
        if k == 1:
            return np.argmax(masked, axis=1)
        rows = np.arange(n)
        if k <= 8:  # k passes of argmax beat a partition of every row for small k
            top = np.empty((n, k), dtype=np.intp)
            for j in range(k):  # candidates, not persons or items
                top[:, j] = np.argmax(masked, axis=1)
                masked[rows, top[:, j]] = -np.inf
        else:
            top = np.argpartition(-masked, k - 1, axis=1)[:, :k]
            top_scores = np.take_along_axis(masked, top, axis=1)
            top = np.take_along_axis(top, np.argsort(-top_scores, axis=1, kind="stable"), axis=1)
        # the top k in descending order, so that the first m of them are the m available ones
        m = np.minimum(available.sum(axis=1), k)
        pick = (rng.random(n) * m).astype(np.intp)
        return top[rows, np.minimum(pick, k - 1)]


class SympsonHetter:
    """Probabilistic exposure control (Sympson & Hetter 1985).

    Going down the items in order of merit, item :math:`i` is given with probability
    :math:`K_i`; an item passed over is not considered again for that candidate, so that
    :math:`P(A_i) = P(S_i)K_i`. Drawing every item's lottery once per session
    (:attr:`Snapshot.lottery`) gives exactly that: the best available item whose draw is below
    its parameter; when none is, the best available item. The :math:`K_i` come from
    :func:`qabilet.engine.cat.sympson_hetter.derive_sympson_hetter`.

    The parameters are the blueprint's ``sh_parameters``, in bank order in the context. With
    ``sh_classes`` (conditional Sympson–Hetter, Stocking & Lewis 1998) each session takes the
    parameters of the class its current estimate lies in.
    """

    name: ClassVar[str] = "sh"

    def choose(self, context: CatContext, snap: Snapshot, scores: Array,
               available: NDArray[np.bool_], rng: np.random.Generator) -> NDArray[np.intp]:
        """The best available item that passes its lottery."""
        draws = snap.lottery if snap.lottery is not None else rng.random(scores.shape)
        k = context.sh_parameters
        if k.ndim == 2:  # conditional: the parameters of each session's class
            k = k[np.searchsorted(context.blueprint.sh_classes, snap.theta.reshape(-1),
                                  side="right")]
        passes = draws < np.atleast_2d(k)
        masked = _masked(scores, available & passes)
        fallback = ~np.isfinite(masked.max(axis=1)) if masked.shape[1] else np.ones(0, bool)
        best = np.argmax(masked, axis=1)
        if fallback.any():
            best[fallback] = np.argmax(_masked(scores[fallback], available[fallback]), axis=1)
        return best


def strata(a: Array, location: Array, eligible: NDArray[np.bool_], n_strata: int,
           ) -> NDArray[np.intp]:
    """a-stratification with b-blocking (Chang, Qian & Ying 2001): a stratum per item.

    The eligible items are sorted by difficulty and cut into consecutive blocks of
    ``n_strata``; within each block the item with the lowest slope goes to stratum 0, the next
    to stratum 1, and so on. Every stratum thus spans the whole difficulty range, and the strata
    rise in discrimination. Ineligible items get −1.
    """
    out = np.full(a.shape[0], -1, dtype=np.intp)
    idx = np.flatnonzero(eligible)
    by_b = idx[np.argsort(location[idx], kind="stable")]
    block = np.arange(by_b.size) // n_strata
    # rank by slope within each block: sort by (block, a)
    order = np.lexsort((a[by_b], block))
    first = np.searchsorted(block[order], block[order])
    out[by_b[order]] = np.arange(by_b.size) - first
    return out


class AStratified:
    """a-stratified selection with b-blocking (Chang & Ying 1999; Chang, Qian & Ying 2001).

    The test is split into ``n_strata`` stages of equal length; stage :math:`s` gives items
    of stratum :math:`s` (low slopes first, saving the most discriminating items for the end,
    when the estimate is good), choosing the item whose difficulty is closest to the estimate.
    When a stratum has nothing left, the nearest higher (then lower) stratum serves. The
    selection rule's scores are not used: b-matching is the rule.

    Parameters
    ----------
    n_strata : int
    """

    name: ClassVar[str] = "astrat"

    def __init__(self, n_strata: int) -> None:
        self.n_strata = int(n_strata)

    def choose(self, context: CatContext, snap: Snapshot, scores: Array,
               available: NDArray[np.bool_], rng: np.random.Generator) -> NDArray[np.intp]:
        """The closest difficulty in the current stage's stratum."""
        s = self.n_strata
        a = np.sqrt((context.bank.slopes ** 2).sum(axis=1))
        stratum = strata(a, context.location, context.eligible, s)
        length = snap.administered.sum(axis=1)
        stage = np.minimum(length * s // context.blueprint.max_items, s - 1)
        closeness = -np.abs(context.location[None, :] - snap.theta[:, None])
        # distance in strata from the current stage; higher strata first on ties
        gap = np.abs(stratum[None, :] - stage[:, None]) * 2 - (stratum[None, :] > stage[:, None])
        gap = np.where(available, gap, np.iinfo(np.intp).max)
        nearest = gap == gap.min(axis=1, keepdims=True)
        return np.argmax(_masked(closeness, available & nearest), axis=1)


def exposure_rule(spec: str) -> ExposureRule:
    """The exposure rule of a blueprint's ``exposure`` (``none``, ``randomesque:K``, …)."""
    name, arg = parse_exposure(spec)
    if name == "randomesque":
        return Randomesque(int(arg or 1))
    if name == "sh":
        return SympsonHetter()
    if name == "astrat":
        return AStratified(int(arg or 2))
    return NoExposureControl()
