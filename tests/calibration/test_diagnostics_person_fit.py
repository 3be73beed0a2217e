"""Person fit lz and lz*: Snijders' dichotomous formulas, N(0, 1) under the model, aberrance."""

import numpy as np
import pytest

from qabilet.calibration import MML, person_fit
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.models import GradedResponse, ThreePL, TwoPL
from qabilet.engine.scoring import eap, maximum_likelihood, weighted_likelihood
from qabilet.engine.simulation import simulate_responses


def _snijders_dichotomous(a, d, c, x, theta, r0):
    """lz and lz* of 0/1 items written as in Snijders (2001), one person at a time."""
    lz, lz_star = [], []
    for xp, t, r0p in zip(x, theta, r0):
        sig = 1 / (1 + np.exp(-(a * t + d)))
        p = c + (1 - c) * sig
        q = 1 - p
        dp = (1 - c) * a * sig * (1 - sig)  # P'
        w = np.log(p / q)
        r = dp / (p * q)
        l0 = np.sum(xp * np.log(p) + (1 - xp) * np.log(q))
        mean = np.sum(p * np.log(p) + q * np.log(q))
        var = np.sum(p * q * w**2)
        lz.append((l0 - mean) / np.sqrt(var))
        cn = np.sum(dp * w) / np.sum(dp * r)
        num = np.sum((xp - p) * w) + cn * r0p  # W_n(θ̂) + c_n(θ̂) r_0(θ̂)
        lz_star.append(num / np.sqrt(np.sum((w - cn * r) ** 2 * p * q)))
    return np.array(lz), np.array(lz_star)


def _data(model, n, seed):
    rng = np.random.default_rng(seed)
    return simulate_responses(model, rng.normal(size=n), rng)


def test_ml_matches_snijders_for_3pl_items():
    rng = np.random.default_rng(0)
    a, b, c = rng.uniform(0.7, 2, 15), rng.normal(size=15), rng.uniform(0, 0.3, 15)
    model = ThreePL(a, b, c)
    x = _data(model, 200, 1)
    fit = person_fit(model, x, method="ml", tol=1e-12)
    est = maximum_likelihood(model, x, tol=1e-12)
    ok = est.status == "ok"
    lz, lz_star = _snijders_dichotomous(a, -a * b, c, x[ok], est.theta[ok], np.zeros(ok.sum()))
    np.testing.assert_allclose(fit.lz[ok], lz, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(fit.lz_star[ok], lz_star, rtol=1e-6, atol=1e-6)
    assert np.all(np.isnan(fit.lz_star[~ok]))


def test_wle_matches_snijders_with_warms_correction():
    rng = np.random.default_rng(2)
    a, b = rng.uniform(0.7, 2, 12), rng.normal(size=12)
    model = TwoPL(a, b)
    x = _data(model, 200, 3)
    est = weighted_likelihood(model, x, tol=1e-12)
    p = 1 / (1 + np.exp(-(est.theta[:, None] - b) * a))
    info = (a**2 * p * (1 - p)).sum(axis=1)
    j = (a**3 * p * (1 - p) * (1 - 2 * p)).sum(axis=1)  # Σ P' P'' / (PQ)
    lz, lz_star = _snijders_dichotomous(a, -a * b, np.zeros(12), x, est.theta, j / (2 * info))
    fit = person_fit(model, x, method="wle", theta=est)
    np.testing.assert_allclose(fit.lz, lz, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(fit.lz_star, lz_star, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("method", ["ml", "wle", "map"])
def test_lz_star_is_standard_normal_under_the_model(method):
    rng = np.random.default_rng(3)
    model = TwoPL(rng.uniform(0.8, 2.0, 30), rng.normal(0, 1, 30))
    fit = person_fit(model, _data(model, 2000, 4), method=method)
    z = fit.lz_star[np.isfinite(fit.lz_star)]
    assert abs(z.mean()) < 0.15
    assert 0.9 < z.std() < 1.1
    assert 0.03 < np.mean(fit.flagged) < 0.08
    assert fit.lz[np.isfinite(fit.lz)].std() < 0.9  # uncorrected lz is too narrow


def test_polytomous_lz_star_is_standard_normal_under_the_model():
    rng = np.random.default_rng(5)
    model = GradedResponse(rng.uniform(0.8, 2.0, 15), np.sort(rng.normal(size=(15, 3)), axis=1))
    fit = person_fit(model, _data(model, 2000, 6), method="wle")
    z = fit.lz_star[np.isfinite(fit.lz_star)]
    assert abs(z.mean()) < 0.15
    assert 0.9 < z.std() < 1.1


def test_reversed_patterns_are_strongly_negative():
    rng = np.random.default_rng(7)
    model = TwoPL(rng.uniform(1.0, 2.0, 30), np.linspace(-2, 2, 30))
    x = _data(model, 600, 8)
    x[:100] = 1 - x[:100]  # the first 100 answer as if the items were keyed backwards
    fit = person_fit(model, x, method="wle")
    assert np.median(fit.lz_star[:100]) < -4
    assert np.mean(fit.flagged[:100]) > 0.9
    assert np.mean(fit.flagged[100:]) < 0.1


def test_missing_items_are_left_out():
    rng = np.random.default_rng(9)
    model = GradedResponse(rng.uniform(0.8, 2.0, 8), np.sort(rng.normal(size=(8, 2)), axis=1))
    x = _data(model, 50, 10)
    observed = np.ones(x.shape, dtype=bool)
    observed[:, [2, 5]] = False
    full = person_fit(model, x, observed, method="map")
    keep = [0, 1, 3, 4, 6, 7]
    sub = person_fit(model.subset(keep), x[:, keep], method="map")
    np.testing.assert_allclose(full.lz_star, sub.lz_star, rtol=1e-10)
    assert full.n_observed.tolist() == [6] * 50


def test_extreme_ml_patterns_are_undefined_and_wle_is_not():
    model = TwoPL(np.ones(5), np.linspace(-1, 1, 5))
    x = np.array([[0, 0, 0, 0, 0], [1, 1, 1, 1, 1], [1, 1, 0, 1, 0]])
    ml = person_fit(model, x, method="ml")
    assert np.isnan(ml.lz_star[:2]).all() and np.isfinite(ml.lz_star[2])
    assert ml.status.tolist()[:2] == ["extreme_low", "extreme_high"]
    assert np.isfinite(person_fit(model, x, method="wle").lz_star).all()


def test_estimates_and_fits_are_accepted_and_checked():
    rng = np.random.default_rng(11)
    truth = TwoPL(rng.uniform(0.8, 2, 10), rng.normal(size=10))
    x = _data(truth, 500, 12)
    fit = MML(model="2pl", compute_se=False).fit(x)
    given = person_fit(fit, x, theta=maximum_likelihood(fit.bank, x))
    np.testing.assert_allclose(given.lz_star, person_fit(fit, x).lz_star, equal_nan=True)
    with pytest.raises(InvalidParameterError, match="eap"):
        person_fit(fit, x, theta=eap(fit.bank, x))
    with pytest.raises(InvalidParameterError, match="method"):
        person_fit(fit, x, method="eap")
    with pytest.raises(InvalidParameterError, match="alpha"):
        person_fit(fit, x, alpha=2.0)


def test_report():
    model = TwoPL(np.ones(6), np.linspace(-1, 1, 6))
    fit = person_fit(model, _data(model, 100, 13), method="wle")
    assert "lz*" in fit.summary() and "WLE" in fit.summary()
    pd = pytest.importorskip("pandas")
    frame = fit.to_frame()
    assert isinstance(frame, pd.DataFrame) and len(frame) == 100
