"""`qabilet calibrate` on an inventory with reverse-keyed items (issue 17).

Twelve five-category graded items coded 1–5, four worded against the trait (a ≈ −1.2), 2,000
simulated persons: the command writes its parameter file (before issue 17 it stopped with "a must
be positive in traditional form" and wrote nothing), the file holds the true slopes with their
signs and thresholds that decrease for the reverse-keyed items, the summary marks them, and the
scores of the written bank follow the true traits.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from typer.testing import CliRunner

from qabilet.cli import app
from qabilet.engine.models import GradedResponse
from qabilet.engine.scoring import score
from qabilet.engine.simulation import simulate_responses
from qabilet.itembank.parameter_file import load_bank, read_parameter_file

runner = CliRunner()
A = np.array([1.5, 1.2, 1.8, 1.0, 1.4, 1.6, 1.1, 1.3, -1.2, -1.1, -1.3, -1.2])
B = (np.array([-1.5, -0.5, 0.5, 1.5])[None, :] + np.linspace(-0.6, 0.6, 12)[:, None]) \
    * np.sign(A)[:, None]
IDS = [f"N{j + 1:02d}" for j in range(12)]
# built from d = −ab (slope-intercept form, accepted before issue 17 too), so that on the code
# before it this module fails where the command does, not where the truth is made
TRUTH = GradedResponse.from_slope_intercept(A, -A[:, None] * B)


def _write(path, x):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["person_id", *IDS])
    for p, row in enumerate(x):
        writer.writerow([f"P{p:04d}", *(str(v + 1) for v in row)])  # codes 1..5
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("inventory")
    theta = np.random.default_rng(1717).normal(size=2000)
    x = simulate_responses(TRUTH, theta, rng=1718)
    responses = _write(tmp / "inventory.csv", x)
    out = tmp / "params.json"
    result = runner.invoke(app, ["calibrate", str(responses), "--model", "grm", "--out", str(out)])
    return {"tmp": tmp, "x": x, "theta": theta, "responses": responses, "out": out,
            "result": result}


def test_the_inventory_is_calibrated_and_its_file_written(inventory):
    result = inventory["result"]
    assert result.exit_code == 0, result.output
    pf = read_parameter_file(inventory["out"])
    a = np.array([item.a for item in pf.items])
    se = np.array([item.se["a"] for item in pf.items])
    assert np.array_equal(np.sign(a), np.sign(A))
    assert np.all(np.abs(a - A) < np.maximum(0.1, 3.0 * se))
    b = np.array([item.b for item in pf.items])
    assert np.abs(b - B).max() < 0.3
    assert np.all(np.diff(b[A < 0], axis=1) < 0)  # decreasing where a < 0
    assert [item.categories for item in pf.items] == [[1, 2, 3, 4, 5]] * 12


def test_the_summary_marks_the_reverse_keyed_items(inventory):
    lines = [ln for ln in inventory["result"].stdout.splitlines() if ln.startswith("N")]
    assert [ln.split()[0] for ln in lines if "[reverse-keyed]" in ln] == IDS[8:]


def test_scores_of_the_written_bank_follow_the_true_traits(inventory):
    bank, _ = load_bank(inventory["out"])
    est = score(bank, inventory["x"])
    assert np.corrcoef(est.theta, inventory["theta"])[0, 1] > 0.9
    assert np.all(bank.information(np.linspace(-3, 3, 7))[:, A < 0] > 0)


def test_the_mirt_table_has_the_negative_slopes(inventory):
    result = runner.invoke(app, ["calibrate", str(inventory["responses"]), "--model", "grm",
                                 "--format", "mirt", "--no-se"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    a1 = np.array([float(r["a1"]) for r in rows])
    assert np.array_equal(np.sign(a1), np.sign(A))
    d = np.array([[float(r[f"d{k}"]) for k in range(1, 5)] for r in rows])
    assert np.all(np.diff(d, axis=1) < 0)  # the intercepts keep their order for both signs


def test_reverse_names_the_items_meant_to_come_out_negative(inventory):
    # with every code reversed the majority of items points the other way: by default the
    # factor is reflected back (8 slopes positive); --reverse keeps the data's direction
    flipped = _write(inventory["tmp"] / "flipped.csv", 4 - inventory["x"])
    out = inventory["tmp"] / "flipped.json"
    result = runner.invoke(app, ["calibrate", str(flipped), "--model", "grm", "--no-se",
                                 "--reverse", ",".join(IDS[:8]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    a = np.array([item.a for item in read_parameter_file(out).items])
    assert np.array_equal(np.sign(a), -np.sign(A))
    assert np.abs(a + A).max() < 0.25


def test_reverse_with_an_unknown_item_is_an_error(inventory):
    result = runner.invoke(app, ["calibrate", str(inventory["responses"]), "--model", "grm",
                                 "--reverse", "N01,NOPE"])
    assert result.exit_code == 2
    assert "--reverse: 'NOPE' not among the items" in result.output
