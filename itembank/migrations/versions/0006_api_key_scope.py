"""API keys carry a scope: the agency or test centre a staff key is limited to (none: all).

Stored now so that scoped staff roles extend the keys rather than replace them; existing keys
get none, which is what they were.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-14
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the column."""
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("scope", sa.String(128)))


def downgrade() -> None:
    """Drop it (the keys' scopes are lost; every key reaches everything again)."""
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("scope")
