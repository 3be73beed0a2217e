"""M2: mirt's values, a brute-force computation over all response patterns, calibration, misfit."""

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from mirt_reference import load_data, load_fit, model_of  # noqa: E402

from qabilet.calibration import MML, m2  # noqa: E402
from qabilet.engine.bank import ItemBank  # noqa: E402
from qabilet.engine.exceptions import InvalidParameterError, InvalidResponseError  # noqa: E402
from qabilet.engine.latent import LatentDistribution  # noqa: E402
from qabilet.engine.models import FourPL, GradedResponse, Rasch, TwoPL  # noqa: E402
from qabilet.engine.quadrature import equispaced_grid  # noqa: E402
from qabilet.engine.simulation import simulate_responses  # noqa: E402

# mirt's own test suite (philchalmers/mirt, tests/testthat/test-01-mirtOne.R) checks M2() of
# mirt(expand.table(LSAT7), 1) (2PL): 11.93841 on 5 df; of the LSAT6 Rasch fit: 5.291576 on 9 df;
# and of the LSAT6 fit with one common slope (CONSTRAIN = (1-5, a1), our "1pl"): 5.292566 on
# 9 df. The item parameters used here are mirt 1.47's fits (tests/data/mirt/*.json) or our own
# MML fit, so agreement is to the third decimal.


def _bank(dataset, fit_name):
    model, latent = model_of(load_fit(dataset, fit_name))
    if fit_name == "Rasch":
        si = model.to_slope_intercept()
        model = Rasch.from_slope_intercept(si["a"][:, 0], si["d"])
    return ItemBank([model], latent=latent)


def test_lsat7_2pl_matches_mirt():
    res = m2(_bank("lsat7", "2PL"), load_data("lsat7").astype(int))
    assert res.m2 == pytest.approx(11.93841, rel=1e-3)
    assert (res.df, res.n_moments, res.n_estimated) == (5, 15, 10)


def test_lsat6_rasch_with_its_latent_variance_matches_mirt():
    res = m2(_bank("lsat6", "Rasch"), load_data("lsat6").astype(int))
    assert res.m2 == pytest.approx(5.291576, rel=1e-3)
    assert res.df == 9


def test_lsat6_common_slope_fit_matches_mirt():
    x = load_data("lsat6").astype(int)
    res = m2(MML(model="1pl", compute_se=False).fit(x), x)
    assert res.m2 == pytest.approx(5.292566, rel=1e-3)
    assert res.df == 9 and res.n_estimated == 6


def _brute_force_m2(bank, x, free, latent_var_free=False, h=1e-5):
    """M2 from all K^n response patterns, with Δ by central differences (Ξ⁻¹ form)."""
    patterns = np.array(list(itertools.product(*[range(k) for k in bank.n_categories])))
    n_items = bank.n_items

    def moments(pats):
        cols = []
        for i in range(n_items):
            for k in range(1, bank.n_categories[i]):
                cols.append(pats[:, i] == k)
        for i in range(n_items):
            for k in range(1, bank.n_categories[i]):
                for j in range(i + 1, n_items):
                    for m in range(1, bank.n_categories[j]):
                        cols.append((pats[:, i] == k) & (pats[:, j] == m))
        return np.column_stack(cols).astype(float)

    mom = moments(patterns)

    def pattern_probs(b):
        g = equispaced_grid(b.latent, 61)
        p = b.prob(g.nodes[:, 0])  # (Q, I, K)
        lik = np.ones((g.n_quad, len(patterns)))
        for i in range(n_items):
            lik *= p[:, i, patterns[:, i]]
        return g.weights @ lik

    def pi_of(b):
        return pattern_probs(b) @ mom

    probs = pattern_probs(bank)
    pi = probs @ mom
    xi = (mom * probs[:, None]).T @ mom - np.outer(pi, pi)
    model = bank.models[0]
    psi = model.param_vector()
    columns = []
    for i, p in zip(*np.nonzero(free)):
        up, down = psi.copy(), psi.copy()
        up[i, p] += h
        down[i, p] -= h
        columns.append((pi_of(ItemBank([model.with_params(up)], latent=bank.latent))
                        - pi_of(ItemBank([model.with_params(down)], latent=bank.latent))) / (2 * h))
    if latent_var_free:
        v = bank.latent.cov[0, 0]
        up = bank.with_latent(LatentDistribution([0.0], [[v + h]]))
        down = bank.with_latent(LatentDistribution([0.0], [[v - h]]))
        columns.append((pi_of(up) - pi_of(down)) / (2 * h))
    delta = np.column_stack(columns)
    e = moments(x).mean(axis=0) - pi
    inv = np.linalg.inv(xi)
    c2 = inv - inv @ delta @ np.linalg.inv(delta.T @ inv @ delta) @ delta.T @ inv
    return len(x) * e @ c2 @ e, len(pi) - delta.shape[1]


@pytest.mark.parametrize("kind", ["2pl", "grm", "rasch"])
def test_equals_a_brute_force_computation(kind):
    rng = np.random.default_rng(0)
    if kind == "2pl":
        model = TwoPL(rng.uniform(0.7, 2, 5), rng.normal(size=5))
        free = np.zeros(model.param_vector().shape, dtype=bool)
        free[:, :2] = True  # a, d
        latent = LatentDistribution()
    elif kind == "grm":
        model = GradedResponse(rng.uniform(0.7, 2, 3), np.sort(rng.normal(size=(3, 2)), axis=1))
        free = np.ones(model.param_vector().shape, dtype=bool)  # a, d1, d2
        latent = LatentDistribution()
    else:
        model = Rasch(rng.normal(size=5))
        free = np.zeros(model.param_vector().shape, dtype=bool)
        free[:, 1] = True  # d; and the latent variance
        latent = LatentDistribution([0.0], [[1.7]])
    bank = ItemBank([model], latent=latent)
    x = simulate_responses(bank, rng.normal(0, np.sqrt(latent.cov[0, 0]), 600), rng)
    stat, df = _brute_force_m2(bank, x, free, latent_var_free=kind == "rasch")
    res = m2(bank, x)
    assert res.m2 == pytest.approx(stat, rel=1e-6)
    assert res.df == df


def test_mean_m2_is_its_degrees_of_freedom_when_the_model_holds():
    rng = np.random.default_rng(1)
    stats, p = [], []
    for _ in range(20):
        truth = TwoPL(np.linspace(0.8, 2.0, 8), np.linspace(-1.5, 1.5, 8))
        x = simulate_responses(truth, rng.normal(size=1000), rng)
        res = m2(MML(model="2pl", compute_se=False).fit(x), x)
        stats.append(res.m2)
        p.append(res.p_value)
    assert res.df == 20
    assert np.mean(stats) == pytest.approx(20, abs=3 * np.sqrt(2 * 20 / 20))
    assert np.mean(np.array(p) < 0.05) <= 0.15


def test_two_dimensional_data_fitted_as_one_dimension_misfits():
    rng = np.random.default_rng(2)
    cov = [[1.0, 0.2], [0.2, 1.0]]
    theta = rng.multivariate_normal([0, 0], cov, size=2000)
    slopes = np.zeros((10, 2))
    slopes[:5, 0], slopes[5:, 1] = 1.8, 1.8
    truth = TwoPL.from_slope_intercept(slopes, np.linspace(-1, 1, 10))
    x = simulate_responses(truth, theta, rng)
    res = m2(MML(model="2pl", compute_se=False).fit(x), x)
    assert res.p_value < 1e-6 and res.rmsea > 0.05
    assert res.rmsea_ci[0] < res.rmsea < res.rmsea_ci[1]
    assert res.srmsr > 0.05


def test_refusals():
    model = TwoPL(np.ones(4), np.linspace(-1, 1, 4))
    x = simulate_responses(model, np.random.default_rng(3).normal(size=100), rng=4).astype(float)
    four = FourPL(np.ones(4), np.zeros(4), np.full(4, 0.1), np.full(4, 0.9))
    with pytest.raises(InvalidParameterError, match="no degrees of freedom"):
        m2(four, x)
    x[0, 0] = np.nan
    with pytest.raises(InvalidResponseError, match="complete data"):
        m2(model, x)


def test_report():
    res = m2(_bank("lsat7", "2PL"), load_data("lsat7").astype(int))
    assert "11.938" in res.summary() and "RMSEA" in res.summary()
    assert repr(res).startswith("M2Fit(m2=11.93")
    pytest.importorskip("pandas")
    assert res.to_frame().shape == (1, 7)
