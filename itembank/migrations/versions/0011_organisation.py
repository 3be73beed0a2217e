"""The attestation's organisation: agencies, units, test centres, interview rooms, categories, employees.

The tables of :mod:`qabilet.attestation.tables`, on the bank's database (one migration chain):
each a JSON document with its lookup columns and foreign keys.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_DOCUMENT = sa.JSON().with_variant(JSONB(), "postgresql")


def _table(name: str, key: str, *columns: sa.Column) -> None:
    op.create_table(name, sa.Column(key, sa.String(64), nullable=False), *columns,
                    sa.Column("document", _DOCUMENT, nullable=False),
                    sa.PrimaryKeyConstraint(key, name=f"pk_{name}"))


def _fk(table: str, column: str, target: str, key: str = "id", *, nullable: bool = False
        ) -> sa.Column:
    return sa.Column(column, sa.String(64), sa.ForeignKey(
        f"{target}.{key}", name=f"fk_{table}_{column}_{target}"), nullable=nullable)


def upgrade() -> None:
    """Create the six tables and their indexes."""
    _table("agencies", "id")
    _table("units", "id", _fk("units", "agency", "agencies"),
           _fk("units", "parent", "units", nullable=True))
    _table("test_centres", "id", _fk("test_centres", "unit", "units"))
    _table("interview_rooms", "id", _fk("interview_rooms", "unit", "units"))
    _table("position_categories", "id", sa.Column("level", sa.String(16), nullable=False))
    _table("employees", "personal_number", _fk("employees", "unit", "units"),
           _fk("employees", "category", "position_categories"),
           _fk("employees", "supervisor", "employees", "personal_number", nullable=True))
    for table, column in (("units", "agency"), ("test_centres", "unit"),
                          ("interview_rooms", "unit"), ("employees", "unit"),
                          ("employees", "supervisor")):
        op.create_index(f"ix_{table}_{column}", table, [column])


def downgrade() -> None:
    """Drop them (the organisation's records go with them)."""
    for table in ("employees", "position_categories", "interview_rooms", "test_centres", "units",
                  "agencies"):
        op.drop_table(table)
