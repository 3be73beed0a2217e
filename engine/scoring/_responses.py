"""Validation of response matrices and the one-hot likelihood kernel shared by the scorers."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from engine.exceptions import InvalidResponseError
from engine.models._base import Array, ItemSet

# persons per block in the one-hot products, chosen so one block stays near 32 MB
_BLOCK_CELLS = 4_000_000


class Responses(NamedTuple):
    """A validated response matrix: categories ``0..K_i-1`` where observed, 0 elsewhere."""

    x: NDArray[np.intp]  # (n_persons, n_items)
    observed: NDArray[np.bool_]  # (n_persons, n_items)


def check_responses(
    items: ItemSet, responses: ArrayLike, observed: ArrayLike | None = None
) -> Responses:
    """Validate responses against the items; missing cells come from ``observed`` or NaN.

    Parameters
    ----------
    items : ItemSet
        The items answered (a model or an :class:`~engine.bank.ItemBank`).
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
    if observed is None:
        obs = ~np.isnan(r) if np.issubdtype(r.dtype, np.floating) else np.ones(r.shape, bool)
    else:
        obs = np.asarray(observed)
        if obs.ndim == 1:
            obs = obs[None, :]
        if obs.shape != r.shape or obs.dtype != bool:
            raise InvalidResponseError(
                f"observed: expected a boolean mask of shape {r.shape}; got {obs.dtype} {obs.shape}"
            )
    if not (np.issubdtype(r.dtype, np.integer) or np.issubdtype(r.dtype, np.floating)
            or r.dtype == bool):
        raise InvalidResponseError(f"responses: expected integer categories; got dtype {r.dtype}")
    filled = np.where(obs, r, 0)
    if np.issubdtype(filled.dtype, np.floating):
        bad = obs & ((filled != np.round(filled)) | ~np.isfinite(filled))
        if bad.any():
            p, i = np.argwhere(bad)[0]
            raise InvalidResponseError(
                f"responses[{p}, {i}]: expected an integer category; got {r[p, i]}"
            )
    x = filled.astype(np.intp)
    bad = obs & ((x < 0) | (x >= items.n_categories[None, :]))
    if bad.any():
        p, i = np.argwhere(bad)[0]
        raise InvalidResponseError(
            f"responses[{p}, {i}]: expected a category in 0..{items.n_categories[i] - 1}; "
            f"got {r[p, i]}"
        )
    return Responses(np.where(obs, x, 0), obs.copy())


def collapse_patterns(resp: Responses) -> tuple[Responses, NDArray[np.intp], Array]:
    """Identical response patterns once, with their counts.

    Returns
    -------
    unique : Responses
        The distinct patterns (a missing cell is part of the pattern).
    inverse : ndarray of int, shape (n_persons,)
        ``unique.x[inverse]`` restores every person's pattern.
    counts : ndarray, shape (n_unique,)
        How many persons share each pattern.
    """
    code = np.where(resp.observed, resp.x, -1)
    code = code.astype(np.int8 if code.max(initial=0) < 127 else np.int32)
    uniq, inverse, counts = np.unique(code, axis=0, return_inverse=True, return_counts=True)
    return (
        Responses(np.maximum(uniq, 0).astype(np.intp), uniq >= 0),
        inverse.reshape(-1),
        counts.astype(np.float64),
    )


def category_offsets(items: ItemSet) -> NDArray[np.intp]:
    """Column of category 0 of each item in the flattened (item, category) axis."""
    return np.concatenate([[0], np.cumsum(items.n_categories)[:-1]]).astype(np.intp)


def flat_log_prob(items: ItemSet, nodes: Array) -> Array:
    """Log-probabilities at the nodes, flattened to the real (item, category) pairs.

    Returns
    -------
    ndarray, shape (n_quad, sum_i K_i)
    """
    (log_p,) = items._kernel(nodes @ items.slopes.T, 0)
    valid = np.arange(items.max_categories)[None, :] < items.n_categories[:, None]
    return log_p[:, valid]


def loglik_on_nodes(items: ItemSet, resp: Responses, log_p_flat: Array) -> Array:
    """:math:`\\ell_{pq} = \\sum_i o_{pi}\\log P_i(x_{pi}\\mid\\theta_q)` as one-hot products.

    Parameters
    ----------
    items : ItemSet
    resp : Responses
    log_p_flat : ndarray, shape (n_quad, sum_i K_i)
        From :func:`flat_log_prob`.

    Returns
    -------
    ndarray, shape (n_persons, n_quad)
    """
    n, n_items = resp.x.shape
    width = log_p_flat.shape[1]
    cols = category_offsets(items)[None, :] + resp.x
    out = np.empty((n, log_p_flat.shape[0]))
    block = max(1, _BLOCK_CELLS // max(width, 1))
    rows = np.arange(min(block, n))[:, None]
    for start in range(0, n, block):  # blocks bound the one-hot's memory, not a loop per person
        stop = min(start + block, n)
        onehot = np.zeros((stop - start, width))
        r = rows[: stop - start]
        # each item owns its columns, so a cell is written once: plain assignment suffices
        onehot[r, cols[start:stop]] = resp.observed[start:stop]
        out[start:stop] = onehot @ log_p_flat.T
    return out
