"""Q3 and LD-X²: mirt's values, direct computations, local independence and a dependent pair."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from mirt_reference import load_data, load_fit, model_of  # noqa: E402

from qabilet.calibration import MML, local_dependence  # noqa: E402
from qabilet.engine.bank import ItemBank  # noqa: E402
from qabilet.engine.exceptions import InvalidParameterError  # noqa: E402
from qabilet.engine.models import GradedResponse, TwoPL  # noqa: E402
from qabilet.engine.quadrature import equispaced_grid  # noqa: E402
from qabilet.engine.scoring import eap  # noqa: E402
from qabilet.engine.simulation import simulate_responses  # noqa: E402

# mirt's own test suite (philchalmers/mirt, tests/testthat/test-01-mirtOne.R) checks
# residuals(mirt(expand.table(LSAT7), 1)) — Chen & Thissen's LD X² below the diagonal, signed
# Cramér's V above — against these values (column-major 5 × 5). Our parameters are mirt 1.47's
# fit of the same data (tests/data/mirt/lsat7.json), which differ from that run's in the third
# decimal; mirt's own tolerance is 1e-2.
MIRT_LSAT7_LD = np.array([
    np.nan, 0.451213, 0.8562096, 2.577395, 2.392183, -0.02124177, np.nan, 1.053826, 0.2662122,
    1.383089, -0.02926106, 0.03246269, np.nan, 0.1542321, 0.002940504, 0.05076805, -0.01631601,
    -0.01241902, np.nan, 9.962506e-06, 0.04890994, -0.0371899, -0.00171479, 9.981236e-05, np.nan,
]).reshape(5, 5, order="F")


def _simulate(model, n, seed):
    rng = np.random.default_rng(seed)
    return simulate_responses(model, rng.normal(size=n), rng)


def test_lsat7_ld_x2_matches_mirt():
    model, latent = model_of(load_fit("lsat7", "2PL"))
    ld = local_dependence(ItemBank([model], latent=latent), load_data("lsat7").astype(int))
    lower = np.tril_indices(5, -1)
    upper = (lower[1], lower[0])
    np.testing.assert_allclose(ld.ld_x2[lower], MIRT_LSAT7_LD[lower], atol=1e-2)
    np.testing.assert_allclose(ld.ld_signed_v[upper], MIRT_LSAT7_LD[upper], atol=1e-3)
    big = np.abs(MIRT_LSAT7_LD[upper]) > 1e-3
    np.testing.assert_array_equal(np.sign(ld.ld_signed_v[upper])[big],
                                  np.sign(MIRT_LSAT7_LD[upper])[big])
    assert np.all(ld.ld_df[lower] == 1)


def test_q3_is_the_correlation_of_eap_residuals():
    rng = np.random.default_rng(0)
    model = GradedResponse(rng.uniform(0.8, 2, 6), np.sort(rng.normal(size=(6, 2)), axis=1))
    x = _simulate(model, 500, 1)
    observed = rng.random(x.shape) > 0.1
    ld = local_dependence(model, np.where(observed, x, 0), observed)
    theta = eap(model, np.where(observed, x, 0), observed).theta
    resid = x - (model.prob(theta) * np.arange(3)).sum(axis=-1)
    for i in range(6):
        for j in range(i + 1, 6):
            both = observed[:, i] & observed[:, j]
            r = np.corrcoef(resid[both, i], resid[both, j])[0, 1]
            assert ld.q3[i, j] == pytest.approx(r, abs=1e-12)
            assert ld.q3[j, i] == pytest.approx(r, abs=1e-12)
    assert np.isnan(np.diag(ld.q3)).all()


def test_ld_x2_equals_a_direct_two_way_table_computation():
    rng = np.random.default_rng(2)
    model = GradedResponse(rng.uniform(0.8, 2, 4), np.sort(rng.normal(size=(4, 2)), axis=1))
    x = _simulate(model, 700, 3)
    ld = local_dependence(model, x)
    grid = equispaced_grid(n_points=61)
    p = model.prob(grid.nodes[:, 0])  # (Q, I, K)
    i, j = 1, 3
    x2, cross = 0.0, 0.0
    for k in range(3):
        for m in range(3):
            expected = len(x) * np.sum(grid.weights * p[:, i, k] * p[:, j, m])
            observed = np.sum((x[:, i] == k) & (x[:, j] == m))
            x2 += (observed - expected) ** 2 / expected
            cross += k * m * (observed - expected)
    assert ld.ld_x2[i, j] == pytest.approx(x2, rel=1e-10)
    assert ld.ld_df[i, j] == 4
    assert ld.ld_signed_v[i, j] == pytest.approx(np.sign(cross) * np.sqrt(x2 / (700 * 2)))


def test_under_local_independence():
    truth = TwoPL(np.linspace(0.7, 2.0, 20), np.linspace(-1.8, 1.8, 20))
    x = _simulate(truth, 3000, 4)
    ld = local_dependence(MML(model="2pl", compute_se=False).fit(x), x)
    assert ld.q3_mean == pytest.approx(-1 / 19, abs=0.02)  # Yen (1984)
    assert ld.flagged_pairs == ()
    assert ld.q3_star < 0.1
    p = ld.ld_p_value[np.triu_indices(20, 1)]
    assert np.mean(p < 0.05) < 0.1  # conservative with estimated parameters


def test_a_dependent_pair_is_found():
    rng = np.random.default_rng(5)
    truth = TwoPL(np.linspace(0.8, 1.8, 12), np.linspace(-1.5, 1.5, 12))
    x = _simulate(truth, 2000, 6)
    copy = rng.random(2000) < 0.4
    x[copy, 8] = x[copy, 3]  # item 9 repeats item 4's answer for 40% of persons
    ld = local_dependence(MML(model="2pl", compute_se=False).fit(x), x)
    assert ld.max_pair == (3, 8)
    assert ld.flagged_pairs == ((3, 8),)
    assert ld.q3[3, 8] > 0.2 and ld.q3_star > 0.2
    assert ld.ld_p_value[3, 8] < 1e-10 and ld.ld_signed_v[3, 8] > 0
    assert "Q4 – Q9" in ld.summary()


def test_a_pair_strong_enough_to_capture_the_trait_shows_as_its_slopes():
    # with most answers copied, the calibration makes the pair the trait (slopes ≫ 1) and the
    # pair's own Q3 is no longer large: Q3 is read together with the parameters
    rng = np.random.default_rng(5)
    truth = TwoPL(np.linspace(0.8, 1.8, 10), np.linspace(-1.5, 1.5, 10))
    x = _simulate(truth, 2000, 6)
    copy = rng.random(2000) < 0.6
    x[copy, 8] = x[copy, 3]
    fit = MML(model="2pl", compute_se=False).fit(x)
    assert set(np.argsort(fit.bank.models[0].a)[-2:]) == {3, 8}
    assert local_dependence(truth, x).max_pair == (3, 8)  # at the true parameters it shows


def test_options_are_checked_and_the_report_lists_pairs():
    truth = TwoPL(np.ones(4), np.linspace(-1, 1, 4))
    x = _simulate(truth, 200, 7)
    with pytest.raises(InvalidParameterError, match="threshold"):
        local_dependence(truth, x, threshold=0)
    with pytest.raises(InvalidParameterError, match="three items"):
        local_dependence(truth.subset([0, 1]), x[:, :2])
    pairs = local_dependence(truth, x).pairs()
    assert len(pairs) == 6 and pairs[0][:2] == ("Q1", "Q2")
    pytest.importorskip("pandas")
    assert local_dependence(truth, x).to_frame().shape == (6, 7)
