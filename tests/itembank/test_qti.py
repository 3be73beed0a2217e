"""QTI 3.0 packages: qabilet's own read back exactly, hand-written ones read strictly, bad ones refused.

The hand-written packages are under tests/data/qti/ (unpacked: each test zips a folder); the
demonstration bank's package is exported once per module from a copy of the session's build.
"""

from __future__ import annotations

import copy
import io
import math
import random
import re
import shutil
import struct
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from qabilet.engine.exceptions import ConflictError, ImportRejectedError
from qabilet.itembank import qti_package, qti_write
from qabilet.itembank.bank_file import export_document
from qabilet.itembank.content import BLOCK_INSTRUCTIONS, INSTRUCTIONS, Item
from qabilet.itembank.database import connect
from qabilet.itembank.parameter_file import ParameterFile
from qabilet.itembank.qti_import import Defaults, import_package
from qabilet.itembank.qti_package import (
    Problems,
    QtiRejectedError,
    json_element,
    json_value,
    parse_xml,
)
from qabilet.itembank.qti_read import read_item
from qabilet.itembank.qti_write import export_package, item_document
from qabilet.itembank.repository import BankRepository
from tests.itembank import _bank
from tests.itembank._qti import FOREIGN, Edit, rezipped, small_bank, zipped


@pytest.fixture(scope="module")
def bank_files(tmp_path_factory) -> tuple[Path, Path]:
    """The small test bank, and an empty bank, as SQLite files to copy."""
    where = tmp_path_factory.mktemp("banks")
    return small_bank(where / "small.db"), small_bank(where / "empty.db", fill=False)


def _copy(source: Path, tmp_path: Path, name: str) -> BankRepository:
    copy = tmp_path / name
    shutil.copy(source, copy)
    return BankRepository(connect(f"sqlite:///{copy}"))


@pytest.fixture
def lite(bank_files, tmp_path) -> Iterator[BankRepository]:
    """The small test bank on SQLite (refusals happen before the database is written; the
    round trips run on both back-ends through ``repo``)."""
    repo = _copy(bank_files[0], tmp_path, "bank.db")
    yield repo
    repo.engine.dispose()


@pytest.fixture
def empty(bank_files, tmp_path) -> Iterator[BankRepository]:
    """An empty bank on SQLite."""
    repo = _copy(bank_files[1], tmp_path, "empty.db")
    yield repo
    repo.engine.dispose()


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


# -- qabilet's records as XML ---------------------------------------------------------------------
def test_json_values_come_back_bit_for_bit():
    value = {"floats": [0.1, 1 / 3, 1e-300, 5e-324, -0.0, 1.7976931348623157e308, 2.0, 1e16],
             "ints": [0, -7, 2**70], "text": "a\r\nb & <c> \"d\" 𝛉\t", "empty": "",
             "nested": {"null": None, "yes": True, "no": False, "list": [[], {}]}}
    xml = b'<r xmlns:fn="http://www.w3.org/2005/xpath-functions">' + \
        json_element(value).render().encode() + b"</r>"
    problems = Problems()
    root = parse_xml(xml, "m", problems)
    back = json_value(root.children[0], "m", problems)
    assert not problems.found
    assert back == value
    assert [_bits(x) for x in back["floats"]] == [_bits(x) for x in value["floats"]]
    assert all(type(a) is type(b) for a, b in zip(back["ints"] + back["floats"],
                                                   value["ints"] + value["floats"], strict=True))
    with pytest.raises(ValueError, match="not a JSON number"):
        json_element(math.nan)
    with pytest.raises(ValueError, match="U\\+0001"):
        json_element("bad\x01")


# -- a small bank with what is hard to carry ----------------------------------------------------
STEM = "First line <b>&amp;</b>\r\nsecond\n\n\n  indented\tpara\n\n𝛉 — «end»"


def _hard_bank(repo: BankRepository) -> int:
    """The small test bank, plus a draft version 2 with a keyed item of awkward texts (its floats
    at the edges of float64), a Likert item in a language its scale lacks and an item tried out."""
    _bank.fill(repo)
    keyed = Item(id="TRN-D1", competency="transparency", levels=["high"], format="dichotomous",
                 key=1, status="pretest", tags=["keyed"], enemy_sets=["E-1"],
                 text={"en": {"stem": STEM, "options": ["Yes\nreally", "No & <never>"]},
                       "ru": {"stem": "Да или нет?", "options": ["Да", "Нет"]}})
    kazakh = Item.model_validate({**_bank.likert("ACC-K1", "accountability").model_dump(),
                                  "status": "pretest", "direction": -1,
                                  "text": {"kk": {"stem": "Жауап беремін."}}})
    tried = Item.model_validate({**_bank.sjt("ACC-P1", "accountability").model_dump(),
                                 "status": "pretest", "instruction": "would_do"})
    repo.add_items([keyed, kazakh, tried])
    base = repo.version(1).parameters.model_dump(mode="json", exclude_none=True)
    base["items"] += [
        {"id": "TRN-D1", "model": "2pl", "a": [1.2345678901234567, 0.0], "d": -1 / 3,
         "categories": [1, 0], "se": {"a": [5e-324, None], "d": 0.1}},
        {"id": "ACC-K1", "model": "grm", "a": [0.0, -0.7], "d": [1e-300, -1e-7, -0.5, -2.0],
         "categories": [4, 3, 2, 1, 0]}]
    return repo.create_version(ParameterFile.model_validate(base), _bank.provenance(),
                               label="hard cases", pretest=["ACC-P1"]).number


def _same_version(a: BankRepository, na: int, b: BankRepository, nb: int) -> None:
    va, vb = a.version(na), b.version(nb)
    assert vb.status == "draft" and vb.label == va.label
    assert vb.parameters == va.parameters and vb.forced_choice == va.forced_choice
    assert vb.pretest == va.pretest
    assert (vb.provenance.model_copy(update={"notes": None})
            == va.provenance.model_copy(update={"notes": None}))
    assert a.items(version=na) == b.items(version=nb)


def test_texts_floats_keys_and_languages_come_back_exactly(repo, tmp_path):
    number = _hard_bank(repo)
    package = export_package(repo, number)
    assert (package.items, package.pretest, package.resources) == (18, 1, 2 * 16 + 2 + 1 + 2)
    text = zipfile.ZipFile(io.BytesIO(package.data)).read("items/TRN-D1.en.xml").decode()
    assert ("<p>First line &lt;b&gt;&amp;amp;&lt;/b&gt;&#13;<br/>second</p>\n    "
            "<p><br/>  indented\tpara</p>\n    <p>𝛉 — «end»</p>") in text
    assert '<qti-correct-response>\n      <qti-value>C1</qti-value>' in text
    kazakh = zipfile.ZipFile(io.BytesIO(package.data)).read("items/ACC-K1.kk.xml").decode()
    assert "<qti-simple-choice identifier=\"C0\">Strongly disagree</qti-simple-choice>" in kazakh

    fresh = BankRepository(connect(f"sqlite:///{tmp_path / 'fresh.db'}"))
    done = import_package(fresh, package.data, path="hard.zip")
    assert done.version == 1 and done.resources == package.resources
    _same_version(repo, number, fresh, 1)
    assert fresh.item("TRN-D1").text["en"].stem == STEM
    assert fresh.items() == [i for i in repo.items() if i.id in {x.id for x in fresh.items()}]
    floats = {r.id: r for r in fresh.version(1).parameters.items}
    assert _bits(floats["TRN-D1"].se["a"][0]) == _bits(5e-324)
    assert _bits(floats["TRN-D1"].d) == _bits(-1 / 3)
    assert fresh.scales() == {"agreement5": _bank.SCALE}

    # into the bank it came from: the items are there already; the parameters make a new draft
    before = [i.model_dump() for i in repo.items()]
    again = import_package(repo, package.data, path="hard.zip")
    assert again.version == number + 1 and again.imported.draft is None
    assert [i.model_dump() for i in repo.items()] == before
    _same_version(repo, number, repo, number + 1)


def test_what_qti_cannot_carry_is_refused_at_export(lite):
    repo = lite
    bad = Item.model_validate({**_bank.sjt("ACC-S1", "accountability").model_dump(),
                               "text": {"en": {"stem": "A bell\x07 rings.",
                                               "options": ["a", "b", "c"]}}})
    repo.add_items([bad], replace=True)
    with pytest.raises(ConflictError, match=r"item 'ACC-S1' \(en\) stem: character U\+0007"):
        export_package(repo, repo.create_version(repo.version(1).parameters,
                                                 _bank.provenance()).number)


# -- packages qabilet did not write ------------------------------------------------------------------
TRANSPARENCY = Defaults("transparency", ("middle", "low"))


def test_a_package_without_qabilet_metadata_asks_for_what_it_misses(lite):
    repo = lite
    before = export_document(repo).content()
    with pytest.raises(QtiRejectedError) as caught:
        import_package(repo, zipped(FOREIGN), path="foreign.zip")
    [(line, where, reason)] = caught.value.problems
    assert (line, where) == (4, "imsmanifest.xml /manifest")
    assert "--dimension ID" in reason and "--levels LEVEL" in reason
    with pytest.raises(QtiRejectedError, match="--dimension 'candour': not a dimension"):
        import_package(repo, zipped(FOREIGN), defaults=Defaults("candour", ("low",)))
    assert export_document(repo).content() == before


def test_hand_written_choice_items_import_as_drafts(lite):
    repo = lite
    done = import_package(repo, zipped(FOREIGN), path="foreign.zip", defaults=TRANSPARENCY)
    assert done.version is None and done.resources == 4
    assert done.imported.counts()["items"] == 3 and done.imported.counts()["versions"] == 0
    assert any("1 resource(s) of other types" in n for n in done.notes)
    assert any("1 assessment item(s) ask for their choices shuffled" in n for n in done.notes)
    shuffled = repo.item("complaint-shuffled")
    assert (shuffled.format, shuffled.status, shuffled.competency, shuffled.levels) == (
        "sjt", "draft", "transparency", ["middle", "low"])
    assert shuffled.text["en"].stem == ("A citizen complains loudly that her application has "
                                        "been lost.\n\nWhat would you do?")
    assert shuffled.text["en"].options == [  # the document's order, a br as a line break
        "Ask her to wait for the supervisor.",
        "Check the register with her and say when it will be ready.",
        "Tell her the office is not responsible.", "Take her details\nand promise to call back."]
    # mapped 1, 3, 0, 2: ChoiceB shows the competency most, ChoiceC least
    assert (shuffled.orientation.most_indicative, shuffled.orientation.least_indicative) == (1, 2)
    queue = repo.item("queue")  # queue.ru and queue.kk: one item in two languages
    assert set(queue.text) == {"ru", "kk"} and queue.orientation is None
    assert queue.text["kk"].stem == "Күту залында ұзын кезек тұр.\n\nНе істейсіз?"
    assert queue.text["ru"].options[2] == "Объясню людям, сколько ждать."
    keyed = repo.item("true-false")
    assert (keyed.format, keyed.key, keyed.text["en"].options) == ("dichotomous", 1,
                                                                   ["True", "False"])
    with pytest.raises(QtiRejectedError, match="'queue' is already in the bank"):
        import_package(repo, zipped(FOREIGN), defaults=TRANSPARENCY)


def _edit(old: str, new: str) -> Edit:
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new)
    return edit


QUEUE_CHOICES = "/qti-assessment-item/qti-item-body/qti-choice-interaction"
BAD_ITEMS = {
    "unknown interaction": (
        {"items/true-false.xml": lambda t: t.replace("qti-choice-interaction",
                                                    "qti-text-entry-interaction")},
        "items/true-false.xml /qti-assessment-item/qti-item-body/qti-text-entry-interaction", 17,
        "qti-text-entry-interaction: an interaction qabilet does not read"),
    "choice without identifier": (
        {"items/queue.ru.xml": _edit('<qti-simple-choice identifier="B">', "<qti-simple-choice>")},
        f"items/queue.ru.xml {QUEUE_CHOICES}/qti-simple-choice[2]", 15,
        "missing attribute 'identifier'"),
    "mapping to an unknown choice": (
        {"items/complaint-shuffled.xml": _edit('map-key="ChoiceD"', 'map-key="ChoiceZ"')},
        "items/complaint-shuffled.xml /qti-assessment-item/qti-response-declaration/qti-mapping"
        "/qti-map-entry[4]", 14, "map-key 'ChoiceZ' is not a choice of the interaction "
                                 "(ChoiceA, ChoiceB, ChoiceC, ChoiceD)"),
    "malformed XML": (
        {"items/true-false.xml": _edit("deadline.</p>", "deadline.")},
        "items/true-false.xml", 21, "not well-formed XML: mismatched tag"),  # at </qti-item-body>
    "an encoding XML does not know": (
        {"items/true-false.xml": _edit('encoding="UTF-8"', 'encoding="UTF-9"')},
        "items/true-false.xml", 0, "not well-formed XML: unknown encoding: UTF-9"),
    "markup the bank cannot hold": (
        {"items/queue.kk.xml": _edit("<p>Не істейсіз?</p>", "<p>Не <strong>істейсіз</strong>?</p>")},
        "items/queue.kk.xml /qti-assessment-item/qti-item-body/div/p[2]/strong", 9,
        "strong: markup qabilet cannot hold"),
    "an entity declared in a DTD": (
        {"items/queue.kk.xml": lambda t: t.replace(
            "<qti-assessment-item", '<!DOCTYPE x [<!ENTITY e "eeee">]>\n<qti-assessment-item', 1)},
        "items/queue.kk.xml", 0, "a DTD or entity declaration"),
    "a QTI 2.1 item": (
        {"items/true-false.xml": lambda t: t.replace("imsqtiasi_v3p0", "imsqti_v2p1")},
        "items/true-false.xml /qti-assessment-item", 3, "a QTI 2.x item"),
    "a response declared for nothing": (
        {"items/queue.kk.xml": _edit('response-identifier="RESPONSE"', 'response-identifier="R2"')},
        f"items/queue.kk.xml {QUEUE_CHOICES}", 11, "response-identifier 'R2': no "
                                                   "qti-response-declaration declares it"),
    "languages that disagree on the key": (
        {"items/queue.ru.xml": _edit(
            'base-type="identifier"/>',
            'base-type="identifier"><qti-correct-response><qti-value>A</qti-value>'
            '</qti-correct-response></qti-response-declaration>')},
        "items/queue.ru.xml /qti-assessment-item/qti-response-declaration/qti-correct-response", 6,
        "its languages do not agree on the correct response (the correct choice's position: "
        "ru 0, kk None)"),
    "a manifest whose href leaves the package": (
        {"imsmanifest.xml": _edit('href="items/true-false.xml">', 'href="../true-false.xml">')},
        "imsmanifest.xml /manifest/resources/resource[4]", 23, "expected a relative path inside"),
    "a manifest naming a missing member": (
        {"imsmanifest.xml": _edit('href="items/queue.kk.xml">', 'href="items/queue.kz.xml">')},
        "imsmanifest.xml /manifest/resources/resource[3]", 20, "the package has no such member"),
}


@pytest.mark.parametrize("case", list(BAD_ITEMS))
def test_a_bad_item_is_refused_naming_element_line_and_reason(lite, case):
    repo = lite
    edits, where, line, reason = BAD_ITEMS[case]
    before = export_document(repo).content()
    with pytest.raises(QtiRejectedError) as caught:
        import_package(repo, zipped(FOREIGN, edits), path="bad.zip", defaults=TRANSPARENCY)
    found = [p for p in caught.value.problems if p[1] == where]
    assert found, caught.value.problems
    assert found[0][0] == line and reason in found[0][2]
    assert "bad.zip" in str(caught.value) and "nothing imported" in str(caught.value)
    assert export_document(repo).content() == before


BAD_ZIPS = {
    "a member outside the package": (dict(extra={"../evil.xml": b"<x/>"}), "../evil.xml",
                                     "leaves the package"),
    "an absolute member": (dict(extra={"/etc/passwd": b"x"}), "/etc/passwd", "leaves the package"),
    "no manifest": (dict(drop=("imsmanifest.xml",)), "imsmanifest.xml", "missing"),
}


@pytest.mark.parametrize("case", list(BAD_ZIPS))
def test_a_bad_zip_is_refused_and_changes_nothing(lite, case):
    repo = lite
    options, where, reason = BAD_ZIPS[case]
    before = export_document(repo).content()
    with pytest.raises(QtiRejectedError) as caught:
        import_package(repo, zipped(FOREIGN, **options), defaults=TRANSPARENCY)
    assert any(w == where and reason in r for _, w, r in caught.value.problems), \
        caught.value.problems
    with pytest.raises(QtiRejectedError, match="not a zip file"):
        import_package(repo, b"PK\x03\x04 no zip", defaults=TRANSPARENCY)
    assert export_document(repo).content() == before


def test_zip_bombs_are_refused_from_the_central_directory(monkeypatch):
    from qabilet.engine.exceptions import DataFileError

    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("imsmanifest.xml", b"<m/>")
        z.writestr("zeros.bin", b"\0" * 2_000_000)  # 2 MB that pack to about 2 kB
    monkeypatch.setattr(qti_package, "MAX_UNPACKED_BYTES", 1_000_000)
    with pytest.raises(DataFileError, match="unpack to 2000004 bytes; at most 1000000"):
        import_package(None, bomb.getvalue())  # type: ignore[arg-type]
    monkeypatch.setattr(qti_package, "MAX_MEMBERS", 1)
    with pytest.raises(DataFileError, match="2 members; at most 1"):
        import_package(None, bomb.getvalue())  # type: ignore[arg-type]
    monkeypatch.setattr(qti_package, "MAX_PACKAGE_BYTES", 100)
    with pytest.raises(DataFileError, match="qabilet reads packages of at most 100 bytes"):
        import_package(None, bomb.getvalue())  # type: ignore[arg-type]


# -- qabilet's packages changed by hand ------------------------------------------------------------
TAMPERED = {
    "a choice mapped to another code": (
        "items/TRN-S1.en.xml", _edit('map-key="C2" mapped-value="2"', 'map-key="C2" mapped-value="5"'),
        "the answer code qabilet's API takes for it is its position, 2"),
    "a changed instruction": (
        "items/TRN-S1.en.xml", _edit(INSTRUCTIONS["best"]["en"], "Pick one."),
        "expected the bank's instruction"),
    "shuffled choices": (
        "items/TRN-S1.kk.xml", _edit('shuffle="false"', 'shuffle="true"'),
        "keeps no shuffle setting"),
    "a key on a preference item": (
        "items/TRN-L1.en.xml", _edit(
            '<qti-mapping>', '<qti-correct-response><qti-value>C4</qti-value>'
                             '</qti-correct-response><qti-mapping>'),
        "a preference item has no correct response"),
    "records that differ between languages": (
        "imsmanifest.xml", lambda t: t.replace(
            '<qb:item id="TRN-L1" language="en"><fn:map><fn:map key="record"><fn:string key="id">'
            'TRN-L1</fn:string><fn:string key="competency">transparency',
            '<qb:item id="TRN-L1" language="en"><fn:map><fn:map key="record"><fn:string key="id">'
            'TRN-L1</fn:string><fn:string key="competency">accountability', 1),
        "its record differs from the one on resource 'TRN-L1.ru'"),
    "a parameter that is no number": (
        "imsmanifest.xml", lambda t: t.replace('<fn:number key="n_persons">1000</fn:number>',
                                               '<fn:number key="n_persons">many</fn:number>'),
        "expected a JSON number; got 'many'"),
    "a record the bank refuses": (
        "imsmanifest.xml", lambda t: t.replace('<fn:string key="format">sjt</fn:string>',
                                               '<fn:string key="format">essay</fn:string>'),
        "item 'TRN-S1'.format: Input should be"),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_a_changed_qabilet_package_is_refused(small_package, empty, case):
    member, edit, reason = TAMPERED[case]
    with pytest.raises(QtiRejectedError) as caught:
        import_package(empty, rezipped(small_package, {member: edit}), path="changed.zip")
    assert any(reason in r for _, _, r in caught.value.problems), caught.value.problems
    assert empty.is_empty()


@pytest.fixture(scope="module")
def small_package(bank_files) -> bytes:
    """The small test bank's version 1 as a package."""
    engine = connect(f"sqlite:///{bank_files[0]}")
    try:
        return export_package(BankRepository(engine), 1).data
    finally:
        engine.dispose()


def test_what_the_bank_refuses_leaves_it_as_it_was(lite, small_package):
    """Through the bank document's path: a calibrated scale's labels reordered are refused whole."""
    package = small_package
    names = [n for n in zipfile.ZipFile(io.BytesIO(package)).namelist()
             if n.startswith("items/") and "-L" in n and n.endswith(".en.xml")]
    swap = {n: _swap('identifier="C1">Disagree<', 'identifier="C1">Agree<',
                     'identifier="C3">Agree<', 'identifier="C3">Disagree<') for n in names}
    swap["imsmanifest.xml"] = lambda t: re.sub(
        r"<fn:string>Disagree</fn:string>(\s*<fn:string>Neither</fn:string>\s*)<fn:string>Agree<",
        r"<fn:string>Agree</fn:string>\1<fn:string>Disagree<", t, count=1)
    before = export_document(lite).content()
    with pytest.raises(ImportRejectedError) as caught:
        import_package(lite, rezipped(package, swap), path="swapped.zip")
    assert len(names) == 12 and not isinstance(caught.value, QtiRejectedError)
    assert "scales[0] ('agreement5').labels.en" in str(caught.value)
    assert "moved (3 → 1, 1 → 3)" in str(caught.value)
    assert export_document(lite).content() == before


def _swap(a: str, a2: str, b: str, b2: str) -> Edit:
    def edit(text: str) -> str:
        assert a in text and b in text, (a, b)
        return text.replace(a, "\0").replace(b, b2).replace("\0", a2)
    return edit


def _set(path: str, value: object) -> Callable[[dict], dict]:
    """A change of a JSON record: the value at ``path`` (keys joined by dots) set to ``value``."""
    def change(record: dict) -> dict:
        record = copy.deepcopy(record)
        *parents, last = path.split(".")
        node = record
        for key in parents:
            node = node[key]
        node[last] = value
        return record
    return change


#: qabilet's metadata of the wrong JSON types: (whose: "bank" or an item id, change, reason)
CONFUSED = {
    "a version that is a list": ("bank", _set("version", []), "expected the version's record"),
    "provenance as text": ("bank", _set("version.provenance", "x"), "version.provenance"),
    "parameters as a list": ("bank", _set("version.parameters", [1]), "version.parameters"),
    "dimensions as a number": ("bank", _set("dimensions", 3), "dimensions: expected a list"),
    "pretest as text": ("bank", _set("version.pretest", "TRN-L1"), "version.pretest"),
    "forced-choice parameters as text": ("bank", _set("version.forced_choice", "x"),
                                         "version.forced_choice"),
    "a record that is a list": ("TRN-S1", _set("record", []), "expected a map with the item's"),
    "an instruction as a list": ("TRN-S1", _set("record.instruction", ["best"]), "instruction"),
    "a slope as text": ("TRN-L1", _set("parameters.a", "steep"), "parameters.a"),
}


@pytest.mark.parametrize("case", list(CONFUSED))
def test_metadata_of_the_wrong_types_is_refused_by_name(lite, empty, monkeypatch, case):
    whose, change, reason = CONFUSED[case]
    if whose == "bank":
        original_bank = qti_write.bank_metadata
        monkeypatch.setattr(qti_write, "bank_metadata", lambda *a: change(original_bank(*a)))
    else:
        original_item = qti_write.item_metadata
        monkeypatch.setattr(qti_write, "item_metadata", lambda item, *a: (
            change(original_item(item, *a)) if item.id == whose else original_item(item, *a)))
    package = export_package(lite, 1).data
    with pytest.raises(QtiRejectedError) as caught:
        import_package(empty, package, path="confused.zip")
    assert any(reason in r for _, _, r in caught.value.problems), caught.value.problems
    assert empty.is_empty()


def test_mutated_items_are_read_or_refused_with_a_reason():
    """Seeded mutations of the hand-written items (cuts, stray markup, odd values): each is read
    or refused with at least one named problem — never an exception."""
    rng = random.Random(22)
    texts = [p.read_text(encoding="utf-8") for p in sorted((FOREIGN / "items").glob("*.xml"))]
    tokens = ["<", ">", "/>", "</p>", "<p>", "<br/>", "&amp;", "&#0;", '"', "qti-order-interaction",
              'max-choices="²"', 'mapped-value="nan"', 'encoding="x"', "<qti-value/>", "\x00",
              "<qti-map-entry/>", 'cardinality="ordered"', 'template="x"', "<b>", "xml:lang"]
    refused = 0
    for _ in range(300):
        text = rng.choice(texts)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(text))
            cut = text[i:i + rng.randint(0, 30)]
            text = text.replace(cut, rng.choice(tokens) if rng.random() < 0.6 else "", 1)
        problems = Problems()
        read = read_item(text.encode("utf-8", "surrogatepass"), "m.xml", problems,
                         exact=rng.random() < 0.5)
        assert (read is None) == bool(problems.found)
        refused += read is None
    assert 150 < refused < 300  # most mutations break an item; some leave it readable


def test_a_most_and_least_block_reads_back_with_its_own_instruction():
    block = Item(id="FC-X1", levels=["high"], format="forced_choice", answer_mode="most_least",
                 text={"kk": {"stem": "Жұмыста…"}, "en": {"stem": "At work…"}},
                 statements=[{"id": f"S{k}", "dimension": d, "direction": (-1) ** k,
                              "text": {"kk": f"Тұжырым {k}", "en": f"Statement {k}"}}
                             for k, d in enumerate(("transparency", "accountability",
                                                    "integrity", "initiative"))])
    for lang in ("kk", "en"):
        problems = Problems()
        read = read_item(item_document(block, lang).document(), "b.xml", problems, exact=True)
        assert problems.found == [] and read is not None
        assert (read.kind, read.identifier, read.language) == ("order", f"FC-X1.{lang}", lang)
        assert read.prompt == BLOCK_INSTRUCTIONS["most_least"][lang]
        assert read.choices == [(f"S{k}", st.text[lang]) for k, st in enumerate(block.statements)]
        assert read.mapping is None and read.scored is None and read.correct is None
    digit = Item.model_validate({**block.model_dump(), "id": "1FC"})
    with pytest.raises(ConflictError, match="'1FC': its id is no QTI identifier"):
        item_document(digit, "en")
