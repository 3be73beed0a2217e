"""The campaign's staff pages over real HTTP and in Chromium: HR opens a campaign, a supervisor
draws up a sheet, the employee disputes it, HR corrects it, the employee signs the revision in
force and files an exemption with its document, HR reads the document and decides; nobody of
another unit sees any of it; forms without their token change nothing."""

from __future__ import annotations

import re
import shutil

import httpx
import pytest

from tests.api import test_candidate_page as candidate_page
from tests.api._server import Server
from tests.api.test_staff_pages import _signed_in
from tests.attestation._world import build

browser = candidate_page.browser  # the fixture: Chromium, launched by Playwright
PDF = b"%PDF-1.4\n% an exemption's certificate\n%%EOF\n"
DEADLINES = {"sheets": "2099-03-20", "testing_from": "2099-04-03", "testing_until": "2099-04-14",
             "interviews_until": "2099-04-28", "decisions": "2099-05-12"}


@pytest.fixture(scope="module")
def site(demo_db_file, tmp_path_factory):
    path = tmp_path_factory.mktemp("campaign") / "demo.db"
    shutil.copy(demo_db_file, path)
    build(f"sqlite:///{path}")
    running = Server(f"sqlite:///{path}").start()
    yield running.base
    running.stop()


def _post(client: httpx.Client, base: str, path: str, data: dict) -> httpx.Response:
    """A form posted with the session's CSRF token (every page's sign-out form carries it)."""
    home = client.get(f"{base}/staff/").text
    token = re.search(r'name="csrf" value="([^"]+)"', home).group(1)
    return client.post(f"{base}{path}", data={**data, "csrf": token})


def test_a_campaign_from_opening_to_a_signed_sheet_and_a_decided_exemption(site, browser):
    base = site
    hr, head, one = _signed_in(base, "hr-a"), _signed_in(base, "head-a"), _signed_in(base, "a-one")
    made = _post(hr, base, "/staff/campaigns", {"id": "CA-1", "name": "Attestation",
                                                "units": ["U-A"], **DEADLINES})
    assert made.status_code == 303, made.text
    board = hr.get(f"{base}/staff/campaigns/CA-1").text
    assert re.search(r"<td>3</td><td>0</td>", board)  # U-A's 3 members (A-HEAD, A-1, A-2)
    refused = _post(hr, base, "/staff/campaigns", {"id": "CA-B", "name": "x", "units": ["U-B"],
                                                   **DEADLINES})
    assert refused.status_code == 422 and "outside your units" in refused.text

    sheet_url = "/staff/campaigns/CA-1/sheets/A-1"
    bad = _post(head, base, sheet_url, {"action": "draw_up", "encouragements": "last spring: thanks",
                                        "assessment": "Good."})
    assert bad.status_code == 422 and "encouragements, line 1" in bad.text
    drawn = _post(head, base, sheet_url, {"action": "draw_up",
                                          "encouragements": "2016-05-01 Letter of thanks",
                                          "warnings": "2016-11-02 Late report",
                                          "assessment": "Reliable and courteous."})
    assert drawn.status_code == 303
    page = one.get(f"{base}{sheet_url}").text
    digest = re.search(r'name="content_hash" value="(\w+)"', page).group(1)
    assert _post(one, base, sheet_url, {"action": "dispute", "revision": "1", "content_hash": digest,
                                        "text": "The warning was withdrawn."}).status_code == 303
    assert "A-1" in hr.get(f"{base}/staff/campaigns/CA-1").text.split('id="disputed"')[1]
    assert _post(hr, base, sheet_url, {"action": "correct", "encouragements":
                                       "2016-05-01 Letter of thanks", "assessment":
                                       "Reliable and courteous."}).status_code == 303

    context = browser.new_context()
    context.add_cookies([{"name": "qabilet_staff", "value": one.cookies["qabilet_staff"],
                          "url": f"{base}/staff/"}])
    tab = context.new_page()
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
    context.close()

    board = hr.get(f"{base}/staff/campaigns/CA-1").text
    link = re.search(r'href="(/staff/campaigns/CA-1/exemptions/(\d+)/file)"', board)
    document = hr.get(f"{base}{link.group(1)}")
    assert document.content == PDF and "attachment" in document.headers["content-disposition"]
    for outsider in (_signed_in(base, "hr-b"), _signed_in(base, "staff-b"), head):
        assert outsider.get(f"{base}{link.group(1)}").status_code == 404
    decided = _post(hr, base, f"/staff/campaigns/CA-1/exemptions/{link.group(2)}/decision",
                    {"decision": "approve", "reason": "certificate seen"})
    assert decided.status_code == 303
    assert re.search(r"<td>3</td><td>1</td>", hr.get(f"{base}/staff/campaigns/CA-1").text)


def test_other_units_see_nothing_and_tokens_are_required(site):
    base = site
    hr = _signed_in(base, "hr-a")
    assert _post(hr, base, "/staff/campaigns", {"id": "CA-2", "name": "Second", "units": ["U-A"],
                                                **DEADLINES}).status_code == 303
    other, clerk = _signed_in(base, "hr-b"), _signed_in(base, "staff-b")
    assert other.get(f"{base}/staff/campaigns/CA-2").status_code == 404
    assert "CA-2" not in other.get(f"{base}/staff/campaigns").text
    assert clerk.get(f"{base}/staff/campaigns/CA-2/sheets/A-1").status_code == 404
    head = _signed_in(base, "head-a")
    r = head.post(f"{base}/staff/campaigns/CA-2/sheets/A-2",
                  data={"action": "draw_up", "assessment": "x", "csrf": "forged"})
    assert r.status_code == 403
    assert "A-2" in head.get(f"{base}/staff/campaigns/CA-2").text  # their employee, still
    assert head.get(f"{base}/staff/campaigns/CA-2/sheets/A-2").text.count("Revision") == 0
