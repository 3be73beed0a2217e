"""The served OpenAPI document describes every answer of every route (issue 16): a response
model (a named schema) for each JSON answer, a text schema for HTML and CSV, nothing left as
an untyped object; and the answers served match it (checked here on the routes whose models
are new; the fuzz test checks every route's)."""

from __future__ import annotations

import httpx
import jsonschema
import pytest

from qabilet.itembank.content import INSTRUCTIONS
from tests.api._served import served_on
from tests.api._server import answer_current, staff, start_session


@pytest.fixture(scope="module", params=["sqlite"])
def served(request, tmp_path_factory):
    yield from served_on(request, tmp_path_factory)


@pytest.fixture(scope="module")
def document(served) -> dict:
    r = httpx.get(f"{served.base}/openapi.json")
    assert r.status_code == 200, r.text
    return r.json()


def _operations(document: dict):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield f"{method.upper()} {path}", operation


def _untyped(schema: dict) -> bool:
    """A schema that says nothing: ``{}``, or an object of any properties, alone or in an array."""
    if schema.get("type") == "array":
        return _untyped(schema.get("items", {}))
    return schema == {} or (schema.get("type") == "object" and "properties" not in schema
                            and "$ref" not in schema and "additionalProperties" in schema
                            and schema["additionalProperties"] in (True, {}))


def test_every_route_describes_its_answer(document):
    operations = dict(_operations(document))
    assert len(operations) >= 28
    undescribed = []
    for label, operation in operations.items():
        success = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
        assert len(success) == 1, (label, success)
        (code, response), = success.items()
        assert response["description"], label
        if code == "204":
            assert "content" not in response, label
            continue
        (media, content), = response["content"].items()
        schema = content["schema"]
        if media == "application/json":
            named = "$ref" in schema or "anyOf" in schema or "$ref" in schema.get("items", {})
            if not named or _untyped(schema):
                undescribed.append(label)
        elif media == "application/pdf":
            assert schema == {"type": "string", "format": "binary"}, label
            assert response["description"] != "Successful Response", label
        else:
            assert media in ("text/html", "text/csv") and schema == {"type": "string"}, label
            assert response["description"] != "Successful Response", label
    assert not undescribed, undescribed


def _validator(document: dict, label: str, code: str = "200") -> jsonschema.Validator:
    """A validator of the answer ``label`` documents (``$ref`` resolved in the document)."""
    method, path = label.split(" ", 1)
    schema = (document["paths"][path][method.lower()]["responses"][code]["content"]
              ["application/json"]["schema"])
    return jsonschema.Draft202012Validator({**schema, "components": document["components"]})


def test_the_answers_of_the_newly_modelled_routes_match_the_document(served, document):
    base, op, ps = served.base, staff(served.keys), staff(served.keys, "psychometrician")
    session = start_session(base, served.keys)
    for _ in range(3):
        assert answer_current(base, session).status_code == 200
    me = {"X-Session-Token": session["token"]}
    sid = session["id"]
    assert httpx.post(f"{base}/v1/sessions/{sid}/finish", headers=me).status_code == 200

    candidate = httpx.get(f"{base}/v1/sessions/{sid}/profile", headers=me).json()
    operator = httpx.get(f"{base}/v1/sessions/{sid}/profile", headers=op).json()
    assert "validity" not in candidate and "validity" in operator
    assert {**candidate, "validity": operator["validity"]} == operator
    checks = {
        "GET /v1/sessions/{session_id}/profile": [candidate, operator],
        "GET /v1/sessions/{session_id}/events": [
            httpx.get(f"{base}/v1/sessions/{sid}/events", headers=op).json()],
        "GET /v1/admin/audit": [httpx.get(f"{base}/v1/admin/audit", headers=ps).json()],
        "GET /v1/admin/bank": [httpx.get(f"{base}/v1/admin/bank", headers=ps).json()],
    }
    for label, answers in checks.items():
        validator = _validator(document, label)
        for answer in answers:
            errors = [e.message for e in validator.iter_errors(answer)]
            assert not errors, (label, errors[:3])
    events = checks["GET /v1/sessions/{session_id}/events"][0]
    assert [e["kind"] for e in events][:2] == ["start", "answer"]
    assert all("digest" not in e["payload"] for e in events)
    bank = checks["GET /v1/admin/bank"][0]
    assert bank["format"] == "qabilet-bank" and len(bank["items"]) > 100
    assert None not in bank.values()  # nulls left out, as before



def test_the_item_answer_matches_the_document_with_a_situational_items_instruction(served, document):
    """``GET …/item`` documents the instruction and serves it in the language asked for."""
    item_schema = document["components"]["schemas"]["ItemPublic"]["properties"]["instruction"]
    assert "no right or wrong answer" in item_schema["description"]
    validator = _validator(document, "GET /v1/sessions/{session_id}/item")
    session = start_session(served.base, served.keys, "kk")
    url = f"{served.base}/v1/sessions/{session['id']}/item"
    me = {"X-Session-Token": session["token"]}
    formats = set()
    for _ in range(60):
        shown = {lang: httpx.get(url, headers=me, params={"language": lang}).json()
                 for lang in ("kk", "ru", "en")}
        for answer in shown.values():
            assert not [e.message for e in validator.iter_errors(answer)]
        formats.add(shown["kk"]["format"])
        if shown["kk"]["format"] == "sjt":
            assert {lang: a["instruction"] for lang, a in shown.items()} == INSTRUCTIONS["best"]
            break
        assert all(a["instruction"] is None for a in shown.values())
        assert answer_current(served.base, session).status_code == 200
    assert "sjt" in formats


def test_security_schemes_say_who_each_operation_serves(document):
    """The staff key and the candidate token, as the role matrix has them (one source: each
    route's policy), so /docs shows an Authorize button; the two headers are no parameters."""
    from tests.api.test_role_matrix import OWN, SERVES

    schemes = document["components"]["securitySchemes"]
    assert schemes["staffKey"] == {**schemes["staffKey"], "type": "http", "scheme": "bearer"}
    assert schemes["candidateToken"] == {**schemes["candidateToken"], "type": "apiKey",
                                         "in": "header", "name": "X-Session-Token"}
    for label, operation in _operations(document):
        method, path = label.split(" ", 1)
        parties, _ = SERVES[(method, path)]
        expected = [{"staffKey": []}] + ([{"candidateToken": []}] if OWN in parties else [])
        assert operation["security"] == expected, label
        headers = {p["name"].lower() for p in operation.get("parameters", ()) if p["in"] == "header"}
        assert not headers & {"authorization", "x-session-token"}, label
