"""The report in the candidate's language, over real HTTP (issue 18): by default the language
the candidate answered in last, any of kk/ru/en on request, always with the words the profile was
issued with; a profile stored before the words were kept still renders, in its own language."""

from __future__ import annotations

from html import escape

import httpx
import pytest
from sqlalchemy import update

from qabilet.delivery.profiles import load_texts
from qabilet.itembank.content import Recommendation
from qabilet.itembank.database import connect
from qabilet.itembank.repository import BankRepository
from qabilet.itembank.tables import ProfileRow
from tests.api._server import Server, staff, staff_keys, start_session

LANGS = ("kk", "ru", "en")


@pytest.fixture
def served(demo_db):
    keys = staff_keys(demo_db)
    running = Server(demo_db).start()
    yield running.base, keys, demo_db
    running.stop()


def _take_high(base: str, session: dict, codes: dict, language: str) -> None:
    """Answer every item in its highest model category (strengths: recommendations to show)."""
    me, sid = {"X-Session-Token": session["token"]}, session["id"]
    while not (item := httpx.get(f"{base}/v1/sessions/{sid}/item", headers=me).json())["finished"]:
        code = codes[item["item_id"]][-1] if item["item_id"] in codes else len(item["choices"]) - 1
        r = httpx.post(f"{base}/v1/sessions/{sid}/answers", headers=me,
                       json={"position": item["position"], "item_id": item["item_id"],
                             "code": code, "language": language})
        assert r.status_code == 200, r.text
    assert httpx.post(f"{base}/v1/sessions/{sid}/finish", headers=me).status_code == 200


def test_the_report_is_shown_in_any_language_with_the_words_it_was_issued_with(served):
    base, keys, url = served
    repo = BankRepository(connect(url))
    session = start_session(base, keys, "ru")  # created in Russian, answered in Kazakh
    _take_high(base, session, repo.version().parameters.recodings(), "kk")
    me, sid = {"X-Session-Token": session["token"]}, session["id"]
    record = httpx.get(f"{base}/v1/sessions/{sid}/profile", headers=staff(keys)).json()
    assert record["language"] == "kk"  # the language the candidate used last
    shown = httpx.get(f"{base}/v1/sessions/{sid}/report", headers=me)
    assert shown.status_code == 200 and shown.headers["content-language"] == "kk"
    assert '<html lang="kk">' in shown.text
    # the bank's recommendations change after the profile is issued: the report does not
    repo.put_recommendations([Recommendation(target=r.target, band=r.band,
                                             text=dict.fromkeys(LANGS, "A later text."))
                              for r in repo.recommendations()])
    results = record["professional"] + record["personal"]
    advised = [r for r in results if r["band"] == "strength" and r["texts"]["en"]["recommendation"]]
    assert advised  # every answer in the top category: strengths, with their texts
    for lang in LANGS:
        for who in (me, staff(keys)):
            page = httpx.get(f"{base}/v1/sessions/{sid}/report", params={"language": lang},
                             headers=who)
            assert page.status_code == 200 and page.headers["content-language"] == lang
            html = page.text
            assert f'<html lang="{lang}">' in html and load_texts()[lang]["report_title"] in html
            assert "A later text." not in html
            for r in results:
                assert escape(r["texts"][lang]["name"]) in html
            for r in advised:
                assert escape(r["texts"][lang]["recommendation"]) in html
                assert escape(record["band_words"][lang]["strength"]) in html
    bad = httpx.get(f"{base}/v1/sessions/{sid}/report", params={"language": "de"}, headers=me)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "language"]


def test_a_profile_stored_before_its_words_were_kept_renders_in_its_own_language(served):
    base, keys, url = served
    session = start_session(base, keys, "ru")
    _take_high(base, session, {}, "ru")
    sid = session["id"]
    record = httpx.get(f"{base}/v1/sessions/{sid}/profile", headers=staff(keys)).json()
    older = {k: v for k, v in record.items() if k != "band_words"}
    for section in ("professional", "personal"):
        older[section] = [{k: v for k, v in r.items() if k != "texts"} for r in record[section]]
    older["validity"] = [{k: v for k, v in f.items() if k != "messages"} for f in record["validity"]]
    engine = connect(url)
    with engine.begin() as c:  # the record as an older release stored it
        c.execute(update(ProfileRow).where(ProfileRow.id == record["id"]).values(document=older))
    engine.dispose()
    for lang in (None, "kk", "en"):
        page = httpx.get(f"{base}/v1/sessions/{sid}/report", headers=staff(keys),
                         params={"language": lang} if lang else {})
        assert page.status_code == 200 and page.headers["content-language"] == "ru"
        assert '<html lang="ru">' in page.text and escape(record["professional"][0]["name"]) in page.text
