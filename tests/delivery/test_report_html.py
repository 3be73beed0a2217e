"""The HTML report: rendered in headless Chromium (Debian's, driven by Playwright) in all three
languages, with its chart; no right/wrong count; the candidate's copy without validity checks."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from qabilet.delivery.profiles import build_profile, load_texts
from qabilet.delivery.report_group import group_cells, group_report
from qabilet.delivery.report_html import render_profile_html
from tests.conftest import skip_or_fail
from tests.delivery._candidates import simulated_candidate

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LANGS = ("kk", "ru", "en")


@pytest.fixture(scope="module")
def profiles(demo_db_file):
    c = simulated_candidate(demo_db_file, truth_seed=21, sd=1.3, seed=4, seconds=0.3)  # hurried
    return {lang: build_profile(version=c.version, norm_set=c.repo.norm_set(), items=c.items,
                                dimensions=c.repo.dimensions(),
                                recommendations=c.repo.recommendations(), level="middle",
                                language=lang, answers=c.answers, candidate_id="K-0042",
                                software_version="test") for lang in LANGS}


def _visible_text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", html, flags=re.S))


@pytest.mark.parametrize("lang", LANGS)
def test_no_right_or_wrong_count_anywhere_but_the_sentence_saying_there_is_none(profiles, lang):
    html = render_profile_html(profiles[lang], view="operator")
    text = _visible_text(html).replace(load_texts()[lang]["no_right_wrong"], "").lower()
    for word in ("correct", "wrong", "right", "правильн", "верных", "дұрыс", "бұрыс"):
        assert word not in text


def test_the_candidate_copy_has_no_validity_checks(profiles):
    p = profiles["en"]
    assert any(f.code == "fast" for f in p.validity)
    operator = render_profile_html(p, view="operator")
    candidate = render_profile_html(p, view="candidate")
    assert 'data-flag="fast"' in operator and "Validity checks" in operator
    assert "data-flag" not in candidate and "Validity checks" not in candidate
    assert "Candidate&#x27;s copy" in candidate and "Operator&#x27;s copy" in operator


def test_the_chart_places_each_estimate_at_its_percentile(profiles):
    p = profiles["en"]
    html = render_profile_html(p)
    rows = p.professional + p.personal
    for cls, left, width in (("estimate", 230, 480), ("estimate estimate-narrow", 8, 344)):
        dots = [float(x) for x in re.findall(rf'class="{cls}" cx="([0-9.]+)"', html)]
        assert len(dots) == len(rows)
        np.testing.assert_allclose(dots, [left + width * r.percentile / 100 for r in rows], atol=0.06)
    assert html.count('class="zone zone-strength"') == 2 * len(rows)  # the wide and the narrow chart


def _sessions(profiles, n):
    """``n`` issued copies of the profiles (in turn), each a session of its own."""
    return [profiles[LANGS[k % 3]].model_copy(update={"id": f"x{k}", "session_id": f"s{k}"})
            for k in range(n)]


def test_a_group_report_has_counts_and_no_individual(profiles):
    html = group_report(_sessions(profiles, 10), language="ru")
    assert "K-0042" not in html and "Групповой отчёт" in html
    assert '<td data-label="Число кандидатов">10</td>' in html


def _chromium() -> str:
    path = os.environ.get("QABILET_CHROMIUM") or shutil.which("chromium") or \
        shutil.which("chromium-browser")
    if not path:
        skip_or_fail("the browser tests need Chromium: apt-get install chromium (or set "
                     "QABILET_CHROMIUM to its path)")
    return path


@pytest.mark.parametrize("lang", LANGS)
def test_the_report_renders_in_chromium_with_text_and_chart(profiles, lang, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    exe = _chromium()
    page_file = tmp_path / f"report_{lang}.html"
    page_file.write_text(render_profile_html(profiles[lang], view="operator"), encoding="utf-8")
    texts = load_texts()[lang]
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(page_file.as_uri())
        assert page.title() == texts["report_title"]
        body = page.inner_text("body")
        assert texts["section_professional"] in body and texts["section_personal"] in body
        assert profiles[lang].professional[0].name in body
        charts = page.locator("svg.chart-wide")
        assert charts.count() == 2
        box = charts.first.bounding_box()
        assert box and box["width"] > 400 and box["height"] > 100  # drawn, not collapsed
        assert not page.locator("svg.chart-narrow").first.is_visible()
        assert page.locator("svg.chart-wide circle.estimate").count() == 9
        page.screenshot(path=str(ARTIFACTS / f"report_{lang}.png"), full_page=True)
        page.emulate_media(media="print")
        assert page.evaluate("getComputedStyle(document.querySelector('section.page'))"
                             ".breakAfter") == "page"
        pdf = page.pdf(path=str(ARTIFACTS / f"report_{lang}.pdf"))
        assert pdf[:4] == b"%PDF"
        browser.close()


@pytest.mark.parametrize("lang", LANGS)
def test_on_a_390_px_phone_nothing_is_cut_and_the_chart_text_is_readable(profiles, lang, tmp_path):
    """At a phone's width the tables stack their cells (none past the right edge, the page does not
    scroll sideways) and the narrow chart draws its names at about their size (≥ 11 px)."""
    playwright = pytest.importorskip("playwright.sync_api")
    exe = _chromium()
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
        for view in ("candidate", "operator"):
            page_file = tmp_path / f"phone_{lang}_{view}.html"
            page_file.write_text(render_profile_html(profiles[lang], view=view), encoding="utf-8")
            page.goto(page_file.as_uri())
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            assert page.locator("svg.chart-narrow").first.is_visible()
            assert not page.locator("svg.chart-wide").first.is_visible()
            right = page.evaluate("Math.max(...[...document.querySelectorAll('table.scores td')]"
                                  ".map(td => td.getBoundingClientRect().right))")
            assert right <= 390
            cells = page.locator("table.scores td").all_inner_texts()
            assert any(str(round(profiles[lang].professional[0].percentile)) in c for c in cells)
            heights = page.evaluate("[...document.querySelectorAll('svg.chart-narrow text')]"
                                    ".map(t => t.getBoundingClientRect().height)")
            assert heights and min(heights) >= 11, heights
            page.screenshot(path=str(ARTIFACTS / f"report_phone_{lang}_{view}.png"), full_page=True)
        browser.close()


def test_a_profile_is_shown_in_any_language_with_the_words_it_was_issued_with(profiles):
    """The profile issued in Russian, shown in each language, is the one issued in that language
    (the same answers), word for word: names, recommendations, band words, validity messages."""
    issued = profiles["ru"]
    for lang in LANGS:
        shown = issued.in_language(lang)
        assert shown.model_dump(exclude={"id", "issued_at"}) == \
            profiles[lang].model_dump(exclude={"id", "issued_at"})
        assert render_profile_html(issued, view="operator", language=lang) == \
            render_profile_html(profiles[lang], view="operator").replace(profiles[lang].id, issued.id)
    assert {f.code for f in issued.validity} and all(set(f.messages or ()) == set(LANGS)
                                                      for f in issued.validity)


def test_band_words_come_from_the_record_not_from_today_s_texts(profiles):
    p = profiles["en"]
    words = {lang: w.model_copy(update={"strength": "Strong as issued", "meets": "As issued",
                                        "development": "To develop, as issued",
                                        "withheld": "Withheld, as issued"})
             for lang, w in (p.band_words or {}).items()}
    html = render_profile_html(p.model_copy(update={"band_words": words}), language="kk")
    assert "as issued" in html and load_texts()["kk"]["band_meets"] not in html


def test_a_profile_stored_before_its_words_were_kept_is_shown_in_its_own_language(profiles):
    from qabilet.itembank.profiles import Profile

    record = profiles["ru"].model_dump(mode="json", exclude={"band_words"})
    for section in ("professional", "personal"):
        for r in record[section]:
            del r["texts"]
    for f in record["validity"]:
        del f["messages"]
    older = Profile.model_validate(record)
    assert older.languages == ("ru",) and older.in_language("kk") is older
    assert render_profile_html(older, language="en") == render_profile_html(older)
    assert '<html lang="ru">' in render_profile_html(older, language="en")


def test_a_group_report_names_the_dimensions_in_its_own_language(profiles):
    (cell,) = group_cells(_sessions(profiles, 6), language="kk", min_count=5)
    kk = profiles["kk"]
    assert {d.dimension: d.name for d in cell.dimensions} == {r.dimension: r.name
                                                              for r in kk.professional + kk.personal}
    assert {d.count for d in cell.dimensions} == {6}


def test_a_near_certain_band_is_never_shown_as_certain(profiles):
    p = profiles["en"]
    sure = [r.model_copy(update={"band": "strength", "band_probability": 0.9996})
            for r in p.professional]
    html = render_profile_html(p.model_copy(update={"professional": sure}))
    assert html.count("(probability &gt; 99%)") == len(sure), re.findall(r"\(probability [^<]*", html)
    assert "100%" not in _visible_text(html)


def test_the_fast_answer_message_names_the_reading_rate_not_one_fixed_time(profiles):
    for lang, words in (("en", "50 characters a second, at least 1 s"),
                        ("ru", "50 знаков в секунду, не менее 1 с"),
                        ("kk", "секундына 50 таңба, кемінде 1 секунд")):
        (fast,) = [f for f in profiles[lang].validity if f.code == "fast"]
        assert words in fast.message and "under 1 seconds" not in fast.message
        assert fast.messages[lang] == fast.message
