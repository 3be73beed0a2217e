"""MML-EM against independent truth: simulated recovery, the marginal likelihood's own gradient
and Hessian (finite differences of engine code), coverage, girth, and bad input."""

import dataclasses
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from mirt_reference import load_data, load_fit  # noqa: E402

from qabilet.calibration import MML  # noqa: E402
from qabilet.engine.bank import ItemBank  # noqa: E402
from qabilet.engine.exceptions import ConvergenceWarning, InvalidResponseError  # noqa: E402
from qabilet.engine.latent import LatentDistribution  # noqa: E402
from qabilet.engine.models import (  # noqa: E402
    GeneralizedPartialCredit,
    GradedResponse,
    NominalResponse,
    TwoPL,
)
from qabilet.engine.scoring import marginal_loglik  # noqa: E402
from qabilet.engine.simulation import simulate_responses  # noqa: E402


def _simulate(model, n, seed, var=1.0):
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, np.sqrt(var), size=n)
    return simulate_responses(model, theta, rng)


def test_2pl_recovery():
    truth = TwoPL(np.linspace(0.7, 2.2, 15), np.linspace(-2.0, 2.0, 15))
    fit = MML(model="2pl").fit(_simulate(truth, 5000, 1))
    est = fit.bank.models[0]
    assert np.sqrt(np.mean((est.a - truth.a) ** 2)) < 0.08
    assert np.sqrt(np.mean((est.b - truth.b) ** 2)) < 0.08


@pytest.mark.parametrize("kind", ["grm", "gpcm", "nominal"])
def test_polytomous_recovery(kind):
    rng = np.random.default_rng(4)
    a = rng.uniform(0.8, 2.0, 10)
    steps = np.sort(rng.normal(0, 1, (10, 3)), axis=1)
    if kind == "grm":
        truth = GradedResponse(a, steps)
    elif kind == "gpcm":
        truth = GeneralizedPartialCredit(a, steps)
    else:
        ak = np.column_stack([np.zeros(10), rng.uniform(0.5, 1.2, 10), rng.uniform(1.5, 2.5, 10),
                              np.full(10, 3.0)])
        truth = NominalResponse.from_slope_intercept(a / 1.5, ak, GeneralizedPartialCredit(
            a / 1.5, steps).to_slope_intercept()["d"])
    fit = MML(model=kind).fit(_simulate(truth, 6000, 5))
    est = fit.bank.models[0]
    # compare category probabilities over θ (parameter-free, identical for every model)
    grid = np.linspace(-2.5, 2.5, 11)
    assert np.abs(est.prob(grid) - truth.prob(grid)).max() < 0.05
    assert fit.converged


def test_rasch_estimates_the_latent_variance():
    truth = TwoPL(np.ones(12), np.linspace(-1.5, 1.5, 12))
    fit = MML(model="rasch").fit(_simulate(truth, 6000, 2, var=2.25))
    assert fit.latent.cov[0, 0] == pytest.approx(2.25, rel=0.08)
    np.testing.assert_allclose(fit.bank.models[0].b, truth.b, atol=0.1)
    assert fit.reference.cov_se[0, 0] > 0


def test_1pl_estimates_one_common_slope():
    truth = TwoPL(np.full(12, 1.6), np.linspace(-1.5, 1.5, 12))
    fit = MML(model="1pl").fit(_simulate(truth, 5000, 3))
    a = fit.bank.models[0].a
    assert np.all(a == a[0])
    assert a[0] == pytest.approx(1.6, abs=0.08)
    assert fit.n_parameters == 13


def test_gradient_of_the_marginal_likelihood_vanishes_at_the_estimate():
    x = load_data("lsat7")
    fit = MML(model="2pl", tol=1e-7).fit(x)
    model = fit.bank.models[0]
    psi = model.param_vector()
    for i in range(model.n_items):
        for j in (0, 1):  # a1, d
            h = np.zeros_like(psi)
            h[i, j] = 1e-5
            g = (marginal_loglik(model.with_params(psi + h), x)
                 - marginal_loglik(model.with_params(psi - h), x)) / 2e-5
            assert abs(g) < 1e-3


def test_standard_errors_equal_the_inverse_numerical_hessian():
    # an independent route: second differences of the marginal likelihood (engine code)
    x = load_data("lsat7")
    fit = MML(model="2pl", tol=1e-8).fit(x)
    model = fit.bank.models[0]
    psi = model.param_vector()
    free = [(i, j) for i in range(model.n_items) for j in (0, 1)]
    h = 1e-4

    def ll(delta):
        return marginal_loglik(model.with_params(psi + delta), x)

    hess = np.empty((len(free), len(free)))
    for r, (i, j) in enumerate(free):
        for c, (k, m) in enumerate(free):
            e1, e2 = np.zeros_like(psi), np.zeros_like(psi)
            e1[i, j], e2[k, m] = h, h
            hess[r, c] = (ll(e1 + e2) - ll(e1 - e2) - ll(e2 - e1) + ll(-e1 - e2)) / (4 * h * h)
    se = np.sqrt(np.diag(np.linalg.inv(-hess)))
    ours = np.array([fit.items[i].slope_intercept_se()["a1" if j == 0 else "d"] for i, j in free])
    np.testing.assert_allclose(ours, se, rtol=2e-3)


def test_standard_error_coverage_near_95_percent():
    truth = TwoPL(np.linspace(0.8, 2.0, 8), np.linspace(-1.5, 1.5, 8))
    hits, total = 0, 0
    for rep in range(120):
        fit = MML(model="2pl").fit(_simulate(truth, 800, 1000 + rep))
        est = fit.bank.models[0]
        for i in range(8):
            for value, true, se in ((est.a[i], truth.a[i], fit.items[i].traditional_se_record()["a"]),
                                    (est.b[i], truth.b[i], fit.items[i].traditional_se_record()["b"])):
                hits += abs(value - true) <= 1.959964 * se
                total += 1
    assert 0.925 <= hits / total <= 0.975


def test_sparse_cat_like_data_calibrates():
    # each person answers 10 % of a 60-item bank (6 items), as adaptive-test data look
    rng = np.random.default_rng(9)
    truth = TwoPL(rng.uniform(0.8, 2.0, 60), rng.normal(0, 1, 60))
    x = _simulate(truth, 20000, 10)
    observed = np.zeros(x.shape, dtype=bool)
    picks = np.argsort(rng.random(x.shape), axis=1)[:, :6]
    np.put_along_axis(observed, picks, True, axis=1)
    fit = MML(model="2pl", compute_se=False).fit(x, observed)
    est = fit.bank.models[0]
    assert fit.converged
    assert np.sqrt(np.mean((est.b - truth.b) ** 2)) < 0.15
    assert np.sqrt(np.mean((est.a - truth.a) ** 2)) < 0.2


def test_mixed_models_in_one_calibration():
    rng = np.random.default_rng(12)
    two = TwoPL(rng.uniform(0.8, 2.0, 8), rng.normal(0, 1, 8))
    grm = GradedResponse(rng.uniform(0.8, 2.0, 4), np.sort(rng.normal(0, 1, (4, 3)), axis=1))
    theta = rng.normal(size=4000)
    x = np.hstack([simulate_responses(two, theta, rng), simulate_responses(grm, theta, rng)])
    fit = MML(model=["2pl"] * 8 + ["grm"] * 4).fit(x)
    assert fit.bank.model_names == ("2pl",) * 8 + ("grm",) * 4
    grid = np.linspace(-2, 2, 9)
    np.testing.assert_allclose(fit.bank.subset(range(8)).prob(grid)[..., :2], two.prob(grid),
                               atol=0.05)


def test_codes_are_recoded_in_sorted_order():
    truth = GradedResponse([1.2, 0.9, 1.5, 1.1, 0.8],
                           [[-1.0, 0.5], [-0.5, 1.0], [-1.5, 0.0], [0.0, 1.2], [-0.8, 0.8]])
    x = _simulate(truth, 2000, 13)
    coded = np.where(x == 0, 7, np.where(x == 1, 9, 12))  # any integer codes
    a = MML(model="grm").fit(x)
    b = MML(model="grm").fit(coded)
    assert [c.tolist() for c in b.categories] == [[7, 9, 12]] * 5
    np.testing.assert_allclose(b.bank.models[0].param_vector(), a.bank.models[0].param_vector())


def test_many_categories_are_stored_wider_and_too_many_refused():
    """Past 127 categories the recoded matrix is int16 (no wrap-around); past 32,767 refused."""
    from qabilet.calibration.mml import _recode

    codes = np.arange(300).reshape(150, 2) * 3  # 150 distinct codes per item
    resp, categories = _recode(codes, None, ["A", "B"])
    assert resp.x.dtype == np.int16 and resp.x.max() == 149 and categories[0].size == 150
    assert _recode(codes[:60], None, ["A", "B"])[0].x.dtype == np.int8
    wide = np.column_stack([np.arange(32_768) % 2, np.arange(32_768)])
    with pytest.raises(InvalidResponseError, match="item 'B': 32768 distinct codes; at most 32767"):
        _recode(wide, None, ["A", "B"])


@pytest.mark.parametrize("groups", [False, True])
def test_the_code_type_does_not_change_the_fit(groups):
    """Compact codes (a response file's int8, issue 17) fit bit for bit as int64 and float."""
    rng = np.random.default_rng(17)
    truth = TwoPL(rng.uniform(0.8, 2.0, 12), rng.normal(0, 1, 12))
    x = _simulate(truth, 3000, 17)
    observed = rng.random(x.shape) < 0.4
    labels = np.where(rng.random(3000) < 0.5, "kk", "ru").tolist() if groups else None
    fits = [MML(model=["2pl"] * 6 + ["3pl"] * 6, compute_se=False).fit(
                codes, observed, groups=labels)
            for codes in (x.astype(np.int64), x.astype(np.int8),
                          np.where(observed, x, np.nan))]
    for other in fits[1:]:
        assert other.loglik == fits[0].loglik
        for m, n in zip(other.bank.models, fits[0].bank.models, strict=True):
            np.testing.assert_array_equal(m.param_vector(), n.param_vector())


def test_matches_girth_2pl_on_the_same_data():
    girth = pytest.importorskip("girth")
    truth = TwoPL(np.linspace(0.8, 2.0, 10), np.linspace(-1.5, 1.5, 10))
    x = _simulate(truth, 3000, 21)
    ours = MML(model="2pl", compute_se=False).fit(x).bank.models[0]
    theirs = girth.twopl_mml(x.T.astype(int))  # girth: items first, θ ~ N(0, 1)
    # girth integrates on its own Gauss-Legendre grid; agreement is to that grid's accuracy
    np.testing.assert_allclose(ours.a, theirs["Discrimination"], atol=0.03)
    np.testing.assert_allclose(ours.b, theirs["Difficulty"], atol=0.03)


def test_constant_item_is_refused_by_name():
    x = np.array([[0, 1], [1, 1], [0, 1]])
    with pytest.raises(InvalidResponseError, match="item 'Q2': only the code 1"):
        MML().fit(x)


def test_convergence_warning():
    x = load_data("lsat7")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = MML(max_iter=2, compute_se=False).fit(x)
    assert any(issubclass(w.category, ConvergenceWarning) for w in caught)
    assert not fit.converged


def test_the_estimator_keeps_no_state_and_each_fit_its_own_result():
    est = MML(model="2pl", compute_se=False)
    config = dict(vars(est))
    first = est.fit(load_data("lsat7"))
    assert vars(est) == config  # neither the data nor anything of the fit stays on it
    second = est.fit(load_data("lsat6"))
    assert vars(est) == config
    assert second.loglik == pytest.approx(load_fit("lsat6", "2PL")["logLik"], abs=1e-3)
    assert first.loglik == pytest.approx(load_fit("lsat7", "2PL")["logLik"], abs=1e-3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.loglik = 0.0


def test_summary_and_mirt_table():
    fit = MML(model="2pl").fit(load_data("lsat7"), item_ids=[f"I{k}" for k in range(5)])
    text = fit.summary()
    assert "log-likelihood" in text and "I4" in text
    rows = fit.mirt_table()
    assert [r["item"] for r in rows] == [f"I{k}" for k in range(5)]
    assert set(rows[0]) == {"item", "a1", "d", "g", "u"}
    np.testing.assert_allclose([r["d"] for r in rows], -fit.bank.models[0].a * fit.bank.models[0].b)


def test_latent_distribution_is_standard_for_2pl():
    fit = MML(model="2pl", compute_se=False).fit(load_data("lsat7"))
    assert fit.latent == LatentDistribution([0.0], [[1.0]])


def test_degenerate_data_is_handled_without_nan():
    rng = np.random.default_rng(40)
    truth = GradedResponse(rng.uniform(0.8, 2, 6), np.sort(rng.normal(0, 1, (6, 3)), axis=1))
    x = _simulate(truth, 1500, 41).astype(float)
    x[:20] = np.nan  # persons with no response at all
    x[:, 2] = np.where(x[:, 2] == 1, 2, x[:, 2])  # category 1 of item 3 never used
    fit = MML(model="grm").fit(x)
    assert fit.categories[2].tolist() == [0, 2, 3]  # the unused code is dropped, as mirt does
    assert fit.bank.n_categories[2] == 3
    values = [v for rec in fit.bank.to_records() for k, v in rec.items() if k in ("a", "b")]
    flat = np.concatenate([np.atleast_1d(v) for v in values])
    assert np.all(np.isfinite(flat))
    assert np.isfinite(fit.loglik)
    assert all(np.isfinite(v) for item in fit.items for v in item.slope_intercept_se().values())
    # persons without responses add nothing to the likelihood: same fit without them
    again = MML(model="grm").fit(x[20:])
    assert again.loglik == pytest.approx(fit.loglik, abs=1e-6)


def test_dataframe_input_uses_its_columns_and_nan_as_missing():
    pd = pytest.importorskip("pandas")
    x = load_data("lsat7")
    x[:5, 0] = np.nan
    frame = pd.DataFrame(x, columns=[f"item{i}" for i in range(5)])
    fit = MML(model="2pl", compute_se=False).fit(frame)
    assert fit.bank.item_ids == tuple(frame.columns)
    direct = MML(model="2pl", compute_se=False).fit(x, ~np.isnan(x))
    np.testing.assert_allclose(fit.bank.models[0].param_vector(),
                               direct.bank.models[0].param_vector(), rtol=0, atol=1e-12)


def test_rating_scale_recovery_and_stationarity():
    from qabilet.engine.models import RatingScale

    rng = np.random.default_rng(3)
    truth = RatingScale(rng.normal(0, 1, 12), [-1.2, -0.3, 0.4, 1.1])
    x = simulate_responses(truth, rng.normal(0, 1.3, size=4000), rng)
    fit = MML(model="rsm", tol=1e-7).fit(x)
    est = fit.bank.models[0]
    assert fit.n_parameters == 12 + 3 + 1  # locations, thresholds (sum zero), variance
    np.testing.assert_allclose(est.tau, truth.tau, atol=0.05)
    assert np.sqrt(np.mean((est.location - truth.location) ** 2)) < 0.06
    assert fit.latent.cov[0, 0] == pytest.approx(1.69, rel=0.08)
    assert est.tau.sum() == pytest.approx(0.0, abs=1e-12)
    # the marginal likelihood (engine code) is stationary in every location and threshold
    psi = est.param_vector()
    for j in range(1, psi.shape[1]):
        for rows in ([0], [5]) if j == 1 else (slice(None),):
            h = np.zeros_like(psi)
            h[rows, j] = 1e-5
            g = (marginal_loglik(est.with_params(psi + h), x, latent=fit.latent)
                 - marginal_loglik(est.with_params(psi - h), x, latent=fit.latent)) / 2e-5
            assert abs(g) < 1e-2
    assert len(fit.items[0].traditional_se_record()["tau"]) == 4


def test_nominal_items_in_any_option_order_are_recovered():
    """Situational-judgement items whose last option is not the most indicative one: started
    from the data (category means of a trait proxy), EM leaves the a1 = 0 ridge, the category
    slopes are recovered and the groups' variances stay right (they were 1.5–2.7 before)."""
    rng = np.random.default_rng(31)
    grm = [{"id": f"L{i}", "model": "grm", "a": 1.6, "b": [v - 1.0, v, v + 1.0]}
           for i, v in enumerate(np.linspace(-1, 1, 12))]
    orders = [[0.0, -2.7, -0.9, -1.8], [0.0, -0.7, 0.7, -1.4], [0.0, -1.3, 0.6, -0.6],
              [0.0, 1.5, 1.0, 0.5], [0.0, 0.6, 1.9, 1.3]]
    nominal = [{"id": f"S{i}", "model": "nominal", "a": 1.0, "ak": ak,
                "d": [0.0, 0.3, -0.2, 0.1]} for i, ak in enumerate(orders)]
    bank = ItemBank.from_records(grm + nominal)
    labels = np.repeat(["a", "b"], 3000)
    theta = np.concatenate([rng.normal(0, 1, 3000), rng.normal(0.4, 1, 3000)])
    x = simulate_responses(bank, theta, rng)
    fit = MML(model={r["id"]: r["model"] for r in grm + nominal}, reference_group="a",
              compute_se=False).fit(x, item_ids=list(bank.item_ids), groups=labels)
    b = fit.group("b").latent
    assert abs(b.mean[0] - 0.4) < 0.08 and abs(b.cov[0, 0] - 1.0) < 0.12
    fitted = fit.bank.to_records()
    for k, ak in enumerate(orders):
        slopes = np.asarray(fitted[12 + k]["a"])
        np.testing.assert_allclose(slopes, ak, atol=0.2)
