"""`qabilet calibrate-fc`: a design and block answers in, the parameter file out; bad files refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from qabilet.cli import app
from qabilet.engine.forced_choice import RANKINGS, BlockDesign, ThurstonianBlocks, simulate_blocks

runner = CliRunner()
TRAITS = ["T1", "T2", "T3", "T4"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    blocks = [(f"B{b}", [(f"S{b}{k}", TRAITS[(b + k) % 4], -1 if (b + k) % 5 == 0 else 1)
                         for k in range(3)]) for b in range(8)]
    design = BlockDesign.from_blocks(TRAITS, blocks)
    rng = np.random.default_rng(8)
    truth = ThurstonianBlocks(design, rng.normal(0, 0.5, 24), design.keyed * rng.uniform(0.7, 1.2, 24),
                              np.full(24, 0.6))
    eta = rng.multivariate_normal(np.zeros(4), 0.7 * np.eye(4) + 0.3, 800)
    answers = simulate_blocks(truth, eta, rng)
    folder = tmp_path_factory.mktemp("fc")
    (folder / "design.json").write_text(json.dumps({"traits": TRAITS, "blocks": [
        {"id": b, "statements": [{"id": s, "trait": t, "keyed": k} for s, t, k in st]}
        for b, st in blocks]}))
    rows = ["person_id," + ",".join(b for b, _ in blocks)]
    for p in range(eta.shape[0]):
        cells = []
        for b, (_, st) in enumerate(blocks):
            order = RANKINGS[3][int(np.flatnonzero(answers.tables[b][answers.codes[p, b]])[0])]
            cells.append(">".join(st[i][0] for i in order))
        rows.append(f"P{p}," + ",".join(cells))
    (folder / "answers.csv").write_text("\n".join(rows) + "\n")
    return folder, design, truth


def test_the_parameter_file_carries_the_full_information_fit_and_recovers_the_truth(files):
    folder, design, truth = files
    out = folder / "fc_params.json"
    result = runner.invoke(app, ["calibrate-fc", str(folder / "design.json"),
                                 str(folder / "answers.csv"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "800 persons, 8 blocks, 24 statements, 4 traits" in result.output
    doc = json.loads(out.read_text())
    assert doc["latent"]["traits"] == TRAITS and doc["estimation"]["method"] == "mhrm"
    statements = [s for b in doc["blocks"] for s in b["statements"]]
    assert [s["id"] for s in statements] == list(design.statement_ids)
    first = doc["blocks"][0]["statements"][0]
    assert first["mu"] == 0.0 and first["psi2"] == 1.0 and first["se"]["psi2"] is None
    # λ/ψ on the file against the truth's, which does not depend on how the scale was fixed
    ratio = np.array([s["lambda"] / np.sqrt(s["psi2"]) for s in statements])
    true_ratio = truth.lam / np.sqrt(truth.psi2)
    scale = np.repeat(ratio[::3] / true_ratio[::3], 3)  # per block: the fixed statement's unit
    assert np.corrcoef(ratio, true_ratio)[0, 1] > 0.9
    assert np.all(np.sign(ratio) == design.keyed)
    assert np.all(np.isfinite([s["se"]["lambda"] for s in statements]))
    assert np.all((scale > 0.5) & (scale < 2))


def test_a_bad_answer_is_refused_with_its_row_and_nothing_written(files, tmp_path):
    folder, _, _ = files
    bad = tmp_path / "answers.csv"
    lines = (folder / "answers.csv").read_text().splitlines()
    lines[3] = lines[3].replace("S0", "S9", 1)  # the third person's answer to B0: S9x is not of B0
    bad.write_text("\n".join(lines) + "\n")
    out = tmp_path / "fc_params.json"
    result = runner.invoke(app, ["calibrate-fc", str(folder / "design.json"), str(bad),
                                 "--method", "dwls", "--out", str(out)])
    assert result.exit_code == 2
    assert "row 3, column 'B0'" in result.output and "'S9" in result.output
    assert not out.exists()
