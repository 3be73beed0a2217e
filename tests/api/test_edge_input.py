"""Client input at the edge (issue 15, defect 4 and the strict types of defect 7).

NaN, Infinity, ``1e400``, a lone surrogate or a NUL in a JSON body, NUL or bad UTF-8 in the URL,
a body that is not UTF-8: each a 422 naming the field, never a 500, on SQLite and on PostgreSQL
(which stores no NUL). Validation errors name the field and never echo a large or invalid value;
request bodies take no ``"1"`` or ``true`` for an integer. The decoder's properties (hypothesis)
are checked on the function itself: any clean document passes, any hostile value anywhere is
named by its JSON path.
"""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qabilet.api.edge import json_problem, preview, url_problem
from tests.api._hostile import (
    HOSTILE_TOKENS,
    clean_json,
    hostile_text,
    hostile_values,
    leaf_paths,
    with_token,
)
from tests.api._served import BACKENDS, served_on
from tests.api._server import staff, start_session

PROPERTIES = settings(max_examples=200, deadline=None, database=None, derandomize=True,
                      suppress_health_check=[HealthCheck.too_slow])


# -- the decoder ------------------------------------------------------------------------------------
@PROPERTIES
@given(document=clean_json, ensure_ascii=st.booleans())
def test_any_clean_document_passes(document, ensure_ascii):
    assert json_problem(json.dumps(document, ensure_ascii=ensure_ascii).encode()) is None


@PROPERTIES
@given(data=st.data(), document=clean_json, ensure_ascii=st.booleans())
def test_a_hostile_value_anywhere_is_named_by_its_json_path(data, document, ensure_ascii):
    path = data.draw(st.sampled_from(leaf_paths(document)), label="path")
    if data.draw(st.booleans(), label="raw token"):
        token, kind = data.draw(st.sampled_from(sorted(HOSTILE_TOKENS.items())), label="token")
    else:
        value, kind = data.draw(hostile_values, label="value")
        token = json.dumps(value, ensure_ascii=ensure_ascii)
    problem = json_problem(with_token(document, path, token, ensure_ascii=ensure_ascii))
    assert problem is not None and problem["type"] == kind
    assert problem["loc"] == ["body", *path]
    assert json.dumps(problem, ensure_ascii=False).encode("utf-8")  # renders: no lone surrogate
    assert len(json.dumps(problem)) < 600


@PROPERTIES
@given(key=hostile_text)
def test_a_hostile_key_is_refused_and_shown_escaped(key):
    problem = json_problem(json.dumps({"ok": 1, key: 2}).encode())
    assert problem is not None and problem["type"] in ("string_nul", "string_surrogate")
    assert json.dumps(problem, ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize(("body", "kind"), [
    (b"\xff\xfe{}", "json_invalid"), (b'{"a": "\xd0"', "json_invalid"),
    (b"[" * 5000, "json_too_deep"),
    (b"[" * 40 + b"]" * 40, "json_too_deep"), (b'{"a": ' + b"9" * 5000 + b"}", "json_invalid"),
    (b'"\xed\xa0\x80"', "string_surrogate")])
def test_bodies_that_are_not_json_or_too_deep_are_named(body, kind):
    assert json_problem(body)["type"] == kind


@PROPERTIES
@given(value=st.one_of(st.text(), hostile_text, st.integers(), st.floats(), st.binary()))
def test_a_preview_is_short_and_printable(value):
    shown = preview(value)
    assert len(shown) < 100 and shown.encode("utf-8") and "\x00" not in shown


@pytest.mark.parametrize(("raw_path", "query", "where"), [
    (b"/v1/sessions/x%00", b"", "path"), (b"/v1/sessions/%ff%fe", b"", "path"),
    (b"/v1/sessions/%ed%a0%80", b"", "path"), (b"/v1/sessions/a%0Ab", b"", "path"),
    (b"/v1/admin/audit", b"target=%00", "query"), (b"/v1/admin/audit", b"target=%C3", "query"),
    (b"/v1/admin/audit", b"target=a%7fb", "query")])
def test_control_characters_and_bad_utf8_in_the_url_are_named(raw_path, query, where):
    assert url_problem({"raw_path": raw_path, "query_string": query})["loc"] == [where]


@pytest.mark.parametrize(("raw_path", "query"), [
    (b"/v1/sessions/abc", b""), (b"/take/%D0%B0", b""),
    (b"/v1/reports/group", b"since=2026-01-01T00%3A00%3A00%2B05%3A00&language=kk")])
def test_printable_utf8_urls_pass(raw_path, query):
    assert url_problem({"raw_path": raw_path, "query_string": query}) is None


# -- over HTTP, on each backend --------------------------------------------------------------------
@pytest.fixture(scope="module", params=BACKENDS)
def served(request, tmp_path_factory):
    yield from served_on(request, tmp_path_factory)


def _routes(base: str, session: dict) -> list[tuple[str, str, dict, str]]:
    """(role, url, a valid body, the field to spoil) for every route that takes a JSON body."""
    s = f"{base}/v1/sessions/{session['id']}"
    return [
        ("operator", f"{base}/v1/candidates", {"display_name": "A"}, "display_name"),
        ("operator", f"{base}/v1/sessions", {"candidate_id": session["candidate_id"],
                                             "level": "middle", "language": "ru",
                                             "time_limit_s": 60}, "time_limit_s"),
        ("candidate", f"{s}/answers", {"position": 1, "item_id": "X", "code": 0,
                                       "response_time_s": 2.5}, "response_time_s"),
        ("candidate", f"{s}/answers", {"position": 1, "item_id": "X", "code": 0}, "item_id"),
        ("operator", f"{s}/pause", {"reason": "r"}, "reason"),
        ("operator", f"{s}/extra-time", {"seconds": 60}, "seconds"),
        ("operator", f"{s}/incidents", {"note": "n"}, "note"),
        ("operator", f"{s}/terminate", {"reason": "r"}, "reason"),
        ("psychometrician", f"{base}/v1/admin/keys", {"role": "operator", "label": "l"}, "label"),
        ("psychometrician", f"{base}/v1/admin/calibrations", {"min_responses": 5},
         "min_responses"),
        ("psychometrician", f"{base}/v1/admin/bank", {"format": "qabilet-bank"}, "format"),
        ("psychometrician", f"{base}/v1/admin/versions", {"model": "2pl", "items": []}, "model")]


def _headers(served, session: dict, role: str) -> dict[str, str]:
    who = {"X-Session-Token": session["token"]} if role == "candidate" else staff(served.keys, role)
    return {**who, "Content-Type": "application/json"}


def test_nonfinite_numbers_surrogates_and_nul_in_any_body_are_422_naming_the_field(served):
    """Defect 4: each gave 500 (the validation error echoed the value and could not render it)."""
    session = start_session(served.base, served.keys)
    wrong = []
    with httpx.Client(timeout=30) as client:
        for role, url, body, field in _routes(served.base, session):
            for token, kind in HOSTILE_TOKENS.items():
                r = client.post(url, content=with_token(dict(body), (field,), token),
                                headers=_headers(served, session, role))
                detail = r.json()["detail"] if r.status_code == 422 else None
                if not (detail and detail[0]["loc"] == ["body", field]
                        and detail[0]["type"] == kind and len(r.content) < 600):
                    wrong.append(f"{url} {field}={token[:20]}: {r.status_code} {r.text[:200]}")
    assert not wrong, "\n".join(wrong)


def test_nul_and_bad_utf8_in_the_url_are_refused_before_any_lookup(served):
    """Defect 4: ``GET /v1/sessions/x%00`` with a made-up token was a 500 on PostgreSQL."""
    cases = [("/v1/sessions/x%00", {"X-Session-Token": "made-up"}),
             ("/v1/sessions/x%00/item", {"X-Session-Token": "made-up"}),
             ("/v1/sessions/%ed%a0%80", staff(served.keys)),
             ("/v1/sessions/x%00/events", staff(served.keys)),
             ("/v1/admin/audit?target=%00", staff(served.keys, "psychometrician")),
             ("/v1/admin/audit?target=%ff", staff(served.keys, "psychometrician")),
             ("/take/x%00", {})]
    for path, headers in cases:
        r = httpx.get(served.base + path, headers=headers)
        assert r.status_code == 422, (path, r.status_code, r.text)
        assert r.json()["detail"][0]["loc"] == ["query" if "?" in path else "path"]


@pytest.mark.parametrize(("field", "value"), [
    ("position", "1"), ("code", True), ("code", 1.0), ("position", True),
    ("response_time_s", True), ("response_time_s", "3")])
def test_answers_take_no_string_or_boolean_for_a_number(served, field, value):
    """Defect 7: ``"position": "1"`` and ``"code": true`` were taken as integers."""
    session = start_session(served.base, served.keys)
    me = {"X-Session-Token": session["token"]}
    url = f"{served.base}/v1/sessions/{session['id']}"
    item = httpx.get(f"{url}/item", headers=me).json()
    answer = {"position": item["position"], "item_id": item["item_id"], "code": 0,
              "response_time_s": 3}  # an integer for a float is a number: taken
    r = httpx.post(f"{url}/answers", headers=me, json={**answer, field: value})
    assert r.status_code == 422, r.text
    assert [p["loc"] for p in r.json()["detail"]] == [["body", field]]
    assert httpx.post(f"{url}/answers", headers=me, json=answer).status_code == 200


def test_staff_bodies_are_strict_too(served):
    op, ps = staff(served.keys), staff(served.keys, "psychometrician")
    candidate = httpx.post(f"{served.base}/v1/candidates", headers=op, json={}).json()["id"]
    refused = [
        (f"{served.base}/v1/sessions", op, {"candidate_id": candidate, "level": "middle",
                                            "language": "ru", "time_limit_s": True}),
        (f"{served.base}/v1/candidates", op, {"display_name": 5}),
        (f"{served.base}/v1/admin/calibrations", ps, {"min_responses": "5"}),
        (f"{served.base}/v1/admin/calibrations", ps, {"bank_version": True})]
    for url, headers, body in refused:
        r = httpx.post(url, headers=headers, json=body)
        assert r.status_code == 422 and len(r.json()["detail"]) == 1, (url, body, r.text)


def test_validation_errors_name_the_field_and_never_echo_the_value(served):
    op = staff(served.keys)
    long_name = "Ж" * 5_000  # 10 kB: under the body limit
    r = httpx.post(f"{served.base}/v1/candidates", headers=op, json={"display_name": long_name})
    assert r.status_code == 422 and len(r.content) < 600 and "ЖЖЖЖЖЖЖЖЖЖЖЖЖЖЖЖЖЖЖЖЖЖЖЖЖЖЖЖЖЖЖЖЖЖ" not in r.text
    problem = r.json()["detail"][0]
    assert problem["loc"] == ["body", "display_name"] and "200" in problem["msg"]
    assert "(5000 characters)" in problem["got"]
    unknown = httpx.post(f"{served.base}/v1/candidates", headers=op, json={"x" * 5000: 1})
    assert unknown.status_code == 422 and len(unknown.content) < 600
    # a body that is not JSON, sent as text: was a 500 (its bytes could not be rendered)
    raw = httpx.post(f"{served.base}/v1/candidates", content=b"\xff\xfe\x00",
                     headers={**op, "Content-Type": "text/plain"})
    assert raw.status_code == 422 and raw.json()["detail"][0]["loc"] == ["body"]
    # cut short: FastAPI's decoding error (a 400 before), in the same form
    cut = httpx.post(f"{served.base}/v1/candidates", content=b'{"display_name": ',
                     headers={**op, "Content-Type": "application/json"})
    assert cut.status_code == 422 and cut.json()["detail"][0]["type"] == "json_invalid"


def test_a_value_the_database_refuses_is_a_422_and_a_defect_is_raised_on():
    """The last line of defence: a DataError (NUL in PostgreSQL text, an integer out of range)."""
    import asyncio

    from sqlalchemy.exc import DataError, IntegrityError, StatementError
    from starlette.requests import Request

    from qabilet.api.edge import database_refused

    request = Request({"type": "http", "method": "POST", "path": "/v1/candidates",
                       "headers": [], "query_string": b""})
    for refused in (DataError("INSERT …", {}, ValueError("text fields cannot contain NUL")),
                    StatementError("bind", "INSERT …", {}, OverflowError("int too large"))):
        response = asyncio.run(database_refused(request, refused))
        assert response.status_code == 422 and b"database_refused" in response.body
        assert b"INSERT" not in response.body  # neither the statement nor its parameters
    defect = IntegrityError("INSERT …", {}, ValueError("duplicate key"))
    with pytest.raises(IntegrityError):
        asyncio.run(database_refused(request, defect))
