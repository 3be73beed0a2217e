"""Review and try-out over real HTTP: a new item imported as a draft, reviewed with notes per
language, approved and seeded in a draft version; every move recorded with the key that made it;
bad moves and bad requests refused with the reason, changing nothing."""

from __future__ import annotations

import httpx

from tests.api._server import staff

DRAFT = {"format": "qabilet-bank", "items": [{
    "id": "TRN-N01", "competency": "transparency", "levels": ["middle"], "format": "likert",
    "scale": "agreement5", "direction": 1, "model": "grm",
    "text": {"en": {"stem": "I publish drafts for comment."},
             "ru": {"stem": "Я публикую проекты для обсуждения."},
             "kk": {"stem": "Мен жобаларды талқылауға жариялаймын."}}}]}


def _reviews(base, psy, item="TRN-N01") -> httpx.Response:
    return httpx.get(f"{base}/v1/admin/items/{item}/reviews", headers=psy)


def test_a_new_item_is_reviewed_approved_and_seeded(server):
    base, keys = server
    psy = staff(keys, "psychometrician")
    assert httpx.post(f"{base}/v1/admin/bank", headers=psy, json=DRAFT).status_code == 201
    url = f"{base}/v1/admin/items/TRN-N01/reviews"
    r = httpx.post(url, headers=psy, json={"to": "in_review", "reason": "written"})
    assert r.status_code == 201 and r.json()["from_status"] == "draft", r.text
    sent_back = {"to": "draft", "reason": "Kazakh wording", "notes": [
        {"aspect": "translation", "language": "kk", "text": "«Жариялаймын» орнына «ұсынамын»."},
        {"aspect": "sensitivity", "text": "none"}]}
    assert httpx.post(url, headers=psy, json=sent_back).status_code == 201
    for to in ("in_review", "pretest"):
        assert httpx.post(url, headers=psy, json={"to": to, "reason": "ok"}).status_code == 201
    history = _reviews(base, psy).json()
    assert [h["to_status"] for h in history] == ["in_review", "draft", "in_review", "pretest"]
    assert history[1]["notes"] == [{"language": None, **n} for n in sent_back["notes"]]
    assert {h["by"] for h in history} == {history[0]["by"]} and history[0]["by"]
    seeded = httpx.post(f"{base}/v1/admin/pretest", headers=psy,
                        json={"items": ["TRN-N01"], "reason": "spring try-out"})
    assert seeded.status_code == 201, seeded.text
    assert seeded.json() == {"number": 2, "status": "draft", "pretest": ["TRN-N01"],
                             "based_on": 1}
    audit = httpx.get(f"{base}/v1/admin/audit", headers=psy, params={"target": "item:TRN-N01"})
    assert [a["detail"]["to"] for a in audit.json()] == ["in_review", "draft", "in_review",
                                                         "pretest"]


def test_bad_moves_and_requests_are_refused_and_change_nothing(server):
    base, keys = server
    psy = staff(keys, "psychometrician")
    assert httpx.post(f"{base}/v1/admin/bank", headers=psy, json=DRAFT).status_code == 201
    url = f"{base}/v1/admin/items/TRN-N01/reviews"
    r = httpx.post(url, headers=psy, json={"to": "pretest", "reason": "skip review"})
    assert r.status_code == 409 and "approval for trying out comes from in_review" in r.text
    for body, field in (({"to": "operational", "reason": "x"}, "to"),
                        ({"to": "in_review", "reason": " "}, "reason"),
                        ({"to": "in_review", "reason": "x", "notes": [{"aspect": "spelling",
                                                                        "text": "x"}]}, "aspect"),
                        ({"to": "in_review", "reason": "x", "by": "someone else"}, "by")):
        r = httpx.post(url, headers=psy, json=body)
        assert r.status_code == 422 and field in r.text, (body, r.text)
    r = httpx.post(f"{base}/v1/admin/items/NOPE-1/reviews", headers=psy,
                   json={"to": "in_review", "reason": "x"})
    assert r.status_code == 404 and "'NOPE-1' is not in the bank" in r.text
    assert _reviews(base, psy, "NOPE-1").status_code == 404
    r = httpx.post(f"{base}/v1/admin/pretest", headers=psy,
                   json={"items": ["TRN-N01"], "reason": "too early"})
    assert r.status_code == 409 and "'TRN-N01' is draft" in r.text
    assert _reviews(base, psy).json() == []
    versions = httpx.get(f"{base}/v1/admin/bank", headers=psy).json()["versions"]
    assert [v["number"] for v in versions] == [1]


def test_a_pretest_calibration_job_is_refused_where_it_cannot_run(server):
    base, keys = server
    psy = staff(keys, "psychometrician")
    url = f"{base}/v1/admin/calibrations"
    r = httpx.post(url, headers=psy, json={"kind": "pretest", "level": "middle"})
    assert r.status_code == 422 and "a pretest calibration uses every answer" in r.text
    r = httpx.post(url, headers=psy, json={"kind": "pretest", "min_answers": 10})
    assert r.status_code == 422 and "min_answers" in r.text
    r = httpx.post(url, headers=psy, json={"kind": "pretest"})
    assert r.status_code == 409 and "version 1 tries out no item" in r.text
    assert httpx.get(url, headers=psy).json() == []  # no job was queued
