"""What the staff pages' tests share: a server on the small organisation, signing in, forms, Chromium.

* :func:`world_server`: the body of a module-scoped fixture — a real server on a private copy of
  the demonstration bank with the organisation and accounts of ``tests/attestation/_world.py``;
* :func:`signed_in`, :func:`post`: an account's client, and a form posted with its CSRF token;
* ``staff_browser``: Chromium, launched once per test module (each test opens contexts of its
  own: nothing is shared between them but the browser process). Not once per test session:
  Playwright's synchronous API runs one at a time in a thread, and the modules after these
  start their own; :func:`signed_in_page`: a page of a context that carries a signed-in
  client's cookie; :func:`pause_resume_extend`: the proctor's three actions on a session's row
  of the room page.

Loaded as a plugin by ``tests/conftest.py`` (the ``staff_browser`` fixture).
"""

from __future__ import annotations

import re
import shutil
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.api._server import Server
from tests.attestation._world import PASSWORD, build

__all__ = ["DEADLINES", "form_token", "pause_resume_extend", "post", "signed_in",
           "signed_in_page", "staff_browser", "world_server"]

#: a campaign's deadlines (in 2099: ahead of every test's clock)
DEADLINES = {"sheets": "2099-03-20", "testing_from": "2099-04-03", "testing_until": "2099-04-14",
             "interviews_until": "2099-04-28", "decisions": "2099-05-12"}
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
#: each signed-in client's session CSRF token, read once from a page (it lasts as its session)
_tokens: weakref.WeakKeyDictionary[httpx.Client, str] = weakref.WeakKeyDictionary()


def world_server(demo_db_file, tmp_path_factory: pytest.TempPathFactory, name: str, *,
                 env: dict[str, str] | None = None,
                 prepare: Callable[[str], Any] | None = None) -> Iterator[tuple[str, str]]:
    """Start a server on a copy of the demonstration bank with the small organisation; stop it.

    ``prepare(url)`` adds what the module needs before the server starts. Yields the server's
    base URL and the database's URL.
    """
    path = tmp_path_factory.mktemp(name) / "demo.db"
    shutil.copy(demo_db_file, path)
    url = f"sqlite:///{path}"
    build(url)
    if prepare is not None:
        prepare(url)
    running = Server(url, env=env).start()
    try:
        yield running.base, url
    finally:
        running.stop()


def form_token(client: httpx.Client, base: str) -> str:
    """The sign-in form's double-submit token (its cookie kept by ``client``)."""
    return _CSRF.search(client.get(f"{base}/staff/sign-in").text).group(1)


def signed_in(base: str, username: str, password: str = PASSWORD) -> httpx.Client:
    """A client signed in as ``username`` (a 303 to the home page, asserted)."""
    client = httpx.Client(follow_redirects=False, timeout=60)
    r = client.post(f"{base}/staff/sign-in", data={"username": username, "password": password,
                                                   "csrf": form_token(client, base)})
    assert r.status_code == 303, r.text
    return client


def post(client: httpx.Client, base: str, path: str, data: dict) -> httpx.Response:
    """A form posted with the session's CSRF token (every page's sign-out form carries it)."""
    if client not in _tokens:
        _tokens[client] = _CSRF.search(client.get(f"{base}/staff/").text).group(1)
    return client.post(f"{base}{path}", data={**data, "csrf": _tokens[client]})


@pytest.fixture(scope="module")
def staff_browser():
    """Chromium, launched by Playwright once for a module's tests (and closed after them)."""
    from tests.delivery.test_report_html import _chromium

    playwright = pytest.importorskip("playwright.sync_api")
    exe = _chromium()
    with playwright.sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        yield launched
        launched.close()


@contextmanager
def signed_in_page(browser, base: str, client: httpx.Client) -> Iterator[Any]:
    """A page of a new browser context holding ``client``'s staff cookie; the context closed after."""
    context = browser.new_context()
    context.add_cookies([{"name": "qabilet_staff", "value": client.cookies["qabilet_staff"],
                          "url": f"{base}/staff/"}])
    try:
        yield context.new_page()
    finally:
        context.close()


def pause_resume_extend(tab, base: str, room: str, session_id: str, *, note: str,
                        minutes: int) -> None:
    """On the room page (``room``: its path and query), pause a session, resume it, extend it.

    Each from the session's row, each form posted back to the room page; the status reads
    ``paused`` after the pause.
    """
    row = f"tr[data-session='{session_id}']"
    tab.fill(f"{row} input[name=text]", note)
    tab.click(f"{row} button[value=pause]")
    tab.wait_for_url(f"{base}{room}")
    assert tab.inner_text(f"{row} .status") == "paused"
    tab.click(f"{row} button[value=resume]")
    tab.wait_for_url(f"{base}{room}")
    tab.fill(f"{row} input[name=minutes]", str(minutes))
    tab.click(f"{row} button[value=extra_time]")
    tab.wait_for_url(f"{base}{room}")
