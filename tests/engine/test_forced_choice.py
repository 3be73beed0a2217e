"""Thurstonian forced-choice blocks: the exact probability of an answer against simulated
utilities (the model's definition), for pairs, full rankings of triplets and quads, and most/least
answers to quads; and the reference design of a published-style data set read as blocks."""

import json
from pathlib import Path

import numpy as np
import pytest

from qabilet.engine.exceptions import InvalidParameterError, InvalidResponseError
from qabilet.engine.forced_choice import (
    RANKINGS,
    BlockDesign,
    BlockResponses,
    ThurstonianBlocks,
    consistent_rankings,
    simulate_blocks,
)

TRAITS = ["A", "B", "C", "D"]


def _model(sizes, seed=0):
    rng = np.random.default_rng(seed)
    blocks = []
    k = 0
    for b, n in enumerate(sizes):
        traits = rng.choice(TRAITS, size=n, replace=False)
        blocks.append((f"B{b}", [(f"S{k + i}", str(t), int(rng.choice([1, -1])))
                                 for i, t in enumerate(traits)]))
        k += n
    design = BlockDesign.from_blocks(TRAITS, blocks)
    n_s = design.n_statements
    lam = design.keyed * rng.uniform(0.6, 1.3, n_s)
    return ThurstonianBlocks(design, rng.normal(0, 0.8, n_s), lam, rng.uniform(0.3, 1.0, n_s))


def test_rankings_are_a_distribution_over_every_block():
    model = _model([2, 3, 4, 3, 4])
    eta = np.random.default_rng(1).normal(size=(7, 5, 4))  # persons × nodes × traits
    for probs, members in zip(model.ranking_probabilities(eta), model.design.blocks, strict=True):
        assert probs.shape == (7, 5, len(RANKINGS[members.size]))
        np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-12)
        assert np.all(probs >= 0)


def test_each_rankings_probability_is_the_frequency_of_simulated_utilities():
    """At fixed traits, 400,000 persons' utilities drawn from the model: every ranking of a
    triplet and a quad, and every most/least answer to a quad, within four standard errors."""
    model = _model([3, 4], seed=3)
    n = 400_000
    eta = np.tile([0.4, -0.8, 1.1, 0.0], (n, 1))
    exact = [p[0] for p in model.ranking_probabilities(eta[:1])]
    for most_least in (False, True):
        drawn = simulate_blocks(model, eta, rng=5, most_least=most_least)
        for b, p in enumerate(exact):
            table = drawn.tables[b]
            freq = np.bincount(drawn.codes[:, b], minlength=table.shape[0]) / n
            expected = table.astype(float) @ p  # the answer's rankings summed
            se = np.sqrt(expected * (1 - expected) / n)
            assert np.all(np.abs(freq - expected) <= 4 * se + 1e-12), (most_least, b)
            if most_least and p.size == 24:
                assert table.shape == (12, 24) and np.all(table.sum(axis=1) == 2)


def test_the_log_likelihood_sums_the_answered_blocks():
    model = _model([3, 4, 2], seed=4)
    rng = np.random.default_rng(6)
    eta = rng.normal(size=(50, 4))
    answers = simulate_blocks(model, eta, rng=7, most_least=True)
    codes = answers.codes.copy()
    codes[::3, 1] = -1  # every third person skipped the quad
    partial = BlockResponses(codes, answers.tables)
    probs = model.ranking_probabilities(eta)
    by_hand = sum(np.where(codes[:, b] >= 0, np.log(np.sum(
        probs[b] * answers.tables[b][np.maximum(codes[:, b], 0)], axis=1)), 0.0) for b in range(3))
    np.testing.assert_allclose(model.log_likelihood(eta, partial), by_hand, rtol=1e-13)
    # persons × quadrature nodes
    grid = np.stack([eta, eta + 0.5], axis=1)
    ll = model.log_likelihood(grid, partial)
    assert ll.shape == (50, 2)
    np.testing.assert_allclose(ll[:, 0], by_hand, rtol=1e-13)


def test_the_exact_likelihood_is_not_the_product_of_pairwise_comparisons():
    """A triplet's three comparisons share the errors: their product is not the ranking's
    probability, and it does not sum to 1 over the rankings."""
    design = BlockDesign.from_blocks(["A", "B", "C"], [("B1", [("S1", "A", 1), ("S2", "B", 1),
                                                               ("S3", "C", 1)])])
    model = ThurstonianBlocks(design, [0.2, 0.0, -0.3], [1.0, 0.8, 1.2], [0.5, 0.6, 0.4])
    from scipy.special import ndtr
    probs = model.ranking_probabilities(np.zeros((1, 3)))[0][0]
    mu, psi2 = model.mu, model.psi2
    pairwise = np.array([np.prod([ndtr((mu[r[i]] - mu[r[j]]) / np.sqrt(psi2[r[i]] + psi2[r[j]]))
                                  for i in range(3) for j in range(i + 1, 3)]) for r in RANKINGS[3]])
    assert abs(pairwise.sum() - 1) > 0.05
    assert np.max(np.abs(pairwise - probs)) > 0.01


def test_the_reference_design_reads_as_blocks():
    here = Path(__file__).resolve().parents[1] / "data" / "fc"
    design_doc = json.loads((here / "fc_dev_triplets_design.json").read_text())
    design = BlockDesign.from_blocks(design_doc["traits"], [
        (b["id"], [(s["id"], s["trait"], s["keyed"]) for s in b["statements"]])
        for b in design_doc["blocks"]])
    assert (design.n_traits, design.n_blocks, design.n_statements) == (5, 20, 60)
    assert all(m.size == 3 for m in design.blocks) and (design.keyed == -1).sum() == 20


def test_bad_designs_and_answers_are_refused_with_their_place():
    with pytest.raises(InvalidParameterError, match=r"blocks\[0\] \(B1\): expected 2 to 4"):
        BlockDesign.from_blocks(["A"], [("B1", [("S1", "A", 1)])])
    with pytest.raises(InvalidParameterError, match="two statements measure one trait"):
        BlockDesign.from_blocks(["A", "B"], [("B1", [("S1", "A", 1), ("S2", "A", 1)])])
    with pytest.raises(InvalidParameterError, match=r"statements\[1\].trait: expected one of A, B"):
        BlockDesign.from_blocks(["A", "B"], [("B1", [("S1", "A", 1), ("S2", "Z", 1)])])
    with pytest.raises(InvalidParameterError, match="statement id 'S1' is used twice"):
        BlockDesign.from_blocks(["A", "B"], [("B1", [("S1", "A", 1), ("S2", "B", 1)]),
                                             ("B2", [("S1", "A", 1), ("S3", "B", 1)])])
    with pytest.raises(InvalidResponseError, match="person 1, block 0: expected each of"):
        design = BlockDesign.from_blocks(["A", "B"], [("B1", [("S1", "A", 1), ("S2", "B", 1)])])
        BlockResponses.from_orders(design, [[[[0], [1]]], [[[0], [0]]]])
    # most S3, least S1 of a quad: two rankings
    table = consistent_rankings(4, [[2], [0, 3], [1]])
    assert [RANKINGS[4][i] for i in np.flatnonzero(table)] == [(2, 0, 3, 1), (2, 3, 0, 1)]


def test_block_information_is_the_expected_negative_hessian():
    """For a triplet and a quad: Σ_r P_r ∇∇ᵀ(−log P_r), the Hessians by central differences of
    the rankings' log-probabilities, equals the outer-product formula; a pair's is the probit
    closed form φ(z)²/(Φ(z)(1 − Φ(z))) a aᵀ."""
    model = _model([3, 4, 2], seed=8)
    eta = np.array([0.3, -0.6, 0.9, 0.1])
    info = model.block_information(eta)
    h = 1e-4
    eye = np.eye(4) * h
    logp = [np.log(p) for p in model.ranking_probabilities(eta)]
    for b in range(2):
        hess = np.empty((len(logp[b]), 4, 4))
        for i in range(4):
            for j in range(4):
                f = [np.log(model.ranking_probabilities(eta + si * eye[i] + sj * eye[j])[b])
                     for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1))]
                hess[:, i, j] = (f[0] - f[1] - f[2] + f[3]) / (4 * h * h)
        expected = -np.einsum("r,rij->ij", np.exp(logp[b]), hess)
        np.testing.assert_allclose(info[b], expected, atol=2e-6)
    from scipy.special import ndtr
    i, j = model.design.blocks[2]
    t = model.design.trait_of
    a = np.zeros(4)
    a[t[i]] += model.lam[i]
    a[t[j]] -= model.lam[j]
    sigma = np.sqrt(model.psi2[i] + model.psi2[j])
    z = (model.mu[i] - model.mu[j] + a @ eta) / sigma
    p, dens = ndtr(z), np.exp(-z * z / 2) / np.sqrt(2 * np.pi)
    np.testing.assert_allclose(info[2], dens**2 / (p * (1 - p)) * np.outer(a, a) / sigma**2,
                               rtol=1e-12)


def test_a_triplet_carries_less_than_its_comparisons_counted_as_independent():
    design = BlockDesign.from_blocks(["A", "B", "C"], [("B1", [("S1", "A", 1), ("S2", "B", -1),
                                                               ("S3", "C", 1)])])
    model = ThurstonianBlocks(design, [0.2, 0.0, -0.3], [1.0, -0.8, 1.2], [0.5, 0.6, 0.4])
    pairs = [ThurstonianBlocks(BlockDesign.from_blocks(["A", "B", "C"], [(
        "P", [(f"S{i}", "ABC"[i], 1), (f"S{j}", "ABC"[j], 1)])]), model.mu[[i, j]],
        model.lam[[i, j]], model.psi2[[i, j]]) for i, j in ((0, 1), (0, 2), (1, 2))]
    for eta in np.random.default_rng(2).normal(size=(20, 3)):
        exact = model.block_information(eta)[0]
        independent = sum(p.block_information(eta)[0] for p in pairs)
        assert np.trace(exact) < np.trace(independent)


def test_a_shift_of_the_utilities_moves_the_answers_as_it_would_the_utilities():
    """With one seed the errors are the same: no shift, or one equal across a block's statements,
    leaves every answer as it was; a large shift of one statement puts it first in its block."""
    model = _model([3, 4, 2], seed=8)
    eta = np.random.default_rng(9).normal(size=(300, 4))
    plain = simulate_blocks(model, eta, rng=10)
    n_s = model.design.n_statements
    np.testing.assert_array_equal(simulate_blocks(model, eta, rng=10, shift=np.zeros((300, n_s))).codes,
                                  plain.codes)
    per_person = np.random.default_rng(11).normal(size=(300, 1)) * np.ones((1, n_s))
    np.testing.assert_array_equal(simulate_blocks(model, eta, rng=10, shift=per_person).codes,
                                  plain.codes)
    shift = np.zeros((300, n_s))
    shift[:, 4] = 50.0  # the quad's second statement
    moved = simulate_blocks(model, eta, rng=10, shift=shift)
    first = np.asarray([r[0] for r in RANKINGS[4]])[moved.codes[:, 1]]
    assert np.all(first == 1)
    np.testing.assert_array_equal(moved.codes[:, [0, 2]], plain.codes[:, [0, 2]])
    with pytest.raises(InvalidParameterError, match="shift"):
        simulate_blocks(model, eta, rng=10, shift=np.zeros((300, n_s - 1)))
