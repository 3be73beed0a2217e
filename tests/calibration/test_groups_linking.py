"""Multi-group calibration, anchor (fixed-parameter) calibration and linking, against known truth."""

import numpy as np
import pytest

from qabilet.calibration import MML, link, rescale
from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.latent import LatentDistribution
from qabilet.engine.models import (
    GeneralizedPartialCredit,
    GradedResponse,
    NominalResponse,
    ThreePL,
    TwoPL,
)
from qabilet.engine.simulation import simulate_responses


@pytest.fixture(scope="module")
def items():
    rng = np.random.default_rng(5)
    return TwoPL(rng.uniform(0.8, 2.0, 20), rng.normal(0, 1, 20))


def test_two_groups_recover_the_focal_mean_and_variance(items):
    rng = np.random.default_rng(6)
    theta = np.concatenate([rng.normal(0, 1, 4000), rng.normal(0.5, 1.2, 4000)])
    x = simulate_responses(items, theta, rng)
    groups = np.array(["kk"] * 4000 + ["ru"] * 4000)
    fit = MML(model="2pl").fit(x, groups=groups)
    assert fit.group("kk").latent == LatentDistribution([0.0], [[1.0]])
    ru = fit.group("ru").latent
    assert ru.mean[0] == pytest.approx(0.5, abs=3 * fit.group("ru").mean_se[0])
    assert ru.cov[0, 0] == pytest.approx(1.44, abs=3 * fit.group("ru").cov_se[0, 0])
    assert 0.01 < fit.group("ru").mean_se[0] < 0.06
    np.testing.assert_allclose(fit.bank.models[0].b, items.b, atol=0.12)


def test_reference_group_can_be_chosen(items):
    rng = np.random.default_rng(7)
    theta = np.concatenate([rng.normal(0, 1, 3000), rng.normal(-0.6, 1, 3000)])
    x = simulate_responses(items, theta, rng)
    groups = np.array(["a"] * 3000 + ["b"] * 3000)
    fit = MML(model="2pl", compute_se=False, reference_group="b").fit(x, groups=groups)
    assert fit.group("b").latent.mean[0] == 0.0
    assert fit.group("a").latent.mean[0] == pytest.approx(0.6, abs=0.1)


def test_group_specific_item_gets_a_parameter_set_per_group(items):
    rng = np.random.default_rng(8)
    theta = np.concatenate([rng.normal(0, 1, 4000), rng.normal(0.3, 1, 4000)])
    x = simulate_responses(items, theta, rng)
    shifted = TwoPL(items.a[3:4], items.b[3:4] + 0.8)  # item Q4 reads harder in Russian
    x[4000:, 3] = simulate_responses(shifted, theta[4000:], rng)[:, 0]
    groups = np.array(["kk"] * 4000 + ["ru"] * 4000)
    fit = MML(model="2pl", group_specific=["Q4"]).fit(x, groups=groups)
    b_kk = fit.group("kk").bank.subset(fit.group("kk").bank.index_of(["Q4"])).models[0].b[0]
    b_ru = fit.group("ru").bank.subset(fit.group("ru").bank.index_of(["Q4"])).models[0].b[0]
    assert b_kk == pytest.approx(items.b[3], abs=0.15)
    assert b_ru == pytest.approx(items.b[3] + 0.8, abs=0.15)
    assert fit.group("kk").bank.item_ids == fit.group("ru").bank.item_ids
    # the other items are one set for both groups
    other = [i for i in fit.bank.item_ids if i != "Q4"]
    kk, ru = fit.group("kk").bank, fit.group("ru").bank
    np.testing.assert_array_equal(kk.subset(kk.index_of(other)).log_prob(0.3),
                                  ru.subset(ru.index_of(other)).log_prob(0.3))


def test_anchor_calibration_puts_new_items_on_the_anchor_scale(items):
    rng = np.random.default_rng(9)
    anchors = ItemBank([items.subset(range(12))], [f"A{i}" for i in range(12)])
    new = ThreePL(rng.uniform(1.0, 2.0, 6), rng.normal(0, 1, 6), np.full(6, 0.2))
    theta = rng.normal(0.4, 1.3, 8000)  # a new population: the scale must come from the anchors
    x = np.hstack([simulate_responses(anchors, theta, rng), simulate_responses(new, theta, rng)])
    ids = [f"A{i}" for i in range(12)] + [f"N{i}" for i in range(6)]
    fit = MML(model="3pl", fixed=anchors).fit(x, item_ids=ids)
    assert fit.anchors == tuple(ids[:12])
    assert fit.bank.model_names[:12] == ("2pl",) * 12      # anchors keep their model
    assert fit.bank.model_names[12:] == ("3pl",) * 6       # new items are 3PL, not 2PL
    np.testing.assert_array_equal(fit.bank.subset(range(12)).log_prob(0.7), anchors.log_prob(0.7))
    assert fit.latent.mean[0] == pytest.approx(0.4, abs=0.08)
    assert fit.latent.cov[0, 0] == pytest.approx(1.69, rel=0.1)
    est = fit.bank.subset(range(12, 18)).models[0]
    assert np.sqrt(np.mean((est.b - new.b) ** 2)) < 0.2
    assert fit.anchor_drift is not None and fit.anchor_drift.drifted == ()


def test_a_drifted_anchor_is_flagged(items):
    rng = np.random.default_rng(10)
    anchors = ItemBank([items.subset(range(12))], [f"A{i}" for i in range(12)])
    theta = rng.normal(0, 1, 6000)
    drifted = TwoPL(items.a[:12], np.where(np.arange(12) == 5, items.b[:12] + 1.0, items.b[:12]))
    x = simulate_responses(drifted, theta, rng)  # A5 became harder by a whole logit
    fit = MML(model="2pl", fixed=anchors, compute_se=False).fit(x, item_ids=anchors.item_ids)
    assert fit.anchor_drift.drifted == ("A5",)


@pytest.mark.parametrize("method", ["mean-mean", "mean-sigma", "haebara", "stocking-lord"])
def test_link_recovers_a_known_transformation_exactly(method):
    rng = np.random.default_rng(11)
    target = ItemBank(
        [TwoPL(rng.uniform(0.8, 2, 8), rng.normal(0, 1, 8)),
         GradedResponse(rng.uniform(0.8, 2, 3), np.sort(rng.normal(0, 1, (3, 3)), axis=1)),
         GeneralizedPartialCredit(rng.uniform(0.8, 2, 2), rng.normal(0, 1, (2, 2))),
         NominalResponse(a=[[0.0, 0.7, 1.9], [0.0, -0.4, 1.1, 0.6]],  # situational judgement
                         d=[[0.0, 0.4, -0.3], [0.0, 0.2, 0.5, -0.8]])],
        [f"I{i}" for i in range(15)],
    )
    # the same items seen from a scale with θ_target = 1.3 θ_source − 0.4
    source = rescale(target, 1 / 1.3, 0.4 / 1.3)
    res = link(source, target, method=method)
    assert res.slope == pytest.approx(1.3, abs=1e-6)
    assert res.shift == pytest.approx(-0.4, abs=1e-6)
    back = res.transform(source)
    np.testing.assert_allclose(back.prob(np.linspace(-3, 3, 7)), target.prob(np.linspace(-3, 3, 7)),
                               atol=1e-6)
    assert res.drifted == ()


def test_mean_sigma_by_hand():
    target = ItemBank([TwoPL([1.0, 1.5, 0.8], [-1.0, 0.0, 1.5])], ["x", "y", "z"])
    source = ItemBank([TwoPL([1.2, 1.6, 1.0], [-0.5, 0.2, 1.0])], ["x", "y", "z"])
    res = link(source, target, method="mean-sigma")
    bt, bs = np.array([-1.0, 0.0, 1.5]), np.array([-0.5, 0.2, 1.0])
    slope = bt.std() / bs.std()
    assert res.slope == pytest.approx(slope)
    assert res.shift == pytest.approx(bt.mean() - slope * bs.mean())


def test_separate_calibrations_link_to_the_population_difference(items):
    rng = np.random.default_rng(12)
    x1 = simulate_responses(items, rng.normal(0, 1, 5000), rng)
    x2 = simulate_responses(items, rng.normal(0.5, 1.3, 5000), rng)
    fit1 = MML(model="2pl", compute_se=False).fit(x1)
    fit2 = MML(model="2pl", compute_se=False).fit(x2)  # standardised on its own population
    res = link(fit2.bank, fit1.bank, method="stocking-lord")
    assert res.slope == pytest.approx(1.3, abs=0.08)
    assert res.shift == pytest.approx(0.5, abs=0.08)


def test_linking_errors():
    a = ItemBank([TwoPL([1.0, 1.2], [0.0, 0.5])], ["x", "y"])
    b = ItemBank([TwoPL([1.0, 1.2], [0.0, 0.5])], ["x", "q"])
    with pytest.raises(InvalidParameterError, match="at least two common items"):
        link(a, b)
    with pytest.raises(InvalidParameterError, match="expected one of mean-mean"):
        link(a, a, method="magic")
    with pytest.raises(InvalidParameterError, match="group_specific: needs groups"):
        MML(group_specific=["Q1"]).fit(np.array([[0, 1], [1, 0], [1, 1]]))
