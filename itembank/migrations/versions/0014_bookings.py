"""The employees' proposed slots and their bookings at the test centres.

The tables of :class:`~qabilet.attestation.tables.ProposalRow` and ``BookingRow``
(:mod:`qabilet.attestation.timetable`).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_DOCUMENT = sa.JSON().with_variant(JSONB(), "postgresql")


def _keys(table: str) -> list[sa.Column]:
    return [sa.Column("campaign", sa.String(64), sa.ForeignKey(
                "campaigns.id", name=f"fk_{table}_campaign_campaigns"), nullable=False),
            sa.Column("personal_number", sa.String(64), sa.ForeignKey(
                "employees.personal_number", name=f"fk_{table}_personal_number_employees"),
                nullable=False)]


def _utc(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    """Create the two tables."""
    op.create_table(
        "slot_proposals", *_keys("slot_proposals"),
        sa.Column("slots", _DOCUMENT, nullable=False),
        sa.Column("by", sa.String(200), nullable=False), _utc("at"),
        sa.PrimaryKeyConstraint("campaign", "personal_number", name="pk_slot_proposals"))
    op.create_table(
        "bookings", *_keys("bookings"), sa.Column("slot", sa.String(120), nullable=False),
        sa.Column("centre", sa.String(64), sa.ForeignKey(
            "test_centres.id", name="fk_bookings_centre_test_centres"), nullable=False),
        sa.Column("room", sa.String(64), nullable=False),
        sa.Column("seat", sa.Integer(), nullable=False), _utc("starts_at"), _utc("ends_at"),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("session_id", sa.String(64)),
        sa.Column("by", sa.String(200), nullable=False), _utc("at"),
        sa.PrimaryKeyConstraint("campaign", "personal_number", name="pk_bookings"))
    op.create_index("ix_bookings_slot", "bookings", ["slot"])


def downgrade() -> None:
    """Drop them (proposals and bookings are lost)."""
    op.drop_table("bookings")
    op.drop_table("slot_proposals")
