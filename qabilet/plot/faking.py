"""Faking: the same persons' scores when answering honestly and when faking, side by side.

A simulation study of faking knows each person's honest answers and their faked ones (and may
know the true traits). :func:`faking_summary` compares the two sets of scores trait by trait:

- *recovery*: each set's correlation with the true traits;
- *rank preservation*: Spearman's correlation between the honest and the faked scores of the
  same persons (everyone: the honest among them keep their scores, so fakers who overtake them
  lower it);
- *inflation*: the fakers' mean faked minus honest score, in standard deviations of the honest
  scores;
- *band changes*: the share of fakers whose band — below, within or above ``cuts`` on the honest
  scores' standard scale (the honest persons as the norm group) — differs between the two;
- *fakers on top*: the share of fakers among the top ``top`` of the faked scores (their share of
  everyone when faking does not help).

:func:`honest_faked` draws the standardised scores, faked against honest, with the identity
line and the band cuts, and states these numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike, NDArray

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.plot._figure import figure_and_axes, labels_with

__all__ = ["FAKING_LABELS", "FakingEffect", "faking_summary", "honest_faked"]

Array = NDArray[np.float64]

#: the words of :func:`honest_faked`
FAKING_LABELS = {"x": "honest score (SD units of the honest scores)", "y": "faked score (same units)",
                 "honest": "honest", "fakers": "fakers", "identity": "identity (no change)",
                 "cuts": "band cuts"}


@dataclass(frozen=True, slots=True)
class FakingEffect:
    """Honest against faked scores, per trait (:func:`faking_summary`).

    Attributes
    ----------
    honest_z, faked_z : ndarray, shape (n_persons, n_traits)
        Both sets of scores standardised by the honest scores' mean and standard deviation.
    faking : ndarray of bool, shape (n_persons,)
        Who faked.
    r_honest, r_faked : ndarray, shape (n_traits,), or None
        Each set's correlation with the true traits (None without them).
    rank : ndarray, shape (n_traits,)
        Spearman's correlation between the honest and the faked scores, over everyone.
    inflation : ndarray, shape (n_traits,)
        The fakers' mean of ``faked_z − honest_z``.
    band_change : ndarray, shape (n_traits,)
        The share of fakers whose band differs.
    top_fakers : ndarray, shape (n_traits,)
        The share of fakers among the ``top`` share of everyone's faked scores.
    cuts : tuple of float
        The band cuts on the standard scale.
    top : float
    """

    honest_z: Array
    faked_z: Array
    faking: NDArray[np.bool_]
    r_honest: Array | None
    r_faked: Array | None
    rank: Array
    inflation: Array
    band_change: Array
    top_fakers: Array
    cuts: tuple[float, ...]
    top: float

    @property
    def faker_share(self) -> float:
        """The share of fakers among everyone (``top_fakers``'s value when faking gains nothing)."""
        return float(self.faking.mean())


def _columns(values: ArrayLike, name: str) -> Array:
    out = np.asarray(values, dtype=np.float64)
    if out.ndim == 1:
        out = out[:, None]
    if out.ndim != 2 or not np.all(np.isfinite(out)):
        raise InvalidParameterError(f"{name}: expected finite scores of shape (n_persons,) or "
                                    f"(n_persons, n_traits); got shape {out.shape}")
    return out


def _correlations(x: Array, y: Array) -> Array:
    """Pearson's correlation of each column of ``x`` with the same column of ``y``."""
    dx, dy = x - x.mean(axis=0), y - y.mean(axis=0)
    out: Array = np.sum(dx * dy, axis=0) / np.sqrt(np.sum(dx**2, axis=0) * np.sum(dy**2, axis=0))
    return out


def faking_summary(honest: ArrayLike, faked: ArrayLike, faking: ArrayLike | None = None,
                   true: ArrayLike | None = None, *, cuts: Sequence[float] = (-1.0, 1.0),
                   top: float = 0.1) -> FakingEffect:
    """Recovery, rank preservation, inflation, band changes and fakers on top (module notes).

    Parameters
    ----------
    honest, faked : array_like, shape (n_persons,) or (n_persons, n_traits)
        The same persons' scores from their honest and their faked answers.
    faking : array_like of bool, shape (n_persons,), optional
        Who faked (default: everyone; then ``top_fakers`` is 1).
    true : array_like, optional
        The true traits, of the scores' shape.
    cuts : sequence of float
        Increasing band cuts on the honest scores' standard scale (default ±1 SD: below, within
        and above).
    top : float
        The top share of the faked scores in which the fakers are counted (0 < top < 1).

    Raises
    ------
    InvalidParameterError
        Shapes that differ, non-finite scores, honest scores without spread, no faker, cuts not
        increasing, or ``top`` outside (0, 1).

    Examples
    --------
    >>> honest = [[-1.0], [0.0], [1.0], [2.0]]
    >>> faked = [[-1.0], [1.5], [1.0], [3.0]]          # persons 1 and 3 faked
    >>> s = faking_summary(honest, faked, [False, True, False, True], top=0.5)
    >>> s.rank.round(3).tolist(), s.top_fakers.tolist()
    ([0.8], [1.0])
    """
    h, f = _columns(honest, "honest"), _columns(faked, "faked")
    if f.shape != h.shape:
        raise InvalidParameterError(f"faked: expected the shape of honest, {h.shape}; got {f.shape}")
    n = h.shape[0]
    who = np.ones(n, dtype=bool) if faking is None else np.asarray(faking, dtype=bool).reshape(-1)
    if who.shape != (n,) or not who.any():
        raise InvalidParameterError(f"faking: expected {n} flags, at least one True")
    edges = np.asarray(cuts, dtype=np.float64).reshape(-1)
    if edges.size == 0 or np.any(np.diff(edges) <= 0):
        raise InvalidParameterError(f"cuts: expected increasing band cuts; got {edges.tolist()}")
    if not 0 < top < 1:
        raise InvalidParameterError(f"top: expected a share between 0 and 1; got {top}")
    centre, spread = h.mean(axis=0), h.std(axis=0)
    if np.any(spread <= 0):
        raise InvalidParameterError("honest: expected scores that vary, trait by trait")
    hz, fz = (h - centre) / spread, (f - centre) / spread
    r_h = r_f = None
    if true is not None:
        t = _columns(true, "true")
        if t.shape != h.shape:
            raise InvalidParameterError(f"true: expected the shape of honest, {h.shape}; got {t.shape}")
        r_h, r_f = _correlations(h, t), _correlations(f, t)
    from scipy.stats import rankdata  # here: scipy.stats takes longer to import than the rest

    rank = _correlations(rankdata(h, axis=0), rankdata(f, axis=0))
    moved = np.digitize(hz, edges) != np.digitize(fz, edges)
    n_top = max(1, int(round(top * n)))
    best = np.argsort(-f, axis=0, kind="stable")[:n_top]  # (n_top, n_traits)
    return FakingEffect(honest_z=hz, faked_z=fz, faking=who, r_honest=r_h, r_faked=r_f, rank=rank,
                        inflation=(fz - hz)[who].mean(axis=0), band_change=moved[who].mean(axis=0),
                        top_fakers=who[best].mean(axis=0), cuts=tuple(edges.tolist()), top=float(top))


def honest_faked(honest: ArrayLike, faked: ArrayLike, faking: ArrayLike | None = None, *,
                 cuts: Sequence[float] = (-1.0, 1.0), title: str | None = None,
                 labels: Mapping[str, str] | None = None, ax: Axes | None = None) -> Figure:
    """Each person's faked score against their honest one, on the honest scores' standard scale.

    Every person and trait is a point (the honest in grey, the fakers in the first colour),
    with the identity line — a point above it gained by faking — and the band cuts on both axes,
    so that a point in another band across than up changed band. The title states the means over
    the traits of :func:`faking_summary`'s rank preservation, the fakers' inflation and their
    band changes.

    Parameters
    ----------
    honest, faked : array_like, shape (n_persons,) or (n_persons, n_traits)
    faking : array_like of bool, shape (n_persons,), optional
        Who faked (default: everyone).
    cuts : sequence of float
        The band cuts (standard scale).
    title : str, optional
        Put before the numbers in the title (a condition's name).
    labels : mapping, optional
        Words in place of :data:`FAKING_LABELS`'s.
    ax : matplotlib.axes.Axes, optional
        Draw here (default: a new figure).

    Returns
    -------
    matplotlib.figure.Figure
    """
    s = faking_summary(honest, faked, faking, cuts=cuts)
    words = labels_with(FAKING_LABELS, labels)
    fig, ax = figure_and_axes(ax, (5.0, 4.8))
    low = float(min(s.honest_z.min(), s.faked_z.min()))
    high = float(max(s.honest_z.max(), s.faked_z.max()))
    pad = 0.05 * (high - low) if high > low else 0.5
    line = [low - pad, high + pad]
    ax.plot(line, line, color="0.3", linewidth=1, label=words["identity"], zorder=3)
    for c in s.cuts:
        ax.axvline(c, color="0.6", linestyle="--", linewidth=0.8, zorder=1)
        ax.axhline(c, color="0.6", linestyle="--", linewidth=0.8, zorder=1,
                   label=words["cuts"] if c == s.cuts[0] else None)
    for part, colour, name in ((~s.faking, "0.6", words["honest"]), (s.faking, "C0", words["fakers"])):
        if part.any():
            ax.plot(s.honest_z[part].ravel(), s.faked_z[part].ravel(), "o", markersize=2.5,
                    alpha=0.4, color=colour, label=name, zorder=2)
    stated = (f"rank ρ {s.rank.mean():.3f}, inflation {s.inflation.mean():+.2f} SD, "
              f"band changes {100 * s.band_change.mean():.0f} %")
    ax.set(xlim=line, ylim=line, xlabel=words["x"], ylabel=words["y"],
           title=f"{title}\n{stated}" if title else stated)
    ax.title.set_fontsize("medium")
    ax.set_aspect("equal", adjustable="box")
    ax.legend(fontsize="small", loc="upper left", markerscale=2)
    return fig
