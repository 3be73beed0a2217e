"""Personal data on SQLite and PostgreSQL: one employee's export holds their record, files and
sheets and nobody else's; erasure removes names, documents and words while revisions' hashes,
ratings and outcomes stay; only those past the retention period are erased; both are audited."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from qabilet.attestation.access import Grant
from qabilet.attestation.accounts import AccountRepository
from qabilet.attestation.campaigns import Campaign, CampaignRepository
from qabilet.attestation.files import check_upload
from qabilet.attestation.interviews import InterviewRecord, InterviewRepository
from qabilet.attestation.personal_data import ERASED, erase_expired, erase_person, export_person
from qabilet.attestation.repository import OrganisationRepository
from qabilet.attestation.sheets import SheetContent, SheetRepository
from qabilet.attestation.tables import FileRow
from qabilet.itembank.database import connect
from qabilet.itembank.session_store import SessionStore
from tests.attestation._world import DOCUMENT, build

PDF = b"%PDF-1.4 the certificate of A-1"
SHARED = b"%PDF-1.4 a document two people filed"


@pytest.fixture
def engine(db_url):
    build(db_url)
    engine = connect(db_url)
    campaigns = CampaignRepository(engine)
    campaigns.open(Campaign.model_validate({
        "id": "CP", "name": {"en": "x"}, "units": ["U-A", "U-B"],
        "deadlines": {"sheets": "2017-03-01", "testing_from": "2017-04-01",
                      "testing_until": "2017-04-10", "interviews_until": "2017-04-30",
                      "decisions": "2017-05-30"}}), by="hr")
    for pn, content in (("A-1", PDF), ("A-1", SHARED), ("A-2", SHARED)):
        ground = "child_under_3" if content == PDF else "single_parent_child_under_14"
        campaigns.request_exemption("CP", pn, ground, document=check_upload(content), by=pn)
    sheets = SheetRepository(engine)
    content = SheetContent.model_validate({"warnings": [{"on": "2016-11-02", "text": "Late"}],
                                           "assessment": "Reliable."})
    first = sheets.draw_up("CP", "A-1", content, by="head-a").latest
    sheets.sign("CP", "A-1", revision=1, digest=first.content_hash, by="account:a-one",
                signature=check_upload(b"\x30\x82 signature", signature=True))
    accounts = AccountRepository(engine)
    accounts.create_account("int-a", "Interviewer", "a long enough password", by="test")
    accounts.grant("int-a", Grant("interviewer", "U-A", date(2017, 1, 10)), by="test")
    interviews = InterviewRepository(engine)
    interviews.assign("CP", "A-1", interviewer="int-a", by="hr",
                      starts_at=datetime(2017, 4, 20, 4, tzinfo=UTC),
                      video_url="https://video.example/cp/a-1")
    interviews.record("CP", "A-1", InterviewRecord.model_validate({
        "ratings": {"accountability": 4}, "notes": "Spoke of her family.",
        "recording": {"uri": "s3://archive/a-1.mp4", "sha256": "cd" * 32,
                      "retain_until": "2020-04-20"}}), by="account:int-a")
    interviews.decide("CP", "A-1", outcome="attested", summary="Keep it up.", by="commission")
    yield engine
    engine.dispose()


def test_the_export_holds_the_persons_data_and_only_theirs(engine):
    document = json.loads(json.dumps(export_person(engine, "A-1", by="hr")))
    assert document["record"]["surname"] == "Amanov" and document["account"]["username"] == "a-one"
    assert {base64.b64decode(f["content_base64"]) for f in document["files"]} == {PDF, SHARED}
    assert [r["revision"] for r in document["sheet_revisions"]] == [1]
    assert document["decisions"][0]["summary"] == "Keep it up."
    assert {e["personal_number"] for e in document["exemptions"]} == {"A-1"}
    assert "A-2" not in json.dumps(document["exemptions"])
    assert SessionStore(engine).audit_trail("employee:A-1")[-1]["action"] == "personal_data.export"


def test_erasure_removes_identity_and_words_and_keeps_integrity(engine):
    hash_before = SheetRepository(engine).sheet("CP", "A-1").latest.content_hash
    assert erase_person(engine, "A-1", by="hr") is True
    assert erase_person(engine, "A-1", by="hr") is False
    record = OrganisationRepository(engine).employee("A-1")
    assert record.surname.startswith("erased-") and record.given_name == ERASED
    assert record.born == date(1980, 1, 1) and record.documents == []
    with engine.connect() as c:  # A-1's own file is gone; the one A-2 filed too stays
        stored = {r.content for r in c.execute(select(FileRow.content))}
    assert PDF not in stored and SHARED in stored and len(stored) == 1
    sheet = SheetRepository(engine).sheet("CP", "A-1")
    assert sheet.latest.content_hash == hash_before and sheet.status == "signed"
    assert sheet.latest.content.assessment == ERASED and sheet.events[-1].signature_file is None
    assert InterviewRepository(engine).decision("CP", "A-1").summary == ERASED
    interview = InterviewRepository(engine).interview("CP", "A-1")
    assert interview.record.notes == ERASED and interview.record.recording is None
    assert interview.record.ratings == {"accountability": 4} and interview.video_url is None
    account = AccountRepository(engine).account("a-one")
    assert account.employee is None and account.disabled_at is not None
    assert OrganisationRepository(engine).employee("A-2").surname == "Arystan"  # untouched
    assert SessionStore(engine).audit_trail("employee:A-1")[-1]["action"] == "personal_data.erase"


def test_only_those_past_the_retention_period_are_erased(engine):
    document = json.loads(json.dumps(DOCUMENT))
    later = Campaign.model_validate({
        "id": "CP2", "name": {"en": "y"}, "units": ["U-B"],
        "deadlines": {"sheets": "2021-03-01", "testing_from": "2021-04-01",
                      "testing_until": "2021-04-10", "interviews_until": "2021-04-30",
                      "decisions": "2021-05-30"}})
    CampaignRepository(engine).open(later, by="hr")
    assert document  # U-B's people are members of a later campaign
    erased = erase_expired(engine, retention=timedelta(days=3 * 365), by="retention",
                           today=date(2021, 1, 1))
    assert erased == ["A-1", "A-2", "A-HEAD"]
    again = erase_expired(engine, retention=timedelta(days=3 * 365), by="retention",
                          today=datetime(2024, 6, 1, tzinfo=UTC).date())
    assert again == ["B-1", "B-HEAD"]
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(FileRow)).scalar() == 0
