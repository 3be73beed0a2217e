"""Every test that takes ``db_url`` runs on SQLite and on a real PostgreSQL (as the bank's do)."""

from tests.itembank.conftest import db_url, pg_url  # noqa: F401  (fixtures)
