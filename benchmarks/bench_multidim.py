"""Multidimensional calibration: MH-RM against quasi-Monte Carlo EM, five and nine factors.

Run by hand from the repository root (not part of the test suite)::

    .venv/bin/python benchmarks/bench_multidim.py            # both cases (~5 min)
    .venv/bin/python benchmarks/bench_multidim.py --case five --no-write

The cases, simulated with known truth (graded items, five categories, simple structure):

* **five**: 2,800 persons × 25 items on five factors correlated 0.3 — the size of the
  25-item personality inventory of issue 17, whose five-factor fit R's mirt runs by MH-RM in
  about 90 s on these machines (a figure measured elsewhere: R's mirt cannot be installed here).
  Fitted by ``MML(method="mhrm")`` and by quasi-Monte Carlo EM (the default for four or more
  factors), both with standard errors; the two fits' log-likelihoods are then evaluated with
  the same importance-sampling points (:func:`qabilet.calibration._mhrm.importance_loglik`,
  1,024 per person, common random numbers), so their difference is free of most of the
  estimator's Monte Carlo error.
* **nine**: 5,000 persons × 90 items on nine correlated factors — the bank's four
  competencies (correlated 0.5) and five personal qualities (0.3), 0.2 across — by MH-RM with
  standard errors. EM is timed for its first cycles only (each costs seconds on 4,096 points).

Each fit runs in this process, one after the other; wall and CPU seconds (``time.perf_counter``,
``time.process_time``: all threads). The table goes to stdout and to
``benchmarks/results/multidim.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from _machine import publish, python_speed, run_lines, table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from qabilet.calibration import MML  # noqa: E402
from qabilet.calibration._mhrm import importance_loglik  # noqa: E402
from qabilet.engine.exceptions import ConvergenceWarning  # noqa: E402
from qabilet.engine.models import GradedResponse  # noqa: E402
from qabilet.engine.simulation import simulate_responses  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "multidim.md"


def simulate(n_persons: int, per_factor: list[int], corr: np.ndarray, seed: int
             ) -> tuple[GradedResponse, np.ndarray, dict[str, list[str]]]:
    """Graded items (five categories) in simple structure, slopes U(1.0, 2.2)."""
    rng = np.random.default_rng(seed)
    n_items, d = sum(per_factor), len(per_factor)
    a = np.zeros((n_items, d))
    starts = np.cumsum([0, *per_factor])
    for k in range(d):
        a[starts[k]:starts[k + 1], k] = rng.uniform(1.0, 2.2, per_factor[k])
    steps = np.sort(rng.normal(0.0, 1.0, (n_items, 4)), axis=1)
    truth = GradedResponse.from_slope_intercept(a, -a.sum(axis=1, keepdims=True) * steps)
    x = simulate_responses(truth, rng.multivariate_normal(np.zeros(d), corr, n_persons), rng)
    dims = {f"F{k + 1}": [f"Q{i + 1}" for i in range(starts[k], starts[k + 1])]
            for k in range(d)}
    return truth, x, dims


def timed(estimator: MML, x: np.ndarray) -> tuple[object, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = estimator.fit(x)
    return fit, time.perf_counter() - wall, time.process_time() - cpu


def row(label: str, fit, wall: float, cpu: float, truth: GradedResponse, corr: np.ndarray,
        ll_common: float | None) -> list[str]:
    d = corr.shape[0]
    off = np.triu_indices(d, 1)
    err = np.abs(fit.latent.cov[off] - corr[off]).max()
    rmse = np.sqrt(np.mean((fit.bank.slopes - truth.slopes) ** 2))
    cov_se = fit.reference.cov_se[off]
    return [label, f"{wall:.1f}", f"{cpu:.1f}", str(fit.n_iter),
            f"{fit.loglik:.2f}" + (f" ± {fit.loglik_se:.2f}" if fit.loglik_se else ""),
            "—" if ll_common is None else f"{ll_common:.2f}", f"{err:.3f}", f"{rmse:.3f}",
            f"{np.nanmedian(cov_se):.4f}" if fit.se_computed else "—"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=["five", "nine", "all"], default="all")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    header = ["case, method", "wall s", "CPU s", "cycles", "log-likelihood (its own)",
              "log-likelihood (common IS points)", "max corr error", "slope RMSE",
              "median corr SE"]
    rows, notes = [], []
    speed_before = python_speed()
    if args.case in ("five", "all"):
        corr = 0.3 * np.ones((5, 5)) + 0.7 * np.eye(5)
        truth, x, dims = simulate(2800, [5] * 5, corr, seed=5)
        fits = {}
        for method in ("mhrm", "em"):
            fits[method] = timed(MML(model="grm", dims=dims, method=method), x)
        observed = np.ones(x.shape, dtype=bool)
        common = {m: importance_loglik(f.bank, x, observed, n_points=1024, seed=3)
                  for m, (f, _, _) in fits.items()}
        for method, (fit, wall, cpu) in fits.items():
            label = "five: MH-RM" if method == "mhrm" else "five: QMC-EM, 4,096 points"
            rows.append(row(label, fit, wall, cpu, truth, corr, common[method][0]))
        diff = common["mhrm"][0] - common["em"][0]
        notes.append(f"five factors: MH-RM's log-likelihood minus EM's at the same 1,024 "
                     f"importance-sampling points per person: {diff:+.2f} (each estimate's "
                     f"Monte Carlo SE {common['mhrm'][1]:.2f}); MH-RM's whole fit with "
                     f"standard errors {fits['mhrm'][1]:.1f} s against the target of 45 s "
                     f"(half of mirt's MH-RM, ~90 s).")
    if args.case in ("nine", "all"):
        corr = np.full((9, 9), 0.2)
        corr[:4, :4], corr[4:, 4:] = 0.5, 0.3
        np.fill_diagonal(corr, 1.0)
        truth, x, dims = simulate(5000, [10] * 9, corr, seed=9)
        fit, wall, cpu = timed(MML(model="grm", dims=dims, method="mhrm"), x)
        rows.append(row("nine: MH-RM", fit, wall, cpu, truth, corr, None))
        em, em_wall, em_cpu = timed(MML(model="grm", dims=dims, max_iter=3, compute_se=False), x)
        notes.append(f"nine factors: MH-RM with standard errors {wall:.1f} s (target: under "
                     f"60 s), largest factor-correlation error "
                     f"{np.abs(fit.latent.cov - corr).max():.3f} (target: within 0.05); "
                     f"quasi-Monte Carlo EM takes {em_wall / 3:.1f} s per cycle here "
                     f"(3 cycles, {em_cpu / 3:.1f} s CPU each), and hundreds of cycles.")
    env = [*run_lines(("calibration", "engine")),
           f"- machine speed (`_machine.python_speed`, lower is faster): {speed_before:.0f} ms "
           f"before the run, {python_speed():.0f} ms after"]
    publish(RESULTS, "Multidimensional calibration: MH-RM and quasi-Monte Carlo EM",
            "bench_multidim.py", argv, [(None, table(header, rows)), (None, notes)], env,
            write=not args.no_write)


if __name__ == "__main__":
    main()
