"""Interviews and decisions on SQLite and PostgreSQL: only trained interviewers of the member's
unit, in a room of their unit or above it or by video; a day planned as an assignment problem
(everyone booked when the times suffice, nobody by an interviewer who may not); ratings and the
recording's reference kept; decisions among the campaign's outcomes."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from qabilet.attestation.access import Grant
from qabilet.attestation.accounts import AccountRepository
from qabilet.attestation.campaigns import Campaign, CampaignRepository
from qabilet.attestation.interviews import InterviewRecord, InterviewRepository
from qabilet.attestation.repository import OrganisationRepository, read_organisation
from qabilet.engine.exceptions import ConflictError, InvalidParameterError
from qabilet.itembank.database import connect
from qabilet.itembank.session_store import SessionStore
from tests.attestation._world import DOCUMENT, PASSWORD

DAY = date(2099, 4, 20)
AT = datetime(2099, 4, 20, 4, 0, tzinfo=UTC)


@pytest.fixture
def interviews(db_url):
    engine = connect(db_url)
    document = json.loads(json.dumps(DOCUMENT))
    document["interview_rooms"] = [{"id": "IR-A", "unit": "U-A", "video": True}]
    OrganisationRepository(engine).import_organisation(read_organisation(json.dumps(document)),
                                                       by="test")
    accounts = AccountRepository(engine)
    for name, unit, trained in (("int-a", "U-A", date(2099, 1, 10)),
                                ("int-late", "U-A", date(2099, 12, 1)),
                                ("int-b", "U-B", date(2099, 1, 10))):
        accounts.create_account(name, name, PASSWORD, by="test")
        accounts.grant(name, Grant("interviewer", unit, trained), by="test")
    CampaignRepository(engine).open(Campaign.model_validate({
        "id": "CI", "name": {"en": "x"}, "units": ["U-A", "U-B"],
        "deadlines": {"sheets": "2099-03-01", "testing_from": "2099-04-01",
                      "testing_until": "2099-04-10", "interviews_until": "2099-04-30",
                      "decisions": "2099-05-30"}}), by="hr")
    yield InterviewRepository(engine)
    engine.dispose()


def test_an_interview_needs_a_trained_interviewer_of_the_unit_and_a_room_or_a_link(interviews):
    for who, problem in (("int-late", "not trained by"), ("int-b", "not trained by")):
        with pytest.raises(InvalidParameterError, match=problem):
            interviews.assign("CI", "A-1", interviewer=who, starts_at=AT, room="IR-A", by="hr")
    with pytest.raises(InvalidParameterError, match="not both or neither"):
        interviews.assign("CI", "A-1", interviewer="int-a", starts_at=AT, by="hr")
    with pytest.raises(InvalidParameterError, match="not an interview room of unit 'U-B'"):
        interviews.assign("CI", "B-1", interviewer="int-b", starts_at=AT, room="IR-A", by="hr")
    made = interviews.assign("CI", "A-1", interviewer="int-a", starts_at=AT, room="IR-A", by="hr")
    assert (made.mode, made.room, made.status) == ("in_person", "IR-A", "booked")  # U-A1 ⊂ U-A
    with pytest.raises(ConflictError, match="interviews 'A-1' then"):
        interviews.assign("CI", "A-2", interviewer="int-a", starts_at=AT, room="IR-A", by="hr")
    video = interviews.assign("CI", "B-1", interviewer="int-b", starts_at=AT,
                              video_url="https://video.example/b1", by="hr")
    assert video.mode == "video"


def test_a_day_is_planned_as_an_assignment_within_each_interviewers_units(interviews):
    made = interviews.plan("CI", DAY, by="hr", per_day=2)
    by_person = {i.personal_number: i for i in made}
    # U-A's three members and two times of int-a's (int-late is not trained yet): two booked;
    # U-B's two by int-b, by video (no room near U-B)
    assert sum(pn.startswith("A-") for pn in by_person) == 2
    assert {pn for pn in by_person if pn.startswith("B-")} == {"B-HEAD", "B-1"}
    assert all(i.interviewer == ("int-a" if pn.startswith("A-") else "int-b")
               for pn, i in by_person.items())
    assert all(i.mode == "video" and i.video_url.endswith(f"/CI/{pn}")
               for pn, i in by_person.items() if pn.startswith("B-"))
    times = [(i.interviewer, i.starts_at) for i in made]
    assert len(times) == len(set(times))  # nobody twice at once
    rest = interviews.plan("CI", date(2099, 4, 21), by="hr", per_day=2)
    assert [i.personal_number for i in rest] == sorted({"A-HEAD", "A-1", "A-2"} - set(by_person))


def test_the_interviewer_records_ratings_and_the_commission_decides(interviews):
    interviews.assign("CI", "A-1", interviewer="int-a", starts_at=AT, room="IR-A", by="hr")
    record = InterviewRecord.model_validate({
        "ratings": {"service_to_public": 4, "accountability": 5}, "notes": "Clear answers.",
        "recording": {"uri": "s3://archive/CI/A-1.mp4", "sha256": "ab" * 32,
                      "retain_until": "2100-04-20"}})
    held = interviews.record("CI", "A-1", record, by="account:int-a")
    assert held.status == "held" and held.record == record
    with pytest.raises(ValueError):
        InterviewRecord.model_validate({"ratings": {"service_to_public": 6}, "notes": "x"})
    with pytest.raises(InvalidParameterError, match="outcome: expected one of attested"):
        interviews.decide("CI", "A-1", outcome="promoted", summary="x", by="account:c")
    made = interviews.decide("CI", "A-1", outcome="attested_with_plan",
                             summary="Develop the written reports.", by="account:commission")
    assert (made.outcome, made.language) == ("attested_with_plan", "ru")  # A-1 answers in ru
    assert interviews.decisions("CI")["A-1"].summary == "Develop the written reports."
    actions = [e["action"] for e in SessionStore(interviews.engine).audit_trail("employee:A-1")]
    assert actions == ["interview.assign", "interview.record", "decision.record"]
