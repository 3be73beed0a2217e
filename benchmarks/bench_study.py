"""A simulation study on a local Dask cluster: 108 cells × 1,000 simulees on 1 and on 2 workers.

Run by hand from the repository root (not part of the test suite)::

    .venv/bin/python benchmarks/bench_study.py              # 108 cells × 1,000 simulees
    .venv/bin/python benchmarks/bench_study.py --quick      # 12 cells × 200 simulees: a smoke run
    .venv/bin/python benchmarks/bench_study.py --no-serial --no-write

The study (fixed seed): one bank of 300 2PL items (a ~ U(0.6, 2.2), b ~ N(0, 1)) crossed with
4 selection rules (mfi, mpwi, kl, random) × 3 exposure rules (none, randomesque:5, astrat:4) ×
3 stopping rules (SE < 0.3 or 30 items; SE < 0.4 or 20 items; 20 items fixed) × 3 true-θ
distributions (N(0, 1), N(1, 1), U(−3, 3)): 108 cells, one replication of 1,000 simulees each
(108,000 adaptive tests). ``--quick``: mfi and kl × none and randomesque:5 × the first stopping
rule × the three distributions (12 cells) of 200 simulees.

Measured (``time.perf_counter``): for 1 and for 2 worker processes of one thread
(``LocalCluster(processes=True, threads_per_worker=1)``), the cluster's start, the cells (from
the first task submitted to the last cell's file written by the client, the tidy table
included) and the cluster's close, each in a results folder of its own, ``--rounds`` times each
(2) in the order 1, 2, 2, 1, … (the best kept); the speed-up is the cells' time on 1 worker
over that on 2. The CPU time the tasks' threads got over the cells' wall time says how many
cores the study had: on a machine shared with other work, fewer than its workers. For the cost
of Dask itself, the same cells run one after the other in this process, without a cluster
(``--no-serial`` leaves it out). The summary and the report are written once, after the
2-worker runs, and timed. All the runs' tables are checked equal (the seeds are the cells',
not the workers'). The table goes to stdout and to ``benchmarks/results/study.md``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _machine import load, publish, python_speed, run_lines, table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from qabilet.engine.bank import ItemBank  # noqa: E402
from qabilet.engine.models import TwoPL  # noqa: E402
from qabilet.itembank.parameter_file import write_parameter_file  # noqa: E402
from qabilet.study import parse_spec, plan_study, run_study  # noqa: E402
from qabilet.study.cells import run_cell  # noqa: E402
from qabilet.study.report import write_report  # noqa: E402
from qabilet.study.run import _client, _settings  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "study.md"
ORDER = (1, 2, 2, 1, 1, 2, 2, 1)  # workers per run: interleaved, so that a drift in load is shared
N_ITEMS = 300


def write_bank(folder: Path, seed: int = 2026) -> Path:
    """The bank's parameter file: ``N_ITEMS`` 2PL items drawn with a fixed seed."""
    rng = np.random.default_rng(seed)
    bank = ItemBank([TwoPL(rng.uniform(0.6, 2.2, N_ITEMS), rng.normal(0.0, 1.0, N_ITEMS))],
                    item_ids=[f"I{k + 1:03d}" for k in range(N_ITEMS)])
    path = folder / "bank.json"
    write_parameter_file(path, bank)
    return path


def study(bank: Path, quick: bool) -> dict:
    """The study's mapping (as its TOML file would hold it)."""
    stopping = [{"name": "se0.3-max30", "se_target": 0.3, "max_items": 30},
                {"name": "se0.4-max20", "se_target": 0.4, "max_items": 20},
                {"name": "fixed20", "se_target": 0, "max_items": 20}]
    return {
        "name": "bench", "seed": 2026, "simulees": 200 if quick else 1000, "replications": 1,
        "selection": ["mfi", "kl"] if quick else ["mfi", "mpwi", "kl", "random"],
        "exposure": ["none", "randomesque:5"] if quick else ["none", "randomesque:5", "astrat:4"],
        "bank": [{"name": "2pl-300", "file": str(bank)}],
        "stopping": stopping[:1] if quick else stopping,
        "theta": [{"name": "N(0,1)", "distribution": "normal", "mean": 0, "sd": 1},
                  {"name": "N(1,1)", "distribution": "normal", "mean": 1, "sd": 1},
                  {"name": "U(-3,3)", "distribution": "uniform", "low": -3, "high": 3}],
    }


def on_cluster(spec, workers: int, out: Path) -> dict[str, float]:
    """Start a local cluster of ``workers``, run every cell, close it: the three times, and the
    CPU time the cells' tasks got."""
    t0 = time.perf_counter()
    with _client(None, workers) as client:
        t1 = time.perf_counter()
        run = run_study(spec, out, client=client, report=False)
        t2 = time.perf_counter()
    t3 = time.perf_counter()
    assert run.complete and len(run.ran) == len(run.cells)
    cpu = sum(c for _, c in run.timings.values())
    return {"start": t1 - t0, "cells": t2 - t1, "close": t3 - t2, "cpu": cpu}


def serial(spec) -> float:
    """Every cell's task in this process, one after the other."""
    plan = plan_study(spec)
    t0 = time.perf_counter()
    for cell in plan.cells:  # the baseline: no cluster
        bank, definition, values = plan.task(cell)
        run_cell(plan.banks[bank].bank, definition, values)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="12 cells × 200 simulees")
    parser.add_argument("--no-serial", action="store_true",
                        help="leave out the cells run in this process without a cluster")
    parser.add_argument("--rounds", type=int, default=2,
                        help="runs per number of workers, interleaved (best kept; default 2)")
    parser.add_argument("--no-write", action="store_true", help="do not write the results file")
    args = parser.parse_args(argv)
    speed_before, load_before = python_speed(), load()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        spec = parse_spec(study(write_bank(folder), args.quick))
        n_cells, n = spec.n_cells, spec.simulees
        print(f"{n_cells} cells × {n:,} simulees …", flush=True)
        runs: dict[int, list[dict[str, float]]] = {1: [], 2: []}
        for k, w in enumerate(ORDER[: 2 * args.rounds]):  # interleaved: the load drifts
            runs[w].append(on_cluster(spec, w, folder / f"w{w}-{k}"))
            print(f"  {w} worker(s): {runs[w][-1]['cells']:.1f} s", flush=True)
        times = {w: min(r, key=lambda t: t["cells"]) for w, r in runs.items()}
        tables = {p.read_bytes() for p in folder.glob("w*/results.csv")}
        same = len(tables) == 1
        report_folder = next(folder.glob("w2-*"))
        t0 = time.perf_counter()
        write_report(report_folder, _settings(spec))
        report_s = time.perf_counter() - t0
        alone = None if args.no_serial else serial(spec)
    tests = n_cells * n
    header = ["run", "workers", "cluster start s", "cells s (each run)", "close s", "tests/s",
              "cores the tasks got", "speed-up (cells)"]
    rows = [[f"local cluster, {w} worker{'s' if w > 1 else ''} (1 thread each)", str(w),
             f"{t['start']:.1f}",
             f"**{t['cells']:.1f}** ({', '.join(format(r['cells'], '.1f') for r in runs[w])})",
             f"{t['close']:.1f}", f"{tests / t['cells']:,.0f}", f"{t['cpu'] / t['cells']:.2f}",
             f"{times[1]['cells'] / t['cells']:.2f}×"]
            for w, t in times.items()]
    if alone is not None:
        rows.append(["in this process, no cluster (the cells one after the other)", "—", "—",
                     f"{alone:.1f}", "—", f"{tests / alone:,.0f}", "—",
                     f"{times[1]['cells'] / alone:.2f}×"])
    notes = [f"{n_cells} cells × {n:,} simulees ({tests:,} adaptive tests) on a bank of "
             f"{N_ITEMS} 2PL items; the cells cross "
             + ("2 selection × 2 exposure × 1 stopping rule × 3 θ distributions"
                if args.quick else "4 selection (mfi, mpwi, kl, random) × 3 exposure (none, "
                "randomesque:5, astrat:4) × 3 stopping rules (SE < 0.3 or 30 items, SE < 0.4 "
                "or 20, 20 fixed) × 3 θ distributions (N(0, 1), N(1, 1), U(−3, 3))") + ".",
             f"cells s: from the first task submitted to the last cell's file written by the "
             f"client, the tidy table included; the best of {args.rounds} run(s) per row, the "
             f"1- and 2-worker runs interleaved; the speed-up is 1 worker's cells time over "
             f"this row's. Cores the tasks got: the CPU time of the threads that ran the cells "
             f"over the cells' wall time (at most the workers; less when other work shares the "
             f"machine).",
             f"The tables of the 1- and 2-worker runs are {'identical' if same else 'DIFFERENT'} "
             f"byte for byte.",
             f"Summary and report (summary.csv, conditional.csv, report.html with its figures), "
             f"once: {report_s:.1f} s."]
    env = [*run_lines(("engine", "qabilet")),
           f"- machine speed (`_machine.python_speed`, lower is faster): {speed_before:.0f} ms "
           f"before the run, {python_speed():.0f} ms after",
           f"- load average (1, 5, 15 min): {load_before} before the run, {load()} after",
           f"- numpy {np.__version__}, dask {__import__('dask').__version__}, distributed "
           f"{__import__('distributed').__version__}"]
    publish(RESULTS, "A simulation study on a local Dask cluster: 1 and 2 workers",
            "bench_study.py", argv, [(None, table(header, rows)), (None, notes)], env,
            write=not (args.no_write or args.quick))
    if not same:
        sys.exit("the 1- and 2-worker tables differ")


if __name__ == "__main__":
    main()
