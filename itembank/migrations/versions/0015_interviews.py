"""Interviews, the commission's decisions, and the erasure of an employee's identity.

The tables of :class:`~qabilet.attestation.tables.InterviewRow` and ``DecisionRow``
(:mod:`qabilet.attestation.interviews`), and ``employees.erased_at``
(:mod:`qabilet.attestation.personal_data`).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_DOCUMENT = sa.JSON().with_variant(JSONB(), "postgresql")


def _keys(table: str) -> list[sa.Column]:
    return [sa.Column("campaign", sa.String(64), sa.ForeignKey(
                "campaigns.id", name=f"fk_{table}_campaign_campaigns"), nullable=False),
            sa.Column("personal_number", sa.String(64), sa.ForeignKey(
                "employees.personal_number", name=f"fk_{table}_personal_number_employees"),
                nullable=False)]


def _utc(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the two tables; add the column."""
    op.create_table(
        "interviews", *_keys("interviews"),
        sa.Column("interviewer", sa.String(64), sa.ForeignKey(
            "staff_accounts.id", name="fk_interviews_interviewer_staff_accounts"), nullable=False),
        _utc("starts_at"), sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("room", sa.String(64), sa.ForeignKey(
            "interview_rooms.id", name="fk_interviews_room_interview_rooms")),
        sa.Column("video_url", sa.String(400)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("record", _DOCUMENT),
        sa.Column("by", sa.String(200), nullable=False), _utc("at"),
        sa.PrimaryKeyConstraint("campaign", "personal_number", name="pk_interviews"))
    op.create_index("ix_interviews_interviewer", "interviews", ["interviewer"])
    op.create_table(
        "decisions", *_keys("decisions"),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=False), _utc("decided_at"),
        sa.PrimaryKeyConstraint("campaign", "personal_number", name="pk_decisions"))
    with op.batch_alter_table("employees") as batch:
        batch.add_column(_utc("erased_at", nullable=True))


def downgrade() -> None:
    """Drop them (interviews and decisions are lost; erasures are not undone).

    The column goes by ``ALTER TABLE … DROP COLUMN`` (SQLite ≥ 3.35 has it), not by a batch's
    copy of the table, which SQLite's foreign keys refuse while employees refer to each other.
    """
    op.execute("ALTER TABLE employees DROP COLUMN erased_at")
    op.drop_table("decisions")
    op.drop_table("interviews")
