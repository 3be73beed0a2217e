"""Request and response bodies of the HTTP API (``…Create`` in, ``…Public`` out)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model, model_validator

from qabilet.itembank.profiles import Profile
from qabilet.itembank.review import ReviewNote

__all__ = ["AnswerCreate", "AnswerPublic", "ApiKeyCreate", "ApiKeyCreated", "ApiKeyPublic",
           "AuditEntry", "BankImported", "CalibrationCreate", "CalibrationPublic",
           "CandidateCreate", "CandidateProfile", "CandidatePublic", "ClosedReason", "ERRORS", "ExtraTime",
           "Finished", "Incident", "ItemPublic", "Pause", "PretestCreate", "PretestCreated", "Problem",
           "Published", "ReviewCreate", "SessionCreate",
           "SessionPublic", "SessionStatus", "Terminate", "VersionCreated", "binary_response",
           "text_response"]

Language = Literal["kk", "ru", "en"]
#: where a session stands: ``ready`` (its clock not started), ``active``, ``paused``, ``finished``
SessionStatus = Literal["ready", "active", "paused", "finished"]
#: why a session ended: ``completed``, ``finished`` (early, on request), ``terminated``, ``timeout``
ClosedReason = Literal["completed", "finished", "terminated", "timeout"]


class Problem(BaseModel):
    """An error's body: what was wrong, naming the field (a list for request validation errors).

    ``problems`` lists every bad row of a refused import (row, field, problem).
    """

    detail: str | list[dict[str, Any]]
    problems: list[dict[str, Any]] | None = None


#: the error responses every route documents
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text, "content": {"application/json": {}}}
    for status, text in ((401, "No credentials, or a bad or revoked key"),
                         (403, "The caller may not do this"), (404, "No such record"),
                         (409, "Conflicts with what is stored (a taken position, a closed "
                               "session, a published record)"),
                         (422, "The request is invalid: the body names the field"))}


class _In(BaseModel):
    """A request body: unknown fields refused, and no coercion (``"1"`` or ``true`` is no integer).

    FastAPI validates the decoded JSON in Python mode, where strict still takes an integer for a
    float, and a string for a ``Literal`` of strings.
    """

    model_config = ConfigDict(extra="forbid", strict=True)


class CandidateCreate(_In):
    """A candidate to register."""

    external_id: str | None = Field(default=None, max_length=128)
    display_name: str | None = Field(default=None, max_length=200)


class CandidatePublic(BaseModel):
    """A registered candidate."""

    id: str


class SessionCreate(_In):
    """A session to start: the bank version, norm set, blueprint and time limits are pinned now.

    Time limits left out take the server's (``QABILET_TIME_LIMIT_S``,
    ``QABILET_ITEM_TIME_LIMIT_S``); an explicit ``null`` means none.
    """

    candidate_id: str = Field(min_length=1, max_length=64)
    level: Literal["high", "middle", "low"]
    language: Language
    blueprint_number: int | None = Field(
        default=None, ge=1, le=1_000_000,
        description="Which of the level's blueprints the session runs (GET /v1/admin/blueprints "
                    "lists them: adaptive items, forced-choice blocks, …); default the newest.")
    time_limit_s: float | None = Field(default=None, gt=0, le=86_400)
    item_time_limit_s: float | None = Field(default=None, gt=0, le=86_400)
    test_centre: str | None = Field(
        default=None, min_length=1, max_length=64,
        description="The test centre it is held at (an attestation's); required from a key "
                    "scoped to a unit, and one of that unit's centres.")


class SessionPublic(BaseModel):
    """A session as its operator and candidate see it."""

    id: str
    candidate_id: str
    level: str
    language: str
    bank_version: int
    norm_set: int
    blueprint_number: int
    status: SessionStatus
    finished: bool
    closed_reason: ClosedReason | None = None
    answered: int
    section: int
    n_sections: int
    max_items: int
    time_limit_s: float | None = None
    remaining_s: float | None = None
    item_time_limit_s: float | None = None
    profile_id: str | None = None
    test_centre: str | None = None
    token: str | None = None
    link: str | None = None


class StatementPublic(BaseModel):
    """A statement of a forced-choice block as shown."""

    id: str
    text: str


class ItemPublic(BaseModel):
    """The item to answer now: its text in the session language — never parameters or keys."""

    finished: bool
    paused: bool = False
    position: int
    item_id: str | None = None
    format: str | None = None
    stem: str | None = None
    choices: list[str] | None = None
    instruction: str | None = Field(
        default=None, description="A situational-judgement item's instruction, shown above its "
        "choices, in the language asked for (the session's unless `language` is given): that "
        "there is no right or wrong answer and to choose the option the candidate finds best, or "
        "what they would do in the situation, as the item says. None for other formats.")
    statements: list[StatementPublic] | None = Field(
        default=None, description="A forced-choice block's statements, in the order shown (no "
        "right or wrong: the candidate orders them, or picks the most and least like them).")
    answer_mode: Literal["rank", "most_least"] | None = Field(
        default=None, description="A block's: `rank` — answer with `ranking`, every statement "
        "once, most like the candidate first; `most_least` — answer with `most` and `least`.")
    language: str | None = None
    fell_back: bool = False
    section: int
    n_sections: int
    answered: int
    max_items: int
    remaining_s: float | None = None
    item_remaining_s: float | None = None


class AnswerCreate(_In):
    """An answer to the item shown at ``position``: the 0-based choice, or a block's order.

    An item is answered with ``code``; a forced-choice block with ``ranking`` (``rank``) or
    ``most`` and ``least`` (``most_least``), as its ``answer_mode`` says.
    """

    position: int = Field(ge=1, le=100_000)
    item_id: str = Field(min_length=1, max_length=64)
    code: int | None = Field(default=None, ge=0, le=20)
    ranking: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, min_length=2, max_length=4,
        description="A block's statement ids, each once, most like the candidate first.")
    most: str | None = Field(default=None, min_length=1, max_length=64,
                             description="The block's statement most like the candidate.")
    least: str | None = Field(default=None, min_length=1, max_length=64,
                              description="The block's statement least like the candidate.")
    response_time_s: float | None = Field(
        default=None, ge=0, le=86_400,
        description="The client's own measure, kept in the log as `client_response_time_s` for "
                    "reference only: response times used for validity flags and in the "
                    "responses export are measured by the server.")
    language: Language | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> AnswerCreate:
        given = [name for name, v in (("code", self.code), ("ranking", self.ranking),
                                      ("most", self.most), ("least", self.least)) if v is not None]
        if given not in (["code"], ["ranking"], ["most", "least"]):
            raise ValueError(f"expected code (an item), ranking (a block answered in order) or "
                             f"most and least (a block answered so); got {', '.join(given) or 'none'}")
        return self


class AnswerPublic(BaseModel):
    """What the server recorded (or, for a retry, had recorded).

    An item's ``code``, or a block's ``ranking``; the other is left out.
    """

    position: int
    item_id: str
    code: int | None = None
    ranking: str | None = Field(default=None, description="A block's answer as recorded: its "
                                "statement ids from most to least like the candidate joined by "
                                "`>`, by `=` where the order was not asked.")
    replayed: bool
    finished: bool


class Finished(BaseModel):
    """A closed session's profile."""

    profile_id: str


class Pause(_In):
    """A proctor's pause: the clocks stop until the session is resumed."""

    reason: str | None = Field(default=None, max_length=500)


class ExtraTime(_In):
    """Time added to the test's limit."""

    seconds: float = Field(gt=0, le=86_400)
    reason: str | None = Field(default=None, max_length=500)


class Terminate(_In):
    """The proctor ends the session; it is scored on what was answered."""

    reason: str = Field(min_length=1, max_length=500)


class Incident(_In):
    """Something the proctor saw, for the record."""

    note: str = Field(min_length=1, max_length=2000)


class ApiKeyCreate(_In):
    """A key to make."""

    role: Literal["administrator", "hr", "operator", "proctor", "commission", "psychometrician"]
    label: str | None = Field(default=None, max_length=200)
    scope: str | None = Field(default=None, min_length=1, max_length=64,
                              description="The unit the key is limited to, with the units inside "
                                          "it (none: every unit; never for a psychometrician)")


class ApiKeyCreated(BaseModel):
    """A new key: its secret is shown this once."""

    id: str
    role: str
    scope: str | None = None
    key: str


class ApiKeyPublic(BaseModel):
    """A key without its secret."""

    id: str
    role: str
    scope: str | None
    label: str | None
    created_at: datetime
    revoked_at: datetime | None


#: the language groups a pretest calibration compares for DIF unless told
_COMPARED: tuple[Language, ...] = ("kk", "ru")


class CalibrationCreate(_In):
    """A calibration on a bank version's stored responses.

    ``kind`` ``recalibrate`` (the default): the version's items refitted freely, the parameters
    of ``bank_version`` starting the EM, on the responses recorded on it (filtered by level and
    language when given; at least ``min_responses`` sessions). ``pretest``: the version's pretest
    items with ``min_answers`` answers in each of ``languages`` calibrated onto its scale, with
    item fit, kk/ru DIF and anchor drift, into a new draft version
    (:func:`qabilet.pretest_calibration.calibrate_pretest`).
    """

    kind: Literal["recalibrate", "pretest"] = "recalibrate"
    bank_version: int | None = Field(default=None, ge=1, le=2**31 - 1)
    level: Literal["high", "middle", "low"] | None = None
    language: Language | None = None
    min_responses: int = Field(default=200, ge=1, le=10**7)
    min_answers: int = Field(default=300, ge=50, le=10**7)
    languages: list[Language] = Field(default_factory=lambda: list(_COMPARED), min_length=1,
                                      max_length=3)

    @model_validator(mode="after")
    def _fields_of_the_kind(self) -> CalibrationCreate:
        if self.kind == "pretest" and (self.level or self.language):
            raise ValueError("level, language: a pretest calibration uses every answer to the "
                             "version (its language groups are compared)")
        return self


class CalibrationPublic(BaseModel):
    """A calibration job: queued, running, done, failed, or interrupted (its server stopped)."""

    id: str
    status: Literal["queued", "running", "done", "failed", "interrupted"]
    request: dict[str, Any]
    created_at: datetime
    finished_at: datetime | None = None
    result: dict[str, Any] | None = None
    error: str | None = None


class BankImported(BaseModel):
    """What a bank import did.

    ``imported`` counts the records imported by section; ``draft_version`` is the draft holding
    new texts of what published versions show (publish it to show them), or null.
    """

    imported: dict[str, int]
    draft_version: int | None


class VersionCreated(BaseModel):
    """The draft version a parameter file became."""

    number: int
    status: Literal["draft", "published"]
    n_items: int


class ReviewCreate(BaseModel):
    """A move of an item's status: where to, why, and the reviewers' notes."""

    model_config = ConfigDict(extra="forbid")

    to: Literal["draft", "in_review", "pretest", "retired"]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
    notes: list[ReviewNote] = Field(default_factory=list, max_length=50)


class PretestCreate(BaseModel):
    """Approved items to try out in a new draft version."""

    model_config = ConfigDict(extra="forbid")

    items: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$",
                                                 max_length=64)]] = Field(min_length=1,
                                                                          max_length=1000)
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class PretestCreated(BaseModel):
    """The draft version that tries the items out."""

    number: int
    status: Literal["draft", "published"]
    pretest: list[str]
    based_on: int | None


class Published(BaseModel):
    """A version or norm set, published."""

    number: int
    status: Literal["draft", "published"]


class AuditEntry(BaseModel):
    """One line of the audit trail: who did what to which record, when."""

    at: datetime
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any] | None


#: the profile as its candidate sees it: the operator's record without the validity flags
CandidateProfile: type[BaseModel] = create_model(
    "CandidateProfile", __config__=Profile.model_config,
    __doc__="An issued profile as its candidate sees it: the record without `validity`.",
    **{name: (field.annotation, field) for name, field in Profile.model_fields.items()
       if name != "validity"})  # type: ignore[call-overload]


def text_response(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI description of a route's answer that is text, not JSON (HTML, CSV)."""
    return {200: {"description": description,
                  "content": {media_type: {"schema": {"type": "string"}}}}}


def binary_response(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI description of a route's answer that is a binary document (PDF)."""
    return {200: {"description": description,
                  "content": {media_type: {"schema": {"type": "string", "format": "binary"}}}}}
