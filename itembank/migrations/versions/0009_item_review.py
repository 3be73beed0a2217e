"""Review of items, calibration flags, and pretest items that belong to a bank version.

* ``item_reviews``: every move of an item's status — who, when, from and to, why, the
  reviewers' notes per language (:class:`qabilet.itembank.review.ItemReview`).
* ``item_flags``: a calibration's warnings about items — misfit, DIF, drift
  (:class:`qabilet.itembank.review.ItemFlag`).
* ``bank_versions.pretest``: the items a version tries out unscored (existing versions: none).
* ``blueprints.pretest``: how many of them each session of the blueprint gets (NULL: none).
* ``responses.pretest``: an answer given to a pretest item (existing answers: scored ones).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_DOCUMENT = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    """Add the table and the three columns."""
    op.create_table(
        "item_reviews",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("item_id", sa.String(64), sa.ForeignKey("items.id", name="fk_item_reviews_item_id_items"),
                  nullable=False),
        sa.Column("from_status", sa.String(16), nullable=False),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("by", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("notes", _DOCUMENT, nullable=False),
        sa.Column("version", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_item_reviews"))
    op.create_index("ix_item_reviews_item_id", "item_reviews", ["item_id"])
    op.create_table(
        "item_flags",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("item_id", sa.String(64), sa.ForeignKey("items.id", name="fk_item_flags_item_id_items"),
                  nullable=False),
        sa.Column("bank_version", sa.Integer,
                  sa.ForeignKey("bank_versions.number", name="fk_item_flags_bank_version_bank_versions"),
                  nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("detail", _DOCUMENT, nullable=False),
        sa.Column("by", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_item_flags"))
    op.create_index("ix_item_flags_item_id", "item_flags", ["item_id"])
    # ADD COLUMN in place (the tables are referenced by foreign keys: no copy-and-rename)
    op.add_column("bank_versions", sa.Column("pretest", _DOCUMENT, nullable=False,
                                             server_default="[]"))
    op.add_column("blueprints", sa.Column("pretest", _DOCUMENT, nullable=True))
    op.add_column("responses", sa.Column("pretest", sa.Boolean, nullable=False,
                                         server_default=sa.false()))


def downgrade() -> None:
    """Drop them: the reviews, the versions' pretest lists and the answers' flags are lost."""
    for table in ("responses", "blueprints", "bank_versions"):  # SQLite >= 3.35 and PostgreSQL
        op.execute(f"ALTER TABLE {table} DROP COLUMN pretest")
    op.drop_index("ix_item_flags_item_id", "item_flags")
    op.drop_table("item_flags")
    op.drop_index("ix_item_reviews_item_id", "item_reviews")
    op.drop_table("item_reviews")
