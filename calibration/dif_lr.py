"""Differential item functioning by likelihood ratio between two or more groups.

For each studied item, a multi-group calibration in which that item's parameters are free in
every group is compared with the constrained calibration in which all items are equal across
groups (the groups' latent means and variances free in both):

.. math:: G^2_i = 2\\,(\\ell_{\\text{free } i} - \\ell_{\\text{equal}}) \\sim \\chi^2_{(G-1)k_i}

under no DIF, with :math:`k_i` the item's number of parameters (Thissen, Steinberg & Wainer
1993; mirt's ``DIF(..., scheme = "drop")`` tests the same hypothesis from the other side). The
other items anchor the scale, so a few DIF items among many are found; a purification step is
left to the user (re-run with ``items`` restricted to the anchors found clean). Effect sizes:
the signed and unsigned differences between the groups' expected item scores, weighted by the
focal group's latent distribution (per category point, so 0–1).
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
from qabilet.calibration.mml import MML
from qabilet.calibration.result import CalibrationResult
from qabilet.engine.exceptions import ConvergenceWarning, InvalidParameterError
from qabilet.engine.quadrature import equispaced_grid

__all__ = ["LikelihoodRatioDIF", "likelihood_ratio_dif"]


@dataclass(frozen=True, slots=True, eq=False)
class LikelihoodRatioDIF:
    """Likelihood-ratio DIF tests, one row per studied item.

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
    """

    items: tuple[str, ...]
    statistic: NDArray[np.float64]
    df: NDArray[np.int64]
    p_value: NDArray[np.float64]
    signed_difference: NDArray[np.float64]
    unsigned_difference: NDArray[np.float64]
    reference: Any
    focal: Any
    loglik_equal: float

    def flagged(self, alpha: float = 0.05, adjust: str = "bonferroni") -> tuple[str, ...]:
        """Items with DIF at level ``alpha`` (Bonferroni-adjusted over the items by default)."""
        level = alpha / len(self.items) if adjust == "bonferroni" else alpha
        return tuple(i for i, p in zip(self.items, self.p_value) if p < level)

    def summary(self) -> str:
        """The table as text."""
        lines = [f"Likelihood-ratio DIF, reference {self.reference!r}, focal {self.focal!r}",
                 f"{'item':<14}{'G2':>10}{'df':>4}{'p':>10}{'signed':>9}{'unsigned':>10}"]
        for row in zip(self.items, self.statistic, self.df, self.p_value, self.signed_difference,
                       self.unsigned_difference):
            lines.append(f"{row[0]:<14}{row[1]:>10.3f}{row[2]:>4d}{row[3]:>10.4f}"
                         f"{row[4]:>9.3f}{row[5]:>10.3f}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(self.summary())}</pre>"

    def to_frame(self) -> Any:
        """The table as a pandas DataFrame (pandas imported here only)."""
        import pandas as pd

        return pd.DataFrame({"item": self.items, "G2": self.statistic, "df": self.df,
                             "p": self.p_value, "signed": self.signed_difference,
                             "unsigned": self.unsigned_difference})


def likelihood_ratio_dif(
    responses: ArrayLike,
    groups: ArrayLike,
    observed: ArrayLike | None = None,
    *,
    model: str | Sequence[str] | Mapping[str, str] = "2pl",
    item_ids: Sequence[str] | None = None,
    items: Sequence[str] | None = None,
    reference_group: Any = None,
    **options: Any,
) -> LikelihoodRatioDIF:
    """Test each item for DIF across groups by likelihood ratio.

    Parameters
    ----------
    responses, observed : array_like, shape (n_persons, n_items)
        As for :meth:`qabilet.calibration.MML.fit`.
    groups : array_like, shape (n_persons,)
        Group labels (two or more groups).
    model, item_ids, reference_group
        As for :class:`qabilet.calibration.MML`.
    items : sequence of str, optional
        The items to test (all by default); the others anchor the scale in every fit.
    **options
        Passed to :class:`qabilet.calibration.MML` (``tol``, ``n_points``, ``priors`` …).

    Returns
    -------
    LikelihoodRatioDIF
    """
    x = np.asarray(responses)
    ids = list(item_ids) if item_ids is not None else [f"Q{i + 1}" for i in range(x.shape[1])]
    studied = list(ids if items is None else [str(i) for i in items])
    unknown = sorted(set(studied) - set(ids))
    if unknown:
        raise InvalidParameterError(f"items: unknown item id(s) {unknown}")
    labels = np.asarray(groups)
    if len(set(labels.tolist())) < 2:
        raise InvalidParameterError("groups: DIF needs at least two groups")
    options = {**options, "compute_se": False}

    def fit(free: list[str]) -> CalibrationResult:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return MML(model=model, group_specific=free, reference_group=reference_group,
                       **options).fit(x, observed, item_ids=ids, groups=labels)

    equal = fit([])
    ref_label, focal_label = equal.group_labels[:2]
    grid = equispaced_grid(equal.group(focal_label).latent, 41, (-4.0, 4.0))
    stats, dfs, signed, unsigned = [], [], [], []
    n_groups = len(equal.groups)
    for item in studied:  # one constrained-versus-free comparison per item
        free = fit([item])
        stats.append(max(2.0 * (free.loglik - equal.loglik), 0.0))
        ref_bank = free.group(ref_label).bank
        item_model = ref_bank.subset(ref_bank.index_of([item])).models[0]
        dfs.append((n_groups - 1) * int(free_mask(item_model).sum()))
        foc_bank = free.group(focal_label).bank
        e_ref = ref_bank.subset(ref_bank.index_of([item])).expected_score(grid.nodes[:, 0])[:, 0]
        e_foc = foc_bank.subset(foc_bank.index_of([item])).expected_score(grid.nodes[:, 0])[:, 0]
        points = float(ref_bank.n_categories[ref_bank.index_of([item])[0]] - 1)
        diff = (e_foc - e_ref) / points
        signed.append(float(grid.weights @ diff))
        unsigned.append(float(np.sqrt(grid.weights @ diff**2)))
    stat = np.array(stats)
    df = np.array(dfs, dtype=np.int64)
    return LikelihoodRatioDIF(tuple(studied), stat, df, chi2.sf(stat, df), np.array(signed),
                              np.array(unsigned), ref_label, focal_label, equal.loglik)
