"""A demonstration organisation: an agency, its territorial units with test centres, and its people.

For trying the attestation out, for the documentation's examples and for the tests and benchmarks
of campaigns and scheduling: :func:`demo_organisation` writes an organisation document
(:mod:`qabilet.attestation.organisation`) that is invented, never anyone's — the names are drawn
from common Kazakh given names and surnames, the dates at random, the same for the same seed.

The agency (``ASDC``) has a central office in Astana and territorial units in the regions'
centres, each with a test centre (rooms of 12–24 seats, open on weekdays 09:00–18:00 in the
region's time zone) and an interview room; a unit's employees are its head (category ``B-1``,
the ``high`` level), heads of division (``C-1``, ``middle``) and specialists (``C-4``, ``low``),
each specialist supervised by a head of division, each head of division by the unit's head, the
territorial heads by the chair in Astana. ``qabilet attestation demo-org`` writes it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np

__all__ = ["UNITS", "demo_organisation"]

#: (id, city, time zone) of the central office and the territorial units, in this order
UNITS = (("ASDC-AST", "Astana", "Asia/Almaty"), ("ASDC-ALA", "Almaty", "Asia/Almaty"),
         ("ASDC-SHY", "Shymkent", "Asia/Almaty"), ("ASDC-KAR", "Karaganda", "Asia/Almaty"),
         ("ASDC-AKT", "Aktobe", "Asia/Aqtobe"), ("ASDC-URA", "Oral", "Asia/Oral"),
         ("ASDC-KZO", "Kyzylorda", "Asia/Qyzylorda"), ("ASDC-PVL", "Pavlodar", "Asia/Almaty"),
         ("ASDC-UKK", "Oskemen", "Asia/Almaty"), ("ASDC-KOS", "Kostanay", "Asia/Qostanay"),
         ("ASDC-ATY", "Atyrau", "Asia/Atyrau"), ("ASDC-TAR", "Taraz", "Asia/Almaty"),
         ("ASDC-PET", "Petropavl", "Asia/Almaty"), ("ASDC-KOK", "Kokshetau", "Asia/Almaty"),
         ("ASDC-TAL", "Taldykorgan", "Asia/Almaty"), ("ASDC-AKM", "Aktau", "Asia/Aqtau"),
         ("ASDC-TUR", "Turkistan", "Asia/Almaty"), ("ASDC-ZHE", "Zhezkazgan", "Asia/Almaty"),
         ("ASDC-SEM", "Semey", "Asia/Almaty"), ("ASDC-KON", "Konaev", "Asia/Almaty"))
_SURNAMES = ("Akhmetov", "Bekov", "Nurlanov", "Omarov", "Zhakupov", "Abenov", "Kassymov",
             "Ospanov", "Tulegenov", "Iskakov", "Mukanov", "Sarsenbayev", "Amanov", "Baimukhanov",
             "Dauletov", "Yessenov", "Karimov", "Suleimenov", "Tokayev", "Zhumabekov")
_GIVEN = {"f": ("Aigerim", "Dana", "Aruzhan", "Madina", "Gulnara", "Saule", "Zhanar", "Ainur",
                "Assel", "Dinara"),
          "m": ("Yerlan", "Daniyar", "Nurlan", "Askar", "Timur", "Bauyrzhan", "Arman", "Serik",
                "Yerzhan", "Marat")}
_CATEGORIES = (("B-1", "high", {"kk": "B-1 санаты: бөлімше басшысы",
                                "ru": "Категория B-1: руководитель подразделения",
                                "en": "Category B-1: head of a unit"}),
               ("C-1", "middle", {"kk": "C-1 санаты: бөлім басшысы",
                                  "ru": "Категория C-1: руководитель отдела",
                                  "en": "Category C-1: head of division"}),
               ("C-4", "low", {"kk": "C-4 санаты: маман", "ru": "Категория C-4: специалист",
                               "en": "Category C-4: specialist"}))
_HOURS = {day: ["09:00", "18:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
#: specialists per head of division
_TEAM = 8


def _names(city: str) -> dict[str, str]:
    return {"kk": f"{city} қаласындағы аумақтық бөлімше", "ru": f"Территориальное подразделение, {city}",
            "en": f"Territorial unit, {city}"}


def demo_organisation(*, units: int = 3, employees: int = 200, seed: int = 0,
                      on: date = date(2017, 3, 1)) -> dict[str, Any]:
    """An organisation document of ``units`` units (≤ 20) and about ``employees`` people.

    Parameters
    ----------
    units : int
        The central office and ``units - 1`` territorial units (at most :data:`UNITS`' 20).
    employees : int
        People in all, spread evenly over the units (at least 3 per unit: a head, a head of
        division, a specialist).
    seed : int
        The same seed gives the same document.
    on : datetime.date
        The day the data describe: ages 23–62 and entry into the service after 21 on it; a few
        entered less than six months before (whom the attestation may exempt).

    Returns
    -------
    dict
        The document (``json.dumps`` it to write the file).
    """
    if not 1 <= units <= len(UNITS):
        raise ValueError(f"units: expected 1 to {len(UNITS)}; got {units}")
    if employees < 3 * units:
        raise ValueError(f"employees: expected at least 3 per unit ({3 * units}); got {employees}")
    rng = np.random.default_rng(seed)
    chosen = UNITS[:units]
    per_unit = np.full(units, employees // units)
    per_unit[: employees % units] += 1
    unit_of = np.repeat(np.arange(units), per_unit)
    rank = np.concatenate([np.arange(n) for n in per_unit])  # 0: the head of the unit
    division = np.where(rank == 0, -1, (rank - 1) // (_TEAM + 1))  # 0-based team in the unit
    is_division_head = (rank > 0) & ((rank - 1) % (_TEAM + 1) == 0)
    sex = rng.choice(np.array(["f", "m"]), employees)
    age_days = rng.integers(23 * 365, 62 * 365, employees)
    born = [on - timedelta(days=int(d)) for d in age_days]
    service_days = (rng.uniform(0.0, 1.0, employees) * (age_days - 21 * 365)).astype(int)
    service_days[rng.uniform(size=employees) < 0.03] = rng.integers(30, 180)  # new entrants
    surnames = rng.integers(len(_SURNAMES), size=employees)
    given = rng.integers(10, size=employees)
    numbers = [f"{k + 1:06d}" for k in range(employees)]
    first = np.concatenate([[0], np.cumsum(per_unit)[:-1]])  # each unit's head
    people = []
    for k in range(employees):
        u = int(unit_of[k])
        if rank[k] == 0:
            supervisor = None if u == 0 else numbers[0]
            category = "B-1"
        elif is_division_head[k]:
            supervisor, category = numbers[first[u]], "C-1"
        else:
            supervisor = numbers[first[u] + 1 + int(division[k]) * (_TEAM + 1)]
            category = "C-4"
        female = sex[k] == "f"
        surname = _SURNAMES[surnames[k]] + ("a" if female else "")
        person = {"personal_number": numbers[k], "surname": surname,
                  "given_name": _GIVEN[str(sex[k])][given[k]], "sex": str(sex[k]),
                  "born": born[k].isoformat(), "unit": chosen[u][0],
                  "position": {"B-1": "head of unit", "C-1": "head of division",
                               "C-4": "specialist"}[category],
                  "category": category,
                  "entered_service": (on - timedelta(days=int(service_days[k]))).isoformat(),
                  "language": "kk" if rng.uniform() < 0.6 else "ru"}
        if supervisor is not None:
            person["supervisor"] = supervisor
        people.append(person)
    return {
        "format": "qabilet-organisation", "format_version": 1,
        "agencies": [{"id": "ASDC", "name": {
            "kk": "Мемлекеттік қызмет істері агенттігі",
            "ru": "Агентство по делам государственной службы",
            "en": "Agency for Civil Service Affairs"}}],
        "units": [{"id": uid, "agency": "ASDC", "name": _names(city), "city": city}
                  for uid, city, _ in chosen],
        "test_centres": [{"id": f"TC-{uid.removeprefix('ASDC-')}", "unit": uid,
                          "name": {"kk": f"{city} тестілеу орталығы",
                                   "ru": f"Центр тестирования, {city}",
                                   "en": f"Test centre, {city}"},
                          "timezone": zone, "hours": _HOURS,
                          "rooms": [{"id": "R1", "seats": 24}, {"id": "R2", "seats": 12}]}
                         for uid, city, zone in chosen],
        "interview_rooms": [{"id": f"IR-{uid.removeprefix('ASDC-')}", "unit": uid, "video": True}
                            for uid, _, _ in chosen],
        "categories": [{"id": cid, "level": level, "name": name}
                       for cid, level, name in _CATEGORIES],
        "employees": people,
    }
