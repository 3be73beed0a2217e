"""The staff pages (``/staff``): server-rendered HTML for people signed in with a staff account.

Plain HTML from Jinja2 templates (``staff_templates/``, autoescaped), no script at all, in Kazakh,
Russian or English (``?lang=``, then a cookie, then the browser's ``Accept-Language``), usable
from the keyboard (a skip link, labelled fields, visible focus). What a page shows is what the
account's grants reach (:mod:`qabilet.attestation.access`): an employee outside it is a 404,
the same page as one that does not exist.

Signing in (:mod:`qabilet.attestation.accounts`): the form carries a token that must equal the
one in a short-lived cookie (a double-submit token: a sign-in cannot be forged from another
site); a success opens a server-side session whose secret is the ``qabilet_staff`` cookie —
``HttpOnly``, ``SameSite=Lax``, ``Path=/staff``, ``Secure`` when served over TLS — to the
server, or to a trusted proxy that says so (``QABILET_STAFF_COOKIE_SECURE``,
:func:`cookie_secure`). Every form posted while signed in carries the session's CSRF
token, checked before anything is done (403 otherwise). Failed sign-ins are counted per
account (a lockout after ``QABILET_STAFF_MAX_FAILURES``) and per client address (the API's
throttle). Signing out ends the session on the server and clears the cookie.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool

from qabilet.api.auth import client_address, client_scheme
from qabilet.api.dependencies import Services, services_of
from qabilet.api.staff_words import LANGUAGES, ROLE_WORDS, WORDS, word
from qabilet.attestation.access import EMPLOYEE_READERS, Reach
from qabilet.attestation.accounts import Account, AccountLocked, SignInRefused, StaffSession
from qabilet.attestation.campaigns import Member
from qabilet.attestation.organisation import Employee
from qabilet.engine.exceptions import QabiletError
from qabilet.itembank.content import Language

__all__ = ["COOKIE", "Refused", "SignInFirst", "Signed", "account_of", "cookie_secure",
           "csrf_ok", "form_account", "install", "language_of", "reached_employee", "reached_member",
           "render", "router", "signed_in", "Staff", "StaffForm", "to_sign_in", "unit_names"]

TEMPLATES = Path(__file__).with_name("staff_templates")
#: the session cookie, and the sign-in form's double-submit cookie
COOKIE, SIGN_IN_COOKIE, LANGUAGE_COOKIE = "qabilet_staff", "qabilet_sign_in", "qabilet_lang"
#: no script, styles from the server only, forms posted to the server only, never framed
PAGE_POLICY = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
               "frame-ancestors 'none'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-store",
           "Referrer-Policy": "no-referrer"}
_NATIVE = {"kk": "Қазақша", "ru": "Русский", "en": "English"}

router = APIRouter(prefix="/staff", include_in_schema=False)
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
Field = Annotated[str, Form()]


@dataclass(frozen=True, slots=True)
class Signed:
    """A request's signed-in account: its session, record and reach."""

    secret: str
    session: StaffSession
    account: Account
    reach: Reach


def language_of(request: Request) -> Language:
    """``?lang=``, else the cookie, else the first of the browser's languages we have; else ru."""
    asked = request.query_params.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    if asked in LANGUAGES:
        return cast(Language, asked)
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return cast(Language, code)
    return "ru"


def render(request: Request, template: str, *, status: int = 200, signed: Signed | None = None,
            message: str | None = None, **context: Any) -> HTMLResponse:
    """A page from ``template``, in the request's language, with the security headers.

    ``signed``: the account shown at the top (and whose CSRF token the forms carry);
    ``message``: a line shown above the page (an error, a confirmation).
    """
    lang = language_of(request)

    def t(key: str, **values: object) -> str:
        return word(key, lang, **values)

    page = _env.get_template(template).render(
        t=t, lang=lang, words=WORDS, languages=[(c, _NATIVE[c]) for c in LANGUAGES], message=message,
        account=signed.account if signed else None,
        csrf=signed.session.csrf if signed else context.pop("csrf", ""), **context)
    response = HTMLResponse(page, status_code=status, headers={**HEADERS, "Content-Language": lang})
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, lang, max_age=365 * 86400, path="/staff",
                            samesite="lax", httponly=True, secure=_secure(request))
    return response


def _secure(request: Request) -> bool:
    settings = services_of(request.app).settings
    return cookie_secure(settings.staff_cookie_secure, request.scope, settings.trusted_proxies)


def cookie_secure(setting: str, scope: Any, trusted: Any = ()) -> bool:
    """Whether the staff cookies get ``Secure``: ``always``, ``never``, or ``auto``.

    ``auto``: when the client's request came over TLS — to this server, or to a trusted proxy
    that says so in ``X-Forwarded-Proto`` (:func:`qabilet.api.auth.client_scheme`).
    """
    return setting == "always" or (setting == "auto" and client_scheme(scope, trusted) == "https")


def signed_in(request: Request) -> Signed | None:
    """The signed-in account of the request's cookie; None for no, an ended or an idle session."""
    secret = request.cookies.get(COOKIE)
    if not secret or len(secret) > 128:
        return None
    services = services_of(request.app)
    session = services.accounts.session(secret)
    if session is None:
        return None
    account = services.accounts.account(session.account)
    return Signed(secret, session, account, services.accounts.reach_of(account.id))


class Refused(Exception):  # noqa: N818  (a page's answer, not an error of the server)
    """A page's refusal: the problem page with a word's heading (or a text) and a status.

    Raised anywhere in a page's handler; :func:`install` answers it. A record outside the
    account's reach is ``Refused(404)``: the same page as for one that does not exist.
    """

    def __init__(self, status: int = 404, key: str = "not_found", text: str | None = None):
        super().__init__(text or key)
        self.status, self.key, self.text = status, key, text


class SignInFirst(Exception):  # noqa: N818
    """No signed-in account: :func:`install` answers with the sign-in form's address."""


def account_of(request: Request) -> Signed:
    """The signed-in account (a dependency; :class:`SignInFirst` without one)."""
    signed = signed_in(request)
    if signed is None:
        raise SignInFirst
    return signed


async def form_account(request: Request,
                       signed: Annotated[Signed, Depends(account_of)]) -> Signed:
    """The signed-in account of a form's post, its CSRF token checked (403 otherwise)."""
    form = await request.form()
    if not csrf_ok(signed, str(form.get("csrf", ""))):
        raise Refused(403, "form_expired")
    return signed


#: a page's signed-in account; a form post's, its CSRF token checked
Staff = Annotated[Signed, Depends(account_of)]
StaffForm = Annotated[Signed, Depends(form_account)]


def _member_of(services: Services, campaign_id: str, personal_number: str) -> Member | None:
    """A campaign's member (ids cut to their longest), or None."""
    try:
        return services.campaigns.member(campaign_id[:64], personal_number[:64])
    except QabiletError:
        return None


def reached_employee(services: Services, personal_number: str,
                     may: Callable[[Employee], bool]) -> Employee:
    """An employee's record, when ``may(employee)`` lets the account in (404 otherwise, alike)."""
    try:
        found = services.organisation.employee(personal_number[:64])
    except QabiletError:
        raise Refused(404) from None
    if not may(found):
        raise Refused(404)
    return found


def reached_member(services: Services, campaign_id: str, personal_number: str,
                   may: Callable[[Member, Employee], bool]) -> tuple[Member, Employee]:
    """A campaign's member and their record, when ``may(member, employee)`` lets the account in.

    The one check of every page about a member: no such campaign or member, and a member
    ``may`` refuses, are the same :class:`Refused` (404).
    """
    member = _member_of(services, campaign_id, personal_number)
    if member is None:
        raise Refused(404)
    employee = services.organisation.employee(member.personal_number)
    if not may(member, employee):
        raise Refused(404)
    return member, employee


def install(app: Any) -> None:
    """Answer :class:`Refused` with the problem page and :class:`SignInFirst` with a redirect."""

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refused)
        signed = await run_in_threadpool(signed_in, request)
        heading = exc.text or word(exc.key, language_of(request))
        return render(request, "problem.html", status=exc.status, signed=signed, heading=heading)

    async def sign_in_first(request: Request, exc: Exception) -> Response:
        return to_sign_in(request)

    app.add_exception_handler(Refused, refused)
    app.add_exception_handler(SignInFirst, sign_in_first)


def to_sign_in(request: Request) -> RedirectResponse:
    """303 to the sign-in form, in the request's language."""
    return RedirectResponse(f"/staff/sign-in?lang={language_of(request)}", status_code=303)


def csrf_ok(signed: Signed, given: str) -> bool:
    """Whether a form's token is the session's (compared in constant time)."""
    return hmac.compare_digest(signed.session.csrf.encode(), given.encode())


# -- signing in and out ----------------------------------------------------------------------------
@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request) -> Response:
    """The sign-in form, with a fresh double-submit token (its cookie lives ten minutes)."""
    if signed_in(request) is not None:
        return RedirectResponse("/staff/", status_code=303)
    return _sign_in_form(request)


def _sign_in_form(request: Request, *, status: int = 200, message: str | None = None,
                  username: str = "") -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = render(request, "sign_in.html", status=status, message=message, csrf=token,
                       username=username)
    response.set_cookie(SIGN_IN_COOKIE, token, max_age=600, path="/staff", samesite="strict",
                        httponly=True, secure=_secure(request))
    return response


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(request: Request, username: Field = "", password: Field = "",
            csrf: Field = "") -> Response:
    """Check the account's name and password; on success open a session (303 to the home page)."""
    services = services_of(request.app)
    lang = language_of(request)
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), csrf.encode()):
        return _sign_in_form(request, status=403, message=word("form_expired", lang))
    address = client_address(request.scope, services.settings.trusted_proxies)
    wait = services.throttle.retry_after([("addr", address)])
    if wait is not None:
        return _sign_in_form(request, status=429, message=word("throttled", lang,
                                                               seconds=int(wait) + 1))
    try:
        secret, _ = services.accounts.sign_in(username.strip()[:64], password[:256],
                                              address=address)
    except AccountLocked as exc:
        services.throttle.failed([("addr", address)])
        return _sign_in_form(request, status=403, username=username[:64],
                             message=word("locked", lang, until=f"{exc.until:%H:%M}"))
    except SignInRefused:
        services.throttle.failed([("addr", address)])
        return _sign_in_form(request, status=401, username=username[:64],
                             message=word("refused", lang))
    response = RedirectResponse("/staff/", status_code=303)
    response.set_cookie(COOKIE, secret, path="/staff", httponly=True, samesite="lax",
                        secure=_secure(request))
    response.delete_cookie(SIGN_IN_COOKIE, path="/staff")
    return response


@router.post("/sign-out", response_class=HTMLResponse)
def sign_out(request: Request, signed: StaffForm) -> Response:
    """End the session (its CSRF token required) and clear the cookie."""
    services_of(request.app).accounts.sign_out(signed.secret)
    response = _sign_in_form(request, message=word("signed_out", language_of(request)))
    response.delete_cookie(COOKIE, path="/staff")
    return response


# -- pages -----------------------------------------------------------------------------------------
def unit_names(services: Services, lang: Language) -> dict[str, str]:
    """Every unit's name in ``lang`` (or another language it has), by id."""
    return {u.id: u.name.get(lang) or next(iter(u.name.values()))
            for u in services.organisation.units()}


@router.get("/", response_class=HTMLResponse)
def home(request: Request, signed: Staff) -> Response:
    """Who is signed in, the roles they hold and where, and the pages they may open."""
    lang = language_of(request)
    names = unit_names(services_of(request.app), lang)
    roles = []
    for g in signed.account.grants:
        where = (word("own_employees", lang) if g.role == "supervisor" else
                 word("every_unit", lang) if g.unit is None else
                 f"{names.get(g.unit, g.unit)} ({word('and_inside', lang)})")
        roles.append({"name": ROLE_WORDS[g.role][lang], "where": where,
                      "trained_on": g.trained_on})
    return render(request, "home.html", signed=signed, roles=roles,
                   sees_employees=signed.reach.holds(*EMPLOYEE_READERS, "supervisor"),
                   rooms=signed.reach.holds("proctor", "operator"),
                   interviews=signed.reach.holds("interviewer"))


def _visible(signed: Signed, employee: Employee) -> bool:
    """Whether the account reaches an employee: by unit, as their supervisor, or as themselves."""
    reach = signed.reach
    if reach.covers(employee.unit, *EMPLOYEE_READERS):
        return True
    if reach.person is None:
        return False
    return employee.personal_number == reach.person or (
        reach.holds("supervisor") and employee.supervisor == reach.person)


@router.get("/employees", response_class=HTMLResponse)
def employees(request: Request, signed: Staff, unit: str | None = None) -> Response:
    """The employees the account reaches (of one unit), with links to their records."""
    services, reach, lang = services_of(request.app), signed.reach, language_of(request)
    unit = unit if unit and len(unit) <= 64 else None
    found: dict[str, Employee] = {}
    if reach.holds(*EMPLOYEE_READERS):
        covered = reach.units(*EMPLOYEE_READERS)
        if unit is None or covered is None or unit in covered:
            found.update((e.personal_number, e) for e in
                         services.organisation.employees(unit=unit, units=covered))
    if reach.holds("supervisor") and reach.person is not None:
        found.update((e.personal_number, e) for e in
                     services.organisation.employees(supervisor=reach.person)
                     if unit is None or e.unit == unit)
    listed = sorted(found.values(), key=lambda e: e.personal_number)
    services.store.audit(reach.actor, "employee.list", unit, {"count": len(listed)})
    names = unit_names(services, lang)
    covered = reach.units(*EMPLOYEE_READERS)
    shown_units = sorted({e.unit for e in listed} | set(
        names if covered is None else covered & set(names)))
    levels = {c.id: c.level for c in services.organisation.categories()}
    return render(request, "employees.html", signed=signed, employees=listed, unit=unit,
                   units=[{"id": u, "label": names.get(u, u)} for u in shown_units], levels=levels)


@router.get("/employees/{personal_number}", response_class=HTMLResponse)
def employee(request: Request, signed: Staff, personal_number: str) -> Response:
    """One employee's record, for those who reach it (404 for anyone else)."""
    services = services_of(request.app)
    found = reached_employee(services, personal_number, lambda e: _visible(signed, e))
    services.store.audit(signed.reach.actor, "employee.read", f"employee:{found.personal_number}")
    level = services.organisation.level_of(found.personal_number)
    return render(request, "employee.html", signed=signed, e=found, level=level)
