"""The attestation's tables, on the item bank's database and metadata (one migration chain).

Like the bank's (:mod:`qabilet.itembank.tables`): what is edited as a whole is a validated JSON
document in one column; what is filtered or joined on is a column of its own. The migrations in
:mod:`qabilet.itembank.migrations` create them (0011).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from qabilet.itembank.tables import Base, Document

__all__ = ["AgencyRow", "CategoryRow", "EmployeeRow", "InterviewRoomRow", "TestCentreRow",
           "UnitRow"]


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
