"""Person scoring against independent truth: theory (recovery), brute force, invariances."""

import itertools

import numpy as np
import pytest

from qabilet.engine.exceptions import ConvergenceWarning, InvalidResponseError
from qabilet.engine.latent import LatentDistribution
from qabilet.engine.models import GradedResponse, ThreePL, TwoPL
from qabilet.engine.scoring import eap, score, summed_score_table
from qabilet.engine.simulation import simulate_responses


@pytest.fixture(scope="module")
def test60():
    rng = np.random.default_rng(11)
    return TwoPL(rng.uniform(0.8, 2.0, 60), np.linspace(-2.5, 2.5, 60))


@pytest.mark.parametrize("theta", [-2.0, -1.0, 0.0, 1.0, 2.0])
def test_ml_and_wle_rmse_near_inverse_root_information(test60, theta):
    # asymptotic theory: SD(θ̂) → 1/√I(θ); 2000 replications give RMSE within ~3 % (MC error)
    rng = np.random.default_rng(int(100 + 10 * theta))
    x = simulate_responses(test60, np.full(2000, theta), rng)
    bound = 1.0 / np.sqrt(test60.information(theta).sum())
    for method in ("ml", "wle"):
        est = score(test60, x, method=method)
        assert np.all(est.status == "ok")
        rmse = np.sqrt(np.mean((est.theta - theta) ** 2))
        assert rmse == pytest.approx(bound, rel=0.10), method


def test_wle_is_less_biased_than_ml_on_a_short_test():
    # exact bias by enumerating all 2^10 patterns (no Monte Carlo error): WLE is finite for every
    # pattern; ML only where it exists (its bias is taken conditional on that)
    rng = np.random.default_rng(5)
    model = TwoPL(rng.uniform(0.8, 2.0, 10), np.linspace(-1.5, 1.5, 10))
    patterns = np.array(list(itertools.product([0, 1], repeat=10)))
    ml = score(model, patterns, method="ml")
    wle = score(model, patterns, method="wle")
    assert np.all(wle.status == "ok")
    finite = ml.status == "ok"
    assert (~finite).sum() == 2  # all-0 and all-1
    bias_ml, bias_wle = [], []
    for theta in (-1.5, -1.0, -0.5, 0.5, 1.0, 1.5):
        w = np.exp(model.log_prob(theta)[np.arange(10), patterns].sum(axis=1))
        bias_ml.append((w[finite] * (ml.theta[finite] - theta)).sum() / w[finite].sum())
        bias_wle.append((w * (wle.theta - theta)).sum())
    assert np.mean(np.abs(bias_wle)) < np.mean(np.abs(bias_ml))
    assert np.max(np.abs(bias_wle)) < 0.03


def test_wle_solves_warms_equation():
    # independent check: U(θ) + J(θ)/(2I(θ)) = 0 computed from probabilities and finite differences
    model = GradedResponse([1.1, 0.7, 1.6], [[-1.0, 0.5], [0.0, 1.0, 2.0], [-0.5]])
    x = np.array([[2, 1, 0], [0, 3, 1], [1, 0, 1]])
    est = score(model, x, method="wle")
    h = 1e-5
    for p, t in enumerate(est.theta):
        pr = model.prob(t)
        d1 = (model.prob(t + h) - model.prob(t - h)) / (2 * h)
        d2 = (model.prob(t + h) - 2 * pr + model.prob(t - h)) / h**2
        valid = pr > 0
        u = sum(d1[i, x[p, i]] / pr[i, x[p, i]] for i in range(3))
        info = (d1[valid] ** 2 / pr[valid]).sum()
        j = (d1[valid] * d2[valid] / pr[valid]).sum()
        assert u + j / (2 * info) == pytest.approx(0.0, abs=1e-5)


def test_map_is_the_posterior_mode():
    model = ThreePL([1.2, 0.8, 1.9, 1.4], [-1.0, 0.0, 0.5, 1.5], [0.2, 0.1, 0.25, 0.15])
    x = np.array([[1, 0, 1, 0], [1, 1, 1, 1], [0, 0, 0, 1]])
    prior = LatentDistribution([0.3], [[1.5]])
    est = score(model, x, method="map", prior=prior)
    grid = np.linspace(-6, 6, 240001)
    lp = model.log_prob(grid)
    for p in range(3):
        post = lp[:, np.arange(4), x[p]].sum(1) - (grid - 0.3) ** 2 / 3.0
        assert est.theta[p] == pytest.approx(grid[np.argmax(post)], abs=1e-4)


def test_ml_extreme_patterns_are_flagged_not_infinite():
    model = TwoPL([1.0, 1.5, 0.8], [0.0, 0.5, -0.5])
    x = np.array([[0, 0, 0], [1, 1, 1], [1, 0, 1]])
    obs = np.array([[True] * 3, [True] * 3, [True] * 3])
    est = score(model, x, obs, method="ml", bounds=(-5, 5))
    assert est.status.tolist() == ["extreme_low", "extreme_high", "ok"]
    assert est.theta[:2].tolist() == [-5.0, 5.0]
    assert np.isnan(est.se[:2]).all() and np.isfinite(est.se[2])
    assert np.isfinite(est.theta).all()


def test_no_responses_gives_prior_for_bayes_and_nan_for_likelihood():
    model = TwoPL([1.0, 1.0], [0.0, 0.0])
    obs = np.array([[False, False], [True, True]])
    x = np.array([[0, 0], [1, 0]])
    prior = LatentDistribution([0.5], [[1.0]])  # grid truncation negligible
    for method in ("eap", "map"):
        est = score(model, x, obs, method=method, prior=prior)
        assert est.status[0] == "no_responses"
        assert est.theta[0] == pytest.approx(0.5, abs=1e-6)
        assert est.se[0] == pytest.approx(1.0, rel=1e-6)
    for method in ("ml", "wle"):
        est = score(model, x, obs, method=method)
        assert est.status[0] == "no_responses" and np.isnan(est.theta[0])
        assert est.status[1] == "ok"


def test_missing_mask_equals_scoring_the_answered_items_only():
    rng = np.random.default_rng(2)
    model = GradedResponse(rng.uniform(0.8, 2, 8), np.sort(rng.normal(size=(8, 3)), axis=1))
    x = simulate_responses(model, rng.normal(size=40), rng)
    obs = rng.random(x.shape) < 0.6
    obs[:, 0] = True
    for method in ("eap", "map", "ml", "wle"):
        est = score(model, x, obs, method=method)
        for p in range(0, 40, 7):
            keep = np.flatnonzero(obs[p])
            alone = score(model.subset(keep), x[p, keep][None, :], method=method)
            np.testing.assert_allclose(est.theta[p], alone.theta[0], atol=1e-8, equal_nan=True)


def test_duplicated_rows_score_like_weighted_patterns():
    model = TwoPL([1.0, 1.3, 0.7], [-0.5, 0.2, 0.9])
    x = np.array([[1, 0, 1], [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 0, 1]])
    est = eap(model, x)
    singles = np.array([eap(model, row[None, :]).theta[0] for row in x])
    np.testing.assert_allclose(est.theta, singles, rtol=0, atol=1e-14)


def test_multidimensional_eap_factorises_for_simple_structure():
    # independent factors, each item on one factor: the 2-D posterior is a product of 1-D ones
    a = np.array([[1.2, 0.0], [0.9, 0.0], [1.5, 0.0], [0.0, 1.1], [0.0, 0.8], [0.0, 1.7]])
    d = np.array([0.2, -0.4, 0.9, -0.1, 0.5, 0.0])
    m2 = TwoPL.from_slope_intercept(a, d)
    x = simulate_responses(m2, np.random.default_rng(0).normal(size=(30, 2)), 1)
    both = eap(m2, x, n_points=61)
    for f, cols in enumerate([slice(0, 3), slice(3, 6)]):
        m1 = TwoPL.from_slope_intercept(a[cols, f], d[cols])
        one = eap(m1, x[:, cols], n_points=61)
        np.testing.assert_allclose(both.theta[:, f], one.theta, atol=1e-12)
        np.testing.assert_allclose(both.se[:, f], one.se, atol=1e-12)
    np.testing.assert_allclose(both.cov[:, 0, 1], 0.0, atol=1e-12)


@pytest.mark.parametrize("method", ["map", "ml", "wle"])
def test_multidimensional_modal_factorises_for_simple_structure(method):
    a = np.array([[1.2, 0.0], [0.9, 0.0], [1.5, 0.0], [0.0, 1.1], [0.0, 0.8], [0.0, 1.7]])
    d = np.array([0.2, -0.4, 0.9, -0.1, 0.5, 0.0])
    m2 = TwoPL.from_slope_intercept(a, d)
    x = np.array([[1, 0, 1, 0, 1, 1], [0, 1, 0, 1, 0, 1], [1, 1, 0, 0, 1, 0]])
    both = score(m2, x, method=method)
    for f, cols in enumerate([slice(0, 3), slice(3, 6)]):
        one = score(TwoPL.from_slope_intercept(a[cols, f], d[cols]), x[:, cols], method=method)
        np.testing.assert_allclose(both.theta[:, f], one.theta, atol=1e-7)
        np.testing.assert_allclose(both.se[:, f], one.se, atol=1e-7)


def test_multidimensional_map_with_correlated_prior_zeroes_the_gradient():
    a = np.array([[1.2, 0.3], [0.2, 0.9], [1.0, 1.0], [0.0, 1.4], [0.8, 0.0]])
    m = TwoPL.from_slope_intercept(a, [0.1, -0.3, 0.4, 0.0, -0.6])
    prior = LatentDistribution([0.0, 0.2], [[1.0, 0.6], [0.6, 1.5]])
    x = np.array([[1, 0, 1, 1, 0], [0, 0, 0, 1, 1]])
    est = score(m, x, method="map", prior=prior)

    def log_post(t, row):
        lp = m.log_prob(t)
        return lp[np.arange(5), row].sum() + prior.log_density(t)

    h = 1e-6
    for p in range(2):
        for r in range(2):
            e = np.zeros(2)
            e[r] = h
            g = (log_post(est.theta[p] + e, x[p]) - log_post(est.theta[p] - e, x[p])) / (2 * h)
            assert g == pytest.approx(0.0, abs=1e-6)


def test_eap_four_dimensions_runs_on_a_product_grid():
    a = np.eye(4).repeat(2, axis=0)
    m = TwoPL.from_slope_intercept(a, np.zeros(8))
    x = np.ones((3, 8), dtype=int)
    est = eap(m, x, n_points=15)
    assert est.theta.shape == (3, 4) and np.all(est.theta > 0)


def test_lord_wingersky_equals_brute_force_enumeration():
    model = GradedResponse([1.1, 0.7, 1.6, 0.9], [[-1.0, 0.5], [0.0, 1.0, 2.0], [-0.5], [0.3]])
    table = summed_score_table(model, n_points=121)
    nodes = np.linspace(-6, 6, 121)
    w = np.exp(-(nodes**2) / 2)
    w /= w.sum()
    p = model.prob(nodes)
    max_score = int((model.n_categories - 1).sum())
    like = np.zeros((max_score + 1, nodes.size))
    for pattern in itertools.product(*[range(k) for k in model.n_categories]):
        like[sum(pattern)] += np.prod([p[:, i, k] for i, k in enumerate(pattern)], axis=0)
    prob = like @ w
    theta = (like * w * nodes).sum(1) / prob
    np.testing.assert_allclose(table.probability, prob, rtol=1e-12)
    np.testing.assert_allclose(table.theta, theta, rtol=1e-10, atol=1e-12)
    assert table.probability.sum() == pytest.approx(1.0, abs=1e-12)


def test_bad_responses_name_the_cell():
    model = TwoPL([1.0, 1.0], [0.0, 0.0])
    with pytest.raises(
        InvalidResponseError, match=r"responses\[1, 0\]: expected a category in 0..1; got 2"
    ):
        score(model, np.array([[0, 1], [2, 0]]))
    with pytest.raises(InvalidResponseError, match=r"expected shape \(n_persons, 2\)"):
        score(model, np.zeros((3, 3), dtype=int))
    with pytest.raises(InvalidResponseError, match="integer category; got 0.5"):
        score(model, np.array([[0.5, 1.0]]))


def test_iteration_limit_warns_and_flags():
    model = TwoPL([1.0, 1.0, 1.0], [0.0, 0.5, 1.0])
    with pytest.warns(ConvergenceWarning):
        est = score(model, np.array([[1, 0, 0]]), method="ml", max_iter=1, tol=1e-14)
    assert est.status[0] == "not_converged"
