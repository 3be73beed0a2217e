"""The candidate's page (``/take/{id}#token=…``) in headless Chromium against a real server.

Languages (interface strings from ``api/static/i18n.json`` and the item text), answering by
keyboard only, resuming after a reload and on a second device, a lost connection, an answer whose
response was lost (replayed with the same body), a proctor's pause, an item's time running out, a
bad link, and the end screen with the candidate's profile. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from qabilet.delivery.profiles import load_texts
from qabilet.itembank.content import INSTRUCTIONS
from tests.api._server import staff, start_session
from tests.delivery.test_report_html import _chromium

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
TEXTS = json.loads((ROOT / "api" / "static" / "i18n.json").read_text(encoding="utf-8"))
#: words of a right/wrong count, in the three languages (none may appear on the page)
SCORE_WORDS = ("correct", "wrong", "right answer", "score", "правильн", "верных", "неверн",
               "ошибок", "балл", "дұрыс", "бұрыс", "қате жауап", "ұпай")


def _t(lang: str, key: str, **values) -> str:
    text = TEXTS[lang][key]
    for name, value in values.items():
        text = text.replace("{" + name + "}", str(value))
    return text


@pytest.fixture
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    exe = _chromium()
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        yield launched
        launched.close()


def _item(base: str, keys, sid: str, language: str | None = None) -> dict:
    params = {"language": language} if language else {}
    r = httpx.get(f"{base}/v1/sessions/{sid}/item", headers=staff(keys), params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _answers(base: str, keys, sid: str) -> list[dict]:
    events = httpx.get(f"{base}/v1/sessions/{sid}/events", headers=staff(keys)).json()
    return [e for e in events if e["kind"] == "answer"]


def _at_position(page, n: int) -> None:
    page.wait_for_selector(f'body[data-screen="item"] #item-form[data-position="{n}"]', timeout=10_000)


def _focused(page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


def test_i18n_has_the_same_keys_in_each_language():
    assert set(TEXTS) == {"kk", "ru", "en"}
    assert set(TEXTS["kk"]) == set(TEXTS["ru"]) == set(TEXTS["en"])
    for lang, table in TEXTS.items():
        assert all(isinstance(v, str) and v.strip() for v in table.values()), lang
        assert not {w for w in SCORE_WORDS for v in table.values() if w in v.lower()}, lang
    assert TEXTS["kk"]["invalid_link"] != TEXTS["ru"]["invalid_link"] != TEXTS["en"]["invalid_link"]


def test_a_candidate_takes_the_whole_test_in_the_browser(server, browser):
    base, keys = server
    session = start_session(base, keys, "ru")
    sid, link = session["id"], session["link"]
    assert link == f"{base}/take/{sid}#token={session['token']}"
    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale="ru-RU")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(link)

    # the intro, in the session's language; the token leaves the address bar
    page.wait_for_selector('body[data-screen="intro"]')
    assert page.evaluate("document.documentElement.lang") == "ru"
    assert "token" not in page.url
    assert page.inner_text("#intro-title") == TEXTS["ru"]["intro_title"]
    assert page.inner_text("#intro-time") == _t("ru", "intro_time_limit", duration=_t("ru", "duration_min", n=90))
    page.screenshot(path=str(ARTIFACTS / "candidate-page-intro.png"))

    # 1. the language switch: interface strings and <html lang>
    for lang in ("kk", "en", "ru"):
        page.get_by_role("button", name=TEXTS[lang][f"lang_{lang}"]).click()
        assert page.evaluate("document.documentElement.lang") == lang
        assert page.inner_text("#intro-title") == TEXTS[lang]["intro_title"]
        assert page.inner_text("#begin") == TEXTS[lang]["begin"]
        assert page.inner_text("footer") == TEXTS[lang]["help"]
        assert page.title().startswith(TEXTS[lang]["page_title"])
        assert page.get_attribute(f'button[data-lang="{lang}"]', "aria-pressed") == "true"

    # 2. keyboard only: Tab to "Begin", Enter; then answers by Tab/Space/arrows/number keys/Enter
    for _ in range(3):  # from the last language button pressed, past the others
        page.keyboard.press("Tab")
        if _focused(page) == "begin":
            break
    assert _focused(page) == "begin"
    page.keyboard.press("Enter")
    _at_position(page, 1)
    assert page.inner_text("#q-title") == _t("ru", "question_n", n=1)
    assert page.is_disabled("#next")
    first = _item(base, keys, sid, "ru")
    assert page.inner_text("#stem") == first["stem"]
    assert page.locator('#choices input[type="radio"]').count() == len(first["choices"])
    assert page.locator("#choices-set legend").inner_text() == first["stem"]
    assert page.is_visible("#clock-test") and re.fullmatch(
        r"\d+:\d\d(:\d\d)?", page.inner_text("#clock-test-value"))

    # the item follows the interface language
    page.get_by_role("button", name="English").click()
    english = _item(base, keys, sid, "en")
    page.wait_for_function("(s) => document.querySelector('#stem').textContent === s", arg=english["stem"])
    assert page.inner_text("#q-title") == _t("en", "question_n", n=1)
    hint = english["instruction"] if english["format"] == "sjt" else TEXTS["en"][
        "hint_likert" if english["format"] == "likert" else "hint_choice"]
    assert page.inner_text("#hint") == hint
    assert english["choices"][-1] in page.inner_text("#choices")

    page.keyboard.press("Tab")  # from the language button to the first choice
    assert _focused(page) == "choice-0"
    page.keyboard.press("Space")
    assert page.is_checked("#choice-0") and page.is_enabled("#next")
    page.keyboard.press("ArrowDown")
    assert page.is_checked("#choice-1")
    page.screenshot(path=str(ARTIFACTS / "candidate-page-item-chosen.png"))  # focus ring, choice
    page.keyboard.press("Tab")
    assert _focused(page) == "next"
    page.keyboard.press("Enter")
    _at_position(page, 2)
    assert _focused(page) == "q-title"
    page.keyboard.press("3")  # a number key chooses, Enter goes on
    assert page.is_checked("#choice-2")
    page.keyboard.press("Enter")
    _at_position(page, 3)
    page.keyboard.press("Tab")
    page.keyboard.press("ArrowDown")
    assert page.is_checked("#choice-1")
    page.keyboard.press("Enter")
    _at_position(page, 4)

    assert page.inner_text("#q-title") == _t("en", "question_n", n=4)
    assert page.get_attribute("#progress", "aria-valuenow") == "3"
    state = httpx.get(f"{base}/v1/sessions/{sid}", headers=staff(keys)).json()
    assert state["answered"] == 3 and state["status"] == "active"
    assert page.inner_text("#progress-text") == _t("en", "progress_text", answered=3,
                                                   max=state["max_items"])
    given = _answers(base, keys, sid)
    assert [(a["position"], a["payload"]["code"]) for a in given] == [(1, 1), (2, 2), (3, 1)]
    assert {a["payload"]["language"] for a in given} == {"en"}
    assert all(0 < a["payload"]["client_response_time_s"] < 60 for a in given)  # kept, not used
    page.screenshot(path=str(ARTIFACTS / "candidate-page-item.png"), full_page=True)

    # 3. a reload resumes at the same position (token and language from localStorage) ...
    stem = page.inner_text("#stem")
    page.reload()
    _at_position(page, 4)
    assert page.inner_text("#stem") == stem
    assert page.evaluate("document.documentElement.lang") == "en"
    # ... and the same link on another device shows the same item, in the session's language
    tablet = browser.new_context(viewport={"width": 768, "height": 1024}, has_touch=True)
    other = tablet.new_page()
    other.goto(link)
    _at_position(other, 4)
    assert other.evaluate("document.documentElement.lang") == "ru"
    assert other.inner_text("#stem") == _item(base, keys, sid, "ru")["stem"]
    assert other.inner_text("#q-title") == _t("ru", "question_n", n=4)
    other.screenshot(path=str(ARTIFACTS / "candidate-page-item-tablet.png"), full_page=True)
    tablet.close()

    # a lost connection: the answer waits, the page says so, and it goes through once back
    context.set_offline(True)
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    page.wait_for_selector("#banner:not([hidden])")
    assert page.inner_text("#banner") == TEXTS["en"]["offline"]
    assert page.is_disabled("#next")  # no second submission meanwhile
    context.set_offline(False)
    _at_position(page, 5)
    assert httpx.get(f"{base}/v1/sessions/{sid}", headers=staff(keys)).json()["answered"] == 4

    # 4. to the end, clicking labels
    sjt_seen = False
    for position in range(5, 200):
        if page.get_attribute("body", "data-screen") == "end":
            break
        _at_position(page, position)
        if not sjt_seen and page.get_attribute("#item-form", "data-format") == "sjt":
            sjt_seen = True
            # the seeds' instruction (the demonstration's items have no instruction of their
            # own), above the options, in the page's language as it switches
            served = _item(base, keys, sid, "en")
            assert served["format"] == "sjt" and served["instruction"] == INSTRUCTIONS["best"]["en"]
            assert page.inner_text("#hint") == INSTRUCTIONS["best"]["en"]
            assert page.evaluate("document.querySelector('#hint').compareDocumentPosition("
                                 "document.querySelector('#choices')) & Node.DOCUMENT_POSITION_FOLLOWING")
            for lang in ("kk", "ru", "en"):
                page.get_by_role("button", name=TEXTS[lang][f"lang_{lang}"]).click()
                page.wait_for_function("(s) => document.querySelector('#hint').textContent === s",
                                       arg=INSTRUCTIONS["best"][lang])
            page.screenshot(path=str(ARTIFACTS / "candidate-page-sjt.png"), full_page=True)
        page.locator("#choices label").nth(position % 3).click()
        page.click("#next")
        page.wait_for_selector(f'body[data-screen="end"], #item-form[data-position="{position + 1}"]',
                               timeout=10_000)
    page.wait_for_selector('body[data-screen="end"]')
    assert sjt_seen
    done = httpx.get(f"{base}/v1/sessions/{sid}", headers=staff(keys)).json()
    assert done["finished"] and done["status"] == "finished" and done["answered"] >= 40
    assert page.inner_text("#end-title") == TEXTS["en"]["end_title"]
    page.wait_for_function("(s) => document.querySelector('#end-text').textContent === s",
                           arg=TEXTS["en"]["end_completed"])
    visible = page.inner_text("body").lower()
    assert not [w for w in SCORE_WORDS if w in visible]
    assert page.is_hidden("#status-bar")
    # the session is over: its token is gone from the browser's storage (kept in the page's
    # memory for the profile below)
    assert page.evaluate(f"localStorage.getItem('qabilet.token.{sid}')") is None
    page.get_by_role("button", name="Қазақша").click()
    assert page.inner_text("#end-text") == TEXTS["kk"]["end_completed"]
    page.get_by_role("button", name="English").click()
    page.screenshot(path=str(ARTIFACTS / "candidate-page-end.png"), full_page=True)

    # the profile opens in a sandboxed frame (the candidate's copy, in the page's language)
    page.get_by_role("button", name=TEXTS["en"]["view_profile"]).click()
    page.wait_for_selector("#profile-area:not([hidden])")
    sandbox = page.get_attribute("#profile-frame", "sandbox")
    assert sandbox is not None and "allow-scripts" not in sandbox
    report = page.frame_locator("#profile-frame")
    report.locator('html[lang="en"]').wait_for(state="attached")
    report_texts = load_texts()["en"]
    assert report_texts["report_title"] in report.locator("body").inner_text()
    assert report_texts["candidate_view"] in report.locator("body").inner_text()
    assert report.locator("svg").count() >= 1
    assert page.inner_text("#view-profile") == TEXTS["en"]["hide_profile"]
    assert page.is_visible("#save-profile")
    page.screenshot(path=str(ARTIFACTS / "candidate-page-profile.png"), full_page=True)
    # switching the page's language shows the same profile in that language, as issued
    issued = httpx.get(f"{base}/v1/sessions/{sid}/profile", headers=staff(keys)).json()
    for lang in ("kk", "ru"):
        page.get_by_role("button", name=TEXTS[lang][f"lang_{lang}"]).click()
        report.locator(f'html[lang="{lang}"]').wait_for(state="attached")
        body = report.locator("body").inner_text()
        assert load_texts()[lang]["report_title"] in body
        assert issued["professional"][0]["texts"][lang]["name"] in body
        assert page.get_attribute("#save-profile", "href")  # the saved copy follows
    page.screenshot(path=str(ARTIFACTS / "candidate-page-profile-ru.png"), full_page=True)
    # the PDF the server prints, in the page's language, as a download
    assert page.inner_text("#save-pdf") == TEXTS["ru"]["save_pdf"]
    with page.expect_download(timeout=60_000) as download:
        page.click("#save-pdf")
    assert download.value.suggested_filename == f"profile-{sid}-ru.pdf"
    with open(download.value.path(), "rb") as fh:
        assert fh.read(5) == b"%PDF-"
    assert not errors, errors
    context.close()


def test_a_lost_response_a_pause_an_item_timeout_and_a_bad_link(server, browser):
    base, keys = server
    session = start_session(base, keys, "kk", item_time_limit_s=5.0)
    sid = session["id"]

    # a link with a bad token: the message, in the chosen language
    stranger = browser.new_context()
    bad = stranger.new_page()
    bad.goto(f"{base}/take/{sid}#token=not-a-token")
    bad.wait_for_selector('body[data-screen="invalid"]')
    assert bad.inner_text("#screen-invalid p") == TEXTS["kk"]["invalid_link"]
    bad.get_by_role("button", name="Русский").click()
    assert bad.inner_text("#screen-invalid p") == TEXTS["ru"]["invalid_link"]
    bad.screenshot(path=str(ARTIFACTS / "candidate-page-invalid.png"))
    stranger.close()

    context = browser.new_context(viewport={"width": 1024, "height": 768})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # the first answer reaches the server but its response is lost: the page sends it again,
    # byte for byte, and the server replays it
    bodies: list[str] = []

    def lose_first_response(route):
        bodies.append(route.request.post_data)
        if len(bodies) == 1:
            route.fetch()
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/answers", lose_first_response)
    page.goto(session["link"])
    page.click("#begin")
    _at_position(page, 1)
    assert page.is_visible("#clock-item")
    page.click("#choices label >> nth=0")
    page.click("#next")
    _at_position(page, 2)
    assert len(bodies) == 2 and bodies[0] == bodies[1]
    sent = json.loads(bodies[0])
    assert set(sent) == {"position", "item_id", "code", "response_time_s", "language"}
    assert sent["position"] == 1 and sent["code"] == 0 and sent["language"] == "kk"
    assert len(_answers(base, keys, sid)) == 1
    page.unroute("**/answers")

    # the proctor pauses: the next answer is refused (409), the page shows the pause and polls
    assert httpx.post(f"{base}/v1/sessions/{sid}/pause", headers=staff(keys), json={}).status_code == 200
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    page.wait_for_selector('body[data-screen="paused"]')
    assert page.inner_text("#paused-title") == TEXTS["kk"]["paused_title"]
    page.screenshot(path=str(ARTIFACTS / "candidate-page-paused.png"))
    assert httpx.post(f"{base}/v1/sessions/{sid}/resume", headers=staff(keys), json={}).status_code == 200
    page.wait_for_selector('body[data-screen="item"]', timeout=6_000)
    assert page.get_attribute("#item-form", "data-position") == "2"
    assert page.is_checked("#choice-1")  # the choice made before the pause is kept

    # the item's time runs out: the page asks the server and shows the next item with a notice
    page.wait_for_selector('#item-form[data-position="3"]', timeout=8_000)
    assert page.inner_text("#notice") == TEXTS["kk"]["notice_item_time"]
    events = httpx.get(f"{base}/v1/sessions/{sid}/events", headers=staff(keys)).json()
    assert [e["position"] for e in events if e["kind"] == "item_timeout"] == [2]
    assert len(_answers(base, keys, sid)) == 1

    # the proctor gives the candidate a new link: the old page says to ask the proctor for it
    reissued = httpx.post(f"{base}/v1/sessions/{sid}/token", headers=staff(keys))
    assert reissued.status_code == 200
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    page.wait_for_selector('body[data-screen="invalid"]')
    assert page.inner_text("#screen-invalid p") == TEXTS["kk"]["invalid_link"]
    assert "проктор" in TEXTS["kk"]["invalid_link"] and "proctor" in TEXTS["en"]["invalid_link"]
    fresh = context.new_page()  # the new link opens the session where it was
    fresh.goto(reissued.json()["link"])
    fresh.wait_for_selector('#item-form[data-position="3"]', timeout=10_000)
    assert not errors, errors
    context.close()
