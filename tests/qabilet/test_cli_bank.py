"""`qabilet bank …` on a copy of the demonstration bank."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from qabilet.cli import app
from qabilet.itembank.database import connect
from qabilet.itembank.repository import BankRepository, Response

runner = CliRunner()
#: items in the demonstration bank: 62 per competency + 130 personal qualities (26 each); 178
#: before the pools were enlarged
N_ITEMS = 378  # calibrated items
N_HELD = N_ITEMS + 30  # and the forced-choice blocks


def _run(*args: str):
    return runner.invoke(app, list(args))


def _write_rows(path, rows):
    """A parameter CSV of ``rows`` (dicts with the exported columns), written here."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buffer.getvalue())
    return path


def test_export_then_import_through_files_gives_the_same_bank(demo_db, tmp_path):
    out = tmp_path / "bank.json"
    result = _run("bank", "export", "--database", demo_db, "--out", str(out))
    assert result.exit_code == 0
    assert result.stdout == (f"Wrote the bank ({N_HELD} items, 1 bank version, 1 norm set, "
                             f"6 blueprints) to {out}.\n")
    other = f"sqlite:///{tmp_path / 'other.db'}"
    result = _run("bank", "import", str(out), "--database", other)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(
        f"Imported {out} ({N_HELD} items, 1 bank version, 1 norm set, 6 blueprints): "
        f"{N_HELD} items added; 1 bank version added; 1 norm set added; 6 blueprints added; "
        f"9 dimensions added;")
    again = tmp_path / "again.json"
    assert _run("bank", "export", "--database", other, "--out", str(again)).exit_code == 0
    a, b = (json.loads(p.read_text(encoding="utf-8")) for p in (out, again))
    for doc in (a, b):
        doc.pop("exported_at")
    assert a == b


def test_reimporting_the_same_bank_says_nothing_was_new(demo_db, tmp_path):
    out = tmp_path / "bank.json"
    _run("bank", "export", "--database", demo_db, "--out", str(out))
    result = _run("bank", "import", str(out), "--database", demo_db)
    assert result.exit_code == 0, result.output
    assert result.stdout == (f"Nothing new in {out}: its records ({N_HELD} items, 1 bank version, "
                             f"1 norm set, 6 blueprints) are stored already, the same; nothing "
                             f"was imported.\n")
    doc = json.loads(out.read_text(encoding="utf-8"))
    _item(doc, "TRN-S03")["levels"] = ["middle"]
    out.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    result = _run("bank", "import", str(out), "--database", demo_db)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        f"Imported {out} ({N_HELD} items, 1 bank version, 1 norm set, 6 blueprints): 1 item (0 "
        f"added, 1 changed).")


def test_a_parameter_csv_becomes_a_draft_version_to_diff_and_publish(demo_db, tmp_path):
    params = tmp_path / "params.csv"
    result = _run("bank", "export", "--format", "csv", "--database", demo_db, "--out",
                  str(params))
    assert result.exit_code == 0
    assert result.stdout == (f"Wrote the parameters of {N_ITEMS} items (bank version 1) to "
                             f"{params}.\n")
    rows = list(csv.DictReader(io.StringIO(params.read_text())))
    assert len(rows) == N_ITEMS and rows[0]["item"] == "SRV-L01"
    rows[0]["d1"] = str(float(rows[0]["d1"]) + 0.25)  # a recalibration moved one threshold
    changed = _write_rows(tmp_path / "changed.csv", rows)
    result = _run("bank", "import", str(changed), "--database", demo_db)
    assert result.exit_code == 0 and "draft bank version 2" in result.output
    result = _run("bank", "diff", "1", "2", "--database", demo_db)
    assert "changed (1), largest first:" in result.output
    assert "SRV-L01: d by up to 0.2500" in result.output
    assert _run("bank", "publish", "--bank-version", "2", "--database", demo_db).exit_code == 0
    result = _run("bank", "publish", "--bank-version", "2", "--database", demo_db)
    assert result.exit_code == 2 and "already published" in result.output
    listing = _run("bank", "versions", "--database", demo_db).output
    assert "version 1  published" in listing and "version 2  published" in listing


def test_a_bad_parameter_csv_is_reported_row_by_row_and_changes_nothing(demo_db, tmp_path):
    params = tmp_path / "params.csv"
    _run("bank", "export", "--format", "csv", "--database", demo_db, "--out", str(params))
    lines = params.read_text().splitlines()
    header = lines[0].split(",")
    cells = [line.split(",") for line in lines[1:]]
    cells[1][header.index("a1")] = "x"
    cells[299 % len(cells)][header.index("model")] = ""
    cells[150][0] = cells[3][0]
    params.write_text("\n".join([lines[0], *(",".join(c) for c in cells)]) + "\n")
    result = _run("bank", "import", str(params), "--database", demo_db)
    assert result.exit_code == 2
    assert "3 bad rows, nothing imported" in result.output
    assert "row 2, a1: expected a number; got 'x'" in result.output
    assert f"row {299 % len(cells) + 1}, model" in result.output
    assert "row 151, item:" in result.output
    assert "version 2" not in _run("bank", "versions", "--database", demo_db).output


def test_mirt_table_and_list_and_show(demo_db, tmp_path):
    table = _run("bank", "export", "--format", "mirt", "--database", demo_db).output
    header = table.splitlines()[0].split(",")
    assert header[:10] == ["item", *(f"a{k}" for k in range(1, 10))]
    out = tmp_path / "mirt.csv"
    result = _run("bank", "export", "--format", "mirt", "--database", demo_db, "--out", str(out))
    assert result.stdout == f"Wrote mirt's table of {N_ITEMS} items (bank version 1) to {out}.\n"
    assert out.read_text() == table
    listing = _run("bank", "list", "--database", demo_db, "--dimension", "integrity",
                   "--language", "ru").output
    # 26 integrity statements since the personal-quality pools were enlarged (were 10)
    assert listing.strip().endswith("26 items") and "PQ-INT-01" in listing
    shown = _run("bank", "show", "TRN-S03", "--database", demo_db).output
    assert '"ru"' in shown and "parameters in bank version 1 (published)" in shown


@pytest.mark.parametrize(("option", "value", "expected"), [
    ("--dimension", "nonsense", "accountability, effectiveness, service_to_public, transparency, "
                                "cooperation, initiative, integrity, learning_orientation, "
                                "stress_resilience"),
    ("--level", "top", "high, middle, low"),
    ("--status", "live", "draft, in_review, pretest, operational, retired"),
    ("--language", "de", "kk, ru, en"),
])
def test_listing_by_an_unknown_value_is_an_error_naming_the_known_ones(demo_db, option, value,
                                                                       expected):
    result = _run("bank", "list", "--database", demo_db, option, value)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"error: {option}: expected one of {expected}; got {value!r}\n"


def test_responses_export_filters_and_writes_times(demo_db, tmp_path):
    repo = BankRepository(connect(demo_db))
    t = datetime(2026, 11, 5, tzinfo=UTC)
    reverse = next(i for i, c in repo.version(1).parameters.recodings().items()
                   if c == (4, 3, 2, 1, 0) and i.startswith("SRV"))
    repo.record_responses([Response("A", "SRV-L01", 1, "kk", "high", 3, t, 4.5, "s1"),
                           Response("A", reverse, 1, "kk", "high", 4, t, 3.0, "s1"),
                           Response("B", "SRV-L01", 1, "en", "low", 1, t, 7.0, "s2")])
    out = tmp_path / "r.csv"
    result = _run("bank", "export", "--format", "responses", "--language", "kk", "--out",
                  str(out), "--database", demo_db)
    assert result.exit_code == 0
    assert result.stdout == (f"Wrote 2 responses of 1 person (model categories) to {out} and "
                             f"their response times to {out.with_suffix('.times.csv')}.\n")
    # "strongly agree" (4) with a reverse-keyed statement is model category 0
    assert out.read_text().splitlines() == [f"person_id,language,level,SRV-L01,{reverse}",
                                            "A,kk,high,3,0"]
    assert out.with_suffix(".times.csv").read_text().splitlines()[1] == "A,kk,high,4.5,3.0"
    _run("bank", "export", "--format", "responses", "--language", "kk", "--raw", "--out",
         str(out), "--database", demo_db)
    assert out.read_text().splitlines()[1] == "A,kk,high,3,4"


def test_a_bad_database_url_is_named(tmp_path):
    result = _run("bank", "versions", "--database", f"sqlite:///{tmp_path}/missing/dir/x.db")
    assert result.exit_code == 2 and "does not exist" in result.output


def test_a_recalibration_from_the_exported_responses_lands_as_a_draft_version(demo_db, tmp_path):
    """Responses from the bank → `qabilet calibrate` → `qabilet bank import` → diff → publish."""
    import numpy as np

    from qabilet.engine.simulation import simulate_responses
    from qabilet.itembank.versions import scale_bank

    repo = BankRepository(connect(demo_db))
    v1 = repo.version(1)
    bank = scale_bank(v1.parameters, ["integrity"])
    codes = v1.parameters.recodings()
    rng = np.random.default_rng(4)
    x = simulate_responses(bank, rng.standard_normal(3000), rng)
    t = datetime(2026, 11, 20, tzinfo=UTC)
    repo.record_responses(
        Response(f"P{p}", item_id, 1, "ru", "middle", int(codes.get(item_id, range(5))[x[p, j]]), t)
        for p in range(x.shape[0]) for j, item_id in enumerate(bank.item_ids))
    answers = tmp_path / "integrity.csv"
    assert _run("bank", "export", "--format", "responses", "--out", str(answers),
                "--database", demo_db).exit_code == 0
    fit = tmp_path / "fit.json"
    result = _run("calibrate", str(answers), "--model", "grm", "--exclude", "language,level",
                  "--out", str(fit))
    assert result.exit_code == 0, result.output
    result = _run("bank", "import", str(fit), "--database", demo_db)
    assert result.exit_code == 0, result.output
    # the 26 integrity statements, 10 of them reverse-keyed (were 10 and 3 before the pools grew)
    assert "26 items' parameters into draft bank version 2" in result.output
    assert "answer-code mappings of version 1 kept for 10 items" in result.output
    v2 = repo.version(2)
    assert {i: c for i, c in v2.parameters.recodings().items() if c != (0, 1, 2, 3, 4)} == {
        i: c for i, c in codes.items() if i in bank.item_ids}  # the reverse-keyed statements
    assert v2.status == "draft" and set(v2.item_ids) == set(bank.item_ids)
    # the recalibration recovers the published parameters (3,000 persons: slopes within 0.25)
    new = {r["id"]: r for r in v2.parameters.to_bank().to_records()}
    for rec in bank.to_records():
        assert abs(new[rec["id"]]["a"] - rec["a"]) < 0.25
    assert "changed (26)" in _run("bank", "diff", "1", "2", "--database", demo_db).output


def test_qabilet_report_writes_profiles_and_a_group_report(demo_db, tmp_path):
    import numpy as np

    from qabilet.demo_session import session_plan, simulate_candidate

    repo = BankRepository(connect(demo_db))
    plan, items = session_plan(repo, "high"), {i.id: i for i in repo.items()}
    rows, times = [], []
    for k in range(3):
        truth = dict.fromkeys(plan.version.dimensions, float(k - 1))
        answers = simulate_candidate(plan, truth, seed=k, items=items).answers
        rows.append({"person_id": f"P{k}", "language": ["kk", "ru", "en"][k], "level": "high",
                     **{a.item_id: a.code for a in answers}})
        times.append({"person_id": f"P{k}", **{a.item_id: a.response_time_s for a in answers}})
    columns = sorted({c for r in rows for c in r} - {"person_id", "language", "level"})
    for name, data, meta in (("r.csv", rows, ["person_id", "language", "level"]),
                             ("t.csv", times, ["person_id"])):
        with open(tmp_path / name, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=meta + columns, restval="")
            writer.writeheader()
            writer.writerows(data)
    out = tmp_path / "reports"
    result = _run("report", str(tmp_path / "r.csv"), "--times", str(tmp_path / "t.csv"),
                  "--out", str(out), "--group", "--issue", "--database", demo_db)
    assert result.exit_code == 0, result.output
    assert result.stdout == (f"Wrote 3 profiles (<person>.html, <person>.json) to {out} and "
                             f"group.html; issued 3.\n")
    assert 'lang="kk"' in (out / "P0.html").read_text(encoding="utf-8")
    p2 = json.loads((out / "P2.json").read_text(encoding="utf-8"))
    p0 = json.loads((out / "P0.json").read_text(encoding="utf-8"))
    assert np.mean([d["percentile"] for d in p2["professional"]]) > \
        np.mean([d["percentile"] for d in p0["professional"]])
    group = (out / "group.html").read_text(encoding="utf-8")  # three candidates: too few to show
    assert "P1" not in group and "Кандидатов меньше 10" in group and "<table" not in group
    assert len(repo.profiles()) == 3
    too_small = _run("report", str(tmp_path / "r.csv"), "--out", str(tmp_path / "small"), "--group",
                     "--group-min", "3", "--database", demo_db)
    assert too_small.exit_code == 2 and "--group-min" in too_small.output
    assert not (tmp_path / "small").exists()
    # --language: every report in that language, as issued (the records keep theirs)
    english = _run("report", str(tmp_path / "r.csv"), "--out", str(tmp_path / "en"),
                   "--language", "en", "--database", demo_db, "--pdf", "--view", "candidate")
    assert english.exit_code == 0, english.output
    assert "<person>.pdf" in english.stdout
    for k in range(3):
        pdf = (tmp_path / "en" / f"P{k}.pdf").read_bytes()
        assert pdf[:5] == b"%PDF-" and b"%%EOF" in pdf[-1024:]
        html = (tmp_path / "en" / f"P{k}.html").read_text(encoding="utf-8")
        record = json.loads((tmp_path / "en" / f"P{k}.json").read_text(encoding="utf-8"))
        assert '<html lang="en">' in html and record["language"] == ["kk", "ru", "en"][k]
        assert all(d["texts"]["en"]["name"] in html for d in record["professional"])
    bad_language = _run("report", str(tmp_path / "r.csv"), "--out", str(tmp_path / "de"),
                        "--language", "de", "--database", demo_db)
    assert bad_language.exit_code == 2 and "--language: expected one of kk, ru, en" in bad_language.output
    # a bad cell names its row and column, and nothing is written
    (tmp_path / "bad.csv").write_text("person_id,SRV-L01\nA,x\n")
    bad = _run("report", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "none"),
               "--database", demo_db)
    assert bad.exit_code == 2 and "row 1, SRV-L01: expected an answer code" in bad.output
    assert not (tmp_path / "none").exists()


def _exported(demo_db, tmp_path) -> dict:
    out = tmp_path / "bank.json"
    assert _run("bank", "export", "--database", demo_db, "--out", str(out)).exit_code == 0
    return json.loads(out.read_text(encoding="utf-8"))


def _item(doc: dict, item_id: str) -> dict:
    return next(i for i in doc["items"] if i["id"] == item_id)


def test_new_texts_go_into_a_draft_that_diff_show_and_versions_tell(demo_db, tmp_path):
    doc = _exported(demo_db, tmp_path)
    old_stem = _item(doc, "TRN-S03")["text"]["ru"]["stem"]
    _item(doc, "TRN-S03")["text"]["ru"]["stem"] = old_stem + " (исправлено)"
    next(d for d in doc["dimensions"] if d["id"] == "transparency")["name"]["en"] = "Openness"
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    result = _run("bank", "import", str(changed), "--database", demo_db)
    assert result.exit_code == 0, result.output
    assert ("New texts of published bank version 1 are in draft bank version 2 (2 changes); "
            "version 1 keeps showing its own.") in result.output
    diff = _run("bank", "diff", "1", "2", "--database", demo_db).output
    assert "no item changed" in diff and "texts changed (2):" in diff
    assert "  dimension 'transparency' name.en: 'Transparency' → 'Openness'" in diff
    assert f"  item 'TRN-S03' text.ru.stem: {old_stem!r} → {old_stem + ' (исправлено)'!r}" in diff
    shown = {n: json.loads(_run("bank", "show", "TRN-S03", "--database", demo_db, "--bank-version",
                                str(n)).output.split("\nparameters in")[0]) for n in (1, 2)}
    assert shown[1]["text"]["ru"]["stem"] == old_stem
    assert shown[2]["text"]["ru"]["stem"] == old_stem + " (исправлено)"
    listing = _run("bank", "versions", "--database", demo_db).output
    assert "version 2  draft" in listing and "new texts of version 1: 2 changes" in listing
    assert f"from {changed}" in listing


def test_reversed_sjt_options_are_refused_and_nothing_is_imported(demo_db, tmp_path):
    doc = _exported(demo_db, tmp_path)
    for text in _item(doc, "TRN-S03")["text"].values():
        text["options"].reverse()
    _item(doc, "TRN-S01")["text"]["ru"]["stem"] = "Изменение, которое не должно пройти."
    reversed_ = tmp_path / "reversed.json"
    reversed_.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    result = _run("bank", "import", str(reversed_), "--database", demo_db)
    assert result.exit_code == 2
    assert "1 bad row, nothing imported" in result.output
    row = [i["id"] for i in doc["items"]].index("TRN-S03")
    assert f"row {row + 1}, items[{row}] ('TRN-S03').text.kk.options: moved (3 → 0" in result.output
    after = _exported(demo_db, tmp_path)
    assert _item(after, "TRN-S01")["text"]["ru"]["stem"] != "Изменение, которое не должно пройти."
    assert "version 2" not in _run("bank", "versions", "--database", demo_db).output


def test_show_marks_a_reverse_keyed_item(demo_db, tmp_path):
    # a recalibration finds SRV-L01 worded against its competency: its slope turns negative
    params = tmp_path / "params.csv"
    _run("bank", "export", "--format", "csv", "--database", demo_db, "--out", str(params))
    rows = list(csv.DictReader(io.StringIO(params.read_text())))
    slopes = [c for c in rows[0] if c[0] == "a" and c[1:].isdigit() and float(rows[0][c]) != 0]
    assert rows[0]["item"] == "SRV-L01" and len(slopes) == 1
    rows[0][slopes[0]] = repr(-float(rows[0][slopes[0]]))
    changed = _write_rows(tmp_path / "reversed.csv", rows)
    assert _run("bank", "import", str(changed), "--database", demo_db).exit_code == 0
    shown = _run("bank", "show", "SRV-L01", "--database", demo_db).output
    assert "parameters in bank version 2 (draft, reverse-keyed: negative slope):" in shown
    other = _run("bank", "show", "SRV-L02", "--database", demo_db).output
    assert "parameters in bank version 2 (draft):" in other
