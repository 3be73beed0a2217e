"""The organisation document: read and checked whole, stored in one transaction, read back by unit,
supervisor and level; a bad document names the entry and the field and stores nothing. On SQLite
and PostgreSQL; and the migration that makes its tables goes down and up again."""

from __future__ import annotations

import copy
import json

import pytest
from alembic import command
from sqlalchemy import inspect

from qabilet.attestation import OrganisationRepository, read_organisation
from qabilet.engine.exceptions import ImportRejectedError, NotFoundError
from qabilet.itembank.database import connect
from tests.itembank.test_api_key_migration import _migrate

NAME = {"kk": "Атау", "ru": "Название", "en": "Name"}
DOC = {
    "format": "qabilet-organisation", "format_version": 1,
    "agencies": [{"id": "ASDC", "name": NAME}],
    "units": [{"id": "ASDC-HQ", "agency": "ASDC", "name": NAME, "city": "Astana"},
              {"id": "ASDC-ALA", "agency": "ASDC", "name": NAME, "parent": "ASDC-HQ"},
              {"id": "ASDC-ALA-2", "agency": "ASDC", "name": NAME, "parent": "ASDC-ALA"}],
    "test_centres": [{"id": "TC-ALA", "unit": "ASDC-ALA", "name": NAME,
                      "rooms": [{"id": "R1", "seats": 24}, {"id": "R2", "seats": 12}],
                      "hours": {"mon": ["09:00", "18:00"], "sat": ["10:00", "14:00"]}}],
    "interview_rooms": [{"id": "IR-1", "unit": "ASDC-HQ", "video": True}],
    "categories": [{"id": "A-1", "level": "high", "name": NAME},
                   {"id": "C-4", "level": "middle", "name": NAME},
                   {"id": "E-G-3", "level": "low", "name": NAME}],
    "employees": [
        # listed before their supervisors: the import orders them
        {"personal_number": "0003", "surname": "Omarov", "given_name": "Yerlan", "sex": "m",
         "born": "1990-05-01", "unit": "ASDC-ALA", "position": "specialist", "category": "E-G-3",
         "entered_service": "2015-01-10", "supervisor": "0002", "language": "ru"},
        {"personal_number": "0002", "surname": "Bekova", "given_name": "Aigerim", "sex": "f",
         "born": "1984-03-02", "unit": "ASDC-ALA", "position": "head of division",
         "category": "C-4", "entered_service": "2009-09-01", "supervisor": "0001",
         "documents": [{"kind": "child_under_3", "number": "BC-1", "issued_on": "2025-04-02"}]},
        {"personal_number": "0001", "surname": "Nurlanov", "given_name": "Daniyar", "sex": "m",
         "born": "1970-01-20", "unit": "ASDC-HQ", "position": "chair", "category": "A-1",
         "entered_service": "1995-07-01"}],
}


def _doc(**changes):
    d = copy.deepcopy(DOC)
    for path, value in changes.items():
        *where, last = path.split("__")
        target = d
        for part in where:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value
    return json.dumps(d)


def test_an_organisation_is_stored_whole_and_read_back(db_url):
    engine = connect(db_url)
    repo = OrganisationRepository(engine)
    counts = repo.import_organisation(read_organisation(json.dumps(DOC)), by="hr@test")
    assert (counts.units, counts.employees, counts.categories) == (3, 3, 3)
    assert [u.id for u in repo.units()] == ["ASDC-ALA", "ASDC-ALA-2", "ASDC-HQ"]
    assert [e.personal_number for e in repo.employees(unit="ASDC-ALA")] == ["0002", "0003"]
    assert [e.personal_number for e in repo.employees(supervisor="0002")] == ["0003"]
    assert [repo.level_of(n) for n in ("0001", "0002", "0003")] == ["high", "middle", "low"]
    centre = repo.test_centres(unit="ASDC-ALA")[0]
    assert centre.seats == 36 and centre.timezone == "Asia/Almaty"
    assert repo.employee("0002").documents[0].kind == "child_under_3"
    with pytest.raises(NotFoundError, match="'9999'"):
        repo.level_of("9999")
    # a second import replaces by id: a promotion moves the level with the category
    repo.import_organisation(read_organisation(_doc(employees__1__category="A-1")), by="hr@test")
    assert repo.level_of("0002") == "high" and len(repo.employees()) == 3
    engine.dispose()


@pytest.mark.parametrize("changes, said", [
    ({"units__1__agency": "NOPE"}, "units[1].agency: 'NOPE' is not one of the document's agencies"),
    ({"employees__0__category": "Z-9"}, "employees[0].category: 'Z-9' is not one of the document's"),
    ({"employees__2__supervisor": "0003"}, "employees: a cycle (0003 → 0002 → 0001 → 0003)"),
    ({"employees__1__supervisor": "0002"}, "an employee is not their own supervisor"),
    ({"units__0__parent": "ASDC-ALA-2"}, "units: a cycle"),
    ({"employees__0__born": "2016-01-01"}, "entered_service: 2015-01-10 is not after born"),
    ({"test_centres__0__hours": {"mon": ["18:00", "09:00"]}}, "closing time after the opening"),
    ({"test_centres__0__timezone": "Mars/Olympus"}, "IANA time zone"),
    ({"test_centres__0__rooms__1__id": "R1"}, "room 'R1' twice"),
    ({"categories__1__level": "top"}, "categories.1.level"),
    ({"employees__2__personal_number": "0002"}, "personal number '0002' twice"),
])
def test_a_bad_document_names_the_entry_and_field_and_stores_nothing(db_url, changes, said):
    engine = connect(db_url)
    repo = OrganisationRepository(engine)
    with pytest.raises(ImportRejectedError) as caught:
        repo.import_organisation(read_organisation(_doc(**changes), path="org.json"), by="hr")
    assert said in str(caught.value)
    assert repo.units() == [] and repo.employees() == []
    engine.dispose()


def test_the_organisation_tables_go_and_come_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'org.db'}"
    engine = connect(url)
    OrganisationRepository(engine).import_organisation(read_organisation(json.dumps(DOC)), by="hr")
    _migrate(engine, command.downgrade, "0010")
    assert "employees" not in inspect(engine).get_table_names()
    engine.dispose()
    engine = connect(url)  # migrated to the newest again
    assert OrganisationRepository(engine).employees() == []
    engine.dispose()


def test_the_command_line_imports_and_lists_and_refuses_a_bad_file(tmp_path):
    from typer.testing import CliRunner

    from qabilet.cli import app

    url = f"sqlite:///{tmp_path / 'org.db'}"
    (tmp_path / "org.json").write_text(json.dumps(DOC), encoding="utf-8")
    (tmp_path / "bad.json").write_text(_doc(units__1__agency="NOPE"), encoding="utf-8")
    runner = CliRunner()
    r = runner.invoke(app, ["attestation", "import-org", str(tmp_path / "bad.json"), "--database", url])
    assert r.exit_code == 2 and "units[1].agency: 'NOPE'" in r.output
    r = runner.invoke(app, ["attestation", "import-org", str(tmp_path / "org.json"), "--database", url])
    assert r.exit_code == 0 and "3 units, 1 test centres, 1 interview rooms" in r.output, r.output
    r = runner.invoke(app, ["attestation", "employees", "--unit", "ASDC-ALA", "--database", url])
    assert r.output.splitlines() == ["0002\tBekova Aigerim\tASDC-ALA\tC-4\tmiddle",
                                     "0003\tOmarov Yerlan\tASDC-ALA\tE-G-3\tlow"]
