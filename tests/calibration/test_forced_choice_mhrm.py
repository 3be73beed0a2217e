"""MH-RM calibration of forced-choice blocks: its derivatives, and recovery of a known truth."""

from __future__ import annotations

import numpy as np
import pytest

from qabilet.calibration import ForcedChoiceFit, fit_forced_choice_mhrm
from qabilet.calibration import forced_choice_mhrm as fcm
from qabilet.calibration.forced_choice_fit import scale_anchors
from qabilet.engine.exceptions import InvalidResponseError
from qabilet.engine.forced_choice import (
    BlockDesign,
    BlockResponses,
    ThurstonianBlocks,
    simulate_blocks,
)
from qabilet.engine.orthant import bivariate_normal_cdf, orthant_gradient, orthant_probability


def _truth(n_traits: int, n_blocks: int, size: int, seed: int
           ) -> tuple[BlockDesign, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A design with mixed keying and its generating parameters on the anchors' scale."""
    rng = np.random.default_rng(seed)
    traits = [f"T{k}" for k in range(n_traits)]
    blocks = []
    for b in range(n_blocks):
        on = rng.choice(n_traits, size, replace=False)
        blocks.append((f"B{b}", [(f"S{b}_{j}", traits[t], 1 if (b + j) % 3 else -1)
                                 for j, t in enumerate(on)]))
    design = BlockDesign.from_blocks(traits, blocks)
    lam = design.keyed * rng.uniform(0.7, 1.2, design.n_statements)
    psi2 = np.maximum(1.0 - lam**2, 0.3)
    mu = rng.normal(0.0, 0.5, design.n_statements)
    for members in design.blocks:  # to the scale of scale_anchors: μ_first = 0, ψ²_first = 1
        c = np.sqrt(psi2[members].sum()) if members.size == 2 else np.sqrt(psi2[members[0]])
        mu[members] = (mu[members] - mu[members[0]]) / c
        lam[members] /= c
        psi2[members] /= c**2
    phi = np.full((n_traits, n_traits), 0.3) + 0.7 * np.eye(n_traits)
    return design, mu, lam, psi2, phi


def _answers(design: BlockDesign, mu: np.ndarray, lam: np.ndarray, psi2: np.ndarray, phi: np.ndarray,
             n: int, seed: int, most_least: bool = False) -> tuple[BlockResponses, np.ndarray]:
    rng = np.random.default_rng(seed)
    eta = rng.multivariate_normal(np.zeros(phi.shape[0]), phi, n)
    return simulate_blocks(ThurstonianBlocks(design, mu, lam, psi2), eta, rng, most_least=most_least), eta


def test_bivariate_by_owens_t_matches_genz() -> None:
    rng = np.random.default_rng(0)
    h, k = rng.normal(0, 2, 20_000), rng.normal(0, 2, 20_000)
    rho = rng.uniform(-0.95, 0.95, 20_000)
    h[:5], k[3:8] = 0.0, 0.0
    np.testing.assert_allclose(fcm._bivariate(h, k, rho), bivariate_normal_cdf(h, k, rho), rtol=1e-9,
                               atol=1e-15)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_orthant_terms_match_engine_and_differences(d: int) -> None:
    rng = np.random.default_rng(d)
    a = rng.normal(size=(500, d, d))
    cov = a @ a.transpose(0, 2, 1) + 0.5 * np.eye(d)
    sd = np.sqrt(np.einsum("nii->ni", cov))
    corr = cov / (sd[:, :, None] * sd[:, None, :])
    z = rng.normal(0.0, 1.5, (500, d))
    prob, grad, hess = fcm._orthant_terms(z, corr, True)
    np.testing.assert_allclose(prob, orthant_probability(z, corr), atol=1e-13)
    np.testing.assert_allclose(grad, orthant_gradient(z, corr), atol=1e-13)
    step = 1e-5
    assert hess is not None
    for j in range(d):
        e = np.zeros(d)
        e[j] = step
        fd = (fcm._orthant_terms(z + e, corr, False)[1] - fcm._orthant_terms(z - e, corr, False)[1]) / (2 * step)
        np.testing.assert_allclose(hess[..., j], fd, atol=1e-8)


@pytest.mark.parametrize(("size", "most_least"), [(2, False), (3, False), (4, True)])
def test_block_score_matches_finite_differences(size: int, most_least: bool) -> None:
    design, mu, lam, psi2, phi = _truth(5, 4, size, seed=size)
    responses, eta = _answers(design, mu, lam, psi2, phi, 200, seed=1, most_least=most_least)
    group = fcm._prepare(design, responses)[0]
    tables = fcm._tables(group, psi2)
    utility = mu + lam * eta[:, design.trait_of]
    logp, dm, dpsi = fcm._group_terms(group, tables, utility)
    reference = ThurstonianBlocks(design, mu, lam, psi2).log_likelihood(eta, responses)
    np.testing.assert_allclose(logp.sum(axis=1), reference, atol=1e-8)
    assert dpsi is not None
    ok = logp > -8.0  # away from the tails where a difference quotient of log P loses digits
    h = 1e-6
    for b in range(group.members.shape[0]):
        for j in range(size):
            s = group.members[b, j]
            up, down = utility.copy(), utility.copy()
            up[:, s] += h
            down[:, s] -= h
            fd = (fcm._group_terms(group, tables, up, False)[0][:, b]
                  - fcm._group_terms(group, tables, down, False)[0][:, b]) / (2 * h)
            np.testing.assert_allclose(dm[ok[:, b], b, j], fd[ok[:, b]], atol=1e-5)
            more, less = psi2.copy(), psi2.copy()
            more[s] += h
            less[s] -= h
            fd = (fcm._group_terms(group, fcm._tables(group, more), utility, False)[0][:, b]
                  - fcm._group_terms(group, fcm._tables(group, less), utility, False)[0][:, b]) / (2 * h)
            np.testing.assert_allclose(dpsi[ok[:, b], b, j], fd[ok[:, b]], atol=1e-5)


_QUICK = {"burn_in": 30, "average": 20, "min_stage3": 30, "max_cycles": 120}


def test_triplets_recover_the_truth_with_covering_intervals() -> None:
    design, mu, lam, psi2, phi = _truth(4, 12, 3, seed=11)
    responses, _ = _answers(design, mu, lam, psi2, phi, 1000, seed=12)
    fit = fit_forced_choice_mhrm(design, responses, seed=3, **_QUICK)
    assert isinstance(fit, ForcedChoiceFit) and fit.method == "mhrm" and fit.n_persons == 1000
    fixed, fixed_psi2 = scale_anchors(design)
    assert np.all(fit.mu[fixed] == 0.0) and np.all(np.isnan(fit.mu_se[fixed]))
    held = np.isfinite(fixed_psi2)
    np.testing.assert_array_equal(fit.psi2[held], fixed_psi2[held])
    assert np.all(np.isnan(fit.psi2_se[held])) and np.all(np.isnan(np.diag(fit.phi_se)))
    # the loadings' and intercepts' sampling errors here are about 0.2 (λ up to 2 on this
    # scale; the median absolute error of an unbiased estimate about 0.67 of that), those of
    # the loadings over error SDs about 0.25
    standardised = lam / np.sqrt(psi2)
    assert np.sqrt(np.mean((fit.standardized_loadings - standardised) ** 2)) < 0.4
    assert np.median(np.abs(fit.lam - lam)) < 0.25
    assert np.median(np.abs(fit.mu - mu)[~fixed]) < 0.25
    tri = np.tril_indices(4, -1)
    assert np.max(np.abs(fit.phi - phi)[tri]) < 0.15  # their sampling errors about 0.05
    np.testing.assert_allclose(fit.phi, fit.phi.T)
    assert np.all(np.linalg.eigvalsh(fit.phi) > 0) and np.allclose(np.diag(fit.phi), 1.0)
    covered = np.abs(fit.lam - lam) < 1.96 * fit.lam_se
    assert covered.mean() >= 0.85
    assert np.all(np.isfinite(fit.lam_se)) and np.all(fit.lam_se > 0)
    stats = fit.statistics
    assert 0.15 < stats["acceptance"] < 0.5
    assert fit.iterations == sum(stats["cycles"].values())


def test_quads_answered_most_and_least_recover_the_truth() -> None:
    design, mu, lam, psi2, phi = _truth(4, 5, 4, seed=21)
    responses, _ = _answers(design, mu, lam, psi2, phi, 400, seed=22, most_least=True)
    assert responses.tables[0].sum(axis=1).max() == 2  # the middle pair's order unobserved
    fit = fit_forced_choice_mhrm(design, responses, seed=4, compute_se=False,
                                 **{**_QUICK, "max_cycles": 70, "min_stage3": 10})
    fixed, _ = scale_anchors(design)
    # 400 persons, 5 of 6 comparisons per quad: sampling errors about 0.25
    assert np.median(np.abs(fit.lam - lam)) < 0.3
    assert np.median(np.abs(fit.mu - mu)[~fixed]) < 0.3
    assert np.corrcoef(fit.lam, lam)[0, 1] > 0.95


def test_seeded_fit_is_reproducible_and_starts_from_a_fit() -> None:
    design, mu, lam, psi2, phi = _truth(3, 4, 3, seed=31)
    responses, _ = _answers(design, mu, lam, psi2, phi, 150, seed=32)
    short = {"burn_in": 3, "average": 2, "min_stage3": 2, "max_cycles": 8}
    a = fit_forced_choice_mhrm(design, responses, seed=5, **short)
    b = fit_forced_choice_mhrm(design, responses, seed=5, **short)
    np.testing.assert_array_equal(a.lam, b.lam)
    np.testing.assert_array_equal(a.phi, b.phi)
    c = fit_forced_choice_mhrm(design, responses, start=a, seed=6, **short)
    assert c.iterations == 8 and np.all(np.isfinite(c.lam))


def test_responses_of_another_design_are_refused() -> None:
    design, *_ = _truth(3, 4, 3, seed=41)
    bad = BlockResponses(np.zeros((5, 3), dtype=np.int64), ())
    with pytest.raises(InvalidResponseError):
        fit_forced_choice_mhrm(design, bad)


def test_log_likelihood_matches_quadrature() -> None:
    design, mu, lam, psi2, phi = _truth(3, 5, 3, seed=51)
    responses, _ = _answers(design, mu, lam, psi2, phi, 150, seed=52)
    fit = fit_forced_choice_mhrm(design, responses, seed=7, burn_in=20, average=10, min_stage3=20,
                                 max_cycles=60, loglik_points=200)
    # Gauss–Hermite product rule over η = Lz, z ~ N(0, I), at the fit's parameters
    x, w = np.polynomial.hermite_e.hermegauss(15)
    w = w / w.sum()
    grid = np.stack(np.meshgrid(x, x, x, indexing="ij"), axis=-1).reshape(-1, 3)
    weight = np.prod(np.stack(np.meshgrid(w, w, w, indexing="ij"), axis=-1).reshape(-1, 3), axis=1)
    eta = grid @ np.linalg.cholesky(fit.phi).T
    n = responses.codes.shape[0]
    ll = fit.model.log_likelihood(np.broadcast_to(eta, (n, *eta.shape)), responses)  # (n, nodes)
    top = ll.max(axis=1, keepdims=True)
    exact = float(np.sum(top[:, 0] + np.log(np.exp(ll - top) @ weight)))
    stats = fit.statistics
    assert abs(stats["loglik"] - exact) < 0.5 + 4 * stats["loglik_mc_se"]


def test_correlation_score_and_information_match_finite_differences() -> None:
    rng = np.random.default_rng(61)
    k, n = 4, 40
    phi = np.full((k, k), 0.25) + 0.75 * np.eye(k)
    eta = rng.multivariate_normal(np.zeros(k), phi, n)
    tril = np.tril_indices(k, -1)

    def loglik(r: np.ndarray) -> np.ndarray:
        m = np.eye(k)
        m[tril] = r
        m.T[tril] = r
        inv = np.linalg.inv(m)
        return -0.5 * np.linalg.slogdet(m)[1] - 0.5 * np.einsum("pi,ij,pj->p", eta, inv, eta)

    r0, h = phi[tril], 1e-4
    inv_phi = np.linalg.inv(phi)
    scores = fcm._correlation_scores(eta, inv_phi, tril)
    info = fcm._correlation_information(inv_phi, eta.T @ eta, n, tril)
    for a in range(r0.size):
        ea = np.eye(r0.size)[a] * h
        np.testing.assert_allclose(scores[:, a], (loglik(r0 + ea) - loglik(r0 - ea)) / (2 * h), atol=1e-6)
        for b in range(r0.size):
            eb = np.eye(r0.size)[b] * h
            second = (loglik(r0 + ea + eb) - loglik(r0 + ea - eb) - loglik(r0 - ea + eb)
                      + loglik(r0 - ea - eb)).sum() / (4 * h * h)
            assert abs(-second - info[a, b]) < 1e-4 * max(1.0, abs(info[a, b]))


def test_unanswered_blocks_are_left_out() -> None:
    design, mu, lam, psi2, phi = _truth(3, 4, 3, seed=71)
    responses, _ = _answers(design, mu, lam, psi2, phi, 150, seed=72)
    codes = responses.codes.copy()
    codes[np.random.default_rng(0).random(codes.shape) < 0.2] = -1
    codes[0] = -1  # a person who answered nothing
    short = {"burn_in": 3, "average": 2, "min_stage3": 20, "max_cycles": 25}
    fit = fit_forced_choice_mhrm(design, BlockResponses(codes, responses.tables), seed=8, **short)
    assert np.all(np.isfinite(fit.lam)) and np.isfinite(fit.statistics["loglik"])
    # the answered blocks' likelihood at the estimates is the model's, the unanswered ones add 0
    group = fcm._prepare(design, BlockResponses(codes, responses.tables))[0]
    eta = np.zeros((150, 3))
    terms = fcm._group_loglik(group, fcm._tables(group, fit.psi2), fit.mu + fit.lam * eta[:, design.trait_of])
    reference = fit.model.log_likelihood(eta, BlockResponses(codes, responses.tables))
    np.testing.assert_allclose(terms.sum(axis=1), reference, atol=1e-9)
    assert terms[0].sum() == 0.0


def test_an_indefinite_start_is_made_a_correlation_matrix():
    from qabilet.calibration.forced_choice_mhrm import _correlation_matrix

    bad = np.array([[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]])  # eigenvalue −0.8
    fixed = _correlation_matrix(bad)
    assert np.linalg.eigvalsh(fixed).min() > 0 and np.allclose(np.diag(fixed), 1.0)
    assert np.all(np.sign(fixed[np.triu_indices(3, 1)]) == np.sign(bad[np.triu_indices(3, 1)]))
    good = np.array([[1.0, 0.3], [0.3, 1.0]])
    np.testing.assert_array_equal(_correlation_matrix(good), good)
