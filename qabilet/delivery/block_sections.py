"""Forced-choice sections of a live session: the next block, and the scores of the blocks answered.

A forced-choice section (:class:`qabilet.itembank.blueprints.BlockRules`) gives blocks of the
bank version's Thurstonian model (:class:`qabilet.itembank.forced_choice_parameters.ForcedChoiceParameters`):
a fixed form in its order, or adaptively — after each answer the traits are re-estimated by
MAP with the exact block likelihood (:func:`qabilet.engine.scoring.forced_choice.block_map`)
and the next block is the best of those available by D- or A-optimality of the exact block
information (:func:`qabilet.engine.forced_choice_cat.block_criterion`), drawn among the
``randomesque`` best from the session's seed. A block is available when it was not given and
none of its statements was shown (a statement never twice in a test). Like every section, it is
replayed from the log (docs/design.md §3a): the same answers give the same next block.

An answer is a block's statement ids from most to least like the candidate joined by ``>``,
with ``=`` between statements whose order was not asked (``S7>S5=S8>S6``: most and least of
four), as the block-answer file writes it (:mod:`qabilet.itembank.forced_choice_file`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from qabilet.delivery._lru import LRU

if TYPE_CHECKING:
    from qabilet.engine.forced_choice import BlockResponses, ThurstonianBlocks
    from qabilet.engine.scoring.result import AbilityEstimate
    from qabilet.itembank.blueprints import BlueprintSection
    from qabilet.itembank.content import Item
    from qabilet.itembank.forced_choice_parameters import ForcedChoiceParameters
    from qabilet.itembank.versions import BankVersion

__all__ = ["BlockPlan", "block_plan", "block_responses", "next_block", "ranking_of",
           "score_blocks"]

Array = NDArray[np.float64]
#: a section's answers: (block id, ranking), in the order given
Answers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, eq=False)
class BlockPlan:
    """A forced-choice section as its sessions run it (built once per pinned blueprint).

    Attributes
    ----------
    block_ids : tuple of str
        The form's blocks in order, or the adaptive pool.
    model : ThurstonianBlocks
        Their Thurstonian model (every trait of the version's forced-choice parameters).
    corr : ndarray
        The traits' correlations: the prior of the estimates.
    fixed : bool
        A fixed form (else adaptive).
    length : int
        Blocks a test gives.
    criterion : {"D", "A"}
    randomesque : int
    statements : tuple of tuple of str
        Each block's statement ids, in its order.
    modes : tuple of str
        Each block's answer mode (``rank`` or ``most_least``).
    """

    block_ids: tuple[str, ...]
    model: ThurstonianBlocks
    corr: Array
    fixed: bool
    length: int
    criterion: str
    randomesque: int
    statements: tuple[tuple[str, ...], ...]
    modes: tuple[str, ...]

    @property
    def min_items(self) -> int:
        """Blocks every test gives (all ``length``, unless the statements run out)."""
        return self.length

    @property
    def max_items(self) -> int:
        """Blocks a test gives at most."""
        return self.length

    def block(self, block_id: str) -> int:
        """The position of ``block_id`` in :attr:`block_ids`."""
        return self.block_ids.index(block_id)


def block_plan(section: BlueprintSection, level: str, items: dict[str, Item],
               version: BankVersion) -> BlockPlan:
    """The plan of a forced-choice section of a blueprint checked against ``version``."""
    from qabilet.itembank.blueprints import section_blocks

    rules, blocks = section.blocks, version.forced_choice
    if rules is None or blocks is None:
        raise ValueError(f"section {section.name!r}: not a forced-choice section of a version "
                         f"with blocks")
    ids = tuple(section_blocks(section, level, items, version))
    return BlockPlan(ids, blocks.model(ids), blocks.correlation(), rules.form is not None,
                     rules.n_blocks, rules.criterion, rules.randomesque,
                     tuple(tuple(st.id or "" for st in items[b].statements or []) for b in ids),
                     tuple(items[b].answer_mode or "rank" for b in ids))


def ranking_of(statements: Sequence[str], ranking: Sequence[str] | None = None,
               most: str | None = None, least: str | None = None) -> str:
    """A candidate's answer to a block as it is recorded.

    ``ranking`` (every statement once, most like the candidate first) gives ``S3>S1>S2``;
    ``most`` and ``least`` give ``most>others>least`` with the others, in the block's order,
    joined by ``=`` (their order was not asked).

    Raises
    ------
    ValueError
        Naming the field: a statement not of the block, one given twice or left out, most equal
        to least, or neither kind of answer.

    Examples
    --------
    >>> ranking_of(["a", "b", "c"], ranking=["c", "a", "b"])
    'c>a>b'
    >>> ranking_of(["a", "b", "c", "d"], most="c", least="a")
    'c>b=d>a'
    """
    known = list(statements)
    if ranking is not None:
        unknown = [s for s in ranking if s not in known]
        if unknown:
            raise ValueError(f"ranking: {unknown[0]!r} is not a statement of this block "
                             f"({', '.join(known)})")
        twice = next((s for k, s in enumerate(ranking) if s in ranking[:k]), None)
        if twice is not None:
            raise ValueError(f"ranking: {twice!r} given twice")
        left = [s for s in known if s not in ranking]
        if left:
            raise ValueError(f"ranking: {', '.join(left)} left out (each of the block's "
                             f"{len(known)} statements once, most like you first)")
        return ">".join(ranking)
    if most is None or least is None:
        raise ValueError("ranking: expected the statements in order, or most and least")
    for name, value in (("most", most), ("least", least)):
        if value not in known:
            raise ValueError(f"{name}: {value!r} is not a statement of this block "
                             f"({', '.join(known)})")
    if most == least:
        raise ValueError(f"least: the statement least like you is another than the one most "
                         f"like you; got {most!r} for both")
    middle = "=".join(s for s in known if s not in (most, least))
    return ">".join(part for part in (most, middle, least) if part)


def block_responses(model: ThurstonianBlocks, answers: Sequence[tuple[str, str]]
                    ) -> BlockResponses:
    """One person's answers ``(block id, ranking)`` to blocks of ``model``, as the engine reads them."""
    from qabilet.engine.forced_choice import BlockResponses
    from qabilet.itembank.forced_choice_file import parse_block_answer

    d = model.design
    orders: list[list[list[int]] | None] = [None] * d.n_blocks
    for block_id, ranking in answers:
        b = d.block_ids.index(block_id)
        ids = [d.statement_ids[i] for i in d.blocks[b]]
        orders[b] = parse_block_answer(ranking, ids)
    return BlockResponses.from_orders(d, [orders])


#: per (session, section): its answers and gone blocks → the next block (a pure memo)
_NEXT: LRU[tuple[str, int], tuple[Answers, frozenset[str], str | None]] = LRU(20_000)


def next_block(plan: BlockPlan, session_id: str, seed: int, section: int, answers: Answers,
               gone: frozenset[str]) -> str | None:
    """The section's next block after ``answers`` (``gone``: blocks whose time ran out); None: done.

    The candidates among the available blocks are the ``randomesque`` best by the criterion
    at the MAP estimate; one is drawn from ``[seed, section, blocks taken]``, so a replay of the
    log draws the same.
    """
    key = (session_id, section)
    kept = _NEXT.get(key)
    if kept is not None and kept[0] == answers and kept[1] == gone:
        return kept[2]
    chosen = _choose(plan, seed, section, answers, gone)
    _NEXT.put(key, (answers, gone, chosen))
    return chosen


def _choose(plan: BlockPlan, seed: int, section: int, answers: Answers,
            gone: frozenset[str]) -> str | None:
    from qabilet.engine.forced_choice_cat import block_criterion
    from qabilet.engine.scoring.forced_choice import block_map

    given = {b for b, _ in answers} | set(gone)
    taken = len(given)
    if taken >= plan.length:
        return None
    if plan.fixed:
        return next((b for b in plan.block_ids if b not in given), None)
    shown = {s for b in given for s in plan.statements[plan.block(b)]}
    free = np.array([b not in given and not shown & set(st)
                     for b, st in zip(plan.block_ids, plan.statements, strict=True)])
    if not free.any():
        return None
    precision = np.linalg.inv(plan.corr)
    if answers:
        eta = block_map(plan.model, block_responses(plan.model, answers), plan.corr).theta
    else:
        eta = np.zeros((1, plan.model.design.n_traits))
    info = plan.model.block_information(eta)[0]
    answered = [plan.block(b) for b, _ in answers]
    gathered = precision + info[answered].sum(axis=0)
    value = np.where(free, block_criterion(plan.model, eta, gathered[None],
                                           "A" if plan.criterion == "A" else "D")[0], -np.inf)
    best = np.argsort(-value, kind="stable")[:min(plan.randomesque, int(free.sum()))]
    pick = int(np.random.default_rng([seed, section, taken]).integers(best.size))
    return plan.block_ids[int(best[pick])]


def score_blocks(blocks: ForcedChoiceParameters, answers: Sequence[tuple[str, str]]
                 ) -> tuple[AbilityEstimate, dict[str, int]]:
    """MAP scores of every trait from a person's block answers, and each trait's blocks answered.

    The prior is N(0, Φ) with Φ the traits' correlations; the standard errors are the
    posterior's at the mode (Laplace), from the exact block likelihood.
    """
    from qabilet.engine.scoring.forced_choice import block_map

    model = blocks.model([b for b, _ in answers])
    estimate = block_map(model, block_responses(model, answers), blocks.correlation())
    d = model.design
    counts = {t: int(sum(np.any(d.trait_of[m] == k) for m in d.blocks))
              for k, t in enumerate(d.traits)}
    return estimate, counts
