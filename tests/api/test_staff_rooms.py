"""Scheduling and the proctor's room over real HTTP and in Chromium: a member proposes slots, HR
draws up the schedule (first choices against the most possible), an operator issues the room's
links, the candidate's answers and the proctor's pause reach the proctor's page as server-sent
events without a reload; another unit's proctor reaches neither the page nor its stream; a
no-show is booked again."""

from __future__ import annotations

import re

import pytest

from qabilet.attestation.access import Grant
from qabilet.attestation.accounts import AccountRepository
from qabilet.itembank.database import connect
from qabilet.itembank.session_store import SessionStore
from tests.api._server import answer_current
from tests.api._staff import (
    DEADLINES,
    pause_resume_extend,
    post,
    signed_in,
    signed_in_page,
    world_server,
)
from tests.attestation._world import PASSWORD

MONDAY = "2099-04-06"
SLOT = f"TC-A/{MONDAY}T09:00"


def _staff_of_the_rooms(url: str) -> None:
    accounts = AccountRepository(connect(url))
    for name, grant in (("proctor-a", Grant("proctor", "U-A1")), ("op-a", Grant("operator", "U-A")),
                        ("proctor-b", Grant("proctor", "U-B"))):
        accounts.create_account(name, name, PASSWORD, by="test")
        accounts.grant(name, grant, by="test")
    accounts.engine.dispose()


@pytest.fixture(scope="module")
def site(demo_db_file, tmp_path_factory):
    for base, url in world_server(demo_db_file, tmp_path_factory, "rooms",
                                  prepare=_staff_of_the_rooms):
        engine = connect(url)
        yield base, engine
        engine.dispose()


def test_a_room_from_the_schedule_to_live_proctoring(site, staff_browser):
    base, engine = site
    hr, one = signed_in(base, "hr-a"), signed_in(base, "a-one")
    assert post(hr, base, "/staff/campaigns", {
        "id": "CR", "name": "Rooms", "units": ["U-A"],
        **{**DEADLINES, "testing_from": MONDAY, "testing_until": MONDAY}}).status_code == 303
    page = one.get(f"{base}/staff/campaigns/CR").text
    assert SLOT in page and "TC-B/" not in page  # only the slots of their own centre
    assert post(one, base, "/staff/campaigns/CR/proposals",
                {"choice": [SLOT, f"TC-A/{MONDAY}T11:00"]}).status_code == 303
    done = post(hr, base, "/staff/campaigns/CR/schedule", {})
    assert done.status_code == 303
    counts = dict(re.findall(r"(booked|first|optimum|unplaced)=(\d+)", done.headers["location"]))
    assert counts == {"booked": "3", "first": "1", "optimum": "1", "unplaced": "0"}
    assert "R1" in one.get(f"{base}/staff/campaigns/CR").text.split('id="my-booking"')[1][:200]

    op = signed_in(base, "op-a")
    assert "/staff/rooms/TC-A/R1?slot=" in op.get(f"{base}/staff/rooms").text
    room = f"/staff/rooms/TC-A/R1?slot={SLOT}"
    issued = post(op, base, room, {"action": "issue"})
    links = re.findall(r"/take/(\w+)#token=([\w-]+)", issued.text)
    assert issued.status_code == 200 and len(links) >= 1
    session_id, token = next((sid, tok) for sid, tok in links)
    stored = SessionStore(engine).session(session_id)
    assert stored.test_centre == "TC-A" and stored.level == "middle"

    outsider = signed_in(base, "proctor-b")
    assert outsider.get(f"{base}{room}").status_code == 404
    assert outsider.get(f"{base}/staff/rooms/TC-A/R1/stream?slot={SLOT}").status_code == 404
    assert "TC-A" not in outsider.get(f"{base}/staff/rooms").text

    proctor = signed_in(base, "proctor-a")
    with signed_in_page(staff_browser, base, proctor) as tab:
        tab.goto(f"{base}{room}&lang=en")
        row = f"tr[data-session='{session_id}']"
        assert tab.inner_text(f"{row} .status") == "not started"
        expect = pytest.importorskip("playwright.sync_api").expect  # polls without eval (the CSP)
        expect(tab.locator("#room")).to_have_attribute("data-updated", re.compile(r"\d+"))
        assert answer_current(base, {"id": session_id, "token": token}).status_code == 200
        expect(tab.locator(f"{row} .answered")).to_have_text(re.compile(r"^1/"), timeout=15000)
        assert tab.inner_text(f"{row} .status") == "in progress"  # pushed, not reloaded
        pause_resume_extend(tab, base, room, session_id, note="a noise in the corridor", minutes=5)
    kinds = [e.kind for e in SessionStore(engine).events(session_id)]
    assert kinds[-3:] == ["pause", "resume", "extra_time"]
    extra = SessionStore(engine).events(session_id)[-1].payload
    assert extra["seconds"] == 300.0 and extra["by"] == "account:proctor-a"

    assert post(outsider, base, "/staff/campaigns/CR/bookings/A-2/no-show",
                {}).status_code == 404  # another unit's proctor
    assert post(op, base, "/staff/campaigns/CR/bookings/A-2/no-show", {}).status_code == 303
    again = post(hr, base, "/staff/campaigns/CR/schedule", {})
    assert "booked=1&" in again.headers["location"]  # A-2 again; the others kept
