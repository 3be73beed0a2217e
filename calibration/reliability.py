"""Reliability of a scale: marginal (from the items' information) and empirical (from the scores).

*Marginal reliability* (Green, Bock, Humphreys, Linn & Reckase 1984; mirt's ``marginal_rxx``)
is the share of the latent variance left after the measurement error the test information
implies, averaged over the population:

.. math::

    \\bar\\rho = \\frac{\\sigma^2}{\\sigma^2 + \\int g(\\theta)\\,I(\\theta)^{-1}\\,d\\theta},

with :math:`g` the latent density :math:`N(\\mu, \\sigma^2)` and :math:`I(\\theta) = \\sum_i
I_i(\\theta)` the information of the items a person answers — for an item pool, of the whole
pool: an upper bound on what an adaptive test drawing a few of them reaches.

*Empirical reliability* (Bock & Mislevy 1982; mirt's ``empirical_rxx``) is read off the EAP
estimates themselves: the estimates' variance over that variance plus the mean posterior
variance,

.. math::

    \\hat\\rho = \\frac{\\operatorname{var}(\\hat\\theta)}
                      {\\operatorname{var}(\\hat\\theta) + \\overline{\\mathrm{PSD}^2}},

which for EAP estimates is the squared correlation of the estimate with the true θ that a
simulation would show (the EAP's variance plus its mean posterior variance is the prior's
variance), so it is the figure to quote for an adaptive test as it ran.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import InvalidParameterError

__all__ = ["empirical_reliability", "marginal_reliability"]

Array = NDArray[np.float64]


def marginal_reliability(bank: ItemBank, items: ArrayLike | None = None, *, n_points: int = 121,
                         bounds: tuple[float, float] = (-6.0, 6.0)) -> float:
    """Marginal reliability of a unidimensional bank's items (see the module notes).

    Parameters
    ----------
    bank : ItemBank
        One dimension; its latent distribution is the population :math:`g`.
    items : array_like of int, optional
        Positions of the items a person answers (default: every item).
    n_points, bounds : int, (float, float)
        The equispaced grid the integral is summed on, weighted by the normal density.

    Examples
    --------
    Twenty Rasch items at θ = 0 hold information ≈ 5 in the middle:

    >>> from qabilet.engine.models import TwoPL
    >>> bank = ItemBank([TwoPL(np.ones(20), np.zeros(20))])
    >>> round(marginal_reliability(bank), 3)
    0.791
    """
    if bank.n_dims != 1:
        raise InvalidParameterError(f"bank: expected one dimension; got {bank.n_dims}")
    mean, var = float(bank.latent.mean[0]), float(bank.latent.cov[0, 0])
    grid = np.linspace(*bounds, n_points)
    info = bank.information(grid)
    idx = np.arange(bank.n_items) if items is None else np.asarray(items, dtype=np.intp)
    total = info[:, idx].sum(axis=1)
    weight = np.exp(-0.5 * (grid - mean) ** 2 / var)
    weight /= weight.sum()
    with np.errstate(divide="ignore"):
        error = float(np.sum(weight / total))
    return var / (var + error) if np.isfinite(error) else 0.0


def empirical_reliability(theta: ArrayLike, sd: ArrayLike) -> float:
    """Empirical reliability of EAP estimates ``theta`` with posterior SDs ``sd`` (module notes).

    NaN for fewer than two estimates.

    Examples
    --------
    >>> round(empirical_reliability([-1.0, 0.0, 1.0], [0.5, 0.5, 0.5]), 3)
    0.8
    """
    t, s = np.asarray(theta, dtype=np.float64), np.asarray(sd, dtype=np.float64)
    if t.shape != s.shape or t.ndim != 1:
        raise InvalidParameterError(f"theta, sd: expected two vectors of one length; got shapes "
                                    f"{t.shape} and {s.shape}")
    if t.size < 2:
        return float("nan")
    v = float(np.var(t, ddof=1))
    return v / (v + float(np.mean(s**2)))
