"""Adaptive-testing (CAT) simulation, qabilet against catsim and the PyPI package mirt, in one run.

Run by hand from the repository root (not part of the test suite)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/bench_cat.py
    .venv/bin/python benchmarks/bench_cat.py --quick           # 200 simulees, one run: a smoke run
    .venv/bin/python benchmarks/bench_cat.py --libraries qabilet,mirt --repeats 5

catsim (0.21) and mirt (1.2, a Rust-core IRT package, unrelated to R's mirt except in its aims)
are not dependencies of qabilet; they are installed only in the peer environment
``benchmarks/.venv-peers`` (``benchmarks/.venv-peers/bin/pip install catsim mirt``). A library
that is missing or fails gets a "not run" row.

The design: one 500-item 2PL bank (a ~ lognormal(0, 0.3), b ~ N(0, 1.2)), 2,000 simulees with
θ ~ N(0, 1), and one full simulees × items response matrix drawn from them with a fixed seed
(numpy ``default_rng``, P = 1 / (1 + exp(−a(θ − b)))), all written as ``.npy`` files to a
temporary directory. Every setting runs in a process of its own (``benchmarks/_cat_driver.py``):
qabilet with this environment's python, catsim and mirt with the peer environment's. Each is
configured as close as the library allows to: start at θ = 0, maximum Fisher information,
EAP with an N(0, 1) prior, stop once SE < 0.3 or after 30 items; and, in a second row, with
randomesque exposure control (one of the 5 most informative items at random).

* qabilet: ``qabilet.engine.cat.simulate_cat`` (all simulees in lock-step), EAP on 61 equispaced nodes
  on [−6, 6], on the response matrix.
* catsim: has no EAP estimator; its closest, ``NumericalSearchEstimator`` (bounded ML search on
  [−6, 6], Dodd's heuristic while every answer is right or every answer wrong), with its
  ``MaxInfoSelector`` / ``RandomesqueSelector(5)``, ``FixedPointInitializer(0)`` and
  ``MinErrorStopper(0.3, max_items=30)`` (SE = 1/√(test information at θ̂)). Its ``Simulator``
  draws every answer itself from the true θ, so the driver runs the same components in the
  same loop as ``Simulator.simulate`` with the answer read from the matrix.
* mirt: ``mirt.cat.CATEngine`` (MFI, EAP on 61 Gauss–Hermite nodes, SE ≤ 0.3 or 30 items,
  ``Randomesque(k=5)``), one session per simulee through ``run_simulation`` with a response
  generator that reads the matrix. Its fast batch paths, ``run_batch_simulation`` with its Rust
  backend or its numpy lock-step, cannot take given answers (they draw their own from the true
  θ) and take no exposure control; they get rows of their own, on their own answers, so that
  "the fastest peer" includes them.

Times are the simulation alone, timed inside the process (``time.perf_counter``), the best of
``--repeats`` runs (fewer once a setting's runs have taken ``--budget`` seconds). Reported per
row: seconds; CPU seconds of that run (above the seconds: more than one core busy); µs per item
administered (seconds / items administered in all tests × 1e6); mean test length; RMSE of the
final estimates against the true θ; mean final SE; the maximum exposure rate (share of simulees
given the most used item); and the peer's time over qabilet's at the same exposure setting.
With ``--catsim-simulees N`` (or ``--mirt-simulees N`` for mirt's per-session rows) a slow
peer runs on the first N simulees only and its time for all of them is extrapolated
(× simulees / N), marked as such; its µs per item is the measured one.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _machine import blas_lines, env_line, load, peer_versions, publish, run_lines, table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

HERE = ROOT / "benchmarks"
DRIVER = HERE / "_cat_driver.py"
PEER_VENV = HERE / ".venv-peers"
PEER_PYTHON = PEER_VENV / "bin" / "python"
RESULTS = HERE / "results" / "cat.md"
SEED = 20240917
N_ITEMS = 500
N_SIMULEES = 2_000
QUICK_SIMULEES = 200
MAX_ITEMS = 30
SE_TARGET = 0.3
N_POINTS = 61
TOP_K = 5
RANDOMESQUE = f"randomesque:{TOP_K}"
ENV_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
            "NUMEXPR_MAX_THREADS", "NUMEXPR_NUM_THREADS", "RAYON_NUM_THREADS")


# --- the settings compared ------------------------------------------------------------------------
@dataclass(frozen=True)
class Setting:
    library: str
    variant: str
    exposure: str
    own_answers: bool = False  # True: the library draws its answers from the true θ

    @property
    def method(self) -> str:
        return {
            ("qabilet", "lockstep"): "simulate_cat (lock-step)",
            ("catsim", "components"): "its components in Simulator's loop",
            ("mirt", "session"): "CATEngine.run_simulation per simulee",
            ("mirt", "lockstep"): "run_batch_simulation, numpy lock-step",
            ("mirt", "rust"): "run_batch_simulation, Rust backend",
        }[self.library, self.variant]

    @property
    def estimator(self) -> str:
        return {"qabilet": f"EAP, {N_POINTS} rectangle on [−6, 6]",
                "catsim": "ML (+ Dodd's heuristic)",
                "mirt": f"EAP, {N_POINTS} Gauss–Hermite"}[self.library]

    @property
    def exposure_label(self) -> str:
        return "none" if self.exposure == "none" else f"randomesque (top {TOP_K})"

    @property
    def label(self) -> str:
        return f"{self.library} {self.variant} {self.exposure}"


SETTINGS = (
    Setting("qabilet", "lockstep", "none"),
    Setting("qabilet", "lockstep", RANDOMESQUE),
    Setting("catsim", "components", "none"),
    Setting("catsim", "components", RANDOMESQUE),
    Setting("mirt", "session", "none"),
    Setting("mirt", "session", RANDOMESQUE),
    Setting("mirt", "lockstep", "none", own_answers=True),
    Setting("mirt", "rust", "none", own_answers=True),
)


# --- data ----------------------------------------------------------------------------------------
def make_data(directory: Path) -> dict[str, np.ndarray]:
    """Draw the bank, the simulees and the full response matrix once; write them as .npy."""
    rng = np.random.default_rng(SEED)
    a = rng.lognormal(0.0, 0.3, N_ITEMS)
    b = rng.normal(0.0, 1.2, N_ITEMS)
    theta = rng.normal(0.0, 1.0, N_SIMULEES)
    p = 1.0 / (1.0 + np.exp(-a[None, :] * (theta[:, None] - b[None, :])))
    x = (rng.random(p.shape) < p).astype(np.int8)
    data = {"a": a, "b": b, "theta": theta, "x": x}
    for name, value in data.items():
        np.save(directory / f"{name}.npy", value)
    return data


# --- running one setting -------------------------------------------------------------------------
@dataclass
class Row:
    setting: Setting
    n: int  # simulees run
    n_full: int  # simulees of the design (the time is extrapolated to these when n < n_full)
    out: dict[str, Any] = field(default_factory=dict)
    failure: str | None = None
    load: str = ""

    @property
    def ok(self) -> bool:
        return self.failure is None and bool(self.out)

    @property
    def best(self) -> float:
        return min(self.out["times"]) if self.ok else np.inf

    @property
    def runs(self) -> int:
        return len(self.out.get("times", []))

    @property
    def cpu(self) -> float:
        times = self.out["times"]
        return self.out["cpu"][times.index(min(times))]

    @property
    def extrapolated(self) -> bool:
        return self.n < self.n_full

    @property
    def seconds(self) -> float:
        """The time for all simulees of the design: measured, or extrapolated from ``n``."""
        return self.best * self.n_full / self.n if self.ok else np.inf

    @property
    def total_items(self) -> int:
        return int(np.sum(self.out["length"]))

    @property
    def us_per_item(self) -> float:
        return self.best / self.total_items * 1e6


def python_for(library: str) -> Path:
    return Path(sys.executable) if library == "qabilet" else PEER_PYTHON


def run_row(row: Row, directory: Path, repeats: int, budget: float, timeout: float) -> None:
    s = row.setting
    python = python_for(s.library)
    if not python.exists():
        row.failure = (f"not run: no peer environment at {PEER_VENV.relative_to(ROOT)} "
                       f"(create it and pip install {s.library})")
        return
    spec = {"library": s.library, "variant": s.variant, "exposure": s.exposure,
            "root": str(ROOT), "data": str(directory), "n": row.n, "repeats": repeats,
            "budget": budget, "seed": SEED + 1, "max_items": MAX_ITEMS,
            "se_target": SE_TARGET, "n_points": N_POINTS}
    before = load()
    try:
        proc = subprocess.run([str(python), str(DRIVER), json.dumps(spec)], capture_output=True,
                              text=True, timeout=timeout, cwd=str(ROOT))
    except subprocess.TimeoutExpired:
        row.failure = f"not run: stopped after {timeout:.0f} s (--timeout)"
        return
    finally:
        row.load = f"{before} → {load()}"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        row.failure = f"not run: failed: {last[:200]}"
        print(proc.stderr[-3000:], file=sys.stderr)
        return
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if "not_installed" in out:
        row.failure = f"not run: {s.library} is not installed ({out['not_installed'][:160]})"
        return
    row.out = out


# --- measures ------------------------------------------------------------------------------------
def measures(row: Row, truth: np.ndarray) -> dict[str, float]:
    theta = np.asarray(row.out["theta"], dtype=float)
    se = np.asarray(row.out["se"], dtype=float)
    items = np.asarray(row.out["items"], dtype=np.int64)
    counts = np.bincount(items[items >= 0], minlength=N_ITEMS)
    err = theta - truth[: row.n]
    return {"mean_length": float(np.mean(row.out["length"])),
            "rmse": float(np.sqrt(np.mean(err**2))),
            "mean_se": float(np.mean(se[np.isfinite(se)])),
            "max_exposure": float(counts.max() / row.n)}


def same_paths(row: Row, ref: Row) -> tuple[float, float]:
    """Share of simulees given exactly ``ref``'s item sequence; median |Δθ| over all."""
    n = min(row.n, ref.n)
    a = np.asarray(row.out["items"], dtype=np.int64)[:n]
    b = np.asarray(ref.out["items"], dtype=np.int64)[:n]
    share = float(np.mean(np.all(a == b, axis=1)))
    dtheta = np.abs(np.asarray(row.out["theta"])[:n] - np.asarray(ref.out["theta"])[:n])
    return share, float(np.median(dtheta))


# --- environment ---------------------------------------------------------------------------------
def environment() -> list[str]:
    import scipy

    import qabilet

    return [
        *run_lines(('engine',)),
        f"- main environment (qabilet): python {platform.python_version()}, numpy "
        f"{np.__version__}, scipy {scipy.__version__}, qabilet {qabilet.__version__}",
        f"- peer environment ({PEER_VENV.relative_to(ROOT)}; catsim, mirt): "
        f"{peer_versions(PEER_PYTHON, ('catsim', 'mirt', 'numpy', 'scipy', 'numexpr'))}",
        env_line(ENV_VARS),
        *blas_lines("qabilet's process"),
    ]


# --- the report ----------------------------------------------------------------------------------
def fmt_s(t: float) -> str:
    if not np.isfinite(t):
        return "—"
    return f"{t:.3f}" if t < 10 else f"{t:.1f}"


def build_table(rows: list[Row], truth: np.ndarray) -> str:
    header = ["library", "method", "answers", "exposure", "estimator", "simulees", "runs", "s",
              "CPU s", "µs / item", "mean length", "RMSE", "mean SE", "max exposure",
              "peer / qabilet"]
    lines: list[list[str]] = []
    ours = {r.setting.exposure: r for r in rows if r.setting.library == "qabilet" and r.ok}
    for r in rows:
        s = r.setting
        answers = "own, from true θ" if s.own_answers else "the matrix"
        head = [s.library, s.method, answers, s.exposure_label, s.estimator]
        if not r.ok:
            lines.append([*head, f"{r.n:,}", r.failure or "not run"]
                         + ["—"] * (len(header) - len(head) - 2))
            continue
        m = measures(r, truth)
        seconds = fmt_s(r.seconds)
        if r.extrapolated:
            seconds = f"≈ {seconds} ¹ (measured {fmt_s(r.best)} on {r.n:,})"
        ratio = "—"
        if s.library != "qabilet" and s.exposure in ours:
            ratio = f"{r.seconds / ours[s.exposure].seconds:.2f}×" + (" ¹" if r.extrapolated
                                                                      else "")
        lines.append([
            *head, f"{r.n:,}", str(r.runs), seconds, fmt_s(r.cpu), f"{r.us_per_item:.1f}",
            f"{m['mean_length']:.2f}", f"{m['rmse']:.4f}", f"{m['mean_se']:.4f}",
            f"{m['max_exposure']:.3f}", ratio])
    return table(header, lines)


def verdicts(rows: list[Row], quick: bool) -> list[str]:
    ok = [r for r in rows if r.ok]
    ours = {r.setting.exposure: r for r in ok if r.setting.library == "qabilet"}
    peers = [r for r in ok if r.setting.library != "qabilet"]
    out: list[str] = []
    size = " (a --quick run: 200 simulees; the targets are for the full design)" if quick else ""
    q = ours.get(RANDOMESQUE)
    if q is None or not peers:
        out.append("qabilet with randomesque no slower than the fastest peer: not assessed "
                   "(no qabilet randomesque row or no peer row ran)" + size + ".")
    else:
        fast = min(peers, key=lambda r: r.seconds)
        mark = "meets" if q.seconds <= fast.seconds else "misses"
        out.append(
            f"qabilet with randomesque (top {TOP_K}) {fmt_s(q.seconds)} s against the fastest "
            f"peer row, {fast.setting.library} {fast.setting.method} "
            f"(exposure {fast.setting.exposure_label}"
            + (", own answers" if fast.setting.own_answers else "")
            + f") {fmt_s(fast.seconds)} s" + (" (extrapolated)" if fast.extrapolated else "")
            + f": {fast.seconds / q.seconds:.2f}× — {mark} the target (no slower than the "
            f"fastest peer at any setting){size}.")
    cat_rows = [r for r in peers if r.setting.library == "catsim"]
    if not cat_rows or not ours:
        out.append("qabilet ≥ 50× faster than catsim: not assessed (no qabilet or no catsim row "
                   "ran)" + size + ".")
    for r in cat_rows:
        base = ours.get(r.setting.exposure)
        if base is None:
            continue
        ratio = r.seconds / base.seconds
        mark = "meets" if ratio >= 50 else "misses"
        out.append(f"catsim / qabilet at exposure {r.setting.exposure_label}: "
                   f"{fmt_s(r.seconds)} s" + (" (extrapolated)" if r.extrapolated else "")
                   + f" / {fmt_s(base.seconds)} s = {ratio:.1f}× — {mark} the ≥ 50× target"
                   f"{size}.")
    return out


def notes_for(rows: list[Row], data: dict[str, np.ndarray], n: int, repeats: int,
              budget: float) -> list[str]:
    x = data["x"][:n]
    ok = {r.setting.label: r for r in rows if r.ok}
    notes = [
        f"Data (seed {SEED}): {N_ITEMS} 2PL items, a ~ lognormal(0, 0.3) (range "
        f"{data['a'].min():.2f}–{data['a'].max():.2f}), b ~ N(0, 1.2²) (range "
        f"{data['b'].min():.2f}–{data['b'].max():.2f}); {n:,} simulees, θ ~ N(0, 1); one full "
        f"{n:,} × {N_ITEMS} 0/1 response matrix ({x.mean():.1%} correct) drawn once from "
        "P = 1/(1 + exp(−a(θ − b))) with numpy's default_rng. Every row on \"the matrix\" "
        "answers from it; the rows marked \"own\" draw their own answers from the same θ.",
        "Times in seconds: the simulation alone, inside the process, the best of "
        f"{repeats} run{'s' if repeats != 1 else ''} (runs: how many ran; a row stops "
        f"repeating after {budget:.0f} s, --budget), "
        "each run from a fresh engine with the same seed. CPU s: user + system time of that "
        "run (all threads). µs / item: s / items administered in all tests × 1e6. "
        "peer / qabilet: the peer's time over qabilet's at the same exposure setting (above "
        "1: qabilet is faster).",
        f"Test: start at θ = 0, maximum Fisher information, stop once SE < {SE_TARGET} "
        f"(mirt: SE ≤ {SE_TARGET}) or after {MAX_ITEMS} items; SE is the posterior SD for the "
        "EAP rows and 1/√(test information at θ̂) for catsim. RMSE against the true θ; mean "
        "SE over the final SEs; max exposure: share of simulees given the most used item "
        "(1.000 without exposure control: everyone starts with the same item).",
        f"qabilet: engine.cat.simulate_cat(bank, Blueprint(max_items={MAX_ITEMS}, "
        f"se_target={SE_TARGET}, selection='mfi', exposure='none' | '{RANDOMESQUE}', "
        f"estimator='eap', n_points={N_POINTS}, bounds=(−6, 6)), theta=, responses=, rng=): "
        "every simulee in lock-step, EAP with the bank's N(0, 1) prior on 61 equispaced nodes "
        "(rectangle rule); randomesque draws uniformly among the 5 most informative "
        "available items.",
        "catsim 0.21 has no EAP (or any Bayesian) estimator: the rows use its "
        "NumericalSearchEstimator (default: scipy's bounded search for the ML estimate on "
        "[−6, 6]), which while every answer is right (wrong) moves θ̂ half-way to the bank's "
        "largest (smallest) b (Dodd 1990). Selection: MaxInfoSelector, or "
        f"RandomesqueSelector({TOP_K}) (uniform among the {TOP_K} most informative unused "
        "items); FixedPointInitializer(0); MinErrorStopper(0.3, max_items=30). catsim's "
        "Simulator draws each answer itself (icc(true θ) ≥ uniform) and takes no response "
        "matrix, so benchmarks/_cat_driver.py drives the same components through the same "
        "loop as Simulator.simulate (stop? → select → answer → estimate → exposure-rate "
        "update), answering from the matrix.",
        f"mirt 1.2: mirt.cat.CATEngine(TwoParameterLogistic with the true a, b; "
        f"item_selection='MFI', scoring_method='EAP', initial_theta=0, se_threshold={SE_TARGET}"
        f", max_items={MAX_ITEMS}, n_quadpts={N_POINTS}), EAP on {N_POINTS} Gauss–Hermite nodes "
        "of N(0, 1) (±14.5; default 21; theta_bounds play no part in its binary EAP). "
        "Randomesque(k=5): uniform among the top 5 by information, ties by item index. A model "
        "with given parameters needs the private flag model._is_fitted = True (there is no "
        "public switch). Only run_simulation(θ, response_generator=…) takes given answers, one "
        "Python session per simulee; run_batch_simulation's Rust and lock-step paths draw their "
        "own answers and serve only MFI without exposure control (with randomesque it falls "
        "back to one run_simulation per simulee).",
    ]
    rust = ok.get("mirt rust none")
    if rust is not None and "kernel_s" in rust.out:
        notes.append(
            f"mirt's Rust row: of its {fmt_s(rust.best)} s, the Rust kernel itself "
            f"(mirt.backends.rust.cat.cat_simulate_batch_full, timed separately) took "
            f"{fmt_s(rust.out['kernel_s'])} s; the rest builds one CATResult per simulee in "
            "Python.")
    ref = ok.get("qabilet lockstep none")
    agree = []
    for label in ("mirt session none", "catsim components none"):
        r = ok.get(label)
        if r is not None and ref is not None:
            share, med = same_paths(r, ref)
            agree.append(f"{r.setting.library} gave exactly qabilet's item sequence to "
                         f"{share:.1%} of the simulees (median |Δθ̂| {med:.2g})")
    if agree:
        notes.append("Same answers, no exposure control: " + "; ".join(agree) + ".")
    stops = []
    for r in rows:
        if r.ok and "stop_reasons" in r.out:
            parts = ", ".join(f"{k} {v:,}" for k, v in sorted(r.out["stop_reasons"].items()))
            stops.append(f"{r.setting.library} {r.setting.variant} {r.setting.exposure}: {parts}")
    if stops:
        notes.append("Stop reasons: " + "; ".join(stops) + ".")
    if any(r.ok and r.extrapolated for r in rows):
        notes.append("¹ extrapolated: the row ran on the first \"simulees\" simulees only "
                     "(--catsim-simulees / --mirt-simulees); its time for all is the measured "
                     "time × all / measured, and its other columns are those of the measured "
                     "simulees.")
    notes.append("Threads: qabilet runs numpy (one thread; OpenBLAS for its matrix products); "
                 "catsim numpy, scipy and numexpr; mirt's lock-step path numpy, its Rust path "
                 "one native call. CPU s above s means more than one core was busy.")
    return notes


# --- main ----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--libraries", default="qabilet,catsim,mirt",
                   help="comma-separated subset of: qabilet, catsim, mirt")
    p.add_argument("--repeats", type=int, default=3, help="runs per row (best of); default 3")
    p.add_argument("--budget", type=float, default=300.0,
                   help="seconds after which a row stops repeating (default 300)")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per process")
    p.add_argument("--quick", action="store_true",
                   help=f"{QUICK_SIMULEES} simulees, one run: a smoke run (nothing written)")
    p.add_argument("--catsim-simulees", type=int, metavar="N",
                   help="run catsim on the first N simulees and extrapolate its time")
    p.add_argument("--mirt-simulees", type=int, metavar="N",
                   help="run mirt's per-session rows on the first N simulees and extrapolate")
    p.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.name}")
    args = p.parse_args(argv)

    libraries = [x.strip() for x in args.libraries.split(",") if x.strip()]
    unknown = sorted(set(libraries) - {"qabilet", "catsim", "mirt"})
    if unknown:
        p.error(f"unknown libraries {unknown}; choose from qabilet, catsim, mirt")
    if args.quick:
        args.repeats = 1
    n = QUICK_SIMULEES if args.quick else N_SIMULEES
    limits = {"catsim": args.catsim_simulees, "mirt": args.mirt_simulees}
    for name, value in limits.items():
        if value is not None and not 1 <= value <= n:
            p.error(f"--{name}-simulees: expected 1..{n}; got {value}")

    env = environment()
    print("\n".join(env), flush=True)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="qabilet-bench-cat-") as tmp:
        directory = Path(tmp)
        data = make_data(directory)
        for s in SETTINGS:
            if s.library not in libraries:
                continue
            limit = limits.get(s.library) if s.variant in ("components", "session") else None
            row = Row(s, n=limit or n, n_full=n)
            t0 = time.perf_counter()
            run_row(row, directory, args.repeats, args.budget, args.timeout)
            state = row.failure or (f"{fmt_s(row.best)} s on {row.n:,} simulees "
                                    f"({row.us_per_item:.1f} µs / item, {row.runs} runs)")
            print(f"  {s.library:<8}{s.method:<40}{s.exposure:<15} {state}  "
                  f"[{time.perf_counter() - t0:.0f} s wall]", flush=True)
            rows.append(row)

    truth = data["theta"]
    table = build_table(rows, truth)
    verdict = verdicts(rows, args.quick)
    notes = notes_for(rows, data, n, args.repeats, args.budget)
    env.append("- load average (1, 5, 15 min) before → after each row: "
               + " | ".join(f"{r.setting.library} {r.setting.variant} {r.setting.exposure}: "
                            f"{r.load}" for r in rows if r.load)
               + " (a run alone adds about 1 on this machine's 2 cores)")
    publish(RESULTS, "CAT simulation: qabilet vs catsim and mirt", "bench_cat.py", argv,
            [(None, table), ("Against the targets:", verdict), ("Notes:", notes)], env,
            write=not args.no_write and not args.quick)


if __name__ == "__main__":
    main()
