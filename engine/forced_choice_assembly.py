"""Adaptive forced choice with blocks assembled on the fly from a pool of calibrated statements.

Instead of choosing among pre-assembled blocks (:mod:`qabilet.engine.forced_choice_cat`), each
next block is built for the person: among every block the pool allows — ``size`` statements on
different traits, none shown before, desirability ratings within ``max_gap``
(:func:`~qabilet.engine.forced_choice_forms.candidate_blocks`) — the one whose exact
information, added to what was gathered at the current MAP estimate, is best by D- or
A-optimality (:func:`~qabilet.engine.forced_choice_cat.block_criterion`). Lin & Brown (2017)
ran forced-choice CAT so; it uses the pool better than fixed blocks can, since a statement is
not tied to two partners chosen in advance.

**The caveat** (Lin & Brown 2017). The statements' parameters must mean the same in any
block: (1) they must be on **one utility scale** — blocks calibrated one by one, as
``qabilet calibrate-fc`` calibrates pre-assembled blocks, identify each block's intercepts and
error variances only within the block (its first statement's μ = 0 and ψ² = 1), so their
statements cannot be recombined; the pool needs a calibration that links the blocks (statements
shown in several blocks, their parameters constrained equal) or statements calibrated singly on
a rating scale; and (2) a statement's utility must not depend on its partners — Lin & Brown
found the same statements' parameters moved measurably between block contexts (context effects),
so parameters estimated in one set of blocks are an approximation in others, and blocks built on
the fly should be recalibrated as given once data accumulate. The simulation here draws every
answer from the pool's parameters, as if neither held: it shows what assembly on the fly gains
when its assumptions hold, not that they hold. qabilet's sessions therefore serve pre-assembled
blocks only; a bank version holds blocks, not a linked statement pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.forced_choice import RANKINGS, BlockResponses
from qabilet.engine.forced_choice_cat import block_criterion
from qabilet.engine.forced_choice_forms import candidate_blocks, candidate_model
from qabilet.engine.scoring.forced_choice import block_map
from qabilet.engine.scoring.result import AbilityEstimate

__all__ = ["AssembledTest", "simulate_assembled_cat"]

Array = NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class AssembledTest:
    """A simulated forced-choice test whose blocks were assembled on the fly.

    Attributes
    ----------
    estimate : AbilityEstimate
        The final MAP scores and SEs.
    given : ndarray of int, shape (n_persons, length, size)
        Each block given, as statement positions in the pool; −1 after a simulee ran out of
        blocks the pool allows.
    true_eta : ndarray, shape (n_persons, n_traits)
    n_candidates : int
        The blocks the pool allows in all (before any is shown).
    """

    estimate: AbilityEstimate
    given: NDArray[np.intp]
    true_eta: Array
    n_candidates: int

    @property
    def rmse(self) -> Array:
        """Per trait, the root mean square error of the final scores."""
        out: Array = np.sqrt(np.mean((self.estimate.theta - self.true_eta) ** 2, axis=0))
        return out


def simulate_assembled_cat(trait: ArrayLike, keyed: ArrayLike, mu: ArrayLike, lam: ArrayLike,
                           psi2: ArrayLike, desirability: ArrayLike, eta: ArrayLike, length: int,
                           *, size: int = 3, max_gap: float = 0.5, corr: ArrayLike | None = None,
                           criterion: Literal["D", "A", "random"] = "D",
                           traits: Sequence[str] | None = None,
                           rng: np.random.Generator | int | None = None) -> AssembledTest:
    """Simulees with true traits ``eta`` take tests of ``length`` blocks assembled on the fly.

    Each simulee's utility for every statement is drawn once from the pool's parameters
    (:math:`t_s = \\mu_s + \\lambda_s \\eta_{\\tau(s)} + \\varepsilon_s`), and each block given is
    ranked by them; after each block the traits are re-estimated (MAP under N(0, Φ) with the
    exact block likelihood) and the next block assembled (see the module notes and their caveat).

    Parameters
    ----------
    trait, keyed, mu, lam, psi2, desirability : array_like, shape (n_statements,)
        The pool, as :func:`~qabilet.engine.forced_choice_forms.assemble_form` takes it — its
        parameters on one utility scale.
    eta : array_like, shape (n_persons, n_traits)
    length : int
        Blocks per test.
    size : int
        Statements per block (2, 3 or 4).
    criterion : {"D", "A", "random"}
        How the next block is chosen among those the pool allows; ``random`` for comparison.
    """
    gen = np.random.default_rng(rng)
    t = np.asarray(trait, dtype=np.intp)
    true = np.asarray(eta, dtype=np.float64)
    k = true.shape[1]
    names = list(traits) if traits is not None else [f"T{j}" for j in range(k)]
    if t.ndim != 1 or t.min() < 0 or t.max() >= k:
        raise InvalidParameterError(f"trait: expected one trait (0 … {k - 1}) per statement")
    cands = candidate_blocks(t, desirability, size, max_gap)
    c = cands.shape[0]
    if length < 1:
        raise InvalidParameterError(f"length: expected at least 1 block; got {length}")
    if c == 0:
        raise InvalidParameterError(f"the pool allows no block of {size} statements on different "
                                    f"traits within a desirability gap of {max_gap}")
    params = [np.asarray(v, dtype=np.float64) for v in (mu, lam, psi2)]
    model = candidate_model(cands, t, keyed, params[0], params[1], params[2], names)
    phi = np.eye(k) if corr is None else np.asarray(corr, dtype=np.float64)
    n = true.shape[0]
    utility = (params[0] + params[1] * true[:, t]
               + gen.normal(size=(n, t.size)) * np.sqrt(params[2]))
    powers = size ** np.arange(size - 1, -1, -1)  # a ranking's digits → its row of RANKINGS
    rank_of = np.full(size**size, -1, dtype=np.int64)
    rank_of[np.asarray(RANKINGS[size]) @ powers] = np.arange(len(RANKINGS[size]))
    codes = np.full((n, c), -1, dtype=np.int64)
    tables = tuple(np.eye(len(RANKINGS[size]), dtype=bool) for _ in range(c))
    shown = np.zeros((n, t.size), dtype=bool)
    given = np.full((n, length, size), -1, dtype=np.intp)
    estimate = np.zeros((n, k))
    precision = np.linalg.inv(phi)
    rows = np.arange(n)
    result = None
    for step in range(length):
        free: NDArray[np.bool_] = ~np.any(shown[:, cands], axis=2)  # (n, c): none shown yet
        if criterion == "random":
            value = np.where(free, gen.random(free.shape), -np.inf)
        else:
            info = model.block_information(estimate)
            gathered = precision + np.einsum("pb,pbkl->pkl", codes >= 0, info)
            value = np.where(free, block_criterion(model, estimate, gathered, criterion), -np.inf)
        took = free.any(axis=1)
        chosen = np.argmax(value, axis=1)
        members = cands[chosen]  # (n, size)
        order = np.argsort(-np.take_along_axis(utility, members, axis=1), axis=1, kind="stable")
        codes[rows[took], chosen[took]] = rank_of[order[took] @ powers]
        given[took, step] = members[took]
        shown[rows[took, None], members[took]] = True
        result = block_map(model, BlockResponses(codes, tables), phi)
        estimate = result.theta
    if result is None:  # length ≥ 1: never
        raise InvalidParameterError("length: expected at least one block")
    return AssembledTest(result, given, true, c)
