"""Normal orthant probabilities in one, two and three dimensions, vectorised.

A Thurstonian forced-choice block of :math:`n` statements is ranked by its utilities; a ranking
is the event that the :math:`n - 1` differences of consecutive utilities are all positive, an
orthant probability of a normal vector of dimension :math:`n - 1 \\le 3`:

.. math:: P(\\mathbf D > \\mathbf 0), \\qquad \\mathbf D \\sim N(\\mathbf m, \\Sigma).

Standardised, with :math:`a_k = m_k / \\sigma_k` and the correlations :math:`\\rho`, it is the
lower-tail normal distribution function :math:`\\Phi_d(\\mathbf a; R)` (the orthant of
:math:`-\\mathbf D` below :math:`\\mathbf 0` is that of :math:`\\mathbf D` above it):

* :math:`d = 1`: :math:`\\Phi(a)`;
* :math:`d = 2`: :func:`bivariate_normal_cdf`, Genz's (2004) algorithm — for
  :math:`|\\rho| < 0.925` Gauss–Legendre quadrature of Sheppard's integral over
  :math:`\\arcsin\\rho`, otherwise of Drezner & Wesolowsky's (1990) expansion about
  :math:`|\\rho| = 1` — accurate to about :math:`10^{-15}`;
* :math:`d = 3`: :func:`trivariate_normal_cdf`, Plackett's (1954) reduction to a
  one-dimensional integral along a path of correlation matrices, as Genz (2004) computes it.

Everything broadcasts over leading batch axes (persons × quadrature nodes × blocks), with no
Python loop over them.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

from qabilet.engine.exceptions import InvalidParameterError

__all__ = ["bivariate_normal_cdf", "orthant_gradient", "orthant_probability", "trivariate_normal_cdf"]

Array = NDArray[np.float64]

#: Gauss–Legendre nodes and weights on (−1, 1): 20 for the bivariate integrals, 24 for the
#: trivariate one
_X20, _W20 = np.polynomial.legendre.leggauss(20)
_X24, _W24 = np.polynomial.legendre.leggauss(24)
_TWO_PI = 2.0 * np.pi


def _sheppard(h: Array, k: Array, r: Array, x: Array, w: Array) -> Array:
    """P(X > h, Y > k) by Sheppard's integral over θ ∈ (0, arcsin r), Gauss–Legendre (x, w)."""
    hk = h * k
    asr = np.arcsin(r)
    hs = (h * h + k * k) / 2.0
    sn = np.sin(asr[..., None] * (x + 1.0) / 2.0)
    inner = np.exp((sn * hk[..., None] - hs[..., None]) / (1.0 - sn * sn))
    out: Array = (inner @ w) * asr / (2.0 * _TWO_PI) + ndtr(-h) * ndtr(-k)
    return out


def _drezner(h: Array, k: Array, r: Array) -> Array:
    """P(X > h, Y > k) for |r| ≥ 0.925: Drezner & Wesolowsky's expansion about |r| = 1."""
    neg = r < 0
    kk = np.where(neg, -k, k)
    hk = h * kk
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        as_ = (1.0 - r) * (1.0 + r)
        a = np.sqrt(as_)
        bs = (h - kk) ** 2
        c = (4.0 - hk) / 8.0
        d = (12.0 - hk) / 16.0
        bvn = a * np.exp(-(bs / as_ + hk) / 2.0) * (
            1.0 - c * (bs - as_) * (1.0 - d * bs / 5.0) / 3.0 + c * d * as_ * as_ / 5.0)
        b = np.sqrt(bs)
        tail = np.exp(-hk / 2.0) * np.sqrt(_TWO_PI) * ndtr(-b / a) * b * (
            1.0 - c * bs * (1.0 - d * bs / 5.0) / 3.0)
        bvn = bvn - np.where(hk > -160.0, tail, 0.0)
        half = a / 2.0
        xs = (half[..., None] * (_X20 + 1.0)) ** 2
        rs = np.sqrt(1.0 - xs)
        ex = -(bs[..., None] / xs + hk[..., None]) / 2.0
        term = np.where(ex > -100.0, np.exp(ex) * (
            np.exp(-hk[..., None] * (1.0 - rs) / (2.0 * (1.0 + rs))) / rs
            - (1.0 + c[..., None] * xs * (1.0 + d[..., None] * xs))), 0.0)
        bvn = bvn + half * (term @ _W20)
        bvn = -bvn / _TWO_PI
    bvn = np.where(as_ <= 0.0, 0.0, bvn)  # |r| = 1: the expansion's limit
    out: Array = np.where(neg, np.where(kk > h, ndtr(kk) - ndtr(h), 0.0) - bvn,
                          bvn + ndtr(-np.maximum(h, kk)))
    return out


#: Genz's (2004) rules for Sheppard's integral: the fewest Gauss–Legendre points that reach
#: double precision for correlations up to each bound
_SHEPPARD_RULES = ((0.3, *np.polynomial.legendre.leggauss(6)),
                   (0.75, *np.polynomial.legendre.leggauss(12)),
                   (0.925, _X20, _W20))


def _upper(h: Array, k: Array, r: Array) -> Array:
    """P(X > h, Y > k) for standard normals of correlation r (Genz 2004, his BVNU).

    Each argument is computed by the rule its correlation needs (6, 12 or 20 points of
    Sheppard's integral, or Drezner & Wesolowsky's expansion), on that subset only.
    """
    out = np.empty(h.shape)
    size = np.abs(r)
    below = 0.0
    for bound, x, w in _SHEPPARD_RULES:
        here = (size >= below) & (size < bound)
        if here.any():
            out[here] = _sheppard(h[here], k[here], r[here], x, w)
        below = bound
    here = size >= below
    if here.any():
        out[here] = _drezner(h[here], k[here], r[here])
    clipped: Array = np.clip(out, 0.0, 1.0)
    return clipped


def bivariate_normal_cdf(h: ArrayLike, k: ArrayLike, rho: ArrayLike) -> Array:
    """:math:`\\Phi_2(h, k; \\rho) = P(X \\le h, Y \\le k)` for standard normals of correlation ρ.

    Parameters
    ----------
    h, k, rho : array_like
        Broadcast together; :math:`-1 \\le \\rho \\le 1`; infinite limits allowed.

    Examples
    --------
    At the origin :math:`\\Phi_2 = 1/4 + \\arcsin(\\rho) / (2\\pi)` (Sheppard 1899):

    >>> float(bivariate_normal_cdf(0.0, 0.0, 0.5))   # 1/4 + 1/12
    0.3333333333333333
    """
    h_, k_, r_ = np.broadcast_arrays(np.asarray(h, dtype=np.float64), np.asarray(k, dtype=np.float64),
                                     np.asarray(rho, dtype=np.float64))
    if np.any(np.abs(r_) > 1.0):
        raise InvalidParameterError("rho: expected correlations in [−1, 1]")
    # P(X ≤ h, Y ≤ k) = P(−X > −h, −Y > −k): the upper tail of the negated pair, same ρ
    finite = np.isfinite(h_) & np.isfinite(k_)
    hf, kf = np.where(finite, -h_, 0.0), np.where(finite, -k_, 0.0)
    out = _upper(hf, kf, r_)
    # an infinite limit leaves the other variable's margin (or 0)
    margin = np.where(h_ == np.inf, ndtr(k_), np.where(k_ == np.inf, ndtr(h_), 0.0))
    result: Array = np.where(finite, out, margin)
    return result


def _pair_density(x: Array, y: Array, r: Array) -> Array:
    """The bivariate standard normal density of correlation ``r`` at (x, y)."""
    q = 1.0 - r * r
    out: Array = np.exp(-(x * x - 2.0 * r * x * y + y * y) / (2.0 * q)) / (_TWO_PI * np.sqrt(q))
    return out


def _conditional(a_i: Array, a_j: Array, a_k: Array, r_ij: Array, r_ik: Array, r_jk: Array) -> Array:
    """:math:`\\Phi((a_k - E[X_k \\mid X_i = a_i, X_j = a_j]) / \\mathrm{SD})`."""
    q = 1.0 - r_ij * r_ij
    mean = (a_i * (r_ik - r_ij * r_jk) + a_j * (r_jk - r_ij * r_ik)) / q
    var = 1.0 - (r_ik * r_ik + r_jk * r_jk - 2.0 * r_ij * r_ik * r_jk) / q
    out: Array = ndtr((a_k - mean) / np.sqrt(np.maximum(var, 1e-300)))
    return out


def trivariate_normal_cdf(a: ArrayLike, corr: ArrayLike) -> Array:
    """:math:`\\Phi_3(\\mathbf a; R)` for standard normals with correlations ``corr``.

    Plackett's (1954) reduction, as Genz (2004) computes it: with the variables ordered so that
    :math:`|\\rho_{23}|` is the largest correlation, the path :math:`R(t)` from
    :math:`\\rho_{12} = \\rho_{13} = 0` (where :math:`\\Phi_3 = \\Phi(a_1)\\,\\Phi_2(a_2, a_3;
    \\rho_{23})`) to :math:`R` gives

    .. math::

        \\Phi_3(\\mathbf a; R) = \\Phi(a_1)\\,\\Phi_2(a_2, a_3; \\rho_{23})
          + \\int_0^1 \\sum_{(i, j) \\in \\{(1,2), (1,3)\\}} \\rho_{ij}\\,
            \\phi_2(a_i, a_j; t\\rho_{ij})\\,
            \\Phi\\Big(\\frac{a_k - \\mu_{k\\cdot ij}(t)}{\\sigma_{k\\cdot ij}(t)}\\Big)\\,dt,

    since :math:`\\partial\\Phi_3/\\partial\\rho_{ij}` is the density of the pair times the
    conditional distribution function of the third; the integral by 24-point Gauss–Legendre.

    Parameters
    ----------
    a : array_like, shape (..., 3)
        Upper limits (finite).
    corr : array_like, shape (..., 3)
        :math:`(\\rho_{12}, \\rho_{13}, \\rho_{23})` of a positive definite matrix.

    Examples
    --------
    At the origin :math:`\\Phi_3 = 1/8 + (\\arcsin\\rho_{12} + \\arcsin\\rho_{13} +
    \\arcsin\\rho_{23}) / (4\\pi)`:

    >>> round(float(trivariate_normal_cdf([0, 0, 0], [0.5, 0.5, 0.5])), 12)   # 1/8 + 1/8
    0.25
    """
    a_, c_ = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(corr, dtype=np.float64))
    if a_.shape[-1:] != (3,):
        raise InvalidParameterError(f"a: expected a last axis of 3; got shape {a_.shape}")
    if np.any(np.abs(c_) >= 1.0):
        raise InvalidParameterError("corr: expected correlations in (−1, 1)")
    # order the variables so that the correlation kept along the path is the largest
    pairs = np.abs(c_)  # ρ12, ρ13, ρ23
    keep = np.argmax(pairs, axis=-1)  # 0: keep ρ12 → variable 3 first; 1: ρ13 → 2 first; 2: as is
    first = np.choose(keep, [2, 1, 0])
    second = np.choose(keep, [0, 0, 1])
    third = np.choose(keep, [1, 2, 2])
    a1 = np.take_along_axis(a_, first[..., None], -1)[..., 0]
    a2 = np.take_along_axis(a_, second[..., None], -1)[..., 0]
    a3 = np.take_along_axis(a_, third[..., None], -1)[..., 0]
    r12_, r13_, r23_ = c_[..., 0], c_[..., 1], c_[..., 2]
    # the correlations of the reordered variables (first, second, third)
    r12 = np.choose(keep, [r13_, r12_, r12_])  # ρ(first, second)
    r13 = np.choose(keep, [r23_, r23_, r13_])  # ρ(first, third)
    r23 = np.choose(keep, [r12_, r13_, r23_])  # the kept one
    base = ndtr(a1) * bivariate_normal_cdf(a2, a3, r23)
    t = (_X24 + 1.0) / 2.0
    s12, s13 = r12[..., None] * t, r13[..., None] * t
    A1, A2, A3, R23 = a1[..., None], a2[..., None], a3[..., None], r23[..., None]
    d12 = _pair_density(A1, A2, s12) * _conditional(A1, A2, A3, s12, s13, R23)
    d13 = _pair_density(A1, A3, s13) * _conditional(A1, A3, A2, s13, s12, R23)
    path = (r12[..., None] * d12 + r13[..., None] * d13) @ _W24 / 2.0
    result: Array = np.clip(base + path, 0.0, 1.0)
    return result


def _standardised(mean: ArrayLike, cov: ArrayLike) -> tuple[Array, Array, Array]:
    """The standardised mean, the SDs and the correlations of a normal of dimension 1 to 3."""
    m = np.asarray(mean, dtype=np.float64)
    s = np.asarray(cov, dtype=np.float64)
    d = m.shape[-1]
    if d not in (1, 2, 3) or s.shape[-2:] != (d, d):
        raise InvalidParameterError(f"mean, cov: expected d = 1, 2 or 3 and a d × d covariance; "
                                    f"got shapes {m.shape} and {s.shape}")
    sd = np.sqrt(np.diagonal(s, axis1=-2, axis2=-1))
    corr = s / (sd[..., :, None] * sd[..., None, :])
    return m / sd, sd, corr


def orthant_probability(mean: ArrayLike, cov: ArrayLike) -> Array:
    """:math:`P(\\mathbf D > \\mathbf 0)` for :math:`\\mathbf D \\sim N(\\text{mean}, \\text{cov})`.

    Parameters
    ----------
    mean : array_like, shape (..., d)
        With :math:`1 \\le d \\le 3`.
    cov : array_like, shape (..., d, d)
        Positive definite; broadcast against ``mean``'s batch axes.

    Returns
    -------
    ndarray, shape (...)
    """
    z, _, corr = _standardised(mean, cov)
    d = z.shape[-1]
    if d == 1:
        one: Array = ndtr(z[..., 0])
        return one
    if d == 2:
        return bivariate_normal_cdf(z[..., 0], z[..., 1], corr[..., 0, 1])
    rho = np.stack([corr[..., 0, 1], corr[..., 0, 2], corr[..., 1, 2]], axis=-1)
    return trivariate_normal_cdf(z, rho)


def orthant_gradient(mean: ArrayLike, cov: ArrayLike) -> Array:
    """The gradient of :func:`orthant_probability` in the mean.

    :math:`\\partial P(\\mathbf D > \\mathbf 0) / \\partial\\,\\text{mean}`.

    With :math:`z = m / \\sigma`, :math:`\\partial\\Phi_d(\\mathbf z; R)/\\partial z_k` is the
    density of :math:`z_k` times the distribution function of the others given it (Plackett
    1954):

    * :math:`d = 2`: :math:`\\phi(z_k)\\,\\Phi\\big((z_l - \\rho z_k)/\\sqrt{1 - \\rho^2}\\big)`;
    * :math:`d = 3`: :math:`\\phi(z_k)\\,\\Phi_2\\big(\\frac{z_j - \\rho_{jk} z_k}{\\sqrt{1 -
      \\rho_{jk}^2}}, \\frac{z_l - \\rho_{lk} z_k}{\\sqrt{1 - \\rho_{lk}^2}};
      \\rho_{jl\\cdot k}\\big)`;

    divided by :math:`\\sigma_k`.

    Returns
    -------
    ndarray, shape (..., d)
    """
    z, sd, corr = _standardised(mean, cov)
    d = z.shape[-1]
    density = np.exp(-0.5 * z * z) / np.sqrt(_TWO_PI)
    if d == 1:
        one: Array = density / sd
        return one
    if d == 2:
        r = corr[..., 0, 1][..., None]
        q = np.sqrt(1.0 - r * r)
        other = z[..., ::-1]
        two: Array = density * ndtr((other - r * z) / q) / sd
        return two
    rest = ((1, 2), (0, 2), (0, 1))
    parts = []
    for k, (j, o) in enumerate(rest):
        rjk, rok, rjo = corr[..., j, k], corr[..., o, k], corr[..., j, o]
        qj, qo = np.sqrt(1.0 - rjk * rjk), np.sqrt(1.0 - rok * rok)
        partial = np.clip((rjo - rjk * rok) / (qj * qo), -1.0, 1.0)
        zk = z[..., k]
        parts.append(bivariate_normal_cdf((z[..., j] - rjk * zk) / qj, (z[..., o] - rok * zk) / qo,
                                          partial))
    three: Array = density * np.stack(parts, axis=-1) / sd
    return three
