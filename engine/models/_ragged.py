"""Ragged per-item parameter vectors (thresholds, intercepts) as NaN-padded 2-D arrays."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.models._base import Array


def as_ragged(values: Any, name: str, n_items: int, min_len: int = 1
              ) -> tuple[Array, NDArray[np.int64]]:
    """Per-item vectors of possibly different lengths as a NaN-padded array.

    Parameters
    ----------
    values : sequence of sequences, or array_like of shape (n_items, width)
        One vector per item; in a 2-D array, trailing NaN are padding.
    name : str
        Parameter name for error messages.
    n_items : int
        Expected number of items.
    min_len : int
        Smallest allowed vector length.

    Returns
    -------
    padded : ndarray, shape (n_items, width)
    lengths : ndarray of int, shape (n_items,)
    """
    if isinstance(values, np.ndarray) and values.ndim == 2:
        rows = [r[~np.isnan(r)] if np.issubdtype(r.dtype, np.floating) else r for r in values]
        padded_in = values.astype(np.float64)
        for i, r in enumerate(padded_in):  # trailing padding only (construction-time check)
            nan = np.isnan(r)
            if nan.any() and not nan[np.argmax(nan) :].all():
                raise InvalidParameterError(f"items[{i}]: {name} has NaN before its last value")
    else:
        try:
            rows = [np.atleast_1d(np.asarray(r, dtype=np.float64)) for r in values]
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(f"{name}: expected one list of numbers per item") from exc
    if len(rows) != n_items:
        raise InvalidParameterError(f"{name}: expected {n_items} items; got {len(rows)}")
    lengths = np.array([r.size for r in rows], dtype=np.int64)
    width = int(lengths.max()) if n_items else 0
    padded = np.full((n_items, width), np.nan)
    for i, r in enumerate(rows):
        if r.ndim != 1 or r.size < min_len:
            raise InvalidParameterError(
                f"items[{i}]: {name} needs at least {min_len} value(s); got {r.tolist()}"
            )
        if not np.all(np.isfinite(r)):
            raise InvalidParameterError(f"items[{i}]: {name} must be finite; got {r.tolist()}")
        padded[i, : r.size] = r
    return padded, lengths
