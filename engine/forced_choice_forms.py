"""Static forced-choice forms: blocks assembled from calibrated statements by integer programming.

A form of ``n_blocks`` blocks of ``size`` statements is chosen among every candidate block the
pool allows — statements on different traits whose desirability ratings differ by at most
``max_gap`` (so that no statement stands out as the one to pick: Brown & Maydeu-Olivares 2011
match blocks for social desirability against faking) — by a mixed-integer program (scipy's
:func:`~scipy.optimize.milp`, HiGHS):

.. math::

    \\max_x \\sum_c x_c \\operatorname{tr} I_c(\\boldsymbol\\eta_0) \\quad\\text{subject to}\\quad
    \\sum_c x_c = n_{\\text{blocks}},\\;
    \\sum_{c \\ni s} x_c \\le 1\\;\\forall s,\\;
    L_t \\le \\sum_c n_{ct} x_c \\le U_t\\;\\forall t,\\;
    \\sum_{c \\supset \\{t, u\\}} x_c \\ge m\\;\\forall t < u,\\;
    \\sum_{c\\,\\text{mixed}} x_c \\ge k_{\\text{mixed}},\\; x_c \\in \\{0, 1\\}:

each statement at most once; each trait measured :math:`L_t`–:math:`U_t` times (the even share,
rounded down and up); every pair of traits compared in at least ``pair_min`` blocks (the
comparisons between traits are what recover normative scores; Brown & Maydeu-Olivares 2011,
§5); at least ``mixed_min`` blocks whose statements are keyed in both directions (blocks of
positively keyed statements alone leave the scores partly ipsative, ibid.); and the form's
information largest, the sum over its blocks of the trace of each block's exact information
(:meth:`~qabilet.engine.forced_choice.ThurstonianBlocks.block_information`) at
:math:`\\boldsymbol\\eta_0` (the traits' centre by default) — linear in the choice, unlike the
determinant; Frick (2023) derives the blocks' information.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.forced_choice import BlockDesign, ThurstonianBlocks

__all__ = ["Form", "assemble_form", "candidate_blocks", "candidate_model"]

Array = NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class Form:
    """An assembled form.

    Attributes
    ----------
    blocks : ndarray of int, shape (n_blocks, size)
        Each block's statements (positions in the pool).
    information : float
        The objective: the sum of the blocks' information traces at η₀.
    n_candidates : int
        The candidate blocks the program chose among.
    """

    blocks: NDArray[np.intp]
    information: float
    n_candidates: int


def candidate_blocks(trait: ArrayLike, desirability: ArrayLike, size: int = 3,
                     max_gap: float = 0.5) -> NDArray[np.intp]:
    """Every block of ``size`` statements on different traits within ``max_gap`` desirability.

    Returns
    -------
    ndarray of int, shape (n_candidates, size)
        Statement positions, ascending within a block.
    """
    t = np.asarray(trait)
    d = np.asarray(desirability, dtype=np.float64)
    if t.shape != d.shape or t.ndim != 1:
        raise InvalidParameterError("trait, desirability: expected one value per statement")
    if size not in (2, 3, 4):
        raise InvalidParameterError(f"size: expected 2, 3 or 4; got {size}")
    order = np.argsort(d, kind="stable")
    out = []
    # a block within the gap starts at its least desirable statement: look right of it only
    for a, s in enumerate(order):
        reach = order[a + 1:][d[order[a + 1:]] - d[s] <= max_gap]
        for rest in itertools.combinations(reach.tolist(), size - 1):
            members = (int(s), *rest)
            if len(set(t[list(members)].tolist())) == size:
                out.append(sorted(members))
    return np.asarray(out, dtype=np.intp).reshape(-1, size)


def candidate_model(blocks: NDArray[np.intp], trait: ArrayLike, keyed: ArrayLike, mu: ArrayLike,
                    lam: ArrayLike, psi2: ArrayLike, traits: Sequence[str]) -> ThurstonianBlocks:
    """The candidate ``blocks`` (statement positions in a pool) as one design's blocks.

    Each candidate is a block of its own (statement ``s`` of candidate ``j`` named ``S{s}@{j}``),
    so that their information is computed together.
    """
    t = np.asarray(trait, dtype=np.intp)
    key = np.asarray(keyed, dtype=np.int64)
    design = BlockDesign.from_blocks(list(traits), [
        (f"C{j}", [(f"S{s}@{j}", traits[t[s]], int(key[s])) for s in members])
        for j, members in enumerate(blocks)])
    flat = blocks.reshape(-1)
    return ThurstonianBlocks(design, *(np.asarray(v, dtype=np.float64)[flat] for v in (mu, lam, psi2)))


def assemble_form(trait: ArrayLike, keyed: ArrayLike, mu: ArrayLike, lam: ArrayLike,
                  psi2: ArrayLike, desirability: ArrayLike, n_blocks: int, *, size: int = 3,
                  max_gap: float = 0.5, pair_min: int = 1, mixed_min: int | None = None,
                  eta: ArrayLike | None = None, traits: Sequence[str] | None = None,
                  time_limit: float = 60.0) -> Form:
    """The most informative form the constraints allow (see the module notes).

    Parameters
    ----------
    trait : array_like of int, shape (n_statements,)
        Each statement's trait (0 … n_traits − 1).
    keyed : array_like of int
        ±1.
    mu, lam, psi2 : array_like
        The statements' calibrated parameters.
    desirability : array_like
        Their desirability ratings (any scale; ``max_gap`` in its units).
    n_blocks : int
    size : int
        Statements per block (2, 3 or 4).
    max_gap : float
        The widest desirability range within a block.
    pair_min : int
        Blocks in which each pair of traits meets, at least.
    mixed_min : int, optional
        Blocks keyed in both directions, at least (default: a third of the form).
    eta : array_like, optional
        Where the information is maximised (default: every trait 0).
    traits : sequence of str, optional
        The traits' names (default ``T0, T1, …``).
    time_limit : float
        Seconds the solver may take.

    Raises
    ------
    InvalidParameterError
        No form meets the constraints (with which ones to relax).
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    t = np.asarray(trait, dtype=np.intp)
    k = int(t.max()) + 1
    names = list(traits) if traits is not None else [f"T{j}" for j in range(k)]
    key = np.asarray(keyed, dtype=np.int64)
    cands = candidate_blocks(t, desirability, size, max_gap)
    c = cands.shape[0]
    if c < n_blocks:
        raise InvalidParameterError(f"n_blocks: only {c} candidate blocks match within a "
                                    f"desirability gap of {max_gap}; widen max_gap or add "
                                    f"statements")
    model = candidate_model(cands, t, key, mu, lam, psi2, names)
    at = np.zeros(k) if eta is None else np.asarray(eta, dtype=np.float64)
    merit = np.trace(model.block_information(at), axis1=-2, axis2=-1)
    n_s = t.size
    uses = np.zeros((n_s, c))
    uses[cands, np.arange(c)[:, None]] = 1.0
    counts = np.zeros((k, c))
    np.add.at(counts, (t[cands], np.arange(c)[:, None]), 1.0)
    share = n_blocks * size / k
    rows = [np.ones((1, c)), uses, counts]
    low = [np.array([n_blocks]), np.zeros(n_s), np.full(k, np.floor(share))]
    high = [np.array([n_blocks]), np.ones(n_s), np.full(k, np.ceil(share))]
    pairs = list(itertools.combinations(range(k), 2))
    if pair_min > 0:
        meet = np.stack([(counts[a] > 0) & (counts[b] > 0) for a, b in pairs]).astype(float)
        rows.append(meet)
        low.append(np.full(len(pairs), float(pair_min)))
        high.append(np.full(len(pairs), np.inf))
    mixed = (np.abs(key[cands].sum(axis=1)) < size).astype(float)
    need = n_blocks // 3 if mixed_min is None else mixed_min
    rows.append(mixed[None])
    low.append(np.array([float(need)]))
    high.append(np.array([np.inf]))
    res = milp(-merit, integrality=np.ones(c), bounds=Bounds(0, 1),
               constraints=LinearConstraint(np.vstack(rows), np.concatenate(low),
                                            np.concatenate(high)),
               options={"time_limit": time_limit})
    if res.x is None:
        raise InvalidParameterError(
            f"no form of {n_blocks} blocks meets the constraints (status: {res.message}); relax "
            f"pair_min ({pair_min}), mixed_min ({need}) or max_gap ({max_gap}), or add statements")
    chosen = np.flatnonzero(res.x > 0.5)
    return Form(cands[chosen], float(merit[chosen].sum()), c)
