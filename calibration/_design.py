"""Which parameters a calibration estimates for each model, and where estimation starts.

Parameters are the columns of :meth:`qabilet.engine.models.ItemModel.param_vector` (slope-intercept
form). A *design* maps every free entry to an index of the estimated vector φ; entries that share
an index are tied (the common slope of ``1pl``); −1 marks a fixed entry. Asymptotes (``g``,
``u``) are estimated on the logit scale, so every step stays inside (0, 1).
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
    OnePL,
    PartialCredit,
    Rasch,
    RatingScale,
    ThreePL,
    TwoPL,
)

#: models whose latent variance is estimated (the slopes being fixed), as in mirt
VARIANCE_FREE = frozenset({"rasch", "pcm", "rsm"})

#: models this calibration estimates
SUPPORTED = ("rasch", "1pl", "2pl", "3pl", "4pl", "grm", "gpcm", "pcm", "rsm", "nominal")


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


def free_mask(model: ItemModel) -> NDArray[np.bool_]:
    """Estimated entries of ``model.param_vector()`` for its model name."""
    names = model.param_names()
    psi = model.param_vector()
    present = ~np.isnan(psi)
    col = {n: j for j, n in enumerate(names)}
    mask = np.zeros(psi.shape, dtype=bool)
    dims = model.n_dims
    name = model.name
    if isinstance(model, FourPL):
        mask[:, col["d"]] = True
        if name not in ("rasch", "1pl"):
            mask[:, :dims] = True
        if name in ("3pl", "4pl"):
            mask[:, col["g"]] = True
        if name == "4pl":
            mask[:, col["u"]] = True
    elif isinstance(model, GradedResponse):
        mask[:, :] = present
    elif isinstance(model, RatingScale):  # locations; the shared thresholds are tied below
        mask[:, col["b"]] = True
    elif isinstance(model, GeneralizedPartialCredit):  # gpcm, pcm: α fixed at 0..K−1, δ_0 = 0
        k = (psi.shape[1] - dims) // 2
        mask[:, dims + k + 1 :] = present[:, dims + k + 1 :]
        if name == "gpcm":
            mask[:, :dims] = True
    elif isinstance(model, NominalResponse):  # mirt: α_0 = 0, α_{K−1} = K − 1, δ_0 = 0 fixed
        k = (psi.shape[1] - dims) // 2
        mask[:, :dims] = True
        last = model.n_categories - 1
        scoring = np.arange(k)[None, :]
        mask[:, dims : dims + k] = present[:, dims : dims + k] & (scoring > 0) & (
            scoring < last[:, None]
        )
        mask[:, dims + k + 1 :] = present[:, dims + k + 1 :]
    else:
        raise InvalidParameterError(
            f"calibration of {name!r} is not available; expected one of {', '.join(SUPPORTED)}"
        )
    return mask


def block_design(model: ItemModel, offset: int, loadings: NDArray[np.bool_] | None = None
                 ) -> BlockDesign:
    """Number the free entries of ``model`` from ``offset``; tie the ``1pl`` slope.

    ``loadings`` (n_items, n_dims) restricts the free slopes to the declared factors.
    """
    mask = free_mask(model)
    if loadings is not None:
        mask[:, : loadings.shape[1]] &= loadings
    index = np.full(mask.shape, -1, dtype=np.intp)
    n = int(mask.sum())
    index[mask] = offset + np.arange(n)
    tied = False
    if model.name == "1pl":
        index[:, 0] = offset + n  # one slope shared by every item of the block
        tied = True
    if model.name == "rsm":  # each threshold shared by every item of the block
        names = model.param_names()
        for j, name in enumerate(names):
            if name.startswith("tau"):
                index[:, j] = offset + n
                n += 1
        tied = n > int(mask.sum())
    logit_cols = np.array([n in ("g", "u") for n in model.param_names()])
    return BlockDesign(index=index, tied=tied, logit_cols=logit_cols)


def trait_proxy(x: NDArray[np.intp], observed: NDArray[np.bool_], n_cat: NDArray[np.int64],
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


def start_model(name: str, x: NDArray[np.intp], observed: NDArray[np.bool_], n_cat: NDArray[np.int64],
                n_dims: int = 1, proxy: NDArray[np.float64] | None = None) -> ItemModel:
    """Starting values from observed proportions (slopes 1, intercepts from logits).

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
    """
    n_items = x.shape[1]
    kmax = int(n_cat.max())
    counts = np.stack([((x == k) & observed).sum(axis=0) for k in range(kmax)], axis=1) + 0.5
    counts = np.where(np.arange(kmax)[None, :] < n_cat[:, None], counts, 0.0)
    prop = counts / counts.sum(axis=1, keepdims=True)
    a = np.ones((n_items, n_dims)) if n_dims > 1 else np.ones(n_items)
    if name in ("rasch", "1pl", "2pl", "3pl", "4pl"):
        d = logit(np.clip(prop[:, 1], 0.02, 0.98))
        if name == "rasch":
            return Rasch.from_slope_intercept(np.ones(n_items), d)
        if name == "1pl":
            return OnePL.from_slope_intercept(np.ones(n_items), d)
        if name == "2pl":
            return TwoPL.from_slope_intercept(a, d)
        if name == "3pl":
            return ThreePL.from_slope_intercept(a, d, c=np.full(n_items, 0.1))
        return FourPL.from_slope_intercept(a, d, c=np.full(n_items, 0.1), u=np.full(n_items, 0.95))
    if name == "grm":
        upper = np.clip(1.0 - np.cumsum(prop, axis=1)[:, :-1], 0.01, 0.99)  # P(X ≥ k), k ≥ 1
        d = [logit(upper[i, : n_cat[i] - 1]) for i in range(n_items)]
        d = [np.maximum.accumulate(v[::-1])[::-1] - 1e-3 * np.arange(v.size) for v in d]
        return GradedResponse.from_slope_intercept(a, d)
    # adjacent-category logits for the divide-by-total models
    with np.errstate(divide="ignore"):  # padded categories have count 0 (never used)
        step = np.log(counts[:, 1:] / np.where(counts[:, :-1] > 0, counts[:, :-1], 1.0))
    step = np.where(np.isfinite(step), step, 0.0)
    d_all = np.concatenate([np.zeros((n_items, 1)), np.cumsum(step, axis=1)], axis=1)
    d = [d_all[i, : n_cat[i]] for i in range(n_items)]
    if name == "gpcm":
        return GeneralizedPartialCredit.from_slope_intercept(a, d)
    if name == "pcm":
        return PartialCredit.from_slope_intercept(np.ones(n_items), d)
    if name == "rsm":
        if np.unique(n_cat).size != 1:
            raise InvalidParameterError("rsm: every item needs the same number of categories")
        steps = np.diff(d_all, axis=1) * -1.0  # b_ik = −(d_k − d_{k−1}) with a = 1
        location = steps.mean(axis=1)
        return RatingScale(location, (steps - location[:, None]).mean(axis=0))
    if name == "nominal":
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
    raise InvalidParameterError(
        f"calibration of {name!r} is not available; expected one of {', '.join(SUPPORTED)}"
    )
