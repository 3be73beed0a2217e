"""Score (Lagrange-multiplier) DIF: agrees with the likelihood-ratio test, finds planted DIF, its
scores are the multi-group log-likelihood's gradient, and sparse data work."""

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import chi2

from qabilet.calibration import MML, likelihood_ratio_dif, score_dif
from qabilet.engine.latent import LatentDistribution
from qabilet.engine.models import GradedResponse, TwoPL
from qabilet.engine.quadrature import equispaced_grid
from qabilet.engine.simulation import simulate_responses

N_POINTS = 31


def _data(seed, n_items, n_per_group, shift, share=1.0):
    """Two groups ("kk" reference, "ru" 0.4 SD abler); item Q3's difficulty ``shift`` higher for "ru"."""
    rng = np.random.default_rng(seed)
    items = TwoPL(rng.uniform(0.9, 2.0, n_items), rng.normal(0, 1, n_items))
    theta = np.concatenate([rng.normal(0, 1, n_per_group), rng.normal(0.4, 1, n_per_group)])
    x = simulate_responses(items, theta, rng).astype(float)
    b = items.b.copy()
    b[2] += shift
    x[n_per_group:, 2] = simulate_responses(TwoPL(items.a[2:3], b[2:3]), theta[n_per_group:], rng)[:, 0]
    if share < 1.0:  # each simulee answers a random subset
        x[rng.random(x.shape) >= share] = np.nan
    return x, np.array(["kk"] * n_per_group + ["ru"] * n_per_group), items


@pytest.mark.parametrize("share", [1.0, 0.4])
def test_agrees_with_the_likelihood_ratio_test_and_finds_the_planted_item(share):
    """Complete data and sparse data (each simulee answering ~40% of the items): the score
    statistic tracks the refitted G² (asymptotically equivalent under no DIF), the same items
    are flagged, and the planted item's Mantel–Haenszel Δ is near its truth −2.35 a Δb."""
    x, groups, items = _data(1 if share == 1 else 4, 12, 1500, 0.8, share)
    fast = score_dif(x, groups, n_points=N_POINTS)
    slow = likelihood_ratio_dif(x, groups, n_points=N_POINTS)
    assert fast.method == "score" and slow.method == "likelihood ratio"
    assert np.corrcoef(fast.statistic, slow.statistic)[0, 1] > 0.9
    assert fast.flagged() == slow.flagged()  # (the planted item shifts the others' scale a little)
    assert "Q3" in fast.flagged()
    assert fast.ets_class[2] in ("B", "C")
    truth = -2.35 * items.a[2] * 0.8
    assert abs(fast.delta[2] - truth) < 0.25 * abs(truth)
    assert fast.favoured[2] == "kk"
    np.testing.assert_allclose(fast.p_value, chi2.sf(fast.statistic, 2))
    assert fast.rows()[2].item == "Q3" and "LM" in fast.summary()


def test_no_dif_false_positives_stay_at_the_level():
    """30 DIF-free items: none is flagged after Holm's adjustment (familywise 5%), and the raw
    p-values are not piled up below 0.05 (the χ² reference holds)."""
    x, groups, _ = _data(7, 30, 1000, 0.0)
    res = score_dif(x, groups, n_points=N_POINTS)
    assert res.flagged() == ()
    assert set(res.ets_class.tolist()) == {"A"}
    assert np.mean(res.p_value < 0.05) <= 0.15
    assert 1.0 < np.mean(res.statistic) < 3.0  # a χ²(2) has mean 2
    # a calibration at hand is not refitted; items short of answers in a group are not tested
    fit = MML(n_points=N_POINTS, compute_se=False).fit(x, groups=groups)
    np.testing.assert_allclose(score_dif(x, groups, fit=fit).statistic, res.statistic, rtol=1e-6)
    short = score_dif(x, groups, fit=fit, min_answers=1001)  # each group answered 1,000 times
    assert np.isnan(short.statistic).all() and "1000 times" in short.not_tested["Q1"]


def _marginal_loglik(bank_items, latents, x, group_of):
    """Σ_p log Σ_q w_{g(p),q} Π_i P_i(x_pi | θ_q), written out independently of the engine's E-step."""
    grid = equispaced_grid(None, N_POINTS, (-6.0, 6.0))
    nodes = grid.nodes[:, 0]
    total = np.zeros((x.shape[0], nodes.size))
    for i, model in enumerate(bank_items):  # per group the model it answers with
        for g, m in enumerate(model):
            log_p = m.log_prob(nodes)[:, 0, :]  # (Q, K)
            rows = (group_of == g) & ~np.isnan(x[:, i])
            total[rows] += log_p[:, x[rows, i].astype(int)].T
    log_w = np.stack([np.log(equispaced_grid(lat, N_POINTS, (-6.0, 6.0)).weights) for lat in latents])
    return float(logsumexp(total + log_w[group_of], axis=1).sum())


def test_scores_are_the_gradient_of_the_multi_group_log_likelihood():
    """The focal group's summed score of each item parameter, and of its latent mean and
    log-variance, equal central differences of the marginal log-likelihood with that parameter
    moved for the focal group only (sparse data, a 2PL and a graded item)."""
    from qabilet.calibration._diagnostics import _recode
    from qabilet.calibration.dif_score import _item_scores, _latent_scores, _Layout, _posterior

    rng = np.random.default_rng(3)
    theta = np.concatenate([rng.normal(0, 1, 300), rng.normal(0.5, 1, 300)])
    truth = [TwoPL([1.2, 0.8, 1.5], [0.0, -0.5, 0.7]), GradedResponse([1.1], [[-1.0, 0.2, 1.0]])]
    x = np.column_stack([simulate_responses(m, theta, rng) for m in truth]).astype(float)
    x[rng.random(x.shape) < 0.3] = np.nan
    groups = np.array(["kk"] * 300 + ["ru"] * 300)
    fit = MML(model=["2pl"] * 3 + ["grm"], n_points=N_POINTS, compute_se=False).fit(x, groups=groups)
    group_of = (groups == "ru").astype(np.intp)
    bank = fit.bank
    resp = _recode(fit, bank, x, ~np.isnan(x))
    nodes = equispaced_grid(None, N_POINTS, (-6.0, 6.0)).nodes
    latents = [g.latent for g in fit.groups]
    post = _posterior(bank, resp, nodes, [equispaced_grid(lat, N_POINTS, (-6.0, 6.0)).weights
                                          for lat in latents], group_of)
    layout = _Layout(bank)
    scores = _item_scores(bank, resp, post, nodes, layout.width)
    models = [bank.subset([i]).models[0] for i in range(bank.n_items)]
    h = 1e-5
    checked = 0
    for i, model in enumerate(models):
        psi = model.param_vector()[0]
        for p in np.flatnonzero(layout.tested[i]):
            moved = []
            for sign in (1, -1):
                step = psi.copy()
                step[p] += sign * h
                per_item = [(m, m) for m in models]
                per_item[i] = (model, model.with_params(step[None]))
                moved.append(_marginal_loglik(per_item, latents, x, group_of))
            numeric = (moved[0] - moved[1]) / (2 * h)
            assert scores[group_of == 1, i, p].sum() == pytest.approx(numeric, rel=1e-4, abs=1e-4)
            checked += 1
    assert checked == 3 * 2 + 4  # slope and intercept of each 2PL item; slope and 3 of the graded
    latent = _latent_scores(fit, post, nodes[:, 0], group_of)
    assert latent.shape[1] == 2  # the focal group's mean and variance
    focal = latents[1]
    for column, move in ((0, lambda s: LatentDistribution(focal.mean + s, focal.cov)),
                         (1, lambda s: LatentDistribution(focal.mean, focal.cov * np.exp(s)))):
        moved = [_marginal_loglik([(m, m) for m in models], [latents[0], move(sign * h)], x, group_of)
                 for sign in (1, -1)]
        assert latent[:, column].sum() == pytest.approx((moved[0] - moved[1]) / (2 * h), rel=1e-4, abs=1e-4)
