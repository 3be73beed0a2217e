"""Recommendation texts may differ by position level: the levels join the table's key.

A text is stored per target, band and ``scope`` (the levels it is for, ``"high,middle"``; ``""``
for every level). Existing texts are for every level, which is what they were.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the column (``""`` in every row) and widen the primary key to it."""
    with op.batch_alter_table("recommendations", recreate="always") as batch:
        batch.add_column(sa.Column("scope", sa.String(32), nullable=False, server_default=""))
        batch.drop_constraint("pk_recommendations", type_="primary")
        batch.create_primary_key("pk_recommendations", ["target", "band", "scope"])


def downgrade() -> None:
    """Keep the texts for every level and drop the others (the key cannot hold them)."""
    op.execute("DELETE FROM recommendations WHERE scope <> ''")
    with op.batch_alter_table("recommendations", recreate="always") as batch:
        batch.drop_constraint("pk_recommendations", type_="primary")
        batch.create_primary_key("pk_recommendations", ["target", "band"])
        batch.drop_column("scope")
