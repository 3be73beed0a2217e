"""The CalibrationResult of MML.fit: arrays aligned to the parameter names, SEs against the
covariance of the estimates (delta method recomputed here), the latent SEs, to_frame."""

import dataclasses
import sys

import numpy as np
import pytest

from qabilet.calibration import MML, CalibrationResult
from qabilet.engine.models import GradedResponse, TwoPL
from qabilet.engine.simulation import simulate_responses

IDS = [f"Q{i + 1}" for i in range(6)]


@pytest.fixture(scope="module")
def two_pl():
    truth = TwoPL(np.linspace(0.8, 1.8, 6), np.linspace(-1.2, 1.2, 6))
    x = simulate_responses(truth, np.random.default_rng(3).normal(size=2000), rng=4)
    return MML(model="2pl").fit(x, item_ids=IDS)


@pytest.fixture(scope="module")
def graded():
    truth = GradedResponse(np.linspace(0.9, 1.6, 4), [[-1.0, 0.0, 1.2]] * 4)
    x = simulate_responses(truth, np.random.default_rng(5).normal(size=2000), rng=6)
    return MML(model="grm").fit(x)


def test_arrays_are_aligned_and_se_is_nan_exactly_where_nothing_was_estimated(two_pl):
    assert isinstance(two_pl, CalibrationResult)
    for item, model in zip(two_pl.items, two_pl.bank.models[0].param_vector(), strict=True):
        assert item.names == ("a1", "d", "g", "u")
        assert item.values.shape == item.se.shape == item.index.shape == (4,)
        np.testing.assert_array_equal(item.values, model)
        assert (np.isnan(item.se) == (item.index < 0)).all()
        assert item.index[2] == item.index[3] == -1  # c = 0, u = 1: fixed in a 2PL
        # the SE of an estimated entry is the root of its covariance diagonal
        ix = item.index[:2]
        np.testing.assert_allclose(item.se[:2], np.sqrt(np.diag(two_pl.covariance)[ix]), rtol=1e-12)


def test_traditional_standard_errors_are_the_delta_method_on_the_covariance(two_pl):
    for item in two_pl.items:
        a, d = item.values[:2]
        cov = two_pl.covariance[np.ix_(item.index[:2], item.index[:2])]
        grad_b = np.array([d / a**2, -1.0 / a])  # b = −d/a
        assert item.traditional_names == ("a", "b")
        np.testing.assert_allclose(item.traditional_values, [a, -d / a], rtol=1e-12)
        np.testing.assert_allclose(item.traditional_se,
                                   [np.sqrt(cov[0, 0]), np.sqrt(grad_b @ cov @ grad_b)], rtol=1e-9)


def test_graded_thresholds_are_named_like_the_record(graded):
    item = graded.items[0]
    assert item.names == ("a1", "d1", "d2", "d3")
    assert item.traditional_names == ("a", "b[0]", "b[1]", "b[2]")
    record = graded.bank.to_records()[0]
    np.testing.assert_allclose(item.traditional_values, [record["a"], *record["b"]], rtol=1e-12)
    shaped = item.traditional_se_record()
    assert set(shaped) == {"a", "b"} and len(shaped["b"]) == 3


def test_latent_standard_errors_of_an_estimated_variance():
    truth = TwoPL(np.ones(8), np.linspace(-1.5, 1.5, 8))
    x = simulate_responses(truth, np.random.default_rng(7).normal(0, 1.3, size=2000), rng=8)
    result = MML(model="rasch").fit(x)
    g = result.reference
    assert not g.mean_estimated[0] and g.cov_estimated[0, 0]
    assert np.isnan(g.mean_se[0]) and 0 < g.cov_se[0, 0] < 0.2
    var = g.latent.cov[0, 0]
    iv = result.n_parameters - 1  # the last estimated parameter: log v
    assert g.cov_se[0, 0] == pytest.approx(var * np.sqrt(result.covariance[iv, iv]), rel=1e-12)
    assert "latent variance estimated, SE" in result.method()
    assert "Latent distribution" not in result.summary()  # one group, no anchors: no table


def test_the_result_is_frozen_and_to_frame_lists_every_parameter(two_pl):
    with pytest.raises(dataclasses.FrozenInstanceError):
        two_pl.converged = False
    frame = two_pl.to_frame()
    assert list(frame.columns) == ["group", "item", "model", "form", "parameter", "estimate", "se",
                                   "estimated"]
    assert len(frame) == 6 * (4 + 2)
    q3 = frame[(frame.item == "Q3") & (frame.form == "traditional")]
    assert q3.parameter.tolist() == ["a", "b"]
    np.testing.assert_allclose(q3.se, two_pl.items[2].traditional_se)
    assert frame[frame.parameter == "g"].estimated.sum() == 0


def test_to_frame_without_pandas_says_what_is_missing(two_pl, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="to_frame needs pandas"):
        two_pl.to_frame()
