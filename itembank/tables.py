"""The database tables of the item bank (SQLAlchemy 2.0), apart from the pydantic schemas.

Rows never leave :mod:`qabilet.itembank`: the repository turns them into schemas. Content that authors
edit as a whole (an item's texts and format, a norm set's levels, a blueprint's sections) is a
validated JSON document in one column; what is filtered or joined on is a column of its own. The
Alembic migrations in :mod:`qabilet.itembank.migrations` create exactly these tables (a test compares).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "ApiKeyRow",
    "AuditRow",
    "BankVersionRow",
    "BlueprintRow",
    "CalibrationJobRow",
    "CandidateRow",
    "CatSectionRow",
    "CatSessionRow",
    "DimensionRow",
    "ItemFlagRow",
    "ItemParameterRow",
    "ItemReviewRow",
    "ItemRow",
    "NormSetRow",
    "ProfileRow",
    "RecommendationRow",
    "ResponseRow",
    "ScaleRow",
    "SessionEventRow",
    "SessionRow",
    "SigningKeyRow",
]

#: JSON documents: JSONB on PostgreSQL, JSON text on SQLite
Document = JSON().with_variant(JSONB(), "postgresql")
#: constraint names that are the same on every backend, so migrations can refer to them
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base holding the bank's metadata."""

    metadata = MetaData(naming_convention=NAMING)


def _utc() -> DateTime:
    return DateTime(timezone=True)


class ItemRow(Base):
    """One item: the validated :class:`~qabilet.itembank.content.Item` document and its lookup columns."""

    __tablename__ = "items"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    dimension: Mapped[str | None] = mapped_column(String(64), index=True)
    format: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    document: Mapped[dict[str, Any]] = mapped_column(Document)
    created_at: Mapped[datetime] = mapped_column(_utc())
    updated_at: Mapped[datetime] = mapped_column(_utc())


class ItemReviewRow(Base):
    """One move of an item's status: who, when, why (:class:`~qabilet.itembank.review.ItemReview`)."""

    __tablename__ = "item_reviews"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), index=True)
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    by: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(_utc())
    reason: Mapped[str] = mapped_column(Text)
    notes: Mapped[list[Any]] = mapped_column(Document)
    version: Mapped[int | None] = mapped_column(Integer)


class ItemFlagRow(Base):
    """A calibration's warning about an item (:class:`~qabilet.itembank.review.ItemFlag`)."""

    __tablename__ = "item_flags"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), index=True)
    bank_version: Mapped[int] = mapped_column(ForeignKey("bank_versions.number"))
    kind: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(Document)
    by: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(_utc())


class ScaleRow(Base):
    """A Likert response scale."""

    __tablename__ = "scales"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(Document)


class DimensionRow(Base):
    """A competency or trait with its names."""

    __tablename__ = "dimensions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    document: Mapped[dict[str, Any]] = mapped_column(Document)


class RecommendationRow(Base):
    """Development recommendation texts of one dimension, band and set of levels."""

    __tablename__ = "recommendations"
    target: Mapped[str] = mapped_column(String(64), primary_key=True)
    band: Mapped[str] = mapped_column(String(16), primary_key=True)
    #: the levels the text is for, ``"high,middle"``; ``""``: every level
    scope: Mapped[str] = mapped_column(String(32), primary_key=True, default="")
    document: Mapped[dict[str, Any]] = mapped_column(Document)
    updated_at: Mapped[datetime] = mapped_column(_utc())


class BankVersionRow(Base):
    """A bank version: provenance and the fit-level part of its parameter file."""

    __tablename__ = "bank_versions"
    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    label: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(_utc())
    published_at: Mapped[datetime | None] = mapped_column(_utc())
    provenance: Mapped[dict[str, Any]] = mapped_column(Document)
    #: the parameter file without its items: model, latent, groups, fit statistics
    fit: Mapped[dict[str, Any]] = mapped_column(Document)
    #: SHA-256 of the canonical JSON of the parameters, to show two versions are the same
    fingerprint: Mapped[str] = mapped_column(String(64))
    #: what a published version shows (:class:`~qabilet.itembank.versions.VersionContent`), fixed when it
    #: is published; NULL for a draft, which shows the bank's current texts
    content: Mapped[dict[str, Any] | None] = mapped_column(Document)
    #: ids of the items the version tries out unscored (no parameters in it)
    pretest: Mapped[list[Any]] = mapped_column(Document, default=list)
    #: the forced-choice blocks it calibrates (:mod:`~qabilet.itembank.forced_choice_parameters`)
    forced_choice: Mapped[dict[str, Any] | None] = mapped_column(Document)


class ItemParameterRow(Base):
    """One item's record in one bank version (model, parameters, SE, per-group parameters)."""

    __tablename__ = "item_parameters"
    version: Mapped[int] = mapped_column(ForeignKey("bank_versions.number"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    item_id: Mapped[str] = mapped_column(String(64))
    record: Mapped[dict[str, Any]] = mapped_column(Document)
    __table_args__ = (Index("ix_item_parameters_version_item", "version", "item_id", unique=True),)


class NormSetRow(Base):
    """A norm set of one bank version."""

    __tablename__ = "norm_sets"
    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    bank_version: Mapped[int] = mapped_column(ForeignKey("bank_versions.number"), index=True)
    label: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    demonstration: Mapped[bool] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(_utc())
    published_at: Mapped[datetime | None] = mapped_column(_utc())
    levels: Mapped[list[Any]] = mapped_column(Document)


class BlueprintRow(Base):
    """The blueprint of a position level, one row per stored number."""

    __tablename__ = "blueprints"
    level: Mapped[str] = mapped_column(String(16), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    bank_version: Mapped[int] = mapped_column(ForeignKey("bank_versions.number"))
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(_utc())
    sections: Mapped[list[Any]] = mapped_column(Document)
    #: pretest items seeded in its sessions (:class:`~qabilet.itembank.blueprints.PretestSeeding`)
    pretest: Mapped[dict[str, Any] | None] = mapped_column(Document)


class ResponseRow(Base):
    """One scored answer, append-only: what calibration reads back (docs/design.md §6 export)."""

    __tablename__ = "responses"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(String(128), index=True)
    session_id: Mapped[str | None] = mapped_column(String(64))
    item_id: Mapped[str] = mapped_column(String(64))
    bank_version: Mapped[int] = mapped_column(ForeignKey("bank_versions.number"), index=True)
    language: Mapped[str] = mapped_column(String(2))
    level: Mapped[str] = mapped_column(String(16))
    code: Mapped[int] = mapped_column(Integer)  # the answer as given (the item's code)
    response_time_s: Mapped[float | None] = mapped_column(Float)
    answered_at: Mapped[datetime] = mapped_column(_utc(), index=True)
    note: Mapped[str | None] = mapped_column(Text)
    #: an answer to a pretest item: given for calibration, never scored
    pretest: Mapped[bool] = mapped_column(Boolean, default=False)
    #: a forced-choice block's answer: statement ids, most like the candidate first (``S3>S1>S2``,
    #: ``=`` between statements whose order was not asked); None for an item's answer
    ranking: Mapped[str | None] = mapped_column(String(200))


class ProfileRow(Base):
    """An issued profile: insert-only; a re-issue is a new row pointing to the one it replaces."""

    __tablename__ = "profiles"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    candidate_id: Mapped[str] = mapped_column(String(128), index=True)
    issued_at: Mapped[datetime] = mapped_column(_utc())
    bank_version: Mapped[int] = mapped_column(ForeignKey("bank_versions.number"))
    norm_set: Mapped[int] = mapped_column(ForeignKey("norm_sets.number"))
    replaces: Mapped[str | None] = mapped_column(ForeignKey("profiles.id"))
    document: Mapped[dict[str, Any]] = mapped_column(Document)


class ApiKeyRow(Base):
    """A staff API key (an operator's, a psychometrician's): only its SHA-256 is stored.

    ``scope`` is the agency or test centre the key is limited to, None for all (migration 0006).
    """

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(200))
    scope: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(_utc())
    revoked_at: Mapped[datetime | None] = mapped_column(_utc())


class CandidateRow(Base):
    """A registered candidate."""

    __tablename__ = "candidates"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(_utc())


class SessionRow(Base):
    """A test session: what it pinned at creation, and its candidate token's hash."""

    __tablename__ = "test_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    candidate_id: Mapped[str] = mapped_column(ForeignKey("candidates.id"), index=True)
    level: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(2))
    bank_version: Mapped[int] = mapped_column(ForeignKey("bank_versions.number"))
    norm_set: Mapped[int] = mapped_column(ForeignKey("norm_sets.number"))
    blueprint_number: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    token_hash: Mapped[str] = mapped_column(String(64))
    token_expires_at: Mapped[datetime] = mapped_column(_utc())
    created_at: Mapped[datetime] = mapped_column(_utc())
    time_limit_s: Mapped[float | None] = mapped_column(Float)
    item_time_limit_s: Mapped[float | None] = mapped_column(Float)
    #: the test centre it is held at (an attestation's, checked by the caller; migration 0012)
    test_centre: Mapped[str | None] = mapped_column(String(64), index=True)


class SessionEventRow(Base):
    """One event of a session's append-only log.

    A slot (an answer position, −1 for the clock's start, 0 for the event that closes the
    session) is taken at most once.
    """

    __tablename__ = "session_events"
    session_id: Mapped[str] = mapped_column(ForeignKey("test_sessions.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(16))
    answer_position: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(_utc())
    payload: Mapped[dict[str, Any]] = mapped_column(Document)
    __table_args__ = (Index("ix_session_events_answer", "session_id", "answer_position",
                            unique=True),)


class AuditRow(Base):
    """Who did what, when."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(_utc(), index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[dict[str, Any]] = mapped_column(Document)


class CalibrationJobRow(Base):
    """A calibration requested over the API: its request, state and result."""

    __tablename__ = "calibration_jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # queued, running, done, failed, interrupted
    requested_by: Mapped[str] = mapped_column(String(128))
    request: Mapped[dict[str, Any]] = mapped_column(Document)
    created_at: Mapped[datetime] = mapped_column(_utc())
    finished_at: Mapped[datetime | None] = mapped_column(_utc())
    runner: Mapped[str | None] = mapped_column(String(128))
    heartbeat_at: Mapped[datetime | None] = mapped_column(_utc())  # its runner's last beat
    result: Mapped[dict[str, Any] | None] = mapped_column(Document)
    error: Mapped[str | None] = mapped_column(Text)


class CatSectionRow(Base):
    """A section of the IMS CAT interface: what a delivery platform configured (migration 0016).

    ``owner`` is the actor of the key that created it (``key:<id>``): only that key reaches it.
    """

    __tablename__ = "cat_sections"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128), index=True)
    level: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(2))
    blueprint_number: Mapped[int] = mapped_column(Integer)
    bank_version: Mapped[int] = mapped_column(ForeignKey("bank_versions.number"))
    norm_set: Mapped[int | None] = mapped_column(Integer)
    test_centre: Mapped[str | None] = mapped_column(String(64))
    time_limit_s: Mapped[float | None] = mapped_column(Float)
    item_time_limit_s: Mapped[float | None] = mapped_column(Float)
    identifiers: Mapped[str] = mapped_column(String(8))  # "qti" (<item>.<lang>) or "bank"
    configuration: Mapped[dict[str, Any]] = mapped_column(Document)  # as the platform sent it
    created_at: Mapped[datetime] = mapped_column(_utc())
    ended_at: Mapped[datetime | None] = mapped_column(_utc())


class CatSessionRow(Base):
    """A session opened in a CAT section (its own session: ``test_sessions``; migration 0016)."""

    __tablename__ = "cat_sessions"
    session_id: Mapped[str] = mapped_column(ForeignKey("test_sessions.id"), primary_key=True)
    section_id: Mapped[str] = mapped_column(ForeignKey("cat_sections.id"), index=True)
    request: Mapped[dict[str, Any]] = mapped_column(Document)  # the platform's start request


class SigningKeyRow(Base):
    """A server secret kept in the database, so that every server shares it (migration 0016).

    ``cat_state`` signs the IMS CAT interface's session states (HMAC-SHA-256).
    """

    __tablename__ = "signing_keys"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(_utc())
