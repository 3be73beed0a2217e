"""Language versions scored as calibrated (issue 18): each answer with the parameters of the
language it was given in, under one prior for everyone; checked against posteriors integrated
by hand."""

from __future__ import annotations

import pytest

from qabilet.delivery.profiles import Answer, build_profile
from tests.delivery._language_versions import integrity_by_hand, publish_language_versions

#: integrity answers: item, code
GIVEN = [("PQ-INT-01", 3), ("PQ-INT-02", 4), ("PQ-INT-03", 1), ("PQ-INT-05", 2)]


@pytest.fixture
def grouped(demo_repo):
    number = publish_language_versions(demo_repo)
    return demo_repo, demo_repo.version(number), demo_repo.norm_set(bank_version=number)


def _integrity(grouped, languages, profile_language="kk"):
    repo, version, norm_set = grouped
    answers = [Answer(item, code, None, lang) for (item, code), lang in zip(GIVEN, languages, strict=True)]
    p = build_profile(version=version, norm_set=norm_set, items={i.id: i for i in repo.items()},
                      dimensions=repo.dimensions(), recommendations=repo.recommendations(),
                      level="middle", language=profile_language, answers=answers,
                      candidate_id="C1", software_version="test")
    (result,) = [d for d in p.personal if d.dimension == "integrity"]
    return result


def _by_hand(version, languages):
    return integrity_by_hand(version, [(item, code, language)
                                       for (item, code), language in zip(GIVEN, languages, strict=True)])


def test_each_answer_is_scored_with_the_parameters_of_its_language(grouped):
    version = grouped[1]
    for languages in (["kk"] * 4, ["ru"] * 4, ["ru", "kk", "ru", "kk"]):
        theta, sd = _by_hand(version, languages)
        got = _integrity(grouped, languages)
        assert (got.theta, got.sd) == pytest.approx((theta, sd), abs=1e-3), languages
    assert abs(_integrity(grouped, ["ru"] * 4).theta - _integrity(grouped, ["kk"] * 4).theta) > 0.1


def test_the_prior_is_one_for_every_language(grouped):
    """English has a group of its own (its mean 0.7 below Kazakh's) but no item of its own: its
    answers score exactly as the same answers in Kazakh, whatever the profile's language."""
    kk = _integrity(grouped, ["kk"] * 4)
    en = _integrity(grouped, ["en"] * 4, profile_language="en")
    assert (en.theta, en.sd, en.percentile) == (kk.theta, kk.sd, kk.percentile)
    assert (kk.theta, kk.sd) == pytest.approx(_by_hand(grouped[1], ["kk"] * 4), abs=1e-3)


def test_an_answer_without_a_language_is_scored_in_the_profile_s(grouped):
    repo, version, norm_set = grouped
    assert _integrity(grouped, [None] * 4, profile_language="ru").theta == pytest.approx(
        _by_hand(version, ["ru"] * 4)[0], abs=1e-3)
