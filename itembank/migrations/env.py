"""Alembic environment: the migrations run on the connection that `qabilet.itembank.database.upgrade` gives.

This folder is not an import package: Alembic loads its scripts itself.
"""

from __future__ import annotations

from alembic import context

from qabilet.itembank.tables import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
