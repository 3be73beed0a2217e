"""The latent (population) distribution of the traits: a multivariate normal.

Every fitted model carries one (docs/design.md §6): mirt's ``rasch`` estimates the variance, a
multi-group fit estimates each group's mean and covariance, and scoring uses it as the prior
(the same prior for everyone, docs/design.md §5).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qabilet.engine.exceptions import InvalidParameterError

__all__ = ["LatentDistribution"]


@dataclass(frozen=True, slots=True, eq=False)
class LatentDistribution:
    """A multivariate normal distribution of the latent traits.

    Parameters
    ----------
    mean : array_like, shape (n_dims,)
        Means of the factors.
    cov : array_like, shape (n_dims, n_dims)
        Covariance matrix (symmetric, positive definite).
    factor_names : sequence of str, optional
        Names of the factors; ``("theta",)`` for one, ``("F1", "F2", …)`` otherwise.

    Examples
    --------
    >>> LatentDistribution.standard(2).cov.tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """

    mean: NDArray[np.float64]
    cov: NDArray[np.float64]
    factor_names: tuple[str, ...] = field(default=())

    def __init__(
        self,
        mean: ArrayLike = (0.0,),
        cov: ArrayLike = ((1.0,),),
        factor_names: Sequence[str] | None = None,
    ) -> None:
        m = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        c = np.atleast_2d(np.asarray(cov, dtype=np.float64))
        d = m.size
        if m.ndim != 1 or c.shape != (d, d):
            raise InvalidParameterError(
                f"latent: expected mean of shape (d,) and cov of shape (d, d); got {m.shape} and "
                f"{c.shape}"
            )
        if not (np.all(np.isfinite(m)) and np.all(np.isfinite(c))):
            raise InvalidParameterError("latent: mean and cov must be finite")
        if not np.allclose(c, c.T, rtol=1e-10, atol=1e-12):
            raise InvalidParameterError(f"latent: cov must be symmetric; got {c.tolist()}")
        try:
            np.linalg.cholesky(c)
        except np.linalg.LinAlgError:
            raise InvalidParameterError(
                f"latent: cov must be positive definite; got {c.tolist()}"
            ) from None
        names = (
            tuple(factor_names)
            if factor_names is not None
            else (("theta",) if d == 1 else tuple(f"F{i + 1}" for i in range(d)))
        )
        if len(names) != d or len(set(names)) != d:
            raise InvalidParameterError(
                f"latent: expected {d} distinct factor names; got {list(names)}"
            )
        m.flags.writeable = False
        c = (c + c.T) / 2.0
        c.flags.writeable = False
        object.__setattr__(self, "mean", m)
        object.__setattr__(self, "cov", c)
        object.__setattr__(self, "factor_names", names)

    @classmethod
    def standard(
        cls, n_dims: int = 1, factor_names: Sequence[str] | None = None
    ) -> LatentDistribution:
        """N(0, I) in ``n_dims`` dimensions."""
        return cls(np.zeros(n_dims), np.eye(n_dims), factor_names)

    @property
    def n_dims(self) -> int:
        """Number of factors."""
        return int(self.mean.size)

    @property
    def sd(self) -> NDArray[np.float64]:
        """Standard deviations of the factors."""
        return np.sqrt(np.diag(self.cov))

    @property
    def correlation(self) -> NDArray[np.float64]:
        """The factor correlation matrix."""
        sd = self.sd
        return self.cov / np.outer(sd, sd)

    @property
    def precision(self) -> NDArray[np.float64]:
        """The inverse covariance matrix."""
        # numpy types inv() as floating of any width; the inverse of a float64 matrix is float64
        return np.linalg.inv(self.cov).astype(np.float64, copy=False)

    def log_density(self, theta: ArrayLike) -> NDArray[np.float64]:
        """Log of the normal density at θ, shape ``(...)`` for θ of shape ``(..., n_dims)``.

        A unidimensional distribution also accepts θ of shape ``(...)``.

        .. math:: \\log\\phi(\\theta) = -\\tfrac12\\big[d\\log 2\\pi + \\log|\\Sigma| +
                  (\\theta-\\mu)^\\top\\Sigma^{-1}(\\theta-\\mu)\\big]
        """
        t = np.asarray(theta, dtype=np.float64)
        if self.n_dims == 1 and (t.ndim == 0 or t.shape[-1] != 1):
            t = t[..., None]
        if t.shape[-1] != self.n_dims:
            raise InvalidParameterError(
                f"theta: expected a trailing axis of length {self.n_dims}; got shape {t.shape}"
            )
        chol = np.linalg.cholesky(self.cov)
        z = np.linalg.solve(chol, (t - self.mean).reshape(-1, self.n_dims).T).T
        log_det = 2.0 * np.log(np.diag(chol)).sum()
        out = -0.5 * (self.n_dims * np.log(2 * np.pi) + log_det + (z**2).sum(axis=1))
        return out.reshape(t.shape[:-1])

    def to_dict(self) -> dict[str, object]:
        """The ``latent`` object of the parameter file (docs/design.md §6)."""
        return {
            "factor_names": list(self.factor_names),
            "mean": self.mean.tolist(),
            "cov": self.cov.tolist(),
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LatentDistribution):
            return NotImplemented
        return (
            self.factor_names == other.factor_names
            and np.array_equal(self.mean, other.mean)
            and np.array_equal(self.cov, other.cov)
        )

    def __repr__(self) -> str:
        return (
            f"LatentDistribution(mean={self.mean.tolist()}, cov={self.cov.tolist()}, "
            f"factor_names={list(self.factor_names)})"
        )

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (LatentDistribution, (self.mean.copy(), self.cov.copy(), self.factor_names))
