"""Parameter recovery: estimates against the true values they were simulated from.

A simulation study knows the truth, so an estimate can be checked against it: each estimate
against its true value, the identity line, and, with standard errors, the interval
:math:`\\hat\\xi \\pm z\\,\\mathrm{SE}`. The numbers shown — how many intervals cover the truth,
the root mean square error and the bias — are :func:`recovery_summary`'s, computed from the
inputs alone. The parameters may be any array (a bank's slopes, its thresholds item × category
with the missing categories NaN in both, a set of θ estimates): they are compared position by
position, and a position missing in both is left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike, NDArray

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.plot._figure import figure_and_axes, labels_with

__all__ = ["RECOVERY_LABELS", "Recovery", "parameter_recovery", "recovery_summary"]

Array = NDArray[np.float64]

#: the words of :func:`parameter_recovery`; ``{name}`` is the parameter's name, ``{z}`` the
#: intervals' half-width in standard errors
RECOVERY_LABELS = {"x": "true {name}", "y": "estimated {name}", "interval": "±{z:g} SE",
                   "title": "Recovery of {name}", "identity": "identity (estimate = truth)",
                   "miss": "interval misses the truth"}


@dataclass(frozen=True, slots=True)
class Recovery:
    """Estimates against the truth, position by position (:func:`recovery_summary`).

    Attributes
    ----------
    true, estimated : ndarray
        The pairs compared, flattened (positions missing in both left out).
    se : ndarray or None
        Their standard errors (NaN where there is none, as for a fixed parameter).
    z : float
        The intervals' half-width in standard errors.
    n : int
        Pairs compared.
    rmse, bias : float
        :math:`\\sqrt{\\overline{(\\hat\\xi - \\xi)^2}}` and :math:`\\overline{\\hat\\xi - \\xi}`.
    covered, n_intervals : int
        Intervals :math:`\\hat\\xi \\pm z\\,\\mathrm{SE}` that contain the truth, of those with a
        finite standard error (0 and 0 without standard errors).
    """

    true: Array
    estimated: Array
    se: Array | None
    z: float
    n: int
    rmse: float
    bias: float
    covered: int
    n_intervals: int

    @property
    def coverage(self) -> float:
        """The share of intervals that cover the truth (NaN without intervals)."""
        return self.covered / self.n_intervals if self.n_intervals else float("nan")


def recovery_summary(true: ArrayLike, estimated: ArrayLike, se: ArrayLike | None = None, *,
                     z: float = 2.0) -> Recovery:
    """The pairs compared, the RMSE and bias, and how many ±z·SE intervals cover the truth.

    Parameters
    ----------
    true, estimated : array_like
        Of one shape; a position NaN in both is left out, NaN in one only is refused.
    se : array_like, optional
        The estimates' standard errors, of the same shape (NaN: no interval).
    z : float
        The intervals' half-width in standard errors (2: about 95 % for a normal estimate).

    Raises
    ------
    InvalidParameterError
        Shapes that differ, a value missing on one side only, a negative or infinite SE, or
        nothing to compare.

    Examples
    --------
    >>> r = recovery_summary([1.0, 1.5, 0.8], [1.1, 1.2, 0.8], [0.1, 0.1, 0.05])
    >>> r.n, round(r.rmse, 3), round(r.bias, 3), r.covered, r.n_intervals
    (3, 0.183, -0.067, 2, 3)
    """
    t = np.asarray(true, dtype=np.float64)
    e = np.asarray(estimated, dtype=np.float64)
    if t.shape != e.shape:
        raise InvalidParameterError(f"estimated: expected the shape of true, {t.shape}; got {e.shape}")
    s = None if se is None else np.asarray(se, dtype=np.float64)
    if s is not None and s.shape != t.shape:
        raise InvalidParameterError(f"se: expected the shape of true, {t.shape}; got {s.shape}")
    if not (np.isfinite(z) and z > 0):
        raise InvalidParameterError(f"z: expected a positive number of standard errors; got {z}")
    t, e = t.ravel(), e.ravel()
    missing_t, missing_e = np.isnan(t), np.isnan(e)
    if np.any(missing_t != missing_e):
        raise InvalidParameterError("true, estimated: a value is missing on one side only, at "
                                    f"position(s) {np.flatnonzero(missing_t != missing_e)[:5].tolist()}")
    keep = ~missing_t
    t, e = t[keep], e[keep]
    if t.size == 0 or not (np.all(np.isfinite(t)) and np.all(np.isfinite(e))):
        raise InvalidParameterError("true, estimated: expected at least one pair of finite values")
    error = e - t
    covered = n_intervals = 0
    if s is not None:
        s = s.ravel()[keep]
        if np.any(s < 0) or np.any(np.isinf(s)):
            raise InvalidParameterError("se: expected finite standard errors ≥ 0 (NaN: none)")
        has = ~np.isnan(s)
        n_intervals = int(has.sum())
        covered = int(np.sum(np.abs(error[has]) <= z * s[has]))
    return Recovery(true=t, estimated=e, se=s, z=float(z), n=int(t.size),
                    rmse=float(np.sqrt(np.mean(error**2))), bias=float(np.mean(error)),
                    covered=covered, n_intervals=n_intervals)


def parameter_recovery(true: ArrayLike, estimated: ArrayLike, se: ArrayLike | None = None, *,
                       name: str = "a", z: float = 2.0, labels: Mapping[str, str] | None = None,
                       ax: Axes | None = None) -> Figure:
    """Each estimate against its true value, with the identity line and ±z·SE intervals.

    The title states the RMSE and the bias; with standard errors, the legend states how many
    intervals cover the truth (:func:`recovery_summary`'s numbers). An interval that misses the
    truth is drawn in the second colour of the cycle.

    Parameters
    ----------
    true, estimated : array_like
        Of one shape: a parameter's true values and its estimates (see the module's notes).
    se : array_like, optional
        The estimates' standard errors (NaN: no interval).
    name : str
        The parameter's name in the labels (``"a"``, ``"b"``, ``"θ"``).
    z : float
        The intervals' half-width in standard errors.
    labels : mapping, optional
        Words in place of :data:`RECOVERY_LABELS`'s (``{name}`` and ``{z}`` are filled in).
    ax : matplotlib.axes.Axes, optional
        Draw here (default: a new figure).

    Returns
    -------
    matplotlib.figure.Figure
    """
    r = recovery_summary(true, estimated, se, z=z)
    words = {k: v.format(name=name, z=r.z) for k, v in labels_with(RECOVERY_LABELS, labels).items()}
    fig, ax = figure_and_axes(ax, (5.0, 4.5))
    low = float(min(r.true.min(), r.estimated.min()))
    high = float(max(r.true.max(), r.estimated.max()))
    if r.se is not None and r.n_intervals:
        has = ~np.isnan(r.se)
        low = min(low, float(np.min(r.estimated[has] - r.z * r.se[has])))
        high = max(high, float(np.max(r.estimated[has] + r.z * r.se[has])))
    pad = 0.05 * (high - low) if high > low else 0.5
    line = [low - pad, high + pad]
    ax.plot(line, line, color="0.5", linewidth=1, label=words["identity"], zorder=1)
    if r.se is None:
        ax.plot(r.true, r.estimated, "o", markersize=4, label="estimates", zorder=3)
        ylabel = words["y"]
    else:
        miss = np.abs(r.estimated - r.true) > r.z * np.nan_to_num(r.se, nan=np.inf)
        stated = (f"{r.covered} of {r.n_intervals} intervals cover the truth "
                  f"({100 * r.coverage:.0f} %)") if r.n_intervals else "no standard errors"
        label = f"estimates {words['interval']}: {stated}"
        for part, colour in ((~miss, "C0"), (miss, "C1")):  # the misses in the second colour
            if part.any():
                ax.errorbar(r.true[part], r.estimated[part], yerr=r.z * np.nan_to_num(r.se[part]),
                            fmt="o", markersize=4, capsize=2, color=colour, label=label, zorder=3)
                label = words["miss"]
        ylabel = f"{words['y']} ({words['interval']})"
    ax.set(xlim=line, ylim=line, xlabel=words["x"], ylabel=ylabel,
           title=f"{words['title']}: RMSE {r.rmse:.3f}, bias {r.bias:+.3f} (n = {r.n})")
    ax.set_aspect("equal", adjustable="box")
    ax.legend(fontsize="small", loc="lower right")  # the corner the identity line leaves empty
    return fig
