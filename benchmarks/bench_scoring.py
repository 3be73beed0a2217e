"""Person scoring, qabilet against girth, on the same data in one run.

Run by hand from the repository root (not part of the test suite)::

    .venv/bin/python benchmarks/bench_scoring.py            # full size, best of 3
    .venv/bin/python benchmarks/bench_scoring.py --quick    # 10,000 persons, a smoke run

The data: 40 2PL items (a ~ U(0.5, 2.5), b ~ N(0, 1)), 100,000 persons with theta ~ N(0, 1),
responses drawn by ``qabilet.engine.simulation.simulate_responses``, and a random ~20% of cells marked
missing. Each library gets the data in its own native form, built once outside the timer:
qabilet a persons-first ``(x, observed)`` pair, girth an items-first array with its sentinel
``girth.INVALID_RESPONSE`` for a missing cell.

What is timed, so that the numbers compare like with like:

* EAP: ``qabilet.engine.scoring.eap`` (which validates its input and returns theta, posterior SD and a
  status per person) against ``girth.ability_eap`` (theta only). Both on the same number of
  nodes over the same interval: qabilet's equispaced rectangle rule, girth's Gauss-Legendre rule
  (its only rule), weighted by the N(0, 1) density in both. Two settings: qabilet's default
  (121 nodes on [-6, 6], as mirt scores) and girth's default (41 nodes on [-4.5, 4.5]).
* MAP and ML: ``engine.scoring.score(method="map"|"ml")`` (vectorised Newton, tolerance 1e-8)
  against ``girth.ability_map`` / ``girth.ability_mle`` (``scipy.optimize.fminbound`` on
  [-6, 6] per person in a Python loop, xtol 1e-5), on the first ``--modal-persons`` persons
  only, because girth's loop takes about a millisecond per person; qabilet alone is also timed
  on every person.

Wall times are the best of ``--repeats`` runs (``time.perf_counter``). The table goes to stdout
and to ``benchmarks/results/scoring.md`` with the versions, the BLAS library and its kernel,
and the OpenBLAS environment variables in force.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import glob
import os
import platform
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from _machine import env_line, publish, run_lines, table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

import girth  # noqa: E402
import scipy  # noqa: E402

import qabilet  # noqa: E402
from qabilet.engine.models import TwoPL  # noqa: E402
from qabilet.engine.scoring import eap, score  # noqa: E402
from qabilet.engine.simulation import simulate_responses  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "scoring.md"
SEED = 20240611
N_ITEMS = 40
MISSING = 0.2
ENV_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")


# --- environment ---------------------------------------------------------------------------------
def _openblas_by_ctypes() -> list[dict[str, Any]]:
    """What threadpoolctl would say about numpy's bundled OpenBLAS, asked through ctypes."""
    libdir = Path(np.__file__).resolve().parent.parent / "numpy.libs"
    found = []
    for path in sorted(glob.glob(str(libdir / "*openblas*.so*"))):
        lib = ctypes.CDLL(path)  # already loaded by numpy: the same handle
        info: dict[str, Any] = {"filepath": path}
        for prefix, suffix in (
            ("scipy_openblas_", "64_"),  # numpy's ILP64 scipy-openblas64 wheel
            ("scipy_openblas_", ""),
            ("openblas_", ""),
        ):
            try:
                corename = getattr(lib, f"{prefix}get_corename{suffix}")
                config = getattr(lib, f"{prefix}get_config{suffix}")
                threads = getattr(lib, f"{prefix}get_num_threads{suffix}")
            except AttributeError:
                continue
            corename.restype = config.restype = ctypes.c_char_p
            info.update(
                internal_api="openblas",
                architecture=corename().decode(),
                version=config().decode(),
                num_threads=int(threads()),
                source="ctypes (threadpoolctl is not installed)",
            )
            break
        found.append(info)
    return found


def blas_info() -> list[dict[str, Any]]:
    """The BLAS libraries numpy loaded: threadpoolctl's view, or the same facts via ctypes."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return _openblas_by_ctypes()
    return [dict(d, source="threadpoolctl") for d in threadpool_info()]


def simd_info() -> str:
    """numpy's compiled SIMD baseline and the dispatch targets this CPU supports."""
    try:
        from numpy._core._multiarray_umath import (  # type: ignore[attr-defined]
            __cpu_baseline__,
            __cpu_dispatch__,
            __cpu_features__,
        )
    except ImportError:
        return "unknown"
    usable = [t for t in __cpu_dispatch__ if __cpu_features__.get(t)]
    return f"baseline {' '.join(__cpu_baseline__)}; dispatch used: {' '.join(usable) or 'none'}"


def environment() -> list[str]:
    lines = [
        *run_lines(('engine',)),
        f"- python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"girth {getattr(girth, '__version__', _dist_version('girth'))}, "
        f"qabilet {qabilet.__version__}",
        f"- numpy SIMD: {simd_info()}",
        env_line(ENV_VARS, "unset means OpenBLAS picked its kernel from the CPU"),
    ]
    for lib in blas_info():
        keys = ("internal_api", "version", "architecture", "num_threads", "source", "filepath")
        lines.append("- BLAS: " + "; ".join(f"{k}: {lib[k]}" for k in keys if k in lib))
    return lines


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


# --- data and timing ---------------------------------------------------------------------------
def make_data(n_persons: int) -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    a = rng.uniform(0.5, 2.5, N_ITEMS)
    b = rng.normal(0.0, 1.0, N_ITEMS)
    items = TwoPL(a, b)
    x = simulate_responses(items, rng.normal(0.0, 1.0, n_persons), rng)
    observed = rng.random(x.shape) >= MISSING
    girth_x = np.where(observed, x, girth.INVALID_RESPONSE).T.astype(np.int64).copy()
    return {"items": items, "a": a, "b": b, "x": x, "observed": observed, "girth_x": girth_x}


def best_of(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Best wall time of ``repeats`` calls, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def row(
    name: str, n: int, settings: str, t_q: float, t_g: float | None, delta: float | None
) -> dict[str, str]:
    def rate(t: float | None) -> str:
        return f"{n / t:,.0f}" if t else "—"

    return {
        "estimator": name,
        "persons × items": f"{n:,} × {N_ITEMS}",
        "settings (both libraries)": settings,
        "qabilet s": f"{t_q:.3f}",
        "girth s": f"{t_g:.3f}" if t_g is not None else "not run",
        "girth / qabilet": f"{t_g / t_q:.2f}×" if t_g is not None else "—",
        "qabilet persons/s": rate(t_q),
        "girth persons/s": rate(t_g),
        "max abs Δθ": f"{delta:.1e}" if delta is not None else "—",
    }


def markdown(rows: list[dict[str, str]]) -> str:
    head = list(rows[0])
    return table(head, [[r[h] for h in head] for r in rows])


# --- the benchmark ------------------------------------------------------------------------------
def run(n_persons: int, n_modal: int, repeats: int) -> tuple[str, list[str]]:
    d = make_data(n_persons)
    items, a, b, x, obs, gx = d["items"], d["a"], d["b"], d["x"], d["observed"], d["girth_x"]
    rows, notes = [], []
    say = print

    for n_points, bounds, label in (
        (121, (-6.0, 6.0), "121 nodes on [−6, 6] (qabilet's default)"),
        (41, (-4.5, 4.5), "41 nodes on [−4.5, 4.5] (girth's default)"),
    ):
        say(f"EAP, {label} …", flush=True)
        t_q, est = best_of(partial(eap, items, x, obs, n_points=n_points, bounds=bounds), repeats)
        opts = {"quadrature_n": n_points, "quadrature_bounds": bounds}
        t_g, g = best_of(partial(girth.ability_eap, gx, b, a, opts), repeats)
        rows.append(row("EAP", n_persons, label, t_q, t_g, float(np.abs(est.theta - g).max())))

    # the agreement without the quadrature difference (see tests/engine/test_girth_agreement.py)
    h = 12.0 / 120
    g_matched = girth.ability_eap(
        gx, b, a, {"quadrature_n": 121, "quadrature_bounds": (-6.0 - h / 2, 6.0 + h / 2)}
    )
    est = eap(items, x, obs)
    notes.append(
        "EAP agreement net of the grid: girth given the interval qabilet's 121-node rectangle "
        f"rule covers, [−6.05, 6.05], differs by at most {np.abs(est.theta - g_matched).max():.1e}."
    )

    sub = slice(0, n_modal)
    xs, obs_s, gxs = x[sub], obs[sub], np.ascontiguousarray(gx[:, sub])
    for method, girth_fn in (("map", girth.ability_map), ("ml", girth.ability_mle)):
        say(f"{method.upper()}, {n_modal:,} persons …", flush=True)
        t_q, est = best_of(partial(score, items, xs, obs_s, method=method), repeats)
        t_g, g = best_of(partial(girth_fn, gxs, b, a), repeats)
        finite = np.isfinite(g)  # girth's ML is NaN for all-0 / all-1 patterns
        delta = float(np.abs(est.theta[finite] - g[finite]).max())
        settings = "N(0, 1) prior, search [−6, 6]" if method == "map" else "search [−6, 6]"
        rows.append(row(method.upper(), n_modal, settings, t_q, t_g, delta))
        if method == "ml":
            extreme = np.isin(est.status, ["extreme_low", "extreme_high"])
            notes.append(
                f"ML: {int((~finite).sum())} of {n_modal:,} patterns are all 0 or all 1; girth "
                f"returns NaN for them, qabilet flags {int(extreme.sum())} as extreme_low/high "
                f"(the same persons: {bool(np.array_equal(extreme, ~finite))}); "
                "Δθ is over the rest."
            )
        if n_persons > n_modal:
            say(f"{method.upper()}, qabilet on all {n_persons:,} persons …", flush=True)
            t_q, _ = best_of(partial(score, items, x, obs, method=method), repeats)
            rows.append(row(method.upper(), n_persons, settings, t_q, None, None))

    notes += [
        f"Data: seed {SEED}; {N_ITEMS} 2PL items, a ~ U(0.5, 2.5), b ~ N(0, 1); θ ~ N(0, 1); "
        f"{obs.size - int(obs.sum()):,} of {obs.size:,} responses missing "
        f"({1 - obs.mean():.1%}, a random mask).",
        f"Times are the best of {repeats} runs. qabilet's EAP includes input validation and the "
        "posterior SD and status; girth's returns θ only. Input conversion to each library's "
        "format is outside the timer.",
        "girth's EAP uses Gauss–Legendre nodes (its only rule) with weights w_q·φ(θ_q); "
        "qabilet's an equispaced rectangle rule with normalised φ(θ_q): same node count, "
        "same interval, so Δθ is the difference between the two quadrature rules. girth's MAP/ML "
        "call scipy.optimize.fminbound per person (xtol 1e-5); qabilet's run Newton steps for "
        "all persons at once (tol 1e-8). girth's ML is its MAP with a flat prior on [−7, 7].",
        f"girth's MAP/ML loop over persons in Python, so they ran on the first {n_modal:,} "
        "persons; qabilet's rows on all persons have no girth counterpart.",
    ]
    return markdown(rows), notes


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--persons", type=int, default=100_000)
    p.add_argument("--modal-persons", type=int, default=5_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="10,000 persons, 1,000 for MAP/ML")
    p.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.name}")
    args = p.parse_args(argv)
    if args.quick:
        args.persons, args.modal_persons = 10_000, 1_000
    env = environment()
    print("\n".join(env), flush=True)
    load_before = os.getloadavg()
    table, notes = run(args.persons, min(args.modal_persons, args.persons), args.repeats)
    load_after = os.getloadavg()
    env.append(
        "- load average (1, 5, 15 min) before: "
        + ", ".join(f"{v:.2f}" for v in load_before)
        + "; after: "
        + ", ".join(f"{v:.2f}" for v in load_after)
        + " (this run alone adds 1 to 2: numpy's loops use one core, OpenBLAS both)"
    )
    publish(RESULTS, "Scoring: qabilet vs girth", "bench_scoring.py", argv,
            [(None, table), (None, notes)], env, write=not args.no_write)


if __name__ == "__main__":
    main()
