"""Classification accuracy and consistency against Monte Carlo truth: persons drawn where each
method's assumptions hold exactly, their bands counted."""

import numpy as np
import pytest

from qabilet.engine.classification import (
    band_of,
    band_probabilities,
    lee,
    observed_accuracy,
    rudner,
    rudner_at_nodes,
)
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.latent import LatentDistribution
from qabilet.engine.models import GradedResponse, TwoPL
from qabilet.engine.quadrature import equispaced_grid
from qabilet.engine.scoring.sum_score import summed_score_table
from qabilet.engine.simulation import simulate_responses

CUTS = np.array([-0.67, 0.67])
N = 200_000
TOL = 0.006  # about 3 Monte Carlo standard errors of a share near 0.8 with N draws


def normal_model(sigma: float, rng: np.random.Generator):
    """θ ~ N(0, 1), x = θ + σe: θ | x ~ N(x/(1+σ²), σ²/(1+σ²)) exactly, Rudner's assumption.

    Returns the true values, the posterior means and the posterior SDs.
    """
    theta = rng.normal(size=N)
    x = theta + sigma * rng.normal(size=N)
    return theta, x / (1 + sigma**2), np.full(N, sigma / np.sqrt(1 + sigma**2))


def test_rudner_in_the_normal_model_where_the_posterior_is_exact():
    rng = np.random.default_rng(1)
    theta, mean, sd = normal_model(0.5, rng)
    r = rudner(mean, sd, CUTS)
    assert abs(r.accuracy - np.mean(band_of(mean, CUTS) == band_of(theta, CUTS))) < TOL
    # consistency: two persons with the same estimate, each one's true θ drawn from it
    again = mean + sd * rng.normal(size=N)
    assert abs(r.consistency - np.mean(band_of(theta, CUTS) == band_of(again, CUTS))) < TOL
    truth = np.zeros((3, 3))
    np.add.at(truth, (band_of(theta, CUTS), band_of(mean, CUTS)), 1.0 / N)
    np.testing.assert_allclose(r.confusion, truth, atol=TOL)
    assert r.stated == 1.0 and r.method == "rudner"


def test_rudner_counts_only_the_stated_bands():
    theta, mean, sd = normal_model(0.7, np.random.default_rng(2))
    probs = band_probabilities(mean, sd, CUTS)
    stated = np.where(probs.max(axis=1) >= 0.9, probs.argmax(axis=1), -1)
    r = rudner(mean, sd, CUTS, stated_band=stated)
    right = stated[stated >= 0] == band_of(theta, CUTS)[stated >= 0]
    assert abs(r.accuracy - right.mean()) < TOL and r.accuracy >= 0.9
    assert r.stated == pytest.approx(np.mean(stated >= 0))


def test_rudner_at_nodes_against_two_independent_measurements():
    rng = np.random.default_rng(3)
    nodes = np.linspace(-4, 4, 81)
    weights = np.exp(-nodes**2 / 2)
    weights /= weights.sum()
    sem = 0.3 + 0.1 * nodes**2  # worse at the extremes, as a test's information falls
    r = rudner_at_nodes(nodes, weights, sem, CUTS)
    q = rng.choice(nodes.size, size=N, p=weights)
    first, second = (nodes[q] + sem[q] * rng.normal(size=N) for _ in range(2))
    true = band_of(nodes[q], CUTS)
    assert abs(r.accuracy - np.mean(band_of(first, CUTS) == true)) < TOL
    assert abs(r.consistency - np.mean(band_of(first, CUTS) == band_of(second, CUTS))) < TOL


@pytest.mark.parametrize("kind", ["2pl", "grm"])
def test_lee_against_simulated_fixed_forms(kind):
    rng = np.random.default_rng(4)
    if kind == "2pl":
        items = TwoPL(rng.uniform(0.8, 2.0, 15), rng.normal(0, 1, 15))
    else:
        items = GradedResponse(rng.uniform(0.8, 2.0, 6), np.sort(rng.normal(0, 1, (6, 3)), axis=1))
    r = lee(items, CUTS, n_points=61)
    # true θ drawn from the same 61 nodes, so that only the Monte Carlo error remains
    grid = equispaced_grid(LatentDistribution.standard(1), 61, (-6.0, 6.0))
    q = rng.choice(grid.n_quad, size=N, p=grid.weights)
    theta = grid.nodes[q, 0]
    table = summed_score_table(items, n_points=61)
    bands = [band_of(table.theta[simulate_responses(items, theta, rng).sum(axis=1)], CUTS)
             for _ in range(2)]
    true = band_of(theta, CUTS)
    assert abs(r.accuracy - np.mean(bands[0] == true)) < TOL
    assert abs(r.consistency - np.mean(bands[0] == bands[1])) < TOL
    assert r.consistency < r.accuracy  # two noisy measurements agree less than one with truth


def test_observed_accuracy_counts_the_stated_bands():
    # true bands 0, 1, 2 (a value on a cut is above it), 2, 2; the third is stated wrong
    r = observed_accuracy([-1.0, 0.0, 0.5, 0.9, 2.0], [0, 1, 0, -1, 2], [-0.5, 0.5])
    assert r.accuracy == pytest.approx(3 / 4) and r.stated == pytest.approx(4 / 5)
    assert r.confusion.sum() == pytest.approx(1.0) and r.confusion[2, 0] == pytest.approx(0.25)
    assert np.isnan(r.consistency) and r.to_dict()["consistency"] is None


@pytest.mark.parametrize("cuts", [[], [0.5, 0.5], [1.0, -1.0], [np.nan]])
def test_bad_cuts_are_refused(cuts):
    with pytest.raises(InvalidParameterError, match="cuts: expected finite, strictly increasing"):
        rudner([0.0], [1.0], cuts)


def test_a_rule_that_states_no_band_is_refused():
    with pytest.raises(InvalidParameterError, match="no band was stated"):
        rudner([0.0, 0.1], [0.5, 0.5], [0.0], stated_band=[-1, -1])
    with pytest.raises(InvalidParameterError, match="stated_band: expected one band in 0..1"):
        rudner([0.0, 0.1], [0.5, 0.5], [0.0], stated_band=[2, 0])
    with pytest.raises(InvalidParameterError, match="one positive standard error"):
        rudner([0.0], [0.0], [0.0])
