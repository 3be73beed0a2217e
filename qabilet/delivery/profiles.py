"""From a candidate's answers to an issued profile: orchestration, no psychometrics of its own.

The arithmetic is :mod:`qabilet.engine.scoring` (EAP with the bank version's prior — the same for
everyone, docs/design.md §5), :mod:`qabilet.engine.profile` (norm scores, bands and their confidence),
:mod:`qabilet.engine.validity` (response-style indices) and :mod:`qabilet.calibration.person_fit` (lz*); the
norms, texts and parameters come from the bank. The result is an :class:`qabilet.itembank.profiles.Profile`,
which the caller issues (stores) and renders (:mod:`qabilet.delivery.report_html`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypeVar

import numpy as np

from qabilet.delivery.version_scales import VersionScales
from qabilet.engine.exceptions import InvalidParameterError, InvalidResponseError
from qabilet.itembank.content import (
    BANDS,
    LANGUAGES,
    Band,
    Dimension,
    Item,
    Language,
    Recommendation,
    advice_for,
    is_language,
)
from qabilet.itembank.profiles import (
    BandAdvice,
    BandWords,
    DimensionResult,
    NormReference,
    Profile,
    ResultTexts,
    ValidityFlag,
)
from qabilet.itembank.versions import BankVersion, CutMethod, NormSet

__all__ = ["Answer", "ProfilePolicy", "band_words", "build_profile", "load_texts"]

_S = TypeVar("_S", bound=str)
#: why a band is withheld (``engine.profile.band_decision``)
_WITHHELD: tuple[Literal["imprecise", "uncertain"], ...] = ("imprecise", "uncertain")


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer as given.

    The item, the 0-based option or scale point, the seconds it took, and the language it was
    given in (default: the profile's); for a forced-choice block, ``ranking`` — its statement
    ids from most to least like the candidate (``S3>S1>S2``; ``=`` where the order was not
    asked) — and ``code`` −1.
    """

    item_id: str
    code: int
    response_time_s: float | None = None
    language: str | None = None
    ranking: str | None = None


@dataclass(frozen=True, slots=True)
class ProfilePolicy:
    """The settings of a profile, each with its reason.

    Attributes
    ----------
    interval_level : float
        Coverage of the score intervals (90 %).
    min_confidence : float
        A band is stated when its posterior probability reaches this (90 %), so that nine in ten
        stated bands or more are the candidate's true one (in simulation of the demonstration
        design, 0.95–0.98; at 70 % it was 0.84–0.91); below it the band is withheld with its
        reason and both neighbours' guidance.
    max_sd : float
        Above this posterior SD no band is stated (the measurement is too imprecise).
    misfit_alpha : float
        Level of the person-fit test: lz* of each dimension (at the MAP estimate) combined by
        Stouffer's sum :math:`\\sum_d l^*_{z,d}/\\sqrt{D}`; one test per profile, so ordinary
        candidates are flagged at this rate.
    max_run : int
        Longest string of identical Likert answers tolerated.
    acquiescence : float
        Largest |acquiescence index| tolerated, in scale points (the index is at most 2 on five).
    seconds_per_character, min_seconds : float
        An answer is implausibly fast below ``max(min_seconds, characters × seconds_per_character)``
        for the item's text as shown (about three times a skimming speed of 17 characters per
        second).
    fast_share : float
        Share of fast answers (at least three) that raises the flag.
    min_items : int
        Answers a dimension needs; fewer raise a flag (and the band follows the SD rule).
    """

    interval_level: float = 0.90
    min_confidence: float = 0.90
    max_sd: float = 0.60
    misfit_alpha: float = 0.01
    max_run: int = 10
    acquiescence: float = 1.0
    seconds_per_character: float = 1 / 50
    min_seconds: float = 1.0
    fast_share: float = 0.10
    min_items: int = 4


def preload() -> None:
    """Import what scoring a profile needs, whose imports :func:`build_profile` defers.

    A server calls it on startup, so that its first profile does not import ``scipy.stats``
    (~0.5 s, holding the GIL the event loop needs) while candidates wait.
    """
    import scipy.stats  # noqa: F401

    import qabilet.calibration.person_fit  # noqa: F401
    import qabilet.engine.profile  # noqa: F401
    import qabilet.engine.scoring  # noqa: F401
    import qabilet.engine.validity  # noqa: F401


def load_texts() -> dict[str, dict[str, str]]:
    """The report's interface strings: language → key → text (``qabilet/delivery/texts/report.json``)."""
    import json
    from pathlib import Path

    return json.loads((Path(__file__).with_name("texts") / "report.json").read_text("utf-8"))


def _one_of(value: str, allowed: tuple[_S, ...]) -> _S | None:
    """``value`` as the member of ``allowed`` it equals; None for ``""`` (none stated)."""
    return next((a for a in allowed if a == value), None)


def _in(texts: Mapping[Language, str], language: Language) -> str:
    for lang in (language, *LANGUAGES):
        if lang in texts:
            return texts[lang]
    return ""


def build_profile(
    *,
    version: BankVersion,
    norm_set: NormSet,
    items: Mapping[str, Item],
    dimensions: Mapping[str, Dimension],
    recommendations: Sequence[Recommendation],
    level: str,
    language: str,
    answers: Sequence[Answer],
    candidate_id: str,
    software_version: str,
    session_id: str | None = None,
    tested_at: datetime | None = None,
    replaces: Profile | str | None = None,
    policy: ProfilePolicy | None = None,
    profile_id: str | None = None,
    scales: VersionScales | None = None,
) -> Profile:
    """Score the answers and read them against the level's norms: an unissued profile.

    Each answer is scored with the parameters of the language it was given in (the version's
    language versions, :func:`qabilet.itembank.versions.language_versions`), all under the
    version's one prior: the EAP of a dimension measured by items is

    .. math:: \\hat\\theta = \\frac{\\int \\theta\\, \\pi(\\theta) \\prod_j P_j^{(L_j)}(x_j \\mid \\theta)
              \\, d\\theta}{\\int \\pi(\\theta) \\prod_j P_j^{(L_j)}(x_j \\mid \\theta)\\, d\\theta}

    with :math:`P_j^{(L_j)}` item :math:`j` as answered in language :math:`L_j` and :math:`\\pi`
    the version's latent distribution (Bock & Mislevy 1982), the same for every candidate.

    Answers to the version's forced-choice blocks are scored together on every trait of its
    Thurstonian model (:func:`qabilet.delivery.block_sections.score_blocks`: MAP under
    N(0, Φ) with the exact block likelihood, Laplace SDs), and each trait a block answered
    measures is read against the level's norms of that dimension like any other score — the
    blocks' traits are the version's dimensions on its latent scale (calibrated on its
    reference population, :mod:`qabilet.itembank.forced_choice_parameters`).

    Parameters
    ----------
    scales : VersionScales, optional
        ``version``'s scales (and its language versions) prepared once, when the caller holds
        them (a live session's plan does); else (or when they are another version's) they are
        prepared for this profile.
    answers : sequence of Answer
        In the order they were given (straight-lining is about consecutive answers); pretest
        items may be among them and are left out.

    Raises
    ------
    InvalidResponseError
        An answer to an item the version does not calibrate, twice to one item, or a code the
        item does not have.
    """
    from qabilet.calibration.person_fit import person_fit
    from qabilet.engine.profile import band_decision, conditional_reliability, norm_scores
    from qabilet.engine.scoring import score

    if not is_language(language):
        raise InvalidParameterError(f"language: expected one of {', '.join(LANGUAGES)}; "
                                    f"got {language!r}")
    rules = policy or ProfilePolicy()
    texts = load_texts()  # the words of every language are kept in the record (issued as they are)
    norms = norm_set.for_level(level)
    scales = scales if scales is not None and scales.version is version else VersionScales(version)
    codes = scales.codes
    # scored: what the version calibrates, by the version's record (never the working status in
    # ``items``); its pretest items, given and never scored, have no parameters in it
    # (BankVersion refuses an item both calibrated and tried out): ``tried`` says so again
    tried = set(version.pretest)
    scored = [a for a in answers if a.item_id in scales.item_ids and a.item_id not in tried]
    in_blocks = set(version.block_ids)
    ranked = [(a.item_id, a.ranking or "") for a in answers if a.item_id in in_blocks]
    seen: set[str] = set()
    for a in [*scored, *(a for a in answers if a.item_id in in_blocks)]:
        if a.item_id in seen:
            raise InvalidResponseError(f"answers: item {a.item_id!r} answered twice")
        seen.add(a.item_id)
    named = version.shown_dimensions(dimensions)  # the names the version was published with
    results: dict[str, list[DimensionResult]] = {"competency": [], "trait": []}
    flags: list[ValidityFlag] = []
    lz_parts: list[tuple[dict[Language, str], float]] = []

    def add(dim: str, theta: float, sd: float, n: int, measured_by: Literal["items", "forced_choice"]
            ) -> None:
        """The dimension's result, read against the level's norms."""
        norm = norms.dimensions[dim]
        ns = norm_scores(theta, sd, norm.mean, norm.sd, level=rules.interval_level)
        bd = band_decision(theta, sd, norm.cuts, min_confidence=rules.min_confidence,
                           max_sd=rules.max_sd)
        band = _one_of(str(bd.band), BANDS)
        probabilities = dict(zip(BANDS, map(float, bd.probabilities), strict=True))
        pair = None if band else _neighbours(probabilities)
        rec = advice_for(recommendations, dim, band, norms.level) if band else None
        pair_advice = [(b, advice_for(recommendations, dim, b, norms.level)) for b in pair or ()]
        info = named.get(dim)
        words = {lang: ResultTexts(
            name=_in(info.name, lang) if info else dim,
            recommendation=_in(rec.text, lang) if rec else None,
            direction=(_in(rec.direction, lang) or None) if rec and rec.direction else None,
            alternatives=[BandAdvice(band=b, recommendation=_in(r.text, lang),
                                     direction=_in(r.direction, lang) or None)
                          for b, r in pair_advice if r is not None])
            for lang in LANGUAGES}
        names = {lang: w.name for lang, w in words.items()}
        results[info.kind if info else "competency"].append(DimensionResult(
            dimension=dim, kind=info.kind if info else "competency", **words[language].model_dump(),
            n_items=n, measured_by=measured_by, theta=theta, sd=sd,
            reliability=float(conditional_reliability(sd, norm.sd**2)),
            percentile=float(ns.percentile),
            percentile_interval=(float(ns.percentile_low), float(ns.percentile_high)),
            sten=int(ns.sten), sten_interval=(int(ns.sten_low), int(ns.sten_high)),
            t_score=float(ns.t_score), t_interval=(float(ns.t_low), float(ns.t_high)),
            band=band, band_probability=float(bd.probability), band_probabilities=probabilities,
            neighbours=pair,
            band_edges=(float(norm_scores(norm.cuts[0], 1.0, norm.mean, norm.sd).percentile),
                        float(norm_scores(norm.cuts[1], 1.0, norm.mean, norm.sd).percentile)),
            withheld=_one_of(str(bd.withheld), _WITHHELD), texts=words))
        if n < rules.min_items:
            flags.append(_flag("few", texts, language, n, dimension=dim, names=names, n=n))

    for dim in scales.dimensions:
        mine = [a for a in scored if items[a.item_id].dimension == dim]
        if dim not in norms.dimensions or not mine:
            continue
        bank = scales.scale(dim, [a.item_id for a in mine],
                            [a.language or language for a in mine])
        x = np.empty((1, len(mine)), dtype=np.int64)
        for j, a in enumerate(mine):
            order = codes.get(a.item_id, range(int(bank.n_categories[j])))
            if a.code not in order:
                raise InvalidResponseError(f"answers: item {a.item_id!r} has codes "
                                           f"{list(order)}; got {a.code}")
            x[0, j] = list(order).index(a.code)
        est = score(bank, x, method="eap")
        add(dim, float(est.theta[0]), float(est.se[0]), len(mine), "items")
        fit = person_fit(bank, x, method="map")
        if np.isfinite(fit.lz_star[0]):
            lz_parts.append(({lang: _in(named[dim].name, lang) if dim in named else dim
                              for lang in LANGUAGES}, float(fit.lz_star[0])))
    if ranked and version.forced_choice is not None:
        from qabilet.delivery.block_sections import score_blocks

        try:
            est, counts = score_blocks(version.forced_choice, ranked)
        except ValueError as exc:  # a ranking that is not one of its block's
            raise InvalidResponseError(f"answers: {exc}") from None
        measured = {d for d, n in counts.items() if n}
        for k, dim in enumerate(est.factor_names or ()):
            if dim in measured and dim in norms.dimensions:
                add(dim, float(est.theta[0, k]), float(est.se[0, k]), counts[dim],
                    "forced_choice")
    n_categories = {i: len(c) for i, c in codes.items()}
    counted = {a.item_id for a in scored} | in_blocks
    given = [a for a in answers if a.item_id in counted]
    flags += _style_flags(given, items, language, rules, texts, lz_parts, n_categories)
    return Profile(
        id=profile_id or uuid.uuid4().hex, candidate_id=candidate_id, session_id=session_id,
        level=norms.level, language=language, tested_at=tested_at, issued_at=datetime.now(UTC),
        bank_version=version.number, norm_set=norm_set.number, software_version=software_version,
        replaces=replaces.id if isinstance(replaces, Profile) else replaces,
        replaces_issued_at=replaces.issued_at if isinstance(replaces, Profile) else None,
        interval_level=rules.interval_level,
        norms=NormReference(norm_set=norm_set.number, label=norm_set.label, level=norms.level,
                            sample_size=norms.sample.size, collected_from=norms.sample.collected_from,
                            collected_to=norms.sample.collected_to,
                            cut_method=norms.cut_method.description,
                            demonstration=norm_set.demonstration, method=norms.cut_method.method,
                            percentiles=norms.cut_method.percentiles, panel=norms.cut_method.panel),
        professional=results["competency"], personal=results["trait"], validity=flags,
        band_words={lang: band_words(norms.cut_method, texts[lang], lang) for lang in LANGUAGES})


def _neighbours(probabilities: Mapping[Band, float]) -> tuple[Band, Band]:
    """The two adjacent bands a withheld result most likely lies in, lower first.

    Of the pairs (development, meets) and (meets, strength), the one with the larger summed
    posterior probability — the lower pair when :math:`P_{dev} \\ge P_{str}`.

    Examples
    --------
    >>> _neighbours({"development": 0.40, "meets": 0.55, "strength": 0.05})
    ('development', 'meets')
    """
    if probabilities["development"] >= probabilities["strength"]:
        return ("development", "meets")
    return ("meets", "strength")


def band_words(cut: CutMethod, texts: Mapping[str, str], language: Language) -> BandWords:
    """The bands' words in ``language`` for cuts set by ``cut``: what a profile keeps when issued.

    Percentile cuts compare with peers ("lower than / typical of / higher than most peers at this
    level"): the middle band is half of the level by construction, not "the level the position
    expects". Expert cuts compare with a standard: the panel's own words where it gave them
    (:class:`qabilet.itembank.versions.StandardWords`), else "below / meets / above the standard
    for the position".
    """
    own = cut.panel.words.get(language) if cut.panel is not None else None
    low, mid, high = ((own.development, own.meets, own.strength) if own is not None
                      else (texts[f"band_{b}_{cut.method}"] for b in BANDS))
    return BandWords(development=low, meets=mid, strength=high, withheld=texts["band_withheld"],
                     withheld_imprecise=texts["withheld_imprecise"],
                     withheld_uncertain=texts["withheld_uncertain"])


def _flag(code: Literal["misfit", "straightlining", "acquiescence", "fast", "few"],
          texts: Mapping[str, Mapping[str, str]], language: Language, statistic: float, *,
          dimension: str | None = None, names: Mapping[Language, str] | None = None,
          **fields: object) -> ValidityFlag:
    """A validity flag with its message in every language.

    ``fields`` fill the message's placeholders; ``names`` (by language) its ``{dimension}``.
    """
    messages = {lang: texts[lang][f"flag_{code}"].format(
        **fields, **({"dimension": names[lang]} if names is not None else {}))
        for lang in LANGUAGES}
    return ValidityFlag(code=code, dimension=dimension, value=statistic, message=messages[language],
                        messages=messages)


def _style_flags(scored: Sequence[Answer], items: Mapping[str, Item], language: Language,
                 rules: ProfilePolicy, texts: Mapping[str, Mapping[str, str]],
                 lz_parts: Sequence[tuple[dict[Language, str], float]],
                 n_categories: Mapping[str, int]) -> list[ValidityFlag]:
    """Misfit over the whole profile, straight-lining, acquiescence, fast answers."""
    from scipy.stats import norm

    from qabilet.engine.validity import acquiescence, fast_answers, longest_string

    flags = []
    if lz_parts:
        z = sum(v for _, v in lz_parts) / np.sqrt(len(lz_parts))
        if norm.cdf(z) < rules.misfit_alpha:
            worst = [n for n, v in sorted(lz_parts, key=lambda p: p[1]) if v < -1.645]
            flags.append(_flag("misfit", texts, language, z, value=f"{z:.2f}", names={
                lang: ", ".join(n[lang] for n in worst) or "—" for lang in LANGUAGES}))
    likert = [a for a in scored if items[a.item_id].format == "likert"]
    points = {n_categories.get(a.item_id, 5) for a in likert}
    if likert and len(points) == 1:
        raw = np.array([[a.code for a in likert]])
        run = int(longest_string(raw)[0])
        if run >= rules.max_run:
            flags.append(_flag("straightlining", texts, language, run, n=run))
        direction = [items[a.item_id].direction or 1 for a in likert]
        index = float(acquiescence(raw, direction, points.pop())[0])
        if np.isfinite(index) and abs(index) >= rules.acquiescence:
            agreed = round(100 * float(np.mean(raw >= 3)))
            flags.append(_flag("acquiescence", texts, language, index, p=agreed))
    timed = [(a, a.response_time_s) for a in scored if a.response_time_s is not None]
    if timed:
        limits = [max(rules.min_seconds, rules.seconds_per_character
                      * items[a.item_id].text_in(a.language or language).characters) for a, _ in timed]
        fast = int(fast_answers([[seconds for _, seconds in timed]], limits)[0])
        if fast >= max(3, rules.fast_share * len(timed)):
            flags.append(_flag("fast", texts, language, fast, n=fast, total=len(timed),
                               seconds=f"{rules.min_seconds:g}",
                               cps=f"{1 / rules.seconds_per_character:g}"))
    return flags
