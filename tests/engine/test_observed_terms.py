"""The observed category's closed-form terms, the per-person summed information and a model
restricted to its factors — against finite differences and the full per-category arrays."""

import numpy as np
import pytest
from model_zoo import ALL_MULTI, ALL_UNI

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.models import GradedResponse, TwoPL

FAST = {name: m for name, m in {**ALL_UNI, **ALL_MULTI}.items() if m.HAS_OBSERVED_TERMS}


def _draw(model, n=40, seed=0):
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, 1.5, size=(n, model.n_dims))
    x = (rng.random((n, model.n_items)) * model.n_categories).astype(np.intp)
    return theta, x


def test_the_fast_paths_cover_the_graded_and_dichotomous_models():
    assert {"2pl", "3pl", "4pl", "grm", "m2pl", "m3pl", "mgrm", "m4d"} <= set(FAST)


@pytest.mark.parametrize("name", sorted(FAST))
def test_log_probability_is_the_observed_category_of_log_prob(name):
    model = FAST[name]
    theta, x = _draw(model)
    (log_p,) = model.observed_terms(theta @ model.slopes.T, x, order=0)
    full = np.take_along_axis(model.log_prob(theta), x[..., None], axis=-1)[..., 0]
    np.testing.assert_allclose(log_p, full, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(FAST))
def test_derivative_in_the_projection_equals_finite_differences(name):
    model = FAST[name]
    theta, x = _draw(model, seed=1)
    s, h = theta @ model.slopes.T, 1e-6
    _, ds, _ = model.observed_terms(s, x)
    up, down = (model.observed_terms(s + sign * h, x, order=0)[0] for sign in (1.0, -1.0))
    np.testing.assert_allclose(ds, (up - down) / (2 * h), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", sorted(FAST))
def test_derivatives_in_the_other_parameters_equal_finite_differences(name):
    model = FAST[name]
    theta, x = _draw(model, seed=2)
    s, h = theta @ model.slopes.T, 1e-6
    _, _, rest = model.observed_terms(s, x)
    psi = model.param_vector()
    d = model.n_dims
    for j, name in enumerate(model.param_names()[d:], start=d):
        present = ~np.isnan(psi[:, j])
        if name in ("g", "u"):  # asymptotes on their bound (0, 1): one-sided, not tested here
            present &= (psi[:, j] > 0.0) & (psi[:, j] < 1.0)
        up, down = psi.copy(), psi.copy()
        up[present, j] += h
        down[present, j] -= h
        fd = (model.with_params(up).observed_terms(s, x, order=0)[0]
              - model.with_params(down).observed_terms(s, x, order=0)[0]) / (2 * h)
        np.testing.assert_allclose(np.where(present, rest[..., j - d], 0.0),
                                   np.where(present, fd, 0.0), rtol=1e-5, atol=1e-7, err_msg=name)


def test_the_graded_terms_at_the_end_categories_and_on_padding():
    # a three-category item beside a five-category one: the top category of the short item has
    # no lower boundary, category 0 no upper one
    model = GradedResponse.from_slope_intercept([[1.3], [0.8]], [[1.0, -0.5],
                                                                [2.0, 0.5, -0.5, -2.0]])
    s = np.array([[0.3, -0.4], [2.0, 1.0]])
    x = np.array([[2, 0], [0, 4]])
    _, ds, rest = model.observed_terms(s, x)
    assert np.all(np.isfinite(ds)) and np.all(np.isfinite(rest))
    assert np.all(rest[0, 0, 2:] == 0.0)  # padding
    assert rest[0, 1, 0] != 0.0 and np.all(rest[0, 1, 1:] == 0.0)  # category 0: d1 only
    assert rest[1, 1, 3] != 0.0 and np.all(rest[1, 1, :3] == 0.0)  # top category: d4 only


@pytest.mark.parametrize("name", sorted({**ALL_UNI, **ALL_MULTI}))
def test_summed_information_is_the_sum_of_the_items_matrices(name):
    model = {**ALL_UNI, **ALL_MULTI}[name]
    theta, _ = _draw(model, n=7, seed=3)
    observed = np.random.default_rng(4).random((7, model.n_items)) < 0.7
    per_item = model.information(theta)
    if model.n_dims == 1:
        per_item = per_item[..., None, None]
    expected = np.einsum("pirs,pi->prs", per_item, observed)
    np.testing.assert_allclose(model.summed_information(theta, observed), expected,
                               rtol=1e-12, atol=1e-14)


def test_a_model_on_its_factors_gives_the_same_probabilities():
    a = np.array([[0.0, 1.2, 0.0, 0.7], [0.0, 0.4, 0.0, -1.1]])
    model = GradedResponse.from_slope_intercept(a, [[1.0, -0.5], [0.5, 0.0]])
    theta = np.random.default_rng(5).normal(size=(6, 4))
    reduced = model.on_factors([1, 3])
    assert reduced.n_dims == 2 and reduced.param_names() == ("a1", "a2", "d1", "d2")
    np.testing.assert_array_equal(reduced.log_prob(theta[:, [1, 3]]), model.log_prob(theta))
    np.testing.assert_array_equal(model.on_factors([3, 1]).slopes, a[:, [3, 1]])


def test_a_model_on_its_factors_refuses_what_would_change_it():
    model = TwoPL.from_slope_intercept([[1.0, 0.5], [0.0, 1.0]], [0.0, 0.1])
    with pytest.raises(InvalidParameterError, match=r"nonzero slopes on factors \[0\]"):
        model.on_factors([1])
    with pytest.raises(InvalidParameterError, match="distinct positions in 0..1"):
        model.on_factors([1, 1])
    with pytest.raises(InvalidParameterError, match="distinct positions"):
        model.on_factors([2])
