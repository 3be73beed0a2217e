"""Bank versions and norm sets: the calibrated, immutable records that sessions and profiles pin.

A **bank version** is a snapshot of item parameters (a :class:`~qabilet.itembank.parameter_file.ParameterFile`:
model, parameters and standard errors per item, per-group parameters where calibration freed an
item for a language form, the latent distribution) with its provenance. A **norm set** holds, per
position level, the reference distribution on the latent scale, the sample it came from and the
cut scores of the profile bands. Both are drafts until published; published, they never change
(a recalibration makes a new version; new norms make a new norm set for the same version).

The dimensions of a version are the factor names of its latent distribution: one per competency
or trait. :func:`scale_bank` cuts out the engine bank that one adaptive section uses.

A published version also holds **what it shows** (:class:`VersionContent`): its items' stems,
options and statements in every language, its situational-judgement items' instructions, its
dimensions' names and its Likert scales' labels, as they were when it was published. A draft
shows the bank's current texts. A text change to a published version's content makes a new draft
version with the same parameters (recorded as a :class:`TextRevision` in its provenance), so a
session pinned to the published one goes on showing and scoring what it was calibrated with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_serializer, model_validator

from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.latent import LatentDistribution
from qabilet.itembank._schema import Schema
from qabilet.itembank.content import (
    LANGUAGES,
    Dimension,
    Instruction,
    Item,
    ItemText,
    Language,
    Level,
    Name,
    ResponseScale,
    Statement,
)
from qabilet.itembank.forced_choice_parameters import ForcedChoiceParameters
from qabilet.itembank.parameter_file import ParameterFile

__all__ = [
    "BankVersion",
    "CutMethod",
    "DimensionNorm",
    "ItemContent",
    "LevelNorms",
    "Linking",
    "NormSample",
    "NormSet",
    "Provenance",
    "StandardSetting",
    "StandardWords",
    "TextRevision",
    "VersionContent",
    "language_versions",
    "scale_bank",
    "show_item",
]

RecordStatus = Literal["draft", "published"]


class Linking(Schema):
    """Linking constants to the previous version's scale: θ_previous = A·θ + B.

    Attributes
    ----------
    previous_version : int
        The version linked to.
    A, B : float
        Slope and shift of the linear transformation (Kolen & Brennan 2014, ch. 6).
    method : str
        ``mean-mean``, ``mean-sigma``, ``stocking-lord``, ``haebara``, ``concurrent``, …
    anchor_items : list of str
        The common items used.
    """

    previous_version: int | None = Field(default=None, ge=1)
    A: float = Field(gt=0)
    B: float
    method: str
    anchor_items: list[str] = Field(default_factory=list)


class TextRevision(Schema):
    """One write that changed the texts of a published version, carried by a newer version.

    Attributes
    ----------
    at : datetime
        UTC.
    by : str, optional
        Who (an API caller, the operating-system user of the CLI).
    source : str, optional
        The file or request the new texts came from.
    previous_version : int, optional
        The published version whose texts were changed (it keeps showing the old ones); None
        for a change to a draft's texts.
    changes : list of str
        ``item 'ACC-S1' text.en.stem: 'old' → 'new'``, one per changed field.
    """

    at: datetime
    by: str | None = None
    source: str | None = None
    previous_version: int | None = Field(default=None, ge=1)
    changes: list[str] = Field(min_length=1)


class Provenance(Schema):
    """Where a version's parameters (and its texts) came from.

    Attributes
    ----------
    method : str
        The estimation (``MML-EM, 61 Gauss–Hermite nodes``, …).
    data_fingerprint : str, optional
        SHA-256 of the response data calibrated.
    calibrated_on : date, optional
        When.
    software_version : str
        The qabilet (or other) version that fitted.
    n_persons : int, optional
        Calibration sample size.
    linking : Linking, optional
        Constants to the previous version's scale.
    demonstration : bool
        True for values made up for demonstration (the demo bank's).
    notes : str, optional
        Free text.
    based_on : int, optional
        The version whose parameters this one carries unchanged (a version made for new texts).
    revisions : list of TextRevision
        Text changes to published versions that this version carries, oldest first.
    """

    method: str
    data_fingerprint: str | None = None
    calibrated_on: date | None = None
    software_version: str
    n_persons: int | None = Field(default=None, ge=1)
    linking: Linking | None = None
    demonstration: bool = False
    notes: str | None = None
    based_on: int | None = Field(default=None, ge=1)
    revisions: list[TextRevision] = Field(default_factory=list)


class ItemContent(Schema):
    """What a version shows of one item: its texts (stem and options), statements and instruction.

    ``instruction`` is a situational-judgement item's (None: ``best``, as for content recorded
    before items had one).
    """

    text: dict[Language, ItemText]
    statements: list[Statement] | None = None
    instruction: Instruction | None = None


def _paths(value: object, prefix: str) -> dict[str, object]:
    """A JSON value flattened to ``path → scalar`` (``text.en.options[1]``)."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items()
                for k, v in _paths(item, f"{prefix}.{key}" if prefix else str(key)).items()}
    if isinstance(value, list):
        return {k: v for n, item in enumerate(value) for k, v in _paths(item, f"{prefix}[{n}]").items()}
    return {prefix: value}


def show_item(item: Item, shown: ItemContent | None) -> Item:
    """``item`` with the texts, options and statements ``shown`` (None: the item's own)."""
    if shown is None:
        return item
    return Item.model_validate({**item.model_dump(), **shown.model_dump()})


class VersionContent(Schema):
    """The texts a bank version shows: items' texts, dimensions' names, Likert scales' labels.

    Attributes
    ----------
    items : dict
        Item id → :class:`ItemContent`, for every item the version calibrates.
    dimensions : dict
        Dimension id → :class:`~qabilet.itembank.content.Dimension` (names, descriptions), for the
        version's dimensions that the bank names.
    scales : dict
        Scale id → :class:`~qabilet.itembank.content.ResponseScale`, for the scales its Likert items use.
    """

    items: dict[str, ItemContent] = Field(default_factory=dict)
    dimensions: dict[str, Dimension] = Field(default_factory=dict)
    scales: dict[str, ResponseScale] = Field(default_factory=dict)

    @classmethod
    def of(cls, items: Iterable[Item], dimensions: Iterable[Dimension],
           scales: Mapping[str, ResponseScale]) -> VersionContent:
        """The content that ``items`` and ``dimensions`` show (with the scales the items use)."""
        items = list(items)
        used = {i.scale for i in items if i.scale is not None}
        return cls(items={i.id: ItemContent(text=i.text, statements=i.statements,
                                            instruction=i.instruction) for i in items},
                   dimensions={d.id: d for d in dimensions},
                   scales={k: v for k, v in scales.items() if k in used})

    def keys(self) -> set[tuple[str, str]]:
        """``(kind, id)`` of every record shown: kind ``item``, ``dimension`` or ``scale``."""
        return ({("item", k) for k in self.items} | {("dimension", k) for k in self.dimensions}
                | {("scale", k) for k in self.scales})

    def record(self, kind: str, key: str) -> dict[str, object] | None:
        """The shown record ``(kind, key)`` as JSON, or None when this content does not show it."""
        shown: dict[str, Mapping[str, Schema]] = {"item": self.items, "dimension": self.dimensions,
                                                  "scale": self.scales}
        found = shown[kind].get(key)
        return None if found is None else found.model_dump(mode="json", exclude_none=True)

    def changes(self, other: VersionContent,
                only: Iterable[tuple[str, str]] | None = None) -> list[str]:
        """Each field shown by both that ``other`` shows differently, as one line of text.

        Records shown by one of the two only are left out (an item added or removed is a change
        of parameters, which a diff of the versions' parameters reports).

        Examples
        --------
        >>> a = VersionContent(dimensions={"transparency": Dimension(
        ...     id="transparency", kind="competency", name={"en": "Transparancy"})})
        >>> b = VersionContent(dimensions={"transparency": Dimension(
        ...     id="transparency", kind="competency", name={"en": "Transparency"})})
        >>> a.changes(b)
        ["dimension 'transparency' name.en: 'Transparancy' → 'Transparency'"]
        """
        keys = self.keys() & other.keys() if only is None else set(only)
        out = []
        for kind, key in sorted(keys):
            old, new = self.record(kind, key), other.record(kind, key)
            if old is None or new is None or old == new:
                continue
            before, after = _paths(old, ""), _paths(new, "")
            for path in sorted(set(before) | set(after)):
                if before.get(path) != after.get(path):
                    out.append(f"{kind} {key!r} {path}: {before.get(path)!r} → {after.get(path)!r}")
        return out


class BankVersion(Schema):
    """A snapshot of item parameters with its provenance.

    Attributes
    ----------
    number : int
        1, 2, … in order of creation.
    label : str, optional
        A human name (``2026 spring recalibration``).
    status : {"draft", "published"}
        Published versions are immutable.
    created_at, published_at : datetime
        UTC.
    provenance : Provenance
    parameters : ParameterFile
        Item parameters and the latent distribution; the factor names are the dimensions
        (competencies and traits) the version measures.
    content : VersionContent, optional
        What the version shows: fixed when it is published; a draft's is the bank's current
        texts (read from the repository, ignored on import).
    pretest : list of str
        Items the version tries out unscored in live sessions: approved for it (``pretest``),
        without parameters in it. An item is **operational** in a version when the version
        calibrates it and **pretest** when it is listed here, whatever its working status
        becomes later: a session pinned to the version is given and scored as it was.
    forced_choice : ForcedChoiceParameters, optional
        The forced-choice blocks it calibrates (Thurstonian IRT: the statements' parameters and
        the traits' correlations; :mod:`qabilet.itembank.forced_choice_parameters`): each block
        an item of the bank, operational in the version like a calibrated item.
    """

    number: int = Field(ge=1)
    label: str | None = None
    status: RecordStatus = "draft"
    created_at: datetime
    published_at: datetime | None = None
    provenance: Provenance
    parameters: ParameterFile
    content: VersionContent | None = None
    pretest: list[str] = Field(default_factory=list)
    forced_choice: ForcedChoiceParameters | None = None

    @model_validator(mode="after")
    def _pretest_uncalibrated(self) -> BankVersion:
        both = sorted(set(self.pretest) & (set(self.item_ids) | set(self.block_ids)))
        if both:
            raise ValueError(f"pretest: {', '.join(both[:5])} also calibrated in the version (a "
                             f"pretest item has no parameters yet)")
        if len(set(self.pretest)) != len(self.pretest):
            raise ValueError("pretest: an item listed twice")
        if self.forced_choice is not None:
            items = set(self.item_ids)
            twice = [b for b in self.block_ids if b in items]
            if twice:
                raise ValueError(f"forced_choice.blocks: {', '.join(twice[:5])} also calibrated "
                                 f"as items")
            extra = [t for t in self.forced_choice.traits if t not in self.dimensions]
            if extra:
                raise ValueError(f"forced_choice.latent.traits: {', '.join(extra)} not dimensions "
                                 f"of the version ({', '.join(self.dimensions)})")
        return self

    def status_of(self, item_id: str) -> str | None:
        """``operational`` or ``pretest`` in this version; None for an item it does not hold."""
        if item_id in self.pretest:
            return "pretest"
        held = set(self.item_ids) | set(self.block_ids)
        return "operational" if item_id in held else None

    @field_serializer("parameters")
    def _plain_parameters(self, value: ParameterFile) -> dict[str, Any]:
        return value.model_dump(mode="json", exclude_none=True)

    @field_serializer("forced_choice")
    def _plain_blocks(self, value: ForcedChoiceParameters | None) -> dict[str, Any] | None:
        return None if value is None else value.model_dump(mode="json", by_alias=True,
                                                           exclude_none=True)

    @property
    def block_ids(self) -> tuple[str, ...]:
        """Ids of the forced-choice blocks it calibrates, in file order."""
        return self.forced_choice.block_ids if self.forced_choice is not None else ()

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The factor names of the latent distribution."""
        return tuple(self.parameters.latent.to_latent().factor_names)

    @property
    def item_ids(self) -> tuple[str, ...]:
        """Ids of the calibrated items, in file order."""
        return tuple(item.id for item in self.parameters.items)

    def shown_item(self, item: Item) -> Item:
        """``item`` with the texts, options and statements this version shows."""
        return show_item(item, self.content.items.get(item.id) if self.content else None)

    def shown_dimensions(self, current: Mapping[str, Dimension]) -> dict[str, Dimension]:
        """``current`` (the bank's dimensions by id) with the names this version shows."""
        return {**current, **(self.content.dimensions if self.content is not None else {})}


class NormSample(Schema):
    """The reference sample of a level's norms.

    Attributes
    ----------
    size : int
        Persons.
    collected_from, collected_to : date
        The period of testing.
    description : str, optional
        Who they were.
    """

    size: int = Field(ge=1)
    collected_from: date
    collected_to: date
    description: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> NormSample:
        if self.collected_to < self.collected_from:
            raise ValueError(f"collected_to: expected a date on or after collected_from "
                             f"({self.collected_from}); got {self.collected_to}")
        return self


class StandardWords(Schema):
    """The words a standard gives its three bands in one language (lowest first)."""

    development: str = Field(min_length=1, max_length=120)
    meets: str = Field(min_length=1, max_length=120)
    strength: str = Field(min_length=1, max_length=120)


class StandardSetting(Schema):
    """The judgements behind expert cut scores: how a panel set them, and how precisely.

    Attributes
    ----------
    procedure : str
        The standard-setting method: ``modified Angoff``, ``bookmark``, ``body of work``,
        ``contrasting groups`` … (Cizek & Bunch 2007).
    panel_size : int
        Panellists whose judgements the cuts average.
    held_on : date
        When the panel met.
    cut_se : dict
        Dimension → the standard errors of its lower and upper cut on the latent scale: the
        panel's between-judge SD over :math:`\\sqrt{n}` (or the procedure's own error), as the
        panel's report gives them.
    words : dict, optional
        Language → the standard's own names of the bands (``below the standard``, …). Absent: the
        report says "below / meets / above the standard for the position".
    """

    procedure: str = Field(min_length=1, max_length=200)
    panel_size: int = Field(ge=1)
    held_on: date
    cut_se: dict[Name, tuple[float, float]] = Field(default_factory=dict)
    words: dict[Language, StandardWords] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _positive_se(self) -> StandardSetting:
        for name, se in self.cut_se.items():
            if not all(np.isfinite(v) and v >= 0 for v in se):
                raise ValueError(f"cut_se.{name}: expected two non-negative standard errors; "
                                 f"got {list(se)}")
        return self


class CutMethod(Schema):
    """How a level's cut scores were set.

    The method decides what the bands mean, and so what a report calls them: percentile cuts
    compare the candidate with peers at the level ("lower than / typical of / higher than most
    peers"); expert cuts compare them with a standard ("below / meets / above the standard").

    Attributes
    ----------
    method : {"percentile", "expert"}
        ``percentile``: the cuts are the reference distribution's quantiles at ``percentiles``;
        ``expert``: values set by a standard-setting panel.
    percentiles : tuple of float, optional
        The two percentiles (0–100) of the ``percentile`` method.
    description : str
        Who set them, when, with which procedure.
    panel : StandardSetting, optional
        The ``expert`` method's panel: procedure, size, the cuts' standard errors and the
        standard's words for its bands. Only the expert method has one.
    """

    method: Literal["percentile", "expert"]
    percentiles: tuple[float, float] | None = None
    description: str
    panel: StandardSetting | None = None

    @model_validator(mode="after")
    def _check(self) -> CutMethod:
        p = self.percentiles
        if self.method == "percentile":
            if p is None or not 0 < p[0] < p[1] < 100:
                raise ValueError(f"percentiles: the percentile method needs two increasing "
                                 f"percentiles in (0, 100); got {p}")
            if self.panel is not None:
                raise ValueError("panel: percentile cuts are not set by a panel; only the "
                                 "expert method has one")
        elif p is not None:
            raise ValueError("percentiles: only the percentile method has percentiles")
        return self


class DimensionNorm(Schema):
    """A level's reference distribution of one dimension and its band edges, on the latent scale.

    Attributes
    ----------
    mean, sd : float
        The level group's θ distribution (normal).
    cuts : tuple of float
        Lower and upper band edges: development below ``cuts[0]``, strength above ``cuts[1]``.
    """

    mean: float
    sd: float = Field(gt=0)
    cuts: tuple[float, float]

    @model_validator(mode="after")
    def _ordered(self) -> DimensionNorm:
        if not self.cuts[0] < self.cuts[1]:
            raise ValueError(f"cuts: expected lower < upper; got {list(self.cuts)}")
        return self


class LevelNorms(Schema):
    """The norms of one position level.

    Attributes
    ----------
    level : str
        ``high``, ``middle`` or ``low``.
    sample : NormSample
    cut_method : CutMethod
    dimensions : dict
        Dimension id → :class:`DimensionNorm`.
    """

    level: Level
    sample: NormSample
    cut_method: CutMethod
    dimensions: dict[Name, DimensionNorm] = Field(min_length=1)

    @model_validator(mode="after")
    def _percentile_cuts(self) -> LevelNorms:
        panel = self.cut_method.panel
        unknown = sorted(set(panel.cut_se) - set(self.dimensions)) if panel else []
        if unknown:
            raise ValueError(f"cut_method.panel.cut_se: {', '.join(unknown)} has no norms at "
                             f"this level (it has {', '.join(self.dimensions)})")
        p = self.cut_method.percentiles
        if self.cut_method.method != "percentile" or p is None:
            return self
        for name, norm in self.dimensions.items():
            want = [NormalDist(norm.mean, norm.sd).inv_cdf(q / 100) for q in p]
            if not np.allclose(norm.cuts, want, rtol=0, atol=1e-6):
                raise ValueError(
                    f"dimensions.{name}.cuts: the percentile method puts the cuts at the "
                    f"{p[0]:g}th and {p[1]:g}th percentiles of N({norm.mean:g}, {norm.sd:g}²), "
                    f"{want[0]:.6f} and {want[1]:.6f}; got {list(norm.cuts)}")
        return self


class NormSet(Schema):
    """Norms and standards for one bank version, versioned on their own.

    Attributes
    ----------
    number : int
        1, 2, … across the bank.
    bank_version : int
        The version whose latent scale the norms are on.
    label : str, optional
    status : {"draft", "published"}
    demonstration : bool
        True for made-up norms (the demonstration bank's); every report shows it.
    created_at, published_at : datetime
    levels : list of LevelNorms
        At most one entry per position level.
    """

    number: int = Field(ge=1)
    bank_version: int = Field(ge=1)
    label: str | None = None
    status: RecordStatus = "draft"
    demonstration: bool = False
    created_at: datetime
    published_at: datetime | None = None
    levels: list[LevelNorms] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_per_level(self) -> NormSet:
        seen = [n.level for n in self.levels]
        if len(set(seen)) != len(seen):
            raise ValueError(f"levels: expected each position level at most once; got {seen}")
        return self

    def for_level(self, level: str) -> LevelNorms:
        """The norms of ``level``; a level without norms is an error naming the ones there are."""
        for n in self.levels:
            if n.level == level:
                return n
        raise LookupError(f"norm set {self.number} has no norms for level {level!r}; it has "
                          f"{', '.join(n.level for n in self.levels)}")


def language_versions(parameters: ParameterFile) -> dict[str, ItemBank]:
    """The whole engine bank of each language version, all under the version's one prior.

    A bank version's groups named by a language (``kk``, ``ru``, ``en``; ``qabilet calibrate
    --groups``) are its language versions: calibration freed some items in them, and the file
    gives those items the group's own parameters. An answer given in such a language is scored
    with the items as that group answers them (:meth:`ParameterFile.to_bank`); an answer in any
    other language with the top-level (reference) parameters, ``parameters.to_bank()``.

    Every bank keeps the version's top-level latent distribution, never the group's: the prior
    is the same for everyone (docs/design.md §5), so identical answers to identical items give
    identical θ in every language, and where a language group's candidates stand on average
    never enters a score.

    Returns
    -------
    dict
        Language code → bank, only for the languages with parameters of their own (usually
        none).

    Examples
    --------
    >>> pf = ParameterFile.model_validate({
    ...     "model": "2pl", "reference_group": "kk", "latent": {"mean": [0.0], "cov": [[1.0]]},
    ...     "groups": {"kk": {"mean": [0.0], "cov": [[1.0]]}, "ru": {"mean": [0.5], "cov": [[1.2]]},
    ...                "en": {"mean": [0.1], "cov": [[0.9]]}},
    ...     "items": [{"id": "Q1", "a": 1.0, "b": 0.0},
    ...               {"id": "Q2", "a": 1.3, "b": 0.2, "groups": {"ru": {"a": 1.3, "b": 0.9}}}]})
    >>> banks = language_versions(pf)
    >>> list(banks), [r["b"] for r in banks["ru"].to_records()], banks["ru"].latent.mean.tolist()
    (['ru'], [0.0, 0.9], [0.0])
    """
    own = {label for item in parameters.items for label in item.groups or {}}
    prior = parameters.latent.to_latent()
    return {language: parameters.to_bank(language).with_latent(prior)
            for language in LANGUAGES if language in own}


def scale_bank(parameters: ParameterFile | ItemBank, dimensions: Sequence[str],
               item_ids: Sequence[str] | None = None, group: str | None = None) -> ItemBank:
    """The engine bank of the items measuring ``dimensions``, on those dimensions only.

    The latent distribution is the marginal of the version's over ``dimensions`` (a normal's
    marginal is its sub-vector and sub-matrix), and each item keeps its slopes on them.

    Parameters
    ----------
    parameters : ParameterFile or ItemBank
        A bank version's parameters, or the engine bank they make (built once by the caller
        that cuts out many scales).
    dimensions : sequence of str
        Factor names of ``parameters``, in the order the bank should have them.
    item_ids : sequence of str, optional
        The items wanted (default: every item loading only on ``dimensions``).
    group : str, optional
        A group's parameters and latent distribution (per-language forms).

    Raises
    ------
    InvalidParameterError
        An unknown dimension, or an item asked for that loads on another dimension.

    Examples
    --------
    >>> pf = ParameterFile.model_validate({"model": "2pl", "latent": {
    ...     "factor_names": ["x", "y"], "mean": [0.0, 0.5], "cov": [[1.0, 0.4], [0.4, 2.0]]},
    ...     "items": [{"id": "X1", "a": [1.2, 0.0], "d": 0.3}, {"id": "Y1", "a": [0.0, 0.8], "d": -1.0}]})
    >>> bank = scale_bank(pf, ["y"])
    >>> bank.item_ids, bank.latent.mean.tolist(), bank.latent.cov.tolist()
    (('Y1',), [0.5], [[2.0]])
    """
    full = parameters if isinstance(parameters, ItemBank) else parameters.to_bank(group)
    names = list(full.latent.factor_names)
    unknown = [d for d in dimensions if d not in names]
    if unknown or not dimensions:
        raise InvalidParameterError(f"dimensions: expected some of {', '.join(names)}; got "
                                    f"{list(dimensions)}")
    keep = np.array([names.index(d) for d in dimensions], dtype=np.intp)
    others = np.setdiff1d(np.arange(len(names)), keep)
    loads_elsewhere = (full.slopes[:, others] != 0).any(axis=1)
    if item_ids is None:
        index = np.flatnonzero(~loads_elsewhere)
    else:
        index = full.index_of(list(item_ids))
        bad = [full.item_ids[i] for i in index if loads_elsewhere[i]]
        if bad:
            raise InvalidParameterError(
                f"items {', '.join(map(repr, bad))} load on dimensions outside "
                f"{', '.join(dimensions)}")
    latent = full.latent
    marginal = LatentDistribution(latent.mean[keep], latent.cov[np.ix_(keep, keep)],
                                  [names[k] for k in keep])
    if len(names) == 1:
        return full.subset(index).with_latent(marginal)
    records = []
    for rec in full.subset(index).to_records():
        a = np.asarray(rec["a"], dtype=float)[keep]
        records.append({**rec, "a": float(a[0]) if keep.size == 1 else a.tolist()})
    return ItemBank.from_records(records, latent=marginal)
