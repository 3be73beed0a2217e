"""Building the demonstration bank: content from ``qabilet.itembank``, parameters from ``qabilet.calibration``.

The bank's texts (four competencies, Likert statements and situational-judgement items, five
personal qualities, kk/ru/en) are authored content (:mod:`qabilet.itembank.demo_texts`). Its parameters are
**demonstration values**: the project's own calibration of simulated responses, made like this:

1. True parameters are drawn for every item: a graded-response model for Likert statements
   (reverse-keyed ones are answered on the reversed scale), a nominal model for
   situational-judgement items whose option slopes follow the experts' orientation (the most
   indicative option highest, the least lowest — the only use of that metadata), except one or
   two items per dimension whose truth disagrees with the experts (:func:`true_parameters`), so
   that a calibration has something to reveal (:func:`qabilet.calibration.expert_order`).
2. Candidates are simulated at the three position levels (``n_per_level`` each) from a correlated
   normal over the nine dimensions: level means ``+0.3`` (high), ``0`` (middle), ``−0.3`` (low)
   on the competencies, correlations 0.5 between competencies, 0.25 between personal qualities,
   0.3 across.
3. Each dimension is calibrated on its own by MML-EM (:class:`qabilet.calibration.MML`), multi-group by
   level with the middle level as the reference (N(0, 1)); the scales' correlations come from
   :func:`qabilet.calibration.factor_correlations` on the reference group.
4. The version's parameters are written in slope-intercept form on nine factors (simple
   structure). The norm sets are the levels' estimated latent distributions, with band edges at
   their 25th and 75th percentiles.
5. Forced-choice blocks (:mod:`qabilet.itembank.forced_choice_content`: 30 desirability-matched
   triplets of statements on the nine dimensions): the middle level's simulees rank them under
   the content file's Thurstonian parameters, and the statements are calibrated from those
   rankings by DWLS on the pairwise tetrachorics (:func:`qabilet.calibration.fit_forced_choice`)
   — on the reference population, so the blocks' traits share the items' latent scale and
   norms.
6. Blueprints per level (:mod:`qabilet.demo_design`): the competencies' sections given in turn,
   then the personal qualities', each adaptive with conditional Sympson–Hetter exposure control
   at 0.3 (its parameters shipped with the package, :mod:`qabilet.demo_exposure`, or derived
   here by simulation) where the pool allows it, a fixed form
   where it does not; the first item at the level's norm mean; quotas on situational-judgement
   items and reverse-keyed statements. Each level also has a forced-choice blueprint, stored
   first (number 1; the item blueprints, number 2, are the newest and so the default): one
   adaptive section of :data:`BLOCK_TEST_LENGTH` blocks over the nine dimensions (D-optimal,
   drawn among the two best).

docs/design.md §4: ``qabilet.itembank`` does not import ``qabilet.calibration``; the two meet here.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from qabilet.demo_design import Derivation
    from qabilet.itembank.blueprints import BlueprintSection
    from qabilet.itembank.content import Item
    from qabilet.itembank.forced_choice_parameters import ForcedChoiceParameters
    from qabilet.itembank.repository import BankRepository
    from qabilet.itembank.versions import BankVersion, LevelNorms

__all__ = [
    "BLOCK_TEST_LENGTH",
    "DISAGREEMENTS",
    "LEVEL_MEANS",
    "DemoBuild",
    "build_demo_bank",
    "demo_blocks",
    "demo_blueprints",
    "disagreeing_items",
    "expert_disagreements",
    "sjt_order",
    "true_parameters",
]

#: level → mean of the competencies (personal qualities get a third of it)
LEVEL_MEANS = {"high": 0.3, "middle": 0.0, "low": -0.3}
#: percentiles of the band edges in the demonstration norm sets
BAND_PERCENTILES = (25.0, 75.0)
#: the demonstration calibration sample's testing period
SAMPLE_DATES = (date(2026, 9, 1), date(2026, 10, 31))


#: blocks in a demonstration forced-choice test (of the 30)
BLOCK_TEST_LENGTH = 20

@dataclass(frozen=True, slots=True)
class DemoBuild:
    """What :func:`build_demo_bank` stored and how well the calibration recovered the truth.

    Attributes
    ----------
    version, norm_set : int
        Numbers of the published bank version and norm set.
    blueprints : dict
        Level → blueprint number.
    n_items : int
    n_persons : int
        Simulated candidates (all levels).
    slope_correlation : dict
        Dimension → correlation of true and estimated slopes of its Likert items.
    correlation_error : float
        Largest absolute error of the estimated correlations between dimensions.
    shipped_exposure : int
        Adaptive sections whose exposure parameters were the shipped ones
        (:mod:`qabilet.demo_exposure`); the others' were derived by the build.
    n_blocks : int
        Forced-choice blocks.
    block_blueprints : dict
        Level → the number of its forced-choice blueprint.
    loading_correlation : float
        Correlation of the blocks' statements' true and calibrated loadings.
    """

    version: int
    norm_set: int
    blueprints: dict[str, int]
    n_items: int
    n_persons: int
    slope_correlation: dict[str, float]
    correlation_error: float
    shipped_exposure: int
    n_blocks: int
    block_blueprints: dict[str, int]
    loading_correlation: float


def _true_correlation(dimensions: list[str], n_competencies: int) -> NDArray[np.float64]:
    m = len(dimensions)
    r = np.full((m, m), 0.3)
    r[:n_competencies, :n_competencies] = 0.5
    r[n_competencies:, n_competencies:] = 0.25
    np.fill_diagonal(r, 1.0)
    return r


def true_parameters(items: list[Item], rng: np.random.Generator) -> list[dict[str, Any]]:
    """Draw the simulation's true parameters, one unidimensional record per item.

    Likert items: GRM, a ~ U(1.1, 2.3), thresholds a location U(−0.8, 0.8) plus
    (−2.0, −0.9, 0.1, 1.2) and a little noise. Situational-judgement items: nominal, a ~ U(0.5, 0.9)
    with option scores 3 (most indicative), 0 (least) and 1, 2 for the others, intercepts N(0, 0.5²)
    (category 0 identified at 0); option k's slope is a·score_k (Bock 1972).

    The experts are not always right: in each dimension one or two situational items (see
    :func:`disagreeing_items`) truly order their options otherwise — the experts' most indicative
    option is only second (it swaps scores with the best other option), or their least
    indicative one lies in the middle (it swaps scores with the next option up). Which items, and
    how, is drawn from a generator spawned from ``rng`` (so the other draws are those of a
    truth without disagreements); :func:`expert_disagreements` reads them off the result.
    """
    disagree = disagreeing_items(items, rng.spawn(1)[0])
    out = []
    for item in items:
        if item.format == "likert":
            steps = np.array([-2.0, -0.9, 0.1, 1.2]) + rng.uniform(-0.8, 0.8)
            b = np.sort(steps + rng.normal(0, 0.1, 4))
            out.append({"id": item.id, "model": "grm", "a": float(rng.uniform(1.1, 2.3)),
                        "b": b.tolist()})
            continue
        k = len(next(iter(item.text.values())).options or [])
        o = item.orientation
        scores = np.zeros(k)
        rest = [j for j in range(k) if o is None or j not in (o.most_indicative, o.least_indicative)]
        scores[rng.permutation(rest)] = np.linspace(1, k - 2, len(rest)) if o else np.arange(k)
        if o is not None:
            scores[o.most_indicative] = k - 1
            if o.least_indicative is not None:
                scores[o.least_indicative] = 0
            how = disagree.get(item.id)
            expert = o.most_indicative if how == "most_second" else o.least_indicative
            if how is not None and expert is not None:
                rival = int(np.flatnonzero(scores == scores[expert] + (-1 if how == "most_second" else 1))[0])
                scores[[expert, rival]] = scores[[rival, expert]]
        d = np.concatenate([[0.0], rng.normal(0, 0.5, k - 1)])
        out.append({"id": item.id, "model": "nominal", "a": float(rng.uniform(0.5, 0.9)),
                    "ak": (scores - scores[0]).tolist(), "d": d.tolist()})
    return out


#: how a simulated item's truth departs from the experts' orientation (:func:`true_parameters`)
DISAGREEMENTS = ("most_second", "least_middle")


def disagreeing_items(items: list[Item], rng: np.random.Generator) -> dict[str, str]:
    """Situational items whose truth disagrees with their experts: item id → one of :data:`DISAGREEMENTS`.

    In each dimension, one or two (equally likely) of its situational items with an orientation
    (``least_middle`` only for those naming a least indicative option, and with more than three
    options so that a middle exists above the second lowest), each with a kind drawn uniformly.
    """
    out: dict[str, str] = {}
    for dim in dict.fromkeys(i.dimension for i in items):
        mine = [i for i in items if i.dimension == dim and i.format == "sjt" and i.orientation]
        if not mine:
            continue
        for j in sorted(rng.choice(len(mine), size=min(len(mine), int(rng.integers(1, 3))), replace=False)):
            o = mine[j].orientation
            k = len(next(iter(mine[j].text.values())).options or [])
            kinds = DISAGREEMENTS if o is not None and o.least_indicative is not None and k > 3 \
                else DISAGREEMENTS[:1]
            out[mine[j].id] = str(kinds[int(rng.integers(len(kinds)))])
    return out


def expert_disagreements(items: list[Item], truth: list[dict[str, Any]]) -> dict[str, str]:
    """Situational items whose true option slopes contradict the experts: item id → what.

    Read off the truth (``truth[i]["ak"]`` in written option order): the most indicative option
    does not have the largest slope, or the least indicative one not the smallest.
    """
    out = {}
    for item, rec in zip(items, truth, strict=True):
        o = item.orientation
        if o is None or rec["model"] != "nominal":
            continue
        slopes = np.asarray(rec["ak"]) * rec["a"]
        order = " > ".join(str(int(j)) for j in np.argsort(-slopes, kind="stable"))
        if slopes.argmax() != o.most_indicative:
            out[item.id] = f"most indicative option {o.most_indicative} is not the highest ({order})"
        elif o.least_indicative is not None and slopes.argmin() != o.least_indicative:
            out[item.id] = f"least indicative option {o.least_indicative} is not the lowest ({order})"
    return out


def sjt_order(item: Item) -> list[int]:
    """A situational-judgement item's options in model-category order.

    Least indicative first, most indicative last, the others as written.

    This is the only use of the experts' orientation (docs/design.md §5): under mirt's identification
    of the nominal model (category 0's slope 0, the last category's K−1) it makes the slope
    positive in the direction of the competency, and it starts the EM where the likelihood has
    its maximum — with an arbitrary option order the fit can stall on the ridge at a1 = 0.

    Examples
    --------
    >>> from qabilet.itembank.content import Item
    >>> item = Item(id="S1", competency="transparency", levels=["low"], format="sjt",
    ...             orientation={"most_indicative": 0, "least_indicative": 2},
    ...             text={"en": {"stem": "?", "options": ["a", "b", "c", "d"]}})
    >>> sjt_order(item)
    [2, 1, 3, 0]
    """
    o = item.orientation
    k = len(next(iter(item.text.values())).options or [])
    if o is None:
        return list(range(k))
    first = [] if o.least_indicative is None else [o.least_indicative]
    middle = [j for j in range(k) if j not in (*first, o.most_indicative)]
    return [*first, *middle, o.most_indicative]


def demo_blueprints(items: list[Item], dimensions: list[str], competencies: set[str],
                    version: BankVersion, norms: list[LevelNorms], *, seed: int = 2017,
                    n_per_level: int = 1500, derive: Derivation | None = None,
                    progress: Callable[[str], None] | None = None
                    ) -> dict[str, tuple[list[BlueprintSection], str, int]]:
    """Each level's sections (:func:`qabilet.demo_design.demo_sections`), label and shipped count.

    The adaptive sections' conditional Sympson–Hetter parameters are the shipped ones where
    they were derived for the section (:mod:`qabilet.demo_exposure`; ``seed`` and
    ``n_per_level`` are the build's) and ``derive`` is None; otherwise they are derived here on
    the version's parameters among simulees of the level
    (:func:`qabilet.demo_design.derive_exposure` with ``derive``, by default
    :data:`qabilet.demo_design.QUICK`; seeded by ``seed``, the level and the section): the
    middle level's from 1, the other levels' from the middle level's (their pools and classes
    differ little, so most of the rounds are saved). A label names the sections given as fixed
    forms; the count is of the sections whose parameters were shipped.
    """
    from qabilet.demo_design import (
        QUICK,
        TARGET_EXPOSURE,
        demo_sections,
        derive_exposure,
        mean_information,
    )
    from qabilet.demo_exposure import load_exposure
    from qabilet.itembank.blueprints import BlueprintSection, section_items
    from qabilet.itembank.versions import scale_bank

    say = progress or (lambda _msg: None)
    shipped = load_exposure() if derive is None else None
    whole = version.parameters.to_bank()
    by_id = {i.id: i for i in items}
    out: dict[str, tuple[list[BlueprintSection], str, int]] = {}
    derived: dict[str, dict[str, Any]] = {}  # dimension → the middle level's parameters
    order = sorted(range(len(norms)), key=lambda k: norms[k].level != "middle")
    for k, level_norms in ((k, norms[k]) for k in order):
        lv = level_norms.level
        info: dict[str, float] = {}
        for dim in dimensions:
            norm = level_norms.dimensions[dim]
            info |= mean_information(scale_bank(whole, [dim]), norm.mean, norm.sd)
        sections, from_file = [], 0
        for j, raw in enumerate(demo_sections(lv, items, dimensions, competencies, level_norms,
                                              information=info)):
            eligible = section_items(BlueprintSection.model_validate(raw), lv, by_id, version)
            dim = raw["dimensions"][0]
            fits = shipped.section(
                seed=seed, n_per_level=n_per_level, target=TARGET_EXPOSURE, level=lv,
                name=raw["name"], classes=raw["rules"].get("sh_classes") or [],
                eligible=eligible) if shipped and raw["rules"].get("sh_classes") else None
            if fits is not None:
                rules = {**raw["rules"], "exposure": f"sh:{TARGET_EXPOSURE:g}",
                         "sh_parameters": fits}
                from_file += 1
            else:
                norm = level_norms.dimensions[dim]
                rules = derive_exposure(scale_bank(whole, raw["dimensions"], eligible),
                                        raw["rules"], eligible, how=derive or QUICK,
                                        population=(norm.mean, norm.sd),
                                        rng=np.random.default_rng([seed, k, j]),
                                        initial=derived.get(dim))
            if lv == "middle":
                derived[dim] = rules.get("sh_parameters") or {}
            sections.append(BlueprintSection.model_validate({**raw, "rules": rules}))
        fixed = [s.dimensions[0] for s in sections if s.name.endswith("_fixed")]
        label = (f"demonstration blueprint, {lv} positions: competencies, then personal "
                 f"qualities, each group's sections in turn; adaptive, conditional "
                 f"Sympson–Hetter at {TARGET_EXPOSURE:g}"
                 + (f"; fixed forms (pool too small for adaptivity at that rate): "
                    f"{', '.join(fixed)}" if fixed else ""))
        out[lv] = (sections, label, from_file)
        adaptive = len(sections) - len(fixed)
        say(f"blueprint of the {lv} level: {adaptive} adaptive sections (exposure parameters: "
            f"{from_file} shipped, {adaptive - from_file} derived now), {len(fixed)} fixed forms")
    return {n.level: out[n.level] for n in norms}  # in the norms' order


def build_demo_bank(repo: BankRepository, *, seed: int = 2017, n_per_level: int = 1500,
                    derive: Derivation | None = None, software_version: str | None = None,
                    progress: Callable[[str], None] | None = None) -> DemoBuild:
    """Build the demonstration bank into an empty repository: content, version, norms, blueprints.

    Everything is written published (version 1, norm set 1, blueprint 1 of each level); a
    repository that already holds a bank is refused. The exposure parameters are the shipped
    ones wherever they fit (:mod:`qabilet.demo_exposure`), unless ``derive`` (a
    :class:`qabilet.demo_design.Derivation`) asks for every section's to be derived with it.

    Raises
    ------
    ConflictError
        The repository is not empty.
    """
    from qabilet import __version__
    from qabilet.calibration import MML, factor_correlations, level_norms
    from qabilet.calibration_file import slope_intercept_records
    from qabilet.engine.bank import ItemBank
    from qabilet.engine.exceptions import ConflictError, ConvergenceWarning
    from qabilet.engine.simulation import simulate_responses
    from qabilet.itembank.blueprints import BlockRules, BlueprintSection
    from qabilet.itembank.content import LEVELS
    from qabilet.itembank.demo_texts import load_demo_content
    from qabilet.itembank.parameter_file import ParameterFile
    from qabilet.itembank.versions import (
        CutMethod,
        DimensionNorm,
        LevelNorms,
        NormSample,
        Provenance,
    )

    say = progress or (lambda _msg: None)
    if not repo.is_empty():
        raise ConflictError("the database already holds a bank; init-demo builds into an empty "
                            "one (use another --database)")
    content = load_demo_content()
    items = [i.model_copy(update={"status": "operational"}) for i in content.items]
    dims = [d.id for d in content.dimensions]
    competencies = {d.id for d in content.dimensions if d.kind == "competency"}
    rng = np.random.default_rng(seed)
    truth = true_parameters(items, rng)
    r_true = _true_correlation(dims, len(competencies))
    shift = np.array([1.0 if d in competencies else 1 / 3 for d in dims])
    levels = np.repeat(np.array(LEVELS), n_per_level)
    # Cholesky, not numpy's default SVD: an SVD's signs depend on the machine's LAPACK, and with
    # them the simulees, the calibration and the shipped exposure parameters' fit
    theta = np.vstack([rng.multivariate_normal(LEVEL_MEANS[lv] * shift, r_true, size=n_per_level,
                                               method="cholesky") for lv in LEVELS])
    say(f"simulated {theta.shape[0]} candidates at {len(LEVELS)} levels on {len(dims)} dimensions")

    records: list[dict[str, Any]] = []
    fits, answers, slope_r = [], [], {}
    codes: dict[str, list[int]] = {}
    digest = hashlib.sha256()
    middle = levels == "middle"
    for k, dim in enumerate(dims):
        idx = [j for j, i in enumerate(items) if i.dimension == dim]
        true_bank = ItemBank.from_records([truth[j] for j in idx])
        x = simulate_responses(true_bank, theta[:, k], rng)
        ids = list(true_bank.item_ids)
        digest.update(x.astype(np.int8).tobytes())
        for col, j in enumerate(idx):  # options in the experts' order (docs/design.md §5)
            if items[j].orientation is not None:
                order = sjt_order(items[j])
                x[:, col] = np.argsort(order)[x[:, col]]
                codes[items[j].id] = order
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            fit = MML(model={i: truth[j]["model"] for i, j in zip(ids, idx, strict=True)},
                      reference_group="middle").fit(x, item_ids=ids, groups=levels)
        records += slope_intercept_records(fit.bank, [i.slope_intercept_se() for i in fit.items],
                                           k, len(dims))
        fits.append(fit)
        answers.append(x[middle])
        likert = [p for p, j in enumerate(idx) if items[j].format == "likert"]
        slope_r[dim] = float(np.corrcoef([truth[idx[p]]["a"] for p in likert],
                                         fit.bank.slopes[likert, 0])[0, 1])
        say(f"calibrated {dim}: {len(ids)} items, {fit.n_iter} EM cycles")
    corr = factor_correlations([f.bank for f in fits], answers, names=dims)
    codes.update({i.id: [4, 3, 2, 1, 0] for i in items  # model category 0: "strongly agree"
                  if i.format == "likert" and i.direction == -1})
    for rec in records:
        if rec["id"] in codes:
            rec["categories"] = codes[rec["id"]]
    parameters = ParameterFile.model_validate({
        "latent": {"factor_names": dims, "mean": [0.0] * len(dims),
                   "cov": corr.correlation.tolist()},
        "method": "MML-EM per dimension, multi-group by level (reference: middle); "
                  "pairwise-likelihood factor correlations",
        "items": records})

    blocks, fc_parameters, loading_r = demo_blocks(theta[middle], dims, seed)
    say(f"calibrated {len(blocks)} forced-choice blocks from the middle level's rankings")
    repo.put_dimensions(content.dimensions)
    repo.put_scales(content.scales)
    repo.add_items([*items, *blocks])
    repo.put_recommendations(content.recommendations)
    version = repo.create_version(parameters, Provenance(
        method="demonstration: MML-EM of simulated responses (seed "
               f"{seed}, {theta.shape[0]} simulated candidates)",
        data_fingerprint=digest.hexdigest(), calibrated_on=date.today(),
        software_version=software_version or __version__,
        n_persons=int(theta.shape[0]), demonstration=True,
        notes="Demonstration values, not a real calibration: the texts are real, the answers "
              "that calibrated them were simulated."), label="demonstration bank",
        forced_choice=fc_parameters)
    repo.publish_version(version.number)
    per_scale = [level_norms(fit, levels, percentiles=BAND_PERCENTILES) for fit in fits]
    norms = []
    for lv in LEVELS:
        dim_norms = {dim: DimensionNorm(mean=n[lv].mean, sd=n[lv].sd, cuts=n[lv].cuts)
                     for dim, n in zip(dims, per_scale, strict=True)}
        norms.append(LevelNorms(
            level=lv, sample=NormSample(size=per_scale[0][lv].n, collected_from=SAMPLE_DATES[0],
                                        collected_to=SAMPLE_DATES[1],
                                        description="simulated candidates (demonstration)"),
            cut_method=CutMethod(method="percentile", percentiles=BAND_PERCENTILES,
                                 description="demonstration: the level's 25th and 75th "
                                             "percentiles"),
            dimensions=dim_norms))
    norm_set = repo.create_norm_set(version.number, norms, label="demonstration norms",
                                    demonstration=True)
    repo.publish_norm_set(norm_set.number)
    block_blueprints: dict[str, int] = {lv: repo.add_blueprint(lv, version.number, [BlueprintSection(
        name="forced_choice", dimensions=list(fc_parameters.traits),
        blocks=BlockRules(length=BLOCK_TEST_LENGTH, randomesque=2))],
        label=f"demonstration forced-choice test, {lv} positions: {BLOCK_TEST_LENGTH} of "
              f"{len(blocks)} blocks, adaptive (D-optimal, drawn among the two best)").number
        for lv in LEVELS}
    blueprints: dict[str, int] = {}
    shipped = 0
    for name, (sections, label, from_file) in demo_blueprints(
            items, dims, competencies, version, norms, seed=seed, n_per_level=n_per_level,
            derive=derive, progress=say).items():
        blueprints[name] = repo.add_blueprint(name, version.number, sections, label=label).number
        shipped += from_file
    off = np.triu_indices(len(dims), 1)
    return DemoBuild(version=version.number, norm_set=norm_set.number, blueprints=blueprints,
                     n_items=len(items), n_persons=int(theta.shape[0]), slope_correlation=slope_r,
                     shipped_exposure=shipped,
                     correlation_error=float(np.abs(corr.correlation - r_true)[off].max()),
                     n_blocks=len(blocks), block_blueprints=block_blueprints,
                     loading_correlation=loading_r)


def demo_blocks(theta: NDArray[np.float64], dims: list[str], seed: int
                ) -> tuple[list[Item], ForcedChoiceParameters, float]:
    """The demonstration blocks as bank items, calibrated on simulees ``theta`` (columns: ``dims``).

    Each simulee ranks every block under the content file's parameters
    (:func:`qabilet.engine.forced_choice.simulate_blocks`, seeded by ``[seed, 0xFC]``); the
    statements are calibrated by DWLS (:func:`qabilet.calibration.fit_forced_choice`). Returns
    the items, the parameters and the correlation of true and calibrated loadings.
    """
    from qabilet.calibration import fit_forced_choice
    from qabilet.engine.forced_choice import simulate_blocks
    from qabilet.itembank.forced_choice_content import load_forced_choice_content
    from qabilet.itembank.forced_choice_parameters import ForcedChoiceParameters

    content = load_forced_choice_content()
    form = content.form()
    columns = [dims.index(t) for t in form.design.traits]
    answers = simulate_blocks(form.model(), theta[:, columns], np.random.default_rng([seed, 0xFC]))
    fit = fit_forced_choice(form.design, answers)
    return (content.block_items(), ForcedChoiceParameters.model_validate(fit.to_dict()),
            float(np.corrcoef(fit.lam, form.lam)[0, 1]))
