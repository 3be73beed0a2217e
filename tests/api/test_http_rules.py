"""The server's rules over real HTTP: time limits kept by the server (also while nobody asks),
the proctor's actions in the log and the audit trail, answers recorded for calibration, and the
psychometricians' admin routes."""

from __future__ import annotations

import csv
import io
import time

import httpx
import numpy as np

from tests.api._server import answer_current, staff, start_session


def _get(base, session, path=""):
    return httpx.get(f"{base}/v1/sessions/{session['id']}{path}",
                     headers={"X-Session-Token": session["token"]}).json()


def test_an_items_time_runs_out_while_nobody_asks_and_the_next_item_follows(server):
    base, keys = server
    s = start_session(base, keys, item_time_limit_s=1.0)
    first = _get(base, s, "/item")  # the candidate's first view starts the clock
    assert 0 < first["item_remaining_s"] <= 1.0
    time.sleep(2.3)  # disconnected: two items' time passes
    now = _get(base, s, "/item")
    assert now["position"] == 3 and now["answered"] == 0
    late = httpx.post(f"{base}/v1/sessions/{s['id']}/answers",
                      headers={"X-Session-Token": s["token"]},
                      json={"position": 1, "item_id": first["item_id"], "code": 0})
    assert late.status_code == 409 and "ran out" in late.json()["detail"]
    events = httpx.get(f"{base}/v1/sessions/{s['id']}/events", headers=staff(keys)).json()
    timeouts = [e for e in events if e["kind"] == "item_timeout"]
    assert [e["position"] for e in timeouts] == [1, 2]
    assert timeouts[0]["payload"]["item_id"] == first["item_id"]
    assert first["item_id"] not in {now["item_id"], timeouts[1]["payload"]["item_id"]}


def test_an_expired_test_is_finished_and_scored_on_what_was_answered(server):
    base, keys = server
    s = start_session(base, keys, time_limit_s=1.5, item_time_limit_s=None)
    for _ in range(3):
        assert answer_current(base, s, code=3).status_code == 200
    time.sleep(1.6)
    state = _get(base, s)
    assert state["finished"] and state["closed_reason"] == "timeout" and state["profile_id"]
    assert state["answered"] == 3
    profile = httpx.get(f"{base}/v1/sessions/{s['id']}/profile", headers=staff(keys)).json()
    assert profile["session_id"] == s["id"]
    refused = answer_current(base, s)
    assert refused.status_code == 409


def test_the_proctor_pauses_resumes_extends_records_and_terminates(server):
    base, keys = server
    s = start_session(base, keys, time_limit_s=600)
    op = staff(keys)
    url = f"{base}/v1/sessions/{s['id']}"
    assert answer_current(base, s).status_code == 200
    paused = httpx.post(f"{url}/pause", headers=op, json={"reason": "fire drill"})
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    item = _get(base, s, "/item")
    assert item["paused"] and item["item_id"] is None
    assert answer_current(base, s).status_code == 409
    standing = _get(base, s)["remaining_s"]
    time.sleep(0.4)
    assert _get(base, s)["remaining_s"] == standing  # a paused clock stands
    assert httpx.post(f"{url}/pause", headers=op, json={}).status_code == 409
    assert httpx.post(f"{url}/resume", headers=op).json()["status"] == "active"
    extended = httpx.post(f"{url}/extra-time", headers=op, json={"seconds": 300, "reason": "x"})
    assert extended.json()["remaining_s"] > 600
    assert httpx.post(f"{url}/extra-time", headers=op, json={"seconds": -1}).status_code == 422
    assert httpx.post(f"{url}/incidents", headers=op, json={"note": "noise"}).status_code == 200
    assert answer_current(base, s).status_code == 200
    ended = httpx.post(f"{url}/terminate", headers=op, json={"reason": "phone"})
    assert ended.json()["closed_reason"] == "terminated" and ended.json()["profile_id"]
    again = httpx.post(f"{url}/terminate", headers=op, json={"reason": "phone"})
    assert again.status_code == 409
    kinds = [e["kind"] for e in httpx.get(f"{url}/events", headers=op).json()]
    assert kinds == ["start", "answer", "pause", "resume", "extra_time", "incident", "answer",
                     "terminate"]
    trail = httpx.get(f"{base}/v1/admin/audit", params={"target": s["id"]},
                      headers=staff(keys, "psychometrician")).json()
    actions = [a["action"] for a in trail]
    assert actions[0] == "session.create" and actions[-1] == "profile.issue" or \
        "session.terminate" in actions
    for action in ("session.pause", "session.resume", "session.extra_time", "session.incident",
                   "session.terminate"):
        assert action in actions
    assert all(a["actor"].startswith("key:") for a in trail)


def test_finished_sessions_answers_are_exported_with_their_times(server):
    base, keys = server
    s = start_session(base, keys)
    given = []
    for code in (0, 1, 2):
        r = answer_current(base, s, code)
        given.append((r.json()["item_id"], r.json()["code"]))
    assert httpx.post(f"{base}/v1/sessions/{s['id']}/finish",
                      headers={"X-Session-Token": s["token"]}).status_code == 200
    psy = staff(keys, "psychometrician")
    answers = httpx.get(f"{base}/v1/admin/responses", headers=psy, params={"table": "answers"})
    times = httpx.get(f"{base}/v1/admin/responses", headers=psy, params={"table": "times"})
    rows = list(csv.DictReader(io.StringIO(answers.text)))
    trow = list(csv.DictReader(io.StringIO(times.text)))
    assert len(rows) == 1 and rows[0]["level"] == "middle" and rows[0]["language"] == "ru"
    assert {k for k, v in rows[0].items() if v and k not in ("person_id", "language", "level")} \
        == {i for i, _ in given}
    # the server's own measure (the body said 3.0 s each; these answers came at once)
    assert all(0 <= float(trow[0][i]) < 3.0 for i, _ in given)
    assert httpx.get(f"{base}/v1/admin/responses", headers=staff(keys)).status_code == 403


def test_keys_are_made_and_revoked_over_http(server):
    base, keys = server
    psy = staff(keys, "psychometrician")
    nowhere = httpx.post(f"{base}/v1/admin/keys", headers=psy,
                         json={"role": "operator", "label": "b", "scope": "centre-7"})
    assert nowhere.status_code == 422 and "scope: no unit 'centre-7'" in nowhere.text
    made = httpx.post(f"{base}/v1/admin/keys", headers=psy, json={"role": "operator", "label": "b"})
    assert made.status_code == 201 and made.json()["scope"] is None
    new = {"Authorization": f"Bearer {made.json()['key']}"}
    assert httpx.post(f"{base}/v1/candidates", headers=new, json={}).status_code == 201
    listed = httpx.get(f"{base}/v1/admin/keys", headers=psy).json()
    assert all("key" not in k and "key_hash" not in k for k in listed)
    assert {k["id"]: k["label"] for k in listed}[made.json()["id"]] == "b"
    for bad in ("", "   ", "x" * 129):  # refused, nothing made
        r = httpx.post(f"{base}/v1/admin/keys", headers=psy, json={"role": "operator", "scope": bad})
        assert r.status_code == 422 and "scope" in r.text
    assert len(httpx.get(f"{base}/v1/admin/keys", headers=psy).json()) == len(listed)
    assert httpx.delete(f"{base}/v1/admin/keys/{made.json()['id']}", headers=psy).status_code == 204
    assert httpx.post(f"{base}/v1/candidates", headers=new, json={}).status_code == 401
    assert httpx.delete(f"{base}/v1/admin/keys/nope", headers=psy).status_code == 404


def test_the_bank_round_trips_and_a_bad_document_names_its_row(server):
    base, keys = server
    psy = staff(keys, "psychometrician")
    doc = httpx.get(f"{base}/v1/admin/bank", headers=psy).json()
    assert doc["format"] == "qabilet-bank" and len(doc["items"]) >= 150
    broken = {"format": "qabilet-bank", "items": [dict(doc["items"][0], levels=["nowhere"])]}
    refused = httpx.post(f"{base}/v1/admin/bank", headers=psy, json=broken)
    assert refused.status_code == 422
    assert refused.json()["problems"][0]["row"] == 1
    assert "levels" in refused.json()["problems"][0]["field"]
    assert httpx.get(f"{base}/v1/admin/bank", headers=psy).json()["items"] == doc["items"]


def test_a_calibration_job_recovers_the_parameters_it_was_simulated_from(server, demo_db):
    """Responses simulated from version 1's parameters, recalibrated over HTTP: the slopes and
    intercepts come back (parameter recovery with known truth)."""
    from datetime import UTC, datetime

    from qabilet.engine.simulation import simulate_responses
    from qabilet.itembank.database import connect
    from qabilet.itembank.repository import BankRepository, Response
    from qabilet.itembank.versions import scale_bank

    base, keys = server
    repo = BankRepository(connect(demo_db))
    version = repo.version(1)
    dim = version.dimensions[0]
    ids = [i.id for i in repo.items(dimension=dim) if i.id in version.item_ids]
    bank = scale_bank(version.parameters.to_bank(), [dim], ids)
    theta = np.random.default_rng(5).normal(size=(1500, 1))
    x = simulate_responses(bank, theta, rng=6)
    # every other session Russian; for them the first graded item is 1 logit harder (DIF)
    ru = np.arange(x.shape[0]) % 2 == 1
    dif_item = next(i for i, name in zip(bank.item_ids, bank.model_names, strict=True) if name == "grm")
    one = bank.subset(bank.index_of([dif_item])).models[0]
    harder = one.param_vector().copy()
    harder[0, 1:] -= harder[0, 0]  # intercepts d_k = −a b_k: every threshold b_k one higher
    x[ru, ids.index(dif_item)] = simulate_responses(one.with_params(harder), theta[ru], rng=7)[:, 0]
    codes = version.parameters.recodings()
    at = datetime.now(UTC)
    repo.record_responses(
        Response(person_id=f"sim{p}", session_id=f"sim{p}", item_id=i, bank_version=1,
                 language="ru" if ru[p] else "kk", level="middle", answered_at=at,
                 code=int(codes[i][x[p, j]] if i in codes else x[p, j]))
        for p in range(x.shape[0]) for j, i in enumerate(ids))
    psy = staff(keys, "psychometrician")
    job = httpx.post(f"{base}/v1/admin/calibrations", headers=psy,
                     json={"bank_version": 1, "min_responses": 1000}).json()
    for _ in range(600):
        job = httpx.get(f"{base}/v1/admin/calibrations/{job['id']}", headers=psy).json()
        if job["status"] not in ("queued", "running"):
            break
        time.sleep(0.1)
    assert job["status"] == "done", job.get("error")
    fitted = job["result"]["dimensions"][dim]
    assert fitted["converged"] and fitted["n_sessions"] == 1500
    from qabilet.itembank.parameter_file import ParameterFile

    refit = ParameterFile.model_validate(fitted["parameters"]).to_bank()
    # a nominal item's slope is mirt's a1 (α_{K−1} = K − 1) whichever form its file used: the
    # job's one-factor file holds Bock's category slopes, version 1's mirt's form
    true_a = bank.slopes[bank.index_of(refit.item_ids), 0]
    refit_a = refit.slopes[:, 0]
    assert np.corrcoef(true_a, refit_a)[0, 1] > 0.9
    assert np.max(np.abs(refit_a - true_a)) < 0.4
    # the kk/ru DIF ran on the same answers: the harder item is flagged on the version, alone
    dif = fitted["dif"]
    assert dif["method"] == "score" and dif["sessions"] == {"kk": 750, "ru": 750}
    assert [r["item_id"] for r in dif["items"] if r["ets_class"] == "C"] == [dif_item]
    (flag,) = repo.flags(bank_version=1)
    assert (flag.item_id, flag.kind, flag.detail["favoured"]) == (dif_item, "dif", "kk")
    too_few = httpx.post(f"{base}/v1/admin/calibrations", headers=psy,
                         json={"bank_version": 1, "level": "high"}).json()
    for _ in range(100):
        too_few = httpx.get(f"{base}/v1/admin/calibrations/{too_few['id']}", headers=psy).json()
        if too_few["status"] == "failed":
            break
        time.sleep(0.05)
    assert too_few["status"] == "failed" and "min_responses" in too_few["error"]
    trail = httpx.get(f"{base}/v1/admin/audit", params={"target": f"job:{job['id']}"},
                      headers=psy).json()
    assert [t["action"] for t in trail] == ["calibration.start"]
