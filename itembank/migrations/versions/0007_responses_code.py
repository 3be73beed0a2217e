"""The responses table calls an answer as given its ``code``, as the API and the files do.

The column held the item's original code under the name ``category``, which elsewhere means the
model's 0-based category (docs/architecture.md, "Vocabulary"). A rename: no row changes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Rename the column (SQLite ≥ 3.25 and PostgreSQL rename in place, keeping its index)."""
    op.execute("ALTER TABLE responses RENAME COLUMN category TO code")


def downgrade() -> None:
    """Give it its former name."""
    op.execute("ALTER TABLE responses RENAME COLUMN code TO category")
