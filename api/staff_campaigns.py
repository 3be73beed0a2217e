"""The campaign's staff pages: HR's dashboard, exemptions, and the evaluation sheets.

* ``/staff/campaigns``: the campaigns the account takes part in — as HR, commission or
  administrator of some of their units, as a supervisor of some of their members, or as a member;
  HR opens a new one here.
* ``/staff/campaigns/{id}``: for HR, commission and administrators, the progress per unit of
  theirs (members, exemptions, sheets by state), the exemptions to decide (HR) and the disputed
  sheets; for a supervisor, their employees' sheets; for a member, their own sheet and their
  exemption requests, with the form to file one.
* ``/staff/campaigns/{id}/sheets/{personal_number}``: the sheet, every revision and event, and
  the forms of whoever may act on it now (:mod:`qabilet.attestation.sheets`).
* An exemption's document is served to the employee and their unit's HR officers and
  administrators only (:func:`~qabilet.attestation.access.reads_exemption`), as an attachment.

Who may see and do what is :mod:`qabilet.attestation.access`'s; anything else is the same 404 as
something that does not exist. Every form carries the session's CSRF token.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from qabilet.api.dependencies import Services, services_of
from qabilet.api.staff_pages import (
    Refused,
    Signed,
    Staff,
    StaffForm,
    language_of,
    reached_member,
    render,
    unit_names,
)
from qabilet.api.staff_words import word
from qabilet.attestation.access import Reach, is_self, reads_exemption, reads_sheet, supervises
from qabilet.attestation.campaigns import Campaign, Exemption, Member
from qabilet.attestation.exemptions import GROUNDS
from qabilet.attestation.files import MAX_BYTES, Upload, check_upload
from qabilet.attestation.organisation import Employee
from qabilet.attestation.sheets import STATES, Sheet, SheetContent
from qabilet.engine.exceptions import QabiletError

__all__ = ["DEADLINES", "router"]

router = APIRouter(prefix="/staff/campaigns", include_in_schema=False)
Field = Annotated[str, Form()]
_OVERSEERS = ("hr", "commission", "administrator")
#: the deadlines' fields, in order (:class:`~qabilet.attestation.campaigns.Deadlines`)
DEADLINES = ("sheets", "testing_from", "testing_until", "interviews_until", "decisions")
_ENTRY = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})\s+(.+?)\s*$")


def _campaign(services: Services, campaign_id: str) -> Campaign | None:
    try:
        return services.campaigns.campaign(campaign_id[:64])
    except QabiletError:
        return None


def _takes_part(services: Services, signed: Signed, campaign: Campaign) -> bool:
    """Whether the account has anything to do with the campaign (else it is a 404 to them)."""
    reach = signed.reach
    units = reach.units(*_OVERSEERS)
    if units is None or (units and services.campaigns.members(campaign.id, units=units)):
        return True
    if reach.person is None:
        return False
    members = {m.personal_number for m in services.campaigns.members(campaign.id)}
    if reach.person in members:
        return True
    return reach.holds("supervisor") and any(
        e.personal_number in members
        for e in services.organisation.employees(supervisor=reach.person))


@router.get("", response_class=HTMLResponse)
def campaigns(request: Request, signed: Staff) -> Response:
    """The campaigns the account takes part in; HR's form to open one."""
    return _campaigns_page(request, signed)


def _campaigns_page(request: Request, signed: Signed, *, status: int = 200,
                    message: str | None = None) -> HTMLResponse:
    services = services_of(request.app)
    shown = [c for c in services.campaigns.campaigns() if _takes_part(services, signed, c)]
    hr_units = signed.reach.units("hr")
    names = unit_names(services, language_of(request))
    units = sorted(names if hr_units is None else hr_units & set(names))
    return render(request, "campaigns.html", status=status, signed=signed, message=message,
                  campaigns=shown, opens=signed.reach.holds("hr"),
                  units=[(u, names[u]) for u in units], deadlines=DEADLINES)


@router.post("", response_class=HTMLResponse)
async def open_campaign(request: Request, signed: StaffForm) -> Response:
    """Open a campaign over units of the HR officer's (every problem named on the form)."""
    form = await request.form()
    if not signed.reach.holds("hr"):
        raise Refused(403, "forbidden")
    lang = language_of(request)
    fields: dict[str, Any] = {
        "id": str(form.get("id", "")).strip(), "name": {lang: str(form.get("name", "")).strip()},
        "units": [str(u) for u in form.getlist("units")],
        "exemption_scope": str(form.get("exemption_scope", "testing")),
        "deadlines": {k: str(form.get(k, "")) for k in DEADLINES},
        **{k: int(str(form.get(k))) for k in ("bank_version", "norm_set")
           if str(form.get(k, "")).isdigit()}}
    services = services_of(request.app)
    try:
        campaign = Campaign.model_validate(fields)
        count = services.campaigns.open(campaign, by=signed.reach.actor, within=signed.reach)
    except ValidationError as exc:
        problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return _campaigns_page(request, signed, status=422, message=problem)
    except QabiletError as exc:
        return _campaigns_page(request, signed, status=422, message=str(exc))
    return RedirectResponse(f"/staff/campaigns/{campaign.id}?opened={count}", status_code=303)


@router.get("/{campaign_id}", response_class=HTMLResponse)
def campaign(request: Request, signed: Staff, campaign_id: str, opened: int | None = None) -> Response:
    """The campaign's dashboard, as the account's roles and person see it."""
    services = services_of(request.app)
    found = _campaign(services, campaign_id)
    if found is None or not _takes_part(services, signed, found):
        raise Refused(404, "not_found")
    reach, lang = signed.reach, language_of(request)
    units = reach.units(*_OVERSEERS)
    overseen: list[Member] = (services.campaigns.members(found.id, units=units)
                              if units is None or units else [])
    states = services.sheets.states(found.id)
    progress = services.sheets.progress(found.id, units=units) if overseen else []  # counted in SQL
    to_decide = ([e for e in services.campaigns.exemptions(found.id, units=reach.units("hr"),
                                                           status="requested")]
                 if reach.holds("hr") else [])
    disputed = [m for m in overseen if states.get(m.personal_number) == "disputed"]
    supervised = ([e for e in services.organisation.employees(supervisor=reach.person)
                   if e.personal_number in states] if supervises(reach, reach.person) else [])
    mine = None
    if reach.person is not None and reach.person in states:
        centres = set(services.timetable.eligible_centres(found.id, reach.person))
        mine = {"state": states[reach.person],
                "exemptions": services.campaigns.exemptions(found.id, personal_number=reach.person),
                "booking": services.timetable.booking(found.id, reach.person),
                "proposals": services.timetable.proposals(found.id).get(reach.person, []),
                "offer": [slot.id for slot in services.timetable.slots(found.id)
                          if slot.centre.id in centres],
                "decision": services.interviews.decision(found.id, reach.person)}
    services.store.audit(reach.actor, "campaign.read", f"campaign:{found.id}",
                         {"members_shown": len(overseen)})
    message = (word("opened", lang, count=opened) if opened is not None else
               word("scheduled", lang, **{k: request.query_params.get(k, "") for k in
                                          ("booked", "first", "optimum", "unplaced")})
               if request.query_params.get("booked") else None)
    return render(request, "campaign.html", signed=signed, c=found, progress=progress,
                  states_shown=STATES, names=unit_names(services, lang), to_decide=to_decide,
                  disputed=disputed, supervised=supervised, states=states, mine=mine,
                  grounds=list(GROUNDS), hr=reach.holds("hr"), max_mb=MAX_BYTES >> 20,
                  schedules=_schedules(reach, found), message=message)


def _schedules(reach: Reach, campaign: Campaign) -> bool:
    """Whether the account draws up the campaign's schedule: HR of every one of its units."""
    return all(reach.covers(unit, "hr") for unit in campaign.units)


@router.post("/{campaign_id}/proposals", response_class=HTMLResponse)
async def propose(request: Request, signed: StaffForm, campaign_id: str) -> Response:
    """A member's proposed slots (``choice``, first first), or HR's for a member of theirs."""
    form = await request.form()
    services = services_of(request.app)
    who = _filed_for(services, signed, campaign_id, str(form.get("personal_number", "")))
    chosen = [str(v) for v in form.getlist("choice") if str(v)]
    try:
        services.timetable.propose(campaign_id, who, chosen, by=signed.reach.actor)
    except QabiletError as exc:
        raise Refused(422, text=str(exc)) from None
    return RedirectResponse(f"/staff/campaigns/{campaign_id}", status_code=303)


@router.post("/{campaign_id}/schedule", response_class=HTMLResponse)
def draw_up_schedule(request: Request, signed: StaffForm, campaign_id: str) -> Response:
    """Book every member neither exempt nor booked (HR of every unit of the campaign)."""
    services = services_of(request.app)
    found = _campaign(services, campaign_id)
    if found is None or not _schedules(signed.reach, found):
        raise Refused(404, "not_found")
    try:
        done = services.timetable.schedule(found.id, by=signed.reach.actor)
    except (ValueError, QabiletError) as exc:
        raise Refused(422, text=str(exc)) from None
    result = done.schedule
    return RedirectResponse(
        f"/staff/campaigns/{found.id}?booked={done.booked_now}&first={result.first_choices}"
        f"&optimum={result.first_choice_optimum}&unplaced={result.unplaced}", status_code=303)


@router.post("/{campaign_id}/bookings/{personal_number}/no-show", response_class=HTMLResponse)
def no_show(request: Request, signed: StaffForm, campaign_id: str, personal_number: str) -> Response:
    """Release the booking of a member who did not come (their unit's HR, operator or proctor)."""
    services = services_of(request.app)
    member, _ = reached_member(services, campaign_id, personal_number, lambda m, _: (
        signed.reach.covers(m.unit, "hr", "operator", "proctor")))
    try:
        services.timetable.no_show(campaign_id, member.personal_number, by=signed.reach.actor)
    except QabiletError as exc:
        raise Refused(422, text=str(exc)) from None
    return RedirectResponse(f"/staff/campaigns/{campaign_id}", status_code=303)


# -- exemptions ------------------------------------------------------------------------------------
@router.post("/{campaign_id}/exemptions", response_class=HTMLResponse)
async def request_exemption(request: Request, signed: StaffForm, campaign_id: str,
                            ground: Field = "", personal_number: Field = "",
                            file: Annotated[UploadFile | None, File()] = None) -> Response:
    """An exemption requested by the employee, or by HR for a member of their units."""
    services = services_of(request.app)
    who = _filed_for(services, signed, campaign_id, personal_number)
    content = await file.read(MAX_BYTES + 1) if file is not None else b""
    try:
        upload: Upload | None = check_upload(content, field="file") if content else None
        services.campaigns.request_exemption(campaign_id, who, ground, document=upload,
                                             by=signed.reach.actor)
    except (ValueError, QabiletError) as exc:
        raise Refused(422, text=str(exc)) from None
    return RedirectResponse(f"/staff/campaigns/{campaign_id}", status_code=303)


def _filed_for(services: Services, signed: Signed, campaign_id: str, personal_number: str) -> str:
    """Whose form it is: the account's own person's, or (``personal_number``) HR's member's.

    The member's personal number; 404 for anyone else.
    """
    who = personal_number.strip()[:64] or (signed.reach.person or "")
    reached_member(services, campaign_id, who, lambda m, _: is_self(signed.reach, m.personal_number)
                   or signed.reach.covers(m.unit, "hr"))
    return who


def _exemption(services: Services, campaign_id: str, exemption_id: int,
               may: Callable[[Member, Employee], bool]) -> Exemption:
    """A request of the campaign whose member ``may`` lets the account reach (404 otherwise)."""
    try:
        found = services.campaigns.exemption(exemption_id)
    except QabiletError:
        raise Refused(404) from None
    if found.campaign != campaign_id:
        raise Refused(404)
    reached_member(services, found.campaign, found.personal_number, may)
    return found


@router.post("/{campaign_id}/exemptions/{exemption_id}/decision", response_class=HTMLResponse)
def decide_exemption(request: Request, signed: StaffForm, campaign_id: str, exemption_id: int,
                     decision: Field = "", reason: Field = "") -> Response:
    """HR's decision on a request of a member of their units, with its reason."""
    services = services_of(request.app)
    _exemption(services, campaign_id, exemption_id, lambda m, _: signed.reach.covers(m.unit, "hr"))
    try:
        services.campaigns.decide_exemption(exemption_id, approve=decision == "approve",
                                            reason=reason, by=signed.reach.actor)
    except QabiletError as exc:
        raise Refused(422, text=str(exc)) from None
    return RedirectResponse(f"/staff/campaigns/{campaign_id}", status_code=303)


@router.get("/{campaign_id}/exemptions/{exemption_id}/file")
def exemption_file(request: Request, signed: Staff, campaign_id: str, exemption_id: int) -> Response:
    """The request's document: to the employee and their unit's HR and administrators only."""
    services = services_of(request.app)
    found = _exemption(services, campaign_id, exemption_id, lambda m, _: reads_exemption(
        signed.reach, personal_number=m.personal_number, unit=m.unit))
    if found.file is None:
        raise Refused(404, "not_found")
    media, content = services.campaigns.file(found.file)
    services.store.audit(signed.reach.actor, "exemption.file", f"employee:{found.personal_number}",
                         {"exemption": exemption_id})
    return Response(content, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="exemption-{exemption_id}"',
        "Content-Security-Policy": "sandbox; default-src 'none'", "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff"})


# -- sheets ------------------------------------------------------------------------------------------
def _sheet_of(services: Services, signed: Signed, campaign_id: str,
              personal_number: str) -> tuple[Member, Employee]:
    """The member whose sheet the account reads, and their record (404 for anyone else)."""
    return reached_member(services, campaign_id, personal_number, lambda m, e: reads_sheet(
        signed.reach, personal_number=m.personal_number, unit=m.unit, supervisor=e.supervisor))


@router.get("/{campaign_id}/sheets/{personal_number}", response_class=HTMLResponse)
def sheet(request: Request, signed: Staff, campaign_id: str, personal_number: str) -> Response:
    """The sheet with its history, and the forms of whoever may act on it now."""
    services = services_of(request.app)
    member, employee = _sheet_of(services, signed, campaign_id, personal_number)
    current = services.sheets.sheet(campaign_id, member.personal_number)
    services.store.audit(signed.reach.actor, "sheet.read", f"employee:{member.personal_number}",
                         {"campaign": campaign_id})
    return _sheet_page(request, signed, campaign_id, employee, member, current)


def _sheet_page(request: Request, signed: Signed, campaign_id: str, employee: Employee,
                member: Member, current: Sheet, *, status: int = 200,
                message: str | None = None) -> HTMLResponse:
    reach = signed.reach
    state = current.state
    acts = {"draw_up": supervises(reach, employee.supervisor)
            and state in ("not_drawn_up", "presented"),
            "respond": is_self(reach, member.personal_number) and state == "presented",
            "correct": reach.covers(member.unit, "hr") and state == "disputed"}
    return render(request, "sheet.html", status=status, signed=signed, campaign_id=campaign_id,
                  e=employee, sheet=current, acts=acts, message=message,
                  lines={k: "\n".join(f"{x.on} {x.text}" for x in getattr(current.latest.content, k))
                         if current.latest else "" for k in ("encouragements", "penalties",
                                                             "warnings")})


def _content(form: Any) -> SheetContent:
    """The sheet's content from the form: entries as ``YYYY-MM-DD text`` lines."""
    data: dict[str, Any] = {"assessment": str(form.get("assessment", ""))}
    for key in ("encouragements", "penalties", "warnings"):
        entries = []
        for n, line in enumerate(str(form.get(key, "")).splitlines(), start=1):
            if not line.strip():
                continue
            match = _ENTRY.match(line)
            if match is None:
                raise ValueError(f"{key}, line {n}: expected 'YYYY-MM-DD text'; got {line[:60]!r}")
            try:
                on = date.fromisoformat(match.group(1))
            except ValueError:
                raise ValueError(f"{key}, line {n}: {match.group(1)!r} is not a date") from None
            entries.append({"on": on.isoformat(), "text": match.group(2)})
        data[key] = entries
    try:
        return SheetContent.model_validate(data)
    except ValidationError as exc:
        raise ValueError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                   for e in exc.errors())) from None


@router.post("/{campaign_id}/sheets/{personal_number}", response_class=HTMLResponse)
async def act_on_sheet(request: Request, signed: StaffForm, campaign_id: str, personal_number: str) -> Response:
    """Draw up, correct, sign, dispute, dissent or reject a complaint (``action``)."""
    form = await request.form()
    services = services_of(request.app)
    member, employee = _sheet_of(services, signed, campaign_id, personal_number)
    reach, action, by = signed.reach, str(form.get("action", "")), signed.reach.actor
    sheets, pn = services.sheets, member.personal_number
    revision, digest = str(form.get("revision", "0")), str(form.get("content_hash", ""))
    number = int(revision) if revision.isdigit() else 0
    text = str(form.get("text", ""))
    try:
        if action == "draw_up" and supervises(reach, employee.supervisor):
            sheets.draw_up(campaign_id, pn, _content(form), by=by)
        elif action == "correct" and reach.covers(member.unit, "hr"):
            sheets.correct(campaign_id, pn, _content(form), by=by)
        elif action == "reject" and reach.covers(member.unit, "hr"):
            sheets.reject_complaint(campaign_id, pn, reason=text, by=by)
        elif action in ("sign", "dispute", "dissent") and is_self(reach, pn):
            if action == "sign":
                upload = form.get("signature")
                content = await upload.read(MAX_BYTES + 1) if isinstance(upload, UploadFile) else b""
                sheets.sign(campaign_id, pn, revision=number, digest=digest, by=by,
                            signature=check_upload(content, field="signature", signature=True)
                            if content else None)
            elif action == "dispute":
                sheets.dispute(campaign_id, pn, revision=number, digest=digest, complaint=text,
                               by=by)
            else:
                sheets.dissent(campaign_id, pn, revision=number, digest=digest, text=text, by=by)
        else:
            raise Refused(403, "forbidden")
    except (ValueError, QabiletError) as exc:
        return _sheet_page(request, signed, campaign_id, employee, member,
                           sheets.sheet(campaign_id, pn), status=422, message=str(exc))
    return RedirectResponse(f"/staff/campaigns/{campaign_id}/sheets/{pn}", status_code=303)
