"""Simulation studies on a local Dask cluster: resuming, seeds, statistics by hand, the report,
Ctrl-C, a bank from the database.

One cluster of one worker process serves the module (``client``); a study of 4 cells × 2
replications × 50 simulees runs once uninterrupted (``whole``) and is the reference.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from qabilet.engine.cat import Blueprint, simulate_cat
from qabilet.itembank.parameter_file import read_parameter_file
from qabilet.study import parse_spec, plan_study, run_study
from qabilet.study.cells import run_cell
from qabilet.study.run import _client

BANK = Path(__file__).resolve().parents[1] / "data" / "cat" / "bank.json"
STUDY = {
    "name": "resume", "seed": 11, "simulees": 50, "replications": 2,
    "selection": ["mfi", "kl"], "exposure": ["none", "randomesque:4"],
    "bank": [{"name": "cat", "file": str(BANK)}],
    "stopping": [{"name": "se35", "se_target": 0.35, "max_items": 20}],
    "theta": [{"name": "wide", "distribution": "uniform", "low": -2.5, "high": 2.5}],
}


@pytest.fixture(scope="module")
def client():
    with _client(None, 1) as c:
        yield c


@pytest.fixture(scope="module")
def whole(client, tmp_path_factory):
    """The study run in one go, with its report."""
    return run_study(parse_spec(STUDY), tmp_path_factory.mktemp("whole"), client=client)


def _rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_an_interrupted_study_reruns_only_its_unfinished_cells(whole, client, tmp_path):
    spec = parse_spec(STUDY)
    first = run_study(spec, tmp_path, client=client, stop_after=1, report=False)
    assert len(first.ran) == 1 and not first.complete and first.skipped == []
    assert not (tmp_path / "results.csv").exists()
    written = {p.stem for p in (tmp_path / "cells").glob("*.csv")}
    assert written == set(first.ran)  # only whole files: nothing of the cancelled cells
    (done,) = written
    stamp = (tmp_path / "cells" / f"{done}.csv").stat().st_mtime_ns

    second = run_study(spec, tmp_path, client=client, report=False)
    keys = [c.key for c in whole.cells]
    assert second.complete and second.skipped == [done]
    assert sorted(second.ran) == sorted(set(keys) - {done})
    assert (tmp_path / "cells" / f"{done}.csv").stat().st_mtime_ns == stamp  # not rewritten
    # the resumed study's table is the uninterrupted one's, byte for byte
    assert (tmp_path / "results.csv").read_bytes() == whole.table.read_bytes()

    third = run_study(spec, tmp_path, client=client, report=False)
    assert third.ran == [] and sorted(third.skipped) == sorted(keys)


def test_the_tidy_table_has_a_row_per_simulee_and_cell(whole):
    rows = _rows(whole.table)
    assert len(rows) == 4 * 2 * 50
    assert list(rows[0]) == ["cell", "bank", "blueprint", "selection", "exposure", "stopping",
                             "theta_distribution", "replication", "simulee", "true_theta",
                             "theta", "se", "length", "stop_reason", "items"]
    levels = {(r["cell"], r["selection"], r["exposure"]) for r in rows}
    assert levels == {("1", "mfi", "none"), ("2", "mfi", "randomesque:4"), ("3", "kl", "none"),
                      ("4", "kl", "randomesque:4")}
    for r in rows:
        assert len(r["items"].split()) == int(r["length"]) <= 20
        assert r["stop_reason"] in ("se_target", "max_items")
        assert r["stop_reason"] == "max_items" or float(r["se"]) < 0.35
        assert -2.5 <= float(r["true_theta"]) <= 2.5


def _seed(definition, *without):
    text = json.dumps({k: v for k, v in definition.items() if k not in without},
                      sort_keys=True, separators=(",", ":"))
    return int(hashlib.sha256(text.encode()).hexdigest(), 16)


def test_seeds_come_from_the_study_seed_and_the_cells_definition(whole):
    """Replication r of a cell is the engine's simulation with the seeds docs/studies.md gives;
    cells with one θ distribution test the same simulees."""
    manifest = json.loads((whole.out / "study.json").read_text())
    rows = _rows(whole.table)
    bank = read_parameter_file(BANK).to_bank()
    cell = manifest["cells"][3]
    definition = cell["definition"]
    r = 2
    theta_seed = _seed({"seed": 11, "theta": definition["theta"], "simulees": 50})
    true = np.random.default_rng(np.random.SeedSequence(theta_seed, spawn_key=(r - 1,))
                                 ).uniform(-2.5, 2.5, 50)
    gen = np.random.default_rng(np.random.SeedSequence(_seed(definition, "replications"),
                                                       spawn_key=(1, r - 1)))
    sim = simulate_cat(bank, Blueprint.from_dict(definition["blueprint"]), theta=true, rng=gen)
    mine = [x for x in rows if x["cell"] == "4" and x["replication"] == str(r)]
    assert [float(x["true_theta"]) for x in mine] == true.tolist()
    assert [float(x["theta"]) for x in mine] == sim.theta.tolist()
    assert [x["items"].split() for x in mine] == [
        [bank.item_ids[i] for i in sim.items[j, : sim.length[j]]] for j in range(sim.n)]
    by_cell = defaultdict(list)
    for x in rows:
        by_cell[x["cell"]].append((x["replication"], x["simulee"], x["true_theta"]))
    assert len({tuple(v) for v in by_cell.values()}) == 1  # common random numbers
    assert len({tuple(x["theta"] for x in rows if x["cell"] == c) for c in by_cell}) == 4


def test_summary_statistics_match_a_computation_by_hand(whole):
    rows = _rows(whole.table)
    summary = {s["cell"]: s for s in _rows(whole.summary)}
    assert len(summary) == 4
    for number in summary:
        mine = [x for x in rows if x["cell"] == number]
        n = len(mine)
        errors = [float(x["theta"]) - float(x["true_theta"]) for x in mine]
        lengths = [int(x["length"]) for x in mine]
        given = Counter(i for x in mine for i in x["items"].split())
        mean_length = sum(lengths) / n
        expected = {
            "n": n, "replications": 2,
            "bias": sum(errors) / n, "rmse": math.sqrt(sum(e * e for e in errors) / n),
            "mean_se": sum(float(x["se"]) for x in mine) / n, "mean_length": mean_length,
            "max_exposure": max(given.values()) / n,
            "overlap": sum(m * (m - 1) for m in given.values()) / (n * (n - 1) * mean_length),
        }
        got = summary[number]
        for key, value in expected.items():
            assert float(got[key]) == pytest.approx(value, rel=1e-12), (number, key)
    # conditional on true θ, bins of 0.5: [k/2, (k+1)/2)
    conditional = _rows(whole.out / "conditional.csv")
    assert sum(int(c["n"]) for c in conditional) == len(rows)
    for c in conditional:
        low = float(c["theta_low"])
        mine = [x for x in rows if x["cell"] == c["cell"]
                and math.floor(float(x["true_theta"]) / 0.5) * 0.5 == low]
        errors = [float(x["theta"]) - float(x["true_theta"]) for x in mine]
        assert int(c["n"]) == len(mine) > 0
        assert float(c["theta_high"]) == low + 0.5
        assert float(c["rmse"]) == pytest.approx(math.sqrt(sum(e * e for e in errors)
                                                           / len(mine)), rel=1e-12)
        assert float(c["bias"]) == pytest.approx(sum(errors) / len(mine), rel=1e-12, abs=1e-15)


def test_the_report_is_one_page_with_its_figures(whole):
    page = whole.report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    # the heat map of every cell, and per varying factor (selection, exposure) two figures
    assert page.count("<svg ") == 5
    for title in ("RMSE by cell and true θ", "RMSE by true θ per selection rule",
                  "Statistics per selection rule", "RMSE by true θ per exposure rule",
                  "Statistics per exposure rule"):
        assert f'aria-label="{title}"' in page
    assert "http://" not in page.replace("http://www.w3.org/", "")  # loads nothing
    summary = {s["cell"]: s for s in _rows(whole.summary)}
    for number, s in summary.items():
        shown = f'data-cell="{number}" data-statistic="rmse">{float(s["rmse"]):.4f}<'
        assert shown in page


def _gone(group, timeout=20.0):
    """Whether no process of ``group`` is left (zombies reaped by init included) in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_ctrl_c_closes_the_cluster_and_the_same_command_resumes(client, tmp_path):
    """Ctrl-C reaches the command's whole process group (as a terminal sends it): the command
    closes its cluster, keeps the finished cells, and says how to resume."""
    study = tmp_path / "study.toml"
    study.write_text(f"""seed = 3
simulees = 300
replications = 2
workers = 1
selection = ["mfi", "kl"]
exposure = ["none", "randomesque:4"]
[[bank]]
name = "cat"
file = {json.dumps(str(BANK))}
""")
    out = tmp_path / "out"
    qabilet = Path(sys.executable).with_name("qabilet")
    proc = subprocess.Popen([str(qabilet), "study", str(study), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while not list(out.glob("cells/*.csv")) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "interrupted:" in err and "the same command resumes the study" in err
    assert "Traceback" not in err
    assert _gone(proc.pid), "a worker of the cluster outlived the command"
    finished = {p.stem for p in out.glob("cells/*.csv")}
    assert 1 <= len(finished) < 4
    rerun = run_study(study, out, client=client, report=False)
    assert sorted(rerun.skipped) == sorted(finished)
    assert len(rerun.ran) == 4 - len(finished) and rerun.complete


def test_a_section_of_a_bank_version_in_the_database(demo_db, client, tmp_path):
    from qabilet.itembank.blueprints import section_items
    from qabilet.itembank.database import connect
    from qabilet.itembank.repository import BankRepository

    spec = parse_spec({"seed": 1, "simulees": 40,
                       "bank": [{"name": "middle", "database": demo_db, "level": "middle",
                                 "section": "service_to_public"}],
                       "stopping": [{"name": "short", "max_items": 8, "se_target": 0}]})
    plan = plan_study(spec)
    engine = connect(demo_db)
    repo = BankRepository(engine)
    stored = repo.blueprint("middle")
    section = next(s for s in stored.sections if s.name == "service_to_public")
    version = repo.version(stored.bank_version)
    items = {i.id: i for i in repo.items(version=version.number)}
    eligible = section_items(section, "middle", items, version)
    engine.dispose()
    (cell,) = plan.cells
    rules = cell.definition["blueprint"]
    assert rules["items"] == eligible and plan.banks["middle"].bank.item_ids == tuple(eligible)
    assert rules["max_items"] == 8 and rules["se_target"] is None  # the stopping rule's
    assert rules["exposure"] == section.rules["exposure"]  # the stored rules otherwise
    assert rules["quotas"] == section.rules["quotas"]
    run = run_study(spec, tmp_path, client=client, report=False)
    rows = _rows(run.table)
    assert len(rows) == 40 and {r["length"] for r in rows} == {"8"}
    assert all(set(r["items"].split()) <= set(eligible) for r in rows)


def test_a_theta_file_is_tested_in_every_replication(tmp_path):
    (tmp_path / "theta.csv").write_text("person_id,theta\nA,-1.5\nB,0.25\nC,2.0\n")
    spec = parse_spec({"seed": 4, "replications": 2, "bank": [{"name": "cat", "file": str(BANK)}],
                       "theta": [{"name": "three", "distribution": "file", "path": "theta.csv"}],
                       "stopping": [{"name": "five", "max_items": 5, "se_target": 0}]})
    plan = plan_study(spec, tmp_path)
    (cell,) = plan.cells
    assert cell.definition["simulees"] == 3 and cell.definition["theta"]["n"] == 3
    bank, definition, values = plan.task(cell)
    result = run_cell(plan.banks[bank].bank, definition, values)
    assert result.true_theta.tolist() == [-1.5, 0.25, 2.0] * 2
    assert result.replication.tolist() == [1, 1, 1, 2, 2, 2]
    assert result.simulee.tolist() == [1, 2, 3] * 2
    assert result.length.tolist() == [5] * 6
    # another file's values are another definition
    (tmp_path / "theta.csv").write_text("person_id,theta\nA,-1.5\nB,0.25\nC,2.5\n")
    assert plan_study(spec, tmp_path).cells[0].key != cell.key


def test_the_local_cluster_runs_one_thread_per_process_with_glibcs_own_thresholds(client):
    """Dask's MALLOC_TRIM_THRESHOLD_ makes every large array a fresh mapping (the cells ran 2.2
    times slower): the local cluster's workers go without it."""
    assert "MALLOC_TRIM_THRESHOLD_" not in os.environ  # else the workers inherit it, rightly
    info = client.scheduler_info()["workers"]
    assert [w["nthreads"] for w in info.values()] == [1]
    pids = client.run(os.getpid)
    assert os.getpid() not in pids.values()  # processes, not threads of this one
    assert list(client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_")).values()) == [None]
