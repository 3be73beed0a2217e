"""Agreement of qabilet's ability estimators with girth's, on the same data and item parameters.

girth (0.8.0) is an independent implementation (docs/design.md §7). Its conventions, read from
its source, and how each test matches them:

* Arrays are items first, ``(n_items, n_persons)``; a missing response is the sentinel
  ``girth.INVALID_RESPONSE`` (-99999). :func:`to_girth` converts our ``(x, observed)`` pair once.
* ``ability_eap`` integrates with ``quadrature_n`` Gauss-Legendre nodes on
  ``quadrature_bounds`` (defaults 41 nodes on [-4.5, 4.5]) with weights
  ``GL weight x distribution(theta)`` (default the N(0, 1) pdf), and returns theta only (no SD).
  qabilet integrates with a rectangle rule on equispaced nodes. The tests compare twice: on
  girth's own grid passed to :func:`posterior_on_grid` (identical sums, so only rounding may
  differ), and through the public :func:`eap` on its default grid with girth given the interval
  that grid covers (two converged rules for the same integral).
* ``ability_map`` minimises each person's negative log posterior with
  ``scipy.optimize.fminbound`` on [-6, 6] (default ``xtol`` 1e-5), a Python loop over persons.
* ``ability_mle`` is ``ability_map`` with a flat prior on [-7, 7]; a pattern whose observed
  responses are all 0 or all 1 gets NaN (it has no finite ML estimate).
* girth has no public polytomous estimator at fixed item parameters: ``grm_mml`` computes its
  EAP from the private helpers ``_graded_partial_integral`` and ``_ability_eap_abstract``, and
  :func:`girth_grm_eap` calls those with known parameters, laid out as ``grm_mml`` lays them.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from scipy.special import roots_legendre
from scipy.stats import norm

from qabilet.engine.models import GradedResponse, ThreePL, TwoPL
from qabilet.engine.quadrature import Grid
from qabilet.engine.scoring import eap, posterior_on_grid, score
from qabilet.engine.simulation import simulate_responses

try:
    import girth
except ImportError:
    if os.environ.get("QABILET_REQUIRE_ALL") == "1":  # CI installs the dev extra: fail there
        raise
    pytest.skip("girth is not installed (pip install -e '.[dev]')", allow_module_level=True)

from girth.unidimensional.polytomous.ability_estimation_poly import (  # noqa: E402
    _ability_eap_abstract,
)
from girth.unidimensional.polytomous.partial_integrals_poly import (  # noqa: E402
    _graded_partial_integral,
)

# --- tolerances (absolute, on the theta scale) -------------------------------------------------
# Same grid, same sums: girth multiplies probabilities, qabilet adds log-probabilities; for
# 40 items that differs by a few ulps of the posterior weights.
TOL_SAME_GRID = 1e-12
# qabilet's default EAP grid is 121 equispaced nodes on [-6, 6] (h = 0.1), each weighted by the
# normal density: a rectangle rule over the cells [theta_q - h/2, theta_q + h/2], which together
# cover [-6.05, 6.05]. girth is given 121 Gauss-Legendre nodes on that interval. Both rules have
# converged for posteriors this smooth; what remains (measured 3.4e-8 for the 2PL data, 1.1e-8
# for the GRM data) is the rectangle rule's error in its two end cells, where an all-wrong
# person's posterior is still about 1e-7 of its peak. Given [-6, 6] instead, girth differs by
# 8.8e-7 (the h/2 of interval at each end), and difficulties shifted by 1e-4 move estimates by
# 9e-5: 1e-7 tells all three apart.
TOL_GRID_INTERVAL = 1e-7
# girth stops Brent's method (fminbound, xtol = 1e-5) once the minimum is bracketed within
# 2 * (xtol / 3 + sqrt(eps) * |theta|) <= 6.8e-6 for |theta| <= 6; qabilet's Newton iterations
# stop at a step below 1e-8. So girth's MAP and ML are 1e-5 accurate, and that is the tolerance.
TOL_FMINBOUND = 1e-5

QABILET_GRID = {"n_points": 121, "bounds": (-6.0, 6.0)}  # qabilet's EAP default, stated
GIRTH_MATCHING_EAP = {"quadrature_n": 121, "quadrature_bounds": (-6.05, 6.05)}


# --- helpers -------------------------------------------------------------------------------------
def to_girth(x: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """qabilet's persons-first responses and mask as girth's items-first array with sentinel."""
    return np.where(observed, x, girth.INVALID_RESPONSE).T.astype(np.int64).copy()


def girth_grid(n: int, bounds: tuple[float, float]) -> Grid:
    """girth's EAP quadrature as a qabilet Grid: Gauss-Legendre nodes, weights ``w_q * phi``."""
    lo, hi = bounds
    t, w = roots_legendre(n)
    nodes = 0.5 * (hi - lo) * (t + 1.0) + lo
    log_w = np.log(0.5 * (hi - lo) * w) + norm.logpdf(nodes)
    return Grid(nodes=nodes[:, None], log_weights=log_w - np.logaddexp.reduce(log_w))


def eap_on(grid: Grid, items, x, observed) -> np.ndarray:
    """Posterior mean on an arbitrary grid, from qabilet's posterior weights."""
    log_post, _ = posterior_on_grid(items, x, observed, grid=grid)
    return np.exp(log_post) @ grid.nodes[:, 0]


def girth_grm_eap(a, thresholds, x, observed, options) -> np.ndarray:
    """girth's GRM EAP at known parameters, with the parameter layout of ``girth.grm_mml``.

    ``grm_mml`` keeps one flat vector of boundaries: item i owns positions
    ``start_i .. start_i + K_i - 1``, the first is -10000 (P(X >= 0) = 1), and ``betas_roll``
    (the next boundary) ends each item with +10000; responses are positions in that vector.
    """
    counts = np.array([len(b) + 1 for b in thresholds])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    betas = np.concatenate([[-10000.0, *b] for b in thresholds])
    betas_roll = np.roll(betas, -1)
    betas_roll[starts + counts - 1] = 10000.0
    discrimination = np.repeat(np.asarray(a, dtype=float), counts)
    linear = np.where(observed, x + starts[None, :], 0).T  # items first, missing -> 0, masked
    missing = ~observed.T
    opts = girth.validate_estimation_options(options)
    theta, w = roots_legendre(opts["quadrature_n"])
    lo, hi = opts["quadrature_bounds"]
    theta = 0.5 * (hi - lo) * (theta + 1.0) + lo
    w = 0.5 * (hi - lo) * w
    partial = np.ones((x.shape[0], theta.size))
    for i in range(len(counts)):  # girth's own loop over items
        partial *= _graded_partial_integral(
            theta, betas, betas_roll, discrimination, linear[i], missing[i]
        )
    return _ability_eap_abstract(partial, opts["distribution"](theta) * w, theta)


# --- data ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def twopl():
    """40 2PL items, 1,500 persons, ~20% of responses missing, two persons with none."""
    rng = np.random.default_rng(20240611)
    a = rng.uniform(0.5, 2.5, 40)
    b = rng.normal(0.0, 1.0, 40)
    items = TwoPL(a, b)
    theta = np.concatenate([rng.normal(0.0, 1.2, 1498), [0.0, 0.0]])
    x = simulate_responses(items, theta, rng)
    observed = rng.random(x.shape) > 0.2
    observed[-2:] = False
    return items, a, b, x, observed


@pytest.fixture(scope="module")
def twopl_ml():
    """The same kind of test, 400 persons, every one answering something; plus six extremes."""
    rng = np.random.default_rng(7)
    a = rng.uniform(0.5, 2.5, 25)
    b = rng.normal(0.0, 1.0, 25)
    items = TwoPL(a, b)
    x = simulate_responses(items, rng.normal(0.0, 1.0, 400), rng)
    observed = rng.random(x.shape) > 0.2
    extreme_x = np.repeat([[0], [1]], 3, axis=0) * np.ones((1, 25), dtype=np.int64)
    extreme_obs = np.ones((6, 25), dtype=bool)
    extreme_obs[[1, 4], ::3] = False  # extremes with missing cells too
    x = np.vstack([x, extreme_x]).astype(np.int64)
    observed = np.vstack([observed, extreme_obs])
    observed[:, 0] |= ~observed.any(axis=1)  # ML needs at least one response
    return items, a, b, x, observed


# --- EAP -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [None, {"quadrature_n": 61, "quadrature_bounds": (-6.0, 6.0)}],
    ids=["girth-defaults", "61-nodes-6"],
)
def test_eap_2pl_on_girths_grid(twopl, options):
    items, a, b, x, observed = twopl
    expected = girth.ability_eap(to_girth(x, observed), b, a, options)
    opts = girth.validate_estimation_options(options)
    got = eap_on(girth_grid(opts["quadrature_n"], opts["quadrature_bounds"]), items, x, observed)
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL_SAME_GRID)


def test_eap_2pl_public_default_grid(twopl):
    items, a, b, x, observed = twopl
    expected = girth.ability_eap(to_girth(x, observed), b, a, GIRTH_MATCHING_EAP)
    est = eap(items, x, observed, **QABILET_GRID)
    np.testing.assert_allclose(est.theta, expected, rtol=0, atol=TOL_GRID_INTERVAL)
    assert est.status[-2:].tolist() == ["no_responses", "no_responses"]
    assert (est.status[:-2] == "ok").all()
    # the same call through the dispatcher
    np.testing.assert_array_equal(score(items, x, observed, method="eap").theta, est.theta)


def test_eap_2pl_missing_data_matters(twopl):
    """The mask is exercised: scoring missing cells as wrong answers moves girth's EAP far."""
    items, a, b, x, observed = twopl
    as_wrong = girth.ability_eap(to_girth(np.where(observed, x, 0), np.ones_like(observed)), b, a)
    masked = eap_on(girth_grid(41, (-4.5, 4.5)), items, x, observed)
    assert np.abs(masked - as_wrong).max() > 1e4 * TOL_GRID_INTERVAL


def test_eap_3pl_on_girths_grid(twopl):
    _, a, b, x, observed = twopl
    c = np.random.default_rng(3).uniform(0.05, 0.3, a.size)
    items = ThreePL(a, b, c)
    x = simulate_responses(items, np.random.default_rng(4).normal(size=x.shape[0]), 5)
    options = {"quadrature_n": 81, "quadrature_bounds": (-6.0, 6.0)}
    expected = girth.ability_3pl_eap(to_girth(x, observed), b, a, c, options)
    got = eap_on(girth_grid(81, (-6.0, 6.0)), items, x, observed)
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL_SAME_GRID)


@pytest.fixture(scope="module")
def grm():
    """12 graded items with 2 to 5 categories, 1,000 persons, ~20% missing."""
    rng = np.random.default_rng(99)
    n_cat = np.array([2, 3, 4, 5] * 3)
    a = rng.uniform(0.6, 2.2, n_cat.size)
    thresholds = [np.sort(rng.normal(0.0, 1.2, k - 1)) for k in n_cat]
    items = GradedResponse(a, thresholds)
    x = simulate_responses(items, rng.normal(size=1000), rng)
    observed = rng.random(x.shape) > 0.2
    return items, a, thresholds, x, observed


def test_eap_grm_on_girths_grid(grm):
    items, a, thresholds, x, observed = grm
    expected = girth_grm_eap(a, thresholds, x, observed, None)
    got = eap_on(girth_grid(41, (-4.5, 4.5)), items, x, observed)
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL_SAME_GRID)


def test_eap_grm_public_default_grid(grm):
    items, a, thresholds, x, observed = grm
    expected = girth_grm_eap(a, thresholds, x, observed, GIRTH_MATCHING_EAP)
    got = eap(items, x, observed, **QABILET_GRID).theta
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL_GRID_INTERVAL)


def test_grm_with_two_categories_is_girths_2pl():
    """Our reading of girth's GRM layout, checked on girth's own 2PL: one boundary = 2PL."""
    rng = np.random.default_rng(11)
    a, b = rng.uniform(0.5, 2.0, 10), rng.normal(size=10)
    x = simulate_responses(TwoPL(a, b), rng.normal(size=300), rng)
    observed = rng.random(x.shape) > 0.3
    via_grm = girth_grm_eap(a, [[v] for v in b], x, observed, None)
    np.testing.assert_allclose(
        via_grm, girth.ability_eap(to_girth(x, observed), b, a), rtol=0, atol=TOL_SAME_GRID
    )


# --- MAP and ML ---------------------------------------------------------------------------------
def test_map_2pl(twopl):
    items, a, b, x, observed = twopl
    keep = np.r_[0:400, x.shape[0] - 2 : x.shape[0]]  # girth loops in Python: 402 persons
    x, observed = x[keep], observed[keep]
    expected = girth.ability_map(to_girth(x, observed), b, a)
    est = score(items, x, observed, method="map")
    np.testing.assert_allclose(est.theta, expected, rtol=0, atol=TOL_FMINBOUND)
    assert est.status[:-2].tolist() == ["ok"] * 400
    assert est.status[-2:].tolist() == ["no_responses"] * 2


def test_ml_2pl(twopl_ml):
    items, a, b, x, observed = twopl_ml
    expected = girth.ability_mle(to_girth(x, observed), b, a)
    est = score(items, x, observed, method="ml", bounds=(-6.0, 6.0))
    # girth: NaN exactly for the patterns with no finite ML estimate
    extreme = np.isin(est.status, ["extreme_low", "extreme_high"])
    np.testing.assert_array_equal(extreme, np.isnan(expected))
    assert est.status[-6:].tolist() == ["extreme_low"] * 3 + ["extreme_high"] * 3
    # both search [-6, 6]: an estimate at the bound is at the bound in both
    finite = ~extreme
    assert set(est.status[finite]) <= {"ok", "at_bound"}
    np.testing.assert_allclose(est.theta[finite], expected[finite], rtol=0, atol=TOL_FMINBOUND)
