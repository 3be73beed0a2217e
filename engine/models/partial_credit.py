"""Partial-credit models: ``gpcm`` (Muraki 1992), ``pcm`` (Masters 1982), ``rsm`` (Andrich 1978).

.. math::

    P(X = k \\mid \\theta) \\propto \\exp\\Big(\\sum_{v=1}^{k} a(\\theta - b_v)\\Big),
    \\qquad k = 0, \\dots, K - 1,

so in mirt's slope-intercept form the scoring is :math:`\\alpha_k = k` and the intercepts are
:math:`\\delta_k = -a\\sum_{v \\le k} b_v` (:math:`\\delta_k - \\delta_{k-1} = -a b_k`). ``pcm`` fixes
a = 1 (the latent variance is then free, as in mirt's ``Rasch`` for polytomous items); ``rsm``
also fixes a = 1 and writes every step as an item location plus a threshold shared by all items,
:math:`b_{ik} = b_i + \\tau_k`.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike

from engine.exceptions import InvalidParameterError
from engine.models._base import (
    Array,
    as_float_array,
    as_slopes,
    require_unidimensional,
)
from engine.models._divide_by_total import DivideByTotal
from engine.models._ragged import as_ragged
from engine.models.registry import register

__all__ = ["GeneralizedPartialCredit", "PartialCredit", "RatingScale"]


def _steps_to_intercepts(slopes: Array, steps: Array) -> Array:
    """:math:`\\delta_0 = 0,\\ \\delta_k = -a \\sum_{v \\le k} b_v` (NaN padding kept)."""
    cum = np.cumsum(steps, axis=1)
    return np.concatenate([np.zeros((steps.shape[0], 1)), -slopes[:, :1] * cum], axis=1)


@register
class GeneralizedPartialCredit(DivideByTotal):
    """Generalized partial credit items (``gpcm``, Muraki 1992).

    Parameters
    ----------
    a : array_like, shape (n_items,)
        Slopes.
    b : sequence of sequences, or array_like of shape (n_items, K_max - 1)
        Step locations :math:`b_1, \\dots, b_{K-1}` per item (need not be ordered).

    Examples
    --------
    >>> m = GeneralizedPartialCredit(a=[1.0], b=[[0.0]])  # two categories: the 2PL
    >>> float(m.prob(1.0)[0, 1].round(6))
    0.731059
    """

    name: ClassVar[str] = "gpcm"
    free_parameters: ClassVar[tuple[str, ...]] = ("a", "d")

    def __init__(self, a: ArrayLike, b: ArrayLike) -> None:
        slopes = as_slopes(a)
        self._require_1d(slopes)
        steps, n_steps = as_ragged(b, "b", slopes.shape[0])
        self._check_slopes(slopes)
        self._set_kernel(
            slopes, self._scoring(n_steps), _steps_to_intercepts(slopes, steps), n_steps + 1
        )

    def _require_1d(self, slopes: Array) -> None:
        probe = DivideByTotal.__new__(GeneralizedPartialCredit)
        probe.slopes = slopes
        require_unidimensional(probe, f"{self.name}(a, b)")

    @staticmethod
    def _scoring(n_steps: Array) -> Array:
        width = int(n_steps.max()) + 1 if n_steps.size else 1
        return np.tile(np.arange(width, dtype=np.float64), (n_steps.size, 1))

    def _check_slopes(self, slopes: Array) -> None:
        """Subclasses refuse slopes their model fixes."""

    @classmethod
    def from_slope_intercept(cls, a: ArrayLike, d: ArrayLike) -> GeneralizedPartialCredit:
        """Build from mirt's form: slopes (one per factor) and intercepts ``d_0 = 0, d_1, …``.

        .. math:: P(X = k) \\propto \\exp(k\\,\\mathbf a^\\top\\theta + d_k)
        """
        self = cls.__new__(cls)
        slopes = as_slopes(a)
        d_arr, n_cat = as_ragged(d, "d", slopes.shape[0], min_len=2)
        if np.any(d_arr[:, 0] != 0.0):
            bad = int(np.flatnonzero(d_arr[:, 0] != 0.0)[0])
            raise InvalidParameterError(f"items[{bad}]: d_0 must be 0; got {d_arr[bad, 0]}")
        self._check_slopes(slopes)
        self._set_kernel(slopes, self._scoring(n_cat - 1), d_arr, n_cat)
        return self

    @property
    def a(self) -> Array:
        """Slopes of a unidimensional model, shape (n_items,)."""
        require_unidimensional(self, "a")
        return self.slopes[:, 0].copy()

    @property
    def b(self) -> Array:
        """Step locations :math:`b_k = -(\\delta_k - \\delta_{k-1}) / a`, shape (n_items, K_max - 1)."""
        require_unidimensional(self, "b")
        d = np.where(self._valid, self.dk, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):  # a = 0: b undefined
            return -np.diff(d, axis=1) / self.slopes[:, :1]

    def to_traditional(self) -> dict[str, Array]:
        """``{"a": (n_items,), "b": (n_items, K_max - 1)}`` (NaN padding)."""
        return {"a": self.a, "b": self.b}

    def to_slope_intercept(self) -> dict[str, Array]:
        """``{"a": (n_items, n_dims), "d": (n_items, K_max)}`` with ``d_0 = 0`` (NaN padding)."""
        return {"a": self.slopes.copy(), "d": np.where(self._valid, self.dk, np.nan)}


@register
class PartialCredit(GeneralizedPartialCredit):
    """Partial credit items (``pcm``, Masters 1982): the GPCM with every slope 1.

    Parameters
    ----------
    b : sequence of sequences
        Step locations per item.
    """

    name: ClassVar[str] = "pcm"
    free_parameters: ClassVar[tuple[str, ...]] = ("d",)

    def __init__(self, b: ArrayLike, a: ArrayLike = 1.0) -> None:
        n = len(b)  # type: ignore[arg-type]
        super().__init__(np.broadcast_to(np.asarray(a, dtype=np.float64), (n,)), b)

    def _check_slopes(self, slopes: Array) -> None:
        if not np.all(slopes == 1.0):
            raise InvalidParameterError(
                f"{self.name}: every slope is 1; got {np.unique(slopes).tolist()} (use gpcm)"
            )


@register
class RatingScale(PartialCredit):
    """Rating scale items (``rsm``, Andrich 1978): :math:`b_{ik} = b_i + \\tau_k`, slopes 1.

    Parameters
    ----------
    b : array_like, shape (n_items,)
        Item locations.
    tau : array_like, shape (K - 1,)
        Thresholds shared by every item (all items have K categories).
    """

    name: ClassVar[str] = "rsm"
    free_parameters: ClassVar[tuple[str, ...]] = ("location", "tau")

    def __init__(self, b: ArrayLike, tau: ArrayLike) -> None:
        loc = as_float_array(b, "b")
        tau_arr = as_float_array(tau, "tau")
        if loc.ndim != 1 or tau_arr.ndim != 1 or tau_arr.size < 1:
            raise InvalidParameterError(
                f"rsm: expected b of shape (n_items,) and tau of shape (K - 1,); "
                f"got {loc.shape} and {tau_arr.shape}"
            )
        if not (np.all(np.isfinite(loc)) and np.all(np.isfinite(tau_arr))):
            raise InvalidParameterError("rsm: b and tau must be finite")
        self.location = loc
        self.tau = tau_arr
        super().__init__(loc[:, None] + tau_arr[None, :])

    @classmethod
    def from_slope_intercept(cls, a: ArrayLike, d: ArrayLike) -> RatingScale:  # noqa: D102
        raise InvalidParameterError(
            "rsm: build rating scale items from locations and shared thresholds, RatingScale(b, tau)"
        )

    def to_traditional(self) -> dict[str, Array]:
        """``{"a", "b": steps (n_items, K - 1), "location": (n_items,), "tau": (K - 1,)}``."""
        out = super().to_traditional()
        out["location"], out["tau"] = self.location.copy(), self.tau.copy()
        return out

    def _subset_extra(self, parent: DivideByTotal, idx: np.ndarray) -> None:
        assert isinstance(parent, RatingScale)
        self.location, self.tau = parent.location[idx], parent.tau.copy()
