"""Forced-choice design and answer files: the reference data set read whole and checked against
its own generating truth, and every kind of bad file refused with its place."""

import json
from pathlib import Path

import numpy as np
import pytest

from qabilet.engine.exceptions import DataFileError
from qabilet.engine.forced_choice import RANKINGS, ThurstonianBlocks
from qabilet.itembank.forced_choice_file import read_block_answers, read_design

FC = Path(__file__).resolve().parents[1] / "data" / "fc"


@pytest.fixture(scope="module")
def reference():
    design = read_design(FC / "fc_dev_triplets_design.json")
    answers = read_block_answers(FC / "fc_dev_triplets_responses.csv", design)
    truth = json.loads((FC / "fc_dev_triplets_truth.json").read_text())
    return design, answers, truth


def test_the_reference_answers_are_read_cell_by_cell(reference):
    design, answers, _ = reference
    assert answers.person_ids[:2] == ("P1", "P2") and len(answers.person_ids) == 2000
    lines = (FC / "fc_dev_triplets_responses.csv").read_text().splitlines()
    head = lines[0].split(",")
    for line in (lines[1], lines[777], lines[2000]):
        cells = line.split(",")
        p = answers.person_ids.index(cells[0])
        for j, cell in enumerate(cells[1:], start=1):
            b = design.block_ids.index(head[j])
            ids = [design.statement_ids[i] for i in design.blocks[b]]
            ranking = tuple(ids.index(s) for s in cell.split(">"))
            table = answers.responses.tables[b][answers.responses.codes[p, b]]
            assert np.flatnonzero(table).tolist() == [RANKINGS[3].index(ranking)]


def test_the_answers_follow_the_model_at_the_generating_truth(reference):
    """Each ranking's share of the 2,000 answers against its probability averaged over the
    persons' true traits, the model at the generating parameters: within four standard errors."""
    design, answers, truth = reference
    order = [truth["eta_columns"].index(t) for t in design.traits]
    eta = np.asarray(truth["eta"])[:, order]
    rows = [truth["person_ids"].index(p) for p in answers.person_ids]
    model = ThurstonianBlocks(design, *(np.asarray([truth[k][s] for s in design.statement_ids])
                                        for k in ("mu", "lambda", "psi2")))
    n = len(rows)
    for b, probs in enumerate(model.ranking_probabilities(eta[rows])):
        table = answers.responses.tables[b]
        observed = table[answers.responses.codes[:, b]].mean(axis=0)
        expected = probs.mean(axis=0)
        se = np.sqrt(np.mean(probs * (1 - probs), axis=0) / n)
        assert np.all(np.abs(observed - expected) <= 4 * se + 1e-9), b


@pytest.mark.parametrize("text, expected", [
    ("person_id,B9\nP1,S1>S2\n", "not a block of the design"),
    ("person_id,B1,B1\nP1,S1>S2>S3,\n", "column name repeats"),
    ("B1\nS1>S2>S3\n", "expected a person_id column"),
    ("person_id,B1\nP1,S1>S2>S4\n", "row 1, column 'B1': answer 'S1>S2>S4': 'S4' is not a "
                                     "statement of this block (S1, S2, S3)"),
    ("person_id,B1\nP1,S1>S2>S3\nP2,S1>S1>S3\n", "row 2, column 'B1': answer 'S1>S1>S3': 'S1' is "
                                                 "given twice"),
    ("person_id,B1\nP1,S1>S2\n", "row 1, column 'B1': answer 'S1>S2': S3 left out"),
    ("person_id,B1\nP1,S1>S2>S3\nP1,S2>S1>S3\n", "person id 'P1' repeats"),
    ("person_id,B1\nP1,S1>S2>S3,x\n", "this row has 3 cells"),
    ("person_id,B1\n,S1>S2>S3\n", "missing person id"),
])
def test_bad_answer_files_are_refused_naming_the_place(tmp_path, text, expected):
    design = read_design(_design(tmp_path))
    path = tmp_path / "answers.csv"
    path.write_text(text)
    with pytest.raises(DataFileError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        read_block_answers(path, design)


def _design(tmp_path, **change):
    doc = {"traits": ["A", "B", "C", "D"], "blocks": [
        {"id": "B1", "statements": [{"id": "S1", "trait": "A", "keyed": 1},
                                    {"id": "S2", "trait": "B", "keyed": -1},
                                    {"id": "S3", "trait": "C"}]},
        {"id": "B2", "statements": [{"id": "S4", "trait": "A"}, {"id": "S5", "trait": "B"},
                                    {"id": "S6", "trait": "C"}, {"id": "S7", "trait": "D"}],
         "note": "ignored"}], **change}
    path = tmp_path / "design.json"
    path.write_text(json.dumps(doc))
    return path


def test_partial_and_missing_answers(tmp_path):
    design = read_design(_design(tmp_path))
    path = tmp_path / "answers.csv"
    path.write_text("person_id,B2,B1\nP1,S7>S5=S4>S6,\nP2,S6>S4=S5>S7,S3>S1>S2\nP3,S7>S4=S5>S6,\n")
    answers = read_block_answers(path, design)
    codes, tables = answers.responses.codes, answers.responses.tables
    assert codes[:, 0].tolist() == [-1, 0, -1]
    assert codes[0, 1] == codes[2, 1] != codes[1, 1]  # the same answer, tiers in either order
    rankings = [RANKINGS[4][i] for i in np.flatnonzero(tables[1][codes[0, 1]])]
    assert rankings == [(3, 0, 1, 2), (3, 1, 0, 2)]


@pytest.mark.parametrize("change, expected", [
    ({"traits": []}, "traits: List should have at least 1 item"),
    ({"blocks": [{"id": "B1", "statements": [{"id": "S1", "trait": "A"}]}]},
     "blocks.0.statements: List should have at least 2 items"),
    ({"blocks": [{"id": "B1", "statements": [{"id": "S1", "trait": "A", "keyed": 2},
                                             {"id": "S2", "trait": "B"}]}]},
     "blocks.0.statements.0.keyed"),
    ({"blocks": [{"id": "B1", "statements": [{"id": "S1", "trait": "A"},
                                             {"id": "S2", "trait": "Z"}]}]},
     r"blocks\[0\].statements\[1\].trait: expected one of A, B, C, D"),
    ({"blocks": [{"id": "B1", "statements": [{"id": "S1>", "trait": "A"},
                                             {"id": "S2", "trait": "B"}]}]},
     "blocks.0.statements.0.id: String should match pattern"),
])
def test_bad_designs_are_refused_naming_the_field(tmp_path, change, expected):
    with pytest.raises(DataFileError, match=expected):
        read_design(_design(tmp_path, **change))
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(DataFileError, match="not JSON"):
        read_design(bad)
