"""Differential item functioning for every item at once: Lagrange-multiplier (score) tests.

*The test.* One multi-group calibration, the constrained model of
:func:`qabilet.calibration.likelihood_ratio_dif` — every item equal across the groups, the
reference group's latent distribution N(0, 1) (or as the anchors place it), the other groups'
latent means and variances free. Item :math:`i`'s parameters in focal group :math:`g` are then
written :math:`\\psi_i + \\delta_{ig}`, and the hypothesis of no DIF, :math:`\\delta_{ig} = 0`, is
tested by the score of :math:`\\delta_i` at the constrained estimate (Rao's score test; Glas 1998,
1999 for IRT models, where it is called the Lagrange-multiplier test). Person :math:`p`'s score
contributions are posterior expectations over the calibration's quadrature grid,

.. math::

    s_{p,\\psi_i} = o_{pi} \\sum_q \\pi_{pq}\\,
        \\frac{\\partial \\log P_i(x_{pi} \\mid \\theta_q; \\psi_i)}{\\partial \\psi_i}, \\qquad
    s_{p,\\delta_{ig}} = [p \\in g]\\, s_{p,\\psi_i}, \\qquad
    \\pi_{pq} \\propto w_{g(p),q} \\prod_j P_j(x_{pj} \\mid \\theta_q)^{o_{pj}}

(Fisher's identity; :math:`o_{pi}` whether :math:`p` answered :math:`i`, so sparse data enter as
they are), and those of a group's latent mean :math:`\\mu_g` and log-variance :math:`\\lambda_g`
are the posterior expectations of :math:`\\partial \\log w_{gq}` of the normalised grid weights.
With :math:`z_p = (s_{p,\\eta_i}, s_{p,\\delta_i})` — the nuisance parameters :math:`\\eta_i` being
the item's own shared parameters (and a tied one, the common slope of ``1pl``) and every
estimated latent mean and variance — and the information estimated by the outer product of the
contributions (OPG), each column centred within its group,

.. math::

    J_i = \\sum_p (z_p - \\bar z_{g(p)})(z_p - \\bar z_{g(p)})^\\top, \\qquad
    u_i = \\sum_p z_p,

the statistic is Neyman's :math:`C(\\alpha)` form of the score statistic,

.. math::

    \\mathrm{LM}_i = u_i^\\top J_i^{-1} u_i - u_{\\eta_i}^\\top J_{\\eta_i\\eta_i}^{-1} u_{\\eta_i}
    \\;\\sim\\; \\chi^2_{(G-1)k_i},

which equals :math:`u_{\\delta}^\\top (J_{\\delta\\delta} - J_{\\delta\\eta} J_{\\eta\\eta}^{-1}
J_{\\eta\\delta})^{-1} u_\\delta` at the constrained maximum (where :math:`u_\\eta = 0`) and stays
valid when the EM stopped a little short of it. Under no DIF it is asymptotically equivalent to
the likelihood-ratio :math:`G^2` of Thissen, Steinberg & Wainer (1993), which needs a
calibration per studied item; this one needs the constrained calibration and one pass over the
posterior. Centring within the groups changes nothing under the hypothesis (each column's group
means go to zero) and keeps a large DIF from inflating its own information (an uncentred OPG
adds the squared mean of the focal group's scores, which shrinks the statistic and the one-step
estimate below).

*What is ignored, and why it is acceptable.* The other items' parameters are not partialled
out: they learn about :math:`\\delta_i` only through the posterior of θ, each by a share of order
:math:`1/J` of the test's information. Partialling out fewer parameters can only make the
efficient information :math:`J_{\\delta\\delta\\cdot\\eta}` larger (a Schur complement over more
parameters is smaller), so the statistic is, if anything, slightly conservative. Priors of the
calibration (on asymptotes) are left out of the scores: the deviations :math:`\\delta` have none.
Items held fixed (``fixed`` anchors) have their parameters partialled out all the same, so that
their tests are of a difference between the groups rather than of a departure from the fixed
values; their scores do not vanish at the constrained estimate, which the :math:`C(\\alpha)` form
corrects for to first order only: an anchor that drifted (in every group) still shows in its
test. DIF is a comparison between groups and needs no anchored scale: test anchors in a free
calibration, as the calibration jobs do.

*Effect sizes.* A Newton step from the constrained estimate,
:math:`(\\hat\\eta_i, \\hat\\delta_i) = (\\eta_i, 0) + J_i^{-1} u_i`, gives the item's parameters in
the reference group (:math:`\\psi_i + \\Delta\\eta_i`) and in the focal group (plus
:math:`\\hat\\delta_{i}`) and their covariance (:math:`J_i^{-1}` mapped to them). From these come
the same model-implied SMD, SMD/SD and Mantel–Haenszel Δ, their delta-method standard errors,
and the same ETS classes (Zieky 1993; Zwick 2012) as
:func:`~qabilet.calibration.likelihood_ratio_dif` computes from its per-item fits; the groups'
latent densities are the constrained calibration's. A one-step estimate is first-order
equivalent to the free calibration's near the hypothesis; for a large DIF it is somewhat smaller.
The p-values are adjusted over the items tested (Holm 1979 by default;
:mod:`qabilet.calibration._multiplicity`), and an item leaves class A only when its adjusted test
rejects.

References
----------
Glas, C. A. W. (1998). Detection of differential item functioning using Lagrange multiplier
tests. *Statistica Sinica*, 8, 647–667.
Glas, C. A. W. (1999). Modification indices for the 2-PL and the nominal response model.
*Psychometrika*, 64, 273–294.
Thissen, D., Steinberg, L., & Wainer, H. (1993). Detection of differential item functioning
using the parameters of item response models. In Holland & Wainer (Eds.), *Differential Item
Functioning* (pp. 67–113).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qabilet.calibration._design import block_design, free_mask
from qabilet.calibration._diagnostics import _recode, grid_options
from qabilet.calibration.dif_lr import (
    _SIZES,
    DIFInputs,
    LikelihoodRatioDIF,
    _unidentified,
    assemble,
    check_inputs,
    effect_sizes,
    item_curves,
)
from qabilet.calibration.mml import MML
from qabilet.calibration.result import CalibrationResult
from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import ConvergenceWarning, InvalidParameterError
from qabilet.engine.likelihood import Responses, flat_log_prob, log_normalise, loglik_blocks
from qabilet.engine.quadrature import equispaced_grid

__all__ = ["score_dif"]

Array = NDArray[np.float64]

#: floats per work array of the person-by-parameter products (bounds memory, not speed)
_CELLS = 4_000_000


def score_dif(
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
    min_answers: int = 0,
    fit: CalibrationResult | None = None,
    **options: Any,
) -> LikelihoodRatioDIF:
    """Test every item for DIF across groups by Lagrange-multiplier tests from one calibration.

    The same inputs, report and ETS classes as :func:`qabilet.calibration.likelihood_ratio_dif`
    (see the module notes for the statistic); its ``method`` is ``"score"``, its ``statistic``
    the LM statistic and ``loglik_equal`` the constrained calibration's log-likelihood.

    Parameters
    ----------
    responses, observed : array_like, shape (n_persons, n_items)
        As for :meth:`qabilet.calibration.MML.fit` (NaN or ``observed`` False: not answered).
    groups : array_like, shape (n_persons,)
        Group labels (two or more groups).
    model, item_ids, reference_group
        As for :class:`qabilet.calibration.MML`.
    items : sequence of str, optional
        The items to test (all by default); all items are calibrated.
    adjust : {"holm", "bh", "bonferroni", "none"}
        Adjustment of the p-values over the items tested.
    alpha : float
        Level of the adjusted tests behind the ETS classes and ``flagged()``.
    min_answers : int
        Items with fewer answers in some group are calibrated but not tested (their note says
        so): the statistic and its outer-product information are large-sample results, and an
        item a group answered a few dozen times can look like DIF by chance.
    fit : CalibrationResult, optional
        The constrained calibration of these responses and groups when it is at hand (the same
        items and group labels, every item equal across the groups): it is not fitted again.
    **options
        Passed to :class:`qabilet.calibration.MML` (``tol``, ``n_points``, ``fixed`` …).

    Returns
    -------
    LikelihoodRatioDIF
        With ``method="score"``.
    """
    inputs = check_inputs(responses, groups, observed, item_ids, items, adjust, alpha)
    if fit is not None:
        if (sorted(map(str, fit.group_labels)) != sorted(map(str, set(inputs.labels.tolist())))
                or set(fit.item_ids) != set(inputs.ids) or fit.group_specific):
            raise InvalidParameterError("fit: expected the constrained multi-group calibration of "
                                        "these items and groups")
        return score_tests(fit, inputs, adjust, alpha, min_answers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        equal = MML(model=model, reference_group=reference_group, **{**options, "compute_se": False}
                    ).fit(inputs.x, observed, item_ids=inputs.ids, groups=inputs.labels)
    return score_tests(equal, inputs, adjust, alpha, min_answers)


def score_tests(equal: CalibrationResult, inputs: DIFInputs, adjust: str = "holm",
                alpha: float = 0.05, min_answers: int = 0) -> LikelihoodRatioDIF:
    """The score tests from ``equal``, the constrained multi-group calibration of ``inputs``."""
    bank = equal.bank
    if bank.n_dims != 1:
        raise InvalidParameterError("score_dif: needs unidimensional items")
    labels = tuple(equal.group_labels)
    values, inverse = np.unique(inputs.labels, return_inverse=True)
    group_of = np.array([labels.index(v) for v in values.tolist()], dtype=np.intp)[inverse.ravel()]
    order = [inputs.ids.index(i) for i in bank.item_ids]  # the fit's item order (the same, as a rule)
    resp = _recode(equal, bank, inputs.x[:, order], inputs.answered[:, order])
    n_points, bounds = grid_options(equal, None, None)
    nodes = equispaced_grid(None, n_points, bounds).nodes
    weights = [equispaced_grid(g.latent, n_points, bounds).weights for g in equal.groups]
    post = _posterior(bank, resp, nodes, weights, group_of)
    layout = _Layout(bank)
    flat = _item_scores(bank, resp, post, nodes, layout.width).reshape(resp.x.shape[0], -1)
    latent = _latent_scores(equal, post, nodes[:, 0], group_of)
    not_tested: dict[str, str] = {}
    for item in inputs.studied:  # the checks of dif_lr, a pass over one column each
        c = inputs.ids.index(item)
        why = _unidentified(inputs.x, inputs.answered[:, c], inputs.labels, c, labels)
        if why:
            not_tested[item] = why
    counts = (group_of[:, None] == np.arange(len(labels))[None, :]).T.astype(np.int64) @ inputs.answered
    for item in inputs.studied:  # too few answers in a group: calibrated, not tested
        c = inputs.ids.index(item)
        if item not in not_tested and counts[:, c].min() < min_answers:
            g = int(np.argmin(counts[:, c]))
            not_tested[item] = (f"group {labels[g]!r} answered it {int(counts[g, c])} times; the "
                                f"test needs {min_answers} answers in each group")
    index = dict(zip(bank.item_ids, range(bank.n_items), strict=True))
    tested = np.array([index[i] for i in inputs.studied if i not in not_tested], dtype=np.intp)
    lm, steps, covs, n_nuisance = _statistics(flat, latent, layout, tested, group_of, len(labels))
    stat = np.full(len(inputs.studied), np.nan)
    sizes: list[dict[str, float]] = [dict.fromkeys(_SIZES, float("nan")) for _ in inputs.studied]
    n_ref = inputs.answered[group_of == 0].sum(axis=0)
    n_foc = inputs.answered[group_of == 1].sum(axis=0)
    t = 0
    for k, item in enumerate(inputs.studied):  # per item: curves on the grid, a few small products
        if item in not_tested:
            continue
        j, c = int(tested[t]), inputs.ids.index(item)
        stat[k] = max(float(lm[t]), 0.0)
        one = bank.subset([j]).models[0]
        for shrink in (1.0, 0.5, 0.25, 0.125):  # halve a step that leaves the model's domain
            ref_psi, foc_psi, joint = layout.one_step(j, one.param_vector()[0], shrink * steps[t],
                                                      covs[t], int(n_nuisance[t]))
            with np.errstate(invalid="ignore", divide="ignore"):
                ref, foc = (item_curves(one.with_params(psi[None]), nodes, w)
                            for psi, w in ((ref_psi, weights[0]), (foc_psi, weights[1])))
            if np.isfinite(ref.prob).all() and np.isfinite(foc.prob).all():
                sizes[k] = effect_sizes(ref, foc, int(n_ref[c]), int(n_foc[c]), joint)
                break
        t += 1
    return assemble(inputs, equal, stat, sizes, not_tested, adjust, alpha, "score")


def _posterior(bank: ItemBank, resp: Responses, nodes: Array, weights: list[Array],
               group_of: NDArray[np.intp]) -> Array:
    """Each person's posterior over the grid under their group's latent density, (n, Q)."""
    log_w = np.log(np.maximum(np.stack(weights), 1e-300))  # (G, Q)
    post = np.empty((resp.x.shape[0], nodes.shape[0]))
    for rows, ll in loglik_blocks(bank, resp, flat_log_prob(bank, nodes)):  # blocks of persons
        block = ll + log_w[group_of[rows]]
        log_normalise(block)
        post[rows] = block
    return post


def _item_scores(bank: ItemBank, resp: Responses, post: Array, nodes: Array, width: int) -> Array:
    """:math:`s_{p,\\psi_i}` for every person, item and parameter entry, (n, n_items, width).

    Per model block, the posterior times every category's parameter gradients (one matrix
    product per block of persons), then each person's own category picked.
    """
    n = resp.x.shape[0]
    out = np.zeros((n, bank.n_items, width))
    for m, pos in zip(bank.models, bank.positions, strict=True):  # a handful of model blocks
        d = m.dlog_prob_dparams(nodes)  # (Q, n_m, K, P), zero on padding
        n_q, n_m, n_k, n_p = d.shape
        flat = d.reshape(n_q, -1)
        block = max(1, _CELLS // flat.shape[1])
        for start in range(0, n, block):  # blocks bound memory, not a loop per person
            stop = min(n, start + block)
            e = (post[start:stop] @ flat).reshape(stop - start, n_m, n_k, n_p)
            picked = e[np.arange(stop - start)[:, None], np.arange(n_m)[None, :], resp.x[start:stop][:, pos]]
            out[start:stop, pos, :n_p] = picked * resp.observed[start:stop][:, pos][:, :, None]
    return out


def _latent_scores(equal: CalibrationResult, post: Array, theta: Array, group_of: NDArray[np.intp]
                   ) -> Array:
    """Scores of every estimated latent mean and log-variance, (n, L).

    The grid's weights are the normalised density, so :math:`\\partial\\log w_q` is the density's
    derivative less its weighted mean over the grid.
    """
    columns = []
    n_points, bounds = grid_options(equal, None, None)
    for g, group in enumerate(equal.groups):  # a handful of groups
        mean, var = float(group.latent.mean[0]), float(group.latent.cov[0, 0])
        w = equispaced_grid(group.latent, n_points, bounds).weights
        member = group_of == g
        derivs = [((theta - mean) / var, bool(group.mean_estimated[0])),
                  (((theta - mean) ** 2 / var - 1.0) / 2.0, bool(group.cov_estimated[0, 0]))]
        for d, estimated in derivs:
            if estimated:
                columns.append(np.where(member, post @ (d - w @ d), 0.0))
    return np.stack(columns, axis=1) if columns else np.zeros((post.shape[0], 0))


class _Layout:
    """Where each item's parameters sit in the persons' score matrix.

    Item ``i``'s entries are columns ``i * width + 0 … width − 1`` of the flattened item scores;
    :meth:`pool` gathers the nuisance scores from them: each item's own estimated entries, then
    one column per tied parameter (its entries summed), then the latent scores. ``present``
    marks an item's parameter entries, ``tested`` those that may differ between the groups (free
    by the model's declaration, whether the item is an anchor or not), ``nuisance`` those the
    calibration estimated for it (its own and a tied one).
    """

    def __init__(self, bank: ItemBank) -> None:
        self.width = width = max(m.param_vector().shape[1] for m in bank.models)
        n = bank.n_items
        self.present = np.zeros((n, width), dtype=bool)
        self.tested = np.zeros((n, width), dtype=bool)
        own = np.zeros((n, width), dtype=bool)
        tied = np.full((n, width), -1, dtype=np.intp)  # which tied parameter an entry is
        n_tied = 0
        for m, pos in zip(bank.models, bank.positions, strict=True):  # a handful of blocks
            n_p = m.param_vector().shape[1]
            design = block_design(m, 0)
            mask = free_mask(m)
            # an anchor's entries are nuisance parameters too: its test is of a difference between
            # the groups, not from its fixed values (the C(α) form corrects for their scores)
            free = design.free
            self.present[pos, :n_p] = ~np.isnan(m.param_vector())
            self.tested[pos, :n_p] = mask
            own[pos, :n_p] = free & mask
            shared = free & ~mask  # tied entries: one parameter of the block
            if shared.any():
                ids = np.unique(design.index[shared])
                tied[pos, :n_p] = np.where(shared, n_tied + np.searchsorted(ids, design.index), -1)
                n_tied += ids.size
        self.nuisance = own | (tied >= 0)
        self.flat = np.arange(n * width).reshape(n, width)  # an entry's item-score column
        n_own = int(own.sum())
        self._own_cols = self.flat[own]
        self._tied_cols = self.flat[tied >= 0]
        self._tied_of = tied[tied >= 0]
        self.n_tied = n_tied
        pooled = np.full((n, width), -1, dtype=np.intp)  # an entry's column in the pooled matrix
        pooled[own] = np.arange(n_own)
        pooled[tied >= 0] = n_own + tied[tied >= 0]
        self.pooled = pooled
        self.n_columns = n_own + n_tied

    def pool(self, flat: Array, latent: Array) -> Array:
        """The nuisance parameters' scores: own entries, tied parameters, latent; then a zero column."""
        n = flat.shape[0]
        tied = np.zeros((n, self.n_tied))
        if self.n_tied:
            tied = flat[:, self._tied_cols] @ (self._tied_of[:, None] == np.arange(self.n_tied)).astype(float)
        return np.concatenate([flat[:, self._own_cols], tied, latent, np.zeros((n, 1))], axis=1)

    def columns(self, items: NDArray[np.intp], n_latent: int
                ) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """Per item, the pooled columns of its nuisance parameters, and its tested entries' columns.

        The nuisance ones: its entries in order, then the latent ones; the tested ones: columns
        of the flattened item scores; both padded with −1.
        """
        latent = np.broadcast_to(self.n_columns + np.arange(n_latent), (items.size, n_latent))
        return (_pack(np.concatenate([self.pooled[items], latent], axis=1)),
                _pack(np.where(self.tested[items], self.flat[items], -1)))

    def one_step(self, item: int, psi: Array, step: Array, cov: Array, n_nuisance: int
                 ) -> tuple[Array, Array, Array]:
        """The item's reference and focal parameters after the Newton step, and their covariance.

        ``step`` and ``cov`` are over the packed columns of :meth:`columns`: the nuisance ones
        (``n_nuisance`` of them, the item's entries first in order), then the tested entries of
        each focal group (the first focal group's first).
        """
        present = np.flatnonzero(self.present[item])
        row = {p: r for r, p in enumerate(present.tolist())}
        ref_map = np.zeros((present.size, step.size))
        for r, p in enumerate(np.flatnonzero(self.nuisance[item]).tolist()):  # a few entries
            ref_map[row[p], r] = 1.0
        foc_map = ref_map.copy()
        for r, p in enumerate(np.flatnonzero(self.tested[item]).tolist()):
            foc_map[row[p], n_nuisance + r] = 1.0
        ref_psi, foc_psi = psi.copy(), psi.copy()
        ref_psi[present] += ref_map @ step
        foc_psi[present] += foc_map @ step
        maps = np.concatenate([ref_map, foc_map])
        return ref_psi, foc_psi, maps @ cov @ maps.T


def _pack(cols: NDArray[np.intp]) -> NDArray[np.intp]:
    """Each row's valid columns first, in order, the padding (−1) last; as wide as the longest row."""
    order = np.argsort(cols < 0, axis=1, kind="stable")
    packed = np.take_along_axis(cols, order, axis=1)
    return packed[:, : max(int((packed >= 0).sum(axis=1).max(initial=0)), 1)]


def _statistics(flat: Array, latent: Array, layout: _Layout, tested: NDArray[np.intp],
                group_of: NDArray[np.intp], n_groups: int
                ) -> tuple[Array, list[Array], list[Array], NDArray[np.intp]]:
    """LM statistics, Newton steps and covariances (OPG inverses) of the ``tested`` items.

    ``flat``: the persons' item scores, (n, n_items * width); ``latent``: the latent scores.
    The items go in batches (bounding the work arrays), every item of a batch at once.
    """
    n = flat.shape[0]
    pool = layout.pool(flat, latent)
    flat = np.concatenate([flat, np.zeros((n, 1))], axis=1)  # column −1: padding
    focal = (group_of[:, None] == np.arange(1, n_groups)[None, :]).astype(float)  # (n, G − 1)
    member = (group_of[:, None] == np.arange(n_groups)[None, :]).astype(float)  # (n, G)
    size = np.maximum(member.sum(axis=0), 1.0)
    lm = np.empty(tested.size)
    steps: list[Array] = []
    covs: list[Array] = []
    n_nuisance = np.empty(tested.size, dtype=np.intp)
    nuisance, entries = layout.columns(tested, latent.shape[1])
    width = nuisance.shape[1] + (n_groups - 1) * entries.shape[1]
    batch = max(1, _CELLS // max(n * width, 1))
    for start in range(0, tested.size, batch):  # blocks of items bound memory
        rows = slice(start, start + batch)
        nuis, test = nuisance[rows], entries[rows]
        h = (flat[:, test][:, :, None, :] * focal[:, None, :, None]).reshape(n, test.shape[0], -1)
        z = np.concatenate([pool[:, nuis], h], axis=2)  # (n, b, w)
        pad = np.concatenate([nuis < 0, np.tile(test < 0, n_groups - 1)], axis=1)  # (b, w)
        u = z.sum(axis=0)
        z -= (np.einsum("pg,pbw->gbw", member, z) / size[:, None, None])[group_of]
        zt = z.transpose(1, 0, 2)  # (b, n, w)
        info = zt.transpose(0, 2, 1) @ zt
        info += pad[:, :, None] * np.eye(pad.shape[1])[None]  # padding: decoupled unit entries
        cov = np.linalg.pinv(info, rcond=1e-10, hermitian=True)
        step = np.einsum("bvw,bw->bv", cov, u)
        m = nuis.shape[1]
        nuis_inv = np.linalg.pinv(info[:, :m, :m], rcond=1e-10, hermitian=True)
        lm[rows] = (np.einsum("bv,bv->b", u, step)
                    - np.einsum("bv,bvw,bw->b", u[:, :m], nuis_inv, u[:, :m]))
        steps += list(step)
        covs += list(cov)
        n_nuisance[rows] = m
    return lm, steps, covs, n_nuisance
