"""Blueprints per position level: the sections of a test and the adaptive rules of each.

A test at one position level is a sequence of **sections**. Each section measures one dimension
or a few (up to four, the engine's limit for several factors) with the rules of an
:class:`qabilet.engine.cat.Blueprint` — selection, exposure, content, stopping — written as the engine's
JSON mapping. A stored blueprint names the bank version it targets and is validated as a whole
against it (:func:`check_against`); storing a changed blueprint makes a new number for the level.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, model_validator

from qabilet.engine.cat import Blueprint
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.itembank._schema import Schema
from qabilet.itembank.content import Item, Level, Name
from qabilet.itembank.versions import BankVersion, scale_bank

__all__ = ["BlueprintSection", "StoredBlueprint", "check_against", "section_items"]


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
    interleave : str, optional
        An interleave group. Consecutive sections of one group are given **in turn** rather than
        one after the other: the next item comes from the group's unfinished section with the
        fewest items taken, ties broken in an order drawn per session and test position
        (:func:`qabilet.delivery.session_state.derive`). Each section keeps its own rules,
        estimate and stopping; only the order the candidate meets their items changes, so that
        no dimension comes as a block in a fixed place. None (the default): on its own.
    """

    name: Name
    dimensions: list[Name] = Field(min_length=1, max_length=4)
    rules: dict[str, Any] = Field(default_factory=dict)
    interleave: Name | None = None

    @model_validator(mode="after")
    def _engine_rules(self) -> BlueprintSection:
        if len(set(self.dimensions)) != len(self.dimensions):
            raise ValueError(f"dimensions: expected each once; got {self.dimensions}")
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
    """

    level: Level
    number: int = Field(ge=1)
    bank_version: int = Field(ge=1)
    label: str | None = None
    created_at: datetime
    sections: list[BlueprintSection] = Field(min_length=1)

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
    """The section's default items: operational, meant for ``level``, calibrated in ``version``."""
    dims = set(section.dimensions)
    return [i for i in version.item_ids if i in items and items[i].status == "operational"
            and items[i].dimension in dims and level in items[i].levels]


def check_against(blueprint: StoredBlueprint, version: BankVersion, items: dict[str, Item]) -> None:
    """Refuse a blueprint that the bank version cannot serve, naming the section and the problem.

    Every section's dimensions must be the version's; its items must be in the bank, meant for
    the level, operational (pretest items: in pretest) and calibrated on those dimensions; and the
    engine must accept the rules against that bank (:meth:`qabilet.engine.cat.Blueprint.check_bank`:
    enough items, quotas and enemy sets that a test can meet, rules with a form for the number of
    factors).

    Raises
    ------
    ValueError
        ``sections[1] ('personal'): …``.
    """
    seen: dict[str, str] = {}
    for s, section in enumerate(blueprint.sections):
        where = f"sections[{s}] ({section.name!r})"
        missing = [d for d in section.dimensions if d not in version.dimensions]
        if missing:
            raise ValueError(f"{where}.dimensions: bank version {version.number} measures "
                             f"{', '.join(version.dimensions)}; not {', '.join(missing)}")
        eligible = section_items(section, blueprint.level, items, version)
        engine_rules = section.blueprint(eligible)
        for name, wanted in (("items", engine_rules.items or ()),
                             ("pretest_items", engine_rules.pretest_items)):
            status = "pretest" if name == "pretest_items" else "operational"
            for item_id in wanted:
                item = items.get(item_id)
                problem = (
                    "is not in the bank" if item is None
                    else f"is {item.status}, not {status}" if item.status != status
                    else f"is not meant for level {blueprint.level!r}"
                    if blueprint.level not in item.levels
                    else f"measures {item.dimension}" if item.dimension not in section.dimensions
                    else f"has no parameters in version {version.number}"
                    if item_id not in version.item_ids
                    else None)
                if problem:
                    raise ValueError(f"{where}.rules.{name}: item {item_id!r} {problem}")
                if item_id in seen:
                    raise ValueError(f"{where}.rules.{name}: item {item_id!r} is already in "
                                     f"section {seen[item_id]!r}")
                seen[item_id] = section.name
        ids = list(engine_rules.items or ()) + list(engine_rules.pretest_items)
        try:
            bank = scale_bank(version.parameters, section.dimensions, ids)
            engine_rules.check_bank(bank)
        except InvalidParameterError as exc:
            raise ValueError(f"{where}.rules: {str(exc).removeprefix('blueprint: ')}") from None
