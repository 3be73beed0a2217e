"""A published bank version's scales, prepared once for the profiles scored on it.

A profile scores each dimension on the version's items of that dimension that the candidate
answered (:func:`qabilet.itembank.versions.scale_bank`). Cutting that bank out of the version's
multidimensional one rebuilds every item's model; a server issuing a profile per session would
redo it for every profile. :class:`VersionScales` cuts each dimension's whole scale once (a
published version never changes) and gives a profile's scale as a subset of it: the same items,
in the same order, with the same parameters and latent marginal as the direct cut. Where the
version has language versions (:func:`qabilet.itembank.versions.language_versions`), each
answered item is taken as the language of its answer gives it, from that language's cut.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.itembank.versions import language_versions, scale_bank

if TYPE_CHECKING:
    from qabilet.itembank.versions import BankVersion

__all__ = ["VersionScales"]


class VersionScales:
    """What the profiles of one bank version are scored on, read and cut once.

    Parameters
    ----------
    version : BankVersion
        A published version (its parameters never change).
    bank : engine.bank.ItemBank, optional
        ``version.parameters.to_bank()``, when the caller holds it already.
    language_banks : dict of engine.bank.ItemBank, optional
        ``language_versions(version.parameters)``, likewise.

    Attributes
    ----------
    version : BankVersion
    bank : engine.bank.ItemBank
        The version's whole engine bank.
    forms : dict
        Language → the whole engine bank of that language version (usually empty).
    dimensions : tuple of str
        The version's factor names.
    codes : dict
        Item → the answer codes of its model categories (the version's recodings).
    item_ids : frozenset of str
        The calibrated items.
    """

    def __init__(self, version: BankVersion, bank: ItemBank | None = None,
                 language_banks: Mapping[str, ItemBank] | None = None) -> None:
        self.version = version
        self.bank = bank if bank is not None else version.parameters.to_bank()
        self.forms = dict(language_banks if language_banks is not None
                          else language_versions(version.parameters))
        self.dimensions = version.dimensions
        self.codes = version.parameters.recodings()
        self.item_ids = frozenset(version.item_ids)
        self._cuts: dict[tuple[str | None, str], ItemBank] = {}
        self._lock = threading.Lock()

    def scale(self, dimension: str, item_ids: Sequence[str],
              languages: Sequence[str] | None = None) -> ItemBank:
        """The bank of ``item_ids`` on ``dimension`` alone: ``scale_bank(bank, [dimension], item_ids)``.

        With ``languages`` (one per item: the language it was answered in), each item has the
        parameters of that language version, or the version's own where the language has none;
        the latent marginal is the version's in every case (one prior for everyone).

        Raises
        ------
        InvalidParameterError
            As :func:`~qabilet.itembank.versions.scale_bank` does: an unknown dimension, or an item
            that loads on another dimension.
        """
        given: Sequence[str | None] = languages if languages is not None else [None] * len(item_ids)
        forms = [lang if lang in self.forms else None for lang in given]
        if all(f == forms[0] for f in forms):
            return self._subset(forms[0] if forms else None, dimension, item_ids)
        one = [self._subset(f, dimension, [i]) for f, i in zip(forms, item_ids, strict=True)]
        return ItemBank.from_records([b.to_records()[0] for b in one], latent=one[0].latent)

    def _subset(self, language: str | None, dimension: str, item_ids: Sequence[str]) -> ItemBank:
        """``item_ids`` from the cut of ``dimension`` in ``language`` (None: the version's own)."""
        cut = self._cut(language, dimension)
        try:
            index = cut.index_of(item_ids)
        except InvalidParameterError:  # not on this scale alone: the direct cut says why
            source = self.bank if language is None else self.forms[language]
            return scale_bank(source, [dimension], item_ids)
        return cut.subset(index)

    def _cut(self, language: str | None, dimension: str) -> ItemBank:
        """Every item loading on ``dimension`` only, on it alone (cut once per language)."""
        key = (language, dimension)
        cut = self._cuts.get(key)
        if cut is None:
            with self._lock:
                cut = self._cuts.get(key)
                if cut is None:
                    source = self.bank if language is None else self.forms[language]
                    cut = self._cuts[key] = scale_bank(source, [dimension])
        return cut
