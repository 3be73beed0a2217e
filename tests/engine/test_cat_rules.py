"""Contract tests of the adaptive engine's rules: every selection × exposure × estimator."""

import itertools

import numpy as np
import pytest
from scipy.special import expit

from qabilet.engine.bank import ItemBank
from qabilet.engine.cat import (
    Blueprint,
    CatContext,
    MaximumInformation,
    Randomesque,
    simulate_cat,
)
from qabilet.engine.cat.estimation import snapshot
from qabilet.engine.cat.policy import next_items
from qabilet.engine.cat.snapshot import posterior_moments
from qabilet.engine.exceptions import InvalidParameterError, InvalidResponseError
from qabilet.engine.models import GeneralizedPartialCredit, GradedResponse, ThreePL, TwoPL
from qabilet.engine.simulation import simulate_responses


def two_pl_bank(n_items=60, seed=3):
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(0.6, 2.2, n_items), rng.normal(0, 1.1, n_items)
    return ItemBank([TwoPL(a, b)], [f"I{i}" for i in range(n_items)]), a, b


def mixed_bank():
    rng = np.random.default_rng(5)
    blocks = [
        TwoPL(rng.uniform(0.7, 2, 15), rng.normal(0, 1, 15)),
        ThreePL(rng.uniform(0.7, 2, 10), rng.normal(0, 1, 10), np.full(10, 0.2)),
        GradedResponse(rng.uniform(0.7, 2, 10),
                       np.sort(rng.normal(0, 1, (10, 3)), axis=1)),
        GeneralizedPartialCredit(rng.uniform(0.7, 2, 10), rng.normal(0, 1, (10, 2))),
    ]
    return ItemBank(blocks, [f"M{i}" for i in range(45)])


SELECTIONS = ["mfi", "mpwi", "mepv", "kl", "klp", "dopt", "aopt", "random"]
EXPOSURES = ["none", "randomesque:4", "astrat:3", "sh:0.3"]
RULES = ([(s, e, "eap") for s in SELECTIONS for e in EXPOSURES]
         + [("mfi", "none", est) for est in ("map", "ml")])


@pytest.mark.parametrize(("selection", "exposure", "estimator"), RULES)
@pytest.mark.parametrize("bank_kind", ["2pl", "mixed"])
def test_contract_never_repeats_is_deterministic_and_respects_limits(
        selection, exposure, estimator, bank_kind):
    bank = two_pl_bank()[0] if bank_kind == "2pl" else mixed_bank()
    eligible = tuple(bank.item_ids[::2])  # half the bank
    sh = {i: 0.5 for i in eligible[:5]} if exposure.startswith("sh") else None
    bp = Blueprint(items=eligible, selection=selection, exposure=exposure, estimator=estimator,
                   min_items=3, max_items=12, se_target=0.45, sh_parameters=sh)
    sim = simulate_cat(bank, bp, n=300, rng=11)
    again = simulate_cat(bank, bp, n=300, rng=11)
    np.testing.assert_array_equal(sim.items, again.items)
    np.testing.assert_array_equal(sim.theta, again.theta)
    allowed = set(bank.index_of(eligible).tolist())
    for j in range(sim.n):  # checking results, not a hot path
        given = sim.items[j, : sim.length[j]]
        assert len(set(given.tolist())) == given.size, "an item was given twice"
        assert set(given.tolist()) <= allowed
        assert np.all(sim.items[j, sim.length[j]:] == -1)
    assert sim.length.min() >= 3 and sim.length.max() <= 12
    assert set(sim.stop_reason.tolist()) <= {"se_target", "max_items"}
    assert np.all(sim.se[sim.stop_reason == "se_target"] < 0.45)
    assert np.all(np.isfinite(sim.theta)) and np.all(np.isfinite(sim.se))


def test_first_item_is_the_most_informative_at_start_theta():
    bank, a, b = two_pl_bank()
    for start in (-1.0, 0.0, 1.5):
        bp = Blueprint(start_theta=start)
        ctx = CatContext.build(bank, bp)
        snap = snapshot(ctx, np.zeros((1, ctx.grid.n_quad)), np.zeros((1, 60), int),
                        np.zeros((1, 60), bool), np.zeros((1, 60), bool))
        p = expit(a * (start - b))
        _, items = next_items(ctx, snap, np.random.default_rng(0))
        assert items[0] == np.argmax(a**2 * p * (1 - p))


def test_information_scores_are_a_squared_pq():
    bank, a, b = two_pl_bank()
    ctx = CatContext.build(bank, Blueprint())
    theta = np.array([-2.0, 0.3, 1.7])
    snap = snapshot(ctx, np.zeros((3, ctx.grid.n_quad)), np.zeros((3, 60), int),
                    np.zeros((3, 60), bool), np.zeros((3, 60), bool))
    snap = type(snap)(theta, snap.se, snap.log_lik, snap.administered, snap.n_scored,
                      snap.responses, snap.scored)
    p = expit(a[None, :] * (theta[:, None] - b[None, :]))
    scores = MaximumInformation().scores(ctx, snap, np.random.default_rng(0))
    np.testing.assert_allclose(scores, a**2 * p * (1 - p), rtol=1e-12)


def test_randomesque_picks_only_among_the_top_k_and_uses_all_of_them():
    rng = np.random.default_rng(2)
    scores = rng.normal(size=(4000, 30))
    available = rng.random((4000, 30)) < 0.5
    available[0] = False
    available[0, [3, 9]] = True  # fewer available than k
    chosen = Randomesque(5).choose(None, None, scores, available, rng)
    masked = np.where(available, scores, -np.inf)
    rank = (masked > np.take_along_axis(masked, chosen[:, None], 1)).sum(axis=1)
    assert np.all(available[np.arange(4000), chosen])
    assert rank.max() == 4
    counts = np.bincount(rank, minlength=5)
    assert counts.min() > 4000 / 5 * 0.85  # uniform over the five (within sampling error)
    assert chosen[0] in (3, 9)


def test_randomesque_lowers_the_maximum_exposure():
    bank = two_pl_bank(200)[0]
    plain = simulate_cat(bank, Blueprint(max_items=15), n=2000, rng=4)
    spread = simulate_cat(bank, Blueprint(max_items=15, exposure="randomesque:8"), n=2000, rng=4)
    assert plain.summary().max_exposure == 1.0  # the first item goes to everyone
    first = np.bincount(spread.items[:, 0], minlength=200) / 2000
    assert np.count_nonzero(first) == 8  # the first item: one of the 8 best at θ = 0 ...
    assert first.max() < 1 / 8 + 0.03  # ... each with probability 1/8
    assert spread.summary().max_exposure < 0.75
    assert spread.summary().overlap < plain.summary().overlap


def test_se_stop_comes_at_the_first_answer_below_target_after_min_items():
    bank = two_pl_bank()[0]
    rng = np.random.default_rng(1)
    theta = rng.normal(0, 1, 300)
    x = simulate_responses(bank, theta, rng)
    bp = Blueprint(min_items=8, max_items=40, se_target=0.5)
    sim = simulate_cat(bank, bp, theta=theta, responses=x, rng=1)
    ctx = CatContext.build(bank, bp)
    assert sim.length.min() >= 8
    for j in np.flatnonzero(sim.stop_reason == "se_target")[:40]:
        given = sim.items[j, : sim.length[j]]
        ll = np.cumsum(ctx.answer_log_lik(given, x[j, given]), axis=0)
        _, se_path = posterior_moments(ll, ctx.grid)  # SE after 1, 2, ... answers
        below = np.flatnonzero((se_path < 0.5) & (np.arange(1, given.size + 1) >= 8))
        assert below[0] == given.size - 1  # stopped at the first chance, not before or after


def test_no_items_left_and_fixed_length():
    bank = two_pl_bank(12)[0]
    sim = simulate_cat(bank, Blueprint(max_items=30, se_target=0.01), n=50, rng=0)
    assert np.all(sim.length == 12) and set(sim.stop_reason) == {"no_items_left"}
    fixed = simulate_cat(bank, Blueprint(max_items=7, se_target=None), n=50, rng=0)
    assert np.all(fixed.length == 7) and set(fixed.stop_reason) == {"max_items"}


def test_ml_guard_keeps_early_estimates_finite():
    bank = two_pl_bank()[0]
    sim = simulate_cat(bank, Blueprint(estimator="ml", max_items=5, se_target=None),
                       theta=np.full(200, 3.5), rng=9)
    assert np.all(np.isfinite(sim.theta)) and np.all(np.abs(sim.theta) <= 6)


def test_overlap_and_exposure_against_brute_force():
    bank = two_pl_bank(40)[0]
    sim = simulate_cat(bank, Blueprint(max_items=10, exposure="randomesque:5", se_target=0.35),
                       n=60, rng=8)
    sets = [set(sim.items[j, : sim.length[j]].tolist()) for j in range(sim.n)]
    pairs = [len(s & t) for s, t in itertools.combinations(sets, 2)]
    expected = np.mean(pairs) / sim.length.mean()
    assert sim.summary().overlap == pytest.approx(expected, rel=1e-12)
    exposure = np.array([sum(i in s for s in sets) for i in range(40)]) / 60
    np.testing.assert_allclose(sim.exposure, exposure)


def test_conditional_bins_partition_the_simulees():
    bank = two_pl_bank()[0]
    sim = simulate_cat(bank, Blueprint(max_items=10), n=400, rng=2)
    bins = sim.conditional(0.5)
    assert sum(b["n"] for b in bins) == 400
    assert all(b["theta_high"] - b["theta_low"] == pytest.approx(0.5) for b in bins)
    s = sim.summary()
    weighted = sum(b["n"] * b["rmse"] ** 2 for b in bins) / 400
    assert np.sqrt(weighted) == pytest.approx(s.rmse, rel=1e-12)


@pytest.mark.parametrize(("fields", "message"), [
    ({"max_items": 0}, "max_items"),
    ({"min_items": 5, "max_items": 3}, "max_items"),
    ({"se_target": -0.1}, "se_target"),
    ({"selection": "best"}, "selection"),
    ({"exposure": "randomesque:0"}, "randomesque"),
    ({"exposure": "sh"}, "exposure"),
    ({"estimator": "wle2"}, "estimator"),
    ({"start_theta": 9.0}, "start_theta"),
    ({"items": ["A", "A"]}, "twice"),
])
def test_blueprint_refuses_bad_fields(fields, message):
    with pytest.raises(InvalidParameterError, match=message):
        Blueprint.from_dict(fields)


def test_blueprint_refused_against_the_bank():
    bank = two_pl_bank(10)[0]
    with pytest.raises(InvalidParameterError, match="unknown item id 'nope'"):
        CatContext.build(bank, Blueprint(items=("I1", "nope")))
    with pytest.raises(InvalidParameterError, match="only 2 are eligible"):
        CatContext.build(bank, Blueprint(items=("I1", "I2"), min_items=3))
    with pytest.raises(InvalidParameterError, match="unknown field"):
        Blueprint.from_dict({"max_item": 3})


def test_harness_refuses_partial_response_matrices():
    bank = two_pl_bank(10)[0]
    x = np.zeros((5, 10))
    x[0, 3] = np.nan
    with pytest.raises(InvalidResponseError, match="full matrix"):
        simulate_cat(bank, responses=x)
    with pytest.raises(InvalidParameterError, match="theta"):
        simulate_cat(bank, responses=np.zeros((5, 10)), theta=np.zeros(4))
