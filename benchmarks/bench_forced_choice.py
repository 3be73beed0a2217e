"""Forced-choice calibration (Thurstonian IRT): qabilet's two estimators against lavaan's WLSMV.

Run by hand from the repository root (not part of the test suite)::

    .venv/bin/python benchmarks/bench_forced_choice.py               # both cases (~20 min, lavaan most)
    .venv/bin/python benchmarks/bench_forced_choice.py --case nine   # qabilet at 5,000 × 30 × 9
    .venv/bin/python benchmarks/bench_forced_choice.py --no-lavaan --no-write

The cases:

* **reference**: the reference triplets in ``tests/data/fc`` (2,000 persons × 20 triplets ×
  5 traits, full rankings, with the generating truth). qabilet's limited-information fit
  (``fit_forced_choice``: DWLS on the 60 pairwise outcomes' thresholds and 1,770
  tetrachorics) and its full-information fit (``fit_forced_choice_mhrm``: MH-RM on the exact
  block likelihood, started from the DWLS fit) against R's lavaan (Debian's ``r-cran-lavaan``;
  ``cfa(..., estimator = "WLSMV", parameterization = "theta", std.lv = TRUE)`` on the same
  pairwise outcomes with the model of ``tests/data/fc/fc_dev_triplets_lavaan_model.txt``, the
  coding of Brown & Maydeu-Olivares 2012), run by ``Rscript`` in a process of its own; its time
  is the ``cfa`` call measured inside R. Recovery is compared on λ/ψ, which does not depend on
  how each block's utility scale is fixed, and on the trait correlations.
* **nine**: 5,000 persons × 30 triplets × 9 correlated traits (each trait in ten blocks, every
  pair of traits compared, a quarter of the statements negatively keyed), simulated with known
  truth — the size the issue sets a 5-minute limit for. lavaan is not run at this size (90
  binary outcomes, 4,005 tetrachorics: well beyond its time on the reference case).

Wall seconds by ``time.perf_counter``. The table goes to stdout and to
``benchmarks/results/forced_choice.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _machine import publish, python_speed, run_lines, table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from qabilet.calibration import (  # noqa: E402
    ForcedChoiceFit,
    fit_forced_choice,
    fit_forced_choice_mhrm,
    pairwise_outcomes,
)
from qabilet.engine.forced_choice import (  # noqa: E402
    BlockDesign,
    BlockResponses,
    ThurstonianBlocks,
    simulate_blocks,
)
from qabilet.itembank.forced_choice_file import read_block_answers, read_design  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "forced_choice.md"
DATA = ROOT / "tests" / "data" / "fc"

LAVAAN = """
suppressMessages(library(lavaan))
args <- commandArgs(trailingOnly = TRUE)
y <- read.csv(args[1])
model <- paste(readLines(args[2]), collapse = "\\n")
t0 <- Sys.time()
fit <- cfa(model, data = y, ordered = names(y), estimator = "WLSMV", parameterization = "theta",
           std.lv = TRUE)
seconds <- as.numeric(Sys.time() - t0, units = "secs")
pe <- parameterEstimates(fit)
write.csv(pe[, c("lhs", "op", "rhs", "label", "est")], args[3], row.names = FALSE)
cat(seconds, fitMeasures(fit, "chisq"), "\\n")
"""


def ratio_rmse(design: BlockDesign, lam: np.ndarray, psi2: np.ndarray, truth: ThurstonianBlocks) -> float:
    """RMSE of λ/ψ against the truth's."""
    return float(np.sqrt(np.mean((lam / np.sqrt(psi2) - truth.lam / np.sqrt(truth.psi2)) ** 2)))


def row(label: str, seconds: float, fit: ForcedChoiceFit | None, truth: ThurstonianBlocks,
        phi_truth: np.ndarray, note: str = "") -> list[str]:
    if fit is None:
        return [label, f"{seconds:.1f}", "", "", "", note]
    return [label, f"{seconds:.1f}", f"{ratio_rmse(fit.design, fit.lam, fit.psi2, truth):.4f}",
            f"{np.sqrt(np.mean((fit.phi - phi_truth) ** 2)):.4f}",
            "yes" if fit.converged else "no", note]


def timed_fits(design: BlockDesign, answers: BlockResponses, seed: int
               ) -> tuple[ForcedChoiceFit, float, ForcedChoiceFit, float]:
    started = time.perf_counter()
    li = fit_forced_choice(design, answers)
    li_seconds = time.perf_counter() - started
    started = time.perf_counter()
    full = fit_forced_choice_mhrm(design, answers, start=li, seed=seed)
    return li, li_seconds, full, li_seconds + time.perf_counter() - started


def lavaan(design: BlockDesign, answers: BlockResponses) -> dict | None:
    """lavaan's WLSMV fit of the pairwise outcomes (None when R or lavaan is missing)."""
    if shutil.which("Rscript") is None:
        return None
    y, pairs = pairwise_outcomes(design, answers)
    names = [f"{design.statement_ids[i]}_{design.statement_ids[j]}" for i, j in pairs]
    with tempfile.TemporaryDirectory() as tmp:
        data, script, table_ = Path(tmp) / "y.csv", Path(tmp) / "fit.R", Path(tmp) / "pe.csv"
        np.savetxt(data, y.astype(int), delimiter=",", header=",".join(names), comments="", fmt="%d")
        script.write_text(LAVAAN)
        done = subprocess.run(["Rscript", str(script), str(data),
                               str(DATA / "fc_dev_triplets_lavaan_model.txt"), str(table_)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return None
        rows = list(csv.DictReader(table_.open()))
    seconds, chisq = (float(v) for v in done.stdout.split()[:2])
    est = {r["label"]: float(r["est"]) for r in rows if r["label"]}
    # a statement's loading is labelled l_ where it comes first in a comparison, m_ = −l_ second
    lam = np.array([est[f"l_{i}"] if f"l_{i}" in est else -est[f"m_{i}"] for i in design.statement_ids])
    # error variances: the first of a block 1; Cov(e_12, e_23) = -psi2_2 (q), Cov(e_13, e_23) = psi2_3 (p)
    psi2 = np.array([est.get(f"p_{i}", -est.get(f"q_{i}", -1.0)) for i in design.statement_ids])
    traits = list(design.traits)
    phi = np.eye(len(traits))
    for r in rows:
        if r["op"] == "~~" and r["lhs"] in traits and r["rhs"] in traits and r["lhs"] != r["rhs"]:
            a, b = traits.index(r["lhs"]), traits.index(r["rhs"])
            phi[a, b] = phi[b, a] = float(r["est"])
    return {"seconds": seconds, "chisq": chisq, "lambda": lam, "psi2": psi2, "phi": phi}


def reference_case(with_lavaan: bool) -> tuple[list[list[str]], list[str]]:
    design = read_design(DATA / "fc_dev_triplets_design.json")
    answers = read_block_answers(DATA / "fc_dev_triplets_responses.csv", design).responses
    raw = json.loads((DATA / "fc_dev_triplets_truth.json").read_text())
    ids = design.statement_ids
    truth = ThurstonianBlocks(design, [raw["mu"][i] for i in ids], [raw["lambda"][i] for i in ids],
                              [raw["psi2"][i] for i in ids])
    phi = np.asarray(raw["Phi"])
    li, li_s, full, full_s = timed_fits(design, answers, seed=1)
    rows = [row("reference: qabilet DWLS", li_s, li, truth, phi),
            row("reference: qabilet MH-RM (from DWLS)", full_s, full, truth, phi)]
    notes = []
    if with_lavaan:
        fitted = lavaan(design, answers)
        if fitted is None:
            rows.append(["reference: lavaan WLSMV", "", "", "", "", "Rscript or lavaan missing"])
        else:
            lav = ForcedChoiceFit(design, li.mu, fitted["lambda"], fitted["psi2"], fitted["phi"],
                                  li.mu_se, li.lam_se, li.psi2_se, li.phi_se, "lavaan", li.n_persons,
                                  True, 0, fitted["seconds"])
            rows.append(row("reference: lavaan 0.6 WLSMV", fitted["seconds"], lav, truth, phi,
                            f"chi-square {fitted['chisq']:.1f}"))
            notes.append(f"lavaan's cfa took {fitted['seconds']:.1f} s: qabilet's DWLS is "
                         f"{fitted['seconds'] / li_s:.0f}× faster, its MH-RM "
                         f"{fitted['seconds'] / full_s:.1f}× faster.")
    return rows, notes


def nine_case(seed: int = 9) -> tuple[list[list[str]], list[str]]:
    rng = np.random.default_rng(seed)
    traits = [f"T{k + 1}" for k in range(9)]
    # 30 triplets, each trait in ten, all 36 pairs: three cyclic rounds over the nine traits
    # (offsets 1 and 3, 2 and 5, 3 and 7) and three blocks that take each trait once more
    triples = [(t, (t + a) % 9, (t + b) % 9) for a, b in ((1, 3), (2, 5), (3, 7)) for t in range(9)]
    triples += [(0, 4, 6), (1, 5, 7), (2, 3, 8)]
    keyed = np.where(rng.random(90) < 0.25, -1, 1)
    blocks = [(f"B{b + 1}", [(f"S{3 * b + s + 1}", traits[t], int(keyed[3 * b + s]))
                             for s, t in enumerate(tri)]) for b, tri in enumerate(triples)]
    design = BlockDesign.from_blocks(traits, blocks)
    lam = design.keyed * rng.uniform(0.6, 1.2, 90)
    truth = ThurstonianBlocks(design, rng.normal(0, 0.8, 90), lam, np.maximum(1 - lam**2, 0.3))
    phi = np.full((9, 9), 0.2)
    phi[:4, :4], phi[4:, 4:] = 0.5, 0.3
    np.fill_diagonal(phi, 1.0)
    eta = rng.multivariate_normal(np.zeros(9), phi, 5000)
    answers = simulate_blocks(truth, eta, rng)
    li, li_s, full, full_s = timed_fits(design, answers, seed=2)
    rows = [row("nine: qabilet DWLS", li_s, li, truth, phi),
            row("nine: qabilet MH-RM (from DWLS)", full_s, full, truth, phi)]
    notes = [f"5,000 × 30 × 9: the whole full-information calibration (DWLS start and MH-RM) "
             f"in {full_s:.0f} s against the target of 300 s."]
    return rows, notes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=["reference", "nine", "all"], default="all")
    parser.add_argument("--no-lavaan", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    header = ["case, estimator", "wall s", "RMSE of λ/ψ", "RMSE of Φ", "converged", "note"]
    rows, notes = [], []
    speed_before = python_speed()
    if args.case in ("reference", "all"):
        r, n = reference_case(not args.no_lavaan)
        rows += r
        notes += n
    if args.case in ("nine", "all"):
        r, n = nine_case()
        rows += r
        notes += n
    env = [*run_lines(("calibration", "engine")),
           f"- machine speed (`_machine.python_speed`, lower is faster): {speed_before:.0f} ms "
           f"before the run, {python_speed():.0f} ms after"]
    publish(RESULTS, "Forced-choice calibration: DWLS, MH-RM and lavaan", "bench_forced_choice.py",
            argv, [(None, table(header, rows)), (None, notes)], env, write=not args.no_write)


if __name__ == "__main__":
    main()
