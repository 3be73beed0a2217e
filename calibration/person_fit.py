"""Person fit: the standardised log-likelihood lz and Snijders' (2001) corrected lz*.

For a person with observed items :math:`i` and category indicators :math:`\\delta_{ik}`, with
:math:`w_{ik} = \\log P_{ik}(\\theta)` and :math:`r_{ik} = \\partial_\\theta \\log P_{ik}(\\theta)`,

.. math::

    l_0 = \\sum_i\\sum_k \\delta_{ik} w_{ik}, \\qquad
    l_z = \\frac{l_0 - \\sum_{ik} P_{ik} w_{ik}}
               {\\sqrt{\\sum_i \\big[\\sum_k P_{ik} w_{ik}^2 - (\\sum_k P_{ik} w_{ik})^2\\big]}}

(Drasgow, Levine & Williams 1985; mirt's ``Zh``). With θ replaced by its estimate the variance
of :math:`l_z` is below 1 and the test conservative. Snijders (2001) corrects the weights for an
estimate solving :math:`\\sum_{ik} (\\delta_{ik} - P_{ik}) r_{ik} + r_0(\\theta) = 0` — ML
(:math:`r_0 = 0`), Warm's WLE (:math:`r_0 = J / 2I`) and MAP (:math:`r_0 = -(\\theta-\\mu)/\\sigma^2`):

.. math::

    c(\\theta) = \\frac{\\sum_{ik} P_{ik} r_{ik} w_{ik}}{\\sum_{ik} P_{ik} r_{ik}^2}, \\qquad
    \\tilde w_{ik} = w_{ik} - c(\\theta)\\,r_{ik},

    l_z^* = \\frac{\\sum_{ik} (\\delta_{ik} - P_{ik})\\,\\tilde w_{ik}}
                  {\\sqrt{\\sum_i \\big[\\sum_k P_{ik}\\tilde w_{ik}^2 - (\\sum_k P_{ik}\\tilde
                  w_{ik})^2\\big]}}\\Bigg|_{\\theta = \\hat\\theta},

which is asymptotically N(0, 1) for a person who fits the model. At the estimate the numerator
equals Snijders' :math:`W(\\hat\\theta) + c(\\hat\\theta)\\,r_0(\\hat\\theta)`. For dichotomous
items this is Snijders' lz* (:math:`w_i = \\operatorname{logit} P_i`, :math:`r_i = P'_i /
(P_iQ_i)`); for polytomous items it is the same construction on the category indicators, the
lz*_p of Sinharay (2016). Only observed items enter (missing responses are skipped). Small
values signal misfit (e.g. lz* < −1.645 at the 5% level).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import norm

from qabilet.calibration._diagnostics import Report, fmt, read_inputs, text_table
from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.likelihood import Responses
from qabilet.engine.scoring import AbilityEstimate, score

__all__ = ["PersonFit", "person_fit"]

Array = NDArray[np.float64]

_METHODS = ("ml", "wle", "map")
_BLOCK_CELLS = 1_000_000  # persons × items × categories per block of work arrays


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class PersonFit(Report):
    """Person-fit statistics of every person (see :func:`person_fit`).

    Attributes
    ----------
    lz : ndarray, shape (n_persons,)
        Standardised log-likelihood at the estimate (Drasgow et al. 1985); NaN where lz* is.
    lz_star : ndarray, shape (n_persons,)
        Snijders' corrected statistic; NaN where the estimate does not solve its equation
        (``status`` other than ``"ok"``: no response, an extreme pattern under ML, an estimate
        at the search bound or not converged) or the test has no information.
    p_value : ndarray, shape (n_persons,)
        Lower tail :math:`\\Phi(l_z^*)`.
    theta : ndarray, shape (n_persons,)
        The estimates the statistics were computed at.
    status : ndarray of str, shape (n_persons,)
        The scoring status (:data:`qabilet.engine.scoring.STATUS_CODES`).
    n_observed : ndarray of int, shape (n_persons,)
    method : str
        ``"ml"``, ``"wle"`` or ``"map"``.
    alpha : float
        Level at which ``flagged`` is set.
    """

    lz: Array
    lz_star: Array
    p_value: Array
    theta: Array
    status: NDArray[np.str_]
    n_observed: NDArray[np.int64]
    method: str
    alpha: float

    @property
    def n_persons(self) -> int:
        """Number of persons."""
        return int(self.lz.shape[0])

    @property
    def flagged(self) -> NDArray[np.bool_]:
        """Persons with :math:`\\Phi(l_z^*) < \\alpha` (aberrant response patterns)."""
        return np.asarray(self.p_value < self.alpha)

    def summary(self) -> str:
        """Distribution of lz and lz* and the number of persons flagged."""
        lines = [
            f"Person fit (lz*, Snijders 2001) at {self.method.upper()} estimates: "
            f"{self.n_persons} persons"
        ]
        cols: list[tuple[str, list[str]]] = [("statistic", ["lz", "lz*"])]
        for name, fn in (("mean", np.mean), ("sd", np.std), ("min", np.min), ("max", np.max)):
            cols.append((name, [fmt(_finite(fn, v)) for v in (self.lz, self.lz_star)]))
        lines.append(text_table(cols))
        undefined = int(np.isnan(self.lz_star).sum())
        lines.append(
            f"flagged (Φ(lz*) < {self.alpha:g}): {int(self.flagged.sum())}; "
            f"undefined: {undefined}"
        )
        return "\n".join(lines)

    def to_frame(self) -> Any:
        """One row per person (pandas is imported here only)."""
        import pandas as pd

        return pd.DataFrame({
            "theta": self.theta, "lz": self.lz, "lz_star": self.lz_star, "p": self.p_value,
            "n_observed": self.n_observed, "status": self.status,
        })

    def __repr__(self) -> str:
        return (
            f"PersonFit(method={self.method!r}, n_persons={self.n_persons}, "
            f"flagged={int(self.flagged.sum())})"
        )


def _finite(fn: Any, values: Array) -> float:
    v = values[np.isfinite(values)]
    return float(fn(v)) if v.size else float("nan")


def _statistics(bank: ItemBank, resp: Responses, theta: Array) -> tuple[Array, Array]:
    """The statistics lz and lz* of a block of persons at their estimates ``theta``."""
    log_p = bank.log_prob(theta)  # (n, I, K), −inf on padding
    d1 = bank.dlog_prob(theta)
    valid = (np.arange(bank.max_categories)[None, :] < bank.n_categories[:, None])[None]
    use = valid & resp.observed[:, :, None]
    w = np.where(use, log_p, 0.0)
    r = np.where(use, d1, 0.0)
    p = np.where(use, np.exp(np.where(use, log_p, 0.0)), 0.0)
    onehot = (np.arange(bank.max_categories)[None, None, :] == resp.x[:, :, None]) & use
    pw = p * w
    mean_w = pw.sum(axis=2)  # Σ_k P w, per item
    l0 = np.where(onehot, w, 0.0).sum(axis=(1, 2))
    var = (pw * w).sum(axis=2) - mean_w**2
    with np.errstate(invalid="ignore", divide="ignore"):
        lz = (l0 - mean_w.sum(axis=1)) / np.sqrt(var.sum(axis=1))
        c = (pw * r).sum(axis=(1, 2)) / (p * r * r).sum(axis=(1, 2))
        wt = w - c[:, None, None] * r
        pwt = p * wt
        mean_wt = pwt.sum(axis=2)
        num = np.where(onehot, wt, 0.0).sum(axis=(1, 2)) - mean_wt.sum(axis=1)
        var_t = ((pwt * wt).sum(axis=2) - mean_wt**2).sum(axis=1)
        lz_star = num / np.sqrt(var_t)
    tiny = var_t <= 1e-12 * np.maximum((pwt * wt).sum(axis=(1, 2)), 1e-300)
    lz_star = np.where(tiny, np.nan, lz_star)
    return lz, lz_star


def person_fit(
    items: Any,
    responses: Any,
    observed: ArrayLike | None = None,
    *,
    method: str = "ml",
    theta: AbilityEstimate | None = None,
    alpha: float = 0.05,
    **options: Any,
) -> PersonFit:
    """Person fit: lz and Snijders' lz* for every person (see the module docstring).

    Parameters
    ----------
    items : ItemBank, item model or CalibrationResult
        The calibrated (unidimensional) items.
    responses : array_like or DataFrame, shape (n_persons, n_items)
    observed : array_like of bool, optional
        Missing items are left out of a person's statistic.
    method : {"ml", "wle", "map"}
        The estimator of θ (the correction is derived for each of these).
    theta : AbilityEstimate, optional
        Estimates already computed with one of those methods (``method`` is then taken from
        it); scored here otherwise.
    alpha : float
        Level of the one-sided test for ``PersonFit.flagged``.
    **options
        Passed to the scoring function (``bounds``, ``tol``, ``max_iter``, ``prior``).

    Returns
    -------
    PersonFit
        Persons whose estimate is not a solution of its equation (ML has none for an
        all-lowest or all-highest pattern) get NaN; their ``status`` says why.

    Examples
    --------
    >>> from qabilet.engine.models import TwoPL
    >>> items = TwoPL(np.full(10, 1.5), np.linspace(-2, 2, 10))
    >>> guttman = [[1, 1, 1, 1, 1, 0, 0, 0, 0, 0]]  # easy items right, hard ones wrong
    >>> reversed_ = [[0, 0, 0, 0, 0, 1, 1, 1, 1, 1]]
    >>> fit = person_fit(items, guttman + reversed_)
    >>> bool(fit.lz_star[0] > 0 > -3 > fit.lz_star[1])
    True
    """
    data = read_inputs(items, responses, observed, "person_fit")
    if not 0 < alpha < 1:
        raise InvalidParameterError(f"alpha: expected a level in (0, 1); got {alpha}")
    bank, resp = data.bank, data.resp
    n = resp.x.shape[0]
    if theta is None:
        method = str(method).lower()
        if method not in _METHODS:
            raise InvalidParameterError(
                f"method: expected one of {', '.join(_METHODS)} (estimators the lz* correction "
                f"covers); got {method!r}"
            )
        est = score(bank, resp.x, resp.observed, method=method, **options)
    else:
        if not isinstance(theta, AbilityEstimate):
            raise InvalidParameterError(
                f"theta: expected an AbilityEstimate; got {type(theta).__name__}"
            )
        if theta.method not in _METHODS:
            raise InvalidParameterError(
                f"theta: lz* is derived for {', '.join(_METHODS)} estimates; got "
                f"{theta.method!r} (score with one of those)"
            )
        if theta.theta.shape != (n,):
            raise InvalidParameterError(
                f"theta: expected {n} unidimensional estimates; got shape {theta.theta.shape}"
            )
        est, method = theta, theta.method
    th = np.asarray(est.theta, dtype=np.float64)
    ok = np.isfinite(th) & (est.status == "ok")  # elsewhere the estimating equation is unsolved
    lz = np.full(n, np.nan)
    lz_star = np.full(n, np.nan)
    rows = np.flatnonzero(ok)
    block = max(1, _BLOCK_CELLS // max(bank.n_items * bank.max_categories, 1))
    for start in range(0, rows.size, block):  # blocks bound memory, not a loop per person
        sel = rows[start : start + block]
        part = Responses(resp.x[sel], resp.observed[sel])
        lz[sel], lz_star[sel] = _statistics(bank, part, th[sel])
    return PersonFit(
        lz=lz,
        lz_star=lz_star,
        p_value=norm.cdf(lz_star),
        theta=th,
        status=np.asarray(est.status),
        n_observed=resp.observed.sum(axis=1).astype(np.int64),
        method=method,
        alpha=float(alpha),
    )
