"""MH-RM (Cai 2010) for confirmatory multidimensional fits, against independent truth: the exact
EM fit on a product grid and its closed-form standard errors (two factors), the exact grid
likelihood for the importance-sampled one, simulated truth (five factors), and EM's fit under
common importance-sampling points (five factors: the same or better log-likelihood)."""

import numpy as np
import pytest

from qabilet.calibration import MML
from qabilet.calibration._mhrm import importance_loglik
from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import ConvergenceWarning, InvalidParameterError
from qabilet.engine.latent import LatentDistribution
from qabilet.engine.models import GradedResponse
from qabilet.engine.scoring import marginal_loglik
from qabilet.engine.simulation import simulate_responses


def _graded(rng, a, n_cat=4):
    steps = np.sort(rng.normal(0.0, 1.0, (a.shape[0], n_cat - 1)), axis=1)
    return GradedResponse.from_slope_intercept(a, -np.abs(a).sum(axis=1, keepdims=True) * steps)


@pytest.fixture(scope="module")
def two_factor():
    rng = np.random.default_rng(11)
    a = np.zeros((12, 2))
    a[:6, 0] = rng.uniform(1.0, 2.0, 6)
    a[6:, 1] = rng.uniform(1.0, 2.0, 6)
    truth = _graded(rng, a)
    theta = rng.multivariate_normal([0, 0], [[1, 0.45], [0.45, 1]], size=3000)
    x = simulate_responses(truth, theta, rng)
    dims = {"A": [f"Q{i + 1}" for i in range(6)], "B": [f"Q{i + 1}" for i in range(6, 12)]}
    em = MML(model="grm", dims=dims, n_points=41).fit(x)
    mhrm = MML(model="grm", dims=dims, method="mhrm").fit(x)
    return x, dims, em, mhrm


def _estimates(fit):
    values = np.concatenate([it.values for it in fit.items] + [[fit.latent.cov[0, 1]]])
    se = np.concatenate([it.se for it in fit.items] + [[fit.reference.cov_se[0, 1]]])
    keep = np.isfinite(se)
    return values[keep], se[keep]


def test_estimates_equal_the_exact_em_fit_within_a_fraction_of_their_standard_errors(two_factor):
    _, _, em, mhrm = two_factor
    assert mhrm.converged and mhrm.algorithm == "mhrm" and em.algorithm == "em"
    (v_em, se_em), (v_mh, _) = _estimates(em), _estimates(mhrm)
    z = (v_mh - v_em) / se_em
    assert np.sqrt(np.mean(z**2)) < 0.3 and np.abs(z).max() < 0.8


def test_standard_errors_equal_the_closed_form_of_the_exact_fit(two_factor):
    # Louis' identity over posterior draws against the same identity on the 41² grid
    _, _, em, mhrm = two_factor
    (_, se_em), (_, se_mh) = _estimates(em), _estimates(mhrm)
    ratio = se_mh / se_em
    assert np.median(np.abs(ratio - 1)) < 0.05 and np.abs(ratio - 1).max() < 0.15


def test_log_likelihood_is_the_grid_likelihood_within_its_monte_carlo_error(two_factor):
    x, _, em, mhrm = two_factor
    exact = marginal_loglik(mhrm.bank, x, latent=mhrm.latent, n_points=81, bounds=(-7, 7))
    # the reported Monte Carlo SE is the plain-MC one, conservative for shifted Sobol points
    assert 0 < mhrm.loglik_se < 4.0
    assert abs(mhrm.loglik - exact) < min(1.0, 3 * mhrm.loglik_se)
    # and the estimates are as likely as EM's, on the grid EM maximised exactly
    on_grid = marginal_loglik(em.bank, x, latent=em.latent, n_points=41)
    assert marginal_loglik(mhrm.bank, x, latent=mhrm.latent, n_points=41) > on_grid - 1.0


def test_importance_sampling_equals_the_product_grid():
    rng = np.random.default_rng(12)
    a = np.zeros((10, 2))
    a[:5, 0], a[5:, 1] = rng.uniform(0.8, 2.0, 5), rng.uniform(0.8, 2.0, 5)
    a[4, 1] = 0.6  # one item on both factors
    truth = _graded(rng, a, n_cat=3)
    latent = LatentDistribution(np.array([0.2, -0.1]), np.array([[1.0, 0.6], [0.6, 1.3]]))
    x = simulate_responses(truth, rng.multivariate_normal(latent.mean, latent.cov, 500), rng)
    observed = rng.random(x.shape) < 0.85
    bank = ItemBank([truth], [f"Q{i}" for i in range(10)], latent)
    exact = marginal_loglik(bank, np.where(observed, x, 0), observed, latent=latent,
                            n_points=101, bounds=(-8, 8))
    estimate, se = importance_loglik(bank, np.where(observed, x, 0), observed, n_points=1024)
    assert abs(estimate - exact) < min(0.1, 3 * se)
    assert se < 0.5


def test_a_fit_is_reproducible_with_its_seed(two_factor):
    x, dims, _, mhrm = two_factor
    again = MML(model="grm", dims=dims, method="mhrm", compute_se=False).fit(x)
    np.testing.assert_array_equal(again.bank.models[0].param_vector(),
                                  mhrm.bank.models[0].param_vector())
    other = MML(model="grm", dims=dims, method="mhrm", seed=5, compute_se=False).fit(x)
    assert not np.array_equal(other.bank.models[0].param_vector(),
                              mhrm.bank.models[0].param_vector())


def test_reverse_keyed_items_keep_their_sign_and_the_correlation_its_own():
    rng = np.random.default_rng(13)
    a = np.zeros((12, 2))
    a[:6, 0] = rng.uniform(1.0, 2.0, 6)
    a[6:, 1] = rng.uniform(1.0, 2.0, 6) * np.array([-1, -1, -1, -1, 1, 1])
    truth = _graded(rng, a)
    x = simulate_responses(truth, rng.multivariate_normal([0, 0], [[1, 0.5], [0.5, 1]], 2500),
                           rng)
    dims = {"A": [f"Q{i + 1}" for i in range(6)], "B": [f"Q{i + 1}" for i in range(6, 12)]}
    fit = MML(model="grm", dims=dims, method="mhrm",
              direction={f"Q{i}": -1 for i in (7, 8, 9, 10)}).fit(x)
    slopes = fit.bank.slopes
    assert np.all(np.sign(slopes[6:, 1]) == np.sign(a[6:, 1]))
    assert fit.latent.cov[0, 1] == pytest.approx(0.5, abs=4 * fit.reference.cov_se[0, 1])


def test_five_correlated_factors_recover_the_truth_and_em_s_likelihood():
    # the case: 2,800 persons × 25 five-point items on five correlated factors; the
    # two fits' log-likelihoods compared with the same importance-sampling points
    rng = np.random.default_rng(5)
    a = np.zeros((25, 5))
    for k in range(5):
        a[5 * k : 5 * k + 5, k] = rng.uniform(1.0, 2.2, 5)
    truth = _graded(rng, a, n_cat=5)
    corr = 0.3 * np.ones((5, 5)) + 0.7 * np.eye(5)
    x = simulate_responses(truth, rng.multivariate_normal(np.zeros(5), corr, size=2800), rng)
    dims = {f"F{k + 1}": [f"Q{i + 1}" for i in range(5 * k, 5 * k + 5)] for k in range(5)}
    mhrm = MML(model="grm", dims=dims, method="mhrm", compute_se=False).fit(x)
    em = MML(model="grm", dims=dims, compute_se=False).fit(x)
    off = np.triu_indices(5, 1)
    assert np.abs(mhrm.latent.cov[off] - 0.3).max() < 0.08
    assert np.sqrt(np.mean((mhrm.bank.slopes - a) ** 2)) < 0.08
    observed = np.ones(x.shape, dtype=bool)
    ll_mh, se = importance_loglik(mhrm.bank, x, observed, n_points=512, seed=3)
    ll_em, _ = importance_loglik(em.bank, x, observed, n_points=512, seed=3)
    assert ll_mh > ll_em - 1.0, (ll_mh, ll_em, se)


def test_stopping_at_max_iter_warns():
    rng = np.random.default_rng(14)
    a = np.zeros((8, 2))
    a[:4, 0], a[4:, 1] = 1.5, 1.2
    x = simulate_responses(_graded(rng, a, n_cat=3), rng.normal(size=(400, 2)), rng)
    dims = {"A": [f"Q{i + 1}" for i in range(4)], "B": [f"Q{i + 1}" for i in range(4, 8)]}
    with pytest.warns(ConvergenceWarning, match="MH-RM stopped at max_iter=20"):
        fit = MML(model="grm", dims=dims, method="mhrm", max_iter=20, compute_se=False).fit(x)
    assert not fit.converged and fit.n_iter == 20


@pytest.mark.parametrize(("options", "message"), [
    ({"method": "gibbs"}, "method: expected one of em, mhrm; got 'gibbs'"),
    ({"method": "mhrm", "se": "numeric"}, "se: 'numeric' differentiates"),
    ({"method": "mhrm", "dims": None}, "method 'mhrm' is for two or more factors"),
    ({"method": "mhrm", "model": "rsm"}, "shares parameters across items"),
])
def test_options_it_cannot_honour_are_refused(options, message):
    x = np.random.default_rng(15).integers(0, 3, (200, 4))
    settings = {"model": "grm", "dims": {"A": ["Q1", "Q2"], "B": ["Q3", "Q4"]}, **options}
    with pytest.raises(InvalidParameterError, match=message):
        MML(**settings).fit(x)
