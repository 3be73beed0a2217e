"""Deriving Sympson–Hetter exposure parameters by simulation (Sympson & Hetter 1985).

The exposure rate of item :math:`i` is :math:`P(A_i) = P(S_i)K_i`: the rate at which the
selection rule picks it, times the probability it is then given. Starting from :math:`K_i = 1`,
each round simulates the test with the current parameters, estimates :math:`P(S_i) =
P(A_i)/K_i`, and sets

.. math:: K_i \\leftarrow \\begin{cases} r / P(S_i) & P(S_i) > r \\\\ 1 & \\text{otherwise}
          \\end{cases}

until no item's exposure exceeds the target :math:`r` by more than the tolerance (Hetter &
Sympson 1997). The estimated rates carry a sampling error of :math:`\\sigma = \\sqrt{r(1-r)/n}`
each, and the largest of many items that sit at :math:`r` exceeds it by about :math:`2\\sigma`;
the update therefore aims at :math:`r - 2\\sigma` (at most 10 % below :math:`r`), so that the
largest rate, on these simulees and on new ones, stays within the tolerance.

The exposure rates of the items sum to the mean test length :math:`\\bar L`, so no parameters
can bring every rate below :math:`\\bar L / N` for :math:`N` eligible items: such a target is
refused.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike

from qabilet.engine.bank import ItemBank
from qabilet.engine.cat.blueprint import Blueprint, parse_exposure
from qabilet.engine.cat.simulate import draw_true_theta, simulate_cat
from qabilet.engine.exceptions import ConvergenceWarning, InvalidParameterError
from qabilet.engine.models._base import Array
from qabilet.engine.simulation import as_rng

__all__ = ["SympsonHetterDerivation", "derive_sympson_hetter"]


@dataclass(frozen=True, slots=True, eq=False)
class SympsonHetterDerivation:
    """The outcome of :func:`derive_sympson_hetter`.

    Attributes
    ----------
    blueprint : Blueprint
        The input blueprint with ``exposure="sh:RATE"`` and the derived ``sh_parameters``.
    parameters : ndarray, shape (n_items,)
        :math:`K_i` in bank order.
    max_exposure : tuple of float
        The largest exposure rate in each round's simulation.
    converged : bool
        Whether the last round's largest rate was within the tolerance of the target.
    """

    blueprint: Blueprint
    parameters: Array
    max_exposure: tuple[float, ...]
    converged: bool

    @property
    def n_rounds(self) -> int:
        """Simulations run."""
        return len(self.max_exposure)


def derive_sympson_hetter(
    bank: ItemBank,
    blueprint: Blueprint,
    *,
    target: float | None = None,
    n: int = 2000,
    theta: ArrayLike | None = None,
    max_rounds: int = 30,
    tol: float = 0.015,
    rng: np.random.Generator | int | None = None,
) -> SympsonHetterDerivation:
    """Sympson–Hetter parameters that keep every item's exposure near ``target`` or below.

    Parameters
    ----------
    bank : ItemBank
    blueprint : Blueprint
        The design (selection, length, stopping); its exposure setting is replaced.
    target : float, optional
        The maximum exposure rate; taken from ``blueprint.exposure == "sh:RATE"`` if omitted.
    n : int
        Simulees per round, drawn once from the bank's latent distribution (unless ``theta``).
    theta : array_like, optional
        The simulees' true values (the population the parameters are tuned for).
    max_rounds : int
        Simulations at most; a :class:`ConvergenceWarning` if the target is not met by then,
        and the parameters of the round with the smallest largest rate are returned.
    tol : float
        Accepted excess of the largest rate over the target (the estimated rates carry a
        sampling error of about :math:`\\sqrt{r(1-r)/n}` each, and the largest of many is
        biased upwards by it).
    rng : numpy.random.Generator or int or None

    Raises
    ------
    InvalidParameterError
        A target below :math:`\\bar L / N` (mean test length over eligible items), which no
        exposure parameters can reach.
    """
    if target is None:
        name, value = parse_exposure(blueprint.exposure)
        if name != "sh" or value is None:
            raise InvalidParameterError(
                "target: give the target exposure rate, or a blueprint with exposure 'sh:RATE'"
            )
        target = value
    target = float(target)
    if not 0 < target <= 1:
        raise InvalidParameterError(f"target: expected a rate in (0, 1]; got {target:g}")
    gen = as_rng(rng)
    if theta is None:
        theta = draw_true_theta(bank, int(n), gen)
    true = np.asarray(theta, dtype=np.float64)
    spec = f"sh:{target:g}"
    aim = target - min(2.0 * np.sqrt(target * (1 - target) / true.shape[0]), 0.1 * target)
    k = np.ones(bank.n_items)
    eligible = blueprint.eligible_mask(bank)
    ids = np.asarray(bank.item_ids, dtype=object)
    maxima: list[float] = []
    best = k

    def with_parameters(values: Array) -> Blueprint:
        pairs = tuple(zip(ids[eligible].tolist(), values[eligible].tolist(), strict=True))
        return replace(blueprint, exposure=spec, sh_parameters=pairs)

    for _ in range(int(max_rounds)):  # simulation rounds (each one vectorised)
        sim = simulate_cat(bank, with_parameters(k), theta=true, rng=gen)
        rates = sim.exposure
        if not maxima:
            floor = sim.length.mean() / int(eligible.sum())
            if target < floor:
                raise InvalidParameterError(
                    f"target: no exposure control can keep every item below {target:g}: the "
                    f"items' exposure rates add up to the mean test length ({sim.length.mean():.2f}"
                    f"), so with {int(eligible.sum())} eligible items the largest is at least "
                    f"{floor:.3f}"
                )
        maxima.append(float(rates.max()))
        if maxima[-1] <= min(maxima):
            best = k
        if maxima[-1] <= target + tol:
            return SympsonHetterDerivation(with_parameters(k), k, tuple(maxima), True)
        selected = rates / k
        k = np.where(selected > aim, aim / np.maximum(selected, 1e-12), 1.0)
    warnings.warn(
        f"Sympson–Hetter: the largest exposure rate is {maxima[-1]:.3f} after {max_rounds} "
        f"rounds (target {target:g} + {tol:g}); returning the parameters of the best round",
        ConvergenceWarning, stacklevel=2)
    return SympsonHetterDerivation(with_parameters(best), best, tuple(maxima), False)
