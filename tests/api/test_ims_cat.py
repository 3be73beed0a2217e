"""The IMS CAT interface driven as TAO's client drives it, over real HTTP.

Whole adaptive tests run through the interface (``tests/api/_tao_client.py``: the paths, bodies
and state handling of ``oat-sa/lib-test-cat``'s ``ims/v1p3`` classes) give the same item
sequence, and the same profile, as qabilet's own API for the same answers; a stale or forged
session state, another key's section, a bad configuration and a bad score are refused with the
field named, and a refused request leaves the session's log as it was.

The sequences are compared on a blueprint without chance in it (no random start, no exposure
control), so that two sessions given the same answers must meet the same items: the demonstration
blueprint's, with those two rules changed, over three of its sections.
"""

from __future__ import annotations

import base64
import json
import shutil
from datetime import timedelta

import httpx
import numpy as np
import pytest

from qabilet.engine.simulation import simulate_responses
from qabilet.itembank.database import connect
from qabilet.itembank.repository import BankRepository
from qabilet.itembank.session_store import SessionStore
from qabilet.itembank.versions import scale_bank
from tests.api._server import Server
from tests.api._tao_client import CatEngine, CatEngineError, CatSession, php_json, score_result

SECTIONS = ("transparency", "accountability", "initiative")


@pytest.fixture(scope="module")
def cat(demo_db_file, tmp_path_factory):
    path = tmp_path_factory.mktemp("ims-cat") / "bank.db"
    shutil.copy(demo_db_file, path)
    url = f"sqlite:///{path}"
    engine = connect(url)
    repo = BankRepository(engine)
    newest = repo.blueprint("middle")
    steady = [s.model_copy(update={"rules": {
        **{k: v for k, v in s.rules.items() if not k.startswith("sh_")},
        "exposure": "none", "start_candidates": 1}}) for s in newest.sections if s.name in SECTIONS]
    fixed = repo.add_blueprint("middle", newest.bank_version, steady, label="no chance")
    store = SessionStore(engine)
    keys = {"platform": store.create_api_key("operator", "TAO"),
            "other": store.create_api_key("operator", "another platform")}
    server = Server(url).start()
    yield {"base": server.base, "keys": keys, "repo": repo, "store": store,
           "blueprint": fixed.number, "version": repo.version(fixed.bank_version)}
    server.stop()
    engine.dispose()


def _client(cat, who: str = "platform") -> httpx.Client:
    return httpx.Client(headers={"Authorization": f"Bearer {cat['keys'][who]}"}, timeout=60)


def _settings(cat, **more) -> str:
    return json.dumps({"level": "middle", "language": "kk", "blueprint": cat["blueprint"], **more})


class Candidate:
    """Answers from a true θ per dimension, each item's answer fixed by the candidate's seed."""

    def __init__(self, cat, seed: int) -> None:
        version, repo = cat["version"], cat["repo"]
        self.params, self.codes = version.parameters, version.parameters.recodings()
        self.dimension = {i.id: i.dimension for i in repo.items(version=version.number)}
        self.seed = seed
        self.theta = dict(zip(version.dimensions, np.random.default_rng(seed).normal(
            0, 1.2, len(version.dimensions)).tolist(), strict=True))

    def code(self, item_id: str) -> int:
        dim = self.dimension[item_id]
        model = scale_bank(self.params, [dim], [item_id])
        salt = int.from_bytes(item_id.encode(), "little") % 2**31
        category = int(simulate_responses(model, [self.theta[dim]], [self.seed, salt])[0, 0])
        codes = self.codes.get(item_id)
        return int(codes[category]) if codes else category


def _through_the_interface(cat, who: Candidate) -> tuple[list[str], CatSession]:
    """A whole test as TAO runs it: deliver the next items, post their SCORE, until none come."""
    with _client(cat) as client:
        section = CatEngine(f"{cat['base']}/ims/cat", "v1p3", client).setup_section(
            _settings(cat), qti_usage="<usage/>", qti_meta="<meta/>")
        session = section.init_session({}, {"sourcedId": f"taker-{who.seed}"})
        given: list[str] = []
        items = session.next_items
        while items:
            assert session.stage_length == 1 and len(items) == 1
            item_id, _, language = items[0].rpartition(".")
            assert language == "kk"
            given.append(item_id)
            items = session.get_test_map([score_result(items[0], who.code(item_id))])
    return given, session


def _through_the_api(cat, who: Candidate, seed: int) -> tuple[list[str], dict]:
    """The same candidate through qabilet's own API, in a session drawn with the same ``seed``.

    A session's seed orders its sections and breaks its ties; the API draws it, so this one
    session is made in the store, with the interface's session's seed, and then taken wholly
    through the API.
    """
    store, repo = cat["store"], cat["repo"]
    version = cat["version"].number
    session, token = store.create_session(
        candidate_id=store.add_candidate(), level="middle", language="kk", bank_version=version,
        norm_set=repo.norm_set(bank_version=version).number, blueprint_number=cat["blueprint"],
        token_ttl=timedelta(hours=1), seed=seed)
    with _client(cat) as client:
        base, me, given = cat["base"], {"X-Session-Token": token}, []
        while not (item := client.get(f"{base}/v1/sessions/{session.id}/item", headers=me).json()
                   )["finished"]:
            given.append(item["item_id"])
            r = client.post(f"{base}/v1/sessions/{session.id}/answers", headers=me, json={
                "position": item["position"], "item_id": item["item_id"],
                "code": who.code(item["item_id"])})
            assert r.status_code == 200, r.text
        profile = client.get(f"{base}/v1/sessions/{session.id}/profile")
        assert profile.status_code == 200, profile.text
    return given, profile.json()


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_a_whole_test_through_the_interface_is_the_apis_test(cat, seed):
    who = Candidate(cat, seed)
    via_cat, session = _through_the_interface(cat, who)
    via_api, profile = _through_the_api(cat, who, cat["store"].session(session.session_id).seed)
    assert via_cat == via_api
    assert len(via_cat) >= 3 * 5  # each section gave its minimum at least
    # the session is qabilet's own: its log holds every answer, once, at its position
    events = [e for e in cat["store"].events(session.session_id) if e.kind == "answer"]
    assert [e.payload["item_id"] for e in events] == via_cat
    assert [e.payload["code"] for e in events] == [who.code(i) for i in via_cat]
    # and the test's outcome variables are its profile's, equal to the API session's
    for d in [*profile["professional"], *profile["personal"]]:
        name = d["dimension"].upper()
        assert float(session.outcome(f"THETA_{name}")) == pytest.approx(d["theta"], abs=1e-12)
        assert float(session.outcome(f"SE_{name}")) == pytest.approx(d["sd"], abs=1e-12)
        assert int(session.outcome(f"STEN_{name}")) == d["sten"]


def _started(cat) -> tuple[httpx.Client, CatSession]:
    client = _client(cat)
    section = CatEngine(f"{cat['base']}/ims/cat", "v1p3", client).setup_section(_settings(cat))
    return client, section.init_session()


def _post(session: CatSession, body: str) -> httpx.Response:
    return session.engine.client.post(
        session.engine.url(f"sections/{session.section_id}/sessions/{session.session_id}/results"),
        content=body, headers={"Content-Type": "application/json"})


def test_stale_and_forged_states_are_refused_and_a_retry_is_answered(cat):
    client, session = _started(cat)
    first = session.next_items[0]
    stale_state = session.session_state
    answered = score_result(first, 2)
    retry_body = session.results_body([answered])
    second = session.get_test_map([answered])
    newest = session.session_state
    log = cat["store"].events(session.session_id)

    # the same results with the state they were sent with: a retry, answered as before
    again = _post(session, retry_body)
    assert again.status_code == 200, again.text
    assert again.json()["nextItems"]["itemIdentifiers"] == second
    # other results with that stale state: refused, and nothing is written
    session.session_state = stale_state
    other = _post(session, session.results_body([score_result(first, 0)]))
    assert other.status_code == 409, other.text
    empty = _post(session, session.results_body([]))
    assert empty.status_code == 409 and "stale" in empty.json()["detail"]

    forged = [newest[:-2] + ("AA" if not newest.endswith("AA") else "BB"),  # signature changed
              "v1." + base64.urlsafe_b64encode(json.dumps(
                  {"s": session.session_id, "p": 5}).encode()).decode().rstrip("=")
              + "." + newest.rsplit(".", 1)[1],  # another position under the old signature
              "not a state"]
    for state in forged:
        session.session_state = state
        r = _post(session, session.results_body([score_result(second[0], 1)]))
        assert r.status_code == 422 and "sessionState" in r.json()["detail"], r.text
    _, elsewhere = _started(cat)  # a genuine state, of another session
    session.session_state = elsewhere.session_state
    r = _post(session, session.results_body([score_result(second[0], 1)]))
    assert r.status_code == 422 and "another session" in r.json()["detail"]
    assert cat["store"].events(session.session_id) == log

    session.session_state = newest  # the genuine one goes on
    assert session.get_test_map([score_result(second[0], 1)])
    client.close()


def test_scores_are_read_as_the_options_codes(cat):
    client, session = _started(cat)
    item = session.next_items[0]
    bad = [({"value": [{"baseType": "FLOAT", "value": 2.5}]}, "integer"),
           ({"value": [{"baseType": "INTEGER", "value": 99}]}, "choices"),
           ({"value": [{"baseType": "INTEGER", "value": -1}]}, "integer"),
           ({"value": [{"baseType": "STRING", "value": "agree"}]}, "integer")]
    log = cat["store"].events(session.session_id)
    for variable, said in bad:
        body = json.loads(session.results_body([score_result(item, 0)]))
        body["assessmentResult"]["itemResult"][0]["outcomeVariables"][0].update(variable)
        r = _post(session, php_json(body))
        assert r.status_code == 422, r.text
        assert "assessmentResult.itemResult[0]" in r.json()["detail"] and said in r.json()["detail"]
    body = json.loads(session.results_body([score_result(item, 0)]))
    del body["assessmentResult"]["itemResult"][0]["outcomeVariables"]
    r = _post(session, php_json(body))
    assert r.status_code == 422 and "SCORE" in r.json()["detail"]
    no_language = _post(session, session.results_body([score_result(item.rsplit(".", 1)[0], 0)]))
    assert no_language.status_code == 422 and "<item>.<language>" in no_language.json()["detail"]
    wrong_item = _post(session, session.results_body([score_result("TRN-L99.kk", 0)]))
    assert wrong_item.status_code == 409, wrong_item.text
    assert cat["store"].events(session.session_id) == log
    # a score sent as text or as a whole float is the same code
    body = json.loads(session.results_body([score_result(item, 0)]))
    body["assessmentResult"]["itemResult"][0]["outcomeVariables"][0]["value"] = [
        {"baseType": "FLOAT", "value": "3.0"}]
    assert _post(session, php_json(body)).status_code == 200
    answer = [e for e in cat["store"].events(session.session_id) if e.kind == "answer"]
    assert [(e.payload["item_id"], e.payload["code"]) for e in answer] == [
        (item.rsplit(".", 1)[0], 3)]
    client.close()


def test_sections_are_their_keys_and_their_configuration_is_checked(cat):
    client, session = _started(cat)
    base = f"{cat['base']}/ims/cat/v1p3"
    with _client(cat, "other") as other:
        assert other.get(f"{base}/sections/{session.section_id}").status_code == 404
        r = other.post(f"{base}/sections/{session.section_id}/sessions/{session.session_id}/results",
                       content=session.results_body([score_result(session.next_items[0], 1)]),
                       headers={"Content-Type": "application/json"})
        assert r.status_code == 404
        assert other.post(f"{base}/sections/{session.section_id}/sessions", json={}
                          ).status_code == 404
    shown = client.get(f"{base}/sections/{session.section_id}").json()
    assert shown["blueprint"] == cat["blueprint"] and shown["sectionConfiguration"]["language"] == "kk"

    def refused(settings: str | None, said: str, raw: str | None = None) -> None:
        body = {"sectionConfiguration": raw if raw is not None
                else base64.b64encode(settings.encode()).decode(), "qtiMetadata": "",
                "qtiUsagedata": ""}
        r = client.post(f"{base}/sections", content=php_json(body),
                        headers={"Content-Type": "application/json"})
        assert r.status_code == 422, r.text
        assert said in r.json()["detail"], r.text

    refused(None, "sectionConfiguration: expected base64", raw="not base64!")
    refused("level=middle", "sectionConfiguration: expected base64 of a JSON object")
    refused(_settings(cat, levle="high"), "sectionConfiguration.levle")
    refused(json.dumps({"level": "middle", "language": "de"}), "sectionConfiguration.language")
    refused(json.dumps({"level": "middle", "language": "kk", "blueprint": 1}), "forced-choice")
    refused(json.dumps({"level": "middle", "language": "kk", "bankVersion": 99}),
            "sectionConfiguration.bankVersion")
    refused(_settings(cat, testCentre="TC-NOWHERE"), "sectionConfiguration.testCentre")

    # an ended section opens no session; its sessions go on
    assert client.delete(f"{base}/sections/{session.section_id}").status_code == 204
    assert client.post(f"{base}/sections/{session.section_id}/sessions", json={}
                       ).status_code == 409
    assert session.get_test_map([score_result(session.next_items[0], 1)])
    # the platform ends its session: the profile is issued, and the session says so
    end = client.delete(f"{base}/sections/{session.section_id}/sessions/{session.session_id}")
    assert end.status_code == 204
    with pytest.raises(CatEngineError) as over:
        session.get_test_map([score_result(session.next_items[0], 1)])
    assert over.value.response.status_code == 409
    assert "over" in over.value.response.json()["detail"]
    client.close()
