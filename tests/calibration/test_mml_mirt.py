"""Calibration against R's mirt 1.47 on published data (tests/data/mirt; see its README).

What must hold (issue 3): the log-likelihood at our optimum ≥ mirt's − 1e-3; every parameter
within 0.01 of mirt's; standard errors within 5 % of mirt's Oakes standard errors.

Documented exceptions:

* In the Science GRM and GPCM fits mirt stopped (its TOL is 1e-4 on the parameter change per EM
  cycle) before the optimum along flat ridges: our log-likelihood is higher (by 1.2e-4 and
  1.4e-3) and the intercepts of 'Future' (GRM, GPCM) and 'Comfort' (GPCM) differ by 0.011 to
  0.08. Those items are checked by an independent argument instead: the finite-difference
  gradient of the marginal likelihood (engine code, not the EM) vanishes at our estimate and not
  at mirt's.
* mirt's delta-method SE of the first GPCM step b1 disagrees with the delta method applied to
  the same covariance that reproduces mirt's slope-intercept SEs and its b2, b3 SEs (within 1 %);
  b1 is left out of the comparison.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from mirt_reference import load_data, load_fit, model_of  # noqa: E402

from qabilet.calibration import MML  # noqa: E402
from qabilet.engine.scoring import marginal_loglik  # noqa: E402

CASES = [
    ("lsat6", "Rasch", "rasch"),
    ("lsat6", "2PL", "2pl"),
    ("lsat7", "Rasch", "rasch"),
    ("lsat7", "2PL", "2pl"),
    ("sat12", "2PL", "2pl"),
    ("science", "GRM", "grm"),
    ("science", "GPCM", "gpcm"),
]

NOT_AT_MIRT_OPTIMUM = {
    ("science", "GRM"): ["Future"],
    ("science", "GPCM"): ["Comfort", "Future"],
}


@pytest.fixture(scope="module")
def fits():
    out = {}
    for dataset, fit_name, model in CASES:
        ref = load_fit(dataset, fit_name)
        out[dataset, fit_name] = (MML(model=model).fit(load_data(dataset), item_ids=ref["columns"]), ref)
    return out


def _free_params(fit, ref):
    """(ours, mirt's) slope-intercept parameters by item and mirt's names, free ones only."""
    ours, mirt = {}, {}
    table = {row["item"]: row for row in fit.mirt_table()}
    for item in ref["columns"]:
        for name, value in ref["slope_intercept"][item].items():
            if name in fit.items[ref["columns"].index(item)].slope_intercept_se():
                ours[item, name] = table[item][name]
                mirt[item, name] = value
    return ours, mirt


@pytest.mark.parametrize("dataset, fit_name, model", CASES)
def test_loglik_at_least_mirts(fits, dataset, fit_name, model):
    fit, ref = fits[dataset, fit_name]
    assert fit.converged
    assert fit.loglik >= ref["logLik"] - 1e-3
    assert fit.loglik <= ref["logLik"] + 2e-3  # the same optimum, not a different model


@pytest.mark.parametrize("dataset, fit_name, model", CASES)
def test_parameters_within_001_of_mirt(fits, dataset, fit_name, model):
    fit, ref = fits[dataset, fit_name]
    ours, mirt = _free_params(fit, ref)
    assert len(ours) >= len(ref["columns"])
    skip = NOT_AT_MIRT_OPTIMUM.get((dataset, fit_name), [])
    for key in ours:
        if key[0] in skip:
            continue
        assert ours[key] == pytest.approx(mirt[key], abs=0.01), key
    if fit_name == "Rasch":  # the estimated latent variance
        assert fit.latent.cov[0, 0] == pytest.approx(ref["group"]["cov"][0][0], abs=0.01)


@pytest.mark.parametrize(
    "fit_name, item_name, columns",
    [("GRM", "Future", (0, 1, 2, 3)), ("GPCM", "Future", (0, 6, 7, 8)),
     ("GPCM", "Comfort", (0, 6, 7, 8))],
)
def test_mirt_stopped_before_the_optimum(fits, fit_name, item_name, columns):
    # columns: a1, d1, d2, d3 in each layout (GRM: a1, d1..3; GPCM: a1, ak0..3, d0..3)
    assert item_name in NOT_AT_MIRT_OPTIMUM["science", fit_name]
    fit, ref = fits["science", fit_name]
    x = load_data("science")
    mirt_model, _ = model_of(ref)
    ours = fit.bank.models[0]
    item = ref["columns"].index(item_name)

    def gradient(model):
        psi = model.param_vector()
        out = []
        for j in columns:
            h = np.zeros_like(psi)
            h[item, j] = 1e-5
            up = marginal_loglik(model.with_params(psi + h), x)
            dn = marginal_loglik(model.with_params(psi - h), x)
            out.append((up - dn) / 2e-5)
        return np.abs(out)

    assert [ours.param_names()[j] for j in columns] == ["a1", "d1", "d2", "d3"]
    assert gradient(ours).max() < 5e-4
    assert gradient(mirt_model).max() > 2e-3
    assert fit.loglik > ref["logLik"] + 1e-4


@pytest.mark.parametrize("dataset, fit_name, model", CASES)
def test_standard_errors_within_5_percent_of_mirt_oakes(fits, dataset, fit_name, model):
    fit, ref = fits[dataset, fit_name]
    se_ref = ref["standard_errors"]["slope_intercept"]
    for i, item in enumerate(ref["columns"]):
        for name, value in se_ref[item].items():
            ours = fit.items[i].slope_intercept_se()
            assert ours[name] == pytest.approx(value, rel=0.05), (item, name)
    trad_ref = ref["standard_errors"]["irt_parameterization"]
    for i, item in enumerate(ref["columns"]):
        ours = fit.items[i].traditional_se_record()
        if "b" in trad_ref[item]:
            assert ours["b"] == pytest.approx(trad_ref[item]["b"], rel=0.05), item
        for k in range(1, 5):
            if fit_name == "GPCM" and k == 1:
                continue  # see the module docstring
            if f"b{k}" in trad_ref[item]:
                assert ours["b"][k - 1] == pytest.approx(trad_ref[item][f"b{k}"], rel=0.05), item
