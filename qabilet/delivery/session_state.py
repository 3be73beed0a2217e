"""A live session's state, derived from its stored event log by the engine (docs/design.md §3a).

Nothing here is trusted over the log: :func:`derive` replays the answers through
:mod:`qabilet.engine.cat`, section by section as the pinned blueprint orders them, and returns where the
session stands — the next item, or that it is over. Plans (the sections' engine banks and rules)
are read once per (bank version, level, blueprint number) and cached; they are pure values.

A bank version with language versions (:func:`qabilet.itembank.versions.language_versions`)
gives some items other parameters in some language. Each answer is then counted with the
parameters of the language it was given in (its event's ``language``), and the next item is
chosen with those of the language the candidate answered in last (the session's before the
first answer): the language it will most likely be shown in. The prior is one for every
language, so an answer's language changes only what that answer says.

A forced-choice section gives blocks instead (:mod:`qabilet.delivery.block_sections`): its
entry in :attr:`Plan.sections` carries a :class:`~qabilet.delivery.block_sections.BlockPlan` in
place of the engine's bank and rules, and its answers are rankings of statements.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from qabilet.delivery._lru import LRU
from qabilet.delivery.block_sections import BlockPlan, next_block
from qabilet.engine.cat import (
    CatContext,
    NextItem,
    SessionState,
    Stop,
    next_item,
    rebind,
    record,
    start,
)

if TYPE_CHECKING:
    from qabilet.delivery.version_scales import VersionScales
    from qabilet.itembank.repository import BankRepository
    from qabilet.itembank.session_store import SessionEvent, StoredSession
    from qabilet.itembank.versions import BankVersion

__all__ = ["Plan", "SessionView", "derive", "plan_for", "pretest_positions"]


@dataclass(frozen=True, slots=True)
class Plan:
    """What a pinned blueprint runs.

    Attributes
    ----------
    sections : tuple of (name, dimensions, engine bank, engine blueprint)
        In the order a session takes them; a forced-choice section's is (name, dimensions,
        None, :class:`~qabilet.delivery.block_sections.BlockPlan`).
    codes : dict
        Item → the answer codes of its model categories (the version's recodings).
    item_section : dict
        Item → its section's index.
    contexts : tuple of engine.cat.CatContext
        Each section's engine tables, built once and shared by every session of the plan.
    version : BankVersion, optional
        The pinned bank version (published, so it never changes).
    items : dict
        Item id → the bank's item as the plan read it (what its sessions show and score).
    forms : tuple of dict
        Per section: language → its context, for the languages in which some of the section's
        items have parameters of their own (the others use ``contexts``).
    scales : VersionScales, optional
        The version's whole engine bank, its language versions and its scales, cut once, that
        its sessions' profiles are scored on.
    parts : tuple of tuple of int
        The sections in the parts of the test, in order: a part is one section, or the
        consecutive sections of one interleave group (:attr:`BlueprintSection.interleave`),
        whose items are given in turn. Empty: every section a part of its own.
    pretest : tuple of str
        The blueprint's pretest pool (:class:`qabilet.itembank.blueprints.PretestSeeding`).
    pretest_per_session : int
        How many of the pool a session is given.
    pretest_choices : dict
        Pretest item → how many options or scale points it offers.
    shortest : int
        The fewest scored items a test has (the sections' minimum lengths added up).
    """

    sections: tuple
    codes: dict
    item_section: dict
    contexts: tuple = ()
    version: BankVersion | None = None
    items: dict[str, Any] = field(default_factory=dict)
    forms: tuple[dict[str, CatContext], ...] = ()
    scales: VersionScales | None = None
    parts: tuple[tuple[int, ...], ...] = ()
    pretest: tuple[str, ...] = ()
    pretest_per_session: int = 0
    pretest_choices: dict[str, int] = field(default_factory=dict)
    shortest: int = 0

    def n_choices(self, item_id: str) -> int:
        """How many options or scale points the item offers (0 for a forced-choice block)."""
        if item_id in self.pretest_choices:
            return self.pretest_choices[item_id]
        bank = self.sections[self.item_section[item_id]][2]
        if bank is None:
            return 0
        return int(bank.n_categories[bank.index_of([item_id])[0]])

    def block(self, item_id: str) -> BlockPlan | None:
        """The plan of the forced-choice section giving ``item_id``; None for an item."""
        k = self.item_section.get(item_id)
        rules = self.sections[k][3] if k is not None else None
        return rules if isinstance(rules, BlockPlan) else None

    @property
    def max_items(self) -> int:
        """The most items a session can take (the sections' maxima and its pretest items)."""
        return (sum(rules.max_items for _name, _dims, _bank, rules in self.sections)
                + self.pretest_per_session)


@dataclass(frozen=True, slots=True)
class SessionView:
    """Where a session stands.

    Attributes
    ----------
    finished : bool
        Every section has stopped, or the log has a closing event (finish, terminate, timeout).
    position : int
        The 1-based test position the next answer answers (positions taken + 1).
    item_id : str, optional
        The item to show at ``position``.
    section : str, optional
    answered : int
        Answers given (items whose time ran out are not answers).
    section_index, n_sections : int
        The part of the test the item belongs to, and the number of parts (a group of
        interleaved sections is one part, so the candidate is not told which dimension an item
        measures).
    closed_by : str, optional
        ``completed`` (every section stopped), or the kind of the closing event.
    """

    finished: bool
    position: int
    item_id: str | None
    section: str | None
    answered: int
    section_index: int
    n_sections: int
    closed_by: str | None = None


_PLANS: dict[tuple[str, int, str, int], Plan] = {}


def plan_for(repo: BankRepository, bank_version: int, level: str, blueprint_number: int) -> Plan:
    """The plan of a pinned (version, level, blueprint), built once per process."""
    key = (str(repo.engine.url), bank_version, level, blueprint_number)
    if key not in _PLANS:
        _PLANS[key] = _build_plan(repo, bank_version, level, blueprint_number)
    return _PLANS[key]


def _build_plan(repo: BankRepository, bank_version: int, level: str, blueprint_number: int) -> Plan:
    from qabilet.delivery.block_sections import block_plan
    from qabilet.delivery.version_scales import VersionScales
    from qabilet.itembank.blueprints import section_items
    from qabilet.itembank.versions import language_versions, scale_bank

    stored = repo.blueprint(level, blueprint_number)
    version = repo.version(bank_version)
    items = {i.id: i for i in repo.items(version=bank_version)}  # as the version holds them
    full = version.parameters.to_bank()
    by_language = language_versions(version.parameters)
    sections: list[tuple[str, tuple[str, ...], Any, Any]] = []
    where: dict[str, int] = {}
    contexts: list[CatContext | None] = []
    forms: list[dict[str, CatContext]] = []
    for k, section in enumerate(stored.sections):
        if section.blocks is not None:
            blocks = block_plan(section, level, items, version)
            sections.append((section.name, tuple(section.dimensions), None, blocks))
            contexts.append(None)
            forms.append({})
            where.update(dict.fromkeys(blocks.block_ids, k))
            continue
        rules = section.blueprint(section_items(section, level, items, version))
        ids = list(rules.items or ())  # pretest items have no parameters: given by id
        bank = scale_bank(full, section.dimensions, ids)
        sections.append((section.name, tuple(section.dimensions), bank, rules))
        contexts.append(CatContext.build(bank, rules))
        own = {language: scale_bank(whole, section.dimensions, ids)
               for language, whole in by_language.items()}
        forms.append({language: CatContext.build(b, rules) for language, b in own.items()
                      if b.to_records() != bank.to_records()})
        where.update(dict.fromkeys([*ids, *rules.pretest_items], k))
    parts: list[list[int]] = []
    for k, section in enumerate(stored.sections):
        group = section.interleave
        if parts and group is not None and stored.sections[parts[-1][-1]].interleave == group:
            parts[-1].append(k)
        else:
            parts.append([k])
    seeding = stored.pretest
    pool = tuple(seeding.items) if seeding is not None else ()
    scales = repo.scales(version=bank_version) if pool else {}
    choices = {i: items[i].n_choices(scales) or 0 for i in pool}
    return Plan(tuple(sections), version.parameters.recodings(), where, tuple(contexts), version,
                items, tuple(forms), VersionScales(version, full, by_language),
                tuple(tuple(p) for p in parts), pool,
                seeding.per_session if seeding is not None else 0, choices,
                sum(int(rules.min_items) for _n, _d, _b, rules in sections))


#: (item id, answer code as given — a block's ranking —, language), in order
_Answers = tuple[tuple[str, Any, str], ...]


class _Memo(NamedTuple):
    """A section replayed.

    Its answers, timed-out items, the language the next item is chosen in, the contexts it ran
    on (the reference's and the language versions'), the state and the next step.
    """

    answers: _Answers
    gone: frozenset[str]
    current: str
    context: CatContext
    forms: dict[str, CatContext]
    state: SessionState
    step: NextItem | Stop


#: per (session, section). A pure memo (the key and the value's first fields hold everything the
#: rest depends on), so it is never trusted over the log: a log that differs from the memo's
#: prefix replays from the start.
_MEMO: LRU[tuple[str, int], _Memo] = LRU(20_000)


def derive(plan: Plan, session: StoredSession, events: list[SessionEvent]) -> SessionView:
    """Replay the log's answers through the engine; the next item or the end.

    Items whose time ran out (``item_timeout`` events) are left out of their section: not
    scored, and not offered again.
    """
    answers = [(e.payload["item_id"], e.payload.get("ranking") or e.payload["code"],
                e.payload.get("language") or session.language) for e in events if e.kind == "answer"]
    current = answers[-1][2] if answers else session.language  # the next item's likely language
    skipped = {e.payload["item_id"] for e in events if e.kind == "item_timeout"}
    taken = len(answers) + len(skipped)
    closing = next((e.kind for e in events if e.kind in ("finish", "terminate", "timeout")), None)
    parts = plan.parts or tuple((k,) for k in range(len(plan.sections)))
    n = len(parts)
    for p, part in enumerate(parts):
        open_: list[tuple[int, int, str]] = []  # (items taken, section, its next item)
        for k in part:
            mine = tuple(a for a in answers if plan.item_section.get(a[0]) == k)
            gone = frozenset(i for i in skipped if plan.item_section.get(i) == k)
            rules = plan.sections[k][3]
            if isinstance(rules, BlockPlan):
                due = next_block(rules, session.id, session.seed, k,
                                 tuple((a[0], str(a[1])) for a in mine), gone)
            else:
                step = _section_step(plan, session, k, mine, gone, current)
                due = None if isinstance(step, Stop) else step.item_id
            if due is not None:
                open_.append((len(mine) + len(gone), k, due))
        if open_:
            if closing:
                break
            seeded = _seeded(plan, session, answers, skipped, taken)
            if seeded is not None:
                return SessionView(False, taken + 1, seeded, "pretest", len(answers), p, n)
            fewest = min(t for t, _, _ in open_)
            tied = [(k, due) for t, k, due in open_ if t == fewest]
            k, due = tied[_turn(session.seed, taken, len(tied))]
            return SessionView(False, taken + 1, due, plan.sections[k][0], len(answers), p, n)
    return SessionView(True, taken + 1, None, None, len(answers), n, n, closing or "completed")


def pretest_positions(seed: int, count: int, span: int) -> tuple[int, ...]:
    """The test positions of a session's pretest items: ``count`` of 2 … ``span``, none adjacent.

    Drawn uniformly among such sets from the session's seed (so a replay finds the same): a
    set :math:`x_1 < \\dots < x_k` of :math:`\\{0, \\dots, n-1\\}` (:math:`n` = ``span`` − 1
    slots after the first position) with gaps of at least 2 is :math:`x_i = y_i + i` for a
    :math:`k`-subset :math:`y` of :math:`\\{0, \\dots, n-k\\}`, one to one; position
    :math:`2 + x_i`. Never the first item (the candidate settles in on a scored one), never two
    in a row (two unscored items together stand out and tire alike).

    Examples
    --------
    >>> p = pretest_positions(12345, 3, 9)
    >>> len(p), min(p) >= 2, max(p) <= 9, all(b - a >= 2 for a, b in zip(p, p[1:]))
    (3, True, True, True)
    """
    n = span - 1
    if count <= 0 or n - count + 1 < count:
        return ()
    y = np.sort(np.random.default_rng([seed, 0x5EED]).choice(n - count + 1, count, replace=False))
    return tuple(int(2 + v + i) for i, v in enumerate(y))


def _seeded(plan: Plan, session: StoredSession, answers: list[tuple[str, int, str]],
            skipped: set[str], taken: int) -> str | None:
    """The pretest item to give at position ``taken + 1``, or None (a scored item is due).

    At one of the session's :func:`pretest_positions` among the first :math:`L_{\\min} + m - 1`
    (:math:`m` pretest items): the :math:`j`-th of them, at position :math:`x_j \\le L_{\\min} +
    j - 1`, comes after :math:`x_j - j < L_{\\min}` scored items, before any section may stop —
    every session gets all :math:`m`. While it has had fewer than ``pretest_per_session``: one
    of the pool it has not had, drawn from the seed and position (every item of the pool
    gathers answers at the same rate).
    """
    count = plan.pretest_per_session
    if not count or taken + 1 not in pretest_positions(session.seed, count,
                                                       plan.shortest + count - 1):
        return None
    pool = set(plan.pretest)
    had = {a[0] for a in answers if a[0] in pool} | (skipped & pool)
    if len(had) >= count:
        return None
    left = [i for i in plan.pretest if i not in had]
    return left[int(np.random.default_rng([session.seed, taken, 1]).integers(len(left)))]


def _turn(seed: int, taken: int, n: int) -> int:
    """Which of ``n`` interleaved sections tied on items taken gives the next item.

    Drawn from the session's seed and the positions taken, so that a replay of the log chooses
    the same section and candidates meet the dimensions in different orders.
    """
    if n == 1:
        return 0
    return int(np.random.default_rng([seed, taken]).integers(n))


def _section_step(plan: Plan, session: StoredSession, k: int, mine: _Answers,
                  gone: frozenset[str], current: str) -> NextItem | Stop:
    """Section ``k``'s next step after its answers ``mine``, reusing the memo's prefix.

    Each answer is recorded on the context of the language it was given in, and the next item
    is chosen on the context of ``current``.
    """
    key = (session.id, k)
    memo = _MEMO.get(key)
    if memo is not None and memo.gone == gone and memo.current == current and memo.answers == mine:
        return memo.step
    if memo is not None and memo.gone == gone and memo.answers == mine[:len(memo.answers)]:
        context, forms, state = memo.context, memo.forms, memo.state
        todo = mine[len(memo.answers):]
    else:
        context, forms = _contexts(plan, k, gone)
        state = start(context.bank, context.blueprint, rng=_seed(session.seed, k), context=context)
        todo = mine
    for item_id, code, language in todo:
        codes = plan.codes.get(item_id)
        state = record(rebind(state, forms.get(language, context)), item_id,
                       codes.index(code) if codes else int(code))
    state = rebind(state, forms.get(current, context))
    step = next_item(state)
    _MEMO.put(key, _Memo(mine, gone, current, context, forms, state, step))
    return step


def _contexts(plan: Plan, k: int, gone: frozenset[str]) -> tuple[CatContext, dict[str, CatContext]]:
    """Section ``k``'s context and its language versions': the plan's, or rebuilt without ``gone``."""
    if not gone:
        return plan.contexts[k], plan.forms[k]
    bank, rules = plan.sections[k][2], plan.sections[k][3]
    rules = replace(rules, items=tuple(i for i in rules.items or bank.item_ids if i not in gone))
    return (CatContext.build(bank, rules),
            {language: CatContext.build(c.bank, rules) for language, c in plan.forms[k].items()})


@cache
def _seed(seed: int, section: int) -> int:
    return (seed * 1_000_003 + section) % (2**31)
