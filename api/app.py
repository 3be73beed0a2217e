"""The HTTP API: an app factory, its shared lookups, and the routes of ``/v1``.

Thin by design: the bank (:mod:`itembank`), the engine (through :mod:`api.session_state`) and the
profiles (:mod:`api.profiles`) do the work; handlers check who asks, read the log, append to it.

Roles: an API key (``Authorization: Bearer qk_…``) is an operator's or a psychometrician's; a
candidate token (``X-Session-Token``, handed out in the session link) reaches only its own
session's candidate endpoints, until it expires. Every error is a JSON body
``{"detail": …}`` naming the field or the problem; no stack trace leaves the server.
"""


from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse

from api.schemas import (
    AnswerCreate,
    AnswerPublic,
    CandidateCreate,
    CandidatePublic,
    ItemPublic,
    SessionCreate,
    SessionPublic,
)
from api.settings import Settings
from engine.exceptions import ConflictError, NotFoundError, QabiletError
from itembank._runtime import installed_version

__all__ = ["create_app"]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: a key's role and id, or a candidate's session."""

    role: str  # operator, psychometrician or candidate
    actor: str
    session_id: str | None = None


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application on the settings' database (migrated on start)."""
    from itembank.database import connect
    from itembank.repository import BankRepository
    from itembank.session_store import SessionStore

    settings = settings or Settings.from_env()
    engine = connect(settings.database_url)
    repo, store = BankRepository(engine), SessionStore(engine)
    app = FastAPI(title="qabilet", version=installed_version(),
                  description="Adaptive test sessions and profiles.")
    app.state.repo, app.state.store, app.state.settings = repo, store, settings

    @app.exception_handler(NotFoundError)
    async def _not_found(_request: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(ConflictError)
    async def _conflict(_request: Request, exc: ConflictError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(QabiletError)
    async def _bad(_request: Request, exc: QabiletError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    def caller(authorization: Annotated[str | None, Header()] = None,
               x_session_token: Annotated[str | None, Header()] = None) -> Caller | None:
        if authorization:
            scheme, _, key = authorization.partition(" ")
            found = store.authenticate(key.strip()) if scheme.lower() == "bearer" else None
            if found is None:
                raise HTTPException(401, "Authorization: expected 'Bearer <API key>' with a "
                                         "valid, unrevoked key")
            return Caller(role=found[1], actor=f"key:{found[0]}")
        if x_session_token:
            return Caller(role="candidate", actor="candidate", session_id=None)
        return None

    def operator(who: Annotated[Caller | None, Depends(caller)]) -> Caller:
        if who is None:
            raise HTTPException(401, "an operator's API key is required (Authorization: Bearer)")
        if who.role != "operator":
            raise HTTPException(403, f"this needs an operator's key; the caller is a {who.role}")
        return who

    def session_party(session_id: str, who: Annotated[Caller | None, Depends(caller)],
                      x_session_token: Annotated[str | None, Header()] = None) -> Caller:
        """The session's operator, or the candidate holding this session's valid token."""
        if who is None:
            raise HTTPException(401, "an operator's API key or the session's token "
                                     "(X-Session-Token) is required")
        if who.role == "candidate":
            if not store.token_valid(session_id, x_session_token or ""):
                raise HTTPException(403, "X-Session-Token: not this session's token, or expired")
            return Caller(role="candidate", actor=f"candidate:{session_id}", session_id=session_id)
        if who.role != "operator":
            raise HTTPException(403, f"this needs an operator's key or the session's token; the "
                                     f"caller is a {who.role}")
        store.session(session_id)  # 404 for an operator asking about nothing
        return who

    def view(session_id: str):  # type: ignore[no-untyped-def]
        from api.session_state import derive, plan_for

        session = store.session(session_id)
        plan = plan_for(repo, session.bank_version, session.level, session.blueprint_number)
        return session, plan, derive(plan, session, store.events(session_id))

    def public(session, v, token: str | None = None) -> SessionPublic:  # type: ignore[no-untyped-def]
        link = (f"{settings.public_url}/v1/sessions/{session.id}/item?token=…" if token else None)
        pinned = session.model_dump(include=set(SessionPublic.model_fields))
        return SessionPublic(**pinned, finished=v.finished, answered=v.answered,
                             section=v.section_index, n_sections=v.n_sections, token=token,
                             link=link)

    @app.post("/v1/candidates", status_code=201, response_model=CandidatePublic)
    def create_candidate(body: CandidateCreate,
                         who: Annotated[Caller, Depends(operator)]) -> CandidatePublic:
        candidate_id = store.add_candidate(external_id=body.external_id,
                                           display_name=body.display_name)
        store.audit(who.actor, "candidate.create", candidate_id)
        return CandidatePublic(id=candidate_id)

    @app.post("/v1/sessions", status_code=201, response_model=SessionPublic)
    def create_session(body: SessionCreate,
                       who: Annotated[Caller, Depends(operator)]) -> SessionPublic:
        blueprint = repo.blueprint(body.level)
        version = repo.version(blueprint.bank_version)
        norms = repo.norm_set(bank_version=version.number)
        norms.for_level(body.level)
        session, token = store.create_session(
            candidate_id=body.candidate_id, level=body.level, language=body.language,
            bank_version=version.number, norm_set=norms.number,
            blueprint_number=blueprint.number,
            token_ttl=timedelta(hours=settings.token_ttl_hours))
        store.audit(who.actor, "session.create", session.id,
                    {"level": body.level, "language": body.language})
        _, _, v = view(session.id)
        return public(session, v, token)

    @app.get("/v1/sessions/{session_id}", response_model=SessionPublic)
    def get_session(session_id: str,
                    who: Annotated[Caller, Depends(session_party)]) -> SessionPublic:
        session, _, v = view(session_id)
        return public(session, v)

    @app.get("/v1/sessions/{session_id}/item", response_model=ItemPublic)
    def current_item(session_id: str,
                     who: Annotated[Caller, Depends(session_party)]) -> ItemPublic:
        session, _, v = view(session_id)
        if v.finished or v.item_id is None:
            return ItemPublic(finished=True, position=v.position, section=v.section_index,
                              n_sections=v.n_sections)
        item = repo.item(v.item_id)
        shown = item.text_in(session.language)
        choices = shown.options
        if item.format == "likert":
            labels = repo.scales()[item.scale].labels  # type: ignore[index]
            choices = labels.get(session.language) or next(iter(labels.values()))
        return ItemPublic(finished=False, position=v.position, item_id=item.id,
                          format=item.format, stem=shown.stem, choices=choices,
                          language=shown.language, fell_back=shown.fell_back,
                          section=v.section_index, n_sections=v.n_sections)

    @app.post("/v1/sessions/{session_id}/answers", response_model=AnswerPublic)
    def answer(session_id: str, body: AnswerCreate,
               who: Annotated[Caller, Depends(session_party)]) -> AnswerPublic:
        session, plan, v = view(session_id)
        payload = {"item_id": body.item_id, "code": body.code,
                   "response_time_s": body.response_time_s}
        if body.position < v.position:  # an answered position: a retry, or a conflict
            done = store.append(session_id, "answer", payload, position=body.position)
            return AnswerPublic(position=body.position, item_id=body.item_id, code=body.code,
                                replayed=done.replayed, finished=v.finished)
        if v.finished:
            raise HTTPException(409, "the session is over; no more answers are taken")
        if body.position > v.position:
            raise HTTPException(409, f"position: the item at position {v.position} is the one "
                                     f"shown; got {body.position}")
        if body.item_id != v.item_id:
            raise HTTPException(409, f"item_id: position {v.position} shows {v.item_id!r}; "
                                     f"got {body.item_id!r}")
        n_codes = plan.n_choices(body.item_id)
        if body.code >= n_codes:
            raise HTTPException(422, f"code: item {body.item_id!r} has choices 0–{n_codes - 1}; "
                                     f"got {body.code}")
        done = store.append(session_id, "answer", payload, position=body.position)
        _, _, after = view(session_id)
        return AnswerPublic(position=body.position, item_id=body.item_id, code=body.code,
                            replayed=done.replayed, finished=after.finished)

    @app.post("/v1/sessions/{session_id}/finish")
    def finish(session_id: str, who: Annotated[Caller, Depends(session_party)]) -> dict:
        return {"profile_id": _issue(session_id, who).id}

    def _issue(session_id: str, who: Caller):  # type: ignore[no-untyped-def]
        from api.profiles import Answer, build_profile

        existing = [p for p in repo.profiles() if p.session_id == session_id]
        if existing:
            return existing[-1]
        session = store.session(session_id)
        events = store.events(session_id)
        if not any(e.kind == "finish" for e in events):
            store.append(session_id, "finish", {"by": who.actor})
        answers = [Answer(e.payload["item_id"], int(e.payload["code"]),
                          e.payload.get("response_time_s")) for e in events if e.kind == "answer"]
        profile = build_profile(
            version=repo.version(session.bank_version), norm_set=repo.norm_set(session.norm_set),
            items={i.id: i for i in repo.items()}, dimensions=repo.dimensions(),
            recommendations=repo.recommendations(), level=session.level,
            language=session.language, answers=answers, candidate_id=session.candidate_id,
            software_version=installed_version(), session_id=session_id, tested_at=session.created_at,
            profile_id=f"p-{session_id}")
        store.audit(who.actor, "profile.issue", profile.id)
        try:
            return repo.issue_profile(profile)
        except ConflictError:  # a concurrent finish issued it first
            return repo.profile(profile.id)

    def _profile_of(session_id: str):  # type: ignore[no-untyped-def]
        found = [p for p in repo.profiles() if p.session_id == session_id]
        if not found:
            raise HTTPException(404, "the session has no issued profile yet; finish it first")
        return found[-1]

    @app.get("/v1/sessions/{session_id}/profile")
    def get_profile(session_id: str, who: Annotated[Caller, Depends(session_party)]) -> dict:
        p = _profile_of(session_id)
        return p.model_dump(mode="json") if who.role == "operator" else p.candidate_view()

    @app.get("/v1/sessions/{session_id}/report", response_class=HTMLResponse)
    def get_report(session_id: str, who: Annotated[Caller, Depends(session_party)]) -> str:
        from api.report_html import render_profile_html

        return render_profile_html(_profile_of(session_id),
                                   view="operator" if who.role == "operator" else "candidate")

    return app
