"""The divide-by-total kernel (Thissen & Steinberg 1986).

Shared by the nominal, generalized partial credit, partial credit and rating scale models:

.. math::

    P(X = k \\mid \\theta) = \\frac{\\exp(\\alpha_k s + \\delta_k)}
                                  {\\sum_{v} \\exp(\\alpha_v s + \\delta_v)},
    \\qquad s = \\mathbf a^\\top \\theta,

with category scoring :math:`\\alpha_k` and intercepts :math:`\\delta_k` (mirt's ``ak`` and ``d``;
:math:`\\alpha_0 = \\delta_0 = 0`). Derivatives in :math:`s` have closed forms:
:math:`\\partial_s \\log P_k = \\alpha_k - E[\\alpha]`, :math:`\\partial^2_s \\log P_k = -\\mathrm{Var}[\\alpha]`,
and the information per unit slope is :math:`\\mathrm{Var}[\\alpha]` (Bock 1972; Muraki 1992).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qabilet.engine.models._base import Array, ItemModel, check_index


class DivideByTotal(ItemModel):
    """Base of the divide-by-total family; subclasses convert their parameters to ``ak``/``dk``."""

    slopes: Array  # (n_items, n_dims)
    ak: Array  # (n_items, K_max), 0 on padding
    dk: Array  # (n_items, K_max), -inf on padding

    def _set_kernel(self, slopes: Array, ak: Array, dk: Array, n_categories: NDArray[np.int64]
                    ) -> None:
        valid = np.arange(ak.shape[1])[None, :] < n_categories[:, None]
        self.slopes = slopes
        self.ak = np.where(valid, ak, 0.0)
        self.dk = np.where(valid, dk, -np.inf)
        self.n_categories = n_categories.astype(np.int64)
        self._valid = valid

    def _subset_kernel(self, idx: np.ndarray) -> tuple[Array, Array, Array, NDArray[np.int64]]:
        n_cat = self.n_categories[idx]
        width = int(n_cat.max()) if idx.size else 0
        return self.slopes[idx], self.ak[idx, :width], self.dk[idx, :width], n_cat

    def subset(self, index: ArrayLike) -> DivideByTotal:
        """The items at ``index``."""
        idx = check_index(index, self.n_items)
        out = type(self).__new__(type(self))
        out._set_kernel(*self._subset_kernel(idx))
        out._subset_extra(self, idx)
        return out

    def _subset_extra(self, parent: DivideByTotal, idx: np.ndarray) -> None:
        """Copy model-specific attributes for :meth:`subset`."""

    def param_names(self) -> tuple[str, ...]:
        """``a1 … aD, ak0 … ak(K−1), d0 … d(K−1)`` (mirt's nominal form)."""
        k = self.ak.shape[1]
        return (*(f"a{r + 1}" for r in range(self.n_dims)),
                *(f"ak{j}" for j in range(k)), *(f"d{j}" for j in range(k)))

    def param_vector(self) -> Array:
        """``[a_1 … a_D, α_0 … α_{K−1}, δ_0 … δ_{K−1}]`` per item (NaN padding)."""
        pad = np.where(self._valid, 0.0, np.nan)
        return np.column_stack([self.slopes, self.ak + pad, self.dk + pad])

    def with_params(self, params: ArrayLike) -> DivideByTotal:
        """The same model with a new parameter vector (unvalidated)."""
        psi = np.asarray(params, dtype=np.float64)
        dims, k = self.n_dims, self.ak.shape[1]
        out = type(self).__new__(type(self))
        out._set_kernel(psi[:, :dims].copy(), np.nan_to_num(psi[:, dims : dims + k]),
                        psi[:, dims + k :], self.n_categories)
        out._subset_extra(self, np.arange(self.n_items))
        return out

    def dlog_prob_dparams(self, theta: ArrayLike) -> Array:
        """Gradient of the log-probabilities with respect to ``[a, α, δ]``.

        :math:`\\theta_r(\\alpha_k - E\\alpha)`, :math:`s(\\delta_{jk} - P_j)` and
        :math:`\\delta_{jk} - P_j`.
        """
        t2, _ = self._theta2d(theta)
        s = t2 @ self.slopes.T
        log_p, mean, _ = self._moments(s)
        p = np.exp(log_p)
        dims, k = self.n_dims, self.ak.shape[1]
        grad = np.zeros((*log_p.shape, dims + 2 * k))
        grad[..., :dims] = (self.ak - mean[..., None])[..., None] * t2[:, None, None, :]
        centred = np.eye(k)[None, None] - p[..., None, :]  # δ_jk − P_j, (n, I, K, K)
        centred = np.where(self._valid[None, :, :, None] & self._valid[None, :, None, :],
                           centred, 0.0)
        grad[..., dims : dims + k] = s[..., None, None] * centred
        grad[..., dims + k :] = centred
        return grad

    def _linear_logits(self) -> tuple[np.ndarray, Array, Array]:
        alpha = np.where(self._valid, self.ak - self.ak[:, :1], 0.0)
        delta = np.where(self._valid, self.dk - self.dk[:, :1], 0.0)
        return np.ones(self.n_items, dtype=bool), alpha, delta

    def _moments(self, s: Array) -> tuple[Array, Array, Array]:
        eta = self.ak * s[..., None] + self.dk
        log_p = _log_softmax(eta)
        p = np.exp(log_p)
        mean = np.einsum("...k,...k->...", p, self.ak)
        var = np.einsum("...k,...k->...", p, (self.ak - mean[..., None]) ** 2)
        return log_p, mean, var

    def _kernel(self, s: Array, order: int = 0) -> tuple[Array, ...]:
        if order == 0:
            eta = self.ak * s[..., None] + self.dk
            return (_log_softmax(eta),)
        log_p, mean, var = self._moments(s)
        d1 = np.where(self._valid, self.ak - mean[..., None], 0.0)
        if order == 1:
            return log_p, d1
        d2 = np.where(self._valid, -var[..., None], 0.0)
        return log_p, d1, d2

    def _information_s(self, s: Array) -> Array:
        return self._moments(s)[2]


def _log_softmax(eta: Array) -> Array:
    r"""Category log-probabilities :math:`\eta_k - \log \sum_j e^{\eta_j}` along the last axis.

    A plain max-shift (about 3× faster on a CAT step's small arrays than
    :func:`scipy.special.logsumexp`, whose array-API dispatch dominates there); categories an
    item does not have carry :math:`\eta = -\infty` and get :math:`-\infty`.
    """
    shifted = eta - eta.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
