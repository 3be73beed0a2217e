"""Norm conversions: θ against a level's norm group as percentile, T-score and sten.

The conversions are :func:`qabilet.engine.profile.norm_scores`'s: with :math:`z = (\\theta -
\\mu)/\\sigma` the percentile is :math:`100\\Phi(z)`, the T-score :math:`50 + 10z`, the sten
:math:`\\min(10, \\max(1, \\lfloor 2z \\rfloor + 6))`. A norm is anything with ``mean``, ``sd``
and ``cuts`` — a bank's :class:`~qabilet.itembank.versions.DimensionNorm`, or a calibration's
:class:`~qabilet.calibration.norms.LevelNorm` — or a level's
:class:`~qabilet.itembank.versions.LevelNorms` with the dimension named.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.profile import norm_scores

__all__ = ["Norm", "NormGroup", "norm_conversions"]


class Norm(Protocol):
    """A norm group's latent distribution :math:`N(\\mu, \\sigma^2)` and its cut scores."""

    @property
    def mean(self) -> float: ...  # noqa: D102

    @property
    def sd(self) -> float: ...  # noqa: D102

    @property
    def cuts(self) -> Sequence[float]: ...  # noqa: D102


class NormGroup(Protocol):
    """A level's norms, by dimension (:class:`~qabilet.itembank.versions.LevelNorms`)."""

    @property
    def dimensions(self) -> Mapping[str, Norm]: ...  # noqa: D102


#: each scale's label and how to draw it
_SCALES = {"percentile": ("percentile", (0.0, 100.0)), "t": ("T-score", None),
           "sten": ("sten", (0.5, 10.5))}


def _norm(norm: Norm | NormGroup, dimension: str | None) -> Norm:
    if not hasattr(norm, "dimensions"):
        return norm
    group: Mapping[str, Norm] = norm.dimensions
    if dimension is None or dimension not in group:
        raise InvalidParameterError(f"dimension: expected one of {', '.join(sorted(group))}; got "
                                    f"{dimension!r}")
    return group[dimension]


def norm_conversions(norm: Norm | NormGroup, dimension: str | None = None, *,
                     scales: Sequence[str] = ("percentile", "t", "sten"),
                     theta: ArrayLike | None = None,
                     axes: Sequence[Axes] | None = None) -> Figure:
    """θ converted to each of ``scales`` against the norm, the cut scores marked.

    Parameters
    ----------
    norm : norm or level norms
        See the module's docstring.
    dimension : str, optional
        The dimension, when ``norm`` is a level's norms.
    scales : sequence of {"percentile", "t", "sten"}
        One panel each, top to bottom, sharing the θ axis.
    theta : array_like, optional
        The grid (default: the norm's mean ± 3.5 SD in 281 steps).
    axes : sequence of matplotlib.axes.Axes, optional
        One per scale (default: a new figure).

    Returns
    -------
    matplotlib.figure.Figure
    """
    chosen = _norm(norm, dimension)
    unknown = [s for s in scales if s not in _SCALES]
    if unknown or not scales:
        raise InvalidParameterError(f"scales: expected some of {', '.join(_SCALES)}; got "
                                    f"{list(scales)}")
    mean, sd = float(chosen.mean), float(chosen.sd)
    grid = (np.linspace(mean - 3.5 * sd, mean + 3.5 * sd, 281) if theta is None
            else np.asarray(theta, dtype=np.float64))
    if grid.ndim != 1 or grid.size < 2:
        raise InvalidParameterError("theta: expected a 1-d grid of at least two values")
    scores = norm_scores(grid, 1.0, mean, sd)  # the point conversions: the SD does not enter
    values = {"percentile": scores.percentile, "t": scores.t_score, "sten": scores.sten}
    if axes is None:
        fig = Figure(figsize=(6.0, 2.2 * len(scales) + 0.6), layout="constrained")
        FigureCanvasAgg(fig)
        panels = list(fig.subplots(len(scales), 1, sharex=True, squeeze=False)[:, 0])
    else:
        panels = list(axes)
        if len(panels) != len(scales):
            raise InvalidParameterError(f"axes: expected one per scale ({len(scales)}); got "
                                        f"{len(panels)}")
        root = panels[0].get_figure(root=True)
        if root is None:
            raise InvalidParameterError("axes: expected axes placed on a figure")
        fig = root
    for ax, scale in zip(panels, scales, strict=True):
        label, limits = _SCALES[scale]
        ax.plot(grid, values[scale], drawstyle="steps-post" if scale == "sten" else "default",
                label=label)
        for cut in chosen.cuts:
            ax.axvline(float(cut), color="0.4", linestyle="--", linewidth=1)
        ax.set(ylabel=label, xlabel="θ")
        if limits is not None:
            ax.set_ylim(*limits)
    panels[0].set_title(f"Norm conversions{f': {dimension}' if dimension else ''} "
                        f"(μ = {mean:.2f}, σ = {sd:.2f}; cut scores dashed)")
    return fig
