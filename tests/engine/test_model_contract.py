"""The contract every registered model (and a mixed bank) keeps.

Truth here is independent of the kernels under test: finite differences of the log-probabilities,
the definition of Fisher information as the expected squared score, and per-point / per-item
evaluation against the vectorised call.
"""

import pickle

import numpy as np
import pytest
from model_zoo import ALL_MULTI, ALL_UNI

THETA = np.linspace(-4.0, 4.0, 17)


def _valid(model):
    return np.arange(model.max_categories)[None, :] < model.n_categories[:, None]


def test_probabilities_sum_to_one_and_padding_is_zero(uni_model):
    p = uni_model.prob(THETA)
    assert p.shape == (THETA.size, uni_model.n_items, uni_model.max_categories)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=0, atol=1e-13)
    valid = _valid(uni_model)
    assert np.all(p[:, ~valid] == 0.0)
    assert np.all(p[:, valid] > 0.0)


def test_first_derivative_equals_finite_difference(uni_model):
    h = 1e-5
    lp_plus, lp_minus = uni_model.log_prob(THETA + h), uni_model.log_prob(THETA - h)
    valid = _valid(uni_model)
    fd = (lp_plus[:, valid] - lp_minus[:, valid]) / (2 * h)
    np.testing.assert_allclose(uni_model.dlog_prob(THETA)[:, valid], fd, rtol=1e-6, atol=1e-7)


def test_second_derivative_kernel_equals_finite_difference(uni_model):
    # the private kernel works in s = a·θ; differentiate its d1 numerically
    s = np.tile(THETA[:, None], (1, uni_model.n_items))
    h = 1e-5
    _, d1p = uni_model._kernel(s + h, 1)
    _, d1m = uni_model._kernel(s - h, 1)
    _, _, d2 = uni_model._kernel(s, 2)
    valid = _valid(uni_model)
    np.testing.assert_allclose(
        d2[:, valid], ((d1p - d1m) / (2 * h))[:, valid], rtol=1e-6, atol=1e-7
    )


def test_information_equals_expected_squared_score(uni_model):
    p = uni_model.prob(THETA)
    g = uni_model.dlog_prob(THETA)
    expected_sq = (p * g**2).sum(axis=-1)
    np.testing.assert_allclose(uni_model.information(THETA), expected_sq, rtol=1e-10, atol=1e-14)


def test_information_equals_negative_expected_hessian(uni_model):
    # -E[d² log P / dθ²] from finite differences of the public log-probabilities
    h = 1e-4
    lp = uni_model.log_prob(THETA)
    lpp, lpm = uni_model.log_prob(THETA + h), uni_model.log_prob(THETA - h)
    valid = _valid(uni_model)
    hess = np.zeros_like(lp)
    hess[:, valid] = (lpp[:, valid] - 2 * lp[:, valid] + lpm[:, valid]) / h**2
    p = uni_model.prob(THETA)
    np.testing.assert_allclose(
        uni_model.information(THETA), -(p * hess).sum(-1), rtol=1e-5, atol=1e-6
    )  # FD noise ~ eps·|log p|/h²


def test_vectorised_equals_looped(uni_model):
    whole = uni_model.log_prob(THETA)
    for q, t in enumerate(THETA):
        np.testing.assert_array_equal(uni_model.log_prob(t), whole[q])
    for i in range(uni_model.n_items):
        one = uni_model.subset([i])
        k = one.max_categories
        np.testing.assert_allclose(one.log_prob(THETA)[:, 0], whole[:, i, :k], rtol=1e-14, atol=0)
        np.testing.assert_allclose(
            one.information(THETA)[:, 0], uni_model.information(THETA)[:, i], rtol=1e-13
        )


def test_pickles(uni_model):
    clone = pickle.loads(pickle.dumps(uni_model))
    np.testing.assert_array_equal(clone.log_prob(THETA), uni_model.log_prob(THETA))


def test_expected_score_is_mean_category(uni_model):
    p = uni_model.prob(THETA)
    manual = np.einsum("qik,k->qi", p, np.arange(uni_model.max_categories))
    np.testing.assert_allclose(uni_model.expected_score(THETA), manual, rtol=1e-14)


def test_extreme_theta_stays_finite(uni_model):
    lp = uni_model.log_prob(np.array([-40.0, 40.0]))
    assert np.all(np.isfinite(lp[:, _valid(uni_model)]))
    assert np.all(np.isfinite(uni_model.information(np.array([-40.0, 40.0]))))


# -- multidimensional -------------------------------------------------------------------------


@pytest.fixture
def theta_md(multi_model):
    rng = np.random.default_rng(3)
    return rng.normal(size=(11, multi_model.n_dims)) * 1.5


def test_multi_sum_to_one(multi_model, theta_md):
    np.testing.assert_allclose(multi_model.prob(theta_md).sum(-1), 1.0, atol=1e-13)


def test_multi_gradient_equals_finite_difference(multi_model, theta_md):
    g = multi_model.dlog_prob(theta_md)
    assert g.shape == (
        theta_md.shape[0],
        multi_model.n_items,
        multi_model.max_categories,
        multi_model.n_dims,
    )
    valid = _valid(multi_model)
    h = 1e-5
    for r in range(multi_model.n_dims):
        e = np.zeros(multi_model.n_dims)
        e[r] = h
        lp_plus, lp_minus = multi_model.log_prob(theta_md + e), multi_model.log_prob(theta_md - e)
        fd = (lp_plus[:, valid] - lp_minus[:, valid]) / (2 * h)
        np.testing.assert_allclose(g[..., r][:, valid], fd, rtol=1e-6, atol=1e-7)


def test_multi_information_matrix_is_expected_outer_score(multi_model, theta_md):
    p = multi_model.prob(theta_md)
    g = multi_model.dlog_prob(theta_md)
    outer = np.einsum("nik,nikr,niks->nirs", p, g, g)
    info = multi_model.information(theta_md)
    assert info.shape == (
        theta_md.shape[0],
        multi_model.n_items,
        multi_model.n_dims,
        multi_model.n_dims,
    )
    np.testing.assert_allclose(info, outer, rtol=1e-10, atol=1e-14)


def test_multi_vectorised_equals_looped(multi_model, theta_md):
    whole = multi_model.log_prob(theta_md)
    for q in range(theta_md.shape[0]):
        np.testing.assert_allclose(multi_model.log_prob(theta_md[q]), whole[q], rtol=1e-13)


def test_multi_pickles(multi_model, theta_md):
    clone = pickle.loads(pickle.dumps(multi_model))
    np.testing.assert_array_equal(clone.log_prob(theta_md), multi_model.log_prob(theta_md))


def test_every_registered_model_has_a_fixture():
    from qabilet.engine.models import model_names

    assert set(model_names()) <= set(ALL_UNI)
    assert len(ALL_MULTI) >= 5


def test_newton_terms_fast_paths_equal_the_generic_form(uni_model):
    from qabilet.engine.models import ItemSet

    rng = np.random.default_rng(4)
    s = rng.normal(size=(25, uni_model.n_items)) * 2
    x = np.minimum(
        (rng.random(s.shape) * uni_model.n_categories).astype(np.intp), uni_model.n_categories - 1
    )
    obs = rng.random(s.shape) < 0.8
    fast = uni_model._newton_terms(s, x, obs, True)
    generic = ItemSet._newton_terms(uni_model, s, x, obs, True)
    for f, g in zip(fast, generic):
        np.testing.assert_allclose(f, g, rtol=1e-12, atol=1e-14)


def _param_fd_check(model, theta):
    psi = model.param_vector()
    grad = model.dlog_prob_dparams(theta)
    valid = _valid(model)
    h = 1e-6
    for j in range(psi.shape[1]):
        if np.all(np.isnan(psi[:, j])):
            continue
        # one-sided at an asymptote's bound (c = 0 or u = 1 cannot step outwards), with a
        # smaller step since its error is O(h)
        name = model.param_names()[j]
        lo = (name == "g") & (psi[:, j] == 0.0)
        hi = (name == "u") & (psi[:, j] == 1.0)
        step = np.where(np.isnan(psi[:, j]), 0.0, np.where(lo | hi, 1e-9, h))
        up, dn = psi.copy(), psi.copy()
        up[:, j] += np.where(hi, 0.0, step)
        dn[:, j] -= np.where(lo, 0.0, step)
        width = np.where(lo | hi, 1e-9, 2.0 * h)
        lp_up, lp_dn = model.with_params(up).log_prob(theta), model.with_params(dn).log_prob(theta)
        per_col = np.nonzero(valid)[0]
        fd = (lp_up[:, valid] - lp_dn[:, valid]) / width[per_col]
        has = ~np.isnan(psi[:, j])
        fd = np.where(has[None, np.nonzero(valid)[0]], fd, 0.0)
        np.testing.assert_allclose(grad[..., j][:, valid], fd, rtol=1e-4, atol=1e-6,
                                   err_msg=model.param_names()[j])


@pytest.mark.parametrize("name", sorted(ALL_UNI))
def test_parameter_gradient_equals_finite_difference(name):
    model = ALL_UNI[name]
    assert len(model.param_names()) == model.param_vector().shape[1]
    again = model.with_params(model.param_vector())
    np.testing.assert_array_equal(again.log_prob(THETA), model.log_prob(THETA))
    _param_fd_check(model, THETA)


@pytest.mark.parametrize("name", sorted(ALL_MULTI))
def test_multi_parameter_gradient_equals_finite_difference(name):
    model = ALL_MULTI[name]
    theta = np.random.default_rng(8).normal(size=(9, model.n_dims))
    _param_fd_check(model, theta)
