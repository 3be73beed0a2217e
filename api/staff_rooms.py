"""The proctor's room page: the sessions of a room and slot, live, with the proctor's actions.

``/staff/rooms`` lists the test centres of the account's units (as proctor or operator) with the
slots that have bookings; ``/staff/rooms/{centre}/{room}?slot=…`` shows who sits where in that
slot — not issued yet, ready, active, paused, finished (and why) — with their progress, the time
left and the incidents, and the forms to pause, resume, give extra time, record an incident,
terminate, or issue a new link (:mod:`qabilet.api.proctoring`); an operator issues the slot's
session links here (one session per booking, at the employee's level and in their language, at
the centre).

The page updates itself from **server-sent events** (``…/stream``): one watcher per room and
slot in each server process reads the room's sessions once a second and pushes a snapshot to
every proctor's page only when it changed — a room watched by three proctors costs one read a
second, not three, and a page that changes nothing receives nothing but a keep-alive comment
every 15 seconds. The page's script (``/static/staff-room.js``) puts the snapshot into the table;
without it the page is still whole, and reloading it shows the same.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from qabilet.api.dependencies import Services, services_of
from qabilet.api.proctoring import proctor
from qabilet.api.staff_pages import (
    Refused,
    Signed,
    Staff,
    StaffForm,
    language_of,
    render,
)
from qabilet.api.staff_words import word
from qabilet.attestation.organisation import TestCentre
from qabilet.engine.exceptions import InvalidParameterError, QabiletError

__all__ = ["ROOM_POLICY", "RoomWatch", "router"]

router = APIRouter(prefix="/staff/rooms", include_in_schema=False)
Field = Annotated[str, Form()]
#: the room page runs its own script (the stream's updates) and nothing else
ROOM_POLICY = ("default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
_KINDS = {"pause": "pause", "resume": "resume", "extra_time": "extra_time",
          "incident": "incident", "terminate": "terminate"}


def _centre(services: Services, signed: Signed, centre_id: str) -> TestCentre | None:
    """A centre of the account's units, as proctor or operator; None otherwise."""
    found = next((c for c in services.organisation.test_centres() if c.id == centre_id[:64]), None)
    if found is None or not signed.reach.covers(found.unit, "proctor", "operator"):
        return None
    return found


def _room(services: Services, signed: Signed, centre_id: str, room_id: str,
          slot: str) -> TestCentre | None:
    """The centre of one of its rooms, as :func:`_centre`, when a slot is named; None otherwise."""
    centre = _centre(services, signed, centre_id)
    if centre is None or room_id not in {r.id for r in centre.rooms} or not slot:
        return None
    return centre


def snapshot(services: Services, centre: str, room: str, slot: str) -> list[dict[str, Any]]:
    """The room's seats in the slot, as the page shows them (the stream's message)."""
    rows = []
    for campaign, b in services.timetable.seated(centre, slot, room):
        person = services.organisation.employee(b.personal_number)
        row: dict[str, Any] = {"seat": b.seat, "personal_number": b.personal_number,
                               "name": f"{person.surname} {person.given_name}",
                               "campaign": campaign, "session": b.session_id,
                               "status": "not_issued", "answered": 0, "max_items": 0,
                               "remaining_s": None, "incidents": 0, "closed": None}
        if b.session_id is not None:
            live = services.live.state(b.session_id)
            row.update(status=live.status, answered=live.view.answered,
                       max_items=live.plan.max_items, closed=live.closed_reason,
                       remaining_s=None if live.view.finished or live.clock.remaining_s is None
                       else round(live.clock.remaining_s),
                       incidents=sum(e.kind == "incident" for e in live.events))
        rows.append(row)
    return rows


@dataclass
class RoomWatch:
    """One watcher per room and slot in this process, its snapshot fanned out to every page."""

    queues: dict[tuple[str, str, str], set[asyncio.Queue[str]]] = field(default_factory=dict)
    tasks: dict[tuple[str, str, str], asyncio.Task[None]] = field(default_factory=dict)
    period_s: float = 1.0

    async def subscribe(self, services: Services, key: tuple[str, str, str]
                        ) -> AsyncIterator[str]:
        """The snapshots of ``key`` (centre, room, slot) as they change, first the current one."""
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=8)
        self.queues.setdefault(key, set()).add(queue)
        if key not in self.tasks or self.tasks[key].done():
            self.tasks[key] = asyncio.create_task(self._watch(services, key))
        else:
            queue.put_nowait(json.dumps(await run_in_threadpool(snapshot, services, *key)))
        try:
            while True:
                try:
                    yield await asyncio.wait_for(queue.get(), timeout=15.0)
                except TimeoutError:
                    yield ""  # a keep-alive
        finally:
            self.queues[key].discard(queue)

    async def _watch(self, services: Services, key: tuple[str, str, str]) -> None:
        last: str | None = None
        while self.queues.get(key):
            now: str | None
            try:
                now = json.dumps(await run_in_threadpool(snapshot, services, *key))
            except Exception:  # a database hiccup: try again at the next tick
                now = last
            if now != last and now is not None:
                for queue in list(self.queues.get(key, ())):
                    if queue.full():
                        queue.get_nowait()  # a slow page gets the newest, not a backlog
                    queue.put_nowait(now)
                last = now
            await asyncio.sleep(self.period_s)
        self.tasks.pop(key, None)


_watch = RoomWatch()


@router.get("", response_class=HTMLResponse)
def rooms(request: Request, signed: Staff) -> Response:
    """The centres of the account's units with their rooms and the slots that have bookings."""
    services = services_of(request.app)
    units = signed.reach.units("proctor", "operator")
    centres = services.organisation.test_centres(within=units)
    listed = [{"centre": c, "slots": services.timetable.booked_slots(c.id)} for c in centres]
    return render(request, "rooms.html", signed=signed, centres=listed)


@router.get("/{centre_id}/{room_id}", response_class=HTMLResponse)
def room(request: Request, signed: Staff, centre_id: str, room_id: str, slot: str = "") -> Response:
    """The room's seats in the slot, with the proctor's forms; kept current by the stream."""
    services = services_of(request.app)
    centre = _room(services, signed, centre_id, room_id, slot)
    if centre is None:
        raise Refused(404, "not_found")
    return _room_page(request, signed, centre, room_id, slot[:120])


def _room_page(request: Request, signed: Signed, centre: TestCentre, room_id: str, slot: str,
               *, status: int = 200, message: str | None = None) -> HTMLResponse:
    services = services_of(request.app)
    seats = snapshot(services, centre.id, room_id, slot)
    services.store.audit(signed.reach.actor, "room.read", f"centre:{centre.id}",
                         {"room": room_id, "slot": slot})
    page = render(request, "room.html", status=status, signed=signed, message=message,
                  centre=centre, room=room_id, slot=slot, seats=seats,
                  operator=signed.reach.covers(centre.unit, "operator"))
    page.headers["Content-Security-Policy"] = ROOM_POLICY
    return page


@router.get("/{centre_id}/{room_id}/stream")
async def stream(request: Request, signed: Staff, centre_id: str, room_id: str,
                 slot: str = "") -> Response:
    """The room's snapshots as server-sent events, each when it changes."""
    services = services_of(request.app)
    centre = await run_in_threadpool(_room, services, signed, centre_id, room_id, slot)
    if centre is None:
        return Response(status_code=404)
    key = (centre.id, room_id, slot[:120])

    async def events() -> AsyncIterator[str]:
        async for message in _watch.subscribe(services, key):
            if await request.is_disconnected():
                return
            yield f"data: {message}\n\n" if message else ": keep-alive\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.post("/{centre_id}/{room_id}", response_class=HTMLResponse)
def act(request: Request, signed: StaffForm, centre_id: str, room_id: str, slot: str = "",
        session_id: Field = "", action: Field = "", text: Field = "",
        minutes: Field = "") -> Response:
    """A proctor's action on a session of the room, or an operator's issue of the slot's links."""
    services = services_of(request.app)
    centre = _centre(services, signed, centre_id)
    seats = [] if centre is None else snapshot(services, centre.id, room_id, slot[:120])
    if centre is None:
        raise Refused(404, "not_found")
    actor = signed.reach.actor
    try:
        if action == "issue" and signed.reach.covers(centre.unit, "operator"):
            issued = issue_links(services, seats, centre.id, actor)
            return _room_page(request, signed, centre, room_id, slot, message=" · ".join(
                f"{seat}: {link}" for seat, link in issued) or word("none", language_of(request)))
        if session_id not in {s["session"] for s in seats if s["session"]}:
            raise Refused(404, "not_found")
        if action == "link":
            settings = services.settings
            token = services.live.reissue_token(session_id, by=actor, link_ttl=timedelta(
                hours=settings.token_ttl_hours))
            services.store.audit(actor, "session.token_reissue", session_id, {})
            return _room_page(request, signed, centre, room_id, slot,
                              message=f"{settings.public_url}/take/{session_id}#token={token}")
        if action not in _KINDS:
            raise Refused(403, "forbidden")
        details: dict[str, dict[str, Any]] = {
            "pause": {"reason": text or None}, "resume": {},
            "extra_time": {"seconds": 60.0 * float(minutes or 0), "reason": text or None},
            "incident": {"note": text}, "terminate": {"reason": text or None}}
        detail = details[action]
        if action == "extra_time" and not 0 < detail["seconds"] <= 7200:
            raise ValueError("minutes: expected 1 to 120")
        if action == "incident" and not 0 < len(text.strip()) <= 2000:
            raise ValueError("text: an incident needs a note (1 to 2000 characters)")
        proctor(services.live, services.store, session_id, actor, _KINDS[action], detail)
    except (ValueError, QabiletError) as exc:
        return _room_page(request, signed, centre, room_id, slot, status=409, message=str(exc))
    return RedirectResponse(f"/staff/rooms/{centre.id}/{room_id}?slot={slot}", status_code=303)


def campaign_blueprint(services: Services, level: str, bank_version: int | None) -> int | None:
    """The level's newest blueprint of the campaign's bank version (None: the level's newest)."""
    if bank_version is None:
        return None
    numbers = [b.number for b in services.repo.blueprints(level)
               if b.bank_version == bank_version]
    if not numbers:
        raise InvalidParameterError(f"bank_version: version {bank_version} has no blueprint for "
                                    f"level {level!r}")
    return max(numbers)


def issue_links(services: Services, seats: list[dict[str, Any]], centre: str,
                actor: str) -> list[tuple[int, str]]:
    """A session for every booking of the seats without one: (seat, link) of each made."""
    settings = services.settings
    made = []
    for seat in seats:
        if seat["session"] is not None:
            continue
        person = services.organisation.employee(seat["personal_number"])
        level = services.organisation.level_of(person.personal_number)
        campaign = services.campaigns.campaign(seat["campaign"])
        candidate = services.store.add_candidate(  # the booking names the employee
            display_name=f"{person.surname} {person.given_name}")
        session, token = services.live.create(
            candidate_id=candidate, level=level, language=person.language,
            token_ttl=timedelta(hours=settings.token_ttl_hours),
            time_limit_s=settings.time_limit_s, item_time_limit_s=settings.item_time_limit_s,
            test_centre=centre, norm_set=campaign.norm_set,
            blueprint_number=campaign_blueprint(services, level, campaign.bank_version))
        services.timetable.issued(seat["campaign"], person.personal_number, session.id, by=actor)
        services.store.audit(actor, "session.create", session.id,
                             {"level": level, "language": person.language, "test_centre": centre,
                              "employee": person.personal_number})
        made.append((seat["seat"], f"{settings.public_url}/take/{session.id}#token={token}"))
    return made
