"""The shared interface of item response models.

Every model in qabilet is *projective*: an item's category probabilities depend on the latent
trait :math:`\\theta` only through the scalar :math:`s = \\mathbf a^\\top \\theta` (for a
unidimensional item, :math:`s = a\\theta`). A model therefore implements three small kernels in
:math:`s` — log-probabilities of every category and their first two derivatives, plus the Fisher
information per unit slope — and this base class derives everything else by the chain rule:

.. math::

    \\frac{\\partial \\log P_k}{\\partial \\theta} = f_k'(s)\\,\\mathbf a, \\qquad
    \\mathcal I(\\theta) = \\Big(\\sum_k P_k f_k'(s)^2\\Big)\\,\\mathbf a\\mathbf a^\\top .

Shapes follow docs/design.md §5: persons (or θ points) first, then items, then categories; a
trailing factor axis only for multidimensional models. Categories beyond an item's own count are
padding with probability 0 (log-probability ``-inf``, derivatives 0).
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.models._declaration import ModelParameters

__all__ = ["ItemModel", "ItemSet"]

Array = NDArray[np.float64]
Codes = NDArray[np.integer[Any]]  # response categories 0..K−1, any integer type (int8 where they fit)


class _HasDims(Protocol):
    """Anything with a number of dimensions (an item set, or its slopes before it is built)."""

    @property
    def n_dims(self) -> int: ...  # noqa: D102


class ItemSet(ABC):
    """Anything that answers for a set of items: one model's items, or a mixed bank.

    Subclasses provide ``slopes`` (``(n_items, n_dims)``), ``n_categories`` (``(n_items,)``) and
    the kernels ``_kernel`` and ``_information_s``; this class derives the public methods.
    """

    slopes: Array
    n_categories: NDArray[np.int64]

    # -- sizes ---------------------------------------------------------------------------------
    @property
    def n_items(self) -> int:
        """Number of items."""
        return int(self.slopes.shape[0])

    @property
    def n_dims(self) -> int:
        """Number of latent dimensions (factors)."""
        return int(self.slopes.shape[1])

    @property
    def max_categories(self) -> int:
        """Largest number of response categories over the items (the category axis length)."""
        return int(self.n_categories.max()) if self.n_items else 0

    # -- kernels subclasses provide --------------------------------------------------------------
    @abstractmethod
    def _kernel(self, s: Array, order: int = 0) -> tuple[Array, ...]:
        """Log-probabilities in the projection ``s`` and their derivatives.

        Parameters
        ----------
        s : ndarray, shape (n, n_items)
            Projections :math:`s_{ni} = \\mathbf a_i^\\top\\theta_n`.
        order : {0, 1, 2}
            How many derivatives to return.

        Returns
        -------
        tuple of ndarray, each of shape (n, n_items, max_categories)
            ``(log_p,)``, ``(log_p, d1)`` or ``(log_p, d1, d2)`` with ``d1 = d log p / ds`` and
            ``d2 = d² log p / ds²``; padded categories have ``-inf``, 0, 0.
        """

    @abstractmethod
    def _information_s(self, s: Array) -> Array:
        """Fisher information per unit slope, :math:`\\sum_k P_k f_k'(s)^2`, shape (n, n_items).

        Implementations use the model's closed form (not the generic sum), so the contract test
        that compares it with the expected squared score is an independent check.
        """

    def _linear_logits(self) -> tuple[NDArray[np.bool_], Array, Array]:
        """Items whose log-odds against category 0 are linear in the projection.

        For those items :math:`\\log P_k - \\log P_0 = \\alpha_k s + \\delta_k` (the 2PL and the
        divide-by-total family), so a person's log-likelihood at θ is
        :math:`\\sum_i \\log P_{i0}(\\theta) + \\big(\\sum_i \\alpha_{ix_i}\\mathbf a_i\\big)^\\top\\theta +
        \\sum_i \\delta_{ix_i}` — sufficient statistics instead of a sum over categories.

        Returns
        -------
        linear : ndarray of bool, shape (n_items,)
        alpha, delta : ndarray, shape (n_items, max_categories)
            Zero for items that are not linear and on padding.
        """
        shape = (self.n_items, self.max_categories)
        return np.zeros(self.n_items, dtype=bool), np.zeros(shape), np.zeros(shape)

    def _newton_terms(
        self, s: Array, x: Codes, obs: NDArray[np.bool_], need_bias: bool = False
    ) -> tuple[Array, Array, Array, Array | None]:
        """Per-item terms of Newton scoring at person-specific projections.

        Parameters
        ----------
        s : ndarray, shape (n, n_items)
            Projections.
        x : ndarray of int, shape (n, n_items)
            Responses (any value where unobserved).
        obs : ndarray of bool, shape (n, n_items)
            Observed mask.
        need_bias : bool
            Also return Warm's term :math:`c = \\sum_k P_k f'_k (f''_k + f'^2_k)`.

        Returns
        -------
        f1, f2, info, c : ndarray, shape (n, n_items)
            :math:`f'` and :math:`f''` of the observed category, the Fisher information per unit
            slope, and Warm's term (None unless asked); all zero where unobserved. Models with
            a cheaper closed form override this; the generic form works from the kernels.
        """
        log_p, d1, d2 = self._kernel(s, 2)
        o = obs.astype(np.float64)
        f1 = np.take_along_axis(d1, x[..., None], axis=-1)[..., 0] * o
        f2 = np.take_along_axis(d2, x[..., None], axis=-1)[..., 0] * o
        pd1 = np.exp(log_p) * d1
        info = np.einsum("mik,mik->mi", pd1, d1) * o
        c = np.einsum("mik,mik->mi", pd1, d2 + d1 * d1) * o if need_bias else None
        return f1, f2, info, c

    # -- public, derived ---------------------------------------------------------------------------
    def _theta2d(self, theta: ArrayLike) -> tuple[Array, tuple[int, ...]]:
        """Validate θ and return it as ``(n, n_dims)`` with the caller's batch shape."""
        t = np.asarray(theta, dtype=np.float64)
        d = self.n_dims
        if d == 1:
            batch = (
                t.shape[:-1] if (t.ndim >= 1 and t.shape[-1:] == (1,) and t.ndim > 1) else t.shape
            )
            t2 = t.reshape(-1, 1)
        else:
            if t.ndim == 0 or t.shape[-1] != d:
                raise InvalidParameterError(
                    f"theta: expected a trailing axis of length {d} (one value per factor); "
                    f"got shape {t.shape}"
                )
            batch = t.shape[:-1]
            t2 = t.reshape(-1, d)
        if not np.all(np.isfinite(t2)):
            raise InvalidParameterError("theta: expected finite values; got NaN or inf")
        return t2, batch

    def project(self, theta: ArrayLike) -> Array:
        """Projections :math:`s = \\theta\\,\\mathbf A^\\top`, shape ``batch + (n_items,)``."""
        t2, batch = self._theta2d(theta)
        return (t2 @ self.slopes.T).reshape(*batch, self.n_items)

    def log_prob(self, theta: ArrayLike) -> Array:
        """Log-probability of every category.

        Parameters
        ----------
        theta : array_like
            Trait values: shape ``(...)`` or ``(..., 1)`` for a unidimensional model, ``(..., d)``
            otherwise.

        Returns
        -------
        ndarray, shape ``(..., n_items, max_categories)``
            ``log P(X_i = k | θ)``; ``-inf`` for categories an item does not have.
        """
        t2, batch = self._theta2d(theta)
        (log_p,) = self._kernel(t2 @ self.slopes.T, 0)
        return log_p.reshape(*batch, self.n_items, self.max_categories)

    def prob(self, theta: ArrayLike) -> Array:
        """Category probabilities, ``exp(log_prob(theta))``; same shape as :meth:`log_prob`."""
        return np.exp(self.log_prob(theta))

    def dlog_prob(self, theta: ArrayLike) -> Array:
        """Gradient of every category's log-probability with respect to θ.

        Returns
        -------
        ndarray
            Shape ``(..., n_items, max_categories)`` for a unidimensional model, and
            ``(..., n_items, max_categories, n_dims)`` otherwise.
        """
        t2, batch = self._theta2d(theta)
        _, d1 = self._kernel(t2 @ self.slopes.T, 1)
        grad = d1[..., None] * self.slopes[None, :, None, :]
        shape = (*batch, self.n_items, self.max_categories)
        if self.n_dims == 1:
            return grad[..., 0].reshape(shape)
        return grad.reshape(*shape, self.n_dims)

    def information(self, theta: ArrayLike) -> Array:
        """Fisher information of each item at θ.

        .. math:: \\mathcal I_i(\\theta) = E\\big[(\\partial_\\theta \\log P_i)
                  (\\partial_\\theta \\log P_i)^\\top\\big]
                  = \\mathcal I^{(s)}_i(s)\\,\\mathbf a_i\\mathbf a_i^\\top

        Returns
        -------
        ndarray
            Shape ``(..., n_items)`` for a unidimensional model; the information matrices,
            ``(..., n_items, n_dims, n_dims)``, otherwise.
        """
        t2, batch = self._theta2d(theta)
        if self.n_dims == 1:
            info_s = self._information_s(np.multiply.outer(t2[:, 0], self.slopes[:, 0]))
            info_s *= self.slopes[:, 0] ** 2  # a fresh array: scaled in place
            return info_s.reshape(*batch, self.n_items)
        info_s = self._information_s(t2 @ self.slopes.T)
        outer = self.slopes[:, :, None] * self.slopes[:, None, :]
        return (info_s[..., None, None] * outer).reshape(
            *batch, self.n_items, self.n_dims, self.n_dims
        )

    def summed_information(self, theta: ArrayLike, observed: ArrayLike | None = None) -> Array:
        """Each person's information summed over the items they answered.

        .. math:: \\mathcal I_p = \\sum_i o_{pi}\\,\\mathcal I^{(s)}_i(\\mathbf a_i^\\top
                  \\theta_p)\\,\\mathbf a_i\\mathbf a_i^\\top

        one matrix per person, without the items' (n, n_items, d, d) matrices of
        :meth:`information`.

        Parameters
        ----------
        theta : array_like, shape (n, n_dims) or (n,)
            One trait vector per person.
        observed : array_like of bool, shape (n, n_items), optional
            The items each person answered (all by default).

        Returns
        -------
        ndarray, shape (n, n_dims, n_dims)
        """
        t2, _ = self._theta2d(theta)
        info_s = self._information_s(t2 @ self.slopes.T)  # (n, I)
        if observed is not None:
            info_s = info_s * np.asarray(observed, dtype=bool)
        out: Array = np.einsum("pi,ir,is->prs", info_s, self.slopes, self.slopes)
        return out

    def expected_score(self, theta: ArrayLike) -> Array:
        """Expected category score :math:`\\sum_k k\\,P(X_i = k\\mid\\theta)`, shape ``(..., n_items)``."""
        p = self.prob(theta)
        return p @ np.arange(self.max_categories, dtype=np.float64)


class ItemModel(ItemSet):
    """A batch of items that share one response model (the strategy registered by name).

    Subclasses set ``name`` (the name used in parameter files) and ``PARAMETERS`` (the
    declaration of their parameters, from which records, parameter files and calibration derive
    theirs), implement the kernels and the conversions :meth:`to_traditional` /
    :meth:`to_slope_intercept`, and validate their parameters on construction.
    """

    name: ClassVar[str]
    #: the model's parameters, declared once (:mod:`qabilet.engine.models._declaration`)
    PARAMETERS: ClassVar[ModelParameters]

    @abstractmethod
    def to_traditional(self) -> dict[str, Array]:
        """Parameters in the traditional IRT form of docs/design.md §5 (unidimensional items only)."""

    @abstractmethod
    def to_slope_intercept(self) -> dict[str, Array]:
        """Parameters in slope-intercept form (mirt's ``a1…``, ``d…``)."""

    @classmethod
    def from_record_fields(cls, fields: Mapping[str, list[Any]], slope_intercept: bool
                           ) -> ItemModel:
        """Build from record fields, one list entry per item (the records' parameters).

        Parameters
        ----------
        fields : mapping of str to list
            Every field the declaration (:attr:`PARAMETERS`) has in the records' form, a
            field a record left out at its declared default.
        slope_intercept : bool
            The records' form.
        """
        raise InvalidParameterError(f"model {cls.name!r} has no record reader")

    @abstractmethod
    def subset(self, index: ArrayLike) -> ItemModel:
        """The same model restricted to the items ``index`` (integer positions or a mask)."""

    # -- the full slope-intercept parameter vector, for calibration ---------------------------------
    @abstractmethod
    def param_names(self) -> tuple[str, ...]:
        """Names of the columns of :meth:`param_vector` (mirt's names: ``a1``, ``d``, ``g``…)."""

    @abstractmethod
    def param_vector(self) -> Array:
        """Every item's parameters in slope-intercept form, shape (n_items, n_params), NaN padding.

        The layout is the same for every item of the model (the widest item sets the width);
        calibration chooses which entries are free.
        """

    @abstractmethod
    def with_params(self, params: ArrayLike) -> ItemModel:
        """The same model with :meth:`param_vector` replaced.

        No domain validation: a fast path for estimation, which checks the likelihood instead.
        """

    @abstractmethod
    def dlog_prob_dparams(self, theta: ArrayLike) -> Array:
        """Gradient of every category's log-probability with respect to :meth:`param_vector`.

        Parameters
        ----------
        theta : array_like, shape (n, n_dims) or (n,)
            Trait values (e.g. quadrature nodes).

        Returns
        -------
        ndarray, shape (n, n_items, max_categories, n_params)
            Zero for padded categories and padded parameters.
        """

    #: whether :meth:`observed_terms` has a closed form here (MH-RM calibration's fast path)
    HAS_OBSERVED_TERMS: ClassVar[bool] = False

    def observed_terms(self, s: Array, x: Codes, order: int = 1) -> tuple[Array, ...]:
        """The given category's log-probability and its derivatives, at per-person projections.

        Parameters
        ----------
        s : ndarray, shape (n, n_items)
            Projections :math:`s_{ni} = \\mathbf a_i^\\top\\theta_n`.
        x : ndarray of int, shape (n, n_items)
            A category of each item (any valid one where unobserved; the caller masks).
        order : {0, 1}
            ``0``: the log-probabilities only.

        Returns
        -------
        log_p : ndarray, shape (n, n_items)
            :math:`\\log P_i(x_{ni}\\mid s_{ni})`.
        ds : ndarray, shape (n, n_items)
            :math:`\\partial \\log P_i(x_{ni})/\\partial s` (the slopes' derivatives are
            ``ds * theta``).
        rest : ndarray, shape (n, n_items, n_params - n_dims)
            The derivatives with respect to the parameters after the slopes, in
            :meth:`param_vector`'s order (zero on padding).

        Only the models with :attr:`HAS_OBSERVED_TERMS` implement it: one category instead
        of all, without the (n, n_items, K, n_params) array of :meth:`dlog_prob_dparams`.
        """
        raise NotImplementedError(f"model {self.name!r} has no closed-form observed terms")

    def on_factors(self, factors: ArrayLike) -> ItemModel:
        """The same items as a model of the factors ``factors`` only.

        Every item must have zero slopes on the other factors, so that
        :math:`\\mathbf a_i^\\top\\theta` is unchanged: the result's probabilities at
        ``theta[:, factors]`` equal this model's at ``theta``. Calibration evaluates items of a
        simple-structure model this way, at a fraction of the cost in many factors.

        Parameters
        ----------
        factors : array_like of int
            Factor positions, in the order the result's slopes take.

        Raises
        ------
        InvalidParameterError
            If an item has a nonzero slope on a factor left out, or the model's parameter vector
            does not start with one slope per factor.
        """
        cols = np.asarray(factors, dtype=np.intp).reshape(-1)
        dims = self.n_dims
        if cols.size == 0 or cols.min() < 0 or cols.max() >= dims or np.unique(cols).size != cols.size:
            raise InvalidParameterError(
                f"factors: expected distinct positions in 0..{dims - 1}; got {cols.tolist()}")
        if self.param_names()[:dims] != tuple(f"a{r + 1}" for r in range(dims)):
            raise InvalidParameterError(f"model {self.name!r} has no slope per factor")
        others = np.setdiff1d(np.arange(dims), cols)
        if np.any(self.slopes[:, others] != 0.0):
            raise InvalidParameterError(
                f"factors: the items have nonzero slopes on factors {others.tolist()} left out")
        psi = self.param_vector()
        shape = copy.copy(self)  # with_params reads the dimension from the slopes' width
        shape.slopes = self.slopes[:, cols]
        return shape.with_params(np.column_stack([psi[:, cols], psi[:, dims:]]))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_items={self.n_items}, n_dims={self.n_dims})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        mine, theirs = self.to_slope_intercept(), other.to_slope_intercept()
        return mine.keys() == theirs.keys() and all(
            np.array_equal(mine[k], theirs[k], equal_nan=True) for k in mine
        )

    __hash__ = None  # type: ignore[assignment]


class SlopedModel(ItemModel):
    """An item model whose traditional form has one slope per item, ``a`` (all but ``nominal``)."""

    @property
    def a(self) -> Array:
        """Slopes of a unidimensional model, shape (n_items,)."""
        require_unidimensional(self, "a")
        return self.slopes[:, 0].copy()


def as_float_array(value: Any, name: str, shape: tuple[int, ...] | None = None) -> Array:
    """Convert a parameter to a float array, naming it in the error when that fails."""
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"{name}: expected numbers; got {value!r}") from exc
    if shape is not None and arr.shape != shape:
        raise InvalidParameterError(f"{name}: expected shape {shape}; got {arr.shape}")
    return arr


def as_slopes(a: Any, n_items: int | None = None, name: str = "a") -> Array:
    """Slopes as ``(n_items, n_dims)``: a 1-D array is one slope per item (one factor)."""
    arr = as_float_array(a, name)
    if arr.ndim == 0:
        if n_items is None:
            raise InvalidParameterError(f"{name}: a scalar slope needs the number of items")
        arr = np.full((n_items, 1), float(arr))
    elif arr.ndim == 1:
        arr = arr[:, None]
    elif arr.ndim != 2:
        raise InvalidParameterError(
            f"{name}: expected shape (n_items,) or (n_items, n_dims); got {arr.shape}"
        )
    if n_items is not None and arr.shape[0] != n_items:
        raise InvalidParameterError(f"{name}: expected {n_items} items; got {arr.shape[0]}")
    if not np.all(np.isfinite(arr)):
        raise InvalidParameterError(f"{name}: expected finite slopes; got {arr.tolist()}")
    return arr


def slope_matrix(values: list[Any]) -> Array:
    """Slopes from records: numbers (one factor) or equal-length lists (one per factor)."""
    lengths = {np.size(v) for v in values}
    if len(lengths) > 1:
        raise InvalidParameterError(
            f"a: every item of one model must have the same number of slopes; got {sorted(lengths)}"
        )
    return np.asarray(values, dtype=np.float64).reshape(len(values), -1)


def require_unidimensional(model: ItemSet | _HasDims, what: str) -> None:
    """Refuse an operation that has no meaning for multidimensional items."""
    if model.n_dims != 1:
        raise InvalidParameterError(
            f"{what}: multidimensional items have no traditional form (docs/design.md §5); "
            "use the slope-intercept form"
        )


def check_index(index: ArrayLike, n_items: int) -> NDArray[np.intp]:
    """Normalise an item selection (positions or boolean mask) to integer positions."""
    idx = np.asarray(index)
    if idx.dtype == bool:
        if idx.shape != (n_items,):
            raise InvalidParameterError(f"index: boolean mask must have shape ({n_items},)")
        return np.flatnonzero(idx)
    idx = idx.astype(np.intp).reshape(-1)
    if idx.size and (idx.min() < -n_items or idx.max() >= n_items):
        raise InvalidParameterError(
            f"index: positions must lie in [0, {n_items}); got {idx.tolist()}"
        )
    return idx % max(n_items, 1)


def check_domain(values: Array, ok: NDArray[np.bool_], expectation: str) -> None:
    """Raise naming the first item whose parameter fails ``ok`` (``items[i]: <expectation>; got v``)."""
    bad = np.flatnonzero(~np.asarray(ok))
    if bad.size:
        i = int(bad[0])
        raise InvalidParameterError(
            f"items[{i}]: {expectation}; got {np.asarray(values)[i].tolist()}"
        )
