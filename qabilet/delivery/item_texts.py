"""What a candidate sees of an item: its text and choices in a language — nothing else.

A session shows the texts of the bank version it pinned (a published version's never change;
a draft's are the bank's current ones). A session shows each item once, so the shown form is kept
for a minute per (item, language, version) and read again after.
"""

from __future__ import annotations

import time
from threading import Lock
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qabilet.itembank.repository import BankRepository

__all__ = ["ItemTexts"]


class ItemTexts:
    """The shown form of items, from one repository.

    Parameters
    ----------
    repo : BankRepository
    ttl_s : float
        How long a read text is served before it is read again.
    """

    def __init__(self, repo: BankRepository, ttl_s: float = 60.0) -> None:
        self._repo, self._ttl = repo, ttl_s
        self._kept: dict[tuple[str, str, int | None], tuple[float, dict[str, Any]]] = {}
        self._lock = Lock()

    def shown(self, item_id: str, language: str, version: int | None = None) -> dict[str, Any]:
        """The item as bank version ``version`` shows it in ``language`` (default: current texts).

        Returns ``format``, ``stem``, ``choices`` (options, or the Likert scale's labels),
        ``instruction`` (a situational-judgement item's or a forced-choice block's, in
        ``language``; None for other formats), ``language`` (the one shown: ``language``, or a
        fallback) and ``fell_back``; a block gives ``statements`` (``id`` and ``text``, in the
        order shown) and ``answer_mode`` (``rank`` or ``most_least``) instead of choices.
        """
        key = (item_id, language, version)
        kept = self._kept.get(key)
        if kept is not None and time.monotonic() - kept[0] < self._ttl:
            return kept[1]
        item = self._repo.item(item_id, version=version)
        text = item.text_in(language)
        choices = text.options
        if item.format == "likert" and item.scale is not None:  # a Likert item always has its scale
            labels = self._repo.scales(version=version)[item.scale].labels
            choices = (labels.get(text.language) or labels.get(text.requested)
                       or next(iter(labels.values())))
        value: dict[str, Any] = {"format": item.format, "stem": text.stem,
                                 "instruction": text.instruction,
                 "language": text.language, "fell_back": text.fell_back}
        if text.statements is not None:  # a forced-choice block: its statements, no choices
            value |= {"choices": None, "answer_mode": text.answer_mode,
                      "statements": [{"id": i, "text": t} for i, t in text.statements]}
        else:
            value["choices"] = list(choices or [])
        with self._lock:
            self._kept[key] = (time.monotonic(), value)
        return value
