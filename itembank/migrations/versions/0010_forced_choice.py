"""Forced-choice blocks calibrated by a bank version, and block answers in the responses.

* ``bank_versions.forced_choice``: the version's forced-choice parameters — statements' utility
  parameters and the traits' correlations (:mod:`qabilet.itembank.forced_choice_parameters`);
  NULL for a version without blocks (every existing one).
* ``responses.ranking``: a block's answer as given, its statement ids from most to least like
  the candidate joined by ``>`` (``=`` between statements whose order was not asked); NULL for
  an item's answer (every existing one), whose ``code`` is the answer.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_DOCUMENT = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    """Add the two columns (ADD COLUMN in place: the tables are referenced by foreign keys)."""
    op.add_column("bank_versions", sa.Column("forced_choice", _DOCUMENT, nullable=True))
    op.add_column("responses", sa.Column("ranking", sa.String(200), nullable=True))


def downgrade() -> None:
    """Drop the columns (a version's blocks and block answers go with them)."""
    op.execute("ALTER TABLE responses DROP COLUMN ranking")  # SQLite >= 3.35 and PostgreSQL
    op.execute("ALTER TABLE bank_versions DROP COLUMN forced_choice")
