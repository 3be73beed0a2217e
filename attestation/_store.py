"""What every repository of the attestation shares: the engine, a transaction, an audit row."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from qabilet.itembank._runtime import now
from qabilet.itembank.tables import AuditRow

__all__ = ["Store"]


class Store:
    """A repository on the bank's database (migrated: :func:`qabilet.itembank.database.connect`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        with self._sessions.begin() as s:
            yield s

    @staticmethod
    def _audit(s: Session, actor: str, action: str, target: str | None,
               detail: dict[str, Any] | None = None) -> None:
        """A row of the audit log, in the change's transaction."""
        s.add(AuditRow(at=now(), actor=actor, action=action, target=target, detail=detail or {}))
