"""Forced-choice sections of a live session: the next block, and the scores of the blocks answered.

A forced-choice section (:class:`qabilet.itembank.blueprints.BlockRules`) gives blocks of the
bank version's Thurstonian model (:class:`qabilet.itembank.forced_choice_parameters.ForcedChoiceParameters`):
a fixed form in its order, or adaptively — after each answer the traits are re-estimated by
MAP with the exact block likelihood (:func:`qabilet.engine.scoring.forced_choice.block_map`)
and the next block is the best of those available by D- or A-optimality of the exact block
information (:func:`qabilet.engine.forced_choice_cat.block_criterion`), drawn among the
``randomesque`` best from the session's seed, or admitted by Sympson and Hetter's rule with
admission probabilities that cap the blocks' exposure
(:func:`qabilet.engine.forced_choice_cat.block_exposure`). A block is available when it was not given and
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
    admit : ndarray, optional
        Sympson–Hetter admission probabilities per block (1 for a block the rules leave out).
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
    admit: Array | None = None

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
    admit = None if rules.admit is None else np.array([rules.admit.get(b, 1.0) for b in ids])
    return BlockPlan(ids, blocks.model(ids), blocks.correlation(), rules.form is not None,
                     rules.n_blocks, rules.criterion, rules.randomesque,
                     tuple(tuple(st.id or "" for st in items[b].statements or []) for b in ids),
                     tuple(items[b].answer_mode or "rank" for b in ids), admit)


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


@dataclass(frozen=True, slots=True)
class _Step:
    """A section's state after its answers: the blocks passed over, and its next choice.

    ``value``: the criterion of every block at the choice (−inf where unavailable), from which
    the blocks the next answer's block was preferred to are read (Sympson–Hetter's passes).
    """

    answers: Answers
    gone: frozenset[str]
    passed: frozenset[str]
    value: Array | None
    chosen: str | None


#: per (session, section): the last step (a pure memo: the key and its answers decide the rest)
_NEXT: LRU[tuple[str, int], _Step] = LRU(20_000)


def next_block(plan: BlockPlan, session_id: str, seed: int, section: int, answers: Answers,
               gone: frozenset[str]) -> str | None:
    """The section's next block after ``answers`` (``gone``: blocks whose time ran out); None: done.

    The candidates among the available blocks are the ``randomesque`` best by the criterion
    at the MAP estimate; one is drawn from ``[seed, section, blocks taken]``, so a replay of the
    log draws the same. With admission probabilities (:attr:`BlockPlan.admit`), Sympson and
    Hetter's rule instead: the blocks are considered in the criterion's order, each admitted
    with its probability (draws from the same seed), and those passed over are left out for
    the rest of the test — on a replay, every block the criterion preferred to the one given.
    """
    key = (session_id, section)
    kept = _NEXT.get(key)
    if kept is not None and kept.answers == answers and kept.gone == gone:
        return kept.chosen
    if plan.admit is None or plan.fixed:
        passed: frozenset[str] = frozenset()
    elif (kept is not None and kept.gone == gone and answers[:-1] == kept.answers
          and kept.value is not None and answers[-1][0] == kept.chosen):
        passed = kept.passed | _preferred(plan, kept.value, answers[-1][0])
    else:
        passed = _replay(plan, answers, gone)
    step = _choose(plan, seed, section, answers, gone, passed)
    _NEXT.put(key, step)
    return step.chosen


def _preferred(plan: BlockPlan, value: Array, block_id: str) -> frozenset[str]:
    """The blocks whose criterion was above ``block_id``'s when it was given."""
    mine = value[plan.block(block_id)]
    return frozenset(b for b, v in zip(plan.block_ids, value, strict=True) if v > mine)


def _replay(plan: BlockPlan, answers: Answers, gone: frozenset[str]) -> frozenset[str]:
    """The blocks Sympson–Hetter passed over before each answer, read again from the answers."""
    passed: frozenset[str] = frozenset()
    for t in range(len(answers)):
        value = _values(plan, answers[:t], gone, passed)
        if value is not None:
            passed |= _preferred(plan, value, answers[t][0])
    return passed


def _values(plan: BlockPlan, answers: Answers, gone: frozenset[str], passed: frozenset[str]
            ) -> Array | None:
    """Every block's criterion after ``answers`` (−inf where unavailable); None when none is."""
    from qabilet.engine.forced_choice_cat import block_criterion
    from qabilet.engine.scoring.forced_choice import block_map

    given = {b for b, _ in answers} | set(gone)
    shown = {s for b in given for s in plan.statements[plan.block(b)]}
    free = np.array([b not in given and b not in passed and not shown & set(st)
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
    value: Array = np.where(free, block_criterion(plan.model, eta, gathered[None],
                                                  "A" if plan.criterion == "A" else "D")[0],
                            -np.inf)
    return value


def _choose(plan: BlockPlan, seed: int, section: int, answers: Answers, gone: frozenset[str],
            passed: frozenset[str]) -> _Step:
    from qabilet.engine.forced_choice_cat import admitted

    given = {b for b, _ in answers} | set(gone)
    taken = len(given)
    if taken >= plan.length:
        return _Step(answers, gone, passed, None, None)
    if plan.fixed:
        return _Step(answers, gone, passed, None,
                     next((b for b in plan.block_ids if b not in given), None))
    value = _values(plan, answers, gone, passed)
    if value is None:
        return _Step(answers, gone, passed, None, None)
    draws = np.random.default_rng([seed, section, taken])
    if plan.admit is not None:
        chosen, _ = admitted(value[None], plan.admit, draws.random((1, value.size)))
        return _Step(answers, gone, passed, value, plan.block_ids[int(chosen[0])])
    best = np.argsort(-value, kind="stable")[:min(plan.randomesque, int(np.isfinite(value).sum()))]
    return _Step(answers, gone, passed, value, plan.block_ids[int(best[draws.integers(best.size)])])


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
