"""Adaptive tests: a session's trace, precision and length by θ, the items' exposure.

A trace is the estimate and its standard error after each answer — from a live session's state
(its answers replayed on its own bank and blueprint) or from one simulee of
:func:`qabilet.engine.cat.simulate_cat` (``CatSimulation.path`` and ``path_se``, recorded as the
simulation runs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtri

from qabilet.engine.cat import CatSimulation, SessionState, record, start
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.plot._figure import figure_and_axes

__all__ = ["Trace", "cat_conditional", "cat_trace", "exposure", "session_trace"]

Array = NDArray[np.float64]
Simulations = CatSimulation | Mapping[str, CatSimulation]

#: what :func:`cat_conditional` can draw: the key of ``CatSimulation.conditional`` and its label
_STATISTICS = {"rmse": "RMSE", "bias": "bias", "mean_se": "mean SE", "mean_length": "items"}
#: item ids are written under a trace's positions up to this length
_TICKS_MAX = 40


@dataclass(frozen=True, slots=True)
class Trace:
    """An adaptive test's estimate after each answer.

    Attributes
    ----------
    item_ids : tuple of str
        The scored items, in the order answered (pretest items left out).
    theta, se : ndarray, shape (len(item_ids) + 1,)
        The estimate and its standard error before the first answer (the prior's) and after each.
    true_theta : float, optional
        A simulee's true θ.
    """

    item_ids: tuple[str, ...]
    theta: Array
    se: Array
    true_theta: float | None = None


def session_trace(source: SessionState | CatSimulation, simulee: int | None = None) -> Trace:
    """The estimate and its SE after each answer of a session, or of one simulee.

    Parameters
    ----------
    source : SessionState or CatSimulation
        A session's state (its answers are replayed on its bank and blueprint: a session rebound
        to another language's parameters is read on the state's), or a simulation.
    simulee : int, optional
        Which simulee (a row of the simulation; needed with a simulation).

    Raises
    ------
    InvalidParameterError
        Several factors, no simulee named, or a simulation without ``path_se``.
    """
    if isinstance(source, SessionState):
        context = source.context
        if context.bank.n_dims != 1:
            raise InvalidParameterError("source: expected a session on one factor")
        state = start(context.bank, context.blueprint, source.seed, context=context)
        thetas, ses, ids = [state.theta], [state.se], []
        for answer in source.answers:  # one session's answers
            if answer.pretest:
                continue
            state = record(state, answer.item_id, answer.category)
            thetas.append(state.theta)
            ses.append(state.se)
            ids.append(answer.item_id)
        return Trace(tuple(ids), np.asarray(thetas, dtype=np.float64),
                     np.asarray(ses, dtype=np.float64))
    if simulee is None:
        raise InvalidParameterError("simulee: name the simulee (a row) of the simulation")
    if source.path is None or source.path_se is None or source.theta.ndim != 1:
        raise InvalidParameterError("source: expected a simulation on one factor that recorded "
                                    "its path and path_se (simulate_cat does)")
    if not 0 <= simulee < source.n:
        raise InvalidParameterError(f"simulee: expected 0 … {source.n - 1}; got {simulee}")
    n = int(source.length[simulee])
    given = source.items[simulee, :n]
    true = None if source.true_theta is None else float(source.true_theta[simulee])
    return Trace(tuple(source.item_ids[i] for i in given),
                 np.append(source.path[simulee, :n], source.theta[simulee]),
                 np.append(source.path_se[simulee, :n], source.se[simulee]), true)


def cat_trace(source: SessionState | CatSimulation, simulee: int | None = None, *,
              level: float = 0.95, true_theta: float | None = None,
              ax: Axes | None = None) -> Figure:
    """The estimate after each answer with its interval :math:`\\hat\\theta \\pm z\\,SE`.

    Parameters
    ----------
    source, simulee
        As :func:`session_trace`.
    level : float
        Coverage of the normal interval (95 %).
    true_theta : float, optional
        A line at the true θ (a simulee's is drawn without it).
    """
    if not 0 < level < 1:
        raise InvalidParameterError(f"level: expected a coverage in (0, 1); got {level}")
    trace = session_trace(source, simulee)
    truth = true_theta if true_theta is not None else trace.true_theta
    steps = np.arange(trace.theta.size)
    half = ndtri((1 + level) / 2) * trace.se
    fig, ax = figure_and_axes(ax, (7.0, 4.0))
    ax.fill_between(steps, trace.theta - half, trace.theta + half, alpha=0.25, linewidth=0,
                    label=f"{100 * level:g}% interval")
    ax.plot(steps, trace.theta, marker="o", markersize=3, label="estimate")
    if truth is not None:
        ax.axhline(truth, color="0.3", linestyle="--", linewidth=1, label="true θ")
    if steps.size <= _TICKS_MAX:
        ax.set_xticks(steps, ["start", *trace.item_ids], rotation=90, fontsize="x-small")
    ax.set(xlabel="items answered", ylabel="θ", title="Adaptive test: estimate after each answer")
    ax.legend(fontsize="small")
    return fig


def _named(sims: Simulations) -> dict[str, CatSimulation]:
    if isinstance(sims, CatSimulation):
        return {"": sims}
    if not sims:
        raise InvalidParameterError("sims: expected at least one simulation")
    return dict(sims)


def cat_conditional(sims: Simulations, statistic: str = "rmse", *, width: float = 0.5,
                    min_n: int = 30, ax: Axes | None = None) -> Figure:
    """A statistic of the final estimates by true θ, one line per design.

    Parameters
    ----------
    sims : CatSimulation or mapping of str to CatSimulation
        Simulations with true θ; a mapping names each (the legend).
    statistic : {"rmse", "bias", "mean_se", "mean_length"}
        Of :meth:`CatSimulation.conditional`, per bin of true θ.
    width : float
        The bins' width.
    min_n : int
        Bins with fewer simulees are left out.
    """
    if statistic not in _STATISTICS:
        raise InvalidParameterError(f"statistic: expected one of {', '.join(_STATISTICS)}; got "
                                    f"{statistic!r}")
    named = _named(sims)
    fig, ax = figure_and_axes(ax, (6.0, 4.0))
    for name, sim in named.items():
        if sim.true_theta is None:
            raise InvalidParameterError(f"sims: {name or 'the simulation'} has no true θ")
        bins = [b for b in sim.conditional(width) if b["n"] >= min_n]
        mid = [(b["theta_low"] + b["theta_high"]) / 2 for b in bins]
        ax.plot(mid, [b[statistic] for b in bins], marker="o", label=name or None)
    ax.set(xlabel="true θ", ylabel=_STATISTICS[statistic],
           title=f"{_STATISTICS[statistic]} by true θ (bins of {width:g}, n ≥ {min_n})")
    if len(named) > 1:
        ax.legend(fontsize="small")
    return fig


def exposure(sims: Simulations | Mapping[str, ArrayLike], *, target: float | None = None,
             top: int | None = None, ax: Axes | None = None) -> Figure:
    """The items' exposure rates, most exposed first, one line per design or group.

    Parameters
    ----------
    sims : CatSimulation, or mapping of str to CatSimulation or to rates
        Simulations (their ``exposure``), or observed rates — e.g. from live sessions, the share
        of a level's sessions that were given each item — named for the legend.
    target : float, optional
        A line at the exposure control's target rate.
    top : int, optional
        Show the ``top`` most exposed items only.
    """
    named = {"": sims} if isinstance(sims, CatSimulation) else dict(sims)
    if not named:
        raise InvalidParameterError("sims: expected at least one simulation")
    fig, ax = figure_and_axes(ax, (6.0, 4.0))
    for name, sim in named.items():
        given = sim.exposure if isinstance(sim, CatSimulation) else np.asarray(sim, dtype=float)
        rates = np.sort(given)[::-1][:top]
        ax.plot(np.arange(1, rates.size + 1), rates, label=name or None)
    if target is not None:
        ax.axhline(target, color="0.4", linestyle="--", linewidth=1, label="target")
    ax.set(xlabel="items, most exposed first", ylabel="exposure rate", title="Item exposure")
    ax.set_ylim(bottom=0)
    if len(named) > 1 or target is not None:
        ax.legend(fontsize="small")
    return fig
