"""The thin HTTP layer (FastAPI): sessions, their event logs, roles and reports."""

__all__: list[str] = []
