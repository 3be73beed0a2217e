"""Blocks assembled on the fly: the pool's rules hold in every block, and choosing them by the
exact information measures better than assembling them at random (same simulees, same answers)."""

from __future__ import annotations

import numpy as np
import pytest

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.forced_choice_assembly import simulate_assembled_cat


def _pool(seed=2):
    rng = np.random.default_rng(seed)
    trait = np.repeat(np.arange(4), 8)
    keyed = np.where(rng.random(32) < 0.3, -1, 1)
    lam = keyed * rng.uniform(0.5, 1.5, 32)
    return dict(trait=trait, keyed=keyed, mu=rng.normal(0, 0.6, 32), lam=lam,
                psi2=np.full(32, 0.5), desirability=rng.uniform(2.0, 4.0, 32))


def test_assembled_blocks_keep_the_pools_rules_and_beat_random_assembly():
    pool = _pool()
    eta = np.random.default_rng(8).multivariate_normal(np.zeros(4), 0.7 * np.eye(4) + 0.3, 80)
    best = simulate_assembled_cat(**pool, eta=eta, length=6, max_gap=0.6, rng=4)
    blind = simulate_assembled_cat(**pool, eta=eta, length=6, max_gap=0.6, criterion="random",
                                   rng=4)
    g = best.given
    assert g.shape == (80, 6, 3) and (g >= 0).all() and best.n_candidates > 50
    traits = pool["trait"][g]
    assert (np.sort(traits, axis=2)[..., 1:] != np.sort(traits, axis=2)[..., :-1]).all()
    rated = pool["desirability"][g]
    assert (rated.max(axis=2) - rated.min(axis=2) <= 0.6 + 1e-12).all()
    flat = g.reshape(80, -1)
    assert all(len(set(row)) == len(row) for row in flat.tolist())  # a statement never twice
    assert best.rmse.mean() < blind.rmse.mean() - 0.03, (best.rmse, blind.rmse)


def test_a_pool_that_allows_no_block_is_refused():
    pool = _pool()
    pool["desirability"] = np.arange(32.0)  # every pair of statements a whole point apart
    with pytest.raises(InvalidParameterError, match="allows no block"):
        simulate_assembled_cat(**pool, eta=np.zeros((3, 4)), length=2, max_gap=0.5)
