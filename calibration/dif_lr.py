"""Differential item functioning by likelihood ratio between two or more groups, with ETS classes.

*The test.* For each studied item, a multi-group calibration in which that item's parameters
are free in every group is compared with the constrained calibration in which all items are
equal across groups (the groups' latent means and variances free in both):

.. math:: G^2_i = 2\\,(\\ell_{\\text{free } i} - \\ell_{\\text{equal}}) \\sim \\chi^2_{(G-1)k_i}

under no DIF, with :math:`k_i` the item's number of parameters (Thissen, Steinberg & Wainer
1993; mirt's ``DIF(..., scheme = "drop")`` tests the same hypothesis from the other side). The
other items anchor the scale, so a few DIF items among many are found; a purification step is
left to the user (re-run with ``items`` restricted to the anchors found clean). The likelihood
needs no summed score, so sparse data (each person answering a few items, as in adaptive
testing) are tested as they are. The p-values are adjusted over the items tested (Holm 1979 by
default; :mod:`qabilet.calibration._multiplicity`).

*Effect sizes*, on the item score scale, from the free calibration (each group's own
parameters of the studied item and the groups' fitted latent densities :math:`g_R, g_F` on the
calibration's quadrature grid), reference group R against the focal group F (the first other
group when there are several), with :math:`E_{ig}(\\theta) = \\sum_k k\\,P_{igk}(\\theta)` the
expected item score:

* the standardized mean difference, in score points — the population value of Dorans &
  Schmitt's (1991) SMD with persons matched on θ, Meade's (2010) signed item difference
  :math:`\\mathrm{SMD}_i = \\sum_q g_F(\\theta_q)\\,[E_{iF}(\\theta_q) - E_{iR}(\\theta_q)]`, positive
  when the focal group scores higher than reference-group persons of the same θ; per score
  point (divided by :math:`K_i - 1`) it is ``signed_difference``, and the root mean square of
  the same difference ``unsigned_difference``;
* ``smd_sd``: SMD divided by the item score's standard deviation in the total group (the
  reference and focal groups together, each weighted by its persons who answered the item,
  each answering by its own parameters and latent density) — ETS's SMD/SD;
* for dichotomous items, the Mantel–Haenszel D-DIF equivalent :math:`\\Delta_i = -2.35\\ln
  \\alpha_i` with

  .. math::

      \\alpha_i = \\frac{\\sum_q h_q\\,P_{iR}(\\theta_q)\\,(1 - P_{iF}(\\theta_q))}
                       {\\sum_q h_q\\,(1 - P_{iR}(\\theta_q))\\,P_{iF}(\\theta_q)}, \\qquad
      h_q = \\frac{n_{Rq}\\,n_{Fq}}{n_{Rq} + n_{Fq}},\\quad n_{gq} = N_{ig}\\,g_g(\\theta_q),

  the common odds ratio the Mantel–Haenszel estimator converges to when persons are matched on
  θ itself (:math:`N_{ig}` the group's persons who answered the item). Under the 2PL with equal
  slopes the odds ratio is the same at every θ and :math:`\\Delta_i = -2.35\\,a(b_F - b_R)`
  (Holland & Thayer 1988). Negative: harder for the focal group, as in
  :func:`qabilet.calibration.dif.mantel_haenszel`.

The score of category :math:`k` is :math:`k`, as everywhere in the engine: for nominal items
(situational judgement) SMD and its class mean something only when the options' codes are in
the order of their scores. Standard errors of SMD and Δ are by the delta method from the free
calibration's covariance of the studied item's parameters in both groups (the latent densities
and the weights taken as known).

*ETS classes* (Zieky 1993; Zwick 2012, ETS RR-12-08): dichotomous items by Δ (A: :math:`|\\Delta|
< 1` or not significant; C: :math:`|\\Delta| \\ge 1.5` and :math:`(|\\Delta| - 1)/SE > 1.645`; B
otherwise — :func:`qabilet.calibration.dif.ets_classes`), polytomous items by SMD/SD (A: not
significant or :math:`\\le 0.17`; C: :math:`> 0.25`; B otherwise —
:func:`qabilet.calibration.dif.ets_polytomous_classes`). ETS computes Δ and SMD from persons
matched on their total score and tests with the Mantel–Haenszel (Mantel) χ²; here both are
model-implied and "significant" means the *adjusted* likelihood-ratio p-value is below
``alpha``. An item leaves class A only when its adjusted test rejects, so with Holm's
adjustment the probability that any DIF-free item is classed B or C is at most ``alpha``
(familywise, whatever the dependence between the tests); with ``adjust="bh"`` the expected share
of DIF-free items among those classed B or C is at most ``alpha``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import chi2

from qabilet.calibration._design import free_mask
from qabilet.calibration._diagnostics import grid_options
from qabilet.calibration._multiplicity import ADJUSTMENTS, adjust_p_values
from qabilet.calibration.dif import _ETS_SCALE, ets_classes, ets_polytomous_classes
from qabilet.calibration.mml import MML
from qabilet.calibration.result import CalibrationResult
from qabilet.engine.exceptions import ConvergenceWarning, InvalidParameterError
from qabilet.engine.likelihood import observed_mask
from qabilet.engine.models import ItemModel
from qabilet.engine.quadrature import equispaced_grid

__all__ = ["ItemDIF", "LikelihoodRatioDIF", "likelihood_ratio_dif"]

Array = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ItemDIF:
    """One studied item's test, effect sizes and class (a row of :class:`LikelihoodRatioDIF`).

    Attributes
    ----------
    item : str
    statistic, df, p_value, p_adjusted
        :math:`G^2`, its degrees of freedom, χ² p-value and the p-value adjusted over the items.
    smd, smd_se : float
        Focal minus reference expected item score over the focal group's θ (score points), and
        its standard error.
    smd_sd : float
        SMD over the total group's item score SD.
    delta, delta_se : float
        MH D-DIF equivalent and its standard error (NaN for polytomous items).
    signed_difference, unsigned_difference : float
        Per score point: SMD, and the root mean square difference of the expected scores.
    ets_class : str
        ``"A"``, ``"B"`` or ``"C"`` (``""`` where not computed).
    favoured : object
        The group whose members score higher at the same θ (by Δ for dichotomous items, by SMD
        otherwise); None when there is no difference.
    note : str
        Why the item was not tested ("" when it was).
    """

    item: str
    statistic: float
    df: int
    p_value: float
    p_adjusted: float
    smd: float
    smd_se: float
    smd_sd: float
    delta: float
    delta_se: float
    signed_difference: float
    unsigned_difference: float
    ets_class: str
    favoured: Any
    note: str = ""


@dataclass(frozen=True, slots=True, eq=False)
class LikelihoodRatioDIF:
    """Likelihood-ratio DIF tests, effect sizes and ETS classes, one row per studied item.

    Attributes
    ----------
    items : tuple of str
    statistic, df, p_value : ndarray
        :math:`G^2`, its degrees of freedom and χ² p-value.
    signed_difference, unsigned_difference : ndarray
        Focal minus reference expected score per category point, averaged (signed) and as an
        RMS (unsigned) over the focal group's latent distribution.
    reference, focal : object
        Group labels (the first focal group when there are several).
    loglik_equal : float
        Log-likelihood of the constrained (no-DIF) model.
    p_adjusted : ndarray
        ``p_value`` adjusted over the items tested by ``adjust``.
    smd, smd_se, smd_sd, sd_total : ndarray
        SMD (score points), its standard error, SMD/SD, and the SD (see the module notes).
    delta, delta_se : ndarray
        MH D-DIF equivalent and its standard error (NaN for polytomous items).
    ets_class : ndarray of str
        ``"A"``, ``"B"``, ``"C"``.
    favoured : tuple
        Per item, the label of the group favoured (None: no difference).
    n_reference, n_focal : ndarray of int
        Persons of each group who answered the item.
    adjust : str
        ``"holm"``, ``"bh"``, ``"bonferroni"`` or ``"none"``.
    alpha : float
        Level of the tests behind the classes.
    not_tested : mapping of str to str
        Items that could not be tested, and why (their rows are NaN, their class ""): with sparse
        data a group may never have used one of an item's categories, and then its parameters of
        the item are not identified. The adjustment counts only the items tested.
    """

    items: tuple[str, ...]
    statistic: Array
    df: NDArray[np.int64]
    p_value: Array
    signed_difference: Array
    unsigned_difference: Array
    reference: Any
    focal: Any
    loglik_equal: float
    p_adjusted: Array
    smd: Array
    smd_se: Array
    smd_sd: Array
    sd_total: Array
    delta: Array
    delta_se: Array
    ets_class: NDArray[np.str_]
    favoured: tuple[Any, ...]
    n_reference: NDArray[np.int64]
    n_focal: NDArray[np.int64]
    adjust: str
    alpha: float
    not_tested: Mapping[str, str]
    method: str = "likelihood ratio"

    def flagged(self, alpha: float | None = None, adjust: str | None = None) -> tuple[str, ...]:
        """Items whose adjusted p-value is below ``alpha`` (default: the result's level and adjustment)."""
        level = self.alpha if alpha is None else float(alpha)
        p = self.p_adjusted if adjust is None else adjust_p_values(self.p_value, adjust)
        return tuple(i for i, q in zip(self.items, p, strict=True) if q < level)

    def rows(self) -> tuple[ItemDIF, ...]:
        """One typed row per studied item."""
        return tuple(ItemDIF(
            item=self.items[j], statistic=float(self.statistic[j]), df=int(self.df[j]),
            p_value=float(self.p_value[j]), p_adjusted=float(self.p_adjusted[j]),
            smd=float(self.smd[j]), smd_se=float(self.smd_se[j]), smd_sd=float(self.smd_sd[j]),
            delta=float(self.delta[j]), delta_se=float(self.delta_se[j]),
            signed_difference=float(self.signed_difference[j]),
            unsigned_difference=float(self.unsigned_difference[j]),
            ets_class=str(self.ets_class[j]), favoured=self.favoured[j],
            note=self.not_tested.get(self.items[j], ""))
            for j in range(len(self.items)))

    def summary(self) -> str:
        """The table as text."""
        name = "G2" if self.method == "likelihood ratio" else "LM"
        lines = [f"DIF by {self.method}, reference {self.reference!r}, focal {self.focal!r}; "
                 f"p adjusted by {self.adjust}, ETS classes at alpha = {self.alpha:g}",
                 f"{'item':<14}{name:>10}{'df':>4}{'p':>10}{'p adj':>10}{'SMD':>8}{'SMD/SD':>8}"
                 f"{'delta':>8}{'ETS':>5}  favours"]
        for j, item in enumerate(self.items):
            delta = f"{self.delta[j]:>8.2f}" if np.isfinite(self.delta[j]) else f"{'-':>8}"
            favoured = "" if self.favoured[j] is None else str(self.favoured[j])
            lines.append(f"{item:<14}{self.statistic[j]:>10.3f}{self.df[j]:>4d}{self.p_value[j]:>10.4f}"
                         f"{self.p_adjusted[j]:>10.4f}{self.smd[j]:>8.3f}{self.smd_sd[j]:>8.3f}"
                         f"{delta}{self.ets_class[j] or '-':>5}  {favoured}")
        lines += [f"not tested: {item}: {why}" for item, why in self.not_tested.items()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(self.summary())}</pre>"

    def to_frame(self) -> Any:
        """The table as a pandas DataFrame (pandas imported here only)."""
        import pandas as pd

        return pd.DataFrame({"item": self.items, "G2": self.statistic, "df": self.df,
                             "p": self.p_value, "p_adjusted": self.p_adjusted, "smd": self.smd,
                             "smd_se": self.smd_se, "smd_sd": self.smd_sd, "delta": self.delta,
                             "delta_se": self.delta_se, "signed": self.signed_difference,
                             "unsigned": self.unsigned_difference, "ets_class": self.ets_class,
                             "favoured": list(self.favoured), "n_reference": self.n_reference,
                             "n_focal": self.n_focal})


@dataclass(frozen=True, slots=True)
class _Curves:
    """One group's curves of the studied item on the grid, their parameter gradients, the grid's weights."""

    prob: Array  # (Q, K)
    dprob: Array  # (Q, K, n_params): derivative of each category's probability
    weights: Array  # (Q,) the group's latent density on the grid


def item_curves(one: ItemModel, grid_nodes: Array, weights: Array) -> _Curves:
    """The curves of a one-item model on the grid, by its present parameters, with a group's weights."""
    prob = one.prob(grid_nodes)[:, 0, :]
    present = ~np.isnan(one.param_vector()[0])
    dprob = prob[:, :, None] * one.dlog_prob_dparams(grid_nodes)[:, 0][:, :, present]
    return _Curves(prob, dprob, weights)


def _curves(fit: CalibrationResult, label: Any, item: str, grid_nodes: Array, n_points: int,
            bounds: tuple[float, float]) -> tuple[_Curves, NDArray[np.intp]]:
    """A group's curves of ``item`` in a fit, and its parameters' rows in the fit's covariance (−1: fixed)."""
    group = fit.group(label)
    j = int(group.bank.index_of([item])[0])
    weights = equispaced_grid(group.latent, n_points, bounds).weights
    return item_curves(group.bank.subset([j]).models[0], grid_nodes, weights), group.items[j].index


def _fit_covariance(fit: CalibrationResult, rows: NDArray[np.intp]) -> Array | None:
    """The fit's covariance of the parameters at ``rows`` (zero where −1, fixed); None without SEs."""
    if not fit.se_computed:
        return None
    keep = rows >= 0
    out = np.zeros((rows.size, rows.size))
    out[np.ix_(keep, keep)] = fit.covariance[np.ix_(rows[keep], rows[keep])]
    return out


def _standard_error(cov: Array | None, grad_ref: Array, grad_foc: Array) -> float:
    """Delta-method SE of a function of the item's parameters in both groups.

    ``cov`` is the covariance of the reference group's parameters followed by the focal group's.
    """
    grad = np.concatenate([grad_ref, grad_foc])
    if cov is None or not np.any(cov):
        return float("nan")
    return float(np.sqrt(max(float(grad @ cov @ grad), 0.0)))


def effect_sizes(ref: _Curves, foc: _Curves, n_ref: int, n_foc: int, cov: Array | None
                 ) -> dict[str, float]:
    """SMD, its SE and SD, the per-point differences and (0/1 items) Δ and its SE.

    ``cov``: covariance of the item's parameters, the reference group's then the focal group's
    (those of ``dprob``), for the delta-method SEs (None: no SEs).
    """
    n_cat = ref.prob.shape[1]
    k = np.arange(n_cat, dtype=np.float64)
    e_ref, e_foc = ref.prob @ k, foc.prob @ k
    diff = e_foc - e_ref
    smd = float(foc.weights @ diff)
    smd_se = _standard_error(cov, -(foc.weights @ (ref.dprob * k[None, :, None]).sum(axis=1)),
                             foc.weights @ (foc.dprob * k[None, :, None]).sum(axis=1))
    share = n_ref / (n_ref + n_foc)  # the total group: both groups, as many as answered
    mean = float(share * (ref.weights @ e_ref) + (1 - share) * (foc.weights @ e_foc))
    second = float(share * (ref.weights @ (ref.prob @ k**2)) + (1 - share) * (foc.weights @ (foc.prob @ k**2)))
    sd = float(np.sqrt(max(second - mean**2, 0.0)))
    out = {"smd": smd, "smd_se": smd_se, "sd": sd, "signed": smd / (n_cat - 1),
           "unsigned": float(np.sqrt(foc.weights @ diff**2)) / (n_cat - 1),
           "delta": float("nan"), "delta_se": float("nan")}
    if n_cat == 2:
        u, v = n_ref * ref.weights, n_foc * foc.weights  # expected persons at each node
        with np.errstate(invalid="ignore", divide="ignore"):
            h = np.where(u + v > 0, u * v / (u + v), 0.0)
        p_r, p_f = ref.prob[:, 1], foc.prob[:, 1]
        a, b = h @ (p_r * (1 - p_f)), h @ ((1 - p_r) * p_f)
        dlog_ref = (h * (1 - p_f)) @ ref.dprob[:, 1] / a + (h * p_f) @ ref.dprob[:, 1] / b
        dlog_foc = -(h * p_r) @ foc.dprob[:, 1] / a - (h * (1 - p_r)) @ foc.dprob[:, 1] / b
        out["delta"] = float(-_ETS_SCALE * np.log(a / b))
        out["delta_se"] = _ETS_SCALE * _standard_error(cov, dlog_ref, dlog_foc)
    return out


#: the effect sizes :func:`effect_sizes` returns
_SIZES = ("smd", "smd_se", "sd", "signed", "unsigned", "delta", "delta_se")


def _unidentified(x: NDArray[Any], answered: NDArray[np.bool_], labels: NDArray[Any], column: int,
                  group_labels: Sequence[Any]) -> str:
    """Why an item cannot be free in every group (a category some group never used), or ""."""
    codes = np.unique(x[answered, column])
    for label in group_labels:  # a handful of groups
        used = np.unique(x[answered & (labels == label), column])
        if used.size < codes.size:
            missing = [int(v) if float(v).is_integer() else v
                       for v in sorted(set(codes.tolist()) - set(used.tolist()))]
            return (f"group {label!r} gave no answer in code(s) {missing}, so its parameters of "
                    f"the item are not identified (collapse categories, or gather more answers)")
    return ""


def likelihood_ratio_dif(
    responses: ArrayLike,
    groups: ArrayLike,
    observed: ArrayLike | None = None,
    *,
    model: str | Sequence[str] | Mapping[str, str] = "2pl",
    item_ids: Sequence[str] | None = None,
    items: Sequence[str] | None = None,
    reference_group: Any = None,
    adjust: str = "holm",
    alpha: float = 0.05,
    **options: Any,
) -> LikelihoodRatioDIF:
    """Test each item for DIF across groups by likelihood ratio; effect sizes and ETS classes.

    Parameters
    ----------
    responses, observed : array_like, shape (n_persons, n_items)
        As for :meth:`qabilet.calibration.MML.fit` (NaN or ``observed`` False: not answered;
        sparse data are fine).
    groups : array_like, shape (n_persons,)
        Group labels (two or more groups).
    model, item_ids, reference_group
        As for :class:`qabilet.calibration.MML`.
    items : sequence of str, optional
        The items to test (all by default); the others anchor the scale in every fit.
    adjust : {"holm", "bh", "bonferroni", "none"}
        Adjustment of the p-values over the items tested.
    alpha : float
        Level of the adjusted tests behind the ETS classes and ``flagged()``.
    **options
        Passed to :class:`qabilet.calibration.MML` (``tol``, ``n_points``, ``priors`` …).

    Returns
    -------
    LikelihoodRatioDIF
    """
    inputs = check_inputs(responses, groups, observed, item_ids, items, adjust, alpha)
    x, ids, labels, answered = inputs.x, inputs.ids, inputs.labels, inputs.answered

    def fit(free: list[str], se: bool) -> CalibrationResult:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return MML(model=model, group_specific=free, reference_group=reference_group,
                       **{**options, "compute_se": se}).fit(x, observed, item_ids=ids, groups=labels)

    equal = fit([], False)
    ref_label, focal_label = equal.group_labels[:2]
    n_points, bounds = grid_options(equal, None, None)
    nodes = equispaced_grid(None, n_points, bounds).nodes[:, 0]
    column = {item: k for k, item in enumerate(ids)}
    n_ref = answered[labels == ref_label].sum(axis=0)
    n_foc = answered[labels == focal_label].sum(axis=0)
    stats: list[float] = []
    sizes: list[dict[str, float]] = []
    not_tested: dict[str, str] = {}
    for item in inputs.studied:  # one constrained-versus-free comparison per item
        c = column[item]
        why = _unidentified(x, answered[:, c], labels, c, equal.group_labels)
        free = None if why else fit([item], True)
        if free is not None and not np.isfinite(free.loglik):
            why = "the calibration with the item free in every group has no finite likelihood"
        if free is None or why:
            not_tested[item] = why
            stats.append(float("nan"))
            sizes.append(dict.fromkeys(_SIZES, float("nan")))
            continue
        stats.append(max(2.0 * (free.loglik - equal.loglik), 0.0))
        (ref, ref_rows), (foc, foc_rows) = (_curves(free, label, item, nodes, n_points, bounds)
                                            for label in (ref_label, focal_label))
        sizes.append(effect_sizes(ref, foc, int(n_ref[c]), int(n_foc[c]),
                                  _fit_covariance(free, np.concatenate([ref_rows, foc_rows]))))
    return assemble(inputs, equal, np.array(stats), sizes, not_tested, adjust, alpha,
                    "likelihood ratio")


@dataclass(frozen=True, slots=True, eq=False)
class DIFInputs:
    """Validated inputs of a DIF test (:func:`check_inputs`)."""

    x: NDArray[Any]
    ids: list[str]
    studied: list[str]
    labels: NDArray[Any]
    answered: NDArray[np.bool_]


def check_inputs(responses: ArrayLike, groups: ArrayLike, observed: ArrayLike | None,
                 item_ids: Sequence[str] | None, items: Sequence[str] | None, adjust: str,
                 alpha: float) -> DIFInputs:
    """The responses, ids, studied items and groups of a DIF test, checked."""
    x = np.asarray(responses)
    ids = list(item_ids) if item_ids is not None else [f"Q{i + 1}" for i in range(x.shape[1])]
    studied = list(ids if items is None else [str(i) for i in items])
    unknown = sorted(set(studied) - set(ids))
    if unknown:
        raise InvalidParameterError(f"items: unknown item id(s) {unknown}")
    labels = np.asarray(groups)
    if len(set(labels.tolist())) < 2:
        raise InvalidParameterError("groups: DIF needs at least two groups")
    if adjust not in ADJUSTMENTS:
        raise InvalidParameterError(f"adjust: expected one of {', '.join(ADJUSTMENTS)}; got {adjust!r}")
    if not 0 < alpha < 1:
        raise InvalidParameterError(f"alpha: expected a level in (0, 1); got {alpha}")
    return DIFInputs(x, ids, studied, labels, observed_mask(x, observed))


def assemble(inputs: DIFInputs, equal: CalibrationResult, stat: Array,
             sizes: Sequence[Mapping[str, float]], not_tested: dict[str, str], adjust: str,
             alpha: float, method: str) -> LikelihoodRatioDIF:
    """The report: p-values, their adjustment, ETS classes from the effect sizes.

    ``equal`` is the constrained calibration (every item equal across the groups); ``stat``
    and ``sizes`` one entry per studied item (NaN where not tested).
    """
    studied, labels, answered = inputs.studied, inputs.labels, inputs.answered
    ref_label, focal_label = equal.group_labels[:2]
    n_groups = len(equal.groups)
    index = equal.bank.index_of(studied)
    df = np.array([(n_groups - 1) * int(free_mask(equal.bank.subset([j]).models[0]).sum())
                   for j in index], dtype=np.int64)
    p = chi2.sf(stat, df)
    p_adj = adjust_p_values(p, adjust)
    size = {key: np.array([s[key] for s in sizes], dtype=np.float64) for key in _SIZES}
    with np.errstate(invalid="ignore", divide="ignore"):
        smd_sd = size["smd"] / size["sd"]
    dich = equal.bank.n_categories[index] == 2
    classes = np.where(dich, ets_classes(size["delta"], size["delta_se"], p_adj, alpha),
                       ets_polytomous_classes(smd_sd, p_adj, alpha))
    direction = np.where(dich, size["delta"], size["smd"])
    favoured = tuple(focal_label if d > 0 else ref_label if d < 0 else None for d in direction)
    cols = [inputs.ids.index(item) for item in studied]
    n_ref = answered[labels == ref_label].sum(axis=0)
    n_foc = answered[labels == focal_label].sum(axis=0)
    return LikelihoodRatioDIF(
        items=tuple(studied), statistic=stat, df=df, p_value=p,
        signed_difference=size["signed"], unsigned_difference=size["unsigned"],
        reference=ref_label, focal=focal_label, loglik_equal=equal.loglik, p_adjusted=p_adj,
        smd=size["smd"], smd_se=size["smd_se"], smd_sd=smd_sd, sd_total=size["sd"],
        delta=size["delta"], delta_se=size["delta_se"], ets_class=classes, favoured=favoured,
        n_reference=n_ref[cols].astype(np.int64), n_focal=n_foc[cols].astype(np.int64),
        adjust=adjust, alpha=float(alpha), not_tested=not_tested, method=method)
