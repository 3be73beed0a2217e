"""Sessions with known θ answered into a copy of the demonstration bank, for the technical report.

Each simulee (a level, a language, a true θ per dimension from N(0, 1)) is given, per dimension,
a random handful of the items the level can be given, answers them from the version's own
parameters, and is scored and issued a profile with its answers, as ``qabilet report --issue``
does. The report is then computed from what the bank stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from qabilet.engine.simulation import simulate_responses
from qabilet.itembank.content import LEVELS
from qabilet.itembank.repository import BankRepository, Response
from qabilet.itembank.response_file import AnswerSheet
from qabilet.itembank.versions import scale_bank

START = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Answered:
    """What was given: the sessions' ids, levels, languages, true θ and answer matrix."""

    sessions: list[str]
    levels: list[str]
    languages: list[str]
    theta: np.ndarray  # (n, n_dims)
    codes: dict[str, dict[str, int]]  # session → item → code


def answer_sessions(repo: BankRepository, n: int, *, per_dimension: int = 6, seed: int = 11,
                    dimensions: int | None = None) -> Answered:
    """Issue ``n`` profiles (half Kazakh, half Russian, levels in turn) on the newest version."""
    from qabilet import __version__
    from qabilet.delivery.answer_reports import build_profiles

    rng = np.random.default_rng(seed)
    version = repo.version()
    dims = version.dimensions[:dimensions]
    items = {i.id: i for i in repo.items(version=version.number)}
    recodings = version.parameters.recodings()
    sessions = [f"s{k:04d}" for k in range(n)]
    levels = [LEVELS[k % 3] for k in range(n)]
    languages = ["kk" if k % 2 else "ru" for k in range(n)]
    theta = rng.standard_normal((n, len(version.dimensions)))
    codes: dict[str, dict[str, int]] = {s: {} for s in sessions}
    for f, dim in enumerate(dims):
        ids = [i for i in version.item_ids if items[i].dimension == dim]
        bank = scale_bank(version.parameters, [dim], ids)
        x = simulate_responses(bank, theta[:, f], rng)
        for k, s in enumerate(sessions):
            pool = [j for j, i in enumerate(ids) if levels[k] in items[i].levels]
            for j in rng.choice(pool, size=per_dimension, replace=False):
                item = ids[j]
                c = int(x[k, j])
                codes[s][item] = recodings[item][c] if item in recodings else c
    sheets = [AnswerSheet(k + 1, s, levels[k], languages[k], codes[s], {})
              for k, s in enumerate(sessions)]
    profiles = build_profiles(repo, sheets, version=version, norm_set=repo.norm_set(),
                              software_version=__version__)
    for k, (sheet, profile) in enumerate(zip(sheets, profiles, strict=True)):
        at = START + timedelta(minutes=k)
        repo.issue_profile(profile, [Response(person_id=sheet.person_id, item_id=i,
                                              bank_version=version.number,
                                              language=sheet.language, level=sheet.level,
                                              code=c, answered_at=at)
                                     for i, c in sheet.codes.items()])
    return Answered(sessions, levels, languages, theta, codes)
