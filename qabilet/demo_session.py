"""``qabilet demo``: the demonstration bank at work, from its database.

One simulated candidate takes the adaptive test of a position level in one language, section by
section as the level's stored blueprint says: every item is shown as the candidate would read it
(the stem and the answer chosen, in Kazakh, Russian or English), and each dimension ends with its
estimate, its standard error and where it falls in the level's demonstration norms. Then many
simulated candidates per section show what the blueprint does on average (test length, accuracy
against the simulated truth, exposure).

The candidate's answers are drawn from the bank's own parameters at a true θ drawn from the
level's norm distribution; nothing here says right or wrong (docs/design.md §5).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from qabilet.engine.cat import CatSummary
    from qabilet.itembank.content import Item, Language, ResponseScale
    from qabilet.itembank.repository import BankRepository
    from qabilet.itembank.versions import BankVersion

__all__ = [
    "SectionResult",
    "SessionPlan",
    "ShownItem",
    "SimulatedSession",
    "format_session",
    "run_session",
    "session_plan",
    "simulate_candidate",
    "simulate_sections",
]


@dataclass(frozen=True, slots=True)
class ShownItem:
    """One item as the candidate saw it and the answer given."""

    item_id: str
    stem: str
    answer: str
    language: str


@dataclass(frozen=True, slots=True)
class SectionResult:
    """One section of the simulated candidate's test.

    Attributes
    ----------
    name, dimension_name : str
        The section and what it measures, in the session's language.
    items : tuple of ShownItem
    theta, se, true_theta : float
        Final estimate (EAP), its standard error, the simulated truth.
    percentile : float
        Of the estimate, in the level's norm distribution.
    stop : str
        Why the section ended, in words.
    """

    name: str
    dimension_name: str
    items: tuple[ShownItem, ...]
    theta: float
    se: float
    true_theta: float
    percentile: float
    stop: str


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """What a session at one level runs, read once and used for many candidates.

    Attributes
    ----------
    level : str
    version : BankVersion
        The version the level's blueprint targets.
    sections : tuple of (name, dimensions, ItemBank, engine.cat.Blueprint)
        As a live session runs them (:func:`qabilet.delivery.session_state.plan_for`).
    """

    level: str
    version: BankVersion
    sections: tuple


def session_plan(repo: BankRepository, level: str) -> SessionPlan:
    """The level's newest blueprint, planned as the API plans a live session."""
    from qabilet.delivery.session_state import plan_for

    stored = repo.blueprint(level)
    plan = plan_for(repo, stored.bank_version, level, stored.number)
    return SessionPlan(level, repo.version(stored.bank_version), plan.sections)


def _answer_text(item: Item, code: int, scales: Mapping[str, ResponseScale],
                 language: Language) -> str:
    """The label of the option or scale point answered (``code`` as given)."""
    if item.format == "likert" and item.scale is not None:  # a Likert item always has its scale
        labels = scales[item.scale].labels
        return (labels.get(language) or next(iter(labels.values())))[code]
    return (item.text_in(language).options or [])[code]


@dataclass(frozen=True, slots=True)
class SimulatedSession:
    """A simulated candidate's adaptive test.

    Attributes
    ----------
    answers : list of api.profiles.Answer
        In the order given, with response times.
    sections : list of (name, dimension, item ids, theta, se, stop explanation)
    """

    answers: list
    sections: list[tuple[str, str, list[str], float, float, str]]


def simulate_candidate(plan: SessionPlan, truth: dict[str, float], seed: int = 1, *,
                       items: dict | None = None, language: str = "ru",
                       reading_speed: float = 17.0) -> SimulatedSession:
    """A candidate with true θ ``truth[dimension]`` through every section of ``plan``.

    Answers are drawn from the bank's parameters and written as given (answer codes, through the
    version's recodings). Response times, when ``items`` is given, follow a reading model: 1.5 s
    plus the characters shown in ``language`` at ``reading_speed`` characters per second, times
    a log-normal factor (SD 0.3).
    """
    from qabilet.delivery.profiles import Answer
    from qabilet.engine.cat import Stop, next_item, record, start

    codes = plan.version.parameters.recodings()
    rng = np.random.default_rng(seed)
    answers, done = [], []
    for name, dims, bank, rules in plan.sections:
        dim = dims[0]
        state = start(bank, rules, rng=int(rng.integers(2**31)))
        given = []
        while not isinstance(step := next_item(state), Stop):
            j = bank.index_of([step.item_id])[0]
            p = bank.subset([j]).prob(np.array([[truth[dim]]]))[0, 0, : int(bank.n_categories[j])]
            category = int(rng.choice(p.size, p=p / p.sum()))
            state = record(state, step.item_id, category)
            code = codes[step.item_id][category] if step.item_id in codes else category
            seconds = None
            if items is not None:
                chars = items[step.item_id].text_in(language).characters
                seconds = (1.5 + chars / reading_speed) * float(rng.lognormal(0.0, 0.3))
            answers.append(Answer(step.item_id, int(code), seconds))
            given.append(step.item_id)
        done.append((name, dim, given, float(np.ravel(state.theta)[0]),
                     float(np.ravel(state.se)[0]), step.explanation))
    return SimulatedSession(answers, done)


def run_session(repo: BankRepository, level: str, language: str, seed: int = 1) -> list[SectionResult]:
    """One simulated candidate through every section of ``level``'s blueprint.

    The candidate's true θ is drawn from the level's norm distribution on each dimension,
    independently; answers are drawn from the bank's parameters.
    """
    from qabilet.itembank.content import LANGUAGES, is_language

    if not is_language(language):
        raise ValueError(f"language: expected one of {', '.join(LANGUAGES)}; got {language!r}")
    version = repo.version(repo.blueprint(level).bank_version)
    norms = repo.norm_set(bank_version=version.number).for_level(level)
    names, scales = repo.dimensions(), repo.scales()
    items = {i.id: i for i in repo.items(version=version.number)}
    rng = np.random.default_rng(seed)
    truth = {d: float(rng.normal(n.mean, n.sd)) for d, n in norms.dimensions.items()}
    session = simulate_candidate(session_plan(repo, level), truth, seed=int(rng.integers(2**31)))
    code_of = {a.item_id: a.code for a in session.answers}
    results = []
    for name, dim, given, theta, se, stop in session.sections:
        norm = norms.dimensions[dim]
        shown = []
        for item_id in given:
            item = items[item_id]
            text = item.text_in(language)
            shown.append(ShownItem(item_id, text.stem,
                                   _answer_text(item, code_of[item_id], scales, language),
                                   text.language))
        label = names[dim].name.get(language, dim) if dim in names else dim
        results.append(SectionResult(
            name=name, dimension_name=label, items=tuple(shown), theta=theta, se=se,
            true_theta=truth[dim], percentile=100 * NormalDist(norm.mean, norm.sd).cdf(theta),
            stop=stop))
    return results


def simulate_sections(repo: BankRepository, level: str, persons: int, seed: int = 2
                      ) -> list[tuple[str, CatSummary]]:
    """Many simulated candidates per section of ``level``'s blueprint (truth: the level's norms)."""
    from qabilet.engine.cat import simulate_cat

    plan = session_plan(repo, level)
    norms = repo.norm_set(bank_version=plan.version.number).for_level(level)
    rng = np.random.default_rng(seed)
    out = []
    for name, dims, bank, rules in plan.sections:
        norm = norms.dimensions[dims[0]]
        theta = rng.normal(norm.mean, norm.sd, persons)
        out.append((name, simulate_cat(bank, rules, theta=theta, rng=rng).summary()))
    return out


def _ordinal(n: int) -> str:
    """Return 1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, …."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def format_session(level: str, language: str, results: list[SectionResult],
                   summaries: list[tuple[str, CatSummary]], *, show_items: int = 3) -> str:
    """The text ``qabilet demo`` prints."""
    lines = [f"An adaptive session at the {level} level, in {language} (a simulated candidate)", ""]
    for r in results:
        lines.append(f"{r.dimension_name} — {len(r.items)} items, {r.stop}")
        for shown in r.items[:show_items]:
            note = "" if shown.language == language else f" [{shown.language}]"
            lines.append(f"  {shown.item_id:<10} {shown.stem}{note}")
            lines.append(f"  {'':<10} → {shown.answer}")
        if len(r.items) > show_items:
            lines.append(f"  … and {len(r.items) - show_items} more")
        lines.append(f"  θ = {r.theta:+.2f} ± {r.se:.2f} (simulated truth {r.true_theta:+.2f}); "
                     f"{_ordinal(round(r.percentile))} percentile of the level's demonstration norms")
        lines.append("")
    head = f"{'section':<22} {'mean items':>10} {'RMSE':>6} {'corr':>6} {'mean SE':>8} {'max exp':>8}"
    n = summaries[0][1].n if summaries else 0
    lines += [f"The same blueprint for {n} simulated candidates per section", "", head,
              "-" * len(head)]
    for name, s in summaries:
        lines.append(f"{name:<22} {s.mean_length:>10.1f} {s.rmse:>6.3f} {s.correlation:>6.3f} "
                     f"{s.mean_se:>8.3f} {s.max_exposure:>8.2f}")
    return "\n".join(lines) + "\n"
