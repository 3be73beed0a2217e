"""Routes of candidates and sessions: items, answers, the proctor's actions, profiles.

Creation, the current item, answers, finish, the profile and its report, and the proctor's
actions (pause, resume, extra time, terminate, incidents).

Each answer carries the position it answers, so a retry is recognised (the stored answer is
returned, ``replayed``) and a different answer for a taken position is a 409; the session's
event log decides, never a cache (:mod:`qabilet.api.live`).

The two calls a candidate makes for every item — the next item and the answer — take the
app's services from the request (:func:`~qabilet.api.dependencies.services_of`) instead of
naming them as dependencies: FastAPI resolves each dependency on every request, and for these
calls that was a measurable share of the server's CPU (``benchmarks/bench_http.py``).
"""

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from qabilet.api.answering import record_answer
from qabilet.api.auth import Caller, operator, session_operator, session_party
from qabilet.api.dependencies import Bank, Config, Sessions, Store, services_of
from qabilet.api.live import Live, LiveSessions
from qabilet.api.proctoring import proctor
from qabilet.api.reach import check_centre
from qabilet.api.schemas import (
    ERRORS,
    AnswerCreate,
    AnswerPublic,
    CandidateCreate,
    CandidateProfile,
    CandidatePublic,
    ExtraTime,
    Finished,
    Incident,
    ItemPublic,
    Language,
    Pause,
    SessionCreate,
    SessionPublic,
    Terminate,
    binary_response,
    text_response,
)
from qabilet.api.settings import Settings
from qabilet.delivery.answer_reports import report_name
from qabilet.delivery.block_sections import ranking_of
from qabilet.itembank.profiles import Profile
from qabilet.itembank.repository import BankRepository
from qabilet.itembank.session_store import SessionEvent, SessionStore

__all__ = ["router"]

router = APIRouter(prefix="/v1", responses=ERRORS)

Operator = Annotated[Caller, Depends(operator)]
SessionOperator = Annotated[Caller, Depends(session_operator)]
Party = Annotated[Caller, Depends(session_party)]


def public(settings: Settings, live: Live, token: str | None = None) -> SessionPublic:
    """The session as its parties see it; ``token`` and the link only when (re)issued."""
    s, v, clock = live.session, live.view, live.clock
    link = f"{settings.public_url}/take/{s.id}#token={token}" if token else None
    pinned = s.model_dump(include={"id", "candidate_id", "level", "language", "bank_version",
                                   "norm_set", "blueprint_number", "time_limit_s",
                                   "item_time_limit_s", "test_centre"})
    return SessionPublic(**pinned, status=live.status, finished=v.finished,
                         closed_reason=live.closed_reason, answered=v.answered,
                         section=v.section_index, n_sections=v.n_sections,
                         max_items=live.plan.max_items,
                         remaining_s=None if v.finished else clock.remaining_s,
                         profile_id=live.profile_id, token=token, link=link)


@router.post("/candidates", status_code=201, response_model=CandidatePublic)
def create_candidate(store: Store, body: CandidateCreate, who: Operator) -> CandidatePublic:
    """Register a candidate (an external id is unique)."""
    candidate_id = store.add_candidate(external_id=body.external_id,
                                       display_name=body.display_name)
    store.audit(who.actor, "candidate.create", candidate_id)
    return CandidatePublic(id=candidate_id)


@router.post("/sessions", status_code=201, response_model=SessionPublic)
def create_session(request: Request, store: Store, sessions: Sessions, settings: Config,
                   body: SessionCreate, who: Operator) -> SessionPublic:
    """Start a session: the level's blueprint (newest unless named), its version and norms are pinned.

    A key scoped to a unit starts sessions only at that unit's test centres (``test_centre``).
    """
    given = body.model_fields_set
    check_centre(services_of(request.app), who, body.test_centre)
    session, token = sessions.create(
        candidate_id=body.candidate_id, level=body.level, language=body.language,
        token_ttl=timedelta(hours=settings.token_ttl_hours),
        time_limit_s=body.time_limit_s if "time_limit_s" in given else settings.time_limit_s,
        item_time_limit_s=(body.item_time_limit_s if "item_time_limit_s" in given
                           else settings.item_time_limit_s), blueprint_number=body.blueprint_number,
        test_centre=body.test_centre)
    store.audit(who.actor, "session.create", session.id,
                {"level": body.level, "language": body.language, "test_centre": body.test_centre,
                 "time_limit_s": session.time_limit_s,
                 "item_time_limit_s": session.item_time_limit_s})
    return public(settings, sessions.state(session.id), token)


@router.get("/sessions/{session_id}", response_model=SessionPublic)
async def get_session(sessions: Sessions, settings: Config, session_id: str,
                      who: Party) -> SessionPublic:
    """Where the session stands: status, progress, time left."""
    return public(settings, sessions.state(session_id))


@router.get("/sessions/{session_id}/item", response_model=ItemPublic)
async def current_item(request: Request, session_id: str, who: Party,
                       language: Annotated[Language | None, Query(
                     description="Show the text in this language instead of the session's.")]
                 = None) -> ItemPublic:
    """The item to answer now, in the session's language; a candidate's first view starts the clock.

    Never parameters, keys or scores. (A coroutine, run on the event loop: it reads the log's
    tail and writes only when a rule is due — the clock's start, a time-out.)
    """
    services = services_of(request.app)  # not dependencies: see the module docstring
    sessions, texts = services.live, services.texts
    live = sessions.state(session_id, start_clock=who.role == "candidate", actor=who.actor)
    v, clock = live.view, live.clock
    if v.finished or v.item_id is None:
        return _item(live, finished=True)
    if clock.paused:
        return _item(live, finished=False, paused=True, remaining_s=clock.remaining_s)
    shown = texts.shown(v.item_id, language or live.session.language, live.session.bank_version)
    return _item(live, finished=False, item_id=v.item_id, **shown, remaining_s=clock.remaining_s,
                 item_remaining_s=clock.item_remaining_s)


def _item(live: Live, **fields: Any) -> ItemPublic:
    """The item's answer with the session's progress."""
    v = live.view
    return ItemPublic(position=v.position, section=v.section_index, n_sections=v.n_sections,
                      answered=v.answered, max_items=live.plan.max_items, **fields)


@router.post("/sessions/{session_id}/answers", response_model=AnswerPublic,
             response_model_exclude_none=True)
async def answer(request: Request, session_id: str, body: AnswerCreate,
                 who: Party) -> AnswerPublic:
    """Record the answer to the item at ``position`` (a retry returns the stored answer)."""
    sessions = services_of(request.app).live  # not a dependency: see the module docstring
    live = sessions.state(session_id, start_clock=True, actor=who.actor)
    ranking = _ranking(live, body)
    payload = {"item_id": body.item_id, **({"ranking": ranking} if ranking else {"code": body.code}),
               "client_response_time_s": body.response_time_s,
               "language": body.language or live.session.language}
    done = await record_answer(sessions, live, position=body.position, item_id=body.item_id,
                               code=body.code, payload=payload, actor=who.actor)
    return AnswerPublic(position=body.position, item_id=body.item_id, code=body.code,
                        ranking=ranking, replayed=done.replayed, finished=done.finished)


def _ranking(live: Live, body: AnswerCreate) -> str | None:
    """A block's answer as recorded (``S3>S1>S2``); None for an item's.

    Raises
    ------
    HTTPException
        422: a code for a block, a ranking for an item, the other answer mode than the
        block's, or statements that are not the block's once each.
    """
    block = live.plan.block(body.item_id)
    if block is None:
        if body.code is None:
            raise HTTPException(422, f"code: item {body.item_id!r} is answered with the 0-based "
                                     f"choice, not a ranking")
        return None
    b = block.block(body.item_id)
    mode = block.modes[b]
    if body.code is not None or (mode == "rank") != (body.ranking is not None):
        wanted = "ranking (every statement once, most like you first)" if mode == "rank" \
            else "most and least"
        raise HTTPException(422, f"{'code' if body.code is not None else 'ranking'}: block "
                                 f"{body.item_id!r} is answered with {wanted}")
    try:
        return ranking_of(block.statements[b], body.ranking, body.most, body.least)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


@router.post("/sessions/{session_id}/finish", response_model=Finished)
def finish(sessions: Sessions, store: Store, session_id: str, who: Party) -> Finished:
    """End the session (early, if items remain) and issue its profile; finishing again is a no-op."""
    live = sessions.close(session_id, "finish", who.actor)
    store.audit(who.actor, "session.finish", session_id, {"closed": live.closed_reason})
    assert live.profile_id is not None  # closed: its profile is issued
    return Finished(profile_id=live.profile_id)


def _profile_of(sessions: LiveSessions, repo: BankRepository, session_id: str) -> Profile:
    live = sessions.state(session_id, issue=True)
    if live.profile_id is None:
        raise HTTPException(404, "the session has no issued profile yet; it is still running")
    return repo.profile(live.profile_id)


@router.get("/sessions/{session_id}/profile", response_model=Profile | CandidateProfile)
def get_profile(sessions: Sessions, repo: Bank, session_id: str, who: Party) -> BaseModel:
    """The issued profile: the operator's full record, or the candidate's own view."""
    p = _profile_of(sessions, repo, session_id)
    if who.role == "operator":
        return p
    return CandidateProfile.model_validate(p.model_dump(exclude={"validity"}))


#: the ``language`` query of a report
ReportLanguage = Annotated[Language | None, Query(
    description="The report's language (default: the one the candidate answered in last). Its "
                "words are the ones the profile was issued with; a profile issued before they "
                "were kept shows its own language (the answer's Content-Language says which).")]


@router.get("/sessions/{session_id}/report", response_class=HTMLResponse,
            responses=text_response("text/html", "The report, a self-contained HTML page"))
def get_report(sessions: Sessions, repo: Bank, session_id: str, who: Party,
               language: ReportLanguage = None) -> HTMLResponse:
    """The profile's HTML report: the operator's copy, or the candidate's."""
    from qabilet.delivery.report_html import render_profile_html

    profile = _profile_of(sessions, repo, session_id)
    shown = profile.in_language(language) if language else profile
    html = render_profile_html(shown, view="operator" if who.role == "operator" else "candidate")
    return HTMLResponse(html, headers={"Content-Language": shown.language})


@router.get("/sessions/{session_id}/report.pdf", response_class=Response,
            responses=binary_response("application/pdf", "The report printed: an A4 PDF document"))
def get_report_pdf(sessions: Sessions, repo: Bank, session_id: str, who: Party,
                   language: ReportLanguage = None) -> Response:
    """The profile's report as PDF, made on the server without a browser.

    The same page as ``…/report`` printed on A4: the operator's copy, or the candidate's.
    """
    from qabilet.delivery.report_pdf import PdfUnavailableError, render_profile_pdf

    profile = _profile_of(sessions, repo, session_id)
    shown = profile.in_language(language) if language else profile
    try:
        pdf = render_profile_pdf(shown, view="operator" if who.role == "operator" else "candidate")
    except PdfUnavailableError as exc:
        raise HTTPException(503, str(exc)) from None
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Language": shown.language,
        "Content-Disposition": f'inline; filename="{report_name(profile.candidate_id)}.pdf"'})


# -- the proctor's actions: each an event of the log and a line of the audit trail ------------------
def _proctor(sessions: LiveSessions, store: SessionStore, session_id: str, who: Caller, kind: str,
             detail: dict[str, Any]) -> Live:
    return proctor(sessions, store, session_id, who.actor, kind, detail)


@router.post("/sessions/{session_id}/pause", response_model=SessionPublic)
def pause(sessions: Sessions, store: Store, settings: Config, session_id: str, body: Pause,
          who: SessionOperator) -> SessionPublic:
    """Stop the session's clocks; answers wait until it is resumed."""
    return public(settings, _proctor(sessions, store, session_id, who, "pause", body.model_dump()))


@router.post("/sessions/{session_id}/resume", response_model=SessionPublic)
def resume(sessions: Sessions, store: Store, settings: Config, session_id: str,
           who: SessionOperator) -> SessionPublic:
    """Restart the clocks of a paused session."""
    return public(settings, _proctor(sessions, store, session_id, who, "resume", {}))


@router.post("/sessions/{session_id}/extra-time", response_model=SessionPublic)
def extra_time(sessions: Sessions, store: Store, settings: Config, session_id: str,
               body: ExtraTime, who: SessionOperator) -> SessionPublic:
    """Add time to the test's limit."""
    return public(settings, _proctor(sessions, store, session_id, who, "extra_time",
                                     body.model_dump()))


@router.post("/sessions/{session_id}/incidents", response_model=SessionPublic)
def incident(sessions: Sessions, store: Store, settings: Config, session_id: str, body: Incident,
             who: SessionOperator) -> SessionPublic:
    """Record an incident (the session goes on)."""
    return public(settings, _proctor(sessions, store, session_id, who, "incident",
                                     body.model_dump()))


@router.post("/sessions/{session_id}/terminate", response_model=SessionPublic)
def terminate(sessions: Sessions, store: Store, settings: Config, session_id: str,
              body: Terminate, who: SessionOperator) -> SessionPublic:
    """End the session with a reason; it is scored on what was answered."""
    return public(settings, _proctor(sessions, store, session_id, who, "terminate",
                                     {"reason": body.reason}))


@router.post("/sessions/{session_id}/token", response_model=SessionPublic)
def reissue_token(sessions: Sessions, store: Store, settings: Config, session_id: str,
                  who: SessionOperator) -> SessionPublic:
    """A new link for the candidate (a lost or leaked one); the old token is refused at once.

    Every worker and every server on the database refuses the old token from its next request
    (the reissue is an event of the session's log). Refused (409) once the session has ended.
    """
    token = sessions.reissue_token(session_id, by=who.actor,
                                   link_ttl=timedelta(hours=settings.token_ttl_hours))
    store.audit(who.actor, "session.token_reissue", session_id, {})
    return public(settings, sessions.state(session_id), token)


@router.get("/sessions/{session_id}/events", response_model=list[SessionEvent])
def session_events(store: Store, session_id: str, who: SessionOperator) -> list[SessionEvent]:
    """The session's event log, in commit order (the operator's record of what happened).

    A reissued token's digest is left out of its event.
    """
    return [e.model_copy(update={"payload": {k: v for k, v in e.payload.items() if k != "digest"}})
            for e in store.events(session_id)]
