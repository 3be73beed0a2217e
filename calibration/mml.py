"""Marginal maximum likelihood calibration by EM (Bock & Aitkin 1981).

With SQUAREM acceleration and observed-information standard errors.

The marginal log-likelihood on an equispaced grid (mirt's: 61 nodes on [−6, 6], weights the
normalised latent density) is

.. math:: \\ell(\\psi) = \\sum_p m_p \\log \\sum_q w_q \\prod_i P_i(x_{pi}\\mid\\theta_q;\\psi_i)^{o_{pi}}.

*E-step*: expected counts :math:`\\bar r_{iqk}` (:mod:`qabilet.calibration._estep`). *M-step*: one
Fisher-scoring step per item, all items at once (batched linear solves), maximising
:math:`\\sum_{q,k}\\bar r_{iqk}\\log P_{ik}(\\theta_q)` with step halving; tied parameters (the
common slope of ``1pl``) are solved jointly. The latent variance of ``rasch``/``pcm`` is updated
on the fixed grid so that the grid's second moment matches the posterior's.

*Acceleration*: SQUAREM (Varadhan & Roland 2008, scheme S3) over the whole parameter vector,
falling back to the plain EM step whenever the extrapolation lowers the likelihood.

*Standard errors*: the observed information, the Hessian of the marginal likelihood (R's
mirt reports the same, ``SE.type = "Oakes"``). By default in closed form by Louis' (1982)
identity — the expected complete-data information less the posterior covariance of the
complete-data score (:mod:`qabilet.calibration._louis`), from one E-step; with ``se="numeric"``
as the negative Jacobian of the Fisher-identity score
:math:`\\partial\\ell/\\partial\\psi = \\sum_{q,k}\\bar r_{iqk}(\\psi)\\,\\partial_\\psi\\log P_{ik}`,
by central differences of that analytic score (2k E-steps). Standard errors of the traditional
parameters follow by the delta method.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, logit

from qabilet.calibration._design import (
    BlockDesign,
    block_design,
    rest_signs,
    start_model,
    trait_proxy,
)
from qabilet.calibration._estep import Patterns
from qabilet.calibration._latent import CorrelatedLatent, GroupLatents
from qabilet.calibration._louis import score_covariance
from qabilet.calibration._mhrm import sobol_points
from qabilet.calibration.priors import DEFAULT_PRIORS, Prior, columns_for
from qabilet.calibration.result import (
    CalibrationResult,
    GroupEstimates,
    ItemEstimates,
    flat_names,
)
from qabilet.engine._parallel import blas_single_thread
from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import (
    ConvergenceWarning,
    InvalidParameterError,
    InvalidResponseError,
)
from qabilet.engine.latent import LatentDistribution
from qabilet.engine.likelihood import Responses, flat_log_prob, observed_mask
from qabilet.engine.models import ItemModel, get_model

if TYPE_CHECKING:
    from qabilet.calibration.linking import LinkingResult

__all__ = ["MML", "Progress"]

Array = NDArray[np.float64]

_COUNT = {2: "two"}  # the number of categories a model needs, in words
_SE_METHODS = ("louis", "numeric", "sandwich")  # how the covariance is computed
_METHODS = ("em", "mhrm")  # how the marginal likelihood is maximised
_BACKTRACKS = 3  # SQUAREM extrapolations tried per cycle before the plain EM step
_MHRM_BURN_IN, _MHRM_AVERAGE = 100, 100  # MH-RM's stages 1 and 2 (cycles at gain 1)
_MHRM_GAIN = 0.75  # stage 3: gains (0.1 / k)^0.75
_MHRM_STEPS = 1  # Metropolis-within-Gibbs sweeps over the factors per cycle
_MHRM_DRAWS, _MHRM_THIN = 30, 2  # posterior draws for Louis' identity, MH moves apart
_MHRM_IS_POINTS = 128  # importance-sampling points per person for the log-likelihood


@dataclass(frozen=True, slots=True)
class Progress:
    """What the progress callback receives after every EM cycle."""

    iteration: int
    loglik: float
    max_change: float


# -- data preparation ---------------------------------------------------------------------------------


_MAX_CODES = int(np.iinfo(np.int16).max)  # categories of one item (they are stored as int16)


def _recode(responses: ArrayLike, observed: ArrayLike | None, item_ids: Sequence[str],
            fixed_categories: Mapping[int, int] | None = None,
            ) -> tuple[Responses, list[NDArray[np.int64]]]:
    """Recode each item's observed codes to 0..K−1 in sorted order (as mirt does).

    Items in ``fixed_categories`` (column → K, anchors) keep their codes, which must be
    0..K−1 already: their parameters refer to those categories.
    """
    fixed_categories = fixed_categories or {}
    r = np.asarray(responses)
    if r.ndim != 2:
        raise InvalidResponseError(f"responses: expected a 2-D array (persons × items); got {r.shape}")
    obs = observed_mask(r, observed)
    if np.issubdtype(r.dtype, np.floating):
        filled = np.where(obs, r, 0)
        bad = obs & (filled != np.round(filled))
        if bad.any():
            p, i = np.argwhere(bad)[0]
            raise InvalidResponseError(
                f"responses[{p}, {i}] (item {item_ids[i]!r}): expected an integer code; got {r[p, i]}"
            )
    # categories as small integers (a 50,000 × 300 matrix: 15 MB in int8, 120 MB in int64)
    x = np.zeros(r.shape, dtype=np.int16)
    categories: list[NDArray[np.int64]] = []
    for i in range(r.shape[1]):  # per item once, at the data edge; no copy of the whole matrix
        seen = r[obs[:, i], i].astype(np.int64)
        if i in fixed_categories:
            k = fixed_categories[i]
            bad = (seen < 0) | (seen >= k)
            if bad.any():
                raise InvalidResponseError(
                    f"item {item_ids[i]!r} (fixed): expected categories 0..{k - 1} as in its "
                    f"parameters; got {int(seen[bad][0])}")
            x[obs[:, i], i] = seen
            categories.append(np.arange(k, dtype=np.int64))
            continue
        codes = np.unique(seen)
        if codes.size < 2:
            what = "no observed response" if codes.size == 0 else f"only the code {codes[0]}"
            raise InvalidResponseError(
                f"item {item_ids[i]!r}: {what}; an item needs at least two observed categories to "
                "be calibrated (drop it or fix its data)"
            )
        if codes.size > _MAX_CODES:
            raise InvalidResponseError(f"item {item_ids[i]!r}: {codes.size} distinct codes; at most "
                                       f"{_MAX_CODES} categories can be calibrated")
        x[obs[:, i], i] = np.searchsorted(codes, seen)
        categories.append(codes)
    if all(c.size <= np.iinfo(np.int8).max for c in categories):
        x = x.astype(np.int8)
    return Responses(x, obs), categories


def _model_names(model: str | Sequence[str] | Mapping[str, str], item_ids: Sequence[str]
                 ) -> list[str]:
    if isinstance(model, str):
        names = [model] * len(item_ids)
    elif isinstance(model, Mapping):
        unknown = set(model) - set(item_ids)
        if unknown:
            raise InvalidParameterError(f"model: unknown item id(s) {sorted(unknown)}")
        names = [model.get(i, "2pl") for i in item_ids]
    else:
        names = list(model)
        if len(names) != len(item_ids):
            raise InvalidParameterError(
                f"model: expected one model name per item ({len(item_ids)}); got {len(names)}"
            )
    return [get_model(n).name for n in names]


# -- the estimator -------------------------------------------------------------------------------------


class MML:
    """Marginal maximum likelihood calibration of unidimensional item parameters by EM.

    Parameters
    ----------
    model : str, sequence of str or mapping of item id to str
        The model of every item (``"2pl"``), one per item, or per item id (others ``2pl``).
    n_points : int, optional
        Quadrature nodes per dimension (mirt: 61 for one factor; 31, 15 for two, three).
    bounds : (float, float)
        Quadrature interval (mirt: [−6, 6]).
    tol : float
        Convergence when no parameter moves more than ``tol`` in a cycle …
    tol_loglik : float
        … and the log-likelihood changes by at most ``tol_loglik`` relative to its size.
    max_iter : int
        Limit of EM cycles (``ConvergenceWarning`` when reached).
    accelerate : bool
        SQUAREM acceleration.
    compute_se : bool
        Standard errors from the observed information.
    se : {"louis", "numeric", "sandwich"}
        How the covariance of the estimates is computed. ``"louis"``: the inverse observed
        information, in closed form by Louis' (1982) identity from one E-step
        (:mod:`qabilet.calibration._louis`); ``"numeric"``: the same by central differences of
        the analytic score (2k E-steps for k parameters; they agree to about 10⁻⁶);
        ``"sandwich"``: the robust :math:`I^{-1}JI^{-1}` with :math:`J = \\sum_p g_pg_p^\\top`
        the outer products of the persons' observed-data scores (Huber 1967; White 1982), valid
        when the model is misspecified.
    priors : mapping of str to Prior, optional
        Priors by parameter kind (``"a"``, ``"d"``, ``"c"``, ``"u"``) for Bayes-modal
        estimation; ``None`` uses :data:`qabilet.calibration.priors.DEFAULT_PRIORS` (Beta(5, 17) on the
        3PL's and 4PL's c, Beta(17, 5) on the 4PL's u), ``{}`` none.
    fixed : ItemBank, optional
        Anchor items: those of the data's items found in this bank keep its parameters, and the
        others are calibrated on its scale — fixed-parameter calibration with the latent mean
        and variance re-estimated in every EM cycle (the multiple-weights-updating,
        multiple-EM-cycles method, MWU-MEM; Kim 2006). Their responses must already be coded
        0..K−1 as in the bank. The new items keep the model given in ``model`` (with its
        priors): a 3PL item is never silently fitted as a 2PL.
    group_specific : sequence of str
        Items whose parameters are estimated separately in each group (language forms,
        items with DIF); all other items are equal across groups.
    reference_group : optional
        The group whose latent distribution fixes the scale (mean 0, variance 1); the first
        group label in sorted order by default.
    dims : mapping of factor name to item ids, optional
        Confirmatory multidimensional calibration: each item loads on the factors that list it
        (simple structure or within-item loadings), factors standardised (means 0, variances
        1) and correlated unless ``orthogonal``. Integration: a product grid for up to three
        factors (``n_points`` per axis, default 31 for two, 15 for three), otherwise
        ``n_qmc`` scrambled Sobol points drawn from N(0, I) and importance-weighted by the
        fitted normal density — quasi-Monte Carlo EM, whose cost grows with the number of points,
        not exponentially with the factors.
    orthogonal : bool
        Uncorrelated factors.
    n_qmc : int
        Quasi-Monte Carlo points for four or more factors (a power of two).
    callback : callable, optional
        Called with a :class:`Progress` after every cycle (the CLI draws a progress bar).
    direction : mapping of item id to +1 or −1, optional
        The direction each item is keyed in (items not named: +1). A factor's sign is not
        identified by the likelihood (θ → −θ with every slope negated gives the same fit), so
        after the fit each factor is oriented so that :math:`\\sum_i s_i\\,\\mathrm{sign}(a_{ir})`
        over the items loading on it is positive (ties: :math:`\\sum_i s_i a_{ir}`), with
        :math:`s_i` the item's direction: by default most slopes come out positive, as mirt's
        positive starting values lead it; naming the reverse-keyed items keeps a refit from ever
        flipping the scale. Fits with anchor items, and factors that an item with a fixed slope
        (``rasch``, ``pcm``, ``rsm``) measures, keep the orientation those fix.
    drift_check : bool
        With two or more anchors, check their drift after the fit (a free calibration of every
        item linked to the anchors; :attr:`CalibrationResult.anchor_drift`). False skips it —
        a caller that refits many times with the same anchors (likelihood-ratio DIF), or that
        tests drift its own way, saves a free calibration per fit.

    Notes
    -----
    :meth:`fit` returns a frozen :class:`~qabilet.calibration.result.CalibrationResult` and
    leaves the estimator as it was: its configuration, no data and no state of the fit (one
    estimator can fit several data sets, in several threads).

    Examples
    --------
    >>> from qabilet.engine.models import TwoPL
    >>> from qabilet.engine.simulation import simulate_responses
    >>> truth = TwoPL(np.linspace(0.8, 2.0, 10), np.linspace(-1.5, 1.5, 10))
    >>> x = simulate_responses(truth, np.random.default_rng(0).normal(size=3000), rng=1)
    >>> result = MML(model="2pl").fit(x)
    >>> result.converged, bool(np.abs(result.bank.models[0].b - truth.b).max() < 0.25)
    (True, True)
    >>> result.items[0].names, result.items[0].traditional_names
    (('a1', 'd', 'g', 'u'), ('a', 'b'))
    """

    def __init__(
        self,
        *,
        model: str | Sequence[str] | Mapping[str, str] = "2pl",
        n_points: int | None = None,
        bounds: tuple[float, float] = (-6.0, 6.0),
        tol: float | None = None,
        tol_loglik: float = 1e-9,
        max_iter: int = 2000,
        accelerate: bool = True,
        compute_se: bool = True,
        se: str = "louis",
        priors: Mapping[str, Prior] | None = None,
        fixed: ItemBank | None = None,
        group_specific: Sequence[str] = (),
        reference_group: Any = None,
        dims: Mapping[str, Sequence[str]] | None = None,
        orthogonal: bool = False,
        n_qmc: int = 4096,
        callback: Callable[[Progress], None] | None = None,
        direction: Mapping[str, int] | None = None,
        method: str = "em",
        seed: int = 20171,
        drift_check: bool = True,
    ) -> None:
        self.model = model
        self.n_points = n_points
        self.bounds = bounds
        self.tol = tol
        self.tol_loglik = tol_loglik
        self.max_iter = max_iter
        self.accelerate = accelerate
        self.compute_se = compute_se
        self.se = se
        self.priors = priors
        self.fixed = fixed
        self.group_specific = group_specific
        self.reference_group = reference_group
        self.dims = dims
        self.orthogonal = orthogonal
        self.n_qmc = n_qmc
        self.callback = callback
        self.direction = direction
        self.method = method
        self.seed = seed
        self.drift_check = drift_check

    def _tolerance(self) -> float:
        """``tol``, or the method's default: 10⁻⁵ for EM, 10⁻³ for MH-RM (as mirt's)."""
        if self.tol is not None:
            return float(self.tol)
        return 1e-3 if self.method == "mhrm" else 1e-5

    # -- public -------------------------------------------------------------------------------
    def fit(
        self,
        responses: Any,
        observed: ArrayLike | None = None,
        *,
        item_ids: Sequence[str] | None = None,
        groups: ArrayLike | None = None,
    ) -> CalibrationResult:
        """Estimate item parameters (and latent means and variances where identified).

        Parameters
        ----------
        responses : array_like or pandas.DataFrame, shape (n_persons, n_items)
            Integer codes (any; recoded per item to 0..K−1 in sorted order); NaN = missing.
        observed : array_like of bool, optional
            Missing-data mask (True = answered).
        item_ids : sequence of str, optional
            Item ids (a DataFrame's columns by default, else ``Q1…``).
        groups : array_like, shape (n_persons,), optional
            Group label of each person (multi-group calibration: every group but the
            reference gets its own latent mean and variance).

        Returns
        -------
        CalibrationResult
            The estimates, their standard errors, the latent distributions and the fit's
            diagnostics (the estimator itself is left unchanged).
        """
        return _Run(self).run(responses, observed, item_ids, groups)


class _Run(MML):
    """The state of one fit: the data, the design, the quadrature; discarded once it returns."""

    def __init__(self, options: MML) -> None:  # noqa: D107 - the options of the estimator
        vars(self).update(vars(options))

    def run(self, responses: Any, observed: ArrayLike | None, item_ids: Sequence[str] | None,
            groups: ArrayLike | None) -> CalibrationResult:
        """Validate the data, run EM and build the result."""
        if hasattr(responses, "columns") and hasattr(responses, "to_numpy"):
            item_ids = item_ids or [str(c) for c in responses.columns]
            responses = responses.to_numpy(dtype=np.float64, na_value=np.nan)
        arr = np.asarray(responses)
        if arr.ndim != 2 or arr.shape[1] < 1:
            raise InvalidResponseError(f"responses: expected a persons × items table; got {arr.shape}")
        ids = [str(i) for i in item_ids] if item_ids is not None else [
            f"Q{i + 1}" for i in range(arr.shape[1])]
        if len(ids) != arr.shape[1]:
            raise InvalidParameterError(f"item_ids: expected {arr.shape[1]} ids; got {len(ids)}")
        if self.method not in _METHODS:
            raise InvalidParameterError(
                f"method: expected one of {', '.join(_METHODS)}; got {self.method!r}")
        if self.method == "mhrm" and self.se == "numeric":
            raise InvalidParameterError(
                "se: 'numeric' differentiates the E-step's exact score, which MH-RM does not "
                "have; use 'louis' or 'sandwich'")
        if not (np.isfinite(self._tolerance()) and self._tolerance() > 0
                and int(self.max_iter) >= 1):
            raise InvalidParameterError("tol must be positive and max_iter at least 1")
        if self.se not in _SE_METHODS:
            raise InvalidParameterError(
                f"se: expected one of {', '.join(_SE_METHODS)}; got {self.se!r}")
        labels, group_of = self._group_labels(groups, arr.shape[0])
        self._factor_names, self._loadings = self._loading_pattern(ids)
        self._n_dims = len(self._factor_names)
        if self.method == "mhrm" and self._n_dims < 2:
            raise InvalidParameterError(
                "method 'mhrm' is for two or more factors (dims); with one factor EM on the "
                "quadrature grid is exact and faster")
        if self._n_dims > 1 and (groups is not None or self.fixed is not None):
            raise InvalidParameterError(
                "dims: multidimensional calibration with groups or anchors is not available yet")
        fixed_cols = self._fixed_columns(ids)
        resp, categories = _recode(arr, observed, ids,
                                   {i: int(self.fixed.n_categories[j])  # type: ignore[union-attr]
                                    for i, j in fixed_cols.items()})
        names = _model_names(self.model, ids)
        for i, j in fixed_cols.items():  # anchors keep their own model
            names[i] = self.fixed.model_names[j]  # type: ignore[union-attr]
        self._data = (resp, list(names), list(ids), group_of if groups is not None else None)
        self._orig_categories = list(categories)  # one per item of the data
        resp, categories, names, ids_x, origin = self._expand(resp, categories, names, ids,
                                                              labels, group_of)
        self._labels, self._group_of, self._origin, self._orig_ids = labels, group_of, origin, ids
        self._setup(resp, categories, names, ids_x, self._fixed_columns(ids_x))
        if self.method == "mhrm":
            from qabilet.calibration._mhrm import MHRM

            self._mhrm = MHRM(self, int(self.seed))
            with blas_single_thread():
                phi, n_iter, converged = self._run_mhrm(self._phi0)
                return self._finish(self._orient(phi), n_iter, converged)
        with blas_single_thread():  # small products: BLAS threads only cost (engine._parallel)
            phi, ll, n_iter, converged = self._run_em(self._phi0)
            return self._finish(self._orient(phi), n_iter, converged)

    # -- setup ----------------------------------------------------------------------------------
    def _group_labels(self, groups: ArrayLike | None, n: int) -> tuple[list[Any], NDArray[np.intp]]:
        if groups is None:
            return [None], np.zeros(n, dtype=np.intp)
        g = np.asarray(groups)
        if g.shape != (n,):
            raise InvalidParameterError(f"groups: expected one label per person ({n}); got {g.shape}")
        labels = sorted(set(g.tolist()), key=str)
        if self.reference_group is not None:
            if self.reference_group not in labels:
                raise InvalidParameterError(
                    f"reference_group: {self.reference_group!r} is not among the groups {labels}")
            labels.remove(self.reference_group)
            labels.insert(0, self.reference_group)
        index = {lab: k for k, lab in enumerate(labels)}
        return labels, np.array([index[v] for v in g.tolist()], dtype=np.intp)

    def _loading_pattern(self, ids: Sequence[str]) -> tuple[list[str], NDArray[np.bool_]]:
        """Factor names and the (n_items, n_dims) mask of declared loadings."""
        if self.dims is None:
            return ["theta"], np.ones((len(ids), 1), dtype=bool)
        names = [str(f) for f in self.dims]
        if len(names) < 1 or len(set(names)) != len(names):
            raise InvalidParameterError(f"dims: expected distinct factor names; got {names}")
        where = {item: i for i, item in enumerate(ids)}
        mask = np.zeros((len(ids), len(names)), dtype=bool)
        for r, factor in enumerate(names):
            listed = [str(i) for i in self.dims[factor]]
            unknown = sorted(set(listed) - set(where))
            if unknown:
                raise InvalidParameterError(f"dims[{factor!r}]: unknown item id(s) {unknown}")
            mask[[where[i] for i in listed], r] = True
        orphans = [ids[int(i)] for i in np.flatnonzero(~mask.any(axis=1))]
        if orphans:
            raise InvalidParameterError(f"dims: item(s) {orphans} load on no factor")
        return names, mask

    def _make_nodes(self) -> tuple[Array, Array]:
        """Quadrature nodes (n_quad, n_dims) and their base log-weights."""
        d = self._n_dims
        lo, hi = float(self.bounds[0]), float(self.bounds[1])
        if d <= 3:
            n = int(self.n_points) if self.n_points is not None else {1: 61, 2: 31, 3: 15}[d]
            axis = np.linspace(lo, hi, n)
            mesh = np.meshgrid(*([axis] * d), indexing="ij")
            nodes = np.stack([m.reshape(-1) for m in mesh], axis=1)
            return nodes, np.zeros(nodes.shape[0])
        from scipy.special import ndtri
        from scipy.stats import qmc

        m = max(6, int(np.ceil(np.log2(max(int(self.n_qmc), 64)))))
        u = qmc.Sobol(d=d, scramble=True, seed=20171).random_base2(m)
        nodes = ndtri(np.clip(u, 1e-12, 1 - 1e-12))
        return nodes, 0.5 * (nodes**2).sum(axis=1)  # importance weight 1 / φ(θ; 0, I)

    def _fixed_columns(self, ids: Sequence[str]) -> dict[int, int]:
        """Data column → position in the ``fixed`` bank, for the anchor items."""
        if self.fixed is None:
            return {}
        known = set(self.fixed.item_ids)
        return {i: int(self.fixed.index_of([item])[0]) for i, item in enumerate(ids) if item in known}

    def _expand(self, resp: Responses, categories: list[NDArray[np.int64]], names: list[str],
                ids: list[str], labels: list[Any], group_of: NDArray[np.intp]):  # noqa: ANN202
        """Give each group-specific item one column per group (observed in that group only)."""
        specific = [str(i) for i in self.group_specific]
        unknown = sorted(set(specific) - set(ids))
        if unknown:
            raise InvalidParameterError(f"group_specific: unknown item id(s) {unknown}")
        if specific and len(labels) < 2:
            raise InvalidParameterError("group_specific: needs groups (fit(..., groups=...))")
        if self.fixed is not None and set(specific) & set(self.fixed.item_ids):
            raise InvalidParameterError("group_specific: anchor items cannot be group-specific")
        if not specific:  # nothing to expand: the data as they are (no copy of the matrix)
            return (resp, list(categories), list(names), list(ids),
                    [(i, None) for i in range(len(ids))])
        cols, obs_cols, cats, nms, out_ids = [], [], [], [], []
        origin: list[tuple[int, int | None]] = []
        for i, item in enumerate(ids):
            if item not in specific:
                cols.append(resp.x[:, i])
                obs_cols.append(resp.observed[:, i])
                cats.append(categories[i])
                nms.append(names[i])
                out_ids.append(item)
                origin.append((i, None))
                continue
            for g, label in enumerate(labels):
                cols.append(resp.x[:, i])
                obs_cols.append(resp.observed[:, i] & (group_of == g))
                cats.append(categories[i])
                nms.append(names[i])
                out_ids.append(f"{item}@{label}")
                origin.append((i, g))
        x = np.column_stack(cols)
        obs = np.column_stack(obs_cols)
        for j in range(len(out_ids)):
            seen = np.unique(x[obs[:, j], j])
            col, group = origin[j]
            if seen.size < 2 and group is not None:
                raise InvalidResponseError(
                    f"item {ids[col]!r} in group {labels[group]!r}: fewer than "
                    "two observed categories (a group-specific item needs both in every group)")
        return Responses(x, obs), cats, nms, out_ids, origin

    def _setup(self, resp: Responses, categories: list[NDArray[np.int64]], names: list[str],
               ids: list[str], fixed_cols: dict[int, int]) -> None:
        n_cat = np.array([c.size for c in categories], dtype=np.int64)
        for i, name in enumerate(names):
            needs = get_model(name).PARAMETERS.n_categories
            if needs is not None and n_cat[i] != needs:
                raise InvalidResponseError(
                    f"item {ids[i]!r}: {name} needs {_COUNT.get(needs, needs)} categories; got "
                    f"{n_cat[i]} "
                    f"(codes {categories[i].tolist()})"
                )
        by_name: dict[str, list[int]] = {}
        for i, name in enumerate(names):
            if i not in fixed_cols:
                by_name.setdefault(name, []).append(i)
        models, positions, frozen = [], [], []
        proxy = None
        if self._n_dims == 1 and not all(get_model(n).PARAMETERS.ordered for n in by_name):
            ordered = np.array([get_model(name).PARAMETERS.ordered for name in names])
            proxy = trait_proxy(resp.x, resp.observed, n_cat, ordered)
        signs = self._start_signs(resp, n_cat, names, fixed_cols)
        for name, idx in by_name.items():
            sel = np.asarray(idx)
            cols = _every_or(sel, n_cat.size)
            start = start_model(name, resp.x[:, cols], resp.observed[:, cols], n_cat[sel],
                                self._n_dims, proxy, signs[sel])
            if self._n_dims > 1:  # declared loadings only, equal and summing to one in square
                psi = start.param_vector()
                load = self._loadings[sel]
                psi[:, : self._n_dims] = load / np.sqrt(load.sum(axis=1, keepdims=True))
                start = start.with_params(psi)
            models.append(start)
            positions.append(sel)
            frozen.append(False)
        if fixed_cols:  # anchors: the fixed bank's own blocks, every parameter frozen
            cols = np.array(sorted(fixed_cols))
            anchor_bank = self.fixed.subset([fixed_cols[c] for c in cols])  # type: ignore[union-attr]
            for m, pos in zip(anchor_bank.models, anchor_bank.positions):
                models.append(m)
                positions.append(cols[pos])
                frozen.append(True)
        self._positions = positions
        self._ids = ids
        self._model_names = list(names)
        self._block_of = {int(p): (b, r) for b, pos in enumerate(positions)
                          for r, p in enumerate(pos)}
        n_persons = resp.x.shape[0]
        self._patterns = [Patterns(Responses(resp.x[rows], resp.observed[rows]), n_cat)
                          for rows in (_every_or(self._group_of == g, n_persons)
                                       for g in range(len(self._labels)))]
        self._nodes, base_logw = self._make_nodes()
        self._grid = self._nodes[:, 0]
        designs: list[BlockDesign] = []
        offset = 0
        for m, pos, is_frozen in zip(models, positions, frozen):
            design = block_design(m, offset, self._loadings[pos] if self._n_dims > 1 else None)
            if is_frozen:
                design = BlockDesign(np.full_like(design.index, -1), False, design.logit_cols)
            designs.append(design)
            offset = int(design.index.max()) + 1 if design.free.any() else offset
        self._designs = designs
        self._n_item_phi = offset
        self._templates = models
        self._block_priors = [self._priors_for(m) for m in models]
        anchored = bool(fixed_cols)
        all_rasch = all(m.PARAMETERS.variance_free for m, f in zip(models, frozen) if not f)
        n_groups = len(self._labels)
        if self._n_dims > 1:
            self._latents: Any = CorrelatedLatent(self._nodes, base_logw, self.orthogonal, offset)
        else:
            self._latents = GroupLatents(
                self._grid,
                mean_free=[anchored] + [True] * (n_groups - 1),
                var_free=[anchored or all_rasch] + [True] * (n_groups - 1),
                offset=offset,
            )
        phi = np.empty(offset + self._latents.n_free)
        for m, design in zip(models, designs):
            psi = m.param_vector()
            psi[:, design.logit_cols] = logit(psi[:, design.logit_cols])
            phi[design.index[design.free]] = psi[design.free]
        self._latents.initial(phi)
        self._phi0 = phi
        self._anchor_ids = [ids[c] for c in sorted(fixed_cols)]
        self._categories = categories
        self._n_cat = n_cat
        self._resp = resp

    def _start_signs(self, resp: Responses, n_cat: NDArray[np.int64], names: list[str],
                     fixed_cols: dict[int, int]) -> Array:
        """The signs free slopes start with: the item-rest correlations' (:func:`rest_signs`).

        They orient the factor as the rest score does. Where items with known slopes measure it
        — a fixed slope (``rasch``: +1) or an anchor's — and disagree on balance, every sign is
        reversed, so that EM starts on the side of the factor those slopes fix (their sign
        cannot change, and :meth:`_orient` cannot reflect such a factor afterwards).
        """
        signs = rest_signs(resp.x, resp.observed, n_cat)
        known = np.array([float(get_model(n).PARAMETERS.column("a1").estimated == "fixed")
                          for n in names])
        for col, j in fixed_cols.items():
            known[col] = np.sign(self.fixed.slopes[j, 0])  # type: ignore[union-attr]
        return -signs if (signs * known).sum() < 0 else signs

    def _priors_for(self, model: ItemModel) -> list[tuple[list[int], Prior]]:
        """(columns, prior) pairs for one block, from the caller's priors or the defaults."""
        spec = DEFAULT_PRIORS.get(model.name, {}) if self.priors is None else self.priors
        return [(cols, prior) for kind, prior in spec.items()
                if (cols := columns_for(kind, model))]

    # -- parameter vector <-> models -------------------------------------------------------------
    def _psi_of(self, phi: Array, template: ItemModel, design: BlockDesign) -> Array:
        psi = template.param_vector()
        psi[design.free] = phi[design.index[design.free]]
        cols = design.logit_cols[None, :] & design.free
        psi[cols] = expit(psi[cols])
        return psi

    def _models_of(self, phi: Array) -> list[ItemModel]:
        return [m.with_params(self._psi_of(phi, m, design))
                for m, design in zip(self._templates, self._designs)]

    def _bank_of(self, phi: Array) -> ItemBank:
        latent = (self._latents.latent(phi, 0, self._factor_names) if self._n_dims > 1
                  else self._latents.latent(phi, 0))
        return ItemBank(self._models_of(phi), self._ids, latent, self._positions)

    # -- EM ---------------------------------------------------------------------------------------
    def _estep(self, phi: Array) -> tuple[ItemBank, Array, list[Array], float]:
        """Expected counts summed over groups, each group's posterior mass, log-likelihood."""
        bank = self._bank_of(phi)
        if not _asymptotes_ordered(bank):  # an extrapolation's point outside the domain
            return bank, np.empty(0), [], -np.inf
        lp = flat_log_prob(bank, self._nodes)
        if not np.all(np.isfinite(lp)):
            return bank, np.empty(0), [], -np.inf
        r_total = np.zeros_like(lp)
        n_q, ll = [], 0.0
        for g, patterns in enumerate(self._patterns):
            r_flat, mass, ll_g = patterns.estep(lp, self._latents.log_weights(phi, g))
            r_total += r_flat
            n_q.append(mass)
            ll += ll_g
        return bank, r_total, n_q, ll

    def _counts3(self, r_flat: Array, bank: ItemBank) -> Array:
        """Expected counts as (n_quad, n_items, max_categories), zero on padding."""
        r3 = np.zeros((r_flat.shape[0], bank.n_items, bank.max_categories))
        r3[:, self._patterns[0].valid] = r_flat
        return r3

    def _item_scores(self, bank: ItemBank, r3: Array) -> list[tuple[Array, Array]]:
        """Per block: gradient (I_b, P) and Fisher information (I_b, P, P) of the M-step.

        Both include the priors and are on the estimation scale (logit for asymptotes).
        """
        return [_block_score(model, design, priors, r3[:, pos, : model.max_categories],
                             self._nodes)
                for model, pos, design, priors in zip(bank.models, bank.positions,
                                                      self._designs, self._block_priors)]

    def _mstep(self, phi: Array, bank: ItemBank, r_flat: Array, n_q: list[Array]) -> Array:
        r3 = self._counts3(r_flat, bank)
        new = phi.copy()
        nodes = self._nodes
        for (g, fisher), model, design, pos, priors, template in zip(
            self._item_scores(bank, r3), bank.models, self._designs, bank.positions,
            self._block_priors, self._templates,
        ):
            free = design.free
            if not free.any():
                continue
            rb = r3[:, pos, : model.max_categories]
            psi = model.param_vector()
            eta = psi.copy()  # the estimation scale
            eta[:, design.logit_cols] = logit(psi[:, design.logit_cols])
            step = _fisher_step(g, fisher, design)
            share = _prior_share(design, model.n_items)
            base = _objective(model, rb, nodes, priors, share)
            scale = np.ones(model.n_items)
            for _ in range(12):  # step halving, item by item
                trial = _natural(eta + step * scale[:, None], design)
                obj = _objective(template.with_params(trial), rb, nodes, priors, share)
                if design.tied:  # one shared parameter: the block's total must not fall
                    worse = np.full(model.n_items, not obj.sum() >= base.sum() - 1e-12 * np.abs(
                        base.sum()))
                else:
                    worse = ~(obj >= base - 1e-12 * np.abs(base))
                if not worse.any():
                    break
                scale[worse] *= 0.5
            else:
                scale[worse] = 0.0
            trial = eta + step * scale[:, None]
            new[design.index[free]] = trial[free]
        self._latents.update(phi, new, n_q)
        return new

    def _em_map(self, phi: Array) -> tuple[Array, float]:
        bank, r_flat, n_q, ll = self._estep(phi)
        if not np.isfinite(ll):
            return phi, -np.inf
        return self._mstep(phi, bank, r_flat, n_q), ll

    def _run_em(self, phi: Array) -> tuple[Array, float, int, bool]:
        ll = -np.inf
        converged = False
        it = 0
        started = time.perf_counter()
        while it < self.max_iter:
            phi1, ll0 = self._em_map(phi)
            it += 1
            change = float(np.max(np.abs(phi1 - phi))) if phi.size else 0.0
            if change < self._tolerance() or not self.accelerate or self.max_iter - it < 2:
                # converged: the parameters stand still and so does the log-likelihood
                settled = abs(ll0 - ll) <= self.tol_loglik * max(1.0, abs(ll0))
                phi, ll = phi1, ll0
                self._report(it, ll, change)
                if change < self._tolerance() and settled:
                    converged = True
                    break
                continue
            phi2, ll1 = self._em_map(phi1)
            it += 1
            r = phi1 - phi
            v = phi2 - 2 * phi1 + phi
            norm_v = float(np.sqrt(v @ v))
            if norm_v == 0.0:
                phi, ll = phi2, ll1
                converged = True
                self._report(it, ll, 0.0)
                break
            alpha = min(-float(np.sqrt(r @ r)) / norm_v, -1.0)
            nxt, ll = phi2, ll1  # the plain EM steps, unless an extrapolation does better
            for _ in range(_BACKTRACKS):
                if alpha > -1.5 or it >= self.max_iter:  # close to the plain steps: take them
                    break
                jump = phi - 2 * alpha * r + alpha**2 * v
                phi3, ll3 = self._em_map(jump)
                it += 1
                if np.isfinite(ll3) and ll3 >= ll1 - 1e-9:
                    nxt, ll = phi3, ll3  # ll3 is the likelihood at the extrapolated point
                    break
                alpha = (alpha - 1.0) / 2.0  # backtrack towards the EM step (α = −1)
            change = float(np.max(np.abs(nxt - phi)))
            phi = nxt
            self._report(it, ll, change)
        self._elapsed = time.perf_counter() - started
        if not converged:
            warnings.warn(
                f"EM stopped at max_iter={self.max_iter} cycles before the tolerance {self._tolerance()} "
                "(the result's converged is False)", ConvergenceWarning, stacklevel=3)
        return phi, ll, it, converged

    def _run_mhrm(self, phi: Array) -> tuple[Array, int, bool]:
        """MH-RM's three stages (:mod:`qabilet.calibration._mhrm`)."""
        started = time.perf_counter()
        phi, n_iter, converged = self._mhrm.run_cycles(
            self._mhrm.start_from_margins(phi), burn_in=_MHRM_BURN_IN, average=_MHRM_AVERAGE,
            max_cycles=int(self.max_iter),
            tol=self._tolerance(), gain_exponent=_MHRM_GAIN, mh_steps=_MHRM_STEPS,
            report=lambda it, ll, change: self._report(it, ll, change))
        self._elapsed = time.perf_counter() - started
        if not converged:
            warnings.warn(
                f"MH-RM stopped at max_iter={self.max_iter} cycles before the tolerance "
                f"{self._tolerance()} (the result's converged is False)", ConvergenceWarning,
                stacklevel=3)
        return phi, n_iter, converged

    def _orient(self, phi: Array) -> Array:
        """φ with every factor's sign chosen as :class:`MML`'s ``direction`` says.

        Factor :math:`r` is reflected (:math:`\\theta_r \\to -\\theta_r`) when
        :math:`\\sum_i s_i\\,\\mathrm{sign}(a_{ir}) < 0` (or it is 0 and
        :math:`\\sum_i s_i a_{ir} < 0`), :math:`s_i` being item :math:`i`'s direction. A
        reflection leaves the likelihood unchanged: it negates the factor's slopes, the latent
        means of every group on it and the correlations of it with the other factors (with
        :math:`R = \\tilde L\\tilde L^\\top`, :math:`S\\tilde LS` has the same unit diagonal and row
        lengths, so the entry :math:`(j, k)` of :math:`\\tilde L` is multiplied by
        :math:`s_j s_k`). A factor measured by an item whose slope is fixed (``rasch``) cannot be
        reflected without changing the likelihood, and is left as it is.
        """
        self._reflected = np.ones(self._n_dims)
        if self._anchor_ids:  # the anchors fix the scale's direction
            return phi
        slopes = self._bank_of(phi).slopes
        keyed = dict(self.direction or {})
        s = np.array([np.sign(keyed.get(self._orig_ids[self._origin[j][0]], 1))
                      for j in range(len(self._ids))], dtype=np.float64)[:, None]
        votes, lean = (s * np.sign(slopes)).sum(axis=0), (s * slopes).sum(axis=0)
        slope_cols = [np.array([t.param_names().index(f"a{r + 1}") for r in range(self._n_dims)])
                      for t in self._templates]
        movable = np.ones(self._n_dims, dtype=bool)  # no item has a fixed nonzero slope on it
        for template, design, cols in zip(self._templates, self._designs, slope_cols):
            fixed = (design.index[:, cols] < 0) & (template.slopes != 0)
            movable &= ~fixed.any(axis=0)
        reflect = np.where(movable & ((votes < 0) | ((votes == 0) & (lean < 0))), -1.0, 1.0)
        self._reflected = reflect
        if np.all(reflect > 0):
            return phi
        out = phi.copy()
        for design, cols in zip(self._designs, slope_cols):
            index = design.index[:, cols[reflect < 0]]
            out[np.unique(index[index >= 0])] *= -1.0
        if isinstance(self._latents, CorrelatedLatent):
            lower, upper = self._latents.tril
            out[self._latents.slots] *= (reflect[lower] * reflect[upper])[: self._latents.n_free]
        else:
            means = self._latents.index[:, 0]
            out[means[means >= 0]] *= -1.0
        return out

    def _report(self, it: int, ll: float, change: float) -> None:
        if self.callback is not None:
            self.callback(Progress(it, ll, change))

    # -- results ------------------------------------------------------------------------------------
    def _score(self, phi: Array) -> Array:
        """The Fisher-identity score ∂ℓ/∂φ (analytic, from the E-step at φ)."""
        bank, r_flat, n_q, _ = self._estep(phi)
        r3 = self._counts3(r_flat, bank)
        out = self._latents.score(phi, n_q)
        for (g, _), design in zip(self._item_scores(bank, r3), self._designs):
            np.add.at(out, design.index[design.free], g[design.free])
        return out

    def _fitted(self, phi: Array) -> tuple[ItemBank, float]:
        """The bank at φ and the log-likelihood.

        The bank at φ and the log-likelihood (MH-RM: by importance sampling, after drawing
        the persons' posterior θ that its standard errors use too).
        """
        if self.method != "mhrm":
            bank, _, _, ll = self._estep(phi)
            return bank, ll
        self._mhrm.theta *= self._reflected  # the chains follow the factors' orientation
        if self.compute_se:
            self._draws = self._mhrm.draws(phi, _MHRM_DRAWS, _MHRM_THIN)
        ll, self._loglik_se = self._mhrm.loglik(phi, _MHRM_IS_POINTS)
        return self._bank_of(phi), ll

    def _finish(self, phi: Array, n_iter: int, converged: bool) -> CalibrationResult:
        bank, ll = self._fitted(phi)
        logprior = float(sum(
            (prior.logpdf(model.param_vector()[:, cols])
             * _prior_share(design, model.n_items)[:, cols])[design.index[:, cols] >= 0].sum()
            for model, design, priors in zip(bank.models, self._designs, self._block_priors)
            for cols, prior in priors))
        priors = {m.name: dict(self.priors if self.priors is not None
                               else DEFAULT_PRIORS.get(m.name, {}))
                  for m, design in zip(bank.models, self._designs) if design.free.any()}
        k = phi.size
        n = sum(p.n_persons for p in self._patterns)
        cov_phi = self._covariance(phi) if self.compute_se else np.full((k, k), np.nan)
        jac = self._phi_jacobian(bank, phi)  # natural scale = J · estimation scale
        cov = cov_phi * jac[:, None] * jac[None, :]
        se_phi = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        se_phi[~np.isfinite(np.diag(cov))] = np.nan
        items = self._item_estimates(bank, se_phi, cov)
        groups = []
        for g, label in enumerate(self._labels):
            latent = bank.latent if self._n_dims > 1 else self._latents.latent(phi, g)
            keep = [j for j, (_, grp) in enumerate(self._origin) if grp is None or grp == g]
            groups.append(GroupEstimates(
                label=label, n_persons=int(round(self._patterns[g].n_persons)),
                bank=self._group_bank(bank, g, latent),
                items=tuple(replace(items[j], id=self._orig_ids[self._origin[j][0]])
                            for j in keep),
                **self._latent_se(g, phi, se_phi, cov_phi)))  # type: ignore[arg-type]
        return CalibrationResult(
            groups=tuple(groups),
            categories=tuple(self._orig_categories),
            item_ids=tuple(self._orig_ids),
            anchors=tuple(self._anchor_ids),
            anchor_drift=self._anchor_drift(groups[0].bank)
            if self.drift_check and len(self._anchor_ids) >= 2
            else None,
            group_specific=tuple(str(i) for i in self.group_specific),
            loglik=float(ll), logprior=logprior,
            aic=float(-2.0 * ll + 2.0 * k), bic=float(-2.0 * ll + k * np.log(n)),
            n_parameters=int(k), n_persons=int(round(n)), n_iter=int(n_iter),
            converged=bool(converged), se_computed=bool(self.compute_se), covariance=cov,
            priors=priors, factor_names=tuple(self._factor_names), orthogonal=bool(self.orthogonal),
            n_nodes=int(self._nodes.shape[0]) if self.method != "mhrm" else int(
                sobol_points(_MHRM_IS_POINTS)),
            bounds=(float(self.bounds[0]), float(self.bounds[1])),
            n_points=None if self.n_points is None else int(self.n_points),
            accelerated=bool(self.accelerate) and self.method != "mhrm", se_method=str(self.se),
            algorithm=str(self.method),
            loglik_se=float(self._loglik_se) if self.method == "mhrm" else None)

    def _latent_se(self, g: int, phi: Array, se_phi: Array, cov_phi: Array) -> dict[str, Array]:
        """SEs of group ``g``'s latent means and covariance, and which were estimated.

        One factor: the mean's and the variance's (delta method from log v: SE(v) = v SE(log v)).
        Several: the correlations' (delta method through the map of :class:`CorrelatedLatent`).
        """
        d = self._n_dims
        mean_se, cov_se = np.full(d, np.nan), np.full((d, d), np.nan)
        mean_free, cov_free = np.zeros(d, dtype=bool), np.zeros((d, d), dtype=bool)
        if d > 1:
            lat = self._latents
            if lat.n_free:
                se = self._correlation_se(phi, cov_phi)
                i, j = lat.tril
                cov_se[i, j] = cov_se[j, i] = se
                cov_free[i, j] = cov_free[j, i] = True
        else:
            im, iv = self._latents.index[g]
            if im >= 0:
                mean_se[0], mean_free[0] = se_phi[im], True
            if iv >= 0:
                cov_se[0, 0], cov_free[0, 0] = np.exp(phi[iv]) * se_phi[iv], True
        return {"mean_se": mean_se, "cov_se": cov_se, "mean_estimated": mean_free,
                "cov_estimated": cov_free}

    def _correlation_se(self, phi: Array, cov_phi: Array, h: float = 1e-6) -> Array:
        """Delta-method SEs of the factor correlations (lower triangle) from the covariance of φ."""
        lat = self._latents
        base = lat.correlation(phi[lat.slots])[lat.tril]
        jac = np.empty((base.size, lat.n_free))
        for j in range(lat.n_free):
            e = np.zeros(lat.n_free)
            e[j] = h
            jac[:, j] = (lat.correlation(phi[lat.slots] + e)[lat.tril] - base) / h
        cov = cov_phi[np.ix_(lat.slots, lat.slots)]
        out: Array = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", jac, cov, jac), 0.0, None))
        return out

    def _phi_jacobian(self, bank: ItemBank, phi: Array) -> Array:
        """d(natural parameter)/d(φ) per φ entry: c(1 − c) for asymptotes, 1 otherwise."""
        jac = np.ones_like(phi)
        for model, design in zip(bank.models, self._designs):
            scale = _scale_jacobian(model.param_vector(), design)
            jac[design.index[design.free]] = scale[design.free]
        return jac

    def _anchor_drift(self, bank: ItemBank) -> LinkingResult | None:
        """Free calibration of every item, linked to the anchors by Stocking–Lord.

        Drifted anchors are those whose response functions still differ
        (``LinkingResult.drifted``). Only anchors whose free calibration kept their model and
        categories are linked (sparse data may leave a category unobserved, and the free fit
        then has fewer); None when fewer than two are left.
        """
        from qabilet.calibration.linking import link

        resp, names, ids, group_of = self._data
        free = MML(model=names, n_points=self.n_points, bounds=self.bounds, tol=self.tol,
                   max_iter=self.max_iter, compute_se=False, priors=self.priors,
                   group_specific=self.group_specific, reference_group=self.reference_group)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            labels = None if group_of is None else np.asarray(self._labels, dtype=object)[group_of]
            result = free.fit(np.where(resp.observed, resp.x, 0), resp.observed, item_ids=ids,
                              groups=labels)
        fixed = self.fixed
        assert fixed is not None  # drift is checked for anchored fits only
        same = [i for i in self._anchor_ids
                if result.bank.subset(result.bank.index_of([i])).model_names
                == fixed.subset(fixed.index_of([i])).model_names
                and result.bank.n_categories[result.bank.index_of([i])[0]]
                == fixed.n_categories[fixed.index_of([i])[0]]]
        if len(same) < 2:
            return None
        return link(result.bank, fixed, method="stocking-lord", anchors=same)

    def _group_bank(self, bank: ItemBank, g: int, latent: LatentDistribution) -> ItemBank:
        """The items as group ``g`` answers them, under their original ids."""
        keep = [j for j, (_, grp) in enumerate(self._origin) if grp is None or grp == g]
        sub = bank.subset(keep)
        ids = [self._orig_ids[self._origin[j][0]] for j in keep]
        return ItemBank(sub.models, ids, latent, sub.positions)

    def _covariance(self, phi: Array) -> Array:
        """The inverse of the observed information, computed as ``se`` says (NaN if singular)."""
        k = phi.size
        if self.method == "mhrm":
            info, outer = self._mhrm.information(phi, self._draws)
        elif self.se == "numeric":
            info = self._numeric_information(phi)
        else:
            info, outer = self._louis_information(phi)
        try:
            inverse: Array = np.asarray(np.linalg.inv(info), dtype=np.float64)
        except np.linalg.LinAlgError:
            return np.full((k, k), np.nan)
        if self.se == "sandwich":  # robust: I⁻¹ J I⁻¹ (Huber 1967; White 1982)
            sandwich: Array = inverse @ outer @ inverse
            return (sandwich + sandwich.T) / 2.0
        return inverse

    def _numeric_information(self, phi: Array, h: float = 1e-5) -> Array:
        """−∂²ℓ/∂φ² by central differences of the analytic score: 2k E-steps."""
        k = phi.size
        jac = np.empty((k, k))
        for b in range(k):  # 2k E-steps: central differences of the analytic score
            e = np.zeros(k)
            e[b] = h
            jac[:, b] = (self._score(phi + e) - self._score(phi - e)) / (2 * h)
        out: Array = -(jac + jac.T) / 2.0
        return out

    def _louis_information(self, phi: Array, h: float = 1e-5) -> tuple[Array, Array]:
        """−∂²(ℓ + log prior)/∂φ² by Louis' (1982) identity, from one E-step; and J.

        :math:`I = \\bar I_c - C`: the complete-data information :math:`\\bar I_c` at the
        expected counts held fixed — per block, central differences of the items' analytic
        complete-data score (:func:`_block_score`, priors and the logit scale's chain rule
        included) over one parameter column at a time, every item of the block at once (an item's
        score depends on its own parameters only, so each item's column of its Hessian block is
        read off its own score), and for the latent parameters of their score at the posterior
        mass held fixed — less :math:`C`, the persons' summed posterior covariance of the
        complete-data score (:func:`qabilet.calibration._louis.score_covariance`), whose
        per-node scores are the models' analytic :meth:`ItemModel.dlog_prob_dparams` and the
        latent log-weights' derivatives (by central differences, a few parameters on the grid).
        Louis, T. A. (1982), JRSS-B 44:226–233, eq. 3.1.

        ``J`` :math:`= \\sum_p m_p g_p g_p^\\top`, the outer products of the persons'
        observed-data scores :math:`g_p` (the sandwich's middle), comes as a by-product.
        """
        bank, r_flat, n_q, _ = self._estep(phi)
        r3 = self._counts3(r_flat, bank)
        nodes = self._nodes
        k = phi.size
        info = np.zeros((k, k))
        latent = np.arange(self._n_item_phi, k)
        n_scores = int(sum(d.free.sum() for d in self._designs)) + latent.size
        # ∂log P(k|θ_q)/∂φ_f of the item of each score entry f; the last category: missing
        per_category = np.zeros((nodes.shape[0], bank.max_categories + 1, n_scores))
        phi_of_score = [latent]
        item_of_score = [np.full(latent.size, bank.n_items)]
        start = 0
        for model, template, pos, design, priors in zip(
                bank.models, self._templates, bank.positions, self._designs, self._block_priors):
            free = design.free
            items, cols = np.nonzero(free)
            if not items.size:
                continue
            rb = r3[:, pos, : model.max_categories]
            deriv = np.zeros((*free.shape, free.shape[1]))
            for p in np.flatnonzero(free.any(axis=0)):  # parameter columns (a handful)
                e = np.zeros(k)
                e[design.index[free[:, p], p]] = h
                up, down = (_block_score(template.with_params(self._psi_of(phi + sign * e,
                                                                           template, design)),
                                         design, priors, rb, nodes)[0] for sign in (1.0, -1.0))
                deriv[:, :, p] = (up - down) / (2.0 * h)
            i3, r, c = np.nonzero(free[:, :, None] & free[:, None, :])
            np.add.at(info, (design.index[i3, r], design.index[i3, c]), -deriv[i3, r, c])
            # ∂log P_ik(θ_q)/∂φ of every free entry, at its own column of the score vectors
            grad = model.dlog_prob_dparams(nodes)[:, items, :, cols]  # (F_b, Q, K)
            grad = grad * _scale_jacobian(model.param_vector(), design)[items, cols][:, None, None]
            slots = np.arange(start, start + items.size)
            per_category[:, : model.max_categories, slots] = grad.transpose(1, 2, 0)
            phi_of_score.insert(-1, design.index[items, cols])
            item_of_score.insert(-1, pos[items])
            start += items.size
        for j in latent:  # the latent parameters (a few): their score at n_q held fixed
            e = np.zeros(k)
            e[j] = h
            col = (self._latents.score(phi + e, n_q) - self._latents.score(phi - e, n_q)) / (2 * h)
            info[latent, j] -= col[latent]
        lp_t = np.ascontiguousarray(flat_log_prob(bank, nodes).T)
        cov, outer = np.zeros((n_scores, n_scores)), np.zeros((n_scores, n_scores))
        for g, patterns in enumerate(self._patterns):
            latent_scores = np.zeros((nodes.shape[0], n_scores))
            for slot, j in enumerate(latent, start=start):  # ∂log w_gq/∂λ_j, a few
                e = np.zeros(k)
                e[j] = h
                latent_scores[:, slot] = (self._latents.log_weights(phi + e, g)
                                          - self._latents.log_weights(phi - e, g)) / (2 * h)
            c_g, j_g = score_covariance(patterns, lp_t, self._latents.log_weights(phi, g),
                                        per_category, np.concatenate(item_of_score),
                                        latent_scores)
            cov += c_g
            outer += j_g
        where = np.concatenate(phi_of_score)
        cells = (where[:, None], where[None, :])  # to φ: entries of a tied parameter summed
        np.subtract.at(info, cells, cov)
        outer_phi = np.zeros((k, k))
        np.add.at(outer_phi, cells, outer)
        return (info + info.T) / 2.0, outer_phi

    def _item_estimates(self, bank: ItemBank, se_phi: Array, cov: Array) -> list[ItemEstimates]:
        """Per item of ``bank``: its parameters in both forms, their SEs and covariance rows."""
        out: list[ItemEstimates] = [None] * bank.n_items  # type: ignore[list-item]
        records = bank.to_records()
        for model, design, pos in zip(bank.models, self._designs, bank.positions):
            names = model.param_names()
            psi = model.param_vector()
            se = np.where(design.index >= 0, se_phi[np.maximum(design.index, 0)], np.nan)
            trad_se = (traditional_standard_errors(model, design.index, se, cov)
                       if model.n_dims == 1 else None)
            for j, p in enumerate(pos):  # after the fit, once per item: not a hot path
                present = ~np.isnan(psi[j])
                record = {k: v for k, v in records[p].items() if k not in ("id", "model")}
                trad_names: tuple[str, ...] = ()
                trad_values = item_se = np.empty(0)
                if trad_se is not None:
                    trad_names = flat_names(record)
                    trad_values = np.array(_flat_values(record.values()), dtype=np.float64)
                    item_se = np.concatenate([trad_se[k][j] for k in record])
                out[p] = ItemEstimates(
                    id=bank.item_ids[p], model=model.name,
                    names=tuple(n for n, keep in zip(names, present) if keep),
                    values=psi[j, present], se=se[j, present], index=design.index[j, present],
                    traditional_names=trad_names, traditional_values=trad_values,
                    traditional_se=item_se)
        return out


# -- helpers ---------------------------------------------------------------------------------------------


def _every_or(index: NDArray[np.bool_] | NDArray[np.intp], size: int
              ) -> NDArray[np.bool_] | NDArray[np.intp] | slice:
    """``index``, or ``slice(None)`` when it selects every one of ``size`` positions in order.

    ``index`` is a mask or positions along an axis of the data matrix, which is then viewed
    instead of copied.
    """
    every = (index.all() if index.dtype == bool
             else np.array_equal(index, np.arange(size)))
    return slice(None) if every and len(index) == size else index


def _prior_share(design: BlockDesign, n_items: int) -> Array:
    """Weight of each entry's prior: 1, or 1/n_items on a tied column (one prior, not n)."""
    share = np.ones(design.index.shape)
    if design.tied:
        tied_cols = np.array([np.unique(design.index[:, j]).size == 1 and design.index[0, j] >= 0
                              for j in range(design.index.shape[1])])
        share[:, tied_cols] = 1.0 / n_items
    return share


def _block_score(model: ItemModel, design: BlockDesign, priors: Sequence[tuple[list[int], Prior]],
                 rb: Array, nodes: Array) -> tuple[Array, Array]:
    """Gradient (I, P) and Fisher information (I, P, P) of one block's complete-data objective.

    :math:`\\sum_{q,k}\\bar r_{iqk}\\log P_{ik}(\\theta_q)` plus the log priors, item by item, at
    the expected counts ``rb`` (Q, I, K); on the estimation scale (logit for asymptotes).
    """
    grad_lp = model.dlog_prob_dparams(nodes)  # (Q, I, K, P)
    grad_lp[..., ~design.free.any(axis=0)] = 0.0  # fixed columns (may be infinite)
    g = np.einsum("qik,qikp->ip", rb, grad_lp)
    w = rb.sum(axis=-1)[..., None] * model.prob(nodes)  # n_iq P_ik
    fisher = np.einsum("qikp,qikr->ipr", w[..., None] * grad_lp, grad_lp)
    psi = model.param_vector()
    share = _prior_share(design, model.n_items)
    for cols, prior in priors:
        d1, d2 = prior.derivatives(psi[:, cols])
        g[:, cols] += d1 * share[:, cols]
        fisher[:, cols, cols] += np.maximum(-d2, 0.0) * share[:, cols]
    jac = _scale_jacobian(psi, design)
    return g * jac, fisher * jac[:, :, None] * jac[:, None, :]


def _objective(model: ItemModel, counts: Array, nodes: Array,
               priors: Sequence[tuple[list[int], Prior]] = (), share: Array | None = None
               ) -> Array:
    """Σ_q Σ_k r_iqk log P_ik(θ_q) + log priors, per item (−inf where parameters are invalid)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        lp = model.log_prob(nodes)
        terms = np.where(counts > 0, counts * lp, 0.0)
        out = terms.sum(axis=(0, 2))
        if priors:
            psi = model.param_vector()
            weight = np.ones(psi.shape) if share is None else share
            for cols, prior in priors:
                out = out + (prior.logpdf(psi[:, cols]) * weight[:, cols]).sum(axis=1)
    return np.where(np.isfinite(out), out, -np.inf)


def _asymptotes_ordered(bank: ItemBank) -> bool:
    """Whether every item with both asymptotes has its lower one below its upper one (c < u).

    Each asymptote is estimated on the logit scale, so it stays in (0, 1) whatever the step; but
    SQUAREM's extrapolation moves the two independently and may propose c ≥ u, where the model's
    probabilities (and log(u − c)) are undefined. Such a point is rejected before it is evaluated,
    as it would be after: its log-likelihood is −∞.
    """
    for model in bank.models:
        lower, upper = columns_for("c", model), columns_for("u", model)
        if lower and upper:
            psi = model.param_vector()
            if not np.all(psi[:, lower] < psi[:, upper]):
                return False
    return True


def _scale_jacobian(psi: Array, design: BlockDesign) -> Array:
    """d(natural)/d(estimation scale) per entry: x(1 − x) on logit columns, 1 elsewhere."""
    jac = np.ones_like(psi)
    cols = design.logit_cols
    jac[:, cols] = psi[:, cols] * (1.0 - psi[:, cols])
    return np.where(np.isnan(jac), 1.0, jac)


def _natural(eta: Array, design: BlockDesign) -> Array:
    """Parameters on their natural scale from the estimation scale."""
    out = eta.copy()
    out[:, design.logit_cols] = expit(eta[:, design.logit_cols])
    return out


def _fisher_step(g: Array, fisher: Array, design: BlockDesign) -> Array:
    """Solve the Fisher-scoring system on the free entries (jointly when parameters are tied)."""
    free = design.free
    n_items, n_par = free.shape
    # an item whose terms are not finite (an extrapolation far off) takes no step this cycle
    bad = np.asarray(~(np.isfinite(g).all(axis=1) & np.isfinite(fisher).all(axis=(1, 2))))
    if bad.any():
        g = np.where(bad[:, None], 0.0, g)
        fisher = np.where(bad[:, None, None], np.eye(n_par), fisher)
    if not design.tied:
        f = np.where(free[:, :, None] & free[:, None, :], fisher, 0.0)
        diag = np.arange(n_par)
        f[:, diag, diag] += np.where(free, 1e-10 * (1.0 + np.abs(f[:, diag, diag])), 1.0)
        step = np.linalg.solve(f, np.where(free, g, 0.0)[..., None])[..., 0]
        return np.where(free, step, 0.0)
    idx = design.index[free]
    n_phi = int(idx.max()) + 1 - int(idx.min())
    base = int(idx.min())
    rows = design.index - base
    g_phi = np.zeros(n_phi)
    np.add.at(g_phi, rows[free], g[free])
    f_phi = np.zeros((n_phi, n_phi))
    ii, pp = np.nonzero(free)
    for p1 in range(n_par):  # parameter columns (a handful), not items
        for p2 in range(n_par):
            sel = free[:, p1] & free[:, p2]
            np.add.at(f_phi, (rows[sel, p1], rows[sel, p2]), fisher[sel, p1, p2])
    delta = np.linalg.solve(f_phi, g_phi)
    step = np.zeros(free.shape)
    step[ii, pp] = delta[rows[ii, pp]]
    return step


def traditional_fields(model: ItemModel) -> dict[str, Array]:
    """A unidimensional model's traditional record fields as ``(n_items, width)`` arrays.

    The fields its declaration writes, in their order; lists NaN-padded, a list shared by every
    item (the rating scale's thresholds) repeated on every row.
    """
    arrays = model.to_traditional()
    out = {}
    for field in model.PARAMETERS.traditional:
        if field.written:
            values = np.asarray(arrays[field.key], dtype=np.float64)
            out[field.name] = np.broadcast_to(values, (model.n_items, values.size)) if (
                field.shape == "shared") else values.reshape(model.n_items, -1)
    return out


def traditional_jacobian(model: ItemModel) -> dict[str, Array]:
    """Derivatives of the traditional fields with respect to the parameter columns.

    Five-point central differences over each column of :meth:`ItemModel.param_vector`, all items
    at once: ``out[field][i, k, p]`` is ∂(entry k of item i's field)/∂(column p). A column is
    moved for every item together, so a column tied across items (the rating scale's
    thresholds, which every item reads from the first row) gets the derivative with respect to
    the one shared parameter. Steps are 10⁻³ of the entry (at least 10⁻⁴); the conversions are
    rational, so the error is about (10⁻³)⁴ relative.
    """
    psi = model.param_vector()
    fields = traditional_fields(model)
    step = 1e-3 * np.maximum(np.abs(np.nan_to_num(psi)), 0.1)
    out = {k: np.zeros((*v.shape, psi.shape[1])) for k, v in fields.items()}
    weights = ((-2.0, 1.0), (-1.0, -8.0), (1.0, 8.0), (2.0, -1.0))
    for p in range(psi.shape[1]):  # parameter columns (a handful), not items
        for shift, weight in weights:
            moved = psi.copy()
            moved[:, p] += shift * step[:, p]
            with np.errstate(divide="ignore", invalid="ignore"):
                values = traditional_fields(model.with_params(moved))
            for k, v in values.items():
                out[k][..., p] += weight * v
        for k in out:
            out[k][..., p] /= 12.0 * step[:, None, p]
    return out


def traditional_standard_errors(model: ItemModel, index: NDArray[np.intp], se: Array,
                                cov: Array) -> dict[str, list[Array]]:
    """Delta-method standard errors of a unidimensional model's traditional fields.

    Parameters
    ----------
    model : ItemModel
        The fitted items of one model.
    index : ndarray of int, shape (n_items, n_params)
        Row of every :meth:`ItemModel.param_vector` entry in ``cov`` (−1: not estimated).
    se : ndarray, shape (n_items, n_params)
        Standard errors of those entries (NaN where not estimated).
    cov : ndarray
        Covariance of the estimates.

    Returns
    -------
    dict
        Field name → per item, the standard errors of the field's entries in its record
        (padding dropped), NaN where nothing
        estimated moves the entry. A field the declaration says equals a column
        (``same_as``) takes that column's standard errors as they are; the others
        :math:`\\sqrt{J\\Sigma J^\\top}` with the Jacobian of :func:`traditional_jacobian`.
    """
    declared = model.PARAMETERS
    fields = traditional_fields(model)
    free = index >= 0
    jac = {k: np.where(free[:, None, :], v, 0.0) for k, v in traditional_jacobian(model).items()}
    rows = np.maximum(index, 0)
    sigma = np.where(free[:, :, None] & free[:, None, :], cov[rows[:, :, None], rows[:, None, :]],
                     0.0)
    stems = [column.stem for column in map(declared.column, model.param_names())]
    out: dict[str, list[Array]] = {}
    for field in declared.traditional:
        if field.name not in fields:
            continue
        values = fields[field.name]
        if field.same_as is not None:  # the column's own standard errors, entry by entry
            cols = [p for p, stem in enumerate(stems) if stem == field.same_as]
            own = se[:, cols]
            given = ~np.isnan(model.param_vector()[:, cols])
            result = np.full(values.shape, np.nan)
            width = given.sum(axis=1)
            slot = np.arange(values.shape[1])[None, :] < width[:, None]
            result[slot] = own[given]
        else:
            j = jac[field.name]
            var = np.einsum("ikp,ipq,ikq->ik", j, sigma, j)
            result = np.where((j != 0).any(axis=-1), np.sqrt(np.clip(var, 0.0, None)), np.nan)
        keep = ~np.isnan(values) if field.is_list else np.ones(values.shape, dtype=bool)
        out[field.name] = [row[mask] for row, mask in zip(result, keep)]  # after the fit, once
    return out


def _flat_values(values: Any) -> list[float]:
    """Scalars and lists, flattened in order (the values of :func:`flat_names`)."""
    out: list[float] = []
    for v in values:
        out.extend(v if isinstance(v, list) else [v])
    return out
