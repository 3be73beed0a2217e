"""What the bands say: words that follow how the cuts were set, the reason a band is withheld with
the guidance of both neighbours, directions for every band and level, and the two copies."""

from __future__ import annotations

import re
from html import escape

import pytest

from qabilet.delivery.profiles import ProfilePolicy, build_profile, load_texts
from qabilet.delivery.report_html import render_profile_html
from qabilet.itembank.content import LANGUAGES, LEVELS, Recommendation, advice_for
from qabilet.itembank.versions import NormSet
from tests.delivery._candidates import simulated_candidate

TEXTS = load_texts()


@pytest.fixture(scope="module")
def bank(demo_db_file):
    """A candidate whose profile states a band in some dimension at every level (the tests of
    directions need one; the first of a few simulated candidates that has them)."""
    for seed in range(9, 40):
        c = simulated_candidate(demo_db_file, truth_seed=5, sd=1.2, seed=seed)
        found = {"repo": c.repo, "version": c.version, "items": c.items, "answers": c.answers}
        if all(any(r.band for r in _rows(_profile(found, level=lv))) for lv in LEVELS):
            return found
    raise AssertionError("no simulated candidate with a stated band at every level")


def _profile(bank, *, norm_set=None, recommendations=None, policy=None, language="en",
             level="middle"):
    repo = bank["repo"]
    return build_profile(version=bank["version"], norm_set=norm_set or repo.norm_set(),
                         items=bank["items"], dimensions=repo.dimensions(),
                         recommendations=(repo.recommendations() if recommendations is None
                                          else recommendations),
                         level=level, language=language, answers=bank["answers"],
                         candidate_id="K-7", software_version="test", policy=policy)


def _expert(norm_set: NormSet, words: bool) -> NormSet:
    """The demonstration norms with their cuts said to come from a panel (same values)."""
    record = norm_set.model_dump(mode="json")
    for level in record["levels"]:
        dims = list(level["dimensions"])
        level["cut_method"] = {
            "method": "expert", "description": "panel of 12, modified Angoff, 2026-10-20",
            "panel": {"procedure": "modified Angoff", "panel_size": 12, "held_on": "2026-10-20",
                      "cut_se": {d: [0.08, 0.11] for d in dims[:2]},
                      "words": {"en": {"development": "Below the agency standard",
                                       "meets": "At the agency standard",
                                       "strength": "Beyond the agency standard"}} if words else {}}}
    return NormSet.model_validate(record)


def _rows(p):
    return p.professional + p.personal


def test_percentile_cuts_compare_with_peers_and_never_promise_the_level_expected(bank):
    p = _profile(bank)
    assert p.norms.method == "percentile" and p.norms.percentiles == (25.0, 75.0)
    for lang in LANGUAGES:
        words = p.band_words[lang]
        assert (words.development, words.meets, words.strength) == tuple(
            TEXTS[lang][f"band_{b}_percentile"] for b in ("development", "meets", "strength"))
    html = render_profile_html(p)
    assert "Typical of peers at this level" in html or "Lower than most peers" in html
    assert "expected for the position" not in html and "Meets the level" not in html
    assert TEXTS["en"]["how_to_read_percentile"][:60] in html


def test_expert_cuts_use_the_standard_s_own_words_and_the_operator_sees_the_panel(bank):
    repo = bank["repo"]
    with_words = _profile(bank, norm_set=_expert(repo.norm_set(), words=True))
    assert with_words.norms.method == "expert" and with_words.norms.panel.panel_size == 12
    assert with_words.band_words["en"].meets == "At the agency standard"
    assert with_words.band_words["ru"].meets == TEXTS["ru"]["band_meets_expert"]  # no Russian words given
    stated = {r.band for r in _rows(with_words) if r.band}
    html = render_profile_html(with_words, view="operator")
    for band in stated:
        assert {"development": "Below the agency standard", "meets": "At the agency standard",
                "strength": "Beyond the agency standard"}[band] in html
    assert "modified Angoff, 12 panellists, 2026-10-20" in html
    assert re.search(r"Standard errors of the cuts on the latent scale: service_to_public 0\.08 / 0\.11",
                     html)
    assert "modified Angoff" not in render_profile_html(with_words, view="candidate")
    plain = _profile(bank, norm_set=_expert(repo.norm_set(), words=False))
    assert plain.band_words["en"].strength == "Above the standard for the position"
    assert TEXTS["en"]["how_to_read_expert"][:60] in render_profile_html(plain)


def test_a_panel_on_percentile_cuts_or_for_an_unknown_dimension_is_refused(bank):
    record = _expert(bank["repo"].norm_set(), words=False).model_dump(mode="json")
    record["levels"][0]["cut_method"]["panel"]["cut_se"]["nonexistent"] = [0.1, 0.1]
    with pytest.raises(ValueError, match=r"cut_se: nonexistent has no norms at this level"):
        NormSet.model_validate(record)
    record = bank["repo"].norm_set().model_dump(mode="json")
    record["levels"][0]["cut_method"]["panel"] = {"procedure": "bookmark", "panel_size": 5,
                                                  "held_on": "2026-01-01"}
    with pytest.raises(ValueError, match="percentile cuts are not set by a panel"):
        NormSet.model_validate(record)


@pytest.mark.parametrize(("policy", "reason"), [(ProfilePolicy(min_confidence=0.999), "uncertain"),
                                                (ProfilePolicy(max_sd=0.01), "imprecise")])
def test_a_withheld_band_says_why_and_gives_the_guidance_of_both_neighbours(bank, policy, reason):
    p = _profile(bank, policy=policy)
    rows = _rows(p)
    assert rows and all(r.band is None and r.withheld == reason for r in rows)
    recs = bank["repo"].recommendations()
    html = render_profile_html(p)
    for r in rows:
        probs = r.band_probabilities
        expected = (("development", "meets") if probs["development"] >= probs["strength"]
                    else ("meets", "strength"))
        assert r.neighbours == expected
        assert [a.band for a in r.alternatives] == list(expected)
        for a in r.alternatives:
            assert a.recommendation == advice_for(recs, r.dimension, a.band, "middle").text["en"]
            assert escape(a.recommendation) in html
        for lang in LANGUAGES:  # frozen in every language
            assert [a.band for a in r.texts[lang].alternatives] == list(expected)
    words = p.band_words["en"]
    for r in rows:
        lower, upper = (getattr(words, b) for b in r.neighbours)
        assert escape(TEXTS["en"][f"withheld_{reason}"].format(lower=lower, upper=upper)) in html
    assert html.count('class="advice" data-withheld') == len(rows)


def test_every_band_stated_shows_its_direction_the_meets_band_too(bank):
    p = _profile(bank, policy=ProfilePolicy(min_confidence=0.55))  # most bands stated
    html = render_profile_html(p)
    stated = [r for r in _rows(p) if r.band]
    assert {r.band for r in stated} >= {"meets"}  # this candidate has a middle band
    for r in stated:
        assert r.recommendation and escape(r.recommendation) in html


def test_directions_follow_the_level_most_specific_text_first(bank):
    recs = bank["repo"].recommendations()
    general = [Recommendation(target=r.target, band=r.band, text={"en": f"All: {r.target}"})
               for r in recs if r.levels in (None, ("middle",))]
    senior = [Recommendation(target=r.target, band=r.band, text={"en": f"Senior: {r.target}"},
                             levels=["high"]) for r in general]
    two = [Recommendation(target=r.target, band=r.band, text={"en": f"Two: {r.target}"},
                          levels=["high", "low"]) for r in general]
    mixed = [*two, *general, *senior]  # the order given does not matter
    for level, prefix in (("high", "Senior: "), ("middle", "All: "), ("low", "Two: ")):
        p = _profile(bank, recommendations=mixed, level=level)
        stated = [r for r in _rows(p) if r.band]
        assert stated
        assert all(r.recommendation == f"{prefix}{r.dimension}" for r in stated)
    demo = _profile(bank, level="high")  # the demonstration's texts for senior posts
    for r in demo.professional:
        if r.band:
            assert r.recommendation == advice_for(recs, r.dimension, r.band, "high").text["en"]
            assert [x.levels for x in recs if x.target == r.dimension and x.band == r.band
                    and x.text["en"] == r.recommendation] == [("high",)]


def test_the_candidate_reads_plain_words_and_the_operator_the_technical_columns(bank):
    p = _profile(bank)
    candidate = render_profile_html(p, view="candidate")
    operator = render_profile_html(p, view="operator")
    r = p.professional[0]
    lo, hi = r.percentile_interval
    assert f"Higher than about {r.percentile:.0f} of 100 people at this level" in candidate
    assert f"most likely lies between {lo:.0f} and {hi:.0f}" in candidate
    for technical in ("Sten", "T-score", "Reliability", "θ (SD)", "most likely value"):
        assert technical not in candidate
    for technical in ("Sten", "T-score", "Reliability", "θ (SD)", "posterior mean (EAP)"):
        assert technical in operator
    assert f"{r.theta:.2f} ({r.sd:.2f})" in operator
