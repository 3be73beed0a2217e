"""A calibrated item bank for scoring and adaptive testing.

Items of possibly different models, in order, with ids and the latent distribution — everything
scoring and adaptive testing need, and nothing about storage.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.latent import LatentDistribution
from qabilet.engine.models._base import Array, Codes, ItemModel, ItemSet, check_index
from qabilet.engine.models.records import model_from_records, model_to_records, record_form
from qabilet.engine.models.registry import get_model

__all__ = ["ItemBank"]


class ItemBank(ItemSet):
    """Items of one or more models, scored together in one call.

    Parameters
    ----------
    models : sequence of ItemModel
        Blocks of items; each block shares one model.
    item_ids : sequence of str, optional
        One id per item, in bank order; ``Q1, Q2, …`` when omitted.
    latent : LatentDistribution, optional
        The population distribution (the scoring prior); N(0, I) when omitted.
    positions : sequence of array_like of int, optional
        Where each block's items sit in bank order; blocks are concatenated when omitted.

    Examples
    --------
    >>> from qabilet.engine.models import TwoPL, GradedResponse
    >>> bank = ItemBank([TwoPL([1.0], [0.0]), GradedResponse([1.2], [[-1.0, 1.0]])])
    >>> bank.n_items, bank.max_categories, bank.model_names
    (2, 3, ('2pl', 'grm'))
    """

    def __init__(
        self,
        models: Sequence[ItemModel],
        item_ids: Sequence[str] | None = None,
        latent: LatentDistribution | None = None,
        positions: Sequence[ArrayLike] | None = None,
    ) -> None:
        models = tuple(models)
        if not models:
            raise InvalidParameterError("models: an item bank needs at least one block of items")
        dims = {m.n_dims for m in models}
        if len(dims) != 1:
            raise InvalidParameterError(
                f"models: every block must measure the same factors; got n_dims {sorted(dims)}"
            )
        (n_dims,) = dims
        n_items = sum(m.n_items for m in models)
        if positions is None:
            bounds = np.cumsum([0] + [m.n_items for m in models])
            pos = tuple(np.arange(bounds[j], bounds[j + 1]) for j in range(len(models)))
        else:
            pos = tuple(np.asarray(p, dtype=np.intp).reshape(-1) for p in positions)
            if len(pos) != len(models) or any(p.size != m.n_items for p, m in zip(pos, models)):
                raise InvalidParameterError(
                    "positions: expected one position per item of each block"
                )
            flat = np.concatenate(pos)
            if not np.array_equal(np.sort(flat), np.arange(n_items)):
                raise InvalidParameterError(
                    f"positions: expected each of 0..{n_items - 1} exactly once"
                )
        ids = (
            tuple(f"Q{i + 1}" for i in range(n_items))
            if item_ids is None
            else tuple(str(x) for x in item_ids)
        )
        if len(ids) != n_items:
            raise InvalidParameterError(f"item_ids: expected {n_items} ids; got {len(ids)}")
        if len(set(ids)) != n_items:
            dup = next(x for x in ids if ids.count(x) > 1)
            raise InvalidParameterError(f"item_ids: ids must be unique; {dup!r} repeats")
        latent = latent if latent is not None else LatentDistribution.standard(n_dims)
        if latent.n_dims != n_dims:
            raise InvalidParameterError(
                f"latent: the items measure {n_dims} factor(s); the latent distribution has "
                f"{latent.n_dims}"
            )
        self.models = models
        self.positions = pos
        self.item_ids = ids
        self.latent = latent
        self.slopes = np.zeros((n_items, n_dims))
        self.n_categories = np.zeros(n_items, dtype=np.int64)
        names = np.empty(n_items, dtype=object)
        for m, p in zip(models, pos):  # one pass per block (a handful of models)
            self.slopes[p] = m.slopes
            self.n_categories[p] = m.n_categories
            names[p] = m.name
        self._names = tuple(names.tolist())
        self._single_block = len(models) == 1 and bool(np.array_equal(pos[0], np.arange(n_items)))
        self._index = {item_id: i for i, item_id in enumerate(ids)}

    # -- construction from and to records ------------------------------------------------------------
    @classmethod
    def from_records(
        cls,
        records: Sequence[Mapping[str, Any]],
        latent: LatentDistribution | None = None,
        default_model: str | None = None,
    ) -> ItemBank:
        """Build from per-item records ``{"id", "model", <parameters>}`` (docs/design.md §6).

        Items sharing a model and a form become one block; bank order is record order.
        """
        groups: dict[tuple[str, str, int], list[int]] = {}
        for i, rec in enumerate(records):
            name = rec.get("model", default_model)
            if name is None:
                raise InvalidParameterError(f"items[{i}]: no model given and no default model")
            name = get_model(str(name)).name
            a = rec.get("a")
            # a nominal item's ``a`` is one scale slope per factor only in the ``ak`` form
            width = 1
            if a is not None and (name != "nominal" or "ak" in rec):
                width = int(np.size(a))
            groups.setdefault((name, record_form(name, rec), width), []).append(i)
        models, positions = [], []
        for (name, _form, _w), idx in groups.items():
            try:
                models.append(model_from_records(name, [records[i] for i in idx]))
            except InvalidParameterError as exc:
                raise _renumber(exc, idx, records) from None
            positions.append(np.asarray(idx))
        ids = [str(rec.get("id", f"Q{i + 1}")) for i, rec in enumerate(records)]
        return cls(models, ids, latent, positions)

    def to_records(self) -> list[dict[str, Any]]:
        """Per-item records ``{"id", "model", <parameters>}`` in bank order."""
        out: list[dict[str, Any]] = [{} for _ in range(self.n_items)]
        for m, pos in zip(self.models, self.positions):
            for p, rec in zip(pos, model_to_records(m)):
                out[p] = {"id": self.item_ids[p], "model": m.name, **rec}
        return out

    # -- lookups -----------------------------------------------------------------------------------
    @property
    def model_names(self) -> tuple[str, ...]:
        """The model name of each item, in bank order."""
        return self._names

    @property
    def reverse_keyed(self) -> NDArray[np.bool_]:
        """Whether each item is reverse-keyed: a negative slope on some factor (docs/design.md §5).

        Its expected score decreases in that factor; its information (which grows with
        :math:`a^2`) does not care.

        Examples
        --------
        >>> from qabilet.engine.models import TwoPL
        >>> ItemBank([TwoPL([1.0, -1.2], [0.0, 0.5])]).reverse_keyed.tolist()
        [False, True]
        """
        return np.asarray((self.slopes < 0).any(axis=1))

    def index_of(self, item_ids: Sequence[str]) -> NDArray[np.intp]:
        """Positions of the given item ids; an unknown id is an error naming it."""
        try:
            return np.array([self._index[str(x)] for x in item_ids], dtype=np.intp)
        except KeyError as exc:
            raise InvalidParameterError(f"unknown item id {exc.args[0]!r}") from None

    def subset(self, index: ArrayLike) -> ItemBank:
        """A bank of the items at ``index`` (positions or mask), in that order."""
        idx = check_index(index, self.n_items)
        where = np.full(self.n_items, -1, dtype=np.intp)
        where[idx] = np.arange(idx.size)
        models, positions = [], []
        for m, pos in zip(self.models, self.positions):
            keep = where[pos] >= 0
            if keep.any():
                models.append(m.subset(np.flatnonzero(keep)))
                positions.append(where[pos][keep])
        return ItemBank(models, [self.item_ids[i] for i in idx], self.latent, positions)

    def with_latent(self, latent: LatentDistribution) -> ItemBank:
        """The same items with another latent distribution."""
        return ItemBank(self.models, self.item_ids, latent, self.positions)

    # -- kernels -----------------------------------------------------------------------------------
    def _kernel(self, s: Array, order: int = 0) -> tuple[Array, ...]:
        n, k = s.shape[0], self.max_categories
        outs = [np.full((n, self.n_items, k), -np.inf)] + [
            np.zeros((n, self.n_items, k)) for _ in range(order)
        ]
        for m, pos in zip(self.models, self.positions):
            parts = m._kernel(s[:, pos], order)
            kb = m.max_categories
            for out, part in zip(outs, parts):
                out[:, pos, :kb] = part
        return tuple(outs)

    def _linear_logits(self) -> tuple[NDArray[np.bool_], Array, Array]:
        linear = np.zeros(self.n_items, dtype=bool)
        alpha = np.zeros((self.n_items, self.max_categories))
        delta = np.zeros_like(alpha)
        for m, pos in zip(self.models, self.positions):
            lin, al, de = m._linear_logits()
            kb = m.max_categories
            linear[pos], alpha[pos, :kb], delta[pos, :kb] = lin, al, de
        return linear, alpha, delta

    def _newton_terms(
        self, s: Array, x: Codes, obs: NDArray[np.bool_], need_bias: bool = False
    ) -> tuple[Array, Array, Array, Array | None]:
        outs = [np.zeros_like(s) for _ in range(4 if need_bias else 3)]
        for m, pos in zip(self.models, self.positions):
            parts = m._newton_terms(s[:, pos], x[:, pos], obs[:, pos], need_bias)
            for out, part in zip(outs, parts):
                out[:, pos] = part
        return outs[0], outs[1], outs[2], (outs[3] if need_bias else None)

    def _information_s(self, s: Array) -> Array:
        if self._single_block:  # one model in bank order: no gather and scatter
            return self.models[0]._information_s(s)
        out = np.empty_like(s)
        for m, pos in zip(self.models, self.positions):
            out[:, pos] = m._information_s(s[:, pos])
        return out

    def __repr__(self) -> str:
        kinds = ", ".join(f"{m.name}×{m.n_items}" for m in self.models)
        return f"ItemBank(n_items={self.n_items}, n_dims={self.n_dims}, models=[{kinds}])"

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (ItemBank, (self.models, self.item_ids, self.latent, self.positions))


def _renumber(
    exc: InvalidParameterError, idx: list[int], records: Sequence[Mapping[str, Any]]
) -> InvalidParameterError:
    """Rewrite ``items[j]`` (position within a block) as the bank position and id."""

    def repl(match: re.Match[str]) -> str:
        j = int(match.group(1))
        if j < len(idx):
            i = idx[j]
            return f"items[{i}] ({records[i].get('id', f'Q{i + 1}')!r})"
        return match.group(0)

    return InvalidParameterError(re.sub(r"items\[(\d+)\]", repl, str(exc)))
