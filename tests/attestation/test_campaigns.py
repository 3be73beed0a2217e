"""Campaigns, exemptions and evaluation sheets on SQLite and PostgreSQL; the retirement schedule
against the ministry's published cohorts; uploads checked by content and stored once."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from qabilet.attestation.access import Grant, reach
from qabilet.attestation.campaigns import Campaign, CampaignRepository
from qabilet.attestation.exemptions import check_ground, months_between, retirement_date
from qabilet.attestation.files import check_upload
from qabilet.attestation.repository import OrganisationRepository, read_organisation
from qabilet.attestation.sheets import Progress, SheetContent, SheetRepository, content_hash
from qabilet.attestation.tables import FileRow
from qabilet.attestation.timetable import TimetableRepository
from qabilet.engine.exceptions import ConflictError, InvalidParameterError, NotFoundError
from qabilet.itembank.database import connect
from qabilet.itembank.session_store import SessionStore
from tests.attestation._world import DOCUMENT

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
DEADLINES = {"sheets": "2017-03-20", "testing_from": "2017-04-03", "testing_until": "2017-04-14",
             "interviews_until": "2017-04-28", "decisions": "2017-05-12"}


@pytest.mark.parametrize(("born", "sex", "retires"), [
    # the ministry: women born in the first half of 1960 retired in the second half of 2018
    # (at 58.5), those born in its second half in 2019 (at 59); 61 from 2023 to 2027; 63 for men
    ("1960-03-01", "f", "2018-09-01"), ("1960-09-01", "f", "2019-09-01"),
    ("1959-09-01", "f", "2017-09-01"), ("1963-03-01", "f", "2024-03-01"),
    ("1967-05-01", "f", "2028-11-01"), ("1970-05-01", "f", "2033-05-01"),
    ("1960-03-01", "m", "2023-03-01"), ("1956-02-29", "m", "2019-02-28")])
def test_the_retirement_date_follows_the_schedule_in_force_that_year(born, sex, retires):
    assert retirement_date(date.fromisoformat(born), sex) == date.fromisoformat(retires)


def test_grounds_are_checked_against_the_record():
    on = date(2017, 4, 3)
    common = {"born": date(1980, 1, 1), "on": on}
    assert months_between(date(2016, 10, 3), on) == 6 and months_between(date(2016, 10, 4), on) == 5
    assert check_ground("short_service", sex="f", entered_service=date(2016, 10, 4), **common).holds
    assert not check_ground("short_service", sex="f", entered_service=date(2016, 10, 3),
                            **common).holds
    near = {"sex": "m", "entered_service": date(1990, 1, 1), "on": on}
    assert check_ground("near_retirement", born=date(1956, 4, 3), **near).holds  # 63 on 2019-04-03
    assert not check_ground("near_retirement", born=date(1956, 4, 4), **near).holds
    assert check_ground("maternity_leave", sex="m", entered_service=date(2000, 1, 1),
                        **common).holds is False
    assert check_ground("child_under_3", sex="f", entered_service=date(2000, 1, 1),
                        **common).holds is None


def test_uploads_are_checked_by_their_content():
    assert check_upload(PDF).media_type == "application/pdf"
    assert check_upload(b"\x89PNG\r\n\x1a\n....").media_type == "image/png"
    for bad, problem in ((b"", "empty"), (b"MZ\x90\x00 an executable", "PDF, PNG or JPEG"),
                         (b"%PDF" + b"x" * (10 * 1024 * 1024), "at most")):
        with pytest.raises(ValueError, match=problem):
            check_upload(bad)
    assert check_upload(b"\x30\x82\x01\x00", signature=True).media_type.endswith("signature")


@pytest.fixture
def campaigns(db_url):
    engine = connect(db_url)
    document = json.loads(json.dumps(DOCUMENT))
    document["employees"][3]["born"] = "1956-04-03"  # B-HEAD: a man retiring at 63 in 2019
    document["employees"][3]["sex"] = "m"
    OrganisationRepository(engine).import_organisation(read_organisation(json.dumps(document)),
                                                       by="test")
    yield CampaignRepository(engine)
    engine.dispose()


def _campaign(**changes) -> Campaign:
    return Campaign.model_validate({"id": "CA-2017", "name": {"en": "Attestation 2017"},
                                    "units": ["U-A", "U-B"], "deadlines": DEADLINES, **changes})


def test_a_campaign_records_its_members_within_the_hr_officers_units(campaigns):
    parents = OrganisationRepository(campaigns.engine).unit_parents()
    hr_a = reach("account:hr-a", [Grant("hr", "U-A")], parents)
    with pytest.raises(InvalidParameterError, match="'U-B' is outside your units"):
        campaigns.open(_campaign(), by="hr-a", within=hr_a)
    assert campaigns.open(_campaign(id="CA-A", units=["U-A"]), by="hr-a", within=hr_a) == 3
    assert {m.personal_number for m in campaigns.members("CA-A")} == {"A-HEAD", "A-1", "A-2"}
    assert campaigns.open(_campaign(), by="hr") == 5
    with pytest.raises(ConflictError):
        campaigns.open(_campaign(), by="hr")
    with pytest.raises(InvalidParameterError, match="99"):  # the bank has no version 99
        campaigns.open(_campaign(id="CA-X", bank_version=99), by="hr")
    with pytest.raises(ValueError, match="testing_from"):
        _campaign(deadlines={**DEADLINES, "testing_until": "2017-04-01"})


def test_exemptions_are_requested_with_documents_checked_and_decided_with_a_reason(campaigns):
    campaigns.open(_campaign(), by="hr")
    with pytest.raises(InvalidParameterError, match="rests on a document"):
        campaigns.request_exemption("CA-2017", "A-1", "child_under_3", document=None, by="A-1")
    with pytest.raises(InvalidParameterError, match="a woman's"):
        campaigns.request_exemption("CA-2017", "B-HEAD", "maternity_leave",
                                    document=check_upload(PDF), by="B-HEAD")
    with pytest.raises(NotFoundError, match="not in campaign"):
        campaigns.request_exemption("CA-2017", "NOBODY", "child_under_3",
                                    document=check_upload(PDF), by="x")
    first = campaigns.request_exemption("CA-2017", "A-1", "child_under_3",
                                        document=check_upload(PDF), by="A-1")
    assert first.status == "requested" and first.check_holds is None
    with pytest.raises(ConflictError, match="waiting or approved"):
        campaigns.request_exemption("CA-2017", "A-1", "child_under_3",
                                    document=check_upload(PDF), by="A-1")
    near = campaigns.request_exemption("CA-2017", "B-HEAD", "near_retirement", document=None,
                                       by="hr")
    assert near.check_holds is True and "2019-04-03" in near.check_note
    campaigns.request_exemption("CA-2017", "A-2", "maternity_leave", document=check_upload(PDF),
                                by="A-2")
    with campaigns.engine.connect() as c:  # the same document twice: stored once
        assert c.execute(select(func.count()).select_from(FileRow)).scalar() == 1
    with pytest.raises(InvalidParameterError, match="reason"):
        campaigns.decide_exemption(first.id, approve=True, reason=" ", by="hr")
    decided = campaigns.decide_exemption(first.id, approve=True, reason="certificate seen",
                                         by="hr")
    assert (decided.status, decided.reason, decided.decided_by) == ("approved",
                                                                    "certificate seen", "hr")
    with pytest.raises(ConflictError, match="approved already"):
        campaigns.decide_exemption(first.id, approve=False, reason="changed my mind", by="hr")
    assert campaigns.exempt("CA-2017") == {"A-1": "child_under_3"}
    assert [e.personal_number for e in campaigns.exemptions("CA-2017", units={"U-B"})] == ["B-HEAD"]
    actions = [e["action"] for e in SessionStore(campaigns.engine).audit_trail("employee:A-1")]
    assert actions == ["exemption.request", "exemption.decide"]


def _content(assessment: str = "Reliable and courteous.") -> SheetContent:
    return SheetContent.model_validate({
        "encouragements": [{"on": "2016-05-01", "text": "Letter of thanks"}],
        "penalties": [], "warnings": [{"on": "2016-11-02", "text": "Late report"}],
        "assessment": assessment})


def test_a_sheet_is_signed_disputed_corrected_and_every_revision_kept(campaigns):
    campaigns.open(_campaign(), by="hr")
    sheets = SheetRepository(campaigns.engine, today=lambda: date(2017, 3, 10))
    with pytest.raises(NotFoundError):
        sheets.sheet("CA-2017", "NOBODY")
    first = sheets.draw_up("CA-2017", "A-1", _content(), by="account:head-a").latest
    assert first.number == 1 and first.content_hash == content_hash(_content())
    with pytest.raises(ConflictError, match="not the sheet in force"):
        sheets.sign("CA-2017", "A-1", revision=1, digest="0" * 64, by="account:a-1")
    disputed = sheets.dispute("CA-2017", "A-1", revision=1, digest=first.content_hash,
                              complaint="The warning was withdrawn.", by="account:a-1")
    assert disputed.status == "disputed"
    with pytest.raises(ConflictError, match="disputed"):
        sheets.draw_up("CA-2017", "A-1", _content("x"), by="account:head-a")
    fixed = _content().model_copy(update={"warnings": []})
    corrected = sheets.correct("CA-2017", "A-1", fixed, by="account:hr-a")
    assert [r.number for r in corrected.revisions] == [1, 2] and corrected.status == "presented"
    assert corrected.revisions[0].content == _content()  # the disputed revision is kept
    signed = sheets.sign("CA-2017", "A-1", revision=2, digest=content_hash(fixed),
                         by="account:a-1", signature=check_upload(b"\x30\x82\x00\x10",
                                                                  signature=True))
    assert signed.status == "signed" and signed.events[-1].signature_file is not None
    assert (signed.events[-1].revision, signed.events[-1].content_hash) == (2, content_hash(fixed))
    with pytest.raises(ConflictError, match="signed"):
        sheets.dissent("CA-2017", "A-1", revision=2, digest=content_hash(fixed), text="no",
                       by="account:a-1")
    second = sheets.draw_up("CA-2017", "A-2", _content(), by="account:head-a").latest
    sheets.dispute("CA-2017", "A-2", revision=1, digest=second.content_hash, complaint="wrong",
                   by="account:a-2")
    back = sheets.reject_complaint("CA-2017", "A-2", reason="the record shows it",
                                   by="account:hr-a")
    assert back.status == "presented" and len(back.revisions) == 1
    dissent = sheets.dissent("CA-2017", "A-2", revision=1, digest=second.content_hash,
                             text="I disagree with the assessment.", by="account:a-2")
    assert dissent.status == "dissent"
    late = SheetRepository(campaigns.engine, today=lambda: date(2017, 3, 21))
    states = late.states("CA-2017")
    assert states == {"A-1": "signed", "A-2": "dissent", "A-HEAD": "unsigned",
                      "B-1": "unsigned", "B-HEAD": "unsigned"}
    assert sheets.states("CA-2017")["A-HEAD"] == "not_drawn_up"
    assert [e["action"] for e in SessionStore(campaigns.engine).audit_trail("employee:A-1")] == [
        "sheet.draw_up", "sheet.disputed", "sheet.correct", "sheet.signed"]


def test_the_progress_is_counted_per_unit_as_by_hand(campaigns):
    """Five members in three units, every state of a sheet; the counts below are this table's.

    ========  =====  ======  =========================================================
    member    unit   exempt  booked, sheet
    ========  =====  ======  =========================================================
    A-HEAD    U-A    no      booked; not drawn up
    A-1       U-A1   no      booked; disputed, corrected, revision 2 signed
    A-2       U-A1   yes     —; disputed (two approved exemptions, counted once)
    B-HEAD    U-B    yes     —; dissent
    B-1       U-B    no      booked, then a no-show; disputed, complaint rejected
    ========  =====  ======  =========================================================
    """
    campaigns.open(_campaign(), by="hr")
    for pn, ground, approve in (("A-2", "child_under_3", True), ("A-2", "maternity_leave", True),
                                ("B-HEAD", "near_retirement", True), ("B-1", "child_under_3", False)):
        made = campaigns.request_exemption("CA-2017", pn, ground, document=check_upload(PDF),
                                           by="hr")
        campaigns.decide_exemption(made.id, approve=approve, reason="seen", by="hr")
    timetable = TimetableRepository(campaigns.engine)
    timetable.schedule("CA-2017", by="hr", after=datetime(2017, 1, 1, tzinfo=UTC))
    timetable.no_show("CA-2017", "B-1", by="proctor")
    sheets = SheetRepository(campaigns.engine, today=lambda: date(2017, 3, 10))
    for pn in ("A-1", "A-2", "B-HEAD", "B-1"):
        first = sheets.draw_up("CA-2017", pn, _content(), by="head").latest
        act = {"B-HEAD": sheets.dissent}.get(pn, sheets.dispute)
        act("CA-2017", pn, revision=1, digest=first.content_hash, by=pn,
            **({"text": "no"} if pn == "B-HEAD" else {"complaint": "no"}))
    second = sheets.correct("CA-2017", "A-1", _content("Corrected."), by="hr").latest
    sheets.sign("CA-2017", "A-1", revision=2, digest=second.content_hash, by="A-1")
    sheets.reject_complaint("CA-2017", "B-1", reason="the record shows it", by="hr")

    assert sheets.progress("CA-2017") == [
        Progress("U-A", 1, 0, 1, {"not_drawn_up": 1}),
        Progress("U-A1", 2, 1, 1, {"signed": 1, "disputed": 1}),
        Progress("U-B", 2, 1, 0, {"presented": 1, "dissent": 1}),
        Progress(None, 5, 2, 2, {"not_drawn_up": 1, "signed": 1, "disputed": 1, "presented": 1,
                                 "dissent": 1})]
    assert sheets.progress("CA-2017", units={"U-A1", "U-B"}) == [
        Progress("U-A1", 2, 1, 1, {"signed": 1, "disputed": 1}),
        Progress("U-B", 2, 1, 0, {"presented": 1, "dissent": 1}),
        Progress(None, 4, 2, 1, {"signed": 1, "disputed": 1, "presented": 1, "dissent": 1})]
    assert sheets.progress("CA-2017", units=set()) == []
    late = SheetRepository(campaigns.engine, today=lambda: date(2017, 3, 21))
    assert late.progress("CA-2017") == [
        Progress("U-A", 1, 0, 1, {"unsigned": 1}),
        Progress("U-A1", 2, 1, 1, {"signed": 1, "unsigned": 1}),
        Progress("U-B", 2, 1, 0, {"unsigned": 1, "dissent": 1}),
        Progress(None, 5, 2, 2, {"unsigned": 3, "signed": 1, "dissent": 1})]
    for repository in (sheets, late):  # the states counted are those each sheet is in
        assert repository.states("CA-2017") == {
            pn: repository.sheet("CA-2017", pn).status
            for pn in ("A-HEAD", "A-1", "A-2", "B-HEAD", "B-1")}
    with pytest.raises(NotFoundError):
        sheets.progress("NO-SUCH")
