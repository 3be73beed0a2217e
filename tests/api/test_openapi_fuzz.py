"""Fuzzing every route of the served OpenAPI document over real HTTP, on SQLite and PostgreSQL.

Two passes per backend, each request counted (the figures are printed, and written to
``test-artifacts/fuzz-counts.json``):

1. schemathesis, positive and negative generation, with staff keys: no response is a server
   error (5xx), and a response to a valid request matches its documented status codes, content
   type and schema;
2. hostile requests (hypothesis, on top of schemathesis' cases): one value of the case — in its
   JSON body at any depth, a path parameter or a query parameter — replaced by NaN, Infinity, a
   number that overflows, an integer beyond 64 bits, text with NUL or a lone surrogate, an
   oversized string; or the body replaced by bytes that are not UTF-8 JSON, under varied content
   types; half of the session routes on a real session, some as its candidate. No 5xx, and every
   422 is a short body.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api._hostile import HOSTILE_TOKENS, hostile_text, hostile_values, leaf_paths, with_token
from tests.api._served import BACKENDS, served_on
from tests.api._server import start_session

CHECKS = {GenerationMode.POSITIVE: [not_a_server_error, status_code_conformance,
                                    content_type_conformance, response_schema_conformance],
          GenerationMode.NEGATIVE: [not_a_server_error, status_code_conformance]}
#: generated requests per operation (per generation mode for schemathesis)
EXAMPLES = {"schemathesis": 20, "hostile": 25}
#: fewer for the staff account's actions (``/v1/attestation/accounts/{username}/…``): five
#: routes of one shape — an account's name, a small body or none — that the fuzzing keys'
#: roles are all refused alike; every one is still fuzzed, on both backends
REPETITIVE = ("/v1/attestation/accounts/", {"schemathesis": 5, "hostile": 6})
#: a response may take long on a loaded machine (a version's technical report)
TIMEOUT_S = 120
COUNTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "fuzz-counts.json"
#: bodies that are not UTF-8 JSON, or not JSON at all
RAW_BODIES = [b"\xff\xfe\x00{", b'{"a": "\xed\xa0\x80"}', b'{"a": "\xc3"}', b"{", b"[" * 3000,
              b"\x00", b'{"a": 1}\x00', b"null", b"", "{\"ключ\": \"мән\"}".encode("utf-16")]
CONTENT_TYPES = ["application/json", "application/json", "application/json; charset=latin-1",
                 "application/problem+json", "text/plain", None]


@pytest.fixture(scope="module", params=BACKENDS)
def served(request, tmp_path_factory):
    yield from served_on(request, tmp_path_factory)


@pytest.fixture(scope="module")
def operations(served):
    schema = schemathesis.openapi.from_url(f"{served.base}/openapi.json")
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) >= 25
    return found


def _negatable(operation) -> bool:
    """True if an invalid request can be made: a body, a query, or a constrained path parameter.

    (Free-text path parameters and headers admit every string; hypothesis would search in vain.)
    """
    def constrained(schema: dict) -> bool:
        return schema.get("type") != "string" or bool(set(schema) - {"type", "title",
                                                                     "description"})

    return bool(list(operation.body) or list(operation.query)) or any(
        constrained(p.definition.get("schema", {})) for p in operation.path_parameters)


def _examples(operation, kind: str) -> int:
    """How many requests to generate for ``operation`` in the pass ``kind``."""
    prefix, fewer = REPETITIVE
    return fewer[kind] if operation.path.startswith(prefix) else EXAMPLES[kind]


def _role(path: str) -> str:
    return "psychometrician" if path.startswith("/v1/admin") else "operator"


def _record(backend: str, kind: str, requests_sent: int, server_errors: int) -> None:
    """Print the figures and keep them in :data:`COUNTS` (by backend and pass)."""
    COUNTS.parent.mkdir(exist_ok=True)
    counts = json.loads(COUNTS.read_text()) if COUNTS.exists() else {}
    counts.setdefault(backend, {})[kind] = {"requests": requests_sent, "5xx": server_errors}
    COUNTS.write_text(json.dumps(counts, indent=2, sort_keys=True) + "\n")
    print(f"\nfuzz[{backend}] {kind}: {requests_sent} requests, {server_errors} server errors")


def test_schemathesis_finds_no_server_error_and_responses_match_the_schema(served, operations,
                                                                          capsys):
    """Every operation, positive and negative cases, with the staff keys."""
    sent, server_errors, failures = 0, 0, []
    http = requests.Session()
    for operation in operations:
        headers = {"Authorization": f"Bearer {served.keys[_role(operation.path)]}"}
        for mode, checks in CHECKS.items():
            if mode is GenerationMode.NEGATIVE and not _negatable(operation):
                continue

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=_examples(operation, "schemathesis"), deadline=None,
                      database=None, derandomize=True, suppress_health_check=list(HealthCheck))
            def fuzz(case):
                nonlocal sent, server_errors
                response = case.call(session=http, headers=headers,  # noqa: B023 - run at once
                                     timeout=TIMEOUT_S)
                sent += 1
                server_errors += response.status_code >= 500
                case.validate_response(response, checks=checks)  # noqa: B023

            try:
                fuzz()
            except (Exception, BaseExceptionGroup) as exc:  # every operation is tried, all reported
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    http.close()
    with capsys.disabled():
        _record(served.backend, "schemathesis", sent, server_errors)
    assert not failures, "\n\n".join(failures)


def _url_text() -> st.SearchStrategy[str]:
    """Hostile text for a path or query parameter."""
    return st.one_of(hostile_text, st.sampled_from(["\x00", "\x7f", "a\nb", "\udc00", "x" * 20_000]),
                     st.text(max_size=40))


@st.composite
def _hostile_request(draw, operation, sessions: list[dict], keys: dict[str, str]):
    """(method, URL path with query, headers, body) of one hostile request to ``operation``."""
    case = draw(operation.as_strategy())
    params = {k: str(v) for k, v in (case.path_parameters or {}).items()}
    query = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (case.query or {}).items()}
    headers = {"Authorization": f"Bearer {keys[_role(operation.path)]}"}
    if "session_id" in params and draw(st.booleans()):
        session = draw(st.sampled_from(sessions))
        params["session_id"] = session["id"]
        if draw(st.booleans()):
            headers = {"X-Session-Token": session["token"]}
    body = case.body if isinstance(case.body, dict | list) else {}
    places = ["body"] * 3 + ["path"] * bool(params) + ["query"] * bool(operation.query)
    place = draw(st.sampled_from(places))
    content = json.dumps(body).encode() if case.body is not None or place == "body" else None
    if place == "body":
        how = draw(st.sampled_from(["token", "value", "raw"]))
        path = draw(st.sampled_from(leaf_paths(body)))
        if how == "token":
            content = with_token(body, path, draw(st.sampled_from(sorted(HOSTILE_TOKENS))))
        elif how == "value":
            value, _ = draw(hostile_values | st.just(("x" * 20_000, "")))
            content = with_token(body, path, json.dumps(value, allow_nan=True))
        else:
            content = draw(st.sampled_from(RAW_BODIES) | st.binary(max_size=64))
    elif place == "path":
        params[draw(st.sampled_from(sorted(params)))] = draw(_url_text())
    else:
        query[draw(st.sampled_from(sorted(q.name for q in operation.query)))] = draw(_url_text())
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    if content is not None and content_type is not None:
        headers["Content-Type"] = content_type
    url = operation.path
    for name, value in params.items():
        url = url.replace("{" + name + "}", quote(value.encode("utf-8", "surrogatepass"), safe=""))
    if query:
        url += "?" + urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in query.items()})
    return operation.method.upper(), url, headers, content


def test_hostile_values_anywhere_never_give_a_server_error(served, operations, capsys):
    """One value of each generated request made hostile; no 5xx, every 422 short."""
    sessions = [start_session(served.base, served.keys) for _ in range(2)]
    sent, server_errors, failures = 0, 0, []
    with httpx.Client(base_url=served.base, timeout=TIMEOUT_S) as client:
        for operation in operations:

            @given(request=_hostile_request(operation, sessions, served.keys))
            @settings(max_examples=_examples(operation, "hostile"), deadline=None, database=None,
                      derandomize=True, suppress_health_check=list(HealthCheck))
            def fuzz(request):
                nonlocal sent, server_errors
                method, url, headers, content = request
                response = client.request(method, url, headers=headers, content=content)
                sent += 1
                server_errors += response.status_code >= 500
                assert response.status_code < 500, (method, url[:200], content and content[:200],
                                                    response.status_code, response.text[:300])
                if response.status_code == 422:
                    assert len(response.content) < 8_000, (method, url[:200], response.text[:300])

            try:
                fuzz()
            except (Exception, BaseExceptionGroup) as exc:  # every operation is tried, all reported
                failures.append(f"{operation.label}: {exc}")
    with capsys.disabled():
        _record(served.backend, "hostile", sent, server_errors)
    assert not failures, "\n\n".join(failures)
