"""The organisation an attestation runs in: agencies, units, test centres, position categories, employees.

An **organisation document** (JSON) holds them whole, as an HR department keeps them::

    {"format": "qabilet-organisation", "format_version": 1,
     "agencies": [{"id": "ASDC", "name": {"kk": "...", "ru": "...", "en": "..."}}],
     "units": [{"id": "ASDC-AST", "agency": "ASDC", "name": {...}, "city": "Astana"}],
     "test_centres": [{"id": "TC-AST", "unit": "ASDC-AST", "name": {...},
                       "timezone": "Asia/Almaty",
                       "rooms": [{"id": "R1", "seats": 24}],
                       "hours": {"mon": ["09:00", "18:00"], ...}}],
     "interview_rooms": [{"id": "IR-AST-1", "unit": "ASDC-AST", "video": true}],
     "categories": [{"id": "B-1", "level": "high", "name": {...}}],
     "employees": [{"personal_number": "000123", "surname": "Bekova", "given_name": "Aigerim",
                    "sex": "f", "born": "1984-03-02", "unit": "ASDC-AST", "position": "...",
                    "category": "B-4", "entered_service": "2009-09-01", "language": "kk",
                    "supervisor": "000045", "documents": [...]}]}

Position **categories** are data: the 1995 decree on the civil service named eight, from the
Prime Minister's post down to the specialists of rural executive bodies (docs/design.md §1); an
agency maps its own to the attestation's three levels (``high``, ``middle``, ``low``), and an
employee's level is their category's. Every reference is checked — a unit's agency and parent,
a centre's or room's unit, an employee's unit, category and supervisor (another employee, no
cycle of supervisors) — and every id is unique; an error names the list, the entry and the
field. Nothing of a document with an error is stored
(:meth:`qabilet.attestation.repository.OrganisationRepository.import_organisation`).
"""

from __future__ import annotations

from datetime import date, time
from typing import Annotated, Literal
from zoneinfo import available_timezones

from pydantic import Field, StringConstraints, field_validator, model_validator

from qabilet.itembank._schema import Schema
from qabilet.itembank.content import Identifier, Language, Level

__all__ = ["FORMAT", "Agency", "Category", "Employee", "EmployeeDocument", "InterviewRoom",
           "OrganisationDocument", "Room", "TestCentre", "Unit"]

#: the ``format`` of an organisation document
FORMAT: Literal["qabilet-organisation"] = "qabilet-organisation"
#: the days of a week, as a centre's opening hours name them
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400)]
Names = Annotated[dict[Language, Text], Field(min_length=1)]


class Agency(Schema):
    """A state body: its id and its name per language."""

    id: Identifier
    name: Names


class Unit(Schema):
    """A unit of an agency — its central office or a territorial unit — optionally inside another."""

    id: Identifier
    agency: Identifier
    name: Names
    parent: Identifier | None = None
    city: Text | None = None


class Room(Schema):
    """A testing room of a centre and its seats."""

    id: Identifier
    seats: int = Field(ge=1, le=1000)
    name: Text | None = None


class TestCentre(Schema):
    """A unit's test centre: rooms with seats, opening hours per weekday, its time zone.

    ``hours`` maps a weekday (``mon`` … ``sun``) to the opening and closing time (local, the
    centre's ``timezone``); a day left out is closed.
    """

    __test__ = False  # not a pytest test class, whatever its name

    id: Identifier
    unit: Identifier
    name: Names
    timezone: str = "Asia/Almaty"
    rooms: list[Room] = Field(min_length=1)
    hours: dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], tuple[time, time]] = Field(
        min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in available_timezones():
            raise ValueError(f"expected an IANA time zone (Asia/Almaty, Asia/Aqtobe, …); got {value!r}")
        return value

    @model_validator(mode="after")
    def _rooms_and_hours(self) -> TestCentre:
        ids = [r.id for r in self.rooms]
        twice = next((r for k, r in enumerate(ids) if r in ids[:k]), None)
        if twice is not None:
            raise ValueError(f"rooms: room {twice!r} twice")
        for day, (opens, closes) in self.hours.items():
            if closes <= opens:
                raise ValueError(f"hours.{day}: expected the closing time after the opening time; "
                                 f"got {opens:%H:%M}–{closes:%H:%M}")
        return self

    @property
    def seats(self) -> int:
        """Seats in all its rooms."""
        return sum(r.seats for r in self.rooms)


class InterviewRoom(Schema):
    """A room for interviews in a unit; ``video``: equipped for interviews by video link."""

    id: Identifier
    unit: Identifier
    name: Text | None = None
    video: bool = False


class Category(Schema):
    """A position category and the attestation level it is assessed at."""

    id: Identifier
    level: Level
    name: Names


class EmployeeDocument(Schema):
    """A document an employee filed: its kind, number, date and a note (the file is elsewhere)."""

    kind: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
    number: Text | None = None
    issued_on: date | None = None
    note: Text | None = None


class Employee(Schema):
    """A civil servant: who, where, at which position and category, since when, and their supervisor."""

    personal_number: Identifier
    surname: Text
    given_name: Text
    patronymic: Text | None = None
    sex: Literal["f", "m"]
    born: date
    unit: Identifier
    position: Text
    category: Identifier
    entered_service: date
    language: Language = "kk"
    supervisor: Identifier | None = None
    documents: list[EmployeeDocument] = Field(default_factory=list)

    @model_validator(mode="after")
    def _dates(self) -> Employee:
        if self.entered_service <= self.born:
            raise ValueError(f"entered_service: {self.entered_service} is not after born "
                             f"({self.born})")
        if self.supervisor == self.personal_number:
            raise ValueError("supervisor: an employee is not their own supervisor")
        return self


class OrganisationDocument(Schema):
    """An organisation document (see the module notes): every reference in it resolves."""

    format: Literal["qabilet-organisation"] = FORMAT
    format_version: Literal[1] = 1
    agencies: list[Agency] = Field(default_factory=list)
    units: list[Unit] = Field(default_factory=list)
    test_centres: list[TestCentre] = Field(default_factory=list)
    interview_rooms: list[InterviewRoom] = Field(default_factory=list)
    categories: list[Category] = Field(default_factory=list)
    employees: list[Employee] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> OrganisationDocument:
        ids: dict[str, set[str]] = {}
        for name in ("agencies", "units", "test_centres", "interview_rooms", "categories"):
            seen: set[str] = set()
            for k, entry in enumerate(getattr(self, name)):
                if entry.id in seen:
                    raise ValueError(f"{name}[{k}].id: {entry.id!r} twice")
                seen.add(entry.id)
            ids[name] = seen
        people = {e.personal_number for e in self.employees}
        if len(people) != len(self.employees):
            numbers = [e.personal_number for e in self.employees]
            twice = next(n for k, n in enumerate(numbers) if n in numbers[:k])
            raise ValueError(f"employees: personal number {twice!r} twice")
        checks = [("units", "agency", "agencies"), ("units", "parent", "units"),
                  ("test_centres", "unit", "units"), ("interview_rooms", "unit", "units"),
                  ("employees", "unit", "units"), ("employees", "category", "categories")]
        for where, field, target in checks:
            for k, entry in enumerate(getattr(self, where)):
                value = getattr(entry, field)
                if value is not None and value not in ids[target]:
                    raise ValueError(f"{where}[{k}].{field}: {value!r} is not one of the "
                                     f"document's {target}")
        for k, e in enumerate(self.employees):
            if e.supervisor is not None and e.supervisor not in people:
                raise ValueError(f"employees[{k}].supervisor: {e.supervisor!r} is not an employee "
                                 f"of the document")
        _no_cycle("units", {u.id: u.parent for u in self.units})
        _no_cycle("employees", {e.personal_number: e.supervisor for e in self.employees})
        return self


def _no_cycle(where: str, parent: dict[str, str | None]) -> None:
    """Refuse a chain of parents (units) or supervisors (employees) that comes back on itself."""
    done: set[str] = set()
    for start in parent:
        path: list[str] = []
        node: str | None = start
        while node is not None and node not in done:
            if node in path:
                loop = " → ".join([*path[path.index(node):], node])
                raise ValueError(f"{where}: a cycle ({loop})")
            path.append(node)
            node = parent.get(node)
        done.update(path)
