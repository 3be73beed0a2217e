"""An employee's personal data: exported on request, erased after the retention period.

**Export** (:func:`export_person`): everything the attestation holds about one employee, as one
JSON document — their record and account, and for each campaign their membership, exemption
requests (with their own documents, base64), evaluation sheets with every revision and event,
proposals and booking, interview, decision, and their test sessions with the answers given and
the profiles issued, each with its report (HTML, in the profile's language) — and the audit log's
entries about them.

**Erasure** (:func:`erase_person`) pseudonymises what names the person and keeps what the
attestation's integrity and calibration need: the record keeps its personal number (every table
refers to it) but loses the names, the day and month of birth, the position's words and the filed
documents, and is marked erased; their account is disabled and unlinked; the candidates of their
sessions lose their names; uploaded documents and signature files are deleted (a file another
request still uses stays); sheets keep their revisions' numbers and content hashes — what was
signed stays provable — but their words go; complaints, dissents, interview notes, the
recording's reference and the decision's summary go; proposals go. Answers stay, keyed by the
session and its random candidate id, without identity; profile records stay untouched (they hold
no name). :func:`erase_expired` erases everyone whose every campaign ended (its decisions'
deadline) more than the retention period ago. Every export and erasure is in the audit log.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from qabilet.attestation.campaigns import Campaign
from qabilet.attestation.tables import (
    BookingRow,
    CampaignMemberRow,
    CampaignRow,
    DecisionRow,
    EmployeeRow,
    ExemptionRow,
    FileRow,
    InterviewRow,
    ProposalRow,
    SheetEventRow,
    SheetRevisionRow,
    StaffAccountRow,
    StaffGrantRow,
)
from qabilet.engine.exceptions import NotFoundError
from qabilet.itembank._runtime import as_utc, now
from qabilet.itembank.tables import AuditRow, CandidateRow, SessionRow

__all__ = ["ERASED", "erase_expired", "erase_person", "export_person"]

#: what stands for erased words
ERASED = "[erased]"


def _rows(s: Session, table: Any, personal_number: str) -> list[Any]:
    return list(s.scalars(select(table).where(table.personal_number == personal_number)))


def _plain(row: Any) -> dict[str, Any]:
    """A row's columns, as JSON values."""
    out: dict[str, Any] = {}
    for column in row.__table__.columns:
        value = getattr(row, column.key)
        out[column.key] = (as_utc(value).isoformat() if isinstance(value, datetime) else
                           value.isoformat() if isinstance(value, date) else value)
    return out


def export_person(engine: Engine, personal_number: str, *, by: str) -> dict[str, Any]:
    """Everything about one employee (see the module notes), as a JSON-ready document."""
    from qabilet.delivery.report_html import render_profile_html
    from qabilet.itembank.repository import BankRepository
    from qabilet.itembank.session_store import SessionStore

    sessions = sessionmaker(engine)
    with sessions.begin() as s:
        person = s.get(EmployeeRow, personal_number)
        if person is None:
            raise NotFoundError(f"no employee with personal number {personal_number!r}")
        account = s.scalar(select(StaffAccountRow).where(StaffAccountRow.employee == personal_number))
        files = {r.file for r in _rows(s, ExemptionRow, personal_number) if r.file}
        document: dict[str, Any] = {
            "format": "qabilet-personal-data", "format_version": 1,
            "exported_at": now().isoformat(), "personal_number": personal_number,
            "record": person.document,
            "erased_at": None if person.erased_at is None else as_utc(person.erased_at).isoformat(),
            "account": None if account is None else {
                "username": account.id, "name": account.name,
                "created_at": as_utc(account.created_at).isoformat(),
                "grants": [_plain(g) for g in s.scalars(select(StaffGrantRow).where(
                    StaffGrantRow.account == account.id))]},
        }
        for key, table in (("campaigns", CampaignMemberRow), ("exemptions", ExemptionRow),
                           ("sheet_revisions", SheetRevisionRow), ("sheet_events", SheetEventRow),
                           ("proposals", ProposalRow), ("bookings", BookingRow),
                           ("interviews", InterviewRow), ("decisions", DecisionRow)):
            document[key] = [_plain(r) for r in _rows(s, table, personal_number)]
        document["files"] = [{"sha256": f.sha256, "media_type": f.media_type,
                              "content_base64": base64.b64encode(f.content).decode()}
                             for f in s.scalars(select(FileRow).where(FileRow.sha256.in_(files)))]
        session_ids = [b["session_id"] for b in document["bookings"] if b["session_id"]]
        candidates = {r.candidate_id for r in s.scalars(select(SessionRow).where(
            SessionRow.id.in_(session_ids)))}
    store, bank = SessionStore(engine), BankRepository(engine)
    document["sessions"] = [
        {"session": store.session(sid).model_dump(mode="json"),
         "events": [e.model_dump(mode="json") for e in store.events(sid)
                    if e.kind not in ("token",)]} for sid in session_ids]
    profiles = [p for c in sorted(candidates) for p in bank.profiles(c)]
    document["profiles"] = [{"profile": p.model_dump(mode="json"),
                             "report_html": render_profile_html(p, view="candidate")}
                            for p in profiles]
    document["audit"] = [{k: as_utc(v).isoformat() if isinstance(v, datetime) else v
                          for k, v in entry.items()}
                         for entry in store.audit_trail(f"employee:{personal_number}")]
    store.audit(by, "personal_data.export", f"employee:{personal_number}",
                {"sessions": len(session_ids), "profiles": len(profiles)})
    return document


def _pseudonym(personal_number: str) -> str:
    return "erased-" + hashlib.sha256(personal_number.encode()).hexdigest()[:10]


def erase_person(engine: Engine, personal_number: str, *, by: str) -> bool:
    """Pseudonymise one employee (see the module notes); False when erased already."""
    with sessionmaker(engine).begin() as s:
        person = s.get(EmployeeRow, personal_number, with_for_update=True)
        if person is None:
            raise NotFoundError(f"no employee with personal number {personal_number!r}")
        if person.erased_at is not None:
            return False
        record = dict(person.document)
        record.update(surname=_pseudonym(personal_number), given_name=ERASED,
                      born=f"{str(record['born'])[:4]}-01-01", position=ERASED, documents=[])
        record.pop("patronymic", None)
        person.document, person.erased_at = record, now()
        for account in s.scalars(select(StaffAccountRow).where(
                StaffAccountRow.employee == personal_number)):
            account.employee, account.name = None, _pseudonym(personal_number)
            account.disabled_at = account.disabled_at or now()
        _erase_files(s, personal_number)
        for rev in _rows(s, SheetRevisionRow, personal_number):
            rev.content = {"encouragements": [], "penalties": [], "warnings": [],
                           "assessment": ERASED}
        for event in _rows(s, SheetEventRow, personal_number):
            event.text = ERASED if event.text else None
            event.signature_file = None
        for interview in _rows(s, InterviewRow, personal_number):
            if interview.record:
                interview.record = {"ratings": interview.record.get("ratings", {}),
                                    "notes": ERASED}
            interview.video_url = None
        for decision in _rows(s, DecisionRow, personal_number):
            decision.summary = ERASED
        s.execute(delete(ProposalRow).where(ProposalRow.personal_number == personal_number))
        session_ids = [b.session_id for b in _rows(s, BookingRow, personal_number) if b.session_id]
        for candidate in s.scalars(select(CandidateRow).join(
                SessionRow, SessionRow.candidate_id == CandidateRow.id).where(
                SessionRow.id.in_(session_ids))):
            candidate.display_name, candidate.external_id = None, None
        s.add(AuditRow(at=now(), actor=by, action="personal_data.erase",
                       target=f"employee:{personal_number}", detail={"sessions": len(session_ids)}))
    return True


def _erase_files(s: Session, personal_number: str) -> None:
    """Unlink the person's files and delete those nothing else refers to."""
    mine = {r.file for r in _rows(s, ExemptionRow, personal_number) if r.file}
    mine |= {e.signature_file for e in _rows(s, SheetEventRow, personal_number) if e.signature_file}
    for request in _rows(s, ExemptionRow, personal_number):
        request.file = None
    for event in _rows(s, SheetEventRow, personal_number):
        event.signature_file = None
    s.flush()
    for digest in mine:
        used = (s.scalar(select(func.count()).select_from(ExemptionRow)
                         .where(ExemptionRow.file == digest)) or 0) + (
            s.scalar(select(func.count()).select_from(SheetEventRow)
                     .where(SheetEventRow.signature_file == digest)) or 0)
        if not used:
            s.execute(delete(FileRow).where(FileRow.sha256 == digest))


def erase_expired(engine: Engine, *, retention: timedelta, by: str,
                  today: date | None = None) -> list[str]:
    """Erase everyone whose every campaign's decisions ended more than ``retention`` ago.

    Returns the personal numbers erased now.
    """
    day = today or now().date()
    with sessionmaker(engine).begin() as s:
        ends = {r.id: Campaign.model_validate(r.document).deadlines.decisions
                for r in s.scalars(select(CampaignRow))}
        last: dict[str, date] = {}
        for campaign, pn in s.execute(select(CampaignMemberRow.campaign,
                                             CampaignMemberRow.personal_number)):
            last[pn] = max(last.get(pn, date.min), ends[campaign])
        erased = set(s.scalars(select(EmployeeRow.personal_number)
                               .where(EmployeeRow.erased_at.is_not(None))))
    due = sorted(pn for pn, end in last.items() if end + retention < day and pn not in erased)
    return [pn for pn in due if erase_person(engine, pn, by=by)]
