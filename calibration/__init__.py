"""Estimation of item parameters from response data (MML-EM), fit, DIF, linking and norms.

The public names below are loaded on first use (PEP 562), so that ``from calibration import
MML`` does not pay for the diagnostics' imports (``scipy.stats`` alone takes about 0.6 s).
"""

from __future__ import annotations

import sys
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING, Any

#: public name -> the module that defines it
_EXPORTS = {
    "MML": "mml",
    "Progress": "mml",
    "CalibrationResult": "result",
    "GroupEstimates": "result",
    "ItemEstimates": "result",
    "SUPPORTED": "_design",
    "ItemStatistics": "classical",
    "item_statistics": "classical",
    "MantelHaenszel": "dif",
    "mantel_haenszel": "dif",
    "LikelihoodRatioDIF": "dif_lr",
    "likelihood_ratio_dif": "dif_lr",
    "ItemDIF": "dif_lr",
    "score_dif": "dif_score",
    "RMSDFit": "rmsd",
    "rmsd": "rmsd",
    "ItemFit": "item_fit",
    "item_fit": "item_fit",
    "M2Fit": "limited_information",
    "m2": "limited_information",
    "FactorCorrelations": "factor_correlation",
    "factor_correlations": "factor_correlation",
    "LevelNorm": "norms",
    "level_norms": "norms",
    "LinkingResult": "linking",
    "link": "linking",
    "curve_rmsd": "linking",
    "rescale": "linking",
    "LocalDependence": "local_dependence",
    "local_dependence": "local_dependence",
    "PersonFit": "person_fit",
    "person_fit": "person_fit",
    "ExpertOrder": "expert_order",
    "expert_order": "expert_order",
    "adjust_p_values": "_multiplicity",
    "holm": "_multiplicity",
    "marginal_reliability": "reliability",
    "empirical_reliability": "reliability",
    "ForcedChoiceFit": "forced_choice_fit",
    "fit_forced_choice": "forced_choice_li",
    "pairwise_outcomes": "forced_choice_li",
    "fit_forced_choice_mhrm": "forced_choice_mhrm",
}

__all__ = [
    "MML",
    "CalibrationResult",
    "ExpertOrder",
    "ForcedChoiceFit",
    "fit_forced_choice",
    "fit_forced_choice_mhrm",
    "pairwise_outcomes",
    "GroupEstimates",
    "ItemEstimates",
    "FactorCorrelations",
    "SUPPORTED",
    "ItemDIF",
    "ItemFit",
    "ItemStatistics",
    "LikelihoodRatioDIF",
    "LevelNorm",
    "LinkingResult",
    "LocalDependence",
    "M2Fit",
    "MantelHaenszel",
    "PersonFit",
    "Progress",
    "RMSDFit",
    "adjust_p_values",
    "expert_order",
    "factor_correlations",
    "holm",
    "marginal_reliability",
    "empirical_reliability",
    "item_fit",
    "item_statistics",
    "likelihood_ratio_dif",
    "level_norms",
    "link",
    "curve_rmsd",
    "local_dependence",
    "m2",
    "mantel_haenszel",
    "person_fit",
    "rescale",
    "rmsd",
    "score_dif",
]


class _Package(ModuleType):
    """The package's module type: its names stay its exports when their modules load.

    Loading a submodule binds it on its package under its own name (the import system's
    ``setattr``): ``item_fit``, ``person_fit``, ``local_dependence`` and ``rmsd`` would then be
    modules, not the functions of the same name that the package exports.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, ModuleType) and _EXPORTS.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from qabilet.calibration._design import SUPPORTED
    from qabilet.calibration.classical import ItemStatistics, item_statistics
    from qabilet.calibration.dif import MantelHaenszel, mantel_haenszel
    from qabilet.calibration.dif_lr import ItemDIF, LikelihoodRatioDIF, likelihood_ratio_dif
    from qabilet.calibration.dif_score import score_dif
    from qabilet.calibration.expert_order import ExpertOrder, expert_order
    from qabilet.calibration.forced_choice_fit import ForcedChoiceFit
    from qabilet.calibration.forced_choice_li import fit_forced_choice, pairwise_outcomes
    from qabilet.calibration.forced_choice_mhrm import fit_forced_choice_mhrm
    from qabilet.calibration.item_fit import ItemFit, item_fit
    from qabilet.calibration.limited_information import M2Fit, m2
    from qabilet.calibration.linking import LinkingResult, curve_rmsd, link, rescale
    from qabilet.calibration.local_dependence import LocalDependence, local_dependence
    from qabilet.calibration.mml import MML, Progress
    from qabilet.calibration.person_fit import PersonFit, person_fit
    from qabilet.calibration.reliability import empirical_reliability, marginal_reliability
    from qabilet.calibration.result import CalibrationResult, GroupEstimates, ItemEstimates
    from qabilet.calibration.rmsd import RMSDFit, rmsd
