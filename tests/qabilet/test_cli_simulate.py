"""`qabilet simulate`: the engine's harness from files, its JSON, and its errors."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from qabilet.cli import app

runner = CliRunner()
CAT = Path(__file__).resolve().parents[1] / "data" / "cat"


@pytest.fixture
def bank_file(tmp_path):
    doc = json.loads((CAT / "bank.json").read_text())
    doc["latent"] = {"factor_names": ["theta"], "mean": [0.0], "cov": [[1.0]]}
    path = tmp_path / "bank.json"
    path.write_text(json.dumps(doc))
    return path


def test_reference_run_from_files_matches_mirtcat(tmp_path, bank_file):
    out = tmp_path / "sim.json"
    res = runner.invoke(app, ["simulate", "--bank", str(bank_file), "--responses",
                              str(CAT / "responses.csv"), "--theta", str(CAT / "theta.csv"),
                              "--blueprint", str(_blueprint(tmp_path, {"n_points": 61})),
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert set(doc) == {"settings", "summary", "conditional", "classification", "exposure",
                        "simulees"}
    assert doc["classification"] == {}  # no cut scores
    assert set(doc["summary"]) == {"n", "mean_length", "sd_length", "min_length", "max_length",
                                   "bias", "rmse", "correlation", "mean_se", "max_exposure",
                                   "overlap", "elapsed_s"}
    lengths = [p["length"] for p in doc["simulees"]]
    assert (doc["summary"]["min_length"], doc["summary"]["max_length"]) == (min(lengths),
                                                                            max(lengths))
    ref = json.loads((CAT / "mirtcat.json").read_text())
    assert doc["summary"]["mean_length"] == pytest.approx(ref["summary"]["mean_test_length"])
    assert doc["summary"]["rmse"] == pytest.approx(ref["summary"]["rmse"], abs=1e-6)
    assert [s["items"] for s in doc["simulees"]] == [p["items"] for p in ref["per_simulee"]]
    assert doc["simulees"][0]["person_id"] == "1"
    assert sum(doc["exposure"].values()) == pytest.approx(18.05)
    assert all(b["theta_high"] - b["theta_low"] == pytest.approx(0.5) for b in doc["conditional"])
    assert "mean length" in res.output and "18.0500" in res.output


def _blueprint(tmp_path, fields):
    path = tmp_path / "blueprint.json"
    path.write_text(json.dumps(fields))
    return path


def test_options_override_the_blueprint_and_seed_reproduces(tmp_path, bank_file):
    runs = []
    for name in ("a.json", "b.json"):
        out = tmp_path / name
        res = runner.invoke(app, ["simulate", "--bank", str(bank_file), "--n", "200",
                                  "--blueprint", str(_blueprint(tmp_path, {"max_items": 50})),
                                  "--max-items", "12", "--stop-se", "0", "--exposure",
                                  "randomesque:5", "--seed", "4", "--out", str(out)])
        assert res.exit_code == 0, res.output
        runs.append(json.loads(out.read_text()))
    assert runs[0]["simulees"] == runs[1]["simulees"]
    assert {s["length"] for s in runs[0]["simulees"]} == {12}
    assert runs[0]["settings"]["exposure"] == "randomesque:5"
    assert runs[0]["settings"]["se_target"] is None
    assert "12 items" in res.output and "SE < None" not in res.output  # a fixed length


@pytest.mark.parametrize(("args", "message"), [
    (["--select", "best"], "selection: expected one of mfi, mpwi, mepv, kl, klp, dopt, aopt, random"),
    (["--exposure", "randomesque:x"], "randomesque:K"),
    (["--n", "5", "--theta", "t.csv"], "either --n or --theta"),
])
def test_bad_options_are_one_line_errors(bank_file, args, message):
    res = runner.invoke(app, ["simulate", "--bank", str(bank_file), *args])
    assert res.exit_code == 2
    assert message in res.output


def test_bad_files_name_row_and_column_and_write_nothing(tmp_path, bank_file):
    out = tmp_path / "sim.json"
    theta = tmp_path / "theta.csv"
    theta.write_text("person_id,theta\n1,0.5\n2,abc\n")
    res = runner.invoke(app, ["simulate", "--bank", str(bank_file), "--theta", str(theta),
                              "--out", str(out)])
    assert res.exit_code == 2 and "row 2, column 'theta'" in res.output
    lines = (CAT / "responses.csv").read_text().splitlines()[:4]
    cells = lines[2].split(",")
    cells[7] = ""
    lines[2] = ",".join(cells)
    resp = tmp_path / "resp.csv"
    resp.write_text("\n".join(lines) + "\n")
    res = runner.invoke(app, ["simulate", "--bank", str(bank_file), "--responses", str(resp),
                              "--out", str(out)])
    assert res.exit_code == 2 and "row 2, column 'Q8'" in res.output
    bad_bp = _blueprint(tmp_path, {"max_item": 3})
    res = runner.invoke(app, ["simulate", "--bank", str(bank_file), "--blueprint", str(bad_bp),
                              "--out", str(out)])
    assert res.exit_code == 2 and "unknown field(s) 'max_item'" in res.output
    assert not out.exists()


def test_theta_file_is_matched_by_person_id(tmp_path, bank_file):
    lines = (CAT / "responses.csv").read_text().splitlines()[:6]
    resp = tmp_path / "resp.csv"
    resp.write_text("person_id," + lines[0] + "\n" + "\n".join(
        f"P{i}," + line for i, line in enumerate(lines[1:])) + "\n")
    theta = tmp_path / "theta.csv"
    values = np.linspace(-1, 1, 5)
    theta.write_text("person_id,theta\n" + "".join(
        f"P{i},{float(values[i])!r}\n" for i in reversed(range(5))))
    out = tmp_path / "sim.json"
    res = runner.invoke(app, ["simulate", "--bank", str(bank_file), "--responses", str(resp),
                              "--theta", str(theta), "--out", str(out)])
    assert res.exit_code == 0, res.output
    sims = json.loads(out.read_text())["simulees"]
    assert [s["person_id"] for s in sims] == [f"P{i}" for i in range(5)]
    assert [s["true_theta"] for s in sims] == pytest.approx(values.tolist())
    theta.write_text("person_id,theta\nP0,0.1\n")
    res = runner.invoke(app, ["simulate", "--bank", str(bank_file), "--responses", str(resp),
                              "--theta", str(theta)])
    assert res.exit_code == 2 and "'P1' has none" in res.output


def test_a_bank_of_several_factors_defaults_to_d_optimality(tmp_path):
    items = [{"id": f"S{i}", "model": "2pl", "a": [1.5, 0.0] if i % 2 else [0.0, 1.5],
              "d": (i - 10) / 8} for i in range(20)]
    latent = {"factor_names": ["service", "accountability"], "mean": [0.0, 0.0],
              "cov": [[1.0, 0.4], [0.4, 1.0]]}
    bank = tmp_path / "bank.json"
    bank.write_text(json.dumps({"latent": latent, "items": items}))
    out = tmp_path / "sim.json"
    res = runner.invoke(app, ["simulate", "--bank", str(bank), "--n", "50", "--max-items", "8",
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert doc["settings"]["selection"] == "dopt"
    assert all(len(s["theta"]) == 2 and len(s["se"]) == 2 for s in doc["simulees"])
    res = runner.invoke(app, ["simulate", "--bank", str(bank), "--n", "5", "--select", "mfi"])
    assert res.exit_code == 2 and "needs one of dopt, aopt, random" in res.output


# -- an exposure target that no design can meet is refused before any simulation ------------------------
def _twenty_items(tmp_path):
    items = [{"id": f"Q{i:02d}", "model": "2pl", "a": 1.0 + i / 20, "b": (i - 10) / 5}
             for i in range(20)]
    path = tmp_path / "bank20.json"
    path.write_text(json.dumps({"latent": {"factor_names": ["theta"], "mean": [0.0],
                                           "cov": [[1.0]]}, "items": items}))
    return path


def test_a_fixed_length_below_the_exposure_floor_is_refused_at_once(tmp_path, monkeypatch):
    import qabilet.engine.cat as cat

    def never(*args, **kwargs):
        raise AssertionError("no simulation may run for an unreachable target")

    monkeypatch.setattr(cat, "derive_sympson_hetter", never)
    monkeypatch.setattr(cat, "simulate_cat", never)
    out = tmp_path / "sim.json"
    res = runner.invoke(app, ["simulate", "--bank", str(_twenty_items(tmp_path)), "--exposure",
                              "sh:0.5", "--stop-se", "0", "--max-items", "15", "--out", str(out)])
    assert res.exit_code == 2
    assert res.stdout == ""
    assert res.stderr == (
        "error: --exposure: sh:0.5 cannot be met: every test gives at least 15 of the 20 "
        "eligible items, so their exposure rates average 15/20 = 0.750 and the largest is at "
        "least that; ask for sh:0.75 or more, a shorter test or more items\n")
    assert not out.exists()


def test_a_content_quota_met_by_shadow_tests_sets_its_own_floor(tmp_path):
    bank = _twenty_items(tmp_path)
    content = {f"Q{i:02d}": "srv" if i < 4 else "other" for i in range(20)}
    blueprint = _blueprint(tmp_path, {"content": content, "quotas": {"srv": [3, 4]},
                                      "content_method": "shadow"})
    res = runner.invoke(app, ["simulate", "--bank", str(bank), "--blueprint", str(blueprint),
                              "--exposure", "sh:0.6", "--max-items", "6"])
    assert res.exit_code == 2
    assert ("every test gives at least 3 of the 4 eligible items of content category 'srv', "
            "so their exposure rates average 3/4 = 0.750") in res.stderr


def test_a_reachable_target_is_derived_and_the_out_file_is_named(tmp_path):
    out = tmp_path / "sim.json"
    res = runner.invoke(app, ["simulate", "--bank", str(_twenty_items(tmp_path)), "--exposure",
                              "sh:0.5", "--stop-se", "0", "--max-items", "8", "--n", "200",
                              "--sh-simulees", "300", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "deriving Sympson–Hetter parameters for sh:0.5" in res.stderr
    assert res.stdout.endswith(f"Wrote the results of 200 simulees (summary, conditional, "
                               f"exposure, simulees) to {out}.\n")
    assert max(json.loads(out.read_text())["exposure"].values()) < 0.6


def test_bands_accuracy_and_consistency(tmp_path, bank_file):
    """With cut scores: the share of simulees banded as their true θ, and Rudner's estimates."""
    out = tmp_path / "sim.json"
    blueprint = _blueprint(tmp_path, {"cut_scores": [-0.5, 0.5], "max_items": 15})
    res = runner.invoke(app, ["simulate", "--bank", str(bank_file), "--n", "3000",
                              "--blueprint", str(blueprint), "--seed", "5", "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    people = doc["simulees"]
    true_band = np.searchsorted([-0.5, 0.5], [p["true_theta"] for p in people], side="right")
    right = np.mean(true_band == [p["band"] for p in people])
    observed, rudner = doc["classification"]["observed"], doc["classification"]["rudner"]
    assert observed["accuracy"] == pytest.approx(right) and observed["stated"] == 1.0
    assert abs(rudner["accuracy"] - right) < 0.03  # EAP's posterior is close to normal
    assert 0.5 < rudner["consistency"] < rudner["accuracy"]
    assert f"accuracy (simulees' true bands)      {right:.4f}" in res.output
    assert "consistency (Rudner)" in res.output
    # the bands a profile states: the most probable band at probability >= 0.90, SD <= 0.60
    from scipy.stats import norm

    theta, se = (np.array([p[k] for p in people]) for k in ("theta", "se"))
    cdf = norm.cdf((np.array([-0.5, 0.5])[None, :] - theta[:, None]) / se[:, None])
    probs = np.column_stack([cdf[:, 0], cdf[:, 1] - cdf[:, 0], 1 - cdf[:, 1]])
    stated = (probs.max(axis=1) >= 0.90) & (se <= 0.60)
    right_stated = np.mean((probs.argmax(axis=1) == true_band)[stated])
    got = doc["classification"]
    assert 0 < stated.mean() < 1 and got["stated"]["stated"] == pytest.approx(stated.mean())
    assert got["stated_observed"]["accuracy"] == pytest.approx(right_stated)
    assert right_stated > right  # withholding the doubtful bands makes the stated ones surer
    assert f"{stated.mean():.1%} stated" in res.output


def test_conditional_sympson_hetter_from_the_command_line(tmp_path, bank_file):
    out = tmp_path / "sim.json"
    res = runner.invoke(app, ["simulate", "--bank", str(bank_file), "--n", "1500",
                              "--max-items", "10", "--stop-se", "0", "--exposure", "sh:0.4",
                              "--sh-classes", "-1,1", "--sh-simulees", "600", "--seed", "2",
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    settings = json.loads(out.read_text())["settings"]
    assert settings["sh_classes"] == [-1.0, 1.0]
    assert all(len(k) == 3 for k in settings["sh_parameters"].values())
    people = json.loads(out.read_text())["simulees"]
    of_class = np.searchsorted([-1.0, 1.0], [p["true_theta"] for p in people], side="right")
    for c in range(3):  # each ability class's most used item, on the run's own simulees
        given = [i for p, k in zip(people, of_class) if k == c for i in p["items"]]
        share = max(given.count(i) for i in set(given)) / np.sum(of_class == c)
        assert share <= 0.4 + 0.08, (c, share)


def test_bad_class_cut_points_are_named(tmp_path, bank_file):
    res = runner.invoke(app, ["simulate", "--bank", str(bank_file), "--exposure", "sh:0.4",
                              "--sh-classes", "-1,x"])
    assert res.exit_code == 2
    assert "--sh-classes: expected comma-separated numbers; got '-1,x'" in res.stderr
