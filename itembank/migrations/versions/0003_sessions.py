"""Sessions and their event logs, candidates, API keys, the audit log.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _document() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the tables."""
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("label", sa.String(200)),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("revoked_at", _utc()),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
    )
    op.create_table(
        "candidates",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(128)),
        sa.Column("display_name", sa.String(200)),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_candidates"),
        sa.UniqueConstraint("external_id", name="uq_candidates_external_id"),
    )
    op.create_table(
        "test_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("candidate_id", sa.String(64), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("bank_version", sa.Integer(), nullable=False),
        sa.Column("norm_set", sa.Integer(), nullable=False),
        sa.Column("blueprint_number", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("token_expires_at", _utc(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(["candidate_id"], ["candidates.id"],
                                name="fk_test_sessions_candidate_id_candidates"),
        sa.ForeignKeyConstraint(["bank_version"], ["bank_versions.number"],
                                name="fk_test_sessions_bank_version_bank_versions"),
        sa.ForeignKeyConstraint(["norm_set"], ["norm_sets.number"],
                                name="fk_test_sessions_norm_set_norm_sets"),
        sa.PrimaryKeyConstraint("id", name="pk_test_sessions"),
    )
    op.create_index("ix_test_sessions_candidate_id", "test_sessions", ["candidate_id"])
    op.create_table(
        "session_events",
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("answer_position", sa.Integer()),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("payload", _document(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["test_sessions.id"],
                                name="fk_session_events_session_id_test_sessions"),
        sa.PrimaryKeyConstraint("session_id", "seq", name="pk_session_events"),
    )
    op.create_index("ix_session_events_answer", "session_events",
                    ["session_id", "answer_position"], unique=True)
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(128)),
        sa.Column("detail", _document(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def downgrade() -> None:
    """Drop them."""
    for table in ("audit_log", "session_events", "test_sessions", "candidates", "api_keys"):
        op.drop_table(table)
