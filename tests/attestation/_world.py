"""A small organisation for the access tests: two units and their people, a centre in each.

Unit ``U-A`` (with ``U-A1`` inside it) and unit ``U-B``, of one agency; test centre ``TC-A`` in
``U-A1`` and ``TC-B`` in ``U-B``. Employees: ``A-HEAD`` (U-A) supervises ``A-1`` and ``A-2``
(U-A1); ``B-HEAD`` (U-B) supervises ``B-1``. Accounts (password :data:`PASSWORD`): ``head-a``
(A-HEAD, supervisor), ``hr-a`` (hr at U-A), ``a-one`` (A-1, no grant), ``staff-b`` (B-1, no
grant), ``hr-b`` (hr at U-B).
"""

from __future__ import annotations

import json

from qabilet.attestation.access import Grant
from qabilet.attestation.accounts import AccountRepository
from qabilet.attestation.repository import OrganisationRepository, read_organisation
from qabilet.itembank.database import connect

NAME = {"kk": "Бөлімше", "ru": "Подразделение", "en": "Unit"}
PASSWORD = "correct horse battery staple"
UNITS_A = {"U-A", "U-A1"}
EMPLOYEES_A = {"A-HEAD", "A-1", "A-2"}
EMPLOYEES_B = {"B-HEAD", "B-1"}


def _person(number: str, unit: str, supervisor: str | None, surname: str) -> dict:
    return {"personal_number": number, "surname": surname, "given_name": "Test", "sex": "f",
            "born": "1980-01-02", "unit": unit, "position": "specialist", "category": "C-4",
            "entered_service": "2010-02-01", "language": "ru",
            **({"supervisor": supervisor} if supervisor else {})}


DOCUMENT = {
    "format": "qabilet-organisation", "format_version": 1,
    "agencies": [{"id": "AG", "name": NAME}],
    "units": [{"id": "U-A", "agency": "AG", "name": {**NAME, "en": "Unit A"}},
              {"id": "U-A1", "agency": "AG", "parent": "U-A", "name": {**NAME, "en": "Unit A1"}},
              {"id": "U-B", "agency": "AG", "name": {**NAME, "en": "Unit B"}}],
    "test_centres": [{"id": "TC-A", "unit": "U-A1", "name": NAME, "rooms": [{"id": "R1", "seats": 10}],
                      "hours": {"mon": ["09:00", "18:00"]}},
                     {"id": "TC-B", "unit": "U-B", "name": NAME, "rooms": [{"id": "R1", "seats": 10}],
                      "hours": {"mon": ["09:00", "18:00"]}}],
    "categories": [{"id": "C-4", "level": "middle", "name": NAME}],
    "employees": [_person("A-HEAD", "U-A", None, "Alieva"), _person("A-1", "U-A1", "A-HEAD", "Amanov"),
                  _person("A-2", "U-A1", "A-HEAD", "Arystan"),
                  _person("B-HEAD", "U-B", None, "Bekov"), _person("B-1", "U-B", "B-HEAD", "Baimukhan")],
}


def build(database_url: str) -> None:
    """Import the organisation and make the accounts on the database."""
    engine = connect(database_url)
    OrganisationRepository(engine).import_organisation(read_organisation(json.dumps(DOCUMENT)),
                                                       by="test")
    accounts = AccountRepository(engine)
    for username, employee, grant in (("head-a", "A-HEAD", Grant("supervisor")),
                                      ("hr-a", None, Grant("hr", "U-A")),
                                      ("a-one", "A-1", None),
                                      ("staff-b", "B-1", None),
                                      ("hr-b", None, Grant("hr", "U-B"))):
        accounts.create_account(username, username.upper(), PASSWORD, employee=employee, by="test")
        if grant is not None:
            accounts.grant(username, grant, by="test")
    engine.dispose()
