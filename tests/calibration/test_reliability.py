"""Marginal and empirical reliability against independent truth: an adaptive integral of the
information by scipy, and the squared correlation of EAP estimates with the true θ."""

import numpy as np
import pytest
from scipy import integrate, stats

from qabilet.calibration import empirical_reliability, marginal_reliability
from qabilet.engine.bank import ItemBank
from qabilet.engine.latent import LatentDistribution
from qabilet.engine.models import GradedResponse, TwoPL
from qabilet.engine.scoring import eap
from qabilet.engine.simulation import simulate_responses


def _two_pl_information(a, b):
    def info(t):
        p = 1.0 / (1.0 + np.exp(-a * (t - b)))
        return float(np.sum(a**2 * p * (1.0 - p)))
    return info


@pytest.mark.parametrize("mean, sd", [(0.0, 1.0), (0.5, 1.3)])
def test_marginal_reliability_is_the_integral_of_the_error_variance(mean, sd):
    rng = np.random.default_rng(3)
    a, b = rng.uniform(0.7, 2.0, 15), rng.normal(0.0, 1.0, 15)
    bank = ItemBank([TwoPL(a, b)], latent=LatentDistribution([mean], [[sd**2]]))
    info = _two_pl_information(a, b)
    error, _ = integrate.quad(lambda t: stats.norm.pdf(t, mean, sd) / info(t), mean - 6 * sd,
                              mean + 6 * sd, limit=200)
    truth = sd**2 / (sd**2 + error)
    # the grid spans [−6, 6] whatever the population: compare on the population's own span
    got = marginal_reliability(bank, bounds=(mean - 6 * sd, mean + 6 * sd), n_points=241)
    assert got == pytest.approx(truth, abs=1e-6)


def test_marginal_reliability_of_a_subset_and_of_graded_items():
    """A pool's subset is the bank of those items; graded items by their own information."""
    rng = np.random.default_rng(5)
    a = rng.uniform(0.8, 2.0, 8)
    b = np.sort(rng.normal(0, 1.5, (8, 3)), axis=1)
    bank = ItemBank([GradedResponse(a, b)])
    subset = [1, 4, 6]
    assert marginal_reliability(bank, subset) == pytest.approx(
        marginal_reliability(bank.subset(subset)), abs=1e-12)
    assert marginal_reliability(bank.subset(subset)) < marginal_reliability(bank)


def test_empirical_reliability_is_the_squared_correlation_with_the_truth():
    rng = np.random.default_rng(8)
    bank = ItemBank([TwoPL(rng.uniform(0.8, 2.0, 12), rng.normal(0, 1, 12))])
    theta = rng.standard_normal(6000)
    est = eap(bank, simulate_responses(bank, theta, rng))
    got = empirical_reliability(est.theta.reshape(-1), est.se.reshape(-1))
    assert got == pytest.approx(np.corrcoef(est.theta.reshape(-1), theta)[0, 1] ** 2, abs=0.015)


def test_empirical_reliability_refuses_mismatched_inputs_and_is_nan_for_one():
    with pytest.raises(Exception, match="one length"):
        empirical_reliability([0.0, 1.0], [0.3])
    assert np.isnan(empirical_reliability([0.2], [0.3]))
