"""Blueprints per position level: the sections of a test and the adaptive rules of each.

A test at one position level is a sequence of **sections**. Each section measures one dimension
or a few (up to four, the engine's limit for several factors) with the rules of an
:class:`qabilet.engine.cat.Blueprint` — selection, exposure, content, stopping — written as the engine's
JSON mapping. A stored blueprint names the bank version it targets and is validated as a whole
against it (:func:`check_against`); storing a changed blueprint makes a new number for the level.

A section may instead give **forced-choice blocks** (:class:`BlockRules`): a fixed form of
blocks in order, or blocks chosen adaptively by the exact block information, scored together on
the section's dimensions by the Thurstonian model of the bank version.

A blueprint may also seed **pretest items** (:class:`PretestSeeding`): new items that its bank
version tries out, given to every session at positions drawn per session, unscored — their
answers go to the responses table for calibration
(:func:`qabilet.delivery.session_state.pretest_positions`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from qabilet.engine.cat import Blueprint
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.itembank._schema import Schema
from qabilet.itembank.content import Identifier, Item, Level, Name
from qabilet.itembank.versions import BankVersion, scale_bank

__all__ = ["BlockRules", "BlueprintSection", "PretestSeeding", "StoredBlueprint", "check_against",
           "section_blocks", "section_items"]


class BlockRules(Schema):
    """How a section gives forced-choice blocks.

    Attributes
    ----------
    form : list of str, optional
        A fixed form: these blocks, in this order (an assembled form,
        :func:`qabilet.engine.forced_choice_forms.assemble_form`).
    length : int, optional
        Adaptive: how many blocks a test gives, chosen one by one by ``criterion`` at the
        traits' current estimate (:func:`qabilet.engine.forced_choice_cat.select_blocks`).
        Exactly one of ``form`` and ``length``.
    pool : list of str, optional
        Adaptive: the blocks to choose from; default every block the version calibrates that is
        meant for the level and measures only the section's dimensions.
    criterion : {"D", "A"}
        D-optimality (the log-determinant of the posterior information) or A-optimality (its
        inverse's trace).
    randomesque : int
        Adaptive: the next block is drawn among the ``randomesque`` best (Kingsbury & Zara
        1989), from the session's seed, so that candidates of one standing do not all meet the
        same blocks; 1: always the best. A block is never given when one of its statements was
        shown already.
    admit : dict, optional
        Adaptive: Sympson–Hetter admission probabilities per block (in (0, 1]; a block left
        out: 1), which hold the blocks' exposure near a target — derive them for the pool, the
        test's length and the population by simulation with
        :func:`qabilet.engine.forced_choice_cat.block_exposure`. The blocks are considered in
        the criterion's order, each given with its probability, else left out for the rest
        of the test. Instead of ``randomesque``.
    """

    form: list[Identifier] | None = Field(default=None, min_length=1, max_length=200)
    length: int | None = Field(default=None, ge=1, le=200)
    pool: list[Identifier] | None = Field(default=None, min_length=1, max_length=2000)
    criterion: Literal["D", "A"] = "D"
    randomesque: int = Field(default=1, ge=1, le=20)
    admit: dict[Identifier, Annotated[float, Field(gt=0, le=1)]] | None = None

    @model_validator(mode="after")
    def _form_or_length(self) -> BlockRules:
        if (self.form is None) == (self.length is None):
            raise ValueError("form, length: expected exactly one (a fixed form, or the length of "
                             "an adaptive test)")
        if self.form is not None and self.pool is not None:
            raise ValueError("pool: a fixed form has no pool (its blocks are the form)")
        if self.admit is not None and (self.form is not None or self.randomesque > 1):
            raise ValueError("admit: Sympson–Hetter admission is for adaptive blocks, instead of "
                             "randomesque (leave it at 1)")
        for name in ("form", "pool"):
            ids = getattr(self, name) or []
            twice = next((b for k, b in enumerate(ids) if b in ids[:k]), None)
            if twice is not None:
                raise ValueError(f"{name}: block {twice!r} listed twice")
        return self

    @property
    def n_blocks(self) -> int:
        """The blocks a test gives."""
        return len(self.form) if self.form is not None else int(self.length or 0)


class BlueprintSection(Schema):
    """One section of a test.

    Attributes
    ----------
    name : str
        ``professional``, ``personal``, ``service_to_public``, …
    dimensions : list of str
        The dimensions the section measures (1–4), factor names of the bank version.
    rules : dict
        The engine's blueprint mapping (:meth:`qabilet.engine.cat.Blueprint.to_dict` fields); ``items``
        defaults to every operational item of the section's dimensions meant for the level.
    blocks : BlockRules, optional
        A forced-choice section: it gives blocks, not items (``rules`` then stays empty), and
        may measure any number of the version's dimensions — those of its blocks' statements.
    interleave : str, optional
        An interleave group. Consecutive sections of one group are given **in turn** rather than
        one after the other: the next item comes from the group's unfinished section with the
        fewest items taken, ties broken in an order drawn per session and test position
        (:func:`qabilet.delivery.session_state.derive`). Each section keeps its own rules,
        estimate and stopping; only the order the candidate meets their items changes, so that
        no dimension comes as a block in a fixed place. None (the default): on its own.
    """

    name: Name
    dimensions: list[Name] = Field(min_length=1, max_length=64)
    rules: dict[str, Any] = Field(default_factory=dict)
    blocks: BlockRules | None = None
    interleave: Name | None = None

    @model_validator(mode="after")
    def _engine_rules(self) -> BlueprintSection:
        if len(set(self.dimensions)) != len(self.dimensions):
            raise ValueError(f"dimensions: expected each once; got {self.dimensions}")
        if self.blocks is not None:
            if self.rules:
                raise ValueError("rules: a forced-choice section's rules are its blocks'; "
                                 f"got {', '.join(self.rules)}")
            return self
        if len(self.dimensions) > 4:
            raise ValueError(f"dimensions: a section of items measures 1–4 dimensions (the "
                             f"engine's limit for several factors); got {len(self.dimensions)}")
        try:
            Blueprint.from_dict(self.rules)
        except InvalidParameterError as exc:
            raise ValueError(f"rules: {str(exc).removeprefix('blueprint: ')}") from None
        return self

    def blueprint(self, eligible: list[str]) -> Blueprint:
        """The engine blueprint, its ``items`` defaulting to ``eligible``."""
        rules = dict(self.rules)
        if rules.get("items") is None:
            rules["items"] = eligible
        return Blueprint.from_dict(rules)


class PretestSeeding(Schema):
    """New items tried out in a blueprint's sessions, unscored, for their calibration.

    Attributes
    ----------
    items : list of str
        The pool: items the bank version tries out (its ``pretest`` list), meant for the level,
        in no section.
    per_session : int
        How many of the pool each session gets, chosen at random among those it has not had,
        each at a position drawn per session — never the first item, never two in a row — among
        the first :math:`L_{\\min} + m - 1` positions of the test (:math:`L_{\\min}` the
        sections' minimum lengths added up, :math:`m` = ``per_session``), where no section may
        stop yet: every session gets all :math:`m` (it needs :math:`L_{\\min} > m`).
    """

    items: list[Identifier] = Field(min_length=1, max_length=1000)
    per_session: int = Field(ge=1, le=50)

    @model_validator(mode="after")
    def _distinct(self) -> PretestSeeding:
        if len(set(self.items)) != len(self.items):
            raise ValueError("items: an item listed twice")
        if self.per_session > len(self.items):
            raise ValueError(f"per_session: {self.per_session} from a pool of {len(self.items)}")
        return self


class StoredBlueprint(Schema):
    """The blueprint of one position level, as stored.

    Attributes
    ----------
    level : str
        ``high``, ``middle`` or ``low``.
    number : int
        1, 2, … per level.
    bank_version : int
        The version it was validated against.
    label : str, optional
    created_at : datetime
    sections : list of BlueprintSection
        In the order a session runs them; names unique.
    pretest : PretestSeeding, optional
        Pretest items every session is given, unscored.
    """

    level: Level
    number: int = Field(ge=1)
    bank_version: int = Field(ge=1)
    label: str | None = None
    created_at: datetime
    sections: list[BlueprintSection] = Field(min_length=1)
    pretest: PretestSeeding | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> StoredBlueprint:
        names = [s.name for s in self.sections]
        if len(set(names)) != len(names):
            raise ValueError(f"sections: expected distinct names; got {names}")
        groups = [s.interleave for s in self.sections]
        for k, group in enumerate(groups):
            if group is not None and group in groups[:k] and groups[k - 1] != group:
                raise ValueError(f"sections[{k}].interleave: the sections of group {group!r} "
                                 f"must be consecutive")
        return self


def section_items(section: BlueprintSection, level: str, items: dict[str, Item],
                  version: BankVersion) -> list[str]:
    """The section's default items: operational in ``version`` (calibrated by it), for ``level``.

    The version decides, not the items' working status: an item retired since the version was
    published is still given by sessions pinned to it.
    """
    dims = set(section.dimensions)
    return [i for i in version.item_ids if i in items
            and items[i].dimension in dims and level in items[i].levels]


def section_blocks(section: BlueprintSection, level: str, items: dict[str, Item],
                   version: BankVersion) -> list[str]:
    """A forced-choice section's blocks: its form, its pool, or by default its version's.

    By default: every block ``version`` calibrates that is meant for ``level`` and measures only
    the section's dimensions.
    """
    rules = section.blocks
    if rules is not None and (rules.form or rules.pool):
        return list(rules.form or rules.pool or ())
    dims = set(section.dimensions)
    return [b for b in version.block_ids if b in items and level in items[b].levels
            and {st.dimension for st in items[b].statements or []} <= dims]


def _check_block_section(where: str, section: BlueprintSection, level: str, version: BankVersion,
                         items: dict[str, Item], seen: dict[str, str]) -> None:
    """A forced-choice section's blocks are the version's, for the level, on its dimensions."""
    rules = section.blocks
    assert rules is not None
    name = "form" if rules.form is not None else "pool"
    blocks = section_blocks(section, level, items, version)
    statements: dict[str, str] = {}
    for block_id in blocks:
        item = items.get(block_id)
        outside = sorted({st.dimension for st in (item.statements or [])} - set(section.dimensions)
                         ) if item is not None else []
        problem = (
            "is not in the bank" if item is None
            else f"is a {item.format} item, not a forced-choice block" if item.format != "forced_choice"
            else f"is not calibrated in bank version {version.number} (its blocks: "
                 f"{', '.join(version.block_ids) or 'none'})" if block_id not in version.block_ids
            else f"is not meant for level {level!r}" if level not in item.levels
            else f"measures {', '.join(outside)}, not a dimension of the section" if outside
            else f"is already in section {seen[block_id]!r}" if block_id in seen
            else None)
        if problem:
            raise ValueError(f"{where}.blocks.{name}: block {block_id!r} {problem}")
        seen[block_id] = section.name
        if rules.form is not None:  # a fixed form shows each statement once
            for st in (item.statements if item is not None else None) or []:
                if st.id in statements:
                    raise ValueError(f"{where}.blocks.form: statement {st.id!r} is in blocks "
                                     f"{statements[st.id]!r} and {block_id!r}")
                statements[st.id or ""] = block_id
    if not blocks:
        raise ValueError(f"{where}.blocks: bank version {version.number} has no block for level "
                         f"{level!r} on {', '.join(section.dimensions)}")
    stray = sorted(set(rules.admit or {}) - set(blocks))
    if stray:
        raise ValueError(f"{where}.blocks.admit: {', '.join(stray[:5])} not in the section's pool")
    if rules.length is not None and rules.length > len(blocks):
        raise ValueError(f"{where}.blocks.length: {rules.length} blocks from a pool of "
                         f"{len(blocks)}")


def check_against(blueprint: StoredBlueprint, version: BankVersion, items: dict[str, Item]) -> None:
    """Refuse a blueprint that the bank version cannot serve, naming the section and the problem.

    Every section's dimensions must be the version's; its items must be in the bank, meant for
    the level, operational in the version (calibrated by it; pretest items: in its ``pretest``
    list) on those dimensions; seeded pretest items the version's pretest items; and the
    engine must accept the rules against that bank (:meth:`qabilet.engine.cat.Blueprint.check_bank`:
    enough items, quotas and enemy sets that a test can meet, rules with a form for the number of
    factors).

    Raises
    ------
    ValueError
        ``sections[1] ('personal'): …``.
    """
    seen: dict[str, str] = {}
    shortest = 0  # the fewest scored items a test has
    by_blocks = {d for section in blueprint.sections if section.blocks is not None
                 for d in section.dimensions}
    for s, section in enumerate(blueprint.sections):
        where = f"sections[{s}] ({section.name!r})"
        missing = [d for d in section.dimensions if d not in version.dimensions]
        if missing:
            raise ValueError(f"{where}.dimensions: bank version {version.number} measures "
                             f"{', '.join(version.dimensions)}; not {', '.join(missing)}")
        if section.blocks is not None:
            _check_block_section(where, section, blueprint.level, version, items, seen)
            shortest += section.blocks.n_blocks
            continue
        both = [d for d in section.dimensions if d in by_blocks]
        if both:
            raise ValueError(f"{where}.dimensions: {', '.join(both)} measured by forced-choice "
                             f"blocks in this blueprint too (a dimension has one score: one "
                             f"kind of section)")
        eligible = section_items(section, blueprint.level, items, version)
        engine_rules = section.blueprint(eligible)
        for name, wanted in (("items", engine_rules.items or ()),
                             ("pretest_items", engine_rules.pretest_items)):
            status = "pretest" if name == "pretest_items" else "operational"
            for item_id in wanted:
                item = items.get(item_id)
                held = version.status_of(item_id)
                problem = (
                    "is not in the bank" if item is None
                    else f"is not in bank version {version.number}" if held is None
                    else f"is {held} in version {version.number}, not {status}" if held != status
                    else f"is not meant for level {blueprint.level!r}"
                    if blueprint.level not in item.levels
                    else f"measures {item.dimension}" if item.dimension not in section.dimensions
                    else None)
                if problem:
                    raise ValueError(f"{where}.rules.{name}: item {item_id!r} {problem}")
                if item_id in seen:
                    raise ValueError(f"{where}.rules.{name}: item {item_id!r} is already in "
                                     f"section {seen[item_id]!r}")
                seen[item_id] = section.name
        try:  # pretest items have no parameters: the engine gives them by id
            bank = scale_bank(version.parameters, section.dimensions, list(engine_rules.items or ()))
            engine_rules.check_bank(bank)
        except InvalidParameterError as exc:
            raise ValueError(f"{where}.rules: {str(exc).removeprefix('blueprint: ')}") from None
        shortest += int(engine_rules.min_items)
    if blueprint.pretest is not None:
        _check_seeding(blueprint, blueprint.pretest, version, items, seen, shortest)


def _check_seeding(blueprint: StoredBlueprint, seeding: PretestSeeding, version: BankVersion,
                   items: dict[str, Item], seen: dict[str, str], shortest: int) -> None:
    """The seeded items are the version's pretest items, for the level, in no section."""
    for item_id in seeding.items:
        item = items.get(item_id)
        problem = (
            "is not in the bank" if item is None
            else f"is in section {seen[item_id]!r}" if item_id in seen
            else f"is not tried out in bank version {version.number} (its pretest items: "
                 f"{', '.join(version.pretest) or 'none'}); only items approved for trying out "
                 f"and added to a version's pretest list are seeded"
            if item_id not in version.pretest
            else f"is not meant for level {blueprint.level!r}" if blueprint.level not in item.levels
            else f"is a {item.format} item (blocks are not seeded)" if item.format == "forced_choice"
            else None)
        if problem:
            raise ValueError(f"pretest.items: item {item_id!r} {problem}")
    if seeding.per_session >= shortest:
        raise ValueError(f"pretest.per_session: {seeding.per_session} pretest items cannot stand "
                         f"apart in a test of at least {shortest} scored items")
