"""Normal latent distributions of one or more groups on a fixed quadrature grid.

As mirt does, the nodes stay fixed and each group's weights are its normal density at the nodes,
normalised: :math:`w_{gq} \\propto \\exp(-(\\theta_q - \\mu_g)^2 / (2 v_g))`. The M-step maximises
:math:`f_g(\\mu, v) = \\sum_q n_{gq} \\log w_{gq}` over the free ones of :math:`(\\mu_g, \\log v_g)`,
whose gradient is

.. math::

    \\partial_\\mu f = \\frac{\\sum_q n_q\\theta_q - N\\,E_w[\\theta]}{v}, \\qquad
    \\partial_{\\log v} f = \\frac{\\sum_q n_q(\\theta_q-\\mu)^2 - N\\,E_w[(\\theta-\\mu)^2]}{2v}

— moment matching between the posterior mass and the normalised grid weights.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from qabilet.engine.latent import LatentDistribution

Array = NDArray[np.float64]


class GroupLatents:
    """Which group means and variances are estimated, and where they sit in φ.

    Parameters
    ----------
    grid : ndarray, shape (n_quad,)
    mean_free, var_free : sequence of bool, one per group
    offset : int
        Index in φ of the first latent parameter.
    """

    def __init__(self, grid: Array, mean_free: list[bool], var_free: list[bool], offset: int
                 ) -> None:
        self.grid = grid
        n_groups = len(mean_free)
        self.index = np.full((n_groups, 2), -1, dtype=np.intp)
        k = offset
        for g in range(n_groups):
            for j, free in enumerate((mean_free[g], var_free[g])):
                if free:
                    self.index[g, j] = k
                    k += 1
        self.n_free = k - offset

    @property
    def n_groups(self) -> int:
        """Number of groups."""
        return int(self.index.shape[0])

    def initial(self, phi: Array) -> None:
        """Start every free mean at 0 and variance at 1."""
        phi[self.index[self.index >= 0]] = 0.0

    def params(self, phi: Array, g: int) -> tuple[float, float]:
        """Mean and variance of group ``g``."""
        im, iv = self.index[g]
        mean = float(phi[im]) if im >= 0 else 0.0
        var = float(np.exp(phi[iv])) if iv >= 0 else 1.0
        return mean, var

    def log_weights(self, phi: Array, g: int) -> Array:
        """Normalised log-weights of group ``g`` at the nodes."""
        mean, var = self.params(phi, g)
        lw = -0.5 * (self.grid - mean) ** 2 / var
        return lw - np.logaddexp.reduce(lw)

    def latent(self, phi: Array, g: int) -> LatentDistribution:
        """Group ``g``'s distribution as a :class:`LatentDistribution`."""
        mean, var = self.params(phi, g)
        return LatentDistribution([mean], [[var]])

    def _gradient(self, mean: float, logv: float, n_q: Array) -> Array:
        """(∂f/∂μ, ∂f/∂log v) of :math:`\\sum_q n_q \\log w_q`."""
        var = np.exp(logv)
        lw = -0.5 * (self.grid - mean) ** 2 / var
        w = np.exp(lw - lw.max())
        w /= w.sum()
        total = n_q.sum()
        dev2 = (self.grid - mean) ** 2
        return np.array([
            (n_q @ self.grid - total * (w @ self.grid)) / var,
            (n_q @ dev2 - total * (w @ dev2)) / (2.0 * var),
        ])

    def score(self, phi: Array, n_q: list[Array]) -> Array:
        """Contributions of the latent parameters to the score, as a full-length vector."""
        out = np.zeros_like(phi)
        for g in range(self.n_groups):
            mean, var = self.params(phi, g)
            grad = self._gradient(mean, np.log(var), n_q[g])
            for j in range(2):
                if self.index[g, j] >= 0:
                    out[self.index[g, j]] = grad[j]
        return out

    def update(self, phi: Array, new: Array, n_q: list[Array]) -> None:
        """Write the M-step's latent parameters into ``new`` (from the posterior mass ``n_q``)."""
        for g in range(self.n_groups):
            free = self.index[g] >= 0
            if not free.any():
                continue
            mean, var = self.params(phi, g)
            start = np.array([mean, np.log(var)])
            total = n_q[g].sum()
            if total <= 0:
                continue

            def negative(x: Array, g: int = g, start: Array = start, free: Array = free
                         ) -> tuple[float, Array]:
                point = start.copy()
                point[free] = x
                m, lv = point
                lw = -0.5 * (self.grid - m) ** 2 / np.exp(lv)
                value = n_q[g] @ (lw - np.logaddexp.reduce(lw))
                return -float(value), -self._gradient(m, lv, n_q[g])[free]

            from scipy.optimize import minimize  # deferred: 0.25 s of imports a 2PL fit never needs

            res = minimize(negative, start[free], jac=True, method="BFGS",
                           options={"gtol": 1e-10 * max(total, 1.0), "maxiter": 200})
            new[self.index[g][free]] = res.x


class CorrelatedLatent:
    """A standardised multivariate normal (unit variances, free correlations) on fixed nodes.

    The nodes stay fixed — a product grid, or quasi-Monte Carlo points from N(0, I) — and carry
    log-weights :math:`\\log\\phi(\\theta_q; 0, R) + b_q`, normalised, with :math:`b_q` the
    nodes' own base log-weight (0 on a grid; :math:`-\\log\\phi(\\theta_q; 0, I)` for QMC points,
    an importance weight). The correlation matrix is :math:`R = \\tilde L\\tilde L^\\top`, where
    :math:`\\tilde L` is a unit-diagonal lower-triangular matrix of free entries with each row
    scaled to length 1 — positive definite with unit diagonal for any parameter values. The
    M-step maximises :math:`\\sum_q n_q \\log w_q(R)` over those entries (BFGS).
    """

    def __init__(self, nodes: Array, base_logw: Array, orthogonal: bool, offset: int) -> None:
        self.nodes = nodes
        self.base_logw = base_logw
        self.n_dims = nodes.shape[1]
        d = self.n_dims
        self.tril = np.tril_indices(d, -1)
        self.n_free = 0 if orthogonal else d * (d - 1) // 2
        self.slots = np.arange(offset, offset + self.n_free)
        self.n_groups = 1

    def initial(self, phi: Array) -> None:
        """Start uncorrelated."""
        phi[self.slots] = 0.0

    def correlation(self, params: Array) -> Array:
        """The correlation matrix of the free lower-triangular entries ``params``."""
        d = self.n_dims
        low = np.eye(d)
        if self.n_free:
            low[self.tril] = params
        low /= np.sqrt((low**2).sum(axis=1, keepdims=True))
        return low @ low.T

    def _log_weights_of(self, params: Array) -> Array:
        r = self.correlation(params)
        chol = np.linalg.cholesky(r)
        z = np.linalg.solve(chol, self.nodes.T).T
        lw = -0.5 * (z**2).sum(axis=1) - np.log(np.diag(chol)).sum() + self.base_logw
        return lw - np.logaddexp.reduce(lw)

    def log_weights(self, phi: Array, g: int = 0) -> Array:
        """Normalised log-weights at the nodes."""
        return self._log_weights_of(phi[self.slots])

    def latent(self, phi: Array, g: int = 0, factor_names: list[str] | None = None
               ) -> LatentDistribution:
        """The fitted distribution."""
        return LatentDistribution(np.zeros(self.n_dims), self.correlation(phi[self.slots]),
                                  factor_names)

    def _objective(self, params: Array, n_q: Array) -> float:
        return float(n_q @ self._log_weights_of(params))

    def _gradient(self, params: Array, n_q: Array, h: float = 1e-7) -> Array:
        """Analytic in R, then the chain rule through R(params).

        With :math:`S = \\sum_q n_q\\theta_q\\theta_q^\\top` and :math:`M = N\\,E_w[\\theta\\theta^\\top]`,
        :math:`\\partial f/\\partial R = \\tfrac12 R^{-1}(S - M)R^{-1}` (the log-determinants
        cancel under the normalisation); :math:`\\partial R/\\partial p` by differences of the
        small matrix map only.
        """
        r = self.correlation(params)
        w = np.exp(self._log_weights_of(params))
        s_mat = (n_q[:, None] * self.nodes).T @ self.nodes
        m_mat = n_q.sum() * ((w[:, None] * self.nodes).T @ self.nodes)
        inv = np.linalg.inv(r)
        g_r = 0.5 * inv @ (s_mat - m_mat) @ inv
        out = np.empty(params.size)
        for j in range(params.size):  # derivative of the d × d map only (cheap)
            e = np.zeros(params.size)
            e[j] = h
            d_r = (self.correlation(params + e) - self.correlation(params - e)) / (2 * h)
            out[j] = float((g_r * d_r).sum())
        return out

    def score(self, phi: Array, n_q: list[Array]) -> Array:
        """Contributions of the correlation parameters to the score."""
        out = np.zeros_like(phi)
        if self.n_free:
            out[self.slots] = self._gradient(phi[self.slots], n_q[0])
        return out

    def update(self, phi: Array, new: Array, n_q: list[Array]) -> None:
        """M-step for the correlations."""
        if not self.n_free:
            return
        from scipy.optimize import minimize  # deferred, as above

        res = minimize(lambda p: -self._objective(p, n_q[0]), phi[self.slots],
                       jac=lambda p: -self._gradient(p, n_q[0]), method="BFGS",
                       options={"gtol": 1e-8 * max(float(n_q[0].sum()), 1.0), "maxiter": 100})
        new[self.slots] = res.x
