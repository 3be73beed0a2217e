"""Routes for psychometricians (``/v1/admin``) and the operators' group report.

The bank moves as its documents (:mod:`qabilet.itembank.bank_file`): exported whole, imported all or
nothing; parameters imported as a draft version; versions and norm sets published (then
immutable). Responses leave with their response times, in the CSV layout calibration reads.
API keys are made and revoked here; the audit trail is read here.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from qabilet.api.auth import Caller, operator, psychometrician, requires
from qabilet.api.dependencies import Bank, Config, Imports, Jobs, Store, services_of
from qabilet.api.reach import check_key, manages_key, reach_of, unscoped
from qabilet.api.schemas import (
    ERRORS,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPublic,
    AuditEntry,
    BankImported,
    CalibrationCreate,
    CalibrationPublic,
    Published,
    VersionCreated,
    text_response,
)
from qabilet.engine.exceptions import ConflictError, NotFoundError
from qabilet.itembank._runtime import as_utc
from qabilet.itembank.bank_file import BankDocument, export_document

__all__ = ["router"]

router = APIRouter(prefix="/v1", responses=ERRORS)


class CSVResponse(Response):
    """A CSV table (UTF-8)."""

    media_type = "text/csv"


Psychometrician = Annotated[Caller, Depends(psychometrician)]
KeyAdmin = Annotated[Caller, Depends(requires("psychometrician", "administrator"))]
LevelQuery = Annotated[Literal["high", "middle", "low"] | None, Query()]
Number = Annotated[int, Path(ge=1, le=2**31 - 1, description="The record's number.")]
LanguageQuery = Annotated[Literal["kk", "ru", "en"] | None, Query()]


@router.get("/admin/bank", response_model=BankDocument, response_model_exclude_none=True)
def export_bank(repo: Bank, who: Psychometrician) -> BankDocument:
    """The whole bank as one JSON document (``"format": "qabilet-bank"``)."""
    from qabilet.itembank._runtime import installed_version

    return export_document(repo, software_version=installed_version())


def _document_body(description: str) -> dict[str, Any]:
    """The OpenAPI request body of an import route (a JSON object, read by the route itself)."""
    return {"requestBody": {"required": True, "description": description, "content": {
        "application/json": {"schema": {"type": "object", "additionalProperties": True}}}}}


@router.post("/admin/bank", status_code=201, response_model=BankImported,
             openapi_extra=_document_body("A bank document (`\"format\": \"qabilet-bank\"`)."))
async def import_bank(request: Request, offload: Imports, store: Store,
                      who: Psychometrician) -> BankImported:
    """Import a bank document, all or nothing; the bad entries are named in the 422 body.

    The first 100 problems are listed, and a count of any others.

    Published versions keep showing their texts: new stems, options or dimension names of what
    they show go into a draft version (``draft_version`` in the answer; publish it to show them).
    Options reordered, added or removed on a calibrated item are refused (422) unless the
    document brings the item's new parameters as a new version.
    """
    from qabilet.api.offload import import_bank as job

    done = await offload.run(job, await request.body(), who.actor)
    await run_in_threadpool(store.audit, who.actor, "bank.import", None,
                            {**done.counts, "draft_version": done.draft_version})
    return BankImported(imported=done.counts, draft_version=done.draft_version)


@router.post("/admin/versions", status_code=201, response_model=VersionCreated,
             openapi_extra=_document_body("A parameter file (JSON), as calibration writes it."))
async def import_parameters(request: Request, offload: Imports, store: Store,
                            who: Psychometrician) -> VersionCreated:
    """Item parameters as a new draft version (a parameter file, as calibration writes it)."""
    from qabilet.api.offload import import_parameters as job

    made = await offload.run(job, await request.body())
    await run_in_threadpool(store.audit, who.actor, "version.create",
                            f"version:{made.number}")
    return VersionCreated(number=made.number, status=made.status, n_items=made.n_items)


@router.post("/admin/versions/{number}/publish", response_model=Published)
def publish_version(repo: Bank, store: Store, number: Number, who: Psychometrician) -> Published:
    """Publish a draft version: sessions may pin it, and it never changes again."""
    version = repo.publish_version(number)
    store.audit(who.actor, "version.publish", f"version:{number}")
    return Published(number=version.number, status=version.status)


@router.get("/admin/versions/{number}/report", response_class=HTMLResponse,
            responses=text_response("text/html", "The technical report, a self-contained HTML page"))
def version_report(repo: Bank, who: Psychometrician, number: Number,
                   language: Annotated[Literal["kk", "ru", "en"], Query(
                       description="The report's language.")] = "en") -> HTMLResponse:
    """A bank version's technical report (``qabilet bank report``), from its recorded answers.

    Item statistics, parameters with SEs, item and test curves, reliability per scale and
    level, item fit per language, person fit, the calibrations' flags (kk/ru DIF, drift),
    exposure, the items tried out and the norm sets (docs/http.md). It takes seconds: the
    charts are drawn for the request.
    """
    from qabilet.bank_report import bank_report
    from qabilet.bank_report_html import CONTENT_SECURITY_POLICY, render_bank_report

    page = render_bank_report(bank_report(repo, number), language=language)
    return HTMLResponse(page, headers={"Content-Language": language,
                                       "Content-Security-Policy": CONTENT_SECURITY_POLICY})


@router.post("/admin/norm-sets/{number}/publish", response_model=Published)
def publish_norm_set(repo: Bank, store: Store, number: Number, who: Psychometrician) -> Published:
    """Publish a draft norm set."""
    norms = repo.publish_norm_set(number)
    store.audit(who.actor, "norm_set.publish", f"norm_set:{number}")
    return Published(number=norms.number, status=norms.status)


@router.get("/admin/responses", response_class=CSVResponse, responses=text_response(
    "text/csv", "The response table (or the response times), one row per session"))
def export_responses(repo: Bank, who: Psychometrician,
                     bank_version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
                     level: LevelQuery = None, language: LanguageQuery = None,
                     table: Annotated[Literal["answers", "times"], Query(
                         description="The answers (model categories) or the response times.")]
                     = "answers") -> Response:
    """Stored answers as the response CSV calibration reads (or its companion of response times)."""
    from qabilet.itembank.bank_file import format_responses

    responses = repo.responses(bank_version=bank_version, level=level, language=language)
    recodings = {v.number: v.parameters.recodings() for v in repo.versions()}
    answers, times = format_responses(responses, recodings=recodings)
    return CSVResponse(answers if table == "answers" else times)


@router.post("/admin/calibrations", status_code=202, response_model=CalibrationPublic)
def start_calibration(repo: Bank, jobs: Jobs, store: Store, body: CalibrationCreate,
                      who: Psychometrician) -> dict:
    """Start a calibration on a version's stored responses; poll the job for the result.

    ``kind`` ``recalibrate`` refits the version's items; ``pretest`` calibrates the items it
    tries out onto its scale (409 for a version that tries out none).
    """
    version = repo.version(body.bank_version)  # 404 before a job is queued
    if body.kind == "pretest" and not version.pretest:
        raise ConflictError(f"bank_version: version {version.number} tries out no item (its "
                            f"pretest list is empty)")
    job = jobs.start(body.model_dump(), who.actor)
    store.audit(who.actor, "calibration.start", f"job:{job['id']}",
                                  body.model_dump())
    return job


@router.get("/admin/calibrations", response_model=list[CalibrationPublic])
def calibrations(jobs: Jobs, who: Psychometrician) -> list[dict]:
    """Every calibration job, newest first (results left out)."""
    return jobs.all()


@router.get("/admin/calibrations/{job_id}", response_model=CalibrationPublic)
def calibration(jobs: Jobs, job_id: str, who: Psychometrician) -> dict:
    """A calibration job with its result when done."""
    return jobs.get(job_id)


@router.post("/admin/keys", status_code=201, response_model=ApiKeyCreated)
def create_key(request: Request, store: Store, body: ApiKeyCreate, who: KeyAdmin) -> ApiKeyCreated:
    """A new API key; its secret is in this response only.

    A psychometrician makes operators' and psychometricians' keys; an administrator any key
    role, scoped within the units they cover.
    """
    check_key(services_of(request.app), who, body.role, body.scope)
    key = store.create_api_key(body.role, body.label, scope=body.scope)
    key_id = key.split("_", 2)[1]
    store.audit(who.actor, "key.create", f"key:{key_id}",
                {"role": body.role, "label": body.label, "scope": body.scope})
    return ApiKeyCreated(id=key_id, role=body.role, scope=body.scope, key=key)


@router.get("/admin/keys", response_model=list[ApiKeyPublic])
def keys(request: Request, store: Store, who: KeyAdmin) -> list[dict]:
    """Every key the caller may manage, without secrets."""
    services = services_of(request.app)
    return [k for k in store.api_keys() if manages_key(services, who, k["role"], k["scope"])]


@router.delete("/admin/keys/{key_id}", status_code=204, response_class=Response,
               responses={204: {"description": "Revoked (no body)"}})
def revoke_key(request: Request, store: Store, key_id: str, who: KeyAdmin) -> Response:
    """Revoke a key: it stops working at once (it stays listed, revoked)."""
    services = services_of(request.app)
    found = next((k for k in store.api_keys() if k["id"] == key_id), None)
    if found is None or not manages_key(services, who, found["role"], found["scope"]):
        raise NotFoundError(f"API key {key_id!r} does not exist")
    store.revoke_api_key(key_id)
    store.audit(who.actor, "key.revoke", f"key:{key_id}")
    return Response(status_code=204)


@router.get("/admin/audit", response_model=list[AuditEntry])
def audit(store: Store, who: Annotated[Caller, Depends(requires("psychometrician",
                                                                  "administrator"))],
          target: Annotated[str | None, Query(max_length=128)] = None) -> list[dict[str, Any]]:
    """The audit trail (of one target: a session id, ``key:<id>``, ``version:<n>``…), oldest first.

    The whole organisation's: a key scoped to a unit is refused (403).
    """
    unscoped(who, "the audit trail")
    return store.audit_trail(target)


@router.get("/reports/group", response_class=HTMLResponse, responses=text_response(
    "text/html", "The group report, a self-contained HTML page"))
def group_report(request: Request, repo: Bank, store: Store, settings: Config,
                 who: Annotated[Caller, Depends(operator)],
                 level: LevelQuery = None,
                 language: Annotated[Literal["kk", "ru", "en"], Query(
                     description="The report's language.")] = "ru",
                 candidate_language: Annotated[Literal["kk", "ru", "en"] | None, Query(
                     description="Only the candidates who answered in this language.")] = None,
                 since: Annotated[datetime | None, Query(
                     description="Tested from (inclusive).")] = None,
                 until: Annotated[datetime | None, Query(
                     description="Tested before (exclusive).")] = None,
                 min_count: Annotated[int | None, Query(
                     ge=1, le=2**31 - 1, description="The smallest group and row shown: at least "
                     "the server's QABILET_GROUP_MIN_COUNT (its default).")] = None,
                 by_centre: Annotated[bool, Query(
                     description="Break the groups down by test centre.")] = False) -> HTMLResponse:
    """The group report of the sessions tested in a period (at a level, in a language).

    One profile per session (the latest issued); one group per level × bank version × norm
    set (and test centre, ``by_centre``); medians, quartiles and the bands' shares with their
    intervals, and charts; groups and rows with fewer than ``min_count`` candidates left out
    (docs/http.md). A key scoped to a unit gets the sessions held at its units' test centres
    only, broken down by centre.
    """
    from fastapi.exceptions import RequestValidationError

    from qabilet.delivery.report_group import group_report as render

    floor = settings.group_min_count
    if min_count is not None and min_count < floor:
        raise RequestValidationError([{
            "type": "greater_than_equal", "loc": ("query", "min_count"), "input": min_count,
            "msg": f"Input should be greater than or equal to {floor} (the server's minimum "
                   f"group size, QABILET_GROUP_MIN_COUNT)"}])
    if since is not None and until is not None and as_utc(until) <= as_utc(since):
        raise RequestValidationError([{
            "type": "value_error", "loc": ("query", "until"), "input": until.isoformat(),
            "msg": "Value error, expected a time after since"}])
    profiles = repo.profiles()
    names = {v: {dim: d.name.get(language, dim) for dim, d in repo.dimensions(version=v).items()}
             for v in {p.bank_version for p in profiles}}  # for profiles issued without words
    services = services_of(request.app)
    only = None
    if who.scope is not None:
        units = reach_of(services, who).units(who.role)
        only = {c.id for c in services.organisation.test_centres(within=units)}
    centres = store.session_centres() if by_centre or only is not None else None
    page = render(profiles, language=language, min_count=min_count or floor, level=level,
                  candidate_language=candidate_language, since=since, until=until, names=names,
                  centres=centres, only_centres=only)
    return HTMLResponse(page, headers={"Content-Language": language})
