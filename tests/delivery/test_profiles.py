"""Profiles from simulated candidates on the demonstration bank: order, validity flags that fire
on constructed cases and stay quiet on ordinary ones, no right/wrong anywhere, immutability."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from qabilet.delivery.profiles import Answer, build_profile
from qabilet.demo_session import session_plan, simulate_candidate
from qabilet.engine.exceptions import ImmutableRecordError, InvalidResponseError, NotFoundError


@pytest.fixture
def bank(demo_repo):
    return _bank(demo_repo)


def _bank(repo):
    items = {i.id: i for i in repo.items()}
    return {"repo": repo, "version": repo.version(), "norm_set": repo.norm_set(), "items": items,
            "dimensions": repo.dimensions(), "recommendations": repo.recommendations(),
            "plan": session_plan(repo, "middle")}


def _profile(bank, answers, *, level="middle", language="en", **kw):
    return build_profile(version=bank["version"], norm_set=bank["norm_set"], items=bank["items"],
                         dimensions=bank["dimensions"], recommendations=bank["recommendations"],
                         level=level, language=language, answers=answers, candidate_id="C1",
                         software_version="test", **kw)


def _candidate(bank, theta, seed):
    truth = theta if isinstance(theta, dict) else dict.fromkeys(bank["version"].dimensions, theta)
    return simulate_candidate(bank["plan"], truth, seed=seed, items=bank["items"],
                              language="en").answers


def test_a_profile_has_both_sections_with_norm_scores_and_bands(bank):
    p = _profile(bank, _candidate(bank, 0.8, seed=1), language="kk")
    assert [d.dimension for d in p.professional] == list(bank["version"].dimensions[:4])
    assert len(p.personal) == 5 and p.bank_version == 1 and p.norm_set == 1
    for d in p.professional + p.personal:
        lo, hi = d.percentile_interval
        assert lo < d.percentile < hi and d.sten_interval[0] <= d.sten <= d.sten_interval[1]
        assert abs(sum(d.band_probabilities.values()) - 1) < 1e-9
        assert (d.band is None) == (d.withheld is not None)
        if d.band == "development":
            assert d.recommendation and d.direction
    assert p.professional[0].name == "Халыққа қызмет ету"
    assert p.norms.demonstration and p.norms.sample_size == 1500


def test_candidates_one_sd_apart_come_out_in_that_order(bank):
    """Two candidates 1 SD apart on every dimension, 40 replications: the higher one has the
    higher percentile on a dimension in nearly all of them."""
    right = total = 0
    for rep in range(40):
        low = _profile(bank, _candidate(bank, -0.5, seed=2 * rep))
        high = _profile(bank, _candidate(bank, 0.5, seed=2 * rep + 1))
        for a, b in zip(low.professional + low.personal, high.professional + high.personal,
                        strict=True):
            right += b.percentile > a.percentile
            total += 1
    assert right / total > 0.93


def test_preference_items_get_no_right_or_wrong_count_anywhere(bank):
    p = _profile(bank, _candidate(bank, 0.0, seed=5))
    text = json.dumps(p.model_dump(mode="json")).lower()
    for word in ("correct", "incorrect", "right", "wrong", "score_raw", "n_correct"):
        assert word not in text
    assert "validity" not in json.dumps(p.candidate_view())


def _codes(bank, answers, fn):
    return [Answer(a.item_id, fn(a, bank["items"][a.item_id]), a.response_time_s) for a in answers]


@pytest.fixture(scope="module")
def ordinary_flags(demo_db_file):
    """The flags raised on 100 ordinary simulated candidates (θ ~ N(0, 1) on each dimension)."""
    from qabilet.itembank.database import connect
    from qabilet.itembank.repository import BankRepository

    b = _bank(BankRepository(connect(f"sqlite:///{demo_db_file}")))
    rng = np.random.default_rng(11)
    flags = []
    for k in range(100):
        truth = {d: float(rng.standard_normal()) for d in b["version"].dimensions}
        flags.append({f.code for f in _profile(b, _candidate(b, truth, seed=k)).validity})
    return flags


@pytest.mark.parametrize("code, rate", [("misfit", 0.04), ("straightlining", 0.02),
                                        ("acquiescence", 0.02), ("fast", 0.01), ("few", 0.0)])
def test_validity_flags_stay_quiet_on_ordinary_candidates(ordinary_flags, code, rate):
    assert sum(code in f for f in ordinary_flags) / len(ordinary_flags) <= rate


def test_straight_lining_and_acquiescence_fire_on_constructed_records(bank):
    answers = _candidate(bank, 0.0, seed=8)
    same = _codes(bank, answers, lambda a, item: 3 if item.format == "likert" else a.code)
    codes = {f.code for f in _profile(bank, same).validity}
    assert {"straightlining", "acquiescence"} <= codes
    # agreeing with every statement, but not always with the same point: acquiescence only
    rng = np.random.default_rng(1)
    yes = _codes(bank, answers, lambda a, item: int(rng.integers(3, 5)) if item.format == "likert"
                 else a.code)
    flags = {f.code: f for f in _profile(bank, yes).validity}
    assert "acquiescence" in flags and "straightlining" not in flags
    assert flags["acquiescence"].value > 1.0


def test_fast_answers_and_too_few_answers_fire(bank):
    answers = _candidate(bank, 0.0, seed=9)
    hurried = [Answer(a.item_id, a.code, 0.4) for a in answers]
    assert "fast" in {f.code for f in _profile(bank, hurried).validity}
    short = [a for a in answers if not a.item_id.startswith("PQ-INT")] + \
        [a for a in answers if a.item_id.startswith("PQ-INT")][:2]
    few = [f for f in _profile(bank, short).validity if f.code == "few"]
    assert [f.dimension for f in few] == ["integrity"] and few[0].value == 2


def test_misfit_fires_on_answers_that_contradict_the_model(bank):
    """Answers opposite to what the candidate's other answers predict: each dimension's items
    answered in the category the model finds least likely."""
    from qabilet.itembank.versions import scale_bank

    answers = _candidate(bank, 0.0, seed=10)
    version = bank["version"]
    codes = version.parameters.recodings()
    flipped = []
    for a in answers:
        dim = bank["items"][a.item_id].dimension
        one = scale_bank(version.parameters, [dim], [a.item_id])
        p = one.prob(np.array([[0.0]]))[0, 0, : int(one.n_categories[0])]
        worst = int(np.argmin(p))
        flipped.append(Answer(a.item_id, codes[a.item_id][worst] if a.item_id in codes else worst,
                              a.response_time_s))
    assert "misfit" in {f.code for f in _profile(bank, flipped).validity}


def test_bad_answers_are_refused_by_name(bank):
    answers = _candidate(bank, 0.0, seed=12)
    with pytest.raises(InvalidResponseError, match="answered twice"):
        _profile(bank, [*answers, answers[0]])
    with pytest.raises(InvalidResponseError, match="has codes"):
        _profile(bank, [Answer(answers[0].item_id, 9)])


def test_an_issued_profile_is_a_record_and_re_scoring_links_to_it(bank):
    repo = bank["repo"]
    answers = _candidate(bank, 0.3, seed=13)
    first = repo.issue_profile(_profile(bank, answers))
    assert repo.profile(first.id) == first
    with pytest.raises(ImmutableRecordError, match="is issued and cannot change"):
        repo.issue_profile(first)
    second = repo.issue_profile(_profile(bank, answers, replaces=first.id))
    assert [p.id for p in repo.profiles("C1")] == [first.id, second.id]
    assert repo.profile(first.id) == first and second.replaces == first.id
    with pytest.raises(NotFoundError, match="was never issued"):
        repo.issue_profile(_profile(bank, answers, replaces="nope"))


def test_preloading_loads_scoring_and_leaves_the_package_s_functions_callable():
    """``preload`` runs before every server's first profile: afterwards scoring a profile imports
    nothing more, and the package's lazily exported ``person_fit`` is still the function (a
    fresh interpreter: the doctests load every module of the package)."""
    code = ("import sys\n"
            "from qabilet.delivery.profiles import preload\n"
            "preload()\n"
            "print('scipy.stats' in sys.modules, 'qabilet.calibration.person_fit' in sys.modules)\n"
            "import qabilet.calibration.item_fit\n"
            "from qabilet.calibration import item_fit, person_fit\n"
            "print(callable(person_fit), person_fit.__module__, callable(item_fit))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd="/")
    assert out.stdout.split() == ["True", "True", "True", "qabilet.calibration.person_fit",
                                  "True"]


def test_reliability_divides_by_the_variance_of_the_level_s_norm_group(bank):
    """Two answers on integrity at a level whose integrity norm has SD 0.8 (the version's θ
    variance is 1): reliability is 1 − s²/0.8², with s the posterior SD integrated by hand."""
    from tests.delivery._by_hand import grm_answer, posterior_moments

    norm_set = bank["norm_set"]
    levels = [lv.model_copy(update={"dimensions": {**lv.dimensions, "integrity": lv.dimensions[
        "integrity"].model_copy(update={"sd": 0.8})}}) if lv.level == "middle" else lv
        for lv in norm_set.levels]
    version = bank["version"]
    answers = [Answer("PQ-INT-01", 3), Answer("PQ-INT-02", 1)]
    p = build_profile(version=version, norm_set=norm_set.model_copy(update={"levels": levels}),
                      items=bank["items"], dimensions=bank["dimensions"],
                      recommendations=bank["recommendations"], level="middle", language="en",
                      answers=answers, candidate_id="C1", software_version="test")
    (integrity,) = [d for d in p.personal if d.dimension == "integrity"]
    k = version.dimensions.index("integrity")
    _, s = posterior_moments([grm_answer(version.parameters, a.item_id, k, a.code) for a in answers],
                             0.0, version.parameters.latent.cov[k][k])
    assert integrity.sd == pytest.approx(s, abs=1e-3)
    assert integrity.reliability == pytest.approx(1 - s**2 / 0.8**2, abs=2e-3)
    assert abs(integrity.reliability - (1 - s**2)) > 0.1  # not the version's variance


def test_profiles_scored_on_prepared_scales_are_the_profiles_scored_without(bank):
    """A version's scales cut once (a live session's plan) give the same profile, number for number."""
    from qabilet.delivery.version_scales import VersionScales

    version = bank["version"]
    scales = VersionScales(version)
    for seed, theta in enumerate((-1.5, -0.3, 0.0, 0.8, 2.0)):
        answers = _candidate(bank, theta, seed=seed)
        direct = _profile(bank, answers)
        prepared = _profile(bank, answers, scales=scales)
        assert prepared.model_dump(exclude={"issued_at", "id"}) == direct.model_dump(
            exclude={"issued_at", "id"})
