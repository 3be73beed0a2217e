"""The demonstration bank and the ``qabilet demo`` report.

Twenty items on the four competencies of Kazakhstan's civil-service attestation (docs/design.md §1):
service to the public (SRV), transparency (TRN), accountability (ACC) and effectiveness (EFF).
Each competency has three behaviour statements answered *agree / disagree* (2PL) and two
statements answered on a five-point frequency scale, *never … always* (graded response, 5
categories). The statements describe behaviour; none has a right or wrong answer (docs/design.md §5).
For the demonstration all twenty items measure one general trait, with known parameters chosen
to spread difficulty over −2 … 2.

The report simulates persons from N(0, 1), scores them with EAP, MAP, ML and WLE, and compares
each estimate with the truth. It is built as text here; the command line prints it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from qabilet.engine.bank import ItemBank
    from qabilet.engine.scoring.result import AbilityEstimate

__all__ = [
    "COMPETENCIES",
    "DEMO_ITEMS",
    "DemoItem",
    "DemoRun",
    "demo_bank",
    "format_report",
    "run_demo",
]

#: competency code -> English name (Kazakh in docs/design.md §1)
COMPETENCIES: dict[str, str] = {
    "SRV": "service to the public",
    "TRN": "transparency",
    "ACC": "accountability",
    "EFF": "effectiveness",
}

#: response scale of the graded items, categories 0..4
FREQUENCY_SCALE = ("never", "rarely", "sometimes", "often", "always")

#: methods scored in the report, in display order
METHODS = ("eap", "map", "ml", "wle")


@dataclass(frozen=True, slots=True)
class DemoItem:
    """One demonstration item.

    Attributes
    ----------
    id : str
        Item id, ``<competency>-<number>``.
    competency : str
        A key of :data:`COMPETENCIES`.
    statement : str
        What the person agrees with, or says how often they do.
    model : str
        ``"2pl"`` or ``"grm"``.
    a : float
        Slope.
    b : float or tuple of float
        Difficulty (2PL) or the four increasing thresholds (GRM).
    """

    id: str
    competency: str
    statement: str
    model: str
    a: float
    b: float | tuple[float, ...]


DEMO_ITEMS: tuple[DemoItem, ...] = (
    DemoItem("SRV-01", "SRV", "When I must refuse a citizen's request, I explain the reason and "
             "what they can do next.", "2pl", 1.40, -1.20),
    DemoItem("SRV-02", "SRV", "I check that a citizen understood my answer before we finish.",
             "2pl", 1.10, -0.30),
    DemoItem("SRV-03", "SRV", "I follow a citizen's case until it is resolved, even after it has "
             "left my desk.", "2pl", 1.75, 0.90),
    DemoItem("SRV-04", "SRV", "I rewrite official wording into plain language for the public.",
             "grm", 1.60, (-2.10, -0.90, 0.20, 1.40)),
    DemoItem("SRV-05", "SRV", "I ask citizens how our service could be improved.",
             "grm", 1.25, (-1.50, -0.40, 0.80, 2.00)),
    DemoItem("TRN-01", "TRN", "I publish the criteria by which my unit's decisions are made.",
             "2pl", 0.95, -0.60),
    DemoItem("TRN-02", "TRN", "I tell colleagues openly when I disagree with a decision.",
             "2pl", 1.30, 0.40),
    DemoItem("TRN-03", "TRN", "I record why I decided as I did, so others can follow it later.",
             "2pl", 1.85, 1.50),
    DemoItem("TRN-04", "TRN", "I share information with the public without being asked.",
             "grm", 1.05, (-1.80, -0.50, 0.60, 1.90)),
    DemoItem("TRN-05", "TRN", "I answer requests for information within the legal deadline.",
             "grm", 1.90, (-2.40, -1.30, -0.20, 0.90)),
    DemoItem("ACC-01", "ACC", "I report my own mistakes to my supervisor.", "2pl", 1.20, -1.60),
    DemoItem("ACC-02", "ACC", "I report on my results against the plan, including what was not "
             "done.", "2pl", 1.55, 0.00),
    DemoItem("ACC-03", "ACC", "I take responsibility for my team's result, not only my own.",
             "2pl", 0.85, 1.10),
    DemoItem("ACC-04", "ACC", "I keep promises I make to citizens and colleagues.",
             "grm", 1.45, (-2.00, -1.00, 0.00, 1.00)),
    DemoItem("ACC-05", "ACC", "I review the outcome of my work after it is finished.",
             "grm", 1.15, (-1.20, -0.10, 1.00, 2.20)),
    DemoItem("EFF-01", "EFF", "I plan my work for the week before it starts.", "2pl", 1.05, -0.90),
    DemoItem("EFF-02", "EFF", "When rules change, I adjust the way my unit works within days.",
             "2pl", 1.65, 0.60),
    DemoItem("EFF-03", "EFF", "I weigh the costs of options before I decide.", "2pl", 1.35, 1.90),
    DemoItem("EFF-04", "EFF", "I finish assigned tasks on time.", "grm", 1.70,
             (-2.20, -1.10, 0.10, 1.20)),
    DemoItem("EFF-05", "EFF", "I find a faster way to do a routine task.", "grm", 1.30,
             (-1.40, -0.20, 0.90, 2.10)),
)


def demo_bank() -> ItemBank:
    """Build the demonstration bank: 12 2PL and 8 five-category GRM items, θ ~ N(0, 1).

    Returns
    -------
    ItemBank
        Items in the order of :data:`DEMO_ITEMS`.

    Examples
    --------
    >>> bank = demo_bank()
    >>> bank.n_items, bank.n_categories.tolist().count(5)
    (20, 8)
    """
    from qabilet.engine.bank import ItemBank
    from qabilet.engine.models import GradedResponse, TwoPL

    def _thresholds(b: float | tuple[float, ...]) -> list[float]:
        return list(b) if isinstance(b, tuple) else [b]

    dich = [k for k, item in enumerate(DEMO_ITEMS) if item.model == "2pl"]
    graded = [k for k, item in enumerate(DEMO_ITEMS) if item.model == "grm"]
    models = [
        TwoPL([DEMO_ITEMS[k].a for k in dich], [DEMO_ITEMS[k].b for k in dich]),
        GradedResponse([DEMO_ITEMS[k].a for k in graded], [_thresholds(DEMO_ITEMS[k].b)
                                                           for k in graded]),
    ]
    return ItemBank(models, [item.id for item in DEMO_ITEMS], positions=[dich, graded])


@dataclass(frozen=True, slots=True, eq=False)
class DemoRun:
    """A simulated demonstration: true traits, responses and every method's estimates.

    Attributes
    ----------
    bank : ItemBank
        The demonstration bank.
    seed : int
        The seed of the simulation.
    theta : ndarray, shape (n_persons,)
        True traits.
    responses : ndarray of int, shape (n_persons, n_items)
        Simulated categories.
    estimates : dict of AbilityEstimate
        By method name, in the order of :data:`METHODS`.
    """

    bank: ItemBank
    seed: int
    theta: NDArray[np.float64]
    responses: NDArray[np.int64]
    estimates: dict[str, AbilityEstimate]

    @property
    def person_ids(self) -> list[str]:
        """Ids ``P0001, P0002, …``."""
        width = max(4, len(str(self.theta.size)))
        return [f"P{p + 1:0{width}d}" for p in range(self.theta.size)]


def run_demo(n_persons: int = 2000, seed: int = 2017) -> DemoRun:
    """Simulate persons on the demonstration bank and score them with every method.

    Parameters
    ----------
    n_persons : int
        Number of simulated persons.
    seed : int
        Seed of the generator that draws traits and responses.

    Returns
    -------
    DemoRun
    """
    import warnings

    from qabilet.engine.exceptions import ConvergenceWarning
    from qabilet.engine.scoring import score
    from qabilet.engine.simulation import simulate_responses

    if n_persons < 1:
        raise ValueError(f"n_persons: expected at least 1; got {n_persons}")
    # separate streams for traits and responses: the first persons do not depend on n_persons
    theta_rng, response_rng = (np.random.default_rng(s)
                               for s in np.random.SeedSequence(seed).spawn(2))
    bank = demo_bank()
    theta = theta_rng.standard_normal(n_persons)
    responses = simulate_responses(bank, theta, response_rng)
    estimates = {}
    with warnings.catch_warnings():  # non-convergence is reported per person in ``status``
        warnings.simplefilter("ignore", ConvergenceWarning)
        for method in METHODS:
            estimates[method] = score(bank, responses, method=method)
    return DemoRun(bank, seed, theta, responses, estimates)


def format_report(run: DemoRun, n_show: int = 12) -> str:
    """Format the demonstration report: the bank, the first persons and a summary per method.

    Parameters
    ----------
    run : DemoRun
        From :func:`run_demo`.
    n_show : int
        How many persons to list.

    Returns
    -------
    str
        Plain, aligned text.
    """
    bank, theta = run.bank, run.theta
    n = theta.size
    n_dich = sum(item.model == "2pl" for item in DEMO_ITEMS)
    n_grm = len(DEMO_ITEMS) - n_dich
    names = list(COMPETENCIES.values())
    lines = [
        "qabilet demo: scoring a civil-service competency bank",
        "",
        f"Bank:    {bank.n_items} items on {len(names)} competencies ({', '.join(names[:2])},",
        f"         {', '.join(names[2:])}): {n_dich} agree/disagree statements (2PL) and",
        f"         {n_grm} frequency statements, {FREQUENCY_SCALE[0]} ... {FREQUENCY_SCALE[-1]} "
        "(graded response, 5 categories);",
        "         one general trait θ with prior N(0, 1).",
        f"Persons: {n} simulated with θ ~ N(0, 1), seed {run.seed}; everyone answers every item.",
        "",
    ]
    shown = min(n_show, n)
    if shown:
        lines += _person_table(run, shown)
        lines.append("")
    lines += _summary_table(run)
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _cell(value: float, se: float, status: str) -> str:
    est = "     n/a" if value != value else f"{value:8.3f}"
    err = "  n/a" if se != se else f"{se:5.3f}"
    mark = " " if status == "ok" else "*"
    return f"{est} ± {err}{mark}"


def _person_table(run: DemoRun, shown: int) -> list[str]:
    ids = run.person_ids
    width = max(len("person"), len(ids[0]))
    cell_width = len(_cell(0.0, 0.0, "ok"))
    head = f"{'person':<{width}}  {'true θ':>8}  " + "  ".join(
        f"{m.upper():^{cell_width}}" for m in METHODS
    )
    lines = [f"The first {shown} persons: true θ and each estimate ± its standard error", "", head,
             "-" * len(head)]
    flagged: dict[str, int] = {}
    for p in range(shown):
        cells = []
        for m in METHODS:
            est = run.estimates[m]
            status = str(est.status[p])
            cells.append(_cell(float(est.theta[p]), float(est.se[p]), status))
            if status != "ok":
                flagged[status] = flagged.get(status, 0) + 1
        lines.append(f"{ids[p]:<{width}}  {run.theta[p]:8.3f}  " + "  ".join(cells))
    if flagged:
        from qabilet.engine.scoring import STATUS_CODES

        lines.append("")
        lines.append("* flagged; status:")
        lines += [f"    {code}: {STATUS_CODES.get(code, '')}" for code in sorted(flagged)]
    return lines


def _summary_table(run: DemoRun) -> list[str]:
    n = run.theta.size
    head = (f"{'method':<6}  {'scored':>7}  {'flagged':>7}  {'bias':>7}  {'RMSE':>6}  "
            f"{'corr':>6}  {'mean SE':>7}")
    lines = [f"Summary over all {n} persons (bias, RMSE, correlation and mean SE over persons "
             "with status ok)", "", head, "-" * len(head)]
    for m in METHODS:
        est = run.estimates[m]
        ok = ~est.flagged & np.isfinite(est.theta)
        err = est.theta[ok] - run.theta[ok]
        if ok.sum() >= 2:
            bias = f"{err.mean():7.3f}"
            rmse = f"{np.sqrt(np.mean(err**2)):6.3f}"
            corr = f"{np.corrcoef(est.theta[ok], run.theta[ok])[0, 1]:6.3f}"
            mean_se = f"{np.nanmean(est.se[ok]):7.3f}"
        else:
            bias, rmse, corr, mean_se = f"{'n/a':>7}", f"{'n/a':>6}", f"{'n/a':>6}", f"{'n/a':>7}"
        lines.append(f"{m.upper():<6}  {int(ok.sum()):>7}  {int(est.flagged.sum()):>7}  {bias}  "
                     f"{rmse}  {corr}  {mean_se}")
    counts: dict[str, int] = {}
    for m in METHODS:
        codes, k = np.unique(run.estimates[m].status[run.estimates[m].flagged],
                             return_counts=True)
        for code, c in zip(codes.tolist(), k.tolist(), strict=True):
            counts[f"{m.upper()} {code}"] = c
    if counts:
        lines.append("")
        lines.append("Flagged: " + ", ".join(f"{key} {c}" for key, c in counts.items()))
    return lines
