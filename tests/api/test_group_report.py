"""GET /v1/reports/group over real HTTP, and the page in headless Chromium with its charts: one
profile per session, a group per level × bank version × norm set, small groups left out (the
server's minimum and a request's larger one), one language, each bad parameter a 422 naming it."""

from __future__ import annotations

import re
from html import unescape

import httpx
import numpy as np
import pytest

from qabilet.itembank.database import connect
from qabilet.itembank.repository import BankRepository
from tests.api._server import Server, staff, staff_keys
from tests.delivery._group import NAMES, later, make_profile
from tests.delivery.test_report_html import ARTIFACTS, _chromium

CYRILLIC = re.compile(r"[\u0400-\u04ff]")


def _issue(url: str) -> dict[str, str]:
    """Issue the test's profiles; returns the bank's English names of the two dimensions.

    Middle level, version 1: 12 sessions on norm set 1 (one re-scored: its first profile is
    replaced), 6 on a second norm set; low level: 11 sessions on norm set 1 whose profiles were
    stored before their words were kept (Russian names only).
    """
    engine = connect(url)
    repo = BankRepository(engine)
    first = repo.norm_set()
    second = repo.create_norm_set(first.bank_version, first.levels, label="Second norms")
    version = first.bank_version
    made = [make_profile({"service_to_public": 8.0 * k + 4, "transparency": 90.0 - 7 * k},
                         session=f"m{k}", issued=later(k), bank_version=version,
                         norm_set=first.number) for k in range(12)]
    made.append(make_profile({"service_to_public": 99.0, "transparency": 99.0}, session="m0",
                             issued=later(500), bank_version=version, norm_set=first.number,
                             replaces=made[0].id))
    made += [make_profile({"transparency": 37.0 + k}, session=f"n{k}", issued=later(20 + k),
                          bank_version=version, norm_set=second.number) for k in range(6)]
    made += [make_profile({"service_to_public": 5.0 * k + 30, "transparency": 6.0 * k + 20},
                          session=f"l{k}", level="low", issued=later(40 + k), words=False,
                          bank_version=version, norm_set=first.number) for k in range(11)]
    for p in made:
        repo.issue_profile(p)
    names = {d: repo.dimensions()[d].name["en"] for d in ("service_to_public", "transparency")}
    engine.dispose()
    return {"version": str(version), "first": str(first.number), "second": str(second.number),
            **names}


@pytest.fixture
def issued(demo_db):
    facts = _issue(demo_db)
    keys = staff_keys(demo_db)
    running = Server(demo_db).start()
    yield running.base, keys, facts, demo_db
    running.stop()


def _get(base, keys, **params):
    return httpx.get(f"{base}/v1/reports/group", params=params, headers=staff(keys), timeout=60)


def _sections(html):
    """(level, bank version, norm set) → the section's HTML."""
    return {m.group(1, 2, 3): m.group(0) for m in re.finditer(
        r'<section class="group" data-level="(\w+)" data-bank-version="(\d+)" '
        r'data-norm-set="(\d+)">.*?</section>', html, flags=re.S)}


def _count(section, name):
    row = re.search(rf"<strong>{re.escape(name)}</strong></td><td[^>]*>(\d+)</td>", section)
    return int(row.group(1)) if row else None


def test_the_group_report_over_http(issued):
    base, keys, facts, _ = issued
    r = _get(base, keys, language="en")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html") and r.headers["content-language"] == "en"
    sections = _sections(r.text)
    v, first, second = facts["version"], facts["first"], facts["second"]
    assert set(sections) == {("middle", v, first), ("middle", v, second), ("low", v, first)}
    middle = sections[("middle", v, first)]
    assert _count(middle, "Service to the public") == 12  # the re-scored session counted once
    assert "Fewer than 10 candidates" in sections[("middle", v, second)]
    assert "<table" not in sections[("middle", v, second)]
    low = sections[("low", v, first)]  # stored without words: named from the bank, in English
    assert _count(low, facts["transparency"]) == 11
    text = unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", r.text, flags=re.S)))
    assert not CYRILLIC.search(text), CYRILLIC.findall(text)[:10]
    # a request may ask for larger groups, never smaller ones than the server's
    larger = _sections(_get(base, keys, language="en", min_count=12).text)
    assert "<table" in larger[("middle", v, first)] and "<table" not in larger[("low", v, first)]
    kk = _get(base, keys, language="kk", candidate_language="kk")
    assert kk.status_code == 200 and not _sections(kk.text)
    for params, field in (({"min_count": 5}, "min_count"), ({"min_count": 0}, "min_count"),
                          ({"candidate_language": "de"}, "candidate_language"),
                          ({"language": "xx"}, "language"), ({"since": "soon"}, "since"),
                          ({"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"},
                           "until")):
        bad = _get(base, keys, **params)
        assert bad.status_code == 422, (params, bad.text)
        assert bad.json()["detail"][0]["loc"] == ["query", field], bad.json()
    assert "QABILET_GROUP_MIN_COUNT" in _get(base, keys, min_count=9).json()["detail"][0]["msg"]


def test_the_server_s_minimum_is_a_setting(demo_db):
    facts = _issue(demo_db)
    keys = staff_keys(demo_db)
    running = Server(demo_db, env={"QABILET_GROUP_MIN_COUNT": "6"}).start()
    try:
        page = _get(running.base, keys, language="ru", level="middle")
        sections = _sections(page.text)
        assert _count(sections[("middle", facts["version"], facts["second"])], "Прозрачность") == 6
        assert "кандидатов меньше 6" in page.text  # the note says the server's minimum
        assert _get(running.base, keys, min_count=5).status_code == 422
    finally:
        running.stop()


def test_the_page_renders_in_chromium_with_its_charts(issued):
    playwright = pytest.importorskip("playwright.sync_api")
    exe = _chromium()
    base, keys, facts, _ = issued
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.set_extra_http_headers(staff(keys))
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning")
                else None)
        response = page.goto(f"{base}/v1/reports/group?language=kk")
        assert response is not None and response.status == 200
        assert "style-src 'sha256-" in response.headers["content-security-policy"]
        assert page.title() == "Топтық есеп"
        charts = page.locator("figure.chart svg")
        assert charts.count() == 4  # two groups shown (middle and low on the first norm set), two charts each
        for k in range(charts.count()):
            box = charts.nth(k).bounding_box()
            assert box and box["width"] > 500 and box["height"] > 150, box  # drawn, not collapsed
        # the bands' shading is drawn in its colours: presentation attributes, which the page's
        # policy (no inline style) lets through
        fills = page.evaluate("[...document.querySelectorAll('figure.chart svg path')]"
                              ".map(p => getComputedStyle(p).fill)")
        assert {"rgb(246, 227, 200)", "rgb(219, 231, 243)", "rgb(215, 238, 220)"} <= set(fills)
        labels = page.evaluate("[...document.querySelectorAll('figure[data-chart=distribution] "
                               "svg text')].map(t => t.textContent)")
        assert "Нормативтік топтағы процентиль" in labels
        # the numbers are the library's on the profiles as made: the middle level's first
        # norm set has service to the public at 8k + 4 (k = 1 … 11) and the re-scored 99
        given = np.array([8.0 * k + 4 for k in range(1, 12)] + [99.0])
        row = page.locator(f'section[data-level="middle"][data-norm-set="{facts["first"]}"] tr',
                           has_text=NAMES["service_to_public"]["kk"])
        cells = row.locator("td")
        assert cells.nth(1).inner_text() == "12"
        q1, median, q3 = np.percentile(given, [25, 50, 75])
        assert cells.nth(2).inner_text() == f"{median:.0f} ({q1:.0f}–{q3:.0f})"
        assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
        page.screenshot(path=str(ARTIFACTS / "group_report_kk.png"), full_page=True)
        browser.close()
