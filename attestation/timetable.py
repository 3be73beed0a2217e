"""A campaign's timetable: the slots on offer, the employees' proposals, and their bookings.

The slots are cut from the opening hours of the test centres the members may go to
(:func:`~qabilet.attestation.scheduling.slots_of`, over the campaign's testing days): a member's
**eligible centres** are their own unit's, else those of the nearest unit above theirs that has
one, else every such centre of the campaign. A member (or HR for them) **proposes** up to
:data:`MAX_PROPOSALS` slots, first choice first. **Scheduling** (:meth:`TimetableRepository
.schedule`) books every member who is neither exempt nor booked yet, by the lexicographic
assignment of :func:`~qabilet.attestation.scheduling.schedule` — the confirmed bookings keep their
seats, the slots that have begun are not offered — and reports how many got their first choice
against the most possible. A **no-show** releases the booking: the next scheduling books them
again. The session issued for a booking is recorded on it (by the web layer, which makes it).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from qabilet.attestation._store import Store
from qabilet.attestation.accounts import unit_parents
from qabilet.attestation.campaigns import CampaignRepository
from qabilet.attestation.organisation import TestCentre
from qabilet.attestation.scheduling import (
    Assignment,
    Request,
    Schedule,
    Seat,
    Slot,
    schedule,
    slots_of,
)
from qabilet.attestation.tables import BookingRow, CampaignMemberRow, ProposalRow, TestCentreRow
from qabilet.engine.exceptions import ConflictError, InvalidParameterError
from qabilet.itembank._runtime import as_utc, now

__all__ = ["MAX_PROPOSALS", "Booking", "Scheduled", "TimetableRepository"]

#: the most slots a member proposes
MAX_PROPOSALS = 3


@dataclass(frozen=True, slots=True)
class Booking:
    """A member's seat: where and when, their choice's rank (0: not proposed), its state."""

    personal_number: str
    slot: str
    centre: str
    room: str
    seat: int
    starts_at: datetime
    ends_at: datetime
    rank: int
    status: str  # booked, no_show
    session_id: str | None


@dataclass(frozen=True, slots=True)
class Scheduled:
    """What a scheduling run did: the schedule, and how many it booked now."""

    schedule: Schedule
    booked_now: int
    requests: int


class TimetableRepository(Store):
    """Proposals and bookings on one database (migration 0014)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.campaigns = CampaignRepository(engine)


    # -- what is on offer ---------------------------------------------------------------------------
    def _centres(self, s: Session) -> tuple[dict[str, list[TestCentre]], dict[str, str | None]]:
        by_unit: dict[str, list[TestCentre]] = {}
        for row in s.scalars(select(TestCentreRow).order_by(TestCentreRow.id)):
            by_unit.setdefault(row.unit, []).append(TestCentre.model_validate(row.document))
        return by_unit, unit_parents(s)

    @staticmethod
    def _eligible(unit: str, by_unit: dict[str, list[TestCentre]],
                  parents: dict[str, str | None]) -> tuple[str, ...]:
        node: str | None = unit
        while node is not None:
            if node in by_unit:
                return tuple(c.id for c in by_unit[node])
            node = parents.get(node)
        return ()

    def eligible_centres(self, campaign_id: str, personal_number: str) -> tuple[str, ...]:
        """The centres a member may sit at, nearest first (every centre of the campaign's, else)."""
        member = self.campaigns.member(campaign_id, personal_number)
        with self._transaction() as s:
            by_unit, parents = self._centres(s)
            members = s.scalars(select(CampaignMemberRow.unit).where(
                CampaignMemberRow.campaign == campaign_id).distinct()).all()
        own = self._eligible(member.unit, by_unit, parents)
        return own or tuple(sorted({c for u in members for c in self._eligible(u, by_unit,
                                                                                parents)}))

    def slots(self, campaign_id: str) -> list[Slot]:
        """The slots of every centre a member may go to, over the campaign's testing days."""
        campaign = self.campaigns.campaign(campaign_id)
        with self._transaction() as s:
            by_unit, parents = self._centres(s)
            units = s.scalars(select(CampaignMemberRow.unit).where(
                CampaignMemberRow.campaign == campaign_id).distinct()).all()
        wanted = {c for u in units for c in self._eligible(u, by_unit, parents)}
        centres = [c for cs in by_unit.values() for c in cs if c.id in wanted]
        return [slot for c in sorted(centres, key=lambda c: c.id)
                for slot in slots_of(c, campaign.deadlines.testing_from,
                                     campaign.deadlines.testing_until)]

    # -- proposals --------------------------------------------------------------------------------------
    def propose(self, campaign_id: str, personal_number: str, slot_ids: list[str], *,
                by: str) -> None:
        """Record a member's proposals (replacing earlier ones), checked against what is on offer."""
        if not 1 <= len(slot_ids) <= MAX_PROPOSALS or len(set(slot_ids)) != len(slot_ids):
            raise InvalidParameterError(f"slots: expected 1 to {MAX_PROPOSALS} different slots; "
                                        f"got {len(slot_ids)}")
        centres = set(self.eligible_centres(campaign_id, personal_number))
        offered = {slot.id for slot in self.slots(campaign_id) if slot.centre.id in centres}
        for k, slot_id in enumerate(slot_ids, start=1):
            if slot_id not in offered:
                raise InvalidParameterError(f"slots: choice {k} ({slot_id!r}) is not a slot of "
                                            f"your test centres in the campaign's testing days")
        with self._transaction() as s:
            s.merge(ProposalRow(campaign=campaign_id, personal_number=personal_number,
                                slots=list(slot_ids), by=by, at=now()))
            self._audit(s, by, "timetable.propose", f"employee:{personal_number}",
                        {"campaign": campaign_id, "slots": slot_ids})

    def proposals(self, campaign_id: str) -> dict[str, list[str]]:
        """Every member's proposals, by personal number."""
        with self._transaction() as s:
            return {r.personal_number: list(r.slots) for r in s.scalars(
                select(ProposalRow).where(ProposalRow.campaign == campaign_id))}

    # -- bookings -------------------------------------------------------------------------------------
    def bookings(self, campaign_id: str, *, units: Collection[str] | None = None,
                 slot: str | None = None) -> list[Booking]:
        """The campaign's bookings (of ``units``' members; in one slot), by time and seat."""
        query = (select(BookingRow).join(CampaignMemberRow, (
            CampaignMemberRow.campaign == BookingRow.campaign) & (
            CampaignMemberRow.personal_number == BookingRow.personal_number))
                 .where(BookingRow.campaign == campaign_id)
                 .order_by(BookingRow.starts_at, BookingRow.centre, BookingRow.room, BookingRow.seat))
        if units is not None:
            query = query.where(CampaignMemberRow.unit.in_(sorted(units)))
        if slot is not None:
            query = query.where(BookingRow.slot == slot)
        with self._transaction() as s:
            return [_booking(r) for r in s.scalars(query)]

    def seated(self, centre: str, slot: str, room: str | None = None) -> list[tuple[str, Booking]]:
        """Who sits in a centre's slot (in one room), every campaign's: (campaign, booking) by seat."""
        query = (select(BookingRow).where(BookingRow.centre == centre, BookingRow.slot == slot)
                 .order_by(BookingRow.room, BookingRow.seat))
        if room is not None:
            query = query.where(BookingRow.room == room)
        with self._transaction() as s:
            return [(r.campaign, _booking(r)) for r in s.scalars(query)]

    def booked_slots(self, centre: str) -> list[tuple[str, datetime, int]]:
        """A centre's slots that have bookings: (slot id, start, people), by time."""
        with self._transaction() as s:
            rows = s.execute(select(BookingRow.slot, BookingRow.starts_at, func.count())
                             .where(BookingRow.centre == centre)
                             .group_by(BookingRow.slot, BookingRow.starts_at)
                             .order_by(BookingRow.starts_at)).all()
        return [(slot, as_utc(at), int(n)) for slot, at, n in rows]

    def booking(self, campaign_id: str, personal_number: str) -> Booking | None:
        """A member's booking, if any."""
        with self._transaction() as s:
            row = s.get(BookingRow, (campaign_id, personal_number))
            return None if row is None else _booking(row)

    def schedule(self, campaign_id: str, *, by: str, after: datetime | None = None,
                 proposals_first: bool = False) -> Scheduled:
        """Book every member who is neither exempt nor booked; the confirmed keep their seats.

        ``after``: slots that begin before it are not offered (default: now).
        """
        campaign = self.campaigns.campaign(campaign_id)
        exempt = self.campaigns.exempt(campaign_id)
        offered = self.slots(campaign_id)
        by_id = {slot.id: slot for slot in offered}
        moment = after or now()
        begun = [slot.id for slot in offered if slot.start < moment]
        asked = self.proposals(campaign_id)
        with self._transaction() as s:
            by_unit, parents = self._centres(s)
            members = s.execute(select(CampaignMemberRow.personal_number, CampaignMemberRow.unit)
                                .where(CampaignMemberRow.campaign == campaign_id)
                                .order_by(CampaignMemberRow.personal_number)).all()
            kept = {r.personal_number: r for r in s.scalars(select(BookingRow).where(
                BookingRow.campaign == campaign_id, BookingRow.status == "booked"))}
        everywhere = tuple(sorted({c for _, u in members for c in self._eligible(u, by_unit,
                                                                                 parents)}))
        requests = [Request(pn, tuple(p for p in asked.get(pn, []) if p in by_id),
                            self._eligible(unit, by_unit, parents) or everywhere)
                    for pn, unit in members if pn not in exempt and pn not in kept]
        fixed = {pn: Assignment(pn, by_id[r.slot], Seat(r.room, r.seat), r.rank, True)
                 for pn, r in kept.items() if r.slot in by_id}
        result = schedule(offered, requests, fixed=fixed, excluded=begun,
                          proposals_first=proposals_first)
        booked = 0
        with self._transaction() as s:
            for a in result.assignments:
                if a.fixed or a.slot is None or a.seat is None:
                    continue
                s.merge(BookingRow(campaign=campaign_id, personal_number=a.personal_number,
                                   slot=a.slot.id, centre=a.slot.centre.id, room=a.seat.room,
                                   seat=a.seat.number, starts_at=a.slot.start.astimezone(UTC),
                                   ends_at=a.slot.end.astimezone(UTC),
                                   rank=a.rank, status="booked", session_id=None, by=by,
                                   at=now()))
                booked += 1
            self._audit(s, by, "timetable.schedule", f"campaign:{campaign.id}",
                        {"requests": len(requests), "booked": booked,
                         "unplaced": result.unplaced,
                         "first_choices": result.first_choices,
                         "first_choice_optimum": result.first_choice_optimum})
        return Scheduled(result, booked, len(requests))

    def _change(self, campaign_id: str, personal_number: str, *, by: str, action: str,
                **values: Any) -> Booking:
        with self._transaction() as s:
            row = self._booked(s, campaign_id, personal_number)
            for name, value in values.items():
                setattr(row, name, value)
            self._audit(s, by, action, f"employee:{personal_number}",
                        {"campaign": campaign_id, "slot": row.slot, **values})
            return _booking(row)

    def no_show(self, campaign_id: str, personal_number: str, *, by: str) -> Booking:
        """Release the booking of a member who did not come (the audit log keeps it).

        The next scheduling books them again.
        """
        with self._transaction() as s:
            row = self._booked(s, campaign_id, personal_number)
            released = _booking(row)
            s.delete(row)
            self._audit(s, by, "timetable.no_show", f"employee:{personal_number}",
                        {"campaign": campaign_id, "slot": row.slot,
                         "session": row.session_id})
            return released

    def issued(self, campaign_id: str, personal_number: str, session_id: str, *,
               by: str) -> Booking:
        """Record the session issued for the booking (one per booking)."""
        found = self.booking(campaign_id, personal_number)
        if found is not None and found.session_id is not None:
            raise ConflictError(f"a session was issued for this booking already "
                                f"({found.session_id})")
        return self._change(campaign_id, personal_number, by=by, action="timetable.issue",
                            session_id=session_id)


def _booking(row: BookingRow) -> Booking:
    return Booking(row.personal_number, row.slot, row.centre, row.room, row.seat,
                   as_utc(row.starts_at), as_utc(row.ends_at), row.rank, row.status,
                   row.session_id)
