"""The staff pages × every role of unit U-A × unit U-B's records, over real HTTP: zero cross-unit
reads or actions.

Unit U-B has a campaign with everything in it — a member's exemption and its document, their
sheet, booking, session, interview and decision. An account of every role scoped to unit U-A (and
a supervisor and an employee of U-A) asks every staff page about them and posts every form, with a
valid CSRF token: each is answered as if nothing were there (403, 404, 422), no list shows any of
it, and afterwards nothing of U-B has changed and the audit log holds no action of theirs on it.
The table must list every staff route (the test fails on a route it does not know).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from urllib.parse import quote

import pytest

from qabilet.attestation.access import Grant
from qabilet.attestation.accounts import AccountRepository
from qabilet.attestation.campaigns import Campaign, CampaignRepository
from qabilet.attestation.files import check_upload
from qabilet.attestation.interviews import InterviewRepository
from qabilet.attestation.sheets import SheetContent, SheetRepository
from qabilet.attestation.timetable import TimetableRepository
from qabilet.itembank.database import connect
from qabilet.itembank.session_store import SessionStore
from tests.api._staff import signed_in, world_server
from tests.attestation._world import PASSWORD

SLOT = "TC-B/2099-04-06T09:00"
#: (method, path) → what it is: a list (must show nothing of U-B) or about a U-B record
PAGES = {
    ("GET", "/staff/"): "list", ("GET", "/staff/employees"): "list",
    ("GET", "/staff/employees/B-1"): "record", ("GET", "/staff/employees/B-1/data"): "record",
    ("GET", "/staff/campaigns"): "list", ("POST", "/staff/campaigns"): "action",
    ("GET", "/staff/campaigns/CB"): "record", ("POST", "/staff/campaigns/CB/proposals"): "action",
    ("POST", "/staff/campaigns/CB/schedule"): "action",
    ("POST", "/staff/campaigns/CB/bookings/B-1/no-show"): "action",
    ("POST", "/staff/campaigns/CB/exemptions"): "action",
    ("POST", "/staff/campaigns/CB/exemptions/{exemption}/decision"): "action",
    ("GET", "/staff/campaigns/CB/exemptions/{exemption}/file"): "record",
    ("GET", "/staff/campaigns/CB/sheets/B-1"): "record",
    ("POST", "/staff/campaigns/CB/sheets/B-1"): "action",
    ("GET", "/staff/rooms"): "list", ("GET", f"/staff/rooms/TC-B/R1?slot={quote(SLOT)}"): "record",
    ("GET", f"/staff/rooms/TC-B/R1/stream?slot={quote(SLOT)}"): "record",
    ("POST", f"/staff/rooms/TC-B/R1?slot={quote(SLOT)}"): "action",
    ("GET", "/staff/interviews"): "list",
    ("GET", "/staff/campaigns/CB/interviews/B-1"): "record",
    ("POST", "/staff/campaigns/CB/interviews/B-1"): "action",
    ("POST", "/staff/campaigns/CB/interviews"): "action",
    ("GET", "/staff/campaigns/CB/decisions"): "record",
    ("POST", "/staff/campaigns/CB/decisions/B-1"): "action",
    ("GET", "/staff/campaigns/CB/profiles/B-1"): "record",
}
#: every form's fields, as a U-A account would try them on U-B's records
FORM = {"personal_number": "B-1", "ground": "child_under_3", "decision": "approve",
        "reason": "x", "action": "draw_up", "assessment": "x", "text": "x", "session_id": "x",
        "outcome": "attested", "summary": "x", "notes": "x", "rating_accountability": "3",
        "day": "2099-04-20", "id": "CB2", "name": "x", "units": "U-B", "choice": SLOT,
        **{k: "2099-04-06" for k in ("sheets", "testing_from", "testing_until",
                                     "interviews_until", "decisions")}}
#: what of U-B no page may show to U-A's staff
MARKS = ("B-1", "B-HEAD", "Baimukhan", "Bekov", "TC-B", '"CB"', "/CB")
ACCOUNTS = ("admin-a", "hr-a", "op-a", "proctor-a", "comm-a", "int-a", "head-a", "a-one")


def _unit_b_has_everything(url: str) -> int:
    """Unit A's staff of every role, and U-B's campaign with everything in it: its exemption's id."""
    engine = connect(url)
    accounts = AccountRepository(engine)
    for name, grant in (("admin-a", Grant("administrator", "U-A")), ("op-a", Grant("operator", "U-A")),
                        ("proctor-a", Grant("proctor", "U-A")), ("comm-a", Grant("commission", "U-A")),
                        ("int-a", Grant("interviewer", "U-A", date(2099, 1, 1))),
                        ("int-b", Grant("interviewer", "U-B", date(2099, 1, 1)))):
        accounts.create_account(name, name, PASSWORD, by="test")
        accounts.grant(name, grant, by="test")
    campaigns = CampaignRepository(engine)
    campaigns.open(Campaign.model_validate({
        "id": "CB", "name": {"en": "B's"}, "units": ["U-B"],
        "deadlines": {"sheets": "2099-03-01", "testing_from": "2099-04-06",
                      "testing_until": "2099-04-06", "interviews_until": "2099-04-30",
                      "decisions": "2099-05-30"}}), by="hr-b")
    exemption = campaigns.request_exemption("CB", "B-HEAD", "near_retirement",
                                            document=check_upload(b"%PDF-1.4 B"), by="hr-b")
    SheetRepository(engine).draw_up("CB", "B-1", SheetContent(assessment="B's sheet"), by="b-head")
    timetable = TimetableRepository(engine)
    timetable.propose("CB", "B-1", [SLOT], by="b-1")
    timetable.schedule("CB", by="hr-b", after=datetime(2099, 1, 1, tzinfo=UTC))
    interviews = InterviewRepository(engine)
    interviews.assign("CB", "B-1", interviewer="int-b", starts_at=datetime(2099, 4, 20, 4,
                                                                         tzinfo=UTC),
                      video_url="https://video.example/b-1", by="hr-b")
    interviews.decide("CB", "B-1", outcome="attested", summary="B's summary", by="comm-b")
    engine.dispose()
    return exemption.id


@pytest.fixture(scope="module")
def site(demo_db_file, tmp_path_factory):
    made: list[int] = []
    for base, url in world_server(demo_db_file, tmp_path_factory, "staff-matrix",
                                  prepare=lambda url: made.append(_unit_b_has_everything(url))):
        engine = connect(url)
        yield base, engine, made[0]
        engine.dispose()


def test_the_table_lists_every_staff_route():
    from qabilet.api import staff_campaigns, staff_pages, staff_rooms, staff_stages
    served = {(m, r.path) for module in (staff_pages, staff_campaigns, staff_rooms, staff_stages)
              for r in module.router.routes for m in r.methods
              if r.path not in ("/staff/sign-in", "/staff/sign-out")}
    known = {(m, re.sub(r"\?.*", "", p).replace("B-1", "{personal_number}")
              .replace("/CB", "/{campaign_id}").replace("{exemption}", "{exemption_id}")
              .replace("TC-B/R1", "{centre_id}/{room_id}")) for m, p in PAGES}
    assert served == known


@pytest.mark.parametrize("username", ACCOUNTS)
def test_no_account_of_unit_a_reads_or_changes_anything_of_unit_b(site, username):
    base, engine, exemption = site
    client = signed_in(base, username)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get(f"{base}/staff/").text).group(1)
    for (method, path), kind in PAGES.items():
        url = base + path.format(exemption=exemption)
        if method == "GET":
            r = client.get(url, timeout=30)
        else:
            r = client.post(url, data={**FORM, "csrf": token}, timeout=30,
                            files={"file": ("x.pdf", b"%PDF-1.4 A", "application/pdf")}
                            if path.endswith("/exemptions") else None)
        said = f"{username} {method} {path}: {r.status_code} {r.text[:300]}"
        assert r.status_code < 500, said
        if kind == "list":
            assert r.status_code == 200, said
        else:
            assert r.status_code in (403, 404, 422), said
        assert not [m for m in MARKS if m in r.text], said
    trail = [e for e in SessionStore(engine).audit_trail()
             if e["actor"] == f"account:{username}" and e["target"]
             and ("B-" in e["target"] or "CB" in e["target"] or "TC-B" in e["target"])]
    assert not trail, trail
    assert len(SheetRepository(engine).sheet("CB", "B-1").revisions) == 1
    assert CampaignRepository(engine).exemption(exemption).status == "requested"
    assert TimetableRepository(engine).booking("CB", "B-1") is not None
    assert InterviewRepository(engine).decision("CB", "B-1").summary == "B's summary"
    assert InterviewRepository(engine).interview("CB", "B-1").record is None
