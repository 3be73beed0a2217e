"""RMSD item fit: a brute-force reference, the calibration's score equations, misfit under CAT sparsity.

Independent truths used here:

* a slow reference written with plain loops — each person's posterior on the grid by direct
  multiplication of the probabilities of their answers (no logarithms, no one-hot products),
  the observed curves and densities by accumulation person by person;
* the likelihood equations of the calibration: at the maximum of the marginal likelihood the
  intercept's score of a 2PL or GPCM item is :math:`\\sum_q (r_{iqk} - N_{iq} P_{ik}(\\theta_q))`,
  with the E-step's pseudo-counts — so the posterior-weighted mean deviation of every such item
  is 0 when the RMSD's posteriors are the E-step's (summed over groups in a multi-group fit);
* the distribution of the RMSD under the model, by simulating the same design again
  (parametric bootstrap), against which a misfitting item stands out.
"""

import numpy as np
import pytest

from qabilet.calibration import MML, rmsd
from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.models import (
    GeneralizedPartialCredit,
    GradedResponse,
    NominalResponse,
    ThreePL,
    TwoPL,
)
from qabilet.engine.simulation import simulate_responses

NODES = np.linspace(-6.0, 6.0, 61)


def reference_rmsd(banks, x, observed, group_of):
    """Loops over groups, persons and items: RMSD, MD and each category's RMSD."""
    n_items = x.shape[1]
    out_rmsd = np.full((len(banks), n_items), np.nan)
    out_md = np.full((len(banks), n_items), np.nan)
    for g, bank in enumerate(banks):
        mean, var = bank.latent.mean[0], bank.latent.cov[0, 0]
        prior = np.exp(-0.5 * (NODES - mean) ** 2 / var)
        prior /= prior.sum()
        prob = bank.prob(NODES)  # the model's curves (tested against mirt in tests/engine)
        persons = [p for p in range(x.shape[0]) if group_of[p] == g]
        posterior = {}
        for p in persons:
            post = prior.copy()
            for i in range(n_items):
                if observed[p, i]:
                    post = post * prob[:, i, int(x[p, i])]
            posterior[p] = post / post.sum()
        for i in range(n_items):
            k_i = int(bank.n_categories[i])
            num = np.zeros((k_i, NODES.size))
            den = np.zeros(NODES.size)
            n = 0
            for p in persons:
                if observed[p, i]:
                    num[int(x[p, i])] += posterior[p]
                    den += posterior[p]
                    n += 1
            if n == 0:
                continue
            f = den / n
            total_sq, total_dev = 0.0, 0.0
            for k in range(k_i):
                o = num[k] / den
                total_sq += np.sum(f * (o - prob[:, i, k]) ** 2)
                total_dev += k * np.sum(f * (o - prob[:, i, k]))
            out_rmsd[g, i] = np.sqrt(total_sq / k_i)
            out_md[g, i] = total_dev / (k_i - 1)
    return out_rmsd, out_md


def _mixed_bank():
    rng = np.random.default_rng(21)
    models = [
        ThreePL(rng.uniform(0.9, 1.8, 3), rng.normal(0, 1, 3), [0.15, 0.2, 0.1]),
        GradedResponse(rng.uniform(0.9, 1.8, 3), np.sort(rng.normal(0, 1, (3, 3)), axis=1)),
        GeneralizedPartialCredit(rng.uniform(0.7, 1.5, 3), rng.normal(0, 1, (3, 2))),
        NominalResponse([[0.0, 0.6, 1.6]] * 3, [[0.0, 0.4, -0.2], [0.0, -0.3, 0.5], [0.0, 0.2, 0.1]]),
    ]
    return ItemBank(models, [f"I{j}" for j in range(12)])


def test_agrees_with_a_brute_force_reference_for_every_model_and_group():
    bank = _mixed_bank()
    rng = np.random.default_rng(22)
    theta = np.concatenate([rng.normal(0, 1, 700), rng.normal(0.5, 0.9, 700)])
    x = simulate_responses(bank, theta, rng).astype(float)
    x[rng.random(x.shape) < 0.45] = np.nan  # each person answers about 7 of 12
    groups = np.array(["kk"] * 700 + ["ru"] * 700)
    fit = MML(model=list(bank.model_names), group_specific=["I0", "I4"],
              compute_se=False).fit(x, item_ids=bank.item_ids, groups=groups)
    assert all(np.array_equal(c, np.arange(c.size)) for c in fit.categories)  # codes = categories
    res = rmsd(fit, x, groups=groups)
    banks = [fit.group("kk").bank, fit.group("ru").bank]
    assert banks[1].latent.mean[0] != 0.0  # each group's own prior
    ref, ref_md = reference_rmsd(banks, np.nan_to_num(x), ~np.isnan(x), (groups == "ru").astype(int))
    np.testing.assert_allclose(res.rmsd, ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.md, ref_md, rtol=0, atol=1e-12)
    assert res.groups == ("kk", "ru")
    assert res.n_answered.tolist() == [(~np.isnan(x[groups == g])).sum(axis=0).tolist()
                                       for g in ("kk", "ru")]
    # the item's RMSD is the root mean square of its categories'
    np.testing.assert_allclose(res.rmsd, np.sqrt(np.nanmean(res.category_rmsd**2, axis=2)), atol=1e-15)
    np.testing.assert_allclose(res.density.sum(axis=2), 1.0, atol=1e-12)


def test_a_bank_and_a_mapping_of_group_banks():
    bank = _mixed_bank()
    rng = np.random.default_rng(23)
    theta = rng.normal(0, 1, 500)
    x = simulate_responses(bank, theta, rng).astype(float)
    x[rng.random(x.shape) < 0.3] = np.nan
    obs = ~np.isnan(x)
    one = rmsd(bank, x)
    ref, _ = reference_rmsd([bank], np.nan_to_num(x), obs, np.zeros(500, int))
    np.testing.assert_allclose(one.rmsd, ref, atol=1e-12)
    # the same with an explicit mask and the missing cells filled with anything
    filled = np.where(obs, x, 0)
    np.testing.assert_allclose(rmsd(bank, filled, obs).rmsd, one.rmsd, atol=1e-15)
    # per group, each with its own latent distribution as the prior
    from qabilet.engine.latent import LatentDistribution

    groups = np.where(np.arange(500) < 250, "a", "b")
    shifted = bank.with_latent(LatentDistribution([0.7], [[0.5]]))
    res = rmsd({"a": bank, "b": shifted}, x, groups=groups)
    ref, _ = reference_rmsd([bank, shifted], np.nan_to_num(x), obs, (groups == "b").astype(int))
    np.testing.assert_allclose(res.rmsd, ref, atol=1e-12)


@pytest.mark.parametrize("kind", ["2pl", "gpcm"])
def test_mean_deviation_vanishes_at_the_maximum_likelihood(kind):
    rng = np.random.default_rng(24)
    n = 3000
    if kind == "2pl":
        truth = TwoPL(rng.uniform(0.8, 1.8, 12), rng.normal(0, 1, 12))
    else:
        truth = GeneralizedPartialCredit(rng.uniform(0.7, 1.5, 12), rng.normal(0, 1, (12, 2)))
    groups = np.where(np.arange(n) < n // 2, "kk", "ru")
    theta = rng.normal(np.where(groups == "ru", 0.4, 0.0), 1.0)
    x = simulate_responses(truth, theta, rng).astype(float)
    x[rng.random(x.shape) < 0.6] = np.nan  # sparse
    fit = MML(model=kind, compute_se=False, tol=1e-8, tol_loglik=1e-13).fit(x, groups=groups)
    assert fit.converged
    res = rmsd(fit, x, groups=groups)
    # Σ_g n_ig MD_ig is the intercepts' score (divided by K − 1): zero at the estimate
    pooled = (res.n_answered * res.md).sum(axis=0) / res.n_answered.sum(axis=0)
    assert np.abs(pooled).max() < 1e-7
    assert np.abs(res.md).max() > 1e-3  # not zero group by group: the sum is the identity
    # GPCM and 2PL: every category's own intercept score vanishes too
    cat_dev = np.einsum("giq,gikq->gik", res.density * res.n_answered[:, :, None],
                        res.observed - res.expected).sum(axis=0)
    assert np.abs(cat_dev).max() < 1e-4  # persons


def _cat_design(bank, true_items, theta, length, rng):
    """A simple adaptive test: an item near the EAP (one of the 5 closest), answers from the truth.

    ``bank`` (2PL) chooses and scores as the bank in service would; ``true_items`` answers.
    Matching the difficulty to the current estimate spreads the exposure over the whole bank,
    as exposure control would, while each item is answered mostly near its difficulty.
    """
    n = theta.size
    full = simulate_responses(true_items, theta, rng)
    log_p = bank.log_prob(NODES)  # (Q, I, K)
    b = bank.models[0].b
    log_post = np.tile(-0.5 * NODES**2, (n, 1))
    given = np.zeros(full.shape, dtype=bool)
    rows = np.arange(n)
    for _ in range(length):  # steps of the test, every simulee at once
        w = np.exp(log_post - log_post.max(axis=1, keepdims=True))
        eap = (w @ NODES) / w.sum(axis=1)
        distance = np.where(given, np.inf, np.abs(b[None, :] - eap[:, None]))
        top = np.argsort(distance + rng.random(given.shape) * 1e-9, axis=1)[:, :5]
        item = top[rows, rng.integers(0, 5, n)]  # randomesque: one of the five closest
        given[rows, item] = True
        log_post += log_p[:, item, full[rows, item]].T
    return np.where(given, full, np.nan)


def test_cat_sparse_data_fit_and_a_shifted_item_is_flagged():
    rng = np.random.default_rng(26)
    bank = ItemBank([TwoPL(rng.uniform(0.8, 2.0, 40), np.linspace(-1.5, 1.5, 40))])
    n, length = 5000, 10  # each simulee answers 10 of 40 items

    def design(true_items):
        return _cat_design(bank, true_items, rng.normal(size=n), length, rng)

    # the RMSD's distribution under the model, item by item: the same design simulated again
    null = np.array([rmsd(bank, design(bank)).rmsd[0] for _ in range(20)])
    bound = null.mean(axis=0) + 4 * null.std(axis=0, ddof=1)
    assert bound.max() < 0.12  # the PISA cut is far above the model's own noise here
    fitting = design(bank)
    assert np.all((~np.isnan(fitting)).sum(axis=1) == length)
    res = rmsd(bank, fitting)
    assert res.n_answered.min() > 250
    assert np.all(res.rmsd[0] < bound)
    assert res.flagged_items() == []
    # item Q20's data one logit harder than the bank says
    b_true = bank.models[0].b.copy()
    b_true[19] += 1.0
    x = design(ItemBank([TwoPL(bank.models[0].a, b_true)]))
    res = rmsd(bank, x)
    assert res.flagged_items() == [(None, "Q20")]
    assert res.rmsd[0, 19] > 2 * res.threshold
    assert res.md[0, 19] < -0.2  # fewer right answers than the bank says
    others = np.arange(40) != 19
    # the misfitting item's answers bias the posteriors of the persons who gave them, so the
    # others' RMSD rises a little (Robitzsch 2022); without them the others fit again
    x[:, 19] = np.nan
    assert np.all(rmsd(bank, x).rmsd[0, others] < bound[others])


def test_complete_data_and_a_flattened_graded_item():
    rng = np.random.default_rng(26)
    a, b = rng.uniform(1.0, 2.0, 15), np.sort(rng.normal(0, 1, (15, 3)), axis=1)
    bank = ItemBank([GradedResponse(a, b)])
    a_true = a.copy()
    a_true[4] = a[4] / 4  # item Q5's data hardly depend on θ
    theta = rng.normal(size=1500)
    x = simulate_responses(GradedResponse(a_true, b), theta, rng)
    res = rmsd(bank, x)
    null = np.array([rmsd(bank, simulate_responses(bank, rng.normal(size=1500), rng)).rmsd[0]
                     for _ in range(20)])
    bound = null.mean(axis=0) + 4 * null.std(axis=0, ddof=1)
    others = np.arange(15) != 4
    assert np.all(res.rmsd[0, others] < bound[others])
    assert res.flagged_items() == [(None, "Q5")]
    assert res.n_answered.tolist() == [[1500] * 15]
    # the model's density weighs the same deviations by N(0, 1) instead
    model = rmsd(bank, x, density="model")
    assert model.flagged_items() == [(None, "Q5")]
    np.testing.assert_allclose(model.density[0, 0], model.density[0, 7])  # one density for all


def test_group_with_dif_is_flagged_until_the_item_is_group_specific():
    rng = np.random.default_rng(27)
    items = TwoPL(rng.uniform(1.0, 2.0, 15), rng.normal(0, 1, 15))
    groups = np.array(["kk"] * 2000 + ["ru"] * 2000)
    theta = rng.normal(np.where(groups == "ru", 0.3, 0.0), 1.0)
    x = simulate_responses(items, theta, rng).astype(float)
    x[groups == "ru", 6] = simulate_responses(TwoPL(items.a[6:7], items.b[6:7] + 1.5),
                                              theta[groups == "ru"], rng)[:, 0]
    x[rng.random(x.shape) < 0.5] = np.nan
    common = MML(model="2pl", compute_se=False).fit(x, groups=groups)
    res = rmsd(common, x, groups=groups)
    assert set(res.flagged_items()) <= {("kk", "Q7"), ("ru", "Q7")}
    assert res.rmsd[:, 6].max() > 0.12
    assert np.delete(res.rmsd, 6, axis=1).max() < 0.06
    specific = MML(model="2pl", compute_se=False, group_specific=["Q7"]).fit(x, groups=groups)
    assert rmsd(specific, x, groups=groups).rmsd.max() < 0.06


def test_summary_frame_and_errors():
    bank = ItemBank([TwoPL([1.0, 1.5, 0.8], [0.0, -0.5, 0.5])])
    x = np.array([[0, 1, np.nan], [1, 1, 0], [np.nan, 0, 1], [1, np.nan, np.nan]])
    res = rmsd(bank, x, threshold=0.3)
    text = res.summary()
    assert "RMSD > 0.3" in text and "Q3" in text
    frame = res.to_frame()
    assert frame.shape == (3, 6) and frame["n"].tolist() == [3, 3, 2]
    assert "RMSDFit(n_items=3" in repr(res)
    never = rmsd(bank, np.array([[0, 1, np.nan], [1, 0, np.nan]]))
    assert np.isnan(never.rmsd[0, 2]) and not never.flagged[0, 2] and never.n_answered[0, 2] == 0
    with pytest.raises(InvalidParameterError, match="density"):
        rmsd(bank, x, density="prior")
    with pytest.raises(InvalidParameterError, match="threshold"):
        rmsd(bank, x, threshold=0)
    with pytest.raises(InvalidParameterError, match="groups="):
        rmsd({"a": bank, "b": bank}, x)
    with pytest.raises(InvalidParameterError, match="not among the groups"):
        rmsd({"a": bank}, x, groups=["a", "a", "b", "a"])
