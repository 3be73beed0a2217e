"""The 3PL with priors: SAT12 reaches a true optimum (where mirt stops at its cycle limit),
recovery with known truth, and the prior classes against scipy.stats."""

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from scipy.special import logit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from mirt_reference import load_data, load_fit  # noqa: E402

from qabilet.calibration import MML  # noqa: E402
from qabilet.calibration.priors import Beta, LogitNormal, LogNormal, Normal  # noqa: E402
from qabilet.engine.models import FourPL, ThreePL  # noqa: E402
from qabilet.engine.scoring import marginal_loglik  # noqa: E402
from qabilet.engine.simulation import simulate_responses  # noqa: E402


@pytest.fixture(scope="module")
def sat12_3pl():
    return MML(model="3pl").fit(load_data("sat12"), item_ids=load_fit("sat12", "3PL")["columns"])


def test_sat12_3pl_converges_with_the_default_prior(sat12_3pl):
    assert sat12_3pl.converged
    assert sat12_3pl.n_iter < 500  # mirt's default run stops at 500 cycles without converging
    c = np.array([r["c"] for r in sat12_3pl.bank.to_records()])
    assert np.all((c > 0.02) & (c < 0.4))


def test_sat12_3pl_gradient_of_the_log_posterior_vanishes(sat12_3pl):
    # independent of the EM code: finite differences of engine.marginal_loglik plus scipy's
    # Beta(5, 17) log-density, in every free parameter of a sample of items
    x = load_data("sat12")
    model = sat12_3pl.bank.models[0]
    psi = model.param_vector()
    names = model.param_names()

    def log_post(p):
        return marginal_loglik(model.with_params(p), x) + stats.beta.logpdf(p[:, 2], 5, 17).sum()

    h = 1e-6
    worst = 0.0
    for i in range(0, 32, 3):
        for j in (names.index("a1"), names.index("d"), names.index("g")):
            e = np.zeros_like(psi)
            e[i, j] = h
            worst = max(worst, abs(log_post(psi + e) - log_post(psi - e)) / (2 * h))
    assert worst < 5e-3


def test_with_mirts_prior_our_log_posterior_is_at_least_mirts():
    # mirt's 3PL_gprior run: norm(-1.1, 2) on logit(g), 500 cycles, not converged. On the same
    # objective (its logLik plus that prior) we reach at least its value.
    ref = load_fit("sat12", "3PL_gprior")
    x = load_data("sat12")
    g = np.array([ref["slope_intercept"][c]["g"] for c in ref["columns"]])
    mirt_log_post = ref["logLik"] + stats.norm.logpdf(logit(g), -1.1, 2.0).sum()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = MML(model="3pl", priors={"c": LogitNormal(-1.1, 2.0)}, compute_se=False,
                  max_iter=500).fit(x)
    assert fit.loglik + fit.logprior >= mirt_log_post - 1e-3
    # and logprior_ is that prior's log-density at our estimate (scipy, independently)
    c = np.array([r["c"] for r in fit.bank.to_records()])
    assert fit.logprior == pytest.approx(stats.norm.logpdf(logit(c), -1.1, 2.0).sum(), rel=1e-9)


def test_3pl_recovery_with_prior():
    rng = np.random.default_rng(31)
    truth = ThreePL(rng.uniform(1.0, 2.2, 20), rng.normal(0.3, 0.8, 20), np.full(20, 0.2))
    x = simulate_responses(truth, rng.normal(size=8000), rng)
    fit = MML(model="3pl", compute_se=False).fit(x)
    est = fit.bank.models[0]
    assert fit.converged
    assert np.sqrt(np.mean((est.c - truth.c) ** 2)) < 0.05
    assert np.sqrt(np.mean((est.b - truth.b) ** 2)) < 0.15
    assert np.sqrt(np.mean((est.a - truth.a) ** 2)) < 0.25


def _fit_4pl_without_warnings(truth, n_persons, rng, **options):
    """The 4PL fit of responses drawn from ``truth``, any warning an error; its item block."""
    x = simulate_responses(truth, rng.normal(size=n_persons), rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = MML(model="4pl", max_iter=3000, **options).fit(x)
    est = fit.bank.models[0]
    assert fit.converged
    assert np.all((est.c > 0) & (est.c < est.u) & (est.u < 1))
    return x, fit, est


def test_4pl_runs_and_keeps_asymptotes_inside():
    rng = np.random.default_rng(32)
    truth = FourPL(rng.uniform(1.0, 2.0, 15), rng.normal(0, 1, 15), np.full(15, 0.15),
                   np.full(15, 0.92))
    _, _, est = _fit_4pl_without_warnings(truth, 6000, rng, compute_se=False)
    grid = np.linspace(-2.5, 2.5, 11)
    diff = np.abs(est.prob(grid) - truth.prob(grid))  # the 4PL is weakly identified at n = 6000
    assert diff.mean() < 0.03 and diff.max() < 0.1


def test_4pl_extrapolation_never_evaluates_crossed_asymptotes():
    """Data on which SQUAREM proposed c ≥ u (``invalid value encountered in log``, issue 17):
    the fit, standard errors included, raises no warning and reaches a higher likelihood than the
    truth that drew the data."""
    rng = np.random.default_rng(45)
    truth = FourPL(rng.uniform(0.8, 2.0, 20), rng.normal(0, 1, 20), rng.uniform(0.05, 0.25, 20),
                   rng.uniform(0.85, 0.98, 20))
    x, fit, est = _fit_4pl_without_warnings(truth, 1500, rng)
    assert fit.loglik > marginal_loglik(truth, x)
    assert all(np.isfinite(item.se).all() for item in fit.items)
    grid = np.linspace(-2.5, 2.5, 11)
    assert np.abs(est.prob(grid) - truth.prob(grid)).mean() < 0.05  # n = 1500: weaker than above


@pytest.mark.parametrize(
    "prior, reference",
    [
        (Normal(0.3, 1.7), stats.norm(0.3, 1.7)),
        (LogNormal(0.1, 0.5), stats.lognorm(s=0.5, scale=np.exp(0.1))),
        (Beta(5, 17), stats.beta(5, 17)),
    ],
)
def test_prior_densities_and_derivatives(prior, reference):
    x = np.array([0.05, 0.2, 0.5, 0.9]) if isinstance(prior, Beta) else np.array([0.3, 1.0, 2.5])
    np.testing.assert_allclose(prior.logpdf(x), reference.logpdf(x), rtol=1e-12)
    h = 1e-6
    d1, d2 = prior.derivatives(x)
    np.testing.assert_allclose(d1, (prior.logpdf(x + h) - prior.logpdf(x - h)) / (2 * h), rtol=1e-6)
    h2 = 1e-4  # second differences need a larger step (rounding error ~ eps / h²)
    np.testing.assert_allclose(
        d2, (prior.logpdf(x + h2) - 2 * prior.logpdf(x) + prior.logpdf(x - h2)) / h2**2, rtol=1e-5)


def test_logit_normal_derivatives():
    p = LogitNormal(-1.1, 2.0)
    x = np.array([0.05, 0.2, 0.6])
    np.testing.assert_allclose(p.logpdf(x), stats.norm.logpdf(logit(x), -1.1, 2.0), rtol=1e-12)
    h = 1e-6
    d1, d2 = p.derivatives(x)
    np.testing.assert_allclose(d1, (p.logpdf(x + h) - p.logpdf(x - h)) / (2 * h), rtol=1e-6)
    h2 = 1e-4
    np.testing.assert_allclose(d2, (p.logpdf(x + h2) - 2 * p.logpdf(x) + p.logpdf(x - h2)) / h2**2,
                               rtol=1e-5)


def test_bad_prior_settings_are_refused():
    from qabilet.engine.exceptions import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="prior sd: expected a positive number"):
        Normal(0.0, -1.0)
    with pytest.raises(InvalidParameterError, match="unknown parameter kind 'q'"):
        MML(model="2pl", priors={"q": Normal()}).fit(load_data("lsat7"))


def test_a_prior_on_the_common_1pl_slope_counts_once():
    rng = np.random.default_rng(50)
    truth = ThreePL(np.full(10, 1.3), np.linspace(-1.5, 1.5, 10), np.zeros(10))
    x = simulate_responses(truth, rng.normal(size=600), rng)
    prior = LogNormal(0.0, 0.25)
    fit = MML(model="1pl", priors={"a": prior}, tol=1e-8).fit(x)
    model = fit.bank.models[0]
    psi = model.param_vector()

    def log_post(p):  # marginal likelihood + ONE log-normal density of the common slope
        return (marginal_loglik(model.with_params(p), x)
                + stats.lognorm(s=0.25).logpdf(p[0, 0]))

    h = 1e-6
    e = np.zeros_like(psi)
    e[:, 0] = h  # the common slope moves for every item at once
    grad = (log_post(psi + e) - log_post(psi - e)) / (2 * h)
    assert abs(grad) < 1e-3
    assert fit.logprior == pytest.approx(stats.lognorm(s=0.25).logpdf(psi[0, 0]), rel=1e-9)
