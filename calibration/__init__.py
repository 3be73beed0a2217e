"""Estimation of item parameters from response data (MML-EM), fit, DIF, linking and norms."""

from calibration._design import SUPPORTED
from calibration.linking import LinkingResult, link, rescale
from calibration.mml import MML, Progress

__all__ = ["MML", "SUPPORTED", "LinkingResult", "Progress", "link", "rescale"]
