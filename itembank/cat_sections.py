"""The IMS CAT interface's sections, the sessions opened in them, and the state-signing key.

A delivery platform that calls qabilet as its adaptive engine (:mod:`qabilet.api.ims_cat`)
first creates a *section* from its configuration — a level, a language, a blueprint and so a
bank version, a norm set, time limits, a test centre — and then opens sessions in it. The
sessions are qabilet's own (``test_sessions`` and their event logs); this store keeps only
what the interface adds: the section, which key owns it, and which section each session is
in. The key that signs the interface's session states lives here too (migration 0016 makes it),
so that every server on the database signs and checks with the same one.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import sessionmaker

from qabilet.engine.exceptions import ConflictError, NotFoundError
from qabilet.itembank._runtime import as_utc, now
from qabilet.itembank.tables import CatSectionRow, CatSessionRow, SigningKeyRow

__all__ = ["CatSection", "CatSections"]


@dataclass(frozen=True, slots=True)
class CatSection:
    """A section as configured.

    Attributes
    ----------
    id, owner : str
        Its identifier (the interface's ``sectionIdentifier``) and the actor of the key that
        created it (``key:<id>``), the only one that reaches it.
    level, language : str
        Of every session opened in it.
    blueprint_number, bank_version : int
        The level's blueprint and the bank version it runs.
    norm_set : int, optional
        The version's norm set its profiles use (None: the version's newest when a session opens).
    test_centre : str, optional
        Where its sessions are held.
    time_limit_s, item_time_limit_s : float, optional
        Of every session.
    identifiers : str
        How items are named to the platform: ``qti`` (``<item>.<language>``, the identifiers of
        qabilet's QTI export) or ``bank`` (the bank's item ids).
    configuration : dict
        The configuration as the platform sent it (decoded).
    created_at : datetime
    ended_at : datetime, optional
        When the platform ended it; no session opens in it after that.
    """

    id: str
    owner: str
    level: str
    language: str
    blueprint_number: int
    bank_version: int
    norm_set: int | None
    test_centre: str | None
    time_limit_s: float | None
    item_time_limit_s: float | None
    identifiers: str
    configuration: dict[str, Any]
    created_at: datetime
    ended_at: datetime | None


def _section(row: CatSectionRow) -> CatSection:
    return CatSection(id=row.id, owner=row.owner, level=row.level, language=row.language,
                      blueprint_number=row.blueprint_number, bank_version=row.bank_version,
                      norm_set=row.norm_set, test_centre=row.test_centre,
                      time_limit_s=row.time_limit_s, item_time_limit_s=row.item_time_limit_s,
                      identifiers=row.identifiers, configuration=dict(row.configuration),
                      created_at=as_utc(row.created_at),
                      ended_at=None if row.ended_at is None else as_utc(row.ended_at))


class CatSections:
    """The sections and their sessions on one database (the bank's).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        From :func:`qabilet.itembank.database.connect`.
    """

    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._keys: dict[str, bytes] = {}

    def create(self, *, owner: str, level: str, language: str, blueprint_number: int,
               bank_version: int, norm_set: int | None, test_centre: str | None,
               time_limit_s: float | None, item_time_limit_s: float | None, identifiers: str,
               configuration: dict[str, Any]) -> CatSection:
        """Record a section (the caller has checked its blueprint, version and centre)."""
        row = CatSectionRow(id=uuid.uuid4().hex, owner=owner, level=level, language=language,
                            blueprint_number=blueprint_number, bank_version=bank_version,
                            norm_set=norm_set, test_centre=test_centre,
                            time_limit_s=time_limit_s, item_time_limit_s=item_time_limit_s,
                            identifiers=identifiers, configuration=configuration,
                            created_at=now(), ended_at=None)
        with self._sessions.begin() as s:
            s.add(row)
        return _section(row)

    def get(self, section_id: str, owner: str) -> CatSection:
        """The section, if ``owner``'s.

        Raises
        ------
        NotFoundError
            No such section, or another key's (the same answer: a key learns nothing of
            sections that are not its own).
        """
        with self._sessions.begin() as s:
            row = s.get(CatSectionRow, section_id)
            if row is None or row.owner != owner:
                raise NotFoundError(f"section {section_id!r} does not exist")
            return _section(row)

    def end(self, section_id: str, owner: str) -> CatSection:
        """End the section: no session opens in it any more (its sessions go on); idempotent."""
        with self._sessions.begin() as s:
            row = s.get(CatSectionRow, section_id)
            if row is None or row.owner != owner:
                raise NotFoundError(f"section {section_id!r} does not exist")
            row.ended_at = row.ended_at or now()
            return _section(row)

    def link(self, section: CatSection, session_id: str, request: dict[str, Any]) -> None:
        """Record that ``session_id`` was opened in ``section`` (still open: checked here)."""
        with self._sessions.begin() as s:
            row = s.get(CatSectionRow, section.id, with_for_update=True)
            if row is None or row.ended_at is not None:
                raise ConflictError(f"section {section.id!r} has ended; no session opens in it")
            s.add(CatSessionRow(session_id=session_id, section_id=section.id, request=request))

    def section_of(self, session_id: str) -> str | None:
        """The section ``session_id`` was opened in; None for a session of qabilet's own API."""
        with self._sessions.begin() as s:
            return s.scalar(select(CatSessionRow.section_id)
                            .where(CatSessionRow.session_id == session_id))

    def sessions(self, section_id: str) -> list[str]:
        """The sessions opened in a section, in no particular order."""
        with self._sessions.begin() as s:
            return list(s.scalars(select(CatSessionRow.session_id)
                                  .where(CatSessionRow.section_id == section_id)))

    def signing_key(self, name: str = "cat_state") -> bytes:
        """The server secret ``name`` (made by migration 0016; read once per process).

        Raises
        ------
        NotFoundError
            The database has no such key (it was not made by the migrations).
        """
        if name not in self._keys:
            with self._sessions.begin() as s:
                secret = s.scalar(select(SigningKeyRow.secret).where(SigningKeyRow.name == name))
            if secret is None:
                raise NotFoundError(f"signing key {name!r} is missing: the database is not at "
                                    f"its newest schema (qabilet.itembank.database.upgrade)")
            self._keys[name] = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
        return self._keys[name]
