"""A live session's state, derived from its stored event log by the engine (docs/design.md §3a).

Nothing here is trusted over the log: :func:`derive` replays the answers through
:mod:`qabilet.engine.cat`, section by section as the pinned blueprint orders them, and returns where the
session stands — the next item, or that it is over. Plans (the sections' engine banks and rules)
are read once per (bank version, level, blueprint number) and cached; they are pure values.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cache
from typing import TYPE_CHECKING, Any

from qabilet.delivery._lru import LRU
from qabilet.engine.cat import NextItem, SessionState, Stop, next_item, record, start

if TYPE_CHECKING:
    from qabilet.delivery.version_scales import VersionScales
    from qabilet.itembank.repository import BankRepository
    from qabilet.itembank.session_store import SessionEvent, StoredSession
    from qabilet.itembank.versions import BankVersion

__all__ = ["Plan", "SessionView", "derive", "plan_for"]


@dataclass(frozen=True, slots=True)
class Plan:
    """What a pinned blueprint runs.

    Attributes
    ----------
    sections : tuple of (name, dimensions, engine bank, engine blueprint)
        In the order a session takes them.
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
    scales : VersionScales, optional
        The version's whole engine bank and its scales, cut once, that its sessions' profiles
        are scored on.
    """

    sections: tuple
    codes: dict
    item_section: dict
    contexts: tuple = ()
    version: BankVersion | None = None
    items: dict[str, Any] = field(default_factory=dict)
    scales: VersionScales | None = None

    def n_choices(self, item_id: str) -> int:
        """How many options or scale points the item offers."""
        bank = self.sections[self.item_section[item_id]][2]
        return int(bank.n_categories[bank.index_of([item_id])[0]])

    @property
    def max_items(self) -> int:
        """The most items a session can take (the sections' maxima): the scale of a progress bar."""
        return sum(rules.max_items for _name, _dims, _bank, rules in self.sections)


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
    from qabilet.delivery.version_scales import VersionScales
    from qabilet.itembank.blueprints import section_items
    from qabilet.itembank.versions import scale_bank

    stored = repo.blueprint(level, blueprint_number)
    version = repo.version(bank_version)
    items = {i.id: i for i in repo.items()}
    full = version.parameters.to_bank()
    sections, where, contexts = [], {}, []
    for k, section in enumerate(stored.sections):
        rules = section.blueprint(section_items(section, level, items, version))
        ids = list(rules.items or ()) + list(rules.pretest_items)
        bank = scale_bank(full, section.dimensions, ids)
        sections.append((section.name, tuple(section.dimensions), bank, rules))
        contexts.append(start(bank, rules, rng=0).context)
        where.update(dict.fromkeys(ids, k))
    return Plan(tuple(sections), version.parameters.recodings(), where, tuple(contexts), version,
                items, VersionScales(version, full))


#: per (session, section): the answers and skipped items replayed, the state and its next step.
#: A pure memo (the key holds everything the value depends on), so it is never trusted over the
#: log: a log that differs from the memo's prefix replays from the start.
_Answers = tuple[tuple[str, int], ...]  # (item id, answer code as given), in the log's order
_MEMO: LRU[tuple[str, int], tuple[_Answers, frozenset[str], SessionState, NextItem | Stop]] = (
    LRU(20_000))


def derive(plan: Plan, session: StoredSession, events: list[SessionEvent]) -> SessionView:
    """Replay the log's answers through the engine; the next item or the end.

    Items whose time ran out (``item_timeout`` events) are left out of their section: not
    scored, and not offered again.
    """
    answers = [(e.payload["item_id"], e.payload["code"]) for e in events if e.kind == "answer"]
    skipped = {e.payload["item_id"] for e in events if e.kind == "item_timeout"}
    taken = len(answers) + len(skipped)
    closing = next((e.kind for e in events if e.kind in ("finish", "terminate", "timeout")), None)
    n = len(plan.sections)
    for k in range(n):
        mine = tuple(a for a in answers if plan.item_section.get(a[0]) == k)
        gone = frozenset(i for i in skipped if plan.item_section.get(i) == k)
        step = _section_step(plan, session, k, mine, gone)
        if not isinstance(step, Stop):
            if closing:
                break
            return SessionView(False, taken + 1, step.item_id, plan.sections[k][0], len(answers),
                               k, n)
    return SessionView(True, taken + 1, None, None, len(answers), n, n, closing or "completed")


def _section_step(plan: Plan, session: StoredSession, k: int, mine: _Answers,
                  gone: frozenset[str]) -> NextItem | Stop:
    """Section ``k``'s next step after its answers ``mine``, reusing the memo's prefix."""
    key = (session.id, k)
    memo = _MEMO.get(key)
    if memo is not None and memo[1] == gone and memo[0] == mine:
        return memo[3]
    _name, _dims, bank, rules = plan.sections[k]
    if memo is not None and memo[1] == gone and memo[0] == mine[:len(memo[0])]:
        state, todo = memo[2], mine[len(memo[0]):]
    else:
        context = plan.contexts[k] if not gone else None
        if gone:
            rules = replace(rules, items=tuple(i for i in rules.items or bank.item_ids
                                               if i not in gone))
        state, todo = start(bank, rules, rng=_seed(session.seed, k), context=context), mine
    for item_id, code in todo:
        codes = plan.codes.get(item_id)
        state = record(state, item_id, codes.index(code) if codes else int(code))
    step = next_item(state)
    _MEMO.put(key, (mine, gone, state, step))
    return step


@cache
def _seed(seed: int, section: int) -> int:
    return (seed * 1_000_003 + section) % (2**31)
