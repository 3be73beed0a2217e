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

**Conditional** (Stocking & Lewis 1998, with ``classes``): the trait is cut into classes, each
item has one parameter per class, and the rates are those among the simulees whose true θ lies
in the class, :math:`P(A_i\\mid c) = P(S_i\\mid c)K_{ic}`, updated class by class. An item
then reaches at most :math:`r` of the candidates of any ability, not only of all candidates
together — so that candidates who sit near each other on the scale (and meet the same items
most) share few. A session takes the parameters of its current estimate's class. By default
the simulees are drawn in equal numbers per class (from the bank's latent distribution cut to
the class), so that every class's rates are estimated as well as the others'.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr, ndtri

from qabilet.engine.bank import ItemBank
from qabilet.engine.cat.blueprint import Blueprint, parse_exposure
from qabilet.engine.cat.simulate import CatSimulation, draw_true_theta, simulate_cat
from qabilet.engine.exceptions import ConvergenceWarning, InvalidParameterError
from qabilet.engine.models._base import Array
from qabilet.engine.simulation import as_rng

__all__ = ["SympsonHetterDerivation", "derive_sympson_hetter", "draw_per_class"]


@dataclass(frozen=True, slots=True, eq=False)
class SympsonHetterDerivation:
    """The outcome of :func:`derive_sympson_hetter`.

    Attributes
    ----------
    blueprint : Blueprint
        The input blueprint with ``exposure="sh:RATE"`` and the derived ``sh_parameters``.
    parameters : ndarray, shape (n_items,) or (n_classes, n_items)
        :math:`K_i` in bank order (one row per class when conditional).
    max_exposure : tuple of float
        The largest exposure rate in each round's simulation (within a class, when
        conditional).
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
    classes: ArrayLike | None = None,
    initial: ArrayLike | None = None,
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
        Simulees per round, drawn once from the bank's latent distribution (unless ``theta``);
        per class when conditional.
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
    classes : array_like, optional
        Cut points on θ for conditional parameters (one factor); the blueprint's
        ``sh_classes`` by default. Empty: one set of parameters.
    initial : array_like, optional
        Parameters to start from, in bank order: shape ``(n_items,)``, or ``(n_classes,
        n_items)`` when conditional (default: 1 for every item). Parameters derived for a
        similar design (another level's pool and classes, say) save most of the rounds.

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
    cuts = tuple(float(c) for c in (blueprint.sh_classes if classes is None
                                    else np.atleast_1d(np.asarray(classes, dtype=np.float64))))
    base = replace(blueprint, sh_classes=cuts, sh_parameters=None, exposure="none")
    if theta is None:
        theta = (draw_true_theta(bank, int(n), gen) if not cuts
                 else _draw_per_class(bank, cuts, int(n), gen))
    true = np.asarray(theta, dtype=np.float64)
    spec = f"sh:{target:g}"
    n_classes = len(cuts) + 1
    of_class = np.searchsorted(cuts, true, side="right") if cuts else np.zeros(true.shape[0], int)
    per_class = np.bincount(of_class, minlength=n_classes).astype(np.float64)
    if np.any(per_class == 0):
        raise InvalidParameterError("classes: a class holds none of the simulees; give more "
                                    "simulees, or fewer classes")
    aim = target - np.minimum(2.0 * np.sqrt(target * (1 - target) / per_class), 0.1 * target)
    k = np.ones((n_classes, bank.n_items))
    if initial is not None:
        start = np.asarray(initial, dtype=np.float64)
        if start.shape not in ((bank.n_items,), (n_classes, bank.n_items)) or not np.all(
                (start > 0) & (start <= 1)):
            raise InvalidParameterError(
                f"initial: expected parameters in (0, 1], shape ({bank.n_items},) or "
                f"({n_classes}, {bank.n_items}); got shape {start.shape}")
        k = np.broadcast_to(start, k.shape).copy()
    eligible = blueprint.eligible_mask(bank)
    ids = np.asarray(bank.item_ids, dtype=object)
    maxima: list[float] = []
    best = k

    def with_parameters(values: Array) -> Blueprint:
        chosen = values[:, eligible].T
        per_item = [tuple(v) for v in chosen.tolist()] if cuts else chosen[:, 0].tolist()
        pairs = tuple(zip(ids[eligible].tolist(), per_item, strict=True))
        return replace(base, exposure=spec, sh_parameters=pairs)

    def result(values: Array, converged: bool) -> SympsonHetterDerivation:
        return SympsonHetterDerivation(with_parameters(values), values if cuts else values[0],
                                       tuple(maxima), converged)

    for _ in range(int(max_rounds)):  # simulation rounds (each one vectorised)
        sim = simulate_cat(bank, with_parameters(k), theta=true, rng=gen)
        given = sim.items >= 0  # (simulees, positions)
        counts = np.zeros((n_classes, bank.n_items))
        np.add.at(counts, (np.broadcast_to(of_class[:, None], given.shape)[given],
                           sim.items[given]), 1.0)
        rates = counts / per_class[:, None]  # exposure within each class
        if not maxima:
            lengths = np.bincount(of_class, weights=sim.length, minlength=n_classes) / per_class
            floor = float(lengths.max()) / int(eligible.sum())
            if target < floor:
                raise InvalidParameterError(
                    f"target: no exposure control can keep every item below {target:g}: the "
                    f"items' exposure rates add up to the mean test length ({lengths.max():.2f}"
                    f"{' in a class' if cuts else ''}), so with {int(eligible.sum())} eligible "
                    f"items the largest is at least {floor:.3f}"
                )
        maxima.append(float(rates.max()))
        if maxima[-1] <= min(maxima):
            best = k
        if maxima[-1] <= target + tol:
            return result(k, True)
        if cuts:
            k = _conditional_update(k, sim, of_class, rates, aim, cuts)
        else:
            selected = rates / k
            k = np.where(selected > aim[:, None], aim[:, None] / np.maximum(selected, 1e-12), 1.0)
    warnings.warn(
        f"Sympson–Hetter: the largest exposure rate is {maxima[-1]:.3f} after {max_rounds} "
        f"rounds (target {target:g} + {tol:g}); returning the parameters of the best round",
        ConvergenceWarning, stacklevel=2)
    return result(best, False)


def _conditional_update(k: Array, sim: CatSimulation, of_class: NDArray[np.intp], rates: Array,
                        aim: Array, cuts: tuple[float, ...]) -> Array:
    """The next round's conditional parameters.

    A session takes the parameters of its *estimate's* class, while the rates are counted by
    the *true* class: item i given in estimate class e reaches the true classes c in shares
    :math:`A_{ice}` proportional to :math:`K_{ie}`. Each :math:`K_{ie}` is therefore scaled by
    the smallest :math:`\\text{aim}_c / P(A_i\\mid c)` over the true classes c it served (down
    where one is above the aim, up — to at most 1 — where all are below).
    """
    given = sim.items >= 0
    assert sim.path is not None  # simulate_cat records it
    at = np.searchsorted(cuts, sim.path[given], side="right")  # estimate class of each choice
    true = np.broadcast_to(of_class[:, None], given.shape)[given]
    served = np.zeros((k.shape[0], k.shape[0], k.shape[1]), dtype=bool)  # (true c, at e, item)
    served[true, at, sim.items[given]] = True
    ratio = aim[:, None] / np.maximum(rates, 1e-12)  # (c, item)
    factor = np.where(served, ratio[:, None, :], np.inf).min(axis=0)  # (e, item)
    return np.where(np.isfinite(factor), np.minimum(k * factor, 1.0), k)


def draw_per_class(mean: float, sd: float, cuts: ArrayLike, n: int,
                   rng: np.random.Generator | int | None = None) -> Array:
    """``n`` values in each class cut by ``cuts`` from :math:`N(\\text{mean}, \\text{sd}^2)`.

    Inverse-CDF sampling of the normal truncated to each class: :math:`\\theta = \\mu +
    \\sigma\\Phi^{-1}(u)`, :math:`u` uniform between the class edges' :math:`\\Phi` values.
    The simulees of a conditional derivation, when the population they stand for is not the
    bank's latent distribution (candidates of one position level, say).

    Returns
    -------
    ndarray, shape (n * (len(cuts) + 1),)
        Class by class, lowest first.
    """
    gen = as_rng(rng)
    edges = ndtr((np.concatenate([[-np.inf], np.atleast_1d(np.asarray(cuts, dtype=np.float64)),
                                  [np.inf]]) - mean) / sd)
    u = edges[:-1, None] + gen.random((edges.size - 1, int(n))) * np.diff(edges)[:, None]
    return (mean + sd * ndtri(np.clip(u, 1e-300, 1 - 1e-16))).ravel()


def _draw_per_class(bank: ItemBank, cuts: tuple[float, ...], n: int,
                    gen: np.random.Generator) -> Array:
    """``n`` true values in each class, from the bank's latent distribution cut to the class."""
    if bank.n_dims != 1:
        raise InvalidParameterError("classes: conditional Sympson–Hetter needs a bank of one factor")
    return draw_per_class(float(bank.latent.mean[0]), float(np.sqrt(bank.latent.cov[0, 0])),
                          cuts, n, gen)
