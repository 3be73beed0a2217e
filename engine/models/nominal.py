"""Bock's nominal response model (``nominal``): options with no key.

.. math::

    P(X = k \\mid \\theta) = \\frac{\\exp(a_k\\theta + d_k)}{\\sum_v \\exp(a_v\\theta + d_v)},
    \\qquad a_0 = d_0 = 0 \\quad\\text{(Bock 1972)}.

For a situational-judgement item, the slopes order the options along the trait; which end is
"more of the competency" is fixed by expert metadata used only to orient the sign (docs/design.md §5).
No option is ever scored right or wrong.

mirt writes the same model as :math:`\\exp(\\alpha_k\\,\\mathbf a^\\top\\theta + d_k)` with scoring
:math:`\\alpha_0 = 0`, :math:`\\alpha_{K-1} = K - 1`; :meth:`NominalResponse.to_slope_intercept`
returns that form and :meth:`NominalResponse.from_slope_intercept` reads it (and is the way to
write multidimensional nominal items).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.models._base import (
    Array,
    as_slopes,
    require_unidimensional,
    slope_matrix,
)
from qabilet.engine.models._declaration import SI_SLOPES, SLOPES, Column, Field, ModelParameters
from qabilet.engine.models._divide_by_total import DivideByTotal
from qabilet.engine.models._ragged import as_ragged
from qabilet.engine.models.registry import register

__all__ = ["NominalResponse"]


@register
class NominalResponse(DivideByTotal):
    """Nominal response items (``nominal``, Bock 1972).

    Parameters
    ----------
    a : sequence of sequences, or array_like of shape (n_items, K_max)
        Category slopes :math:`a_0 = 0, a_1, \\dots, a_{K-1}` per item.
    d : same shape as ``a``
        Category intercepts :math:`d_0 = 0, d_1, \\dots`.

    Examples
    --------
    >>> m = NominalResponse(a=[[0.0, 0.5, 1.5]], d=[[0.0, 0.3, -0.2]])
    >>> m.prob(0.0).round(4).tolist()
    [[0.3156, 0.426, 0.2584]]
    """

    name: ClassVar[str] = "nominal"
    PARAMETERS: ClassVar[ModelParameters] = ModelParameters(
        columns=(SLOPES,
                 Column("ak", "category slope", fixed_categories=("first", "last")),
                 Column("d", "intercept", fixed_categories=("first",), prior="d")),
        traditional=(Field("a", "numbers", se_written=False),
                     Field("d", "numbers", same_as="d")),
        slope_intercept=(SI_SLOPES, Field("ak", "numbers", same_as="ak"),
                         Field("d", "numbers", same_as="d")))

    def __init__(self, a: ArrayLike, d: ArrayLike) -> None:
        n = len(a)  # type: ignore[arg-type]
        ak, n_cat = as_ragged(a, "a", n, min_len=2)
        dk, n_cat_d = as_ragged(d, "d", n, min_len=2)
        if not np.array_equal(n_cat, n_cat_d):
            bad = int(np.flatnonzero(n_cat != n_cat_d)[0])
            raise InvalidParameterError(
                f"items[{bad}]: a and d need one value per category; got {n_cat[bad]} and "
                f"{n_cat_d[bad]}"
            )
        _check_reference(ak, "a")
        _check_reference(dk, "d")
        # held in mirt's identification, as from_slope_intercept and a calibration hold it:
        # the same items have the same slopes whichever form they were read in
        ak = np.nan_to_num(ak)
        scale = _mirt_scale(ak, n_cat)
        self._set_kernel(scale[:, None], ak / scale[:, None], dk, n_cat)

    @classmethod
    def from_slope_intercept(cls, a: ArrayLike, ak: ArrayLike, d: ArrayLike) -> NominalResponse:
        """Build from mirt's form :math:`P_k \\propto \\exp(\\alpha_k\\,\\mathbf a^\\top\\theta + d_k)`.

        Parameters
        ----------
        a : array_like, shape (n_items,) or (n_items, n_dims)
            Overall slopes (mirt's ``a1, a2, …``).
        ak : sequence of sequences
            Category scoring :math:`\\alpha_k` (``ak0 = 0``).
        d : sequence of sequences
            Intercepts (``d0 = 0``).
        """
        self = cls.__new__(cls)
        slopes = as_slopes(a)
        n = slopes.shape[0]
        ak_arr, n_cat = as_ragged(ak, "ak", n, min_len=2)
        dk, n_cat_d = as_ragged(d, "d", n, min_len=2)
        if not np.array_equal(n_cat, n_cat_d):
            raise InvalidParameterError("nominal: ak and d need one value per category")
        _check_reference(ak_arr, "ak")
        _check_reference(dk, "d")
        self._set_kernel(slopes, np.nan_to_num(ak_arr), dk, n_cat)
        return self

    @classmethod
    def from_record_fields(cls, fields: Mapping[str, list[Any]], slope_intercept: bool
                           ) -> NominalResponse:
        """Build from record fields: category slopes ``a`` and ``d``, or mirt's ``a``, ``ak``, ``d``."""
        if slope_intercept:
            return cls.from_slope_intercept(slope_matrix(fields["a"]), fields["ak"], fields["d"])
        return cls(fields["a"], fields["d"])

    @property
    def category_slopes(self) -> Array:
        """:math:`a_k = \\alpha_k a` of a unidimensional model, shape (n_items, K_max), NaN padding."""
        require_unidimensional(self, "category_slopes")
        return np.where(self._valid, self.ak * self.slopes[:, :1], np.nan)

    @property
    def intercepts(self) -> Array:
        """:math:`d_k`, shape (n_items, K_max), NaN padding."""
        return np.where(self._valid, self.dk, np.nan)

    def to_traditional(self) -> dict[str, Array]:
        """``{"a": category slopes, "d": intercepts}``, each (n_items, K_max), NaN padding."""
        return {"a": self.category_slopes, "d": self.intercepts}

    def to_slope_intercept(self) -> dict[str, Array]:
        """Parameters in mirt's form ``{"a": (n_items, n_dims), "ak": (n_items, K_max), "d": (n_items, K_max)}``.

        The overall slope is rescaled so that the last category's scoring is K - 1 (mirt's
        identification); an item whose last category has slope 0 keeps its scoring as it is.
        """
        scale = _mirt_scale(self.ak, self.n_categories)
        return {
            "a": self.slopes * scale[:, None],
            "ak": np.where(self._valid, self.ak / scale[:, None], np.nan),
            "d": self.intercepts,
        }


def _mirt_scale(ak: Array, n_categories: NDArray[np.int64]) -> Array:
    """Per item, the factor taking scoring ``ak`` to mirt's :math:`\alpha_{K-1} = K - 1`.

    :math:`\alpha_{K-1} / (K - 1)`: the overall slope is multiplied by it and the scoring
    divided; 1 for an item whose last category's scoring is 0 (left as it is).
    """
    last = ak[np.arange(ak.shape[0]), n_categories - 1]
    return np.where(last != 0.0, last / (n_categories - 1), 1.0)


def _check_reference(values: Array, name: str) -> None:
    """The first category is the reference: its slope and intercept are 0."""
    bad = np.flatnonzero(values[:, 0] != 0.0)
    if bad.size:
        i = int(bad[0])
        raise InvalidParameterError(f"items[{i}]: {name}_0 must be 0; got {values[i, 0]}")
