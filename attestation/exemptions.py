"""Exemption grounds, and the two that can be checked against the employee's record.

The attestation exempts, on documents from the competent bodies (docs/design.md §1): a single
parent raising a child under 14, a woman with a child under 3, a woman on pregnancy or maternity
leave, an employee two years or less before retirement age, and one with less than six months in
the civil service (:data:`GROUNDS`). HR decides each request; two grounds are checked against the
data first (:func:`check_ground`):

* **retirement** — the years to the retirement age, from the date of birth, the sex and a
  :class:`RetirementSchedule`. In Kazakhstan (:data:`KAZAKHSTAN`) men retire at 63; women at 58
  until 2017, then six months later each year from 2018 (58.5 in 2018 … 60.5 in 2022), at 61
  from 2023 to 2027, and again six months later each year from 2028 until 63 in 2031 (the Law on
  pension provision of 2013, as amended in 2015 and 2022; the Social Code of 2023). The age is
  the one in force in the year it is reached: a person retires on the first day on which their
  age is at least the schedule's age for that day's year — so that a woman born in the first half
  of 1960 retired at 58.5 in the second half of 2018, as the ministry's notes say.
* **service** — the months from entering the service to the day of reference.

The others rest on documents alone: the check says so, and HR reads the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

__all__ = ["GROUNDS", "KAZAKHSTAN", "Ground", "GroundCheck", "RetirementSchedule", "check_ground",
           "months_between", "retirement_date"]

Ground = Literal["single_parent_child_under_14", "child_under_3", "maternity_leave",
                 "near_retirement", "short_service"]
#: the grounds, with what each needs
GROUNDS: dict[str, str] = {
    "single_parent_child_under_14": "a single parent raising a child under 14: the child's birth "
                                    "certificate and proof of single parenthood",
    "child_under_3": "a woman with a child under 3: the child's birth certificate",
    "maternity_leave": "a woman on pregnancy or maternity leave: the leave order or medical "
                       "certificate",
    "near_retirement": "two years or less before the retirement age: checked from the date of "
                       "birth",
    "short_service": "less than six months in the civil service: checked from the date of entry",
}
#: grounds a woman's only (the others are anyone's)
WOMEN_ONLY = frozenset({"child_under_3", "maternity_leave"})


@dataclass(frozen=True, slots=True)
class RetirementSchedule:
    """The retirement age by sex, as a step function of the calendar year it is reached in.

    Attributes
    ----------
    steps : dict
        ``"f"`` and ``"m"`` → ``((first year, age in years), …)`` in increasing years; a year
        before the first step takes the first step's age.
    """

    steps: dict[str, tuple[tuple[int, float], ...]]

    def age_in(self, sex: str, year: int) -> float:
        """The retirement age in force in ``year`` for ``sex``."""
        steps = self.steps[sex]
        age = steps[0][1]
        for first, value in steps:
            if year >= first:
                age = value
        return age


KAZAKHSTAN = RetirementSchedule(steps={
    "m": ((1900, 63.0),),
    "f": ((1900, 58.0), (2018, 58.5), (2019, 59.0), (2020, 59.5), (2021, 60.0), (2022, 60.5),
          (2023, 61.0), (2028, 61.5), (2029, 62.0), (2030, 62.5), (2031, 63.0)),
})


def _plus_years(born: date, years: float) -> date:
    """The day ``years`` (whole or half) after ``born`` (29 February → 28 February)."""
    months = round(years * 12)
    year, month = born.year + (born.month - 1 + months) // 12, (born.month - 1 + months) % 12 + 1
    day = born.day
    while True:
        try:
            return date(year, month, day)
        except ValueError:
            day -= 1


def retirement_date(born: date, sex: str, schedule: RetirementSchedule = KAZAKHSTAN) -> date:
    """The first day on which the age reaches the schedule's age for that day's year.

    Every age the schedule names is tried: reaching it on ``born + age`` counts when that year's
    age is no more than it. The earliest such day is the retirement date.
    """
    ages = sorted({age for _, age in schedule.steps[sex]})
    reached = [(_plus_years(born, age), age) for age in ages]
    return min(day for day, age in reached if schedule.age_in(sex, day.year) <= age)


def months_between(start: date, end: date) -> int:
    """Whole months from ``start`` to ``end`` (0 when ``end`` is not after it)."""
    months = (end.year - start.year) * 12 + end.month - start.month - (end.day < start.day)
    return max(months, 0)


@dataclass(frozen=True, slots=True)
class GroundCheck:
    """What the employee's record says about a ground.

    ``holds`` is True or False when the data decide it, None when only a document can.
    """

    holds: bool | None
    note: str


def check_ground(ground: str, *, sex: str, born: date, entered_service: date, on: date,
                 schedule: RetirementSchedule = KAZAKHSTAN) -> GroundCheck:
    """Check a ground against the record on the day of reference ``on`` (the testing's start).

    Raises
    ------
    ValueError
        A ground not of :data:`GROUNDS`.
    """
    if ground not in GROUNDS:
        raise ValueError(f"ground: expected one of {', '.join(GROUNDS)}; got {ground!r}")
    if ground == "near_retirement":
        retires = retirement_date(born, sex, schedule)
        months = months_between(on, retires)
        return GroundCheck(retires <= _plus_years(on, 2), f"retirement age reached on {retires.isoformat()}: "
                                  f"{months // 12} years {months % 12} months after "
                                  f"{on.isoformat()}")
    if ground == "short_service":
        months = months_between(entered_service, on)
        return GroundCheck(months < 6, f"{months} months in the service on {on.isoformat()} "
                                       f"(entered {entered_service.isoformat()})")
    if ground in WOMEN_ONLY and sex != "f":
        return GroundCheck(False, "the ground is a woman's; the record says the employee is a man")
    return GroundCheck(None, "rests on the document filed")
