"""The content of an item bank: items, what they measure, response scales, recommendation texts.

Pydantic schemas, validated at every edge (files, the database, HTTP). They hold what authors write
(texts in Kazakh, Russian and English, the competency or trait an item is meant for, the position
levels, the response format); calibrated parameters live in bank versions
(:mod:`qabilet.itembank.versions`).

Preference items — Likert statements, situational judgement, forced-choice blocks — have no key:
nothing here marks an answer right or wrong (docs/design.md §5). A situational-judgement item may carry
expert *orientation* metadata (which option shows the competency most), which calibration uses
only to fix the sign of the scale.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, TypeGuard

from pydantic import Field, StringConstraints, field_validator, model_validator

from qabilet.itembank._schema import Schema

__all__ = [
    "BANDS",
    "COMPETENCIES",
    "DEFAULT_MODELS",
    "FORMATS",
    "BLOCK_INSTRUCTIONS",
    "INSTRUCTIONS",
    "LANGUAGES",
    "LEVELS",
    "STATUSES",
    "Dimension",
    "Item",
    "ItemText",
    "LocalizedText",
    "Orientation",
    "Recommendation",
    "ResponseScale",
    "Statement",
    "advice_for",
    "choice_changes",
    "is_language",
    "is_level",
    "label_changes",
]

Language = Literal["kk", "ru", "en"]
Level = Literal["high", "middle", "low"]
Status = Literal["draft", "in_review", "pretest", "operational", "retired"]
Band = Literal["development", "meets", "strength"]
Instruction = Literal["best", "would_do"]

#: interface and content languages, in the order a session falls back through them
LANGUAGES: tuple[Language, ...] = ("kk", "ru", "en")
#: position levels of the attestation (docs/design.md §1)
LEVELS: tuple[Level, ...] = ("high", "middle", "low")
#: the four competencies of the attestation (docs/design.md §1)
COMPETENCIES = ("service_to_public", "transparency", "accountability", "effectiveness")
#: response formats
FORMATS = ("dichotomous", "likert", "sjt", "forced_choice")
#: an item's life: authored, reviewed, approved for trying out unscored in live sessions, scored,
#: withdrawn (the moves allowed: :data:`qabilet.itembank.review.MOVES`)
STATUSES: tuple[Status, ...] = ("draft", "in_review", "pretest", "operational", "retired")
#: the IRT model an item of each format is calibrated with unless it names another
DEFAULT_MODELS = {"dichotomous": "2pl", "likert": "grm", "sjt": "nominal"}
#: profile bands, lowest first
BANDS: tuple[Band, ...] = ("development", "meets", "strength")
#: what a situational-judgement item asks, as a candidate reads it above the options: ``best``
#: the seeds' wording of the attestation's preference questions ("дұрыс не бұрыс деп емес,
#: қызметкер өзі жөн деп тапқан нұсқаны таңдайтын сауалдар"; docs/design.md §1), the default;
#: ``would_do`` a behavioural tendency ("what would you do"), the wording more open to faking
#: (McDaniel, Hartman, Whetzel & Grubb 2007)
INSTRUCTIONS: dict[Instruction, dict[Language, str]] = {
    "best": {"kk": "Дұрыс немесе бұрыс жауап жоқ: өзіңіз жөн деп тапқан нұсқаны таңдаңыз.",
             "ru": "Правильных и неправильных ответов нет: выберите вариант, который вы сами "
                   "считаете наилучшим.",
             "en": "There is no right or wrong answer: choose the option you yourself find best."},
    "would_do": {"kk": "Бұл жағдайда сіз не істер едіңіз?",
                 "ru": "Как бы вы поступили в этой ситуации?",
                 "en": "What would you do in this situation?"},
}
#: what a forced-choice block asks, as a candidate reads it above its statements, by how it is
#: answered (:attr:`Item.answer_mode`); like every preference question, without right or wrong
BLOCK_INSTRUCTIONS: dict[str, dict[Language, str]] = {
    "rank": {"kk": "Дұрыс немесе бұрыс жауап жоқ. Тұжырымдарды ретке келтіріңіз: ең жоғарыға сізге "
                   "ең көп сәйкес келетінін, ең төменге ең аз сәйкес келетінін қойыңыз.",
             "ru": "Правильных и неправильных ответов нет. Расположите утверждения по порядку: "
                   "вверху — то, что больше всего похоже на вас, внизу — то, что меньше всего.",
             "en": "There is no right or wrong answer. Put the statements in order: the one most "
                   "like you at the top, the one least like you at the bottom."},
    "most_least": {"kk": "Дұрыс немесе бұрыс жауап жоқ. Сізге ең көп сәйкес келетін бір тұжырымды "
                         "және ең аз сәйкес келетін бір тұжырымды таңдаңыз.",
                   "ru": "Правильных и неправильных ответов нет. Выберите одно утверждение, "
                         "которое больше всего похоже на вас, и одно — которое меньше всего.",
                   "en": "There is no right or wrong answer. Choose the one statement most like "
                         "you and the one least like you."},
}
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=64)]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]


def is_language(value: object) -> TypeGuard[Language]:
    """True when ``value`` is one of :data:`LANGUAGES` (and, for a type checker, a ``Language``)."""
    return value in LANGUAGES


def is_level(value: object) -> TypeGuard[Level]:
    """True when ``value`` is one of :data:`LEVELS` (and, for a type checker, a ``Level``)."""
    return value in LEVELS


def _check_languages(texts: Mapping[Language, object], where: str) -> None:
    if not texts:
        raise ValueError(f"{where}: expected a text in at least one of {', '.join(LANGUAGES)}")


class ItemText(Schema):
    """An item's text in one language.

    Attributes
    ----------
    stem : str
        The statement, scenario or question.
    options : list of str, optional
        The answer options of a situational-judgement or dichotomous item, in the order of their
        categories 0 … K−1. Likert items take their labels from their response scale.
    """

    stem: Text
    options: list[Text] | None = None


class Orientation(Schema):
    """Expert metadata of a situational-judgement item: which option shows the competency most.

    It orients the sign of the calibrated scale (docs/design.md §5); it never marks an answer right.

    Attributes
    ----------
    most_indicative : int
        0-based option showing the competency most, in the experts' view.
    least_indicative : int, optional
        0-based option showing it least.
    source : str, optional
        How the judgement was made (panel, date).
    """

    most_indicative: int = Field(ge=0)
    least_indicative: int | None = Field(default=None, ge=0)
    source: str | None = None

    @model_validator(mode="after")
    def _distinct(self) -> Orientation:
        if self.least_indicative == self.most_indicative:
            raise ValueError("least_indicative: expected an option other than most_indicative")
        return self


class Statement(Schema):
    """One statement of a forced-choice block, keyed to a dimension and a direction.

    Attributes
    ----------
    id : str
        The statement's id, unique in the bank: what an answer names (``FC-SRV-01``) and what a
        forced-choice parameter file's statements are matched by. Left out, the block's item
        fills it in as ``{item id}-{1, 2, …}`` (:class:`Item`).
    dimension : str
        The competency or trait the statement indicates.
    direction : {1, -1}
        1 when choosing the statement indicates more of the dimension (the sign its loading
        starts with in calibration; ``keyed`` in a forced-choice design file).
    desirability : float, optional
        How socially desirable it is to say this about oneself in an attestation, rated 1–5:
        what blocks are matched on, so that no statement of a block is the obvious one to
        choose when faking (Brown & Maydeu-Olivares 2011).
    text : dict
        Language → the statement.
    """

    id: Identifier | None = None
    dimension: Name
    direction: Literal[1, -1] = 1
    desirability: float | None = Field(default=None, ge=1, le=5, allow_inf_nan=False)
    text: dict[Language, Text]

    @model_validator(mode="after")
    def _some_text(self) -> Statement:
        _check_languages(self.text, "text")
        return self


class LocalizedText(Schema):
    """An item's text as a session shows it: the language used and whether it fell back.

    ``instruction`` is a situational-judgement item's instruction (:data:`INSTRUCTIONS`) or a
    forced-choice block's (:data:`BLOCK_INSTRUCTIONS`) in the requested language — the wording
    is the bank's, so it never falls back (None for other formats). ``statements`` are a block's
    statements as (id, text), in the order shown; ``answer_mode`` how it is answered.
    """

    language: Language
    requested: Language
    stem: str
    options: list[str] | None
    instruction: str | None = None
    statements: list[tuple[str, str]] | None = None
    answer_mode: Literal["rank", "most_least"] | None = None

    @property
    def fell_back(self) -> bool:
        """True when the item has no text in the requested language."""
        return self.language != self.requested

    @property
    def characters(self) -> int:
        """The characters a candidate reads: stem, options and instruction.

        Reading-time rules (the fast-answer check) scale with it.
        """
        return (len(self.stem) + sum(len(o) for o in self.options or [])
                + sum(len(t) for _, t in self.statements or []) + len(self.instruction or ""))


class Item(Schema):
    """One item of the bank, as authors write it.

    Attributes
    ----------
    id : str
        Stable id, the item's column name in response files.
    competency : str, optional
        One of :data:`COMPETENCIES`, for competency items.
    trait : str, optional
        A named personal quality (``stress_resilience``, …), for personal-profile items. Exactly
        one of ``competency`` and ``trait``, except for forced-choice blocks, whose statements
        carry their dimensions.
    levels : list of str
        The position levels the item is meant for (:data:`LEVELS`).
    format : str
        ``dichotomous`` (keyed, with ``key``), ``likert`` (with ``scale`` and ``direction``),
        ``sjt`` (3–5 options, optional ``orientation`` and ``instruction``) or ``forced_choice``
        (2–4 ``statements``).
    text : dict
        Language (``kk``, ``ru``, ``en``) → :class:`ItemText`; at least one.
    scale : str, optional
        Likert items: the id of the bank's :class:`ResponseScale`.
    direction : {1, -1}, optional
        Likert items: −1 for a reverse-keyed statement (agreeing shows less of the dimension).
    key : int, optional
        Dichotomous items: the 0-based option scored 1.
    orientation : Orientation, optional
        Situational-judgement items: expert metadata.
    instruction : {"best", "would_do"}, optional
        Situational-judgement items: what the candidate is asked above the options
        (:data:`INSTRUCTIONS`); absent means ``best``, the seeds' wording (read it as
        :attr:`shown_instruction`).
    statements : list of Statement, optional
        Forced-choice blocks: their 2–4 statements in the order they are shown, each on another
        dimension, ids distinct.
    answer_mode : {"rank", "most_least"}, optional
        Forced-choice blocks: how the candidate answers — ``rank`` orders every statement (the
        default), ``most_least`` picks the one most and the one least like them (a block of
        four: five of its six comparisons; for fewer statements it is a full ranking, so such
        blocks are ranked).
    model : str, optional
        The IRT model the item is to be calibrated with (``2pl``, ``3pl``, ``grm``, ``gpcm``,
        ``nominal``); absent: :data:`DEFAULT_MODELS` of its format. A new item carries it from
        its draft, before it has any parameters.
    status : str
        The bank's working status: ``draft`` → ``in_review`` → ``pretest`` (approved for trying
        out) → ``operational`` → ``retired`` (:mod:`qabilet.itembank.review`). What a bank version
        scores and seeds is the version's own record (:attr:`BankVersion.pretest`), not this.
    enemy_sets : list of str
        Items sharing an enemy set never appear in one test.
    tags : list of str
        Free labels (``complaint``, ``citizen_contact``, …).
    """

    id: Identifier
    competency: Literal["service_to_public", "transparency", "accountability", "effectiveness"] | None = None
    trait: Name | None = None
    levels: list[Level] = Field(min_length=1)
    format: Literal["dichotomous", "likert", "sjt", "forced_choice"]
    text: dict[Language, ItemText]
    scale: Name | None = None
    direction: Literal[1, -1] | None = None
    key: int | None = Field(default=None, ge=0)
    orientation: Orientation | None = None
    instruction: Instruction | None = None
    statements: list[Statement] | None = None
    answer_mode: Literal["rank", "most_least"] | None = None
    model: Literal["2pl", "3pl", "grm", "gpcm", "nominal"] | None = None
    status: Status = "draft"
    enemy_sets: list[Identifier] = Field(default_factory=list)
    tags: list[Name] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _statement_ids(cls, data: Any) -> Any:
        """Number a block's statements that have no id: ``{item id}-1``, ``-2``, …."""
        if not isinstance(data, dict) or not isinstance(data.get("statements"), list):
            return data
        if all(not isinstance(st, dict) or st.get("id") is not None for st in data["statements"]):
            return data
        statements = [{**st, "id": f"{data.get('id')}-{j + 1}"}
                      if isinstance(st, dict) and st.get("id") is None else st
                      for j, st in enumerate(data["statements"])]
        return {**data, "statements": statements}

    @model_validator(mode="after")
    def _check_format(self) -> Item:
        _check_languages(self.text, "text")
        if len(set(self.levels)) != len(self.levels):
            raise ValueError(f"levels: expected each level once; got {self.levels}")
        rules = {"dichotomous": self._dichotomous, "likert": self._likert, "sjt": self._sjt,
                 "forced_choice": self._forced_choice}
        rules[self.format]()
        return self

    # -- the rules of each format ----------------------------------------------------------------
    def _measured(self) -> None:
        if (self.competency is None) == (self.trait is None):
            raise ValueError("competency, trait: expected exactly one of the two (what the item "
                             "measures)")

    def _absent(self, *fields: str) -> None:
        for name in fields:
            if getattr(self, name) is not None:
                raise ValueError(f"{name}: a {self.format} item has no {name}")

    def _options(self, low: int, high: int) -> int:
        counts = {lang: len(t.options or []) for lang, t in self.text.items()}
        for lang, n in counts.items():
            if not low <= n <= high:
                raise ValueError(f"text.{lang}.options: a {self.format} item has {low}–{high} "
                                 f"options; got {n}")
        if len(set(counts.values())) > 1:
            raise ValueError(f"text: expected the same number of options in every language; got "
                             f"{counts}")
        return next(iter(counts.values()))

    def _dichotomous(self) -> None:
        self._measured()
        self._absent("scale", "direction", "orientation", "instruction", "statements",
                     "answer_mode")
        n = self._options(2, 6)
        if self.key is None or self.key >= n:
            raise ValueError(f"key: a dichotomous item needs the 0-based option scored 1, below "
                             f"{n}; got {self.key}")

    def _likert(self) -> None:
        self._measured()
        self._absent("key", "orientation", "instruction", "statements", "answer_mode")
        if self.scale is None:
            raise ValueError("scale: a likert item names its response scale")
        for lang, t in self.text.items():
            if t.options is not None:
                raise ValueError(f"text.{lang}.options: a likert item takes its labels from its "
                                 f"scale ({self.scale!r}), not options of its own")

    def _sjt(self) -> None:
        self._measured()
        self._absent("scale", "direction", "key", "statements", "answer_mode")
        n = self._options(3, 5)
        o = self.orientation
        if o is not None:
            for name in ("most_indicative", "least_indicative"):
                k = getattr(o, name)
                if k is not None and k >= n:
                    raise ValueError(f"orientation.{name}: expected an option index below {n}; "
                                     f"got {k}")

    def _forced_choice(self) -> None:
        self._absent("competency", "trait", "scale", "direction", "key", "orientation",
                     "instruction")
        s = self.statements or []
        if not 2 <= len(s) <= 4:
            raise ValueError(f"statements: a forced-choice block has 2–4 statements; got {len(s)}")
        for name in ("id", "dimension"):
            values = [getattr(st, name) for st in s]
            twice = next((v for j, v in enumerate(values) if v in values[:j]), None)
            if twice is not None:
                raise ValueError(f"statements: each statement of a block has its own {name}; "
                                 f"{twice!r} twice")
        if self.answer_mode == "most_least" and len(s) < 4:
            raise ValueError(f"answer_mode: most_least is for blocks of four (of {len(s)} "
                             f"statements it is a full ranking: use rank)")
        for j, st in enumerate(s):
            missing = sorted(set(self.text) - set(st.text))
            if missing:
                raise ValueError(f"statements[{j}].text: expected the block's languages; missing "
                                 f"{', '.join(missing)}")
        for lang, t in self.text.items():
            if t.options is not None:
                raise ValueError(f"text.{lang}.options: a forced-choice block's options are its "
                                 f"statements")

    # -- reading -----------------------------------------------------------------------------------
    def n_choices(self, scales: Mapping[str, ResponseScale]) -> int | None:
        """How many options or scale points the candidate chooses among (the answer codes).

        None for a forced-choice block, or a Likert item whose scale is not in ``scales``.
        """
        if self.format == "likert":
            scale = scales.get(self.scale or "")
            return None if scale is None else scale.n_categories
        if self.format == "forced_choice":
            return None
        return len(next(iter(self.text.values())).options or [])

    @property
    def calibration_model(self) -> str | None:
        """The model the item is calibrated with: its own, or its format's default (None: blocks)."""
        return self.model or DEFAULT_MODELS.get(self.format)

    @property
    def dimension(self) -> str | None:
        """What the item measures: its competency or trait (None for a forced-choice block)."""
        return self.competency or self.trait

    @property
    def shown_instruction(self) -> Instruction | None:
        """A situational-judgement item's instruction, ``best`` when it has none; None otherwise."""
        if self.format != "sjt":
            return None
        return self.instruction or "best"

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages the item has text in, in :data:`LANGUAGES` order."""
        return tuple(lang for lang in LANGUAGES if lang in self.text)

    def text_in(self, language: str, fallback: tuple[Language, ...] = LANGUAGES) -> LocalizedText:
        """The item's text in ``language``, or in the first of ``fallback`` it has.

        Examples
        --------
        >>> item = Item(id="Q1", competency="transparency", levels=["low"], format="likert",
        ...             scale="agreement5", direction=1, text={"ru": {"stem": "Я отвечаю."}})
        >>> shown = item.text_in("kk")
        >>> shown.language, shown.fell_back
        ('ru', True)

        A situational-judgement item's instruction is in the language asked for:

        >>> sjt = Item(id="S1", competency="transparency", levels=["low"], format="sjt",
        ...            text={"ru": {"stem": "Гражданин просит документ.", "options": ["a", "b", "c"]}})
        >>> sjt.text_in("en").instruction
        'There is no right or wrong answer: choose the option you yourself find best.'
        """
        if not is_language(language):
            raise ValueError(f"language: expected one of {', '.join(LANGUAGES)}; got {language!r}")
        for lang in (language, *fallback):
            if lang in self.text:
                t = self.text[lang]
                if self.format == "forced_choice":
                    mode = self.answer_mode or "rank"
                    return LocalizedText(
                        language=lang, requested=language, stem=t.stem, options=None,
                        instruction=BLOCK_INSTRUCTIONS[mode][language], answer_mode=mode,
                        statements=[(st.id or "", st.text[lang]) for st in self.statements or []])
                asked = self.shown_instruction
                return LocalizedText(language=lang, requested=language, stem=t.stem,
                                     options=t.options,
                                     instruction=None if asked is None else INSTRUCTIONS[asked][language])
        raise AssertionError("unreachable: an item has text in at least one language")


class ResponseScale(Schema):
    """The labelled categories of Likert items, per language (categories 0 … K−1).

    Attributes
    ----------
    id : str
        Name that Likert items refer to (``agreement5``).
    labels : dict
        Language → one label per category, lowest first; the same count in every language.
    """

    id: Name
    labels: dict[Language, list[Text]]

    @model_validator(mode="after")
    def _check(self) -> ResponseScale:
        _check_languages(self.labels, "labels")
        counts = {lang: len(v) for lang, v in self.labels.items()}
        if min(counts.values()) < 2 or len(set(counts.values())) > 1:
            raise ValueError(f"labels: expected the same number (≥ 2) of labels in every language; "
                             f"got {counts}")
        return self

    @property
    def n_categories(self) -> int:
        """Number of categories."""
        return len(next(iter(self.labels.values())))


class Dimension(Schema):
    """A competency or personal quality that items measure, with its names.

    Attributes
    ----------
    id : str
        A competency of :data:`COMPETENCIES`, or a trait name.
    kind : {"competency", "trait"}
        Professional profile (competency) or personal profile (trait).
    name, description : dict
        Language → text.
    """

    id: Name
    kind: Literal["competency", "trait"]
    name: dict[Language, Text]
    description: dict[Language, Text] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Dimension:
        _check_languages(self.name, "name")
        if self.kind == "competency" and self.id not in COMPETENCIES:
            raise ValueError(f"id: a competency is one of {', '.join(COMPETENCIES)}; got {self.id!r}")
        return self


class Recommendation(Schema):
    """A development recommendation: the text a profile shows for one dimension and band.

    Attributes
    ----------
    target : str
        The competency or trait.
    band : {"development", "meets", "strength"}
        The profile band the text is for.
    text : dict
        Language → 2–4 sentences tied to the behaviours the dimension covers.
    direction : dict, optional
        Language → one sentence saying in which direction to develop (for a strength: how to use
        and pass it on; for the middle band: the next step).
    levels : tuple of str, optional
        The position levels the text is for (sorted, each once); None: every level. A profile
        takes the most specific text of its level (:meth:`scope` and :func:`advice_for`).
    """

    target: Name
    band: Band
    text: dict[Language, Text]
    direction: dict[Language, Text] = Field(default_factory=dict)
    levels: tuple[Level, ...] | None = None

    @field_validator("levels")
    @classmethod
    def _levels_in_order(cls, value: tuple[Level, ...] | None) -> tuple[Level, ...] | None:
        if value is not None and (not value or len(set(value)) != len(value)):
            raise ValueError(f"expected distinct levels, or null for every level; got {list(value)}")
        return None if value is None else tuple(lv for lv in LEVELS if lv in value)

    @model_validator(mode="after")
    def _check(self) -> Recommendation:
        _check_languages(self.text, "text")
        return self

    @property
    def scope(self) -> str:
        """The levels as stored: ``"high,middle"``; ``""`` for every level."""
        return ",".join(self.levels or ())


def advice_for(recommendations: Iterable[Recommendation], target: str, band: str, level: str
               ) -> Recommendation | None:
    """The recommendation a profile at ``level`` shows for ``target`` in ``band``.

    Among the texts for that target and band that cover the level, the one written for the fewest
    levels (a text for the level alone before one for two levels, before one for every level);
    ties go to the first scope in alphabetical order. None when no text covers the level.

    Examples
    --------
    >>> general = Recommendation(target="integrity", band="meets", text={"en": "All."})
    >>> senior = Recommendation(target="integrity", band="meets", text={"en": "Lead."},
    ...                         levels=["high"])
    >>> [advice_for([general, senior], "integrity", "meets", lv).text["en"] for lv in LEVELS]
    ['Lead.', 'All.', 'All.']
    """
    fits = [r for r in recommendations if r.target == target and r.band == band
            and (r.levels is None or level in r.levels)]
    fits.sort(key=lambda r: (len(r.levels) if r.levels else len(LEVELS) + 1, r.scope))
    return fits[0] if fits else None


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _moved(old: list[str], new: list[str]) -> str | None:
    """How ``new`` reorders, adds or removes the entries of ``old`` (None: it keeps them in place).

    A reworded entry keeps its place; an entry found at another position has moved.
    """
    if len(old) != len(new):
        return f"{len(old)} entries before, {len(new)} now"
    moves = [f"{i} → {j}" for j, text in enumerate(new) for i, was in enumerate(old)
             if i != j and _same(text, was) and not _same(text, old[j])]
    return f"moved ({', '.join(moves)})" if moves else None


def _choices(item: Item) -> dict[str, list[str]]:
    """Language → the item's categories in order: its options, or a block's statements."""
    if item.format == "forced_choice":
        return {lang: [st.text.get(lang, "") for st in item.statements or []] for lang in item.text}
    return {lang: list(t.options or []) for lang, t in item.text.items()}


def choice_changes(old: Item, new: Item) -> list[tuple[str, str]]:
    """What in ``new`` changes the meaning of ``old``'s answer categories: (field, what changed).

    An item's calibrated parameters belong to its categories 0 … K−1 — a situational item's
    options in their order, a forced-choice block's statements, a Likert item's scale, a keyed
    item's key, and the format itself. A change of any of these detaches the parameters from what
    candidates choose; rewording an option in its place does not.

    Examples
    --------
    >>> sjt = Item(id="S1", competency="transparency", levels=["low"], format="sjt",
    ...            text={"en": {"stem": "What do you do?", "options": ["Ask", "Wait", "Tell"]}})
    >>> reversed_ = Item.model_validate({**sjt.model_dump(),
    ...     "text": {"en": {"stem": "What do you do?", "options": ["Tell", "Wait", "Ask"]}}})
    >>> choice_changes(sjt, reversed_)
    [('text.en.options', 'moved (2 → 0, 0 → 2)')]
    """
    out = [(name, f"{getattr(old, name)} → {getattr(new, name)}")
           for name in ("format", "scale", "key") if getattr(old, name) != getattr(new, name)]
    if out:
        return out
    where = "statements" if old.format == "forced_choice" else "options"
    before, after = _choices(old), _choices(new)
    for lang in [lang for lang in LANGUAGES if lang in before and lang in after]:
        moved = _moved(before[lang], after[lang])
        if moved is not None:
            out.append((f"text.{lang}.{where}" if where == "options" else f"{where}.text.{lang}",
                        moved))
    if not out and len(next(iter(before.values()))) != len(next(iter(after.values()))):
        out.append((where, f"{len(next(iter(before.values())))} before, "
                           f"{len(next(iter(after.values())))} now"))
    return out


def label_changes(old: ResponseScale, new: ResponseScale) -> list[tuple[str, str]]:
    """Where ``new`` reorders, adds or removes ``old``'s labels (the categories of Likert items).

    Examples
    --------
    >>> old = ResponseScale(id="agree3", labels={"en": ["No", "Maybe", "Yes"]})
    >>> label_changes(old, ResponseScale(id="agree3", labels={"en": ["No", "Yes"]}))
    [('labels.en', '3 entries before, 2 now')]
    """
    out = []
    for lang in [lang for lang in LANGUAGES if lang in old.labels and lang in new.labels]:
        moved = _moved(old.labels[lang], new.labels[lang])
        if moved is not None:
            out.append((f"labels.{lang}", moved))
    if not out and old.n_categories != new.n_categories:
        out.append(("labels", f"{old.n_categories} before, {new.n_categories} now"))
    return out
