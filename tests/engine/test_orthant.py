"""Normal orthant probabilities against closed forms and an independent integral.

The bivariate distribution function against Owen's T function (scipy.special.owens_t), which
gives it exactly; the trivariate one at the origin against Sheppard's closed form, and elsewhere
against scipy's adaptive quadrature of the conditional decomposition."""

import numpy as np
import pytest
from scipy import integrate
from scipy.special import ndtr, owens_t
from scipy.stats import norm

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.orthant import bivariate_normal_cdf, orthant_probability, trivariate_normal_cdf


def _owen(h, k, r):
    """Φ2 by Owen (1956): ½Φ(h) + ½Φ(k) − T(h, α_h) − T(k, α_k) − β."""
    s = np.sqrt(1 - r * r)
    beta = np.where(h * k < 0, 0.5, 0.0)
    return 0.5 * ndtr(h) + 0.5 * ndtr(k) - owens_t(h, (k - r * h) / (h * s)) - \
        owens_t(k, (h - r * k) / (k * s)) - beta


def test_bivariate_equals_owens_formula_everywhere():
    rng = np.random.default_rng(1)
    n = 60_000
    h, k = rng.normal(0, 2.5, n), rng.normal(0, 2.5, n)
    h[np.abs(h) < 1e-3], k[np.abs(k) < 1e-3] = 1e-3, 1e-3
    r = np.concatenate([rng.uniform(-0.9999, -0.925, n // 3), rng.uniform(-0.925, 0.925, n // 3),
                        rng.uniform(0.925, 0.9999, n - 2 * (n // 3))])
    np.testing.assert_allclose(bivariate_normal_cdf(h, k, r), _owen(h, k, r), rtol=0, atol=1e-14)


def test_bivariate_limits():
    assert float(bivariate_normal_cdf(np.inf, 0.3, 0.6)) == pytest.approx(ndtr(0.3), abs=1e-16)
    assert float(bivariate_normal_cdf(-0.4, np.inf, -0.2)) == pytest.approx(ndtr(-0.4), abs=1e-16)
    assert float(bivariate_normal_cdf(-np.inf, 1.0, 0.2)) == 0.0
    # ρ = ±1: the smaller margin, or the overlap of X ≤ h and −X ≤ k
    assert float(bivariate_normal_cdf(0.2, -0.5, 1.0)) == pytest.approx(ndtr(-0.5), abs=1e-15)
    assert float(bivariate_normal_cdf(0.2, 0.5, -1.0)) == pytest.approx(ndtr(0.2) - ndtr(-0.5), abs=1e-15)
    with pytest.raises(InvalidParameterError, match="rho"):
        bivariate_normal_cdf(0.0, 0.0, 1.2)


def _well_conditioned(rng, n):
    out = []
    while len(out) < n:
        a = rng.normal(size=(3, 3))
        s = a @ a.T + 0.1 * np.eye(3)
        d = np.sqrt(np.diag(s))
        out.append(s / np.outer(d, d))
    return out


def test_trivariate_at_the_origin_is_sheppards_closed_form():
    rng = np.random.default_rng(2)
    corr = np.array([[c[0, 1], c[0, 2], c[1, 2]] for c in _well_conditioned(rng, 500)])
    exact = 1 / 8 + np.arcsin(corr).sum(axis=1) / (4 * np.pi)
    np.testing.assert_allclose(trivariate_normal_cdf(np.zeros((500, 3)), corr), exact, atol=1e-13)


def test_trivariate_off_the_origin_against_adaptive_quadrature():
    rng = np.random.default_rng(3)
    for c in _well_conditioned(rng, 25):
        a = rng.normal(0, 1.5, 3)
        r12, r13, r23 = c[0, 1], c[0, 2], c[1, 2]
        s12, s13 = np.sqrt(1 - r12**2), np.sqrt(1 - r13**2)
        partial = (r23 - r12 * r13) / (s12 * s13)

        def conditional(x, a=a, r12=r12, r13=r13, s12=s12, s13=s13, partial=partial):
            return norm.pdf(x) * float(bivariate_normal_cdf((a[1] - r12 * x) / s12,
                                                            (a[2] - r13 * x) / s13, partial))
        truth = integrate.quad(conditional, -np.inf, a[0], epsabs=1e-14, epsrel=1e-13,
                               limit=400)[0]
        assert float(trivariate_normal_cdf(a, [r12, r13, r23])) == pytest.approx(truth, abs=1e-12)


def test_orthant_probability_of_a_mean_and_covariance_by_simulation():
    rng = np.random.default_rng(4)
    for d in (1, 2, 3):
        a = rng.normal(size=(d, d))
        cov = a @ a.T + 0.5 * np.eye(d)
        mean = rng.normal(0, 0.7, d)
        draws = rng.multivariate_normal(mean, cov, size=400_000)
        freq = np.mean(np.all(draws > 0, axis=1))
        p = float(orthant_probability(mean, cov))
        assert p == pytest.approx(freq, abs=4 * np.sqrt(p * (1 - p) / 400_000))
    with pytest.raises(InvalidParameterError, match="d = 1, 2 or 3"):
        orthant_probability(np.zeros(4), np.eye(4))
