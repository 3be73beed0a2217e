"""The first tables.

Items, scales, dimensions, recommendations, bank versions and their item parameters, norm sets,
blueprints, responses.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _document() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _to_versions(column: str, table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], ["bank_versions.number"],
                                   name=f"fk_{table}_{column}_bank_versions")


def upgrade() -> None:
    """Create the tables."""
    op.create_table(
        "bank_versions",
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("label", sa.String(200)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("published_at", _utc()),
        sa.Column("provenance", _document(), nullable=False),
        sa.Column("fit", _document(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("number", name="pk_bank_versions"),
    )
    op.create_table(
        "dimensions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("document", _document(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dimensions"),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("dimension", sa.String(64)),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("document", _document(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_items"),
    )
    op.create_index("ix_items_dimension", "items", ["dimension"])
    op.create_index("ix_items_status", "items", ["status"])
    op.create_table(
        "recommendations",
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("band", sa.String(16), nullable=False),
        sa.Column("document", _document(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("target", "band", name="pk_recommendations"),
    )
    op.create_table(
        "scales",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("document", _document(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_scales"),
    )
    op.create_table(
        "blueprints",
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("bank_version", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(200)),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("sections", _document(), nullable=False),
        _to_versions("bank_version", "blueprints"),
        sa.PrimaryKeyConstraint("level", "number", name="pk_blueprints"),
    )
    op.create_table(
        "item_parameters",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("record", _document(), nullable=False),
        _to_versions("version", "item_parameters"),
        sa.PrimaryKeyConstraint("version", "position", name="pk_item_parameters"),
    )
    op.create_index("ix_item_parameters_version_item", "item_parameters", ["version", "item_id"],
                    unique=True)
    op.create_table(
        "norm_sets",
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("bank_version", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(200)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("demonstration", sa.Boolean(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("published_at", _utc()),
        sa.Column("levels", _document(), nullable=False),
        _to_versions("bank_version", "norm_sets"),
        sa.PrimaryKeyConstraint("number", name="pk_norm_sets"),
    )
    op.create_index("ix_norm_sets_bank_version", "norm_sets", ["bank_version"])
    op.create_table(
        "responses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(128), nullable=False),
        sa.Column("session_id", sa.String(64)),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("bank_version", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("category", sa.Integer(), nullable=False),
        sa.Column("response_time_s", sa.Float()),
        sa.Column("answered_at", _utc(), nullable=False),
        sa.Column("note", sa.Text()),
        _to_versions("bank_version", "responses"),
        sa.PrimaryKeyConstraint("id", name="pk_responses"),
    )
    for column in ("answered_at", "bank_version", "person_id"):
        op.create_index(f"ix_responses_{column}", "responses", [column])


def downgrade() -> None:
    """Drop them."""
    for table in ("responses", "norm_sets", "item_parameters", "blueprints", "scales",
                  "recommendations", "items", "dimensions", "bank_versions"):
        op.drop_table(table)
