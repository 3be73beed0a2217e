"""Review of items: the moves between statuses, and who made each one and why.

An item's working status moves only along :data:`MOVES`::

    draft ──▶ in_review ──▶ pretest ──(a published version calibrates it)──▶ operational
      ▲           │            │                                                  │
      └───────────┘            └──────────────────▶ retired ◀─────────────────────┘

``in_review → draft`` sends an item back to its author with the reviewers' notes; ``in_review →
pretest`` approves it for trying out, unscored, in live sessions; an item becomes
``operational`` only when a bank version that calibrates it is published
(:meth:`qabilet.itembank.repository.BankRepository.publish_version`), never by hand; any item
may be ``retired`` (nothing is deleted; a retired item that a published version scores or seeds
leaves it in a new version, :meth:`~qabilet.itembank.repository.BankRepository.retire_items`).

Every move is kept as an :class:`ItemReview`: who, when, from and to, the reason, and the
reviewers' notes — per language where they concern one (the wording of the Kazakh text, the
equivalence of the Russian translation, sensitivity).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from qabilet.itembank._schema import Schema
from qabilet.itembank.content import Language, Status

__all__ = ["ASPECTS", "MOVES", "ItemFlag", "ItemReview", "ReviewNote", "move_problem"]

#: what a reviewer's note is about
Aspect = Literal["wording", "translation", "sensitivity", "content", "format", "other"]
ASPECTS: tuple[Aspect, ...] = ("wording", "translation", "sensitivity", "content", "format",
                               "other")
#: status → the statuses a review may move it to (``operational`` comes by publishing a version)
MOVES: dict[Status, tuple[Status, ...]] = {
    "draft": ("in_review", "retired"),
    "in_review": ("draft", "pretest", "retired"),
    "pretest": ("retired",),
    "operational": ("retired",),
    "retired": (),
}

_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class ReviewNote(Schema):
    """One reviewer's remark.

    Attributes
    ----------
    aspect : str
        ``wording``, ``translation`` (equivalence of the language versions), ``sensitivity``,
        ``content``, ``format`` or ``other``.
    language : str, optional
        The language version it concerns (``kk``, ``ru``, ``en``); absent: the item as a whole.
    text : str
    """

    aspect: Aspect
    language: Language | None = None
    text: _Text


class ItemReview(Schema):
    """One move of an item's status.

    Attributes
    ----------
    item_id : str
    from_status, to_status : str
    by : str
        Who moved it (a person's name, or the API key's label and id).
    at : datetime
        UTC.
    reason : str
        Why, in a sentence.
    notes : list of ReviewNote
    version : int, optional
        The bank version the move made or came with (publishing, retiring).
    """

    item_id: str
    from_status: Status
    to_status: Status
    by: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    at: datetime
    reason: _Text
    notes: list[ReviewNote] = Field(default_factory=list, max_length=50)
    version: int | None = None

    @model_validator(mode="after")
    def _a_move(self) -> ItemReview:
        if self.from_status == self.to_status:
            raise ValueError(f"to_status: the item is {self.from_status} already")
        return self


def move_problem(item_id: str, old: Status, new: Status) -> str | None:
    """Why ``old → new`` is not a review's move, or None when it is.

    Examples
    --------
    >>> print(move_problem("A1", "draft", "pretest"))  # doctest: +NORMALIZE_WHITESPACE
    item 'A1' is draft: it can move to in_review or retired, not to pretest (approval for
    trying out comes from in_review)
    >>> move_problem("A1", "in_review", "pretest") is None
    True
    """
    allowed = MOVES[old]
    if new in allowed:
        return None
    why = {"operational": "an item becomes operational when a bank version that calibrates it is "
                          "published",
           "pretest": "approval for trying out comes from in_review",
           "in_review": "only a draft is sent for review",
           "draft": "only an item in review is sent back to its author"}.get(new, "")
    can = " or ".join(allowed) if allowed else "nothing (retired is final)"
    return (f"item {item_id!r} is {old}: it can move to {can}, not to {new}"
            + (f" ({why})" if why else ""))


class ItemFlag(Schema):
    """A calibration's warning about an item, kept with the item and the version it made.

    Attributes
    ----------
    item_id : str
    bank_version : int
        The (draft) version the calibration wrote.
    kind : str
        ``misfit:<language>`` (RMSD above its threshold in that language group), ``dif`` (ETS
        class C between the Kazakh and the Russian versions, found by a pretest calibration or
        a recalibration job; its ``method``, when given, says which test), ``drift`` (an anchor
        whose response function moved).
    detail : dict
        The statistic behind it (``rmsd``, ``ets_class``, ``p_adjusted``, ``smd``, …).
    by : str
    at : datetime
    """

    item_id: str
    bank_version: int
    kind: Annotated[str, StringConstraints(pattern=r"^(misfit:[a-z]{2}|misfit|dif|drift)$")]
    detail: dict[str, object] = Field(default_factory=dict)
    by: str
    at: datetime
