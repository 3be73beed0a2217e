"""Dichotomous logistic models: ``rasch``, ``1pl``, ``2pl``, ``3pl``, ``4pl``.

All five share one kernel, the four-parameter logistic in slope-intercept form (logistic metric,
D = 1, as R's mirt; Barton & Lord 1981 for the upper asymptote):

.. math::

    P(X = 1 \\mid \\theta) = c + (u - c)\\,\\sigma(\\mathbf a^\\top\\theta + d),
    \\qquad \\sigma(z) = 1 / (1 + e^{-z}),

with the traditional form :math:`d = -a b` for one factor. ``rasch`` fixes every slope to 1 and
leaves the latent variance free (mirt's ``Rasch``); ``1pl`` has one slope common to all items and
θ ~ N(0, 1); ``2pl`` fixes c = 0, u = 1; ``3pl`` fixes u = 1. The names differ in what a
calibration estimates; scoring treats them alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import expit, log_expit

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.models._base import (
    Array,
    Codes,
    SlopedModel,
    as_float_array,
    as_slopes,
    check_domain,
    check_index,
    require_unidimensional,
    slope_matrix,
)
from qabilet.engine.models._declaration import Column, Field, ModelParameters, with_slopes
from qabilet.engine.models.registry import register

__all__ = ["FourPL", "OnePL", "Rasch", "ThreePL", "TwoPL"]


def _log_or_neg_inf(x: Array) -> Array:
    """``log(x)`` with ``log(0) = -inf`` and no warning."""
    out = np.full_like(x, -np.inf)
    np.log(x, out=out, where=x > 0)
    return out


# the parameters of the logistic family (their declarations differ in what a calibration estimates)
_INTERCEPT = Column("d", "intercept", prior="d")
_LOWER = Column("g", "lower asymptote", prior="c", bounds=(0.0, 1.0))
_UPPER = Column("u", "upper asymptote", prior="u", bounds=(0.0, 1.0))
_FIXED_LOWER = replace(_LOWER, estimated="fixed")
_FIXED_UPPER = replace(_UPPER, estimated="fixed")
_DIFFICULTY = Field("b", "number")
_SI_INTERCEPT = Field("d", "number", same_as="d")
_C = Field("c", "number", default=0.0, same_as="g")
_U = Field("u", "number", default=1.0, same_as="u")


@register
class FourPL(SlopedModel):
    """Four-parameter logistic items (``4pl``).

    Parameters
    ----------
    a : array_like, shape (n_items,)
        Discriminations (slopes).
    b : array_like, shape (n_items,)
        Difficulties (locations): :math:`d = -ab`.
    c : array_like, shape (n_items,), optional
        Lower asymptotes in [0, 1) (mirt's ``g``). Default 0.
    u : array_like, shape (n_items,), optional
        Upper asymptotes in (c, 1] (mirt's ``u``). Default 1.

    Notes
    -----
    Use :meth:`from_slope_intercept` for multidimensional items (a slope per factor).

    Examples
    --------
    >>> m = ThreePL(a=[1.5], b=[0.0], c=[0.2])
    >>> float(m.prob(0.0)[0, 1])  # (1 + c) / 2 at θ = b
    0.6
    """

    name: ClassVar[str] = "4pl"
    PARAMETERS: ClassVar[ModelParameters] = with_slopes(
        "free", columns=(_INTERCEPT, _LOWER, _UPPER), traditional=(_DIFFICULTY, _C, _U),
        slope_intercept=(_SI_INTERCEPT, _C, _U), n_categories=2)

    def __init__(
        self,
        a: ArrayLike,
        b: ArrayLike,
        c: ArrayLike | None = None,
        u: ArrayLike | None = None,
    ) -> None:
        slopes = as_slopes(a)
        require_unidimensional(_Dims(slopes), f"{self.name}(a, b, ...)")
        n = slopes.shape[0]
        b_arr = as_float_array(b, "b", (n,))
        if not np.all(np.isfinite(b_arr)):
            raise InvalidParameterError(f"b: expected finite difficulties; got {b_arr.tolist()}")
        self._set(slopes, -slopes[:, 0] * b_arr, c, u)

    @classmethod
    def from_slope_intercept(
        cls,
        a: ArrayLike,
        d: ArrayLike,
        c: ArrayLike | None = None,
        u: ArrayLike | None = None,
    ) -> FourPL:
        """Build from slope-intercept parameters (one slope per factor for several factors).

        .. math:: P = c + (u - c)\\,\\sigma(\\mathbf a^\\top\\theta + d)
        """
        self = cls.__new__(cls)
        slopes = as_slopes(a)
        d_arr = as_float_array(d, "d", (slopes.shape[0],))
        if not np.all(np.isfinite(d_arr)):
            raise InvalidParameterError(f"d: expected finite intercepts; got {d_arr.tolist()}")
        self._set(slopes, d_arr, c, u)
        return self

    @classmethod
    def from_record_fields(cls, fields: Mapping[str, list[Any]], slope_intercept: bool
                           ) -> FourPL:
        """Build from record fields: ``a``, ``b`` or ``d``, and ``c``, ``u`` where declared."""
        c, u = fields.get("c"), fields.get("u")
        if slope_intercept:
            return cls.from_slope_intercept(slope_matrix(fields["a"]), fields["d"], c, u)
        self = cls.__new__(cls)
        FourPL.__init__(self, slope_matrix(fields["a"]), fields["b"], c, u)
        return self

    def _set(self, slopes: Array, d: Array, c: ArrayLike | None, u: ArrayLike | None) -> None:
        n = slopes.shape[0]
        c_arr = np.zeros(n) if c is None else as_float_array(c, "c", (n,))
        u_arr = np.ones(n) if u is None else as_float_array(u, "u", (n,))
        check_domain(c_arr, (c_arr >= 0.0) & (c_arr < 1.0), "c must be in [0, 1)")
        check_domain(u_arr, (u_arr > c_arr) & (u_arr <= 1.0), "u must be in (c, 1]")
        self._check_constraints(slopes, c_arr, u_arr)
        self.slopes = slopes
        self.d = d
        self.c = c_arr
        self.u = u_arr
        self.n_categories = np.full(n, 2, dtype=np.int64)
        self._logistic = bool(np.all(c_arr == 0.0) and np.all(u_arr == 1.0))

    def _check_constraints(self, slopes: Array, c: Array, u: Array) -> None:
        """Subclasses refuse parameters their model fixes."""

    # -- traditional parameters ----------------------------------------------------------------------
    @property
    def b(self) -> Array:
        """Difficulties :math:`b = -d/a`, shape (n_items,)."""
        require_unidimensional(self, "b")
        with np.errstate(divide="ignore", invalid="ignore"):  # a = 0: b undefined (NaN or inf)
            return -self.d / self.slopes[:, 0]

    def to_traditional(self) -> dict[str, Array]:
        """``{"a", "b", "c", "u"}`` (docs/design.md §5 names)."""
        return {"a": self.a, "b": self.b, "c": self.c.copy(), "u": self.u.copy()}

    def to_slope_intercept(self) -> dict[str, Array]:
        """``{"a": (n_items, n_dims), "d", "c", "u"}``."""
        return {"a": self.slopes.copy(), "d": self.d.copy(), "c": self.c.copy(), "u": self.u.copy()}

    def subset(self, index: ArrayLike) -> FourPL:
        """The items at ``index``."""
        idx = check_index(index, self.n_items)
        out = type(self).__new__(type(self))
        out.slopes, out.d = self.slopes[idx], self.d[idx]
        out.c, out.u = self.c[idx], self.u[idx]
        out.n_categories = self.n_categories[idx]
        out._logistic = bool(np.all(out.c == 0.0) and np.all(out.u == 1.0))
        return out

    # -- parameter vector (calibration) ---------------------------------------------------------
    def param_names(self) -> tuple[str, ...]:
        """``a1 … aD, d, g, u`` (mirt's names; ``g`` is the lower asymptote c)."""
        return (*(f"a{r + 1}" for r in range(self.n_dims)), "d", "g", "u")

    def param_vector(self) -> Array:
        """``[a_1 … a_D, d, c, u]`` per item."""
        return np.column_stack([self.slopes, self.d, self.c, self.u])

    def with_params(self, params: ArrayLike) -> FourPL:
        """The same model with new ``[a…, d, c, u]`` (unvalidated)."""
        psi = np.asarray(params, dtype=np.float64)
        dims = self.n_dims
        out = type(self).__new__(type(self))
        out.slopes = psi[:, :dims].copy()
        out.d, out.c, out.u = psi[:, dims].copy(), psi[:, dims + 1].copy(), psi[:, dims + 2].copy()
        out.n_categories = self.n_categories
        out._logistic = bool(np.all(out.c == 0.0) and np.all(out.u == 1.0))
        return out

    def dlog_prob_dparams(self, theta: ArrayLike) -> Array:
        """Gradient of the log-probabilities with respect to ``[a, d, c, u]``.

        With :math:`f'_k = \\partial_z \\log P_k`,
        :math:`\\partial_{a_r} = f'_k\\theta_r`, :math:`\\partial_d = f'_k`,
        :math:`\\partial_c \\log P_1 = \\sigma(-z)/P_1`, :math:`\\partial_u \\log P_1 = \\sigma(z)/P_1`
        (and minus the same over :math:`P_0` for category 0).
        """
        t2, _ = self._theta2d(theta)
        s = t2 @ self.slopes.T
        log_p, d1 = self._kernel(s, 1)
        dims = self.n_dims
        grad = np.zeros((*log_p.shape, dims + 3))
        grad[..., :dims] = d1[..., None] * t2[:, None, None, :]
        grad[..., dims] = d1
        z = s + self.d
        log_sig_neg = log_expit(-z)
        log_sig = log_sig_neg + z
        sign = np.array([-1.0, 1.0])
        with np.errstate(over="ignore"):  # σ(z)/P0 → ∞ where P0 → 0 with u = 1 (a true limit)
            grad[..., dims + 1] = sign * np.exp(log_sig_neg[..., None] - log_p)
            grad[..., dims + 2] = sign * np.exp(log_sig[..., None] - log_p)
        return grad

    HAS_OBSERVED_TERMS: ClassVar[bool] = True

    def observed_terms(self, s: Array, x: Codes, order: int = 1) -> tuple[Array, ...]:
        """:meth:`ItemModel.observed_terms` from the two-category kernel.

        :math:`\\partial_d = \\partial_s\\log P_x`; :math:`\\partial_c \\log P_x =
        \\pm\\sigma(-z)/P_x`, :math:`\\partial_u \\log P_x = \\pm\\sigma(z)/P_x` (+ for
        :math:`x = 1`), as in :meth:`dlog_prob_dparams`.
        """
        kernel = self._kernel(s, order)
        pick = x[..., None]
        log_p = np.take_along_axis(kernel[0], pick, axis=-1)[..., 0]
        if order == 0:
            return (log_p,)
        ds = np.take_along_axis(kernel[1], pick, axis=-1)[..., 0]
        z = s + self.d
        log_sig_neg = log_expit(-z)
        sign = 2.0 * x - 1.0
        rest = np.empty((*s.shape, 3))
        rest[..., 0] = ds
        with np.errstate(over="ignore"):  # σ(z)/P0 → ∞ where P0 → 0 with u = 1 (a true limit)
            rest[..., 1] = sign * np.exp(log_sig_neg - log_p)
            rest[..., 2] = sign * np.exp(log_sig_neg + z - log_p)
        return log_p, ds, rest

    # -- kernels -----------------------------------------------------------------------------------
    def _kernel(self, s: Array, order: int = 0) -> tuple[Array, ...]:
        z = s + self.d
        if self._logistic:
            return _logistic_kernel(z, order)
        log_sig_neg = log_expit(-z)
        log_sig = log_sig_neg + z  # log σ(z) = log σ(−z) + z
        log_c, log_1mu = _log_or_neg_inf(self.c), _log_or_neg_inf(1.0 - self.u)
        log_span = np.log(self.u - self.c)
        log_p = np.empty((*z.shape, 2))
        log_p[..., 1] = log_p1 = np.logaddexp(log_c, log_span + log_sig)  # log(c + (u−c)σ(z))
        log_p[..., 0] = log_p0 = np.logaddexp(log_1mu, log_span + log_sig_neg)  # log(1−P)
        if order == 0:
            return (log_p,)
        # g = dP1/dz = (u−c) σ(z) σ(−z); d log P1 = g / P1, d log P0 = −g / P0
        log_g = log_span + log_sig + log_sig_neg
        r1, r0 = np.exp(log_g - log_p1), np.exp(log_g - log_p0)
        d1 = np.empty_like(log_p)
        d1[..., 0], d1[..., 1] = -r0, r1
        if order == 1:
            return log_p, d1
        # g' = g (1 − 2σ(z)); d² log P1 = g'/P1 − (g/P1)²; d² log P0 = −g'/P0 − (g/P0)²
        shape = 1.0 - 2.0 * expit(z)
        d2 = np.empty_like(log_p)
        d2[..., 0], d2[..., 1] = -r0 * shape - r0**2, r1 * shape - r1**2
        return log_p, d1, d2

    def _linear_logits(self) -> tuple[np.ndarray, Array, Array]:
        if not self._logistic:
            return super()._linear_logits()
        n = self.n_items
        alpha = np.tile([0.0, 1.0], (n, 1))
        delta = np.column_stack([np.zeros(n), self.d])
        return np.ones(n, dtype=bool), alpha, delta

    def _newton_terms(
        self, s: Array, x: np.ndarray, obs: np.ndarray, need_bias: bool = False
    ) -> tuple[Array, Array, Array, Array | None]:
        if not self._logistic:
            return super()._newton_terms(s, x, obs, need_bias)
        # 2PL: f' = x − P, f'' = −PQ, I = PQ, Warm's c = PQ(Q − P) (one expit per cell)
        o = obs.astype(np.float64)
        p = expit(s + self.d)
        pq = p * (1.0 - p) * o
        c = pq * (1.0 - 2.0 * p) if need_bias else None
        return (x - p) * o, -pq, pq, c

    def _information_s(self, s: Array) -> Array:
        # I = g² / (P1 P0)  (Birnbaum 1968; Lord 1980, eq. 5-9 with D = 1)
        z = s + self.d
        if self._logistic:  # c = 0, u = 1: I = PQ, one expit per cell (the CAT's hot path)
            p = expit(z, out=z)
            return np.subtract(p, np.square(p), out=p)
        log_span = np.log(self.u - self.c)
        log_sig_neg = log_expit(-z)
        log_sig = log_sig_neg + z
        log_p1 = np.logaddexp(_log_or_neg_inf(self.c), log_span + log_sig)
        log_p0 = np.logaddexp(_log_or_neg_inf(1.0 - self.u), log_span + log_sig_neg)
        log_g = log_span + log_sig + log_sig_neg
        return np.exp(2.0 * log_g - log_p1 - log_p0)


def _logistic_kernel(z: Array, order: int) -> tuple[Array, ...]:
    """The 2PL special case (c = 0, u = 1): log σ(±z), derivatives −σ(z), σ(−z), −σ(z)σ(−z)."""
    log_p = np.empty((*z.shape, 2))
    log_p[..., 0] = lp0 = log_expit(-z)
    log_p[..., 1] = lp0 + z
    if order == 0:
        return (log_p,)
    p1 = expit(z)
    d1 = np.empty_like(log_p)
    d1[..., 1] = p0 = 1.0 - p1
    d1[..., 0] = -p1
    if order == 1:
        return log_p, d1
    d2 = np.empty_like(log_p)
    d2[..., 0] = d2[..., 1] = -p1 * p0
    return log_p, d1, d2


class _Dims:
    """A stand-in carrying ``n_dims`` for the dimensionality check before construction."""

    def __init__(self, slopes: Array) -> None:
        self.n_dims = slopes.shape[1]


@register
class ThreePL(FourPL):
    """Three-parameter logistic items (``3pl``): :math:`P = c + (1 - c)\\sigma(a(\\theta - b))`.

    Parameters
    ----------
    a, b, c : array_like, shape (n_items,)
        Slopes, difficulties and lower asymptotes (Birnbaum 1968).
    """

    name: ClassVar[str] = "3pl"
    PARAMETERS: ClassVar[ModelParameters] = with_slopes(
        "free", columns=(_INTERCEPT, _LOWER, _FIXED_UPPER), traditional=(_DIFFICULTY, _C),
        slope_intercept=(_SI_INTERCEPT, _C), n_categories=2)

    def __init__(self, a: ArrayLike, b: ArrayLike, c: ArrayLike | None = None) -> None:
        super().__init__(a, b, c, None)

    def _check_constraints(self, slopes: Array, c: Array, u: Array) -> None:
        if not np.all(u == 1.0):
            raise InvalidParameterError(f"{self.name}: u must be 1; got {u.tolist()} (use 4pl)")


@register
class TwoPL(ThreePL):
    """Two-parameter logistic items (``2pl``): :math:`P = \\sigma(a(\\theta - b))` (Birnbaum 1968).

    Parameters
    ----------
    a, b : array_like, shape (n_items,)
        Slopes and difficulties.

    Examples
    --------
    >>> m = TwoPL(a=[1.0, 2.0], b=[0.0, 1.0])
    >>> m.prob(0.0)[:, 1].round(4).tolist()
    [0.5, 0.1192]
    """

    name: ClassVar[str] = "2pl"
    PARAMETERS: ClassVar[ModelParameters] = with_slopes(
        "free", columns=(_INTERCEPT, _FIXED_LOWER, _FIXED_UPPER), traditional=(_DIFFICULTY,),
        slope_intercept=(_SI_INTERCEPT,), n_categories=2)

    def __init__(self, a: ArrayLike, b: ArrayLike) -> None:
        FourPL.__init__(self, a, b, None, None)

    def _check_constraints(self, slopes: Array, c: Array, u: Array) -> None:
        super()._check_constraints(slopes, c, u)
        if not np.all(c == 0.0):
            raise InvalidParameterError(f"{self.name}: c must be 0; got {c.tolist()} (use 3pl)")


@register
class OnePL(TwoPL):
    """One-parameter logistic items (``1pl``): one slope common to all items, θ ~ N(0, 1).

    Parameters
    ----------
    a : float or array_like
        The common slope (an array must hold one value repeated).
    b : array_like, shape (n_items,)
        Difficulties.
    """

    name: ClassVar[str] = "1pl"
    PARAMETERS: ClassVar[ModelParameters] = with_slopes(
        "tied", columns=(_INTERCEPT, _FIXED_LOWER, _FIXED_UPPER), traditional=(_DIFFICULTY,),
        slope_intercept=(_SI_INTERCEPT,), n_categories=2)

    def __init__(self, a: ArrayLike, b: ArrayLike) -> None:
        b_arr = np.asarray(b, dtype=np.float64)
        a_arr = np.asarray(a, dtype=np.float64)
        if a_arr.ndim == 0:
            a_arr = np.full(b_arr.shape, float(a_arr))
        super().__init__(a_arr, b_arr)

    def _check_constraints(self, slopes: Array, c: Array, u: Array) -> None:
        super()._check_constraints(slopes, c, u)
        if slopes.size and not np.all(slopes == slopes[0]):
            raise InvalidParameterError(
                f"{self.name}: the slope must be common to all items; got {np.unique(slopes).tolist()}"
            )


@register
class Rasch(OnePL):
    """Rasch items (``rasch``): every slope 1, the latent variance free (as mirt's ``Rasch``).

    Parameters
    ----------
    b : array_like, shape (n_items,)
        Difficulties; :math:`P = \\sigma(\\theta - b)`.
    """

    name: ClassVar[str] = "rasch"
    PARAMETERS: ClassVar[ModelParameters] = with_slopes(
        "fixed", columns=(_INTERCEPT, _FIXED_LOWER, _FIXED_UPPER), traditional=(_DIFFICULTY,),
        slope_intercept=(_SI_INTERCEPT,), n_categories=2)

    def __init__(self, b: ArrayLike, a: ArrayLike = 1.0) -> None:
        super().__init__(a, b)

    def _check_constraints(self, slopes: Array, c: Array, u: Array) -> None:
        super()._check_constraints(slopes, c, u)
        if not np.all(slopes == 1.0):
            raise InvalidParameterError(
                f"{self.name}: every slope is 1; got {np.unique(slopes).tolist()} (use 1pl or 2pl)"
            )
