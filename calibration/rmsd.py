"""Item fit for sparse data: the RMSD between model-implied and posterior-weighted empirical curves.

The statistic of PISA since 2015 (OECD, *PISA 2015 Technical Report*, ch. 9; Yamamoto,
Khorramdel & von Davier 2013 for PIAAC, where it was called RMSEA), computed per item and per
group (country, language). Each person's posterior over the quadrature nodes :math:`\\theta_q`
comes from *all* the items they answered, whichever those were, under their group's item
parameters and latent distribution:

.. math::

    \\pi_p(\\theta_q) = \\frac{g(\\theta_q) \\prod_j P_j(x_{pj}\\mid\\theta_q)^{o_{pj}}}
                           {\\sum_r g(\\theta_r) \\prod_j P_j(x_{pj}\\mid\\theta_r)^{o_{pj}}}.

Over the :math:`n_i` persons of the group who answered item :math:`i` (the others drop out),
the posterior-weighted *observed* curve of category :math:`k` and the posterior density of
:math:`\\theta` are

.. math::

    O_{ik}(\\theta_q) = \\frac{\\sum_p [x_{pi} = k]\\,\\pi_p(\\theta_q)}{\\sum_p \\pi_p(\\theta_q)},
    \\qquad f_i(\\theta_q) = \\frac{1}{n_i}\\sum_p \\pi_p(\\theta_q),

and the item's misfit is the root mean squared difference from the model's curves
:math:`P_{ik}`, integrated over :math:`f_i` and averaged over the item's :math:`K_i` categories,

.. math::

    \\mathrm{RMSD}_i = \\sqrt{\\frac{1}{K_i}\\sum_{k=0}^{K_i-1}\\sum_q f_i(\\theta_q)
                               \\big(O_{ik}(\\theta_q) - P_{ik}(\\theta_q)\\big)^2 }.

*Categories.* For a dichotomous item the two categories' differences are equal and opposite,
so the mean over :math:`K_i = 2` categories is the squared difference of the correct answer
alone: PISA's formula, :math:`\\sqrt{\\int (P_o(\\theta) - P_e(\\theta))^2 f(\\theta)\\,d\\theta}`.
For polytomous items the mean over categories is the convention of ``IRT.RMSD`` in R's CDM and
TAM packages (Robitzsch), which reduces to PISA's for dichotomous items; summing instead would
double every dichotomous value and make the 0.12 cut mean something else for two categories
than for more. Each category's own :math:`\\sqrt{\\sum_q f_i (O_{ik} - P_{ik})^2}` is reported as
well (``category_rmsd``: the category-level values of mirt's ``RMSD_DIF``). The PISA report's
own convention for polytomous items could not be checked here; this choice is stated so a
reader can compare.

*Density.* :math:`f_i` is the posterior density of the persons who answered the item (the
default, ``density="posterior"``): in adaptive testing an item is answered by persons near its
difficulty, and the deviations are weighted where its data are. ``density="model"`` weights by
the group's fitted latent distribution :math:`g` instead, the same for every item (CDM's and
TAM's ``pi.k``; mirt's ``dentype = "norm"``); nodes where nobody who answered has posterior mass
then have no observed curve and count as fitting.

*Mean deviation* (signed; CDM's MD): the observed minus the expected item score per score
point, :math:`\\mathrm{MD}_i = \\sum_q f_i(\\theta_q) \\sum_k k\\,(O_{ik} - P_{ik}) / (K_i - 1)`:
positive when the group scores higher on the item than the model says.

*Flag.* PISA 2015 marked an item's parameters as not fitting a country-by-language group when
its RMSD exceeded 0.12 (``threshold``). The sample RMSD is biased upwards (sampling noise in
:math:`O`; Robitzsch 2022, *Foundations* 2, 488–503): with few answers per item, compare it with
its distribution under the model (simulated data) before reading small values as misfit.

Missing answers (NaN, or ``observed`` False) drop out of every sum: nothing requires complete
data. With a multi-group :class:`~qabilet.calibration.CalibrationResult`, each group uses its own
latent distribution and, for group-specific items, its own parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qabilet.calibration._diagnostics import (
    Report,
    fmt,
    grid_options,
    read_group_inputs,
    text_table,
)
from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.likelihood import (
    Responses,
    category_offsets,
    flat_log_prob,
    log_normalise,
    loglik_blocks,
)
from qabilet.engine.quadrature import equispaced_grid

__all__ = ["RMSDFit", "rmsd"]

Array = NDArray[np.float64]

_DENSITIES = ("posterior", "model")


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class RMSDFit(Report):
    """RMSD item fit of every item in every group (see :func:`rmsd`).

    Arrays have a leading group axis, in the order of ``groups`` (one row, labelled None,
    without groups).

    Attributes
    ----------
    item_ids : tuple of str
    groups : tuple
        Group labels.
    rmsd : ndarray, shape (n_groups, n_items)
        NaN where nobody in the group answered the item.
    md : ndarray, shape (n_groups, n_items)
        Mean deviation per score point, observed minus model.
    category_rmsd : ndarray, shape (n_groups, n_items, max_categories)
        Each category's RMSD (NaN on padding).
    n_answered : ndarray of int, shape (n_groups, n_items)
        Persons of the group who answered the item.
    nodes : ndarray, shape (n_quad,)
    density : ndarray, shape (n_groups, n_items, n_quad)
        The weights :math:`f_i(\\theta_q)` (summing to 1 over the nodes).
    observed, expected : ndarray, shape (n_groups, n_items, max_categories, n_quad)
        :math:`O_{ik}(\\theta_q)` and :math:`P_{ik}(\\theta_q)` (0 on padding; ``observed`` is the
        model's value where :math:`\\sum_p \\pi_p(\\theta_q) = 0`).
    threshold : float
        Items with an RMSD above it are ``flagged``.
    weighting : str
        ``"posterior"`` or ``"model"``.
    """

    item_ids: tuple[str, ...]
    groups: tuple[Any, ...]
    rmsd: Array
    md: Array
    category_rmsd: Array
    n_answered: NDArray[np.int64]
    nodes: Array
    density: Array
    observed: Array
    expected: Array
    threshold: float
    weighting: str

    @property
    def flagged(self) -> NDArray[np.bool_]:
        """``rmsd > threshold``, shape (n_groups, n_items) (False where not computed)."""
        with np.errstate(invalid="ignore"):
            return np.asarray(self.rmsd > self.threshold)

    def flagged_items(self) -> list[tuple[Any, str]]:
        """``(group, item id)`` of every flagged item, group by group."""
        return [(self.groups[g], self.item_ids[i]) for g, i in np.argwhere(self.flagged)]

    def summary(self) -> str:
        """The statistics as a text table, one row per item and group."""
        head = (f"RMSD item fit ({self.weighting}-weighted; PISA 2015): {len(self.item_ids)} items, "
                f"{len(self.groups)} group(s); * RMSD > {self.threshold:g}\n")
        rows = [(g, i) for g in range(len(self.groups)) for i in range(len(self.item_ids))]
        cols = [("item", [self.item_ids[i] for _, i in rows])]
        if self.groups != (None,):
            cols.append(("group", [str(self.groups[g]) for g, _ in rows]))
        cols += [
            ("n", [fmt(self.n_answered[g, i]) for g, i in rows]),
            ("RMSD", [fmt(self.rmsd[g, i]) for g, i in rows]),
            ("MD", [fmt(self.md[g, i]) for g, i in rows]),
            ("", ["*" if self.flagged[g, i] else "" for g, i in rows]),
        ]
        return head + text_table(cols)

    def to_frame(self) -> Any:
        """One row per group and item (pandas is imported here only)."""
        import pandas as pd

        n_groups, n_items = self.rmsd.shape
        return pd.DataFrame({
            "group": np.repeat(np.array(self.groups, dtype=object), n_items),
            "item": np.tile(np.array(self.item_ids, dtype=object), n_groups),
            "n": self.n_answered.ravel(), "rmsd": self.rmsd.ravel(), "md": self.md.ravel(),
            "flagged": self.flagged.ravel(),
        })

    def __repr__(self) -> str:
        return (f"RMSDFit(n_items={len(self.item_ids)}, groups={list(self.groups)}, "
                f"flagged={int(self.flagged.sum())})")


def pseudo_counts(bank: ItemBank, resp: Responses, nodes: Array, log_prior: Array) -> Array:
    """:math:`\\sum_p [x_{pi} = k]\\,\\pi_p(\\theta_q)` for every (item, category) column and node.

    Each person's posterior on the nodes (prior ``log_prior``, likelihood of all their observed
    answers) is spread over the columns of the answers they gave: a one-hot matrix product per
    block of persons.

    Parameters
    ----------
    bank : ItemBank
    resp : Responses
    nodes : ndarray, shape (n_quad, 1)
    log_prior : ndarray, shape (n_quad,)
        Log prior weights (normalised or not).

    Returns
    -------
    ndarray, shape (sum_i K_i, n_quad)
        Columns in :func:`qabilet.engine.likelihood.category_offsets` order.
    """
    lp = flat_log_prob(bank, nodes)
    width, n_quad = lp.shape[1], lp.shape[0]
    cols = category_offsets(bank.n_categories)[None, :] + resp.x
    counts = np.zeros((width, n_quad))
    for rows, loglik in loglik_blocks(bank, resp, lp):  # blocks bound memory, not a loop per person
        loglik += log_prior[None, :]
        log_normalise(loglik)  # in place: the block's posterior weights
        m = loglik.shape[0]
        onehot = np.zeros((m, width))
        onehot[np.arange(m)[:, None], cols[rows]] = resp.observed[rows]
        counts += onehot.T @ loglik
    return counts


def rmsd(
    items: Any,
    responses: Any,
    observed: ArrayLike | None = None,
    *,
    groups: ArrayLike | None = None,
    density: str = "posterior",
    threshold: float = 0.12,
    n_points: int | None = None,
    bounds: tuple[float, float] | None = None,
) -> RMSDFit:
    """RMSD item fit, per item and group, from sparse or complete data (see the module notes).

    Parameters
    ----------
    items : ItemBank, item model, CalibrationResult or mapping of group label to ItemBank
        The calibrated items. A multi-group CalibrationResult (or a mapping) gives each group
        its latent distribution and its parameters of group-specific items; a single bank is
        used for every group. With a CalibrationResult, responses are in the calibrated codes.
    responses : array_like or DataFrame, shape (n_persons, n_items)
        Categories ``0 … K_i − 1`` for a bank; NaN where an item was not answered.
    observed : array_like of bool, optional
        Missing-data mask (True = answered).
    groups : array_like, shape (n_persons,), optional
        Group label of each person; needed with a multi-group fit or a mapping.
    density : {"posterior", "model"}
        The weights over θ: the posterior density of the persons who answered the item, or the
        group's latent distribution.
    threshold : float
        Flag items whose RMSD exceeds it (PISA 2015: 0.12).
    n_points, bounds : optional
        The quadrature grid (default: the fit's, or 61 nodes on [−6, 6]).

    Returns
    -------
    RMSDFit

    Examples
    --------
    Data from the model itself, each simulee answering 5 of 10 items at random: every RMSD is
    small; one item whose data come from a curve one logit harder is flagged.

    >>> from qabilet.engine.models import TwoPL
    >>> from qabilet.engine.simulation import simulate_responses
    >>> rng = np.random.default_rng(4)
    >>> bank = TwoPL(np.full(10, 1.5), np.linspace(-1.5, 1.5, 10))
    >>> theta = rng.normal(size=4000)
    >>> x = simulate_responses(bank, theta, rng).astype(float)
    >>> x[:, 0] = simulate_responses(TwoPL([1.5], [-0.5]), theta, rng)[:, 0]
    >>> x[rng.random(x.shape) < 0.5] = np.nan
    >>> fit = rmsd(bank, x)
    >>> fit.flagged_items(), bool(fit.rmsd[0, 1:].max() < 0.05)
    ([(None, 'Q1')], True)
    """
    data = read_group_inputs(items, responses, observed, groups, "rmsd")
    if density not in _DENSITIES:
        raise InvalidParameterError(f"density: expected one of {', '.join(_DENSITIES)}; got {density!r}")
    if not (np.isfinite(threshold) and threshold > 0):
        raise InvalidParameterError(f"threshold: expected a positive number; got {threshold}")
    bank0 = data.banks[0]
    n_pts, bnds = grid_options(data.fit, n_points, bounds)
    n_items, kmax = bank0.n_items, bank0.max_categories
    n_cat = bank0.n_categories
    offsets = category_offsets(n_cat)
    item_of = np.repeat(np.arange(n_items), n_cat)  # the item of every (item, category) column
    score = (np.arange(int(n_cat.sum())) - offsets[item_of]).astype(np.float64)  # its category k
    valid = np.arange(kmax)[None, :] < n_cat[:, None]  # (I, K): real categories
    n_groups = len(data.labels)
    out_rmsd, out_md = np.full((n_groups, n_items), np.nan), np.full((n_groups, n_items), np.nan)
    out_cat = np.full((n_groups, n_items, kmax), np.nan)
    answered = np.zeros((n_groups, n_items), dtype=np.int64)
    dens = np.zeros((n_groups, n_items, n_pts))
    obs_curves, exp_curves = np.zeros((2, n_groups, n_items, kmax, n_pts))
    nodes = np.empty(0)
    for g, bank in enumerate(data.banks):  # a handful of groups
        grid = equispaced_grid(bank.latent, n_pts, bnds)  # the same nodes, the group's weights
        nodes = grid.nodes[:, 0]
        mine = data.group_of == g
        resp = Responses(data.resp.x[mine], data.resp.observed[mine])
        counts = pseudo_counts(bank, resp, grid.nodes, grid.log_weights)  # (W, Q)
        model = np.exp(flat_log_prob(bank, grid.nodes)).T  # P_ik(θ_q), (W, Q)
        mass = np.add.reduceat(counts, offsets, axis=0)  # (I, Q): Σ_p π_p(θ_q) over answerers
        n_i = resp.observed.sum(axis=0)
        answered[g] = n_i
        some = n_i > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            emp = np.where(mass[item_of] > 0, counts / mass[item_of], model)  # O_ik(θ_q)
            weight = (mass / n_i[:, None] if density == "posterior"
                      else np.broadcast_to(grid.weights, mass.shape))  # f_i(θ_q)
        weight = np.where(some[:, None], weight, 0.0)
        diff = emp - model
        cat_ms = np.einsum("wq,wq->w", weight[item_of], diff**2)  # Σ_q f (O − P)² per column
        dev = np.einsum("wq,wq->w", weight[item_of], diff) * score  # k Σ_q f (O − P)
        cats = np.full((n_items, kmax), np.nan)
        cats[valid] = np.sqrt(cat_ms)
        out_cat[g, some] = cats[some]
        out_rmsd[g, some] = np.sqrt(np.add.reduceat(cat_ms, offsets) / n_cat)[some]
        out_md[g, some] = (np.add.reduceat(dev, offsets) / (n_cat - 1))[some]
        dens[g] = weight
        obs_curves[g][valid] = emp
        exp_curves[g][valid] = model
    return RMSDFit(
        item_ids=bank0.item_ids,
        groups=data.labels,
        rmsd=out_rmsd,
        md=out_md,
        category_rmsd=out_cat,
        n_answered=answered,
        nodes=nodes,
        density=dens,
        observed=obs_curves,
        expected=exp_curves,
        threshold=float(threshold),
        weighting=density,
    )
