"""Correlations of separately calibrated scales: recovery of known truth, and agreement with a
two-factor MML fit of the same data."""

import numpy as np
import pytest

from qabilet.calibration import MML, factor_correlations
from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.simulation import simulate_responses

TRUE = np.array([[1.0, 0.5, 0.3], [0.5, 1.0, 0.7], [0.3, 0.7, 1.0]])


def _scale(prefix, rng):
    b = np.linspace(-2, 2, 10)
    return ItemBank.from_records(
        [{"id": f"{prefix}{i}", "model": "grm", "a": float(a), "b": [float(v - 0.8), float(v + 0.8)]}
         for i, (a, v) in enumerate(zip(rng.uniform(0.9, 2.0, 10), b, strict=True))])


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(2026)
    theta = rng.multivariate_normal(np.zeros(3), TRUE, size=4000)
    banks = [_scale(p, rng) for p in "XYZ"]
    responses = [simulate_responses(b, theta[:, k], rng) for k, b in enumerate(banks)]
    return banks, responses


def test_known_correlations_are_recovered(data):
    banks, responses = data
    est = factor_correlations(banks, responses, names=["x", "y", "z"])
    assert est.names == ("x", "y", "z") and not est.adjusted
    off = np.triu_indices(3, 1)
    # within three standard errors of the truth, and the standard errors about 1/sqrt(n)
    assert np.all(np.abs(est.correlation[off] - TRUE[off]) < 3 * est.se[off])
    assert np.all((est.se[off] > 0.005) & (est.se[off] < 0.03))
    np.testing.assert_allclose(np.diag(est.correlation), 1.0)


def test_agrees_with_a_two_factor_mml_fit_of_the_same_data(data):
    banks, responses = data
    est = factor_correlations(banks[:2], responses[:2])
    x = np.hstack(responses[:2])
    ids = [*banks[0].item_ids, *banks[1].item_ids]
    fit = MML(model="grm", dims={"x": list(banks[0].item_ids), "y": list(banks[1].item_ids)},
              compute_se=False).fit(x, item_ids=ids)
    # MML estimates the items too; the two-stage estimate with true items sits close to it
    assert abs(est.correlation[0, 1] - fit.latent.correlation[0, 1]) < 0.02


def test_missing_answers_count_as_not_given(data):
    banks, responses = data
    rng = np.random.default_rng(1)
    masks = [rng.random(r.shape) > 0.3 for r in responses]
    est = factor_correlations(banks, responses, masks)
    full = factor_correlations(banks, responses)
    assert np.all(est.se[0, 1:] > full.se[0, 1:])  # less data, less precision
    assert abs(est.correlation[1, 2] - TRUE[1, 2]) < 3 * est.se[1, 2]


def test_bad_inputs_are_named(data):
    banks, responses = data
    with pytest.raises(InvalidParameterError, match="two or more scales"):
        factor_correlations(banks[:1], responses[:1])
    with pytest.raises(ValueError, match="same persons"):
        factor_correlations(banks[:2], [responses[0], responses[1][:10]])


def test_level_norms_recover_each_levels_distribution_and_its_quantiles():
    """Norms from a multi-group fit equal the simulated levels' distributions, and percentile
    cuts equal the quantiles of a large sample from them."""
    from qabilet.calibration import level_norms

    rng = np.random.default_rng(8)
    bank = ItemBank.from_records([{"id": f"Q{i}", "model": "grm", "a": 1.5,
                                   "b": [float(v) - 0.7, float(v) + 0.7]}
                                  for i, v in enumerate(np.linspace(-1.5, 1.5, 15))])
    truth = {"high": (0.4, 0.9), "middle": (0.0, 1.0), "low": (-0.3, 1.1)}
    labels = np.repeat(list(truth), 2500)
    theta = np.concatenate([rng.normal(m, s, 2500) for m, s in truth.values()])
    fit = MML(model="grm", reference_group="middle", compute_se=False).fit(
        simulate_responses(bank, theta, rng), groups=labels)
    norms = level_norms(fit, labels, percentiles=(20.0, 80.0))
    assert set(norms) == set(truth) and norms["high"].n == 2500
    for level, (m, s) in truth.items():
        assert abs(norms[level].mean - m) < 0.08 and abs(norms[level].sd - s) < 0.08
        sample = rng.normal(norms[level].mean, norms[level].sd, 1_000_000)
        np.testing.assert_allclose(norms[level].cuts, np.percentile(sample, [20, 80]), atol=0.01)
    with pytest.raises(InvalidParameterError, match="percentiles"):
        level_norms(fit, labels, percentiles=(80.0, 20.0))
