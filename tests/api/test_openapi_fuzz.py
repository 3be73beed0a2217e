"""schemathesis against the served OpenAPI document: generated requests to every operation, with
staff keys; no response is a server error (5xx), and every response matches its documented status
codes, content type and schema."""

from __future__ import annotations

import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api._server import Server, staff_keys

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def served(demo_db_file, tmp_path_factory):
    copy = tmp_path_factory.mktemp("fuzz") / "demo.db"
    shutil.copy(demo_db_file, copy)
    url = f"sqlite:///{copy}"
    keys = staff_keys(url)
    server = Server(url).start()
    yield server.base, keys
    server.stop()


def test_no_server_errors_and_responses_match_the_schema(served):
    """Every operation, 30 generated requests each (valid and invalid bodies, paths, queries)."""
    base, keys = served
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    failures = []
    for operation in operations:
        role = "psychometrician" if operation.path.startswith("/v1/admin") else "operator"
        headers = {"Authorization": f"Bearer {keys[role]}"}

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case):
            case.call_and_validate(headers=headers, checks=CHECKS)  # noqa: B023 - run at once

        try:
            fuzz()
        except (Exception, BaseExceptionGroup) as exc:  # every operation is tried; all are reported
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
