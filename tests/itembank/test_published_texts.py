"""Published texts are as immutable as published parameters (issue 15, defect 8).

A published bank version shows the stems, options, statements, dimension names and scale labels it
was published with. A write of new texts — an import, ``add_items``, ``put_dimensions``,
``put_scales`` — changes the bank's current texts and puts them into a draft version with the
published version's parameters and a record of who, when, from where and what; it never changes
what the published version shows. Answer categories (option order and count, format, scale, key)
of a calibrated item change only together with new parameters. Each test runs on SQLite and on
PostgreSQL.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config

import qabilet.itembank
from qabilet.engine.exceptions import ConflictError, ImportRejectedError
from qabilet.itembank.bank_file import export_document, import_document
from qabilet.itembank.content import Dimension, Item, ResponseScale
from qabilet.itembank.database import connect
from qabilet.itembank.repository import BankRepository
from tests.itembank import _bank


def _document(repo: BankRepository) -> dict:
    return json.loads(export_document(repo).to_json())


def _item(doc: dict, item_id: str) -> dict:
    return next(i for i in doc["items"] if i["id"] == item_id)


def _edited(repo: BankRepository, item_id: str, **text) -> Item:
    """The stored item with some of its ``text`` replaced (language → ItemText JSON)."""
    data = repo.item(item_id).model_dump(mode="json", exclude_none=True)
    return Item.model_validate({**data, "text": {**data["text"], **text}})


@pytest.fixture
def published(repo):
    _bank.fill(repo)  # version 1, published
    return repo


def test_an_import_with_a_new_stem_leaves_the_published_version_and_makes_a_draft(published):
    before = published.version(1)
    doc = _document(published)
    _item(doc, "TRN-S1")["text"]["en"]["stem"] = "Scenario TRN-S1, typo fixed?"
    done = import_document(published, json.dumps(doc), path="fix.json", by="aigerim")

    assert published.version(1) == before  # parameters, provenance and texts
    assert published.item("TRN-S1", version=1).text["en"].stem == "Scenario TRN-S1?"
    draft = done.draft
    assert draft is not None and draft.number == 2 and draft.status == "draft"
    assert draft.parameters == before.parameters and draft.provenance.based_on == 1
    revision = draft.provenance.revisions[-1]
    assert (revision.by, revision.source, revision.previous_version) == ("aigerim", "fix.json", 1)
    assert revision.changes == ["item 'TRN-S1' text.en.stem: 'Scenario TRN-S1?' → "
                                "'Scenario TRN-S1, typo fixed?'"]
    assert published.item("TRN-S1", version=2).text["en"].stem == "Scenario TRN-S1, typo fixed?"
    assert published.item("TRN-S1").text["en"].stem == "Scenario TRN-S1, typo fixed?"
    # what a session pinned to version 1 reads: the items, their texts, the names
    pinned = {i.id: i for i in published.items(version=1)}
    assert set(pinned) == set(before.item_ids)
    assert pinned["TRN-S1"].text["en"].stem == "Scenario TRN-S1?"
    # published, the draft shows the new texts from then on; version 1 still the old ones
    published.publish_version(2)
    assert published.item("TRN-S1", version=2).text["en"].stem == "Scenario TRN-S1, typo fixed?"
    assert published.item("TRN-S1", version=1).text["en"].stem == "Scenario TRN-S1?"


def test_reversed_options_of_a_calibrated_item_are_refused_naming_item_and_field(published):
    before = export_document(published).content()
    doc = _document(published)
    doc["dimensions"][0]["name"]["en"] = "Renamed in the refused import"
    _item(doc, "ACC-L1")["text"]["en"]["stem"] = "Also refused with the rest."
    options = _item(doc, "TRN-S1")["text"]["en"]["options"]
    options.reverse()
    row = [i["id"] for i in doc["items"]].index("TRN-S1") + 1
    with pytest.raises(ImportRejectedError) as info:
        import_document(published, json.dumps(doc), path="reversed.json")
    (problem,) = info.value.problems
    assert problem[:2] == (row, f"items[{row - 1}] ('TRN-S1').text.en.options")
    assert "moved (2 → 0, 0 → 2)" in problem[2] and "new parameters for 'TRN-S1'" in problem[2]
    assert str(info.value).startswith("reversed.json: 1 bad row, nothing imported")
    assert export_document(published).content() == before  # nothing half-imported
    assert [v.number for v in published.versions()] == [1]


@pytest.mark.parametrize("change", ["count", "format", "key"])
def test_other_changes_of_the_answer_categories_are_refused_too(published, change):
    data = published.item("TRN-S1").model_dump(mode="json", exclude_none=True)
    if change == "count":
        for t in data["text"].values():
            t["options"].append("D")
        field = "text.en.options"
    elif change == "format":
        data.update(format="likert", scale="agreement5", direction=1, orientation=None)
        for t in data["text"].values():
            t.pop("options")
        field = "format"
    else:  # a dichotomous item's key
        published.add_items([Item(id="KEY-1", competency="transparency", levels=["low"],
                                  format="dichotomous", key=0, status="pretest",
                                  text={"en": {"stem": "Q?", "options": ["yes", "no"]}})])
        params = published.version(1).parameters.model_dump(mode="json", exclude_none=True)
        params["items"].append({"id": "KEY-1", "model": "2pl", "a": [1.0, 0.0], "d": 0.0})
        published.create_version(params, _bank.provenance())
        data = {**published.item("KEY-1").model_dump(mode="json", exclude_none=True), "key": 1}
        field = "key"
    before = export_document(published).content()
    with pytest.raises(ConflictError, match=rf"items\[0\] \('{data['id']}'\)\.{field}: "):
        published.add_items([Item.model_validate(data)], replace=True)
    assert export_document(published).content() == before


def test_reordered_options_come_in_with_the_items_new_parameters(published):
    doc = _document(published)
    _item(doc, "TRN-S1")["text"]["en"]["options"].reverse()
    _item(doc, "TRN-S1")["text"]["kk"]["options"].reverse()
    recalibrated = copy.deepcopy(doc["versions"][0])
    recalibrated.update(number=2, status="draft", label="options reversed", published_at=None)
    recalibrated.pop("content")
    record = next(r for r in recalibrated["parameters"]["items"] if r["id"] == "TRN-S1")
    record["ak"] = [0.0, 0.9, 2.0]
    doc["versions"].append(recalibrated)
    done = import_document(published, json.dumps(doc))
    assert done.draft is None  # the document's own version carries the texts
    assert published.item("TRN-S1", version=2).text["en"].options == ["C", "B", "A"]
    assert published.item("TRN-S1", version=1).text["en"].options == ["A", "B", "C"]
    import_document(published, json.dumps(doc))  # the same document again changes nothing
    assert [v.number for v in published.versions()] == [1, 2]


def test_a_typo_fixed_through_the_repository_goes_into_one_draft_until_published(published):
    first = published.add_items([_edited(published, "ACC-L2", en={"stem": "Statment fixed."})],
                                replace=True, by="ana", source="editor")
    assert first is not None and first.number == 2
    second = published.add_items([_edited(published, "ACC-L2", en={"stem": "Statement fixed."})],
                                 replace=True, by="ana")
    assert second is not None and second.number == 2  # the draft shows the bank's texts
    assert [r.changes for r in published.version(2).provenance.revisions] == [
        ["item 'ACC-L2' text.en.stem: 'Statement ACC-L2.' → 'Statment fixed.'"],
        ["item 'ACC-L2' text.en.stem: 'Statment fixed.' → 'Statement fixed.'"]]
    assert published.version(2).provenance.revisions[1].previous_version is None
    assert published.item("ACC-L2", version=1).text["en"].stem == "Statement ACC-L2."
    published.publish_version(2)
    third = published.add_items([_edited(published, "ACC-L2", ru={"stem": "Утверждение."})],
                                replace=True)
    assert third is not None and third.number == 3 and third.provenance.based_on == 2
    assert published.item("ACC-L2", version=2).text["ru"].stem == "Утверждение ACC-L2."
    assert published.item("ACC-L2", version=2).text["en"].stem == "Statement fixed."
    # writing texts equal to what is stored makes nothing
    assert published.add_items([published.item("ACC-L2")], replace=True) is None
    assert [v.number for v in published.versions()] == [1, 2, 3]


def test_dimension_names_and_scale_labels_are_the_published_versions(published):
    draft = published.put_dimensions(
        [Dimension(id="transparency", kind="competency", name={"en": "Openness", "kk": "Ашықтық"})],
        by="ana")
    assert draft is not None and draft.number == 2
    assert published.dimensions(version=1)["transparency"].name == {"en": "Transparency"}
    assert published.dimensions(version=2)["transparency"].name["kk"] == "Ашықтық"
    assert published.dimensions()["transparency"].name["en"] == "Openness"
    assert any("dimension 'transparency' name.en: 'Transparency' → 'Openness'" in c
               for c in draft.provenance.revisions[-1].changes)
    labels = {**_bank.SCALE.labels, "en": ["Strongly disagree", "Disagree", "Unsure", "Agree",
                                           "Strongly agree"]}
    assert published.put_scales([ResponseScale(id="agreement5", labels=labels)]).number == 2
    assert published.scales(version=1)["agreement5"].labels["en"][2] == "Neither"
    assert published.scales(version=2)["agreement5"].labels["en"][2] == "Unsure"
    fewer = {lang: v[:4] for lang, v in labels.items()}
    with pytest.raises(ConflictError, match=r"scales\[0\] \('agreement5'\)\.labels\.en: 5 entries "
                                            r"before, 4 now"):
        published.put_scales([ResponseScale(id="agreement5", labels=fewer)])
    assert published.scales()["agreement5"].labels["en"][2] == "Unsure"


def test_a_document_cannot_rewrite_what_a_published_version_shows(published):
    doc = _document(published)
    doc["versions"][0]["content"]["items"]["TRN-S1"]["text"]["en"]["stem"] = "Rewritten history"
    with pytest.raises(ImportRejectedError, match="bank version 1 is stored already with other"):
        import_document(published, json.dumps(doc))
    assert published.item("TRN-S1", version=1).text["en"].stem == "Scenario TRN-S1?"


def test_a_bank_with_a_text_draft_moves_to_another_database_unchanged(published, tmp_path):
    doc = _document(published)
    _item(doc, "TRN-L3")["text"]["ru"]["stem"] = "Новый текст."
    import_document(published, json.dumps(doc))
    copy_ = BankRepository(connect(f"sqlite:///{tmp_path / 'copy.db'}"))
    import_document(copy_, export_document(published).to_json())
    assert export_document(copy_).content() == export_document(published).content()
    assert copy_.item("TRN-L3", version=1).text["ru"].stem == "Утверждение TRN-L3."
    assert copy_.item("TRN-L3", version=2).text["ru"].stem == "Новый текст."


def test_the_migration_gives_published_versions_the_texts_they_showed(db_url):
    engine = connect(db_url)
    repo = BankRepository(engine)
    _bank.fill(repo)
    repo.create_version(_bank.parameters(shift=0.2), _bank.provenance())  # a draft
    shown = repo.version(1).content
    config = Config()
    config.set_main_option("script_location",
                           str(Path(qabilet.itembank.__file__).with_name("migrations")))
    with engine.begin() as c:  # back to before versions held texts, and up again
        config.attributes["connection"] = c
        command.downgrade(config, "0004")
        command.upgrade(config, "head")
    assert repo.version(1).content == shown
    assert repo.add_items([_edited(repo, "TRN-S2", en={"stem": "Changed.", "options": [
        "A", "B", "C"]})], replace=True).number == 2  # the newest version showing it: the draft
    assert repo.item("TRN-S2", version=1).text["en"].stem == "Scenario TRN-S2?"
    engine.dispose()
