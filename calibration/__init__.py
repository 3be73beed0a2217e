"""Estimation of item parameters from response data (MML-EM), fit, DIF, linking and norms."""

from calibration.mml import MML, Progress

__all__ = ["MML", "Progress"]
