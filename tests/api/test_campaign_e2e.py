"""A whole attestation campaign over real HTTP and in Chromium, on an invented organisation of three
units: the organisation and the staff accounts made with an administrator's key; HR opens the
campaign; exemptions filed with documents and decided; every sheet drawn up by its supervisor and
signed — one disputed and corrected, one with a dissent; slots proposed and scheduled within the
seats; the rooms' links issued and every session taken with simulated answers, one paused and
extended by its proctor from the live room page; interviews planned and recorded; every member
decided by the commission; one employee's data exported, and everyone's erased after retention.

``QABILET_CAMPAIGN_EMPLOYEES`` sets the organisation's size: 12 in the suite (four a unit: a
head, a head of division, two specialists), 200 in ``make check-long`` (the issue's campaign).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import Counter
from datetime import date, timedelta

import httpx
import pytest

from qabilet.attestation.personal_data import erase_expired
from qabilet.attestation.repository import OrganisationRepository
from qabilet.attestation.timetable import TimetableRepository
from qabilet.demo_organisation import demo_organisation
from qabilet.itembank.database import connect
from qabilet.itembank.repository import BankRepository
from qabilet.itembank.session_store import SessionStore
from tests.api._server import Server, answer_current
from tests.api._staff import pause_resume_extend, post, signed_in, signed_in_page

EMPLOYEES = int(os.environ.get("QABILET_CAMPAIGN_EMPLOYEES", "12"))
PASSWORD = "a long enough password"
PDF = b"%PDF-1.4\n% a certificate\n%%EOF\n"
DEADLINES = {"sheets": "2099-03-27", "testing_from": "2099-04-06", "testing_until": "2099-04-10",
             "interviews_until": "2099-04-30", "decisions": "2099-05-15"}


@pytest.fixture(scope="module")
def site(demo_db_file, tmp_path_factory):
    path = tmp_path_factory.mktemp("campaign-e2e") / "demo.db"
    shutil.copy(demo_db_file, path)
    url = f"sqlite:///{path}"
    engine = connect(url)
    admin = SessionStore(engine).create_api_key("administrator", "e2e")
    running = Server(url).start()
    # one client for the administrator's and the candidates' requests (connections kept alive)
    with httpx.Client(timeout=120) as http:
        yield running.base, engine, {"Authorization": f"Bearer {admin}"}, http
    running.stop()
    engine.dispose()


def _account(http: httpx.Client, base: str, admin: dict, username: str,
             employee: str | None = None, grants: tuple[dict, ...] = ()) -> None:
    made = http.post(f"{base}/v1/attestation/accounts", headers=admin, json={
        "username": username, "name": username, "password": PASSWORD,
        **({"employee": employee} if employee else {})})
    assert made.status_code == 201, made.text
    for grant in grants:
        r = http.post(f"{base}/v1/attestation/accounts/{username}/grants", headers=admin,
                      json=grant)
        assert r.status_code == 201, r.text


def _login(base: str, username: str) -> httpx.Client:
    return signed_in(base, username, PASSWORD)


def test_a_campaign_from_the_organisation_to_the_decisions(site, staff_browser):
    base, engine, admin, http = site
    org = demo_organisation(units=3, employees=EMPLOYEES, seed=7)
    imported = http.post(f"{base}/v1/attestation/organisation", headers=admin, json=org)
    assert imported.status_code == 201 and imported.json()["employees"] == EMPLOYEES
    people = {p["personal_number"]: p for p in org["employees"]}
    units = [u["id"] for u in org["units"]]
    supervisors = {p["supervisor"] for p in people.values() if "supervisor" in p}
    for pn in people:
        grants = ({"role": "supervisor"},) if pn in supervisors else ()
        _account(http, base, admin, f"e{pn}", pn, grants)
    _account(http, base, admin, "hr", grants=tuple({"role": "hr", "unit": u} for u in units))
    _account(http, base, admin, "commission", grants=({"role": "commission"},))
    _account(http, base, admin, "operator", grants=({"role": "operator"},))
    _account(http, base, admin, "proctor-ala", grants=({"role": "proctor", "unit": "ASDC-ALA"},))
    for u in units:
        _account(http, base, admin, f"int-{u.lower()}", grants=(
            {"role": "interviewer", "unit": u, "trained_on": "2099-01-15"},))

    hr = _login(base, "hr")
    version = BankRepository(engine).blueprint("middle").bank_version  # the version tests use
    opened = post(hr, base, "/staff/campaigns", {"id": "ATT-2099", "name": "Attestation 2099",
                                                  "units": units, "bank_version": str(version),
                                                  **DEADLINES})
    assert opened.status_code == 303 and opened.headers["location"].endswith(
        f"opened={EMPLOYEES}")
    clients = {pn: _login(base, f"e{pn}") for pn in people}

    # -- exemptions: three filed with documents; two approved, one rejected
    specialists = [pn for pn, p in people.items() if p["category"] == "C-4"]
    filers = specialists[:3]
    for pn in filers:
        token = re.search(r'name="csrf" value="([^"]+)"',
                          clients[pn].get(f"{base}/staff/").text).group(1)
        r = clients[pn].post(f"{base}/staff/campaigns/ATT-2099/exemptions",
                             data={"csrf": token, "ground": "single_parent_child_under_14"},
                             files={"file": ("certificate.pdf", PDF, "application/pdf")})
        assert r.status_code == 303, r.text
    board = hr.get(f"{base}/staff/campaigns/ATT-2099").text
    waiting = re.findall(r'/staff/campaigns/ATT-2099/exemptions/(\d+)/file', board)
    assert len(waiting) == 3
    for k, exemption in enumerate(waiting):
        assert post(hr, base, f"/staff/campaigns/ATT-2099/exemptions/{exemption}/decision", {
            "decision": "approve" if k < 2 else "reject",
            "reason": "the certificate checked" if k < 2 else "not a single parent"}
        ).status_code == 303
    exempt = set(filers[:2])

    # -- sheets: drawn up by each supervisor; signed, one disputed and corrected, one dissent
    disputed, dissenting = specialists[3], specialists[4]
    for pn, p in people.items():
        boss = p.get("supervisor")
        if boss is None:
            continue  # the chair: nobody above them in the document
        assert post(clients[boss], base, f"/staff/campaigns/ATT-2099/sheets/{pn}", {
            "action": "draw_up", "encouragements": "2098-05-01 Letter of thanks",
            "assessment": f"Assessment of {pn}."}).status_code == 303
        page = clients[pn].get(f"{base}/staff/campaigns/ATT-2099/sheets/{pn}").text
        digest = re.search(r'name="content_hash" value="(\w+)"', page).group(1)
        action = {disputed: "dispute", dissenting: "dissent"}.get(pn, "sign")
        assert post(clients[pn], base, f"/staff/campaigns/ATT-2099/sheets/{pn}", {
            "action": action, "revision": "1", "content_hash": digest,
            "text": "It is not so."}).status_code == 303
    assert post(hr, base, f"/staff/campaigns/ATT-2099/sheets/{disputed}", {
        "action": "correct", "assessment": "Corrected assessment."}).status_code == 303
    page = clients[disputed].get(f"{base}/staff/campaigns/ATT-2099/sheets/{disputed}").text
    digest = re.search(r'name="content_hash" value="(\w+)"', page).group(1)
    assert post(clients[disputed], base, f"/staff/campaigns/ATT-2099/sheets/{disputed}", {
        "action": "sign", "revision": "2", "content_hash": digest}).status_code == 303
    board = hr.get(f"{base}/staff/campaigns/ATT-2099").text
    total = re.search(r'<tr class="total">(.*?)</tr>', board, re.S).group(1)
    cells = [int(c) for c in re.findall(r"<td>(\d+)</td>", total)]
    # members, exempt, booked, then not drawn up, presented, disputed, signed, dissent, unsigned
    assert cells == [EMPLOYEES, 2, 0, 1, 0, 0, EMPLOYEES - 2, 1, 0], cells

    # -- proposals and the schedule
    timetable = TimetableRepository(engine)
    for k, pn in enumerate(sorted(people)):
        if pn in exempt:
            continue
        offer = re.findall(r'<option value="(TC-[^"]+)"',
                           clients[pn].get(f"{base}/staff/campaigns/ATT-2099").text)
        assert offer, pn
        choices = [offer[k % len(offer)], offer[(k + 5) % len(offer)]]
        assert post(clients[pn], base, "/staff/campaigns/ATT-2099/proposals",
                    {"choice": choices}).status_code == 303
    done = post(hr, base, "/staff/campaigns/ATT-2099/schedule", {})
    counts = dict(re.findall(r"(booked|first|optimum|unplaced)=(\d+)", done.headers["location"]))
    assert counts["booked"] == str(EMPLOYEES - 2) and counts["unplaced"] == "0"
    assert counts["first"] == counts["optimum"]
    bookings = timetable.bookings("ATT-2099")
    seats = {c["id"]: sum(r["seats"] for r in c["rooms"]) for c in org["test_centres"]}
    per_slot = Counter(b.slot for b in bookings)
    assert all(n <= seats[slot.split("/")[0]] for slot, n in per_slot.items())
    assert len({(b.slot, b.room, b.seat) for b in bookings}) == len(bookings)

    # -- links issued per room and every session taken; one paused and extended by its proctor
    operator = _login(base, "operator")
    rooms = sorted(set(re.findall(r'href="(/staff/rooms/[^"]+)"',
                                  operator.get(f"{base}/staff/rooms").text)))
    links: dict[str, str] = {}
    for room in rooms:
        issued = post(operator, base, room.replace("&amp;", "&"), {"action": "issue"})
        links.update(re.findall(r"/take/(\w+)#token=([\w-]+)", issued.text))
    assert len(links) == EMPLOYEES - 2
    assert {SessionStore(engine).session(sid).bank_version for sid in links} == {version}
    ala = next(b for b in bookings if b.centre == "TC-ALA")
    watched = timetable.booking("ATT-2099", ala.personal_number).session_id
    room = f"/staff/rooms/TC-ALA/{ala.room}?slot={ala.slot}"
    proctor = _login(base, "proctor-ala")
    with signed_in_page(staff_browser, base, proctor) as tab:
        tab.goto(f"{base}{room}&lang=en")
        pause_resume_extend(tab, base, room, watched, note="fire drill", minutes=10)
    assert [e.kind for e in SessionStore(engine).events(watched)][-3:] == [
        "pause", "resume", "extra_time"]
    for session_id, token in links.items():
        session = {"id": session_id, "token": token}
        for _ in range(200):
            answered = answer_current(base, session, client=http)
            if answered.status_code != 200 or answered.json()["finished"]:
                break
        assert answered.status_code in (200, 409), answered.text
        finish = http.post(f"{base}/v1/sessions/{session_id}/finish",
                           headers={"X-Session-Token": token})
        assert finish.status_code in (200, 409), finish.text

    # -- interviews planned day by day and recorded; every member decided
    day = date(2099, 4, 13)
    while post(hr, base, "/staff/campaigns/ATT-2099/interviews",
               {"day": day.isoformat()}).headers["location"] != \
            "/staff/campaigns/ATT-2099/decisions?planned=0":
        day += timedelta(days=1)
    for u in units:
        interviewer = _login(base, f"int-{u.lower()}")
        mine = re.findall(r'href="/staff/campaigns/ATT-2099/interviews/(\w+)"',
                          interviewer.get(f"{base}/staff/interviews").text)
        for pn in mine:
            form = interviewer.get(f"{base}/staff/campaigns/ATT-2099/interviews/{pn}").text
            ratings = {name: "4" for name in re.findall(r'name="(rating_\w+)"', form)}
            assert ratings and (pn in exempt or "profile-link" in form)
            assert post(interviewer, base, f"/staff/campaigns/ATT-2099/interviews/{pn}", {
                **ratings, "notes": "Clear and courteous.", "recording_uri":
                f"s3://archive/ATT-2099/{pn}.mp4", "recording_sha256": "ab" * 32,
                "retain_until": "2102-04-30"}).status_code == 303
    commission = _login(base, "commission")
    table = commission.get(f"{base}/staff/campaigns/ATT-2099/decisions").text
    assert len(re.findall(r'data-person="(\w+)"', table)) == EMPLOYEES
    assert table.count("accountability 4") == EMPLOYEES  # every interview's ratings
    for pn in people:
        outcome = "attested_with_plan" if pn == dissenting else "attested"
        assert post(commission, base, f"/staff/campaigns/ATT-2099/decisions/{pn}", {
            "outcome": outcome, "summary": "May develop the written reports."}
        ).status_code == 303
    table = commission.get(f"{base}/staff/campaigns/ATT-2099/decisions").text
    assert table.count('class="decided"') == EMPLOYEES

    # -- one employee's results on their page, their data exported; everyone's erased later
    someone = next(pn for pn in people if pn not in exempt | {disputed, dissenting})
    own = clients[someone].get(f"{base}/staff/campaigns/ATT-2099").text
    assert "May develop the written reports." in own.split('id="my-decision"')[1][:300]
    report = clients[someone].get(f"{base}/staff/campaigns/ATT-2099/profiles/{someone}")
    assert report.status_code == 200 and "<html" in report.text.lower()
    data = clients[someone].get(f"{base}/staff/employees/{someone}/data")
    document = json.loads(data.content)
    assert document["record"]["surname"] == people[someone]["surname"]
    assert document["profiles"] and "<html" in document["profiles"][0]["report_html"]
    assert document["decisions"][0]["outcome"] == "attested" and document["interviews"]
    other = clients[specialists[0]].get(f"{base}/staff/employees/{someone}/data")
    assert other.status_code == 404  # never another employee's
    erased = erase_expired(engine, retention=timedelta(days=365 * 3), by="retention",
                           today=date(2103, 1, 1))
    assert sorted(erased) == sorted(people)
    record = OrganisationRepository(engine).employee(someone)
    assert record.surname.startswith("erased-") and record.documents == []
