"""The organisation on the bank's database: imported whole, read by unit, category and supervisor."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy import Engine, Select, select

from qabilet.attestation._store import Store
from qabilet.attestation.accounts import unit_parents
from qabilet.attestation.organisation import (
    Agency,
    Category,
    Employee,
    InterviewRoom,
    OrganisationDocument,
    TestCentre,
    Unit,
)
from qabilet.attestation.tables import (
    AgencyRow,
    CategoryRow,
    EmployeeRow,
    InterviewRoomRow,
    TestCentreRow,
    UnitRow,
)
from qabilet.engine.exceptions import ImportRejectedError, NotFoundError
from qabilet.itembank._files import parse_json

__all__ = ["ImportedOrganisation", "OrganisationRepository", "read_organisation"]

_R = TypeVar("_R", Agency, Unit, TestCentre, InterviewRoom, Category, Employee)


@dataclass(frozen=True, slots=True)
class ImportedOrganisation:
    """How many records of each kind an import stored (added or replaced)."""

    agencies: int
    units: int
    test_centres: int
    interview_rooms: int
    categories: int
    employees: int


def read_organisation(text: str, *, path: str | None = None) -> OrganisationDocument:
    """Read and check an organisation document's text.

    Raises
    ------
    ImportRejectedError
        Every problem pydantic finds, each naming the list, the entry and the field
        (``employees.12.born``); the document's own checks name the reference that does not
        resolve.
    DataFileError
        Not JSON.
    """
    data = parse_json(text, path=path)
    try:
        return OrganisationDocument.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "the document"
            entry = error["loc"][1] if len(error["loc"]) > 1 and isinstance(error["loc"][1], int) else 0
            problems.append((int(entry) + 1, where, error["msg"].removeprefix("Value error, ")))
        raise ImportRejectedError(problems, path=path) from None


class OrganisationRepository(Store):
    """The organisation's records on one database (migrated: :func:`qabilet.itembank.database.connect`)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)


    def import_organisation(self, document: OrganisationDocument, *, by: str) -> ImportedOrganisation:
        """Store the document whole, in one transaction: its records added, or replaced by id.

        The document must be whole too — a unit's agency, an employee's unit, category and
        supervisor are the document's (checked when it was read), so that a replaced record
        never points at one left behind. Records the document does not name stay. Audited as
        ``organisation.import`` with ``by``.
        """
        d = document
        with self._transaction() as s:
            for a in d.agencies:
                s.merge(AgencyRow(id=a.id, document=_plain(a)))
            s.flush()
            for u in _parents_first(d.units):  # a parent is stored before its children
                s.merge(UnitRow(id=u.id, agency=u.agency, parent=u.parent, document=_plain(u)))
                s.flush()
            for c in d.categories:
                s.merge(CategoryRow(id=c.id, level=c.level, document=_plain(c)))
            for t in d.test_centres:
                s.merge(TestCentreRow(id=t.id, unit=t.unit, document=_plain(t)))
            for r in d.interview_rooms:
                s.merge(InterviewRoomRow(id=r.id, unit=r.unit, document=_plain(r)))
            s.flush()
            for e in _supervisors_first(d.employees):  # a supervisor before those supervised
                s.merge(EmployeeRow(personal_number=e.personal_number, unit=e.unit,
                                    category=e.category, supervisor=e.supervisor,
                                    document=_plain(e)))
                s.flush()
            counts = ImportedOrganisation(len(d.agencies), len(d.units), len(d.test_centres),
                                          len(d.interview_rooms), len(d.categories),
                                          len(d.employees))
            self._audit(s, by, "organisation.import", None, _counts(counts))
            return counts

    # -- reading ------------------------------------------------------------------------------------
    def _read(self, schema: type[_R], query: Select[Any]) -> list[_R]:
        """The documents of the rows ``query`` selects, as ``schema``."""
        with self._transaction() as s:
            return [schema.model_validate(r.document) for r in s.scalars(query)]

    def agencies(self) -> list[Agency]:
        """The agencies, by id."""
        return self._read(Agency, select(AgencyRow).order_by(AgencyRow.id))

    def units(self, agency: str | None = None, *, within: Collection[str] | None = None
              ) -> list[Unit]:
        """The units, by id (of one agency; among ``within``)."""
        return self._read(Unit, _among(_where(select(UnitRow).order_by(UnitRow.id), UnitRow.agency,
                                              agency), UnitRow.id, within))

    def test_centres(self, unit: str | None = None, *, within: Collection[str] | None = None
                     ) -> list[TestCentre]:
        """The test centres, by id (of one unit; of the units ``within``)."""
        return self._read(TestCentre, _among(_where(
            select(TestCentreRow).order_by(TestCentreRow.id), TestCentreRow.unit, unit),
            TestCentreRow.unit, within))

    def interview_rooms(self, unit: str | None = None) -> list[InterviewRoom]:
        """The interview rooms, by id (of one unit)."""
        return self._read(InterviewRoom, _where(
            select(InterviewRoomRow).order_by(InterviewRoomRow.id), InterviewRoomRow.unit, unit))

    def categories(self) -> list[Category]:
        """The position categories, by id."""
        return self._read(Category, select(CategoryRow).order_by(CategoryRow.id))

    def employees(self, *, unit: str | None = None, supervisor: str | None = None,
                  units: Collection[str] | None = None) -> list[Employee]:
        """The employees, by personal number: of one unit, of ``units``, those one person supervises."""
        query = _among(_where(select(EmployeeRow).order_by(EmployeeRow.personal_number),
                              EmployeeRow.unit, unit), EmployeeRow.unit, units)
        return self._read(Employee, _where(query, EmployeeRow.supervisor, supervisor))

    def unit_parents(self) -> dict[str, str | None]:
        """Every unit's parent (None at the top of an agency)."""
        with self._transaction() as s:
            return unit_parents(s)

    def unit_of_centre(self, centre: str) -> str:
        """The unit that hosts a test centre."""
        with self._transaction() as s:
            unit = s.scalar(select(TestCentreRow.unit).where(TestCentreRow.id == centre))
            if unit is None:
                raise NotFoundError(f"no test centre {centre!r}")
            return str(unit)

    def employee(self, personal_number: str) -> Employee:
        """One employee."""
        with self._transaction() as s:
            row = self._found(s, EmployeeRow, personal_number,
                              f"no employee with personal number {personal_number!r}")
            return Employee.model_validate(row.document)

    def level_of(self, personal_number: str) -> str:
        """The attestation level of an employee: their position category's."""
        with self._transaction() as s:
            level = s.scalar(select(CategoryRow.level).join(
                EmployeeRow, EmployeeRow.category == CategoryRow.id).where(
                EmployeeRow.personal_number == personal_number))
            if level is None:
                raise NotFoundError(f"no employee with personal number {personal_number!r}")
            return str(level)


def _where(query: Select[Any], column: Any, value: str | None) -> Select[Any]:
    """``query`` limited to rows whose ``column`` is ``value``; all of them when it is None."""
    return query if value is None else query.where(column == value)


def _among(query: Select[Any], column: Any, values: Collection[str] | None) -> Select[Any]:
    """``query`` limited to rows whose ``column`` is one of ``values``; all of them when None."""
    return query if values is None else query.where(column.in_(sorted(values)))


def _plain(record: Agency | Unit | TestCentre | InterviewRoom | Category | Employee) -> dict:
    return record.model_dump(mode="json", exclude_none=True)


def _counts(counts: ImportedOrganisation) -> dict[str, int]:
    return {name: getattr(counts, name) for name in ImportedOrganisation.__slots__}


def _parents_first(units: list[Unit]) -> list[Unit]:
    """Units ordered so that a parent comes before its children (the document has no cycle)."""
    by_id = {u.id: u for u in units}
    depth: dict[str, int] = {}

    def level(u: Unit) -> int:
        if u.id not in depth:
            parent = by_id.get(u.parent or "")
            depth[u.id] = 0 if parent is None else level(parent) + 1
        return depth[u.id]

    return sorted(units, key=level)


def _supervisors_first(employees: list[Employee]) -> list[Employee]:
    """Employees ordered so that a supervisor comes before those they supervise."""
    by_number = {e.personal_number: e for e in employees}
    depth: dict[str, int] = {}
    for e in employees:  # iteratively: supervision chains may be long
        chain = []
        node: Employee | None = e
        while node is not None and node.personal_number not in depth:
            chain.append(node)
            node = by_number.get(node.supervisor or "")
        base = depth[node.personal_number] + 1 if node is not None else 0
        for k, member in enumerate(reversed(chain)):
            depth[member.personal_number] = base + k
    return sorted(employees, key=lambda e: depth[e.personal_number])

