"""The HTTP API: the app factory, its error handlers, and the routers of ``/v1``.

Thin by design: the bank (:mod:`qabilet.itembank`), the engine (through
:mod:`qabilet.delivery.session_state`) and the profiles (:mod:`qabilet.delivery.profiles`) do the
work; handlers check who asks (:mod:`qabilet.api.auth`), read the log, append to it
(:mod:`qabilet.api.live`). Routes: :mod:`qabilet.api.routes_sessions` (candidates, sessions,
answers, the proctor's actions, profiles) and :mod:`qabilet.api.routes_admin` (the psychometricians'
admin and the group report); the candidate's page is ``/take/{session_id}``.

Every error is a JSON body ``{"detail": …}`` naming the field or the problem, with a 4xx status;
a failure of the server itself is a 500 with a reference to its log line, never a stack trace;
a database unavailable for the moment is a 503 with ``Retry-After`` (:mod:`qabilet.api.faults`).
"""

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from qabilet.api.settings import Settings
from qabilet.engine.exceptions import (
    ConflictError,
    ImportRejectedError,
    NotFoundError,
    QabiletError,
)
from qabilet.itembank._runtime import installed_version

__all__ = ["create_app"]

STATIC = Path(__file__).with_name("static")
_log = logging.getLogger("qabilet.api")
#: the exam page's policy: its own script, style and requests only, the report in a frame of its
#: own (inline styles); the page may not be framed by another site (as its ``<meta>`` says, and more)
PAGE_POLICY = ("default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data: blob:; "
               "style-src 'self' 'unsafe-inline'; frame-src 'self' about: blob:; object-src 'none'; "
               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
#: the exam page sends no referrer and is never stored (the other security headers: api.edge)
PAGE_HEADERS = {"Content-Security-Policy": PAGE_POLICY, "Referrer-Policy": "no-referrer",
                "Cache-Control": "no-store"}


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    """Build the application on the settings' database.

    Parameters
    ----------
    settings : Settings, optional
        Read from the environment when not given.
    migrate : bool
        Bring the database to the newest schema first; ``qabilet serve`` does it once before
        its workers start, and they make their apps with False (:mod:`qabilet.api.serving`).
    """
    from qabilet.api.calibration_jobs import CalibrationJobs
    from qabilet.api.dependencies import Services
    from qabilet.api.docs_pages import install as install_docs
    from qabilet.api.faults import install as install_faults
    from qabilet.api.faults import unavailable_response
    from qabilet.api.health import install as install_health
    from qabilet.api.ims_cat import router as ims_cat_routes
    from qabilet.api.landing import install as install_landing
    from qabilet.api.live import LiveSessions
    from qabilet.api.offload import Offload
    from qabilet.api.openapi_security import install as install_security
    from qabilet.api.routes_admin import router as admin_routes
    from qabilet.api.routes_attestation import router as attestation_routes
    from qabilet.api.routes_review import router as review_routes
    from qabilet.api.routes_sessions import router as session_routes
    from qabilet.api.staff_campaigns import router as staff_campaigns
    from qabilet.api.staff_pages import install as install_staff_pages
    from qabilet.api.staff_pages import router as staff_pages
    from qabilet.api.staff_rooms import router as staff_rooms
    from qabilet.api.staff_stages import router as staff_stages
    from qabilet.api.throttle import Throttle
    from qabilet.attestation.accounts import AccountRepository
    from qabilet.attestation.campaigns import CampaignRepository
    from qabilet.attestation.interviews import InterviewRepository
    from qabilet.attestation.repository import OrganisationRepository
    from qabilet.attestation.sheets import SheetRepository
    from qabilet.attestation.timetable import TimetableRepository
    from qabilet.delivery.item_texts import ItemTexts
    from qabilet.delivery.profiles import preload
    from qabilet.itembank.cat_sections import CatSections
    from qabilet.itembank.database import connect
    from qabilet.itembank.repository import BankRepository
    from qabilet.itembank.session_store import SessionStore

    settings = settings or Settings.from_env()
    engine = connect(settings=settings, migrate=migrate)
    repo, store = BankRepository(engine), SessionStore(engine)
    live = LiveSessions(repo, store,
                        token_grace=timedelta(minutes=settings.token_grace_minutes))
    offload = Offload(settings)  # imports in a child process, off the event loop's way

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        preload()  # before the worker freezes its startup (api.serving.quiet_gc)
        yield
        live.shutdown()  # the profiles handed to the issuing thread, issued before the exit
        offload.shutdown()  # a running import finished

    app = FastAPI(title="qabilet", version=installed_version(), lifespan=lifespan,
                  docs_url=None, redoc_url=None,  # served from local assets: api.docs_pages
                  description="Adaptive test sessions, their candidates' page, profiles and the "
                              "item bank's administration.")
    app.state.services = Services(settings=settings, repo=repo, store=store, live=live,
                                  offload=offload, texts=ItemTexts(repo),
                                  jobs=CalibrationJobs(engine, repo),
                                  throttle=Throttle(settings.failure_limits),
                                  organisation=OrganisationRepository(engine),
                                  accounts=AccountRepository(
                                      engine, max_failures=settings.staff_max_failures,
                                      lockout=timedelta(minutes=settings.staff_lockout_minutes),
                                      idle=timedelta(minutes=settings.staff_idle_minutes),
                                      lifetime=timedelta(hours=settings.staff_session_hours)),
                                  campaigns=CampaignRepository(engine),
                                  sheets=SheetRepository(engine),
                                  timetable=TimetableRepository(engine),
                                  interviews=InterviewRepository(engine),
                                  cat_sections=CatSections(engine))

    @app.exception_handler(NotFoundError)
    async def _not_found(_request: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(ConflictError)
    async def _conflict(_request: Request, exc: ConflictError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(ImportRejectedError)
    async def _rejected(_request: Request, exc: ImportRejectedError) -> JSONResponse:
        problems = [{"row": row, "field": field, "problem": reason}
                    for row, field, reason in exc.problems]
        return JSONResponse({"detail": str(exc), "problems": problems}, status_code=422)

    @app.exception_handler(QabiletError)
    async def _bad(_request: Request, exc: QabiletError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    # -- the database unavailable (a server restarting, a lock held too long): 503, not 500
    install_faults(app)

    @app.exception_handler(Exception)
    async def _failed(request: Request, exc: Exception) -> JSONResponse:
        unavailable = unavailable_response(request, exc)  # an outage raised outside the routes
        if unavailable is not None:
            return unavailable
        reference = uuid.uuid4().hex[:12]
        _log.exception("internal error %s on %s %s", reference, request.method, request.url.path)
        # answered outside every layer of the app (api.edge's too): its headers set here
        return JSONResponse({"detail": f"internal error (reference {reference}); nothing was "
                                       f"changed by the failed step"}, status_code=500,
                            headers={"Cache-Control": "no-store",
                                     "X-Content-Type-Options": "nosniff"})

    # -- the request guard (api.limits): body limits by route, credentials checked before the
    # body is read, failed credentials throttled (api.throttle); 413 and 429 documented
    from qabilet.api.limits import LIMIT_RESPONSES, RequestGuard
    app.add_middleware(RequestGuard)
    app.router.responses = {**app.router.responses, **LIMIT_RESPONSES}

    app.include_router(session_routes)
    app.include_router(admin_routes)
    app.include_router(review_routes)
    app.include_router(attestation_routes)
    app.include_router(ims_cat_routes)
    app.include_router(staff_pages)
    install_staff_pages(app)  # their refusals as pages, a missing sign-in as a redirect
    app.include_router(staff_campaigns)
    app.include_router(staff_rooms)
    app.include_router(staff_stages)

    @app.get("/take/{session_id}", response_class=FileResponse, include_in_schema=False)
    def candidate_page(session_id: str) -> FileResponse:
        """The candidate's page; its link carries the token in the fragment (never sent here)."""
        return FileResponse(STATIC / "take.html", media_type="text/html", headers=PAGE_HEADERS)

    install_security(app)  # the staff key and the candidate token in the OpenAPI document
    install_landing(app)  # / and /favicon.ico
    install_health(app)  # /health: the database reached, the clocks compared
    install_docs(app)  # before /static, which would take /static/docs/…
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # -- the edge (api.edge), after every other layer: bad URLs and JSON refused with 422 naming
    # the field, validation errors that never echo the input, the security headers on responses
    from qabilet.api.edge import install as install_edge
    from qabilet.delivery.report_html import CONTENT_SECURITY_POLICY
    install_edge(app, html_policy=CONTENT_SECURITY_POLICY)
    return app
