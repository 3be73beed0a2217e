"""The demonstration: its bank against the stated parameters, recovery of the simulated truth,
and `qabilet demo` (including the files it saves)."""

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from qabilet.cli import app
from qabilet.demo import COMPETENCIES, DEMO_ITEMS, METHODS, demo_bank, run_demo

runner = CliRunner()


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_demo_bank_has_the_stated_items_and_probabilities():
    bank = demo_bank()
    assert bank.item_ids == tuple(item.id for item in DEMO_ITEMS)
    assert sum(m == "2pl" for m in bank.model_names) == 12
    assert bank.n_categories.tolist() == [2 if item.model == "2pl" else 5 for item in DEMO_ITEMS]
    assert {item.competency for item in DEMO_ITEMS} == set(COMPETENCIES)
    theta = np.array([-1.7, 0.0, 0.9])
    p = bank.prob(theta)
    for i, item in enumerate(DEMO_ITEMS):
        if item.model == "2pl":
            np.testing.assert_allclose(p[:, i, 1], _logistic(item.a * (theta - item.b)),
                                       atol=1e-14)
        else:
            cum = _logistic(item.a * (theta[:, None] - np.array(item.b)[None, :]))
            edges = np.column_stack([np.ones(3), cum, np.zeros(3)])
            np.testing.assert_allclose(p[:, i, :5], edges[:, :-1] - edges[:, 1:], atol=1e-14)


def test_first_persons_do_not_depend_on_how_many_are_simulated():
    small, large = run_demo(30, seed=5), run_demo(90, seed=5)
    np.testing.assert_array_equal(small.theta, large.theta[:30])
    np.testing.assert_array_equal(small.responses, large.responses[:30])
    assert not np.array_equal(run_demo(30, seed=6).theta, small.theta)


@pytest.fixture(scope="module")
def big_run():
    return run_demo(2000, seed=11)


@pytest.mark.parametrize("method", METHODS)
def test_estimates_recover_the_simulated_truth(big_run, method):
    est = big_run.estimates[method]
    ok = ~est.flagged
    assert ok.mean() > 0.98
    err = est.theta[ok] - big_run.theta[ok]
    assert abs(err.mean()) < 0.05
    assert np.corrcoef(est.theta[ok], big_run.theta[ok])[0, 1] > 0.9
    # the reported standard errors match the actual error (within 15 %)
    rmse = np.sqrt(np.mean(err**2))
    assert rmse == pytest.approx(np.mean(est.se[ok]), rel=0.15)


def test_demo_command_prints_the_tables():
    result = runner.invoke(app, ["demo-scoring", "--persons", "150", "--show", "4", "--seed", "3"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert sum(line.startswith("P0") for line in lines) == 4
    header = next(line for line in lines if line.startswith("person"))
    assert all(m.upper() in header for m in METHODS)
    for m in METHODS:
        assert any(line.startswith(f"{m.upper():<6}") for line in lines), m
    # the true θ column is the simulated truth
    run = run_demo(150, seed=3)
    first = next(line for line in lines if line.startswith("P0001"))
    assert float(first.split()[1]) == pytest.approx(run.theta[0], abs=5e-4)


def test_demo_saves_files_that_qabilet_score_reads(tmp_path):
    result = runner.invoke(app, ["demo-scoring", "--persons", "40", "--show", "0", "--save",
                                 str(tmp_path)])
    assert result.exit_code == 0, result.output
    bank_file = json.loads((tmp_path / "demo_bank.json").read_text(encoding="utf-8"))
    for item, record in zip(DEMO_ITEMS, bank_file["items"], strict=True):
        assert record["id"] == item.id and record["model"] == item.model
        np.testing.assert_allclose(record["a"], item.a, atol=1e-12)
        np.testing.assert_allclose(record["b"], item.b, atol=1e-12)
    with open(tmp_path / "demo_theta.csv", newline="", encoding="utf-8") as fh:
        theta_rows = list(csv.reader(fh))
    run = run_demo(40)
    assert [float(r[1]) for r in theta_rows[1:]] == run.theta.tolist()
    scored = runner.invoke(app, ["score", str(tmp_path / "demo_bank.json"),
                                 str(tmp_path / "demo_responses.csv"), "-m", "map"])
    assert scored.exit_code == 0, scored.output
    rows = list(csv.reader(scored.stdout.splitlines()))
    np.testing.assert_allclose([float(r[1]) for r in rows[1:]], run.estimates["map"].theta,
                               rtol=1e-12)
