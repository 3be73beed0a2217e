"""Campaigns: who is attested, by when, with which bank; and the exemptions requested in them.

A **campaign** (e.g. the comprehensive attestation of 2017) names the units whose employees it
attests (with the units inside them) and the levels, the deadline of each stage, the bank
version and norm set its tests use, the outcomes the commission chooses from, and how far an
exemption reaches: the testing stage only (the default) or the whole attestation. Opening it
records its **members** — each employee in scope with their unit and level as they stand that
day — so that a later change to the organisation does not move anyone in or out.

An **exemption** is requested for a member on a ground of :data:`~qabilet.attestation.exemptions
.GROUNDS`, with the document that proves it (checked by content, stored by its digest:
:mod:`qabilet.attestation.files`); the grounds the record can decide are checked on the day the
testing opens and the result is kept with the request; HR approves or rejects it with a reason.
Every request and decision is a row of the audit log.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, model_validator
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from qabilet.attestation._store import Store
from qabilet.attestation.access import Reach, descendants
from qabilet.attestation.accounts import unit_parents
from qabilet.attestation.exemptions import (
    GROUNDS,
    KAZAKHSTAN,
    RetirementSchedule,
    check_ground,
)
from qabilet.attestation.files import Upload, store_file
from qabilet.attestation.organisation import Names, Text
from qabilet.attestation.tables import (
    CampaignMemberRow,
    CampaignRow,
    CategoryRow,
    EmployeeRow,
    ExemptionRow,
    FileRow,
)
from qabilet.engine.exceptions import ConflictError, InvalidParameterError, NotFoundError
from qabilet.itembank._runtime import as_utc, now
from qabilet.itembank._schema import Schema
from qabilet.itembank.content import Identifier, Level

__all__ = ["Campaign", "CampaignRepository", "Deadlines", "Exemption", "Member"]

#: the commission's outcomes unless a campaign names its own
OUTCOMES = ("attested", "attested_with_plan", "not_completed")


def _all_levels() -> list[Level]:
    return ["high", "middle", "low"]


class Deadlines(Schema):
    """The last day of each stage, in order."""

    sheets: date = Field(description="Evaluation sheets drawn up and signed by.")
    testing_from: date
    testing_until: date
    interviews_until: date
    decisions: date

    @model_validator(mode="after")
    def _in_order(self) -> Deadlines:
        if not self.testing_from <= self.testing_until <= self.interviews_until <= self.decisions:
            raise ValueError("deadlines: expected testing_from ≤ testing_until ≤ "
                             "interviews_until ≤ decisions")
        return self


class Campaign(Schema):
    """A campaign as HR defines it (see the module notes)."""

    id: Identifier
    name: Names
    units: Annotated[list[Identifier], Field(min_length=1)]
    levels: Annotated[list[Level], Field(min_length=1)] = Field(default_factory=_all_levels)
    deadlines: Deadlines
    bank_version: int | None = Field(default=None, ge=1)
    norm_set: int | None = Field(default=None, ge=1)
    exemption_scope: Literal["testing", "attestation"] = "testing"
    outcomes: Annotated[list[Identifier], Field(min_length=2)] = Field(
        default_factory=lambda: list(OUTCOMES))
    retirement: dict[Literal["f", "m"], list[tuple[int, float]]] | None = Field(
        default=None, description="The retirement-age schedule (default Kazakhstan's).")
    note: Text | None = None

    @property
    def schedule(self) -> RetirementSchedule:
        """The retirement-age schedule the exemptions are checked against."""
        if self.retirement is None:
            return KAZAKHSTAN
        return RetirementSchedule({sex: tuple((int(y), float(a)) for y, a in steps)
                                   for sex, steps in self.retirement.items()})


@dataclass(frozen=True, slots=True)
class Member:
    """An employee in a campaign, with the unit and level they had when it opened."""

    personal_number: str
    unit: str
    level: str


@dataclass(frozen=True, slots=True)
class Exemption:
    """A request for exemption and its decision."""

    id: int
    campaign: str
    personal_number: str
    ground: str
    file: str | None
    check_holds: bool | None
    check_note: str
    status: str  # requested, approved, rejected
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None


class CampaignRepository(Store):
    """Campaigns, their members and exemptions on one database (migration 0013)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)

    # -- campaigns --------------------------------------------------------------------------------------
    def open(self, campaign: Campaign, *, by: str, within: Reach | None = None) -> int:
        """Open a campaign: store it and record its members; how many there are.

        ``within``: the HR officer's reach — every unit of the campaign must be theirs. The bank
        version and norm set named must be published, the norm set of that version.
        """
        self._check_bank(campaign)
        with self._transaction() as s:
            parents = unit_parents(s)
            for unit in campaign.units:
                if unit not in parents:
                    raise InvalidParameterError(f"units: no unit {unit!r}")
                if within is not None and not within.covers(unit, "hr"):
                    raise InvalidParameterError(f"units: {unit!r} is outside your units")
            if s.get(CampaignRow, campaign.id) is not None:
                raise ConflictError(f"id: a campaign {campaign.id!r} exists already")
            scope = set().union(*(descendants(parents, u) for u in campaign.units))
            rows = s.execute(select(EmployeeRow.personal_number, EmployeeRow.unit, CategoryRow.level)
                             .join(CategoryRow, CategoryRow.id == EmployeeRow.category)
                             .where(EmployeeRow.unit.in_(sorted(scope)),
                                    CategoryRow.level.in_(campaign.levels))).all()
            s.add(CampaignRow(id=campaign.id, status="open", created_at=now(), created_by=by,
                              document=campaign.model_dump(mode="json", exclude_none=True)))
            s.flush()
            s.add_all(CampaignMemberRow(campaign=campaign.id, personal_number=pn, unit=unit,
                                        level=level) for pn, unit, level in rows)
            self._audit(s, by, "campaign.open", f"campaign:{campaign.id}",
                        {"members": len(rows), "units": campaign.units})
            return len(rows)

    def _check_bank(self, campaign: Campaign) -> None:
        from qabilet.itembank.repository import BankRepository

        bank = BankRepository(self.engine)
        try:
            if campaign.bank_version is not None:
                version = bank.version(campaign.bank_version)
                if version.status != "published":
                    raise InvalidParameterError(f"bank_version: version {version.number} is a "
                                                f"draft; publish it first")
            if campaign.norm_set is not None:
                norms = bank.norm_set(campaign.norm_set)
                if norms.status != "published" or campaign.bank_version not in (
                        None, norms.bank_version):
                    raise InvalidParameterError(
                        f"norm_set: norm set {norms.number} is not a published norm set of bank "
                        f"version {campaign.bank_version}")
        except NotFoundError as exc:
            raise InvalidParameterError(str(exc)) from None

    def campaign(self, campaign_id: str) -> Campaign:
        """One campaign."""
        with self._transaction() as s:
            row = self._found(s, CampaignRow, campaign_id, f"no campaign {campaign_id!r}")
            return Campaign.model_validate(row.document)

    def campaigns(self) -> list[Campaign]:
        """Every campaign, newest first."""
        with self._transaction() as s:
            rows = s.scalars(select(CampaignRow).order_by(CampaignRow.created_at.desc()))
            return [Campaign.model_validate(r.document) for r in rows]

    def members(self, campaign_id: str, *, units: Collection[str] | None = None) -> list[Member]:
        """The campaign's members (of ``units``), by personal number."""
        query = select(CampaignMemberRow).where(CampaignMemberRow.campaign == campaign_id)
        if units is not None:
            query = query.where(CampaignMemberRow.unit.in_(sorted(units)))
        with self._transaction() as s:
            return [Member(r.personal_number, r.unit, r.level)
                    for r in s.scalars(query.order_by(CampaignMemberRow.personal_number))]

    def member(self, campaign_id: str, personal_number: str) -> Member:
        """One member (404 for an employee the campaign does not attest)."""
        with self._transaction() as s:
            row = self._member(s, campaign_id, personal_number)
            return Member(row.personal_number, row.unit, row.level)

    # -- exemptions -------------------------------------------------------------------------------------
    def request_exemption(self, campaign_id: str, personal_number: str, ground: str, *,
                          document: Upload | None, by: str) -> Exemption:
        """Request an exemption for a member, on a ground, with the document that proves it.

        Raises
        ------
        InvalidParameterError
            An unknown ground, a ground the record contradicts (a man's maternity leave), or no
            document for a ground that rests on one.
        ConflictError
            A request on the same ground waits for its decision or was approved.
        """
        campaign = self.campaign(campaign_id)
        if ground not in GROUNDS:
            raise InvalidParameterError(f"ground: expected one of {', '.join(GROUNDS)}; got "
                                        f"{ground!r}")
        with self._transaction() as s:
            self._member(s, campaign_id, personal_number)
            person = s.get(EmployeeRow, personal_number)
            assert person is not None  # a member is an employee (foreign key)
            record = person.document
            check = check_ground(ground, sex=record["sex"], born=date.fromisoformat(record["born"]),
                                 entered_service=date.fromisoformat(record["entered_service"]),
                                 on=campaign.deadlines.testing_from, schedule=campaign.schedule)
            if check.holds is False and ground not in ("near_retirement", "short_service"):
                raise InvalidParameterError(f"ground: {check.note}")
            if document is None and check.holds is None:
                raise InvalidParameterError("file: this ground rests on a document; upload it")
            pending = s.scalar(select(func.count()).select_from(ExemptionRow).where(
                ExemptionRow.campaign == campaign_id, ExemptionRow.personal_number == personal_number,
                ExemptionRow.ground == ground, ExemptionRow.status.in_(["requested", "approved"])))
            if pending:
                raise ConflictError(f"ground: a request on {ground!r} is waiting or approved")
            digest = None if document is None else store_file(s, document, by=by)
            row = ExemptionRow(campaign=campaign_id, personal_number=personal_number,
                               ground=ground, file=digest, check_holds=check.holds,
                               check_note=check.note, status="requested", requested_by=by,
                               requested_at=now())
            s.add(row)
            s.flush()
            self._audit(s, by, "exemption.request", f"employee:{personal_number}",
                        {"campaign": campaign_id, "ground": ground, "exemption": row.id,
                         "file": digest})
            return _exemption(row)

    def decide_exemption(self, exemption_id: int, *, approve: bool, reason: str,
                         by: str) -> Exemption:
        """HR's decision, with its reason; a request is decided once."""
        if not 0 < len(reason.strip()) <= 2000:
            raise InvalidParameterError("reason: expected 1 to 2000 characters")
        try:
            with self._transaction() as s:
                row = self._found(s, ExemptionRow, exemption_id, f"no exemption {exemption_id}",
                                  for_update=True)
                if row.status != "requested":
                    raise ConflictError(f"exemption {exemption_id} was {row.status} already")
                row.status = "approved" if approve else "rejected"
                row.decided_by, row.decided_at, row.reason = by, now(), reason.strip()
                self._audit(s, by, "exemption.decide", f"employee:{row.personal_number}",
                            {"exemption": exemption_id, "status": row.status})
                return _exemption(row)
        except IntegrityError:
            raise ConflictError(f"exemption {exemption_id} changed meanwhile") from None

    def exemption(self, exemption_id: int) -> Exemption:
        """One request."""
        with self._transaction() as s:
            row = self._found(s, ExemptionRow, exemption_id, f"no exemption {exemption_id}")
            return _exemption(row)

    def exemptions(self, campaign_id: str, *, units: Collection[str] | None = None,
                   personal_number: str | None = None,
                   status: str | None = None) -> list[Exemption]:
        """The campaign's requests (of ``units``' members, of one employee, in one status), oldest first."""
        query = (select(ExemptionRow).join(CampaignMemberRow, (
            CampaignMemberRow.campaign == ExemptionRow.campaign) & (
            CampaignMemberRow.personal_number == ExemptionRow.personal_number))
                 .where(ExemptionRow.campaign == campaign_id).order_by(ExemptionRow.id))
        if units is not None:
            query = query.where(CampaignMemberRow.unit.in_(sorted(units)))
        if personal_number is not None:
            query = query.where(ExemptionRow.personal_number == personal_number)
        if status is not None:
            query = query.where(ExemptionRow.status == status)
        with self._transaction() as s:
            return [_exemption(r) for r in s.scalars(query)]

    def exempt(self, campaign_id: str) -> dict[str, str]:
        """The members with an approved exemption → the ground."""
        with self._transaction() as s:
            rows = s.execute(select(ExemptionRow.personal_number, ExemptionRow.ground).where(
                ExemptionRow.campaign == campaign_id, ExemptionRow.status == "approved"))
            return {pn: ground for pn, ground in rows}

    def file(self, sha256: str) -> tuple[str, bytes]:
        """A stored file's media type and bytes."""
        with self._transaction() as s:
            row = self._found(s, FileRow, sha256, f"no file {sha256!r}")
            return row.media_type, row.content


def _exemption(row: ExemptionRow) -> Exemption:
    return Exemption(row.id, row.campaign, row.personal_number, row.ground, row.file,
                     row.check_holds, row.check_note, row.status, row.requested_by,
                     as_utc(row.requested_at), row.decided_by,
                     None if row.decided_at is None else as_utc(row.decided_at), row.reason)
