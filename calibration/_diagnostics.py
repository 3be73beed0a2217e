"""What every diagnostic shares: reading its inputs, which parameters were estimated, and reports.

A diagnostic takes the items either as an :class:`~qabilet.engine.bank.ItemBank` (or a single engine
model) with responses coded ``0 … K_i − 1``, or as the :class:`~qabilet.calibration.CalibrationResult` of a
fit with the responses in the codes that were calibrated (recoded here with its ``categories``,
as the fit did).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qabilet.calibration._design import VARIANCE_FREE, block_design
from qabilet.calibration.result import CalibrationResult
from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import InvalidParameterError, InvalidResponseError
from qabilet.engine.likelihood import Responses, check_responses
from qabilet.engine.models._base import ItemModel, ItemSet

Array = NDArray[np.float64]

_DICHOTOMOUS = frozenset({"rasch", "1pl", "2pl", "3pl", "4pl"})


@dataclass(frozen=True, slots=True, eq=False)
class Inputs:
    """Validated inputs of a diagnostic."""

    bank: ItemBank
    resp: Responses
    fit: CalibrationResult | None

    @property
    def item_ids(self) -> tuple[str, ...]:
        """Item ids in bank order."""
        return self.bank.item_ids


def as_bank(items: Any, what: str) -> tuple[ItemBank, CalibrationResult | None]:
    """The bank of ``items`` (a bank, a model or a calibration result) and the result, if any."""
    if isinstance(items, CalibrationResult):
        if items.multi_group:
            raise InvalidParameterError(
                f"{what}: a multi-group fit has one bank per group; pass the group's bank "
                "(result.group(label).bank) with that group's responses"
            )
        return items.bank, items
    if type(items).__name__ == "MML":
        raise InvalidParameterError(
            f"{what}: an MML estimator holds no fit; pass what MML.fit returned (a "
            "CalibrationResult)")
    if isinstance(items, ItemBank):
        return items, None
    if isinstance(items, ItemModel):
        return ItemBank([items]), None
    if isinstance(items, ItemSet):
        raise InvalidParameterError(
            f"{what}: items must be an ItemBank, an item model or a CalibrationResult; got "
            f"{type(items).__name__}"
        )
    raise InvalidParameterError(
        f"items: expected an ItemBank, an item model or a CalibrationResult; got "
        f"{type(items).__name__}"
    )


def _table_to_array(responses: Any, item_ids: Sequence[str]) -> Any:
    """A DataFrame's item columns in bank order (other inputs pass through)."""
    if hasattr(responses, "columns") and hasattr(responses, "to_numpy"):
        cols = [str(c) for c in responses.columns]
        missing = [i for i in item_ids if i not in cols]
        if missing:
            raise InvalidResponseError(f"responses: no column for item(s) {missing[:5]}")
        index = [cols.index(i) for i in item_ids]
        return responses.to_numpy(dtype=np.float64, na_value=np.nan)[:, index]
    return responses


def _recode(fit: CalibrationResult, bank: ItemBank, responses: Any, observed: ArrayLike | None) -> Responses:
    """Original codes → 0..K−1 with the fit's ``categories`` (codes it never saw are errors)."""
    r = np.asarray(responses)
    if r.ndim != 2 or r.shape[1] != bank.n_items:
        raise InvalidResponseError(
            f"responses: expected shape (n_persons, {bank.n_items}); got {r.shape}"
        )
    if observed is None:
        obs = ~np.isnan(r) if np.issubdtype(r.dtype, np.floating) else np.ones(r.shape, bool)
    else:
        obs = np.asarray(observed)
        if obs.shape != r.shape or obs.dtype != bool:
            raise InvalidResponseError(f"observed: expected a boolean mask of shape {r.shape}")
    filled = np.where(obs, r, 0)
    x = np.zeros(r.shape, dtype=np.intp)
    for i, codes in enumerate(fit.categories):  # per item, at the data edge
        seen = filled[obs[:, i], i]
        pos = np.clip(np.searchsorted(codes, seen), 0, codes.size - 1)
        bad = codes[pos] != seen
        if bad.any():
            raise InvalidResponseError(
                f"responses: item {bank.item_ids[i]!r} has the code {seen[bad][0].item()!r}, which the "
                f"calibration did not see (its codes are {codes.tolist()})"
            )
        x[obs[:, i], i] = pos
    return check_responses(bank, x, obs)


def read_inputs(
    items: Any, responses: Any, observed: ArrayLike | None, what: str, *, unidimensional: bool = True
) -> Inputs:
    """Validate a diagnostic's inputs (see the module docstring)."""
    bank, fit = as_bank(items, what)
    if unidimensional and bank.n_dims != 1:
        raise InvalidParameterError(f"{what}: needs unidimensional items; got {bank.n_dims} factors")
    responses = _table_to_array(responses, bank.item_ids)
    if fit is not None:
        resp = _recode(fit, bank, responses, observed)
    else:
        resp = check_responses(bank, responses, observed)
    if resp.x.shape[0] < 1:
        raise InvalidResponseError("responses: expected at least one person")
    return Inputs(bank, resp, fit)


@dataclass(frozen=True, slots=True, eq=False)
class GroupInputs:
    """Validated inputs of a diagnostic computed group by group.

    Attributes
    ----------
    labels : tuple
        The groups (``(None,)`` without groups).
    banks : tuple of ItemBank
        Each group's items and latent distribution (the same bank for every group unless the
        items came per group).
    resp : Responses
    group_of : ndarray of int, shape (n_persons,)
        Each person's position in ``labels``.
    fit : CalibrationResult or None
    """

    labels: tuple[Any, ...]
    banks: tuple[ItemBank, ...]
    resp: Responses
    group_of: NDArray[np.intp]
    fit: CalibrationResult | None


def read_group_inputs(items: Any, responses: Any, observed: ArrayLike | None, groups: ArrayLike | None,
                      what: str) -> GroupInputs:
    """Validate the inputs of a diagnostic computed per group.

    ``items`` is a bank, a model or a calibration result as for :func:`read_inputs`, a
    multi-group :class:`~qabilet.calibration.CalibrationResult` (each group's bank: its
    group-specific items and its latent distribution), or a mapping of group label to bank (the
    same items in every bank). ``groups`` labels each person; it is required with a multi-group
    fit or a mapping, and optional otherwise (every group then uses the one bank).
    """
    fit: CalibrationResult | None = None
    if isinstance(items, Mapping):
        if not items:
            raise InvalidParameterError("items: expected at least one group's bank")
        given = {label: as_bank(bank, what)[0] for label, bank in items.items()}
        first = next(iter(given.values()))
        for label, bank in given.items():
            if bank.item_ids != first.item_ids or not np.array_equal(bank.n_categories, first.n_categories):
                raise InvalidParameterError(
                    f"items[{label!r}]: every group's bank must have the same items and categories")
        per_group: dict[Any, ItemBank] | None = given
        bank = first
    elif isinstance(items, CalibrationResult) and items.multi_group:
        fit, bank = items, items.bank
        per_group = {g.label: g.bank for g in items.groups}
    else:
        bank, fit = as_bank(items, what)
        per_group = None
    if bank.n_dims != 1:
        raise InvalidParameterError(f"{what}: needs unidimensional items; got {bank.n_dims} factors")
    table = _table_to_array(responses, bank.item_ids)
    resp = _recode(fit, bank, table, observed) if fit is not None else check_responses(bank, table, observed)
    n = resp.x.shape[0]
    if n < 1:
        raise InvalidResponseError("responses: expected at least one person")
    if groups is None:
        if per_group is not None:
            raise InvalidParameterError(
                f"{what}: the items are given per group; pass groups= (one label per person)")
        return GroupInputs((None,), (bank,), resp, np.zeros(n, dtype=np.intp), fit)
    g = np.asarray(groups)
    if g.shape != (n,):
        raise InvalidParameterError(f"groups: expected one label per person ({n}); got {g.shape}")
    present = sorted(set(g.tolist()), key=str)
    labels = tuple(per_group) if per_group is not None else tuple(present)
    unknown = [label for label in present if label not in labels]
    if unknown:
        raise InvalidParameterError(f"groups: {unknown[:5]} not among the groups of the items {list(labels)}")
    index = {label: k for k, label in enumerate(labels)}
    group_of = np.array([index[v] for v in g.tolist()], dtype=np.intp)
    banks = tuple(per_group[label] for label in labels) if per_group is not None else (bank,) * len(labels)
    return GroupInputs(labels, banks, resp, group_of, fit)


def require_complete(resp: Responses, what: str, why: str) -> None:
    """Refuse missing responses, saying why and what to do."""
    missing = ~resp.observed
    if missing.any():
        p, i = np.argwhere(missing)[0]
        raise InvalidResponseError(
            f"{what}: needs complete data ({why}); {int(missing.any(axis=1).sum())} person(s) "
            f"have missing responses (first: responses[{p}, {i}]). Analyse the complete cases "
            "(responses[observed.all(axis=1)]) or a subset of items everyone answered"
        )


# -- which parameters were estimated ----------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Estimated:
    """The estimated parameters of a calibration, numbered as one vector.

    Attributes
    ----------
    index : list of ndarray of int
        Per block of the bank, ``(n_items, n_params)``: the position of each entry of
        ``param_vector()`` in the estimated vector, −1 where fixed. The ``1pl`` slope has one
        position shared by every ``1pl`` item.
    per_item : ndarray of int, shape (n_items,)
        Free parameters that belong to one item alone (shared ones are charged to none).
    mean_index, var_index : int
        Positions of the latent mean and variance, −1 where fixed.
    n_free : int
        Length of the estimated vector.
    """

    index: list[NDArray[np.intp]]
    per_item: NDArray[np.int64]
    mean_index: int
    var_index: int
    n_free: int


def estimated_parameters(bank: ItemBank, fit: CalibrationResult | None, parameters_estimated: bool, what: str
                         ) -> Estimated:
    """Which parameters were estimated from the data (for degrees of freedom and Jacobians).

    With a :class:`~qabilet.calibration.CalibrationResult` this follows the fit: anchors (``anchors``) are
    fixed, the latent mean is free when anchored and the variance when anchored or when every
    calibrated item is ``rasch``/``pcm``; the count must equal ``n_parameters``. With a bank,
    every parameter its model calibrates is taken as estimated (variance free when all its items
    are ``rasch``/``pcm``), unless ``parameters_estimated`` is False (parameters known
    beforehand: nothing was estimated).
    """
    per_item = np.zeros(bank.n_items, dtype=np.int64)
    if not parameters_estimated and fit is None:
        fixed = [np.full(m.param_vector().shape, -1, dtype=np.intp) for m in bank.models]
        return Estimated(fixed, per_item, -1, -1, 0)
    anchors = set(fit.anchors) if fit is not None else set()
    index: list[NDArray[np.intp]] = []
    k = 0
    names_free: set[str] = set()
    for m, pos in zip(bank.models, bank.positions):
        try:
            design = block_design(m, k)  # the calibration's own numbering, ties included
        except InvalidParameterError:
            raise InvalidParameterError(
                f"{what}: cannot tell which parameters of {m.name!r} items were estimated; "
                "pass parameters_estimated=False if they were not estimated from these data"
            ) from None
        fixed_rows = np.array([bank.item_ids[p] in anchors for p in pos], dtype=bool)
        idx = design.index.copy()
        idx[fixed_rows] = -1
        used = np.unique(idx[idx >= 0])
        renumber = np.full(int(design.index.max()) + 1 if design.index.size else 0, -1)
        renumber[used] = k + np.arange(used.size)
        idx = np.where(idx >= 0, renumber[np.maximum(idx, 0)], -1)
        k += used.size
        # a parameter shared by the items of a block (the 1pl slope, rsm thresholds) is charged
        # to no single item
        shared = np.array([len(pos) > 1 and (idx[:, j] >= 0).all() and np.unique(idx[:, j]).size == 1
                           for j in range(idx.shape[1])], dtype=bool)
        per_item[pos] = ((idx >= 0) & ~shared[None, :]).sum(axis=1)
        index.append(idx)
        if (~fixed_rows).any():
            names_free.add(m.name)
    anchored = bool(anchors)
    mean_index = var_index = -1
    if anchored:
        mean_index, k = k, k + 1
    if anchored or (names_free and names_free <= VARIANCE_FREE):
        var_index, k = k, k + 1
    if fit is not None and fit.n_parameters != k:
        raise InvalidParameterError(
            f"{what}: the fit reports {fit.n_parameters} estimated parameters but its items "
            f"account for {k}; cannot tell which were estimated"
        )
    return Estimated(index, per_item, mean_index, var_index, k)


def grid_options(fit: CalibrationResult | None, n_points: int | None, bounds: tuple[float, float] | None
                 ) -> tuple[int, tuple[float, float]]:
    """The quadrature of the fit (or mirt's calibration grid: 61 nodes on [−6, 6])."""
    if n_points is None:
        n_points = fit.n_points if fit is not None else None
        n_points = 61 if n_points is None else n_points
    if bounds is None:
        bounds = fit.bounds if fit is not None else (-6.0, 6.0)
    return int(n_points), (float(bounds[0]), float(bounds[1]))


def category_table(resp: Responses, n_categories: NDArray[np.int64]) -> Array:
    """Counts of every pair of (item, category) answers: the one-hot matrix's cross-product.

    Entry ``[c, d]`` counts the persons whose answers fall in columns ``c`` and ``d`` of the
    flattened (item, category) axis (:func:`qabilet.engine.likelihood.category_offsets`); the diagonal
    block of an item holds its category counts. Built block by block of persons.
    """
    offsets = np.concatenate([[0], np.cumsum(n_categories)[:-1]]).astype(np.intp)
    width = int(n_categories.sum())
    out = np.zeros((width, width))
    n = resp.x.shape[0]
    block = max(1, 2_000_000 // max(width, 1))
    for start in range(0, n, block):  # blocks bound memory, not a loop per person
        x, o = resp.x[start : start + block], resp.observed[start : start + block]
        onehot = np.zeros((x.shape[0], width))
        np.put_along_axis(onehot, offsets[None, :] + x, o.astype(np.float64), axis=1)
        out += onehot.T @ onehot
    return out


def dichotomous(bank: ItemBank) -> NDArray[np.bool_]:
    """Items with two categories."""
    return np.asarray(bank.n_categories == 2)


# -- reports ---------------------------------------------------------------------------------------


class Report:
    """Mixin of the result types: HTML from ``summary()`` and a short repr."""

    __slots__ = ()

    def summary(self) -> str:  # pragma: no cover - every subclass defines it
        """The result as text."""
        raise NotImplementedError

    def _repr_html_(self) -> str:
        """The summary as an HTML block for notebooks."""
        return f"<pre>{html.escape(self.summary())}</pre>"


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table: fixed digits, ``-`` for NaN, ``<.001`` style for tiny p-values."""
    if isinstance(value, (str, np.str_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    v = float(value)
    if not np.isfinite(v):
        return "-" if np.isnan(v) else ("inf" if v > 0 else "-inf")
    return f"{v:.{digits}f}"


def text_table(columns: Sequence[tuple[str, Sequence[str]]]) -> str:
    """Columns of strings as aligned text (first column left-aligned, the others right)."""
    widths = [max([len(h), *(len(c) for c in cells)]) for h, cells in columns]
    n_rows = len(columns[0][1]) if columns else 0
    lines = ["  ".join(
        (h.ljust(w) if j == 0 else h.rjust(w)) for j, ((h, _), w) in enumerate(zip(columns, widths))
    )]
    for r in range(n_rows):
        lines.append("  ".join(
            (cells[r].ljust(w) if j == 0 else cells[r].rjust(w))
            for j, ((_, cells), w) in enumerate(zip(columns, widths))
        ))
    return "\n".join(lines)
