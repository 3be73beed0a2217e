"""A campaign's timetable on SQLite and PostgreSQL: slots from the centres' hours, proposals checked
against the member's centres, scheduling within the seats with the confirmed kept, exempt members
left out, no-shows booked again, begun slots not offered."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from qabilet.attestation.campaigns import Campaign, CampaignRepository
from qabilet.attestation.files import check_upload
from qabilet.attestation.repository import OrganisationRepository, read_organisation
from qabilet.attestation.timetable import TimetableRepository
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.itembank.database import connect
from tests.attestation._world import DOCUMENT

MONDAY = "2099-04-06"  # the testing days: one Monday; each centre opens 09:00–13:00 (2 slots)


@pytest.fixture
def timetable(db_url):
    engine = connect(db_url)
    document = json.loads(json.dumps(DOCUMENT))
    for centre in document["test_centres"]:
        centre["hours"] = {"mon": ["09:00", "13:00"]}
        centre["rooms"] = [{"id": "R1", "seats": 1}, {"id": "R2", "seats": 1}]
    OrganisationRepository(engine).import_organisation(read_organisation(json.dumps(document)),
                                                       by="test")
    CampaignRepository(engine).open(Campaign.model_validate({
        "id": "CA", "name": {"en": "x"}, "units": ["U-A", "U-B"],
        "deadlines": {"sheets": "2099-03-01", "testing_from": MONDAY, "testing_until": MONDAY,
                      "interviews_until": "2099-04-30", "decisions": "2099-05-30"}}), by="hr")
    yield TimetableRepository(engine)
    engine.dispose()


def test_members_propose_their_centres_slots_and_are_booked_within_the_seats(timetable):
    slots = [s.id for s in timetable.slots("CA")]
    assert slots == [f"TC-{c}/{MONDAY}T{h}" for c in "AB" for h in ("09:00", "11:00")]
    assert timetable.eligible_centres("CA", "A-1") == ("TC-A",)  # U-A1's own
    assert timetable.eligible_centres("CA", "A-HEAD") == ("TC-A", "TC-B")  # U-A has none
    with pytest.raises(InvalidParameterError, match="not a slot of your test centres"):
        timetable.propose("CA", "A-1", [f"TC-B/{MONDAY}T09:00"], by="a-1")
    with pytest.raises(InvalidParameterError, match="1 to 3 different"):
        timetable.propose("CA", "A-1", [slots[0], slots[0]], by="a-1")
    early, late = f"TC-A/{MONDAY}T09:00", f"TC-A/{MONDAY}T11:00"
    for pn in ("A-1", "A-2"):
        timetable.propose("CA", pn, [early, late], by=pn)
    timetable.propose("CA", "A-HEAD", [early], by="hr")
    CampaignRepository(timetable.engine).request_exemption(
        "CA", "B-1", "child_under_3", document=check_upload(b"%PDF-1.4 x"), by="hr")
    exemption = CampaignRepository(timetable.engine).exemptions("CA")[0]
    CampaignRepository(timetable.engine).decide_exemption(exemption.id, approve=True,
                                                          reason="seen", by="hr")
    done = timetable.schedule("CA", by="hr", after=datetime(2099, 1, 1, tzinfo=UTC))
    assert done.requests == 4 and done.booked_now == 4  # B-1 is exempt
    booked = {b.personal_number: b for b in timetable.bookings("CA")}
    assert set(booked) == {"A-HEAD", "A-1", "A-2", "B-HEAD"}
    in_early = [b for b in booked.values() if b.slot == early]
    assert len(in_early) == 2 and {(b.room, b.seat) for b in in_early} == {("R1", 1), ("R2", 1)}
    assert done.schedule.first_choices == done.schedule.first_choice_optimum == 2
    assert booked["B-HEAD"].centre == "TC-B" and booked["B-HEAD"].rank == 0  # proposed nothing
    # 09:00 in Almaty: UTC+5 since Kazakhstan's single time zone of 1 March 2024
    assert booked["A-1"].starts_at == datetime(2099, 4, 6, 4, 0, tzinfo=UTC)

    kept = {pn: (b.slot, b.room, b.seat) for pn, b in booked.items() if pn != "A-2"}
    timetable.no_show("CA", "A-2", by="proctor")
    assert timetable.booking("CA", "A-2") is None
    again = timetable.schedule("CA", by="hr", after=datetime(2099, 1, 1, tzinfo=UTC))
    assert again.requests == 1 and again.booked_now == 1
    now_booked = {b.personal_number: (b.slot, b.room, b.seat) for b in timetable.bookings("CA")}
    assert {pn: now_booked[pn] for pn in kept} == kept  # the others kept their seats
    assert timetable.bookings("CA", units={"U-B"})[0].personal_number == "B-HEAD"


def test_slots_that_have_begun_are_not_offered(timetable):
    timetable.propose("CA", "A-1", [f"TC-A/{MONDAY}T09:00"], by="a-1")
    after_nine = datetime(2099, 4, 6, 4, 30, tzinfo=UTC)  # 09:30 in Almaty
    timetable.schedule("CA", by="hr", after=after_nine)
    assert timetable.booking("CA", "A-1").slot == f"TC-A/{MONDAY}T11:00"
    assert date.fromisoformat(MONDAY).weekday() == 0
