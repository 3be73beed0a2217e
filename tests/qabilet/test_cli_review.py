"""``qabilet bank review | reviews | seed | retire`` on the demonstration bank."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from qabilet.cli import app
from qabilet.itembank.database import connect
from qabilet.itembank.repository import BankRepository
from tests.delivery._pretest import new_items

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, list(args))


def test_an_item_goes_from_draft_to_a_try_out_version_and_an_old_one_retires(demo_db, tmp_path):
    doc = tmp_path / "new.json"
    doc.write_text(json.dumps({"format": "qabilet-bank", "items": [
        i.model_dump(mode="json", exclude_none=True) for i in new_items()[:2]]}))
    assert _run("bank", "import", str(doc), "--database", demo_db).exit_code == 0
    db = ("--database", demo_db)
    moved = _run("bank", "review", "TRN-N01", "--to", "in_review", "--reason", "written",
                 "--by", "Aigerim", *db)
    assert moved.exit_code == 0 and moved.stdout == "TRN-N01: draft → in_review.\n"
    back = _run("bank", "review", "TRN-N01", "--to", "draft", "--reason", "wording", "--by",
                "Ruslan", "--note", "translation:kk=Сөз тәртібі", "--note", "sensitivity=none", *db)
    assert back.exit_code == 0, back.output
    for to in ("in_review", "pretest"):
        assert _run("bank", "review", "TRN-N01", "--to", to, "--reason", "ok", *db).exit_code == 0
    listed = _run("bank", "reviews", "TRN-N01", *db).stdout.splitlines()
    assert len([line for line in listed if "TRN-N01" in line]) == 4
    assert "    translation (kk): Сөз тәртібі" in listed and "by Ruslan: wording" in listed[1]

    seeded = _run("bank", "seed", "TRN-N01", "--reason", "try-out", *db)
    assert seeded.exit_code == 0 and seeded.stdout.startswith("Draft bank version 2 tries out 1")
    retired = _run("bank", "retire", "TRN-L01", "--reason", "drift", *db)
    assert retired.exit_code == 0 and "draft bank version 3 leaves them out" in retired.stdout
    engine = connect(demo_db)
    repo = BankRepository(engine)
    assert repo.version(2).pretest == ["TRN-N01"] and "TRN-L01" not in repo.version(3).item_ids
    assert repo.item("TRN-L01").status == "retired"
    engine.dispose()


def test_bad_review_commands_say_what_was_wrong_and_change_nothing(demo_db):
    db = ("--database", demo_db)
    for args, says in (
            (("review", "TRN-L01", "--to", "pretest", "--reason", "x"),
             "error: item 'TRN-L01' is operational: it can move to retired, not to pretest"),
            (("review", "NOPE", "--to", "in_review", "--reason", "x"),
             "error: item 'NOPE' is not in the bank"),
            (("review", "TRN-L01", "--to", "retired", "--reason", " "),
             "error: reason: String should have at least 1 character"),
            (("review", "TRN-L01", "--to", "retired", "--reason", "x", "--note", "oops"),
             "error: --note: expected ASPECT[:LANG]=TEXT"),
            (("review", "TRN-L01", "--to", "retired", "--reason", "x", "--note", "tone=x"),
             "error: aspect: Input should be 'wording'"),
            (("seed", "TRN-L01", "--reason", "x"), "error: item 'TRN-L01' is operational")):
        result = _run("bank", *args, *db)
        assert result.exit_code == 2 and result.stderr.startswith(says), (args, result.stderr)
    engine = connect(demo_db)
    repo = BankRepository(engine)
    assert repo.reviews() == [] and len(repo.versions()) == 1
    assert repo.item("TRN-L01").status == "operational"
    engine.dispose()
