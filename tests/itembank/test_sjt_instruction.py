"""A situational-judgement item's instruction (issue 18): ``best`` (the seeds' wording, the
default) or ``would_do``; refused on other formats; kept by the repository, the bank document and
what a published version shows; rendered in the language asked for."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from qabilet.itembank.bank_file import export_document, import_document
from qabilet.itembank.content import INSTRUCTIONS, Item
from qabilet.itembank.database import connect
from qabilet.itembank.repository import BankRepository
from tests.itembank import _bank

#: the wording of the issue, written out here so that a change of it is seen
BEST = {"kk": "Дұрыс немесе бұрыс жауап жоқ: өзіңіз жөн деп тапқан нұсқаны таңдаңыз.",
        "ru": "Правильных и неправильных ответов нет: выберите вариант, который вы сами считаете "
              "наилучшим.",
        "en": "There is no right or wrong answer: choose the option you yourself find best."}
WOULD_DO = {"kk": "Бұл жағдайда сіз не істер едіңіз?", "ru": "Как бы вы поступили в этой ситуации?",
            "en": "What would you do in this situation?"}


def _sjt(**fields) -> Item:
    return Item.model_validate({**_bank.sjt("TRN-S9", "transparency").model_dump(exclude_none=True),
                                **fields})


def test_a_situational_item_asks_for_the_best_option_unless_it_says_otherwise():
    plain, would = _sjt(), _sjt(instruction="would_do")
    assert plain.instruction is None and plain.shown_instruction == "best"
    assert would.shown_instruction == "would_do"
    assert INSTRUCTIONS == {"best": BEST, "would_do": WOULD_DO}
    for lang in ("kk", "ru", "en"):
        assert plain.text_in(lang).instruction == BEST[lang]
        assert would.text_in(lang).instruction == WOULD_DO[lang]
    # the item has no Russian text: the stem falls back, the instruction is the bank's own wording
    shown = would.text_in("ru")
    assert shown.fell_back and shown.language == "kk" and shown.instruction == WOULD_DO["ru"]
    assert _bank.likert("TRN-L9", "transparency").text_in("en").instruction is None


def test_a_bad_instruction_is_refused_naming_the_field():
    with pytest.raises(ValidationError) as caught:
        _sjt(instruction="should_do")
    (error,) = caught.value.errors()
    assert error["loc"] == ("instruction",)
    assert "'best'" in error["msg"] and "'would_do'" in error["msg"]


@pytest.mark.parametrize("item", [
    _bank.likert("TRN-L9", "transparency"),
    Item(id="K1", competency="transparency", levels=["low"], format="dichotomous", key=0,
         text={"en": {"stem": "?", "options": ["a", "b"]}}),
    Item(id="FC1", levels=["low"], format="forced_choice", text={"en": {"stem": "Which is you?"}},
         statements=[{"dimension": "integrity", "text": {"en": "I keep my word."}},
                     {"dimension": "initiative", "text": {"en": "I start things."}}]),
])
def test_only_a_situational_item_has_an_instruction(item):
    with pytest.raises(ValidationError, match=f"instruction: a {item.format} item has no instruction"):
        Item.model_validate({**item.model_dump(exclude_none=True), "instruction": "best"})
    assert item.shown_instruction is None


def test_the_instruction_round_trips_through_the_repository_and_the_bank_document(repo, tmp_path):
    _bank.fill(repo)
    repo.add_items([_sjt(id="TRN-S8", instruction="would_do"), _sjt(id="TRN-S9", instruction="best")])
    assert repo.item("TRN-S8").instruction == "would_do"
    assert repo.item("TRN-S9").instruction == "best"
    assert repo.item("TRN-S1").instruction is None  # left out: read as "best"

    doc = json.loads(export_document(repo).to_json())
    written = {i["id"]: i for i in doc["items"]}
    assert written["TRN-S8"]["instruction"] == "would_do" and "instruction" not in written["TRN-S1"]
    other = BankRepository(connect(f"sqlite:///{tmp_path / 'copy.db'}"))
    import_document(other, json.dumps(doc))
    assert {i.id: i.instruction for i in other.items(format="sjt")} == {
        i.id: i.instruction for i in repo.items(format="sjt")}
    assert other.item("TRN-S8") == repo.item("TRN-S8")


def test_a_published_version_keeps_showing_its_instruction(repo):
    _bank.fill(repo)  # version 1, published, with TRN-S1 asking for the best option
    asked = repo.item("TRN-S1").model_dump(exclude_none=True)
    draft = repo.add_items([Item.model_validate({**asked, "instruction": "would_do"})], replace=True,
                           by="aigerim")
    assert draft is not None and draft.number == 2 and draft.provenance.based_on == 1
    assert draft.provenance.revisions[-1].changes == [
        "item 'TRN-S1' instruction: None → 'would_do'"]
    assert repo.item("TRN-S1", version=1).shown_instruction == "best"
    assert repo.item("TRN-S1", version=2).shown_instruction == "would_do"
    repo.publish_version(2)
    assert repo.item("TRN-S1", version=1).text_in("ru").instruction == BEST["ru"]
    assert repo.item("TRN-S1", version=2).text_in("ru").instruction == WOULD_DO["ru"]


def test_the_reading_time_counts_the_instruction_too():
    """The fast-answer rule scales with what the candidate reads: stem, options and instruction."""
    item = _sjt()
    for lang in ("kk", "en"):
        shown = item.text_in(lang)
        read = shown.stem + "".join(shown.options or []) + BEST[lang]
        assert shown.characters == len(read)
    likert = _bank.likert("TRN-L9", "transparency").text_in("ru")
    assert likert.characters == len(likert.stem)
