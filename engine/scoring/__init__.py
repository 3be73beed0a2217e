"""Person scoring: EAP, MAP, ML and WLE, unidimensional and multidimensional.

:func:`score` dispatches on ``method``; each estimator is also importable on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from numpy.typing import ArrayLike

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.models._base import ItemSet
from qabilet.engine.scoring.eap import eap, marginal_loglik, posterior_on_grid
from qabilet.engine.scoring.newton import (
    maximum_a_posteriori,
    maximum_likelihood,
    weighted_likelihood,
)
from qabilet.engine.scoring.result import STATUS_CODES, AbilityEstimate
from qabilet.engine.scoring.sum_score import SumScoreTable, summed_score_table

__all__ = [
    "METHODS",
    "STATUS_CODES",
    "AbilityEstimate",
    "SumScoreTable",
    "eap",
    "marginal_loglik",
    "maximum_a_posteriori",
    "maximum_likelihood",
    "posterior_on_grid",
    "score",
    "summed_score_table",
    "weighted_likelihood",
]

#: the estimators by name; their options differ (``prior``, ``n_points``, ``tol`` …)
METHODS: dict[str, Callable[..., AbilityEstimate]] = {
    "eap": eap,
    "map": maximum_a_posteriori,
    "ml": maximum_likelihood,
    "wle": weighted_likelihood,
}


def score(
    items: ItemSet,
    responses: ArrayLike,
    observed: ArrayLike | None = None,
    *,
    method: str = "eap",
    **options: Any,
) -> AbilityEstimate:
    """Score persons with the named method.

    Parameters
    ----------
    items : ItemSet
        A model or an :class:`~qabilet.engine.bank.ItemBank`.
    responses : array_like, shape (n_persons, n_items)
        Categories ``0 … K_i − 1`` (NaN or ``observed`` for missing).
    observed : array_like of bool, optional
        True where answered.
    method : {"eap", "map", "ml", "wle"}
        The estimator.
    **options
        Passed to the estimator (``prior``, ``n_points``, ``bounds``, ``tol``, ``max_iter``).

    Returns
    -------
    AbilityEstimate
    """
    try:
        fn = METHODS[str(method).lower()]
    except KeyError:
        raise InvalidParameterError(
            f"method: expected one of {', '.join(METHODS)}; got {method!r}"
        ) from None
    return fn(items, responses, observed, **options)
