"""Profile arithmetic against independent computations: a large simulated norm sample, the
published sten proportions, posterior coverage, and bands flipping at the stated confidence."""

import numpy as np
import pytest
from scipy.stats import norm

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.profile import band_decision, conditional_reliability, norm_scores, sten

MU, SIGMA = 0.25, 0.9


@pytest.fixture(scope="module")
def norm_sample():
    return np.random.default_rng(7).normal(MU, SIGMA, 2_000_000)


def test_percentile_and_t_score_equal_the_norm_sample(norm_sample):
    theta = np.array([-2.0, -0.4, 0.25, 0.9, 2.3])
    s = norm_scores(theta, 0.3, MU, SIGMA)
    empirical = 100 * (norm_sample[:, None] < theta[None, :]).mean(axis=0)
    np.testing.assert_allclose(s.percentile, empirical, atol=0.1)
    z = (theta - norm_sample.mean()) / norm_sample.std()
    np.testing.assert_allclose(s.t_score, 50 + 10 * z, atol=0.02)


def test_stens_split_the_norm_group_in_the_published_proportions(norm_sample):
    """Canfield's sten: bands of half an SD around 5.5 hold 2.3, 4.4, 9.2, 15.0, 19.1 % …"""
    stens = norm_scores(norm_sample, 0.3, MU, SIGMA).sten
    shares = np.bincount(stens, minlength=11)[1:] / stens.size * 100
    published = [2.3, 4.4, 9.2, 15.0, 19.1, 19.1, 15.0, 9.2, 4.4, 2.3]
    np.testing.assert_allclose(shares, published, atol=0.12)  # published to 0.1 %
    assert sten([-0.5, -0.01, 0.0]).tolist() == [5, 5, 6]


def test_intervals_cover_the_true_percentile_at_their_level():
    rng = np.random.default_rng(3)
    true = rng.normal(MU, SIGMA, 40_000)
    sd = rng.uniform(0.25, 0.5, true.size)
    estimate = true + rng.normal(0, sd)  # a posterior N(estimate, sd²) around the truth
    s = norm_scores(estimate, sd, MU, SIGMA, level=0.9)
    p_true = 100 * norm.cdf((true - MU) / SIGMA)
    covered = (s.percentile_low <= p_true) & (p_true <= s.percentile_high)
    assert abs(covered.mean() - 0.9) < 0.01
    assert np.all(s.sten_low <= s.sten) and np.all(s.sten <= s.sten_high)


def test_bands_flip_exactly_at_the_stated_confidence():
    cuts, sd, c = (-0.7, 0.7), 0.3, 0.8
    edge = cuts[1] + sd * norm.ppf(c)  # P(θ > upper) = c here
    d = band_decision([edge - 1e-9, edge + 1e-9], sd, cuts, min_confidence=c)
    assert d.band.tolist() == ["", "strength"] and d.withheld.tolist() == ["uncertain", ""]
    np.testing.assert_allclose(d.probability, c, atol=1e-7)
    low_edge = cuts[0] - sd * norm.ppf(c)
    assert band_decision(low_edge - 1e-9, sd, cuts, min_confidence=c).band == "development"
    assert band_decision(low_edge + 1e-9, sd, cuts, min_confidence=c).band == ""
    # the probabilities are the posterior's, and sum to one
    p = band_decision(0.2, sd, cuts).probabilities
    np.testing.assert_allclose(p, [norm.cdf(-0.9 / sd), norm.cdf(0.5 / sd) - norm.cdf(-0.9 / sd),
                                   1 - norm.cdf(0.5 / sd)], rtol=1e-12)


def test_an_imprecise_measurement_gets_no_band():
    d = band_decision([3.0, 3.0], [0.59, 0.61], (-0.7, 0.7), max_sd=0.6)
    assert d.band.tolist() == ["strength", ""] and d.withheld.tolist() == ["", "imprecise"]


def test_reliability_and_bad_inputs():
    np.testing.assert_allclose(conditional_reliability([0.5], 2.0), [1 - 0.25 / 2])
    with pytest.raises(InvalidParameterError, match="sd"):
        norm_scores(0.0, 0.0, 0.0, 1.0)
    with pytest.raises(InvalidParameterError, match="cuts"):
        band_decision(0.0, 0.3, (1.0, -1.0))
