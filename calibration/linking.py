"""Linking two calibrations through common items (Kolen & Brennan 2014, ch. 6).

Two separate calibrations put θ on scales that differ by a linear map. With the *source* scale
mapped to the *target* scale by :math:`\\theta_t = A\\theta_s + B`, an item keeps its response
function when its parameters change as

.. math:: a^* = a / A, \\qquad b^* = A b + B

(slope-intercept: :math:`d^* = d - aB/A`; for the divide-by-total models each intercept
:math:`d_k^* = d_k - \\alpha_k a B / A`). The constants come from the common (anchor) items:

* ``mean-mean`` (Loyd & Hoover 1980): :math:`A = \\overline{|a_s|} / \\overline{|a_t|}`
  (the slopes' magnitudes, so that reverse-keyed anchors, a < 0, do not cancel the others),
  :math:`B = \\bar b_t - A\\bar b_s`;
* ``mean-sigma`` (Marco 1977): :math:`A = \\sigma(b_t)/\\sigma(b_s)`, same B;
* ``haebara`` (Haebara 1980): minimise :math:`\\sum_q w_q\\sum_i\\sum_k (P_{ik}^t(\\theta_q) -
  P_{ik}^{s*}(\\theta_q))^2`;
* ``stocking-lord`` (Stocking & Lord 1983): minimise :math:`\\sum_q w_q (\\sum_i E_i^t(\\theta_q) -
  \\sum_i E_i^{s*}(\\theta_q))^2`;

with locations :math:`b` (every threshold of a polytomous item) and θ nodes weighted by the
target's latent distribution. Anchors whose transformed response functions still differ from
the target's (root mean squared difference of the expected score per category point, weighted
over θ, above ``drift_threshold``) are flagged as drifted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize

from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.latent import LatentDistribution
from qabilet.engine.models import FourPL, GradedResponse, ItemModel
from qabilet.engine.models._divide_by_total import DivideByTotal
from qabilet.engine.quadrature import equispaced_grid

__all__ = ["METHODS", "LinkingResult", "curve_rmsd", "link", "rescale"]

METHODS = ("mean-mean", "mean-sigma", "haebara", "stocking-lord")

Array = NDArray[np.float64]


def _rescale_model(model: ItemModel, slope: float, shift: float) -> ItemModel:
    """The model's items on the scale :math:`\\theta^* = A\\theta + B`."""
    from qabilet.engine.models import RatingScale

    if isinstance(model, RatingScale):
        raise InvalidParameterError(
            "linking: rating scale items keep slope 1; link their latent distribution instead, "
            "or calibrate them as gpcm")
    psi = model.param_vector().copy()
    names = model.param_names()
    a = psi[:, 0].copy()
    psi[:, 0] = a / slope
    if isinstance(model, FourPL):
        psi[:, names.index("d")] -= a * shift / slope
    elif isinstance(model, GradedResponse):
        psi[:, 1:] -= (a * shift / slope)[:, None]
    elif isinstance(model, DivideByTotal):
        k = (psi.shape[1] - 1) // 2
        ak = psi[:, 1 : 1 + k]
        psi[:, 1 + k :] -= ak * (a * shift / slope)[:, None]
    else:  # pragma: no cover - every registered model is one of the above
        raise InvalidParameterError(f"linking: no rescaling rule for {model.name!r}")
    return model.with_params(psi)


def rescale(bank: ItemBank, slope: float, shift: float) -> ItemBank:
    """A unidimensional bank on the scale :math:`\\theta^* = A\\theta + B` (items and latent).

    Parameters
    ----------
    bank : ItemBank
    slope, shift : float
        A (> 0) and B.

    Examples
    --------
    >>> from qabilet.engine.models import TwoPL
    >>> out = rescale(ItemBank([TwoPL([1.2], [0.5])]), 2.0, 1.0)
    >>> out.models[0].a.tolist(), out.models[0].b.tolist(), out.latent.mean.tolist()
    ([0.6], [2.0], [1.0])
    """
    if bank.n_dims != 1:
        raise InvalidParameterError("linking: unidimensional banks only")
    if not (np.isfinite(slope) and slope > 0 and np.isfinite(shift)):
        raise InvalidParameterError(f"linking: expected A > 0 and finite B; got {slope}, {shift}")
    latent = LatentDistribution(slope * bank.latent.mean + shift, slope**2 * bank.latent.cov,
                                bank.latent.factor_names)
    models = [_rescale_model(m, slope, shift) for m in bank.models]
    return ItemBank(models, bank.item_ids, latent, bank.positions)


@dataclass(frozen=True, slots=True)
class LinkingResult:
    """Linking constants and anchor diagnostics.

    Attributes
    ----------
    method : str
    slope, shift : float
        A and B of :math:`\\theta_{target} = A\\theta_{source} + B`.
    anchors : tuple of str
        The common items used.
    rmsd : tuple of float
        Per anchor, the weighted RMS difference between the target's and the transformed
        source's expected item score, per category point (0–1).
    drifted : tuple of str
        Anchors whose ``rmsd`` exceeds the threshold.
    """

    method: str
    slope: float
    shift: float
    anchors: tuple[str, ...]
    rmsd: tuple[float, ...]
    drifted: tuple[str, ...]

    def transform_theta(self, theta: ArrayLike) -> Array:
        """Source-scale θ on the target scale."""
        return self.slope * np.asarray(theta, dtype=np.float64) + self.shift

    def transform(self, bank: ItemBank) -> ItemBank:
        """A source-scale bank on the target scale."""
        return rescale(bank, self.slope, self.shift)

    def summary(self) -> str:
        """The constants and the anchor table."""
        lines = [f"{self.method} linking: theta_target = {self.slope:.4f} * theta_source "
                 f"{'+' if self.shift >= 0 else '-'} {abs(self.shift):.4f}",
                 f"{len(self.anchors)} anchors; drifted: {', '.join(self.drifted) or 'none'}"]
        lines += [f"  {a:<14} RMSD {r:.4f}{'  DRIFT' if a in self.drifted else ''}"
                  for a, r in zip(self.anchors, self.rmsd)]
        return "\n".join(lines)


def _locations(model: ItemModel) -> Array:
    """Traditional locations of every item, each row padded with NaN (all b or b_k).

    Nominal items have no location parameter; theirs are where adjacent categories' curves
    cross, :math:`\theta_k = -(d_k - d_{k-1}) / (a(\alpha_k - \alpha_{k-1}))` in mirt's form
    (for the GPCM, whose :math:`\alpha_k = k`, these are its steps :math:`b_k`). They move
    with the scale as a ``b`` does (:math:`\theta_k^* = A\theta_k + B` under the rule of
    :func:`rescale`); NaN where two categories have the same scoring (no crossing).
    """
    trad = model.to_traditional()
    if "b" not in trad:
        form = model.to_slope_intercept()
        step = form["a"][:, :1] * np.diff(form["ak"], axis=1)
        rise = -np.diff(form["d"], axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(np.abs(step) > 1e-12, rise / step, np.nan)
    b = np.asarray(trad["b"], dtype=np.float64)
    return b[:, None] if b.ndim == 1 else b


def curve_rmsd(moved: ItemBank, reference: ItemBank, *, n_points: int = 41,
               bounds: tuple[float, float] = (-4.0, 4.0)) -> Array:
    """Each item's weighted RMSD between two expected-score curves, per score point.

    .. math:: \\mathrm{RMSD}_i = \\frac{1}{K_i - 1}\\sqrt{\\sum_q w_q\\,
              \\big(E^{\\text{ref}}_i(\\theta_q) - E_i(\\theta_q)\\big)^2},

    on ``n_points`` equispaced nodes over ``bounds`` weighted by ``reference``'s latent
    density: how far an item's response function moved (above 0.05 the move matters). Items
    are matched by position; both banks unidimensional.
    """
    grid = equispaced_grid(reference.latent, n_points, bounds)
    nodes, weights = grid.nodes[:, 0], grid.weights
    points = (moved.n_categories - 1).astype(np.float64)
    diff = reference.expected_score(nodes) - moved.expected_score(nodes)
    out: Array = np.sqrt(weights @ (diff / points) ** 2)
    return out


def link(
    source: ItemBank,
    target: ItemBank,
    *,
    method: str = "stocking-lord",
    anchors: Sequence[str] | None = None,
    n_points: int = 41,
    bounds: tuple[float, float] = (-4.0, 4.0),
    drift_threshold: float = 0.05,
) -> LinkingResult:
    """Linking constants putting ``source`` on ``target``'s scale through common items.

    Parameters
    ----------
    source, target : ItemBank
        Two unidimensional calibrations; common items are matched by id.
    method : {"mean-mean", "mean-sigma", "haebara", "stocking-lord"}
    anchors : sequence of str, optional
        The common items to use (all shared ids by default).
    n_points, bounds : int, (float, float)
        θ nodes for the characteristic-curve methods and the drift check, weighted by the
        target's latent distribution.
    drift_threshold : float
        RMSD above which an anchor is flagged.

    Returns
    -------
    LinkingResult
    """
    if method not in METHODS:
        raise InvalidParameterError(f"method: expected one of {', '.join(METHODS)}; got {method!r}")
    if source.n_dims != 1 or target.n_dims != 1:
        raise InvalidParameterError("linking: unidimensional banks only")
    common = [i for i in source.item_ids if i in set(target.item_ids)] if anchors is None else [
        str(i) for i in anchors]
    if len(common) < 2:
        raise InvalidParameterError(
            f"linking: needs at least two common items; got {len(common)} ({common})")
    src = source.subset(source.index_of(common))
    tgt = target.subset(target.index_of(common))
    if src.model_names != tgt.model_names or not np.array_equal(src.n_categories, tgt.n_categories):
        raise InvalidParameterError("linking: common items must have the same model and categories")
    b_s = np.concatenate([_locations(m).reshape(-1) for m in src.models])
    b_t = np.concatenate([_locations(m).reshape(-1) for m in tgt.models])
    keep = ~(np.isnan(b_s) | np.isnan(b_t))
    b_s, b_t = b_s[keep], b_t[keep]
    a_s, a_t = src.slopes[:, 0], tgt.slopes[:, 0]
    if method == "mean-mean":
        slope = float(np.abs(a_s).mean() / np.abs(a_t).mean())  # |a*| = |a| / A
    else:
        slope = float(b_t.std() / b_s.std())
    shift = float(b_t.mean() - slope * b_s.mean())
    grid = equispaced_grid(target.latent, n_points, bounds)
    nodes, weights = grid.nodes[:, 0], grid.weights
    p_t = tgt.prob(nodes)
    e_t = tgt.expected_score(nodes)
    if method in ("haebara", "stocking-lord"):

        def loss(x: Array) -> float:
            if x[0] <= 0:
                return np.inf
            moved = rescale(src, float(x[0]), float(x[1]))
            if method == "haebara":
                return float(weights @ ((p_t - moved.prob(nodes)) ** 2).sum(axis=(1, 2)))
            diff = e_t.sum(axis=1) - moved.expected_score(nodes).sum(axis=1)
            return float(weights @ diff**2)

        res = minimize(loss, np.array([slope, shift]), method="Nelder-Mead",
                       options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 4000})
        slope, shift = float(res.x[0]), float(res.x[1])
    rmsd = curve_rmsd(rescale(src, slope, shift), tgt, n_points=n_points, bounds=bounds)
    drifted = tuple(c for c, r in zip(common, rmsd) if r > drift_threshold)
    return LinkingResult(method, slope, shift, tuple(common), tuple(float(r) for r in rmsd),
                         drifted)
