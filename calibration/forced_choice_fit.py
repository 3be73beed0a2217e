"""A forced-choice calibration's result: statement parameters, trait correlations, their errors.

Both estimators (:mod:`qabilet.calibration.forced_choice_li`, limited information, and
:mod:`qabilet.calibration.forced_choice_mhrm`, full information) return a
:class:`ForcedChoiceFit`; :meth:`ForcedChoiceFit.to_dict` writes the parameter file
``qabilet calibrate-fc`` produces (docs/file-formats.md).

*The scale* (Brown & Maydeu-Olivares 2011, 2012). Rankings depend only on differences of
utilities within a block, so each block's utilities have an arbitrary origin and unit: per
block, the first statement in design order has :math:`\\mu = 0` and :math:`\\psi^2 = 1` (for a
pair, whose two error variances enter only as their sum, both are fixed at 0.5); the traits
have unit variances. Loadings over error SDs, :math:`\\lambda_s/\\psi_s`, and the trait
correlations do not depend on that choice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qabilet.engine.forced_choice import BlockDesign, ThurstonianBlocks

__all__ = ["ForcedChoiceFit", "scale_anchors"]

Array = NDArray[np.float64]


def scale_anchors(design: BlockDesign) -> tuple[NDArray[np.bool_], Array]:
    """Which statements' :math:`\\mu` and :math:`\\psi^2` are fixed, and :math:`\\psi^2`'s values.

    Returns
    -------
    fixed : ndarray of bool, shape (n_statements,)
        The first statement of each block (its μ = 0, and its ψ² fixed).
    psi2 : ndarray, shape (n_statements,)
        The fixed error variances (1, or 0.5 for both statements of a pair); NaN where free.
    """
    fixed = np.zeros(design.n_statements, dtype=bool)
    psi2 = np.full(design.n_statements, np.nan)
    for members in design.blocks:
        fixed[members[0]] = True
        if members.size == 2:
            psi2[members] = 0.5
        else:
            psi2[members[0]] = 1.0
    return fixed, psi2


@dataclass(frozen=True, eq=False)
class ForcedChoiceFit:
    """Calibrated statements of a forced-choice design.

    Attributes
    ----------
    design : BlockDesign
    mu, lam, psi2 : ndarray, shape (n_statements,)
        Intercepts, loadings and error variances, on the scale of :func:`scale_anchors`.
    phi : ndarray, shape (n_traits, n_traits)
        The traits' correlation matrix (unit variances).
    mu_se, lam_se, psi2_se : ndarray, shape (n_statements,)
        Standard errors; NaN for the fixed values.
    phi_se : ndarray, shape (n_traits, n_traits)
        Standard errors of the correlations; NaN on the diagonal.
    method : str
        ``"dwls"``/``"uls"`` (limited information) or ``"mhrm"`` (full information).
    n_persons : int
    converged : bool
    iterations : int
    seconds : float
    statistics : dict
        The estimator's fit statistics and convergence record: for the limited-information fit
        the minimised function, the test statistic, its degrees of freedom (redundancies of the
        rankings subtracted), p-value, RMSEA; for MH-RM the log-likelihood and its sampler's
        record.
    """

    design: BlockDesign
    mu: Array
    lam: Array
    psi2: Array
    phi: Array
    mu_se: Array
    lam_se: Array
    psi2_se: Array
    phi_se: Array
    method: str
    n_persons: int
    converged: bool
    iterations: int
    seconds: float
    statistics: dict[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> ThurstonianBlocks:
        """The statements as a model to score persons with (:mod:`qabilet.engine.scoring`)."""
        return ThurstonianBlocks(self.design, self.mu, self.lam, self.psi2)

    @property
    def standardized_loadings(self) -> Array:
        """:math:`\\lambda_s / \\psi_s`, which does not depend on how the scale was fixed."""
        out: Array = self.lam / np.sqrt(self.psi2)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The parameter file ``qabilet calibrate-fc`` writes (docs/file-formats.md)."""
        d = self.design
        _, fixed_psi2 = scale_anchors(d)

        def num(v: float) -> float | None:
            return float(v) if np.isfinite(v) else None

        blocks = []
        for b, members in enumerate(d.blocks):
            statements = []
            for s in members:
                statements.append({
                    "id": d.statement_ids[s], "trait": d.traits[d.trait_of[s]],
                    "keyed": int(d.keyed[s]), "mu": float(self.mu[s]), "lambda": float(self.lam[s]),
                    "psi2": float(self.psi2[s]),
                    "se": {"mu": num(self.mu_se[s]), "lambda": num(self.lam_se[s]),
                           "psi2": num(self.psi2_se[s])}})
            blocks.append({"id": d.block_ids[b], "statements": statements})
        k = d.n_traits
        return {
            "format": "qabilet-forced-choice-parameters",
            "version": 1,
            "latent": {"traits": list(d.traits), "correlation": self.phi.tolist(),
                       "correlation_se": [[num(self.phi_se[i, j]) for j in range(k)]
                                          for i in range(k)],
                       "variances": [1.0] * k},
            "blocks": blocks,
            "scale": {"blocks": [{"block": d.block_ids[b],
                                  "mu_zero": d.statement_ids[members[0]],
                                  "psi2_fixed": {d.statement_ids[s]: float(fixed_psi2[s])
                                                 for s in members if np.isfinite(fixed_psi2[s])}}
                                 for b, members in enumerate(d.blocks)],
                      "rule": "per block the first statement in design order has mu = 0 and "
                              "psi2 = 1 (a pair: both psi2 = 0.5); trait variances 1"},
            "estimation": {"method": self.method, "n_persons": self.n_persons,
                           "converged": self.converged, "iterations": self.iterations,
                           "seconds": round(self.seconds, 3),
                           "statistics": _json(self.statistics)},
        }


def _json(value: Any) -> Any:
    """``value`` with numpy scalars and arrays as plain JSON values (NaN and ±inf as null)."""
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_json(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    return value
