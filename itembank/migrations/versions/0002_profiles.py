"""Issued profiles.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the profiles table."""
    op.create_table(
        "profiles",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("candidate_id", sa.String(128), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bank_version", sa.Integer(), nullable=False),
        sa.Column("norm_set", sa.Integer(), nullable=False),
        sa.Column("replaces", sa.String(64)),
        sa.Column("document", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()),
                                                     "postgresql"), nullable=False),
        sa.ForeignKeyConstraint(["bank_version"], ["bank_versions.number"],
                                name="fk_profiles_bank_version_bank_versions"),
        sa.ForeignKeyConstraint(["norm_set"], ["norm_sets.number"],
                                name="fk_profiles_norm_set_norm_sets"),
        sa.ForeignKeyConstraint(["replaces"], ["profiles.id"],
                                name="fk_profiles_replaces_profiles"),
        sa.PrimaryKeyConstraint("id", name="pk_profiles"),
    )
    op.create_index("ix_profiles_candidate_id", "profiles", ["candidate_id"])


def downgrade() -> None:
    """Drop it."""
    op.drop_table("profiles")
