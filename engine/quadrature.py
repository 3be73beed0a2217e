"""Quadrature grids for integrating over the latent traits.

mirt's conventions, which its reference values in ``tests/data/mirt`` use: calibration on 61
equally spaced nodes on [−6, 6] and scoring on 121 nodes on [−6, 6], with weights proportional to
the latent density at the nodes and normalised to sum to 1 (a rectangle rule). Several dimensions
use the product grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.latent import LatentDistribution

__all__ = ["Grid", "equispaced_grid"]


@dataclass(frozen=True, slots=True, eq=False)
class Grid:
    """Quadrature nodes and the log-weights of the prior at them.

    Attributes
    ----------
    nodes : ndarray, shape (n_quad, n_dims)
        The points.
    log_weights : ndarray, shape (n_quad,)
        Log of the prior weights, normalised so that the weights sum to 1.
    """

    nodes: NDArray[np.float64]
    log_weights: NDArray[np.float64]

    @property
    def n_quad(self) -> int:
        """Number of nodes."""
        return int(self.nodes.shape[0])

    @property
    def weights(self) -> NDArray[np.float64]:
        """The prior weights."""
        return np.exp(self.log_weights)


def equispaced_grid(
    latent: LatentDistribution | None = None,
    n_points: int = 61,
    bounds: tuple[float, float] = (-6.0, 6.0),
) -> Grid:
    """An equally spaced (product) grid with normalised latent-density weights.

    Parameters
    ----------
    latent : LatentDistribution, optional
        The prior; N(0, 1) when omitted. Its number of dimensions sets the grid's.
    n_points : int
        Nodes per dimension (mirt: 61 to calibrate, 121 to score). The product grid has
        ``n_points ** n_dims`` nodes.
    bounds : (float, float)
        The same interval for every dimension.

    Returns
    -------
    Grid
        Weights :math:`w_q = \\phi(\\theta_q) / \\sum_r \\phi(\\theta_r)`.

    Examples
    --------
    >>> g = equispaced_grid(n_points=121)
    >>> g.nodes.shape, round(float(g.weights.sum()), 12)
    ((121, 1), 1.0)
    """
    latent = latent if latent is not None else LatentDistribution.standard(1)
    lo, hi = float(bounds[0]), float(bounds[1])
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise InvalidParameterError(
            f"bounds: expected finite (low, high) with low < high; got {bounds}"
        )
    if int(n_points) < 2:
        raise InvalidParameterError(f"n_points: expected at least 2; got {n_points}")
    d = latent.n_dims
    if int(n_points) ** d > 5_000_000:
        raise InvalidParameterError(
            f"n_points: a product grid of {n_points}^{d} nodes is too large; use fewer points "
            "per dimension"
        )
    axis = np.linspace(lo, hi, int(n_points))
    mesh = np.meshgrid(*([axis] * d), indexing="ij")
    nodes = np.stack([m.reshape(-1) for m in mesh], axis=1)
    log_w = latent.log_density(nodes)
    log_w = log_w - np.logaddexp.reduce(log_w)
    return Grid(nodes=nodes, log_weights=log_w)
