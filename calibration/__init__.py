"""Estimation of item parameters from response data (MML-EM), fit, DIF, linking and norms.

The public names below are loaded on first use (PEP 562), so that ``from calibration import
MML`` does not pay for the diagnostics' imports (``scipy.stats`` alone takes about 0.6 s).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

#: public name -> the module that defines it
_EXPORTS = {
    "MML": "mml",
    "Progress": "mml",
    "SUPPORTED": "_design",
    "ItemStatistics": "classical",
    "item_statistics": "classical",
    "MantelHaenszel": "dif",
    "mantel_haenszel": "dif",
    "LikelihoodRatioDIF": "dif_lr",
    "likelihood_ratio_dif": "dif_lr",
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
    "rescale": "linking",
    "LocalDependence": "local_dependence",
    "local_dependence": "local_dependence",
    "PersonFit": "person_fit",
    "person_fit": "person_fit",
}

__all__ = [
    "MML",
    "FactorCorrelations",
    "SUPPORTED",
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
    "factor_correlations",
    "item_fit",
    "item_statistics",
    "likelihood_ratio_dif",
    "level_norms",
    "link",
    "local_dependence",
    "m2",
    "mantel_haenszel",
    "person_fit",
    "rescale",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'calibration' has no attribute {name!r}")
    value = getattr(import_module(f"calibration.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from calibration._design import SUPPORTED
    from calibration.classical import ItemStatistics, item_statistics
    from calibration.dif import MantelHaenszel, mantel_haenszel
    from calibration.dif_lr import LikelihoodRatioDIF, likelihood_ratio_dif
    from calibration.item_fit import ItemFit, item_fit
    from calibration.limited_information import M2Fit, m2
    from calibration.linking import LinkingResult, link, rescale
    from calibration.local_dependence import LocalDependence, local_dependence
    from calibration.mml import MML, Progress
    from calibration.person_fit import PersonFit, person_fit
