"""Profiles: each dimension's percentile with its interval, over the norm's bands.

The input is one profile or several (:class:`~qabilet.itembank.profiles.Profile`, or anything
with ``candidate_id``, ``level``, ``norm_set``, ``interval_level`` and the ``professional`` and
``personal`` results), all read against one norm group (one level of one norm set, so that their
percentiles and bands mean the same). A result is a
:class:`~qabilet.itembank.profiles.DimensionResult`, or anything with ``dimension``, ``name``,
``percentile``, ``percentile_interval`` and ``band_edges``: the chart draws the numbers the
profile states, and computes none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, Protocol

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.profile import BANDS
from qabilet.plot._figure import figure_and_axes, labels_with

__all__ = ["PROFILE_LABELS", "DimensionPercentile", "ProfileRecord", "profile_percentiles"]

#: the words of :func:`profile_percentiles` (English; ``axis`` by default also names the
#: profiles' interval level, as "Percentile in the norm group (90% interval)")
PROFILE_LABELS = {"axis": "Percentile in the norm group", "development": "Development area",
                  "meets": "Meets the level", "strength": "Strength"}
_ZONES = {"development": "#f6e3c8", "meets": "#dbe7f3", "strength": "#d7eedc"}
_INK = "#1d2733"
_SECTIONS = ("professional", "personal")


class DimensionPercentile(Protocol):
    """One dimension's result as a profile states it: its percentile, interval and bands."""

    @property
    def dimension(self) -> str: ...  # noqa: D102

    @property
    def name(self) -> str: ...  # noqa: D102

    @property
    def percentile(self) -> float: ...  # noqa: D102

    @property
    def percentile_interval(self) -> tuple[float, float]: ...  # noqa: D102

    @property
    def band_edges(self) -> tuple[float, float]: ...  # noqa: D102


class ProfileRecord(Protocol):
    """A candidate's profile: whose, against which norm group, and its results by section."""

    @property
    def candidate_id(self) -> str: ...  # noqa: D102

    @property
    def level(self) -> str: ...  # noqa: D102

    @property
    def norm_set(self) -> int: ...  # noqa: D102

    @property
    def interval_level(self) -> float: ...  # noqa: D102

    @property
    def professional(self) -> Sequence[DimensionPercentile]: ...  # noqa: D102

    @property
    def personal(self) -> Sequence[DimensionPercentile]: ...  # noqa: D102


def _one_norm_group(profiles: Sequence[ProfileRecord]) -> None:
    groups = sorted({(p.norm_set, p.level) for p in profiles})
    if len(groups) > 1:
        shown = ", ".join(f"norm set {n}, level {lv}" for n, lv in groups)
        raise InvalidParameterError(f"profiles: expected profiles read against one norm group; got {shown}")
    levels = sorted({p.interval_level for p in profiles})
    if len(levels) > 1:
        raise InvalidParameterError(f"profiles: expected one interval level; got {levels}")


def profile_percentiles(profiles: ProfileRecord | Sequence[ProfileRecord],
                        section: Literal["professional", "personal"] | None = None, *,
                        labels: Mapping[str, str] | None = None,
                        colours: Mapping[str, str] | None = None, cmap: str = "viridis",
                        legend: bool = True, ax: Axes | None = None) -> Figure:
    """Each dimension's percentile (a dot) and its interval (a bar), one row per dimension.

    The shading is the bands the norm set's cuts make, each row its own (``band_edges``); the
    interval is the profile's (``percentile_interval``, at its ``interval_level``). Several
    profiles share the rows, each candidate a colour, top to bottom in the order given; a
    dimension a profile has no result on is left out of its row.

    Parameters
    ----------
    profiles : profile or sequence of profiles
        Read against one norm group (one norm set and level) at one interval level.
    section : {"professional", "personal"}, optional
        The competencies or the personal qualities; by default both, competencies first.
    labels : mapping, optional
        Words in place of :data:`PROFILE_LABELS`'s.
    colours : mapping, optional
        The bands' shading (``development``, ``meets``, ``strength``).
    cmap : str
        The colour map the candidates' colours are drawn from, when there are several (one
        profile is drawn in ink).
    legend : bool
        Name the bands and (when there are several) the candidates, right of the axes (its top
        is left for a title); ``False`` for all but one of several panels.
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure).

    Returns
    -------
    matplotlib.figure.Figure
        Each profile's dots are one line labelled with its ``candidate_id``; the intervals are
        horizontal segments.

    Raises
    ------
    InvalidParameterError
        No profile, no result in the section, profiles of different norm groups or interval
        levels, an unknown ``section`` or ``labels`` key.

    Examples
    --------
    >>> from types import SimpleNamespace as R
    >>> row = R(dimension="integrity", name="Integrity", percentile=62.0,
    ...         percentile_interval=(41.0, 80.0), band_edges=(25.0, 75.0))
    >>> p = R(candidate_id="K-1", level="middle", norm_set=1, interval_level=0.9,
    ...       professional=[row], personal=[])
    >>> ax = profile_percentiles(p).axes[0]
    >>> ax.get_lines()[0].get_xdata().tolist(), ax.get_xlabel()
    ([62.0], 'Percentile in the norm group (90% interval)')
    """
    given = list(profiles) if isinstance(profiles, Sequence) else [profiles]
    if not given:
        raise InvalidParameterError("profiles: expected at least one profile")
    if section is not None and section not in _SECTIONS:
        raise InvalidParameterError(f"section: expected one of {', '.join(_SECTIONS)} or None; "
                                    f"got {section!r}")
    _one_norm_group(given)
    sections = _SECTIONS if section is None else (section,)
    per_profile = [[r for s in sections for r in getattr(p, s)] for p in given]
    rows: dict[str, DimensionPercentile] = {}  # dimension → its first result (name, edges)
    for results in per_profile:
        for r in results:
            rows.setdefault(r.dimension, r)
    if not rows:
        raise InvalidParameterError(f"profiles: no result in {' or '.join(sections)}")
    level = given[0].interval_level
    words = labels_with({**PROFILE_LABELS,
                         "axis": f"{PROFILE_LABELS['axis']} ({100 * level:g}% interval)"}, labels)
    zones = {**_ZONES, **(colours or {})}
    n = len(given)
    fig, ax = figure_and_axes(ax, (8.0, len(rows) * max(0.55, 0.14 * n + 0.2) + 1.6))
    at = {dim: k for k, dim in enumerate(rows)}
    for k, r in enumerate(rows.values()):
        edges = (0.0, *r.band_edges, 100.0)
        for band, lo, hi in zip(BANDS, edges[:-1], edges[1:], strict=True):
            ax.barh(k, hi - lo, left=lo, height=0.9, color=zones[band], linewidth=0)
    spread = min(0.7, 0.14 * (n - 1))
    offsets = np.linspace(-spread / 2, spread / 2, n)
    palette = matplotlib.colormaps[cmap]
    inks = [_INK] if n == 1 else [palette(x) for x in np.linspace(0.0, 0.9, n)]
    dots: list[Line2D] = []
    for results, profile, dy, ink in zip(per_profile, given, offsets, inks, strict=True):
        y = np.array([at[r.dimension] + dy for r in results])
        ax.hlines(y, [r.percentile_interval[0] for r in results],
                  [r.percentile_interval[1] for r in results], colors=[ink], linewidth=1.5,
                  label="_interval")
        dots += ax.plot([r.percentile for r in results], y, "o", color=ink, markersize=4.5,
                        label=profile.candidate_id)
    ax.set_yticks(range(len(rows)), [r.name for r in rows.values()])
    ax.set(xlim=(0, 100), ylim=(len(rows) - 0.5, -0.5), xlabel=words["axis"])
    ax.set_xticks([0, 10, 25, 50, 75, 90, 100])
    if legend:
        handles: list[Patch | Line2D] = [Patch(color=zones[b], label=words[b]) for b in BANDS]
        ax.legend(handles=handles + (dots if n > 1 else []), loc="upper left",
                  bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize="small")
    return fig
