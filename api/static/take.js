/* The candidate's page: one item per screen, driven by the server's state.
 *
 * An item is a set of choices (Likert scale points, a situational item's options: radio buttons)
 * or a forced-choice block of 2–4 statements, ranked by dragging, by buttons or from the keyboard
 * ("rank"), or the one most and the one least like the candidate chosen ("most_least").
 *
 * The link is /take/{session_id}#token=<token>. The token is kept in localStorage under the
 * session's id (so a reload without the fragment works) and sent as X-Session-Token on every
 * request. Nothing is trusted locally: every screen is drawn from GET /v1/sessions/{id}/item (and
 * GET /v1/sessions/{id}); the clocks shown count down between fetches and are re-synced on each.
 */
(function () {
  "use strict";

  var LANGS = ["kk", "ru", "en"];
  var PAUSE_POLL_MS = 3000;     // paused: ask again every 3 s
  var SYNC_MS = 15000;          // on an item: pick up a pause, extra time, a proctor's end
  var TICK_MS = 250;
  var RETRY_MAX_MS = 10000;

  var sid = sessionIdFromPath();
  var texts = null;             // i18n.json
  var state = {
    lang: "kk",
    token: null,
    session: null,              // SessionPublic, last read
    item: null,                 // ItemPublic, last read (an item on screen)
    screen: "loading",
    selected: null,             // 0-based index of the checked choice
    block: null,                // a block's answer in the making: {key, order, most, least}
    shownAt: null,              // performance.now() when the current item was first displayed
    submitting: false,
    fetching: null,             // the item fetch in flight (a promise)
    testEnd: null,              // performance.now() at which the test's time runs out
    itemEnd: null,              // … and the item's
    lastTimeFetch: 0,
    announced: {},              // time warnings already spoken, per position / test
    profileHtml: null,
    profileLang: null,          // the language profileHtml is in
    profileUrl: null
  };

  // -- small helpers -------------------------------------------------------------------------
  function $(id) { return document.getElementById(id); }

  function store(key, value) {
    try {
      if (value === null) { window.localStorage.removeItem(key); } else { window.localStorage.setItem(key, value); }
    } catch (e) { /* storage refused (private mode): the page still works for this load */ }
  }

  function recall(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  }

  function sessionIdFromPath() {
    var m = window.location.pathname.match(/\/take\/([^/?#]+)\/?$/);
    return m ? decodeURIComponent(m[1]) : null;
  }

  function t(key, values) {
    var table = (texts && texts[state.lang]) || {};
    var s = table[key];
    if (s === undefined) { s = (texts && texts.en && texts.en[key]) || key; }
    if (values) {
      s = s.replace(/\{(\w+)\}/g, function (all, name) {
        return values[name] === undefined ? all : String(values[name]);
      });
    }
    return s;
  }

  function num(x) { return typeof x === "number" && isFinite(x) ? x : null; }

  function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  function fmtTime(seconds) {
    var s = Math.max(0, Math.ceil(seconds));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    var mm = (h > 0 && m < 10 ? "0" : "") + m;
    var out = (m < 10 && h === 0 ? "0" : "") + mm + ":" + (r < 10 ? "0" : "") + r;
    return h > 0 ? h + ":" + out : out;
  }

  function announce(message) {
    var live = $("status");
    live.textContent = "";
    // a fresh text node after a tick, so that repeating the same message is spoken again
    setTimeout(function () { live.textContent = message; }, 50);
  }

  var noticeKey = null;
  function showNotice(key) {
    noticeKey = key;
    var el = $("notice");
    if (!key) { el.hidden = true; el.textContent = ""; return; }
    el.textContent = t(key);
    el.hidden = false;
    announce(t(key));
  }

  // -- the connection banner ------------------------------------------------------------------
  var bannerKey = null, bannerTimer = null;
  function banner(key, ok) {
    var el = $("banner");
    clearTimeout(bannerTimer);
    bannerKey = key;
    if (!key) { el.hidden = true; el.textContent = ""; el.className = "banner"; return; }
    el.className = ok ? "banner ok" : "banner";
    el.textContent = t(key);
    el.hidden = false;
    if (ok) { bannerTimer = setTimeout(function () { banner(null); }, 2500); }
  }

  // -- HTTP ------------------------------------------------------------------------------------
  function Stop(reason) { this.reason = reason; }    // the page has shown a final screen

  function Retryable(kind) { this.kind = kind; }     // network down, or the server failing

  function request(method, path, body) {
    var headers = { "Accept": "application/json", "X-Session-Token": state.token || "" };
    var init = { method: method, headers: headers, cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = body;          // a string: a retry sends exactly the same bytes
    }
    return fetch(path, init).then(function (response) {
      if (response.status === 401 || response.status === 403) {
        showInvalid();
        throw new Stop("token");
      }
      if (response.status >= 500 || response.status === 429 || response.status === 408) {
        throw new Retryable("server");
      }
      return response;
    }, function () {
      throw new Retryable("network");
    });
  }

  /* Send until it gets through: on a network failure or a server error, say so and retry with
   * growing pauses (the server treats retried answers as replays). */
  function persist(method, path, body) {
    var wait = 700, failed = false;
    function attempt() {
      return request(method, path, body).then(function (response) {
        if (failed) { banner("online", true); }
        return response;
      }, function (err) {
        if (!(err instanceof Retryable)) { throw err; }
        failed = true;
        banner(err.kind === "network" ? "offline" : "server_error");
        var pause = wait;
        wait = Math.min(wait * 2, RETRY_MAX_MS);
        return waitOnline(pause).then(attempt);
      });
    }
    return attempt();
  }

  var wakeUp = null;
  function waitOnline(ms) {
    return new Promise(function (resolve) {
      var timer = setTimeout(done, ms);
      function done() { clearTimeout(timer); wakeUp = null; resolve(); }
      wakeUp = done;
    });
  }
  window.addEventListener("online", function () { if (wakeUp) { wakeUp(); } });

  function json(response) {
    return response.json().catch(function () { return {}; });
  }

  function sessionPath(suffix) {
    return "/v1/sessions/" + encodeURIComponent(sid) + (suffix || "");
  }

  // -- language --------------------------------------------------------------------------------
  function applyLanguage() {
    document.documentElement.lang = state.lang;
    document.title = t("page_title") + " · qabilet";
    var nodes = document.querySelectorAll("[data-i18n]");
    for (var i = 0; i < nodes.length; i++) { nodes[i].textContent = t(nodes[i].getAttribute("data-i18n")); }
    var aria = document.querySelectorAll("[data-i18n-aria]");
    for (var j = 0; j < aria.length; j++) {
      aria[j].setAttribute("aria-label", t(aria[j].getAttribute("data-i18n-aria")));
    }
    var buttons = document.querySelectorAll("button.lang");
    for (var k = 0; k < buttons.length; k++) {
      var b = buttons[k];
      b.textContent = t("lang_" + b.getAttribute("data-lang"));
      b.setAttribute("aria-pressed", b.getAttribute("data-lang") === state.lang ? "true" : "false");
    }
    $("progress").setAttribute("aria-label", t("progress"));
    if (bannerKey) { $("banner").textContent = t(bannerKey); }
    if (noticeKey) { $("notice").textContent = t(noticeKey); }
    drawStatusBar();
    drawIntro();
    drawEndText();
    if (state.item && state.screen === "item") { drawItemTexts(); }
    if (state.profileUrl) { $("profile-status").hidden = true; }
  }

  function chooseLanguage(lang) {
    if (LANGS.indexOf(lang) < 0 || lang === state.lang) { return; }
    state.lang = lang;
    store("qabilet.lang." + sid, lang);
    applyLanguage();
    if (state.screen === "item" && !state.submitting) { loadItem({}); }
    if (state.profileHtml !== null && state.profileLang !== lang) { reloadProfile(); }
  }

  // -- screens ---------------------------------------------------------------------------------
  function show(screen, focus) {
    var screens = ["loading", "intro", "item", "paused", "end", "invalid"];
    var changed = state.screen !== screen;
    state.screen = screen;
    document.body.setAttribute("data-screen", screen);
    for (var i = 0; i < screens.length; i++) { $("screen-" + screens[i]).hidden = screens[i] !== screen; }
    $("status-bar").hidden = !(screen === "item" || screen === "paused");
    if (changed && focus) {
      var target = $(focus);
      if (target) { target.focus({ preventScroll: false }); }
    }
    return changed;
  }

  /* The link does not open the session (no such session, a token replaced by the proctor, or a
   * session long closed): say so, and whom to ask for a new link. The stored token stays: a
   * proctor's new link replaces it. */
  function showInvalid() {
    stopPolling();
    state.item = null;
    banner(null);
    showNotice(null);
    show("invalid", "invalid-title");
    announce(t("invalid_link"));
  }

  // -- the status bar: position, section, clocks, progress -----------------------------------
  function drawStatusBar() {
    var it = state.item || {};
    var position = num(it.position);
    $("q-number").textContent = position !== null ? t("question_n", { n: position }) : "";
    var k = num(it.section), n = num(it.n_sections);
    var showSection = k !== null && n !== null && n > 1 && k < n;
    $("section").textContent = showSection ? t("section_k_of_n", { k: k + 1, n: n }) : "";
    $("section").previousElementSibling.hidden = !showSection || position === null;
    var max = num(it.max_items);
    var answered = num(it.answered);
    if (answered === null && position !== null) { answered = position - 1; }
    if (max !== null && max > 0 && answered !== null) {
      $("progress-wrap").hidden = false;
      var shown = Math.min(answered, max);
      $("progress-fill").style.width = (100 * shown / max).toFixed(1) + "%";
      $("progress").setAttribute("aria-valuemax", String(max));
      $("progress").setAttribute("aria-valuenow", String(shown));
      $("progress").setAttribute("aria-valuetext", t("progress_text", { answered: answered, max: max }));
      $("progress-text").textContent = t("progress_text", { answered: answered, max: max });
    } else {
      $("progress-wrap").hidden = true;
    }
    drawClocks();
  }

  function syncClocks(data) {
    var now = performance.now();
    var test = num(data.remaining_s), item = num(data.item_remaining_s);
    state.testEnd = test !== null ? now + test * 1000 : null;
    state.itemEnd = item !== null ? now + item * 1000 : null;
  }

  function drawClocks() {
    var now = performance.now();
    var running = state.screen === "item";
    var paused = state.screen === "paused";
    drawClock("clock-test", state.testEnd, now, running || paused, 300, 60);
    drawClock("clock-item", state.itemEnd, now, running, 30, 10);
  }

  function drawClock(id, end, now, visible, low, critical) {
    var el = $(id);
    if (end === null || !visible) { el.hidden = true; return; }
    var left = state.screen === "paused" ? el._frozen || 0 : Math.max(0, (end - now) / 1000);
    el.hidden = false;
    el._frozen = left;
    $(id + "-value").textContent = fmtTime(left);
    el.classList.toggle("critical", left <= critical);
    el.classList.toggle("low", left > critical && left <= low);
  }

  function tick() {
    if (state.screen !== "item") { return; }
    drawClocks();
    var now = performance.now();
    var testLeft = state.testEnd !== null ? (state.testEnd - now) / 1000 : null;
    var itemLeft = state.itemEnd !== null ? (state.itemEnd - now) / 1000 : null;
    var pos = state.item ? state.item.position : 0;
    if (testLeft !== null) {
      if (testLeft <= 300 && testLeft > 290 && !state.announced.five) {
        state.announced.five = true; announce(t("time_five_minutes"));
      }
      if (testLeft <= 60 && testLeft > 50 && !state.announced.one) {
        state.announced.one = true; announce(t("time_one_minute"));
      }
    }
    if (itemLeft !== null && itemLeft <= 10 && itemLeft > 8 && state.announced.item !== pos) {
      state.announced.item = pos; announce(t("item_ten_seconds"));
    }
    var out = (testLeft !== null && testLeft <= 0) || (itemLeft !== null && itemLeft <= 0);
    if (out && !state.submitting && !state.fetching && now - state.lastTimeFetch > 1000) {
      state.lastTimeFetch = now;   // the server keeps time: ask it what is shown now
      loadItem({ timeUp: true });
    }
  }

  // -- polling ----------------------------------------------------------------------------------
  var pollTimer = null;
  function schedule(ms) {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(function () {
      if (state.submitting || state.fetching) { schedule(ms); return; }
      loadItem({ background: true });
    }, ms);
  }
  function stopPolling() { clearTimeout(pollTimer); pollTimer = null; }

  // -- the item ---------------------------------------------------------------------------------
  function loadItem(opts) {
    if (state.fetching) { return state.fetching; }
    var path = sessionPath("/item") + "?language=" + encodeURIComponent(state.lang);
    var before = state.item;
    state.fetching = persist("GET", path).then(function (response) {
      return json(response).then(function (data) {
        state.fetching = null;
        if (!response.ok) {
          if (response.status === 404) { showInvalid(); return; }
          throw new Retryable("server");
        }
        applyItem(data, opts || {}, before);
      });
    }).catch(function (err) {
      state.fetching = null;
      if (err instanceof Stop) { return; }
      if (err instanceof Retryable) { return sleep(2000).then(function () { return loadItem(opts); }); }
      throw err;
    });
    return state.fetching;
  }

  function applyItem(data, opts, before) {
    syncClocks(data);
    if (data.finished) {
      state.item = null;
      showEnd();
      return;
    }
    if (data.paused) {
      state.item = Object.assign({}, data, { item_id: (before && before.item_id) || null });
      var entered = show("paused", "paused-title");
      drawStatusBar();
      if (entered) { showNotice(null); announce(t("paused_title") + ". " + t("paused_text")); }
      schedule(PAUSE_POLL_MS);
      return;
    }
    var wasPaused = state.screen === "paused";
    var same = before && state.screen !== "intro" && before.position === data.position &&
      before.item_id === data.item_id;
    state.item = data;
    if (opts.conflictAt) {
      showNotice(data.position > opts.conflictAt && num(data.item_remaining_s) !== null ?
        "notice_item_time" : "notice_conflict");
    } else if (opts.timeUp && before && data.position > before.position) {
      showNotice("notice_item_time");
    } else if (!same && !opts.background) {
      showNotice(null);
    }
    if (!same || state.screen !== "item") {
      if (!same) {
        state.selected = null;
        state.block = null;
        state.shownAt = shownAtFor(data);
        if (opts.background && before && data.position > before.position &&
            num(before.item_remaining_s) !== null) { showNotice("notice_item_time"); }
      }
      drawItem();
      show("item");
      focusItem();
      if (wasPaused) { announce(t("resumed")); }
    } else if (before.language !== data.language || before.stem !== data.stem ||
               String(before.choices) !== String(data.choices) ||
               JSON.stringify(before.statements || null) !== JSON.stringify(data.statements || null) ||
               before.answer_mode !== data.answer_mode) {
      drawItem();     // the same item in another language: the choice (a block's order) is kept
    } else {
      drawItemTexts();
    }
    drawStatusBar();
    schedule(SYNC_MS);
  }

  /* When the item was first displayed: kept per position, so that a reload measures from the
   * first display, not from the reload. */
  function shownAtFor(item) {
    var key = "qabilet.shown." + sid;
    var now = performance.now();
    var saved = null;
    try { saved = JSON.parse(recall(key) || "null"); } catch (e) { saved = null; }
    if (saved && saved.position === item.position && saved.item_id === item.item_id) {
      var ago = (Date.now() - saved.at) / 1000;
      if (ago >= 0 && ago < 86400) { return now - ago * 1000; }
    }
    store(key, JSON.stringify({ position: item.position, item_id: item.item_id, at: Date.now() }));
    return now;
  }

  function focusItem() {
    var title = $("q-title");
    title.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }

  function hintKey(it) {
    if (isBlock(it)) { return blockMode(it) === "rank" ? "hint_rank" : "hint_most_least"; }
    if (it.format === "likert") { return "hint_likert"; }
    return "hint_choice";
  }

  function drawItemTexts() {
    var it = state.item;
    $("q-title").textContent = t("question_n", { n: it.position });
    // a situational item's or a block's own instruction (the server's, in the language asked for)
    $("hint").textContent = it.instruction || t(hintKey(it));
    var n = (it.choices || []).length;
    if (isBlock(it)) {
      $("keys-hint").textContent = t(blockMode(it) === "rank" ? "keys_hint_rank" : "keys_hint_most_least");
      drawBlockTexts();
    } else {
      $("keys-hint").textContent = n > 1 && n <= 9 ? t("keys_hint", { n: n }) : "";
    }
    var fb = $("fell-back");
    if (it.fell_back && it.language) {
      fb.textContent = t("fell_back", { in_language: t("in_" + it.language) });
      fb.hidden = false;
    } else {
      fb.hidden = true;
    }
    $("next-label").textContent = nextLabel();
  }

  function nextLabel() {
    if (state.submitting) { return t("sending"); }
    return t(isBlock(state.item) && blockMode(state.item) === "rank" ? "fc_confirm" : "next");
  }

  function drawItem() {
    var it = state.item;
    $("item-form").setAttribute("data-position", String(it.position));
    $("item-form").setAttribute("data-format", it.format || "");
    var stem = $("stem");
    stem.textContent = it.stem || "";
    stem.hidden = !it.stem;   // a block may have no lead text
    stem.classList.toggle("long", (it.stem || "").length > 160);
    if (it.language) { stem.setAttribute("lang", it.language); } else { stem.removeAttribute("lang"); }
    var box = $("choices");
    var focused = document.activeElement && box.contains(document.activeElement) ?
      Number(document.activeElement.value) : null;
    box.textContent = "";
    box.hidden = isBlock(it);
    if (isBlock(it)) {
      $("item-form").setAttribute("data-answer-mode", blockMode(it));
      drawBlock(it);
      drawItemTexts();
      updateNext();
      return;
    }
    $("item-form").removeAttribute("data-answer-mode");
    clearBlock();
    var choices = it.choices || [];
    box.className = "choices" + (it.format === "likert" ? " scale" : "");
    box.style.setProperty("--n", String(Math.max(choices.length, 1)));
    if (it.language) { box.setAttribute("lang", it.language); }
    for (var i = 0; i < choices.length; i++) {
      var id = "choice-" + i;
      var label = document.createElement("label");
      label.className = "choice";
      label.setAttribute("for", id);
      var input = document.createElement("input");
      input.type = "radio";
      input.name = "choice";
      input.id = id;
      input.value = String(i);
      input.checked = state.selected === i;
      input.disabled = state.submitting;
      var key = document.createElement("span");
      key.className = "choice-key";
      key.setAttribute("aria-hidden", "true");
      key.textContent = i < 9 ? String(i + 1) : "";
      var text = document.createElement("span");
      text.className = "choice-text";
      text.textContent = choices[i];
      label.appendChild(input);
      label.appendChild(key);
      label.appendChild(text);
      box.appendChild(label);
    }
    drawItemTexts();
    updateNext();
    if (focused !== null && box.querySelector("#choice-" + focused)) { $("choice-" + focused).focus(); }
  }

  function updateNext() {
    var next = $("next");
    next.disabled = state.submitting || !answerReady();
    next.classList.toggle("busy", state.submitting);
    next.setAttribute("aria-busy", state.submitting ? "true" : "false");
    $("next-label").textContent = nextLabel();
    var inputs = $("choices").querySelectorAll("input");
    for (var i = 0; i < inputs.length; i++) { inputs[i].disabled = state.submitting; }
    if (isBlock(state.item)) { refreshBlock(); }
  }

  /* Whether the item on screen has an answer to send: a choice; a block's ranking (the served
   * order is one: it is sent when the candidate confirms it); both a most and a least. */
  function answerReady() {
    var it = state.item;
    if (!it) { return false; }
    if (!isBlock(it)) { return state.selected !== null; }
    var b = state.block;
    if (!b || b.key !== blockKey(it)) { return false; }
    if (blockMode(it) === "rank") { return b.order.length === it.statements.length; }
    return b.most !== null && b.least !== null && b.most !== b.least;
  }

  function select(index, focus) {
    if (state.submitting || !state.item) { return; }
    var input = $("choice-" + index);
    if (!input) { return; }
    input.checked = true;
    state.selected = index;
    if (focus) { input.focus(); }
    updateNext();
  }

  // -- forced-choice blocks --------------------------------------------------------------------
  /* A block: 2–4 statements, each on another trait, none right or wrong.
   *
   * "rank": an ordered list (#fc-rank), most like the candidate first, starting in the served
   * order. A statement (li.fc-row, focusable) moves by dragging (Pointer Events: a mouse or pen
   * from anywhere on it, a finger from its handle, so that the page still scrolls under a
   * finger elsewhere), by its ↑/↓ buttons, or from the keyboard: Alt+ArrowUp / Alt+ArrowDown
   * move the focused statement, ArrowUp / ArrowDown go to its neighbour. Focus stays on what
   * moved; #fc-live says where it went. The served order is itself a ranking, so nothing is sent
   * before the candidate confirms it.
   *
   * "most_least": two radio groups (#fc-most, #fc-least), a column each, over the statements
   * (p.fc-ml-text) between them; a statement chosen in one column is disabled in the other.
   *
   * The arrangement is kept for the same position and item across a language switch, a pause
   * and a refused answer; a reload starts again from the served order. */
  function isBlock(it) {
    return !!it && it.format === "forced_choice" && Array.isArray(it.statements);
  }

  function blockMode(it) { return it.answer_mode === "most_least" ? "most_least" : "rank"; }

  function blockKey(it) { return it.position + "|" + it.item_id + "|" + blockMode(it); }

  function statementIds(it) { return it.statements.map(function (s) { return String(s.id); }); }

  function statementText(id) {
    var list = (state.item && state.item.statements) || [];
    for (var i = 0; i < list.length; i++) { if (String(list[i].id) === id) { return list[i].text || ""; } }
    return "";
  }

  // a statement as the live region names it: its first 60 characters, to a word
  function shortText(text) {
    return text.length <= 60 ? text : text.slice(0, 60).replace(/\s+\S*$/, "") + "…";
  }

  function blockFor(it) {
    var ids = statementIds(it), key = blockKey(it), b = state.block;
    var same = b && b.key === key && b.order.length === ids.length &&
      b.order.slice().sort().join("\n") === ids.slice().sort().join("\n");
    if (!same) { b = state.block = { key: key, order: ids, most: null, least: null }; }
    return b;
  }

  function element(tag, className) {
    var el = document.createElement(tag);
    if (className) { el.className = className; }
    return el;
  }

  function clearBlock() {
    endDrag(false);
    var fc = $("fc");
    fc.hidden = true;
    fc.textContent = "";
    fc.removeAttribute("data-answer-mode");
  }

  // what has the focus inside the block, to give it back once redrawn
  function blockFocus() {
    var el = document.activeElement, fc = $("fc");
    if (!el || !fc.contains(el)) { return null; }
    var host = el.closest("[data-statement-id]");
    return host ? { id: host.getAttribute("data-statement-id"), part: el.getAttribute("data-part") || "" } : null;
  }

  function restoreBlockFocus(saved) {
    if (!saved) { return; }
    var nodes = $("fc").querySelectorAll("[data-statement-id]");
    for (var i = 0; i < nodes.length; i++) {
      var host = nodes[i];
      if (host.getAttribute("data-statement-id") !== saved.id) { continue; }
      var target = saved.part ? host.querySelector('[data-part="' + saved.part + '"]') : null;
      if (!target && (host.getAttribute("data-part") || "") === saved.part) { target = host; }
      if (target) { target.focus({ preventScroll: true }); return; }
    }
  }

  function drawBlock(it) {
    endDrag(false);
    var fc = $("fc"), b = blockFor(it), mode = blockMode(it), saved = blockFocus();
    fc.textContent = "";
    fc.hidden = false;
    fc.setAttribute("data-answer-mode", mode);
    fc.appendChild(mode === "rank" ? buildRank(it, b) : buildMostLeast(it, b));
    refreshBlock();
    restoreBlockFocus(saved);
  }

  function buildRank(it, b) {
    var list = element("ol", "fc-rank");
    list.id = "fc-rank";
    list.setAttribute("aria-labelledby", "hint");
    for (var i = 0; i < b.order.length; i++) {
      var id = b.order[i];
      var row = element("li", "fc-row");
      row.tabIndex = 0;
      row.setAttribute("data-statement-id", id);
      row.setAttribute("aria-describedby", "keys-hint");
      var pos = element("span", "fc-pos");
      pos.setAttribute("aria-hidden", "true");
      var grip = element("span", "fc-grip");
      grip.setAttribute("aria-hidden", "true");
      var text = element("span", "fc-text");
      text.textContent = statementText(id);
      if (it.language) { text.setAttribute("lang", it.language); }
      var moves = element("span", "fc-moves");
      moves.appendChild(moveButton("up"));
      moves.appendChild(moveButton("down"));
      row.appendChild(grip);
      row.appendChild(pos);
      row.appendChild(text);
      row.appendChild(moves);
      list.appendChild(row);
    }
    return list;
  }

  function moveButton(direction) {
    var button = element("button", "fc-move fc-" + direction);
    button.type = "button";
    button.setAttribute("data-part", direction);
    return button;
  }

  function buildMostLeast(it, b) {
    var grid = element("div", "fc-ml");
    grid.id = "fc-ml";
    var n = it.statements.length;
    grid.style.gridTemplateRows = "auto repeat(" + n + ", minmax(3.5rem, auto))";
    grid.appendChild(radioColumn(it, b, "most"));
    for (var i = 0; i < n; i++) {
      var text = element("p", "fc-ml-text");
      text.id = "fc-text-" + i;
      text.setAttribute("data-statement-id", String(it.statements[i].id));
      text.style.gridRow = String(i + 2);
      text.textContent = it.statements[i].text || "";
      if (it.language) { text.setAttribute("lang", it.language); }
      grid.appendChild(text);
    }
    grid.appendChild(radioColumn(it, b, "least"));
    return grid;
  }

  function radioColumn(it, b, kind) {
    var group = element("div", "fc-ml-group fc-ml-" + kind);
    group.id = "fc-" + kind;
    group.setAttribute("role", "radiogroup");
    group.setAttribute("aria-labelledby", "fc-" + kind + "-label");
    var head = element("span", "fc-ml-head");
    head.id = "fc-" + kind + "-label";
    head.style.gridRow = "1";
    group.appendChild(head);
    for (var i = 0; i < it.statements.length; i++) {
      var id = String(it.statements[i].id);
      var cell = element("label", "fc-ml-cell");
      cell.style.gridRow = String(i + 2);
      var input = document.createElement("input");
      input.type = "radio";
      input.name = "fc-" + kind;
      input.id = "fc-" + kind + "-" + i;
      input.value = id;
      input.setAttribute("data-statement-id", id);
      input.setAttribute("data-part", kind);
      input.setAttribute("aria-labelledby", "fc-text-" + i);
      input.checked = b[kind] === id;
      cell.appendChild(input);
      group.appendChild(cell);
    }
    return group;
  }

  // the block's interface texts, in the page's language (the statements are the server's)
  function drawBlockTexts() {
    var most = $("fc-most-label"), least = $("fc-least-label");
    if (most) { most.textContent = t("fc_most"); }
    if (least) { least.textContent = t("fc_least"); }
    refreshBlock();
  }

  // numbers, names and what may be used now, from the order on screen and the choices made
  function refreshBlock() {
    var list = $("fc-rank");
    if (list) {
      var rows = list.children, n = rows.length;
      for (var i = 0; i < n; i++) {
        var row = rows[i], text = statementText(row.getAttribute("data-statement-id"));
        row.setAttribute("data-rank", String(i + 1));
        row.setAttribute("aria-label", t("fc_position", { k: i + 1, n: n, text: text }));
        row.querySelector(".fc-pos").textContent = String(i + 1);
        var up = row.querySelector(".fc-up"), down = row.querySelector(".fc-down");
        up.setAttribute("aria-label", t("fc_move_up", { text: text }));
        down.setAttribute("aria-label", t("fc_move_down", { text: text }));
        // aria-disabled, not disabled: a button that has the focus keeps it at the top or bottom
        up.setAttribute("aria-disabled", state.submitting || i === 0 ? "true" : "false");
        down.setAttribute("aria-disabled", state.submitting || i === n - 1 ? "true" : "false");
      }
      list.classList.toggle("busy", state.submitting);
    }
    var grid = $("fc-ml"), b = state.block;
    if (grid && b) {
      var inputs = grid.querySelectorAll('input[type="radio"]');
      for (var j = 0; j < inputs.length; j++) {
        var input = inputs[j], most = input.name === "fc-most";
        input.checked = (most ? b.most : b.least) === input.value;
        // a statement chosen in one column cannot be chosen in the other
        input.disabled = state.submitting || (most ? b.least : b.most) === input.value;
      }
      var texts = grid.querySelectorAll(".fc-ml-text");
      for (var k = 0; k < texts.length; k++) {
        var sid = texts[k].getAttribute("data-statement-id");
        texts[k].classList.toggle("is-most", sid === b.most);
        texts[k].classList.toggle("is-least", sid === b.least);
      }
    }
  }

  function rankRows() { return Array.prototype.slice.call($("fc-rank").children); }

  function commitRank() {
    state.block.order = rankRows().map(function (row) { return row.getAttribute("data-statement-id"); });
    refreshBlock();
  }

  var speakTimer = null;
  function speak(message) {
    var live = $("fc-live");
    clearTimeout(speakTimer);
    live.textContent = "";
    speakTimer = setTimeout(function () { live.textContent = message; }, 50);
  }

  function spokenMove(row) {
    var rows = rankRows();
    return t("fc_moved", { text: shortText(statementText(row.getAttribute("data-statement-id"))),
      k: rows.indexOf(row) + 1, n: rows.length });
  }

  /* One place up (-1) or down (+1). The neighbour is what moves in the document, so that the
   * statement, and the focus on it or on its button, stays where it is. */
  function moveStatement(row, delta) {
    if (state.submitting || !state.block) { return; }
    var list = row.parentNode, rows = rankRows(), i = rows.indexOf(row), j = i + delta;
    var text = shortText(statementText(row.getAttribute("data-statement-id")));
    if (j < 0) { speak(t("fc_first", { text: text })); return; }
    if (j >= rows.length) { speak(t("fc_last", { text: text })); return; }
    if (delta < 0) { list.insertBefore(rows[j], row.nextSibling); } else { list.insertBefore(rows[j], row); }
    commitRank();
    speak(spokenMove(row));
    row.scrollIntoView({ block: "nearest" });
  }

  function onBlockKey(event) {
    var target = event.target, row = target.closest ? target.closest(".fc-row") : null;
    if (!row || event.ctrlKey || event.metaKey || event.shiftKey) { return; }
    if (event.key !== "ArrowUp" && event.key !== "ArrowDown") { return; }
    var up = event.key === "ArrowUp";
    if (event.altKey) {
      event.preventDefault();
      moveStatement(row, up ? -1 : 1);
    } else if (target === row) {
      event.preventDefault();
      var to = up ? row.previousElementSibling : row.nextElementSibling;
      if (to) { to.focus(); }
    }
  }

  function onBlockClick(event) {
    var button = event.target.closest ? event.target.closest("button.fc-move") : null;
    if (!button) { return; }
    moveStatement(button.closest(".fc-row"), button.classList.contains("fc-up") ? -1 : 1);
  }

  function onBlockChange(event) {
    var input = event.target, b = state.block;
    if (!b || !input || input.type !== "radio") { return; }
    if (input.name === "fc-most") { b.most = input.value; if (b.least === b.most) { b.least = null; } }
    if (input.name === "fc-least") { b.least = input.value; if (b.most === b.least) { b.most = null; } }
    updateNext();
  }

  // -- dragging (Pointer Events) ---------------------------------------------------------------
  var drag = null;

  function onDragStart(event) {
    var target = event.target;
    var row = target.closest ? target.closest(".fc-row") : null;
    if (!row || drag || state.submitting || !event.isPrimary || event.button !== 0) { return; }
    if (target.closest("button")) { return; }
    if (event.pointerType === "touch" && !target.closest(".fc-grip")) { return; }   // a finger scrolls
    drag = { row: row, pointer: event.pointerId, startY: event.clientY, active: false,
      grab: event.clientY - row.getBoundingClientRect().top, before: state.block.order.slice() };
    window.addEventListener("pointermove", onDragMove);
    window.addEventListener("pointerup", onDragEnd);
    window.addEventListener("pointercancel", onDragCancel);
    window.addEventListener("keydown", onDragKey, true);
  }

  function onDragMove(event) {
    if (!drag || event.pointerId !== drag.pointer) { return; }
    var row = drag.row, y = event.clientY;
    if (!row.isConnected) { endDrag(false); return; }
    if (!drag.active) {
      if (Math.abs(y - drag.startY) < 5) { return; }
      drag.active = true;
      row.classList.add("dragging");
      row.parentNode.classList.add("sorting");
      if (document.activeElement !== row) { row.focus({ preventScroll: true }); }
    }
    event.preventDefault();
    // past a neighbour's middle, the neighbour takes the dragged statement's place
    var prev = row.previousElementSibling, next = row.nextElementSibling, list = row.parentNode;
    while (prev && y < middle(prev)) { list.insertBefore(prev, row.nextSibling); prev = row.previousElementSibling; }
    while (next && y > middle(next)) { list.insertBefore(next, row); next = row.nextElementSibling; }
    row.style.transform = "";
    var top = row.getBoundingClientRect().top;
    row.style.transform = "translateY(" + Math.round(y - drag.grab - top) + "px)";
    refreshBlock();
  }

  function middle(el) {
    var r = el.getBoundingClientRect();
    return r.top + r.height / 2;
  }

  function onDragEnd(event) {
    if (!drag || event.pointerId !== drag.pointer) { return; }
    endDrag(true);
  }

  function onDragCancel(event) {
    if (!drag || event.pointerId !== drag.pointer) { return; }
    endDrag(false);
  }

  function onDragKey(event) {
    if (drag && drag.active && event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      endDrag(false);
    }
  }

  /* The end of a drag: kept (the pointer let go) or undone (Escape, a cancelled touch, the item
   * redrawn or sent meanwhile). */
  function endDrag(keep) {
    if (!drag) { return; }
    var d = drag;
    drag = null;
    window.removeEventListener("pointermove", onDragMove);
    window.removeEventListener("pointerup", onDragEnd);
    window.removeEventListener("pointercancel", onDragCancel);
    window.removeEventListener("keydown", onDragKey, true);
    var row = d.row;
    row.classList.remove("dragging");
    row.style.transform = "";
    if (!row.isConnected || !d.active) { return; }
    var list = row.parentNode;
    list.classList.remove("sorting");
    if (!keep) {
      var rows = rankRows();
      for (var i = 0; i < d.before.length; i++) {
        for (var j = 0; j < rows.length; j++) {
          if (rows[j].getAttribute("data-statement-id") === d.before[i]) { list.appendChild(rows[j]); }
        }
      }
      refreshBlock();
      if (document.activeElement !== row) { row.focus({ preventScroll: true }); }
      return;
    }
    commitRank();
    row.focus({ preventScroll: true });
    if (d.before.join("\n") !== state.block.order.join("\n")) { speak(spokenMove(row)); }
  }

  // -- the answer ------------------------------------------------------------------------------
  function submit() {
    var it = state.item;
    if (state.submitting || !it || state.screen !== "item" || !answerReady()) { return; }
    endDrag(false);
    state.submitting = true;
    stopPolling();
    updateNext();
    announce(t("sending"));
    var elapsed = Math.max(0, (performance.now() - (state.shownAt || performance.now())) / 1000);
    var answer = { position: it.position, item_id: it.item_id };
    if (!isBlock(it)) {
      answer.code = state.selected;
    } else if (blockMode(it) === "rank") {
      answer.ranking = state.block.order.slice();            // most like the candidate first
    } else {
      answer.most = state.block.most;
      answer.least = state.block.least;
    }
    answer.response_time_s = Math.round(Math.min(elapsed, 86400) * 1000) / 1000;
    answer.language = it.language || state.lang;
    var body = JSON.stringify(answer);     // built once: a retry sends the same bytes
    persist("POST", sessionPath("/answers"), body).then(function (response) {
      return json(response).then(function (data) {
        state.submitting = false;
        if (response.ok) {
          store("qabilet.shown." + sid, null);
          if (data.finished) { state.item = null; showEnd(); return; }
          return loadItem({});
        }
        // 409: the item changed under us (its time ran out, a pause, another device answered);
        // 422: refused. Either way, the server shows what is current.
        return loadItem({ conflictAt: it.position });
      });
    }).catch(function (err) {
      state.submitting = false;
      if (err instanceof Stop) { return; }
      updateNext();
      throw err;
    });
  }

  // -- intro -------------------------------------------------------------------------------------
  function duration(seconds) {
    var s = Math.round(seconds);
    return s >= 60 && s % 60 === 0 ? t("duration_min", { n: s / 60 }) :
      s >= 600 ? t("duration_min", { n: Math.round(s / 60) }) : t("duration_s", { n: s });
  }

  function drawIntro() {
    var s = state.session || {};
    var limit = num(s.time_limit_s), itemLimit = num(s.item_time_limit_s);
    $("intro-time").hidden = limit === null;
    if (limit !== null) { $("intro-time").textContent = t("intro_time_limit", { duration: duration(limit) }); }
    $("intro-item-time").hidden = itemLimit === null;
    if (itemLimit !== null) {
      $("intro-item-time").textContent = t("intro_item_limit", { duration: duration(itemLimit) });
    }
  }

  // -- the end -----------------------------------------------------------------------------------
  function showEnd() {
    stopPolling();
    store("qabilet.token." + sid, null);   // the session is over: nothing of it stays stored
    state.testEnd = state.itemEnd = null;
    showNotice(null);
    show("end", "end-title");
    drawEndText();
    // the reason it ended (completed, time, proctor) is on the session
    persist("GET", sessionPath()).then(function (response) {
      if (!response.ok) { return; }
      return json(response).then(function (s) { state.session = s; drawEndText(); });
    }).catch(function () { /* the generic text stays */ });
  }

  function drawEndText() {
    var reason = state.session && state.session.closed_reason;
    var key = reason === "timeout" ? "end_timeout" : reason === "terminated" ? "end_terminated" : "end_completed";
    $("end-text").textContent = t(key);
  }

  function toggleProfile() {
    var area = $("profile-area"), button = $("view-profile");
    if (!area.hidden) {
      area.hidden = true;
      document.body.classList.remove("profile-open");
      button.setAttribute("aria-expanded", "false");
      button.textContent = t("view_profile");
      button.setAttribute("data-i18n", "view_profile");
      return;
    }
    if (state.profileHtml !== null && state.profileLang === state.lang) { openProfile(); return; }
    loadProfile();
  }

  // the report in the page's language; a new language replaces the one shown (and the saved copy)
  function loadProfile() {
    var button = $("view-profile"), status = $("profile-status"), lang = state.lang;
    status.textContent = t("profile_loading");
    status.hidden = false;
    button.disabled = true;
    fetchProfile(0, lang).then(function (html) {
      button.disabled = false;
      if (html === null) { status.textContent = t("profile_failed"); announce(t("profile_failed")); return; }
      if (lang !== state.lang) { loadProfile(); return; }   // the language changed meanwhile
      status.hidden = true;
      state.profileHtml = html;
      state.profileLang = lang;
      if (state.profileUrl) { URL.revokeObjectURL(state.profileUrl); state.profileUrl = null; }
      openProfile();
    }, function (err) {
      button.disabled = false;
      if (!(err instanceof Stop)) { status.textContent = t("profile_failed"); }
    });
  }

  function reloadProfile() {
    if ($("profile-area").hidden) { state.profileHtml = null; return; }   // fetched when opened
    loadProfile();
  }

  function fetchProfile(attempt, lang) {
    return persist("GET", sessionPath("/report") + "?language=" + encodeURIComponent(lang)).then(function (response) {
      if (response.ok) { return response.text(); }
      if (response.status === 404 && attempt < 10) {   // issued a moment after the last answer
        $("profile-status").textContent = t("profile_not_ready");
        return sleep(2000).then(function () { return fetchProfile(attempt + 1, lang); });
      }
      return null;
    });
  }

  function openProfile() {
    var area = $("profile-area"), frame = $("profile-frame"), button = $("view-profile");
    frame.setAttribute("title", t("profile_title"));
    frame.onload = function () {
      try {   // same origin (no scripts run in it): fit the frame to the report
        var doc = frame.contentDocument;
        if (doc && doc.documentElement) { frame.style.height = (doc.documentElement.scrollHeight + 24) + "px"; }
      } catch (e) { /* the minimum height stays */ }
    };
    if (frame.srcdoc !== state.profileHtml) { frame.srcdoc = state.profileHtml; }
    area.hidden = false;
    document.body.classList.add("profile-open");
    button.setAttribute("aria-expanded", "true");
    button.setAttribute("data-i18n", "hide_profile");
    button.textContent = t("hide_profile");
    if (!state.profileUrl && window.Blob && window.URL) {
      state.profileUrl = URL.createObjectURL(new Blob([state.profileHtml], { type: "text/html" }));
      var save = $("save-profile");
      save.href = state.profileUrl;
      save.setAttribute("download", "profile-" + sid + ".html");
      save.hidden = false;
    }
    $("save-pdf").hidden = false;
    announce(t("profile_title"));
  }

  // the report printed by the server (A4 PDF) in the page's language: fetched with the session's
  // token (a link cannot carry it) and handed to the browser as a download; one attempt
  function savePdf() {
    var button = $("save-pdf"), status = $("profile-status"), lang = state.lang;
    button.disabled = true;
    status.textContent = t("pdf_preparing");
    status.hidden = false;
    request("GET", sessionPath("/report.pdf") + "?language=" + encodeURIComponent(lang)).then(function (response) {
      if (!response.ok) { throw new Error("report.pdf: " + response.status); }
      return response.blob();
    }).then(function (blob) {
      var link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = "profile-" + sid + "-" + lang + ".pdf";
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(function () { URL.revokeObjectURL(link.href); }, 60000);
      status.hidden = true;
    }).catch(function (err) {
      if (!(err instanceof Stop)) { status.textContent = t("pdf_failed"); }
    }).then(function () { button.disabled = false; });
  }

  // -- keyboard ------------------------------------------------------------------------------
  function onKey(event) {
    if (state.screen !== "item" || event.altKey || event.ctrlKey || event.metaKey) { return; }
    var target = event.target;
    if (target && (target.tagName === "TEXTAREA" || (target.tagName === "INPUT" && target.type === "text"))) { return; }
    if (/^[1-9]$/.test(event.key)) {
      var index = Number(event.key) - 1;
      if (state.item && index < (state.item.choices || []).length) {
        event.preventDefault();
        select(index, true);
      }
      return;
    }
    if (event.key === "Enter" && target && target.type === "radio") {
      event.preventDefault();   // Enter on a chosen answer goes on, as the button does
      submit();
    }
  }

  // -- start -----------------------------------------------------------------------------------
  function readToken() {
    var hash = window.location.hash.replace(/^#/, "");
    var params = new URLSearchParams(hash);
    var fromLink = params.get("token");
    var key = "qabilet.token." + sid;
    if (fromLink) {
      store(key, fromLink);
      // keep the token out of the address bar, the history and screenshots
      if (window.history && window.history.replaceState) {
        window.history.replaceState(null, "", window.location.pathname + window.location.search);
      }
      return fromLink;
    }
    return recall(key);
  }

  function loadTexts() {
    function attempt(wait) {
      return fetch("/static/i18n.json", { cache: "no-cache" }).then(function (r) {
        if (!r.ok) { throw new Error("i18n"); }
        return r.json();
      }).catch(function () {
        var el = $("banner");   // no texts yet: all three languages at once
        el.textContent = "Байланыс үзілді, қайта қосылуда… · Соединение потеряно, повторная попытка… · " +
          "Connection lost, retrying…";
        el.hidden = false;
        return waitOnline(wait).then(function () { return attempt(Math.min(wait * 2, RETRY_MAX_MS)); });
      });
    }
    return attempt(700);
  }

  function wire() {
    var buttons = document.querySelectorAll("button.lang");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].addEventListener("click", function (e) { chooseLanguage(e.currentTarget.getAttribute("data-lang")); });
    }
    $("item-form").addEventListener("submit", function (e) { e.preventDefault(); submit(); });
    $("choices").addEventListener("change", function (e) {
      if (e.target && e.target.name === "choice") {
        state.selected = Number(e.target.value);
        updateNext();
      }
    });
    $("begin").addEventListener("click", function () {
      $("begin").disabled = true;
      loadItem({}).then(function () { $("begin").disabled = false; });
    });
    var fc = $("fc");
    fc.addEventListener("keydown", onBlockKey);
    fc.addEventListener("click", onBlockClick);
    fc.addEventListener("change", onBlockChange);
    fc.addEventListener("pointerdown", onDragStart);
    $("view-profile").addEventListener("click", toggleProfile);
    $("save-pdf").addEventListener("click", savePdf);
    document.addEventListener("keydown", onKey);
    setInterval(tick, TICK_MS);
    document.addEventListener("visibilitychange", function () {
      // back to the tab (or the tablet woke up): the clocks may have run on without us
      if (!document.hidden && (state.screen === "item" || state.screen === "paused") &&
          !state.submitting && !state.fetching) { loadItem({ background: true }); }
    });
  }

  function boot() {
    wire();
    loadTexts().then(function (data) {
      texts = data;
      banner(null);
      var saved = recall("qabilet.lang." + sid);
      state.lang = LANGS.indexOf(saved) >= 0 ? saved : "kk";
      applyLanguage();
      if (!sid) { showInvalid(); return; }
      state.token = readToken();
      if (!state.token) { showInvalid(); return; }
      return persist("GET", sessionPath()).then(function (response) {
        return json(response).then(function (s) {
          if (!response.ok) { showInvalid(); return; }   // 404: no such session
          state.session = s;
          if (LANGS.indexOf(saved) < 0 && LANGS.indexOf(s.language) >= 0) {
            state.lang = s.language;                         // default: the session's language
          }
          applyLanguage();
          syncClocks(s);
          if (s.finished) { showEnd(); return; }
          if (s.status === "ready") {                        // the clock starts on "Begin"
            drawIntro();
            show("intro", "intro-title");
            return;
          }
          return loadItem({});
        });
      });
    }).catch(function (err) {
      if (err instanceof Stop) { return; }
      throw err;
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", boot);
  } else {
    boot();
  }
})();
