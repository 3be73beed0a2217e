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

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.models._base import (
    Array,
    SlopedModel,
    as_float_array,
    as_slopes,
    require_unidimensional,
    slope_matrix,
)
from qabilet.engine.models._declaration import (
    FIXED_SLOPES,
    Column,
    Field,
    ModelParameters,
    with_slopes,
)
from qabilet.engine.models._divide_by_total import DivideByTotal
from qabilet.engine.models._ragged import as_ragged
from qabilet.engine.models.registry import register

__all__ = ["GeneralizedPartialCredit", "PartialCredit", "RatingScale"]


def _steps_to_intercepts(slopes: Array, steps: Array) -> Array:
    """:math:`\\delta_0 = 0,\\ \\delta_k = -a \\sum_{v \\le k} b_v` (NaN padding kept)."""
    cum = np.cumsum(steps, axis=1)
    return np.concatenate([np.zeros((steps.shape[0], 1)), -slopes[:, :1] * cum], axis=1)


# mirt's form of the partial credit family: scoring α_k = k (fixed), intercepts with δ_0 = 0
_SCORING = Column("ak", "category slope", estimated="fixed")
_INTERCEPTS = Column("d", "intercept", fixed_categories=("first",), prior="d")
_STEPS = Field("b", "numbers")
_SI_INTERCEPTS = Field("d", "numbers", same_as="d")


@register
class GeneralizedPartialCredit(SlopedModel, DivideByTotal):
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
    PARAMETERS: ClassVar[ModelParameters] = with_slopes(
        "free", columns=(_SCORING, _INTERCEPTS), traditional=(_STEPS,),
        slope_intercept=(_SI_INTERCEPTS,))

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
    def _scoring(n_steps: NDArray[np.int64]) -> Array:
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

    @classmethod
    def from_record_fields(cls, fields: Mapping[str, list[Any]], slope_intercept: bool
                           ) -> GeneralizedPartialCredit:
        """Build from record fields: ``a`` and the steps ``b``, or ``a`` and ``d``."""
        if slope_intercept:
            return cls.from_slope_intercept(slope_matrix(fields["a"]), fields["d"])
        self = cls.__new__(cls)
        GeneralizedPartialCredit.__init__(self, fields["a"], fields["b"])
        return self

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
    PARAMETERS: ClassVar[ModelParameters] = with_slopes(
        "fixed", columns=(_SCORING, _INTERCEPTS), traditional=(_STEPS,),
        slope_intercept=(_SI_INTERCEPTS,))

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

    The thresholds are identified by :math:`\\sum_k \\tau_k = 0` (Andrich): thresholds given
    with another mean are centred, and their mean moved into every location, which leaves every
    probability unchanged (:math:`b_i + \\tau_k = (b_i + c) + (\\tau_k - c)`).

    Parameters
    ----------
    b : array_like, shape (n_items,)
        Item locations.
    tau : array_like, shape (K - 1,)
        Thresholds shared by every item (all items have K categories).

    Examples
    --------
    >>> m = RatingScale([0.0], [0.5, 1.5])
    >>> m.location.tolist(), m.tau.tolist()
    ([1.0], [-0.5, 0.5])
    """

    name: ClassVar[str] = "rsm"
    PARAMETERS: ClassVar[ModelParameters] = ModelParameters(
        columns=(FIXED_SLOPES, Column("b", "location"),
                 Column("tau", "threshold", estimated="tied")),
        traditional=(Field("b", "number", source="location", same_as="b"),
                     Field("tau", "shared")),
        slope_intercept=(),
        variance_free=True)

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
        shift = tau_arr.mean()
        self.location = loc + shift
        self.tau = tau_arr - shift
        super().__init__(self.location[:, None] + self.tau[None, :])

    @classmethod
    def from_record_fields(cls, fields: Mapping[str, list[Any]], slope_intercept: bool
                           ) -> RatingScale:
        """Build from record fields: locations ``b`` and thresholds ``tau`` (equal in every record)."""
        taus = fields["tau"]
        first = np.asarray(taus[0], dtype=np.float64)
        for i, t in enumerate(taus):  # at the edge, once per item
            if np.shape(t) != first.shape or not np.allclose(t, first):
                raise InvalidParameterError(
                    f"items[{i}]: rsm thresholds tau must be shared by all items")
        return cls(fields["b"], first)

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
        if isinstance(parent, RatingScale):
            self.location, self.tau = parent.location[idx], parent.tau.copy()

    # -- parameter vector: [a1, b, tau_1 … tau_{K−2}], tau_{K−1} = −Σ of the others ------------------
    def param_names(self) -> tuple[str, ...]:
        """``a1, b, tau1 … tau(K−2)`` (the last threshold is minus the sum of the others)."""
        return ("a1", "b", *(f"tau{k + 1}" for k in range(self.tau.size - 1)))

    def param_vector(self) -> Array:
        """``[1, b_i, τ_1 … τ_{K−2}]`` per item (the thresholds repeated on every row)."""
        n = self.n_items
        return np.column_stack([self.slopes[:, :1], self.location,
                                np.tile(self.tau[:-1], (n, 1))])

    def with_params(self, params: ArrayLike) -> RatingScale:
        """The same model with new locations and thresholds (row 0's thresholds; unvalidated)."""
        psi = np.asarray(params, dtype=np.float64)
        free_tau = psi[0, 2:]
        out = RatingScale.__new__(RatingScale)
        out.location = psi[:, 1].copy()
        out.tau = np.concatenate([free_tau, [-free_tau.sum()]])
        d = np.concatenate([np.zeros((psi.shape[0], 1)),
                            -np.cumsum(out.location[:, None] + out.tau[None, :], axis=1)], axis=1)
        d = d * psi[:, :1]  # the slope multiplies every step (1 for a rating scale item)
        k = out.tau.size + 1
        out._set_kernel(psi[:, :1].copy(), np.tile(np.arange(k, dtype=np.float64), (psi.shape[0], 1)),
                        d, np.full(psi.shape[0], k, dtype=np.int64))
        return out

    def dlog_prob_dparams(self, theta: ArrayLike) -> Array:
        """Gradient with respect to ``[a1, b, τ_1 … τ_{K−2}]``.

        With :math:`\\delta_k = -a(k b + T_k)`, :math:`T_k = \\sum_{v \\le k}\\tau_v` and
        :math:`\\partial_{\\delta_j}\\log P_k = [j = k] - P_j`, each derivative is
        :math:`\\partial\\delta_k - E_P[\\partial\\delta]`; :math:`\\partial\\delta_j/\\partial b = -aj`,
        :math:`\\partial\\delta_j/\\partial\\tau_v = -a([j \\ge v] - [j = K-1])`.
        """
        t2, _ = self._theta2d(theta)
        s = t2 @ self.slopes.T
        log_p, mean, _ = self._moments(s)
        p = np.exp(log_p)
        k = self.tau.size + 1
        a = self.slopes[:, 0]
        cats = np.arange(k, dtype=np.float64)
        grad = np.zeros((*log_p.shape, 2 + k - 2))
        # slope: η_k = a(kθ) + δ_k(a) with δ_k = −a(k b + T_k): ∂η_k/∂a = kθ + δ_k/a
        eta_a = cats * t2[:, :1, None] + self.dk[None] / a[None, :, None]
        grad[..., 0] = eta_a - np.einsum("nik,nik->ni", p, eta_a)[..., None]
        dd_b = -a[:, None] * cats[None, :]  # (I, K)
        grad[..., 1] = dd_b - np.einsum("nik,ik->ni", p, dd_b)[..., None]
        for v in range(1, k - 1):  # free thresholds τ_1 … τ_{K−2} (a handful)
            dd = -a[:, None] * ((cats >= v).astype(np.float64) - (cats == k - 1))[None, :]
            grad[..., 1 + v] = dd - np.einsum("nik,ik->ni", p, dd)[..., None]
        return grad
