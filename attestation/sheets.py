"""The evaluation sheet: drawn up by the supervisor, signed, disputed or dissented by the employee.

Stage 1 of the attestation (docs/design.md §1): the direct supervisor draws up the sheet from the
employee's service record — encouragements, disciplinary penalties and warnings, each with its
date, and a free-text assessment. The employee reads it and

* **signs** it: an authenticated acknowledgement of one exact revision — its number and the
  SHA-256 of its content (canonical JSON), the account and the time; an electronic digital
  signature file may be attached and is stored with it (verifying one needs the national PKI:
  out of scope, it is kept as filed);
* **disputes** it, when it holds false information: a complaint to HR, which either **corrects**
  the sheet — a new revision, the old one kept — or **rejects** the complaint with a reason;
  the employee then reads it again;
* or writes a **dissent** in its own section: the sheet goes on with their disagreement on it.

Every revision and event is kept (:class:`~qabilet.attestation.tables.SheetRevisionRow`,
``SheetEventRow``) and audited. A sheet neither signed nor dissented when the campaign's
``sheets`` deadline has passed is shown as **unsigned** (:attr:`Sheet.status`). A campaign's
sheets are counted in the database (:meth:`SheetRepository.states`,
:meth:`SheetRepository.progress`), never by reading every sheet.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints
from sqlalchemy import ColumnElement, Engine, Subquery, case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qabilet.attestation._store import Store
from qabilet.attestation.campaigns import Campaign
from qabilet.attestation.files import Upload, store_file
from qabilet.attestation.tables import (
    BookingRow,
    CampaignMemberRow,
    CampaignRow,
    ExemptionRow,
    SheetEventRow,
    SheetRevisionRow,
)
from qabilet.engine.exceptions import ConflictError, InvalidParameterError
from qabilet.itembank._runtime import as_utc, now
from qabilet.itembank._schema import Schema

__all__ = ["STATES", "Entry", "Progress", "Sheet", "SheetContent", "SheetEvent", "SheetRepository",
           "content_hash"]

Words = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class Entry(Schema):
    """A dated line of the service record: an encouragement, a penalty or a warning."""

    on: date
    text: Words


class SheetContent(Schema):
    """What a revision of the sheet says."""

    encouragements: list[Entry] = Field(default_factory=list, max_length=100)
    penalties: list[Entry] = Field(default_factory=list, max_length=100)
    warnings: list[Entry] = Field(default_factory=list, max_length=100)
    assessment: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                 max_length=8000)]


def content_hash(content: SheetContent) -> str:
    """SHA-256 of the content's canonical JSON (sorted keys, no spaces, UTF-8)."""
    canonical = json.dumps(content.model_dump(mode="json"), sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Revision:
    """A revision of the sheet."""

    number: int
    content: SheetContent
    content_hash: str
    author: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SheetEvent:
    """Something done to a revision: ``signed``, ``disputed``, ``rejected``, ``dissent``."""

    revision: int
    content_hash: str
    kind: str
    text: str | None
    signature_file: str | None
    by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Sheet:
    """An employee's sheet in a campaign: every revision and event, and where it stands."""

    campaign: str
    personal_number: str
    revisions: tuple[Revision, ...]
    events: tuple[SheetEvent, ...]
    state: str  # not_drawn_up, presented, disputed, signed, dissent
    overdue: bool

    @property
    def latest(self) -> Revision | None:
        """The revision in force."""
        return self.revisions[-1] if self.revisions else None

    @property
    def status(self) -> str:
        """The state, or ``unsigned`` once the deadline passed without a signature or dissent."""
        return "unsigned" if self.overdue else self.state


#: a sheet's states, in the order of its life (``unsigned``: past the deadline, unacknowledged)
STATES = ("not_drawn_up", "presented", "disputed", "signed", "dissent", "unsigned")
#: the states in which the employee has acknowledged the sheet in force
ACKNOWLEDGED = ("signed", "dissent")
#: the events whose kind is the sheet's state (a rejected complaint presents the sheet again)
_STATE_EVENTS = ("signed", "dissent", "disputed")


@dataclass(frozen=True, slots=True)
class Progress:
    """A campaign's counts in one unit (``unit`` None: all the units counted).

    Attributes
    ----------
    unit : str, optional
        The unit's id, as the members had it when the campaign opened.
    members, exempt, booked : int
        Its members; those with an approved exemption; those booked for the test.
    states : dict
        Its members' sheets by :attr:`Sheet.status` (a state no sheet is in is left out).
    """

    unit: str | None
    members: int
    exempt: int
    booked: int
    states: dict[str, int]


def _state(revisions: list[Revision], events: list[SheetEvent]) -> str:
    if not revisions:
        return "not_drawn_up"
    latest = revisions[-1].number
    state = "presented"
    for e in events:
        if e.revision != latest:
            continue
        if e.kind in ("signed", "dissent", "disputed"):
            state = e.kind
        elif e.kind == "rejected":
            state = "presented"
    return state


class SheetRepository(Store):
    """Evaluation sheets on one database (migration 0013); the caller checks who may act."""

    def __init__(self, engine: Engine, *, today: Any = None) -> None:
        super().__init__(engine)
        self._today = today or (lambda: now().date())

    def _load(self, s: Session, campaign: str, personal_number: str) -> Sheet:
        self._member(s, campaign, personal_number)
        where = (SheetRevisionRow.campaign == campaign,
                 SheetRevisionRow.personal_number == personal_number)
        revisions = [Revision(r.revision, SheetContent.model_validate(r.content), r.content_hash,
                              r.author, as_utc(r.created_at))
                     for r in s.scalars(select(SheetRevisionRow).where(*where)
                                        .order_by(SheetRevisionRow.revision))]
        events = [SheetEvent(e.revision, e.content_hash, e.kind, e.text, e.signature_file, e.by,
                             as_utc(e.at))
                  for e in s.scalars(select(SheetEventRow).where(
                      SheetEventRow.campaign == campaign,
                      SheetEventRow.personal_number == personal_number).order_by(SheetEventRow.id))]
        state = _state(revisions, events)
        return Sheet(campaign, personal_number, tuple(revisions), tuple(events), state,
                     overdue=state not in ACKNOWLEDGED and self._late(s, campaign))

    def _late(self, s: Session, campaign: str) -> bool:
        """Whether the campaign's ``sheets`` deadline has passed (404 for no campaign)."""
        row = self._found(s, CampaignRow, campaign, f"no campaign {campaign!r}")
        return self._today() > Campaign.model_validate(row.document).deadlines.sheets

    def sheet(self, campaign: str, personal_number: str) -> Sheet:
        """The employee's sheet in the campaign (404 for someone the campaign does not attest)."""
        with self._transaction() as s:
            return self._load(s, campaign, personal_number)

    def _revise(self, campaign: str, personal_number: str, content: SheetContent, *, by: str,
                allowed: tuple[str, ...], action: str) -> Sheet:
        try:
            with self._transaction() as s:
                sheet = self._load(s, campaign, personal_number)
                if sheet.state not in allowed:
                    raise ConflictError(f"the sheet is {sheet.state}: it cannot be "
                                        f"{'corrected' if action == 'sheet.correct' else 'drawn up'}"
                                        f" now")
                number = len(sheet.revisions) + 1
                digest = content_hash(content)
                s.add(SheetRevisionRow(campaign=campaign, personal_number=personal_number,
                                       revision=number, content=content.model_dump(mode="json"),
                                       content_hash=digest, author=by, created_at=now()))
                self._audit(s, by, action, f"employee:{personal_number}",
                            {"campaign": campaign, "revision": number, "hash": digest})
        except IntegrityError:  # another revision took the number meanwhile
            raise ConflictError("the sheet changed meanwhile; read it again") from None
        return self.sheet(campaign, personal_number)

    def draw_up(self, campaign: str, personal_number: str, content: SheetContent, *,
                by: str) -> Sheet:
        """The supervisor's sheet: a first revision, or a new one before the employee acted on it."""
        return self._revise(campaign, personal_number, content, by=by,
                            allowed=("not_drawn_up", "presented"), action="sheet.draw_up")

    def correct(self, campaign: str, personal_number: str, content: SheetContent, *,
                by: str) -> Sheet:
        """HR's correction of a disputed sheet: a new revision (the disputed one is kept)."""
        return self._revise(campaign, personal_number, content, by=by, allowed=("disputed",),
                            action="sheet.correct")

    def _event(self, campaign: str, personal_number: str, kind: str, *, revision: int,
               digest: str, by: str, text: str | None = None, allowed: tuple[str, ...],
               signature: Upload | None = None) -> Sheet:
        if text is not None and not 0 < len(text.strip()) <= 8000:
            raise InvalidParameterError("text: expected 1 to 8000 characters")
        with self._transaction() as s:
            sheet = self._load(s, campaign, personal_number)
            latest = sheet.latest
            if latest is None or (revision, digest) != (latest.number, latest.content_hash):
                raise ConflictError(
                    "revision: not the sheet in force"
                    + ("" if latest is None else f" (revision {latest.number}, "
                                                 f"{latest.content_hash[:12]}…); read it again"))
            if sheet.state not in allowed:
                raise ConflictError(f"the sheet is {sheet.state}: it cannot be {kind} now")
            file = None if signature is None else store_file(s, signature, by=by)
            s.add(SheetEventRow(campaign=campaign, personal_number=personal_number,
                                revision=revision, content_hash=digest, kind=kind,
                                text=None if text is None else text.strip(),
                                signature_file=file, by=by, at=now()))
            self._audit(s, by, f"sheet.{kind}", f"employee:{personal_number}",
                        {"campaign": campaign, "revision": revision, "hash": digest,
                         "signature_file": file})
            s.flush()
            return self._load(s, campaign, personal_number)

    def sign(self, campaign: str, personal_number: str, *, revision: int, digest: str, by: str,
             signature: Upload | None = None) -> Sheet:
        """The employee's signature on the revision in force (its number and content hash)."""
        return self._event(campaign, personal_number, "signed", revision=revision, digest=digest,
                           by=by, allowed=("presented",), signature=signature)

    def dispute(self, campaign: str, personal_number: str, *, revision: int, digest: str,
                complaint: str, by: str) -> Sheet:
        """The employee's complaint to HR that the revision in force holds false information."""
        return self._event(campaign, personal_number, "disputed", revision=revision,
                           digest=digest, by=by, text=complaint, allowed=("presented",))

    def dissent(self, campaign: str, personal_number: str, *, revision: int, digest: str,
                text: str, by: str) -> Sheet:
        """The employee's dissent, written in its section of the revision in force."""
        return self._event(campaign, personal_number, "dissent", revision=revision,
                           digest=digest, by=by, text=text, allowed=("presented",))

    def reject_complaint(self, campaign: str, personal_number: str, *, reason: str,
                         by: str) -> Sheet:
        """HR rejects the complaint with a reason; the revision in force is presented again."""
        latest = self.sheet(campaign, personal_number).latest
        if latest is None:
            raise ConflictError("the sheet is not drawn up")
        return self._event(campaign, personal_number, "rejected", revision=latest.number,
                           digest=latest.content_hash, by=by, text=reason, allowed=("disputed",))

    def states(self, campaign: str) -> dict[str, str]:
        """Every member's sheet status (``unsigned`` past the deadline), by personal number."""
        with self._transaction() as s:
            member = _member_states(campaign, late=self._late(s, campaign))
            return {pn: state for pn, state in s.execute(select(member.c.personal_number,
                                                                member.c.state))}

    def progress(self, campaign: str, *, units: Collection[str] | None = None) -> list[Progress]:
        """The campaign's members, exemptions, bookings and sheets by state, counted per unit.

        One ``GROUP BY`` over the members of ``units`` (None: every unit), by unit id, then the
        total of them all (``unit`` None) last; no rows for no member.
        """
        with self._transaction() as s:
            member = _member_states(campaign, late=self._late(s, campaign))
            exempt = (select(ExemptionRow.personal_number).distinct()
                      .where(ExemptionRow.campaign == campaign, ExemptionRow.status == "approved")
                      .subquery())
            query = (select(member.c.unit, member.c.state, func.count(),
                            func.count(exempt.c.personal_number),
                            func.count(BookingRow.personal_number))
                     .select_from(member)
                     .outerjoin(exempt, exempt.c.personal_number == member.c.personal_number)
                     .outerjoin(BookingRow, (BookingRow.campaign == campaign)
                                & (BookingRow.personal_number == member.c.personal_number))
                     .group_by(member.c.unit, member.c.state)
                     .order_by(member.c.unit, member.c.state))
            if units is not None:
                query = query.where(member.c.unit.in_(sorted(units)))
            groups = [(unit, state, n, exempt_n, booked)
                      for unit, state, n, exempt_n, booked in s.execute(query)]
        listed = [_counted(u, [g for g in groups if g[0] == u]) for u in sorted({g[0] for g in groups})]
        return [*listed, _counted(None, groups)] if groups else []


def _counted(unit: str | None, groups: Sequence[tuple[str, str, int, int, int]]) -> Progress:
    """The :class:`Progress` of ``groups`` (unit, state, members, exempt, booked) added up."""
    states: dict[str, int] = {}
    for _, state, members, _, _ in groups:
        states[state] = states.get(state, 0) + members
    return Progress(unit, members=sum(g[2] for g in groups), exempt=sum(g[3] for g in groups),
                    booked=sum(g[4] for g in groups), states=states)


def _member_states(campaign: str, *, late: bool) -> Subquery:
    """Each member's (personal number, unit, sheet status), worked out in SQL as :func:`_state` does.

    The latest revision's last event (by id) gives the state — ``signed``, ``dissent``,
    ``disputed``; ``presented`` after none or a rejected complaint; ``not_drawn_up`` without a
    revision — and past the deadline (``late``) any but an acknowledged one is ``unsigned``.
    """
    latest = (select(SheetRevisionRow.personal_number,
                     func.max(SheetRevisionRow.revision).label("revision"))
              .where(SheetRevisionRow.campaign == campaign)
              .group_by(SheetRevisionRow.personal_number).subquery())
    last = (select(SheetEventRow.personal_number, func.max(SheetEventRow.id).label("id"))
            .join(latest, (latest.c.personal_number == SheetEventRow.personal_number)
                  & (latest.c.revision == SheetEventRow.revision))
            .where(SheetEventRow.campaign == campaign)
            .group_by(SheetEventRow.personal_number).subquery())
    state: ColumnElement[str] = case(
        (latest.c.revision.is_(None), "not_drawn_up"),
        (SheetEventRow.kind.in_(_STATE_EVENTS), SheetEventRow.kind), else_="presented")
    if late:
        state = case((state.in_(ACKNOWLEDGED), state), else_="unsigned")
    return (select(CampaignMemberRow.personal_number, CampaignMemberRow.unit,
                   state.label("state"))
            .outerjoin(latest, latest.c.personal_number == CampaignMemberRow.personal_number)
            .outerjoin(last, last.c.personal_number == CampaignMemberRow.personal_number)
            .outerjoin(SheetEventRow, SheetEventRow.id == last.c.id)
            .where(CampaignMemberRow.campaign == campaign).subquery())
