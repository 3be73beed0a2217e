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

__all__ = ["BlockTest", "block_criterion", "select_blocks", "simulate_block_cat"]

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
    """

    estimate: AbilityEstimate
    given: NDArray[np.intp]
    true_eta: Array

    @property
    def rmse(self) -> Array:
        """Per trait, the root mean square error of the final scores."""
        out: Array = np.sqrt(np.mean((self.estimate.theta - self.true_eta) ** 2, axis=0))
        return out


def simulate_block_cat(model: ThurstonianBlocks, eta: ArrayLike, length: int, *,
                       corr: ArrayLike | None = None, criterion: Criterion = "D",
                       most_least: bool = False, statement_of: ArrayLike | None = None,
                       shift: ArrayLike | None = None,
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
    for step in range(length):
        info = model.block_information(estimate)  # (n, blocks, k, k)
        gathered = precision + np.einsum("pb,pbkl->pkl", codes >= 0, info)
        chosen = select_blocks(model, estimate, gathered, available, criterion, gen)
        given[:, step] = chosen
        took = chosen >= 0  # a simulee whose every block meets a statement shown stops early
        codes[rows[took], chosen[took]] = every.codes[rows[took], chosen[took]]
        available[took] &= ~shared[chosen[took]]
        result = block_map(model, BlockResponses(codes, every.tables), phi)
        estimate = result.theta
    if result is None:  # length ≥ 1: never
        raise InvalidParameterError("length: expected at least one block")
    return BlockTest(result, given, true)
