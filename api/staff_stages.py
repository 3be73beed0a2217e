"""The attestation's last stages on the staff pages: interviews, decisions, profiles, personal data.

* ``/staff/interviews``: an interviewer's interviews; ``/staff/campaigns/{id}/interviews/{pn}``:
  the member's sheet and profile beside the interview's form — a rating per competency (1–5),
  notes, the recording's reference (file or URL, SHA-256, kept until) — for the interviewer it
  is assigned to; HR of every unit of the campaign plans a day's interviews
  (:meth:`~qabilet.attestation.interviews.InterviewRepository.plan`).
* ``/staff/campaigns/{id}/decisions``: for commission members, each member of their units with
  the three stages side by side — the sheet's state, the test (exempt, booked, the profile), the
  interview's ratings — and the decision's form: an outcome of the campaign's and the summary for
  the employee in their language. The profile is shown as one input; no outcome comes from it.
* ``/staff/campaigns/{id}/profiles/{pn}``: the member's report, for them, their assigned
  interviewer and their unit's commission members.
* ``/staff/employees/{pn}/data``: the employee's personal data as JSON
  (:func:`~qabilet.attestation.personal_data.export_person`), for them and their unit's HR
  officers and administrators; every download is audited.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from qabilet.api.dependencies import Services, services_of
from qabilet.api.staff_pages import (
    Refused,
    Signed,
    Staff,
    StaffForm,
    language_of,
    reached_employee,
    reached_member,
    render,
)
from qabilet.api.staff_words import word
from qabilet.attestation.access import is_self
from qabilet.attestation.campaigns import Member
from qabilet.attestation.interviews import Interview, InterviewRecord
from qabilet.attestation.organisation import Employee
from qabilet.attestation.personal_data import export_person
from qabilet.engine.exceptions import QabiletError
from qabilet.itembank.profiles import Profile

__all__ = ["router"]

router = APIRouter(prefix="/staff", include_in_schema=False)
Field = Annotated[str, Form()]


def _profile(services: Services, campaign_id: str, personal_number: str) -> Profile | None:
    """The latest profile issued for the member's booked session, if any."""
    booking = services.timetable.booking(campaign_id, personal_number)
    if booking is None or booking.session_id is None:
        return None
    session = services.store.session(booking.session_id)
    issued = [p for p in services.repo.profiles(session.candidate_id)
              if p.session_id == booking.session_id]
    return max(issued, key=lambda p: p.issued_at, default=None)


def _competencies(services: Services) -> list[tuple[str, str]]:
    return [(d.id, d.name.get("en") or d.id) for d in services.repo.dimensions().values()
            if d.kind == "competency"]


# -- interviews -------------------------------------------------------------------------------------
@router.get("/interviews", response_class=HTMLResponse)
def my_interviews(request: Request, signed: Staff) -> Response:
    """The interviews assigned to the signed-in interviewer, by time."""
    services = services_of(request.app)
    mine = services.interviews.interviews(interviewer=signed.account.id)
    people = {i.personal_number: services.organisation.employee(i.personal_number) for i in mine}
    return render(request, "interviews.html", signed=signed, interviews=mine, people=people)


def _interview_of(services: Services, signed: Signed, campaign_id: str, personal_number: str,
                  *, readers: tuple[str, ...]) -> tuple[Member, Employee, Interview]:
    """A member with an interview, their record and the interview (404 for anything else).

    For the interviewer it is assigned to, and for the ``readers`` (roles) of the member's unit.
    """
    held = services.interviews.interview(campaign_id[:64], personal_number[:64])
    if held is None:
        raise Refused(404)
    member, person = reached_member(services, campaign_id, personal_number, lambda m, _: (
        held.interviewer == signed.account.id
        or (bool(readers) and signed.reach.covers(m.unit, *readers))))
    return member, person, held


@router.get("/campaigns/{campaign_id}/interviews/{personal_number}", response_class=HTMLResponse)
def interview(request: Request, signed: Staff, campaign_id: str, personal_number: str) -> Response:
    """The member's sheet and profile beside the interview's record (its form for the interviewer)."""
    services = services_of(request.app)
    found = _interview_of(services, signed, campaign_id, personal_number,
                          readers=("hr", "commission"))
    return _interview_page(request, signed, services, campaign_id, *found)


def _interview_page(request: Request, signed: Signed, services: Services, campaign_id: str,
                    member: Member, person: Employee, held: Interview, *, status: int = 200,
                    message: str | None = None) -> HTMLResponse:
    sheet = services.sheets.sheet(campaign_id, member.personal_number)
    profile = _profile(services, campaign_id, member.personal_number)
    services.store.audit(signed.reach.actor, "interview.read", f"employee:{member.personal_number}",
                         {"campaign": campaign_id})
    return render(request, "interview.html", status=status, signed=signed, message=message,
                  campaign_id=campaign_id, e=person, sheet=sheet, interview=held,
                  profile=profile is not None, competencies=_competencies(services),
                  records=held.interviewer == signed.account.id)


@router.post("/campaigns/{campaign_id}/interviews/{personal_number}", response_class=HTMLResponse)
async def record_interview(request: Request, signed: StaffForm, campaign_id: str,
                           personal_number: str) -> Response:
    """The interviewer's ratings, notes and recording reference."""
    form = await request.form()
    services = services_of(request.app)
    member, person, held = _interview_of(services, signed, campaign_id, personal_number,
                                         readers=())  # the interviewer only
    data: dict[str, Any] = {"notes": str(form.get("notes", "")), "ratings": {
        dim: int(str(form.get(f"rating_{dim}"))) for dim, _ in _competencies(services)
        if str(form.get(f"rating_{dim}", "")).isdigit()}}
    if str(form.get("recording_uri", "")).strip():
        data["recording"] = {"uri": str(form.get("recording_uri")),
                             "sha256": str(form.get("recording_sha256", "")).strip().lower(),
                             "retain_until": str(form.get("retain_until", ""))}
    try:
        record = InterviewRecord.model_validate(data)
    except ValidationError as exc:
        problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return _interview_page(request, signed, services, campaign_id, member, person, held,
                               status=422, message=problem)
    services.interviews.record(campaign_id, member.personal_number, record,
                               by=signed.reach.actor)
    return RedirectResponse(f"/staff/campaigns/{campaign_id}/interviews/{member.personal_number}",
                            status_code=303)


@router.post("/campaigns/{campaign_id}/interviews", response_class=HTMLResponse)
def plan_interviews(request: Request, signed: StaffForm, campaign_id: str,
                    day: Field = "") -> Response:
    """Plan a day's interviews (HR of every unit of the campaign)."""
    services = services_of(request.app)
    try:
        campaign = services.campaigns.campaign(campaign_id[:64])
        on = date.fromisoformat(day)
    except (QabiletError, ValueError):
        raise Refused(404) from None
    if not all(signed.reach.covers(u, "hr") for u in campaign.units):
        raise Refused(404)
    made = services.interviews.plan(campaign.id, on, by=signed.reach.actor)
    return RedirectResponse(f"/staff/campaigns/{campaign.id}/decisions?planned={len(made)}",
                            status_code=303)


# -- decisions -------------------------------------------------------------------------------------
@router.get("/campaigns/{campaign_id}/decisions", response_class=HTMLResponse)
def decisions(request: Request, signed: Staff, campaign_id: str, planned: int | None = None) -> Response:
    """The members of the commission's units with the three stages and the decision's form."""
    services = services_of(request.app)
    try:
        campaign = services.campaigns.campaign(campaign_id[:64])
    except QabiletError:
        raise Refused(404) from None
    units = signed.reach.units("commission", "hr")
    if units is not None and not units:
        raise Refused(404)
    members = services.campaigns.members(campaign.id, units=units)
    if not members:  # nobody of the account's units: the campaign is not theirs to see
        raise Refused(404)
    states, exempt = services.sheets.states(campaign.id), services.campaigns.exempt(campaign.id)
    made = services.interviews.decisions(campaign.id)
    booked = {b.personal_number: b for b in services.timetable.bookings(campaign.id, units=units)}
    held = {i.personal_number: i for i in services.interviews.interviews(campaign=campaign.id)}
    rows = [{"m": m, "person": services.organisation.employee(m.personal_number),
             "sheet": states.get(m.personal_number, "not_drawn_up"),
             "exempt": exempt.get(m.personal_number), "booking": booked.get(m.personal_number),
             "interview": held.get(m.personal_number), "decision": made.get(m.personal_number),
             "decides": signed.reach.covers(m.unit, "commission")} for m in members]
    services.store.audit(signed.reach.actor, "decision.read", f"campaign:{campaign.id}",
                         {"members_shown": len(rows)})
    lang = language_of(request)
    return render(request, "decisions.html", signed=signed, c=campaign, rows=rows,
                  plans=all(signed.reach.covers(u, "hr") for u in campaign.units),
                  message=None if planned is None else f"{planned} — {word('planned', lang)}")


@router.post("/campaigns/{campaign_id}/decisions/{personal_number}", response_class=HTMLResponse)
def decide(request: Request, signed: StaffForm, campaign_id: str, personal_number: str,
           outcome: Field = "", summary: Field = "") -> Response:
    """A commission member's decision on a member of their units."""
    services = services_of(request.app)
    member, _ = reached_member(services, campaign_id, personal_number,
                               lambda m, _: signed.reach.covers(m.unit, "commission"))
    try:
        services.interviews.decide(campaign_id, member.personal_number, outcome=outcome,
                                   summary=summary, by=signed.reach.actor)
    except QabiletError as exc:
        raise Refused(422, text=str(exc)) from None
    return RedirectResponse(f"/staff/campaigns/{campaign_id}/decisions", status_code=303)


# -- profiles and personal data ----------------------------------------------------------------------
@router.get("/campaigns/{campaign_id}/profiles/{personal_number}", response_class=HTMLResponse)
def profile(request: Request, signed: Staff, campaign_id: str, personal_number: str) -> Response:
    """The member's report: for them, their assigned interviewer and their unit's commission."""
    from qabilet.delivery.report_html import CONTENT_SECURITY_POLICY, render_profile_html

    services = services_of(request.app)

    def reads(m: Member, _: Employee) -> bool:  # the member, their unit's commission, their interviewer
        held = services.interviews.interview(campaign_id, m.personal_number)
        return (is_self(signed.reach, m.personal_number) or signed.reach.covers(m.unit, "commission")
                or (held is not None and held.interviewer == signed.account.id))

    member, _ = reached_member(services, campaign_id, personal_number, reads)
    found = _profile(services, campaign_id, member.personal_number)
    if found is None:
        raise Refused(404)
    services.store.audit(signed.reach.actor, "profile.read", f"employee:{member.personal_number}",
                         {"campaign": campaign_id, "profile": found.id})
    view: Literal["candidate", "operator"] = (
        "candidate" if is_self(signed.reach, member.personal_number) else "operator")
    return HTMLResponse(render_profile_html(found, view=view, language=language_of(request)),
                        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY,
                                 "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


@router.get("/employees/{personal_number}/data")
def personal_data(request: Request, signed: Staff, personal_number: str) -> Response:
    """The employee's personal data (JSON): for them and their unit's HR and administrators."""
    services = services_of(request.app)
    person = reached_employee(services, personal_number, lambda e: is_self(
        signed.reach, e.personal_number) or signed.reach.covers(e.unit, "hr", "administrator"))
    document = export_person(services.organisation.engine, person.personal_number,
                             by=signed.reach.actor)
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    return Response(json.dumps(document, ensure_ascii=False, indent=1),
                    media_type="application/json", headers={
                        "Content-Disposition": f'attachment; filename="personal-data-'
                                               f'{person.personal_number}-{stamp}.json"',
                        "Cache-Control": "no-store"})
