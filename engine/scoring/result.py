"""The result of person scoring."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["STATUS_CODES", "AbilityEstimate"]

#: what each ``status`` value means
STATUS_CODES: dict[str, str] = {
    "ok": "converged estimate",
    "no_responses": "no observed response: ML/WLE undefined (NaN); EAP/MAP return the prior",
    "extreme_low": "every response in the lowest category (the highest of a reverse-keyed item): "
    "the ML estimate is -inf; reported at the lower bound with SE NaN",
    "extreme_high": "every response in the highest category (the lowest of a reverse-keyed "
    "item): the ML estimate is +inf; reported at the upper bound with SE NaN",
    "at_bound": "the estimate reached a bound of the search interval (likelihood still rising)",
    "not_converged": "the iteration limit was reached before the tolerance",
}


@dataclass(frozen=True, slots=True, eq=False)
class AbilityEstimate:
    """Trait estimates of many persons.

    Attributes
    ----------
    theta : ndarray, shape (n_persons,) or (n_persons, n_dims)
        Estimates (one axis per factor only for several factors).
    se : ndarray, same shape as ``theta``
        Posterior SD (EAP), SE from the posterior information (MAP) or from the Fisher
        information (ML, WLE).
    method : str
        ``"eap"``, ``"map"``, ``"ml"`` or ``"wle"``.
    status : ndarray of str, shape (n_persons,)
        One of :data:`STATUS_CODES` per person.
    factor_names : tuple of str
        Names of the factors.
    cov : ndarray, shape (n_persons, n_dims, n_dims), optional
        Posterior (or sampling) covariance of each estimate, for several factors.
    n_iter : ndarray of int, shape (n_persons,), optional
        Newton iterations used (MAP, ML, WLE).
    """

    theta: NDArray[np.float64]
    se: NDArray[np.float64]
    method: str
    status: NDArray[np.str_]
    factor_names: tuple[str, ...] = ("theta",)
    cov: NDArray[np.float64] | None = None
    n_iter: NDArray[np.int64] | None = None

    @property
    def n_persons(self) -> int:
        """Number of persons scored."""
        return int(self.theta.shape[0])

    @property
    def flagged(self) -> NDArray[np.bool_]:
        """True for persons whose status is not ``"ok"``."""
        return self.status != "ok"

    def columns(self) -> dict[str, NDArray[Any]]:
        """Named columns as in the score file (docs/design.md §6): ``theta``, ``se`` or per factor."""
        if self.theta.ndim == 1:
            return {"theta": self.theta, "se": self.se}
        out: dict[str, NDArray[Any]] = {}
        for j, name in enumerate(self.factor_names):
            out[f"theta_{name}"] = self.theta[:, j]
            out[f"se_{name}"] = self.se[:, j]
        return out

    def summary(self) -> str:
        """A short text summary: method, counts by status, mean and SD of the estimates."""
        lines = [f"{self.method.upper()} estimates of {self.n_persons} persons"]
        cols = self.columns()
        for name, values in cols.items():
            finite = values[np.isfinite(values)]
            if finite.size:
                lines.append(
                    f"  {name:<16} mean {finite.mean():8.4f}  sd {finite.std():8.4f}  "
                    f"min {finite.min():8.4f}  max {finite.max():8.4f}"
                )
        codes, counts = np.unique(self.status, return_counts=True)
        lines.append("  status: " + ", ".join(f"{c} {n}" for c, n in zip(codes, counts)))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The summary as an HTML block for notebooks."""
        import html

        return f"<pre>{html.escape(self.summary())}</pre>"

    def to_frame(self) -> Any:
        """The estimates as a pandas DataFrame (``theta``/``se`` columns, ``status``).

        pandas is imported here only; it is not a dependency of the engine.
        """
        import pandas as pd

        return pd.DataFrame({**self.columns(), "status": self.status})

    def __repr__(self) -> str:
        return (
            f"AbilityEstimate(method={self.method!r}, n_persons={self.n_persons}, "
            f"factors={list(self.factor_names)}, flagged={int(self.flagged.sum())})"
        )
