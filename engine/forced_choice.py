"""Forced-choice blocks under the Thurstonian IRT model: the exact likelihood of a block's answer.

*The model* (Brown & Maydeu-Olivares 2011). Statement :math:`s` of a block has the utility

.. math:: t_s = \\mu_s + \\lambda_s\\,\\eta_{\\tau(s)} + \\varepsilon_s, \\qquad
          \\varepsilon_s \\sim N(0, \\psi_s^2),

with :math:`\\tau(s)` the trait it measures and the errors independent; a person ranks a block's
statements by their utilities, highest first (most like me).

*A full ranking* :math:`r_1 \\succ r_2 \\succ \\dots \\succ r_n` of a block of :math:`n` (2, 3 or
4) statements is the event that the :math:`n - 1` consecutive differences
:math:`D_k = t_{r_k} - t_{r_{k+1}}` are positive. Given the traits,
:math:`\\mathbf D \\sim N(A_r(\\boldsymbol\\mu + \\Lambda\\boldsymbol\\eta), A_r\\Psi A_r^\\top)`
with :math:`A_r` the :math:`(n-1) \\times n` difference matrix of the ranking, so

.. math:: P(r \\mid \\boldsymbol\\eta) = \\Phi_{n-1}\\big(S_r^{-1} A_r(\\boldsymbol\\mu +
          \\Lambda\\boldsymbol\\eta);\\; R_r\\big),

an orthant probability of dimension at most 3 (:mod:`qabilet.engine.orthant`), computed exactly
rather than as a product of the block's pairwise comparisons — which are not independent given
the traits (they share the errors), so treating them as independent overstates the information
and understates a score's standard error (Brown & Maydeu-Olivares 2011, §4).

*A partial answer* — most and least like me of a block of four, five of its six comparisons —
is the set of full rankings consistent with it, and its probability the sum of theirs
(``S7>S5=S8>S6``: S7 first, S6 last, S5 and S8 in either order: two rankings). Every answer is
held as such a set: a row of a block's table of answers (:class:`BlockResponses`), over the
block's :math:`n!` rankings in :data:`RANKINGS` order.

Everything is computed for all persons (and quadrature nodes) at once; the loops are over
blocks and a block's rankings, never persons.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qabilet.engine.exceptions import InvalidParameterError, InvalidResponseError
from qabilet.engine.orthant import orthant_gradient, orthant_probability

__all__ = ["RANKINGS", "BlockDesign", "BlockResponses", "Selection", "SizeGroup", "ThurstonianBlocks",
           "consistent_rankings", "simulate_blocks"]

Array = NDArray[np.float64]

#: every ranking of a block of n statements, as positions in the block from most to least like
#: the person, in lexicographic order
RANKINGS: dict[int, tuple[tuple[int, ...], ...]] = {
    n: tuple(itertools.permutations(range(n))) for n in (2, 3, 4)}


@dataclass(frozen=True, slots=True, eq=False)
class BlockDesign:
    """Which statements form each block and which trait each measures.

    Attributes
    ----------
    traits : tuple of str
    block_ids : tuple of str
    statement_ids : tuple of str
        In block order (a block's statements together, in the design's order).
    blocks : tuple of ndarray of int
        Each block's statements, as positions in ``statement_ids``.
    trait_of : ndarray of int, shape (n_statements,)
        The trait each statement measures (a position in ``traits``).
    keyed : ndarray of int, shape (n_statements,)
        +1, or −1 for a negatively keyed statement (the sign a loading starts with).
    """

    traits: tuple[str, ...]
    block_ids: tuple[str, ...]
    statement_ids: tuple[str, ...]
    blocks: tuple[NDArray[np.intp], ...]
    trait_of: NDArray[np.intp]
    keyed: NDArray[np.int64]

    @classmethod
    def from_blocks(cls, traits: Sequence[str],
                    blocks: Sequence[tuple[str, Sequence[tuple[str, str, int]]]]) -> BlockDesign:
        """A design from ``[(block id, [(statement id, trait, keyed), ...]), ...]``.

        Raises
        ------
        InvalidParameterError
            A block of other than 2–4 statements, a statement or block id used twice, a trait
            not in ``traits``, a keying other than ±1, or two statements of a block on one trait.
        """
        names = tuple(traits)
        index = {t: k for k, t in enumerate(names)}
        if len(index) != len(names):
            raise InvalidParameterError("traits: a trait named twice")
        ids: list[str] = []
        trait_of: list[int] = []
        keyed: list[int] = []
        members: list[NDArray[np.intp]] = []
        for b, (block, statements) in enumerate(blocks):
            if not 2 <= len(statements) <= 4:
                raise InvalidParameterError(f"blocks[{b}] ({block}): expected 2 to 4 statements; "
                                            f"got {len(statements)}")
            measured = [t for _, t, _ in statements]
            if len(set(measured)) != len(measured):
                raise InvalidParameterError(f"blocks[{b}] ({block}): two statements measure one "
                                            f"trait; each statement of a block measures another")
            start = len(ids)
            for s, (sid, trait, key) in enumerate(statements):
                if trait not in index:
                    raise InvalidParameterError(f"blocks[{b}].statements[{s}].trait: expected one "
                                                f"of {', '.join(names)}; got {trait!r}")
                if key not in (1, -1):
                    raise InvalidParameterError(f"blocks[{b}].statements[{s}].keyed: expected 1 "
                                                f"or -1; got {key!r}")
                ids.append(sid)
                trait_of.append(index[trait])
                keyed.append(key)
            members.append(np.arange(start, len(ids), dtype=np.intp))
        for what, values in (("statement", ids), ("block", [b for b, _ in blocks])):
            seen: set[str] = set()
            for v in values:
                if v in seen:
                    raise InvalidParameterError(f"{what} id {v!r} is used twice")
                seen.add(v)
        return cls(names, tuple(b for b, _ in blocks), tuple(ids), tuple(members),
                   np.asarray(trait_of, dtype=np.intp), np.asarray(keyed, dtype=np.int64))

    @property
    def n_traits(self) -> int:
        """Number of traits."""
        return len(self.traits)

    @property
    def n_blocks(self) -> int:
        """Number of blocks."""
        return len(self.blocks)

    @property
    def n_statements(self) -> int:
        """Number of statements."""
        return len(self.statement_ids)


@dataclass(frozen=True, slots=True, eq=False)
class BlockResponses:
    """Answers to the blocks of a design: per person and block, a row of the block's table.

    Attributes
    ----------
    codes : ndarray of int, shape (n_persons, n_blocks)
        The row of ``tables[b]`` each person's answer to block ``b`` is; −1 where not answered.
    tables : tuple of ndarray of bool
        Per block, shape (n_answers, n!): the full rankings (:data:`RANKINGS` of the block's
        size) consistent with each distinct answer.
    """

    codes: NDArray[np.int64]
    tables: tuple[NDArray[np.bool_], ...]

    @classmethod
    def from_orders(cls, design: BlockDesign,
                    orders: Sequence[Sequence[Sequence[Sequence[int]] | None]]) -> BlockResponses:
        """Answers given as tiers of positions.

        ``orders[p][b]`` is None (not answered) or the block's positions from most to least
        like the person, grouped in tiers whose inner order was not observed — ``[[2], [0],
        [1]]`` a full ranking of a triplet, ``[[3], [0, 2], [1]]`` most and least of a quad.

        Raises
        ------
        InvalidResponseError
            Naming the person and block: tiers that do not hold each position once.
        """
        n_persons = len(orders)
        codes = np.full((n_persons, design.n_blocks), -1, dtype=np.int64)
        tables: list[list[NDArray[np.bool_]]] = [[] for _ in range(design.n_blocks)]
        seen: list[dict[tuple[tuple[int, ...], ...], int]] = [{} for _ in range(design.n_blocks)]
        for p, row in enumerate(orders):
            if len(row) != design.n_blocks:
                raise InvalidResponseError(f"person {p}: expected {design.n_blocks} blocks; got "
                                           f"{len(row)}")
            for b, tiers in enumerate(row):
                if tiers is None:
                    continue
                key = tuple(tuple(int(i) for i in tier) for tier in tiers)
                if key not in seen[b]:
                    seen[b][key] = len(tables[b])
                    tables[b].append(consistent_rankings(len(design.blocks[b]), key,
                                                         where=f"person {p}, block {b}"))
                codes[p, b] = seen[b][key]
        empty = [np.zeros((0, len(RANKINGS[len(m)])), dtype=bool) for m in design.blocks]
        return cls(codes, tuple(np.asarray(t, dtype=bool) if t else e
                                for t, e in zip(tables, empty, strict=True)))


def consistent_rankings(n: int, tiers: Sequence[Sequence[int]], where: str = "answer"
                        ) -> NDArray[np.bool_]:
    """Which of the :math:`n!` rankings (:data:`RANKINGS`) agree with ``tiers``.

    Raises
    ------
    InvalidResponseError
        The tiers do not hold each of the block's positions exactly once.
    """
    flat = [i for tier in tiers for i in tier]
    if sorted(flat) != list(range(n)) or any(len(t) == 0 for t in tiers):
        raise InvalidResponseError(f"{where}: expected each of the block's {n} statements once; "
                                   f"got positions {[list(t) for t in tiers]}")
    tier_of = {i: k for k, tier in enumerate(tiers) for i in tier}
    return np.asarray([all(tier_of[r[k]] <= tier_of[r[k + 1]] for k in range(n - 1))
                       for r in RANKINGS[n]], dtype=bool)


@dataclass(frozen=True, slots=True, eq=False)
class SizeGroup:
    """The blocks of one size, prepared to be computed together.

    Attributes
    ----------
    blocks : ndarray of int, shape (g,)
        Their positions in the design.
    members : ndarray of int, shape (g, n)
        Their statements.
    diff : ndarray, shape (n!, n − 1, n)
        Each ranking's difference matrix :math:`A_r`.
    cov : ndarray, shape (g, n!, n − 1, n − 1)
        :math:`A_r \\Psi A_r^\\top` per block and ranking.
    """

    blocks: NDArray[np.intp]
    members: NDArray[np.intp]
    diff: Array
    cov: Array


@dataclass(frozen=True, slots=True, eq=False)
class Selection:
    """One size group's answers: per person and block, the rankings the answer allows.

    Only those rankings' probabilities are computed (one for a full ranking, two for a most
    and least answer to a quad) rather than all :math:`n!`.

    Attributes
    ----------
    rankings : ndarray of int, shape (n_persons, g, m)
        The consistent rankings' indices (:data:`RANKINGS` order), padded with 0.
    valid : ndarray of bool, shape (n_persons, g, m)
        False on the padding.
    answered : ndarray of bool, shape (n_persons, g)
    """

    rankings: NDArray[np.intp]
    valid: NDArray[np.bool_]
    answered: NDArray[np.bool_]

    def rows(self, index: NDArray[np.intp]) -> Selection:
        """The selection of the persons ``index``."""
        return Selection(self.rankings[index], self.valid[index], self.answered[index])


def _differences(n: int) -> Array:
    rankings = np.asarray(RANKINGS[n])  # (n!, n)
    diff = np.zeros((rankings.shape[0], n - 1, n))
    rows = np.arange(n - 1)
    picks = np.arange(rankings.shape[0])[:, None]
    diff[picks, rows, rankings[:, :-1]] = 1.0
    diff[picks, rows, rankings[:, 1:]] = -1.0
    return diff


class ThurstonianBlocks:
    """Statement parameters of a forced-choice design, and its block probabilities.

    Parameters
    ----------
    design : BlockDesign
    mu, lam, psi2 : array_like, shape (n_statements,)
        Intercepts, loadings (on each statement's trait) and error variances (positive).

    Examples
    --------
    A pair of statements on two traits: the probability that the first is preferred is
    :math:`\\Phi((\\mu_1 - \\mu_2 + \\lambda_1\\eta_1 - \\lambda_2\\eta_2) /
    \\sqrt{\\psi_1^2 + \\psi_2^2})`.

    >>> design = BlockDesign.from_blocks(["A", "B"], [("B1", [("S1", "A", 1), ("S2", "B", 1)])])
    >>> model = ThurstonianBlocks(design, mu=[0.5, 0.0], lam=[1.0, 1.0], psi2=[0.5, 0.5])
    >>> round(float(model.ranking_probabilities([[0.0, 0.0]])[0][0, 0]), 6)   # Φ(0.5)
    0.691462
    """

    def __init__(self, design: BlockDesign, mu: ArrayLike, lam: ArrayLike, psi2: ArrayLike) -> None:
        n = design.n_statements
        self.design = design
        self.mu, self.lam, self.psi2 = (np.asarray(v, dtype=np.float64).reshape(-1)
                                        for v in (mu, lam, psi2))
        for name, v in (("mu", self.mu), ("lam", self.lam), ("psi2", self.psi2)):
            if v.shape != (n,) or not np.all(np.isfinite(v)):
                raise InvalidParameterError(f"{name}: expected {n} finite values; got shape "
                                            f"{v.shape}")
        if np.any(self.psi2 <= 0):
            raise InvalidParameterError("psi2: expected positive error variances")
        sizes = np.asarray([m.size for m in design.blocks])
        groups = []
        for size in sorted(set(sizes.tolist())):
            blocks = np.flatnonzero(sizes == size)
            members = np.stack([design.blocks[b] for b in blocks])
            diff = _differences(size)
            psi = self.psi2[members]  # (g, n)
            cov = np.einsum("rkn,gn,rln->grkl", diff, psi, diff)
            groups.append(SizeGroup(blocks, members, diff, cov))
        self.groups: tuple[SizeGroup, ...] = tuple(groups)

    def utility_means(self, eta: ArrayLike) -> Array:
        """The statements' mean utilities, shape ``(..., n_statements)``.

        :math:`\\mu_s + \\lambda_s\\eta_{\\tau(s)}` at the traits ``eta`` (``(..., n_traits)``).
        """
        e = np.asarray(eta, dtype=np.float64)
        if e.shape[-1:] != (self.design.n_traits,):
            raise InvalidParameterError(f"eta: expected a last axis of {self.design.n_traits} "
                                        f"traits; got shape {e.shape}")
        out: Array = self.mu + self.lam * e[..., self.design.trait_of]
        return out

    def group_probabilities(self, utility: Array, group: SizeGroup) -> tuple[Array, Array]:
        """Every ranking's probability of the group's blocks, shape ``(..., g, n!)``.

        Also returned: the mean differences they are orthant probabilities of,
        ``(..., g, n!, n − 1)``.
        """
        mean = np.einsum("rkn,...gn->...grk", group.diff, utility[..., group.members])
        return orthant_probability(mean, group.cov), mean

    def block_information(self, eta: ArrayLike) -> Array:
        """Each block's Fisher information about the traits at ``eta``.

        .. math::

            I_b(\\boldsymbol\\eta) = \\sum_r \\frac{\\nabla P_r \\, \\nabla P_r^\\top}{P_r},
            \\qquad \\nabla P_r = \\sum_s \\frac{\\partial P_r}{\\partial t_s}\\,
            \\lambda_s \\mathbf e_{\\tau(s)},

        over the block's :math:`n!` rankings (the expected information of a categorical
        outcome; Frick 2023 for forced-choice blocks), with :math:`\\partial P_r / \\partial t_s`
        from :func:`~qabilet.engine.orthant.orthant_gradient` through the ranking's differences.
        It is the exact block's: a triplet carries less than its three comparisons would if they
        were independent.

        Parameters
        ----------
        eta : array_like, shape (..., n_traits)

        Returns
        -------
        ndarray, shape (..., n_blocks, n_traits, n_traits)
            A test's information is the sum over the blocks it gives.
        """
        utility = self.utility_means(eta)
        k = self.design.n_traits
        out = np.zeros((*utility.shape[:-1], self.design.n_blocks, k, k))
        for group in self.groups:
            probs, mean = self.group_probabilities(utility, group)  # (..., g, r), (..., g, r, d)
            dmean = orthant_gradient(mean, group.cov)
            dutility = np.einsum("...grk,rkn->...grn", dmean, group.diff)
            onto = self.lam[group.members][..., None] * np.eye(k)[self.design.trait_of[group.members]]
            grad = np.einsum("...grn,gnk->...grk", dutility, onto)  # ∇_η P_r
            with np.errstate(divide="ignore", invalid="ignore"):
                scaled = np.where(probs[..., None] > 0, grad / probs[..., None], 0.0)
            out[..., group.blocks, :, :] = np.einsum("...grk,...grl->...gkl", scaled, grad)
        return out

    def ranking_probabilities(self, eta: ArrayLike) -> list[Array]:
        """Every ranking's probability of every block, at the traits ``eta``.

        Parameters
        ----------
        eta : array_like, shape (..., n_traits)

        Returns
        -------
        list of ndarray
            Per block, shape ``(..., n!)``: :math:`P(r \\mid \\boldsymbol\\eta)` for the block's
            rankings in :data:`RANKINGS` order (summing to 1 over them).
        """
        utility = self.utility_means(eta)
        out: list[Array] = [np.empty(0)] * self.design.n_blocks
        for group in self.groups:
            probs, _ = self.group_probabilities(utility, group)
            for j, b in enumerate(group.blocks):
                out[b] = probs[..., j, :]
        return out

    def selections(self, responses: BlockResponses) -> tuple[Selection, ...]:
        """The answers arranged by size group (computed once per set of answers)."""
        codes = responses.codes
        if codes.ndim != 2 or codes.shape[1] != self.design.n_blocks:
            raise InvalidResponseError(f"responses: expected {self.design.n_blocks} blocks; got "
                                       f"codes of shape {codes.shape}")
        out = []
        for group in self.groups:
            answered = codes[:, group.blocks] >= 0
            width = max([1, *(int(responses.tables[b].sum(axis=1).max(initial=0))
                              for b in group.blocks)])
            rankings = np.zeros((codes.shape[0], group.blocks.size, width), dtype=np.intp)
            valid = np.zeros(rankings.shape, dtype=bool)
            for j, b in enumerate(group.blocks):
                table = responses.tables[b]  # (answers, n!)
                if not table.shape[0]:
                    continue
                # each answer's consistent rankings first, in order, then the padding
                order = np.argsort(~table, axis=1, kind="stable")[:, :width]
                allowed = np.take_along_axis(table, order, axis=1)
                pick = np.where(answered[:, j], codes[:, b], 0)
                rankings[:, j] = order[pick]
                valid[:, j] = allowed[pick] & answered[:, j, None]
            out.append(Selection(rankings, valid, answered))
        return tuple(out)

    def selected_probabilities(self, utility: Array, group: SizeGroup, sel: Selection
                               ) -> tuple[Array, Array, Array]:
        """The probabilities of the rankings each answer allows.

        Parameters
        ----------
        utility : ndarray, shape (n_persons, ..., n_statements)
        group, sel : SizeGroup, Selection

        Returns
        -------
        probs : ndarray, shape (n_persons, ..., g, m)
            0 on the padding.
        mean, cov : ndarray
            The utility differences' means ``(n_persons, ..., g, m, n − 1)`` and covariances
            (broadcastable), whose orthant probabilities they are.
        """
        extra = (1,) * (utility.ndim - 2)
        p, g, m = sel.rankings.shape
        diff = group.diff[sel.rankings].reshape(p, *extra, g, m, *group.diff.shape[1:])
        cov = group.cov[np.arange(g)[None, :, None], sel.rankings].reshape(
            p, *extra, g, m, *group.cov.shape[2:])
        u = utility[..., group.members][..., None, None, :]  # (p, ..., g, 1, 1, n)
        mean = np.sum(diff * u, axis=-1)
        valid = sel.valid.reshape(p, *extra, g, m)
        probs: Array = np.where(valid, orthant_probability(mean, cov), 0.0)
        return probs, mean, cov

    def log_likelihood(self, eta: ArrayLike, responses: BlockResponses,
                       selections: Sequence[Selection] | None = None) -> Array:
        """Each person's log-likelihood of their answers at ``eta``.

        Parameters
        ----------
        eta : array_like, shape (n_persons, ..., n_traits)
            The traits at which to evaluate, the persons first (more axes, e.g. quadrature nodes,
            between).
        responses : BlockResponses
        selections : sequence of Selection, optional
            ``selections(responses)``, when the caller holds it.

        Returns
        -------
        ndarray, shape (n_persons, ...)
            :math:`\\sum_b \\log \\sum_{r \\in \\text{answer}_{pb}} P(r \\mid \\boldsymbol\\eta)`
            over the blocks answered.
        """
        e = np.asarray(eta, dtype=np.float64)
        if responses.codes.shape[0] != e.shape[0]:
            raise InvalidResponseError(f"responses: expected {e.shape[0]} persons; got "
                                       f"{responses.codes.shape[0]}")
        chosen = self.selections(responses) if selections is None else selections
        utility = self.utility_means(e)
        total = np.zeros(e.shape[:-1])
        extra = (1,) * (e.ndim - 2)
        for group, sel in zip(self.groups, chosen, strict=True):
            probs, _, _ = self.selected_probabilities(utility, group, sel)  # (n, ..., g, m)
            answered = sel.answered.reshape(sel.answered.shape[0], *extra, -1)
            with np.errstate(divide="ignore"):
                total += np.sum(np.where(answered, np.log(probs.sum(axis=-1)), 0.0), axis=-1)
        return total


def _ranking_index(n: int) -> NDArray[np.int64]:
    """Lookup from a ranking written as a base-n number (most liked first) to its index."""
    lookup = np.full(n**n, -1, dtype=np.int64)
    powers = n ** np.arange(n - 1, -1, -1)
    lookup[np.asarray(RANKINGS[n]) @ powers] = np.arange(len(RANKINGS[n]))
    return lookup


def simulate_blocks(model: ThurstonianBlocks, eta: ArrayLike, rng: np.random.Generator | int | None = None,
                    *, most_least: bool = False, shift: ArrayLike | None = None) -> BlockResponses:
    """Draw each person's answer to every block from the model.

    The utilities are drawn, each block ranked by them; with ``most_least`` a block of four is
    answered by its most and least liked statement only (the middle two as one tier).

    Parameters
    ----------
    model : ThurstonianBlocks
    eta : array_like, shape (n_persons, n_traits)
    rng : Generator, int or None
    most_least : bool
    shift : array_like, shape (n_persons, n_statements), optional
        Added to the drawn utilities before the blocks are ranked: a response style outside
        the model, such as faking (a person's propensity times each statement's desirability).
        The errors are drawn first and alike with or without it, so one seed gives the same
        persons' honest and shifted answers.

    Raises
    ------
    InvalidParameterError
        A ``shift`` of another shape, or not finite.
    """
    gen = np.random.default_rng(rng)
    e = np.asarray(eta, dtype=np.float64)
    d = model.design
    utility = model.mu + model.lam * e[:, d.trait_of] + gen.standard_normal(
        (e.shape[0], d.n_statements)) * np.sqrt(model.psi2)
    if shift is not None:
        moved = np.asarray(shift, dtype=np.float64)
        if moved.shape != utility.shape or not np.all(np.isfinite(moved)):
            raise InvalidParameterError(f"shift: expected finite values of shape {utility.shape} "
                                        f"(persons × statements); got shape {moved.shape}")
        utility = utility + moved
    codes = np.empty((e.shape[0], d.n_blocks), dtype=np.int64)
    tables = []
    for b, members in enumerate(d.blocks):
        n = members.size
        order = np.argsort(-utility[:, members], axis=1)  # positions, most liked first
        full = _ranking_index(n)[order @ n ** np.arange(n - 1, -1, -1)]
        if most_least and n == 4:
            # an answer is (most, least); its rankings are the two orders of the middle pair
            pairs = [(r[0], r[3]) for r in RANKINGS[4]]
            distinct = sorted(set(pairs))
            table = np.asarray([[p == q for p in pairs] for q in distinct], dtype=bool)
            codes[:, b] = np.asarray([distinct.index(pairs[r]) for r in range(24)])[full]
        else:
            table = np.eye(len(RANKINGS[n]), dtype=bool)
            codes[:, b] = full
        tables.append(table)
    return BlockResponses(codes, tuple(tables))
