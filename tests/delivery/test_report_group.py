"""The group report (qabilet.delivery.report_group): one profile per session, one group per level ×
bank version × norm set, medians and quartiles (not means), the bands' shares with Wilson
intervals, small cells left out with nothing of them on the page, one language throughout."""

from __future__ import annotations

import re
import statistics
from datetime import timedelta
from html import unescape

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from qabilet.delivery.profiles import load_texts
from qabilet.delivery.report_group import (
    group_cells,
    group_report,
    latest_per_session,
    select_profiles,
)
from qabilet.engine.exceptions import InvalidParameterError
from tests.delivery._group import NAMES, T0, later, make_profile

TEXTS = load_texts()
#: letters of Cyrillic script, and those only Kazakh has
CYRILLIC = re.compile(r"[\u0400-\u04ff]")
KAZAKH_ONLY = re.compile(r"[әғқңөұүһіӘҒҚҢӨҰҮҺІ]")


def _cohort(values, *, prefix="s", **kwargs):
    """One profile per value (a session each), service_to_public and transparency at that value."""
    return [make_profile({"service_to_public": float(v), "transparency": float(v)},
                         session=f"{prefix}{k}", issued=later(k), **kwargs)
            for k, v in enumerate(values)]


def _section(html, **attrs):
    """The HTML of the group's section."""
    head = "".join(f' data-{k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    start = html.index(f'<section class="group"{head}')
    return html[start: html.index("</section>", start) + len("</section>")]


def _row(section, name):
    """The cells' texts of the table row of ``name``."""
    row = re.search(rf"<tr[^>]*><td[^>]*><strong>{re.escape(name)}</strong>.*?</tr>", section)
    assert row, name
    return [unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(0))]


def _visible(html):
    return unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", html, flags=re.S)))


def test_a_reissued_profile_counts_once_the_latest_for_its_session():
    values = [12, 30, 41, 47, 52, 55, 63, 70, 78, 88, 91]
    first = _cohort(values)
    reissue = make_profile({"service_to_public": 5.0, "transparency": 5.0}, session="s3",
                           issued=later(600), replaces=first[3].id)  # re-scored, much lower
    # a second profile of session s5, issued later, without naming the one it follows
    again = make_profile({"service_to_public": 97.0, "transparency": 97.0}, session="s5",
                         issued=later(900))
    chosen = latest_per_session([*first, reissue, again])
    assert len(chosen) == len(values)
    assert {p.id for p in chosen} == ({p.id for p in first} - {first[3].id, first[5].id}) | {
        reissue.id, again.id}
    (cell,) = group_cells(chosen, language="en")
    service = cell.dimensions[0]
    counted = [5 if k == 3 else 97 if k == 5 else v for k, v in enumerate(values)]
    assert cell.count == service.count == len(values)
    assert service.median == pytest.approx(statistics.median(counted))
    html = group_report([*first, reissue, again], language="en")
    assert _row(html, "Service to the public")[1] == str(len(values))


def test_a_profile_replaced_later_stays_out_even_without_a_session():
    a = make_profile({"transparency": 40.0}, session="x", issued=T0)
    b = make_profile({"transparency": 60.0}, session="y", issued=later(5), replaces=a.id)
    b = b.model_copy(update={"session_id": None})
    assert [p.id for p in latest_per_session([b, a])] == [b.id]


def test_bank_versions_and_norm_sets_never_share_a_group():
    rng = np.random.default_rng(4)
    groups = {(1, 1): rng.uniform(0, 40, 10), (2, 2): rng.uniform(60, 100, 11),
              (1, 3): rng.uniform(30, 70, 12)}
    profiles = [p for (version, norms), values in groups.items()
                for p in _cohort(values, prefix=f"v{version}n{norms}-", bank_version=version,
                                 norm_set=norms)]
    cells = group_cells(profiles, language="en")
    assert [(c.bank_version, c.norm_set) for c in cells] == [(1, 1), (1, 3), (2, 2)]
    for c in cells:
        values = groups[(c.bank_version, c.norm_set)]
        assert c.count == len(values)
        assert c.dimensions[0].median == pytest.approx(statistics.median(values))
    html = group_report(profiles, language="en")
    for (version, norms), values in groups.items():
        section = _section(html, level="middle", bank_version=version, norm_set=norms)
        assert f"Bank version {version}, norm set {norms}" in section
        assert _row(section, "Transparency")[1] == str(len(values))
        assert section.count("<svg") == 2  # its own distribution and bands charts


def test_the_median_and_quartiles_are_shown_not_the_mean():
    values = [2, 3, 4, 5, 6, 8, 9, 11, 60, 95, 97, 99]  # skewed: mean 33.25, median 8.5
    assert round(statistics.mean(values)) != round(statistics.median(values))
    html = group_report(_cohort(values), language="en")
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")  # R's type 7, as numpy
    assert _row(html, "Transparency")[2] == f"{median:.0f} ({q1:.0f}–{q3:.0f})"
    assert f"{statistics.mean(values):.0f}" not in _row(html, "Transparency")
    assert "Mean" not in _visible(html)


def test_band_shares_have_their_wilson_intervals_and_flags_are_counted():
    values = [5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 15]
    profiles = [make_profile({"service_to_public": float(v), "transparency": float(v)},
                             session=f"s{k}", issued=later(k),
                             withheld=("transparency",) if k % 4 == 0 else (),
                             flags=(("fast", None),) if k in (1, 2) else
                             (("few", "transparency"),) if k == 3 else ())
                for k, v in enumerate(values)]
    html = group_report(profiles, language="en")
    row = _row(html, "Transparency")
    bands = ["withheld" if k % 4 == 0 else "development" if v < 25 else "strength" if v >= 75
             else "meets" for k, v in enumerate(values)]
    for cell, kind in zip(row[3:7], ("development", "meets", "strength", "withheld"), strict=True):
        count = bands.count(kind)
        lo, hi = proportion_confint(count, len(values), alpha=0.05, method="wilson")
        assert cell == f"{100 * count / len(values):.0f} ({100 * lo:.0f}–{100 * hi:.0f})", kind
    assert row[7] == "3" and _row(html, "Service to the public")[7] == "2"  # fast: both; few: one
    assert "sessions with validity flags: 3" in _visible(html)


def test_a_small_group_is_left_out_with_nothing_of_it_on_the_page():
    # nine candidates at senior level, each with a result no other number on the page has
    small = [make_profile({"service_to_public": 13.37 + 7.1 * k, "transparency": 86.3 - 3.3 * k},
                          session=f"h{k}", level="high", issued=later(k), bank_version=3,
                          norm_set=4)
             for k in range(9)]
    html = group_report([*small, *_cohort(range(20, 80, 5))], language="ru")
    section = _section(html, level="high", bank_version=3, norm_set=4)
    assert TEXTS["ru"]["group_suppressed_cell"].format(min=10) in unescape(section)
    assert "<table" not in section and "<svg" not in section
    digits = re.findall(r"\d+(?:[.,]\d+)?", _visible(section))
    assert sorted(digits) == ["10", "3", "4", "4"], digits  # the minimum, the version, the norm set (twice)
    for p in small:
        for r in p.professional:
            for shown in (f"{r.percentile:.0f}", f"{r.percentile:.1f}", f"{r.theta:.2f}"):
                assert shown not in _visible(section)
    # asking for 9: refused below the floor of 5 only; 9 shows the group
    assert "<table" in _section(group_report(small, language="ru", min_count=9), level="high",
                                bank_version=3, norm_set=4)
    with pytest.raises(InvalidParameterError, match="min_count: expected an integer of at least 5"):
        group_report(small, language="ru", min_count=4)


def test_a_dimension_few_candidates_have_is_left_out_of_its_row_and_charts():
    profiles = _cohort(range(10, 100, 7))  # 13 sessions
    quality = [make_profile({"transparency": 50.0, "stress_tolerance": 11.11 + k}, session=f"q{k}",
                            issued=later(100 + k)) for k in range(4)]
    html = group_report([*profiles, *quality], language="en")
    section = _section(html, level="middle", bank_version=1, norm_set=1)
    row = re.search(r'<tr class="suppressed" data-dimension="stress_tolerance">.*?</tr>', section)
    assert row and "Fewer than 10 candidates: not shown." in row.group(0)
    assert not re.findall(r"\d", _visible(row.group(0)).replace("Fewer than 10", ""))
    assert _row(section, "Transparency")[1] == "17"
    svg_texts = re.findall(r"<text[^>]*>([^<]*)</text>", section)
    assert "Transparency" in svg_texts and "Stress tolerance" not in svg_texts


def test_filters_by_candidates_language_and_by_the_date_of_testing():
    kk = _cohort(range(10, 90, 7), prefix="kk", language="kk")
    ru = _cohort(range(20, 90, 6), prefix="ru", language="ru")
    assert {p.language for p in select_profiles([*kk, *ru], candidate_language="kk")} == {"kk"}
    # tested in November, re-scored in December: still November's
    late = make_profile({"transparency": 3.0}, session="kk0", language="kk", issued=later(60 * 24 * 40),
                        tested=T0, replaces=kk[0].id)
    chosen = select_profiles([*kk, late], since=T0 - timedelta(days=1), until=T0 + timedelta(days=1))
    assert late in chosen and kk[0] not in chosen and len(chosen) == len(kk)
    assert not select_profiles([*kk, late], since=T0 + timedelta(days=1))
    day = T0.replace(hour=0)
    html = group_report([*kk, *ru, late], language="en", candidate_language="kk",
                        since=day - timedelta(days=1), until=day + timedelta(days=1))
    assert "Language of the candidates: Kazakh" in _visible(html)
    assert "Period (date of testing): 2026-11-01 – 2026-11-02" in html  # until is exclusive
    assert _row(html, "Transparency")[1] == str(len(kk))
    with pytest.raises(InvalidParameterError, match="until: expected a time after since"):
        group_report(kk, language="en", since=T0, until=T0)
    assert TEXTS["en"]["group_none"] in group_report(kk, language="en", since=later(10**6))


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_every_dimension_name_and_label_is_in_the_report_s_language(language):
    # the first profile was stored before its words were kept (its names are Russian only)
    old = make_profile({"service_to_public": 44.0, "transparency": 45.0}, session="old",
                       issued=T0 - timedelta(days=1), words=False)
    profiles = [old, *_cohort(range(30, 85, 5), language="ru")]
    html = group_report(profiles, language=language)
    text = _visible(html)
    for dim in ("service_to_public", "transparency"):
        assert NAMES[dim][language] in text
        for other in {"en", "ru", "kk"} - {language}:
            assert NAMES[dim][other] not in html
    if language == "en":
        assert not CYRILLIC.findall(text), CYRILLIC.findall(text)[:10]
    else:
        assert TEXTS[language]["group_title"] in text and "Candidates" not in text
        assert bool(KAZAKH_ONLY.search(text)) == (language == "kk")
    for band in ("meets", "strength"):
        assert TEXTS[language][f"band_{band}_percentile"] in unescape(html)


def test_profiles_without_words_are_named_from_the_bank_never_in_another_language():
    old = [make_profile({"transparency": float(v)}, session=f"o{v}", issued=later(v), words=False)
           for v in range(20, 80, 5)]
    html = group_report(old, language="en", names={1: {"transparency": "Transparency"}})
    assert _row(html, "Transparency")[1] == str(len(old)) and not CYRILLIC.search(_visible(html))
    bare = group_report(old, language="en")  # no name in English anywhere: the dimension's id
    assert _row(bare, "transparency")[1] == str(len(old)) and "Прозрачность" not in bare


def test_the_page_is_self_contained_and_has_one_stylesheet():
    html = group_report(_cohort(range(5, 100, 8)), language="kk")
    assert len(re.findall(r"<style>", html)) == 1 and "style=" not in html
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/", "")
    assert html.count('<figure class="chart"') == 2 and '<html lang="kk">' in html


def test_the_test_centre_breaks_the_groups_down_and_limits_a_scoped_report():
    rng = np.random.default_rng(5)
    by_centre = {"TC-A": rng.uniform(0, 40, 10), "TC-B": rng.uniform(60, 100, 12)}
    profiles = [p for centre, values in by_centre.items()
                for p in _cohort(values, prefix=f"{centre}-")]
    centres = {p.session_id: p.session_id.rsplit("-", 1)[0] for p in profiles}
    cells = group_cells(profiles, language="en", centres=centres)
    assert [(c.test_centre, c.count) for c in cells] == [("TC-A", 10), ("TC-B", 12)]
    for c in cells:
        assert c.dimensions[0].median == pytest.approx(statistics.median(by_centre[c.test_centre]))
    html = group_report(profiles, language="en", centres=centres)
    assert "Test centre: TC-B" in _section(html, level="middle", bank_version=1, norm_set=1,
                                           test_centre="TC-B")
    only = group_report(profiles, language="en", centres=centres, only_centres={"TC-A"})
    assert 'data-test-centre="TC-A"' in only and "TC-B" not in only
