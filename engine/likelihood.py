"""Response matrices and the likelihood on a quadrature grid, shared by scoring and calibration.

The building blocks of every marginal computation: validation of a response matrix with its
missing-data mask, collapsing of identical patterns, the log-likelihood of every pattern at every
node as one-hot matrix products, and row normalisation to posterior weights.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qabilet.engine.exceptions import InvalidResponseError
from qabilet.engine.models._base import Array, Codes, ItemSet

__all__ = [
    "Responses",
    "category_offsets",
    "check_responses",
    "collapse_patterns",
    "flat_log_prob",
    "log_normalise",
    "loglik_blocks",
    "observed_mask",
]

# cells per block of persons in the one-hot products (about 8 MB of work arrays)
_BLOCK_CELLS = 1_000_000
_SAMPLE_ROWS = 1000  # rows sampled to judge whether collapsing patterns pays


class Responses(NamedTuple):
    """A validated response matrix: categories ``0..K_i-1`` where observed, 0 elsewhere."""

    x: Codes  # (n_persons, n_items); compact codes (int8) where they fit
    observed: NDArray[np.bool_]  # (n_persons, n_items)


def observed_mask(responses: NDArray, observed: ArrayLike | None) -> NDArray[np.bool_]:
    """The missing-data mask.

    ``observed`` checked against the responses' shape, or, when it is None, every cell that is
    not NaN.

    Raises
    ------
    InvalidResponseError
        When ``observed`` is not a boolean array of the responses' shape.
    """
    if observed is None:
        if np.issubdtype(responses.dtype, np.floating):
            return ~np.isnan(responses)
        return np.ones(responses.shape, dtype=bool)
    obs = np.asarray(observed)
    if obs.ndim == 1 and responses.ndim == 2:
        obs = obs[None, :]
    if obs.shape != responses.shape or obs.dtype != bool:
        raise InvalidResponseError(
            f"observed: expected a boolean mask of shape {responses.shape}; got {obs.dtype} "
            f"{obs.shape}"
        )
    return obs


def check_responses(
    items: ItemSet, responses: ArrayLike, observed: ArrayLike | None = None
) -> Responses:
    """Validate responses against the items; missing cells come from ``observed`` or NaN.

    Parameters
    ----------
    items : ItemSet
        The items answered (a model or an :class:`~qabilet.engine.bank.ItemBank`).
    responses : array_like, shape (n_persons, n_items)
        Integer categories ``0 … K_i − 1``; NaN marks a missing cell when ``observed`` is None.
    observed : array_like of bool, shape (n_persons, n_items), optional
        True where a response was given.

    Raises
    ------
    InvalidResponseError
        Naming the first offending person (row) and item (column).
    """
    r = np.asarray(responses)
    if r.ndim == 1:
        r = r[None, :]
    if r.ndim != 2 or r.shape[1] != items.n_items:
        raise InvalidResponseError(
            f"responses: expected shape (n_persons, {items.n_items}); got {np.shape(responses)}"
        )
    obs = observed_mask(r, observed)
    if not (
        np.issubdtype(r.dtype, np.integer) or np.issubdtype(r.dtype, np.floating) or r.dtype == bool
    ):
        raise InvalidResponseError(f"responses: expected integer categories; got dtype {r.dtype}")
    all_observed = observed is None and not np.issubdtype(r.dtype, np.floating)
    filled = r if all_observed else np.where(obs, r, 0)
    if np.issubdtype(filled.dtype, np.floating):
        bad = obs & ((filled != np.round(filled)) | ~np.isfinite(filled))
        if bad.any():
            p, i = np.argwhere(bad)[0]
            raise InvalidResponseError(
                f"responses[{p}, {i}]: expected an integer category; got {r[p, i]}"
            )
    x = filled.astype(np.intp, copy=False)  # 0 wherever unobserved
    # one unsigned comparison catches negative codes too (they wrap to huge values)
    bad = x.view(np.uintp) >= items.n_categories.astype(np.uintp)[None, :]
    if bad.any():
        p, i = np.argwhere(bad)[0]
        raise InvalidResponseError(
            f"responses[{p}, {i}]: expected a category in 0..{items.n_categories[i] - 1}; "
            f"got {r[p, i]}"
        )
    return Responses(x, obs)


def collapse_patterns(
    resp: Responses, max_unique_fraction: float = 1.0
) -> tuple[Responses, NDArray[np.intp], Array] | None:
    """Identical response patterns once, with their counts.

    Rows are grouped by a 64-bit hash (a random linear combination of the cells, wrapping on
    overflow), which sorts as fast as integers; every row is then compared with its group's
    representative, and any hash collision falls back to an exact row sort. The result is exact.

    Parameters
    ----------
    resp : Responses
    max_unique_fraction : float
        Give up (return None) when more than this fraction of the rows are distinct, where
        collapsing would cost more than it saves.

    Returns
    -------
    unique : Responses
        The distinct patterns (a missing cell is part of the pattern).
    inverse : ndarray of int, shape (n_persons,)
        ``unique.x[inverse]`` restores every person's pattern.
    counts : ndarray, shape (n_unique,)
        How many persons share each pattern.
    """
    n, n_items = resp.x.shape
    weights = np.random.default_rng(0x5EED).integers(1, 2**62, size=n_items, dtype=np.int64)
    if max_unique_fraction < 1.0 and n > 4 * _SAMPLE_ROWS:
        # the distinct fraction only falls as rows are added: a sample that is already mostly
        # distinct says the whole is not worth collapsing
        step = n // _SAMPLE_ROWS
        part = np.where(resp.observed[::step], resp.x[::step], -1).astype(np.int64)
        with np.errstate(over="ignore"):
            sample = part @ weights
        if np.unique(sample).size > max_unique_fraction * sample.size:
            return None
    code = np.where(resp.observed, resp.x, -1)
    with np.errstate(over="ignore"):
        key = code.astype(np.int64) @ weights
    _, first, inverse, counts = np.unique(
        key, return_index=True, return_inverse=True, return_counts=True
    )
    if first.size > max_unique_fraction * code.shape[0]:
        return None
    inverse = inverse.reshape(-1)
    if np.array_equal(code, code[first[inverse]]):
        uniq = code[first]
    else:  # a hash collision: exact, slower path
        uniq, inverse, counts = np.unique(code, axis=0, return_inverse=True, return_counts=True)
        inverse = inverse.reshape(-1)
    return (
        Responses(np.maximum(uniq, 0).astype(np.intp), uniq >= 0),
        inverse,
        counts.astype(np.float64),
    )


def category_offsets(n_categories: NDArray[np.int64]) -> NDArray[np.intp]:
    """Column of category 0 of each item in the flattened (item, category) axis."""
    return np.concatenate([[0], np.cumsum(n_categories)[:-1]]).astype(np.intp)


def flat_log_prob(items: ItemSet, nodes: Array) -> Array:
    """Log-probabilities at the nodes, flattened to the real (item, category) pairs.

    Returns
    -------
    ndarray, shape (n_quad, sum_i K_i)
    """
    (log_p,) = items._kernel(nodes @ items.slopes.T, 0)
    valid = np.arange(items.max_categories)[None, :] < items.n_categories[:, None]
    return log_p[:, valid]


def loglik_blocks(
    items: ItemSet, resp: Responses, log_p_flat: Array, block: int | None = None
) -> Iterator[tuple[slice, Array]]:
    """:math:`\\ell_{pq} = \\sum_i o_{pi}\\log P_i(x_{pi}\\mid\\theta_q)`, block of persons by block.

    Each block is a one-hot matrix product (BLAS); blocks keep the work arrays small enough to
    stay in cache, which matters more than the arithmetic here. The yielded array is reused:
    consume it before the next block.

    Parameters
    ----------
    items : ItemSet
    resp : Responses
    log_p_flat : ndarray, shape (n_quad, sum_i K_i)
        From :func:`flat_log_prob`.
    block : int, optional
        Persons per block.

    Yields
    ------
    rows : slice
        The persons of the block.
    loglik : ndarray, shape (rows, n_quad)
    """
    n = resp.x.shape[0]
    width, n_quad = log_p_flat.shape[1], log_p_flat.shape[0]
    if block is None:
        block = max(64, min(4096, _BLOCK_CELLS // max(width + n_quad, 1)))
    cols = category_offsets(items.n_categories)[None, :] + resp.x
    lp_t = np.ascontiguousarray(log_p_flat.T)
    onehot = np.zeros((min(block, n), width))
    out = np.empty((min(block, n), n_quad))
    rows = np.arange(min(block, n))[:, None]
    for start in range(0, n, block):  # blocks bound memory, not a loop per person
        stop = min(start + block, n)
        m = stop - start
        oh = onehot[:m]
        oh.fill(0.0)
        # each item owns its columns, so a cell is written once: plain assignment suffices
        oh[rows[:m], cols[start:stop]] = resp.observed[start:stop]
        np.matmul(oh, lp_t, out=out[:m])
        yield slice(start, stop), out[:m]


def log_normalise(log_w: Array) -> Array:
    """Normalise rows of log-weights in place to weights; returns the rows' log-sum-exp.

    A plain max-shift (faster here than :func:`scipy.special.logsumexp`).
    """
    top = log_w.max(axis=1, keepdims=True)
    log_w -= top
    # flush the far tail to a small normal number: exp below −708 gives subnormals, and every
    # later operation on subnormals runs on the CPU's slow path (100× slower); e^−690 ≈ 1e−300
    # is 300 orders below the mode, far beneath any tolerance
    np.maximum(log_w, -690.0, out=log_w)
    np.exp(log_w, out=log_w)
    total = log_w.sum(axis=1, keepdims=True)
    log_w /= total
    return (top + np.log(total))[:, 0]
