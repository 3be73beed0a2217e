"""Metropolis–Hastings Robbins–Monro estimation of confirmatory multidimensional item factor models.

Cai (2010a, *Psychometrika* 75:33–57; 2010b, *J. Educ. Behav. Stat.* 35:307–335). The marginal
likelihood's score is the posterior expectation of the complete-data score (Fisher's identity),

.. math:: \\partial_\\psi \\ell(\\psi) = \\sum_p E\\big[\\partial_\\psi \\log f(x_p, \\theta_p;\\psi)
          \\mid x_p\\big],

so instead of integrating over θ on a grid (exponential in the factors) or on quasi-Monte Carlo
points (whose importance weights degenerate as the factors grow), every cycle

1. **imputes** each person's θ by one or more random-walk Metropolis–Hastings steps whose target
   is the posterior :math:`p(\\theta\\mid x_p;\\psi) \\propto \\prod_i P_i(x_{pi}\\mid\\theta)
   \\,\\phi(\\theta; 0, R)` (the chains continue across cycles);
2. computes the complete-data score :math:`s` and information :math:`H` at the imputed θ —
   each item's a small generalised linear model in θ, the factors' correlation matrix that of a
   normal sample;
3. takes a **Robbins–Monro** step :math:`\\Gamma_k = \\Gamma_{k-1} + \\gamma_k(H_k -
   \\Gamma_{k-1})`, :math:`\\psi_{k+1} = \\psi_k + \\gamma_k\\Gamma_k^{-1}s_k`.

The gains follow Cai's three stages: constant gains 1 while the chains burn in (stage 1) and
while the estimates' average is taken (stage 2, whose mean starts stage 3), then decreasing gains
:math:`\\gamma_k = (0.1/k)^{0.75}` (mirt's default gains) until no parameter moves more than the
tolerance for three cycles in a row (stage 3). The cost of a cycle grows with persons × items,
not with the number of quadrature points, so nine correlated factors cost little more than five.

Standard errors come from the observed information by Louis' (1982) identity, its expectations
taken over posterior draws: :math:`I = \\sum_p \\{E[-\\partial^2 \\log f_p] -
\\mathrm{Cov}[\\partial\\log f_p]\\}`. The log-likelihood is estimated by importance sampling
around each person's posterior mode, with a Laplace (normal) proposal on quasi-Monte Carlo points
(:func:`importance_loglik`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import logsumexp, ndtri
from scipy.stats import qmc

from qabilet.calibration._design import BlockDesign
from qabilet.calibration.priors import Prior
from qabilet.engine._parallel import n_workers, run_blocks
from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.models import ItemModel
from qabilet.engine.models._base import Codes

if TYPE_CHECKING:  # the estimator's state of one fit (mml imports this module)
    from qabilet.calibration.mml import _Run

Array = NDArray[np.float64]

#: acceptance rate each factor's proposal scale is tuned to (a one-dimensional random walk's
#: optimum, Gelman, Roberts & Gilks 1996)
_TARGET_ACCEPTANCE = 0.44
_WARM_UP = 20  # MH moves of the chains before the first step
_GAIN_SCALE = 0.1  # stage 3's gains (0.1 / k)^0.75, mirt's default
_FISHER_PERSONS = 250  # persons drawn for the gain matrix
_FISHER_EVERY = 5  # cycles between its updates after burning in
_HESSIAN_DRAWS = 2  # posterior draws for the expected complete-data Hessian
_IS_DOF = 4.0  # degrees of freedom of the importance proposal (a multivariate t)
_IS_WIDTH = 1.2  # its scale over the Laplace approximation's
_IS_ROWS = 4_000_000  # person × point × item cells per block of the importance sampler


@dataclass
class _Block:
    """One model block of the fit: its items' data, design and priors."""

    template: ItemModel
    positions: NDArray[np.intp]
    design: BlockDesign
    priors: list[tuple[list[int], Prior]]
    x: Codes  # (N, I_b) category codes (0 where missing)
    observed: NDArray[np.bool_]  # (N, I_b)


@dataclass
class _Group:
    """The items of one block that load on the same factors, as a model of those only."""

    block: int  # position in the run's blocks
    rows: NDArray[np.intp]  # rows of the block
    keep: NDArray[np.intp]  # the block's parameter columns the reduced model keeps
    factors: NDArray[np.intp]  # the factors the items load on
    template: ItemModel  # the reduced model (its parameters replaced each cycle)
    design: BlockDesign  # the reduced design: indices into φ
    priors: list[tuple[list[int], Prior]]
    onehot: Array  # (N, I_g, K) the observed category, 0 where missing
    x: Codes  # (N, I_g) category codes
    observed: NDArray[np.bool_]  # (N, I_g)


class MHRM:
    """The state of one MH-RM fit over a prepared :class:`~qabilet.calibration.mml._Run`.

    Parameters
    ----------
    run : _Run
        The estimator's prepared fit (data, blocks, designs, priors, correlated latent).
    seed : int
        Seed of the sampler (a fit is reproducible).
    """

    def __init__(self, run: _Run, seed: int) -> None:
        self.run = run
        self.rng = np.random.default_rng(seed)
        x, observed = run._resp.x, run._resp.observed
        self.n_persons, self.n_dims = x.shape[0], run._n_dims
        self.n_phi = run._phi0.size
        self.latent = run._latents
        self.blocks: list[_Block] = []
        self.groups: list[_Group] = []
        d = self.n_dims
        for b, (template, pos, design) in enumerate(zip(run._templates, run._positions,
                                                        run._designs)):
            if design.tied:
                raise InvalidParameterError(
                    f"method 'mhrm': model {template.name!r} shares parameters across items; "
                    "use method 'em'")
            names = template.param_names()
            if names[:d] != tuple(f"a{r + 1}" for r in range(d)):
                raise InvalidParameterError(
                    f"method 'mhrm': model {template.name!r} has no slope per factor")
            x_b = x[:, pos].astype(np.intp)
            obs_b = observed[:, pos]
            self.blocks.append(_Block(template, pos, design, run._block_priors[b], x_b, obs_b))
            pattern = run._loadings[pos]
            for factors in np.unique(pattern, axis=0):
                rows = np.flatnonzero((pattern == factors).all(axis=1))
                cols = np.flatnonzero(factors)
                keep = np.concatenate([cols, np.arange(d, len(names))])
                reduced = template.subset(rows).on_factors(cols)
                onehot = np.zeros((x.shape[0], rows.size, reduced.max_categories))
                np.put_along_axis(onehot, x_b[:, rows, None], 1.0, axis=-1)
                onehot *= obs_b[:, rows, None]
                self.groups.append(_Group(
                    block=b, rows=rows, keep=keep, factors=cols, template=reduced,
                    design=BlockDesign(design.index[rows][:, keep], False,
                                       design.logit_cols[keep]),
                    priors=run._priors_for(reduced), onehot=onehot, x=x_b[:, rows],
                    observed=obs_b[:, rows]))
        self.theta = self._start_theta()
        self.scale = np.ones(self.n_dims)  # each factor's proposal SD, tuned while burning in
        self.accepted = np.zeros(self.n_dims)
        self.by_factor = [[g for g, group in enumerate(self.groups) if f in group.factors]
                          for f in range(self.n_dims)]
        self.fisher_persons = min(self.n_persons, _FISHER_PERSONS)

    def start_from_margins(self, phi: Array) -> Array:
        """Start values from one-factor fits.

        Start values from one-factor fits: φ with each factor's items and the correlations
        replaced where they can be.

        In a simple-structure model the items of one factor have exactly the one-factor
        marginal model (the other factors integrate out), so EM on a 61-point grid per factor
        gives consistent estimates of their parameters at little cost. The correlations start
        at the EAP scores' covariances over the products of their variances — with
        :math:`\\hat\\theta_f \\approx r_f\\theta_f + e_f` (:math:`r_f` the reliability),
        :math:`\\mathrm{Cov}(\\hat\\theta_f, \\hat\\theta_g) \\approx r_fr_g\\rho_{fg}` and
        :math:`\\mathrm{Var}\\,\\hat\\theta_f \\approx r_f` — made positive definite. The
        chains then start near the estimates, where burning in is short.
        """
        import warnings

        from qabilet.calibration.mml import MML
        from qabilet.engine.exceptions import ConvergenceWarning
        from qabilet.engine.scoring import eap

        run = self.run
        out = phi.copy()
        loadings = run._loadings
        scores = np.zeros((self.n_persons, self.n_dims))
        done = np.zeros(self.n_dims, dtype=bool)
        resp = run._resp
        for f in range(self.n_dims):
            only = np.flatnonzero(loadings[:, f] & (loadings.sum(axis=1) == 1))
            if only.size < 2:
                continue
            names = {run._ids[i]: run._model_names[i] for i in only}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                fit = MML(model=names, compute_se=False, tol=1e-4, priors=run.priors).fit(
                    resp.x[:, only], resp.observed[:, only], item_ids=list(names))
            for model, pos in zip(fit.bank.models, fit.bank.positions):
                psi = model.param_vector()  # [a1, rest…] for one factor
                for row, item in zip(psi, only[pos]):
                    block, within = run._block_of[item]
                    design = run._designs[block]
                    index = design.index[within]
                    full = run._templates[block].param_vector()[within].copy()
                    full[f], full[self.n_dims:] = row[0], row[1:]
                    full[design.logit_cols] = _logit(full[design.logit_cols])
                    keep = index >= 0
                    out[index[keep]] = full[keep]
            scores[:, f] = eap(fit.bank, resp.x[:, only], resp.observed[:, only]).theta
            done[f] = True
        lat = self.latent
        if lat.n_free and done.sum() >= 2:
            cov = np.cov(scores, rowvar=False)
            var = np.diag(cov).copy()
            corr = np.eye(self.n_dims)
            both = np.outer(done, done) & ~np.eye(self.n_dims, dtype=bool)
            corr[both] = np.clip((cov / np.outer(var, var))[both], -0.9, 0.9)
            values, vectors = np.linalg.eigh(corr)
            corr = (vectors * np.maximum(values, 0.05)) @ vectors.T
            scale = np.sqrt(np.diag(corr))
            chol = np.linalg.cholesky(corr / np.outer(scale, scale))
            out[lat.slots] = (chol / np.diag(chol)[:, None])[lat.tril]
        return out

    # -- the model at φ ------------------------------------------------------------------------
    def models(self, phi: Array) -> list[ItemModel]:
        """The blocks' models at φ."""
        return self.run._models_of(phi)

    def _correlation(self, phi: Array) -> Array:
        return self.latent.correlation(phi[self.latent.slots])

    def _start_theta(self) -> Array:
        """Standardised mean scores of each factor's items (by their start slopes' signs)."""
        theta = np.zeros((self.n_persons, self.n_dims))
        count = np.zeros(self.n_dims)
        for block in self.blocks:
            t = block.template
            width = np.maximum(t.n_categories - 1, 1)
            score = np.where(block.observed, block.x / width - 0.5, 0.0)
            signs = np.sign(t.slopes) * self.run._loadings[block.positions]
            theta += score @ signs
            count += np.abs(signs).sum(axis=0)
        theta -= theta.mean(axis=0)
        spread = theta.std(axis=0)
        return theta / np.where(spread > 0, spread, 1.0)

    def _rows(self, start: int, stop: int) -> slice | NDArray[np.intp]:
        """The persons of rows ``start:stop`` of a θ array.

        The persons of rows ``start:stop`` of a θ array with several rows per person (row r
        is person ``r % n_persons``): a slice when they are in order.
        """
        n = self.n_persons
        if start // n == (stop - 1) // n:
            base = (start // n) * n
            return slice(start - base, stop - base)
        return np.arange(start, stop) % n

    def _in_chunks(self, work: Callable[[int, int], None], n_rows: int) -> None:
        """``work(start, stop)`` over blocks of rows, in parallel threads (engine._parallel)."""
        run_blocks(work, n_rows, max(256, -(-n_rows // (2 * n_workers()))))

    def group_loglik(self, models: list[ItemModel], theta: Array
                     ) -> tuple[Array, list[NDArray[np.bool_]]]:
        """Each group's log-likelihood per person, and per block the items out of their domain.

        Returns :math:`\\sum_{i\\in g} o_{pi}\\log P_i(x_{pi}\\mid\\theta_p)`, shape
        (n_groups, n_persons), and per block a mask of the items whose terms are not finite.
        """
        out = np.zeros((len(self.groups), theta.shape[0]))
        bad = [np.zeros(m.n_items, dtype=bool) for m in models]
        reduced = self._group_models(models)

        def work(start: int, stop: int) -> None:
            for g, (group, model) in enumerate(zip(self.groups, reduced)):
                lp = _observed_terms(model, theta[start:stop, group.factors],
                                     group.x[start:stop], group.observed[start:stop])
                finite = np.isfinite(lp)
                bad[group.block][group.rows] |= ~finite.all(axis=0)  # flags set, never cleared
                out[g, start:stop] = np.where(finite, lp, -np.inf).sum(axis=1)

        self._in_chunks(work, theta.shape[0])
        return out, bad

    # -- imputation ---------------------------------------------------------------------------
    @staticmethod
    def _log_prior(theta: Array, inv_r: Array) -> Array:
        return -0.5 * np.einsum("pi,ij,pj->p", theta, inv_r, theta)

    def sample(self, models: list[ItemModel], inv_r: Array, ll: Array, sweeps: int) -> Array:
        """``sweeps`` Metropolis-within-Gibbs sweeps over the factors of every person's θ.

        Factor f's proposal is :math:`\\theta^*_f = \\theta_f + c_f\\,\\varepsilon`,
        :math:`\\varepsilon \\sim N(0, 1)`, accepted with probability :math:`\\min(1,
        p(\\theta^*\\mid x)/p(\\theta\\mid x))`; only the items loading on f are evaluated, so a
        sweep costs one evaluation of every item, and each one-dimensional move can be long
        (Cai 2010a proposes all factors at once; one factor at a time mixes better at the same
        cost in simple structure). ``ll`` is :meth:`group_loglik`'s at the current θ; returns it
        at the new θ, and sets :attr:`accepted` per factor.
        """
        theta = self.theta
        reduced = self._group_models(models)
        accepted = np.zeros(self.n_dims)
        for _ in range(sweeps):
            for f in range(self.n_dims):
                groups = self.by_factor[f]
                if not groups:
                    continue
                delta = self.scale[f] * self.rng.standard_normal(theta.shape[0])
                # the prior's change: −½(2δ(R⁻¹θ)_f + δ²R⁻¹_ff)
                change = -(delta * (theta @ inv_r[:, f]) + 0.5 * delta**2 * inv_r[f, f])
                proposal = theta.copy()
                proposal[:, f] += delta
                new = np.empty((len(groups), theta.shape[0]))

                def work(start: int, stop: int, groups: list[int] = groups,
                         proposal: Array = proposal, new: Array = new) -> None:
                    for k, g in enumerate(groups):
                        group = self.groups[g]
                        new[k, start:stop] = _observed_loglik(
                            reduced[g], proposal[start:stop, group.factors],
                            group.x[start:stop], group.observed[start:stop])

                self._in_chunks(work, theta.shape[0])
                change += new.sum(axis=0) - ll[groups].sum(axis=0)
                with np.errstate(invalid="ignore"):
                    take = np.log(self.rng.random(theta.shape[0])) < change
                theta[take, f] = proposal[take, f]
                ll[np.ix_(np.asarray(groups, dtype=np.intp), np.flatnonzero(take))] = new[:, take]
                accepted[f] += take.mean()
        self.accepted = accepted / max(sweeps, 1)
        return ll

    # -- complete-data score and information ----------------------------------------------------
    def _dcorrelation(self, phi: Array, h: float = 1e-6) -> Array:
        """∂R/∂λ_j for every free correlation parameter.

        ∂R/∂λ_j for every free correlation parameter, (n_free, d, d), by central differences
        of the small matrix map.
        """
        lat = self.latent
        p = phi[lat.slots]
        out = np.empty((lat.n_free, self.n_dims, self.n_dims))
        for j in range(lat.n_free):  # a d × d map per parameter (cheap)
            e = np.zeros(lat.n_free)
            e[j] = h
            out[j] = (lat.correlation(p + e) - lat.correlation(p - e)) / (2 * h)
        return out

    def latent_score(self, phi: Array, scatter: Array, n: float) -> Array:
        """Score of the latent part.

        Score of :math:`\\sum_p\\log\\phi(\\theta_p; 0, R(\\lambda))` from :math:`T =
        \\sum_p\\theta_p\\theta_p^\\top` (``scatter``) and the number of rows ``n``.

        :math:`\\partial/\\partial\\lambda_j = \\tfrac12\\mathrm{tr}\\big((R^{-1}TR^{-1} -
        nR^{-1})\\dot R_j\\big)` (Anderson 2003, §3.2).
        """
        if not self.latent.n_free:
            return np.zeros(0)
        inv_r = _inverse(self._correlation(phi))
        g_r = 0.5 * (inv_r @ scatter @ inv_r - n * inv_r)
        return np.asarray(np.einsum("ij,kij->k", g_r, self._dcorrelation(phi)), dtype=np.float64)

    def latent_information(self, phi: Array, n: float) -> Array:
        """Expected information :math:`\\tfrac n2\\mathrm{tr}(R^{-1}\\dot R_jR^{-1}\\dot R_k)`."""
        inv_r = _inverse(self._correlation(phi))
        a = np.einsum("ij,kjl->kil", inv_r, self._dcorrelation(phi))
        return np.asarray(0.5 * n * np.einsum("kij,lji->kl", a, a), dtype=np.float64)

    def latent_person_scores(self, phi: Array, theta: Array) -> Array:
        """Per-row scores of the latent part.

        Per-row scores :math:`\\tfrac12(u^\\top\\dot R_ju - \\mathrm{tr}\\,R^{-1}\\dot R_j)`,
        :math:`u = R^{-1}\\theta`; shape (n, n_free).
        """
        inv_r = _inverse(self._correlation(phi))
        d_r = self._dcorrelation(phi)
        u = theta @ inv_r
        trace = np.einsum("ij,kji->k", inv_r, d_r)
        out = 0.5 * (np.einsum("pi,kij,pj->pk", u, d_r, u) - trace[None, :])
        return np.asarray(out, dtype=np.float64)

    @staticmethod
    def _block_terms(block: _Block, model: ItemModel, theta: Array,
                     rows: slice | NDArray[np.intp]) -> tuple[Array, Array]:
        """The observed category's derivatives for the persons ``rows``.

        For the persons ``rows`` at ``theta`` (one row each): the observed category's ∂/∂s
        (n, I) and ∂/∂(the rest) (n, I, P − D), zero where unobserved.
        """
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            _, ds, rest = model.observed_terms(theta @ model.slopes.T, block.x[rows])
        o = block.observed[rows]
        rest *= o[..., None]
        return np.where(o, ds, 0.0), rest

    def item_score(self, models: list[ItemModel], theta: Array, weight: float = 1.0) -> Array:
        """Complete-data score of the items at the imputed θ (priors included), in φ's layout.

        Models with closed-form observed terms (:attr:`ItemModel.HAS_OBSERVED_TERMS`): the
        slopes' :math:`\\sum_p \\partial_s\\log P_i(x_{pi})\\,\\theta_p` and the rest's sums
        over persons; others through each group's :func:`~qabilet.calibration.mml._block_score`.
        ``theta`` may stack several draws per person; ``weight`` scales the data terms
        (``1/M`` over M draws).
        """
        from qabilet.calibration.mml import _block_score, _prior_share, _scale_jacobian

        fast = [b for b, m in enumerate(models) if m.HAS_OBSERVED_TERMS]
        parts: dict[int, list[Array]] = {}

        def work(start: int, stop: int) -> None:
            rows, t = self._rows(start, stop), theta[start:stop]
            sums = []
            for b in fast:
                ds, rest = self._block_terms(self.blocks[b], models[b], t, rows)
                sums.append(np.concatenate([ds.T @ t, rest.sum(axis=0)], axis=1))
            parts[start] = sums

        self._in_chunks(work, theta.shape[0])
        grad = np.zeros(self.n_phi)
        for j, b in enumerate(fast):
            block, model = self.blocks[b], models[b]
            g: Array = weight * np.sum([parts[start][j] for start in sorted(parts)], axis=0)
            psi = model.param_vector()
            share = _prior_share(block.design, model.n_items)
            for cols, prior in block.priors:
                d1, _ = prior.derivatives(psi[:, cols])
                g[:, cols] += d1 * share[:, cols]
            g *= _scale_jacobian(psi, block.design)
            free = block.design.free
            grad[block.design.index[free]] += g[free]
        if len(fast) < len(models):
            reps = theta.shape[0] // self.n_persons
            for group, model in zip(self.groups, self._group_models(models)):
                if group.block not in fast:
                    g_i, _ = _block_score(model, group.design, group.priors,
                                          _tiled(group.onehot, reps) * weight,
                                          theta[:, group.factors])
                    free = group.design.free
                    grad[group.design.index[free]] += g_i[free]
        return grad

    def _group_models(self, models: list[ItemModel]) -> list[ItemModel]:
        return [models[g.block].subset(g.rows).on_factors(g.factors) for g in self.groups]

    def item_fisher(self, models: list[ItemModel], persons: NDArray[np.intp]) -> Array:
        """Expected complete-data information of the items (the gain matrix).

        Expected complete-data information of the items at the imputed θ of ``persons``,
        scaled to all persons (the Robbins–Monro gain matrix; a subsample suffices for it).
        """
        from qabilet.calibration.mml import _block_score

        info = np.zeros((self.n_phi, self.n_phi))
        scale = self.n_persons / persons.size
        theta = self.theta[persons]
        for group, model in zip(self.groups, self._group_models(models)):
            _, f_i = _block_score(model, group.design, group.priors, group.onehot[persons],
                                  theta[:, group.factors])
            free = group.design.free
            i3, r, c = np.nonzero(free[:, :, None] & free[:, None, :])
            np.add.at(info, (group.design.index[i3, r], group.design.index[i3, c]),
                      scale * f_i[i3, r, c])
        return info

    # -- the three stages ------------------------------------------------------------------------
    def run_cycles(self, phi: Array, *, burn_in: int, average: int, max_cycles: int, tol: float,
                   gain_exponent: float, mh_steps: int,
                   report: Callable[[int, float, float], None] | None = None
                   ) -> tuple[Array, int, bool]:
        """Stages 1–3; returns φ, the number of cycles and whether stage 3 converged."""
        models = self.models(phi)
        ll, _ = self.group_loglik(models, self.theta)
        inv_r = _inverse(self._correlation(phi))
        for _ in range(_WARM_UP):  # the chains leave their start before any step is taken
            ll = self.sample(models, inv_r, ll, 1)
            self._tune()
        slots = self.latent.slots
        gamma_mat = np.eye(self.n_phi)
        mean_phi = np.zeros_like(phi)
        cycle, stable, stage3, converged = 0, 0, 0, False
        while cycle < max_cycles:
            cycle += 1
            stage = 1 if cycle <= burn_in else 2 if cycle <= burn_in + average else 3
            ll = self.sample(models, inv_r, ll, mh_steps)
            if stage < 3:
                self._tune()
            grad = self.item_score(models, self.theta)
            if slots.size:
                grad[slots] += self.latent_score(phi, self.theta.T @ self.theta, self.n_persons)
            if stage == 1 or cycle % _FISHER_EVERY == 0:  # the gain matrix changes slowly
                persons = self.rng.choice(self.n_persons, self.fisher_persons, replace=False)
                info = self.item_fisher(models, persons)
                if slots.size:
                    info[np.ix_(slots, slots)] += self.latent_information(phi, self.n_persons)
                if stage < 3:
                    gamma_mat = info if stage == 1 else gamma_mat + (info - gamma_mat) / 2
            if stage < 3:
                gain = 1.0
            else:
                stage3 += 1
                gain = (_GAIN_SCALE / stage3) ** gain_exponent
                if cycle % _FISHER_EVERY == 0:
                    gamma_mat = gamma_mat + gain * (info - gamma_mat)
            new, models, ll = self._take(phi, gain * _solve(gamma_mat, grad), models, ll)
            change = float(np.max(np.abs(new - phi)))
            phi = new
            if stage == 2:
                mean_phi += phi / average
                if cycle == burn_in + average:  # stage 3 starts from stage 2's mean
                    phi = mean_phi
                    models = self.models(phi)
                    ll, _ = self.group_loglik(models, self.theta)
            inv_r = _inverse(self._correlation(phi))
            if report is not None:
                report(cycle, float(ll.sum()), change)
            if stage == 3:
                stable = stable + 1 if change < tol else 0
                if stable >= 3:
                    converged = True
                    break
        return phi, cycle, converged

    def _tune(self) -> None:
        """Move each factor's proposal scale towards the target acceptance rate."""
        self.scale *= np.exp(self.accepted - _TARGET_ACCEPTANCE)

    def _take(self, phi: Array, step: Array, models: list[ItemModel], ll: Array
              ) -> tuple[Array, list[ItemModel], Array]:
        """φ + step, halving the step of any item it would take outside its domain."""
        new = phi + step
        for _ in range(30):
            trial = self.models(new)
            ll_new, bad = self.group_loglik(trial, self.theta)
            if not any(b.any() for b in bad):
                return new, trial, ll_new
            for block, b in zip(self.blocks, bad):
                index = block.design.index[b]
                index = index[index >= 0]
                new[index] = phi[index] + 0.5 * (new[index] - phi[index])
        return phi, models, ll

    # -- after convergence ------------------------------------------------------------------------
    def draws(self, phi: Array, n_draws: int, thin: int) -> Array:
        """Posterior draws of every person's θ at φ.

        ``n_draws`` posterior draws of every person's θ at φ, ``thin`` MH moves apart:
        shape (n_draws × n_persons, n_dims), draw-major.
        """
        models = self.models(phi)
        ll, _ = self.group_loglik(models, self.theta)
        inv_r = _inverse(self._correlation(phi))
        out = np.empty((n_draws, self.n_persons, self.n_dims))
        for m in range(n_draws):
            ll = self.sample(models, inv_r, ll, thin)
            out[m] = self.theta
        return out.reshape(-1, self.n_dims)

    def information(self, phi: Array, stacked: Array, h: float = 1e-5) -> tuple[Array, Array]:
        """Observed information of ℓ + log prior by Louis' identity over posterior draws, and J.

        :math:`I = E[-\\partial^2\\log f] - \\sum_p\\mathrm{Cov}_p[\\partial\\log f_p]`, the
        expectations over the M draws of ``stacked`` (draw-major): the first by central
        differences of the draws' mean score (:meth:`item_score` with weight 1/M; one
        perturbation per free entry of each item at once — the r-th free entry of every item
        together, so an item's Hessian column is read off its own score — and the latent
        parameters' score at :math:`T` held fixed); the second from the persons' score vectors
        at every draw, :math:`\\frac{1}{M-1}(\\sum_m S_m^\\top S_m - M\\bar S^\\top\\bar S)`.
        ``J`` :math:`= \\bar S^\\top\\bar S` (the sandwich's middle). Louis, T. A. (1982), JRSS-B
        44:226–233.
        """
        n_draws = stacked.shape[0] // self.n_persons
        k = self.n_phi
        info = np.zeros((k, k))
        # E[−∂²] over the first draws (a sum over every person: little Monte Carlo error),
        # the r-th free entry of every item perturbed together
        few = min(n_draws, _HESSIAN_DRAWS)
        first = stacked[: few * self.n_persons]
        for block in self.blocks:
            free = block.design.free
            order = np.cumsum(free, axis=1) - 1  # rank of each free entry within its item
            for r in range(int(free.sum(axis=1).max(initial=0))):
                items, cols = np.nonzero(free & (order == r))
                columns = []
                for sign in (1.0, -1.0):
                    shifted = phi.copy()
                    shifted[block.design.index[items, cols]] += sign * h
                    columns.append(self.item_score(self.models(shifted), first, 1.0 / few))
                column = (columns[0] - columns[1]) / (2 * h)
                own = free[items]  # each item's own entries: its block of the Hessian
                rows = block.design.index[items][own]
                at = np.repeat(block.design.index[items, cols], own.sum(axis=1))
                info[rows, at] -= column[rows]
        weight = 1.0 / n_draws
        slots = self.latent.slots
        if slots.size:
            scatter = weight * (stacked.T @ stacked)
            for slot in slots:
                e = np.zeros(k)
                e[slot] = h
                up = self.latent_score(phi + e, scatter, self.n_persons)
                down = self.latent_score(phi - e, scatter, self.n_persons)
                info[slots, slot] -= (up - down) / (2 * h)
        # Σ_p Cov_p: the persons' complete-data score vectors at each draw
        where, layout = self._score_layout()
        models = self.models(phi)
        total = np.zeros((self.n_persons, where.size))
        products = np.zeros((where.size, where.size))
        for m in range(n_draws):
            theta = stacked[m * self.n_persons:(m + 1) * self.n_persons]
            scores = self._person_scores(phi, models, theta, layout)
            total += scores
            products += scores.T @ scores
        mean = total / n_draws
        outer = mean.T @ mean
        cov = (products - n_draws * outer) / max(n_draws - 1, 1)
        cells = (where[:, None], where[None, :])
        np.subtract.at(info, cells, cov)
        outer_phi = np.zeros((k, k))
        np.add.at(outer_phi, cells, outer)
        return (info + info.T) / 2.0, outer_phi

    def _score_layout(self) -> tuple[NDArray[np.intp], list[tuple[NDArray[np.intp], ...]]]:
        """Where each score column sits in φ.

        φ index of each score column, and per block (items, parameter columns) of its free
        entries with their score columns.
        """
        where: list[NDArray[np.intp]] = []
        columns: list[tuple[NDArray[np.intp], ...]] = []
        start = 0
        for block in self.blocks:
            items, cols = np.nonzero(block.design.free)
            columns.append((items, cols, np.arange(start, start + items.size)))
            where.append(block.design.index[items, cols])
            start += items.size
        where.append(self.latent.slots)
        return np.concatenate(where).astype(np.intp), columns

    def _person_scores(self, phi: Array, models: list[ItemModel], theta: Array,
                       columns: list[tuple[NDArray[np.intp], ...]]) -> Array:
        """Each person's complete-data score at one draw, (N, n_scores), on φ's scale."""
        from qabilet.calibration.mml import _scale_jacobian

        n_scores = sum(c[2].size for c in columns) + self.latent.n_free
        out = np.zeros((self.n_persons, n_scores))
        d = self.n_dims
        jacs = [_scale_jacobian(m.param_vector(), b.design) for b, m in zip(self.blocks, models)]

        def work(start: int, stop: int) -> None:
            rows, t = slice(start, stop), theta[start:stop]
            for block, model, (items, cols, at), jac in zip(self.blocks, models, columns, jacs):
                if model.HAS_OBSERVED_TERMS:
                    ds, rest = self._block_terms(block, model, t, rows)
                    slope = cols < d
                    out[rows, at[slope]] = ds[:, items[slope]] * t[:, cols[slope]]
                    out[rows, at[~slope]] = rest[:, items[~slope], cols[~slope] - d]
                else:
                    grad = model.dlog_prob_dparams(t)  # (n, I, K, P)
                    picked = np.take_along_axis(grad, block.x[rows, :, None, None], axis=2)
                    picked = picked[:, :, 0] * block.observed[rows, :, None]
                    out[rows, at] = picked[:, items, cols]
                out[rows, at] *= jac[items, cols]

        self._in_chunks(work, self.n_persons)
        if self.latent.n_free:
            out[:, n_scores - self.latent.n_free:] = self.latent_person_scores(phi, theta)
        return out

    def loglik(self, phi: Array, n_points: int) -> tuple[float, float]:
        """The marginal log-likelihood at φ and its Monte Carlo SE (:func:`importance_loglik`)."""
        resp = self.run._resp
        return importance_loglik(self.run._bank_of(phi), resp.x, resp.observed, n_points)


def importance_loglik(bank: ItemBank, x: NDArray[np.integer[Any]], observed: NDArray[np.bool_],
                      n_points: int = 256, seed: int = 7) -> tuple[float, float]:
    """The marginal log-likelihood of a multidimensional bank by importance sampling.

    Each person's proposal is a multivariate t (:data:`_IS_DOF` degrees of freedom) around the
    Laplace approximation of their posterior: centred at the posterior mode
    :math:`\\hat\\theta_p`, scaled by :data:`_IS_WIDTH` times the inverse posterior information
    there (:func:`qabilet.engine.scoring.maximum_a_posteriori`), on ``n_points`` scrambled Sobol
    points that each person's own random shift rotates (:func:`shifted_t`: shared points made
    every person's error the same, −0.007 each on 3,000 persons, where shifted ones average out):

    .. math:: \\hat\\ell = \\sum_p \\log \\frac1Q\\sum_q w_{pq}, \\qquad
              w_{pq} = \\frac{\\prod_i P_i(x_{pi}\\mid\\theta_{pq})^{o_{pi}}\\,
              \\phi(\\theta_{pq};\\mu_0,\\Sigma_0)}{q_p(\\theta_{pq})}

    (Cai 2010b, §4; mirt estimates its MH-RM log-likelihood by importance sampling too, and
    reports its Monte Carlo standard error).

    Parameters
    ----------
    bank : ItemBank
        Items and their latent distribution :math:`N(\\mu_0, \\Sigma_0)`.
    x, observed : ndarray, shape (n_persons, n_items)
        Category codes 0..K−1 (any valid one where unobserved) and the observed mask.
    n_points : int
        Points per person (rounded up to a power of two).
    seed : int
        The points' scrambling and the persons' shifts.

    Returns
    -------
    loglik : float
    se : float
        Its Monte Carlo standard error by the delta method,
        :math:`\\sqrt{\\sum_p \\widehat{\\mathrm{Var}}(w_p)/(Q\\bar w_p^2)}` (the points
        are randomised quasi-random ones, so it is conservative).
    """
    from qabilet.engine.scoring import maximum_a_posteriori

    latent = bank.latent
    d = bank.n_dims
    mean, cov = np.asarray(latent.mean, dtype=np.float64), np.asarray(latent.cov, dtype=np.float64)
    inv_cov = np.linalg.inv(cov)
    _, logdet = np.linalg.slogdet(cov)
    mode = maximum_a_posteriori(bank, x, observed, prior=latent)
    spread = np.linalg.cholesky(np.asarray(mode.cov, dtype=np.float64))  # (n, d, d)
    m = int(np.log2(sobol_points(n_points)))
    base = qmc.Sobol(d=d + 1, scramble=True, seed=seed).random_base2(m)
    shifts = np.random.default_rng(seed).random((x.shape[0], d + 1))
    q = base.shape[0]
    n = x.shape[0]
    parts: dict[int, tuple[float, float]] = {}

    def work(start: int, stop: int) -> None:
        rows = slice(start, stop)
        chol = spread[rows] * _IS_WIDTH
        z, log_q0 = shifted_t(base, shifts[rows], _IS_DOF)  # (p, Q, d), (p, Q)
        flat = (mode.theta[rows][:, None, :] + np.einsum("prs,pqs->pqr", chol, z)).reshape(-1, d)
        persons = np.repeat(np.arange(start, stop), q)
        ll = np.zeros(flat.shape[0])
        for model, pos in zip(bank.models, bank.positions):
            ll += _observed_loglik(model, flat, x[persons][:, pos], observed[persons][:, pos])
        centred = flat - mean
        log_prior = (-0.5 * np.einsum("pi,ij,pj->p", centred, inv_cov, centred)
                     - 0.5 * logdet - 0.5 * d * np.log(2 * np.pi))
        log_q = log_q0 - np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)[:, None]
        log_w = (ll + log_prior).reshape(-1, q) - log_q
        log_mean = logsumexp(log_w, axis=1) - np.log(q)
        ratio = np.exp(log_w - log_mean[:, None])  # w / w̄
        parts[start] = (float(log_mean.sum()), float((ratio.var(axis=1, ddof=1) / q).sum()))

    run_blocks(work, n, max(1, _IS_ROWS // (q * max(bank.n_items, 1))))  # bounded memory
    total = sum(parts[start][0] for start in sorted(parts))  # a fixed order: reproducible
    variance = sum(parts[start][1] for start in sorted(parts))
    return total, float(np.sqrt(variance))


def _observed_loglik(model: ItemModel, theta: Array, x: Codes,
                     observed: NDArray[np.bool_]) -> Array:
    """:math:`\\sum_i o_{ri}\\log P_i(x_{ri}\\mid\\theta_r)` per row (−inf outside the domain)."""
    out: Array = _observed_terms(model, theta, x, observed).sum(axis=1)
    return out


def _observed_terms(model: ItemModel, theta: Array, x: Codes,
                    observed: NDArray[np.bool_]) -> Array:
    """Per row and item, the observed category's log-probability.

    :math:`o_{ri}\\log P_i(x_{ri}\\mid\\theta_r)` per row and item (NaN or −inf outside
    the domain, 0 where unobserved).
    """
    s = theta @ model.slopes.T
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if model.HAS_OBSERVED_TERMS:
            (lp,) = model.observed_terms(s, x, order=0)
        else:
            (lp,) = model._kernel(s, 0)
            lp = np.take_along_axis(lp, x[..., None], axis=-1)[..., 0]
    out: Array = np.where(observed, lp, 0.0)
    return out


def _logit(p: Array) -> Array:
    with np.errstate(divide="ignore"):
        return np.asarray(np.log(p) - np.log1p(-p), dtype=np.float64)


def _inverse(matrix: Array) -> Array:
    return np.asarray(np.linalg.inv(matrix), dtype=np.float64)


def _tiled(values: NDArray, reps: int) -> NDArray:
    """``values`` repeated ``reps`` times along the persons' axis (no copy for one)."""
    return values if reps == 1 else np.concatenate([values] * reps, axis=0)


def _solve(matrix: Array, vector: Array) -> Array:
    """``matrix⁻¹ vector`` for a symmetric positive (semi)definite gain matrix, ridged if needed."""
    ridge = 1e-10 * (1.0 + np.abs(np.diag(matrix)))
    try:
        return np.asarray(np.linalg.solve(matrix + np.diag(ridge), vector), dtype=np.float64)
    except np.linalg.LinAlgError:
        return np.asarray(np.linalg.lstsq(matrix, vector, rcond=None)[0], dtype=np.float64)


def sobol_points(n_points: int) -> int:
    """The number of Sobol points used for ``n_points``: the next power of two, at least 16."""
    return 2 ** max(4, int(np.ceil(np.log2(max(n_points, 16)))))


def shifted_t(base: Array, shifts: Array, dof: float) -> tuple[Array, Array]:
    """Standard multivariate-t points from uniforms, each person's set shifted at random.

    ``base`` (Q, d + 1) are scrambled Sobol points; each row of ``shifts`` (n, d + 1) rotates
    them modulo 1 (Cranley & Patterson 1976), so that persons' errors are independent and
    average out instead of adding up. The first d coordinates go through the normal
    quantile, the last through the :math:`\\chi^2_\\nu` quantile: :math:`t = z/\\sqrt{w/\\nu}`.
    A t proposal keeps the importance weights' variance finite where a posterior's tail is
    heavier than its Laplace approximation (a person at the extreme of a factor's items;
    Geweke 1989). Returns the points (n, Q, d) and their log-densities (n, Q).
    """
    from scipy.special import gammaln
    from scipy.stats import chi2

    d = base.shape[1] - 1
    u = np.clip((base[None, :, :] + shifts[:, None, :]) % 1.0, 1e-12, 1 - 1e-12)
    t = ndtri(u[..., :d]) / np.sqrt(chi2.ppf(u[..., d], dof) / dof)[..., None]
    log_density = (gammaln((dof + d) / 2) - gammaln(dof / 2) - 0.5 * d * np.log(dof * np.pi)
                   - 0.5 * (dof + d) * np.log1p((t**2).sum(axis=-1) / dof))
    return np.asarray(t, dtype=np.float64), np.asarray(log_density, dtype=np.float64)
