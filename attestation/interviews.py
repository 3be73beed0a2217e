"""Stage 3 and the end: the interview, and the commission's decision.

An **interview** is held by a specialist who completed the interviewers' training course (an
``interviewer`` grant with ``trained_on``, on or before the interview's day, covering the
member's unit), in person in an interview room of the member's unit (or of a unit above it), or
by video link for those far away. :meth:`InterviewRepository.plan` books a day's interviews for
every member without one: members × (interviewer, time) with a cost of 0 for an interviewer who
may hold it (and 1 more when no room is near, so the video is the fallback), solved as an
assignment problem by :func:`scipy.optimize.linear_sum_assignment` (the Jonker–Volgenant
algorithm; Crouse 2016) — not a greedy loop. The interviewer records a rating per competency
(1–5), notes, and a reference to the recording — its file or URL, SHA-256 checksum and the day
it may be destroyed — never the recording itself.

The commission's **decision** per member is one of the campaign's outcomes (by default: attested;
attested with a development plan; not completed), with a summary for the employee in their
language — what they may develop. The preference profile is one input the commission reads
beside the sheet and the interview, never a score that decides alone: no outcome is derived
from it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import Field, StringConstraints
from scipy.optimize import linear_sum_assignment
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from qabilet.attestation._store import Store
from qabilet.attestation.accounts import unit_parents
from qabilet.attestation.campaigns import CampaignRepository
from qabilet.attestation.tables import (
    CampaignMemberRow,
    DecisionRow,
    EmployeeRow,
    InterviewRoomRow,
    InterviewRow,
    StaffGrantRow,
)
from qabilet.engine.exceptions import ConflictError, InvalidParameterError
from qabilet.itembank._runtime import as_utc, now
from qabilet.itembank._schema import Schema
from qabilet.itembank.content import Identifier

__all__ = ["Decision", "Interview", "InterviewRecord", "InterviewRepository", "Recording"]

Words = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8000)]


class Recording(Schema):
    """Where the interview's recording is: a file or URL, its SHA-256, how long it is kept."""

    uri: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400)]
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    retain_until: date


class InterviewRecord(Schema):
    """What the interviewer records: a rating per competency (1–5), notes, the recording."""

    ratings: Annotated[dict[Identifier, Annotated[int, Field(ge=1, le=5)]], Field(min_length=1)]
    notes: Words
    recording: Recording | None = None


@dataclass(frozen=True, slots=True)
class Interview:
    """A member's interview."""

    campaign: str
    personal_number: str
    interviewer: str
    starts_at: datetime
    mode: str  # in_person, video
    room: str | None
    video_url: str | None
    status: str  # booked, held
    record: InterviewRecord | None


@dataclass(frozen=True, slots=True)
class Decision:
    """The commission's decision on a member."""

    campaign: str
    personal_number: str
    outcome: str
    summary: str
    language: str
    decided_by: str
    decided_at: datetime


class InterviewRepository(Store):
    """Interviews and decisions on one database (migration 0015); the caller checks who acts."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.campaigns = CampaignRepository(engine)


    @staticmethod
    def _trained(s: Session, on: date) -> dict[str, list[str | None]]:
        """Interviewers trained by ``on`` → the units of their grants (None: every unit)."""
        found: dict[str, list[str | None]] = {}
        for g in s.scalars(select(StaffGrantRow).where(StaffGrantRow.role == "interviewer")):
            if g.trained_on is not None and g.trained_on <= on:
                found.setdefault(g.account, []).append(g.unit)
        return found

    @staticmethod
    def _covers(units: list[str | None], unit: str, parents: dict[str, str | None]) -> bool:
        node: str | None = unit
        while node is not None:
            if node in units:
                return True
            node = parents.get(node)
        return None in units

    @staticmethod
    def _room_near(unit: str, rooms: dict[str, list[str]],
                   parents: dict[str, str | None]) -> str | None:
        node: str | None = unit
        while node is not None:
            if node in rooms:
                return rooms[node][0]
            node = parents.get(node)
        return None

    def assign(self, campaign_id: str, personal_number: str, *, interviewer: str,
               starts_at: datetime, by: str, room: str | None = None,
               video_url: str | None = None) -> Interview:
        """Book one interview: in ``room``, or by video at ``video_url`` (an https link).

        Raises
        ------
        InvalidParameterError
            An interviewer not trained by that day or not covering the member's unit; neither
            or both of a room and a link; a room not of the member's unit or one above it.
        ConflictError
            The interviewer has another interview at that time.
        """
        member = self.campaigns.member(campaign_id, personal_number)
        if (room is None) == (video_url is None):
            raise InvalidParameterError("room: expected an interview room or a video link, not "
                                        "both or neither")
        if video_url is not None and not video_url.startswith("https://"):
            raise InvalidParameterError("video_url: expected an https:// link")
        with self._transaction() as s:
            parents = unit_parents(s)
            trained = self._trained(s, starts_at.astimezone(UTC).date())
            if not self._covers(trained.get(interviewer, []), member.unit, parents):
                raise InvalidParameterError(
                    f"interviewer: {interviewer!r} is not trained by {starts_at.date()} for unit "
                    f"{member.unit!r}")
            if room is not None:
                unit = s.scalar(select(InterviewRoomRow.unit).where(InterviewRoomRow.id == room))
                if unit is None or not self._covers([unit], member.unit, parents):
                    raise InvalidParameterError(f"room: {room!r} is not an interview room of "
                                                f"unit {member.unit!r} or one above it")
            taken = s.scalar(select(InterviewRow.personal_number).where(
                InterviewRow.interviewer == interviewer, InterviewRow.starts_at == starts_at,
                InterviewRow.personal_number != personal_number))
            if taken is not None:
                raise ConflictError(f"interviewer: {interviewer!r} interviews {taken!r} then")
            row = InterviewRow(campaign=campaign_id, personal_number=personal_number,
                               interviewer=interviewer, starts_at=starts_at.astimezone(UTC),
                               mode="video" if video_url else "in_person", room=room,
                               video_url=video_url, status="booked", record=None, by=by, at=now())
            s.merge(row)
            self._audit(s, by, "interview.assign", f"employee:{personal_number}",
                        {"campaign": campaign_id, "interviewer": interviewer,
                         "starts_at": starts_at.isoformat(), "room": room})
        found = self.interview(campaign_id, personal_number)
        assert found is not None
        return found

    def plan(self, campaign_id: str, day: date, *, by: str, first: time = time(9),
             length: timedelta = timedelta(minutes=45), per_day: int = 8,
             zone: str = "Asia/Almaty", video_base: str = "https://video.invalid/attestation"
             ) -> list[Interview]:
        """Book ``day``'s interviews for the members without one, as an assignment problem.

        Each trained interviewer has ``per_day`` times from ``first`` (in ``zone``), ``length``
        apart; a member may be interviewed by one who covers their unit. The cost of a pair is
        0, or 1 when no interview room is near the member (by video: a link under
        ``video_base``); pairs that may not be are left out. Members the day cannot take stay
        unbooked (the result lists those booked).
        """
        with self._transaction() as s:
            parents = unit_parents(s)
            trained = self._trained(s, day)
            members = s.execute(select(CampaignMemberRow.personal_number, CampaignMemberRow.unit)
                                .where(CampaignMemberRow.campaign == campaign_id)
                                .order_by(CampaignMemberRow.personal_number)).all()
            booked = set(s.scalars(select(InterviewRow.personal_number).where(
                InterviewRow.campaign == campaign_id)))
            rooms: dict[str, list[str]] = {}
            for rid, unit in s.execute(select(InterviewRoomRow.id, InterviewRoomRow.unit)
                                       .order_by(InterviewRoomRow.id)):
                rooms.setdefault(unit, []).append(rid)
            busy = {(i, as_utc(t)) for i, t in s.execute(select(
                InterviewRow.interviewer, InterviewRow.starts_at))}
        waiting = [(pn, unit) for pn, unit in members if pn not in booked]
        interviewers = sorted(trained)
        start = datetime.combine(day, first, tzinfo=ZoneInfo(zone)).astimezone(UTC)
        times = [start + k * length for k in range(per_day)]
        columns = [(i, t) for i in interviewers for t in times if (i, t) not in busy]
        if not waiting or not columns:
            return []
        may = _coverage(parents, [unit for _, unit in waiting],
                        [trained[i] for i in interviewers])[:, [interviewers.index(i)
                                                                for i, _ in columns]]
        near = {u: self._room_near(u, rooms, parents) for u in {unit for _, unit in waiting}}
        far = np.array([near[unit] is None for _, unit in waiting])
        cost = np.where(may, far[:, None].astype(float), 1e6)
        rows, cols = linear_sum_assignment(cost)
        made = []
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            if not may[r, c]:
                continue
            pn, unit = waiting[r]
            interviewer, at = columns[c]
            room = self._room_near(unit, rooms, parents)
            made.append(self.assign(campaign_id, pn, interviewer=interviewer, starts_at=at, by=by,
                                    room=room, video_url=None if room else
                                    f"{video_base}/{campaign_id}/{pn}"))
        return made

    def record(self, campaign_id: str, personal_number: str, record: InterviewRecord, *,
               by: str) -> Interview:
        """The interviewer's ratings, notes and the recording's reference (the interview held)."""
        with self._transaction() as s:
            row = self._found(s, InterviewRow, (campaign_id, personal_number),
                              f"employee {personal_number!r} has no interview in campaign "
                              f"{campaign_id!r}")
            row.record, row.status = record.model_dump(mode="json", exclude_none=True), "held"
            self._audit(s, by, "interview.record", f"employee:{personal_number}", {"campaign": campaign_id,
                                   "recording": None if record.recording is None
                                   else record.recording.sha256})
        found = self.interview(campaign_id, personal_number)
        assert found is not None
        return found

    def interview(self, campaign_id: str, personal_number: str) -> Interview | None:
        """A member's interview, if booked."""
        with self._transaction() as s:
            row = s.get(InterviewRow, (campaign_id, personal_number))
            return None if row is None else _interview(row)

    def interviews(self, *, campaign: str | None = None,
                   interviewer: str | None = None) -> list[Interview]:
        """Interviews (of a campaign; of an interviewer), by time."""
        query = select(InterviewRow).order_by(InterviewRow.starts_at, InterviewRow.personal_number)
        if campaign is not None:
            query = query.where(InterviewRow.campaign == campaign)
        if interviewer is not None:
            query = query.where(InterviewRow.interviewer == interviewer)
        with self._transaction() as s:
            return [_interview(r) for r in s.scalars(query)]

    # -- decisions ------------------------------------------------------------------------------------
    def decide(self, campaign_id: str, personal_number: str, *, outcome: str, summary: str,
               by: str) -> Decision:
        """The commission's decision (a later one replaces it; both are in the audit log)."""
        campaign = self.campaigns.campaign(campaign_id)
        self.campaigns.member(campaign_id, personal_number)
        if outcome not in campaign.outcomes:
            raise InvalidParameterError(f"outcome: expected one of {', '.join(campaign.outcomes)}; "
                                        f"got {outcome!r}")
        if not 0 < len(summary.strip()) <= 8000:
            raise InvalidParameterError("summary: expected 1 to 8000 characters")
        with self._transaction() as s:
            person = s.get(EmployeeRow, personal_number)
            assert person is not None
            language = str(person.document.get("language", "kk"))
            s.merge(DecisionRow(campaign=campaign_id, personal_number=personal_number,
                                outcome=outcome, summary=summary.strip(), language=language,
                                decided_by=by, decided_at=now()))
            self._audit(s, by, "decision.record", f"employee:{personal_number}",
                        {"campaign": campaign_id, "outcome": outcome})
        found = self.decision(campaign_id, personal_number)
        assert found is not None
        return found

    def decision(self, campaign_id: str, personal_number: str) -> Decision | None:
        """A member's decision, if made."""
        with self._transaction() as s:
            row = s.get(DecisionRow, (campaign_id, personal_number))
            return None if row is None else Decision(
                row.campaign, row.personal_number, row.outcome, row.summary, row.language,
                row.decided_by, as_utc(row.decided_at))

    def decisions(self, campaign_id: str) -> dict[str, Decision]:
        """Every decision of the campaign, by personal number."""
        with self._transaction() as s:
            return {r.personal_number: Decision(r.campaign, r.personal_number, r.outcome,
                                                r.summary, r.language, r.decided_by,
                                                as_utc(r.decided_at))
                    for r in s.scalars(select(DecisionRow).where(
                        DecisionRow.campaign == campaign_id))}


def _coverage(parents: dict[str, str | None], units: list[str],
              grants: list[list[str | None]]) -> np.ndarray:
    """Whether each interviewer's grants cover each member's unit: (members × interviewers).

    ``A[u, v]``: unit ``v`` is ``u`` or above it; ``G[j, v]``: interviewer ``j`` holds a grant at
    ``v``; a member of unit ``u`` is covered by ``j`` when ``(A G^T)[u, j] > 0``, or when ``j``
    holds a grant at every unit.
    """
    index = {u: k for k, u in enumerate(parents)}
    above = np.zeros((len(index), len(index)), dtype=bool)
    for unit, k in index.items():
        node: str | None = unit
        while node is not None:
            above[k, index[node]] = True
            node = parents.get(node)
    held = np.zeros((len(grants), len(index)), dtype=bool)
    everywhere = np.zeros(len(grants), dtype=bool)
    for j, units_of in enumerate(grants):
        for u in units_of:
            if u is None:
                everywhere[j] = True
            elif u in index:
                held[j, index[u]] = True
    member_units = np.array([index[u] for u in units], dtype=np.int64)
    return ((above[member_units].astype(np.int64) @ held.T.astype(np.int64)) > 0) | everywhere


def _interview(row: InterviewRow) -> Interview:
    return Interview(row.campaign, row.personal_number, row.interviewer, as_utc(row.starts_at),
                     row.mode, row.room, row.video_url, row.status,
                     None if row.record is None else InterviewRecord.model_validate(row.record))


