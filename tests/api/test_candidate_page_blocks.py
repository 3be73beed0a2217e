"""Forced-choice blocks on the candidate's page, in headless Chromium.

The page and its texts come from a real server, and so does the session (its token, its
``GET /v1/sessions/{id}``); the block items and the answers to them are Playwright routes
(:class:`FakeBlocks`), so that every case — blocks of four, lost responses, pauses, time-outs —
is served on cue; ``tests/api/test_forced_choice_sessions.py`` drives the real server's blocks
through the page. The routes follow the API's contract: ``GET
…/item`` returns ``format: "forced_choice"``, ``statements`` and ``answer_mode`` (``rank`` or
``most_least``), and the page posts ``ranking`` (every statement once, most like the candidate
first) or ``most`` and ``least``, never ``code``. The statements are the demonstration bank's
(``itembank/demo_content/forced_choice.json``), in Kazakh, Russian and English. Screenshots go to
``test-artifacts/``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx

from tests.api import test_candidate_page as candidate_page
from tests.api._server import start_session
from tests.api.test_candidate_page import ARTIFACTS, SCORE_WORDS, TEXTS, _at_position, _t

browser = candidate_page.browser   # the fixture: Chromium (tests.delivery's _chromium), launched

ROOT = Path(__file__).resolve().parents[2]
CONTENT = json.loads((ROOT / "itembank" / "demo_content" / "forced_choice.json").read_text("utf-8"))
TEXT = {s["id"]: s["text"] for s in CONTENT["statements"]}
BLOCK = {b["id"]: b["statements"] for b in CONTENT["blocks"]}
#: the server's instructions (worded unlike the page's own fallbacks, so that the test sees whose)
INSTRUCTION = {
    "rank": {
        "en": "Put the statements in order, from the one most like you to the one least like you.",
        "ru": "Расположите утверждения по порядку: от наиболее похожего на вас до наименее похожего.",
        "kk": "Тұжырымдарды сізге ең көп ұқсайтынынан бастап ең аз ұқсайтынына дейін ретімен қойыңыз.",
    },
    "most_least": {
        "en": "Choose the statement most like you and the statement least like you.",
        "ru": "Выберите утверждение, больше всего похожее на вас, и утверждение, меньше всего похожее на вас.",
        "kk": "Сізге ең көп ұқсайтын тұжырымды және ең аз ұқсайтын тұжырымды белгілеңіз.",
    },
}
LEAD = {"en": "Think of your last month at work.", "ru": "Вспомните свой последний месяц на работе.",
        "kk": "Соңғы бір айдағы жұмысыңызды еске түсіріңіз."}


def block(item_id: str, statements: list[str], mode: str = "rank", stem: dict | None = None,
          item_remaining_s: float | None = None) -> dict:
    """A block to serve: its id, statement ids in display order, answer mode and lead text."""
    return {"id": item_id, "statements": statements, "mode": mode, "stem": stem,
            "item_remaining_s": item_remaining_s}


class FakeBlocks:
    """The session's item and answers, served from ``blocks`` by Playwright routes.

    Each accepted answer (its body kept in ``bodies``, as sent) moves to the next block, then to
    ``finished``. ``lose_next``: the next answer is accepted but its response lost (the connection
    reset), as the page's retry then finds it: replayed. ``paused``: the item is the pause, and an
    answer gets 409. A block's ``item_remaining_s`` runs from its first serving; once out, the next
    fetch serves the next block.
    """

    def __init__(self, session: dict, blocks: list[dict]) -> None:
        self.token = session["token"]
        self.blocks = blocks
        self.index = 0
        self.bodies: list[str] = []
        self.fetches: list[str] = []        # the language of each item fetch
        self.foreign: list[str] = []        # requests without the session's token
        self.accepted: dict[int, dict] = {}
        self.lose_next = False
        self.paused = False
        self.deadline: float | None = None

    def install(self, page) -> None:  # type: ignore[no-untyped-def]
        page.route("**/v1/sessions/*/item*", self._item)
        page.route("**/v1/sessions/*/answers", self._answer)

    def _check(self, route) -> None:  # type: ignore[no-untyped-def]
        if route.request.headers.get("x-session-token") != self.token:
            self.foreign.append(route.request.url)

    def _current(self) -> dict | None:
        return self.blocks[self.index] if self.index < len(self.blocks) else None

    def _item(self, route) -> None:  # type: ignore[no-untyped-def]
        self._check(route)
        lang = parse_qs(urlparse(route.request.url).query).get("language", ["kk"])[0]
        self.fetches.append(lang)
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.index, self.deadline = self.index + 1, None   # the item's time ran out
        current, position = self._current(), self.index + 1
        common = {"position": position, "section": 0, "n_sections": 1, "answered": self.index,
                  "max_items": 30, "remaining_s": 3000.0, "item_remaining_s": None,
                  "language": lang, "fell_back": False, "paused": False, "finished": False}
        if current is None:
            data = {**common, "finished": True, "item_id": None}
        elif self.paused:
            data = {**common, "paused": True, "item_id": None}
        else:
            if current["item_remaining_s"] is not None:
                if self.deadline is None:
                    self.deadline = time.monotonic() + current["item_remaining_s"]
                common["item_remaining_s"] = max(0.0, self.deadline - time.monotonic())
            data = {**common, "item_id": current["id"], "format": "forced_choice", "choices": None,
                    "stem": current["stem"][lang] if current["stem"] else None,
                    "instruction": INSTRUCTION[current["mode"]][lang], "answer_mode": current["mode"],
                    "statements": [{"id": s, "text": TEXT[s][lang]} for s in current["statements"]]}
        route.fulfill(status=200, content_type="application/json", body=json.dumps(data))

    def _answer(self, route) -> None:  # type: ignore[no-untyped-def]
        self._check(route)
        body = route.request.post_data or ""
        self.bodies.append(body)
        sent = json.loads(body)
        if sent["position"] in self.accepted:   # a retry of an answer the server has
            reply = {**self.accepted[sent["position"]], "replayed": True}
            route.fulfill(status=200, content_type="application/json", body=json.dumps(reply))
            return
        if self.paused:
            route.fulfill(status=409, content_type="application/json",
                          body=json.dumps({"detail": "the session is paused"}))
            return
        ranking = sent.get("ranking") or [sent.get("most"), sent.get("least")]
        self.index, self.deadline = self.index + 1, None
        reply = {"position": sent["position"], "item_id": sent["item_id"], "code": None,
                 "ranking": ">".join(ranking), "replayed": False,
                 "finished": self.index >= len(self.blocks)}
        self.accepted[sent["position"]] = reply
        if self.lose_next:
            self.lose_next = False
            route.abort("connectionreset")
            return
        route.fulfill(status=200, content_type="application/json", body=json.dumps(reply))


def _short(text: str) -> str:
    """A statement as the live region names it (take.js ``shortText``)."""
    return text if len(text) <= 60 else text[:60].rsplit(" ", 1)[0] + "…"


def _order(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.eval_on_selector_all("#fc-rank > li", "rows => rows.map(r => r.dataset.statementId)")


def _focus(page) -> str:  # type: ignore[no-untyped-def]
    """What has the focus: ``statement id/part`` in a block (part: row, up, down, most, least)."""
    return page.evaluate("""() => {
        const el = document.activeElement, host = el && el.closest('[data-statement-id]');
        return host ? host.dataset.statementId + '/' + (el.dataset.part || 'row') : (el && el.id);
    }""")


def _spoken(page, message: str) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function("(s) => document.querySelector('#fc-live').textContent === s", arg=message)


def _hint_is(page, text: str) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function("(s) => document.querySelector('#hint').textContent === s", arg=text)


def _tab_to(page, target: str, most: int = 16) -> None:  # type: ignore[no-untyped-def]
    for _ in range(most):
        if _focus(page) == target:
            return
        page.keyboard.press("Tab")
    assert _focus(page) == target


def _sent(fake: FakeBlocks, n: int) -> dict:
    assert len(fake.bodies) == n, fake.bodies
    return json.loads(fake.bodies[-1])


def _center(page, statement: str) -> tuple[float, float, dict]:  # type: ignore[no-untyped-def]
    box = page.locator(f'#fc-rank > li[data-statement-id="{statement}"] .fc-text').bounding_box()
    assert box
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box


def test_blocks_ranked_by_keyboard_and_by_dragging_and_chosen_most_and_least(server, browser):
    base, keys = server
    session = start_session(base, keys, "en")
    b1, b2 = BLOCK["FC-B01"], BLOCK["FC-B02"]
    b3 = BLOCK["FC-B03"] + BLOCK["FC-B04"][:1]    # a block of four, answered most/least
    fake = FakeBlocks(session, [block("FC-B01", b1), block("FC-B02", b2, stem=LEAD),
                                block("FC-B34", b3, "most_least")])
    context = browser.new_context(viewport={"width": 1024, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    fake.install(page)
    page.goto(session["link"])
    page.wait_for_selector('body[data-screen="intro"]')
    page.click("#begin")

    # 1. rank by keyboard only, in English: the served order, numbered, nothing sent yet
    _at_position(page, 1)
    assert page.get_attribute("#item-form", "data-format") == "forced_choice"
    assert page.get_attribute("#item-form", "data-answer-mode") == "rank"
    assert _order(page) == b1
    assert page.locator("#fc-rank .fc-pos").all_inner_texts() == ["1", "2", "3"]
    assert page.locator("#fc-rank .fc-text").all_inner_texts() == [TEXT[s]["en"] for s in b1]
    assert page.is_hidden("#stem") and page.is_hidden("#choices")
    assert page.inner_text("#hint") == INSTRUCTION["rank"]["en"]
    assert page.inner_text("#keys-hint") == TEXTS["en"]["keys_hint_rank"]
    assert page.inner_text("#next-label") == TEXTS["en"]["fc_confirm"] and page.is_enabled("#next")
    assert fake.bodies == []
    a, b, c = b1
    page.keyboard.press("Tab")                      # from the question's title to the first
    assert _focus(page) == f"{a}/row"
    page.keyboard.press("Alt+ArrowDown")
    assert _order(page) == [b, a, c] and _focus(page) == f"{a}/row"
    _spoken(page, _t("en", "fc_moved", text=_short(TEXT[a]["en"]), k=2, n=3))
    page.keyboard.press("Alt+ArrowDown")
    _spoken(page, _t("en", "fc_moved", text=_short(TEXT[a]["en"]), k=3, n=3))
    page.keyboard.press("Alt+ArrowDown")
    assert _order(page) == [b, c, a]
    _spoken(page, _t("en", "fc_last", text=_short(TEXT[a]["en"])))
    page.keyboard.press("ArrowUp")                  # to the neighbour, nothing moves
    assert _focus(page) == f"{c}/row" and _order(page) == [b, c, a]
    page.keyboard.press("Alt+ArrowUp")
    assert _order(page) == [c, b, a] and _focus(page) == f"{c}/row"
    spoken = _t("en", "fc_moved", text=_short(TEXT[c]["en"]), k=1, n=3)
    assert spoken.startswith("“") and "position 1 of 3" in spoken
    _spoken(page, spoken)
    assert page.locator("#fc-live").get_attribute("aria-live") == "polite"
    # the buttons, by the keyboard: their names, and the focus staying on what moved
    up_c = page.get_by_role("button", name=_t("en", "fc_move_up", text=TEXT[c]["en"]), exact=True)
    down_c = page.get_by_role("button", name=_t("en", "fc_move_down", text=TEXT[c]["en"]), exact=True)
    assert up_c.count() == 1 and down_c.count() == 1
    assert up_c.get_attribute("aria-disabled") == "true"   # first: it cannot go up
    page.keyboard.press("Tab")
    assert _focus(page) == f"{c}/up"
    page.keyboard.press("Tab")
    assert _focus(page) == f"{c}/down"
    page.keyboard.press("Enter")
    assert _order(page) == [b, c, a] and _focus(page) == f"{c}/down"
    _spoken(page, _t("en", "fc_moved", text=_short(TEXT[c]["en"]), k=2, n=3))
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Space")
    assert _order(page) == [c, b, a] and _focus(page) == f"{c}/up"
    assert page.locator("#fc-rank .fc-pos").all_inner_texts() == ["1", "2", "3"]
    first = page.get_by_role("listitem", name=_t("en", "fc_position", k=1, n=3, text=TEXT[c]["en"]))
    assert first.count() == 1 and first.get_attribute("data-statement-id") == c
    page.screenshot(path=str(ARTIFACTS / "candidate-page-block-rank.png"), full_page=True)
    assert fake.bodies == []                        # the order is sent when confirmed only
    fake.lose_next = True                           # ... and its response is lost: sent again
    _tab_to(page, "next")
    page.keyboard.press("Enter")
    _at_position(page, 2)
    assert len(fake.bodies) == 2 and fake.bodies[0] == fake.bodies[1]
    sent = _sent(fake, 2)
    assert set(sent) == {"position", "item_id", "ranking", "response_time_s", "language"}
    assert sent["position"] == 1 and sent["item_id"] == "FC-B01" and sent["language"] == "en"
    assert sent["ranking"] == [c, b, a] and 0 < sent["response_time_s"] < 60

    # 2. rank by dragging with the mouse; then the language switches and the order stays
    a, b, c = b2
    assert _order(page) == b2 and page.inner_text("#stem") == LEAD["en"]
    assert _focus(page) == "q-title"
    x, y, _ = _center(page, c)
    _, _, top = _center(page, a)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, top["y"] - 10, steps=12)
    assert page.locator("#fc-rank > li.dragging").get_attribute("data-statement-id") == c
    page.screenshot(path=str(ARTIFACTS / "candidate-page-block-dragging.png"))
    page.mouse.up()
    assert _order(page) == [c, a, b] and _focus(page) == f"{c}/row"
    assert page.locator("#fc-rank > li.dragging").count() == 0
    _spoken(page, _t("en", "fc_moved", text=_short(TEXT[c]["en"]), k=1, n=3))
    x, y, _ = _center(page, a)
    _, _, bottom = _center(page, b)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, bottom["y"] + bottom["height"] + 10, steps=12)
    page.mouse.up()
    assert _order(page) == [c, b, a]
    _spoken(page, _t("en", "fc_moved", text=_short(TEXT[a]["en"]), k=3, n=3))
    assert fake.bodies[2:] == []
    for lang in ("ru", "kk"):  # 5. and 6.: the texts re-render, the arranged order stays
        page.get_by_role("button", name=TEXTS[lang][f"lang_{lang}"]).click()
        _hint_is(page, INSTRUCTION["rank"][lang])
        assert fake.fetches[-1] == lang
        assert _order(page) == [c, b, a]
        assert page.locator("#fc-rank .fc-text").all_inner_texts() == [TEXT[s][lang] for s in (c, b, a)]
        assert page.get_attribute("#fc-rank .fc-text >> nth=0", "lang") == lang
        assert page.inner_text("#stem") == LEAD[lang]
        assert page.inner_text("#keys-hint") == TEXTS[lang]["keys_hint_rank"]
        assert page.inner_text("#next-label") == TEXTS[lang]["fc_confirm"]
        assert page.inner_text("#q-title") == _t(lang, "question_n", n=2)
        for s in (c, b, a):
            for key in ("fc_move_up", "fc_move_down"):
                name = _t(lang, key, text=TEXT[s][lang])
                assert page.get_by_role("button", name=name, exact=True).count() == 1
        assert page.get_by_role("listitem", name=_t(lang, "fc_position", k=3, n=3, text=TEXT[a][lang]),
                                exact=True).get_attribute("data-statement-id") == a
        page.screenshot(path=str(ARTIFACTS / f"candidate-page-block-rank-{lang}.png"), full_page=True)
    page.locator("#fc-rank > li").nth(1).get_by_role("button").first.click()   # b up, by the mouse
    assert _order(page) == [b, c, a]
    _spoken(page, _t("kk", "fc_moved", text=_short(TEXT[b]["kk"]), k=1, n=3))
    page.click("#next")
    _at_position(page, 3)
    sent = _sent(fake, 3)
    assert set(sent) == {"position", "item_id", "ranking", "response_time_s", "language"}
    assert (sent["position"], sent["item_id"], sent["ranking"], sent["language"]) == (
        2, "FC-B02", [b, c, a], "kk")

    # 3. most/least by the keyboard: two labelled radio groups; a statement cannot be both
    a, b, c, d = b3
    assert page.get_attribute("#item-form", "data-answer-mode") == "most_least"
    _hint_is(page, INSTRUCTION["most_least"]["kk"])
    assert page.inner_text("#keys-hint") == TEXTS["kk"]["keys_hint_most_least"]
    assert page.inner_text("#next-label") == TEXTS["kk"]["next"]
    for key in ("fc_most", "fc_least"):
        group = page.get_by_role("radiogroup", name=TEXTS["kk"][key], exact=True)
        assert group.get_by_role("radio").count() == 4
        assert group.get_by_role("radio", name=TEXT[d]["kk"], exact=True).count() == 1
    page.get_by_role("button", name="English").click()
    _hint_is(page, INSTRUCTION["most_least"]["en"])
    most = page.get_by_role("radiogroup", name="Most like me", exact=True)
    least = page.get_by_role("radiogroup", name="Least like me", exact=True)
    assert page.locator(".fc-ml-text").all_inner_texts() == [TEXT[s]["en"] for s in b3]
    assert page.is_disabled("#next")
    page.keyboard.press("Tab")                      # from the language button to the first column
    assert _focus(page) == f"{a}/most"
    page.keyboard.press("ArrowDown")                # most: b
    assert most.get_by_role("radio", name=TEXT[b]["en"], exact=True).is_checked()
    assert page.is_disabled("#next")                # only one of the two chosen
    assert least.get_by_role("radio", name=TEXT[b]["en"], exact=True).is_disabled()
    page.keyboard.press("Tab")                      # to the second column
    assert _focus(page) == f"{a}/least"
    page.keyboard.press("Space")                    # least: a
    assert least.get_by_role("radio", name=TEXT[a]["en"], exact=True).is_checked()
    assert page.is_enabled("#next")
    assert most.get_by_role("radio", name=TEXT[a]["en"], exact=True).is_disabled()
    page.keyboard.press("ArrowDown")                # least: past b (the most) to c
    assert _focus(page) == f"{c}/least"
    assert least.get_by_role("radio", name=TEXT[c]["en"], exact=True).is_checked()
    assert not least.get_by_role("radio", name=TEXT[b]["en"], exact=True).is_checked()
    page.keyboard.press("Shift+Tab")                # back to the first column
    assert _focus(page) == f"{b}/most"
    page.keyboard.press("ArrowDown")                # most: past c (the least) to d
    assert _focus(page) == f"{d}/most" and page.is_checked("#fc-most-3")
    assert page.is_enabled("#fc-least-1") and page.is_disabled("#fc-least-3")
    page.locator("#fc-least-3").click(force=True)   # nor by the mouse
    assert page.is_checked("#fc-most-3") and not page.is_checked("#fc-least-3")
    assert page.is_checked("#fc-least-2")
    page.screenshot(path=str(ARTIFACTS / "candidate-page-block-most-least.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(ARTIFACTS / "candidate-page-block-most-least-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1024, "height": 800})
    page.get_by_role("button", name="Русский").click()   # the choices stay
    _hint_is(page, INSTRUCTION["most_least"]["ru"])
    most = page.get_by_role("radiogroup", name=TEXTS["ru"]["fc_most"], exact=True)
    least = page.get_by_role("radiogroup", name=TEXTS["ru"]["fc_least"], exact=True)
    assert most.get_by_role("radio", name=TEXT[d]["ru"], exact=True).is_checked()
    assert least.get_by_role("radio", name=TEXT[c]["ru"], exact=True).is_checked()
    assert page.inner_text("#keys-hint") == TEXTS["ru"]["keys_hint_most_least"]
    _tab_to(page, f"{d}/most")                      # to the chosen "most", and Enter goes on
    page.keyboard.press("Enter")
    page.wait_for_selector('body[data-screen="end"]')
    sent = _sent(fake, 4)
    assert set(sent) == {"position", "item_id", "most", "least", "response_time_s", "language"}
    assert (sent["position"], sent["item_id"], sent["most"], sent["least"], sent["language"]) == (
        3, "FC-B34", d, c, "ru")
    assert not [w for w in SCORE_WORDS if w in page.inner_text("body").lower()]
    assert not fake.foreign and not errors, (fake.foreign, errors)
    context.close()


def test_a_block_across_a_pause_a_reload_and_its_time_running_out(server, browser):
    base, keys = server
    session = start_session(base, keys, "ru")
    b1, b2, b3 = BLOCK["FC-B05"], BLOCK["FC-B06"][:2], BLOCK["FC-B07"] + BLOCK["FC-B08"][:1]
    fake = FakeBlocks(session, [block("FC-B05", b1), block("FC-B06", b2, item_remaining_s=2.0),
                                block("FC-B78", b3, "most_least")])
    context = browser.new_context(viewport={"width": 1024, "height": 800}, has_touch=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    fake.install(page)
    # the session started (as by "Begin"): a reload goes straight back to the item
    me = {"X-Session-Token": session["token"]}
    assert httpx.get(f"{base}/v1/sessions/{session['id']}/item", headers=me).status_code == 200
    page.goto(session["link"])
    _at_position(page, 1)
    a, b, c = b1
    # a finger drags by the handle (elsewhere it scrolls the page); Escape undoes a mouse drag
    touch = context.new_cdp_session(page)
    for start in (".fc-text", ".fc-grip"):
        box = page.locator(f'#fc-rank > li[data-statement-id="{c}"] {start}').bounding_box()
        _, _, top = _center(page, a)
        assert box
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        touch.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
        for step in range(1, 9):
            point = {"x": x, "y": y + (top["y"] - 10 - y) * step / 8}
            touch.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
        touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        page.evaluate("window.scrollTo(0, 0)")
        assert _order(page) == ([a, b, c] if start == ".fc-text" else [c, a, b]), start
    x, y, _ = _center(page, c)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y + 200, steps=8)
    assert _order(page) == [a, b, c]                # on the way
    page.keyboard.press("Escape")
    page.mouse.up()
    assert _order(page) == [c, a, b] and page.locator("#fc-rank > li.dragging").count() == 0
    page.keyboard.press("Alt+ArrowDown")            # c has the focus: the keyboard goes on from it
    page.keyboard.press("Alt+ArrowDown")
    assert _order(page) == [a, b, c]
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Alt+ArrowUp")
    assert _order(page) == [b, a, c]
    _spoken(page, _t("ru", "fc_moved", text=_short(TEXT[b]["ru"]), k=1, n=3))
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(ARTIFACTS / "candidate-page-block-rank-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1024, "height": 800})

    # the proctor pauses: the confirmed order is refused (409), the pause shown; on resuming the
    # block comes back as the candidate left it, and is sent as such
    fake.paused = True
    page.click("#next")
    page.wait_for_selector('body[data-screen="paused"]')
    fake.paused = False
    page.wait_for_selector('body[data-screen="item"]', timeout=6_000)
    assert _order(page) == [b, a, c]
    assert page.locator("#fc-rank .fc-pos").all_inner_texts() == ["1", "2", "3"]
    page.click("#next")
    _at_position(page, 2)
    assert json.loads(fake.bodies[-1])["ranking"] == [b, a, c]

    # a block of two; a reload shows it again (from the served order), then its time runs out:
    # the page asks the server and shows the next block with the notice
    a, b = b2
    page.keyboard.press("Tab")
    page.keyboard.press("Alt+ArrowDown")
    assert _order(page) == [b, a]
    fetched = len(fake.fetches)
    page.reload()
    _at_position(page, 2)
    assert len(fake.fetches) > fetched and _order(page) == [a, b]
    assert page.get_attribute("#fc-rank > li >> nth=1", "aria-label") == _t(
        "ru", "fc_position", k=2, n=2, text=TEXT[b]["ru"])
    assert page.is_visible("#clock-item")
    _at_position(page, 3)
    assert page.inner_text("#notice") == TEXTS["ru"]["notice_item_time"]
    assert len(fake.bodies) == 2                    # nothing sent for the block that ran out
    assert page.is_disabled("#next") and not page.is_checked("#fc-most-0")
    page.click("label:has(#fc-most-0)")
    page.click("label:has(#fc-least-3)")
    page.click("#next")
    page.wait_for_selector('body[data-screen="end"]')
    sent = json.loads(fake.bodies[-1])
    assert (sent["position"], sent["most"], sent["least"]) == (3, b3[0], b3[3])
    assert not fake.foreign and not errors, (fake.foreign, errors)
    context.close()
