"""A study's file is checked at the edge: each error names the key and what was expected, and
nothing is written (no cluster is started)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qabilet.cli import app
from qabilet.engine.exceptions import DataFileError
from qabilet.study import load_spec, parse_spec, plan_study

BANK = Path(__file__).resolve().parents[1] / "data" / "cat" / "bank.json"
runner = CliRunner()


def _study(**changes):
    doc = {"seed": 1, "simulees": 20, "bank": [{"name": "cat", "file": str(BANK)}]}
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


@pytest.mark.parametrize("changes, message", [
    ({"selection": ["mfi", "kl", "foo"]},
     "selection[2]: unknown rule 'foo'; expected one of mfi, mpwi, mepv, kl, klp, dopt, aopt, "
     "random"),
    ({"exposure": ["none", "randomesque:x"]},
     "exposure[1]: expected randomesque:K with an integer; got 'randomesque:x'"),
    ({"exposure": ["sh:1.5"]}, "exposure[0]: sh needs a target exposure rate in (0, 1]; got 1.5"),
    ({"selection": ["mfi", "MFI"]}, "selection[1]: 'mfi' is listed twice"),
    ({"bank": None}, "bank: missing (a required key)"),
    ({"bank": []}, "bank: list should have at least 1 item after validation, not 0; got []"),
    ({"bank": [{"name": "a", "file": "x.json", "database": "sqlite:///q.db", "level": "low",
                "section": "s"}]},
     "bank[0]: expected exactly one of 'file' (a parameter file) and 'database' (with 'level' "
     "and 'section')"),
    ({"bank": [{"name": "a", "database": "sqlite:///q.db", "level": "middle"}]},
     "bank[0]: a bank from the database needs 'level' and 'section'"),
    ({"bank": [{"name": "a", "database": "sqlite:///q.db", "level": "top", "section": "s"}]},
     "bank[0].level: expected 'high', 'middle' or 'low'; got 'top'"),
    ({"blueprint": [{"name": "b", "max_item": 10}]},
     "blueprint[0]: unknown key 'max_item'; expected name, file or fields of a blueprint: "),
    ({"stopping": [{"name": "s", "se_target": -1}]},
     "stopping[0].se_target: expected greater than or equal to 0; got -1"),
    ({"stopping": [{"name": "s", "classification": "bayes"}]},
     "stopping[0].classification: unknown rule 'bayes'; expected one of sprt, glr"),
    ({"theta": [{"name": "t", "distribution": "uniform", "low": 2, "high": -2}]},
     "theta[0]: a uniform distribution needs 'low' < 'high'; got low = 2.0, high = -2.0"),
    ({"theta": [{"name": "t", "distribution": "normal", "low": 0}]},
     "theta[0]: 'low' does not go with distribution 'normal' (which takes 'mean', 'sd')"),
    ({"theta": [{"name": "t", "distribution": "gamma"}]},
     "theta[0].distribution: expected 'normal', 'uniform', 'bank' or 'file'; got 'gamma'"),
    ({"theta": [{"name": "a", "distribution": "bank"}, {"name": "a", "distribution": "bank"}]},
     "theta[1].name: 'a' is already the name of theta[0]; expected distinct names"),
    ({"replications": 0}, "replications: expected greater than or equal to 1; got 0"),
    ({"simulee": 10}, "simulee: unknown key"),
])
def test_an_error_names_the_key_and_what_was_expected(changes, message):
    with pytest.raises(DataFileError) as caught:
        parse_spec(_study(**changes), source="study.toml")
    assert str(caught.value).startswith(f"study.toml: {message}")


@pytest.mark.parametrize("changes, message", [
    ({"bank": [{"name": "cat", "file": "nope.json"}]},
     "bank[0] ('cat'): {folder}/nope.json: No such file or directory"),
    ({"blueprint": [{"name": "long", "min_items": 25}],
      "stopping": [{"name": "short", "max_items": 20}]},
     "cell 1 (cat / long / short / bank): max_items: expected >= max(min_items, 1) = 25; got 20"),
    ({"blueprint": [{"name": "b", "items": ["Q1", "Q2", "NOPE"]}]},
     "cell 1 (cat / b / blueprint / bank): items: "),
    ({"exposure": ["sh:0.01"], "stopping": [{"name": "fixed", "se_target": 0, "max_items": 30}]},
     "cell 1 (cat / bank / sh:0.01 / fixed / bank): exposure: sh:0.01 cannot be met: every test "
     "gives at least 30 of the 400 eligible items; ask for sh:0.075 or more"),
    ({"theta": [{"name": "mine", "distribution": "file", "path": "theta.csv"}]},
     "theta[0] ('mine').path: {folder}/theta.csv: No such file or directory"),
])
def test_a_cell_that_cannot_run_is_refused_before_anything_runs(changes, message, tmp_path):
    spec = parse_spec(_study(**changes))
    with pytest.raises(DataFileError) as caught:
        plan_study(spec, tmp_path)
    assert str(caught.value).startswith(message.format(folder=tmp_path))


def test_the_cli_names_the_file_and_writes_nothing(tmp_path):
    study = tmp_path / "study.toml"
    study.write_text(f'selection = ["mfi", "foo"]\n[[bank]]\nname = "cat"\n'
                     f'file = {json.dumps(str(BANK))}\n')
    out = tmp_path / "out"
    res = runner.invoke(app, ["study", str(study), "--out", str(out)])
    assert res.exit_code == 2
    assert res.output.strip() == (f"error: {study}: selection[1]: unknown rule 'foo'; expected "
                                  f"one of mfi, mpwi, mepv, kl, klp, dopt, aopt, random")
    assert not out.exists()
    study.write_text("selection = [\n")
    res = runner.invoke(app, ["study", str(study), "--out", str(out)])
    assert res.exit_code == 2 and res.output.startswith(f"error: {study}: expected TOML; ")
    # a table's key after another table belongs to it (TOML): said so, by name
    study.write_text(f'[[bank]]\nname = "cat"\nfile = {json.dumps(str(BANK))}\nseed = 3\n')
    res = runner.invoke(app, ["study", str(study), "--out", str(out)])
    assert res.exit_code == 2 and "bank[0].seed: unknown key" in res.output
    assert not out.exists()


def test_a_dry_run_lists_the_cells_without_a_cluster(tmp_path):
    study = tmp_path / "study.toml"
    study.write_text(f'selection = ["mfi", "kl"]\nexposure = ["none", "randomesque:3"]\n'
                     f'[[bank]]\nname = "cat"\nfile = {json.dumps(str(BANK))}\n'
                     f'[[theta]]\nname = "low"\ndistribution = "normal"\nmean = -1\n'
                     f'[[theta]]\nname = "high"\ndistribution = "normal"\nmean = 1\n')
    res = runner.invoke(app, ["study", str(study), "--out", str(tmp_path / "out"), "--dry-run"])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 9 and lines[-1] == f"8 cells; 0 finished in {tmp_path / 'out'}"
    assert lines[0].split()[0] == "1" and lines[0].endswith("cat / bank / mfi / none / blueprint / low")
    assert lines[7].endswith("cat / bank / kl / randomesque:3 / blueprint / high")
    keys = {line.split()[1] for line in lines[:-1]}
    assert len(keys) == 8 and all(len(k) == 20 for k in keys)
    spec = load_spec(study)
    assert spec.n_cells == 8
    # the keys depend on the definition, not on the levels' names
    renamed = parse_spec({**spec.model_dump(exclude_none=True), "name": "other",
                          "theta": [{"name": "LOW", "distribution": "normal", "mean": -1},
                                    {"name": "HIGH", "distribution": "normal", "mean": 1}]})
    assert {c.key for c in plan_study(renamed, tmp_path).cells} == keys
    reseeded = parse_spec({**spec.model_dump(exclude_none=True), "seed": 2})
    assert not {c.key for c in plan_study(reseeded, tmp_path).cells} & keys
