"""Do the data order a situational item's options as its experts do? A review check of nominal fits.

A situational-judgement item calibrated by the nominal model (Bock 1972),
:math:`P(x = k \\mid \\theta) \\propto \\exp(s_k\\theta + d_k)`, gives each option a slope
:math:`s_k = a\\,a_k` (mirt's ``a1`` times ``ak``): how much more likely the option is chosen as the
trait grows. The experts named the option that shows the competency most and, optionally, the one
that shows it least (docs/design.md §5: metadata that orients the scale, never a key). When the
data disagree — the "most indicative" option is not the steepest, or the "least indicative" not
the flattest — the item's content deserves a review.

For the most indicative option :math:`m`, each other option :math:`j` gives one hypothesis
:math:`H_{0}: s_m \\ge s_j` against :math:`s_m < s_j`, tested by

.. math::

    z_j = \\frac{\\hat s_m - \\hat s_j}{\\sqrt{\\hat V_{mm} + \\hat V_{jj} - 2 \\hat V_{mj}}},
    \\qquad p_j = \\Phi(z_j),

one-sided, with :math:`\\hat V` the covariance of the slopes by the delta method from the
calibration's covariance of :math:`(a, a_k)`: :math:`\\partial s_k/\\partial a = a_k`,
:math:`\\partial s_k/\\partial a_k = a` (Agresti 2013, §16.1.6 for the delta method). For the least
indicative option :math:`l`, :math:`H_0: s_l \\le s_j`, :math:`z_j = (\\hat s_j - \\hat s_l)/\\mathrm{sd}`.
All hypotheses of all items form one family: Holm's (1979) step-down adjustment,
:math:`\\tilde p_{(i)} = \\max_{h \\le i} \\min(1, (M - h + 1)\\,p_{(h)})` over the :math:`M` sorted
p-values, keeps the probability of flagging any item whose options are in the experts' order at
most :math:`\\alpha`. An item is flagged for review when one of its adjusted p-values is below
:math:`\\alpha`; each row reports the option that contradicts the experts most (the smallest
:math:`z`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import norm

from qabilet.calibration._diagnostics import Report, fmt, text_table
from qabilet.calibration._multiplicity import holm
from qabilet.calibration.result import CalibrationResult
from qabilet.engine.exceptions import InvalidParameterError

__all__ = ["ExpertOrder", "expert_order", "holm"]

Array = NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class _Slopes:
    """One item's option slopes in the codes calibrated: codes, slopes, their covariance."""

    codes: NDArray[np.int64]
    slopes: Array
    cov: Array


@dataclass(frozen=True, eq=False)
class ExpertOrder(Report):
    """The experts' order of options against a nominal fit (see :func:`expert_order`).

    One row per item and check (``most``: is the most indicative option the steepest; ``least``:
    is the least indicative one the flattest).

    Attributes
    ----------
    item_ids, check : tuple of str
        The row's item and check.
    expert : ndarray of int
        The option the experts named (its code).
    rival : ndarray of int
        The other option that contradicts them most (smallest ``z``).
    order : tuple of str
        The options' codes by estimated slope, steepest first (``"2 > 0 > 1 > 3"``).
    difference, se : ndarray
        :math:`\\hat s_m - \\hat s_{rival}` (check ``most``) or :math:`\\hat s_{rival} - \\hat s_l`
        (``least``) and its standard error: positive in the experts' order.
    z, p_value, p_holm : ndarray
        The one-sided test of the row's comparison, and its Holm-adjusted p-value in the family
        of all comparisons (``n_tests``).
    alpha : float
    n_tests : int
        Comparisons in the family (each item's options other than the expert's, per check).
    slopes : dict
        Item id → ``(codes, slopes, standard errors)`` of every option, in category order.
    """

    item_ids: tuple[str, ...]
    check: tuple[str, ...]
    expert: NDArray[np.int64]
    rival: NDArray[np.int64]
    order: tuple[str, ...]
    difference: Array
    se: Array
    z: Array
    p_value: Array
    p_holm: Array
    alpha: float
    n_tests: int
    slopes: Mapping[str, tuple[NDArray[np.int64], Array, Array]]

    @property
    def flagged(self) -> NDArray[np.bool_]:
        """Rows whose Holm-adjusted p-value is below ``alpha``."""
        return np.asarray(self.p_holm < self.alpha)

    @property
    def review(self) -> tuple[str, ...]:
        """The items with a flagged row, in row order."""
        return tuple(dict.fromkeys(i for i, f in zip(self.item_ids, self.flagged, strict=True) if f))

    def summary(self) -> str:
        """The rows as a text table."""
        head = (f"Options against the experts' order (nominal slopes, one-sided z; Holm over "
                f"{self.n_tests} comparisons): {len(self.review)} of "
                f"{len(dict.fromkeys(self.item_ids))} items to review at alpha = {self.alpha:g}\n")
        cols = [
            ("item", list(self.item_ids)),
            ("check", list(self.check)),
            ("expert", [fmt(v) for v in self.expert]),
            ("rival", [fmt(v) for v in self.rival]),
            ("estimated order", list(self.order)),
            ("diff", [fmt(v) for v in self.difference]),
            ("se", [fmt(v) for v in self.se]),
            ("z", [fmt(v, 2) for v in self.z]),
            ("p", [fmt(v, 4) for v in self.p_value]),
            ("p_holm", [fmt(v, 4) for v in self.p_holm]),
            ("", ["review" if f else "" for f in self.flagged]),
        ]
        return head + text_table(cols)

    def to_frame(self) -> Any:
        """One row per item and check (pandas is imported here only)."""
        import pandas as pd

        return pd.DataFrame({"item": self.item_ids, "check": self.check, "expert": self.expert,
                             "rival": self.rival, "order": self.order,
                             "difference": self.difference, "se": self.se, "z": self.z,
                             "p": self.p_value, "p_holm": self.p_holm, "review": self.flagged})

    def records(self) -> list[dict[str, Any]]:
        """The rows as JSON-ready dictionaries (the frame's columns)."""
        return [{"item": i, "check": c, "expert": int(e), "rival": int(r), "order": o,
                 "difference": float(d), "se": float(s), "z": float(z), "p": float(p),
                 "p_holm": float(h), "review": bool(f)}
                for i, c, e, r, o, d, s, z, p, h, f in zip(
                    self.item_ids, self.check, self.expert, self.rival, self.order,
                    self.difference, self.se, self.z, self.p_value, self.p_holm, self.flagged,
                    strict=True)]

    def __repr__(self) -> str:
        return f"ExpertOrder(n_items={len(dict.fromkeys(self.item_ids))}, review={list(self.review)})"


def _from_fit(fit: CalibrationResult, item_id: str, group: Any) -> _Slopes:
    """An item's option slopes and their delta-method covariance from a calibration."""
    if not fit.se_computed:
        raise InvalidParameterError("items: the calibration has no standard errors; fit with "
                                    "MML(compute_se=True)")
    estimates = {e.id: e for e in (fit.items if group is None else fit.group(group).items)}
    est = estimates.get(item_id)
    if est is None:
        raise InvalidParameterError(f"orientation: item {item_id!r} is not in the calibration")
    names = list(est.names)
    if est.model != "nominal" or "a2" in names:
        raise InvalidParameterError(f"orientation: item {item_id!r} is {est.model}"
                                    f"{' (several factors)' if 'a2' in names else ''}; the check "
                                    f"reads unidimensional nominal items")
    k = [n for n in names if n.startswith("ak")]
    a, ak = est.values[names.index("a1")], est.values[[names.index(n) for n in k]]
    # d s / d (a, ak_0 … ak_{K-1}): s_k = a·ak_k
    jac = np.column_stack([ak, np.eye(len(k)) * a])
    rows = est.index[[names.index(n) for n in ("a1", *k)]]
    free = rows >= 0
    if not free.any():
        raise InvalidParameterError(f"orientation: item {item_id!r} was not estimated (an anchor)")
    sigma = fit.covariance[np.ix_(rows[free], rows[free])]
    cov = jac[:, free] @ sigma @ jac[:, free].T
    return _Slopes(np.asarray(fit.categories[fit.item_ids.index(item_id)], dtype=np.int64), a * ak, cov)


def _from_arrays(item_id: str, given: Sequence[ArrayLike]) -> _Slopes:
    if len(given) != 2:
        raise InvalidParameterError(f"items[{item_id!r}]: expected (slopes, covariance)")
    slopes = np.asarray(given[0], dtype=float)
    cov = np.asarray(given[1], dtype=float)
    if slopes.ndim != 1 or slopes.size < 2 or cov.shape != (slopes.size, slopes.size) \
            or not np.all(np.isfinite(cov)) or not np.allclose(cov, cov.T):
        raise InvalidParameterError(f"items[{item_id!r}]: expected K ≥ 2 slopes and their "
                                    f"symmetric K × K covariance; got shapes {slopes.shape} and "
                                    f"{cov.shape}")
    return _Slopes(np.arange(slopes.size, dtype=np.int64), slopes, cov)


def expert_order(items: CalibrationResult | Mapping[str, Sequence[ArrayLike]],
                 orientation: Mapping[str, tuple[int, int | None] | Sequence[int | None]], *,
                 alpha: float = 0.05, group: Any = None) -> ExpertOrder:
    """Flag situational items whose estimated option slopes contradict the experts' orientation.

    See the module's notes for the test: per item, a one-sided z test of the most indicative
    option's slope against every other option's (and of the least indicative option's, when
    named), Holm-adjusted over all comparisons of all items.

    Parameters
    ----------
    items : CalibrationResult or mapping
        A fit with standard errors (its nominal items' slopes ``a1·ak`` and their covariance by
        the delta method; ``group``: that group's estimates, default the reference group's), or
        item id → ``(slopes, covariance)`` of the options in codes 0 … K−1.
    orientation : mapping
        Item id → ``(most_indicative, least_indicative)``, options as the codes that were
        calibrated (a fit's ``categories``); ``least_indicative`` may be None.
    alpha : float
        Familywise level of the review flags.

    Returns
    -------
    ExpertOrder

    Examples
    --------
    The experts' most indicative option 2 is flatter than option 1 by 0.4, with a standard error
    of √(0.005 + 0.005) = 0.1 (independent slopes): z = −4; their least indicative option 0 (slope
    fixed at 0) is below the next one, option 2, by 0.8 with a standard error of √0.005: z = 11.31.

    >>> check = expert_order({"S1": ([0.0, 1.2, 0.8], np.diag([0.0, 0.005, 0.005]))}, {"S1": (2, 0)})
    >>> check.z.round(2).tolist(), check.review
    ([-4.0, 11.31], ('S1',))
    """
    if not 0 < alpha < 1:
        raise InvalidParameterError(f"alpha: expected a level in (0, 1); got {alpha}")
    if not orientation:
        raise InvalidParameterError("orientation: expected at least one item")
    fit = items if isinstance(items, CalibrationResult) else None
    rows: list[tuple[str, str, int, int, str, Array, Array]] = []
    slopes: dict[str, tuple[NDArray[np.int64], Array, Array]] = {}
    for item_id, given in orientation.items():
        if fit is not None:
            s = _from_fit(fit, item_id, group)
        elif isinstance(items, Mapping) and item_id in items:
            s = _from_arrays(item_id, items[item_id])
        else:
            raise InvalidParameterError(f"orientation: item {item_id!r} has no slopes in items")
        se = np.sqrt(np.clip(np.diag(s.cov), 0, None))
        slopes[item_id] = (s.codes, s.slopes, se)
        order = " > ".join(str(int(s.codes[j])) for j in np.argsort(-s.slopes, kind="stable"))
        most, least = (tuple(given) + (None,))[:2]
        for check, code in (("most", most), ("least", least)):
            if code is None:
                continue
            if int(code) not in s.codes:
                raise InvalidParameterError(
                    f"orientation[{item_id!r}]: option {code} is not among the codes calibrated "
                    f"({', '.join(map(str, s.codes.tolist()))})")
            e = int(np.flatnonzero(s.codes == int(code))[0])
            others = np.array([j for j in range(s.slopes.size) if j != e])
            sign = 1.0 if check == "most" else -1.0  # the expert's side of each difference
            diff = sign * (s.slopes[e] - s.slopes[others])
            var = s.cov[e, e] + s.cov[others, others] - 2 * s.cov[e, others]
            if np.any(var <= 0):
                raise InvalidParameterError(f"orientation[{item_id!r}]: a difference of option "
                                            f"slopes has no positive variance (fixed parameters)")
            rival = int(s.codes[others[np.argmin(diff / np.sqrt(var))]])
            rows.append((item_id, check, int(code), rival, order, diff, np.sqrt(var)))
    z_all = [d / sd for *_, d, sd in rows]
    p_all = norm.cdf(np.concatenate(z_all))
    adjusted = holm(p_all)
    bounds = np.cumsum([0, *(len(z) for z in z_all)])
    pick = [int(bounds[r] + np.argmin(z)) for r, z in enumerate(z_all)]
    diffs, sds = np.concatenate([d for *_, d, _ in rows]), np.concatenate([sd for *_, sd in rows])
    return ExpertOrder(
        item_ids=tuple(r[0] for r in rows), check=tuple(r[1] for r in rows),
        expert=np.array([r[2] for r in rows], dtype=np.int64),
        rival=np.array([r[3] for r in rows], dtype=np.int64), order=tuple(r[4] for r in rows),
        difference=diffs[pick], se=sds[pick], z=diffs[pick] / sds[pick], p_value=p_all[pick],
        p_holm=adjusted[pick], alpha=float(alpha), n_tests=int(p_all.size), slopes=slopes)
