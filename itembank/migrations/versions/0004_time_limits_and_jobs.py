"""Sessions' time limits (test and per item), and calibration jobs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _document() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add the columns and the table."""
    with op.batch_alter_table("test_sessions") as batch:
        batch.add_column(sa.Column("time_limit_s", sa.Float()))
        batch.add_column(sa.Column("item_time_limit_s", sa.Float()))
    op.create_table(
        "calibration_jobs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("request", _document(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("finished_at", _utc()),
        sa.Column("runner", sa.String(128)),
        sa.Column("result", _document()),
        sa.Column("error", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_calibration_jobs"),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("calibration_jobs")
    with op.batch_alter_table("test_sessions") as batch:
        batch.drop_column("item_time_limit_s")
        batch.drop_column("time_limit_s")
