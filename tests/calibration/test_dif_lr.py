"""Likelihood-ratio DIF: finds planted DIF, keeps its size under no DIF; effect sizes, Holm, ETS classes."""

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import chi2, norm

from qabilet.calibration._multiplicity import benjamini_hochberg, holm
from qabilet.calibration.dif_lr import likelihood_ratio_dif
from qabilet.engine.models import GradedResponse, TwoPL
from qabilet.engine.simulation import simulate_responses


def _data(seed, shift):
    rng = np.random.default_rng(seed)
    items = TwoPL(rng.uniform(0.9, 2.0, 10), rng.normal(0, 1, 10))
    theta = np.concatenate([rng.normal(0, 1, 1500), rng.normal(0.4, 1, 1500)])
    x = simulate_responses(items, theta, rng)
    b = items.b.copy()
    b[2] += shift
    x[1500:, 2] = simulate_responses(TwoPL(items.a[2:3], b[2:3]), theta[1500:], rng)[:, 0]
    return x, np.array(["kk"] * 1500 + ["ru"] * 1500)


def test_planted_dif_item_is_found_and_the_others_are_not():
    x, groups = _data(1, 0.8)
    res = likelihood_ratio_dif(x, groups, model="2pl")
    assert res.flagged() == ("Q3",)
    assert res.df.tolist() == [2] * 10
    assert res.signed_difference[2] < -0.05  # harder for the focal group
    # the p-value is the χ² tail of the statistic (scipy, independently)
    np.testing.assert_allclose(res.p_value, chi2.sf(res.statistic, 2))
    assert "Q3" in res.summary()


def test_no_dif_keeps_the_statistics_chi_square_sized():
    x, groups = _data(2, 0.0)
    res = likelihood_ratio_dif(x, groups, model="2pl", items=["Q1", "Q2", "Q3", "Q4"])
    assert res.flagged() == ()
    assert np.all(res.statistic < chi2.ppf(0.999, 2))
    assert np.all(np.abs(res.signed_difference) < 0.05)


def test_errors():
    from qabilet.engine.exceptions import InvalidParameterError

    x, groups = _data(3, 0.0)
    with pytest.raises(InvalidParameterError, match="at least two groups"):
        likelihood_ratio_dif(x, np.array(["a"] * len(x)))
    with pytest.raises(InvalidParameterError, match="unknown item"):
        likelihood_ratio_dif(x, groups, items=["Z9"])


# -- effect sizes, multiple testing and ETS classes -------------------------------------------------
#
# Two groups of 1,000 ("kk" the reference, "ru" the focal group, 0.3 SD abler), 20 items; item Q3
# is 0.6 logit harder for "ru" (every location shifted), item Q6 0.1 harder. The truths:
#
# * dichotomous (2PL, equal slopes): the odds ratio is the same at every θ, so the MH D-DIF is
#   −2.35 a Δb exactly: −2.35 · 1.6 · 0.6 = −2.256 (class C: beyond 1.5) and −2.35 · 1.2 · 0.1 =
#   −0.282 (class A: below 1);
# * graded: SMD = ∫ φ(θ; 0.3, 1) [E(θ; b + shift) − E(θ; b)] dθ and the total group's item-score SD,
#   by scipy's quad over E(θ) = Σ_k P(X ≥ k) written out below (not the engine's curves).
#
# Familywise error: an item leaves class A only if its Holm-adjusted p-value is below 0.05, and
# Holm's step-down procedure keeps the probability of any rejection among the 18 DIF-free items at
# most 0.05 whatever their dependence; so each seed below has at most a 5 % chance of a DIF-free
# item outside A (the tests fix their seeds; docs/correctness.md gives the rate over replications).

def _two_groups(kind, seed, missing=0.0):
    rng = np.random.default_rng(seed)
    a = rng.uniform(1.0, 2.0, 20)
    a[2], a[5] = 1.6, 1.2
    b = rng.normal(0, 1, 20) if kind == "2pl" else np.sort(rng.normal(0, 1, (20, 3)), axis=1)
    shifted = b.copy()
    shifted[2] += 0.6
    shifted[5] += 0.1
    make = TwoPL if kind == "2pl" else GradedResponse
    groups = np.array(["kk"] * 1000 + ["ru"] * 1000)
    theta = rng.normal(np.where(groups == "ru", 0.3, 0.0), 1.0)
    x = np.vstack([simulate_responses(make(a, b), theta[:1000], rng),
                   simulate_responses(make(a, shifted), theta[1000:], rng)]).astype(float)
    x[rng.random(x.shape) < missing] = np.nan
    return x, groups, a, b, shifted


def _graded_truth(a, b, shifted):
    """SMD, the total group's SD and SMD/SD of a graded item from its true parameters."""
    def cumulative(t, steps):
        return 1.0 / (1.0 + np.exp(-a * (t - np.asarray(steps))))

    def moment(density, steps, power):
        weight = np.arange(1, len(steps) + 1) ** power - np.arange(len(steps)) ** power
        return quad(lambda t: density(t) * (weight @ cumulative(t, steps)), -12, 12)[0]

    ref, foc = (lambda t: norm.pdf(t)), (lambda t: norm.pdf(t, 0.3, 1.0))
    smd = moment(foc, shifted, 1) - moment(foc, b, 1)
    mean = 0.5 * moment(ref, b, 1) + 0.5 * moment(foc, shifted, 1)
    sd = np.sqrt(0.5 * moment(ref, b, 2) + 0.5 * moment(foc, shifted, 2) - mean**2)
    return smd, sd, smd / sd


def test_dichotomous_classes_and_delta_against_the_truth():
    x, groups, a, b, _ = _two_groups("2pl", 41)
    res = likelihood_ratio_dif(x, groups, model="2pl", n_points=31)
    assert res.ets_class[2] == "C" and res.favoured[2] == "kk"
    assert res.ets_class[5] == "A"
    assert set(np.delete(res.ets_class, [2, 5])) == {"A"}
    for j, shift in ((2, 0.6), (5, 0.1)):
        truth = -2.35 * a[j] * shift
        assert abs(res.delta[j] - truth) < 3 * res.delta_se[j]
        assert 0.2 < res.delta_se[j] < 0.5
    # Holm over the 20 items, and the typed rows
    np.testing.assert_allclose(res.p_adjusted, holm(res.p_value))
    row = res.rows()[2]
    assert row.item == "Q3" and row.ets_class == "C" and row.df == 2
    assert row.delta == res.delta[2] and row.p_adjusted < 1e-6
    assert res.flagged() == ("Q3",)
    assert "C  kk" in res.summary()


def test_graded_classes_and_smd_against_the_truth_on_sparse_data():
    x, groups, a, b, shifted = _two_groups("grm", 42, missing=0.4)  # each answers about 12 of 20
    res = likelihood_ratio_dif(x, groups, model="grm", n_points=31)
    assert res.ets_class[2] == "C" and res.favoured[2] == "kk"
    assert res.ets_class[5] == "A"
    assert set(np.delete(res.ets_class, [2, 5])) == {"A"}
    assert np.all(np.isnan(res.delta))  # Δ is for 0/1 items
    for j in (2, 5):
        smd, sd, ratio = _graded_truth(a[j], b[j], shifted[j])
        assert abs(res.smd[j] - smd) < 3 * res.smd_se[j]
        assert abs(res.sd_total[j] - sd) < 0.05 * sd
        assert abs(res.smd_sd[j] - ratio) < 3 * res.smd_se[j] / sd
    assert ratio > -0.17  # the small one is truly negligible (class A by magnitude)
    observed = ~np.isnan(x)
    assert res.n_reference.tolist() == observed[:1000].sum(axis=0).tolist()
    assert res.n_focal.tolist() == observed[1000:].sum(axis=0).tolist()


def _sizes_at(ref_model, foc_model, rows_ref, rows_foc, cov):
    """The effect sizes of two one-item models on 61 nodes, with a stand-in fit's covariance."""
    from types import SimpleNamespace

    from qabilet.calibration.dif_lr import _Curves, _fit_covariance, effect_sizes

    nodes = np.linspace(-6, 6, 61)

    def curves(model, mean):
        prob = model.prob(nodes)[:, 0, :]
        weights = norm.pdf(nodes, mean) / norm.pdf(nodes, mean).sum()
        return _Curves(prob, prob[:, :, None] * model.dlog_prob_dparams(nodes)[:, 0], weights)

    fit = SimpleNamespace(se_computed=True, covariance=cov)
    joint = _fit_covariance(fit, np.concatenate([rows_ref, rows_foc]))
    return effect_sizes(curves(ref_model, 0.0), curves(foc_model, 0.3), 900, 700, joint)


@pytest.mark.parametrize("pair", [(TwoPL([1.4], [0.2]), TwoPL([1.1], [0.7])),
                                  (GradedResponse([1.3], [[-1.0, 0.0, 0.8]]),
                                   GradedResponse([1.6], [[-0.7, 0.4, 1.1]]))])
def test_standard_errors_follow_the_effect_sizes_derivatives(pair):
    """Each gradient entry, read as the SE under a unit variance of that parameter alone, equals
    the central difference of the effect size."""
    ref_model, foc_model = pair
    psi_ref, psi_foc = ref_model.param_vector()[0], foc_model.param_vector()[0]
    n_free = 2 if isinstance(ref_model, TwoPL) else psi_ref.size  # the 2PL's g and u are fixed
    rows_ref = np.where(np.arange(psi_ref.size) < n_free, np.arange(psi_ref.size), -1)
    rows_foc = np.where(rows_ref >= 0, rows_ref + n_free, -1)
    checked = 0
    for j in range(2 * n_free):
        cov = np.zeros((2 * n_free, 2 * n_free))
        cov[j, j] = 1.0
        step = np.zeros(psi_ref.size)
        step[j % n_free] = 1e-6
        on_ref, on_foc = step * (j < n_free), step * (j >= n_free)
        at = _sizes_at(ref_model, foc_model, rows_ref, rows_foc, cov)
        up, down = (_sizes_at(ref_model.with_params((psi_ref + s * on_ref)[None]),
                              foc_model.with_params((psi_foc + s * on_foc)[None]), rows_ref, rows_foc, cov)
                    for s in (1.0, -1.0))
        for key, se in (("smd", "smd_se"), ("delta", "delta_se")):
            if np.isnan(at[key]):
                continue
            assert at[se] == pytest.approx(abs(up[key] - down[key]) / 2e-6, rel=1e-5, abs=1e-8)
            checked += 1
    assert checked == 2 * n_free * (2 if n_free == 2 else 1)  # Δ only for the 0/1 item


def test_adjustments_and_their_errors():
    from qabilet.engine.exceptions import InvalidParameterError

    x, groups = _data(3, 0.0)
    with pytest.raises(InvalidParameterError, match="adjust"):
        likelihood_ratio_dif(x, groups, adjust="fdr")
    with pytest.raises(InvalidParameterError, match="alpha"):
        likelihood_ratio_dif(x, groups, alpha=1.5)
    res = likelihood_ratio_dif(x, groups, items=["Q1", "Q2", "Q3"], adjust="bh", n_points=31)
    np.testing.assert_allclose(res.p_adjusted, benjamini_hochberg(res.p_value))
    bonferroni = np.minimum(1.0, 3 * res.p_value)
    assert res.flagged(alpha=0.5, adjust="bonferroni") == tuple(
        i for i, p in zip(res.items, bonferroni) if p < 0.5)
    frame = res.to_frame()
    assert list(frame["item"]) == ["Q1", "Q2", "Q3"] and "ets_class" in frame


def test_an_item_a_group_answered_in_fewer_categories_is_not_tested():
    """Sparse polytomous data: a group that never used a category has no parameters for it."""
    rng = np.random.default_rng(44)
    items = GradedResponse(rng.uniform(1.0, 2.0, 6), np.sort(rng.normal(0, 1, (6, 3)), axis=1))
    groups = np.array(["kk"] * 600 + ["ru"] * 600)
    x = simulate_responses(items, rng.normal(size=1200), rng).astype(float)
    x[rng.random(x.shape) < 0.3] = np.nan
    x[(groups == "ru") & (x[:, 0] == 2), 0] = 1  # "ru" never answers item Q1 in category 2
    res = likelihood_ratio_dif(x, groups, model="grm", n_points=31)
    assert list(res.not_tested) == ["Q1"] and "[2]" in res.not_tested["Q1"]
    assert np.isnan(res.statistic[0]) and res.ets_class[0] == "" and res.favoured[0] is None
    assert res.df[0] == 4 and res.rows()[0].note == res.not_tested["Q1"]
    np.testing.assert_allclose(res.p_adjusted[1:], holm(res.p_value[1:]))  # a family of five
    assert np.all(np.isfinite(res.statistic[1:])) and set(res.ets_class[1:]) == {"A"}
    assert "not tested: Q1" in res.summary()
