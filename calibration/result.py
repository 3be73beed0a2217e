"""What a calibration produced: :class:`CalibrationResult`, a frozen value returned by ``MML.fit``.

Parameters are held per item as arrays aligned to their names, in both forms of docs/design.md §5:

* the slope-intercept form the estimation works in (mirt's names ``a1``, ``d``, ``g``, ``u``,
  ``d1…``, ``ak0…``), with standard errors from the observed information (NaN where a parameter
  was not estimated) and each entry's row in :attr:`CalibrationResult.covariance`;
* the traditional form a person reads (the names of the parameter file's records: ``a``,
  ``b``, ``c``, ``u``, ``tau``, and ``b[0]``, ``b[1]`` … for the entries of a list), with
  delta-method standard errors — for unidimensional items only (multidimensional items have no
  traditional form).

A multi-group calibration holds one :class:`GroupEstimates` per group, reference group first:
its latent distribution (with standard errors), the items as that group answers them
(group-specific items differ) and its number of persons.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.latent import LatentDistribution

if TYPE_CHECKING:
    import pandas as pd

    from qabilet.calibration.linking import LinkingResult
    from qabilet.calibration.priors import Prior

__all__ = ["CalibrationResult", "GroupEstimates", "ItemEstimates", "flat_names", "unflatten"]

Array = NDArray[np.float64]


def flat_names(record: Mapping[str, Any]) -> tuple[str, ...]:
    """Names of a record's numbers: ``a`` for a scalar, ``b[0]``, ``b[1]`` … for a list's entries.

    Examples
    --------
    >>> flat_names({"a": 1.2, "b": [-1.0, 0.5]})
    ('a', 'b[0]', 'b[1]')
    """
    out: list[str] = []
    for key, value in record.items():
        if isinstance(value, list | tuple | np.ndarray):
            out.extend(f"{key}[{k}]" for k in range(len(value)))
        else:
            out.append(key)
    return tuple(out)


def unflatten(names: Sequence[str], values: Sequence[float] | Array) -> dict[str, Any]:
    """The inverse of :func:`flat_names`: ``{"a": v, "b": [v, v]}`` from flat names and values."""
    out: dict[str, Any] = {}
    for name, value in zip(names, values, strict=True):
        key, bracket, _ = name.partition("[")
        v = float(value)
        if bracket:
            out.setdefault(key, []).append(v)
        else:
            out[key] = v
    return out


@dataclass(frozen=True, eq=False)
class ItemEstimates:
    """One item's estimates (as one group answers it).

    Attributes
    ----------
    id : str
        Item id.
    model : str
        Model name.
    names : tuple of str
        Slope-intercept parameters (mirt's names, padding dropped).
    values, se : ndarray, shape (len(names),)
        Estimates and standard errors (NaN where not estimated, or when standard errors were
        not computed).
    index : ndarray of int, shape (len(names),)
        Row of each parameter in :attr:`CalibrationResult.covariance`, −1 where fixed (a
        parameter shared by several items — the ``1pl`` slope — has one row).
    traditional_names : tuple of str
        The parameters of the item's parameter-file record (``a``, ``b``, ``b[0]``, …); empty for
        multidimensional items.
    traditional_values, traditional_se : ndarray
        Their values and delta-method standard errors (NaN where not estimated).
    """

    id: str
    model: str
    names: tuple[str, ...]
    values: Array
    se: Array
    index: NDArray[np.intp]
    traditional_names: tuple[str, ...]
    traditional_values: Array
    traditional_se: Array

    @property
    def estimated(self) -> bool:
        """Whether any of the item's parameters was estimated (False for an anchor)."""
        return bool((self.index >= 0).any())

    def slope_intercept(self) -> dict[str, float]:
        """``{name: estimate}`` in slope-intercept form."""
        return dict(zip(self.names, self.values.tolist(), strict=True))

    def slope_intercept_se(self) -> dict[str, float]:
        """``{name: standard error}`` of the estimated slope-intercept parameters only."""
        return {n: float(s) for n, s, i in zip(self.names, self.se, self.index, strict=True)
                if i >= 0}

    def traditional_se_record(self) -> dict[str, Any]:
        """The traditional standard errors shaped like the record (``{"a": s, "b": [s, s]}``)."""
        return unflatten(self.traditional_names, self.traditional_se)


@dataclass(frozen=True, eq=False)
class GroupEstimates:
    """One group of a calibration (the only one without groups, labelled None).

    Attributes
    ----------
    label : object
        The group label (None without groups).
    n_persons : int
        Persons in the group.
    bank : ItemBank
        The items as this group answers them, with its latent distribution.
    items : tuple of ItemEstimates
        Per item, in bank order.
    mean_se : ndarray, shape (n_dims,)
        Standard errors of the latent means (NaN where fixed).
    cov_se : ndarray, shape (n_dims, n_dims)
        Standard errors of the latent covariance: of the variance on the diagonal (delta method
        from its logarithm, the estimation scale), of the correlations off it (several factors,
        unit variances); NaN where fixed.
    mean_estimated, cov_estimated : ndarray of bool
        Which of those were estimated (not fixed to identify the scale).
    """

    label: Any
    n_persons: int
    bank: ItemBank
    items: tuple[ItemEstimates, ...]
    mean_se: Array
    cov_se: Array
    mean_estimated: NDArray[np.bool_]
    cov_estimated: NDArray[np.bool_]

    @property
    def latent(self) -> LatentDistribution:
        """The group's latent distribution."""
        return self.bank.latent


@dataclass(frozen=True, eq=False)
class CalibrationResult:
    """The result of :meth:`qabilet.calibration.MML.fit`.

    Attributes
    ----------
    groups : tuple of GroupEstimates
        One per group, the reference group first (one, labelled None, without groups).
    categories : tuple of ndarray of int
        Per item of the data (in its column order): the original codes of categories 0..K−1.
    item_ids : tuple of str
        The items, in the data's column order.
    anchors : tuple of str
        Items whose parameters were fixed (``MML(fixed=...)``).
    anchor_drift : LinkingResult or None
        With two or more anchors: a free calibration linked to the anchors by Stocking–Lord;
        ``anchor_drift.drifted`` lists anchors whose response functions moved.
    group_specific : tuple of str
        Items estimated separately in each group.
    loglik : float
        Marginal log-likelihood at the estimate.
    logprior : float
        Log prior density at the estimate (0 without priors); the estimate maximises
        ``loglik + logprior``.
    aic, bic : float
        :math:`-2\\ell + 2k` and :math:`-2\\ell + k\\log n` (k estimated parameters, n persons).
    n_parameters, n_persons, n_iter : int
        Estimated parameters, persons, EM cycles.
    converged : bool
        Whether the tolerances were met before ``max_iter``.
    se_computed : bool
        Whether standard errors were computed (``MML(compute_se=...)``).
    covariance : ndarray, shape (n_parameters, n_parameters)
        Covariance of the estimates (inverse observed information, or with
        ``se_method="sandwich"`` the robust :math:`I^{-1}JI^{-1}`): item parameters on their
        natural scale at the rows of :attr:`ItemEstimates.index`, then the latent parameters
        (means and log-variances, or the correlation parameters of several factors) on the
        estimation scale. NaN when standard errors were not computed.
    priors : mapping
        Model name → the priors applied to its calibrated items, by parameter kind.
    factor_names : tuple of str
        The latent factors.
    orthogonal : bool
        Factors held uncorrelated.
    n_nodes : int
        Integration points (quadrature nodes, or quasi-Monte Carlo points for four or more
        factors).
    bounds : (float, float)
        The quadrature interval.
    n_points : int or None
        Quadrature points per factor as asked (None: the default for the number of factors).
    accelerated : bool
        SQUAREM acceleration used.
    se_method : str
        How the covariance was computed (``MML(se=...)``): ``"louis"`` or ``"numeric"`` (the
        observed information, in closed form or by differences), ``"sandwich"`` (robust).
    algorithm : str
        How the likelihood was maximised (``MML(method=...)``): ``"em"`` (EM on quadrature
        nodes or quasi-Monte Carlo points) or ``"mhrm"`` (Metropolis–Hastings Robbins–Monro;
        then :attr:`loglik` is an importance-sampling estimate on :attr:`n_nodes` points per
        person, and the standard errors come from Louis' identity over posterior draws).
    loglik_se : float or None
        The Monte Carlo standard error of :attr:`loglik` when it is an estimate (MH-RM); None
        when it is computed on the quadrature.
    """

    groups: tuple[GroupEstimates, ...]
    categories: tuple[NDArray[np.int64], ...]
    item_ids: tuple[str, ...]
    anchors: tuple[str, ...]
    anchor_drift: LinkingResult | None
    group_specific: tuple[str, ...]
    loglik: float
    logprior: float
    aic: float
    bic: float
    n_parameters: int
    n_persons: int
    n_iter: int
    converged: bool
    se_computed: bool
    covariance: Array
    priors: Mapping[str, Mapping[str, Prior]]
    factor_names: tuple[str, ...]
    orthogonal: bool
    n_nodes: int
    bounds: tuple[float, float]
    n_points: int | None
    accelerated: bool
    se_method: str = "louis"
    algorithm: str = "em"
    loglik_se: float | None = None

    # -- the reference group's view ----------------------------------------------------------------
    @property
    def reference(self) -> GroupEstimates:
        """The reference group (the only group without groups)."""
        return self.groups[0]

    @property
    def reference_group(self) -> Any:
        """The reference group's label (None without groups)."""
        return self.groups[0].label

    @property
    def bank(self) -> ItemBank:
        """The fitted items and latent distribution of the reference group."""
        return self.groups[0].bank

    @property
    def latent(self) -> LatentDistribution:
        """The reference group's latent distribution."""
        return self.groups[0].bank.latent

    @property
    def items(self) -> tuple[ItemEstimates, ...]:
        """The reference group's item estimates, in bank order."""
        return self.groups[0].items

    @property
    def group_labels(self) -> tuple[Any, ...]:
        """The group labels, reference first (``(None,)`` without groups)."""
        return tuple(g.label for g in self.groups)

    @property
    def multi_group(self) -> bool:
        """Whether the calibration had groups."""
        return self.groups[0].label is not None

    def group(self, label: Any) -> GroupEstimates:
        """The group labelled ``label``."""
        for g in self.groups:
            if g.label == label:
                return g
        raise InvalidParameterError(
            f"group: expected one of {[g.label for g in self.groups]}; got {label!r}")

    # -- tables ------------------------------------------------------------------------------------
    def mirt_table(self) -> list[dict[str, Any]]:
        """Slope-intercept parameters with mirt's column names, one row per item (bank order).

        As ``coef(mod, simplify = TRUE)$items`` prints them.
        """
        return [{"item": item.id, **item.slope_intercept()} for item in self.items]

    def to_frame(self) -> pd.DataFrame:
        """Every parameter of every item as a long table (pandas).

        Columns ``group``, ``item``, ``model``, ``form`` (``slope-intercept`` or
        ``traditional``), ``parameter``, ``estimate``, ``se``, ``estimated``.

        Raises
        ------
        ImportError
            When pandas is not installed.
        """
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - pandas is a dev dependency
            raise ImportError("CalibrationResult.to_frame needs pandas (pip install pandas); "
                              "the arrays are in result.items") from None
        rows = []
        for g in self.groups:
            for item in g.items:
                for name, value, se, ix in zip(item.names, item.values, item.se, item.index,
                                               strict=True):
                    rows.append((g.label, item.id, item.model, "slope-intercept", name,
                                 float(value), float(se), bool(ix >= 0)))
                for name, value, se in zip(item.traditional_names, item.traditional_values,
                                           item.traditional_se, strict=True):
                    rows.append((g.label, item.id, item.model, "traditional", name,
                                 float(value), float(se), bool(np.isfinite(se))))
        return pd.DataFrame(rows, columns=["group", "item", "model", "form", "parameter",
                                           "estimate", "se", "estimated"])

    def summary(self, group_column: str | None = None) -> str:
        """Fit statistics and the item parameters as a text table.

        A reverse-keyed item (a negative slope) is marked ``[reverse-keyed]``. With groups or
        anchors, the latent distributions follow (with their standard errors),
        then the group-specific items and the anchors' drift check.

        Parameters
        ----------
        group_column : str, optional
            The name of the column that held the groups, for the heading.
        """
        bank = self.bank
        mhrm = self.algorithm == "mhrm"
        lines = [
            f"MML-{'MH-RM' if mhrm else 'EM'} calibration: {len(bank.item_ids)} items, "
            f"{self.n_persons:.0f} persons, models {', '.join(sorted(set(bank.model_names)))}",
            f"log-likelihood {self.loglik:.4f}"
            + (f" (importance sampling, Monte Carlo SE {self.loglik_se:.2f})"
               if self.loglik_se is not None else "")
            + f"  AIC {self.aic:.2f}  BIC {self.bic:.2f}  parameters {self.n_parameters}",
            f"{'MH-RM' if mhrm else 'EM'} cycles {self.n_iter}, converged {self.converged}; "
            "latent means "
            f"{np.round(self.latent.mean, 4).tolist()}, covariance "
            f"{np.round(self.latent.cov, 4).tolist()}",
            "",
        ]
        for rec, item, reverse in zip(bank.to_records(), self.items, bank.reverse_keyed,
                                      strict=True):
            lines.append(f"{rec['id']:<12} {rec['model']:<8} {self._params_text(rec, item)}"
                         + ("  [reverse-keyed]" if reverse else ""))
        parts = ["\n".join(lines)]
        if self.multi_group or self.anchors:
            parts.append(self._latent_table(group_column))
        if self.multi_group and self.group_specific:
            parts.append(self._group_specific_table())
        if self.anchors:
            drift = self.anchor_drift
            parts.append("Anchor drift check (a free calibration linked to the anchors):\n"
                         + (drift.summary() if drift is not None else
                            f"one anchor ({self.anchors[0]}); the drift check needs two or more"))
        return "\n\n".join(parts)

    def _repr_html_(self) -> str:
        """The summary as an HTML block for notebooks."""
        return f"<pre>{html.escape(self.summary())}</pre>"

    def __repr__(self) -> str:
        groups = "" if not self.multi_group else f", groups={list(self.group_labels)}"
        return (f"CalibrationResult(n_items={len(self.item_ids)}, n_persons={self.n_persons}, "
                f"loglik={self.loglik:.4f}, converged={self.converged}{groups})")

    def _params_text(self, record: Mapping[str, Any], item: ItemEstimates) -> str:
        """``a=1.2000 (0.0500)  b=[…] ([…])``: a record's parameters and their SEs."""
        se = (item.traditional_se_record()
              if self.se_computed and item.estimated and item.traditional_names else {})
        return "  ".join(f"{k}={_number_text(v)}" + (f" ({_number_text(se[k])})" if k in se else "")
                         for k, v in record.items() if k not in ("id", "model"))

    def _latent_table(self, group_column: str | None) -> str:
        if self.multi_group:
            scale = ", on the anchors' scale" if self.anchors else ""
            column = "" if group_column is None else f"column {group_column!r}, "
            head = (f"Latent distribution by group ({column}reference "
                    f"{self.reference_group}{scale}):")
        else:
            head = "Latent distribution (estimated on the anchors' scale):"
        se_head = f" {'(SE)':>10}" if self.se_computed else ""
        lines = [head, f"  {'group':<12} {'persons':>8} {'mean':>10}{se_head} {'variance':>10}"
                       f"{se_head}"]
        for g in self.groups:
            mean_se = var_se = ""
            if self.se_computed:
                mean_se = f" {_se_cell(g.mean_se[0], g.mean_estimated[0]):>10}"
                var_se = f" {_se_cell(g.cov_se[0, 0], g.cov_estimated[0, 0]):>10}"
            lines.append(f"  {'(all)' if g.label is None else g.label:<12} {g.n_persons:>8} "
                         f"{g.latent.mean[0]:>10.4f}{mean_se} {g.latent.cov[0, 0]:>10.4f}{var_se}")
        return "\n".join(lines)

    def _group_specific_table(self) -> str:
        lines = ["Group-specific items" + (" (standard errors in parentheses):"
                                           if self.se_computed else ":")]
        for item_id in self.group_specific:
            for g in self.groups:
                j = int(g.bank.index_of([item_id])[0])
                record = g.bank.to_records()[j]
                lines.append(f"{item_id:<12} {g.label:<8} {record['model']:<8} "
                             f"{self._params_text(record, g.items[j])}")
        return "\n".join(lines)

    # -- how the parameters were estimated -----------------------------------------------------------
    def method(self, anchor_source: str | None = None) -> str:
        """How the parameters were estimated, in a sentence (a parameter file's ``method``).

        Parameters
        ----------
        anchor_source : str, optional
            Where the anchors' parameters came from (a file name), for the text.
        """
        lo, hi = self.bounds
        n_dims = len(self.factor_names)
        nodes = self.n_nodes
        if n_dims == 1:
            grid = f"{nodes} quadrature points on [{lo:g}, {hi:g}]"
        elif n_dims <= 3:
            grid = (f"{n_dims} correlated factors" if not self.orthogonal
                    else f"{n_dims} factors") + (
                f", product grid of {round(nodes ** (1 / n_dims))}^{n_dims} points on "
                f"[{lo:g}, {hi:g}]")
        else:
            grid = (f"{n_dims} {'orthogonal' if self.orthogonal else 'correlated'} factors, "
                    f"quasi-Monte Carlo EM with {nodes} Sobol points")
        text = f"MML-EM (Bock-Aitkin), {grid}"
        if self.algorithm == "mhrm":
            text = (f"MH-RM (Cai 2010), {n_dims} "
                    f"{'orthogonal' if self.orthogonal else 'correlated'} factors, "
                    f"{self.n_iter} cycles; log-likelihood by importance sampling "
                    f"({nodes} Sobol points per person)")
        if self.accelerated:
            text += ", SQUAREM"
        if self.multi_group:
            text += (f"; {len(self.groups)} groups (reference {self.reference_group})"
                     + (f", group-specific items {', '.join(self.group_specific)}"
                        if self.group_specific else ""))
        if self.anchors:
            source = "" if anchor_source is None else f" in {anchor_source}"
            text += (f"; {len(self.anchors)} anchor item(s) fixed at their parameters{source} "
                     "(not estimated here: no SE)")
        used = {model: p for model, p in self.priors.items() if p}
        if used:
            text += "; priors " + "; ".join(
                (f"{model}: " if len(used) > 1 else "")
                + ", ".join(f"{k} ~ {_prior_text(p)}" for k, p in priors.items())
                for model, priors in used.items())
        if not self.se_computed:
            return text + "; SE: not computed"
        how = {"louis": "Louis' identity", "numeric": "numeric Hessian"}.get(self.se_method, "")
        if self.algorithm == "mhrm":
            how = "Louis' identity over posterior draws"
        text += ("; SE: sandwich (robust), inverse observed information around the outer "
                 "products of the persons' scores" if self.se_method == "sandwich"
                 else f"; SE: observed information ({how})")
        # a parameter file has no other place for the SEs of the estimated latent parameters
        for label, what, se in self._latent_standard_errors():
            text += f"; {f'group {label}: ' if label is not None else ''}latent {what} estimated, " + (
                f"SE {se:.4g}" if math.isfinite(se) else "SE not available")
        return text

    def _latent_standard_errors(self) -> list[tuple[Any, str, float]]:
        """(group label, what, SE) of every estimated latent parameter."""
        out: list[tuple[Any, str, float]] = []
        names = self.factor_names
        if len(names) > 1:
            g = self.groups[0]
            for i, j in zip(*np.tril_indices(len(names), -1), strict=True):
                if g.cov_estimated[i, j]:
                    out.append((None, f"r({names[j]},{names[i]})", float(g.cov_se[i, j])))
            return out
        for g in self.groups:
            if g.mean_estimated[0]:
                out.append((g.label, "mean", float(g.mean_se[0])))
            if g.cov_estimated[0, 0]:
                out.append((g.label, "variance", float(g.cov_se[0, 0])))
        return out


def _se_cell(se: float, estimated: bool) -> str:
    if not estimated:
        return "(fixed)"
    return f"({se:.4f})" if math.isfinite(se) else "(n/a)"


def _number_text(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_number_text(x) for x in v) + "]"
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _prior_text(prior: Prior) -> str:
    values = ", ".join(f"{getattr(prior, f.name):g}" for f in fields(prior))  # type: ignore[arg-type]
    return f"{type(prior).__name__}({values})"
