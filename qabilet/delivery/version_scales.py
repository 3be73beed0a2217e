"""A published bank version's scales, prepared once for the profiles scored on it.

A profile scores each dimension on the version's items of that dimension that the candidate
answered (:func:`qabilet.itembank.versions.scale_bank`). Cutting that bank out of the version's
multidimensional one rebuilds every item's model; a server issuing a profile per session would
redo it for every profile. :class:`VersionScales` cuts each dimension's whole scale once (a
published version never changes) and gives a profile's scale as a subset of it: the same items,
in the same order, with the same parameters and latent marginal as the direct cut.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from qabilet.engine.exceptions import InvalidParameterError
from qabilet.itembank.versions import scale_bank

if TYPE_CHECKING:
    from qabilet.engine.bank import ItemBank
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

    Attributes
    ----------
    version : BankVersion
    bank : engine.bank.ItemBank
        The version's whole engine bank.
    dimensions : tuple of str
        The version's factor names.
    codes : dict
        Item → the answer codes of its model categories (the version's recodings).
    item_ids : frozenset of str
        The calibrated items.
    """

    def __init__(self, version: BankVersion, bank: ItemBank | None = None) -> None:
        self.version = version
        self.bank = bank if bank is not None else version.parameters.to_bank()
        self.dimensions = version.dimensions
        self.codes = version.parameters.recodings()
        self.item_ids = frozenset(version.item_ids)
        self._cuts: dict[str, ItemBank] = {}
        self._lock = threading.Lock()

    def scale(self, dimension: str, item_ids: Sequence[str]) -> ItemBank:
        """The bank of ``item_ids`` on ``dimension`` alone: ``scale_bank(bank, [dimension], item_ids)``.

        Raises
        ------
        InvalidParameterError
            As :func:`~qabilet.itembank.versions.scale_bank` does: an unknown dimension, or an item
            that loads on another dimension.
        """
        cut = self._cut(dimension)
        try:
            index = cut.index_of(item_ids)
        except InvalidParameterError:  # not on this scale alone: the direct cut says why
            return scale_bank(self.bank, [dimension], item_ids)
        return cut.subset(index)

    def _cut(self, dimension: str) -> ItemBank:
        """Every item loading on ``dimension`` only, on it alone (cut once)."""
        cut = self._cuts.get(dimension)
        if cut is None:
            with self._lock:
                cut = self._cuts.get(dimension)
                if cut is None:
                    cut = self._cuts[dimension] = scale_bank(self.bank, [dimension])
        return cut
