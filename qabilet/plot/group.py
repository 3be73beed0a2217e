"""A group's results against the norm: each dimension's distribution, and its bands' shares.

The input is a group's results by dimension — profile results
(:class:`~qabilet.itembank.profiles.DimensionResult`, or anything with ``percentile``, ``band``
and ``band_edges``) under the names to show, all of one norm group (one level of one norm set,
so that their percentiles and bands mean the same). Neither chart shows a result of one person:
the box is the quartiles and the median, the whiskers the 10th and 90th percentiles, and no
outlier is drawn (``points=True`` adds every result, for a psychometrician's own look).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.profile import BANDS, band_shares
from qabilet.plot._figure import figure_and_axes, labels_with

__all__ = ["DISTRIBUTION_LABELS", "SHARE_LABELS", "SUMMARY_PERCENTILES", "Result", "group_bands",
           "group_distributions", "summary_percentiles"]

#: the percentiles a box shows: whisker, quartile, median, quartile, whisker
SUMMARY_PERCENTILES = (10.0, 25.0, 50.0, 75.0, 90.0)
#: the words of :func:`group_distributions` (English; a report passes its own language's)
DISTRIBUTION_LABELS = {"axis": "Percentile in the norm group", "norm_median":
                       "Norm group's median (50)", "development": "Development area",
                       "meets": "Meets the level", "strength": "Strength"}
#: the words of :func:`group_bands`
SHARE_LABELS = {"axis": "Share of candidates, % (95% interval)", "development": "Development area",
                "meets": "Meets the level", "strength": "Strength", "withheld": "Band not stated"}
_ZONES = {"development": "#f6e3c8", "meets": "#dbe7f3", "strength": "#d7eedc"}
_BARS = {"development": "#b86e12", "meets": "#2f5d8a", "strength": "#2e7d4a", "withheld": "#8593a0"}


class Result(Protocol):
    """One person's result on a dimension, as a profile states it."""

    @property
    def percentile(self) -> float: ...  # noqa: D102

    @property
    def band(self) -> str | None: ...  # noqa: D102

    @property
    def band_edges(self) -> tuple[float, float]: ...  # noqa: D102


def _rows(results: Mapping[str, Sequence[Result]]) -> list[tuple[str, Sequence[Result]]]:
    rows = list(results.items())
    if not rows or any(not rs for _, rs in rows):
        raise InvalidParameterError("results: expected at least one dimension, each with results")
    return rows


def summary_percentiles(results: Sequence[Result]) -> dict[str, float]:
    """The 10th, 25th, 50th, 75th and 90th percentiles of the results' percentiles.

    Keyed ``whislo``, ``q1``, ``med``, ``q3``, ``whishi`` (as matplotlib's box plots); linear
    interpolation between order statistics (numpy's default, Hyndman & Fan's type 7).
    """
    q = np.percentile([r.percentile for r in results], SUMMARY_PERCENTILES)
    return dict(zip(("whislo", "q1", "med", "q3", "whishi"), map(float, q), strict=True))


def group_distributions(results: Mapping[str, Sequence[Result]], *, points: bool = False,
                        labels: Mapping[str, str] | None = None,
                        colours: Mapping[str, str] | None = None, ax: Axes | None = None) -> Figure:
    """Each dimension's percentiles as a box over the norm's bands, one row per dimension.

    Against the norm group a dimension's percentiles are uniform: median 50, quartiles 25 and 75
    — the dotted line; the shading is the bands the norm set's cuts make (each row its own).

    Parameters
    ----------
    results : mapping of str to sequence of results
        The name to show → the group's results on that dimension, top row first.
    points : bool
        Also draw every result (jittered): not for a report that shows no individual.
    labels : mapping, optional
        Words in place of :data:`DISTRIBUTION_LABELS`'s.
    colours : mapping, optional
        The bands' shading (``development``, ``meets``, ``strength``).
    """
    rows = _rows(results)
    words = labels_with(DISTRIBUTION_LABELS, labels)
    zones = {**_ZONES, **(colours or {})}
    fig, ax = figure_and_axes(ax, (8.0, 0.55 * len(rows) + 1.4))
    for k, (_, rs) in enumerate(rows):
        edges = (0.0, *rs[0].band_edges, 100.0)
        for band, lo, hi in zip(BANDS, edges[:-1], edges[1:], strict=True):
            ax.barh(k, hi - lo, left=lo, height=0.86, color=zones[band], linewidth=0)
    ink = "#1d2733"
    for k, (_, rs) in enumerate(rows):  # drawn here: Axes.bxp reads every rcParam, pyplot's too
        q = summary_percentiles(rs)
        ax.barh(k, q["q3"] - q["q1"], left=q["q1"], height=0.5, color="white", edgecolor=ink,
                linewidth=1)
        ax.plot([q["med"]] * 2, [k - 0.25, k + 0.25], color=ink, linewidth=2.2, label="_median")
        ax.plot([q["whislo"], q["q1"]], [k, k], [q["q3"], q["whishi"]], [k, k], color=ink,
                linewidth=1, label="_whisker")
        for end in (q["whislo"], q["whishi"]):
            ax.plot([end] * 2, [k - 0.12, k + 0.12], color=ink, linewidth=1, label="_cap")
    if points:
        jitter = np.random.default_rng(0)  # the same picture every time
        for k, (_, rs) in enumerate(rows):
            x = np.array([r.percentile for r in rs])
            ax.scatter(x, k + jitter.uniform(-0.18, 0.18, x.size), s=8, color=ink,
                       alpha=0.5, linewidths=0, zorder=3)
    norm_median = ax.axvline(50, color="0.25", linestyle=":", linewidth=1.2,
                             label=words["norm_median"])
    ax.set_yticks(range(len(rows)), [name for name, _ in rows])
    ax.set(xlim=(0, 100), ylim=(len(rows) - 0.5, -0.5), xlabel=words["axis"])
    ax.set_xticks([0, 10, 25, 50, 75, 90, 100])
    ax.legend(handles=[*(Patch(color=zones[b], label=words[b]) for b in BANDS), norm_median],
              loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False,
              fontsize="small")
    return fig


def group_bands(results: Mapping[str, Sequence[Result]], *, level: float = 0.95,
                labels: Mapping[str, str] | None = None, colours: Mapping[str, str] | None = None,
                ax: Axes | None = None) -> Figure:
    """Per dimension, the share of results in each band and withheld, with Wilson intervals.

    The shares and intervals are :func:`qabilet.engine.profile.band_shares`'.

    Parameters
    ----------
    results : mapping of str to sequence of results
        As :func:`group_distributions`.
    level : float
        Coverage of the intervals (95 %).
    labels : mapping, optional
        Words in place of :data:`SHARE_LABELS`'s.
    colours : mapping, optional
        The bars' colours (``development``, ``meets``, ``strength``, ``withheld``).
    """
    rows = _rows(results)
    words = labels_with(SHARE_LABELS, labels)
    bars = {**_BARS, **(colours or {})}
    kinds = (*BANDS, "withheld")
    fig, ax = figure_and_axes(ax, (8.0, 0.9 * len(rows) + 1.4))
    offsets = (np.arange(len(kinds)) - (len(kinds) - 1) / 2) * 0.2
    for k, (_, rs) in enumerate(rows):
        s = band_shares([r.band or "" for r in rs], level=level)
        ax.barh(k + offsets, 100 * s.share, height=0.18, color=[bars[b] for b in kinds],
                xerr=100 * np.stack([s.share - s.low, s.high - s.share]),
                error_kw={"ecolor": "#1d2733", "elinewidth": 1, "capsize": 2})
    ax.set_yticks(range(len(rows)), [name for name, _ in rows])
    ax.set(xlim=(0, 100), ylim=(len(rows) - 0.5, -0.5), xlabel=words["axis"])
    ax.legend(handles=[Patch(color=bars[b], label=words[b]) for b in kinds], loc="lower center",
              bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False, fontsize="small")
    return fig
