"""Request and response bodies of the HTTP API (``…Create`` in, ``…Public`` out)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AnswerCreate", "AnswerPublic", "CandidateCreate", "CandidatePublic", "ItemPublic",
           "SessionCreate", "SessionPublic"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CandidateCreate(_In):
    """A candidate to register."""

    external_id: str | None = Field(default=None, max_length=128)
    display_name: str | None = Field(default=None, max_length=200)


class CandidatePublic(BaseModel):
    """A registered candidate."""

    id: str


class SessionCreate(_In):
    """A session to start: the bank version, norm set and blueprint are pinned now."""

    candidate_id: str = Field(min_length=1, max_length=64)
    level: Literal["high", "middle", "low"]
    language: Literal["kk", "ru", "en"]


class SessionPublic(BaseModel):
    """A session as its operator and candidate see it."""

    id: str
    candidate_id: str
    level: str
    language: str
    bank_version: int
    norm_set: int
    blueprint_number: int
    finished: bool
    answered: int
    section: int
    n_sections: int
    token: str | None = None
    link: str | None = None


class ItemPublic(BaseModel):
    """The item to answer now: its text in the session language — never parameters or keys."""

    finished: bool
    position: int
    item_id: str | None = None
    format: str | None = None
    stem: str | None = None
    choices: list[str] | None = None
    language: str | None = None
    fell_back: bool = False
    section: int
    n_sections: int


class AnswerCreate(_In):
    """An answer to the item shown at ``position``: the 0-based choice."""

    position: int = Field(ge=1)
    item_id: str = Field(min_length=1, max_length=64)
    code: int = Field(ge=0, le=20)
    response_time_s: float | None = Field(default=None, ge=0, le=86_400)


class AnswerPublic(BaseModel):
    """What the server recorded (or, for a retry, had recorded)."""

    position: int
    item_id: str
    code: int
    replayed: bool
    finished: bool
