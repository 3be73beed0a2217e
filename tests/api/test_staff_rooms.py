"""Scheduling and the proctor's room over real HTTP and in Chromium: a member proposes slots, HR
draws up the schedule (first choices against the most possible), an operator issues the room's
links, the candidate's answers and the proctor's pause reach the proctor's page as server-sent
events without a reload; another unit's proctor reaches neither the page nor its stream; a
no-show is booked again."""

from __future__ import annotations

import re
import shutil

import pytest

from qabilet.attestation.access import Grant
from qabilet.attestation.accounts import AccountRepository
from qabilet.itembank.database import connect
from qabilet.itembank.session_store import SessionStore
from tests.api import test_candidate_page as candidate_page
from tests.api._server import Server, answer_current
from tests.api.test_staff_campaigns import DEADLINES, _post
from tests.api.test_staff_pages import _signed_in
from tests.attestation._world import PASSWORD, build

browser = candidate_page.browser  # the fixture: Chromium, launched by Playwright
MONDAY = "2099-04-06"
SLOT = f"TC-A/{MONDAY}T09:00"


@pytest.fixture(scope="module")
def site(demo_db_file, tmp_path_factory):
    path = tmp_path_factory.mktemp("rooms") / "demo.db"
    shutil.copy(demo_db_file, path)
    url = f"sqlite:///{path}"
    build(url)
    engine = connect(url)
    accounts = AccountRepository(engine)
    for name, grant in (("proctor-a", Grant("proctor", "U-A1")), ("op-a", Grant("operator", "U-A")),
                        ("proctor-b", Grant("proctor", "U-B"))):
        accounts.create_account(name, name, PASSWORD, by="test")
        accounts.grant(name, grant, by="test")
    running = Server(url).start()
    yield running.base, engine
    running.stop()
    engine.dispose()


def test_a_room_from_the_schedule_to_live_proctoring(site, browser):
    base, engine = site
    hr, one = _signed_in(base, "hr-a"), _signed_in(base, "a-one")
    assert _post(hr, base, "/staff/campaigns", {
        "id": "CR", "name": "Rooms", "units": ["U-A"],
        **{**DEADLINES, "testing_from": MONDAY, "testing_until": MONDAY}}).status_code == 303
    page = one.get(f"{base}/staff/campaigns/CR").text
    assert SLOT in page and "TC-B/" not in page  # only the slots of their own centre
    assert _post(one, base, "/staff/campaigns/CR/proposals",
                 {"choice": [SLOT, f"TC-A/{MONDAY}T11:00"]}).status_code == 303
    done = _post(hr, base, "/staff/campaigns/CR/schedule", {})
    assert done.status_code == 303
    counts = dict(re.findall(r"(booked|first|optimum|unplaced)=(\d+)", done.headers["location"]))
    assert counts == {"booked": "3", "first": "1", "optimum": "1", "unplaced": "0"}
    assert "R1" in one.get(f"{base}/staff/campaigns/CR").text.split('id="my-booking"')[1][:200]

    op = _signed_in(base, "op-a")
    assert "/staff/rooms/TC-A/R1?slot=" in op.get(f"{base}/staff/rooms").text
    room = f"/staff/rooms/TC-A/R1?slot={SLOT}"
    issued = _post(op, base, room, {"action": "issue"})
    links = re.findall(r"/take/(\w+)#token=([\w-]+)", issued.text)
    assert issued.status_code == 200 and len(links) >= 1
    session_id, token = next((sid, tok) for sid, tok in links)
    stored = SessionStore(engine).session(session_id)
    assert stored.test_centre == "TC-A" and stored.level == "middle"

    outsider = _signed_in(base, "proctor-b")
    assert outsider.get(f"{base}{room}").status_code == 404
    assert outsider.get(f"{base}/staff/rooms/TC-A/R1/stream?slot={SLOT}").status_code == 404
    assert "TC-A" not in outsider.get(f"{base}/staff/rooms").text

    proctor = _signed_in(base, "proctor-a")
    context = browser.new_context()
    context.add_cookies([{"name": "qabilet_staff", "value": proctor.cookies["qabilet_staff"],
                          "url": f"{base}/staff/"}])
    tab = context.new_page()
    tab.goto(f"{base}{room}&lang=en")
    row = f"tr[data-session='{session_id}']"
    assert tab.inner_text(f"{row} .status") == "not started"
    expect = pytest.importorskip("playwright.sync_api").expect  # polls without eval (the CSP)
    expect(tab.locator("#room")).to_have_attribute("data-updated", re.compile(r"\d+"))
    assert answer_current(base, {"id": session_id, "token": token}).status_code == 200
    expect(tab.locator(f"{row} .answered")).to_have_text(re.compile(r"^1/"), timeout=15000)
    assert tab.inner_text(f"{row} .status") == "in progress"  # pushed, not reloaded
    tab.fill(f"{row} input[name=text]", "a noise in the corridor")
    tab.click(f"{row} button[value=pause]")
    tab.wait_for_url(f"{base}{room}")
    assert tab.inner_text(f"{row} .status") == "paused"
    tab.click(f"{row} button[value=resume]")
    tab.wait_for_url(f"{base}{room}")
    tab.fill(f"{row} input[name=minutes]", "5")
    tab.click(f"{row} button[value=extra_time]")
    tab.wait_for_url(f"{base}{room}")
    context.close()
    kinds = [e.kind for e in SessionStore(engine).events(session_id)]
    assert kinds[-3:] == ["pause", "resume", "extra_time"]
    extra = SessionStore(engine).events(session_id)[-1].payload
    assert extra["seconds"] == 300.0 and extra["by"] == "account:proctor-a"

    assert _post(outsider, base, "/staff/campaigns/CR/bookings/A-2/no-show",
                 {}).status_code == 404  # another unit's proctor
    assert _post(op, base, "/staff/campaigns/CR/bookings/A-2/no-show", {}).status_code == 303
    again = _post(hr, base, "/staff/campaigns/CR/schedule", {})
    assert "booked=1&" in again.headers["location"]  # A-2 again; the others kept
