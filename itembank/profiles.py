"""Issued profiles: the record a candidate and their organisation receive (docs/design.md §3a).

A profile, once issued, never changes: it names the bank version, the norm set and the software
version that produced it. Re-scoring (after an appeal, or with newer norms) issues a new profile
that points to the one it replaces; both stay. Nothing in a profile counts right or wrong
answers — preference items have none (docs/design.md §5).

A profile holds its words in Kazakh, Russian and English, as they were when it was issued: the
dimensions' names, the recommendations and directions, the band words and the validity
messages. So it can be shown in any of the three (:meth:`Profile.in_language`) and still says
what was issued, whatever the bank's texts become. Profiles issued before the words were kept
(their ``texts`` are absent) are shown in the language they were issued in.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field, model_validator

from qabilet.itembank._schema import Schema
from qabilet.itembank.content import Band, Language, Level, Name
from qabilet.itembank.versions import StandardSetting

__all__ = ["BandAdvice", "BandWords", "DimensionResult", "NormReference", "Profile", "ResultTexts", "ValidityFlag"]

Interval = tuple[float, float]


class BandAdvice(Schema):
    """The guidance of one band, in one language: what a profile gives when the band is withheld.

    Attributes
    ----------
    band : str
    recommendation : str
    direction : str, optional
    """

    band: Band
    recommendation: str
    direction: str | None = None


class ResultTexts(Schema):
    """A result's words in one language, as issued.

    Attributes
    ----------
    name : str
        The dimension's name.
    recommendation, direction : str, optional
        The development text for the band stated, and in which direction to develop.
    alternatives : list of BandAdvice
        When the band is withheld: the guidance of both neighbouring bands.
    """

    name: str
    recommendation: str | None = None
    direction: str | None = None
    alternatives: list[BandAdvice] = Field(default_factory=list)


class BandWords(Schema):
    """The words of the bands in one language, as issued, and why a band is withheld.

    Attributes
    ----------
    development, meets, strength : str
        The bands' names; they follow the norm set's cut method (peers at the level for
        percentile cuts, the standard's words for expert cuts).
    withheld : str
        What the report says in place of a band not stated.
    withheld_imprecise, withheld_uncertain : str, optional
        Why, with ``{lower}`` and ``{upper}`` for the two neighbouring bands' names (absent in
        profiles issued before the reasons were kept).
    """

    development: str
    meets: str
    strength: str
    withheld: str
    withheld_imprecise: str | None = None
    withheld_uncertain: str | None = None


class DimensionResult(Schema):
    """One competency or personal quality in a profile.

    Attributes
    ----------
    dimension : str
    kind : {"competency", "trait"}
        Professional (competency) or personal (trait) section.
    name : str
        In the profile's language.
    n_items : int
        Questions answered on this dimension (forced-choice blocks with a statement on it).
    theta, sd : float
        Posterior mean (EAP) and standard deviation on the latent scale; for a dimension
        measured by forced-choice blocks, the posterior mode (MAP) and the Laplace standard
        deviation of the Thurstonian model.
    measured_by : {"items", "forced_choice"}
        What gave the score: the dimension's items, or forced-choice blocks.
    reliability : float
        :math:`1 - s^2/\\sigma^2_\\theta` of this measurement (at least 0), with :math:`s` the
        posterior SD and :math:`\\sigma^2_\\theta` the variance of θ in the candidate's norm
        group (the level's): the share of the variance among the candidate's peers that the
        measurement resolves (conditional reliability; Green, Bock, Humphreys, Linn & Reckase
        1984).
    percentile, t_score : float
    sten : int
    percentile_interval, t_interval : (float, float)
    sten_interval : (int, int)
        From the central posterior interval of ``Profile.interval_level``.
    band : str, optional
        ``development``, ``meets`` or ``strength``; None when withheld.
    band_probability : float
        Posterior probability of the band stated (of the likeliest one when withheld).
    band_probabilities : dict
        Band → posterior probability.
    band_edges : (float, float)
        The cut scores as percentiles of the level's norm group (where the bands meet).
    withheld : str, optional
        ``imprecise`` (the posterior is too wide) or ``uncertain`` (no band likely enough: the
        result lies near a cut) when no band is stated.
    neighbours : (str, str), optional
        When the band is withheld: the two adjacent bands the result most likely lies in (the
        pair with the larger summed probability), lower first.
    recommendation, direction : str, optional
        The development text for the band stated, in the profile's language, and in which
        direction to develop.
    alternatives : list of BandAdvice
        When the band is withheld: the guidance of both ``neighbours``.
    texts : dict of ResultTexts, optional
        ``name``, ``recommendation``, ``direction`` and ``alternatives`` in each language (kk,
        ru, en), frozen when the profile is issued; absent in profiles issued before they were
        kept.
    """

    dimension: Name
    kind: Literal["competency", "trait"]
    name: str
    n_items: int = Field(ge=0)
    measured_by: Literal["items", "forced_choice"] = "items"
    theta: float
    sd: float = Field(gt=0)
    reliability: float = Field(ge=0, le=1)
    percentile: float = Field(ge=0, le=100)
    percentile_interval: Interval
    sten: int = Field(ge=1, le=10)
    sten_interval: tuple[int, int]
    t_score: float
    t_interval: Interval
    band: Band | None = None
    band_probability: float = Field(ge=0, le=1)
    band_probabilities: dict[Band, float]
    band_edges: Interval
    withheld: Literal["imprecise", "uncertain"] | None = None
    neighbours: tuple[Band, Band] | None = None
    recommendation: str | None = None
    direction: str | None = None
    alternatives: list[BandAdvice] = Field(default_factory=list)
    texts: dict[Language, ResultTexts] | None = None

    @model_validator(mode="after")
    def _band_or_reason(self) -> DimensionResult:
        if (self.band is None) == (self.withheld is None):
            raise ValueError("band, withheld: expected a band or the reason it is withheld")
        return self


class ValidityFlag(Schema):
    """A validity concern, shown to the operator only.

    Attributes
    ----------
    code : str
        ``misfit`` (person fit lz*), ``straightlining``, ``acquiescence``, ``fast`` (implausibly
        fast answers), ``few`` (too few answers on a dimension).
    dimension : str, optional
        The dimension concerned, where there is one.
    value : float
        The statistic (lz*, run length, index, count …).
    message : str
        In the profile's language.
    messages : dict of str, optional
        The message in each language (kk, ru, en), frozen when the profile is issued.
    """

    code: Literal["misfit", "straightlining", "acquiescence", "fast", "few"]
    dimension: Name | None = None
    value: float
    message: str
    messages: dict[Language, str] | None = None


class NormReference(Schema):
    """What a profile was compared with: the norm set, its level's sample and how its cuts were set.

    Attributes
    ----------
    cut_method : str
        The cut method's description.
    method : {"percentile", "expert"}, optional
        The cut method (absent in profiles issued before it was kept).
    percentiles : (float, float), optional
        The percentile method's two percentiles.
    panel : StandardSetting, optional
        The expert method's panel: procedure, size, date, the cuts' standard errors.
    """

    norm_set: int = Field(ge=1)
    label: str | None = None
    level: Level
    sample_size: int = Field(ge=1)
    collected_from: date
    collected_to: date
    cut_method: str
    demonstration: bool
    method: Literal["percentile", "expert"] | None = None
    percentiles: tuple[float, float] | None = None
    panel: StandardSetting | None = None


class Profile(Schema):
    """An issued profile.

    Attributes
    ----------
    id : str
        Unique id of this record.
    candidate_id : str
    session_id : str, optional
    level : str
        The candidate's position level (it chooses the norm group, never the prior).
    language : str
        Of the texts at the record's top level (``name``, ``recommendation``, ``message``): the
        language the candidate answered in last, and the report's default.
    tested_at : datetime, optional
    issued_at : datetime
    bank_version, norm_set : int
    software_version : str
    replaces : str, optional
        The profile this one re-issues.
    replaces_issued_at : datetime, optional
        When that one was issued.
    interval_level : float
        Coverage of the score intervals.
    norms : NormReference
    professional, personal : list of DimensionResult
        Competencies, then personal qualities.
    validity : list of ValidityFlag
        Operator's view only (:meth:`candidate_view` leaves it out).
    band_words : dict of BandWords, optional
        The bands' words in each language, frozen when the profile is issued.
    """

    id: str = Field(min_length=1, max_length=64)
    candidate_id: str = Field(min_length=1, max_length=128)
    session_id: str | None = None
    level: Level
    language: Language
    tested_at: datetime | None = None
    issued_at: datetime
    bank_version: int = Field(ge=1)
    norm_set: int = Field(ge=1)
    software_version: str
    replaces: str | None = None
    replaces_issued_at: datetime | None = None
    interval_level: float = Field(gt=0, lt=1)
    norms: NormReference
    professional: list[DimensionResult]
    personal: list[DimensionResult]
    validity: list[ValidityFlag]
    band_words: dict[Language, BandWords] | None = None

    @property
    def languages(self) -> tuple[Language, ...]:
        """The languages the profile can be shown in: its own, and those its words were kept in."""
        kept = tuple(self.band_words or ())
        return kept if self.language in kept else (self.language, *kept)

    def in_language(self, language: Language) -> Profile:
        """The same record with its words in ``language``, as they were issued.

        Only the words change (names, recommendations, directions, validity messages and the
        ``language`` they are in); every number stays. A profile without words in ``language``
        (issued before they were kept) is returned as it is, in its own language.
        """
        if language == self.language or language not in self.languages:
            return self

        def result(r: DimensionResult) -> DimensionResult:
            words = (r.texts or {}).get(language)
            return r if words is None else r.model_copy(
                update={name: getattr(words, name) for name in type(words).model_fields})

        return self.model_copy(update={
            "language": language,
            "professional": [result(r) for r in self.professional],
            "personal": [result(r) for r in self.personal],
            "validity": [f.model_copy(update={"message": (f.messages or {}).get(language, f.message)})
                         for f in self.validity]})

    def candidate_view(self) -> dict[str, object]:
        """The profile as the candidate sees it: everything but the validity flags."""
        return self.model_dump(mode="json", exclude={"validity"})
