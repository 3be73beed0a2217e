"""Static forced-choice forms by integer programming: every constraint met on a realistic pool,
the optimum equal to brute force on a small one, and an impossible request refused."""

import itertools

import numpy as np
import pytest

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.forced_choice import BlockDesign, ThurstonianBlocks
from qabilet.engine.forced_choice_forms import assemble_form, candidate_blocks


def _pool(k, per, seed=0):
    rng = np.random.default_rng(seed)
    trait = np.repeat(np.arange(k), per)
    keyed = np.where(rng.random(trait.size) < 0.3, -1, 1)
    lam = keyed * rng.uniform(0.6, 1.2, trait.size)
    return dict(trait=trait, keyed=keyed, mu=rng.normal(0, 0.8, trait.size), lam=lam,
                psi2=np.maximum(1 - lam**2, 0.3), desirability=rng.uniform(1, 5, trait.size))


def _trace(pool, members):
    """A block's information trace at η = 0, from a design of that block alone."""
    k = int(pool["trait"].max()) + 1
    names = [f"T{j}" for j in range(k)]
    design = BlockDesign.from_blocks(names, [("B", [(f"S{s}", names[pool["trait"][s]], 1)
                                                    for s in members])])
    idx = list(members)
    model = ThurstonianBlocks(design, pool["mu"][idx], pool["lam"][idx], pool["psi2"][idx])
    return float(np.trace(model.block_information(np.zeros(k))[0]))


def test_a_form_of_thirty_triplets_meets_every_constraint():
    pool = _pool(9, 10)
    form = assemble_form(**pool, n_blocks=30, max_gap=0.5, pair_min=1, mixed_min=10)
    blocks = form.blocks
    assert blocks.shape == (30, 3)
    assert np.unique(blocks).size == 90  # no statement twice
    traits = pool["trait"][blocks]
    assert all(len(set(row)) == 3 for row in traits.tolist())  # three traits per block
    assert np.all(np.bincount(traits.ravel(), minlength=9) == 10)  # balanced
    met = {frozenset(p) for row in traits.tolist() for p in itertools.combinations(row, 2)}
    assert len(met) == 36  # every pair of the 9 traits compared
    d = pool["desirability"][blocks]
    assert np.all(d.max(axis=1) - d.min(axis=1) <= 0.5 + 1e-12)
    assert (np.abs(pool["keyed"][blocks].sum(axis=1)) < 3).sum() >= 10  # keyed both ways
    np.testing.assert_allclose(form.information, sum(_trace(pool, b) for b in blocks), rtol=1e-10)


def test_the_optimum_is_brute_forces():
    pool = _pool(4, 3, seed=5)
    pool["desirability"] = np.zeros(12)  # every block matched
    form = assemble_form(**pool, n_blocks=2, pair_min=0, mixed_min=0)
    cands = candidate_blocks(pool["trait"], pool["desirability"], 3, 0.5)
    best = -np.inf
    for a, b in itertools.combinations(range(len(cands)), 2):
        if set(cands[a]) & set(cands[b]):
            continue
        counts = np.bincount(pool["trait"][np.r_[cands[a], cands[b]]], minlength=4)
        if counts.min() < 1 or counts.max() > 2:  # 6 statements over 4 traits: 1 or 2 each
            continue
        best = max(best, _trace(pool, cands[a]) + _trace(pool, cands[b]))
    assert form.information == pytest.approx(best, rel=1e-9)


def test_an_impossible_form_is_refused_with_what_to_relax():
    pool = _pool(3, 2)
    with pytest.raises(InvalidParameterError, match="relax pair_min"):
        assemble_form(**pool, n_blocks=2, max_gap=10.0, pair_min=3)
    with pytest.raises(InvalidParameterError, match="widen max_gap"):
        assemble_form(**pool, n_blocks=2, max_gap=0.0)
