"""Item calibration (MML-EM), qabilet against girth and the PyPI package mirt, in one run.

Run by hand from the repository root (not part of the test suite)::

    .venv/bin/python benchmarks/bench_calibration.py --setup-peers   # once: the peer environment
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/bench_calibration.py
    .venv/bin/python benchmarks/bench_calibration.py --quick          # small data, one run: a smoke run

mirt (a Rust-core IRT package, unrelated to R's mirt except in its aims) is not a dependency of
qabilet and is installed only in a separate environment, ``benchmarks/.venv-peers``
(``--setup-peers`` creates it: ``pip install mirt``). Without it the mirt rows say "not run".

The cases (the issues'): 2PL 10,000 persons × 40 items; GRM 5,000 × 20 items × 5 categories;
2PL 20,000 × 60; GRM 10,000 × 30 × 5 (with the 2PL 20,000 × 60, the files of the standard-error
targets); and a sparse 2PL 50,000 × 300 with 10% of the cells observed (missing completely at
random). Responses are drawn by ``qabilet.engine.simulation.simulate_responses`` from known
parameters with a fixed seed and written as a response file (docs/design.md §6: a ``person_id``
column, one column per item, an empty cell for a missing response) in a temporary directory.

Every fit runs in a process of its own (``benchmarks/_fit_driver.py``), qabilet and girth with
this environment's python, mirt with the peer environment's, so that each process holds one
library and its peak memory is that library's. A process imports its library, reads the CSV file
(qabilet with its own ``qabilet.itembank.response_file.read_responses_csv``; girth and mirt, which have
no reader, with a vectorised numpy parser of this layout), fits once, and prints its times,
estimates and standard errors as JSON. qabilet and mirt fit every setting twice, in processes of
their own: with standard errors off, and with them on as each library computes them by default
(qabilet ``MML(se="louis")``, mirt ``se_method="auto"``, i.e. ``"oakes"`` for these models: both
the inverse observed information by Louis' identity); girth has no standard errors but a
bootstrap of 2,000 refits, which is not run. Reported per row:

* fit: the estimation, with the standard errors when they are on, timed inside the process
  (``time.perf_counter``);
* read: the CSV file to the library's input, inside the process;
* process: the wall time of the whole process, measured outside it: interpreter start, imports,
  read and fit, from the same CSV file;
* peak RSS: the process's peak resident memory (Linux ``VmHWM``; not ``ru_maxrss``, which a
  child inherits from a large parent) after the imports, through the read, and during the fit
  (the high-water mark is reset between read and fit);
* RMSE of a and of b (traditional form; b over every category boundary) against the truth.

A second table sets qabilet beside mirt at the same node count, without and with standard
errors: both libraries' fit and process times with the ratios qabilet / mirt (the targets: at
most 0.5 without standard errors and 0.6 with them), the process's peak memory, and how far the
two libraries' standard errors of a and b are apart.

Times are the best of ``--repeats`` processes (each row stops repeating once its processes have
taken ``--budget`` seconds). Quadrature: qabilet an equispaced rectangle rule (default 61 nodes
on [−6, 6]), girth Gauss–Legendre (default 41 nodes on [−4.5, 4.5]), mirt Gauss–Hermite
(default 21 nodes). Each library runs at its default and at the other libraries' node counts,
and each peer row is compared with qabilet at the same node count. Convergence: each library's
default criterion (qabilet: no parameter moves 1e-5 in a cycle, SQUAREM; girth: no slope moves
1e-3 in a cycle, at most 25 cycles; mirt: the log-likelihood changes less than 1e-4, at most
500 cycles).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
import venv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _machine import blas_lines, env_line, load, peer_versions, publish, run_lines, table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

HERE = ROOT / "benchmarks"
DRIVER = HERE / "_fit_driver.py"
PEER_VENV = HERE / ".venv-peers"
PEER_PYTHON = PEER_VENV / "bin" / "python"
PEER_PACKAGES = ("mirt", "numpy")
RESULTS = HERE / "results" / "calibration.md"
SEED = 20240612
ENV_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
            "RAYON_NUM_THREADS")


# --- the cases and the settings compared ---------------------------------------------------------
@dataclass(frozen=True)
class Case:
    key: str
    model: str  # "2pl" or "grm"
    n_persons: int
    n_items: int
    n_categories: int = 2
    observed: float = 1.0  # fraction of cells observed (missing completely at random)

    @property
    def label(self) -> str:
        size = f"{self.n_persons:,} × {self.n_items}"
        if self.model == "grm":
            size += f" × {self.n_categories}"
        sparse = f", {self.observed:.0%} observed" if self.observed < 1 else ""
        return f"{self.model.upper()} {size}{sparse}"


CASES = (
    Case("2pl", "2pl", 10_000, 40),
    Case("grm", "grm", 5_000, 20, n_categories=5),
    Case("2pl-large", "2pl", 20_000, 60),
    Case("grm-large", "grm", 10_000, 30, n_categories=5),
    Case("sparse", "2pl", 50_000, 300, observed=0.10),
)
QUICK = {
    "2pl": Case("2pl", "2pl", 2_000, 20),
    "grm": Case("grm", "grm", 1_000, 10, n_categories=5),
    "2pl-large": Case("2pl-large", "2pl", 4_000, 30),
    "grm-large": Case("grm-large", "grm", 2_000, 15, n_categories=5),
    "sparse": Case("sparse", "2pl", 5_000, 100, observed=0.10),
}


@dataclass(frozen=True)
class Setting:
    library: str
    n_points: int
    bounds: tuple[float, float] | None  # None: the library's own rule (mirt: Gauss–Hermite)
    tol: float
    max_iter: int
    default: bool

    @property
    def quadrature(self) -> str:
        rule = {"qabilet": "rectangle", "girth": "Gauss–Legendre", "mirt": "Gauss–Hermite"}
        where = (f" on [{self.bounds[0]:g}, {self.bounds[1]:g}]"
                 if self.bounds is not None else "")
        mark = " (default)" if self.default else ""
        return f"{self.n_points} {rule[self.library]}{where}{mark}".replace("-", "−")


SETTINGS = (
    Setting("qabilet", 61, (-6.0, 6.0), 1e-5, 2000, True),
    Setting("qabilet", 41, (-4.5, 4.5), 1e-5, 2000, False),
    Setting("qabilet", 21, (-6.0, 6.0), 1e-5, 2000, False),
    Setting("girth", 61, (-6.0, 6.0), 0.0, 25, False),
    Setting("girth", 41, (-4.5, 4.5), 0.0, 25, True),
    Setting("mirt", 61, None, 1e-4, 500, False),
    Setting("mirt", 21, None, 1e-4, 500, True),
)


#: the libraries that compute standard errors (girth: only by a bootstrap of whole refits)
SE_LIBRARIES = ("qabilet", "mirt")
#: the issue's targets for qabilet's time over mirt's, without and with standard errors
SE_TARGETS = {False: 0.5, True: 0.6}

#: rows left out of a case, with the reason shown in the table
SKIPPED = {
    ("sparse", "girth", 61): "not run: girth took ~7 min per fit at its default 41 nodes here "
                             "(no pattern or missing-data shortcuts)",
}


# --- data ----------------------------------------------------------------------------------------
def make_case(case: Case, directory: Path) -> dict[str, Any]:
    """Draw the true parameters and the responses, and write the response file."""
    from qabilet.engine.models import GradedResponse, TwoPL
    from qabilet.engine.simulation import simulate_responses
    from qabilet.itembank.response_file import format_responses_csv

    rng = np.random.default_rng([SEED, CASES.index(next(c for c in CASES if c.key == case.key))])
    a = rng.uniform(0.5, 2.5, case.n_items)
    if case.model == "2pl":
        b = rng.normal(0.0, 1.0, case.n_items)
        items = TwoPL(a, b)
    else:
        centre = rng.normal(0.0, 0.5, case.n_items)
        spread = np.linspace(-1.5, 1.5, case.n_categories - 1)
        b = np.sort(centre[:, None] + spread[None, :]
                    + rng.normal(0.0, 0.15, (case.n_items, case.n_categories - 1)), axis=1)
        items = GradedResponse(a, b)
    theta = rng.normal(0.0, 1.0, case.n_persons)
    x = simulate_responses(items, theta, rng)
    observed = rng.random(x.shape) < case.observed if case.observed < 1 else None
    path = directory / f"{case.key}.csv"
    text = format_responses_csv([str(p + 1) for p in range(case.n_persons)],
                                [f"I{i + 1:03d}" for i in range(case.n_items)], x, observed)
    path.write_text(text, encoding="utf-8")
    n_obs = x.size if observed is None else int(observed.sum())
    return {"a": a, "b": b.reshape(case.n_items, -1), "csv": path, "n_observed": n_obs,
            "size_mb": path.stat().st_size / 2**20}


# --- running one fit ------------------------------------------------------------------------------
@dataclass
class Row:
    case: Case
    setting: Setting
    se: bool = False  # standard errors computed (each library's default method)
    runs: int = 0
    spent: float = 0.0
    fit: float = np.inf
    read: float = np.inf
    process: float = np.inf
    cpu: float = np.inf
    startup: float = np.inf
    imports_mib: float = 0.0
    read_mib: float = 0.0
    fit_mib: float = 0.0
    result: dict[str, Any] = field(default_factory=dict)
    failure: str | None = None

    @property
    def peak_mib(self) -> float:
        """The process's peak resident memory over imports, read and fit (MiB)."""
        return max(self.imports_mib, self.read_mib, self.fit_mib)

    @property
    def label(self) -> str:
        """The library, its quadrature and whether standard errors are on, for progress lines."""
        se = "with SEs" if self.se else "no SEs"
        return f"{self.setting.library:<8}{self.setting.quadrature:<40} {se:<9}"


def python_for(library: str) -> Path:
    return PEER_PYTHON if library == "mirt" else Path(sys.executable)


def run_once(row: Row, csv: Path, timeout: float, profile: bool = False) -> None:
    s = row.setting
    bounds = s.bounds if s.bounds is not None else (-6.0, 6.0)
    spec = {"library": s.library, "root": str(ROOT), "csv": str(csv), "model": row.case.model,
            "n_points": s.n_points, "bounds": list(bounds), "tol": s.tol,
            "max_iter": s.max_iter, "se": row.se, "profile": profile}
    cmd = [str(python_for(s.library)), str(DRIVER), json.dumps(spec)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              cwd=str(ROOT))
    except subprocess.TimeoutExpired:
        row.failure = f"stopped after {timeout:.0f} s (--timeout)"
        row.spent += timeout
        return
    wall = time.perf_counter() - t0
    row.spent += wall
    if profile:
        sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        row.failure = f"failed: {last[:200]}"
        print(proc.stderr[-3000:], file=sys.stderr)
        return
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    row.runs += 1
    row.fit = min(row.fit, out["fit"])
    row.read = min(row.read, out["read"])
    row.process = min(row.process, wall)
    row.cpu = min(row.cpu, out["rusage_end"]["cpu_s"] - out["rusage_imported"]["cpu_s"])
    row.startup = min(row.startup, wall - out["read"] - out["fit"])
    row.imports_mib = max(row.imports_mib, out["rusage_imported"]["maxrss_kib"] / 1024)
    row.read_mib = max(row.read_mib, out["rusage_read"]["maxrss_kib"] / 1024)
    row.fit_mib = max(row.fit_mib, out["rusage_end"]["maxrss_kib"] / 1024)
    row.result = out


def rmse(estimate: Any, truth: np.ndarray) -> float:
    est = np.asarray(estimate, dtype=float).reshape(truth.shape)
    return float(np.sqrt(np.mean((est - truth) ** 2)))


# --- environment ---------------------------------------------------------------------------------
def environment() -> list[str]:
    from importlib.metadata import version

    import scipy

    import qabilet

    return [
        *run_lines(('engine', 'calibration', 'itembank')),
        f"- main environment (qabilet, girth): python {platform.python_version()}, numpy "
        f"{np.__version__}, scipy {scipy.__version__}, girth {version('girth')}, qabilet "
        f"{qabilet.__version__}",
        f"- peer environment ({PEER_VENV.relative_to(ROOT)}, mirt): "
        f"{peer_versions(PEER_PYTHON, ('mirt', 'numpy', 'scipy'))}",
        env_line(ENV_VARS, "unset: OpenBLAS picks its kernel from the CPU; mirt's Rust pool uses "
                 "every core"),
        *blas_lines("qabilet's and girth's processes"),
    ]


def setup_peers() -> None:
    print(f"creating {PEER_VENV.relative_to(ROOT)} and installing {', '.join(PEER_PACKAGES)} …",
          flush=True)
    venv.create(PEER_VENV, with_pip=True, clear=False)
    subprocess.run([str(PEER_PYTHON), "-m", "pip", "install", "--quiet", "--upgrade",
                    *PEER_PACKAGES], check=True)


# --- the report ----------------------------------------------------------------------------------
def fmt_s(t: float) -> str:
    return "—" if not np.isfinite(t) else (f"{t:.3f}" if t < 10 else f"{t:.1f}")


def rmse_by_row(rows: list[Row], truth: dict[str, Any]) -> dict[int, tuple[float, float]]:
    """RMSE of a and of b against the truth, by ``id`` of each row that finished."""
    return {id(r): (rmse(r.result["a"], truth["a"]), rmse(r.result["b"], truth["b"]))
            for r in rows if r.runs}


def at_equal_rmse(errors: dict[int, tuple[float, float]]) -> Any:
    """A test of rows: a and b RMSE each within 10% of the best of ``errors`` (the case's)."""
    best_a = min(e[0] for e in errors.values())
    best_b = min(e[1] for e in errors.values())

    def equal(r: Row) -> bool:
        e = errors.get(id(r))
        return e is not None and e[0] <= 1.1 * best_a and e[1] <= 1.1 * best_b

    return equal


def se_method(r: Row) -> str:
    """The standard errors' column: "off", or the method the library reports."""
    if not r.se:
        return "off"
    return str(r.result.get("se_method") or "—") if r.runs else "on"


def build_table(rows: list[Row], truths: dict[str, dict[str, Any]]) -> tuple[str, list[str]]:
    """Every row, with the ratios to qabilet at the same node count and setting of SEs."""
    header = ["case", "library", "quadrature nodes", "SEs", "EM cycles", "fit s", "read s",
              "start + imports s", "process s", "CPU s (read + fit)",
              "peak RSS MiB: imports / read / fit", "RMSE a", "RMSE b", "fit: peer / qabilet",
              "process: peer / qabilet"]
    lines: list[list[str]] = []
    verdicts: list[str] = []
    for case in dict.fromkeys(r.case for r in rows):
        case_rows = [r for r in rows if r.case == case]
        errors = rmse_by_row(case_rows, truths[case.key])
        base = {(r.setting.n_points, r.se): r for r in case_rows
                if r.setting.library == "qabilet" and r.runs}
        for r in case_rows:
            s = r.setting
            cells = [case.label, s.library, s.quadrature, se_method(r)]
            if not r.runs:
                cells += [r.failure or "not run"] + ["—"] * (len(header) - len(cells) - 1)
                lines.append(cells)
                continue
            res = r.result
            conv = res.get("converged")
            note = "" if conv else (" (cap)" if conv is None else " (not converged)")
            ea, eb = errors[id(r)]
            q = base.get((s.n_points, r.se))
            ratio_fit = ratio_proc = "—"
            if s.library != "qabilet" and q is not None:
                ratio_fit = f"{r.fit / q.fit:.2f}×"
                ratio_proc = f"{r.process / q.process:.2f}×"
            runs = "" if r.runs > 1 else " ¹"
            memory = f"{r.imports_mib:,.0f} / {r.read_mib:,.0f} / {r.fit_mib:,.0f}"
            cells += [f"{res['n_iter']}{note}", fmt_s(r.fit) + runs, fmt_s(r.read),
                      fmt_s(r.startup), fmt_s(r.process), fmt_s(r.cpu), memory, f"{ea:.4f}",
                      f"{eb:.4f}", ratio_fit, ratio_proc]
            lines.append(cells)
        verdicts.append(verdict(case, [r for r in case_rows if not r.se], errors))
    return table(header, lines), verdicts


def verdict(case: Case, rows: list[Row], errors: dict[int, tuple[float, float]]) -> str:
    """The target: at most half the time of the fastest peer at equal RMSE (fit, and process)."""
    if not errors:
        return f"{case.label}: no fit finished."
    equal = at_equal_rmse(errors)
    ours = [r for r in rows if r.setting.library == "qabilet" and equal(r)]
    peers = [r for r in rows if r.setting.library != "qabilet" and equal(r)]
    if not ours or not peers:
        who = "qabilet" if not ours else "no peer"
        return (f"{case.label}: {who} reached the best RMSE (within 10%); no like-for-like "
                "ratio.")
    parts = []
    for what, key in (("fit", "fit"), ("process", "process")):
        q = min(ours, key=lambda r: getattr(r, key))
        p = min(peers, key=lambda r: getattr(r, key))
        ratio = getattr(p, key) / getattr(q, key)
        mark = "meets" if ratio >= 2 else "misses"
        parts.append(f"{what}: fastest peer {p.setting.library} at {p.setting.n_points} nodes "
                     f"{fmt_s(getattr(p, key))} s, qabilet at {q.setting.n_points} nodes "
                     f"{fmt_s(getattr(q, key))} s, {ratio:.2f}× ({mark} the 2× target)")
    return f"{case.label} — " + "; ".join(parts) + "."


# --- qabilet beside mirt, without and with standard errors -------------------------------------
def max_relative_difference(peer: Any, ours: Any) -> float:
    """Largest ``|peer − ours| / ours`` over the entries both give (NaN if there are none)."""
    p = np.asarray(peer, dtype=float).ravel()
    q = np.asarray(ours, dtype=float).ravel()
    both = np.isfinite(p) & np.isfinite(q) & (q > 0)
    return float(np.max(np.abs(p[both] - q[both]) / q[both])) if both.any() else float("nan")


def finished(r: Row | None) -> bool:
    """Whether ``r`` is a row and at least one of its processes finished."""
    return r is not None and r.runs > 0


def se_agreement(mirt: Row | None, ours: Row | None) -> str:
    """The largest relative difference of mirt's SEs of a, and of b, from qabilet's."""
    if not (finished(mirt) and finished(ours)):
        return "—"
    diffs = [max_relative_difference(mirt.result.get(k), ours.result.get(k))
             for k in ("a_se", "b_se")]
    return " / ".join("—" if not np.isfinite(d) else f"{d:.1e}" for d in diffs)


def pair(q: Row | None, m: Row | None, key: str) -> tuple[str, str]:
    """``"qabilet / mirt"`` seconds of ``key`` (fit or process) and the ratio qabilet / mirt."""
    text = " / ".join(fmt_s(getattr(r, key)) if finished(r) else "—" for r in (q, m))
    if not (finished(q) and finished(m)):
        return text, "—"
    return text, f"{getattr(q, key) / getattr(m, key):.2f}×"


def se_table(rows: list[Row], truths: dict[str, dict[str, Any]]) -> tuple[str, list[str]]:
    """qabilet beside mirt at each node count both ran, without and with SEs; and the verdicts."""
    header = ["case", "nodes (qabilet rectangle / mirt Gauss–Hermite)", "RMSE a: qabilet / mirt",
              "fit s, no SEs: qabilet / mirt", "qabilet / mirt", "fit s, with SEs: qabilet / mirt",
              "qabilet / mirt", "process s, no SEs: qabilet / mirt", "qabilet / mirt",
              "process s, with SEs: qabilet / mirt", "qabilet / mirt",
              "peak RSS MiB (process), no SEs / with SEs: qabilet; mirt",
              "SEs of a / b: max relative difference"]
    lines: list[list[str]] = []
    verdicts: list[str] = []
    for case in dict.fromkeys(r.case for r in rows):
        case_rows = [r for r in rows if r.case == case]
        errors = rmse_by_row(case_rows, truths[case.key])
        by = {(r.setting.library, r.setting.n_points, r.se): r for r in case_rows}
        nodes = [n for n in dict.fromkeys(r.setting.n_points for r in case_rows)
                 if ("qabilet", n, False) in by and ("mirt", n, False) in by]
        for n in nodes:
            q0, q1 = by[("qabilet", n, False)], by.get(("qabilet", n, True))
            m0, m1 = by[("mirt", n, False)], by.get(("mirt", n, True))
            rmse_a = " / ".join(f"{errors[id(r)][0]:.4f}" if id(r) in errors else "—"
                                for r in (q0, m0))
            memory = "; ".join(" / ".join(f"{r.peak_mib:,.0f}" if finished(r) else "—"
                                          for r in both) for both in ((q0, q1), (m0, m1)))
            cells = [case.label, f"{n} / {n}", rmse_a]
            for key in ("fit", "process"):
                for q, m in ((q0, m0), (q1, m1)):
                    cells += pair(q, m, key)
            lines.append([*cells, memory, se_agreement(m1, q1)])
        verdicts.append(se_verdict(case, case_rows, errors))
    return table(header, lines), verdicts


def se_verdict(case: Case, rows: list[Row], errors: dict[int, tuple[float, float]]) -> str:
    """The targets: qabilet's time over mirt's ≤ 0.5 without SEs and ≤ 0.6 with them.

    Each library at its fastest setting with a and b RMSE each within 10% of the case's best
    (as the 2× target), for the fit and for the whole process.
    """
    if not errors:
        return f"{case.label}: no fit finished."
    equal = at_equal_rmse(errors)
    parts = []
    for se, target in SE_TARGETS.items():
        ours = [r for r in rows if r.setting.library == "qabilet" and r.se == se and equal(r)]
        mirt = [r for r in rows if r.setting.library == "mirt" and r.se == se and equal(r)]
        label = "with SEs" if se else "without SEs"
        if not ours or not mirt:
            parts.append(f"{label}: no {'qabilet' if not ours else 'mirt'} fit at equal RMSE")
            continue
        for key in ("fit", "process"):
            q = min(ours, key=lambda r: getattr(r, key))
            m = min(mirt, key=lambda r: getattr(r, key))
            ratio = getattr(q, key) / getattr(m, key)
            mark = "meets" if ratio <= target else f"misses by {ratio / target - 1:.0%}"
            parts.append(f"{label}, {key}: qabilet at {q.setting.n_points} nodes "
                         f"{fmt_s(getattr(q, key))} s, mirt at {m.setting.n_points} nodes "
                         f"{fmt_s(getattr(m, key))} s, {ratio:.2f}× ({mark} the ≤ {target}× "
                         "target)")
    return f"{case.label} — " + "; ".join(parts) + "."


# --- main ----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default=",".join(c.key for c in CASES),
                   help="comma-separated subset of: " + ", ".join(c.key for c in CASES))
    p.add_argument("--libraries", default="qabilet,girth,mirt")
    p.add_argument("--repeats", type=int, default=3, help="processes per row (best of)")
    p.add_argument("--budget", type=float, default=150.0,
                   help="seconds after which a row stops repeating (default 150)")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per process")
    p.add_argument("--quick", action="store_true", help="small data, one process per row")
    p.add_argument("--keep-data", type=Path, help="write the CSV files here and keep them")
    p.add_argument("--setup-peers", action="store_true",
                   help=f"create {PEER_VENV.relative_to(ROOT)} with mirt, then run")
    p.add_argument("--no-se", action="store_true",
                   help="fit without standard errors only (no second process per setting)")
    p.add_argument("--profile", metavar="CASE",
                   help="profile qabilet's fit (61 nodes) on CASE with cProfile, without and "
                        "with standard errors (unless --no-se); no table")
    p.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.name}")
    args = p.parse_args(argv)

    if args.setup_peers:
        setup_peers()
    wanted = [k.strip() for k in args.cases.split(",") if k.strip()]
    known = {c.key: c for c in CASES}
    unknown = [k for k in wanted if k not in known]
    if unknown:
        p.error(f"unknown case(s) {unknown}; choose from {list(known)}")
    cases = [QUICK[k] if args.quick else known[k] for k in wanted]
    if args.quick:
        args.repeats = 1
    libraries = [x.strip() for x in args.libraries.split(",") if x.strip()]
    if "mirt" in libraries and not PEER_PYTHON.exists():
        print(f"mirt: no peer environment at {PEER_VENV.relative_to(ROOT)}; its rows are not "
              "run (add --setup-peers to create it)", file=sys.stderr)
        libraries.remove("mirt")

    with tempfile.TemporaryDirectory(prefix="qabilet-bench-") as tmp:
        directory = args.keep_data or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        if args.profile:
            case = next((c for c in cases if c.key == args.profile), None)
            if case is None:
                p.error(f"--profile {args.profile}: not among --cases")
            data = make_case(case, directory)
            for se in (False,) if args.no_se else (False, True):
                row = Row(case, SETTINGS[0], se=se)
                run_once(row, data["csv"], args.timeout, profile=True)
                print(f"{row.label.strip()}: fit {fmt_s(row.fit)} s under cProfile",
                      file=sys.stderr)
            return

        env = environment()
        print("\n".join(env), flush=True)
        truths: dict[str, dict[str, Any]] = {}
        rows: list[Row] = []
        loads: list[str] = []
        for case in cases:
            print(f"\n{case.label}: writing the response file …", flush=True)
            truths[case.key] = make_case(case, directory)
            case_rows = [Row(case, s, se=se) for s in SETTINGS if s.library in libraries
                         for se in (False, True)
                         if not se or (s.library in SE_LIBRARIES and not args.no_se)]
            for row in case_rows:
                if case in CASES:  # full size only
                    row.failure = SKIPPED.get((case.key, row.setting.library,
                                               row.setting.n_points))
            before = load()
            for rep in range(args.repeats):
                for row in case_rows:
                    if row.failure or (rep > 0 and row.spent >= args.budget):
                        continue
                    run_once(row, truths[case.key]["csv"], args.timeout)
                    state = row.failure or (f"fit {fmt_s(row.fit)} s, process "
                                            f"{fmt_s(row.process)} s")
                    print(f"  [{rep + 1}/{args.repeats}] {row.label} {state}", flush=True)
            loads.append(f"{case.label}: before {before}; after {load()}")
            rows += case_rows

    table, verdicts = build_table(rows, truths)
    beside, se_verdicts = se_table(rows, truths)
    notes = notes_for(cases, truths, rows, args.repeats, args.budget)
    env.append("- load average (1, 5, 15 min) per case: " + " | ".join(loads)
               + " (a fit alone adds 1 to 2 on this machine's 2 cores)")
    target = ("Against the target (at most half the time of the fastest peer at equal RMSE, i.e. "
              "a and b RMSE each within 10% of the best in the case; without standard errors):")
    se_heading = ("qabilet beside mirt at the same node count, without and with standard errors "
                  "(qabilet se=\"louis\", mirt se_method=\"auto\" → \"oakes\"; girth has none "
                  "but a bootstrap):")
    se_target = ("Against the targets (qabilet's time at most 0.5× mirt's without standard errors "
                 "and 0.6× with them; each library at its fastest setting at equal RMSE):")
    publish(RESULTS, "Calibration: qabilet vs girth and mirt", "bench_calibration.py",
            argv, [(None, table), (target, verdicts), (se_heading, beside),
                   (se_target, se_verdicts), ("Notes:", notes)], env,
            write=not args.no_write and not args.quick)


def qabilet_criterion() -> str:
    """qabilet's default stopping rule, read from MML's signature (it is still changing)."""
    import inspect

    from qabilet.calibration import MML

    params = inspect.signature(MML).parameters
    text = (f"no parameter (slope-intercept form) moves more than {MML()._tolerance():g} in "
            "an EM cycle")
    if "tol_loglik" in params:
        text += (" and the log-likelihood changes by at most "
                 f"{params['tol_loglik'].default:g} of its size")
    return text


def notes_for(cases: list[Case], truths: dict[str, dict[str, Any]], rows: list[Row],
              repeats: int, budget: float) -> list[str]:
    data = "; ".join(
        f"{c.label}: {truths[c.key]['n_observed']:,} responses, {truths[c.key]['size_mb']:.1f} MB"
        for c in cases)
    single = any(r.runs == 1 for r in rows) and repeats > 1
    return [
        f"Data (seed {SEED}): a ~ U(0.5, 2.5); 2PL b ~ N(0, 1); GRM boundaries "
        "c + (−1.5, −0.5, 0.5, 1.5) + N(0, 0.15²) noise, sorted, with c ~ N(0, 0.5²); "
        f"θ ~ N(0, 1); missing cells completely at random. {data}.",
        f"Times in seconds, the best of {repeats} processes per row"
        + (f"; ¹ one process only (the row's first took over {budget:.0f} s, --budget)"
           if single else "") + ". fit: the estimation alone, inside the process. read: CSV "
        "file to the library's input, inside the process. process: the whole process measured "
        "outside it (interpreter start, imports, read, fit); start + imports: process − read − "
        "fit. Peak RSS: the process's peak resident memory (Linux VmHWM) after the imports, "
        "through the read, and during the fit alone (the mark is reset after the read; the fit's "
        "peak includes the data the process holds).",
        "peer / qabilet: the peer's time over qabilet's at the same node count (above 1: "
        "qabilet is faster). RMSE against the true a and b, traditional form (b over every "
        "category boundary of the GRM).",
        "Standard errors (SEs column): off, or each library's default method, in a process of "
        "its own and timed in fit (and process). qabilet MML(compute_se=True, se=\"louis\"): "
        "the inverse observed information in closed form by Louis' (1982) identity, from one "
        "E-step at the estimates, SEs of a and b by the delta method. mirt fit_mirt("
        "compute_standard_errors=True, se_method=\"auto\"), which it resolves to \"oakes\" "
        "for a unidimensional 2PL or GRM: the inverse observed information of the marginal "
        "likelihood, computed exactly by Louis' identity in numpy (blocks of persons), its SEs "
        "of the discrimination, difficulty and thresholds in the same traditional form. girth "
        "offers standard_errors_bootstrap only (2,000 refits by default over 2 processes, i.e. "
        "about 1,000× its fit time): not run.",
        "SEs of a / b: the largest relative difference |mirt − qabilet| / qabilet over the "
        "items' SEs of a, and over every b (each category boundary of the GRM), at the same node "
        "count; part of it is the two quadrature rules' different estimates. Peak RSS "
        "(process): the largest of the three peaks of the first table (imports, read, fit).",
        f"Convergence, each library's default: qabilet stops when {qabilet_criterion()} "
        "(SQUAREM-accelerated; cycles counted as E-steps, max 2000); girth when no slope "
        "moves more than 1e-3 in a cycle, or after "
        "max_iteration = 25 cycles (\"cap\": the cycle count reached it); mirt when the "
        "marginal log-likelihood changes by less than 1e-4 between cycles (plain EM, max 500; "
        "its 2PL runs a native Rust EM loop, its GRM the generic EM loop with native kernels).",
        "Quadrature: qabilet an equispaced rectangle rule with normalised N(0, 1) weights "
        "(default 61 nodes on [−6, 6], as R's mirt); girth Gauss–Legendre on its bounds "
        "(default 41 on [−4.5, 4.5]), with its lookup table for the boundaries (use_LUT, "
        "default); mirt Gauss–Hermite (default 21 nodes, no bounds to set).",
        "Readers: qabilet's read_responses_csv validates every cell and the header (docs/design.md "
        "§6). girth and mirt have no CSV reader; they get a vectorised numpy parser of this "
        "unquoted layout (benchmarks/_fit_driver.py read_matrix), then girth's items × persons "
        "array with its INVALID_RESPONSE sentinel and mirt's persons × items int matrix with "
        "-1 for missing. mirt imports about a second of modules lazily on the first fit_mirt "
        "call; the driver imports them before the timer, so they count in process, not in fit.",
        "Threads: CPU s is the process's user + system time during read and fit (above the "
        "wall time: more than one core busy). qabilet's calibration runs numpy on one thread "
        "and its matrix products in OpenBLAS on both cores; mirt's Rust kernels run in a rayon "
        "pool over both cores; girth runs numpy on one thread.",
    ]


if __name__ == "__main__":
    main()
