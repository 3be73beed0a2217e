"""The one writer of a calibration result as a parameter file (qabilet.calibration_file), which
``qabilet calibrate --out`` and the API's calibration jobs share."""

import numpy as np
import pytest

from qabilet.calibration import MML
from qabilet.calibration_file import (
    calibration_parameter_file,
    record_standard_errors,
    write_calibration,
)
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.models import GradedResponse
from qabilet.itembank.parameter_file import read_parameter_file

IDS = ["G1", "G2", "G3", "G4"]


@pytest.fixture(scope="module")
def graded():
    truth = GradedResponse(np.linspace(0.9, 1.6, 4), [[-1.0, 0.0, 1.2]] * 4)
    x = simulate(truth)
    x[x[:, 0] == 1, 0] = 2  # G1 never answers category 1
    return x, MML(model="grm").fit(x, item_ids=IDS)


def simulate(truth):
    from qabilet.engine.simulation import simulate_responses

    return simulate_responses(truth, np.random.default_rng(1).normal(size=1500), rng=2)


def test_the_file_holds_the_results_items_fit_and_standard_errors(graded, tmp_path):
    x, result = graded
    path = tmp_path / "params.json"
    write_calibration(path, result, method="test")
    pf = read_parameter_file(path)
    bank = pf.to_bank()
    theta = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(bank.log_prob(theta), result.bank.log_prob(theta), atol=1e-12)
    assert (pf.loglik, pf.aic, pf.bic, pf.n_iter, pf.converged, pf.method) == (
        result.loglik, result.aic, result.bic, result.n_iter, result.converged, "test")
    for item, est in zip(pf.items, result.items, strict=True):
        assert item.se == est.traditional_se_record()  # the very numbers (JSON keeps floats)
    # the codes the calibration saw, in sorted order (G1 lost its category 1)
    assert pf.recodings()["G1"] == (0, 2, 3) and pf.recodings()["G2"] == (0, 1, 2, 3)
    assert calibration_parameter_file(result).method == result.method()


def test_codes_applied_before_the_calibration_are_mapped_back(graded):
    """A bank version's codes [10, 20, 30, 40] for categories 0..3: G1 saw 0, 2, 3 only."""
    _, result = graded
    codes = {i: [10, 20, 30, 40] for i in IDS}
    pf = calibration_parameter_file(result, codes=codes)
    assert pf.recodings()["G1"] == (10, 30, 40)
    assert pf.recodings()["G2"] == (10, 20, 30, 40)
    pf.to_bank()  # three categories, three codes


def test_standard_errors_of_nominal_and_multidimensional_records():
    from qabilet.engine.models import NominalResponse, TwoPL

    rng = np.random.default_rng(4)
    nominal = NominalResponse.from_slope_intercept(
        np.full(5, 1.0), [[0.0, 1.0, 2.0]] * 5, [[0.0, 0.5, -0.3]] * 5)
    x = simulate_responses_nominal(nominal, rng)
    result = MML(model="nominal").fit(x)
    item, record = result.items[0], result.bank.to_records()[0]
    se = record_standard_errors(item, record)
    assert list(se) == ["d"] and np.isnan(se["d"][0])  # d_0 = 0 is fixed
    assert se["d"][1:] == [item.slope_intercept_se()["d1"], item.slope_intercept_se()["d2"]]
    truth = TwoPL.from_slope_intercept(np.column_stack([np.r_[np.ones(4), np.zeros(4)],
                                                        np.r_[np.zeros(4), np.ones(4)]]),
                                       np.linspace(-1, 1, 8))
    x = simulate_responses_nominal(truth, rng, n_dims=2)
    ids = [f"M{i}" for i in range(8)]
    multi = MML(model="2pl", dims={"A": ids[:4], "B": ids[4:]}).fit(x, item_ids=ids)
    item, record = multi.items[5], multi.bank.to_records()[5]
    se = record_standard_errors(item, record)
    assert np.isnan(se["a"][0]) and se["a"][1] == item.slope_intercept_se()["a2"]
    assert se["d"] == item.slope_intercept_se()["d"]


def test_values_outside_their_domain_write_nothing(graded, tmp_path, monkeypatch):
    import qabilet.itembank.parameter_file as parameter_file
    from qabilet.engine.exceptions import DataFileError

    _, result = graded

    def refuse(self, group=None):
        raise DataFileError("items[0] ('G1'): c must be in [0, 1)")

    monkeypatch.setattr(parameter_file.ParameterFile, "to_bank", refuse)
    path = tmp_path / "never.json"
    with pytest.raises(InvalidParameterError, match=f"domain; {path} not written: "):
        write_calibration(path, result)
    assert not path.exists()


def simulate_responses_nominal(model, rng, n_dims=1):
    from qabilet.engine.simulation import simulate_responses

    theta = rng.normal(size=(2000, n_dims)) if n_dims > 1 else rng.normal(size=2000)
    return simulate_responses(model, theta, rng)
