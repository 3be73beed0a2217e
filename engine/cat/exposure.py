"""Exposure control: turn the selection rule's scores into one item per session.

A rule is a small strategy object with ``choose(scores, available, rng)`` returning one item
index per session, always an available one (the contract test checks it).
"""

from __future__ import annotations

from typing import ClassVar, Protocol

import numpy as np
from numpy.typing import NDArray

from engine.cat.blueprint import parse_exposure
from engine.models._base import Array

__all__ = ["ExposureRule", "NoExposureControl", "Randomesque", "exposure_rule"]


def _masked(scores: Array, available: NDArray[np.bool_]) -> Array:
    return np.where(available, scores, -np.inf)


class ExposureRule(Protocol):
    """The contract of an exposure-control rule."""

    name: ClassVar[str]

    def choose(
        self, scores: Array, available: NDArray[np.bool_], rng: np.random.Generator
    ) -> NDArray[np.intp]:
        """One available item per row of ``scores`` (rows with an available item only)."""
        ...


class NoExposureControl:
    """The best available item; ties go to the first in bank order (as mirtCAT and catR)."""

    name: ClassVar[str] = "none"

    def choose(
        self, scores: Array, available: NDArray[np.bool_], rng: np.random.Generator
    ) -> NDArray[np.intp]:
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

    def choose(
        self, scores: Array, available: NDArray[np.bool_], rng: np.random.Generator
    ) -> NDArray[np.intp]:
        """Draw among the top ``k`` of each row."""
        masked = _masked(scores, available)
        k = min(self.k, masked.shape[1])
        if k == 1:
            return np.argmax(masked, axis=1)
        top = np.argpartition(-masked, k - 1, axis=1)[:, :k]
        # the top k in descending order, so that the first m of them are the m available ones
        top_scores = np.take_along_axis(masked, top, axis=1)
        top = np.take_along_axis(top, np.argsort(-top_scores, axis=1, kind="stable"), axis=1)
        m = np.minimum(available.sum(axis=1), k)
        pick = (rng.random(masked.shape[0]) * m).astype(np.intp)
        return top[np.arange(masked.shape[0]), np.minimum(pick, k - 1)]


def exposure_rule(spec: str) -> ExposureRule:
    """The exposure rule of a blueprint's ``exposure`` field (``"none"``, ``"randomesque:K"``)."""
    _name, k = parse_exposure(spec)  # "none" is the one rule without a setting
    return NoExposureControl() if k is None else Randomesque(k)
