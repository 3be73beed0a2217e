"""Staff accounts, their grants and sessions; the test centre a session is held at.

The tables of :class:`~qabilet.attestation.tables.StaffAccountRow`, ``StaffGrantRow`` and
``StaffSessionRow`` (:mod:`qabilet.attestation.accounts`), and ``test_sessions.test_centre``
(:mod:`qabilet.attestation.access`: a proctor reaches the sessions of their centres).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _utc(name: str, *, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the three tables; add the column and its index."""
    op.create_table(
        "staff_accounts",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("employee", sa.String(64), sa.ForeignKey(
            "employees.personal_number", name="fk_staff_accounts_employee_employees")),
        sa.Column("password_hash", sa.String(256), nullable=False),
        _utc("created_at", nullable=False), _utc("disabled_at"),
        sa.Column("failures", sa.Integer(), nullable=False),
        _utc("locked_until"),
        sa.PrimaryKeyConstraint("id", name="pk_staff_accounts"),
        sa.UniqueConstraint("employee", name="uq_staff_accounts_employee"))
    op.create_table(
        "staff_grants",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account", sa.String(64), sa.ForeignKey(
            "staff_accounts.id", name="fk_staff_grants_account_staff_accounts"), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("unit", sa.String(64), sa.ForeignKey("units.id",
                                                        name="fk_staff_grants_unit_units")),
        sa.Column("trained_on", sa.Date()),
        _utc("granted_at", nullable=False),
        sa.Column("granted_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_staff_grants"))
    op.create_index("ix_staff_grants_account", "staff_grants", ["account"])
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("account", sa.String(64), sa.ForeignKey(
            "staff_accounts.id", name="fk_staff_sessions_account_staff_accounts"), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        _utc("created_at", nullable=False), _utc("seen_at", nullable=False), _utc("ended_at"),
        sa.PrimaryKeyConstraint("id", name="pk_staff_sessions"))
    op.create_index("ix_staff_sessions_account", "staff_sessions", ["account"])
    with op.batch_alter_table("test_sessions") as batch:
        batch.add_column(sa.Column("test_centre", sa.String(64)))
        batch.create_index("ix_test_sessions_test_centre", ["test_centre"])


def downgrade() -> None:
    """Drop them (accounts, grants and sessions are lost; sessions forget their centre)."""
    with op.batch_alter_table("test_sessions") as batch:
        batch.drop_index("ix_test_sessions_test_centre")
        batch.drop_column("test_centre")
    for table in ("staff_sessions", "staff_grants", "staff_accounts"):
        op.drop_table(table)
