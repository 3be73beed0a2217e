"""Calibration jobs beat: ``calibration_jobs.heartbeat_at``, written by the job's runner while it runs.

A job runs in a thread of the server that accepted it. Whether its runner is still alive was
read from the process id it recorded — which says nothing about a process on another machine,
and may name another program's process in a container. Now the runner writes the time into
``heartbeat_at`` every few seconds; a queued or running job whose last beat is older than the
staleness limit reads as ``interrupted`` on any server (:mod:`qabilet.api.calibration_jobs`).
Jobs stored before get none: they read by their ``created_at``.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the column."""
    with op.batch_alter_table("calibration_jobs") as batch:
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    """Drop it (jobs are read by their process ids again)."""
    with op.batch_alter_table("calibration_jobs") as batch:
        batch.drop_column("heartbeat_at")
