"""Prior distributions on item parameters, for Bayes-modal (penalised) MML estimation.

A prior adds its log-density to the M-step objective, so the estimate maximises
:math:`\\ell(\\psi) + \\sum \\log p(\\psi)`; standard errors then come from the curvature of that
log-posterior (as mirt's). Priors are given per parameter kind, in the names of docs/design.md §5:
``"a"`` (every slope), ``"d"`` (intercepts), ``"c"`` (lower asymptote, mirt's ``g``), ``"u"``
(upper asymptote).

Defaults (:data:`DEFAULT_PRIORS`, from :data:`DEFAULT_BY_KIND`): an estimated lower asymptote
(the 3PL's, the 4PL's) follows Beta(5, 17) — BILOG-MG's default for five-option items, mean
0.2 — and an estimated upper asymptote (the 4PL's) Beta(17, 5). Without
them the asymptotes of weakly informative items drift to the bounds and EM never settles (mirt's
SAT12 3PL fit stops at its cycle limit). Pass ``priors={}`` to estimate without any.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import betaln, logit

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.models import ItemModel, get_model, model_names

__all__ = ["DEFAULT_BY_KIND", "DEFAULT_PRIORS", "PRIOR_KINDS", "Beta", "LogNormal", "LogitNormal",
           "Normal", "Prior", "columns_for", "models_estimating", "parse_priors"]

Array = NDArray[np.float64]


class Prior:
    """A univariate prior: log-density and its first two derivatives, elementwise."""

    def logpdf(self, x: Array) -> Array:  # pragma: no cover - interface
        """Log-density at ``x`` (−inf outside the support)."""
        raise NotImplementedError

    def derivatives(self, x: Array) -> tuple[Array, Array]:  # pragma: no cover - interface
        """First and second derivatives of the log-density at ``x``."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Normal(Prior):
    """Normal prior :math:`N(\\mu, \\sigma^2)`, e.g. on intercepts."""

    mean: float = 0.0
    sd: float = 1.0

    def __post_init__(self) -> None:
        _positive(self.sd, "sd")

    def logpdf(self, x: Array) -> Array:
        """Log-density."""
        z = (x - self.mean) / self.sd
        return -0.5 * z**2 - np.log(self.sd) - 0.5 * np.log(2 * np.pi)

    def derivatives(self, x: Array) -> tuple[Array, Array]:
        """:math:`-(x-\\mu)/\\sigma^2` and :math:`-1/\\sigma^2`."""
        return -(x - self.mean) / self.sd**2, np.full_like(x, -1.0 / self.sd**2)


@dataclass(frozen=True, slots=True)
class LogNormal(Prior):
    """Log-normal prior on a slope's magnitude: :math:`\\log|a| \\sim N(\\mu, \\sigma^2)`.

    The density is mirt's ``lnorm`` for a > 0 and its mirror image for a < 0,
    :math:`\\log p(a) = \\log f(|a|)` with :math:`f` the log-normal density, so that a
    reverse-keyed item's negative slope is shrunk towards :math:`-e^{\\mu}` as a positive one is
    towards :math:`e^{\\mu}` (mirt's prior forbids it). Zero is outside the support.

    Examples
    --------
    >>> p = LogNormal(0.0, 0.5)
    >>> bool(p.logpdf(np.array([-1.3]))[0] == p.logpdf(np.array([1.3]))[0])
    True
    """

    meanlog: float = 0.0
    sdlog: float = 0.5

    def __post_init__(self) -> None:
        _positive(self.sdlog, "sdlog")

    def logpdf(self, x: Array) -> Array:
        """Log-density of :math:`|x|` (−inf at x = 0)."""
        m = np.abs(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            lx = np.log(m)
            out = -lx - np.log(self.sdlog) - 0.5 * np.log(2 * np.pi) - 0.5 * (
                (lx - self.meanlog) / self.sdlog) ** 2
        return np.where(m > 0, out, -np.inf)

    def derivatives(self, x: Array) -> tuple[Array, Array]:
        """:math:`-\\mathrm{sign}(x)(1 + r)/|x|` and :math:`(1 + r - 1/\\sigma^2)/x^2`.

        With :math:`r = (\\log|x| - \\mu)/\\sigma^2`: the derivatives of :math:`\\log f(|x|)`,
        the first odd and the second even in x.
        """
        s2 = self.sdlog**2
        m = np.maximum(np.abs(x), 1e-300)
        r = (np.log(m) - self.meanlog) / s2
        return -np.where(x < 0, -1.0, 1.0) * (1.0 + r) / m, (1.0 + r - 1.0 / s2) / m**2


@dataclass(frozen=True, slots=True)
class Beta(Prior):
    """Beta prior on a parameter in (0, 1) (asymptotes): density ∝ x^(α−1) (1−x)^(β−1)."""

    alpha: float = 5.0
    beta: float = 17.0

    def __post_init__(self) -> None:
        _positive(self.alpha, "alpha")
        _positive(self.beta, "beta")

    def logpdf(self, x: Array) -> Array:
        """Log-density (−inf outside (0, 1))."""
        with np.errstate(divide="ignore", invalid="ignore"):
            out = ((self.alpha - 1) * np.log(x) + (self.beta - 1) * np.log1p(-x)
                   - betaln(self.alpha, self.beta))
        return np.where((x > 0) & (x < 1), out, -np.inf)

    def derivatives(self, x: Array) -> tuple[Array, Array]:
        """:math:`(\\alpha-1)/x - (\\beta-1)/(1-x)` and :math:`-(\\alpha-1)/x^2 - (\\beta-1)/(1-x)^2`."""
        return ((self.alpha - 1) / x - (self.beta - 1) / (1 - x),
                -(self.alpha - 1) / x**2 - (self.beta - 1) / (1 - x) ** 2)


@dataclass(frozen=True, slots=True)
class LogitNormal(Prior):
    """Normal prior on the logit of a parameter in (0, 1) — mirt's ``norm`` prior on ``g``.

    The log-density is taken in the logit (mirt's internal scale): :math:`\\log p =
    \\log\\phi((\\mathrm{logit}\\,x - \\mu)/\\sigma)`, without the Jacobian.
    """

    mean: float = -1.1
    sd: float = 2.0

    def __post_init__(self) -> None:
        _positive(self.sd, "sd")

    def logpdf(self, x: Array) -> Array:
        """Log-density of the logit (−inf outside (0, 1))."""
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (logit(x) - self.mean) / self.sd
            out = -0.5 * z**2 - np.log(self.sd) - 0.5 * np.log(2 * np.pi)
        return np.where((x > 0) & (x < 1), out, -np.inf)

    def derivatives(self, x: Array) -> tuple[Array, Array]:
        """Chain rule through :math:`\\gamma = \\mathrm{logit}\\,x`, :math:`d\\gamma/dx = 1/(x(1-x))`."""
        g = logit(x)
        dg = 1.0 / (x * (1 - x))
        d2g = (2 * x - 1) / (x * (1 - x)) ** 2
        first = -(g - self.mean) / self.sd**2
        return first * dg, -(dg**2) / self.sd**2 + first * d2g


def _positive(value: float, name: str) -> None:
    if not (np.isfinite(value) and value > 0):
        raise InvalidParameterError(f"prior {name}: expected a positive number; got {value}")


#: the default prior of a parameter kind, for every model that estimates a parameter of that kind
DEFAULT_BY_KIND: dict[str, Prior] = {"c": Beta(5.0, 17.0), "u": Beta(17.0, 5.0)}

#: priors used unless the caller says otherwise, by model name and parameter kind (the models
#: whose declarations have an estimated parameter of a kind in :data:`DEFAULT_BY_KIND`)
DEFAULT_PRIORS: dict[str, dict[str, Prior]] = {
    name: chosen for name in model_names()
    if (chosen := {kind: prior for kind, prior in DEFAULT_BY_KIND.items()
                   if kind in get_model(name).PARAMETERS.prior_kinds()})
}


def columns_for(kind: str, model: ItemModel) -> list[int]:
    """Indices in ``model.param_names()`` that a prior of ``kind`` applies to.

    The columns whose declaration (:attr:`qabilet.engine.models.ItemModel.PARAMETERS`) names
    the prior kind: ``a`` the slopes ``a1 …``, ``d`` the intercepts ``d``/``d0 …``, ``c`` the
    lower asymptote ``g``, ``u`` the upper one.
    """
    if kind not in PRIOR_KINDS:
        *first, last = PRIOR_KINDS
        raise InvalidParameterError(f"priors: unknown parameter kind {kind!r}; expected "
                                    f"{', '.join(first)} or {last}")
    declared = model.PARAMETERS
    return [j for j, name in enumerate(model.param_names()) if declared.column(name).prior == kind]


# -- priors written as text (``a=lognormal(0,0.5)``), e.g. the command line's --prior ---------------
#: prior kinds (docs/design.md §5 names): what they are and the distributions that suit them
PRIOR_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "a": ("slopes", ("normal", "lognormal")),
    "d": ("intercepts", ("normal",)),
    "c": ("lower asymptotes", ("beta", "logitnormal")),
    "u": ("upper asymptotes", ("beta", "logitnormal")),
}


def models_estimating(kind: str) -> tuple[str, ...]:
    """The registered models with an estimated parameter of prior kind ``kind`` (declared)."""
    return tuple(name for name in model_names() if kind in get_model(name).PARAMETERS.prior_kinds())


#: distribution name -> (its class, its arguments, those that must be > 0)
_DISTRIBUTIONS: dict[str, tuple[type[Prior], tuple[str, ...], tuple[str, ...]]] = {
    "normal": (Normal, ("mean", "sd"), ("sd",)),
    "lognormal": (LogNormal, ("meanlog", "sdlog"), ("sdlog",)),
    "beta": (Beta, ("alpha", "beta"), ("alpha", "beta")),
    "logitnormal": (LogitNormal, ("mean", "sd"), ("sd",)),
}
_SYNTAX = re.compile(r"^\s*(?P<kind>\w+)\s*=\s*(?P<dist>\w+)\s*(?:\((?P<args>[^()]*)\))?\s*$")


def parse_priors(specs: Sequence[str], model: str, *, field: str = "prior"
                 ) -> dict[str, Prior] | None:
    """Priors written as text → the ``priors`` of :class:`qabilet.calibration.MML`.

    Each ``KIND=DIST(ARGS)`` replaces the default prior (:data:`DEFAULT_PRIORS`) of its kind,
    ``KIND=none`` drops it, ``none`` alone drops them all. Kinds: ``a`` (slopes), ``d``
    (intercepts), ``c``, ``u`` (asymptotes); distributions ``normal(mean,sd)``,
    ``lognormal(meanlog,sdlog)``, ``beta(alpha,beta)``, ``logitnormal(mean,sd)``.

    Parameters
    ----------
    specs : sequence of str
        The specifications.
    model : str
        The model of the calibrated items (a kind it does not estimate is refused).
    field : str
        The name of the specifications in error messages (the command line's ``--prior``).

    Returns
    -------
    dict or None
        None when ``specs`` is empty (the defaults), else the priors by kind.

    Raises
    ------
    InvalidParameterError
        Naming ``field``, the specification and what was expected.

    Examples
    --------
    >>> parse_priors(["a=lognormal(0,0.5)"], "3pl")
    {'c': Beta(alpha=5.0, beta=17.0), 'a': LogNormal(meanlog=0.0, sdlog=0.5)}
    """
    if not specs:
        return None
    if any(s.strip().lower() == "none" for s in specs):
        others = [s for s in specs if s.strip().lower() != "none"]
        if others:
            raise InvalidParameterError(f"{field} none means no priors at all; it cannot be "
                                        f"combined with {field} {others[0]!r}")
        return {}
    chosen: dict[str, Prior | None] = {}
    given: dict[str, str] = {}
    for spec in specs:
        kind, prior = _parse_one(spec, model, f"{field} {spec!r}")
        if kind in given:
            raise InvalidParameterError(f"{field} {spec!r}: a second prior on {kind}; {field} "
                                        f"{given[kind]!r} gave one already")
        given[kind] = spec
        chosen[kind] = prior
    merged: dict[str, Prior | None] = {**DEFAULT_PRIORS.get(model, {}), **chosen}
    return {kind: p for kind, p in merged.items() if p is not None}


def _parse_one(spec: str, model: str, where: str) -> tuple[str, Prior | None]:
    """One ``KIND=DIST(ARGS)`` → (kind, prior), None for ``KIND=none``."""
    match = _SYNTAX.match(spec)
    if match is None:
        raise InvalidParameterError(f"{where}: expected KIND=DISTRIBUTION(ARGS), e.g. "
                                    "a=lognormal(0,0.5), KIND=none, or none")
    kind, dist = match["kind"].lower(), match["dist"].lower()
    if kind not in PRIOR_KINDS:
        names = ", ".join(f"{k} ({what})" for k, (what, _) in PRIOR_KINDS.items())
        raise InvalidParameterError(f"{where}: unknown parameter kind {match['kind']!r}; "
                                    f"expected one of {names}")
    what, suits = PRIOR_KINDS[kind]
    models = models_estimating(kind)
    if model not in models:
        has = ", ".join(models)
        raise InvalidParameterError(f"{where}: {model} items have no estimated {what} ({kind}); "
                                    f"{has} have")
    if dist == "none" and match["args"] is None:
        return kind, None
    if dist not in _DISTRIBUTIONS:
        forms = ", ".join(f"{d}({','.join(args)})" for d, (_, args, _) in _DISTRIBUTIONS.items())
        raise InvalidParameterError(f"{where}: unknown distribution {match['dist']!r}; expected "
                                    f"one of {forms}, or none")
    cls, arg_names, positive = _DISTRIBUTIONS[dist]
    if dist not in suits:
        raise InvalidParameterError(f"{where}: a {dist} prior does not suit {what} ({kind}); use "
                                    f"{' or '.join(suits)}")
    cells = [] if match["args"] is None or not match["args"].strip() else [
        c.strip() for c in match["args"].split(",")]
    if len(cells) != len(arg_names):
        raise InvalidParameterError(f"{where}: {dist} takes {len(arg_names)} arguments "
                                    f"({', '.join(arg_names)}); got {len(cells)}")
    values = []
    for arg, cell in zip(arg_names, cells, strict=True):
        try:
            value = float(cell)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise InvalidParameterError(f"{where}: {arg} must be a finite number; got {cell!r}")
        if arg in positive and value <= 0:
            raise InvalidParameterError(f"{where}: {arg} must be positive; got {cell}")
        values.append(value)
    return kind, cls(*values)
