"""Situational items' option slopes against the experts' order of the options.

The input is an expert-order check (:class:`~qabilet.calibration.expert_order.ExpertOrder`, or
anything with its fields): per item, the options' codes, estimated slopes
:math:`s_k = a\\,a_k` of the nominal model and their standard errors (``slopes``), the option
the experts named for each check (``item_ids``, ``check`` — ``"most"`` or ``"least"`` —
``expert``), and the items flagged for review (``review``). Each item's options are placed in
the experts' order: the least indicative option first, the most indicative last, the others
between them in code order. In that order an item the data agree with rises from left to
right. The chart draws the numbers the check states, and computes none but the intervals
:math:`\\hat s_k \\pm z\\,\\mathrm{SE}`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.plot._figure import figure_and_axes, labels_with

__all__ = ["OPTION_LABELS", "OptionCheck", "experts_order", "option_slopes"]

#: the words of :func:`option_slopes` (``{z}``: the intervals' half-width in standard errors)
OPTION_LABELS = {"x": "option, in the experts' order", "y": "estimated option slope a·aₖ (±{z:g} SE)",
                 "title": "Option slopes against the experts' order", "least": "least\nindicative",
                 "middle": "middle", "most": "most\nindicative", "flagged": "flagged for review",
                 "none": "none flagged for review"}
#: the flagged items' colours, in turn
_FLAGGED = ("tab:red", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive")


class OptionCheck(Protocol):
    """An expert-order check of nominal items: the options' slopes and the experts' choices."""

    @property
    def item_ids(self) -> Sequence[str]: ...  # noqa: D102

    @property
    def check(self) -> Sequence[str]: ...  # noqa: D102

    @property
    def expert(self) -> ArrayLike: ...  # noqa: D102

    @property
    def slopes(self) -> Mapping[str, tuple[ArrayLike, ArrayLike, ArrayLike]]: ...  # noqa: D102

    @property
    def review(self) -> Sequence[str]: ...  # noqa: D102


def experts_order(result: OptionCheck, item: str) -> list[int]:
    """The item's option codes in the experts' order: the least indicative first, the most last.

    The options the experts did not name keep their code order between the two; an item without
    a ``least`` check starts with them, one without a ``most`` check ends with them.
    """
    if item not in result.slopes:
        raise InvalidParameterError(f"item: {item!r} is not in the check")
    codes = [int(c) for c in np.asarray(result.slopes[item][0])]
    named = {c: int(e) for i, c, e in zip(result.item_ids, result.check, np.asarray(result.expert),
                                         strict=True) if i == item}
    least, most = named.get("least"), named.get("most")
    middle = [c for c in codes if c not in (least, most)]
    return [*([least] if least is not None else []), *middle, *([most] if most is not None else [])]


def option_slopes(result: OptionCheck, items: Sequence[str] | None = None, *, z: float = 2.0,
                  labels: Mapping[str, str] | None = None, ax: Axes | None = None) -> Figure:
    """Each item's option slopes with ±z·SE intervals, options in the experts' order.

    The items flagged for review are drawn in colour, named in the legend, and slightly offset;
    the others in grey. When every item drawn has the same number of options, the first place is
    labelled least indicative when the experts named that option for every item, the last most
    indicative likewise, the others middle; otherwise the places are numbered.

    Parameters
    ----------
    result : expert-order check
        See the module's notes (:func:`qabilet.calibration.expert_order`'s result).
    items : sequence of str, optional
        The items to draw (default: every item of the check).
    z : float
        The intervals' half-width in standard errors.
    labels : mapping, optional
        Words in place of :data:`OPTION_LABELS`'s.
    ax : matplotlib.axes.Axes, optional
        Draw here (default: a new figure).

    Returns
    -------
    matplotlib.figure.Figure
        Each item's line labelled by its id (``_`` first for the items not flagged, so that the
        legend leaves them out).
    """
    chosen = list(result.slopes) if items is None else list(items)
    if not chosen:
        raise InvalidParameterError("items: expected at least one item")
    if not (np.isfinite(z) and z > 0):
        raise InvalidParameterError(f"z: expected a positive number of standard errors; got {z}")
    words = {k: v.format(z=z) for k, v in labels_with(OPTION_LABELS, labels).items()}
    review = set(result.review)
    fig, ax = figure_and_axes(ax, (7.0, 4.0))
    colours = iter(_FLAGGED * (len(chosen) // len(_FLAGGED) + 1))
    sizes = set()
    for item in chosen:
        order = experts_order(result, item)
        codes, slopes, se = (np.asarray(v) for v in result.slopes[item])
        at = [int(np.flatnonzero(codes == c)[0]) for c in order]
        flagged = item in review
        sizes.add(len(order))
        ax.errorbar(np.arange(len(order)) + (0.06 if flagged else 0.0),
                    np.asarray(slopes, dtype=float)[at], yerr=z * np.asarray(se, dtype=float)[at],
                    capsize=2, marker="o", markersize=4, color=next(colours) if flagged else "0.7",
                    linewidth=2 if flagged else 1, zorder=3 if flagged else 2,
                    label=item if flagged else f"_{item}")
    n = max(sizes)
    if len(sizes) == 1 and n >= 2:
        named = [set(c for i, c in zip(result.item_ids, result.check, strict=True) if i == item)
                 for item in chosen]
        ticks = [words["middle"]] * n
        if all("least" in checks for checks in named):
            ticks[0] = words["least"]
        if all("most" in checks for checks in named):
            ticks[-1] = words["most"]
        ax.set_xticks(range(n), ticks)
    else:
        ax.set_xticks(range(n), [str(p + 1) for p in range(n)])
    ax.set(xlabel=words["x"], ylabel=words["y"], title=words["title"])
    if review & set(chosen):
        ax.legend(title=words["flagged"], fontsize="small")
    else:
        ax.legend(handles=[], title=words["none"], fontsize="small")
    return fig
