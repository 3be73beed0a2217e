"""The staff pages over real HTTP and in Chromium: signing in from the keyboard in each language,
the cookie's attributes, what each account reaches (an HR officer their units, a supervisor their
employees, an employee their own record; 404 for the rest), CSRF tokens on every form, the
lockout, signing out."""

from __future__ import annotations

import re
import shutil

import httpx
import pytest

from qabilet.api.settings import Settings
from qabilet.api.staff_pages import cookie_secure
from qabilet.api.staff_words import LANGUAGES, ROLE_WORDS, WORDS, word
from tests.api._server import Server
from tests.api._staff import form_token, signed_in, world_server
from tests.attestation._world import PASSWORD


@pytest.fixture(scope="module")
def site(demo_db_file, tmp_path_factory):
    yield from world_server(demo_db_file, tmp_path_factory, "staff",
                            env={"QABILET_STAFF_MAX_FAILURES": "3"})


def test_every_word_is_in_every_language_and_every_template_word_exists():
    from qabilet.api.staff_pages import TEMPLATES
    for table in (WORDS, ROLE_WORDS):
        for key, texts in table.items():
            assert set(texts) == set(LANGUAGES) and all(texts.values()), key
    pages = "".join(f.read_text() for f in TEMPLATES.glob("*.html"))
    used = set(re.findall(r't\(["\'](\w+)["\']\s*[,)]', pages))
    assert used and used <= set(WORDS), used - set(WORDS)
    for prefix in set(re.findall(r't\(["\'](\w+)["\']\s*~', pages)):  # keys made on the page
        assert any(key.startswith(prefix) for key in WORDS), prefix


@pytest.mark.parametrize("lang", LANGUAGES)
def test_an_hr_officer_signs_in_from_the_keyboard_and_sees_only_their_units(site, staff_browser,
                                                                           lang):
    base, _ = site
    context = staff_browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/staff/?lang={lang}")
    assert page.url.startswith(f"{base}/staff/sign-in")  # not signed in: to the form
    assert page.locator("html").get_attribute("lang") == lang
    page.keyboard.press("Tab")  # the first stop is the skip link
    assert page.evaluate("document.activeElement.className") == "skip"
    page.focus("#username")
    page.keyboard.type("hr-a")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/staff/")
    assert ROLE_WORDS["hr"][lang] in page.inner_text("main")
    cookie = next(c for c in context.cookies() if c["name"] == "qabilet_staff")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/staff"
    assert not cookie["secure"]  # plain HTTP here; Secure over TLS (the next test)
    page.click("a[href='/staff/employees']")
    numbers = set(page.locator("#employees tbody tr td:first-child").all_inner_texts())
    assert numbers == {"A-HEAD", "A-1", "A-2"}  # U-A and U-A1, nothing of U-B
    page.goto(f"{base}/staff/employees/B-1")
    assert word("not_found", lang) in page.inner_text("main")
    page.goto(f"{base}/staff/employees/A-1")
    assert "Amanov" in page.inner_text("h1")
    page.click("form.sign-out button")
    page.wait_for_load_state()
    assert word("signed_out", lang) in page.inner_text("main")
    assert not [c for c in context.cookies() if c["name"] == "qabilet_staff"]
    page.goto(f"{base}/staff/employees")
    assert page.url.startswith(f"{base}/staff/sign-in")
    context.close()


def test_a_supervisor_sees_their_employees_and_an_employee_their_own_record(site):
    base, _ = site
    head = signed_in(base, "head-a")
    listed = head.get(f"{base}/staff/employees").text
    assert "A-1" in listed and "A-2" in listed and "B-1" not in listed
    assert head.get(f"{base}/staff/employees/B-1").status_code == 404
    assert head.get(f"{base}/staff/employees/A-HEAD").status_code == 200  # their own
    clerk = signed_in(base, "staff-b")
    assert clerk.get(f"{base}/staff/employees/B-1").status_code == 200
    for other in ("B-HEAD", "A-1", "NOBODY"):
        assert clerk.get(f"{base}/staff/employees/{other}").status_code == 404
    assert 'id="employees"' not in clerk.get(f"{base}/staff/employees").text


def test_forms_need_their_tokens(site):
    base, _ = site
    client = httpx.Client()  # a sign-in without the form's cookie: a forged cross-site post
    r = client.post(f"{base}/staff/sign-in", data={"username": "hr-a", "password": PASSWORD,
                                                   "csrf": "guessed"})
    assert r.status_code == 403 and "qabilet_staff" not in r.headers.get("set-cookie", "")
    signed = signed_in(base, "hr-a")
    r = signed.post(f"{base}/staff/sign-out", data={"csrf": "guessed"})
    assert r.status_code == 403
    assert signed.get(f"{base}/staff/").status_code == 200  # still signed in
    page = signed.get(f"{base}/staff/").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert signed.post(f"{base}/staff/sign-out", data={"csrf": token}).status_code == 200
    assert signed.get(f"{base}/staff/").status_code == 303


def test_repeated_failures_lock_the_account_and_say_until_when(site):
    base, _ = site
    client = httpx.Client()
    statuses = []
    for _ in range(4):
        r = client.post(f"{base}/staff/sign-in?lang=en", data={
            "username": "hr-b", "password": "not the password", "csrf": form_token(client, base)})
        statuses.append(r.status_code)
    assert statuses == [401, 401, 403, 403]  # QABILET_STAFF_MAX_FAILURES=3
    assert "Too many failed sign-ins" in r.text
    r = client.post(f"{base}/staff/sign-in", data={"username": "hr-b", "password": PASSWORD,
                                                   "csrf": form_token(client, base)})
    assert r.status_code == 403  # the right password too, until the lockout ends


def test_the_cookie_is_secure_when_the_server_says_tls(site, tmp_path):
    _, url = site
    copy = tmp_path / "copy.db"
    shutil.copy(url.removeprefix("sqlite:///"), copy)
    running = Server(f"sqlite:///{copy}", env={"QABILET_STAFF_COOKIE_SECURE": "always"}).start()
    try:
        form = httpx.get(f"{running.base}/staff/sign-in")
        assert re.search(r"(?i);\s*secure", form.headers["set-cookie"])  # the form's too
        token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        r = httpx.post(f"{running.base}/staff/sign-in", headers={
            "Cookie": f"qabilet_sign_in={token}"},  # as a browser would send it over TLS
            data={"username": "head-a", "password": PASSWORD, "csrf": token})
        cookie = r.headers["set-cookie"]
        assert r.status_code == 303 and "qabilet_staff=" in cookie
        assert re.search(r"(?i);\s*secure", cookie) and re.search(r"(?i)httponly", cookie)
        assert re.search(r"(?i)samesite=lax", cookie)
    finally:
        running.stop()


def test_the_cookie_is_secure_when_a_trusted_proxy_says_the_client_used_tls():
    """TLS ends at the reverse proxy: the proxy's ``X-Forwarded-Proto: https`` makes ``auto``
    secure — from a trusted proxy only; a client cannot switch it either way itself."""
    trusted = Settings(trusted_proxies="10.0.0.0/8").trusted_proxies

    def scope(peer: str, *said: str, scheme: str = "http") -> dict:
        return {"scheme": scheme, "client": (peer, 5000),
                "headers": [(b"x-forwarded-proto", s.encode()) for s in said]}

    assert cookie_secure("auto", scope("10.0.0.5", "https"), trusted)
    assert cookie_secure("auto", scope("10.0.0.5", "http, https"), trusted)  # the nearest proxy's
    assert not cookie_secure("auto", scope("10.0.0.5", "https, http"), trusted)
    assert not cookie_secure("auto", scope("10.0.0.5"), trusted)  # the proxy says nothing: http
    assert not cookie_secure("auto", scope("192.0.2.1", "https"), trusted)  # a client's own word
    assert not cookie_secure("auto", scope("10.0.0.5", "https"), ())  # no proxy trusted
    assert cookie_secure("auto", scope("192.0.2.1", "http", scheme="https"), trusted)  # TLS here
    assert cookie_secure("always", scope("192.0.2.1"), ()) and \
        not cookie_secure("never", scope("10.0.0.5", "https"), trusted)
