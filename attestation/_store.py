"""What the attestation's repositories share: the engine, transactions, rows by key, audit rows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from qabilet.attestation.tables import BookingRow, CampaignMemberRow
from qabilet.engine.exceptions import NotFoundError
from qabilet.itembank._runtime import now
from qabilet.itembank.tables import AuditRow

_Row = TypeVar("_Row")

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
    def _found(s: Session, table: type[_Row], key: Any, missing: str, *,
               for_update: bool = False) -> _Row:
        """The row of ``table`` whose primary key is ``key``; :class:`NotFoundError` (``missing``) else."""
        row = s.get(table, key, with_for_update=for_update)
        if row is None:
            raise NotFoundError(missing)
        return row

    @classmethod
    def _member(cls, s: Session, campaign: str, personal_number: str) -> CampaignMemberRow:
        """A campaign's member's row (404 for an employee the campaign does not attest)."""
        return cls._found(s, CampaignMemberRow, (campaign, personal_number),
                          f"employee {personal_number!r} is not in campaign {campaign!r}")

    @classmethod
    def _booked(cls, s: Session, campaign: str, personal_number: str) -> BookingRow:
        """A member's booking's row (404 for a member without one)."""
        return cls._found(s, BookingRow, (campaign, personal_number),
                          f"employee {personal_number!r} has no booking in campaign {campaign!r}")

    @staticmethod
    def _audit(s: Session, actor: str, action: str, target: str | None,
               detail: dict[str, Any] | None = None) -> None:
        """A row of the audit log, in the change's transaction."""
        s.add(AuditRow(at=now(), actor=actor, action=action, target=target, detail=detail or {}))
