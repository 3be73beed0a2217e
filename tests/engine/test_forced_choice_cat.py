"""Adaptive forced-choice tests against their definition and the truth: the chosen block
maximises the criterion (brute force), no statement is shown twice, and choosing blocks by
D-optimality measures the true traits better than choosing them at random."""

import numpy as np
import pytest

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.forced_choice import BlockDesign, ThurstonianBlocks
from qabilet.engine.forced_choice_cat import select_blocks, simulate_block_cat


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
