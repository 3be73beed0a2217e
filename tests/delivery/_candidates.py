"""A simulated candidate of the demonstration bank: its repository, version, items and answers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qabilet.delivery.profiles import Answer
from qabilet.demo_session import session_plan, simulate_candidate
from qabilet.itembank.content import Item
from qabilet.itembank.database import connect
from qabilet.itembank.repository import BankRepository
from qabilet.itembank.versions import BankVersion

__all__ = ["Candidate", "simulated_candidate"]


@dataclass(frozen=True)
class Candidate:
    """What a profile is built from: the bank, its published version, the items, the answers."""

    repo: BankRepository
    version: BankVersion
    items: dict[str, Item]
    answers: list[Answer]


def simulated_candidate(db_file: Path, *, truth_seed: int, sd: float, seed: int,
                        seconds: float | None = None, level: str = "middle") -> Candidate:
    """A session at ``level`` of a candidate whose true θ per dimension is N(0, sd²) (``truth_seed``).

    ``seconds``: every answer's response time (None: not timed).
    """
    repo = BankRepository(connect(f"sqlite:///{db_file}"))
    version, items = repo.version(), {i.id: i for i in repo.items()}
    rng = np.random.default_rng(truth_seed)
    truth = {d: float(rng.normal(0, sd)) for d in version.dimensions}
    given = simulate_candidate(session_plan(repo, level), truth, seed=seed, items=items).answers
    return Candidate(repo, version, items, [Answer(a.item_id, a.code, seconds) for a in given])
