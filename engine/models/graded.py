"""Samejima's graded response model (``grm``), unidimensional or multidimensional.

.. math::

    P(X \\ge k \\mid \\theta) = \\sigma(\\mathbf a^\\top\\theta + d_k), \\qquad
    P(X = k) = P(X \\ge k) - P(X \\ge k + 1),

with :math:`d_1 > \\dots > d_{K-1}`, :math:`P(X \\ge 0) = 1`, :math:`P(X \\ge K) = 0` (Samejima
1969). Traditional form for one factor: :math:`d_k = -a b_k`, so :math:`b_1 < \\dots < b_{K-1}`
when :math:`a > 0` and :math:`b_1 > \\dots > b_{K-1}` when :math:`a < 0` (a reverse-keyed item:
the intercepts keep their order, the expected score decreases in θ; docs/design.md §5).

The log-probabilities are computed without subtracting rounded probabilities, from the identity
:math:`\\sigma(x) - \\sigma(y) = \\sigma(x)\\,\\sigma(-y)\\,(1 - e^{y - x})` for :math:`x > y`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, log_expit

from qabilet.engine.models._base import (
    Array,
    Codes,
    SlopedModel,
    as_slopes,
    check_domain,
    check_index,
    require_unidimensional,
    slope_matrix,
)
from qabilet.engine.models._declaration import Column, Field, ModelParameters, with_slopes
from qabilet.engine.models._ragged import as_ragged
from qabilet.engine.models.registry import register

__all__ = ["GradedResponse"]


@register
class GradedResponse(SlopedModel):
    """Graded response items (``grm``, Samejima 1969).

    Parameters
    ----------
    a : array_like, shape (n_items,)
        Slopes, nonzero; negative for a reverse-keyed item.
    b : sequence of sequences, or array_like of shape (n_items, K_max - 1)
        Ordered category boundaries per item — increasing where a > 0, decreasing where a < 0
        (the intercepts :math:`d_k = -a b_k` always decrease); items may have different numbers
        of categories (pad a 2-D array with NaN).

    Examples
    --------
    >>> m = GradedResponse(a=[1.2], b=[[-1.0, 0.0, 1.0]])
    >>> m.prob(0.0).sum(axis=-1).round(12).tolist()
    [1.0]
    >>> GradedResponse(a=[-1.2], b=[[1.0, 0.0, -1.0]]).d.tolist()  # reverse-keyed: b decrease
    [[1.2, 0.0, -1.2]]
    """

    name: ClassVar[str] = "grm"
    PARAMETERS: ClassVar[ModelParameters] = with_slopes(
        "free", columns=(Column("d", "intercept", prior="d"),),
        traditional=(Field("b", "numbers"),),
        slope_intercept=(Field("d", "numbers", same_as="d"),))

    def __init__(self, a: ArrayLike, b: ArrayLike) -> None:
        slopes = as_slopes(a)
        require_unidimensional(self._shape_only(slopes), "grm(a, b)")
        b_arr, n_thr = as_ragged(b, "b", slopes.shape[0])
        check_domain(slopes[:, 0], slopes[:, 0] != 0, "a must be nonzero in traditional form")
        self._set(slopes, -slopes[:, :1] * b_arr, n_thr, traditional=b_arr)

    @classmethod
    def from_slope_intercept(cls, a: ArrayLike, d: ArrayLike) -> GradedResponse:
        """Build from slopes (one per factor) and decreasing intercepts ``d_1 > … > d_{K-1}``."""
        self = cls.__new__(cls)
        slopes = as_slopes(a)
        d_arr, n_thr = as_ragged(d, "d", slopes.shape[0])
        self._set(slopes, d_arr, n_thr, traditional=None)
        return self

    @classmethod
    def from_record_fields(cls, fields: Mapping[str, list[Any]], slope_intercept: bool
                           ) -> GradedResponse:
        """Build from record fields: ``a`` and ``b`` (traditional) or ``d``."""
        if slope_intercept:
            return cls.from_slope_intercept(slope_matrix(fields["a"]), fields["d"])
        return cls(fields["a"], fields["b"])

    @staticmethod
    def _shape_only(slopes: Array) -> GradedResponse:
        probe = GradedResponse.__new__(GradedResponse)
        probe.slopes = slopes
        return probe

    def _set(self, slopes: Array, d: Array, n_thr: NDArray[np.int64], traditional: Array | None
             ) -> None:
        steps = np.diff(d, axis=1)  # NaN where either side is padding
        ok = np.all((steps < 0) | np.isnan(steps), axis=1)
        if traditional is None:
            check_domain(d, ok, "d must be strictly decreasing")
        else:
            check_domain(traditional, ok,
                         "b must be strictly increasing (decreasing where a < 0)")
        self.slopes = slopes
        self.d = d  # (n_items, K_max - 1), NaN padding
        self.n_categories = (n_thr + 1).astype(np.int64)
        self._prepare()

    def _prepare(self) -> None:
        """Cache the padded intercepts and the constant gap terms of the log-probabilities."""
        self._valid = np.arange(self.d.shape[1] + 1)[None, :] < self.n_categories[:, None]
        self._d_inf = np.where(np.isnan(self.d), -np.inf, self.d)
        # log(1 - exp(d_{k+1} - d_k)), 0 at both ends and on padding
        d_ext = np.concatenate(
            [np.full((self.n_items, 1), np.inf), self._d_inf, np.full((self.n_items, 1), -np.inf)],
            axis=1,
        )
        with np.errstate(invalid="ignore"):
            diff = d_ext[:, 1:] - d_ext[:, :-1]
        gap = np.log1p(-np.exp(np.where(np.isfinite(diff), diff, -np.inf)))
        self._gap = np.where(self._valid, gap, 0.0)

    # -- conversions ------------------------------------------------------------------------------
    @property
    def b(self) -> Array:
        """Category boundaries :math:`b_k = -d_k / a`, shape (n_items, K_max - 1), NaN padding."""
        require_unidimensional(self, "b")
        with np.errstate(divide="ignore", invalid="ignore"):  # a = 0: b undefined
            return -self.d / self.slopes[:, :1]

    def to_traditional(self) -> dict[str, Array]:
        """``{"a": (n_items,), "b": (n_items, K_max - 1)}`` (NaN padding)."""
        return {"a": self.a, "b": self.b}

    def to_slope_intercept(self) -> dict[str, Array]:
        """``{"a": (n_items, n_dims), "d": (n_items, K_max - 1)}`` (NaN padding)."""
        return {"a": self.slopes.copy(), "d": self.d.copy()}

    def subset(self, index: ArrayLike) -> GradedResponse:
        """The items at ``index``."""
        idx = check_index(index, self.n_items)
        out = GradedResponse.__new__(GradedResponse)
        n_cat = self.n_categories[idx]
        width = int(n_cat.max()) - 1 if idx.size else 0
        out.slopes, out.d, out.n_categories = self.slopes[idx], self.d[idx, :width], n_cat
        out._prepare()
        return out

    # -- parameter vector (calibration) ---------------------------------------------------------
    def param_names(self) -> tuple[str, ...]:
        """``a1 … aD, d1 … d(K−1)``."""
        return (*(f"a{r + 1}" for r in range(self.n_dims)),
                *(f"d{k + 1}" for k in range(self.d.shape[1])))

    def param_vector(self) -> Array:
        """``[a_1 … a_D, d_1 … d_{K−1}]`` per item (NaN padding)."""
        return np.column_stack([self.slopes, self.d])

    def with_params(self, params: ArrayLike) -> GradedResponse:
        """The same model with new ``[a…, d…]`` (unvalidated)."""
        psi = np.asarray(params, dtype=np.float64)
        out = GradedResponse.__new__(GradedResponse)
        out.slopes = psi[:, : self.n_dims].copy()
        out.d = np.where(np.isnan(self.d), np.nan, psi[:, self.n_dims :])
        out.n_categories = self.n_categories
        out._prepare()
        return out

    def dlog_prob_dparams(self, theta: ArrayLike) -> Array:
        """Gradient of the log-probabilities with respect to ``[a, d]``.

        :math:`\\partial_{a_r} = f'_k(s)\\theta_r`;
        :math:`\\partial_{d_j} \\log P_k = (\\delta_{jk} - \\delta_{j,k+1})\\,\\sigma'(z_j)/P_k`.
        """
        t2, _ = self._theta2d(theta)
        s = t2 @ self.slopes.T
        log_p, d1 = self._kernel(s, 1)
        dims, width = self.n_dims, self.d.shape[1]
        grad = np.zeros((*log_p.shape, dims + width))
        grad[..., :dims] = d1[..., None] * t2[:, None, None, :]
        z = s[..., None] + self._d_inf  # (n, I, K−1)
        log_dsig = log_expit(z) + log_expit(-z)  # log σ'(z_j); −inf on padding
        k = np.arange(width + 1)[:, None]
        j = np.arange(1, width + 1)[None, :]
        sign = (k == j).astype(np.float64) - (k == j - 1)  # (K, K−1)
        with np.errstate(invalid="ignore"):  # −inf − (−inf) on padding, masked below
            ratio = np.exp(log_dsig[..., None, :] - log_p[..., :, None])  # σ'(z_j) / P_k
        keep = self._valid[..., None] & (sign != 0) & ~np.isnan(ratio)
        grad[..., dims:] = np.where(keep, ratio, 0.0) * sign
        return grad

    HAS_OBSERVED_TERMS: ClassVar[bool] = True

    def observed_terms(self, s: Array, x: Codes, order: int = 1) -> tuple[Array, ...]:
        """:meth:`ItemModel.observed_terms` in closed form.

        With :math:`z_j = s + d_j` (:math:`z_0 = +\\infty`, :math:`z_K = -\\infty`),
        :math:`P_x = \\sigma(z_x) - \\sigma(z_{x+1}) = \\sigma(z_x)\\sigma(-z_{x+1})
        (1 - e^{d_{x+1} - d_x})`; so :math:`\\partial_s\\log P_x = \\sigma(-z_x) -
        \\sigma(z_{x+1})`, :math:`\\partial_{d_x}\\log P_x = \\sigma'(z_x)/P_x` and
        :math:`\\partial_{d_{x+1}}\\log P_x = -\\sigma'(z_{x+1})/P_x` (Samejima 1969).
        """
        edge = np.full((self.n_items, 1), np.inf)
        ext = np.concatenate([edge, self._d_inf, -edge], axis=1).ravel()  # (I · (K + 1),)
        width = self.d.shape[1]
        at = x + np.arange(self.n_items) * (width + 2)
        upper, lower = s + np.take(ext, at), s + np.take(ext, at + 1)  # z_x, z_{x+1}
        up_pos, low_neg = log_expit(upper), log_expit(-lower)
        log_p = up_pos + low_neg + np.take(self._gap, x + np.arange(self.n_items) * (width + 1))
        if order == 0:
            return (log_p,)
        # log σ(−z) = log σ(z) − z, finite at the infinite ends as used here
        up_neg, low_pos = up_pos - upper, low_neg + lower
        ds = np.exp(up_neg) - np.exp(low_pos)
        has_upper, has_lower = x >= 1, x + 1 < self.n_categories
        with np.errstate(invalid="ignore"):  # ±inf − ±inf where the boundary does not exist
            at_upper = np.exp(up_pos + up_neg - log_p)
            at_lower = -np.exp(low_pos + low_neg - log_p)
        # two entries per cell: d_x (upper boundary) and d_{x+1} (lower), by flat position
        rest = np.zeros((*s.shape, width))
        flat = rest.reshape(-1)
        cell = np.arange(x.size).reshape(x.shape) * width
        flat[cell + np.clip(x - 1, 0, width - 1)] = np.where(has_upper, at_upper, 0.0)
        flat[cell + np.clip(x, 0, width - 1)] += np.where(has_lower, at_lower, 0.0)
        return log_p, ds, rest

    # -- kernels ----------------------------------------------------------------------------------
    def _kernel(self, s: Array, order: int = 0) -> tuple[Array, ...]:
        z = s[..., None] + self._d_inf  # (n, I, K-1); -inf on padding
        lead = np.zeros((*z.shape[:-1], 1))
        log_p = (
            np.concatenate([lead, log_expit(z)], axis=-1)
            + np.concatenate([log_expit(-z), lead], axis=-1)
            + self._gap
        )
        if order == 0:
            return (log_p,)
        sig = expit(z)
        upper = np.concatenate([lead, 1.0 - sig], axis=-1)  # σ(-z_k), 0 for k = 0
        lower = np.concatenate([sig, lead], axis=-1)  # σ(z_{k+1}), 0 for the top category
        d1 = np.where(self._valid, upper - lower, 0.0)
        if order == 1:
            return log_p, d1
        dsig = sig * (1.0 - sig)
        d2 = -(np.concatenate([lead, dsig], axis=-1) + np.concatenate([dsig, lead], axis=-1))
        return log_p, d1, np.where(self._valid, d2, 0.0)

    def _information_s(self, s: Array) -> Array:
        # Samejima (1969): I = Σ_k (P*'_k − P*'_{k+1})² / P_k, with P*'_k = σ(z_k)(1 − σ(z_k))
        z = s[..., None] + self._d_inf
        sig = expit(z)
        dsig = sig * (1.0 - sig)
        lead = np.zeros((*z.shape[:-1], 1))
        num = (np.concatenate([lead, dsig], axis=-1) - np.concatenate([dsig, lead], axis=-1)) ** 2
        (log_p,) = self._kernel(s, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.exp(np.log(num) - log_p)
        return np.where(self._valid, ratio, 0.0).sum(axis=-1)
