"""What calibration derives from the models' declarations, against independent truth.

The number of estimated parameters per model is the textbook (and mirt's) count; the prior kinds
follow docs/design.md §5; the delta-method standard errors of the traditional parameters are
checked against gradients of the conversions written out here by hand.
"""

import numpy as np
import pytest

from qabilet.calibration._design import SUPPORTED, VARIANCE_FREE, block_design
from qabilet.calibration.mml import traditional_standard_errors
from qabilet.calibration.priors import columns_for, models_estimating
from qabilet.engine.models import ThreePL, model_names
from tests.engine.model_zoo import make_models

N = 3
MODELS = make_models(three_each=True)


def estimated(model):
    return np.unique(block_design(model, 0).index[block_design(model, 0).index >= 0]).size


def test_calibration_estimates_every_registered_model():
    assert set(SUPPORTED) == set(model_names()) == set(MODELS)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_number_of_estimated_parameters_is_the_textbook_count(name):
    """Per item: rasch d; 1pl d and one common slope; 2pl a, d; 3pl +g; 4pl +u; grm a and K−1
    intercepts; gpcm a and K−1 steps; pcm K−1 steps; rsm a location per item and K−2 free
    thresholds (they sum to 0); nominal a, K−2 free scoring values, K−1 intercepts."""
    model = MODELS[name]
    k = model.n_categories
    expected = {
        "rasch": N, "1pl": N + 1, "2pl": 2 * N, "3pl": 3 * N, "4pl": 4 * N,
        "grm": int(k.sum()), "gpcm": int(k.sum()), "pcm": int((k - 1).sum()),
        "rsm": N + int(k[0]) - 2, "nominal": int((2 * k - 2).sum()),
    }[name]
    assert estimated(model) == expected


def test_the_latent_variance_is_free_where_the_slopes_are_fixed():
    assert VARIANCE_FREE == {"rasch", "pcm", "rsm"}


def test_tied_parameters_share_one_index():
    one_pl = block_design(MODELS["1pl"], 5)
    assert one_pl.tied and np.unique(one_pl.index[:, 0]).tolist() == [5 + N]
    rsm = block_design(MODELS["rsm"], 0)
    taus = [j for j, n in enumerate(MODELS["rsm"].param_names()) if n.startswith("tau")]
    assert rsm.tied and all(np.unique(rsm.index[:, j]).size == 1 for j in taus)
    assert not block_design(MODELS["2pl"], 0).tied


def test_only_the_asymptotes_are_estimated_on_the_logit_scale():
    for name, model in MODELS.items():
        logit = block_design(model, 0).logit_cols
        assert [n for n, on in zip(model.param_names(), logit) if on] == (
            ["g", "u"] if name in ("2pl", "3pl", "4pl", "1pl", "rasch") else []), name


def test_prior_kinds_apply_to_the_models_that_estimate_them():
    assert set(models_estimating("a")) == {"1pl", "2pl", "3pl", "4pl", "grm", "gpcm", "nominal"}
    assert set(models_estimating("d")) == set(MODELS) - {"rsm"}
    assert set(models_estimating("c")) == {"3pl", "4pl"}
    assert set(models_estimating("u")) == {"4pl"}
    names = MODELS["4pl"].param_names()
    assert [names[j] for j in columns_for("c", MODELS["4pl"])] == ["g"]
    assert [names[j] for j in columns_for("u", MODELS["4pl"])] == ["u"]
    nominal = MODELS["nominal"].param_names()
    assert [nominal[j] for j in columns_for("a", MODELS["nominal"])] == ["a1"]  # not ak
    assert [nominal[j] for j in columns_for("d", MODELS["nominal"])] == ["d0", "d1", "d2", "d3"]


# -- the delta method --------------------------------------------------------------------------
def covariance(n, seed=0):
    """A random covariance matrix (symmetric positive definite)."""
    m = np.random.default_rng(seed).normal(size=(n, n)) * 0.1
    return m @ m.T + 0.01 * np.eye(n)


def standard_errors(model, seed=0):
    design = block_design(model, 0)
    cov = covariance(int(design.index.max()) + 1, seed)
    se = np.where(design.index >= 0, np.sqrt(np.diag(cov))[np.maximum(design.index, 0)], np.nan)
    return design.index, cov, traditional_standard_errors(model, design.index, se, cov)


def delta(grad, idx, cov):
    """√(g Σ g) over the estimated entries: grad {column: ∂/∂column}, idx {column: φ index}."""
    keys = [k for k in grad if idx[k] >= 0]
    g = np.array([grad[k] for k in keys])
    rows = [idx[k] for k in keys]
    return float(np.sqrt(g @ cov[np.ix_(rows, rows)] @ g))


def by_name(model, index, i):
    return dict(zip(model.param_names(), index[i], strict=True)), dict(
        zip(model.param_names(), model.param_vector()[i], strict=True))


@pytest.mark.parametrize("name", ["rasch", "1pl", "2pl", "3pl", "4pl"])
def test_dichotomous_b_is_minus_d_over_a(name):
    model = MODELS[name]
    index, cov, se = standard_errors(model)
    for i in range(N):
        idx, psi = by_name(model, index, i)
        a, d = psi["a1"], psi["d"]
        np.testing.assert_allclose(se["b"][i], delta({"a1": d / a**2, "d": -1 / a}, idx, cov),
                                   rtol=1e-9)
        if "a" in se:
            np.testing.assert_allclose(se["a"][i], np.sqrt(cov[idx["a1"], idx["a1"]]), rtol=1e-12)
        if "c" in se:
            np.testing.assert_allclose(se["c"][i], np.sqrt(cov[idx["g"], idx["g"]]), rtol=1e-12)
    assert ("a" in se) == (name != "rasch")  # the Rasch slope is not in the record


def test_graded_and_partial_credit_thresholds():
    grm = MODELS["grm"]
    index, cov, se = standard_errors(grm, 1)
    for i in range(N):
        idx, psi = by_name(grm, index, i)
        a = psi["a1"]
        expect = [delta({"a1": psi[f"d{k}"] / a**2, f"d{k}": -1 / a}, idx, cov)
                  for k in range(1, int(grm.n_categories[i]))]
        np.testing.assert_allclose(se["b"][i], expect, rtol=1e-9)
    for name in ("gpcm", "pcm"):  # b_k = −(d_k − d_{k−1}) / a
        model = MODELS[name]
        index, cov, se = standard_errors(model, 2)
        for i in range(N):
            idx, psi = by_name(model, index, i)
            a = psi["a1"]
            expect = [delta({"a1": (psi[f"d{k}"] - psi[f"d{k - 1}"]) / a**2, f"d{k}": -1 / a,
                             f"d{k - 1}": 1 / a}, idx, cov)
                      for k in range(1, int(model.n_categories[i]))]
            np.testing.assert_allclose(se["b"][i], expect, rtol=1e-9)


def test_rating_scale_thresholds_the_last_minus_the_sum_of_the_others():
    model = MODELS["rsm"]
    index, cov, se = standard_errors(model, 3)
    idx, _ = by_name(model, index, 0)
    taus = ["tau1", "tau2"]
    expect = [delta({"tau1": 1.0}, idx, cov), delta({"tau2": 1.0}, idx, cov),
              delta({t: -1.0 for t in taus}, idx, cov)]
    for i in range(N):
        np.testing.assert_allclose(se["tau"][i], expect, rtol=1e-9)
        np.testing.assert_allclose(se["b"][i], np.sqrt(cov[index[i, 1], index[i, 1]]), rtol=1e-12)


def test_nominal_category_slopes_are_products_and_the_reference_is_not_estimated():
    model = MODELS["nominal"]
    index, cov, se = standard_errors(model, 4)
    for i in range(N):
        idx, psi = by_name(model, index, i)
        k = int(model.n_categories[i])
        expect = [np.nan] + [delta({"a1": psi[f"ak{c}"], f"ak{c}": psi["a1"]}, idx, cov)
                             for c in range(1, k)]
        np.testing.assert_allclose(se["a"][i], expect, rtol=1e-9)
        assert np.isnan(se["d"][i][0]) and se["d"][i].size == k
        rows = [idx[f"d{c}"] for c in range(1, k)]  # the intercepts' own standard errors
        np.testing.assert_array_equal(se["d"][i][1:], np.sqrt(np.diag(cov))[rows])


def test_an_item_with_nothing_estimated_has_no_standard_errors():
    model = MODELS["2pl"]
    index = np.full((N, 4), -1)
    out = traditional_standard_errors(model, index, np.full((N, 4), np.nan), np.eye(1))
    assert all(np.isnan(v).all() for rows in out.values() for v in rows)


def test_default_priors_on_the_estimated_asymptotes():
    from qabilet.calibration.priors import DEFAULT_PRIORS, Beta

    assert DEFAULT_PRIORS == {"3pl": {"c": Beta(5.0, 17.0)},
                              "4pl": {"c": Beta(5.0, 17.0), "u": Beta(17.0, 5.0)}}


# -- a model added in one place ------------------------------------------------------------------
@pytest.fixture
def common_guessing():
    """A 3PL whose lower asymptote is one parameter shared by every item, declared and nothing
    else: its records, parameter file, design, starting values and SEs come from the declaration."""
    from dataclasses import replace

    from qabilet.engine.models import Column, Field, registry
    from qabilet.engine.models._declaration import with_slopes

    c = Field("c", "number", same_as="g")

    @registry.register
    class CommonGuessing(ThreePL):
        name = "3pl-common-c"
        PARAMETERS = with_slopes(
            "free",
            columns=(Column("d", "intercept", prior="d"),
                     Column("g", "lower asymptote", estimated="tied", prior="c",
                            bounds=(0.0, 1.0)),
                     replace(ThreePL.PARAMETERS.columns[3])),  # u, fixed at 1
            traditional=(Field("b", "number"), c),
            slope_intercept=(Field("d", "number", same_as="d"), c),
            n_categories=2)

    yield CommonGuessing
    registry._REGISTRY.pop(CommonGuessing.name)


def test_a_model_declared_once_is_calibrated_and_written(common_guessing, tmp_path):
    from qabilet.calibration import MML
    from qabilet.calibration_file import write_calibration
    from qabilet.engine.simulation import simulate_responses
    from qabilet.itembank.parameter_file import read_parameter_file

    n = 8
    truth = common_guessing(np.linspace(1.0, 2.2, n), np.linspace(-1.0, 1.5, n), np.full(n, 0.2))
    x = simulate_responses(truth, np.random.default_rng(7).normal(size=4000), rng=8)
    result = MML(model="3pl-common-c").fit(x)
    assert result.converged and result.n_parameters == 2 * n + 1  # one shared asymptote
    c = result.bank.models[0].c
    assert np.unique(c).size == 1 and abs(c[0] - 0.2) < 0.1
    se_c = [item.traditional_se_record()["c"] for item in result.items]
    assert np.unique(se_c).size == 1 and 0 < se_c[0] < 0.1
    path = tmp_path / "common.json"
    write_calibration(path, result)
    back = read_parameter_file(path).to_bank()
    assert back.model_names == ("3pl-common-c",) * n
    theta = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(back.log_prob(theta), result.bank.log_prob(theta), atol=1e-12)
