"""Reverse-keyed items (negative slopes) in the engine: models, information, scoring, CAT (issue 17).

The truth is the reflection identity: an item with slope −a and thresholds b answers at θ as
the item with slope a and thresholds −b answers at −θ, since
σ(−a(θ − b)) = σ(a(−θ − (−b))). So its probabilities, information and expected score are
those of a positively keyed item read backwards — analytic values the code does not produce.
"""

from __future__ import annotations

import numpy as np
import pytest

from qabilet.engine.bank import ItemBank
from qabilet.engine.cat import Blueprint, simulate_cat
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.models import GeneralizedPartialCredit, GradedResponse, TwoPL
from qabilet.engine.scoring import score
from qabilet.engine.simulation import simulate_responses

THETA = np.linspace(-3.0, 3.0, 13)
A = np.array([1.3, 0.7, 2.1])
B = np.array([[-1.5, -0.2, 0.9], [-0.5, 0.5, 1.8], [-2.0, -1.0, 0.0]])


def _pair() -> tuple[GradedResponse, GradedResponse]:
    """Reverse-keyed items (−a, −b: decreasing thresholds) and their mirrors (a, b)."""
    return GradedResponse(-A, -B), GradedResponse(A, B)


def test_graded_accepts_a_negative_slope_with_decreasing_thresholds() -> None:
    item = GradedResponse([-1.2], [[1.0, 0.0, -1.0]])
    # d_k = −a b_k: the intercepts keep their order d1 > d2 > d3
    assert item.d.tolist() == [[1.2, 0.0, -1.2]]
    assert item.b.tolist() == [[1.0, 0.0, -1.0]]
    assert item.a.tolist() == [-1.2]


@pytest.mark.parametrize(("a", "b", "message"), [
    ([-1.2], [[-1.0, 0.0, 1.0]], "decreasing where a < 0"),  # increasing b with a < 0
    ([1.2], [[1.0, 0.0, -1.0]], "strictly increasing"),  # decreasing b with a > 0
    ([0.0], [[-1.0, 1.0]], "a must be nonzero"),  # b = −d/a undefined
])
def test_graded_refuses_thresholds_against_the_slope(a: list[float], b: list[list[float]],
                                                     message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        GradedResponse(a, b)


def test_graded_slope_intercept_form_accepts_a_negative_slope() -> None:
    item = GradedResponse.from_slope_intercept([-0.8], [[2.0, 0.5, -1.0]])
    np.testing.assert_allclose(item.b, [[2.5, 0.625, -1.25]])  # b = −d/a, decreasing
    with pytest.raises(InvalidParameterError, match="d must be strictly decreasing"):
        GradedResponse.from_slope_intercept([-0.8], [[-1.0, 0.5, 2.0]])


def test_reflection_identity_for_probabilities_information_and_expected_score() -> None:
    reverse, mirror = _pair()
    np.testing.assert_allclose(reverse.prob(THETA), mirror.prob(-THETA), atol=1e-14)
    info = reverse.information(THETA)
    np.testing.assert_allclose(info, mirror.information(-THETA), rtol=1e-12)
    assert np.all(info > 0)
    expected = reverse.expected_score(THETA)
    np.testing.assert_allclose(expected, mirror.expected_score(-THETA), rtol=1e-12)
    assert np.all(np.diff(expected, axis=0) < 0)  # decreasing in θ


@pytest.mark.parametrize("model", ["2pl", "gpcm"])
def test_other_sloped_models_take_a_negative_slope(model: str) -> None:
    if model == "2pl":
        reverse, mirror = TwoPL([-1.4], [0.3]), TwoPL([1.4], [-0.3])
    else:
        reverse = GeneralizedPartialCredit([-1.1], [[0.8, -0.4]])
        mirror = GeneralizedPartialCredit([1.1], [[-0.8, 0.4]])
    np.testing.assert_allclose(reverse.prob(THETA), mirror.prob(-THETA), atol=1e-14)
    info = reverse.information(THETA)
    assert np.all(info > 0)
    np.testing.assert_allclose(info, mirror.information(-THETA), rtol=1e-12)
    assert np.all(np.diff(reverse.expected_score(THETA), axis=0) < 0)


def _inventory(n_items: int = 24) -> ItemBank:
    """Five-category graded items, every third reverse-keyed."""
    rng = np.random.default_rng(4)
    a = rng.uniform(0.9, 2.0, n_items) * np.where(np.arange(n_items) % 3 == 2, -1.0, 1.0)
    base = np.sort(rng.uniform(-2.0, 2.0, (n_items, 4)), axis=1)
    return ItemBank([GradedResponse(a, base * np.sign(a)[:, None])])


@pytest.mark.parametrize("method", ["eap", "map", "ml", "wle"])
def test_scoring_with_reverse_keyed_items_recovers_the_trait(method: str) -> None:
    bank = _inventory()
    theta = np.random.default_rng(5).normal(size=500)
    x = simulate_responses(bank, theta, rng=6)
    est = score(bank, x, method=method)
    ok = est.status == "ok"
    assert ok.mean() > 0.95
    assert np.corrcoef(est.theta[ok], theta[ok])[0, 1] > 0.9


def test_ml_extremes_follow_each_items_direction() -> None:
    bank = _inventory(6)
    top = bank.n_categories - 1
    reverse = bank.reverse_keyed
    low_end = np.where(reverse, top, 0)  # what the lowest trait answers
    x = np.stack([low_end, top - low_end, np.zeros(6, dtype=np.int64)])
    est = score(bank, x, method="ml")
    assert est.status.tolist() == ["extreme_low", "extreme_high", "ok"]
    assert est.theta[0] < est.theta[2] < est.theta[1]


def test_cat_selects_and_scores_with_reverse_keyed_items() -> None:
    bank = _inventory(40)
    sim = simulate_cat(bank, Blueprint(max_items=15, se_target=None), n=300, rng=7)
    # a third of the bank is reverse-keyed, as informative as the rest: they are given too
    assert sim.exposure[bank.reverse_keyed].sum() > 0.2 * sim.exposure.sum()
    assert np.corrcoef(sim.theta, sim.true_theta)[0, 1] > 0.9
