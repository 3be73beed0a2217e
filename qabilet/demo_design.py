"""The demonstration bank's default test design, and how well a design measures.

The blueprint of each position level (:func:`demo_sections`, its exposure parameters by
:func:`derive_exposure`):

* **Interleaved sections.** One unidimensional section per competency, all in the
  ``professional`` interleave group, then one per personal quality in the ``personal`` group:
  the session gives the sections of a group in turn (the one with the fewest items first, ties
  in an order drawn per session and position; :mod:`qabilet.delivery.session_state`), so no
  construct comes as a block and the order differs between candidates. Each section keeps its
  own unidimensional posterior, so conditional exposure control, maximum information and the
  per-dimension stopping rule work as they do for one dimension (the several-factor engine has
  no conditional Sympson–Hetter), and five personal qualities need no section of five factors.
* **Exposure.** Conditional Sympson–Hetter (Stocking & Lewis 1998) at :data:`TARGET_EXPOSURE`,
  its classes cut at the level's band edges, its parameters derived by simulating candidates of
  the level (:func:`derive_exposure`): shipped with the package for the default build
  (:data:`THOROUGH`, :mod:`qabilet.demo_exposure`), derived when the bank is built otherwise
  (:data:`QUICK`). The opening item is drawn among the five best at the start (a rate of about 1/5).
  The rates add up to the mean test length, at most :math:`L_{\\max}`, so a pool of
  :math:`N \\ge L_{\\max}/r` items can keep every rate at or below :math:`r` whatever the
  tests' lengths turn out to be; a smaller pool gets a **fixed form** instead — the
  :math:`L_{\\max}` items with the most information over the level's norm distribution that
  meet the quotas, given to everyone — and the blueprint's label says so.
* **Start.** The first item is chosen at the level's norm mean of the dimension.
* **Content.** Every item is tagged ``sjt``, ``likert_forward`` or ``likert_reverse``; every test
  has at least two situational-judgement items per competency and :func:`reverse_minimum`
  (two where the pool allows it, else one) reverse-keyed statements per dimension. The minimums
  are hard when they bind (:meth:`qabilet.engine.cat.content.ContentPlan.needed`).

:func:`measure_design` simulates candidates of a level through a level's sections (the same
engine rules a session runs) and reports, per section, what a reviewing psychometrician asks:
exposure, overlap, length, precision, band classification, the profile's stated bands and the
reverse-keyed statements per test.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from qabilet.engine.bank import ItemBank
    from qabilet.engine.cat import Blueprint
    from qabilet.itembank.blueprints import BlueprintSection
    from qabilet.itembank.content import Item
    from qabilet.itembank.versions import BankVersion, LevelNorms

__all__ = [
    "KEYING",
    "QUICK",
    "TARGET_EXPOSURE",
    "THOROUGH",
    "Derivation",
    "SectionMeasure",
    "derive_exposure",
    "demo_sections",
    "item_seconds",
    "keying",
    "measure_design",
    "reverse_minimum",
]

#: the largest exposure rate the adaptive sections aim at
TARGET_EXPOSURE = 0.3
#: content categories: format and keying
KEYING = ("sjt", "likert_forward", "likert_reverse")
#: length and stopping per kind of dimension: (min_items, max_items, se_target)
LENGTHS = {"competency": (6, 12, 0.40), "quality": (5, 7, 0.45)}
#: situational-judgement items every competency test has
SJT_MINIMUM = 2
#: opening items drawn among this many best at the start (a rate of about 1/5 each)
START_CANDIDATES = 5
#: assumed reading rate (characters per second) and answering time per item (seconds)
READING_RATE, ANSWER_S = 15.0, 5.0


@dataclass(frozen=True, slots=True)
class Derivation:
    """How a section's Sympson–Hetter parameters are derived by simulation.

    Attributes
    ----------
    simulees : int
        Simulees per θ class and round. The within-class rate of an item near 0.3 carries a
        sampling SD of :math:`\\sqrt{0.3 \\cdot 0.7 / n}`: 0.032 at 200, 0.014 at 1,000.
    rounds : int
        Simulation rounds at most; the round with the smallest largest rate is kept when none is
        within the tolerance.
    tolerance : float
        The accepted excess of the largest within-class rate over the target.
    margin : float
        How far below the target the derivation aims. Its rates are estimates, and the largest
        of some 150 estimates (50 items, 3 classes) lies above its own truth: parameters derived
        to exactly the target measure slightly above it in another simulation (0.301 over 3,000
        candidates, seen in one section of 27).
    """

    simulees: int
    rounds: int
    tolerance: float
    margin: float = 0.0


#: a build's own derivation when no shipped parameters fit it (about 5 s a level): a tolerance
#: of one sampling SD (a smaller one only chases noise); the largest rates measured over 3,000
#: candidates of a level come out at 0.27–0.32
QUICK = Derivation(simulees=200, rounds=8, tolerance=0.03)
#: the shipped parameters' derivation (about a minute a level): five times the simulees, the best
#: of up to 20 rounds, nothing above the target accepted, aimed 0.01 below it
THOROUGH = Derivation(simulees=1000, rounds=20, tolerance=0.0, margin=0.01)


def keying(item: Item) -> str:
    """The item's content category: ``sjt``, ``likert_forward`` or ``likert_reverse``."""
    if item.format != "likert":
        return str(item.format)
    return "likert_reverse" if item.direction == -1 else "likert_forward"


def reverse_minimum(n_reverse: int, target: float = TARGET_EXPOSURE) -> int:
    """Reverse-keyed statements every test has: two where the pool allows it, else one.

    A minimum of :math:`m` out of :math:`n` reverse-keyed statements gives them an exposure rate
    of at least :math:`m/n`; two are asked for when :math:`2/n` stays a fifth below the target
    (:math:`n \\ge 2.4/r`, eight at :math:`r = 0.3`), one otherwise.

    Examples
    --------
    >>> reverse_minimum(6), reverse_minimum(8), reverse_minimum(12)
    (1, 2, 2)
    """
    return 2 if n_reverse * target >= 2.4 else 1


def item_seconds(item: Item) -> float:
    """Expected seconds for an item: reading its text (mean over languages) and answering.

    :math:`t = 5 + c/15` for :math:`c` characters of stem and options — reading at 15 characters
    a second (about 180 words a minute) plus five seconds to choose; an assumption stated in
    docs/python.md, not a measured figure.
    """
    chars = [len(t.stem) + sum(len(o) for o in t.options or []) for t in item.text.values()]
    return ANSWER_S + float(np.mean(chars)) / READING_RATE


def demo_sections(level: str, items: Sequence[Item], dimensions: Sequence[str],
                  competencies: set[str], norms: LevelNorms, *,
                  target: float = TARGET_EXPOSURE,
                  information: Mapping[str, float] | None = None) -> list[dict[str, Any]]:
    """The demonstration blueprint of ``level``, before its exposure parameters are derived.

    Parameters
    ----------
    level : str
    items : sequence of Item
        The bank's operational items.
    dimensions : sequence of str
        In the order of the profile; competencies form the ``professional`` group, the others
        the ``personal`` group.
    competencies : set of str
    norms : LevelNorms
        The level's norms: the start (the mean) and the Sympson–Hetter classes and band edges
        (the cuts) of every dimension.
    target : float
        The largest exposure rate an adaptive section aims at.
    information : mapping, optional
        Item id → its Fisher information averaged over the level's norm distribution; it ranks
        the items of a fixed form (needed only when some pool is too small for adaptivity).

    Returns
    -------
    list of dict
        ``BlueprintSection`` mappings; adaptive sections have ``exposure="none"`` and their
        ``sh_classes`` until :func:`derive_exposure` adds the parameters. A fixed form's name
        ends in ``_fixed``.
    """
    sections = []
    for dim in dimensions:
        mine = [i for i in items if i.dimension == dim and level in i.levels]
        kind = "competency" if dim in competencies else "quality"
        lo, hi, se = LENGTHS[kind]
        tags = {i.id: keying(i) for i in mine}
        n_reverse = sum(t == "likert_reverse" for t in tags.values())
        quotas = {"likert_reverse": [min(reverse_minimum(n_reverse, target), n_reverse), hi]}
        if kind == "competency":
            quotas["sjt"] = [SJT_MINIMUM, hi]
        enemies: dict[str, list[str]] = {}
        for i in mine:
            for e in i.enemy_sets:
                enemies.setdefault(e, []).append(i.id)
        norm = norms.dimensions[dim]
        rules: dict[str, Any] = {
            "selection": "mfi", "estimator": "eap", "start_theta": round(norm.mean, 4),
            "cut_scores": list(norm.cuts), "content": tags,
            "quotas": {k: v for k, v in quotas.items() if v[0] > 0},
            "enemies": [g for g in enemies.values() if len(g) > 1]}
        name = dim
        if len(mine) * target >= hi:  # adaptive: the rates can add up to L_max under r each
            rules.update({"min_items": lo, "max_items": hi, "se_target": se,
                          "start_candidates": START_CANDIDATES, "sh_classes": list(norm.cuts)})
        else:
            if information is None:
                raise ValueError(f"{dim}: a pool of {len(mine)} items needs a fixed form; give "
                                 f"the items' information to choose it")
            form = _fixed_form([i.id for i in mine], tags, rules["quotas"], hi, information)
            rules.update({"items": form, "min_items": len(form), "max_items": len(form),
                          "se_target": None, "content": {i: tags[i] for i in form}})
            name = f"{dim}_fixed"
        sections.append({"name": name, "dimensions": [dim], "rules": rules,
                         "interleave": "professional" if kind == "competency" else "personal"})
    return sections


def _fixed_form(ids: list[str], tags: Mapping[str, str], quotas: Mapping[str, list[int]],
                length: int, information: Mapping[str, float]) -> list[str]:
    """The ``length`` most informative items that meet every quota's minimum.

    Each category's minimum is filled with its most informative items, the rest of the form
    with the most informative of the others.
    """
    ranked = sorted(ids, key=lambda i: -information[i])
    form: list[str] = []
    for category, (minimum, _) in quotas.items():
        form += [i for i in ranked if tags[i] == category][:minimum]
    form += [i for i in ranked if i not in form][:max(length - len(form), 0)]
    return [i for i in ranked if i in form][:length]


def mean_information(bank: ItemBank, mean: float, sd: float, n_points: int = 41
                     ) -> dict[str, float]:
    """Each item's Fisher information averaged over :math:`N(\\text{mean}, \\text{sd}^2)`.

    :math:`\\bar I_i = \\sum_q w_q I_i(\\theta_q)` on ``n_points`` equally spaced nodes over
    :math:`\\pm 4` SD with normal weights.
    """
    nodes = mean + sd * np.linspace(-4.0, 4.0, n_points)
    w = np.exp(-0.5 * ((nodes - mean) / sd) ** 2)
    info = bank.information(nodes)  # (n_points, n_items)
    return dict(zip(bank.item_ids, (w / w.sum() @ info).tolist(), strict=True))


def derive_exposure(bank: ItemBank, rules: Mapping[str, Any], eligible: Sequence[str], *,
                    target: float = TARGET_EXPOSURE, how: Derivation = QUICK,
                    population: tuple[float, float] | None = None,
                    rng: np.random.Generator | int | None = None,
                    initial: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The section's rules with conditional Sympson–Hetter parameters for ``target``.

    :func:`qabilet.engine.cat.derive_sympson_hetter` with ``how.simulees`` simulees in each class
    of ``rules["sh_classes"]``, drawn from ``population`` (the level's norm distribution of the
    dimension, :math:`N(\\mu_\\ell, \\sigma_\\ell^2)`, cut to the class; the bank's latent
    distribution when omitted), aiming ``how.margin`` below ``target``, at most ``how.rounds``
    rounds within ``how.tolerance`` (the best round's parameters when none is), starting from
    ``initial`` (item id → its parameters per class, e.g. another level's ``sh_parameters``; 1
    for an item not in it). Rules without classes (fixed forms) are returned unchanged.

    The rates are counted among simulees of the level's own population: a class's share of
    candidates near its edges differs between levels, and so do the items they are given.
    """
    from qabilet.engine.cat import Blueprint, derive_sympson_hetter, draw_per_class
    from qabilet.engine.exceptions import ConvergenceWarning

    if not rules.get("sh_classes"):
        return dict(rules)
    gen = np.random.default_rng(rng)
    blueprint = Blueprint.from_dict({**rules, "items": list(eligible)})
    start = np.ones((len(rules["sh_classes"]) + 1, bank.n_items))
    for j, item_id in enumerate(bank.item_ids):
        if initial is not None and item_id in initial:
            start[:, j] = initial[item_id]
    theta = (None if population is None
             else draw_per_class(*population, rules["sh_classes"], how.simulees, gen))
    with warnings.catch_warnings():  # not converged within the rounds: the best round is kept
        warnings.simplefilter("ignore", ConvergenceWarning)
        derived = derive_sympson_hetter(bank, blueprint, target=target - how.margin, n=how.simulees,
                                        theta=theta, rng=gen, max_rounds=how.rounds,
                                        tol=how.tolerance, initial=start)
    params = derived.blueprint.sh_parameters or ()
    return {**rules, "exposure": f"sh:{target:g}",
            "sh_parameters": {i: [round(v, 4) for v in k] if isinstance(k, tuple) else round(k, 4)
                              for i, k in params}}


@dataclass(frozen=True, slots=True)
class SectionMeasure:
    """How one section of a design measured simulated candidates of one level.

    Attributes
    ----------
    level, section, dimension : str
    design : str
        ``adaptive, sh:0.3``, ``adaptive, randomesque:3``, ``fixed form`` …
    pool : int
        Eligible items.
    n : int
        Simulated candidates.
    mean_length : float
    min_length, max_length : int
    max_exposure, overlap : float
        The largest item exposure rate; the mean share of items two candidates' tests have in
        common (Chen, Ankenmann & Spray 2003).
    mean_se : float
    accuracy, consistency : float
        Rudner's expected accuracy and consistency of the bands of every candidate.
    observed_accuracy : float
        The share of candidates whose estimated band is their true band.
    stated_accuracy : float
        Among the bands the profile states (:func:`qabilet.engine.profile.band_decision` with the
        profile's policy), the share that are the true band.
    stated_expected : float
        Rudner's expected accuracy of the stated bands (from their posterior probabilities).
    withheld : float
        The share of candidates whose band the profile withholds.
    reverse_min, reverse_share, reverse_two : float
        The fewest reverse-keyed statements in a test; the shares of tests with at least one
        and at least two.
    sjt_min : float
        The fewest situational-judgement items in a test (NaN for a section without any).
    quotas_met : float
        The share of tests that meet every minimum quota of the section.
    mean_seconds : float
        The section's expected time per candidate (:func:`item_seconds`).
    """

    level: str
    section: str
    dimension: str
    design: str
    pool: int
    n: int
    mean_length: float
    min_length: int
    max_length: int
    max_exposure: float
    overlap: float
    mean_se: float
    accuracy: float
    consistency: float
    observed_accuracy: float
    stated_accuracy: float
    stated_expected: float
    withheld: float
    reverse_min: float
    reverse_share: float
    reverse_two: float
    sjt_min: float
    quotas_met: float
    mean_seconds: float

    def to_dict(self) -> dict[str, Any]:
        """The fields as a mapping (a table's row)."""
        return {f: getattr(self, f) for f in self.__slots__}


def design_label(blueprint: Blueprint) -> str:
    """A short name of a section's design."""
    if blueprint.se_target is None and blueprint.min_items == blueprint.max_items and (
            blueprint.items is not None and len(blueprint.items) == blueprint.max_items):
        return "fixed form"
    cond = " (conditional)" if blueprint.sh_classes else ""
    return f"adaptive, {blueprint.exposure}{cond}"


def measure_design(sections: Sequence[BlueprintSection], level: str, items: Mapping[str, Item],
                   version: BankVersion, norms: LevelNorms, *, n: int = 600,
                   rng: np.random.Generator | int | None = None,
                   min_confidence: float | None = None, max_sd: float | None = None,
                   ) -> tuple[list[SectionMeasure], NDArray[np.float64], NDArray[np.float64]]:
    """Simulate ``n`` candidates of ``level`` through ``sections`` and measure each section.

    Each section's simulees are drawn from the level's norm distribution of its dimension,
    :math:`N(\\mu_\\ell, \\sigma_\\ell^2)`, and take the section's engine blueprint on its engine
    bank as a session plans it (:func:`qabilet.itembank.blueprints.section_items`,
    :meth:`BlueprintSection.blueprint`, :func:`qabilet.itembank.versions.scale_bank`). Bands are
    cut at the level's norms.

    Parameters
    ----------
    sections : sequence of BlueprintSection
        One dimension each.
    level : str
    items : mapping
        Item id → Item (keying, texts, levels).
    version : BankVersion
        The bank version the sections run on.
    norms : LevelNorms
    n : int
    rng : numpy.random.Generator or int or None
    min_confidence, max_sd : float, optional
        The rule for stating a band (default: the profile's,
        :class:`qabilet.delivery.profiles.ProfilePolicy`).

    Returns
    -------
    rows : list of SectionMeasure
    length, seconds : ndarray, shape (n,)
        Each simulee's whole-test length and expected time (simulee j of every section).
    """
    from qabilet.delivery.profiles import ProfilePolicy
    from qabilet.engine.cat import simulate_cat
    from qabilet.itembank.blueprints import section_items
    from qabilet.itembank.versions import scale_bank

    policy = ProfilePolicy()
    min_confidence = policy.min_confidence if min_confidence is None else min_confidence
    max_sd = policy.max_sd if max_sd is None else max_sd
    whole = version.parameters.to_bank()
    gen = np.random.default_rng(rng)
    total_length = np.zeros(n)
    total_seconds = np.zeros(n)
    rows = []
    for section in sections:
        (dim,) = section.dimensions
        eligible = section_items(section, level, dict(items), version)
        norm = norms.dimensions[dim]
        blueprint = replace(section.blueprint(eligible), cut_scores=tuple(norm.cuts))
        bank = scale_bank(whole, [dim], list(blueprint.items or eligible))
        true = gen.normal(norm.mean, norm.sd, n)
        sim = simulate_cat(bank, blueprint, theta=true, rng=gen)
        summary = sim.summary()
        bands = sim.classification(min_confidence=min_confidence, max_sd=max_sd)
        given = sim.items >= 0
        category = np.asarray([keying(items[i]) for i in bank.item_ids])
        taken = np.where(given, category[np.maximum(sim.items, 0)], "")
        per_test = {name: (taken == name).sum(axis=1) for name in KEYING}  # items per test
        met = np.ones(n, dtype=bool)
        for name, lo, _ in blueprint.quotas:
            met &= per_test[name] >= lo
        reverse, sjt = per_test["likert_reverse"], per_test["sjt"]
        seconds = np.asarray([item_seconds(items[i]) for i in bank.item_ids])
        took = np.where(given, seconds[np.maximum(sim.items, 0)], 0.0).sum(axis=1)
        total_length += sim.length
        total_seconds += took
        nan = float("nan")
        stated = bands.get("stated")
        rows.append(SectionMeasure(
            level=level, section=section.name, dimension=dim, design=design_label(blueprint),
            pool=len(eligible), n=n, mean_length=summary.mean_length,
            min_length=summary.min_length, max_length=summary.max_length,
            max_exposure=summary.max_exposure, overlap=summary.overlap,
            mean_se=summary.mean_se, accuracy=bands["rudner"].accuracy,
            consistency=bands["rudner"].consistency,
            observed_accuracy=bands["observed"].accuracy,
            stated_accuracy=bands["stated_observed"].accuracy if stated else nan,
            stated_expected=stated.accuracy if stated else nan,
            withheld=1.0 - stated.stated if stated else 1.0,
            reverse_min=float(reverse.min()), reverse_share=float(np.mean(reverse >= 1)),
            reverse_two=float(np.mean(reverse >= 2)),
            sjt_min=float(sjt.min()) if (category == "sjt").any() else nan,
            quotas_met=float(met.mean()), mean_seconds=float(took.mean())))
    return rows, total_length, total_seconds


def minutes(seconds: float) -> str:
    """``12.5 min``."""
    return f"{seconds / 60:.1f} min"
