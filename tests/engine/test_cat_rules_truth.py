"""The adaptive rules against independent computations: brute-force sums, numerical integrals,
exposure targets over 10,000 simulees, and classification error rates."""

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import expit

from qabilet.engine.bank import ItemBank
from qabilet.engine.cat import (
    Blueprint,
    CatContext,
    NextItem,
    Stop,
    next_item,
    record,
    simulate_cat,
    start,
)
from qabilet.engine.cat.estimation import snapshot
from qabilet.engine.cat.exposure import strata
from qabilet.engine.cat.selection import selection_rule
from qabilet.engine.cat.sympson_hetter import derive_sympson_hetter, draw_per_class
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.models import TwoPL


def bank_of(n_items, seed=3):
    rng = np.random.default_rng(seed)
    a, b = rng.lognormal(0, 0.3, n_items), rng.normal(0, 1.2, n_items)
    return ItemBank([TwoPL(a, b)], [f"I{i}" for i in range(n_items)]), a, b


def snap_after(ctx, given, answers):
    """A one-session snapshot after answering ``given`` with ``answers``."""
    n_items = ctx.bank.n_items
    ll = ctx.answer_log_lik(np.asarray(given), np.asarray(answers)).sum(axis=0)[None, :]
    x = np.zeros((1, n_items), int)
    x[0, given] = answers
    adm = np.zeros((1, n_items), bool)
    adm[0, given] = True
    return snapshot(ctx, ll, x, adm, adm)


@pytest.fixture(scope="module")
def setting():
    bank, a, b = bank_of(25)
    ctx = CatContext.build(bank, Blueprint(n_points=121))
    snap = snap_after(ctx, [0, 3, 7], [1, 0, 1])
    nodes = ctx.grid.nodes[:, 0]
    w = np.exp(snap.log_lik[0] + ctx.grid.log_weights)
    return bank, a, b, ctx, snap, nodes, w / w.sum()


def test_mpwi_is_the_posterior_mean_of_the_information(setting):
    bank, a, b, ctx, snap, nodes, w = setting
    got = selection_rule("mpwi").scores(ctx, snap, np.random.default_rng(0))[0]
    for i in (1, 5, 20):  # brute force, item by item
        p = expit(a[i] * (nodes - b[i]))
        assert got[i] == pytest.approx(np.sum(w * a[i] ** 2 * p * (1 - p)), rel=1e-12)


def test_mepv_is_minus_the_expected_posterior_variance(setting):
    bank, a, b, ctx, snap, nodes, w = setting
    got = selection_rule("mepv").scores(ctx, snap, np.random.default_rng(0))[0]
    for i in (1, 5, 20):
        p1 = expit(a[i] * (nodes - b[i]))
        epv = 0.0
        for pk in (1 - p1, p1):  # update the posterior with each answer, weigh its variance
            post = w * pk
            prob = post.sum()
            post /= prob
            mean = np.sum(post * nodes)
            epv += prob * np.sum(post * (nodes - mean) ** 2)
        assert got[i] == pytest.approx(-epv, rel=1e-10)


def test_kl_equals_the_integral_of_the_divergence():
    bank, a, b = bank_of(25)
    ctx = CatContext.build(bank, Blueprint(n_points=2401))  # fine grid: the rectangle rule is close
    snap = snap_after(ctx, [0, 3, 7, 9], [1, 0, 1, 1])
    got = selection_rule("kl").scores(ctx, snap, np.random.default_rng(0))[0]
    th = float(snap.theta[0])
    delta = 3 / np.sqrt(4)

    def divergence(t, i):
        p, q = expit(a[i] * (th - b[i])), expit(a[i] * (t - b[i]))
        return p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))

    for i in (1, 5, 20):
        exact = quad(divergence, th - delta, th + delta, args=(i,))[0]
        assert got[i] == pytest.approx(exact, rel=5e-3)


def test_klp_is_the_posterior_mean_of_the_divergence(setting):
    bank, a, b, ctx, snap, nodes, w = setting
    got = selection_rule("klp").scores(ctx, snap, np.random.default_rng(0))[0]
    th = float(snap.theta[0])
    for i in (1, 5, 20):
        p, q = expit(a[i] * (th - b[i])), expit(a[i] * (nodes - b[i]))
        kl = p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))
        assert got[i] == pytest.approx(np.sum(w * kl), rel=1e-10)


def test_sympson_hetter_keeps_exposure_below_target_for_10000_simulees():
    bank = bank_of(100)[0]
    design = Blueprint(max_items=10, se_target=None)
    derived = derive_sympson_hetter(bank, design, target=0.2, n=4000, rng=1)
    assert derived.converged
    sim = simulate_cat(bank, derived.blueprint, n=10_000, rng=2024)
    assert sim.exposure.max() <= 0.2 + 0.02
    plain = simulate_cat(bank, design, n=10_000, rng=2024)
    assert plain.exposure.max() == 1.0
    assert sim.summary().rmse < plain.summary().rmse + 0.1  # the price in precision is modest


def test_conditional_sympson_hetter_keeps_every_ability_class_below_target():
    """Unconditional parameters leave extreme candidates an item each of them meets; conditional
    ones (Stocking & Lewis 1998) keep each class's rate at the target, on new simulees."""
    bank = bank_of(60, seed=5)[0]
    design = Blueprint(max_items=12, se_target=None)
    classes = (-1.0, 0.0, 1.0)
    theta = np.random.default_rng(9).normal(size=20_000)
    of_class = np.searchsorted(classes, theta, side="right")

    def largest_by_class(blueprint):
        sim = simulate_cat(bank, blueprint, theta=theta, rng=3)
        return [np.bincount(sim.items[of_class == c][sim.items[of_class == c] >= 0],
                            minlength=60).max() / np.sum(of_class == c) for c in range(4)]

    plain = derive_sympson_hetter(bank, design, target=0.3, n=1500, rng=1)
    assert max(largest_by_class(plain.blueprint)) > 0.6  # the extremes share their items
    derived = derive_sympson_hetter(bank, design, target=0.3, n=1500, rng=1, classes=classes)
    assert derived.converged and derived.parameters.shape == (4, 60)
    assert derived.blueprint.sh_classes == classes
    assert max(largest_by_class(derived.blueprint)) <= 0.3 + 0.03


def test_a_derivation_started_from_derived_parameters_needs_fewer_rounds():
    bank = bank_of(60, seed=5)[0]
    design = Blueprint(max_items=12, se_target=None)
    cold = derive_sympson_hetter(bank, design, target=0.3, n=800, rng=1, classes=(-0.5, 0.5))
    warm = derive_sympson_hetter(bank, design, target=0.3, n=800, rng=2, classes=(-0.5, 0.5),
                                 initial=cold.parameters)
    assert cold.converged and warm.converged and cold.n_rounds > 2
    assert warm.n_rounds < cold.n_rounds and warm.max_exposure[0] < cold.max_exposure[0]
    assert warm.max_exposure[0] < 0.5  # the first round already runs under the old parameters
    with pytest.raises(InvalidParameterError, match="initial"):
        derive_sympson_hetter(bank, design, target=0.3, n=100, classes=(-0.5, 0.5),
                              initial=np.zeros(60))


def test_conditional_parameters_round_trip_and_are_checked():
    bp = Blueprint.from_dict({"exposure": "sh:0.3", "sh_classes": [-1, 1],
                              "sh_parameters": {"I1": [0.5, 1, 0.25], "I2": [1, 1, 1]}})
    assert Blueprint.from_dict(bp.to_dict()) == bp
    assert bp.to_dict()["sh_parameters"]["I1"] == [0.5, 1.0, 0.25]
    bank = bank_of(5)[0]
    np.testing.assert_array_equal(bp.sh_parameter_array(bank)[:, 1], [0.5, 1.0, 0.25])
    assert bp.sh_parameter_array(bank).shape == (3, 5)
    for fields, message in [
        ({"sh_classes": [-1, 1], "sh_parameters": {"I1": 0.5}}, "expected a list of 3"),
        ({"sh_classes": [-1, 1], "sh_parameters": {"I1": [0.5, 1]}}, "expected a list of 3"),
        ({"sh_parameters": {"I1": [0.5]}}, "expected a number"),
        ({"sh_classes": [1, -1]}, "sh_classes: expected finite, strictly increasing"),
        ({"sh_classes": [0], "sh_parameters": {"I1": [0.5, 0]}}, r"in \(0, 1\]; got 0"),
    ]:
        with pytest.raises(InvalidParameterError, match=message):
            Blueprint.from_dict(fields)


def test_per_class_draws_follow_the_normal_truncated_to_each_class():
    from scipy.stats import kstest, truncnorm

    mean, sd, cuts = 0.4, 1.3, (-0.5, 1.2)
    theta = draw_per_class(mean, sd, cuts, 2000, rng=3).reshape(3, 2000)
    edges = (-np.inf, *cuts, np.inf)
    for c in range(3):
        lo, hi = (edges[c] - mean) / sd, (edges[c + 1] - mean) / sd
        assert np.all((theta[c] >= edges[c]) & (theta[c] <= edges[c + 1]))
        assert kstest(theta[c], truncnorm(lo, hi, loc=mean, scale=sd).cdf).pvalue > 0.01


def test_a_session_takes_the_parameters_of_its_estimates_class():
    """Item I0 is barred (K ≈ 0) below θ = 0 only: chosen above, never below."""
    bank = ItemBank([TwoPL([2.5, 0.5, 0.5], [0.0, -3.0, 3.0])], ["I0", "I1", "I2"])
    bp = Blueprint(max_items=1, se_target=None, exposure="sh:0.3", sh_classes=(0.0,),
                   sh_parameters={"I0": [1e-9, 1.0]})
    ctx = CatContext.build(bank, bp)
    for theta, expected in ((-0.4, False), (0.4, True)):
        bp_at = Blueprint(max_items=1, se_target=None, exposure="sh:0.3", sh_classes=(0.0,),
                          sh_parameters={"I0": [1e-9, 1.0]}, start_theta=theta)
        sim = simulate_cat(bank, bp_at, theta=np.full(200, theta), rng=1)
        assert np.all((sim.items[:, 0] == 0) == expected), theta
    assert ctx.sh_parameters.shape == (2, 3)


def test_sympson_hetter_refuses_an_unreachable_target():
    bank = bank_of(100)[0]
    with pytest.raises(InvalidParameterError, match=r"mean test length \(10\.00\).*at least 0\.100"):
        derive_sympson_hetter(bank, Blueprint(max_items=10, se_target=None), target=0.05,
                              n=200, rng=0)
    with pytest.raises(InvalidParameterError, match="derive_sympson_hetter"):
        Blueprint(exposure="sh:0.2")


def test_a_strata_span_the_difficulties_and_rise_in_slope():
    rng = np.random.default_rng(0)
    a, b = rng.lognormal(0, 0.4, 120), rng.normal(0, 1, 120)
    s = strata(a, b, np.ones(120, bool), 4)
    assert np.bincount(s).tolist() == [30] * 4
    mean_a = [a[s == k].mean() for k in range(4)]
    assert mean_a == sorted(mean_a)
    for k in range(4):
        assert b[s == k].min() < -1 and b[s == k].max() > 1
    # within each block of 4 difficulties, the slopes are in stratum order
    order = np.argsort(b, kind="stable")
    for blk in order.reshape(30, 4):
        assert np.all(np.diff(a[blk][np.argsort(s[blk])]) > 0)


def test_a_stratified_stages_draw_from_their_strata():
    bank, a, b = bank_of(160)
    sim = simulate_cat(bank, Blueprint(max_items=16, se_target=None, exposure="astrat:4"),
                       n=500, rng=3)
    ctx = CatContext.build(bank, Blueprint())
    s = strata(a, ctx.location, np.ones(160, bool), 4)
    stage_of_position = np.arange(16) * 4 // 16
    assert np.all(s[sim.items] == stage_of_position[None, :])


def test_min_information_stop():
    bank, a, b = bank_of(60)
    sim = simulate_cat(bank, Blueprint(se_target=None, max_items=60, min_information=0.3),
                       n=300, rng=5)
    stopped = np.flatnonzero(sim.stop_reason == "min_information")
    assert stopped.size > 0
    for j in stopped[:30]:
        left = np.setdiff1d(np.arange(60), sim.items[j, : sim.length[j]])
        p = expit(a[left] * (sim.theta[j] - b[left]))
        assert np.max(a[left] ** 2 * p * (1 - p)) < 0.3


def test_time_limit_is_read_from_the_caller():
    bank = bank_of(30)[0]
    state = start(bank, Blueprint(time_limit_s=600, min_items=5), rng=0)
    assert isinstance(next_item(state, elapsed_s=599.0), NextItem)
    stop = next_item(state, elapsed_s=600.0)
    assert isinstance(stop, Stop) and stop.reason == "time_limit"
    state = record(state, next_item(state).item_id, 1)
    assert next_item(state, elapsed_s=601).reason == "time_limit"


@pytest.mark.parametrize("rule", ["sprt", "glr"])
def test_classification_error_rates_outside_the_indifference_region(rule):
    bank = bank_of(300, seed=11)[0]
    alpha = beta = 0.05
    bp = Blueprint(se_target=None, max_items=80, classification=rule, cut_scores=(0.0,),
                   indifference=0.3, alpha=alpha, beta=beta, selection="mfi")
    n = 2000
    below = simulate_cat(bank, bp, theta=np.full(n, -0.45), rng=1)
    above = simulate_cat(bank, bp, theta=np.full(n, 0.45), rng=2)
    assert np.mean(below.stop_reason == "classified") > 0.95
    # 3 binomial standard errors of slack
    assert np.mean(below.band == 1) <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / n)
    assert np.mean(above.band == 0) <= beta + 3 * np.sqrt(beta * (1 - beta) / n)
    assert below.length.mean() < 40


def test_classification_with_two_cuts_decides_three_bands():
    bank = bank_of(300, seed=11)[0]
    bp = Blueprint(se_target=None, max_items=60, classification="sprt", cut_scores=(-1.0, 1.0))
    theta = np.array([-2.0] * 300 + [0.0] * 300 + [2.0] * 300)
    sim = simulate_cat(bank, bp, theta=theta, rng=4)
    for k, lo in enumerate((0, 300, 600)):
        assert np.mean(sim.band[lo: lo + 300] == k) > 0.9
