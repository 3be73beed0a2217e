"""Calibration of reverse-keyed items (negative slopes) against simulated truth (issue 17).

An inventory of 12 five-category graded items, four worded against the trait (a ≈ −1.2), and a
2PL test with a third of its items reversed: the fit recovers every slope with its sign and the
thresholds (decreasing where a < 0); the scores of the fitted bank follow the true traits. A
factor's sign is not identified by the likelihood: the fit orients it so that most slopes are
positive, or as the caller's ``direction`` says — checked on data whose factor is reflected.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from qabilet.calibration import MML
from qabilet.calibration.linking import link, rescale
from qabilet.calibration.priors import LogNormal
from qabilet.engine.bank import ItemBank
from qabilet.engine.latent import LatentDistribution
from qabilet.engine.models import GradedResponse, TwoPL
from qabilet.engine.scoring import score
from qabilet.engine.simulation import simulate_responses

N = 2000
GRM_A = np.array([1.5, 1.2, 1.8, 1.0, 1.4, 1.6, 1.1, 1.3, -1.2, -1.1, -1.3, -1.2])
_BASE = np.array([-1.5, -0.5, 0.5, 1.5])
# thresholds increase where a > 0 and decrease where a < 0 (docs/file-formats.md)
GRM_B = (_BASE[None, :] + np.linspace(-0.6, 0.6, 12)[:, None]) * np.sign(GRM_A)[:, None]
TPL_A = np.array([1.2, 0.9, 1.6, 1.1, 1.4, -1.2, 1.0, 1.3, -1.0, 1.5, -1.4, 0.8, -1.2, 1.1, -0.9])
TPL_B = np.linspace(-1.4, 1.4, 15)


def theta_truth() -> np.ndarray:
    return np.random.default_rng(1701).normal(size=N)


@pytest.fixture(scope="module")
def grm_data() -> np.ndarray:
    return simulate_responses(GradedResponse(GRM_A, GRM_B), theta_truth(), rng=17)


@pytest.fixture(scope="module")
def grm_fit(grm_data):
    return MML(model="grm").fit(grm_data)


@pytest.fixture(scope="module")
def tpl_fit():
    x = simulate_responses(TwoPL(TPL_A, TPL_B), theta_truth(), rng=18)
    return MML(model="2pl").fit(x), x


def _check_recovery(result, a_true: np.ndarray, b_true: np.ndarray, b_tol: float) -> None:
    model = result.bank.models[0]
    se_a = np.array([item.se[0] for item in result.items])  # the slope's SE (first entry)
    assert np.array_equal(np.sign(model.a), np.sign(a_true))
    z = (model.a - a_true) / se_a  # N(0, 1) where the fit is right
    assert np.all(np.abs(z) < 3.0), (model.a, a_true, se_a)
    assert np.sqrt(np.mean(z**2)) < 1.5
    assert np.nanmax(np.abs(model.b - b_true.reshape(model.b.shape))) < b_tol


def test_graded_inventory_recovers_signed_slopes_and_thresholds(grm_fit) -> None:
    assert grm_fit.converged
    _check_recovery(grm_fit, GRM_A, GRM_B, 0.3)
    b = grm_fit.bank.models[0].b
    assert np.all(np.diff(b[GRM_A < 0], axis=1) < 0) and np.all(np.diff(b[GRM_A > 0], axis=1) > 0)
    assert grm_fit.bank.reverse_keyed.tolist() == (GRM_A < 0).tolist()


def test_two_pl_recovers_signed_slopes(tpl_fit) -> None:
    result, _ = tpl_fit
    _check_recovery(result, TPL_A, TPL_B, 0.25)


def test_scores_and_information_of_the_fitted_bank(grm_fit, grm_data) -> None:
    bank = grm_fit.bank
    est = score(bank, grm_data)
    assert np.corrcoef(est.theta, theta_truth())[0, 1] > 0.9
    info = bank.information(np.linspace(-3, 3, 13))  # (θ, item)
    assert np.all(info[:, bank.reverse_keyed] > 0)
    # expected scores decrease in θ exactly for the reverse-keyed items
    slope_of_score = np.diff(bank.expected_score(np.linspace(-3, 3, 13)), axis=0)
    assert np.array_equal(np.all(slope_of_score < 0, axis=0), GRM_A < 0)


def test_the_summary_marks_reverse_keyed_items(grm_fit) -> None:
    lines = [ln for ln in grm_fit.summary().splitlines() if ln.startswith("Q")]
    marked = ["[reverse-keyed]" in ln for ln in lines]
    assert marked == (GRM_A < 0).tolist()


@pytest.mark.parametrize("flip", ["reversed codes", "reflected trait"])
def test_a_reflected_factor_still_gives_mostly_positive_slopes(grm_data, flip: str) -> None:
    # reversing every item's codes, or answering at −θ, reflects the data's factor: the
    # likelihood cannot tell, so the orientation rule (most slopes positive) brings the fit back
    x = (4 - grm_data if flip == "reversed codes"
         else simulate_responses(GradedResponse(GRM_A, GRM_B), -theta_truth(), rng=17))
    result = MML(model="grm").fit(x)
    a = result.bank.models[0].a
    assert (a > 0).sum() == 8
    assert np.array_equal(np.sign(a), np.sign(GRM_A))
    assert np.abs(a - GRM_A).max() < 0.25
    est = score(result.bank, x)
    assert np.corrcoef(est.theta, theta_truth())[0, 1] < -0.9  # the data's factor is −θ


def test_direction_orients_a_mostly_reversed_scale(grm_data) -> None:
    # every code reversed: Q1–Q8 now worded against θ, Q9–Q12 with it (slopes −a); by default
    # the fit reflects the factor (8 slopes positive, scores ≈ −θ), as told it keeps θ
    x = 4 - grm_data
    truth = -GRM_A
    reverse_ids = [f"Q{j + 1}" for j in range(8)]
    default = MML(model="grm").fit(x).bank.models[0].a
    assert (default > 0).sum() == 8 and np.array_equal(np.sign(default), -np.sign(truth))
    told = MML(model="grm", direction=dict.fromkeys(reverse_ids, -1)).fit(x)
    a = told.bank.models[0].a
    assert np.array_equal(np.sign(a), np.sign(truth))
    assert np.abs(a - truth).max() < 0.25
    assert np.corrcoef(score(told.bank, x).theta, theta_truth())[0, 1] > 0.9


def test_two_factor_orientation_reflects_slopes_and_correlation() -> None:
    # factor B is measured only by reverse-keyed items; the factors correlate +0.4
    rng = np.random.default_rng(3)
    a = np.zeros((10, 2))
    a[:5, 0] = rng.uniform(1.0, 1.8, 5)
    a[5:, 1] = -rng.uniform(1.0, 1.8, 5)
    d = rng.uniform(-1.0, 1.0, 10)
    truth = ItemBank([TwoPL.from_slope_intercept(a, d)],
                     latent=LatentDistribution([0.0, 0.0], [[1.0, 0.4], [0.4, 1.0]]))
    theta = rng.multivariate_normal([0.0, 0.0], [[1.0, 0.4], [0.4, 1.0]], size=3000)
    x = simulate_responses(truth, theta, rng=4)
    ids = [f"Q{j + 1}" for j in range(10)]
    dims = {"A": ids[:5], "B": ids[5:]}
    plain = MML(model="2pl", dims=dims, compute_se=False).fit(x, item_ids=ids)
    told = MML(model="2pl", dims=dims, compute_se=False,
               direction=dict.fromkeys(ids[5:], -1)).fit(x, item_ids=ids)
    # most slopes positive: B reflected, so its correlation with A is negative
    assert np.all(plain.bank.slopes[5:, 1] > 0)
    assert abs(plain.latent.cov[0, 1] + 0.4) < 0.08
    np.testing.assert_allclose(told.bank.slopes[5:, 1], a[5:, 1], atol=0.25)
    assert abs(told.latent.cov[0, 1] - 0.4) < 0.08
    np.testing.assert_allclose(told.bank.slopes, plain.bank.slopes * [1.0, -1.0], atol=1e-3)
    assert told.loglik == pytest.approx(plain.loglik, abs=1e-6)


def test_the_log_normal_slope_prior_mirrors_onto_negative_slopes() -> None:
    prior, reference = LogNormal(0.1, 0.5), stats.lognorm(s=0.5, scale=np.exp(0.1))
    x = np.array([-2.5, -1.0, -0.3])
    np.testing.assert_allclose(prior.logpdf(x), reference.logpdf(-x), rtol=1e-12)
    # log p(x) = log f(−x) for x < 0: the first derivative is odd, the second even (those at
    # x > 0 are checked by finite differences in test_mml_priors.py)
    (d1, d2), (e1, e2) = prior.derivatives(x), prior.derivatives(-x)
    np.testing.assert_allclose(d1, -e1, rtol=1e-14)
    np.testing.assert_allclose(d2, e2, rtol=1e-14)
    assert np.all(d1[x < -np.exp(0.1 - 0.25)] > 0)  # beyond the mode the prior pulls back in


def test_a_log_normal_slope_prior_keeps_reverse_keyed_slopes_negative(grm_data) -> None:
    result = MML(model="grm", priors={"a": LogNormal(0.0, 0.5)}, compute_se=False).fit(grm_data)
    a = result.bank.models[0].a
    assert result.converged
    assert np.array_equal(np.sign(a), np.sign(GRM_A))
    assert np.abs(a - GRM_A).max() < 0.25


def test_a_fixed_slope_keeps_the_factors_orientation() -> None:
    # most 2PL items reverse-keyed, Q1 a Rasch item (slope fixed at 1): reflecting the factor
    # would change the likelihood, so the fit keeps the orientation the fixed slope sets
    a = -np.abs(TPL_A)
    a[0] = 1.0
    x = simulate_responses(TwoPL(a, TPL_B), theta_truth(), rng=19)
    models = {"Q1": "rasch", **{f"Q{j + 1}": "2pl" for j in range(1, 15)}}
    result = MML(model=models, compute_se=False).fit(x)
    fitted = result.bank.slopes[:, 0]
    assert fitted[0] == 1.0 and np.all(fitted[1:] < 0)
    assert np.abs(fitted - a).max() < 0.35


def test_a_reflected_multi_group_fit_negates_the_group_means() -> None:
    # 10 of 15 items reverse-keyed against the data's factor; the focal group sits 0.5 above the
    # reference on it: oriented with most slopes positive, the focal mean comes out near −0.5
    rng = np.random.default_rng(23)
    groups = np.repeat(["ref", "foc"], N)
    theta = np.concatenate([rng.normal(0.0, 1.0, N), rng.normal(0.5, 1.0, N)])
    x = simulate_responses(TwoPL(-TPL_A, TPL_B), theta, rng=24)
    result = MML(model="2pl", compute_se=False, reference_group="ref").fit(x, groups=groups)
    slopes = result.bank.slopes[:, 0]
    np.testing.assert_allclose(slopes, TPL_A, atol=0.3)
    focal = result.groups[[g.label for g in result.groups].index("foc")]
    assert abs(focal.bank.latent.mean[0] + 0.5) < 0.1


@pytest.mark.parametrize("method", ["mean-mean", "mean-sigma", "haebara", "stocking-lord"])
def test_linking_through_reverse_keyed_anchors(method: str) -> None:
    # anchors whose signed slopes average 0: the source is the target on the scale
    # θ_s = (θ_t − B)/A, so linking must give back A = 1.3, B = −0.4 exactly
    target = ItemBank([GradedResponse([1.2, -1.2, 0.8, -0.8],
                                      [[-1.0, 0.5], [1.1, -0.2], [-0.3, 1.4], [0.9, -1.6]])])
    source = rescale(target, 1 / 1.3, 0.4 / 1.3)
    out = link(source, target, method=method)
    assert out.slope == pytest.approx(1.3, abs=1e-5)
    assert out.shift == pytest.approx(-0.4, abs=1e-5)
