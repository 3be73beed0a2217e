"""Import and export: round trips, bad rows reported each, and nothing half-imported."""

from __future__ import annotations

import copy
import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from qabilet.engine.exceptions import DataFileError, ImmutableRecordError, ImportRejectedError
from qabilet.itembank.bank_file import (
    export_document,
    format_mirt_table,
    format_parameters_csv,
    format_responses,
    import_document,
    import_parameters,
    mirt_rows,
    read_mirt_table,
    read_parameters_csv,
)
from qabilet.itembank.database import connect
from qabilet.itembank.repository import BankRepository, Response
from qabilet.itembank.response_file import read_responses_csv
from tests.itembank import _bank


@pytest.fixture
def filled(repo):
    _bank.fill(repo)
    repo.create_version(_bank.parameters(shift=0.3), _bank.provenance(), label="draft two")
    return repo


def test_json_export_then_import_gives_an_identical_bank(filled, tmp_path):
    doc = export_document(filled, software_version="test")
    other = BankRepository(connect(f"sqlite:///{tmp_path / 'copy.db'}"))
    import_document(other, doc.to_json())
    again = export_document(other)
    assert again.content() == doc.content()
    assert other.version(2).status == "draft" and other.version(1).status == "published"
    assert other.version(1).parameters == filled.version(1).parameters
    # importing the same bank again changes nothing and is not an error
    import_document(other, doc.to_json())
    assert export_document(other).content() == doc.content()


def test_a_sqlite_bank_moves_to_postgresql_unchanged(tmp_path, pg_url):
    source = BankRepository(connect(f"sqlite:///{tmp_path / 'bank.db'}"))
    _bank.fill(source)
    target = BankRepository(connect(pg_url))
    import_document(target, export_document(source).to_json())
    assert export_document(target).content() == export_document(source).content()


def test_a_document_with_bad_entries_reports_each_and_changes_nothing(filled):
    before = export_document(filled).content()
    data = json.loads(export_document(filled).to_json())
    data["items"][2]["levels"] = ["top"]
    data["items"][5]["text"] = {}
    data["items"][7]["orientation"] = {"most_indicative": 9}
    data["norm_sets"][0]["levels"][0]["dimensions"]["transparency"]["cuts"] = [1.0, -1.0]
    with pytest.raises(ImportRejectedError) as info:
        import_document(filled, json.dumps(data), path="bank.json")
    rows = {(row, field.split(".")[0]) for row, field, _ in info.value.problems}
    ids = [item["id"] for item in data["items"]]
    assert rows == {(3, f"items[2] ({ids[2]!r})"), (6, f"items[5] ({ids[5]!r})"),
                    (8, f"items[7] ({ids[7]!r})"), (1, "norm_sets[0] (1)")}
    message = str(info.value)
    assert message.startswith("bank.json: 4 bad rows, nothing imported")
    assert "orientation.most_indicative: expected an option index below 3; got 9" in message
    assert "cuts: expected lower < upper" in message
    assert export_document(filled).content() == before


def test_an_import_failing_late_rolls_back_what_it_wrote_before(filled):
    """Items are written first; a version of an unknown item then fails: the items go too."""
    before = export_document(filled).content()
    data = json.loads(export_document(filled).to_json())
    data["items"].append({**data["items"][0], "id": "BRAND-NEW"})
    data["items"][0]["text"]["en"]["stem"] = "Changed in the failed import."
    version = copy.deepcopy(data["versions"][0]) | {"number": 3}
    version["parameters"]["items"][0]["id"] = "NOT-AN-ITEM"
    data["versions"].append(version)
    with pytest.raises(ImportRejectedError, match="NOT-AN-ITEM"):
        import_document(filled, json.dumps(data))
    assert export_document(filled).content() == before


def test_a_published_version_cannot_be_overwritten_by_an_import(filled):
    data = json.loads(export_document(filled).to_json())
    data["versions"][0]["label"] = "rewritten history"
    with pytest.raises(ImportRejectedError, match="bank version 1 is stored already with other"):
        import_document(filled, json.dumps(data))
    assert filled.version(1).label == "first"


def test_not_a_bank_document_is_named(filled):
    with pytest.raises(DataFileError, match="not JSON"):
        import_document(filled, "{", path="x.json")
    with pytest.raises(DataFileError, match='"format": "qabilet-bank"'):
        import_document(filled, '{"items": []}', path="x.json")


def test_the_parameter_csv_round_trips_exactly(filled):
    v = filled.version(1)
    text = format_parameters_csv(v)
    header = next(csv.reader(io.StringIO(text)))
    assert header[:4] == ["item", "model", "a1", "a2"] and "se_d4" in header and "ak3" in header
    assert read_parameters_csv(text, v.parameters) == v.parameters.model_copy(
        update={"method": None})
    imported = import_parameters(filled, text, path="p.csv", base=1)
    assert imported.number == 3 and imported.status == "draft"
    assert imported.parameters.items == v.parameters.items
    assert imported.parameters.latent == v.parameters.latent


def test_a_parameter_csv_with_bad_rows_reports_every_row_and_changes_nothing(filled):
    before = export_document(filled).content()
    lines = format_parameters_csv(filled.version(1)).splitlines()
    rows = list(csv.reader(lines))
    header = rows[0]
    rows[3][header.index("a1")] = "steep"             # row 3: not a number
    rows[5][header.index("model")] = "grmm"            # row 5: unknown model
    rows[7][header.index("d1")], rows[7][header.index("d2")] = "-1.0", "2.0"  # row 7: out of order
    rows[9][header.index("item")] = rows[1][header.index("item")]  # row 9: a repeated id
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    with pytest.raises(ImportRejectedError) as info:
        import_parameters(filled, out.getvalue(), path="p.csv", version=2)
    bad = sorted({row for row, _, _ in info.value.problems})
    assert bad == [3, 5, 7, 9]
    text = str(info.value)
    assert "row 3, a1: expected a number; got 'steep'" in text
    assert "row 5, " in text and "grmm" in text
    assert "row 9, item: 'TRN-L1' also on row 1" in text
    assert export_document(filled).content() == before


def test_a_parameter_csv_cannot_replace_a_published_version(filled):
    with pytest.raises(ImmutableRecordError):
        import_parameters(filled, format_parameters_csv(filled.version(1)), version=1)


def test_the_mirt_table_has_mirts_columns_and_values(filled):
    bank = filled.version(1).parameters.to_bank()
    table = list(csv.DictReader(io.StringIO(format_mirt_table(mirt_rows(bank)))))
    grm = table[0]
    assert set(grm) >= {"item", "a1", "a2", "d1", "d2", "d3", "d4"}
    assert float(grm["a1"]) == 0.8 + 1 / 3 and float(grm["d1"]) == 2.0
    nominal = table[6]
    assert nominal["item"] == "TRN-S1"
    # mirt's nominal: ak0 = 0 and d0 = 0 identify it; a1 is the factor slope
    assert float(nominal["ak2"]) == 2.0 and float(nominal["d1"]) == 0.4


def test_the_response_export_reads_back_as_calibration_input(filled, tmp_path):
    t0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    answers = [Response("P1", "TRN-L1", 1, "kk", "middle", 4, t0, 12.5, "s1"),
               Response("P1", "TRN-L2", 1, "kk", "middle", 0, t0 + timedelta(seconds=20), 8.0, "s1"),
               Response("P2", "TRN-L1", 1, "ru", "low", 2, t0 + timedelta(days=3), None, "s2"),
               Response("P1", "TRN-L2", 1, "ru", "low", 3, t0 + timedelta(days=9), 5.0, "s3")]
    assert filled.record_responses(answers) == 4
    kk = filled.responses(language="kk")
    assert [r.item_id for r in kk] == ["TRN-L1", "TRN-L2"] and kk[0].answered_at == t0
    assert len(filled.responses(since=t0 + timedelta(days=1), until=t0 + timedelta(days=5))) == 1
    assert len(filled.responses(level="low")) == 2
    answers_csv, times_csv = format_responses(filled.responses())
    path = tmp_path / "r.csv"
    path.write_text(answers_csv)
    data = read_responses_csv(path, exclude=["language", "level"])
    assert data.person_ids == ["P1/s1", "P2", "P1/s3"] or list(data.person_ids) == ["P1/s1", "P2", "P1/s3"]
    assert data.item_ids == ["TRN-L1", "TRN-L2"] or list(data.item_ids) == ["TRN-L1", "TRN-L2"]
    assert data.responses[0].tolist()[:2] == [4, 0] and not data.observed[2, 0]
    times = list(csv.reader(io.StringIO(times_csv)))
    assert times[1][3:] == ["12.5", "8.0"] and times[2][3:] == ["", ""]


def test_the_mirt_table_imports_back_to_the_same_parameters(filled):
    v = filled.version(1)
    table = format_mirt_table(mirt_rows(v.parameters.to_bank()))
    imported = import_parameters(filled, table, path="mirt.csv", base=1)
    assert [i.model_copy(update={"se": None}) for i in v.parameters.items] == imported.parameters.items


def test_a_unidimensional_mirt_table_reads_as_the_same_model():
    from qabilet.itembank.parameter_file import ParameterFile

    base = ParameterFile.model_validate({"latent": {"mean": [0.0], "cov": [[1.0]]}, "items": [
        {"id": "Q1", "model": "2pl", "a": 1.3, "b": -0.4},
        {"id": "Q2", "model": "3pl", "a": 0.9, "b": 0.7, "c": 0.18},
        {"id": "Q3", "model": "grm", "a": 1.6, "b": [-1.0, 0.2, 1.1], "categories": [1, 2, 3, 4]}]})
    bank = base.to_bank()
    # R's write.csv(coef(fit, simplify = TRUE)$items) leaves the row-name column unnamed
    table = format_mirt_table(mirt_rows(bank)).replace("item,", '"",', 1)
    read = read_mirt_table(table, base)
    assert [i.model for i in read.items] == ["2pl", "3pl", "grm"]
    assert read.items[2].categories == [1, 2, 3, 4]
    import numpy as np
    theta = np.linspace(-3, 3, 13)[:, None]
    np.testing.assert_allclose(read.to_bank().prob(theta), bank.prob(theta), rtol=0, atol=1e-14)
    # without a base entry the type is read off the columns: g ≠ 0 makes a 3PL
    empty = base.model_copy(update={"items": base.items[:1]})
    assert [i.model for i in read_mirt_table(table, empty).items] == ["2pl", "3pl", "grm"]


def test_a_mirt_table_with_bad_rows_reports_each(filled):
    rows = list(csv.reader(io.StringIO(format_mirt_table(mirt_rows(filled.version(1).parameters.to_bank())))))
    header = rows[0]
    rows[2][header.index("a2")] = ""          # a slope missing
    rows[4][header.index("d1")] = "high"      # not a number
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    before = export_document(filled).content()
    with pytest.raises(ImportRejectedError) as info:
        import_parameters(filled, out.getvalue(), base=1)
    assert sorted({row for row, _, _ in info.value.problems}) == [2, 4]
    assert "row 2, a1: expected slopes a1 … a2" in str(info.value)
    assert "row 4, d1: expected a number; got 'high'" in str(info.value)
    assert export_document(filled).content() == before


def test_a_calibration_output_file_becomes_a_draft_version(filled):
    pf = filled.version(1).parameters
    text = pf.to_json()
    imported = import_parameters(filled, text, path="fit.json")
    assert imported.status == "draft" and imported.parameters == pf
    assert "imported from fit.json (test)" == imported.provenance.method


def test_a_parameter_file_with_bad_items_reports_each_and_changes_nothing(filled):
    data = json.loads(filled.version(1).parameters.to_json())
    data["items"][1]["a"] = "steep"
    data["items"][4]["d"] = [1.0, 2.0, 0.0, -1.0]   # thresholds out of order
    data["items"][6]["id"] = data["items"][0]["id"]
    before = export_document(filled).content()
    with pytest.raises(ImportRejectedError) as info:
        import_parameters(filled, json.dumps(data), path="fit.json")
    assert sorted({row for row, _, _ in info.value.problems}) == [2, 5, 7]
    assert export_document(filled).content() == before
