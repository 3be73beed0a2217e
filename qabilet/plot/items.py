"""Item and test curves of a unidimensional bank: characteristic, category, information, SE.

Each curve is the bank's own function evaluated on a grid of θ
(:meth:`~qabilet.engine.bank.ItemBank.expected_score`, :meth:`~qabilet.engine.bank.ItemBank.prob`,
:meth:`~qabilet.engine.bank.ItemBank.information`), by default the bank's latent mean ± 4 SD in
161 steps. One dimension of a multidimensional version is a unidimensional bank
(:func:`qabilet.itembank.versions.scale_bank`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from numpy.typing import ArrayLike, NDArray

from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.models._base import check_index
from qabilet.plot._figure import figure_and_axes

__all__ = ["category_curves", "compare_curves", "conditional_se", "information", "item_curves",
           "theta_grid"]

Array = NDArray[np.float64]
Items = Sequence[str] | Sequence[int] | None

#: a legend is drawn for at most this many curves
_LEGEND_MAX = 12
#: the banks' line styles in :func:`compare_curves`' category curves, in turn
_STYLES: tuple[Literal["-", "--", ":", "-."], ...] = ("-", "--", ":", "-.")


def theta_grid(bank: ItemBank, theta: ArrayLike | None = None) -> Array:
    """``theta`` as a 1-d array, or the bank's latent mean ± 4 SD in 161 steps.

    Raises
    ------
    InvalidParameterError
        A multidimensional bank, or a θ that is not a finite 1-d grid.
    """
    if bank.n_dims != 1:
        raise InvalidParameterError(f"bank: expected a unidimensional bank; it measures "
                                    f"{bank.n_dims} factors (one dimension's items: "
                                    f"qabilet.itembank.versions.scale_bank)")
    if theta is None:
        mean, sd = float(bank.latent.mean[0]), float(np.sqrt(bank.latent.cov[0, 0]))
        return np.linspace(mean - 4 * sd, mean + 4 * sd, 161)
    grid = np.asarray(theta, dtype=np.float64)
    if grid.ndim != 1 or grid.size < 2 or not np.all(np.isfinite(grid)):
        raise InvalidParameterError("theta: expected at least two finite values in a 1-d grid")
    return grid


def _indices(bank: ItemBank, items: Items) -> NDArray[np.intp]:
    """Bank positions of ``items`` (ids or positions; every item when None)."""
    if items is None:
        return np.arange(bank.n_items)
    chosen = list(items)
    if not chosen:
        raise InvalidParameterError("items: expected at least one item")
    if all(isinstance(i, str) for i in chosen):
        return bank.index_of([str(i) for i in chosen])
    return check_index(np.asarray(chosen), bank.n_items)


def _curves(ax: Axes, grid: Array, values: Array, labels: Sequence[str]) -> None:
    """One line per column of ``values``, labelled; a legend when there are few."""
    for column, label in zip(values.T, labels, strict=True):
        ax.plot(grid, column, label=label)
    if len(labels) <= _LEGEND_MAX:
        ax.legend(fontsize="small")


def item_curves(bank: ItemBank, items: Items = None, *, theta: ArrayLike | None = None,
                ax: Axes | None = None) -> Figure:
    """Item characteristic curves: each item's expected score over θ, on 0–1.

    For a dichotomous item the curve is :math:`P(X = 1 \\mid \\theta)`; for an item of
    :math:`K` categories it is the expected category :math:`\\sum_k k P_k(\\theta)` divided by
    :math:`K - 1`.

    Parameters
    ----------
    bank : ItemBank
        Unidimensional.
    items : sequence of str or int, optional
        Item ids or bank positions (default: every item).
    theta : array_like, optional
        The grid (default: the latent mean ± 4 SD).
    ax : matplotlib.axes.Axes, optional
        Draw here (default: a new figure).

    Returns
    -------
    matplotlib.figure.Figure
    """
    grid = theta_grid(bank, theta)
    idx = _indices(bank, items)
    k = bank.n_categories[idx]
    fig, ax = figure_and_axes(ax, (6.0, 4.0))
    _curves(ax, grid, bank.expected_score(grid)[:, idx] / (k - 1),
            [bank.item_ids[i] for i in idx])
    ax.set(xlabel="θ", ylim=(-0.02, 1.02), title="Item characteristic curves",
           ylabel="P(X = 1 | θ)" if np.all(k == 2) else "expected score / (K − 1)")
    return fig


def category_curves(bank: ItemBank, item: str | int, *, categories: Sequence[str] | None = None,
                    theta: ArrayLike | None = None, ax: Axes | None = None) -> Figure:
    """Category response curves of one item: :math:`P(X = k \\mid \\theta)` for each category.

    Parameters
    ----------
    item : str or int
        Its id or bank position.
    categories : sequence of str, optional
        The categories' names, lowest first (default: ``category 0``, ``category 1``, …).
    """
    grid = theta_grid(bank, theta)
    (i,) = _indices(bank, [item] if isinstance(item, str) else [int(item)])
    k = int(bank.n_categories[i])
    names = list(categories) if categories is not None else [f"category {c}" for c in range(k)]
    if len(names) != k:
        raise InvalidParameterError(f"categories: item {bank.item_ids[i]!r} has {k} categories; "
                                    f"got {len(names)} names")
    fig, ax = figure_and_axes(ax, (6.0, 4.0))
    _curves(ax, grid, bank.prob(grid)[:, i, :k], names)
    ax.set(xlabel="θ", ylabel="P(X = k | θ)", ylim=(-0.02, 1.02),
           title=f"Category response curves: {bank.item_ids[i]} ({bank.model_names[i]})")
    return fig


def compare_curves(banks: Mapping[str, ItemBank], item: str | int, *,
                   kind: Literal["expected", "categories"] = "expected",
                   categories: Sequence[str] | None = None, theta: ArrayLike | None = None,
                   ax: Axes | None = None) -> Figure:
    """One item under several sets of parameters: its expected score, or its category curves.

    The banks are the same item as estimated and as simulated, in two groups (the parameters
    each language group's answers give, a DIF study's truth), before and after a recalibration:
    each bank's own :meth:`~qabilet.engine.bank.ItemBank.expected_score` or
    :meth:`~qabilet.engine.bank.ItemBank.prob` on one grid.

    Parameters
    ----------
    banks : mapping of str to ItemBank
        The name to show → a unidimensional bank holding the item, in the order to draw. The
        item has one number of categories in all.
    item : str or int
        Its id (in every bank) or its position (the same in every bank).
    kind : {"expected", "categories"}
        The expected score :math:`\\sum_k k P_k(\\theta)` on 0 … K − 1, one line per bank; or
        :math:`P(X = k \\mid \\theta)`, a colour per category and a line style per bank.
    categories : sequence of str, optional
        The categories' names, lowest first (default: ``category 0``, ``category 1``, …).
    theta : array_like, optional
        The grid (default: the first bank's latent mean ± 4 SD).
    ax : matplotlib.axes.Axes, optional
        Draw here (default: a new figure).

    Returns
    -------
    matplotlib.figure.Figure
        Each line labelled by its bank's name (``kind="expected"``) or ``"<bank>: <category>"``.
    """
    if not banks:
        raise InvalidParameterError("banks: expected at least one bank")
    if kind not in ("expected", "categories"):
        raise InvalidParameterError(f"kind: expected 'expected' or 'categories'; got {kind!r}")
    named = list(banks.items())
    grid = theta_grid(named[0][1], theta)
    chosen = [item] if isinstance(item, str) else [int(item)]
    found = []
    for name, bank in named:
        theta_grid(bank, grid)  # unidimensional
        (i,) = _indices(bank, chosen)
        found.append((name, bank, int(i), int(bank.n_categories[i])))
    ks = sorted({k for *_, k in found})
    if len(ks) > 1:
        shown = ", ".join(f"{name}: {k}" for name, _, _, k in found)
        raise InvalidParameterError(f"banks: item {item!r} has different numbers of categories ({shown})")
    k = ks[0]
    names = list(categories) if categories is not None else [f"category {c}" for c in range(k)]
    if len(names) != k:
        raise InvalidParameterError(f"categories: item {item!r} has {k} categories; got {len(names)} names")
    fig, ax = figure_and_axes(ax, (6.0, 4.0))
    title = item if isinstance(item, str) else found[0][1].item_ids[found[0][2]]
    if kind == "expected":
        for name, bank, i, _ in found:
            ax.plot(grid, bank.expected_score(grid)[:, i], label=name)
        ax.legend(fontsize="small")
        ax.set(xlabel="θ", ylabel="expected score", ylim=(-0.02 * (k - 1), 1.02 * (k - 1)),
               title=f"Expected score: {title}")
        return fig
    for b, (name, bank, i, _) in enumerate(found):
        style = _STYLES[b % len(_STYLES)]
        for c, (column, category) in enumerate(zip(bank.prob(grid)[:, i, :k].T, names, strict=True)):
            ax.plot(grid, column, color=f"C{c % 10}", linestyle=style, label=f"{name}: {category}")
    handles = [*(Line2D([], [], color=f"C{c % 10}", label=category) for c, category in enumerate(names)),
               *(Line2D([], [], color="0.2", linestyle=_STYLES[b % len(_STYLES)], label=name)
                 for b, (name, *_) in enumerate(found))]
    ax.legend(handles=handles, fontsize="small")
    ax.set(xlabel="θ", ylabel="P(X = k | θ)", ylim=(-0.02, 1.02),
           title=f"Category response curves: {title}")
    return fig


def _summed(bank: ItemBank, items: Items, grid: Array) -> Array:
    info: Array = bank.information(grid)[:, _indices(bank, items)].sum(axis=1)
    return info


def information(bank: ItemBank, items: Items = None, *, per_item: bool = False,
                theta: ArrayLike | None = None, ax: Axes | None = None) -> Figure:
    """The test information :math:`\\sum_i I_i(\\theta)` of ``items``, or each item's.

    Parameters
    ----------
    items : sequence of str or int, optional
        Item ids or bank positions (default: every item: the bank's information).
    per_item : bool
        One curve per item instead of their sum.
    """
    grid = theta_grid(bank, theta)
    fig, ax = figure_and_axes(ax, (6.0, 4.0))
    if per_item:
        idx = _indices(bank, items)
        _curves(ax, grid, bank.information(grid)[:, idx], [bank.item_ids[i] for i in idx])
    else:
        ax.plot(grid, _summed(bank, items, grid), label="test information")
    ax.set(xlabel="θ", ylabel="information I(θ)",
           title="Item information" if per_item else "Test information")
    ax.set_ylim(bottom=0)
    return fig


def conditional_se(bank: ItemBank, items: Items = None, *, prior: bool = False,
                   theta: ArrayLike | None = None, ax: Axes | None = None) -> Figure:
    """The conditional standard error of measurement :math:`1/\\sqrt{I(\\theta)}`.

    Parameters
    ----------
    prior : bool
        Add the prior's precision :math:`1/\\sigma^2` of the bank's latent distribution to the
        information: the approximate posterior SD of a Bayesian (EAP, MAP) estimate rather than
        the asymptotic SE of maximum likelihood.
    """
    grid = theta_grid(bank, theta)
    info = _summed(bank, items, grid)
    if prior:
        info = info + 1.0 / float(bank.latent.cov[0, 0])
    fig, ax = figure_and_axes(ax, (6.0, 4.0))
    ax.plot(grid, 1.0 / np.sqrt(info), label="SE(θ)")
    ax.set(xlabel="θ", ylabel="1 / √(I(θ) + 1/σ²)" if prior else "SE(θ) = 1 / √I(θ)",
           title="Conditional standard error")
    ax.set_ylim(bottom=0)
    return fig
