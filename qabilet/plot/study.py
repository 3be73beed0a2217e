"""Simulation studies: a statistic by true θ per level of a factor, per cell, and per level.

The numbers come from a study's summary (:mod:`qabilet.study.summary`) as plain arrays, so this
module reads no table and imports nothing of the study.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.plot._figure import figure_and_axes

__all__ = ["study_by_theta", "study_cells", "study_levels"]


def study_by_theta(edges: ArrayLike, lines: Mapping[str, ArrayLike], *,
                   statistic: str = "RMSE", title: str | None = None,
                   ax: Axes | None = None) -> Figure:
    """A statistic by true-θ bin, one line per level (or cell), drawn at the bins' midpoints.

    Parameters
    ----------
    edges : array_like, shape (n_bins + 1,)
        The bins' edges.
    lines : mapping of str to array_like, shape (n_bins,)
        The statistic in each bin per level; NaN where a bin has too few simulees (a gap).
    statistic : str
        The y axis' label.
    """
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.size < 2 or np.any(np.diff(e) <= 0):
        raise InvalidParameterError("edges: expected increasing bin edges, at least two")
    if not lines:
        raise InvalidParameterError("lines: expected at least one level")
    mid = (e[:-1] + e[1:]) / 2
    fig, ax = figure_and_axes(ax, (6.0, 4.0))
    for name, values in lines.items():
        y = np.asarray(values, dtype=np.float64)
        if y.shape != mid.shape:
            raise InvalidParameterError(f"lines[{name!r}]: expected {mid.size} values (one per "
                                        f"bin); got {y.size}")
        ax.plot(mid, y, marker="o", markersize=3, label=name)
    ax.set(xlabel="true θ", ylabel=statistic, title=title or f"{statistic} by true θ")
    ax.set_ylim(bottom=0 if statistic.lower() != "bias" else None)
    if len(lines) > 1:
        ax.legend(fontsize="small")
    return fig


def study_cells(cells: Sequence[str], edges: ArrayLike, values: ArrayLike, *,
                statistic: str = "RMSE", ax: Axes | None = None) -> Figure:
    """A statistic per cell (rows) and true-θ bin (columns) as a heat map; NaN left blank.

    Parameters
    ----------
    cells : sequence of str
        The rows' labels (cell numbers, say).
    edges : array_like, shape (n_bins + 1,)
    values : array_like, shape (n_cells, n_bins)
    """
    e = np.asarray(edges, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if v.shape != (len(cells), e.size - 1):
        raise InvalidParameterError(f"values: expected shape ({len(cells)}, {e.size - 1}); got "
                                    f"{v.shape}")
    fig, ax = figure_and_axes(ax, (7.0, max(2.5, 0.9 + 0.16 * len(cells))))
    image = ax.pcolormesh(e, np.arange(len(cells) + 1), np.ma.masked_invalid(v), cmap="viridis")
    ax.set_yticks(np.arange(len(cells)) + 0.5, list(cells),
                  fontsize="x-small" if len(cells) > 20 else "small")
    ax.invert_yaxis()
    ax.set(xlabel="true θ", ylabel="cell", title=f"{statistic} by cell and true θ")
    fig.colorbar(image, ax=ax, label=statistic)
    return fig


def study_levels(levels: Sequence[str], statistics: Mapping[str, ArrayLike], *,
                 title: str | None = None) -> Figure:
    """Statistics per level of a factor: one small dot chart per statistic, side by side.

    Parameters
    ----------
    levels : sequence of str
    statistics : mapping of str to array_like, shape (n_levels,)
        Each statistic's value per level (the mean over the cells of that level, say).
    """
    if not statistics or not levels:
        raise InvalidParameterError("statistics: expected at least one statistic and one level")
    columns = min(2, len(statistics))
    rows = -(-len(statistics) // columns)
    fig = Figure(figsize=(6.0, 0.6 + rows * (0.9 + 0.25 * len(levels))), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, columns, squeeze=False, sharey=True)
    y = np.arange(len(levels))
    for k, (name, values) in enumerate(statistics.items()):
        x = np.asarray(values, dtype=np.float64)
        if x.shape != (len(levels),):
            raise InvalidParameterError(f"statistics[{name!r}]: expected {len(levels)} values "
                                        f"(one per level); got {x.size}")
        ax = axes[k // columns, k % columns]
        ax.hlines(y, np.nanmin(np.append(x, 0.0)), x, color="0.8", linewidth=1)
        ax.plot(x, y, "o")
        ax.set_yticks(y, list(levels), fontsize="small")
        ax.set_title(name, fontsize="medium")
    for k in range(len(statistics), rows * columns):
        axes[k // columns, k % columns].set_visible(False)
    axes[0, 0].invert_yaxis()
    if title:
        fig.suptitle(title)
    return fig
