"""Item selection rules: each scores every item for every session; higher is better.

A rule is a small strategy object with ``scores(context, snapshot, rng)`` returning an array of
shape ``(n_sessions, n_items)``. It never picks: the exposure rule (:mod:`qabilet.engine.cat.exposure`)
turns scores into a choice among the available items, so every selection rule works with every
exposure rule.

The Bayesian rules work on the blueprint's grid with the posterior weights :math:`w_{nq}` of
each session (:func:`qabilet.engine.cat.snapshot.posterior_weights`), so each is one or three matrix
products of the ``(n, n_quad)`` weights with a per-node table of the bank.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

import numpy as np

from qabilet.engine.cat.snapshot import CatContext, Snapshot, posterior_weights
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.likelihood import flat_log_prob
from qabilet.engine.models._base import Array

__all__ = [
    "AOptimality",
    "DOptimality",
    "KullbackLeibler",
    "MaximumInformation",
    "MinimumExpectedPosteriorVariance",
    "PosteriorWeightedInformation",
    "PosteriorWeightedKullbackLeibler",
    "RandomSelection",
    "SelectionRule",
    "selection_rule",
]


class SelectionRule(Protocol):
    """The contract of a selection rule."""

    name: ClassVar[str]

    def scores(self, context: CatContext, snap: Snapshot, rng: np.random.Generator) -> Array:
        """Merit of every item for every session, shape ``(snap.n, n_items)``."""
        ...


class MaximumInformation:
    """Maximum Fisher information at the current estimate (Lord 1980; Weiss 1982).

    .. math:: i^* = \\arg\\max_{i \\in R} \\mathcal I_i(\\hat\\theta),
              \\qquad \\mathcal I_i = a_i^2 P_i(1 - P_i) \\text{ for the 2PL}

    over the remaining items :math:`R`; the models' own information for any other item type.
    """

    name: ClassVar[str] = "mfi"

    def scores(self, context: CatContext, snap: Snapshot, rng: np.random.Generator) -> Array:
        """Fisher information of every item at each session's estimate."""
        return context.bank.information(snap.theta)


class PosteriorWeightedInformation:
    """Maximum posterior-weighted information (van der Linden 1998).

    .. math:: \\mathrm{MPWI}_i = \\int \\mathcal I_i(\\theta)\\,p(\\theta\\mid x)\\,d\\theta
              \\approx \\sum_q w_q\\,\\mathcal I_i(\\theta_q)

    Less greedy than MFI early in a test, when the estimate is poor.
    """

    name: ClassVar[str] = "mpwi"

    def scores(self, context: CatContext, snap: Snapshot, rng: np.random.Generator) -> Array:
        """Posterior weights times the information table."""
        return posterior_weights(snap.log_lik, context.grid) @ context.information


class MinimumExpectedPosteriorVariance:
    """Minimum expected posterior variance (Owen 1975; van der Linden 1998).

    For item :math:`i` with categories :math:`k`, the posterior after answering :math:`k` has
    weights :math:`w_q P_{ik}(\\theta_q)`; with :math:`S_{r,ik} = \\sum_q w_q\\theta_q^r
    P_{ik}(\\theta_q)` the predictive probability of :math:`k` is :math:`S_{0,ik}` and

    .. math:: \\mathrm{EPV}_i = \\sum_k S_{0,ik}\\,\\mathrm{Var}(\\theta\\mid x, k)
              = \\sum_k \\Big(S_{2,ik} - S_{1,ik}^2 / S_{0,ik}\\Big).

    The score is :math:`-\\mathrm{EPV}_i`.
    """

    name: ClassVar[str] = "mepv"

    def scores(self, context: CatContext, snap: Snapshot, rng: np.random.Generator) -> Array:
        """Minus the expected posterior variance of every item."""
        w = posterior_weights(snap.log_lik, context.grid)
        nodes = context.grid.nodes[:, 0]
        p = np.exp(context.log_p)  # (n_quad, sum K)
        s0 = w @ p
        s1 = (w * nodes) @ p
        s2 = (w * nodes * nodes) @ p
        epv = s2 - s1 * s1 / np.maximum(s0, 1e-300)
        return -context.per_item(epv)


def _kl_scores(context: CatContext, snap: Snapshot, weights: Array) -> Array:
    """KL-type scores for node weights :math:`v` (each row summing to :math:`c`).

    .. math:: \\sum_k P_{ik}(\\hat\\theta)\\,\\Big[c\\log P_{ik}(\\hat\\theta)
              - \\sum_q v_q\\log P_{ik}(\\theta_q)\\Big]
    """
    log_hat = flat_log_prob(context.bank, snap.theta[:, None])  # (n, sum K)
    p_hat = np.exp(log_hat)
    c = weights.sum(axis=1, keepdims=True)
    expected = weights @ context.log_p
    return context.per_item(p_hat * (c * log_hat - expected))


class KullbackLeibler:
    """Kullback–Leibler global information over an interval (Chang & Ying 1996).

    .. math:: \\mathrm{KL}_i(\\hat\\theta) = \\int_{\\hat\\theta-\\delta_m}^{\\hat\\theta+\\delta_m}
              \\sum_k P_{ik}(\\hat\\theta)\\log\\frac{P_{ik}(\\hat\\theta)}{P_{ik}(\\theta)}\\,d\\theta,
              \\qquad \\delta_m = 3/\\sqrt{\\max(m, 1)}

    after :math:`m` answers, integrated by the rectangle rule on the grid's nodes in the
    interval. Chang & Ying's :math:`\\delta_m = z/\\sqrt m` with :math:`z = 3`.
    """

    name: ClassVar[str] = "kl"
    z: ClassVar[float] = 3.0

    def scores(self, context: CatContext, snap: Snapshot, rng: np.random.Generator) -> Array:
        """KL information of every item around each session's estimate."""
        nodes = context.grid.nodes[:, 0]
        delta = self.z / np.sqrt(np.maximum(snap.n_scored, 1))
        inside = np.abs(nodes[None, :] - snap.theta[:, None]) <= delta[:, None]
        step = float(nodes[1] - nodes[0])
        return _kl_scores(context, snap, np.where(inside, step, 0.0))


class PosteriorWeightedKullbackLeibler:
    """Posterior-weighted Kullback–Leibler information (Chang & Ying 1996, "KLP").

    .. math:: \\mathrm{KLP}_i = \\int \\sum_k P_{ik}(\\hat\\theta)
              \\log\\frac{P_{ik}(\\hat\\theta)}{P_{ik}(\\theta)}\\,p(\\theta\\mid x)\\,d\\theta
    """

    name: ClassVar[str] = "klp"

    def scores(self, context: CatContext, snap: Snapshot, rng: np.random.Generator) -> Array:
        """KL information weighted by each session's posterior."""
        return _kl_scores(context, snap, posterior_weights(snap.log_lik, context.grid))


def _precision_terms(context: CatContext, snap: Snapshot) -> tuple[Array, Array, Array]:
    """Segall's (1996) working precision and each item's rank-one information at the estimate.

    :math:`W = \\Phi^{-1} + \\sum_{j \\in S}\\mathcal I_j(\\hat{\\boldsymbol\\theta})` over
    the items given, with :math:`\\Phi` the prior covariance; every item's information is
    :math:`c_i\\,\\mathbf a_i\\mathbf a_i^\\top` with :math:`c_i` the information per unit slope.

    Returns
    -------
    w_inv : ndarray, shape (n, d, d)
        :math:`W^{-1}`.
    c : ndarray, shape (n, n_items)
    slopes : ndarray, shape (n_items, d)
    """
    bank = context.bank
    theta = snap.theta.reshape(snap.n, bank.n_dims)
    slopes = bank.slopes
    c = bank._information_s(theta @ slopes.T)
    given = np.where(snap.scored, c, 0.0)
    w = np.linalg.inv(bank.latent.cov)[None] + np.einsum("ni,id,ie->nde", given, slopes, slopes)
    return np.linalg.inv(w), c, slopes


class DOptimality:
    """Bayesian D-optimality (Segall 1996): the item that most raises :math:`\\det W`.

    With :math:`W` the prior precision plus the information of the items given, at the current
    estimate, item :math:`i` adds :math:`c_i\\mathbf a_i\\mathbf a_i^\\top`, and by the matrix
    determinant lemma

    .. math:: \\log\\det(W + c_i\\mathbf a_i\\mathbf a_i^\\top) - \\log\\det W
              = \\log(1 + c_i\\,\\mathbf a_i^\\top W^{-1}\\mathbf a_i),

    the score. For one factor it ranks the items as maximum information does.
    """

    name: ClassVar[str] = "dopt"

    def scores(self, context: CatContext, snap: Snapshot, rng: np.random.Generator) -> Array:
        """Gain in the log-determinant of the posterior precision."""
        w_inv, c, a = _precision_terms(context, snap)
        quad = np.einsum("id,nde,ie->ni", a, w_inv, a)
        return np.log1p(c * quad)


class AOptimality:
    """Bayesian A-optimality: the item that most lowers :math:`\\operatorname{tr} W^{-1}`.

    By the Sherman–Morrison formula the trace falls by

    .. math:: \\frac{c_i\\,\\mathbf a_i^\\top W^{-2}\\mathbf a_i}
                   {1 + c_i\\,\\mathbf a_i^\\top W^{-1}\\mathbf a_i},

    the score: the sum of the factors' posterior variances, approximately, after the item
    (van der Linden 1999; Mulder & van der Linden 2009).
    """

    name: ClassVar[str] = "aopt"

    def scores(self, context: CatContext, snap: Snapshot, rng: np.random.Generator) -> Array:
        """Fall in the trace of the inverse precision."""
        w_inv, c, a = _precision_terms(context, snap)
        quad = np.einsum("id,nde,ie->ni", a, w_inv, a)
        quad2 = np.einsum("id,nde,ie->ni", a, w_inv @ w_inv, a)
        return c * quad2 / (1.0 + c * quad)


class RandomSelection:
    """Every available item equally likely (field testing and calibration designs)."""

    name: ClassVar[str] = "random"

    def scores(self, context: CatContext, snap: Snapshot, rng: np.random.Generator) -> Array:
        """Independent uniform scores: the best of them is a uniform draw."""
        return rng.random((snap.n, context.bank.n_items))


_RULES: dict[str, type[SelectionRule]] = {
    rule.name: rule for rule in (MaximumInformation, PosteriorWeightedInformation,
                                 MinimumExpectedPosteriorVariance, KullbackLeibler,
                                 PosteriorWeightedKullbackLeibler, DOptimality, AOptimality,
                                 RandomSelection)
}


def selection_rule(name: str) -> SelectionRule:
    """The selection rule registered under ``name``."""
    try:
        return _RULES[name]()
    except KeyError:
        raise InvalidParameterError(
            f"selection: expected one of {', '.join(_RULES)}; got {name!r}"
        ) from None
