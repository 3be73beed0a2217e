"""Forced-choice blocks in the bank: statements with ids and desirability, versions holding the
blocks' parameters, ``qabilet bank import`` of ``calibrate-fc``'s file, blueprints of blocks.

The import round trip starts from a real calibration: the demonstration blocks ranked by
simulees with known parameters, written as the block-answer file, calibrated by
``qabilet calibrate-fc`` and imported; the imported loadings are checked against the truth.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from qabilet.cli import app
from qabilet.engine.exceptions import DataFileError, ImportRejectedError
from qabilet.engine.forced_choice import RANKINGS, simulate_blocks
from qabilet.itembank.bank_file import import_parameters
from qabilet.itembank.blueprints import BlockRules, BlueprintSection
from qabilet.itembank.content import Item
from qabilet.itembank.forced_choice_content import demo_forced_choice_form
from qabilet.itembank.forced_choice_parameters import read_forced_choice_parameters

runner = CliRunner()


def _block(**changes) -> dict:
    statement = {"dimension": "integrity", "text": {"en": "I keep my word."}}
    base = {"id": "B9", "levels": ["middle"], "format": "forced_choice",
            "text": {"en": {"stem": "At work…"}},
            "statements": [statement, {**statement, "dimension": "initiative"},
                           {**statement, "dimension": "cooperation"}]}
    return {**base, **changes}


def test_statements_get_ids_and_a_block_refuses_what_it_cannot_be():
    item = Item.model_validate(_block())
    assert [s.id for s in item.statements] == ["B9-1", "B9-2", "B9-3"]
    shown = item.text_in("ru")  # falls back to English; the instruction is in Russian
    assert shown.answer_mode == "rank" and shown.statements[0] == ("B9-1", "I keep my word.")
    assert shown.instruction.startswith("Правильных и неправильных ответов нет")
    cases = [
        (_block(answer_mode="most_least"), "most_least is for blocks of four"),
        (_block(statements=[{"id": "S", "dimension": d, "text": {"en": "x"}}
                            for d in ("integrity", "initiative")]), "'S' twice"),
        (_block(statements=[{"dimension": "integrity", "text": {"en": "x"}}] * 2),
         "its own dimension; 'integrity' twice"),
        (_block(statements=[{"dimension": "integrity", "desirability": 6, "text": {"en": "x"}},
                            {"dimension": "initiative", "text": {"en": "y"}}]), "less than or equal to 5"),
        ({"id": "L1", "competency": "transparency", "levels": ["low"], "format": "likert",
          "scale": "agreement5", "direction": 1, "answer_mode": "rank", "text": {"en": {"stem": "x"}}},
         "a likert item has no answer_mode"),
    ]
    for data, said in cases:
        with pytest.raises(ValidationError, match=said):
            Item.model_validate(data)


def _parameters(version) -> dict:
    return version.forced_choice.model_dump(mode="json", by_alias=True)


@pytest.mark.parametrize("change, said", [
    (lambda d: d["latent"].update(correlation=[[1.0, 0.9], [0.9, 1.0]]), "expected a 9 x 9 matrix"),
    (lambda d: d["latent"]["correlation"][0].__setitem__(1, 1.5)
     or d["latent"]["correlation"][1].__setitem__(0, 1.5), "positive definite"),
    (lambda d: d["blocks"][3]["statements"][1].update(trait="empathy"),
     r"blocks\[3\]\.statements\[1\]\.trait: .empathy. is not one of latent.traits"),
    (lambda d: d["blocks"][2]["statements"][0].update(psi2=-0.1), "greater than 0"),
    (lambda d: d["blocks"][4]["statements"][2].update(id=d["blocks"][0]["statements"][0]["id"]),
     "statement 'FC-STR-01' twice"),
])
def test_a_bad_parameter_file_is_refused_naming_the_field(demo_repo, change, said):
    data = _parameters(demo_repo.version(1))
    change(data)
    with pytest.raises(DataFileError, match=said):
        read_forced_choice_parameters(json.dumps(data), path="fc.json")


@pytest.mark.parametrize("change, said", [
    (lambda d: d["blocks"][0]["statements"].reverse(), "the item's statements are FC-STR-01"),
    (lambda d: d["blocks"][1]["statements"][0].update(keyed=-d["blocks"][1]["statements"][0]["keyed"]),
     "has direction"),
    (lambda d: d["blocks"][2].update(id="FC-B99"), "the bank has no forced-choice item 'FC-B99'"),
    (lambda d: d["blocks"][2].update(id="SRV-L01"), "SRV-L01 also calibrated as items"),
])
def test_blocks_that_are_not_the_banks_are_refused_and_nothing_is_written(demo_repo, change, said):
    data = _parameters(demo_repo.version(1))
    change(data)
    before = [v.number for v in demo_repo.versions()]
    with pytest.raises(ImportRejectedError, match=said):
        import_parameters(demo_repo, json.dumps(data), path="fc.json")
    assert [v.number for v in demo_repo.versions()] == before


def test_calibrate_fc_output_imports_as_a_draft_version_with_the_items_parameters_kept(demo_repo, tmp_path):
    form = demo_forced_choice_form()
    d = form.design
    rng = np.random.default_rng(11)
    eta = rng.multivariate_normal(np.zeros(d.n_traits), 0.7 * np.eye(d.n_traits) + 0.3, 1000)
    answers = simulate_blocks(form.model(), eta, rng)
    (tmp_path / "design.json").write_text(json.dumps({"traits": list(d.traits), "blocks": [
        {"id": d.block_ids[b], "statements": [
            {"id": d.statement_ids[s], "trait": d.traits[d.trait_of[s]], "keyed": int(d.keyed[s])}
            for s in members]} for b, members in enumerate(d.blocks)]}))
    rows = ["person_id," + ",".join(d.block_ids)]
    for p in range(eta.shape[0]):
        rows.append(f"P{p}," + ",".join(">".join(d.statement_ids[m[i]] for i in RANKINGS[3][
            int(np.flatnonzero(answers.tables[b][answers.codes[p, b]])[0])]) for b, m in enumerate(d.blocks)))
    (tmp_path / "answers.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "fc_params.json"
    r = runner.invoke(app, ["calibrate-fc", str(tmp_path / "design.json"), str(tmp_path / "answers.csv"),
                            "--out", str(out), "--method", "dwls"])
    assert r.exit_code == 0, r.output
    url = str(demo_repo.engine.url)
    r = runner.invoke(app, ["bank", "import", str(out), "--database", url])
    assert r.exit_code == 0, r.output
    assert "Imported 30 forced-choice blocks' parameters (items' parameters of version 1) into " \
           "draft bank version 2" in r.output
    draft, published = demo_repo.version(2), demo_repo.version(1)
    assert draft.status == "draft" and draft.provenance.based_on == 1
    assert draft.parameters == published.parameters and draft.block_ids == published.block_ids
    written = json.loads(out.read_text())
    assert _parameters(draft)["blocks"] == written["blocks"]
    # λ/ψ does not depend on how each block's utility scale was fixed (docs/file-formats.md)
    ratio = np.array([s.lam / np.sqrt(s.psi2) for b in draft.forced_choice.blocks
                      for s in b.statements])
    truth = form.lam / np.sqrt(form.psi2)  # 0.77 to 2.17 in absolute value
    rmse = np.sqrt(np.mean((ratio - truth) ** 2))
    assert rmse < 0.3 and np.corrcoef(ratio, truth)[0, 1] > 0.97, rmse  # from 1,000 simulees
    # a draft's blocks are replaced in place; a published version's are not
    r = runner.invoke(app, ["bank", "import", str(out), "--database", url, "--bank-version", "1"])
    assert r.exit_code != 0 and "published" in r.output
    assert demo_repo.version(1).forced_choice == published.forced_choice


def test_blueprints_of_blocks_are_checked_against_the_version(demo_repo):
    version = demo_repo.version(1)
    dims = list(version.forced_choice.traits)

    def add(blocks: dict, dimensions=dims, extra=()):
        return demo_repo.add_blueprint("middle", 1, [
            *extra, BlueprintSection(name="fc", dimensions=dimensions, blocks=BlockRules(**blocks))])

    cases = [
        ({"form": ["FC-B01", "FC-B77"]}, dims, (), "block 'FC-B77' is not in the bank"),
        ({"form": ["FC-B01", "SRV-L01"]}, dims, (), "is a likert item, not a forced-choice block"),
        ({"length": 31}, dims, (), "31 blocks from a pool of 30"),
        ({"length": 5, "admit": {"FC-B02": 0.5, "FC-B98": 0.4}}, dims, (),
         "blocks.admit: FC-B98 not in the section's pool"),
        ({"form": ["FC-B01"]}, dims[:3], (), "not a dimension of the section"),
        ({"length": 5}, dims, [BlueprintSection(name="items", dimensions=["integrity"])],
         "integrity measured by forced-choice blocks in this blueprint too"),
    ]
    before = len(demo_repo.blueprints("middle"))
    for blocks, dimensions, extra, said in cases:
        with pytest.raises(ValueError, match=said):
            add(blocks, dimensions, extra)
    assert len(demo_repo.blueprints("middle")) == before
    with pytest.raises(ValidationError, match="exactly one"):
        BlockRules(form=["FC-B01"], length=3)
    with pytest.raises(ValidationError, match="instead of randomesque"):
        BlockRules(length=3, randomesque=2, admit={"FC-B01": 0.5})
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        BlockRules(length=3, admit={"FC-B01": 1.5})
    with pytest.raises(ValidationError, match="a forced-choice section's rules are its blocks'"):
        BlueprintSection(name="fc", dimensions=dims, rules={"max_items": 3},
                         blocks=BlockRules(length=3))
    assert add({"form": ["FC-B03", "FC-B01"]}).sections[0].blocks.form == ["FC-B03", "FC-B01"]


def test_retiring_a_block_leaves_it_out_of_a_new_draft_and_in_the_published_version(demo_repo):
    reviews = demo_repo.retire_items(["FC-B05"], by="psychometrician", reason="reads ambiguously")
    draft = demo_repo.version(reviews[0].version)
    assert "FC-B05" not in draft.block_ids and len(draft.block_ids) == 29
    assert "FC-B05" in demo_repo.version(1).block_ids
    assert demo_repo.version(1).status_of("FC-B05") == "operational"
    assert draft.status_of("FC-B05") is None
