"""A delivery platform's client of the IMS CAT interface, as TAO's ``oat-sa/lib-test-cat`` sends it.

The classes ``oat\\libCat\\ims\\v1p3\\CatEngine``, ``CatSection`` and ``CatSession`` (with the
``ResultFormatter`` and ``SessionContext`` they use) re-told in Python: the same paths (the
endpoint, the version, then ``sections``, ``sections/{id}/sessions``,
``sections/{id}/sessions/{id}/results``), the same bodies byte for byte as PHP's
``json_encode`` writes them (no spaces, ``/`` escaped, non-ASCII as ``\\uXXXX``), the same
state handling (the last ``sessionState`` sent back with the next results, only ``SCORE``
variables forwarded, results only when there are some), and the same failure on any status
that is not 2xx. Written here from the client's behaviour, for the tests.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx


class CatEngineError(Exception):
    """What the PHP client throws on a status that is not 2xx (``CatEngineConnectivityException``)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"{response.status_code} {response.text[:300]}")
        self.response = response


def php_json(value: Any) -> str:
    """``json_encode($value)`` with PHP's default flags."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/")


def _b64(text: str | None) -> str:
    """PHP's ``base64_encode`` (of null: the empty string)."""
    return base64.b64encode((text or "").encode()).decode()


@dataclass
class CatEngine:
    """``CatEngine($endpoint, $version, $client)``: ``call`` posts a JSON string and decodes the answer."""

    endpoint: str
    version: str
    client: httpx.Client

    def url(self, path: str) -> str:
        base = self.endpoint.rstrip("/")
        return f"{base}/{self.version}/{path}" if self.version else f"{base}/{path}"

    def call(self, path: str, method: str = "POST", data: str | None = None) -> Any:
        r = self.client.request(method, self.url(path), content=data,
                                headers={"Content-Type": "application/json"})
        if not 200 <= r.status_code < 300:
            raise CatEngineError(r)
        return r.json()

    def setup_section(self, settings: str, qti_usage: str | None = None,
                      qti_meta: str | None = None) -> CatSection:
        return CatSection.create(self, settings, qti_usage, qti_meta)


@dataclass
class CatSection:
    """``CatSection``: created by ``POST sections`` with the base64 settings."""

    engine: CatEngine
    section_id: str

    @classmethod
    def create(cls, engine: CatEngine, settings: str, qti_usage: str | None,
               qti_meta: str | None) -> CatSection:
        result = engine.call("sections", "POST", php_json({
            "qtiMetadata": _b64(qti_meta), "qtiUsagedata": _b64(qti_usage),
            "sectionConfiguration": _b64(settings)}))
        if not result.get("sectionIdentifier"):
            raise AssertionError("Unable create CatSection. Section identifier is not defined")
        return cls(engine, result["sectionIdentifier"])

    def init_session(self, configuration: dict[str, Any] | None = None,
                     context: dict[str, Any] | None = None) -> CatSession:
        data = dict(configuration or {})
        data.setdefault("priorData", []).append({"key": "initialEstimatedAbility",
                                                 "value": "0.0"})
        answer = self.engine.call(f"sections/{self.section_id}/sessions", "POST", php_json(data))
        return CatSession(self.engine, self.section_id, answer, context or {})


@dataclass
class ItemResult:
    """An item's result as the platform's response processing left it."""

    item_ref_id: str
    variables: list[dict[str, Any]]  # {"identifier", "type", "value", "cardinality", "variableType"}
    timestamp: float = field(default_factory=lambda: datetime.now(UTC).timestamp())


def score_result(item_ref_id: str, code: Any, *, with_response: bool = True) -> ItemResult:
    """What TAO reports for an answered preference item: its ``SCORE`` (and its ``RESPONSE``)."""
    variables = [{"identifier": "SCORE", "type": "integer", "value": code,
                  "cardinality": "single", "variableType": "outcome"}]
    if with_response:
        variables.append({"identifier": "RESPONSE", "type": "identifier", "value": "choice_x",
                          "cardinality": "single", "variableType": "response"})
    return ItemResult(item_ref_id, variables)


class CatSession:
    """``CatSession``: holds the next items and the state; ``get_test_map`` posts results."""

    def __init__(self, engine: CatEngine, section_id: str, data: dict[str, Any],
                 context: dict[str, Any]) -> None:
        self.engine, self.section_id = engine, section_id
        self.session_id = data["sessionIdentifier"]
        self.next_items = data["nextItems"]["itemIdentifiers"]
        self.stage_length = data["nextItems"]["stageLength"]
        self.assessment_result = data.get("assessmentResult") or []
        self.session_state = data["sessionState"]
        self.context = {"sourcedId": context.get("sourcedId"),
                        "sessionIdentifiers": context.get("sessionIdentifiers", [])}

    def results_body(self, results: list[ItemResult]) -> str:
        """``ResultFormatter::formatResultData``: only SCORE variables, filed by their kind."""
        formatted = []
        for result in results:
            item: dict[str, Any] = {
                "identifier": result.item_ref_id,
                "datestamp": datetime.fromtimestamp(result.timestamp, UTC).strftime(
                    "%Y-%m-%dT%H:%M:%S%z"),
                "sessionStatus": "FINAL"}
            for v in result.variables:
                if v["identifier"].lower() != "score":
                    continue
                values = v["value"] if isinstance(v["value"], list) else [v["value"]]
                item.setdefault(f"{v['variableType']}Variables", []).append({
                    "identifier": v["identifier"], "cardinality": v["cardinality"],
                    "value": [{"baseType": v["type"].upper(), "value": x} for x in values]})
            formatted.append(item)
        return php_json({"assessmentResult": {"context": self.context, "itemResult": formatted},
                         "sessionState": self.session_state})

    def get_test_map(self, results: list[ItemResult] | None = None) -> list[str]:
        if results and self.session_state is not None:
            data = self.engine.call(
                f"sections/{self.section_id}/sessions/{self.session_id}/results", "POST",
                self.results_body(results))
            if not data:
                raise AssertionError("Empty response from CAT engine")
            self.next_items = data["nextItems"]["itemIdentifiers"]
            self.stage_length = data["nextItems"]["stageLength"]
            if "assessmentResult" in data:
                self.assessment_result = data["assessmentResult"]
            self.session_state = data["sessionState"]
        return self.next_items if isinstance(self.next_items, list) else []

    def outcome(self, identifier: str) -> Any:
        """A test outcome variable's value (``prepareResults``' view of ``testResult``)."""
        for v in (self.assessment_result or {}).get("testResult", {}).get("outcomeVariables", []):
            if v["identifier"] == identifier:
                return v["value"][0]["value"]
        raise KeyError(identifier)
