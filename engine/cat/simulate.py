"""The simulation harness: many simulated candidates through the same rules, in lock-step.

Every step handles all simulees still testing at once: one estimate update, one score matrix
(simulees × items), one choice per simulee, one answer each looked up in the full response
matrix. The loop runs over test positions (at most ``max_items``), never over simulees.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qabilet.engine.bank import ItemBank
from qabilet.engine.cat.blueprint import Blueprint
from qabilet.engine.cat.estimation import snapshot
from qabilet.engine.cat.policy import next_items
from qabilet.engine.cat.snapshot import CatContext
from qabilet.engine.cat.stopping import REASON_DTYPE, bands
from qabilet.engine.classification import Classification, observed_accuracy, rudner
from qabilet.engine.exceptions import InvalidParameterError, InvalidResponseError
from qabilet.engine.likelihood import check_responses
from qabilet.engine.models._base import Array
from qabilet.engine.profile import band_decision
from qabilet.engine.simulation import as_rng, simulate_responses

__all__ = ["CatSimulation", "CatSummary", "draw_true_theta", "simulate_cat"]


@dataclass(frozen=True, slots=True)
class CatSummary:
    """Summary of a simulation; the names are stable (the CLI writes them as JSON).

    ``bias``, ``rmse`` and ``correlation`` compare the final estimates with the true θ (NaN
    when the true values are unknown); ``overlap`` is the mean share of items two simulees
    have in common, :math:`\\sum_i n_i(n_i - 1) / (N(N-1)\\bar L)` (Chen, Ankenmann & Spray 2003).
    """

    n: int
    mean_length: float
    sd_length: float
    min_length: int
    max_length: int
    bias: float
    rmse: float
    correlation: float
    mean_se: float
    max_exposure: float
    overlap: float
    elapsed_s: float

    def to_dict(self) -> dict[str, float | int | None]:
        """The summary as a JSON-ready mapping (NaN as None)."""
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                for k, v in ((f, getattr(self, f)) for f in self.__slots__)}


@dataclass(frozen=True, slots=True, eq=False)
class CatSimulation:
    """The outcome of :func:`simulate_cat`.

    Attributes
    ----------
    item_ids : tuple of str
        The bank's item ids (the columns of ``exposure``).
    true_theta : ndarray, shape (n,) or (n, n_dims), or None
    theta, se : ndarray, shape (n,) or (n, n_dims)
        Final estimates and standard errors (per factor for several).
    length : ndarray of int, shape (n,)
    items : ndarray of int, shape (n, max_items)
        Bank indices in the order given, −1 after the end of each test.
    stop_reason : ndarray of str, shape (n,)
    band : ndarray of int, shape (n,) or (n, n_dims)
        How many of the blueprint's cut scores each simulee was classified above, per factor
        for several (0 without cut scores); see :func:`qabilet.engine.cat.stopping.bands`.
    elapsed_s : float
        Wall time of the adaptive loop.
    cut_scores : tuple of float
        The blueprint's cut scores (the bands' edges).
    path : ndarray, shape (n, max_items) or (n, max_items, n_dims), optional
        The estimate each item was chosen at (NaN after the end of each test): ``path[j, k]``
        is simulee ``j``'s estimate after ``k`` answers.
    path_se : ndarray, like ``path``, optional
        Its standard error.
    """

    item_ids: tuple[str, ...]
    true_theta: Array | None
    theta: Array
    se: Array
    length: NDArray[np.int64]
    items: NDArray[np.intp]
    stop_reason: NDArray[np.str_]
    band: NDArray[np.intp]
    elapsed_s: float
    cut_scores: tuple[float, ...] = ()
    path: Array | None = None
    path_se: Array | None = None

    @property
    def n(self) -> int:
        """Number of simulees."""
        return int(self.theta.shape[0])

    @property
    def exposure(self) -> Array:
        """Share of simulees given each item, shape (n_items,)."""
        counts = np.bincount(self.items[self.items >= 0], minlength=len(self.item_ids))
        return counts / max(self.n, 1)

    def summary(self) -> CatSummary:
        """The headline figures."""
        n = self.n
        lengths = self.length.astype(np.float64)
        nan = float("nan")
        if self.true_theta is not None and n:
            # several factors: bias, RMSE and correlation averaged over the factors
            est = self.theta.reshape(n, -1)
            true = self.true_theta.reshape(n, -1)
            err = est - true
            bias, rmse = float(err.mean()), float(np.sqrt(np.mean(err * err, axis=0)).mean())
            corr = (float(np.mean([np.corrcoef(est[:, k], true[:, k])[0, 1]
                                   for k in range(est.shape[1])]))
                    if n > 1 and est.std(axis=0).min() > 0 and true.std(axis=0).min() > 0
                    else nan)
        else:
            bias = rmse = corr = nan
        counts = np.bincount(self.items[self.items >= 0], minlength=len(self.item_ids))
        mean_len = float(lengths.mean()) if n else nan
        overlap = (float((counts * (counts - 1.0)).sum() / (n * (n - 1) * mean_len))
                   if n > 1 and mean_len > 0 else nan)
        return CatSummary(
            n=n, mean_length=mean_len, sd_length=float(lengths.std(ddof=1)) if n > 1 else nan,
            min_length=int(self.length.min()) if n else 0,
            max_length=int(self.length.max()) if n else 0,
            bias=bias, rmse=rmse, correlation=corr,
            mean_se=float(self.se.mean()) if n else nan,
            max_exposure=float(counts.max() / n) if n else nan, overlap=overlap,
            elapsed_s=self.elapsed_s)

    def conditional(self, width: float = 0.5) -> list[dict[str, Any]]:
        """Results by true-θ bin ``[k·width, (k+1)·width)``: n, bias, RMSE, mean length and SE.

        One factor only (an empty list for several, and without true values).
        """
        if self.true_theta is None or self.true_theta.ndim > 1:
            return []
        if not width > 0:
            raise InvalidParameterError(f"width: expected a positive bin width; got {width}")
        k = np.floor(self.true_theta / width).astype(np.int64)
        out = []
        err = self.theta - self.true_theta
        for b in np.unique(k):  # one entry per occupied bin: a handful
            m = k == b
            out.append({"theta_low": float(b * width), "theta_high": float((b + 1) * width),
                        "n": int(m.sum()), "bias": float(err[m].mean()),
                        "rmse": float(np.sqrt(np.mean(err[m] ** 2))),
                        "mean_length": float(self.length[m].mean()),
                        "mean_se": float(self.se[m].mean())})
        return out

    def classification(self, min_confidence: float | None = None,
                       max_sd: float = np.inf) -> dict[str, Classification]:
        """How accurately and consistently the bands were stated (one factor, with cut scores).

        ``"observed"``: the share of simulees whose band is their true θ's
        (:func:`~qabilet.engine.classification.observed_accuracy`, with true values);
        ``"rudner"``: the expected accuracy and consistency from the final estimates and their
        standard errors alone (:func:`~qabilet.engine.classification.rudner`), the figure an
        operational test can report. Empty without cut scores or with several factors.

        With ``min_confidence`` and two cut scores, also the bands a profile would **state**:
        the most probable band under :math:`N(\\hat\\theta, s^2)` when its probability reaches
        ``min_confidence`` and :math:`s \\le` ``max_sd``, withheld otherwise
        (:func:`qabilet.engine.profile.band_decision`, the rule of the profile's policy):
        ``"stated"`` (Rudner's expected accuracy over the stated bands; its ``stated`` field is
        the share stated) and, with true values, ``"stated_observed"``.
        """
        if not self.cut_scores or self.theta.ndim > 1 or self.n == 0:
            return {}
        out = {"rudner": rudner(self.theta, self.se, self.cut_scores, stated_band=self.band)}
        if self.true_theta is not None:
            out["observed"] = observed_accuracy(self.true_theta, self.band, self.cut_scores)
        if min_confidence is not None and len(self.cut_scores) == 2:
            lo, hi = self.cut_scores
            decided = band_decision(self.theta, self.se, (lo, hi), min_confidence=min_confidence,
                                    max_sd=max_sd)
            stated = np.where(decided.withheld == "", decided.probabilities.argmax(axis=-1), -1)
            if (stated >= 0).any():
                out["stated"] = rudner(self.theta, self.se, self.cut_scores, stated_band=stated)
                if self.true_theta is not None:
                    out["stated_observed"] = observed_accuracy(self.true_theta, stated,
                                                               self.cut_scores)
        return out

    def to_dict(self, person_ids: list[str] | None = None) -> dict[str, Any]:
        """Summary, conditional results, exposure per item and per-simulee records (JSON-ready)."""
        ids = person_ids or [str(j + 1) for j in range(self.n)]
        names = np.asarray(self.item_ids, dtype=object)
        simulees = []
        for j in range(self.n):  # output formatting, not a hot path
            given = self.items[j, : self.length[j]]
            simulees.append({
                "person_id": ids[j],
                "true_theta": None if self.true_theta is None else _number(self.true_theta[j]),
                "theta": _number(self.theta[j]), "se": _number(self.se[j]),
                "length": int(self.length[j]), "stop_reason": str(self.stop_reason[j]),
                "band": _number(self.band[j], int),
                "items": names[given].tolist(),
            })
        return {"summary": self.summary().to_dict(), "conditional": self.conditional(),
                "classification": {k: v.to_dict() for k, v in self.classification().items()},
                "exposure": dict(zip(self.item_ids, self.exposure.tolist())),
                "simulees": simulees}


def draw_true_theta(bank: ItemBank, n: int, gen: np.random.Generator) -> Array:
    """``n`` true values from the bank's latent distribution.

    Several dimensions are drawn through the covariance's Cholesky factor, which is unique, so
    a seed gives the same simulees on every machine (numpy's default SVD factor is not: its
    signs depend on the LAPACK build).
    """
    latent = bank.latent
    if bank.n_dims == 1:
        return gen.normal(latent.mean[0], np.sqrt(latent.cov[0, 0]), n)
    return gen.multivariate_normal(latent.mean, latent.cov, n, method="cholesky")


def _number(value: Array, kind: type = float) -> Any:
    """A JSON number, or a list of them for several factors."""
    return kind(value) if np.ndim(value) == 0 else [kind(v) for v in value]


def simulate_cat(
    bank: ItemBank,
    blueprint: Blueprint | None = None,
    *,
    theta: ArrayLike | None = None,
    responses: ArrayLike | None = None,
    n: int | None = None,
    rng: np.random.Generator | int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CatSimulation:
    """Run adaptive tests for many simulees at once.

    Parameters
    ----------
    bank : ItemBank
    blueprint : Blueprint, optional
        Defaults: start at θ = 0, maximum information, EAP with the bank's prior, stop at
        SE < 0.3 or 30 items, no exposure control.
    theta : array_like, shape (n,), optional
        True trait values. Without ``responses``, answers are drawn from the model at these.
    responses : array_like of int, shape (n, n_items), optional
        A full response matrix (every simulee's answer to every item), so that engines can be
        compared on identical answers.
    n : int, optional
        Number of simulees drawn from the bank's latent distribution when neither ``theta``
        nor ``responses`` is given.
    rng : numpy.random.Generator or int or None
        For drawn traits and answers, and for the rules' random choices.
    progress : callable, optional
        Called as ``progress(step, max_items)`` after each test position.

    Returns
    -------
    CatSimulation
    """
    blueprint = blueprint if blueprint is not None else Blueprint()
    context = CatContext.build(bank, blueprint)
    gen = as_rng(rng)
    d = bank.n_dims
    true = None
    if theta is not None:
        true = np.asarray(theta, dtype=np.float64)
        true = true.reshape(-1) if d == 1 else true
        if true.ndim != (1 if d == 1 else 2) or (d > 1 and true.shape[1] != d):
            raise InvalidParameterError(
                f"theta: expected shape (n,) for one factor or (n, {d}) for {d}; got {true.shape}"
            )
        if not np.all(np.isfinite(true)):
            raise InvalidParameterError("theta: expected finite true values")
    if responses is not None:
        resp = check_responses(bank, responses, None)
        if not resp.observed.all():
            raise InvalidResponseError(
                "responses: expected a full matrix (an answer to every item for every simulee)"
            )
        x = resp.x
        if true is not None and true.shape[0] != x.shape[0]:
            raise InvalidParameterError(
                f"theta: expected {x.shape[0]} values (one per row of responses); got "
                f"{true.shape[0]}"
            )
    else:
        if true is None:
            if n is None or int(n) < 1:
                raise InvalidParameterError("n: give theta, responses, or n >= 1 simulees")
            true = draw_true_theta(bank, int(n), gen)
        x = simulate_responses(bank, true, gen).astype(np.intp)
    n_sim, n_items = x.shape
    max_items = blueprint.max_items

    log_lik = np.zeros((n_sim, context.grid.n_quad))
    administered = np.zeros((n_sim, n_items), dtype=bool)
    order = np.full((n_sim, max_items), -1, dtype=np.intp)
    reason = np.full(n_sim, "", dtype=REASON_DTYPE)
    theta_hat = np.empty((n_sim,) if d == 1 else (n_sim, d))
    se = np.empty_like(theta_hat)
    band = np.zeros((n_sim,) if d == 1 else (n_sim, d), dtype=np.intp)
    path = np.full((n_sim, max_items) if d == 1 else (n_sim, max_items, d), np.nan)
    path_se = np.full_like(path, np.nan)
    active = np.arange(n_sim)
    needs_x = context.needs_responses
    lottery = gen.random((n_sim, n_items)) if blueprint.exposure.startswith("sh:") else None
    t0 = time.perf_counter()
    for step in range(max_items + 1):  # test positions, each for every simulee at once
        given = administered[active]
        snap = snapshot(context, log_lik[active], x[active] if needs_x else None, given, given,
                        None if lottery is None else lottery[active])
        reasons, items = next_items(context, snap, gen)
        done = reasons != ""
        stopped = active[done]
        reason[stopped] = reasons[done]
        theta_hat[stopped] = snap.theta[done]
        se[stopped] = snap.se[done]
        if blueprint.cut_scores and done.any():
            band[stopped] = bands(context, snap.rows(np.flatnonzero(done)))
        active, items = active[~done], items[~done]
        if active.size == 0:
            break
        answers = x[active, items]
        log_lik[active] += context.answer_log_lik(items, answers)
        administered[active, items] = True
        order[active, step] = items
        path[active, step] = snap.theta[~done]
        path_se[active, step] = snap.se[~done]
        if progress is not None:
            progress(step + 1, max_items)
    elapsed = time.perf_counter() - t0
    return CatSimulation(item_ids=tuple(bank.item_ids), true_theta=true, theta=theta_hat, se=se,
                         length=administered.sum(axis=1), items=order, stop_reason=reason,
                         band=band, elapsed_s=elapsed, cut_scores=tuple(blueprint.cut_scores),
                         path=path, path_se=path_se)
