"""`qabilet bank export-qti` and `import-qti`: the demonstration bank through QTI 3.0 and back."""

from __future__ import annotations

import json
import shutil
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qabilet.cli import app
from qabilet.itembank.bank_file import export_document
from qabilet.itembank.content import INSTRUCTIONS
from qabilet.itembank.database import connect
from qabilet.itembank.qti_package import Problems
from qabilet.itembank.qti_read import read_item
from qabilet.itembank.repository import BankRepository
from tests.itembank._qti import FOREIGN, small_bank, zipped

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, list(args))


def _exact(value) -> str:
    """A record as JSON text: floats by ``repr``, so equal text is equal bits (and -0.0 ≠ 0.0)."""
    return json.dumps(value.model_dump(mode="json", by_alias=True), sort_keys=True)


@pytest.fixture(scope="module")
def exported(demo_db_file, tmp_path_factory) -> tuple[str, Path, str]:
    """A copy of the demonstration bank, its version 1 exported by the CLI, and what it said."""
    where = tmp_path_factory.mktemp("qti")
    shutil.copy(demo_db_file, where / "demo.db")
    url, package = f"sqlite:///{where / 'demo.db'}", where / "bank-v1.zip"
    out = _run("bank", "export-qti", "1", "--out", str(package), "--database", url)
    assert out.exit_code == 0, out.output
    return url, package, out.output


def test_every_exported_item_is_valid_for_the_strict_reader(exported):
    _, package, said = exported
    assert said == (f"Wrote bank version 1 (378 items, 30 forced-choice blocks) to {package}: "
                    f"1224 QTI assessment items, one per item and language.\n")
    z = zipfile.ZipFile(package)
    problems = Problems()
    names = [n for n in z.namelist() if n != "imsmanifest.xml"]
    reads = [read_item(z.read(n), n, problems, exact=True) for n in names]
    assert problems.found == []
    assert len(reads) == 3 * (378 + 30)  # every item and block in kk, ru and en
    assert Counter(r.kind for r in reads) == {"choice": 3 * 378, "order": 3 * 30}
    for name, r in zip(names, reads, strict=True):
        assert r is not None
        item_id, lang = r.identifier.rsplit(".", 1)
        assert name == f"items/{item_id}.{lang}.xml" and r.language == lang in ("kk", "ru", "en")
        assert not r.shuffle and r.correct is None  # preference items: no right answer
        if r.kind == "choice":  # each choice mapped to its answer code, its position
            assert r.mapping == {c: float(k) for k, (c, _) in enumerate(r.choices)}
            assert r.scored == "map"
        else:  # a block's ranking is qabilet's to score; its choices are its statements
            assert r.mapping is None and r.scored is None
            assert all(c.startswith("FC-") for c, _ in r.choices) and len(r.choices) == 3


def test_an_sjt_item_says_what_a_platform_needs(exported):
    """Read by hand from the XML: the mapping, the outcome, NULL for no answer, no key."""
    text = zipfile.ZipFile(exported[1]).read("items/ACC-S01.en.xml").decode()
    assert '<qti-assessment-item xmlns="http://www.imsglobal.org/xsd/imsqtiasi_v3p0"' in text
    assert 'identifier="ACC-S01.en"' in text and 'xml:lang="en"' in text
    assert ('<qti-response-declaration identifier="RESPONSE" cardinality="single" '
            'base-type="identifier">') in text
    for code in range(4):
        assert f'<qti-map-entry map-key="C{code}" mapped-value="{code}"' in text
    assert ('<qti-outcome-declaration identifier="SCORE" cardinality="single" '
            'base-type="float"/>') in text
    assert "qti-correct-response" not in text
    assert "<qti-null/>" in text and '<qti-map-response identifier="RESPONSE"/>' in text
    assert f"<qti-prompt>{INSTRUCTIONS['best']['en']}</qti-prompt>" in text
    assert ('<qti-simple-choice identifier="C1">Tell your manager yourself that the deadline has '
            'been missed, explain why and give a realistic new date.</qti-simple-choice>') in text


def test_the_demonstration_bank_round_trips_through_qti_exactly(exported, tmp_path):
    demo_db, package, _ = exported
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    done = _run("bank", "import-qti", str(package), "--database", fresh)
    assert done.exit_code == 0, done.output
    assert done.output.splitlines() == [
        f"Imported {package} (408 items, 1 bank version, 0 norm sets, 0 blueprints): 408 items "
        f"added; 1 bank version added; 9 dimensions added; 2 response scales added.",
        "The package's parameters are in draft bank version 1; publish it with: qabilet bank "
        "publish --bank-version 1"]

    a, b = BankRepository(connect(demo_db)), BankRepository(connect(fresh))
    old, new = a.version(1), b.version(1)
    assert (old.status, new.status) == ("published", "draft")
    # every item and block, every field: texts in kk, ru and en, options in order, statements
    items_a, items_b = a.items(version=1), b.items(version=1)
    assert len(items_b) == 408 and all(set(i.text) == {"kk", "ru", "en"} for i in items_b)
    for x, y in zip(items_a, items_b, strict=True):
        assert x.model_dump() == y.model_dump()
    assert a.items() == b.items()  # the working records too (status, tags, enemy sets …)
    # every parameter record, bit for bit, with its standard errors and answer codes
    for x, y in zip(old.parameters.items, new.parameters.items, strict=True):
        assert _exact(x) == _exact(y)
    assert sum(r.se is not None for r in new.parameters.items) == 378
    assert sum(r.categories is not None for r in new.parameters.items) > 0
    assert _exact(old.parameters) == _exact(new.parameters)
    assert _exact(old.forced_choice) == _exact(new.forced_choice)
    assert (old.pretest, old.label) == (new.pretest, new.label)
    assert _exact(old.provenance.model_copy(update={"notes": None})) == _exact(
        new.provenance.model_copy(update={"notes": None}))
    assert new.provenance.notes == (f"{old.provenance.notes} imported from {package} (bank "
                                    f"version 1 of the bank that wrote it)")
    assert a.dimensions(version=1) == b.dimensions() and a.scales(version=1) == b.scales()


@pytest.fixture
def small_db(tmp_path) -> str:
    """The URL of the small test bank (two competencies, Likert and situational items)."""
    return f"sqlite:///{small_bank(tmp_path / 'small.db')}"


def test_another_platforms_package_asks_for_what_it_lacks_then_imports_drafts(small_db, tmp_path):
    package = tmp_path / "foreign.zip"
    package.write_bytes(zipped(FOREIGN))
    repo = BankRepository(connect(small_db))
    before = export_document(repo).content()
    refused = _run("bank", "import-qti", str(package), "--database", small_db)
    assert refused.exit_code == 2
    assert refused.output.startswith(f"error: {package}: 1 problem, nothing imported "
                                     f"imsmanifest.xml /manifest (line 4): the package has no "
                                     f"qabilet metadata")
    assert export_document(repo).content() == before

    done = _run("bank", "import-qti", str(package), "--database", small_db,
                "--dimension", "accountability", "--levels", "middle,low")
    assert done.exit_code == 0, done.output
    assert done.output.splitlines() == [
        f"Imported {package} (3 items, 0 bank versions, 0 norm sets, 0 blueprints): 3 items added.",
        "Note: 1 resource(s) of other types (tests, stimuli, media) were not read.",
        "Note: 1 assessment item(s) ask for their choices shuffled; qabilet shows them in the "
        "package's order (the answer code of a choice is its position there)."]
    assert {i.id: (i.competency, i.levels) for i in repo.items(status="draft")} == dict.fromkeys(
        ("complaint-shuffled", "queue", "true-false"), ("accountability", ["middle", "low"]))


def test_a_bad_item_is_named_with_its_line(small_db, tmp_path):
    package = tmp_path / "bad.zip"
    package.write_bytes(zipped(FOREIGN, {"items/true-false.xml": lambda t: t.replace(
        'identifier="false">', 'identifier="2false">')}))
    refused = _run("bank", "import-qti", str(package), "--database", small_db,
                   "--dimension", "transparency", "--levels", "low")
    assert refused.exit_code == 2
    assert ("items/true-false.xml /qti-assessment-item/qti-item-body/qti-choice-interaction/"
            "qti-simple-choice[2] (line 19): identifier: '2false' is no QTI identifier") \
        in refused.output
    assert Path(package).exists()
