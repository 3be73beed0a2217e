"""What a session shows of an item (:class:`qabilet.delivery.item_texts.ItemTexts`): a
situational-judgement item's instruction, in the language asked for, as its bank version shows it."""

from __future__ import annotations

from qabilet.delivery.item_texts import ItemTexts
from qabilet.itembank.content import Item
from qabilet.itembank.database import connect
from qabilet.itembank.repository import BankRepository
from tests.itembank import _bank


def test_the_shown_item_carries_its_instruction_in_the_language_asked_for(tmp_path):
    repo = BankRepository(connect(f"sqlite:///{tmp_path / 'bank.db'}"))
    _bank.fill(repo)  # version 1 published: every situational item asks for the best option
    asked = repo.item("ACC-S2").model_dump(exclude_none=True)
    draft = repo.add_items([Item.model_validate({**asked, "instruction": "would_do"})], replace=True)
    assert draft is not None and draft.number == 2
    texts = ItemTexts(repo, ttl_s=0.0)

    best = texts.shown("ACC-S2", "ru", version=1)
    assert best["format"] == "sjt" and best["language"] == "kk" and best["fell_back"]
    assert best["instruction"] == ("Правильных и неправильных ответов нет: выберите вариант, "
                                   "который вы сами считаете наилучшим.")
    assert texts.shown("ACC-S2", "kk", version=2)["instruction"] == "Бұл жағдайда сіз не істер едіңіз?"
    assert texts.shown("ACC-S2", "en", version=2)["instruction"] == "What would you do in this situation?"
    assert texts.shown("ACC-S2", "en")["instruction"] == "What would you do in this situation?"
    assert texts.shown("ACC-S1", "en", version=2)["instruction"].startswith("There is no right")
    likert = texts.shown("ACC-L1", "en", version=1)
    assert likert["format"] == "likert" and likert["instruction"] is None
