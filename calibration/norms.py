"""Norms per position level from a multi-group calibration (one group per level).

A multi-group MML fit (:class:`qabilet.calibration.MML` with ``groups``) estimates each group's latent
mean and variance on the reference group's scale — the level group's θ distribution
:math:`N(\\mu_g, \\sigma_g^2)`, free of each candidate's measurement error. Norms are that
distribution; band edges set by the **percentile method** are its quantiles,
:math:`c = \\mu_g + \\sigma_g\\,\\Phi^{-1}(p/100)`. Expert-set cut scores are entered in the bank
instead (:class:`qabilet.itembank.versions.CutMethod`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtri

from qabilet.calibration.result import CalibrationResult
from qabilet.engine.exceptions import InvalidParameterError

__all__ = ["LevelNorm", "level_norms"]


@dataclass(frozen=True, slots=True)
class LevelNorm:
    """One level group's latent distribution on one scale and its percentile band edges.

    Attributes
    ----------
    mean, sd : float
        :math:`\\mu_g`, :math:`\\sigma_g`.
    cuts : tuple of float
        The quantiles at ``percentiles``.
    percentiles : tuple of float
    n : int
        Persons of the group in the calibration sample.
    """

    mean: float
    sd: float
    cuts: tuple[float, ...]
    percentiles: tuple[float, ...]
    n: int


def level_norms(fit: CalibrationResult, groups: ArrayLike, *,
                percentiles: tuple[float, ...] = (25.0, 75.0)) -> dict[str, LevelNorm]:
    """The norms of every group of a fitted unidimensional multi-group calibration.

    Parameters
    ----------
    fit : CalibrationResult
        Of an MML fit with ``groups`` (one group per position level).
    groups : array_like, shape (n_persons,)
        The group labels the fit was given (for the group sizes).
    percentiles : tuple of float
        Band edges, increasing, in (0, 100).

    Examples
    --------
    >>> from qabilet.calibration import MML
    >>> from qabilet.engine.bank import ItemBank
    >>> from qabilet.engine.simulation import simulate_responses
    >>> rng = np.random.default_rng(0)
    >>> bank = ItemBank.from_records([{"id": f"Q{i}", "model": "2pl", "a": 1.6, "b": b}
    ...                               for i, b in enumerate(np.linspace(-2, 2, 20))])
    >>> labels = np.repeat(["low", "middle"], 2000)
    >>> theta = np.where(labels == "low", rng.normal(-0.5, 0.8, 4000), rng.normal(0, 1, 4000))
    >>> fit = MML(model="2pl", reference_group="middle", compute_se=False).fit(
    ...     simulate_responses(bank, theta, rng), groups=labels)
    >>> low = level_norms(fit, labels)["low"]
    >>> round(low.mean, 1), round(low.sd, 1), low.n
    (-0.5, 0.8, 2000)
    """
    if not isinstance(fit, CalibrationResult):
        raise InvalidParameterError("fit: expected the CalibrationResult of a multi-group MML fit "
                                    f"(MML(...).fit(..., groups=...)); got {type(fit).__name__}")
    latents = {g.label: g.latent for g in fit.groups}
    p = np.asarray(percentiles, dtype=np.float64)
    if p.ndim != 1 or np.any((p <= 0) | (p >= 100)) or np.any(np.diff(p) <= 0):
        raise InvalidParameterError(f"percentiles: expected increasing values in (0, 100); got "
                                    f"{percentiles}")
    labels = np.asarray(groups).astype(str)
    out = {}
    for label, latent in latents.items():
        if latent.n_dims != 1:
            raise InvalidParameterError("fit: level norms are per scale; calibrate each "
                                        "dimension on its own")
        mean, sd = float(latent.mean[0]), float(np.sqrt(latent.cov[0, 0]))
        cuts = tuple(float(c) for c in mean + sd * ndtri(p / 100))
        out[str(label)] = LevelNorm(mean, sd, cuts, tuple(float(x) for x in p),
                                    int(np.sum(labels == str(label))))
    return out
