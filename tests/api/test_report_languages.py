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


def _pdf_text_and_ink(pdf: bytes, tmp_path) -> tuple[str, float, int]:
    """The PDF's text (pdftotext), the share of non-white pixels of its first page (pdftoppm), and
    its number of pages."""
    import shutil
    import subprocess

    from PIL import Image

    from tests.conftest import skip_or_fail

    if not (shutil.which("pdftoppm") and shutil.which("pdftotext")):
        skip_or_fail("the PDF checks need poppler-utils (pdftoppm, pdftotext): apt-get install "
                     "poppler-utils")
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout
    subprocess.run(["pdftoppm", "-r", "50", "-png", "-f", "1", "-l", "1", str(path),
                    str(tmp_path / "page")], check=True)
    (png,) = tmp_path.glob("page*.png")
    grey = Image.open(png).convert("L")
    ink = sum(grey.histogram()[:200]) / (grey.width * grey.height)
    pages = text.count("\f")
    return text, ink, pages


def test_the_report_as_pdf_is_made_without_a_browser_with_its_text_and_chart(served, tmp_path):
    base, keys, url = served
    repo = BankRepository(connect(url))
    session = start_session(base, keys, "ru")
    _take_high(base, session, repo.version().parameters.recodings(), "kk")
    me, sid = {"X-Session-Token": session["token"]}, session["id"]
    record = httpx.get(f"{base}/v1/sessions/{sid}/profile", headers=staff(keys)).json()
    for lang in LANGS:
        for who, view in ((me, "candidate"), (staff(keys), "operator")):
            r = httpx.get(f"{base}/v1/sessions/{sid}/report.pdf", params={"language": lang},
                          headers=who, timeout=60)
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == "application/pdf" and r.content[:5] == b"%PDF-"
            assert r.headers["content-language"] == lang
            text, ink, pages = _pdf_text_and_ink(r.content, tmp_path / f"{lang}-{view}")
            flat = " ".join(text.split())
            texts = load_texts()[lang]
            assert texts["report_title"] in flat and texts[f"{view}_view"] in flat
            for result in record["professional"] + record["personal"]:
                assert " ".join(result["texts"][lang]["name"].split()) in flat
            assert (texts["validity_title"] in flat) == (view == "operator")
            assert 0.01 < ink < 0.6  # the page has text and shading, and is not one black block
            assert pages >= 2
    bad = httpx.get(f"{base}/v1/sessions/{sid}/report.pdf", params={"language": "xx"}, headers=me)
    assert bad.status_code == 422
