"""The attestation's tables, on the item bank's database and metadata (one migration chain).

Like the bank's (:mod:`qabilet.itembank.tables`): what is edited as a whole is a validated JSON
document in one column; what is filtered or joined on is a column of its own. The migrations in
:mod:`qabilet.itembank.migrations` create them (0011).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from qabilet.itembank.tables import Base, Document

__all__ = ["AgencyRow", "BookingRow", "CampaignMemberRow", "CampaignRow", "CategoryRow",
           "DecisionRow", "InterviewRow", "EmployeeRow",
           "ExemptionRow", "FileRow", "InterviewRoomRow", "ProposalRow", "SheetEventRow", "SheetRevisionRow",
           "StaffAccountRow", "StaffGrantRow", "StaffSessionRow", "TestCentreRow", "UnitRow"]


def _utc() -> DateTime:
    return DateTime(timezone=True)


class _OfMember:
    """The primary key of a row about one member of a campaign: the campaign and the employee."""

    campaign: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    personal_number: Mapped[str] = mapped_column(ForeignKey("employees.personal_number"),
                                                 primary_key=True)


class AgencyRow(Base):
    """An agency (:class:`~qabilet.attestation.organisation.Agency`)."""

    __tablename__ = "agencies"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(Document)


class UnitRow(Base):
    """A unit of an agency (:class:`~qabilet.attestation.organisation.Unit`)."""

    __tablename__ = "units"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    parent: Mapped[str | None] = mapped_column(ForeignKey("units.id"))
    document: Mapped[dict[str, Any]] = mapped_column(Document)


class TestCentreRow(Base):
    """A test centre of a unit (:class:`~qabilet.attestation.organisation.TestCentre`)."""

    __test__ = False  # not a pytest test class, whatever its name
    __tablename__ = "test_centres"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    unit: Mapped[str] = mapped_column(ForeignKey("units.id"), index=True)
    document: Mapped[dict[str, Any]] = mapped_column(Document)


class InterviewRoomRow(Base):
    """An interview room of a unit (:class:`~qabilet.attestation.organisation.InterviewRoom`)."""

    __tablename__ = "interview_rooms"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    unit: Mapped[str] = mapped_column(ForeignKey("units.id"), index=True)
    document: Mapped[dict[str, Any]] = mapped_column(Document)


class CategoryRow(Base):
    """A position category and its level (:class:`~qabilet.attestation.organisation.Category`)."""

    __tablename__ = "position_categories"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    level: Mapped[str] = mapped_column(String(16))
    document: Mapped[dict[str, Any]] = mapped_column(Document)


class EmployeeRow(Base):
    """An employee (:class:`~qabilet.attestation.organisation.Employee`), by personal number."""

    __tablename__ = "employees"
    personal_number: Mapped[str] = mapped_column(String(64), primary_key=True)
    unit: Mapped[str] = mapped_column(ForeignKey("units.id"), index=True)
    category: Mapped[str] = mapped_column(ForeignKey("position_categories.id"))
    supervisor: Mapped[str | None] = mapped_column(ForeignKey("employees.personal_number"),
                                                   index=True)
    document: Mapped[dict[str, Any]] = mapped_column(Document)
    #: when the record's identity was erased (its person's data past retention; migration 0015)
    erased_at: Mapped[datetime | None] = mapped_column(_utc())


class StaffAccountRow(Base):
    """A person's staff account (:mod:`qabilet.attestation.accounts`): only a password's hash.

    ``failures`` counts the failed sign-ins since the last success; ``locked_until`` is set when
    they reach the limit (migration 0012).
    """

    __tablename__ = "staff_accounts"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    employee: Mapped[str | None] = mapped_column(ForeignKey("employees.personal_number"),
                                                 unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(_utc())
    disabled_at: Mapped[datetime | None] = mapped_column(_utc())
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(_utc())


class StaffGrantRow(Base):
    """A role an account holds at a unit (None: every unit) (:class:`~qabilet.attestation.access.Grant`)."""

    __tablename__ = "staff_grants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(ForeignKey("staff_accounts.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str | None] = mapped_column(ForeignKey("units.id"))
    trained_on: Mapped[date | None] = mapped_column(Date)
    granted_at: Mapped[datetime] = mapped_column(_utc())
    granted_by: Mapped[str] = mapped_column(String(200))


class StaffSessionRow(Base):
    """A signed-in account's server-side session: the cookie's SHA-256, never the cookie."""

    __tablename__ = "staff_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account: Mapped[str] = mapped_column(ForeignKey("staff_accounts.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(_utc())
    seen_at: Mapped[datetime] = mapped_column(_utc())
    ended_at: Mapped[datetime | None] = mapped_column(_utc())


class CampaignRow(Base):
    """An attestation campaign (:class:`~qabilet.attestation.campaigns.Campaign`; migration 0013)."""

    __tablename__ = "campaigns"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    document: Mapped[dict[str, Any]] = mapped_column(Document)
    created_at: Mapped[datetime] = mapped_column(_utc())
    created_by: Mapped[str] = mapped_column(String(200))


class CampaignMemberRow(_OfMember, Base):
    """An employee in a campaign's scope, as they stood when it opened (unit, level)."""

    __tablename__ = "campaign_members"
    unit: Mapped[str] = mapped_column(String(64), index=True)
    level: Mapped[str] = mapped_column(String(16))


class FileRow(Base):
    """An uploaded file, stored once by its SHA-256 (:mod:`qabilet.attestation.files`)."""

    __tablename__ = "attestation_files"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    stored_at: Mapped[datetime] = mapped_column(_utc())
    stored_by: Mapped[str] = mapped_column(String(200))


class ExemptionRow(Base):
    """A request for exemption, its document, the data's check and HR's decision."""

    __tablename__ = "exemptions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), index=True)
    personal_number: Mapped[str] = mapped_column(ForeignKey("employees.personal_number"))
    ground: Mapped[str] = mapped_column(String(64))
    file: Mapped[str | None] = mapped_column(ForeignKey("attestation_files.sha256"))
    check_holds: Mapped[bool | None] = mapped_column(Boolean)
    check_note: Mapped[str] = mapped_column(String(400))
    status: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(_utc())
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(_utc())
    reason: Mapped[str | None] = mapped_column(Text)


class SheetRevisionRow(Base):
    """One revision of an employee's evaluation sheet: its content and the content's hash."""

    __tablename__ = "sheet_revisions"
    __table_args__ = (Index("ix_sheet_revisions_sheet", "campaign", "personal_number", "revision",
                            unique=True),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign: Mapped[str] = mapped_column(ForeignKey("campaigns.id"))
    personal_number: Mapped[str] = mapped_column(ForeignKey("employees.personal_number"))
    revision: Mapped[int] = mapped_column(Integer)
    content: Mapped[dict[str, Any]] = mapped_column(Document)
    content_hash: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(_utc())


class SheetEventRow(Base):
    """What happened to a sheet's revision: signed, disputed, a dissent, a complaint rejected."""

    __tablename__ = "sheet_events"
    __table_args__ = (Index("ix_sheet_events_sheet", "campaign", "personal_number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign: Mapped[str] = mapped_column(ForeignKey("campaigns.id"))
    personal_number: Mapped[str] = mapped_column(ForeignKey("employees.personal_number"))
    revision: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str | None] = mapped_column(Text)
    signature_file: Mapped[str | None] = mapped_column(ForeignKey("attestation_files.sha256"))
    by: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(_utc())


class ProposalRow(_OfMember, Base):
    """The slots an employee proposed for their test, first choice first (migration 0014)."""

    __tablename__ = "slot_proposals"
    slots: Mapped[list[str]] = mapped_column(Document)
    by: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(_utc())


class BookingRow(_OfMember, Base):
    """An employee's seat for the test: centre, room, seat, time; the session issued for it."""

    __tablename__ = "bookings"
    slot: Mapped[str] = mapped_column(String(120), index=True)
    centre: Mapped[str] = mapped_column(ForeignKey("test_centres.id"))
    room: Mapped[str] = mapped_column(String(64))
    seat: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(_utc())
    ends_at: Mapped[datetime] = mapped_column(_utc())
    rank: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    session_id: Mapped[str | None] = mapped_column(String(64))
    by: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(_utc())


class InterviewRow(_OfMember, Base):
    """A member's interview: when, where or by video, with whom; its ratings and recording (0015)."""

    __tablename__ = "interviews"
    interviewer: Mapped[str] = mapped_column(ForeignKey("staff_accounts.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(_utc())
    mode: Mapped[str] = mapped_column(String(16))
    room: Mapped[str | None] = mapped_column(ForeignKey("interview_rooms.id"))
    video_url: Mapped[str | None] = mapped_column(String(400))
    status: Mapped[str] = mapped_column(String(16))
    record: Mapped[dict[str, Any] | None] = mapped_column(Document)
    by: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(_utc())


class DecisionRow(_OfMember, Base):
    """The commission's decision on a member, with the summary for them in their language."""

    __tablename__ = "decisions"
    outcome: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(2))
    decided_by: Mapped[str] = mapped_column(String(200))
    decided_at: Mapped[datetime] = mapped_column(_utc())
