"""Simulation of item responses from known traits (for demonstrations, recovery studies and CAT)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qabilet.engine.models._base import ItemSet

__all__ = ["as_rng", "simulate_responses"]


def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """Normalise ``rng`` (a Generator, a seed or None) to a :class:`numpy.random.Generator`."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def simulate_responses(
    items: ItemSet, theta: ArrayLike, rng: np.random.Generator | int | None = None
) -> NDArray[np.int64]:
    """Draw one response per person and item from the model's category probabilities.

    Inverse-CDF sampling: with :math:`U \\sim \\mathrm{U}(0, 1)`, the response is the number of
    cumulative probabilities :math:`\\sum_{v \\le k} P_v` below :math:`U`.

    Parameters
    ----------
    items : ItemSet
        A model or an item bank.
    theta : array_like, shape (n_persons,) or (n_persons, n_dims)
        True trait values.
    rng : numpy.random.Generator or int or None
        Source of randomness.

    Returns
    -------
    ndarray of int, shape (n_persons, n_items)
        Categories ``0 … K_i − 1``.

    Examples
    --------
    >>> from qabilet.engine.models import TwoPL
    >>> x = simulate_responses(TwoPL([1.0] * 3, [0.0] * 3), np.zeros(20_000), rng=1)
    >>> bool(abs(x.mean() - 0.5) < 0.01)
    True
    """
    gen = as_rng(rng)
    t = np.asarray(theta, dtype=np.float64)
    if items.n_dims == 1:
        t = t.reshape(-1)
    p = items.prob(t)  # (n, I, K)
    cum = np.cumsum(p, axis=-1)
    u = gen.random(p.shape[:2])
    x = (cum < u[..., None]).sum(axis=-1)
    return np.minimum(x, items.n_categories[None, :] - 1).astype(np.int64)
