"""Adaptive forced-choice tests against their definition and the truth: the chosen block
maximises the criterion (brute force), no statement is shown twice, and choosing blocks by
D-optimality measures the true traits better than choosing them at random."""

import numpy as np
import pytest

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.forced_choice import BlockDesign, ThurstonianBlocks
from qabilet.engine.forced_choice_cat import (
    admitted,
    block_exposure,
    select_blocks,
    simulate_block_cat,
)


def _pool(n_blocks=36, seed=0):
    """Triplets over 5 traits from 80 statements; blocks may share statements (a statement
    appears in one or two blocks), so the test must keep them apart."""
    rng = np.random.default_rng(seed)
    traits = [f"T{k}" for k in range(5)]
    n_s = 80
    trait_of = np.arange(n_s) % 5
    keyed = np.where(rng.random(n_s) < 0.35, -1, 1)
    lam = keyed * rng.uniform(0.5, 1.4, n_s)
    blocks = []
    for b in range(n_blocks):
        while True:
            chosen = rng.choice(n_s, size=3, replace=False)
            if len(set(trait_of[chosen])) == 3:
                break
        blocks.append((f"B{b}", [(f"S{s}@{b}", traits[trait_of[s]], int(keyed[s])) for s in chosen]))
    design = BlockDesign.from_blocks(traits, blocks)
    source = np.asarray([int(sid.split("@")[0][1:]) for sid in design.statement_ids])
    model = ThurstonianBlocks(design, rng.normal(0, 0.7, n_s)[source], lam[source],
                              np.maximum(1 - lam**2, 0.3)[source])
    return model, source


def test_the_chosen_block_maximises_the_criterion():
    model, _ = _pool()
    rng = np.random.default_rng(1)
    eta = rng.normal(size=(4, 5))
    gathered = np.eye(5)[None] * np.array([1.0, 2.0, 3.0, 4.0])[:, None, None]
    available = rng.random((4, model.design.n_blocks)) < 0.6
    info = model.block_information(eta)
    for criterion in ("D", "A"):
        chosen = select_blocks(model, eta, gathered, available, criterion)
        for p in range(4):
            def value(b, p=p, criterion=criterion):
                total = gathered[p] + info[p, b]
                return (np.linalg.slogdet(total)[1] if criterion == "D"
                        else -np.trace(np.linalg.inv(total)))
            best = max(np.flatnonzero(available[p]), key=value)
            assert chosen[p] == best
    none = select_blocks(model, eta, gathered, np.zeros_like(available), "D")
    assert np.all(none == -1)
    with pytest.raises(InvalidParameterError, match="criterion"):
        select_blocks(model, eta, gathered, available, "E")


def test_adaptive_blocks_measure_better_than_random_ones():
    """200 simulees, tests of 10 of 36 triplets: D-optimal choice gives a smaller RMSE, averaged
    over the traits, than random choice on the same simulees and answers; no statement twice."""
    model, source = _pool()
    eta = np.random.default_rng(2).normal(size=(200, 5))
    adaptive = simulate_block_cat(model, eta, 10, criterion="D", statement_of=source, rng=3)
    random = simulate_block_cat(model, eta, 10, criterion="random", statement_of=source, rng=3)
    assert adaptive.rmse.mean() < random.rmse.mean()
    assert np.all(adaptive.given >= 0)
    for run in (adaptive, random):
        for p in range(200):
            given = [b for b in run.given[p] if b >= 0]
            statements = source[np.concatenate([model.design.blocks[b] for b in given])]
            assert np.unique(statements).size == 3 * len(given)


def test_a_shift_of_the_utilities_reaches_the_adaptive_tests_answers():
    """A shift equal across statements changes nothing; raising one trait's statements (by the
    sign of their loadings) raises that trait's scores."""
    model, source = _pool()
    eta = np.random.default_rng(4).normal(size=(60, 5))
    plain = simulate_block_cat(model, eta, 6, statement_of=source, rng=5)
    n_s = model.design.n_statements
    same = simulate_block_cat(model, eta, 6, statement_of=source, rng=5, shift=np.full((60, n_s), 2.0))
    np.testing.assert_array_equal(same.given, plain.given)
    np.testing.assert_allclose(same.estimate.theta, plain.estimate.theta)
    shift = np.where(model.design.trait_of == 0, np.sign(model.lam), 0.0) * np.ones((60, 1))
    faked = simulate_block_cat(model, eta, 6, statement_of=source, rng=5, shift=shift)
    gain = faked.estimate.theta - plain.estimate.theta
    assert gain[:, 0].mean() > 0.3 > np.abs(gain[:, 1:].mean(axis=0)).max()


def test_sympson_hetter_gives_a_block_at_its_admission_rate_and_passes_it_over_otherwise():
    rng = np.random.default_rng(3)
    n = 20_000
    value = np.tile([0.2, 0.9, 0.5, -np.inf], (n, 1))  # block 1 best, block 3 unavailable
    chosen, passed = admitted(value, [1.0, 0.3, 0.6, 1.0], rng.random((n, 4)))
    # block 1 with probability 0.3; else block 2 with 0.6; else block 0 (admitted surely)
    share = np.bincount(chosen, minlength=4) / n
    assert share == pytest.approx([0.7 * 0.4, 0.3, 0.7 * 0.6, 0.0], abs=0.012)
    assert np.all(passed[chosen == 2] == [False, True, False, False])
    assert np.all(passed[chosen == 0] == [False, True, True, False])
    assert not passed[:, 3].any() and not passed[chosen == 1].any()
    # no block admitted: the best available is given
    chosen, passed = admitted([[0.1, 0.4, -np.inf]], [0.01, 0.01, 1.0], [[0.5, 0.5, 0.0]])
    assert chosen.tolist() == [1] and not passed.any()


def _distinct(n_blocks=12, seed=4):
    """Triplets over four traits, every statement in one block, loadings of varied strength."""
    rng = np.random.default_rng(seed)
    traits = ["T0", "T1", "T2", "T3"]
    design = BlockDesign.from_blocks(traits, [
        (f"B{b}", [(f"S{b}.{j}", traits[(b + j) % 4], 1 if (b + j) % 3 else -1) for j in range(3)])
        for b in range(n_blocks)])
    lam = design.keyed * rng.uniform(0.4, 1.6, design.n_statements)
    return ThurstonianBlocks(design, rng.normal(0, 0.5, design.n_statements), lam,
                             np.full(design.n_statements, 0.5))


def test_exposure_control_holds_the_most_used_blocks_near_the_target():
    model, eta = _distinct(), np.random.default_rng(9).multivariate_normal(np.zeros(4), np.eye(4), 250)
    free = simulate_block_cat(model, eta, 4, rng=1)
    used = np.array([np.mean(np.any(free.given == b, axis=1)) for b in range(model.design.n_blocks)])
    control = block_exposure(model, eta, 4, 0.5, rounds=4, rng=2)
    assert used.max() > 0.9  # unrestricted: some blocks in nearly every test
    assert control.exposure.max() < 0.62 and control.exposure.max() < used.max() - 0.3
    assert control.exposure.sum() == pytest.approx(4.0)  # every test still gives four blocks
    assert np.all((control.admit > 0) & (control.admit <= 1)) and control.admit.min() < 1
    with pytest.raises(InvalidParameterError, match="target"):
        block_exposure(model, eta, 4, 0.2)
