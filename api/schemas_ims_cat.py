"""Bodies of the IMS CAT interface (:mod:`qabilet.api.ims_cat`), in its own field names.

The platform's bodies are read leniently where the interface lets platforms add fields (a
field qabilet does not use is ignored), and strictly where they are qabilet's own: the section
configuration, which the platform passes through from its test (base64 of a JSON document),
refuses unknown keys, so that a misspelt setting is an error rather than a default.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from qabilet.api.schemas import Language

__all__ = ["CatResults", "CatSectionCreate", "CatSectionCreated", "CatSectionPublic",
           "CatSessionCreate", "CatSessionStarted", "CatVariable", "ItemResult", "NextItems",
           "ResultsAnswer", "SectionConfiguration"]


class _Platform(BaseModel):
    """A platform's body: fields qabilet does not use are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class SectionConfiguration(BaseModel):
    """What a section runs: the JSON document a platform sends (base64) as ``sectionConfiguration``.

    ``blueprint`` names the level's blueprint (default: its newest; with ``bankVersion``, the
    newest of that version), which pins the bank version; ``normSet`` one of that version's
    norm sets (default: its newest). ``itemIdentifiers``: ``qti`` names items as qabilet's QTI
    export does, ``<item>.<language>``; ``bank`` by the bank's item ids.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    level: Literal["high", "middle", "low"]
    language: Language
    blueprint: int | None = Field(default=None, ge=1)
    bankVersion: int | None = Field(default=None, ge=1)
    normSet: int | None = Field(default=None, ge=1)
    testCentre: str | None = Field(default=None, min_length=1, max_length=64)
    timeLimitS: float | None = Field(default=None, gt=0, le=86_400)
    itemTimeLimitS: float | None = Field(default=None, gt=0, le=86_400)
    itemIdentifiers: Literal["qti", "bank"] = "qti"


class CatSectionCreate(_Platform):
    """``POST sections``: the section's configuration, and the test's QTI metadata and usage data.

    Each is base64 (as TAO's client sends them; an empty string for none). qabilet reads only
    ``sectionConfiguration`` (:class:`SectionConfiguration`); the QTI metadata and usage data
    are checked to be base64 and kept with the section.
    """

    sectionConfiguration: str = Field(max_length=65_536)
    qtiMetadata: str | None = Field(default=None, max_length=1_048_576)
    qtiUsagedata: str | None = Field(default=None, max_length=1_048_576)


class CatSectionCreated(BaseModel):
    """The new section's identifier."""

    sectionIdentifier: str


class CatSectionPublic(BaseModel):
    """A section as configured (``GET sections/{id}``)."""

    sectionIdentifier: str
    sectionConfiguration: SectionConfiguration
    bankVersion: int
    blueprint: int
    ended: bool


class KeyValue(_Platform):
    """One entry of ``priorData``."""

    key: str = Field(max_length=200)
    value: Any = None


class CatSessionCreate(_Platform):
    """``POST sections/{id}/sessions``: the platform's data about the test taker (all optional).

    ``priorData`` (TAO sends ``initialEstimatedAbility``) is kept with the session but does not
    move the start: qabilet's sessions start from the blueprint's prior, so that every
    candidate of a level is measured alike.
    """

    priorData: list[KeyValue] | None = Field(default=None, max_length=100)
    personalNeedsAndPreferences: str | None = Field(default=None, max_length=65_536)
    demographics: str | None = Field(default=None, max_length=65_536)


class CatValue(_Platform):
    """One value of a result variable: ``{"baseType": "integer", "value": 2}``."""

    baseType: str | None = Field(default=None, max_length=32)
    value: Any = None


class CatVariable(_Platform):
    """A result variable (``identifier``, ``cardinality``, ``value``: a list of values)."""

    identifier: str = Field(max_length=200)
    cardinality: str | int | None = None
    value: list[CatValue] | CatValue | str | float | int | None = None


class ItemResult(_Platform):
    """One item's result: its identifier and variables (qabilet reads the one named ``SCORE``)."""

    identifier: str = Field(min_length=1, max_length=200)
    datestamp: str | None = Field(default=None, max_length=64)
    sessionStatus: str | None = Field(default=None, max_length=32)
    outcomeVariables: list[CatVariable] | None = Field(default=None, max_length=200)
    responseVariables: list[CatVariable] | None = Field(default=None, max_length=200)
    templateVariables: list[CatVariable] | None = Field(default=None, max_length=200)
    traceVariables: list[CatVariable] | None = Field(default=None, max_length=200)


class AssessmentResult(_Platform):
    """The results a platform posts: its context and the item results since the last call."""

    context: dict[str, Any] | list[Any] | None = None
    itemResult: list[ItemResult] = Field(default_factory=list, max_length=100)


class CatResults(_Platform):
    """``POST sections/{id}/sessions/{id}/results``: item results and the last session state."""

    assessmentResult: AssessmentResult
    sessionState: str = Field(min_length=1, max_length=512)


class NextItems(BaseModel):
    """The items to deliver next (none: the test is over) and how many to deliver before asking."""

    itemIdentifiers: list[str]
    stageLength: int


class ResultsAnswer(BaseModel):
    """What follows a start or a post of results: the next items, the new state, the results."""

    nextItems: NextItems
    sessionState: str
    assessmentResult: dict[str, Any] | None = None


class CatSessionStarted(ResultsAnswer):
    """A started session: its identifier, its first item and its state."""

    sessionIdentifier: str
