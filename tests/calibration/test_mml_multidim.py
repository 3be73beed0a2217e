"""Confirmatory multidimensional calibration: recovery with known truth, the E-step against the
engine's marginal likelihood, and the five-factor Likert inventory of the issue."""

import numpy as np
import pytest

from qabilet.calibration import MML
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.models import GradedResponse, TwoPL
from qabilet.engine.scoring import marginal_loglik
from qabilet.engine.simulation import simulate_responses


@pytest.fixture(scope="module")
def two_factor():
    rng = np.random.default_rng(3)
    a = np.zeros((12, 2))
    a[:6, 0] = rng.uniform(1, 2, 6)
    a[6:, 1] = rng.uniform(1, 2, 6)
    a[5, 1] = 0.8  # one item loads on both factors
    d = rng.normal(0, 1, 12)
    truth = TwoPL.from_slope_intercept(a, d)
    theta = rng.multivariate_normal([0, 0], [[1, 0.5], [0.5, 1]], size=5000)
    x = simulate_responses(truth, theta, rng)
    dims = {"A": [f"Q{i + 1}" for i in range(6)], "B": [f"Q{i + 1}" for i in range(5, 12)]}
    return truth, x, dims, MML(model="2pl", dims=dims).fit(x)


def test_two_factor_recovery(two_factor):
    truth, _, _, fit = two_factor
    assert fit.converged
    r, se = fit.latent.cov[0, 1], fit.reference.cov_se[0, 1]
    assert r == pytest.approx(0.5, abs=max(3 * se, 0.05))
    assert 0.005 < se < 0.05
    est = fit.bank.models[0].param_vector()
    true = truth.param_vector()
    assert np.sqrt(np.mean((est[:, :3] - true[:, :3]) ** 2)) < 0.1
    # undeclared loadings stay exactly zero
    assert np.all(est[:5, 1] == 0.0) and np.all(est[6:, 0] == 0.0)
    assert est[5, 1] == pytest.approx(0.8, abs=0.25)
    assert fit.bank.latent.factor_names == ("A", "B")


def test_em_loglik_equals_the_engine_marginal_likelihood_on_the_same_grid(two_factor):
    _, x, _, fit = two_factor
    ll = marginal_loglik(fit.bank, x, latent=fit.latent, n_points=31)
    assert ll == pytest.approx(fit.loglik, abs=1e-6)


def test_orthogonal_factors_stay_uncorrelated(two_factor):
    _, x, dims, _ = two_factor
    fit = MML(model="2pl", dims=dims, orthogonal=True, compute_se=False).fit(x)
    assert fit.latent.cov[0, 1] == 0.0


def test_four_factors_by_quasi_monte_carlo():
    rng = np.random.default_rng(4)
    a = np.zeros((16, 4))
    for k in range(4):
        a[4 * k : 4 * k + 4, k] = rng.uniform(1.2, 2.2, 4)
    truth = TwoPL.from_slope_intercept(a, rng.normal(0, 0.8, 16))
    corr = 0.4 * np.ones((4, 4)) + 0.6 * np.eye(4)
    x = simulate_responses(truth, rng.multivariate_normal(np.zeros(4), corr, size=4000), rng)
    dims = {f"F{k}": [f"Q{i + 1}" for i in range(4 * k, 4 * k + 4)] for k in range(4)}
    fit = MML(model="2pl", dims=dims, n_qmc=2048, compute_se=False).fit(x)
    off = fit.latent.cov[np.triu_indices(4, 1)]
    assert np.abs(off - 0.4).max() < 0.1
    est = fit.bank.models[0].param_vector()[:, :4]
    assert np.sqrt(np.mean((est - a) ** 2)) < 0.15


def test_five_factor_likert_inventory_2800_by_25():
    # the case: five correlated factors, 25 five-point Likert items (graded), 2,800
    # persons — quasi-Monte Carlo EM finishes in well under a minute on two cores
    rng = np.random.default_rng(5)
    a = np.zeros((25, 5))
    for k in range(5):
        a[5 * k : 5 * k + 5, k] = rng.uniform(1.0, 2.2, 5)
    b = np.sort(rng.normal(0, 1, (25, 4)), axis=1)
    truth = GradedResponse.from_slope_intercept(a, -a.sum(axis=1, keepdims=True) * b)
    corr = 0.3 * np.ones((5, 5)) + 0.7 * np.eye(5)
    x = simulate_responses(truth, rng.multivariate_normal(np.zeros(5), corr, size=2800), rng)
    dims = {f"F{k + 1}": [f"Q{i + 1}" for i in range(5 * k, 5 * k + 5)] for k in range(5)}
    fit = MML(model="grm", dims=dims, compute_se=False).fit(x)
    assert fit.converged
    off = fit.latent.cov[np.triu_indices(5, 1)]
    assert np.abs(off - 0.3).max() < 0.08
    est = fit.bank.models[0].param_vector()[:, :5]
    assert np.sqrt(np.mean((est - a) ** 2)) < 0.08


def test_dims_errors():
    x = np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0], [0, 0, 1]])
    with pytest.raises(InvalidParameterError, match=r"dims\['A'\]: unknown item id\(s\) \['Z'\]"):
        MML(dims={"A": ["Q1", "Z"]}).fit(x)
    with pytest.raises(InvalidParameterError, match=r"item\(s\) \['Q3'\] load on no factor"):
        MML(dims={"A": ["Q1"], "B": ["Q2"]}).fit(x)


def test_correlation_gradient_equals_finite_differences():
    from qabilet.calibration._latent import CorrelatedLatent

    rng = np.random.default_rng(0)
    nodes = rng.normal(size=(500, 3))
    n_q = rng.random(500) * 10
    lat = CorrelatedLatent(nodes, 0.5 * (nodes**2).sum(axis=1), orthogonal=False, offset=0)
    p = np.array([0.3, -0.2, 0.5])
    r = lat.correlation(p)
    np.testing.assert_allclose(np.diag(r), 1.0)
    assert np.linalg.eigvalsh(r).min() > 0
    fd = [(lat._objective(p + e, n_q) - lat._objective(p - e, n_q)) / 2e-6 for e in np.eye(3) * 1e-6]
    np.testing.assert_allclose(lat._gradient(p, n_q), fd, rtol=1e-6)
