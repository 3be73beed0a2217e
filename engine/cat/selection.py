"""Item selection rules: each scores every item for every session; higher is better.

A rule is a small strategy object with ``scores(context, snapshot, rng)`` returning an array of
shape ``(n_sessions, n_items)``. It never picks: the exposure rule (:mod:`engine.cat.exposure`)
turns scores into a choice among the available items, so every selection rule works with every
exposure rule.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

import numpy as np

from engine.cat.snapshot import CatContext, Snapshot
from engine.exceptions import InvalidParameterError
from engine.models._base import Array

__all__ = ["MaximumInformation", "RandomSelection", "SelectionRule", "selection_rule"]


class SelectionRule(Protocol):
    """The contract of a selection rule."""

    name: ClassVar[str]

    def scores(self, context: CatContext, snap: Snapshot, rng: np.random.Generator) -> Array:
        """Merit of every item for every session, shape ``(snap.n, n_items)``."""
        ...


class MaximumInformation:
    """Maximum Fisher information at the current estimate (Lord 1980; Weiss 1982).

    .. math:: i^* = \\arg\\max_{i \\in R} \\mathcal I_i(\\hat\\theta),
              \\qquad \\mathcal I_i = a_i^2 P_i(1 - P_i) \\text{ for the 2PL}

    over the remaining items :math:`R`; the models' own information for any other item type.
    """

    name: ClassVar[str] = "mfi"

    def scores(self, context: CatContext, snap: Snapshot, rng: np.random.Generator) -> Array:
        """Fisher information of every item at each session's estimate."""
        return context.bank.information(snap.theta)


class RandomSelection:
    """Every available item equally likely (field testing and calibration designs)."""

    name: ClassVar[str] = "random"

    def scores(self, context: CatContext, snap: Snapshot, rng: np.random.Generator) -> Array:
        """Independent uniform scores: the best of them is a uniform draw."""
        return rng.random((snap.n, context.bank.n_items))


_RULES: dict[str, type[MaximumInformation] | type[RandomSelection]] = {
    rule.name: rule for rule in (MaximumInformation, RandomSelection)
}


def selection_rule(name: str) -> SelectionRule:
    """The selection rule registered under ``name``."""
    try:
        return _RULES[name]()
    except KeyError:
        raise InvalidParameterError(
            f"selection: expected one of {', '.join(_RULES)}; got {name!r}"
        ) from None
