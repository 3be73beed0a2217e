"""Multidimensional adaptive testing: the four competencies, D- and A-optimality."""

import numpy as np
import pytest

from qabilet.engine.bank import ItemBank
from qabilet.engine.cat import (
    Blueprint,
    CatContext,
    NextItem,
    next_item,
    record,
    simulate_cat,
    start,
)
from qabilet.engine.cat.estimation import snapshot
from qabilet.engine.cat.selection import selection_rule
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.latent import LatentDistribution
from qabilet.engine.models import TwoPL
from qabilet.engine.scoring import eap
from qabilet.engine.simulation import simulate_responses


def competency_bank(n_factors=4, per_factor=30, rho=0.5, seed=1):
    """Simple structure: each item loads on one competency; correlated competencies."""
    rng = np.random.default_rng(seed)
    n = n_factors * per_factor
    slopes = np.zeros((n, n_factors))
    slopes[np.arange(n), np.repeat(np.arange(n_factors), per_factor)] = rng.uniform(1.0, 2.2, n)
    d = rng.normal(0, 1.2, n)
    cov = np.full((n_factors, n_factors), rho) + (1 - rho) * np.eye(n_factors)
    latent = LatentDistribution(np.zeros(n_factors), cov,
                                ["service", "transparency", "accountability", "effectiveness"]
                                [:n_factors])
    return ItemBank([TwoPL.from_slope_intercept(slopes, d)], [f"C{i:03d}" for i in range(n)],
                    latent)


def test_standard_errors_do_not_collapse_after_one_item():
    bank = competency_bank()
    state = start(bank, Blueprint(selection="dopt", max_items=20, se_target=0.4), rng=0)
    assert np.allclose(state.se, 1.0, atol=0.02)  # the prior SDs (on a 13-point grid per axis)
    step = next_item(state)
    state = record(state, step.item_id, 1)
    # one 2PL item with a <= 2.2 carries information <= 1.21 on its factor: the posterior SD
    # there stays above about 1/sqrt(1 + 1.21) = 0.67, and the other factors move less
    assert np.all(state.se > 0.6) and np.all(state.se <= 1.0 + 1e-9)
    assert isinstance(next_item(state), NextItem)


def test_session_estimate_equals_the_cores_eap():
    bank = competency_bank()
    bp = Blueprint(selection="aopt", max_items=12, se_target=None)
    truth = np.array([[0.5, -0.3, 1.0, 0.0]])
    x = simulate_responses(bank, truth, 4)[0]
    state = start(bank, bp, rng=1)
    while isinstance(step := next_item(state), NextItem):
        state = record(state, step.item_id, int(x[step.index]))
    given = bank.index_of([a.item_id for a in state.answers])
    observed = np.zeros((1, bank.n_items), bool)
    observed[0, given] = True
    ref = eap(bank, x[None, :], observed, n_points=13, bounds=(-6, 6))
    np.testing.assert_allclose(state.theta, ref.theta[0], atol=1e-10)
    np.testing.assert_allclose(state.se, ref.se[0], atol=1e-10)


@pytest.mark.parametrize("rule", ["dopt", "aopt"])
def test_optimality_scores_equal_the_matrix_criteria(rule):
    bank = competency_bank(n_factors=3, per_factor=10)
    ctx = CatContext.build(bank, Blueprint(selection=rule))
    given = np.array([0, 11, 25])
    adm = np.zeros((1, bank.n_items), bool)
    adm[0, given] = True
    ll = ctx.answer_log_lik(given, np.array([1, 0, 1])).sum(axis=0)[None, :]
    x = np.zeros((1, bank.n_items), int)
    snap = snapshot(ctx, ll, x, adm, adm)
    got = selection_rule(rule).scores(ctx, snap, np.random.default_rng(0))[0]
    info = bank.information(snap.theta[0][None, :])[0]  # (I, d, d), the core's matrices
    w = np.linalg.inv(bank.latent.cov) + info[given].sum(axis=0)
    for i in (1, 12, 29):
        if rule == "dopt":
            want = np.linalg.slogdet(w + info[i])[1] - np.linalg.slogdet(w)[1]
        else:
            want = np.trace(np.linalg.inv(w)) - np.trace(np.linalg.inv(w + info[i]))
        assert got[i] == pytest.approx(want, rel=1e-9)


def test_d_optimality_on_one_factor_picks_the_most_informative_item():
    rng = np.random.default_rng(2)
    bank = ItemBank([TwoPL(rng.uniform(0.5, 2.5, 50), rng.normal(0, 1, 50))])
    for rule in ("dopt", "aopt"):
        a = simulate_cat(bank, Blueprint(selection=rule, max_items=10), n=200, rng=3)
        b = simulate_cat(bank, Blueprint(selection="mfi", max_items=10), n=200, rng=3)
        np.testing.assert_array_equal(a.items, b.items)


def test_two_competencies_are_recovered_and_both_measured():
    bank = competency_bank(n_factors=2, per_factor=60)
    sim = simulate_cat(bank, Blueprint(selection="dopt", max_items=30, se_target=0.35),
                       n=400, rng=5)
    assert sim.theta.shape == (400, 2) and sim.se.shape == (400, 2)
    err = sim.theta - sim.true_theta
    assert np.all(np.sqrt(np.mean(err**2, axis=0)) < 0.5)
    per_factor = (np.where(sim.items >= 0, sim.items, 0) // 60)[sim.items >= 0]
    assert 0.3 < per_factor.mean() < 0.7  # both competencies get items
    done = sim.stop_reason == "se_target"
    assert np.all(sim.se[done] < 0.35)
    s = sim.summary()
    assert s.rmse == pytest.approx(np.sqrt(np.mean(err**2, axis=0)).mean())
    assert sim.conditional() == []
    assert isinstance(sim.to_dict()["simulees"][0]["theta"], list)


@pytest.mark.parametrize(("fields", "message"), [
    ({"selection": "mfi"}, "needs one of dopt, aopt, random"),
    ({"selection": "dopt", "estimator": "ml"}, "needs one of eap, map"),
    ({"selection": "dopt", "exposure": "astrat:3"}, "astrat"),
    ({"selection": "dopt", "classification": "glr", "cut_scores": [0.0]}, "use 'sprt'"),
])
def test_one_factor_rules_are_refused_for_several(fields, message):
    bank = competency_bank(n_factors=2, per_factor=5)
    with pytest.raises(InvalidParameterError, match=message):
        start(bank, Blueprint(**fields))


def test_band_of_each_competency_by_sprt():
    """Each competency's band decided with the stated error rates (simple structure)."""
    bank = competency_bank(n_factors=2, per_factor=150, rho=0.0, seed=7)
    alpha = beta = 0.05
    bp = Blueprint(selection="dopt", se_target=None, max_items=120, classification="sprt",
                   cut_scores=(0.0,), indifference=0.3, alpha=alpha, beta=beta)
    n = 1000
    truth = np.column_stack([np.full(n, -0.45), np.full(n, 0.45)])  # below on one, above on two
    sim = simulate_cat(bank, bp, theta=truth, rng=3)
    assert sim.band.shape == (n, 2)
    assert np.mean(sim.stop_reason == "classified") > 0.95
    slack = 3 * np.sqrt(alpha * (1 - alpha) / n)
    assert np.mean(sim.band[:, 0] == 1) <= alpha + slack  # called above while below
    assert np.mean(sim.band[:, 1] == 0) <= beta + slack  # called below while above


def test_classification_needs_simple_structure():
    slopes = np.array([[1.0, 0.5], [0.0, 1.2], [1.1, 0.0]])
    bank = ItemBank([TwoPL.from_slope_intercept(slopes, np.zeros(3))],
                    latent=LatentDistribution(np.zeros(2), np.eye(2)))
    with pytest.raises(InvalidParameterError, match="simple structure"):
        start(bank, Blueprint(selection="dopt", classification="sprt", cut_scores=(0.0,)))


@pytest.mark.parametrize("selection", ["dopt", "aopt", "random"])
@pytest.mark.parametrize("exposure", ["none", "randomesque:3", "sh:0.4"])
def test_contract_for_several_factors(selection, exposure):
    bank = competency_bank(n_factors=3, per_factor=12)
    sh = {i: 0.6 for i in bank.item_ids[:6]} if exposure.startswith("sh") else None
    bp = Blueprint(selection=selection, exposure=exposure, sh_parameters=sh, max_items=10,
                   min_items=2, se_target=0.6)
    sim = simulate_cat(bank, bp, n=150, rng=4)
    again = simulate_cat(bank, bp, n=150, rng=4)
    np.testing.assert_array_equal(sim.items, again.items)
    for j in range(sim.n):  # checking results
        given = sim.items[j, : sim.length[j]]
        assert np.unique(given).size == given.size
    assert sim.length.min() >= 2 and np.all(np.isfinite(sim.theta))
    done = sim.stop_reason == "se_target"
    assert np.all(sim.se[done] < 0.6)
