"""Estimation of item parameters from response data (MML-EM), fit, DIF, linking and norms."""

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

__all__ = [
    "MML",
    "SUPPORTED",
    "ItemFit",
    "ItemStatistics",
    "LikelihoodRatioDIF",
    "LinkingResult",
    "LocalDependence",
    "M2Fit",
    "MantelHaenszel",
    "PersonFit",
    "Progress",
    "item_fit",
    "item_statistics",
    "likelihood_ratio_dif",
    "link",
    "local_dependence",
    "m2",
    "mantel_haenszel",
    "person_fit",
    "rescale",
]
