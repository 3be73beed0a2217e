"""The IMS CAT interface's sections and sessions; server secrets kept in the database.

The tables of :class:`~qabilet.itembank.tables.CatSectionRow`, ``CatSessionRow``
(:mod:`qabilet.itembank.cat_sections`) and ``SigningKeyRow``: the key that signs the
interface's session states is made here, once, so that every server on the database shares it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_DOCUMENT = sa.JSON().with_variant(JSONB(), "postgresql")


def _utc(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the three tables and the state-signing key."""
    op.create_table(
        "cat_sections",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("blueprint_number", sa.Integer(), nullable=False),
        sa.Column("bank_version", sa.Integer(), sa.ForeignKey(
            "bank_versions.number", name="fk_cat_sections_bank_version_bank_versions"),
            nullable=False),
        sa.Column("norm_set", sa.Integer()),
        sa.Column("test_centre", sa.String(64)),
        sa.Column("time_limit_s", sa.Float()),
        sa.Column("item_time_limit_s", sa.Float()),
        sa.Column("identifiers", sa.String(8), nullable=False),
        sa.Column("configuration", _DOCUMENT, nullable=False),
        _utc("created_at"), _utc("ended_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_cat_sections"))
    op.create_index("ix_cat_sections_owner", "cat_sections", ["owner"])
    op.create_table(
        "cat_sessions",
        sa.Column("session_id", sa.String(64), sa.ForeignKey(
            "test_sessions.id", name="fk_cat_sessions_session_id_test_sessions"), nullable=False),
        sa.Column("section_id", sa.String(64), sa.ForeignKey(
            "cat_sections.id", name="fk_cat_sessions_section_id_cat_sections"), nullable=False),
        sa.Column("request", _DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint("session_id", name="pk_cat_sessions"))
    op.create_index("ix_cat_sessions_section_id", "cat_sessions", ["section_id"])
    keys = op.create_table(
        "signing_keys",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        _utc("created_at"),
        sa.PrimaryKeyConstraint("name", name="pk_signing_keys"))
    op.bulk_insert(keys, [{"name": "cat_state", "secret": secrets.token_urlsafe(48),
                           "created_at": datetime.now(UTC)}])


def downgrade() -> None:
    """Drop them (the sections, their links to sessions and the key are lost; sessions stay)."""
    op.drop_table("signing_keys")
    op.drop_table("cat_sessions")
    op.drop_table("cat_sections")
