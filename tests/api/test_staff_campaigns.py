"""The campaign's staff pages over real HTTP and in Chromium: HR opens a campaign, a supervisor
draws up a sheet, the employee disputes it, HR corrects it, the employee signs the revision in
force and files an exemption with its document, HR reads the document and decides; nobody of
another unit sees any of it; forms without their token change nothing."""

from __future__ import annotations

import re
from functools import cache

import pytest

from tests.api._staff import DEADLINES, post, signed_in, signed_in_page, world_server

PDF = b"%PDF-1.4\n% an exemption's certificate\n%%EOF\n"


@pytest.fixture(scope="module")
def site(demo_db_file, tmp_path_factory):
    for base, _ in world_server(demo_db_file, tmp_path_factory, "campaign"):
        yield base


@pytest.fixture(scope="module")
def account(site):
    """The module's signed-in client of each account (signed in once; nobody signs out here)."""
    return cache(lambda username: signed_in(site, username))


def test_a_campaign_from_opening_to_a_signed_sheet_and_a_decided_exemption(site, account,
                                                                          staff_browser):
    base = site
    hr, head, one = account("hr-a"), account("head-a"), account("a-one")
    made = post(hr, base, "/staff/campaigns", {"id": "CA-1", "name": "Attestation",
                                               "units": ["U-A"], **DEADLINES})
    assert made.status_code == 303, made.text
    board = hr.get(f"{base}/staff/campaigns/CA-1").text
    assert re.search(r"<td>3</td><td>0</td>", board)  # U-A's 3 members (A-HEAD, A-1, A-2)
    refused = post(hr, base, "/staff/campaigns", {"id": "CA-B", "name": "x", "units": ["U-B"],
                                                  **DEADLINES})
    assert refused.status_code == 422 and "outside your units" in refused.text

    sheet_url = "/staff/campaigns/CA-1/sheets/A-1"
    bad = post(head, base, sheet_url, {"action": "draw_up", "encouragements": "last spring: thanks",
                                       "assessment": "Good."})
    assert bad.status_code == 422 and "encouragements, line 1" in bad.text
    drawn = post(head, base, sheet_url, {"action": "draw_up",
                                         "encouragements": "2016-05-01 Letter of thanks",
                                         "warnings": "2016-11-02 Late report",
                                         "assessment": "Reliable and courteous."})
    assert drawn.status_code == 303
    page = one.get(f"{base}{sheet_url}").text
    digest = re.search(r'name="content_hash" value="(\w+)"', page).group(1)
    assert post(one, base, sheet_url, {"action": "dispute", "revision": "1", "content_hash": digest,
                                       "text": "The warning was withdrawn."}).status_code == 303
    assert "A-1" in hr.get(f"{base}/staff/campaigns/CA-1").text.split('id="disputed"')[1]
    assert post(hr, base, sheet_url, {"action": "correct", "encouragements":
                                      "2016-05-01 Letter of thanks", "assessment":
                                      "Reliable and courteous."}).status_code == 303

    with signed_in_page(staff_browser, base, one) as tab:
        tab.goto(f"{base}{sheet_url}?lang=en")
        assert "Revision 2" in tab.inner_text("#in-force") and "Late report" not in tab.inner_text(
            "#in-force")
        tab.click("#form-sign button")
        tab.wait_for_url(f"{base}{sheet_url}")
        assert tab.inner_text("#sheet-status").endswith("Signed")
        assert "Late report" in one.get(f"{base}{sheet_url}").text  # revision 1 kept in the history
        tab.goto(f"{base}/staff/campaigns/CA-1")
        tab.select_option("#ground", "child_under_3")
        tab.set_input_files("#file", files=[{"name": "certificate.pdf", "mimeType": "application/pdf",
                                             "buffer": PDF}])
        tab.click("#request-exemption button")
        tab.wait_for_url(f"{base}/staff/campaigns/CA-1")
        assert "Woman with a child under 3: Waiting" in tab.inner_text("#my-exemptions")

    board = hr.get(f"{base}/staff/campaigns/CA-1").text
    link = re.search(r'href="(/staff/campaigns/CA-1/exemptions/(\d+)/file)"', board)
    document = hr.get(f"{base}{link.group(1)}")
    assert document.content == PDF and "attachment" in document.headers["content-disposition"]
    for outsider in (account("hr-b"), account("staff-b"), head):
        assert outsider.get(f"{base}{link.group(1)}").status_code == 404
    decided = post(hr, base, f"/staff/campaigns/CA-1/exemptions/{link.group(2)}/decision",
                   {"decision": "approve", "reason": "certificate seen"})
    assert decided.status_code == 303
    assert re.search(r"<td>3</td><td>1</td>", hr.get(f"{base}/staff/campaigns/CA-1").text)


def test_other_units_see_nothing_and_tokens_are_required(site, account):
    base = site
    hr = account("hr-a")
    assert post(hr, base, "/staff/campaigns", {"id": "CA-2", "name": "Second", "units": ["U-A"],
                                               **DEADLINES}).status_code == 303
    other, clerk = account("hr-b"), account("staff-b")
    assert other.get(f"{base}/staff/campaigns/CA-2").status_code == 404
    assert "CA-2" not in other.get(f"{base}/staff/campaigns").text
    assert clerk.get(f"{base}/staff/campaigns/CA-2/sheets/A-1").status_code == 404
    head = account("head-a")
    r = head.post(f"{base}/staff/campaigns/CA-2/sheets/A-2",
                 data={"action": "draw_up", "assessment": "x", "csrf": "forged"})
    assert r.status_code == 403
    assert "A-2" in head.get(f"{base}/staff/campaigns/CA-2").text  # their employee, still
    assert head.get(f"{base}/staff/campaigns/CA-2/sheets/A-2").text.count("Revision") == 0
