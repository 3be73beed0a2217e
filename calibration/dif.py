"""Differential item functioning between two groups.

*Mantel–Haenszel* (Mantel & Haenszel 1959; Holland & Thayer 1988), for dichotomous items.
Persons are matched on their summed score (the total including the studied item, as Holland &
Thayer recommend, or the rest score without it); in stratum :math:`s` the reference group has
:math:`A_s` right and :math:`B_s` wrong answers, the focal group :math:`C_s` and :math:`D_s`,
:math:`N_s` persons in all. Then

.. math::

    \\hat\\alpha_{MH} = \\frac{\\sum_s A_sD_s/N_s}{\\sum_s B_sC_s/N_s}, \\qquad
    \\Delta_{MH} = -2.35\\,\\ln\\hat\\alpha_{MH},

    \\chi^2_{MH} = \\frac{\\big(\\big|\\sum_s A_s - \\sum_s E(A_s)\\big| - \\tfrac12\\big)^2}
                       {\\sum_s \\operatorname{Var}(A_s)}, \\quad
    E(A_s) = \\frac{n_{Rs} m_{1s}}{N_s}, \\quad
    \\operatorname{Var}(A_s) = \\frac{n_{Rs} n_{Fs} m_{1s} m_{0s}}{N_s^2 (N_s - 1)},

on 1 degree of freedom (with the continuity correction, floored at 0). :math:`\\hat\\alpha > 1`
(:math:`\\Delta < 0`) means the item is harder for the focal group than for reference-group
persons of the same score. The standard error of :math:`\\ln\\hat\\alpha_{MH}` is that of
Robins, Breslow & Greenland (1986). ETS classes (Zieky 1993; Zwick 2012):

* **A** (negligible) — :math:`|\\Delta| < 1` or :math:`\\chi^2_{MH}` not significant at 5%;
* **C** (large) — :math:`|\\Delta| \\ge 1.5` and :math:`|\\Delta|` significantly above 1,
  :math:`(|\\Delta| - 1)/SE(\\Delta) > 1.645` (one-sided 5%);
* **B** (moderate) — otherwise.

Strata where one group is absent contribute nothing. The summed score needs every item
answered: missing responses are refused.

*Likelihood-ratio DIF* (Thissen, Steinberg & Wainer 1993), which compares multi-group
calibrations with the studied item's parameters equal or free across groups and covers
polytomous items, is :func:`qabilet.calibration.dif_lr.likelihood_ratio_dif`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import chi2

from qabilet.calibration._diagnostics import (
    Report,
    dichotomous,
    fmt,
    read_inputs,
    require_complete,
    text_table,
)
from qabilet.engine.exceptions import InvalidParameterError

__all__ = ["MantelHaenszel", "mantel_haenszel"]

Array = NDArray[np.float64]

_ETS_SCALE = 2.35  # Δ = −2.35 ln α (Holland & Thayer 1988)


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class MantelHaenszel(Report):
    """Mantel–Haenszel DIF of every dichotomous item (see :func:`mantel_haenszel`).

    Attributes
    ----------
    item_ids : tuple of str
    chi2 : ndarray, shape (n_items,)
        MH χ² with continuity correction (NaN for items that are not dichotomous).
    p_value : ndarray, shape (n_items,)
    odds_ratio : ndarray, shape (n_items,)
        :math:`\\hat\\alpha_{MH}`, reference over focal.
    delta : ndarray, shape (n_items,)
        ETS delta :math:`-2.35\\ln\\hat\\alpha_{MH}`; negative favours the reference group.
    delta_se : ndarray, shape (n_items,)
    ets_class : ndarray of str, shape (n_items,)
        ``"A"``, ``"B"``, ``"C"``, or ``""`` where not computed.
    reference, focal : object
        The group labels.
    n_reference, n_focal : int
    matching : str
        ``"total"`` or ``"rest"``.
    """

    item_ids: tuple[str, ...]
    chi2: Array
    p_value: Array
    odds_ratio: Array
    delta: Array
    delta_se: Array
    ets_class: NDArray[np.str_]
    reference: Any
    focal: Any
    n_reference: int
    n_focal: int
    matching: str

    def summary(self) -> str:
        """The statistics as a text table."""
        head = (
            f"Mantel–Haenszel DIF: reference {self.reference!r} ({self.n_reference} persons), "
            f"focal {self.focal!r} ({self.n_focal}); matched on the {self.matching} score. "
            "Δ < 0: harder for the focal group\n"
        )
        cols = [
            ("item", list(self.item_ids)),
            ("MH chi2", [fmt(v) for v in self.chi2]),
            ("p", [fmt(v, 4) for v in self.p_value]),
            ("alpha_MH", [fmt(v) for v in self.odds_ratio]),
            ("delta", [fmt(v) for v in self.delta]),
            ("SE", [fmt(v) for v in self.delta_se]),
            ("ETS", [c or "-" for c in self.ets_class]),
        ]
        return head + text_table(cols)

    def to_frame(self) -> Any:
        """One row per item (pandas is imported here only)."""
        import pandas as pd

        return pd.DataFrame(
            {"chi2": self.chi2, "p": self.p_value, "alpha_mh": self.odds_ratio,
             "delta": self.delta, "delta_se": self.delta_se, "ets_class": self.ets_class},
            index=pd.Index(self.item_ids, name="item"),
        )

    def __repr__(self) -> str:
        counts = {c: int((self.ets_class == c).sum()) for c in ("A", "B", "C")}
        return f"MantelHaenszel(n_items={len(self.item_ids)}, ets={counts})"


def mh_from_tables(tables: Array) -> tuple[Array, Array, Array, Array]:
    """MH χ², its p-value, :math:`\\hat\\alpha_{MH}` and SE of its log from 2×2×S tables.

    Parameters
    ----------
    tables : ndarray, shape (..., n_strata, 2, 2)
        ``[..., s, g, y]``: counts of group ``g`` (0 reference, 1 focal) answering ``y``
        (0 wrong, 1 right) in stratum ``s``.

    Returns
    -------
    chi2, p_value, odds_ratio, se_log_odds_ratio : ndarray, shape (...)
    """
    t = np.asarray(tables, dtype=np.float64)
    a, b = t[..., 0, 1], t[..., 0, 0]  # reference right, wrong
    c, d = t[..., 1, 1], t[..., 1, 0]  # focal right, wrong
    n = a + b + c + d
    with np.errstate(invalid="ignore", divide="ignore"):
        inv_n = np.where(n > 0, 1.0 / n, 0.0)
        r = a * d * inv_n
        s = b * c * inv_n
        sum_r, sum_s = r.sum(axis=-1), s.sum(axis=-1)
        alpha = sum_r / sum_s
        expected = (a + b) * (a + c) * inv_n
        var = np.where(n > 1, (a + b) * (c + d) * (a + c) * (b + d) * inv_n**2 / (n - 1), 0.0)
        diff = np.abs(a.sum(axis=-1) - expected.sum(axis=-1))
        stat = np.maximum(diff - 0.5, 0.0) ** 2 / var.sum(axis=-1)
        # Robins, Breslow & Greenland (1986)
        p_ = (a + d) * inv_n
        q_ = (b + c) * inv_n
        var_log = (
            (p_ * r).sum(axis=-1) / (2.0 * sum_r**2)
            + (p_ * s + q_ * r).sum(axis=-1) / (2.0 * sum_r * sum_s)
            + (q_ * s).sum(axis=-1) / (2.0 * sum_s**2)
        )
    return stat, chi2.sf(stat, 1), alpha, np.sqrt(var_log)


def ets_classes(delta: Array, delta_se: Array, p_value: Array, alpha: float = 0.05) -> NDArray[np.str_]:
    """ETS A/B/C classes of dichotomous items from Δ, its SE and a p-value (the module docstring).

    ``p_value`` is the test of no DIF (MH χ² here, the likelihood ratio in
    :func:`qabilet.calibration.dif_lr.likelihood_ratio_dif`, adjusted there for the items tested)
    at level ``alpha`` (ETS: 0.05).
    """
    size = np.abs(delta)
    with np.errstate(invalid="ignore"):
        c = (size >= 1.5) & ((size - 1.0) / delta_se > 1.645)
        a = (size < 1.0) | (p_value >= alpha)
    out = np.where(a, "A", np.where(c, "C", "B"))
    return np.where(np.isfinite(delta) & np.isfinite(p_value), out, "")


def ets_polytomous_classes(smd_sd: Array, p_value: Array, alpha: float = 0.05) -> NDArray[np.str_]:
    """ETS AA/BB/CC classes of polytomous items, written A/B/C, from SMD/SD and a p-value.

    The rules ETS uses for polytomous items (Zwick, Thayer & Mazzeo 1997; Allen, Carlson &
    Zelenak 1999 for NAEP; reviewed by Zwick 2012, ETS RR-12-08), with SMD the standardized
    mean difference (Dorans & Schmitt 1991; focal minus reference, the focal group's
    distribution as the standard) and SD the item score's standard deviation in the total
    group:

    * **A** (AA, negligible) — the test of no DIF not significant at ``alpha``, or
      :math:`|SMD/SD| \\le 0.17`;
    * **C** (CC, large) — significant and :math:`|SMD/SD| > 0.25`;
    * **B** (BB, moderate) — otherwise.

    ETS's test is Mantel's (1963) χ²; :func:`qabilet.calibration.dif_lr.likelihood_ratio_dif`
    passes its likelihood-ratio p-value.

    Examples
    --------
    >>> ets_polytomous_classes(np.array([0.1, 0.2, 0.3, 0.3]), np.array([0.01, 0.01, 0.01, 0.2])
    ...                        ).tolist()
    ['A', 'B', 'C', 'A']
    """
    size = np.abs(smd_sd)
    with np.errstate(invalid="ignore"):
        a = (size <= 0.17) | (p_value >= alpha)
        c = size > 0.25
    out = np.where(a, "A", np.where(c, "C", "B"))
    return np.where(np.isfinite(smd_sd) & np.isfinite(p_value), out, "")


def mantel_haenszel(
    items: Any,
    responses: Any,
    observed: ArrayLike | None = None,
    *,
    groups: ArrayLike,
    focal: Any = None,
    matching: str = "total",
) -> MantelHaenszel:
    """Mantel–Haenszel DIF for every dichotomous item between two groups.

    Parameters
    ----------
    items : ItemBank, item model or CalibrationResult
        Gives the items and their categories; only dichotomous items are tested (the others
        still count in the matching score and get NaN).
    responses : array_like or DataFrame, shape (n_persons, n_items)
        Complete responses.
    observed : array_like of bool, optional
        Must be all True when given.
    groups : array_like, shape (n_persons,)
        Group label of each person; exactly two distinct labels.
    focal : optional
        The focal group's label; the other is the reference. Default: the second label in
        sorted order.
    matching : {"total", "rest"}
        Strata by the total score including the studied item (Holland & Thayer 1988) or by
        the rest score.

    Returns
    -------
    MantelHaenszel

    Examples
    --------
    >>> from qabilet.engine.models import Rasch
    >>> from qabilet.engine.simulation import simulate_responses
    >>> rng = np.random.default_rng(3)
    >>> b = np.linspace(-1.5, 1.5, 12)
    >>> ref = simulate_responses(Rasch(b), rng.normal(size=3000), rng)
    >>> shifted = b.copy(); shifted[0] += 1.0  # item 1 one logit harder for the focal group
    >>> foc = simulate_responses(Rasch(shifted), rng.normal(size=3000), rng)
    >>> dif = mantel_haenszel(Rasch(b), np.vstack([ref, foc]), groups=[0] * 3000 + [1] * 3000)
    >>> str(dif.ets_class[0]), bool(dif.delta[0] < -1.5)  # Δ ≈ −2.35 under the Rasch model
    ('C', True)
    """
    data = read_inputs(items, responses, observed, "mantel_haenszel", unidimensional=False)
    require_complete(data.resp, "mantel_haenszel", "persons are matched on their summed score")
    bank, x = data.bank, data.resp.x
    n = x.shape[0]
    g = np.asarray(groups)
    if g.shape != (n,):
        raise InvalidParameterError(f"groups: expected one label per person ({n}); got {g.shape}")
    labels = sorted(set(g.tolist()), key=str)
    if len(labels) != 2:
        raise InvalidParameterError(
            f"groups: expected exactly two groups; got {len(labels)} ({labels[:5]})"
        )
    if focal is None:
        focal = labels[1]
    elif focal not in labels:
        raise InvalidParameterError(f"focal: {focal!r} is not among the groups {labels}")
    reference = labels[0] if focal == labels[1] else labels[1]
    if matching not in ("total", "rest"):
        raise InvalidParameterError(f"matching: expected 'total' or 'rest'; got {matching!r}")
    is_focal = (g == focal).astype(np.intp)
    n_items = bank.n_items
    n_strata = int((bank.n_categories - 1).sum()) + 1
    total = x.sum(axis=1)
    strata = total[:, None] - (x if matching == "rest" else 0)  # (n, I)
    dich = dichotomous(bank)
    y = np.where(dich[None, :], x, 0)
    flat = ((np.arange(n_items)[None, :] * n_strata + strata) * 2 + is_focal[:, None]) * 2 + y
    tables = np.bincount(flat.ravel(), minlength=n_items * n_strata * 4).astype(np.float64)
    tables = tables.reshape(n_items, n_strata, 2, 2)
    stat, p, alpha, se_log = mh_from_tables(tables)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = -_ETS_SCALE * np.log(alpha)
    delta_se = _ETS_SCALE * se_log
    nan = np.where(dich, 1.0, np.nan)
    stat, p, alpha, delta, delta_se = (v * nan for v in (stat, p, alpha, delta, delta_se))
    return MantelHaenszel(
        item_ids=bank.item_ids,
        chi2=stat,
        p_value=p,
        odds_ratio=alpha,
        delta=delta,
        delta_se=delta_se,
        ets_class=ets_classes(delta, delta_se, p),
        reference=reference,
        focal=focal,
        n_reference=int((is_focal == 0).sum()),
        n_focal=int(is_focal.sum()),
        matching=matching,
    )
