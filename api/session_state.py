"""A live session's state, derived from its stored event log by the engine (DESIGN.md §3a).

Nothing here is trusted over the log: :func:`derive` replays the answers through
:mod:`engine.cat`, section by section as the pinned blueprint orders them, and returns where the
session stands — the next item, or that it is over. Plans (the sections' engine banks and rules)
are read once per (bank version, level, blueprint number) and cached; they are pure values.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from engine.cat import Stop, next_item, record, start

if TYPE_CHECKING:
    from itembank.repository import BankRepository
    from itembank.session_store import SessionEvent, StoredSession

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
    """

    sections: tuple
    codes: dict
    item_section: dict

    def n_choices(self, item_id: str) -> int:
        """How many options or scale points the item offers."""
        bank = self.sections[self.item_section[item_id]][2]
        return int(bank.n_categories[bank.index_of([item_id])[0]])


@dataclass(frozen=True, slots=True)
class SessionView:
    """Where a session stands.

    Attributes
    ----------
    finished : bool
        Every section has stopped, or the log has a finish/terminate event.
    position : int
        The 1-based test position the next answer answers (answered + 1).
    item_id : str, optional
        The item to show at ``position``.
    section : str, optional
    answered : int
    section_index, n_sections : int
    """

    finished: bool
    position: int
    item_id: str | None
    section: str | None
    answered: int
    section_index: int
    n_sections: int


_PLANS: dict[tuple[str, int, str, int], Plan] = {}


def plan_for(repo: BankRepository, bank_version: int, level: str, blueprint_number: int) -> Plan:
    """The plan of a pinned (version, level, blueprint), built once per process."""
    key = (str(repo.engine.url), bank_version, level, blueprint_number)
    if key not in _PLANS:
        _PLANS[key] = _build_plan(repo, bank_version, level, blueprint_number)
    return _PLANS[key]


def _build_plan(repo: BankRepository, bank_version: int, level: str, blueprint_number: int) -> Plan:
    from itembank.blueprints import section_items
    from itembank.versions import scale_bank

    stored = repo.blueprint(level, blueprint_number)
    version = repo.version(bank_version)
    items = {i.id: i for i in repo.items()}
    full = version.parameters.to_bank()
    sections, where = [], {}
    for k, section in enumerate(stored.sections):
        rules = section.blueprint(section_items(section, level, items, version))
        ids = list(rules.items or ()) + list(rules.pretest_items)
        sections.append((section.name, tuple(section.dimensions), scale_bank(full, section.dimensions,
                                                                             ids), rules))
        where.update(dict.fromkeys(ids, k))
    return Plan(tuple(sections), version.parameters.recodings(), where)


def derive(plan: Plan, session: StoredSession, events: list[SessionEvent]) -> SessionView:
    """Replay the log's answers through the engine; the next item or the end."""
    answers = [e for e in events if e.kind == "answer"]
    closed = any(e.kind in ("finish", "terminate", "timeout") for e in events)
    done = 0
    for k, (name, _dims, bank, rules) in enumerate(plan.sections):
        state = start(rules, bank, rng=_seed(session.seed, k))
        mine = [a for a in answers if plan.item_section.get(a.payload["item_id"]) == k]
        for a in mine:
            item_id = a.payload["item_id"]
            codes = plan.codes.get(item_id)
            state = record(state, item_id, codes.index(a.payload["code"]) if codes
                           else int(a.payload["code"]))
        done += len(mine)
        step = next_item(state)
        if not isinstance(step, Stop):
            if closed:
                break
            return SessionView(False, len(answers) + 1, step.item_id, name, len(answers), k,
                               len(plan.sections))
    return SessionView(True, len(answers) + 1, None, None, len(answers), len(plan.sections),
                       len(plan.sections))


@cache
def _seed(seed: int, section: int) -> int:
    return (seed * 1_000_003 + section) % (2**31)
