"""The smallest maximum exposure rate a design allows, known before any simulation.

The exposure rates of the eligible items add up to the mean test length :math:`\\bar L`, so the
largest rate is at least :math:`\\bar L / N` for :math:`N` eligible items; the same holds within a
content category whose quota asks for at least :math:`m_c` of its :math:`n_c` items in every
test (:math:`m_c / n_c`). Before simulating, :math:`\\bar L` is bounded below by the length every
test reaches: ``max_items`` for a fixed-length test (no rule that stops it early), otherwise
``min_items`` (each capped at :math:`N`). Quotas are bounds only where they are met in every
test: shadow tests (``content_method="shadow"``); weighted deviations may miss them.

:func:`qabilet.engine.cat.derive_sympson_hetter` checks the same bound with the mean length of its
first simulation; :func:`exposure_floor` lets a caller refuse an impossible target at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qabilet.engine.bank import ItemBank
from qabilet.engine.cat.blueprint import Blueprint

__all__ = ["ExposureFloor", "exposure_floor"]


@dataclass(frozen=True, slots=True)
class ExposureFloor:
    """A lower bound of the largest exposure rate, and where it comes from.

    Attributes
    ----------
    length : int
        Items every test gives (of the whole test, or of the content category).
    eligible : int
        Eligible items (of the whole test, or of the content category).
    category : str, optional
        The content category whose quota sets the bound; None for the whole test.
    """

    length: int
    eligible: int
    category: str | None = None

    @property
    def rate(self) -> float:
        """``length / eligible``: no item set can keep every rate below it."""
        return self.length / self.eligible


def exposure_floor(bank: ItemBank, blueprint: Blueprint) -> ExposureFloor:
    """The largest of the design's certain exposure bounds (whole test, content quotas).

    Parameters
    ----------
    bank : ItemBank
    blueprint : Blueprint
        Checked against the bank first (:meth:`Blueprint.check_bank`).

    Returns
    -------
    ExposureFloor
        The bound with the highest rate.

    Raises
    ------
    InvalidParameterError
        A blueprint the bank cannot serve.

    Examples
    --------
    >>> bank = ItemBank.from_records([{"id": f"Q{i}", "model": "2pl", "a": 1.0, "b": 0.0}
    ...                               for i in range(20)])
    >>> floor = exposure_floor(bank, Blueprint(max_items=10, se_target=None))
    >>> floor.length, floor.eligible, floor.rate
    (10, 20, 0.5)
    >>> exposure_floor(bank, Blueprint(max_items=10, min_items=4)).rate
    0.2
    """
    eligible = blueprint.check_bank(bank)
    n = int(eligible.sum())
    stops_early = (blueprint.se_target is not None or blueprint.min_information is not None
                   or blueprint.classification is not None or blueprint.time_limit_s is not None)
    length = blueprint.min_items if stops_early else blueprint.max_items
    floors = [ExposureFloor(min(length, n), n)]
    if blueprint.content_method == "shadow":
        ids = np.asarray(bank.item_ids, dtype=object)[eligible]
        tagged = dict(blueprint.content)
        for category, minimum, _ in blueprint.quotas:
            n_c = sum(tagged.get(i) == category for i in ids.tolist())
            if minimum > 0 and n_c > 0:
                floors.append(ExposureFloor(min(minimum, n_c), n_c, category))
    return max(floors, key=lambda f: f.rate)
