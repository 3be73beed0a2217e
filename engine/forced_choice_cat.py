"""Adaptive forced-choice tests: the next block by the optimality of the exact block information.

After each answer the traits are re-estimated (:func:`~qabilet.engine.scoring.forced_choice.block_map`)
and the next block is the one that, added to the information gathered so far at the new
estimate, makes the posterior most precise:

.. math::

    b^* = \\arg\\max_{b\\,\\text{available}}\\;
      \\begin{cases}
        \\log\\det\\big(\\Phi^{-1} + \\sum_{a \\in \\text{given}} I_a(\\hat{\\boldsymbol\\eta})
          + I_b(\\hat{\\boldsymbol\\eta})\\big) & \\text{D-optimality} \\\\
        -\\operatorname{tr}\\big(\\Phi^{-1} + \\dots + I_b(\\hat{\\boldsymbol\\eta})\\big)^{-1}
          & \\text{A-optimality}
      \\end{cases}

with :math:`I_b` the block's exact information
(:meth:`~qabilet.engine.forced_choice.ThurstonianBlocks.block_information`) — the multidimensional
criteria of Segall (1996) and Mulder & van der Linden (2009), applied to blocks as Lin & Brown
(2017) do. A block is available when none of its statements has been shown in the test (a
statement never twice, even in another block). Everyone is computed at once: the loop is over
the test's positions.

*Exposure control* (Sympson & Hetter 1985, applied to blocks): each block has an admission
probability :math:`k_b`; the blocks are considered in order of the criterion, and a block
considered is given with probability :math:`k_b`, else passed over for the rest of the test.
A block's exposure is then :math:`P(\\text{considered}) \\cdot k_b`; :func:`block_exposure`
finds the :math:`k_b` that hold every block's exposure near a target by simulation (the
iteration of Sympson & Hetter: :math:`k_b \\leftarrow \\min(1, r / P(\\text{considered}_b))`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.forced_choice import BlockResponses, ThurstonianBlocks, simulate_blocks
from qabilet.engine.scoring.forced_choice import block_map
from qabilet.engine.scoring.result import AbilityEstimate

__all__ = ["BlockExposure", "BlockTest", "admitted", "block_criterion", "block_exposure",
           "select_blocks", "simulate_block_cat"]

Array = NDArray[np.float64]
Criterion = Literal["D", "A", "random"]


def select_blocks(model: ThurstonianBlocks, eta: ArrayLike, gathered: ArrayLike,
                  available: ArrayLike, criterion: Criterion = "D",
                  rng: np.random.Generator | None = None) -> NDArray[np.intp]:
    """Each person's next block (see the module notes).

    Parameters
    ----------
    eta : array_like, shape (n_persons, n_traits)
        The current estimates.
    gathered : array_like, shape (n_persons, n_traits, n_traits)
        The prior's precision plus the information of the blocks given, at ``eta``.
    available : array_like of bool, shape (n_persons, n_blocks)
    criterion : {"D", "A", "random"}
    rng : Generator, optional
        For ``random``.

    Returns
    -------
    ndarray of int, shape (n_persons,)
        −1 for a person with no block available.
    """
    free = np.asarray(available, dtype=bool)
    if criterion == "random":
        gen = np.random.default_rng(rng)
        score = np.where(free, gen.random(free.shape), -np.inf)
    else:
        score = np.where(free, block_criterion(model, eta, gathered, criterion), -np.inf)
    best = np.argmax(score, axis=1)
    return np.where(free.any(axis=1), best, -1).astype(np.intp)


def block_criterion(model: ThurstonianBlocks, eta: ArrayLike, gathered: ArrayLike,
                    criterion: Literal["D", "A"] = "D") -> Array:
    """Each block's value as the next one (larger is better; see the module notes).

    Parameters
    ----------
    eta : array_like, shape (n_persons, n_traits)
    gathered : array_like, shape (n_persons, n_traits, n_traits)
        The prior's precision plus the information of the blocks given, at ``eta``.
    criterion : {"D", "A"}
        :math:`\\log\\det` of the information with the block added, or minus the trace of its
        inverse.

    Returns
    -------
    ndarray, shape (n_persons, n_blocks)
    """
    if criterion not in ("D", "A"):
        raise InvalidParameterError(f"criterion: expected D, A or random; got {criterion!r}")
    total = np.asarray(gathered, dtype=np.float64)[:, None] + model.block_information(eta)
    if criterion == "D":
        out: Array = np.linalg.slogdet(total)[1]
        return out
    return np.asarray(-np.trace(np.linalg.inv(total), axis1=-2, axis2=-1), dtype=np.float64)


def admitted(value: ArrayLike, admit: ArrayLike, draws: ArrayLike
             ) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
    """Sympson–Hetter's choice: the best block admitted, and the blocks passed over for it.

    Parameters
    ----------
    value : array_like, shape (n_persons, n_blocks)
        Each block's criterion; −inf where it is not available.
    admit : array_like, shape (n_blocks,)
        The admission probabilities :math:`k_b` in (0, 1].
    draws : array_like, shape (n_persons, n_blocks)
        Uniform draws on [0, 1): block ``b`` is admitted when its draw is below :math:`k_b`.

    Returns
    -------
    chosen : ndarray of int, shape (n_persons,)
        The first block admitted in the criterion's order; when none is, the best available
        (a test never stops for want of an admitted block); −1 when none is available.
    passed : ndarray of bool, shape (n_persons, n_blocks)
        The blocks considered before it and refused (to be left out for the rest of the test).

    Examples
    --------
    >>> chosen, passed = admitted([[0.3, 0.9, 0.5]], [1.0, 0.5, 1.0], [[0.1, 0.7, 0.2]])
    >>> chosen.tolist(), passed.tolist()   # block 1 is best but refused (0.7 ≥ 0.5): block 2
    ([2], [[False, True, False]])
    """
    v = np.asarray(value, dtype=np.float64)
    k = np.asarray(admit, dtype=np.float64)
    u = np.asarray(draws, dtype=np.float64)
    rows = np.arange(v.shape[0])[:, None]
    order = np.argsort(-v, axis=1, kind="stable")
    ranked = v[rows, order]
    ok = np.isfinite(ranked) & (u[rows, order] < k[order])
    first = np.where(ok.any(axis=1), ok.argmax(axis=1), 0)
    chosen = np.where(np.isfinite(ranked[:, 0]), order[rows[:, 0], first], -1).astype(np.intp)
    before = (np.arange(v.shape[1])[None, :] < first[:, None]) & np.isfinite(ranked)
    passed = np.zeros(v.shape, dtype=bool)
    passed[rows, order] = before
    return chosen, passed


@dataclass(frozen=True, slots=True, eq=False)
class BlockTest:
    """A simulated adaptive forced-choice test.

    Attributes
    ----------
    estimate : AbilityEstimate
        The final MAP scores and SEs.
    given : ndarray of int, shape (n_persons, length)
        The blocks in the order given; −1 after a simulee ran out of blocks without a
        statement already shown.
    true_eta : ndarray, shape (n_persons, n_traits)
    considered : ndarray of bool, shape (n_persons, n_blocks), optional
        With exposure control: the blocks each simulee's test considered (given, or passed over).
    """

    estimate: AbilityEstimate
    given: NDArray[np.intp]
    true_eta: Array
    considered: NDArray[np.bool_] | None = None

    @property
    def rmse(self) -> Array:
        """Per trait, the root mean square error of the final scores."""
        out: Array = np.sqrt(np.mean((self.estimate.theta - self.true_eta) ** 2, axis=0))
        return out


def simulate_block_cat(model: ThurstonianBlocks, eta: ArrayLike, length: int, *,
                       corr: ArrayLike | None = None, criterion: Criterion = "D",
                       most_least: bool = False, statement_of: ArrayLike | None = None,
                       shift: ArrayLike | None = None, admit: ArrayLike | None = None,
                       rng: np.random.Generator | int | None = None) -> BlockTest:
    """Simulees with true traits ``eta`` take adaptive forced-choice tests of ``length`` blocks.

    Each simulee's answer to every block is drawn once from the model; the test reveals the
    blocks it chooses (see the module notes), re-estimating after each.

    Parameters
    ----------
    statement_of : array_like of int, shape (n_statements,), optional
        Which statement of the bank each statement of the design is, when pre-assembled blocks
        share statements (a design names each block's statements apart): no two blocks with a
        statement in common are given in one test. Default: every statement its own.
    shift : array_like, shape (n_persons, n_statements), optional
        Added to the simulees' utilities before they rank a block
        (:func:`~qabilet.engine.forced_choice.simulate_blocks`), as faking would; the blocks
        are still chosen, and the answers scored, by the model.
    admit : array_like, shape (n_blocks,), optional
        Sympson–Hetter admission probabilities (see the module notes; ``criterion`` D or A).
    """
    gen = np.random.default_rng(rng)
    true = np.asarray(eta, dtype=np.float64)
    d = model.design
    if not 1 <= length <= d.n_blocks:
        raise InvalidParameterError(f"length: expected 1 to {d.n_blocks} blocks; got {length}")
    k = d.n_traits
    phi = np.eye(k) if corr is None else np.asarray(corr, dtype=np.float64)
    every = simulate_blocks(model, true, gen, most_least=most_least, shift=shift)
    n = true.shape[0]
    codes = np.full((n, d.n_blocks), -1, dtype=np.int64)
    same = np.arange(d.n_statements) if statement_of is None else np.asarray(statement_of)
    if same.shape != (d.n_statements,):
        raise InvalidParameterError(f"statement_of: expected one statement per design statement "
                                    f"({d.n_statements}); got shape {same.shape}")
    statement_block = np.zeros((d.n_blocks, int(same.max()) + 1), dtype=bool)
    for b, members in enumerate(d.blocks):
        statement_block[b, same[members]] = True
    shared = (statement_block.astype(int) @ statement_block.T.astype(int)) > 0  # blocks sharing
    available = np.ones((n, d.n_blocks), dtype=bool)
    given = np.full((n, length), -1, dtype=np.intp)
    estimate = np.zeros((n, k))
    precision = np.linalg.inv(phi)
    rows = np.arange(n)
    result = None
    k_admit = None if admit is None else np.asarray(admit, dtype=np.float64)
    considered = np.zeros((n, d.n_blocks), dtype=bool)
    for step in range(length):
        info = model.block_information(estimate)  # (n, blocks, k, k)
        gathered = precision + np.einsum("pb,pbkl->pkl", codes >= 0, info)
        if k_admit is None:
            chosen = select_blocks(model, estimate, gathered, available, criterion, gen)
        else:
            value = np.where(available, block_criterion(
                model, estimate, gathered, "A" if criterion == "A" else "D"), -np.inf)
            chosen, passed = admitted(value, k_admit, gen.random(available.shape))
            available &= ~passed
            considered |= passed
        considered[rows[chosen >= 0], chosen[chosen >= 0]] = True
        given[:, step] = chosen
        took = chosen >= 0  # a simulee whose every block meets a statement shown stops early
        codes[rows[took], chosen[took]] = every.codes[rows[took], chosen[took]]
        available[took] &= ~shared[chosen[took]]
        result = block_map(model, BlockResponses(codes, every.tables), phi)
        estimate = result.theta
    if result is None:  # length ≥ 1: never
        raise InvalidParameterError("length: expected at least one block")
    return BlockTest(result, given, true, considered if k_admit is not None else None)


@dataclass(frozen=True, slots=True, eq=False)
class BlockExposure:
    """Sympson–Hetter parameters of a pool of blocks and the exposure they give.

    Attributes
    ----------
    admit : ndarray, shape (n_blocks,)
        The admission probabilities :math:`k_b`.
    exposure : ndarray, shape (n_blocks,)
        Each block's share of tests that gave it, in the last round's simulation.
    rounds : int
    """

    admit: Array
    exposure: Array
    rounds: int


def block_exposure(model: ThurstonianBlocks, eta: ArrayLike, length: int, target: float, *,
                   corr: ArrayLike | None = None, criterion: Literal["D", "A"] = "D",
                   rounds: int = 6, rng: np.random.Generator | int | None = None) -> BlockExposure:
    """Admission probabilities that hold each block's exposure near ``target`` (see the module notes).

    Each round simulates the adaptive test of ``length`` blocks for the simulees ``eta`` (a
    sample of the population that will take it) under the current :math:`k_b` and sets
    :math:`k_b = \\min(1, r / P(\\text{considered}_b))` from the share of tests that considered
    each block (Sympson & Hetter 1985). A target below ``length / n_blocks`` cannot be met
    (every test gives ``length`` blocks) and is refused.
    """
    gen = np.random.default_rng(rng)
    n_blocks = model.design.n_blocks
    if not length / n_blocks <= target <= 1:
        raise InvalidParameterError(f"target: expected {length / n_blocks:.3g} (the share of the "
                                    f"pool a test gives) to 1; got {target}")
    if rounds < 1:
        raise InvalidParameterError(f"rounds: expected at least 1; got {rounds}")
    k = np.ones(n_blocks)
    exposure = np.zeros(n_blocks)
    for _ in range(rounds):
        test = simulate_block_cat(model, eta, length, corr=corr, criterion=criterion, admit=k,
                                  rng=gen)
        assert test.considered is not None
        p_considered = test.considered.mean(axis=0)
        given = test.given[test.given >= 0]  # a block at most once a test
        exposure = np.bincount(given, minlength=n_blocks) / test.given.shape[0]
        k = np.where(p_considered > target, target / np.maximum(p_considered, 1e-12), 1.0)
    return BlockExposure(k, exposure, rounds)
