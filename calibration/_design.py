"""Which parameters a calibration estimates for each model, and where estimation starts.

Parameters are the columns of :meth:`qabilet.engine.models.ItemModel.param_vector` (slope-intercept
form). A *design* maps every free entry to an index of the estimated vector φ; entries that share
an index are tied (the common slope of ``1pl``); −1 marks a fixed entry. Asymptotes (``g``,
``u``) are estimated on the logit scale, so every step stays inside (0, 1). Which entries are
free, tied or on the logit scale is read from each model's declaration
(:attr:`qabilet.engine.models.ItemModel.PARAMETERS`), not listed here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import logit

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.models import (
    FourPL,
    GeneralizedPartialCredit,
    GradedResponse,
    ItemModel,
    NominalResponse,
    RatingScale,
    get_model,
    model_names,
)
from qabilet.engine.models._base import Codes
from qabilet.engine.models._declaration import ModelParameters, split_name


def calibrated_models() -> tuple[str, ...]:
    """The registered models this calibration estimates: those declaring estimated parameters."""
    return tuple(name for name in model_names()
                 if any(c.is_estimated for c in get_model(name).PARAMETERS.columns))


#: models this calibration estimates (those registered when it was imported)
SUPPORTED = calibrated_models()

#: models whose latent variance is estimated (the slopes being fixed), as in mirt
VARIANCE_FREE = frozenset(name for name in SUPPORTED if get_model(name).PARAMETERS.variance_free)


@dataclass(frozen=True, slots=True)
class BlockDesign:
    """Free entries of one model block: ``index[i, p]`` is φ's index or −1 (fixed)."""

    index: NDArray[np.intp]  # (n_items, n_params)
    tied: bool  # some φ entries serve several items
    logit_cols: NDArray[np.bool_]  # (n_params,) estimated on the logit scale (asymptotes)

    @property
    def free(self) -> NDArray[np.bool_]:
        """Mask of estimated entries."""
        return self.index >= 0


def declaration(name: str) -> ModelParameters:
    """The declared parameters of a model this calibration estimates.

    Raises
    ------
    InvalidParameterError
        For a model calibration does not estimate, naming those it does.
    """
    supported = calibrated_models()  # a model registered later (a notebook's) included
    if name not in supported:
        raise InvalidParameterError(
            f"calibration of {name!r} is not available; expected one of {', '.join(supported)}"
        )
    return get_model(name).PARAMETERS


def free_mask(model: ItemModel) -> NDArray[np.bool_]:
    """Estimated entries of ``model.param_vector()``, as its declaration says.

    A column declared ``free`` is estimated for every item that has the entry (not padding),
    except the categories the identification fixes; ``fixed`` and ``tied`` columns are not
    (tied ones get their shared index in :func:`block_design`).
    """
    declared = declaration(model.name)
    present = ~np.isnan(model.param_vector())
    last = model.n_categories - 1
    mask = np.zeros(present.shape, dtype=bool)
    for j, name in enumerate(model.param_names()):  # parameter columns (a handful)
        column = declared.column(name)
        if column.estimated != "free":
            continue
        keep = present[:, j].copy()
        _, k = split_name(name)
        if "first" in column.fixed_categories:
            keep &= k != 0
        if "last" in column.fixed_categories:
            keep &= k != last
        mask[:, j] = keep
    return mask


def block_design(model: ItemModel, offset: int, loadings: NDArray[np.bool_] | None = None
                 ) -> BlockDesign:
    """Number the free entries of ``model`` from ``offset``, then one index per tied column.

    ``loadings`` (n_items, n_dims) restricts the slopes to the declared factors.
    """
    declared = declaration(model.name)
    mask = free_mask(model)
    present = ~np.isnan(model.param_vector())
    if loadings is not None:
        mask[:, : loadings.shape[1]] &= loadings
        present[:, : loadings.shape[1]] &= loadings
    index = np.full(mask.shape, -1, dtype=np.intp)
    n = int(mask.sum())
    index[mask] = offset + np.arange(n)
    names = model.param_names()
    tied = False
    for j, name in enumerate(names):  # one parameter shared by every item of the block
        if declared.column(name).estimated == "tied":
            index[present[:, j], j] = offset + n
            n += 1
            tied = True
    logit_cols = np.array([declared.column(name).logit for name in names])
    return BlockDesign(index=index, tied=tied, logit_cols=logit_cols)


def trait_proxy(x: Codes, observed: NDArray[np.bool_], n_cat: NDArray[np.int64],
                ordered: NDArray[np.bool_]) -> NDArray[np.float64] | None:
    """Each person's mean score on the ordered items (codes / (K−1)), standardised.

    None when there are no ordered items or the proxy has no spread.
    """
    if not ordered.any():
        return None
    use = observed[:, ordered]
    scaled = x[:, ordered] / (n_cat[ordered] - 1)[None, :]
    n = use.sum(axis=1)
    t = np.where(n > 0, (scaled * use).sum(axis=1) / np.maximum(n, 1), np.nan)
    t = np.where(np.isnan(t), np.nanmean(t), t)
    sd = float(np.std(t))
    return None if not sd > 0 else (t - t.mean()) / sd


_REST_ROWS = 4096  # persons per block in rest_signs


def rest_signs(x: Codes, observed: NDArray[np.bool_], n_cat: NDArray[np.int64]
               ) -> NDArray[np.float64]:
    """The sign of each item's item-rest correlation (+1 where it is 0 or undefined).

    The rest score of item :math:`i` is the person's sum of the other items' scaled codes
    :math:`x_j / (K_j - 1)` (missing responses count 0); the correlation is Pearson's over the
    persons who answered item :math:`i`. A reverse-keyed item correlates negatively with the rest
    of a scale whose items mostly point the other way, so its slope starts negative and EM need
    not cross the ridge :math:`a = 0` to reach it (mirt starts every slope positive).

    Examples
    --------
    >>> x = np.array([[0, 1, 1], [1, 0, 0], [1, 0, 0], [0, 1, 1]])
    >>> rest_signs(x, np.ones_like(x, dtype=bool), np.array([2, 2, 2])).tolist()
    [-1.0, 1.0, 1.0]
    """
    # From sums over blocks of persons (no persons × items copies of a large sparse matrix):
    # with s = 0 where unobserved and T the person's total, Σ_obs s·r = Σ s(T − s) and
    # Σ_obs r = Σ o·T − Σ s, so cov = Σ s·r − m_r Σ s − m_x Σ r + n m_x m_r.
    width = np.maximum(n_cat - 1, 1).astype(np.float64)
    sums = np.zeros((5, x.shape[1]))  # Σ s, Σ s², Σ s·T, Σ o·T, n
    for start in range(0, x.shape[0], _REST_ROWS):
        rows = slice(start, start + _REST_ROWS)
        o = observed[rows]
        s = np.where(o, x[rows] / width, 0.0)
        total = s.sum(axis=1)
        sums += [s.sum(axis=0), (s * s).sum(axis=0), total @ s, total @ o, o.sum(axis=0)]
    sum_s, sum_ss, sum_st, sum_ot, n = sums
    mean_x, sum_r = sum_s / n.clip(min=1), sum_ot - sum_s
    mean_r = sum_r / n.clip(min=1)
    cov = (sum_st - sum_ss) - mean_r * sum_s - mean_x * sum_r + n * mean_x * mean_r
    return np.where(cov < -1e-12 * np.maximum(1.0, np.abs(sum_st)), -1.0, 1.0)


def start_model(name: str, x: Codes, observed: NDArray[np.bool_], n_cat: NDArray[np.int64],
                n_dims: int = 1, proxy: NDArray[np.float64] | None = None,
                signs: NDArray[np.float64] | None = None) -> ItemModel:
    """Starting values from observed proportions (slopes ±1, intercepts from logits).

    Parameters
    ----------
    name : str
        Model name.
    x, observed : ndarray, shape (n_persons, n_items)
        Recoded responses 0..K−1 and the mask.
    n_cat : ndarray of int, shape (n_items,)
        Categories per item.
    proxy : ndarray, shape (n_persons,), optional
        A standardised trait proxy (:func:`trait_proxy`). Nominal items then start with
        category slopes proportional to the proxy's mean in each category,
        :math:`\beta_k = 1.2\\,(\bar t_k - \bar t_0)`, written in mirt's identification
        (:math:`a_1 = \beta_{K-1}/(K-1)`, :math:`ak_k = \beta_k / a_1`) — a negative slope when
        the last category is the one least chosen by high scorers. Starting every item at
        :math:`ak = 0 … K-1` instead leaves items whose categories are not in that order on the
        ridge at :math:`a_1 = 0`, where EM stalls.
    signs : ndarray, shape (n_items,), optional
        The signs free slopes start with (:func:`rest_signs`; default +1).
    """
    n_items = x.shape[1]
    kmax = int(n_cat.max())
    counts = np.stack([((x == k) & observed).sum(axis=0) for k in range(kmax)], axis=1) + 0.5
    counts = np.where(np.arange(kmax)[None, :] < n_cat[:, None], counts, 0.0)
    prop = counts / counts.sum(axis=1, keepdims=True)
    cls = get_model(name)
    declared = declaration(cls.name)
    # slopes start at ±1; a fixed or tied slope is one number per item
    a = (np.ones((n_items, n_dims)) if n_dims > 1 else np.ones(n_items))
    signed = a if signs is None or n_dims > 1 else signs.astype(np.float64)
    slopes = signed if declared.column("a1").estimated == "free" else np.ones(n_items)
    if issubclass(cls, FourPL):  # asymptotes start inside (0, 1) where they are estimated
        d = logit(np.clip(prop[:, 1], 0.02, 0.98))
        lower = 0.1 if declared.column("g").is_estimated else 0.0
        upper = 0.95 if declared.column("u").is_estimated else 1.0
        return cls.from_slope_intercept(slopes, d, c=np.full(n_items, lower),
                                        u=np.full(n_items, upper))
    if issubclass(cls, GradedResponse):
        upper_p = np.clip(1.0 - np.cumsum(prop, axis=1)[:, :-1], 0.01, 0.99)  # P(X ≥ k), k ≥ 1
        d = [logit(upper_p[i, : n_cat[i] - 1]) for i in range(n_items)]
        d = [np.maximum.accumulate(v[::-1])[::-1] - 1e-3 * np.arange(v.size) for v in d]
        return cls.from_slope_intercept(slopes, d)
    # adjacent-category logits for the divide-by-total models
    with np.errstate(divide="ignore"):  # padded categories have count 0 (never used)
        step = np.log(counts[:, 1:] / np.where(counts[:, :-1] > 0, counts[:, :-1], 1.0))
    step = np.where(np.isfinite(step), step, 0.0)
    d_all = np.concatenate([np.zeros((n_items, 1)), np.cumsum(step, axis=1)], axis=1)
    d = [d_all[i, : n_cat[i]] for i in range(n_items)]
    if issubclass(cls, RatingScale):
        if np.unique(n_cat).size != 1:
            raise InvalidParameterError("rsm: every item needs the same number of categories")
        steps = np.diff(d_all, axis=1) * -1.0  # b_ik = −(d_k − d_{k−1}) with a = 1
        location = steps.mean(axis=1)
        return RatingScale(location, (steps - location[:, None]).mean(axis=0))
    if issubclass(cls, GeneralizedPartialCredit):
        return cls.from_slope_intercept(slopes, d)
    if issubclass(cls, NominalResponse):
        ak_all = np.tile(np.arange(kmax, dtype=np.float64), (n_items, 1))
        if proxy is not None and n_dims == 1:
            sums = np.stack([np.where((x == k) & observed, proxy[:, None], 0.0).sum(axis=0)
                             for k in range(kmax)], axis=1)
            means = sums / (counts - 0.5).clip(min=1.0)
            beta = 1.2 * (means - means[:, :1])
            last = np.take_along_axis(beta, (n_cat - 1)[:, None], axis=1)[:, 0]
            usable = np.abs(last) > 0.1  # the identification needs the last category's slope
            a = np.where(usable, last / (n_cat - 1), a)
            ak_all = np.where(usable[:, None], beta / np.where(usable, a, 1.0)[:, None], ak_all)
        ak = [ak_all[i, : n_cat[i]] for i in range(n_items)]
        return NominalResponse.from_slope_intercept(a, ak, d)
    raise InvalidParameterError(  # a newly declared model family needs its starting values here
        f"calibration of {name!r}: no starting values for its family")
