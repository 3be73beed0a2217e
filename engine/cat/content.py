"""Content control: quotas per content category and enemy sets.

A blueprint may tag items with a content category (a competency, a response format), bound the
number of items of each category (``quotas``), and declare enemy sets (items that must not
appear together: one clues another, or they are near-duplicates). Two methods meet them:

* ``"wdm"`` — weighted deviations (Stocking & Swanson 1993): each candidate's merit is reduced by
  the deviation from the bounds that choosing it would project to the end of the test;
* ``"shadow"`` — shadow tests (van der Linden & Reese 1998; van der Linden 2005): before each
  item, a full-length test that contains the items given so far, meets every constraint and has
  the most information at the estimate is assembled by mixed-integer programming
  (:func:`scipy.optimize.milp`, HiGHS); the best free item of that shadow test is given. Every
  constraint then holds by construction.

Maximum quotas and enemy sets are hard under both: an item whose category is full, or an enemy
of an item given, is unavailable. A test does not stop before its minimum quotas are met, and
under weighted deviations the minimums turn hard when they bind: once the items still missing
from the lower quotas fill every position left before ``max_items``, only items of a category
still short are available (:meth:`ContentPlan.needed`), so that no exposure-control lottery or
merit can end a test below a minimum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qabilet.engine.bank import ItemBank
from qabilet.engine.cat.blueprint import Blueprint
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.models._base import Array

__all__ = ["ContentPlan", "content_plan"]


@dataclass(frozen=True, slots=True, eq=False)
class ContentPlan:
    """The content constraints of a blueprint, in bank order.

    Attributes
    ----------
    membership : ndarray of float, shape (n_items, n_categories)
        1 where the item belongs to the category.
    lower, upper : ndarray of int, shape (n_categories,)
        Quota bounds (0 and the test length where the blueprint sets none).
    categories : tuple of str
    enemies : tuple of ndarray of int
        Bank positions of each enemy set.
    """

    membership: Array
    lower: NDArray[np.int64]
    upper: NDArray[np.int64]
    categories: tuple[str, ...]
    enemies: tuple[NDArray[np.intp], ...]

    @property
    def active(self) -> bool:
        """Whether there is anything to enforce."""
        return bool(self.categories) or bool(self.enemies)

    def counts(self, administered: NDArray[np.bool_]) -> Array:
        """Items given per category, ``(n, n_categories)``."""
        return administered @ self.membership

    def blocked(self, administered: NDArray[np.bool_]) -> NDArray[np.bool_]:
        """Items made unavailable by a full category or an enemy already given, ``(n, I)``."""
        out = np.zeros(administered.shape, dtype=bool)
        if self.categories:
            full = self.counts(administered) >= self.upper[None, :]
            out |= (full.astype(np.float64) @ self.membership.T) > 0
        for group in self.enemies:  # a handful of sets, each vectorised over sessions
            out[:, group] |= administered[:, group].any(axis=1, keepdims=True)
        return out

    def minimums_met(self, administered: NDArray[np.bool_]) -> NDArray[np.bool_]:
        """Whether each session has met every lower quota, ``(n,)``."""
        if not self.categories:
            return np.ones(administered.shape[0], dtype=bool)
        return np.all(self.counts(administered) >= self.lower[None, :], axis=1)

    def needed(self, administered: NDArray[np.bool_], length: int) -> NDArray[np.bool_]:
        """Items a session may still take without missing a lower quota, ``(n, n_items)``.

        With :math:`s_j = \\max(l_j - c_j, 0)` items still missing from category :math:`j` and
        :math:`L - t` positions left, a session with :math:`\\sum_j s_j \\ge L - t` must spend
        every position on a category still short: only those items are allowed. Other sessions
        may take any item.
        """
        n = administered.shape[0]
        if not self.categories:
            return np.ones(administered.shape, dtype=bool)
        short = np.maximum(self.lower[None, :] - self.counts(administered), 0.0)  # (n, C)
        left = length - administered.sum(axis=1)
        binding = short.sum(axis=1) >= left
        helps = ((short > 0).astype(np.float64) @ self.membership.T) > 0  # (n, n_items)
        return np.logical_or(~binding.reshape(n, 1), helps)

    def deviations(self, administered: NDArray[np.bool_], length: int) -> Array:
        """Projected quota deviation of choosing each item next, ``(n, n_items)``.

        With :math:`c_j` items of category :math:`j` after :math:`t` items, choosing one more of
        category :math:`j` projects :math:`\\hat c_j = (c_j + 1)\\,L/(t + 1)` to the end of a test
        of :math:`L` items, and not choosing one :math:`c_j L / (t + 1)`; the deviation is how
        far the projection lies outside :math:`[l_j, u_j]`, summed over the categories
        (Stocking & Swanson 1993, eq. 1, with unit weights).
        """
        counts = self.counts(administered)
        t = administered.sum(axis=1, keepdims=True).astype(np.float64)
        scale = length / (t + 1.0)

        def outside(c: Array) -> Array:
            proj = c * scale
            return np.maximum(self.lower[None, :] - proj, 0) + np.maximum(
                proj - self.upper[None, :], 0)

        without = outside(counts)
        change = outside(counts + 1.0) - without  # (n, C): choosing one more of category j
        return without.sum(axis=1, keepdims=True) + change @ self.membership.T

    def shadow_free(self, merit: Array, administered: NDArray[np.bool_],
                    available: NDArray[np.bool_], length: int) -> NDArray[np.bool_]:
        """The free items of each session's shadow test (one MILP per session).

        Parameters
        ----------
        merit : ndarray, shape (n, n_items)
            The selection rule's scores (information at the estimate, say); the shadow test
            maximises their sum.
        administered, available : ndarray of bool, shape (n, n_items)
        length : int
            The shadow test's length (the blueprint's maximum).

        Returns
        -------
        ndarray of bool, shape (n, n_items)
            The shadow test's items not yet given; a session for which no shadow test exists
            (the constraints were met by the items given so far, so only an ML estimate at a
            bound can cause it) keeps every available item.
        """
        from scipy.optimize import Bounds, LinearConstraint, milp

        n, n_items = merit.shape
        out = available.copy()
        rows, lo, hi = self._constraint_rows(n_items, length)
        for j in range(n):  # an integer programme per candidate: no vectorised form exists
            usable = available[j] | administered[j]
            lower = administered[j].astype(np.float64)
            upper = usable.astype(np.float64)
            res = milp(-np.where(usable, merit[j], 0.0), integrality=np.ones(n_items),
                       bounds=Bounds(lower, upper),
                       constraints=LinearConstraint(rows, lo, hi))
            if res.status != 0 or res.x is None:
                continue
            free = (res.x > 0.5) & available[j]
            if free.any():
                out[j] = free
        return out

    def _constraint_rows(self, n_items: int, length: int) -> tuple[Array, Array, Array]:
        rows = [np.ones((1, n_items))]
        lo, hi = [float(length)], [float(length)]
        if self.categories:
            rows.append(self.membership.T)
            lo.extend(self.lower.astype(float))
            hi.extend(self.upper.astype(float))
        for group in self.enemies:
            row = np.zeros((1, n_items))
            row[0, group] = 1.0
            rows.append(row)
            lo.append(0.0)
            hi.append(1.0)
        return np.vstack(rows), np.asarray(lo), np.asarray(hi)

    def check_feasible(self, eligible: NDArray[np.bool_], min_length: int,
                       max_length: int) -> None:
        """Refuse constraints that no test of the allowed lengths can meet (one MILP)."""
        if not self.active:
            return
        from scipy.optimize import Bounds, LinearConstraint, milp

        n_items = eligible.size
        rows, lo, hi = self._constraint_rows(n_items, max_length)
        lo[0], hi[0] = float(max(min_length, 1)), float(max_length)
        res = milp(np.zeros(n_items), integrality=np.ones(n_items),
                   bounds=Bounds(np.zeros(n_items), eligible.astype(np.float64)),
                   constraints=LinearConstraint(rows, lo, hi))
        if res.status != 0:
            have = {c: int((self.membership[:, k] * eligible).sum())
                    for k, c in enumerate(self.categories)}
            raise InvalidParameterError(
                f"quotas: no test of {max(min_length, 1)} to {max_length} eligible items meets "
                f"every quota and enemy set (quotas {self._quota_text()}; eligible items per "
                f"category {have}; {len(self.enemies)} enemy set(s))"
            )

    def _quota_text(self) -> str:
        return ", ".join(f"{c}: {lo}–{hi}" for c, lo, hi in
                         zip(self.categories, self.lower.tolist(), self.upper.tolist()))


def content_plan(blueprint: Blueprint, bank: ItemBank, eligible: NDArray[np.bool_]) -> ContentPlan:
    """Build and check the content constraints of ``blueprint`` on ``bank``.

    Raises
    ------
    InvalidParameterError
        A tagged or enemy item not in the bank, a quota on a category no item has, a minimum
        above the maximum test length, or constraints no test can meet.
    """
    n_items = bank.n_items
    categories = tuple(sorted({c for _, c in blueprint.content} | {q for q, _, _ in
                                                                   blueprint.quotas}))
    membership = np.zeros((n_items, len(categories)))
    if blueprint.content:
        ids, cats = zip(*blueprint.content, strict=True)
        try:
            pos = bank.index_of(ids)
        except InvalidParameterError as exc:
            raise InvalidParameterError(f"content: {exc}") from None
        membership[pos, [categories.index(c) for c in cats]] = 1.0
    lower = np.zeros(len(categories), dtype=np.int64)
    upper = np.full(len(categories), blueprint.max_items, dtype=np.int64)
    for name, lo, hi in blueprint.quotas:
        k = categories.index(name)
        if not membership[:, k].any():
            raise InvalidParameterError(f"quotas[{name!r}]: no item of the bank is tagged {name!r}")
        lower[k], upper[k] = lo, hi
    enemies = []
    for g, group in enumerate(blueprint.enemies):
        try:
            enemies.append(bank.index_of(group))
        except InvalidParameterError as exc:
            raise InvalidParameterError(f"enemies[{g}]: {exc}") from None
    plan = ContentPlan(membership, lower, upper, categories, tuple(enemies))
    # a shadow test always has the full length; weighted deviations may end anywhere in range
    shortest = blueprint.max_items if blueprint.content_method == "shadow" else blueprint.min_items
    plan.check_feasible(eligible, shortest, blueprint.max_items)
    return plan
