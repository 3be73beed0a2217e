"""Alembic migrations of the item bank schema (run by :func:`itembank.database.upgrade`)."""
