"""Security headers (issue 15, defect 7): every HTML page has a Content-Security-Policy,
``nosniff``, ``no-referrer`` and ``Cache-Control: no-store``; every API response (tokens, keys,
items, profiles, errors) is ``no-store`` and ``nosniff``; static assets are ``nosniff`` and may be
cached. The report's policy admits exactly its stylesheet; the candidate page's header policy is
its ``<meta>`` policy plus ``frame-ancestors 'none'``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from contextlib import contextmanager

import httpx
import pytest

from tests.api._served import served_on
from tests.api._server import answer_current, staff, start_session


@pytest.fixture(scope="module", params=["sqlite"])
def served(request, tmp_path_factory):
    yield from served_on(request, tmp_path_factory)


@pytest.fixture(scope="module")
def finished(served):
    """A session answered three times and finished: it has a profile and a report."""
    session = start_session(served.base, served.keys)
    for _ in range(3):
        assert answer_current(served.base, session).status_code == 200
    me = {"X-Session-Token": session["token"]}
    done = httpx.post(f"{served.base}/v1/sessions/{session['id']}/finish", headers=me)
    assert done.status_code == 200, done.text
    return session


def _policy(response: httpx.Response) -> dict[str, str]:
    """The Content-Security-Policy as {directive: sources}."""
    directives = (d.strip().split(None, 1) for d in response.headers["content-security-policy"]
                  .split(";") if d.strip())
    return {d[0]: d[1] if len(d) > 1 else "" for d in directives}


def _assert_html_headers(response: httpx.Response) -> None:
    assert response.headers["content-type"].startswith("text/html"), response.headers
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "content-security-policy" in response.headers


def test_every_api_response_is_not_stored_or_sniffed(served, finished):
    base, op, ps = served.base, staff(served.keys), staff(served.keys, "psychometrician")
    me = {"X-Session-Token": finished["token"]}
    sid = finished["id"]
    responses = {
        "a new session and its token": httpx.post(
            f"{base}/v1/sessions", headers=op, json={"candidate_id": finished["candidate_id"],
                                                    "level": "middle", "language": "ru"}),
        "a new key": httpx.post(f"{base}/v1/admin/keys", headers=ps, json={"role": "operator"}),
        "the candidate's profile": httpx.get(f"{base}/v1/sessions/{sid}/profile", headers=me),
        "the operator's profile": httpx.get(f"{base}/v1/sessions/{sid}/profile", headers=op),
        "the session": httpx.get(f"{base}/v1/sessions/{sid}", headers=me),
        "an item": httpx.get(f"{base}/v1/sessions/{sid}/item", headers=me),
        "the responses (CSV)": httpx.get(f"{base}/v1/admin/responses", headers=ps),
        "401": httpx.get(f"{base}/v1/sessions/{sid}"),
        "404": httpx.get(f"{base}/v1/sessions/nothing", headers=op),
        "422": httpx.post(f"{base}/v1/candidates", headers=op, json={"display_name": 1}),
        "the OpenAPI document": httpx.get(f"{base}/openapi.json"),
    }
    for what, r in responses.items():
        assert r.status_code < 500, (what, r.text)
        assert r.headers.get("cache-control") == "no-store", (what, r.headers)
        assert r.headers.get("x-content-type-options") == "nosniff", (what, r.headers)
    assert responses["a new session and its token"].json()["token"]
    assert responses["a new key"].json()["key"]


@pytest.mark.parametrize("who", ["operator", "candidate"])
def test_the_report_admits_its_own_stylesheet_and_nothing_else(served, finished, who):
    headers = (staff(served.keys) if who == "operator"
               else {"X-Session-Token": finished["token"]})
    r = httpx.get(f"{served.base}/v1/sessions/{finished['id']}/report", headers=headers)
    assert r.status_code == 200, r.text
    _assert_html_headers(r)
    policy = _policy(r)
    assert policy["default-src"] == "'none'" and "script-src" not in policy
    styles = re.findall(r"<style>(.*?)</style>", r.text, flags=re.S)
    assert len(styles) == 1 and "style=" not in r.text  # no inline style attributes either
    digest = base64.b64encode(hashlib.sha256(styles[0].encode()).digest()).decode()
    assert policy["style-src"] == f"'sha256-{digest}'"


def test_the_group_report_has_the_html_headers(served, finished):
    r = httpx.get(f"{served.base}/v1/reports/group", headers=staff(served.keys))
    assert r.status_code == 200, r.text
    _assert_html_headers(r)
    assert _policy(r)["default-src"] == "'none'"


def test_the_candidate_page_keeps_its_policy_and_may_not_be_framed(served, finished):
    r = httpx.get(f"{served.base}/take/{finished['id']}")
    _assert_html_headers(r)
    meta = re.search(r'http-equiv="Content-Security-Policy"\s+content="([^"]+)"', r.text).group(1)
    header = r.headers["content-security-policy"]
    assert header == f"{meta}; frame-ancestors 'none'"


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_documentation_pages_need_no_other_host(served, path):
    """Their scripts and styles come from the server (no CDN: a test centre's network may have
    no internet); their one inline script is admitted by its digest, nothing else inline."""
    r = httpx.get(served.base + path)
    _assert_html_headers(r)
    policy = _policy(r)
    assert "http" not in r.headers["content-security-policy"]
    assert "'unsafe-inline'" not in policy["script-src"]
    for script in re.findall(r"<script>(.*?)</script>", r.text, flags=re.DOTALL):
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy["script-src"]
    for asset in re.findall(r'(?:src|href)="(/[^"]+)"', r.text):
        assert asset.startswith("/static/docs/"), asset
        assert httpx.get(served.base + asset).status_code == 200


@contextmanager
def _in_chromium(url):
    """A Chromium page showing ``url``; nothing it loads may be refused by the page's policy."""
    from tests.delivery.test_report_html import _chromium

    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        page = browser.new_page()
        refused: list[str] = []
        page.on("console", lambda m: refused.append(m.text)
                if "Content Security Policy" in m.text else None)
        page.goto(url)
        yield page
        browser.close()
    assert not refused, refused


def test_swagger_ui_renders_in_chromium_under_its_policy(served):
    with _in_chromium(f"{served.base}/docs") as page:
        page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
        assert "qabilet" in page.inner_text(".swagger-ui .info .title")
        assert page.locator(".opblock").count() >= 20  # every operation listed
        # the Authorize button: a key entered there is sent by "Try it out"
        page.click("button.authorize")
        page.fill(".auth-container input[type=text], .auth-container input[type=password]",
                  served.keys["psychometrician"])
        page.click(".auth-btn-wrapper button.authorize")
        page.click(".btn-done")
        page.click("#operations-default-keys_v1_admin_keys_get .opblock-summary")
        page.click("#operations-default-keys_v1_admin_keys_get .try-out__btn")
        page.click("#operations-default-keys_v1_admin_keys_get .execute")
        status = page.wait_for_selector(
            "#operations-default-keys_v1_admin_keys_get .live-responses-table tbody .response-col_status",
            timeout=20_000)
        assert status.inner_text().strip() == "200"


def test_static_assets_are_not_sniffed_and_may_be_cached(served):
    r = httpx.get(f"{served.base}/static/take.js")
    assert r.status_code == 200 and r.headers["x-content-type-options"] == "nosniff"
    assert "cache-control" not in r.headers


# -- the front door (issue 16) ------------------------------------------------------------------------
def test_the_landing_page_says_what_and_which_version_and_links_the_docs(served):
    r = httpx.get(f"{served.base}/")
    assert r.status_code == 200, r.text
    _assert_html_headers(r)
    version = httpx.get(f"{served.base}/openapi.json").json()["info"]["version"]
    assert f'<span id="version">{version}</span>' in r.text and "qabilet" in r.text
    links = re.findall(r'href="([^"]+)"', r.text)
    assert {"/docs", "/redoc", "/openapi.json", "/favicon.ico"} <= set(links)
    for link in links:
        assert httpx.get(served.base + link).status_code == 200, link
    assert "/take/" in r.text  # where candidates go: their proctor's link
    policy = _policy(r)
    assert policy["default-src"] == "'none'" and "script-src" not in policy
    assert "<script" not in r.text and "style=" not in r.text
    styles = re.findall(r"<style>(.*?)</style>", r.text, flags=re.S)
    digest = base64.b64encode(hashlib.sha256(styles[0].encode()).digest()).decode()
    assert len(styles) == 1 and policy["style-src"] == f"'sha256-{digest}'"


def test_the_favicon_is_an_icon_not_sniffed(served):
    r = httpx.get(f"{served.base}/favicon.ico")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/x-icon"
    assert r.content[:4] == b"\x00\x00\x01\x00" and int.from_bytes(r.content[4:6], "little") >= 1
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "no-store" not in r.headers["cache-control"]  # an asset, as /static's: may be cached


def test_the_landing_page_renders_in_chromium_under_its_policy(served):
    with _in_chromium(f"{served.base}/") as page:
        assert page.inner_text("h1") == "qabilet"
        assert page.eval_on_selector("h1", "h => getComputedStyle(h).color") == "rgb(15, 93, 168)"
