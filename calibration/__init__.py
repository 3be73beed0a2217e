"""Estimation of item parameters from response data (MML-EM), fit, DIF, linking and norms."""

__all__: list[str] = []
