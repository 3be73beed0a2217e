"""Posterior moments of θ by hand, for graded-response items: the truth profiles are checked against.

Samejima's graded model in slope-intercept form, :math:`P(x \\ge k \\mid \\theta) = 1/(1 + e^{-(a\\theta +
d_k)})`, and :math:`P(x = k) = P(x \\ge k) - P(x \\ge k + 1)`; the posterior under the normal prior
:math:`N(\\mu, \\sigma^2)` integrated by adaptive quadrature (``scipy.integrate.quad``), not on the
engine's grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import integrate, stats

__all__ = ["grm_answer", "posterior_moments"]


def grm_answer(parameters, item_id: str, dimension_index: int, code: int) -> tuple[float, list[float], int]:
    """``(a, d, category)`` of a bank version's graded item answered with ``code`` (its recoding applied)."""
    record = next(i for i in parameters.items if i.id == item_id)
    a = record.a[dimension_index] if isinstance(record.a, list) else record.a
    category = list(record.categories).index(code) if record.categories else code
    return float(a), [float(v) for v in record.d], category


def _likelihood(theta: float, answers: Sequence[tuple[float, list[float], int]]) -> float:
    out = 1.0
    for a, d, k in answers:
        at_least = [1.0, *(1 / (1 + np.exp(-(a * theta + dk))) for dk in d), 0.0]
        out *= at_least[k] - at_least[k + 1]
    return out


def posterior_moments(answers: Sequence[tuple[float, list[float], int]], mean: float = 0.0,
                      var: float = 1.0) -> tuple[float, float]:
    """The posterior mean and SD of θ given the answers ``(a, d, category)``."""
    prior = stats.norm(mean, np.sqrt(var))
    lo, hi = mean - 10 * np.sqrt(var), mean + 10 * np.sqrt(var)
    moments = [integrate.quad(lambda t, p=p: t**p * prior.pdf(t) * _likelihood(t, answers), lo, hi,
                              epsabs=0, epsrel=1e-11, limit=200)[0] for p in (0, 1, 2)]
    m = moments[1] / moments[0]
    return m, float(np.sqrt(moments[2] / moments[0] - m * m))
