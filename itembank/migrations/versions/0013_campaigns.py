"""Attestation campaigns: their members, exemptions with their files, evaluation sheets.

The tables of :class:`~qabilet.attestation.tables.CampaignRow`, ``CampaignMemberRow``,
``FileRow``, ``ExemptionRow``, ``SheetRevisionRow`` and ``SheetEventRow``
(:mod:`qabilet.attestation.campaigns`, :mod:`~qabilet.attestation.sheets`).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_DOCUMENT = sa.JSON().with_variant(JSONB(), "postgresql")


def _utc(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _fk(table: str, column: str, target: str, key: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(column, sa.String(64), sa.ForeignKey(
        f"{target}.{key}", name=f"fk_{table}_{column}_{target}"), nullable=nullable)


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), autoincrement=True, nullable=False)


def upgrade() -> None:
    """Create the six tables and their indexes."""
    op.create_table(
        "campaigns", sa.Column("id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("document", _DOCUMENT, nullable=False), _utc("created_at"),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_campaigns"))
    op.create_table(
        "campaign_members", _fk("campaign_members", "campaign", "campaigns", "id"),
        _fk("campaign_members", "personal_number", "employees", "personal_number"),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("campaign", "personal_number", name="pk_campaign_members"))
    op.create_index("ix_campaign_members_unit", "campaign_members", ["unit"])
    op.create_table(
        "attestation_files", sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("media_type", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False), _utc("stored_at"),
        sa.Column("stored_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_attestation_files"))
    op.create_table(
        "exemptions", _id(), _fk("exemptions", "campaign", "campaigns", "id"),
        _fk("exemptions", "personal_number", "employees", "personal_number"),
        sa.Column("ground", sa.String(64), nullable=False),
        _fk("exemptions", "file", "attestation_files", "sha256", nullable=True),
        sa.Column("check_holds", sa.Boolean()),
        sa.Column("check_note", sa.String(400), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False), _utc("requested_at"),
        sa.Column("decided_by", sa.String(200)), _utc("decided_at", nullable=True),
        sa.Column("reason", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_exemptions"))
    op.create_index("ix_exemptions_campaign", "exemptions", ["campaign"])
    op.create_table(
        "sheet_revisions", _id(), _fk("sheet_revisions", "campaign", "campaigns", "id"),
        _fk("sheet_revisions", "personal_number", "employees", "personal_number"),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("content", _DOCUMENT, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("author", sa.String(200), nullable=False), _utc("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_sheet_revisions"))
    op.create_index("ix_sheet_revisions_sheet", "sheet_revisions",
                    ["campaign", "personal_number", "revision"], unique=True)
    op.create_table(
        "sheet_events", _id(), _fk("sheet_events", "campaign", "campaigns", "id"),
        _fk("sheet_events", "personal_number", "employees", "personal_number"),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False), sa.Column("text", sa.Text()),
        _fk("sheet_events", "signature_file", "attestation_files", "sha256", nullable=True),
        sa.Column("by", sa.String(200), nullable=False), _utc("at"),
        sa.PrimaryKeyConstraint("id", name="pk_sheet_events"))
    op.create_index("ix_sheet_events_sheet", "sheet_events", ["campaign", "personal_number"])


def downgrade() -> None:
    """Drop them (campaigns, exemptions, files and sheets are lost)."""
    for table in ("sheet_events", "sheet_revisions", "exemptions", "attestation_files",
                  "campaign_members", "campaigns"):
        op.drop_table(table)
