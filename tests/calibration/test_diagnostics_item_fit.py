"""S-X² item fit: mirt's values, the summed-score recursion, calibration under the model, misfit."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from mirt_reference import load_data, load_fit, model_of  # noqa: E402

from qabilet.calibration import MML, item_fit  # noqa: E402
from qabilet.calibration.item_fit import rest_score_distributions  # noqa: E402
from qabilet.engine.bank import ItemBank  # noqa: E402
from qabilet.engine.exceptions import InvalidParameterError, InvalidResponseError  # noqa: E402
from qabilet.engine.models import GradedResponse, ThreePL, TwoPL  # noqa: E402
from qabilet.engine.quadrature import equispaced_grid  # noqa: E402
from qabilet.engine.scoring import summed_score_table  # noqa: E402
from qabilet.engine.simulation import simulate_responses  # noqa: E402

# mirt's own test suite (philchalmers/mirt, tests/testthat/test-01-mirtOne.R) checks
# itemfit(mirt(expand.table(LSAT7), 1)) against these S-X² values, each on 2 df. The item
# parameters here are mirt 1.47's 2PL fit of the same data (tests/data/mirt/lsat7.json).
MIRT_LSAT7_SX2 = [4.749440, 14.451071, 1.270381, 5.237400, 0.941125]


def test_lsat7_2pl_matches_mirt():
    model, latent = model_of(load_fit("lsat7", "2PL"))
    x = load_data("lsat7").astype(int)
    fit = item_fit(ItemBank([model], latent=latent), x)
    np.testing.assert_allclose(fit.s_x2, MIRT_LSAT7_SX2, atol=1e-2)
    assert fit.df.tolist() == [2] * 5
    assert fit.n_estimated.tolist() == [2] * 5


@pytest.mark.parametrize("kind", ["2pl", "grm"])
def test_rest_score_distributions_match_the_engine_summed_score_table(kind):
    rng = np.random.default_rng(0)
    if kind == "2pl":
        model = TwoPL(rng.uniform(0.5, 2, 7), rng.normal(size=7))
    else:
        model = GradedResponse(rng.uniform(0.5, 2, 5), np.sort(rng.normal(size=(5, 3)), axis=1))
    bank = ItemBank([model])
    grid = equispaced_grid(n_points=61)
    rest = rest_score_distributions(bank, bank.prob(grid.nodes[:, 0]))
    for i in range(bank.n_items):
        others = bank.subset(np.delete(np.arange(bank.n_items), i))
        table = summed_score_table(others, n_points=61)  # the engine's own recursion
        marginal = grid.weights @ rest[i]
        np.testing.assert_allclose(marginal[: table.probability.size], table.probability,
                                   atol=1e-13)
        assert np.all(marginal[table.probability.size :] == 0)


def test_expected_counts_add_up_to_the_score_groups():
    rng = np.random.default_rng(1)
    model = GradedResponse(rng.uniform(0.8, 2, 5), np.sort(rng.normal(size=(5, 2)), axis=1))
    x = simulate_responses(model, rng.normal(size=400), rng)
    fit = item_fit(model, x, parameters_estimated=False)
    n_s = np.bincount(x.sum(axis=1), minlength=fit.observed.shape[2])
    np.testing.assert_allclose(fit.expected.sum(axis=1), np.broadcast_to(n_s, (5, n_s.size)),
                               atol=1e-9)
    np.testing.assert_array_equal(fit.observed.sum(axis=1), np.broadcast_to(n_s, (5, n_s.size)))
    assert np.all(fit.n_estimated == 0)


def test_p_values_are_near_uniform_when_the_model_holds():
    rng = np.random.default_rng(11)
    p = []
    for _ in range(12):
        truth = TwoPL(np.linspace(0.7, 2.0, 10), np.linspace(-1.8, 1.8, 10))
        x = simulate_responses(truth, rng.normal(size=1000), rng)
        p.append(item_fit(MML(model="2pl", compute_se=False).fit(x), x).p_value)
    p = np.concatenate(p)  # 120 item tests
    assert np.mean(p < 0.05) < 0.11
    assert 0.4 < np.mean(p) < 0.6


def test_polytomous_p_values_are_not_too_small_when_the_model_holds():
    rng = np.random.default_rng(12)
    p = []
    for _ in range(4):
        truth = GradedResponse(rng.uniform(0.8, 2, 8), np.sort(rng.normal(size=(8, 3)), axis=1))
        x = simulate_responses(truth, rng.normal(size=1500), rng)
        p.append(item_fit(MML(model="grm", compute_se=False).fit(x), x).p_value)
    p = np.concatenate(p)
    assert np.mean(p < 0.05) < 0.15
    assert 0.35 < np.mean(p) < 0.65


def test_a_3pl_item_fitted_as_2pl_is_flagged():
    rng = np.random.default_rng(5)
    a, b = np.linspace(0.8, 1.8, 10), np.linspace(-1.5, 1.5, 10)
    a[4], b[4], c = 3.0, 0.8, np.where(np.arange(10) == 4, 0.35, 0.0)
    x = simulate_responses(ThreePL(a, b, c), rng.normal(size=4000), rng)
    fit = item_fit(MML(model="2pl", compute_se=False).fit(x), x)
    assert fit.p_value[4] < 1e-4
    assert np.argmax(fit.rmsea) == 4
    assert np.median(fit.p_value) > 0.1  # the 2PL items are not all dragged along


def test_a_non_monotone_polytomous_item_is_flagged():
    rng = np.random.default_rng(6)
    truth = GradedResponse(rng.uniform(1, 2, 6), np.sort(rng.normal(size=(6, 2)), axis=1))
    theta = rng.normal(size=3000)
    x = simulate_responses(truth, theta, rng)
    x[:, 0] = simulate_responses(truth.subset([0]), np.abs(theta) * 2 - 1.5, rng)[:, 0]
    fit = item_fit(MML(model="grm", compute_se=False).fit(x), x)
    assert fit.p_value[0] < 1e-6
    assert np.argmax(fit.s_x2 / fit.df) == 0


def test_degrees_of_freedom_follow_the_fitted_parameters():
    rng = np.random.default_rng(7)
    truth = TwoPL(np.ones(6), np.linspace(-1, 1, 6))
    x = simulate_responses(truth, rng.normal(size=2000), rng)
    known = item_fit(truth, x, parameters_estimated=False)
    assert known.df.tolist() == [5] * 6  # scores 1..5, no collapsing with 2000 persons
    for model, per_item in (("rasch", 1), ("1pl", 1), ("2pl", 2)):
        fit = MML(model=model, compute_se=False).fit(x)
        res = item_fit(fit, x)
        assert res.n_estimated.tolist() == [per_item] * 6
        assert res.df.tolist() == [5 - per_item] * 6


def test_a_fitted_mml_reads_responses_in_its_own_codes():
    rng = np.random.default_rng(8)
    truth = TwoPL(np.linspace(0.8, 1.6, 6), np.linspace(-1, 1, 6))
    x = simulate_responses(truth, rng.normal(size=800), rng)
    fit = MML(model="2pl", compute_se=False).fit(np.where(x == 1, 7, 3))  # codes 3 and 7
    via_fit = item_fit(fit, np.where(x == 1, 7, 3))
    via_bank = item_fit(fit.bank, x)
    np.testing.assert_allclose(via_fit.s_x2, via_bank.s_x2)
    with pytest.raises(InvalidResponseError, match="code 5"):
        item_fit(fit, np.where(x == 1, 7, 5))


def test_sparse_cells_are_collapsed():
    rng = np.random.default_rng(9)
    truth = TwoPL(np.full(12, 1.5), np.linspace(-2.5, 2.5, 12))
    x = simulate_responses(truth, rng.normal(size=150), rng)
    loose = item_fit(truth, x, parameters_estimated=False, mincell=0.0)
    strict = item_fit(truth, x, parameters_estimated=False, mincell=5.0)
    assert np.all(strict.df <= loose.df) and np.any(strict.df < loose.df)


def test_missing_data_and_bad_options_are_refused():
    truth = TwoPL([1.0, 1.2, 0.8], [0.0, 0.5, -0.5])
    x = np.array([[0, 1, 1], [1, 1, 0], [0, 0, 1]], dtype=float)
    x[0, 1] = np.nan
    with pytest.raises(InvalidResponseError, match="complete data"):
        item_fit(truth, x)
    with pytest.raises(InvalidParameterError, match="mincell"):
        item_fit(truth, [[0, 1, 1]], mincell=-1)


def test_report():
    model, latent = model_of(load_fit("lsat7", "2PL"))
    fit = item_fit(ItemBank([model], latent=latent), load_data("lsat7").astype(int))
    text = fit.summary()
    assert "14.45" in text and "*" in text  # item 2 misfits at 5%
    assert fit.flagged.tolist() == [False, True, False, False, False]
    pytest.importorskip("pandas")
    assert fit.to_frame().shape == (5, 5)
