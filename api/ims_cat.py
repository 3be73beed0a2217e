"""The IMS CAT interface: qabilet as the adaptive engine of a delivery platform such as TAO.

A platform that delivers its tests itself calls an adaptive engine through the IMS (1EdTech)
Computer Adaptive Testing interface. These routes answer exactly what TAO's open-source client
of it sends (``oat-sa/lib-test-cat``, its classes ``oat\\libCat\\ims\\v1p3``, which name the
interface version 1.3): the platform's endpoint is ``<server>/ims/cat`` and its version
``v1p3``.

``POST sections``
    ``{"sectionConfiguration": base64, "qtiMetadata": base64, "qtiUsagedata": base64}`` →
    ``{"sectionIdentifier"}``. The configuration is a JSON document
    (:class:`~qabilet.api.schemas_ims_cat.SectionConfiguration`): level, language, blueprint or
    bank version, norm set, test centre, time limits, how items are named.
``POST sections/{section}/sessions``
    → ``{"sessionIdentifier", "nextItems": {"itemIdentifiers": [first], "stageLength": 1},
    "sessionState"}``: a qabilet session (durable, timed, scored into a profile) with its clock
    started.
``POST sections/{section}/sessions/{session}/results``
    ``{"assessmentResult": {"itemResult": [...]}, "sessionState"}`` → the next items (none when
    the test is over: then ``assessmentResult.testResult`` holds the profile's scores), a new
    state.
``DELETE sections/{section}/sessions/{session}``, ``GET``/``DELETE sections/{section}``
    End a session (its profile is issued), read or end a section.

Answers. Preference items have no right answer, and TAO's client forwards only the item result
variable named ``SCORE`` (any case): the platform's response processing maps the chosen option to
its 0-based position in the item's options — the ``code`` of qabilet's own answers — and reports
it as ``SCORE`` (qabilet's QTI export writes that mapping into every item). Forced-choice
blocks are not offered here: a ranking does not fit one score, and a section whose blueprint has
forced-choice sections is refused.

State. The event log stays the truth; the ``sessionState`` the platform holds names the session
and the position it was issued at, signed (:mod:`qabilet.api.cat_state`). A forged state is
refused (422). A stale one — issued before the position the session now stands at — is
accepted only for results the log already holds (a retry after a lost answer: the current state
is returned); results that differ are refused (409), as qabilet's own answers are.

Who. A platform holds an operator's API key (scoped to its unit, when its sessions are held at
one of the unit's test centres); the sections a key creates are its own: another key gets 404.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import ValidationError

from qabilet.api import cat_state
from qabilet.api.answering import record_answer
from qabilet.api.auth import Caller, operator
from qabilet.api.dependencies import Services, services_of
from qabilet.api.live import Live
from qabilet.api.reach import check_centre
from qabilet.api.schemas import ERRORS
from qabilet.api.schemas_ims_cat import (
    CatResults,
    CatSectionCreate,
    CatSectionCreated,
    CatSectionPublic,
    CatSessionCreate,
    CatSessionStarted,
    CatVariable,
    ItemResult,
    NextItems,
    ResultsAnswer,
    SectionConfiguration,
)
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.itembank.blueprints import StoredBlueprint
from qabilet.itembank.cat_sections import CatSection

__all__ = ["LANGUAGES", "router"]

router = APIRouter(prefix="/ims/cat/v1p3", tags=["IMS CAT interface"], responses=ERRORS)
Platform = Annotated[Caller, Depends(operator)]
#: the languages an item identifier may end with (``<item>.<language>``)
LANGUAGES = ("kk", "ru", "en")
#: where a result's score may be, in the order they are searched
_VARIABLE_KINDS = ("outcomeVariables", "responseVariables", "templateVariables", "traceVariables")


def _base64(text: str | None, field: str) -> bytes:
    try:
        return base64.b64decode(text or "", validate=True)
    except (binascii.Error, ValueError):
        raise InvalidParameterError(f"{field}: expected base64") from None


def _configuration(text: str) -> SectionConfiguration:
    """The decoded section configuration (422 naming the key on any problem)."""
    raw = _base64(text, "sectionConfiguration")
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidParameterError("sectionConfiguration: expected base64 of a JSON object "
                                    "(level, language, …)") from None
    try:
        return SectionConfiguration.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidParameterError(f"sectionConfiguration{'.' + where if where else ''}: "
                                    f"{first['msg']}") from None


def _blueprint(services: Services, config: SectionConfiguration) -> StoredBlueprint:
    """The blueprint a configuration names, checked for the interface (no forced-choice blocks)."""
    repo = services.repo
    if config.blueprint is None and config.bankVersion is not None:
        of_version = [b for b in repo.blueprints(config.level) if b.bank_version == config.bankVersion]
        if not of_version:
            raise InvalidParameterError(f"sectionConfiguration.bankVersion: level {config.level!r} "
                                        f"has no blueprint of bank version {config.bankVersion}")
        blueprint = max(of_version, key=lambda b: b.number)
    else:
        blueprint = repo.blueprint(config.level, config.blueprint)
    if config.bankVersion is not None and blueprint.bank_version != config.bankVersion:
        raise InvalidParameterError(f"sectionConfiguration.bankVersion: blueprint "
                                    f"{blueprint.number} of level {config.level!r} runs bank "
                                    f"version {blueprint.bank_version}, not {config.bankVersion}")
    blocks = [s.name for s in blueprint.sections if s.blocks is not None]
    if blocks:
        raise InvalidParameterError(f"sectionConfiguration.blueprint: blueprint {blueprint.number} "
                                    f"of level {config.level!r} has forced-choice sections "
                                    f"({', '.join(blocks)}); blocks are not offered through the "
                                    f"CAT interface (a ranking does not fit one score)")
    return blueprint


@router.post("/sections", status_code=201, response_model=CatSectionCreated)
def create_section(request: Request, body: CatSectionCreate, who: Platform) -> CatSectionCreated:
    """Create a section from the platform's configuration; the calling key owns it."""
    services = services_of(request.app)
    config = _configuration(body.sectionConfiguration)
    _base64(body.qtiMetadata, "qtiMetadata")
    _base64(body.qtiUsagedata, "qtiUsagedata")
    blueprint = _blueprint(services, config)
    norms = services.repo.norm_set(config.normSet, bank_version=blueprint.bank_version)
    if norms.bank_version != blueprint.bank_version:
        raise InvalidParameterError(f"sectionConfiguration.normSet: norm set {norms.number} is "
                                    f"bank version {norms.bank_version}'s, not "
                                    f"{blueprint.bank_version}'s")
    norms.for_level(config.level)
    check_centre(services, who, config.testCentre, "sectionConfiguration.testCentre")
    section = services.cat_sections.create(
        owner=who.actor, level=config.level, language=config.language,
        blueprint_number=blueprint.number, bank_version=blueprint.bank_version,
        norm_set=config.normSet, test_centre=config.testCentre, time_limit_s=config.timeLimitS,
        item_time_limit_s=config.itemTimeLimitS, identifiers=config.itemIdentifiers,
        configuration=config.model_dump(mode="json"))
    services.store.audit(who.actor, "cat.section.create", section.id,
                         {"level": section.level, "language": section.language,
                          "blueprint": section.blueprint_number,
                          "bank_version": section.bank_version})
    return CatSectionCreated(sectionIdentifier=section.id)


@router.get("/sections/{section_id}", response_model=CatSectionPublic)
def get_section(request: Request, section_id: str, who: Platform) -> CatSectionPublic:
    """A section as configured."""
    section = services_of(request.app).cat_sections.get(section_id, who.actor)
    return CatSectionPublic(sectionIdentifier=section.id,
                            sectionConfiguration=SectionConfiguration.model_validate(
                                section.configuration),
                            bankVersion=section.bank_version, blueprint=section.blueprint_number,
                            ended=section.ended_at is not None)


@router.delete("/sections/{section_id}", status_code=204, response_class=Response)
def end_section(request: Request, section_id: str, who: Platform) -> Response:
    """End a section: no session opens in it any more; its sessions go on."""
    services = services_of(request.app)
    services.cat_sections.end(section_id, who.actor)
    services.store.audit(who.actor, "cat.section.end", section_id)
    return Response(status_code=204)


def _name(section: CatSection, item_id: str) -> str:
    """The identifier of an item as the platform knows it."""
    return f"{item_id}.{section.language}" if section.identifiers == "qti" else item_id


def _answer(services: Services, section: CatSection, live: Live,
            session_id: str) -> dict[str, Any]:
    """The next items, the new state and (once the test is over) the profile's scores."""
    v = live.view
    key = services.cat_sections.signing_key()
    over = v.finished or v.item_id is None
    answer: dict[str, Any] = {
        "nextItems": NextItems(itemIdentifiers=[] if over else [_name(section, str(v.item_id))],
                               stageLength=1),
        "sessionState": cat_state.issue(key, session_id, v.position)}
    if over:
        answer["assessmentResult"] = _test_result(services, session_id)
    return answer


def _variable(identifier: str, base_type: str, value: Any) -> dict[str, Any]:
    return {"identifier": identifier, "cardinality": "single",
            "value": [{"baseType": base_type, "value": value}]}


def _test_result(services: Services, session_id: str) -> dict[str, Any]:
    """The profile's scores as the test's outcome variables (θ, its SD, T score, sten, band)."""
    live = services.live.state(session_id, issue=True)
    if live.profile_id is None:  # closed without a profile: nothing to report yet
        return {"testResult": {"outcomeVariables": []}}
    profile = services.repo.profile(live.profile_id)
    variables = [_variable("PROFILE_ID", "identifier", live.profile_id)]
    for d in [*profile.professional, *profile.personal]:
        name = d.dimension.upper()
        variables += [_variable(f"THETA_{name}", "float", d.theta),
                      _variable(f"SE_{name}", "float", d.sd),
                      _variable(f"TSCORE_{name}", "float", d.t_score),
                      _variable(f"STEN_{name}", "integer", d.sten)]
        if d.band is not None:
            variables.append(_variable(f"BAND_{name}", "identifier", d.band))
    return {"testResult": {"outcomeVariables": variables}}


@router.post("/sections/{section_id}/sessions", status_code=201, response_model=CatSessionStarted,
             response_model_exclude_none=True)
def create_session(request: Request, section_id: str, body: CatSessionCreate,
                   who: Platform) -> CatSessionStarted:
    """Open a session in the section (its clock starts now) and name its first item."""
    services = services_of(request.app)
    cats, settings = services.cat_sections, services.settings
    section = cats.get(section_id, who.actor)
    if section.ended_at is not None:
        raise HTTPException(409, f"section {section_id!r} has ended; no session opens in it")
    candidate = services.store.add_candidate()
    session, _ = services.live.create(
        candidate_id=candidate, level=section.level, language=section.language,
        token_ttl=timedelta(hours=settings.token_ttl_hours), time_limit_s=section.time_limit_s,
        item_time_limit_s=section.item_time_limit_s, blueprint_number=section.blueprint_number,
        test_centre=section.test_centre, norm_set=section.norm_set)
    cats.link(section, session.id, body.model_dump(mode="json", exclude_none=True))
    services.store.audit(who.actor, "cat.session.create", session.id, {"section": section.id})
    live = services.live.state(session.id, start_clock=True, actor=who.actor)
    return CatSessionStarted(sessionIdentifier=session.id,
                             **_answer(services, section, live, session.id))


def _section_of(services: Services, section_id: str, session_id: str, who: Caller) -> CatSection:
    """The caller's section, holding ``session_id`` (404 otherwise)."""
    section = services.cat_sections.get(section_id, who.actor)
    if services.cat_sections.section_of(session_id) != section.id:
        raise HTTPException(404, f"section {section_id!r} has no session {session_id!r}")
    return section


def _item_of(section: CatSection, identifier: str, field: str) -> tuple[str, str]:
    """The bank's item id and the language of a result's ``identifier``."""
    if section.identifiers == "bank":
        return identifier, section.language
    item_id, dot, language = identifier.rpartition(".")
    if not dot or language not in LANGUAGES or not item_id:
        raise InvalidParameterError(f"{field}: expected <item>.<language> (one of "
                                    f"{', '.join(LANGUAGES)}), as the section names items; "
                                    f"got {identifier!r}")
    return item_id, language


def _score(result: ItemResult, field: str) -> int:
    """The 0-based option code a result's ``SCORE`` variable carries."""
    for kind in _VARIABLE_KINDS:
        variables: list[CatVariable] = getattr(result, kind) or []
        for j, variable in enumerate(variables):
            if variable.identifier.lower() == "score":
                return _code(variable, f"{field}.{kind}[{j}].value")
    raise InvalidParameterError(f"{field}: no variable named SCORE (the platform's response "
                                f"processing reports the chosen option's code as SCORE)")


def _code(variable: CatVariable, field: str) -> int:
    value = variable.value
    if isinstance(value, list):
        if len(value) != 1:
            raise InvalidParameterError(f"{field}: expected one value; got {len(value)}")
        value = value[0]
    raw: Any = getattr(value, "value", value)
    try:
        number = float(raw) if not isinstance(raw, bool) else float("nan")
    except (TypeError, ValueError):
        number = float("nan")
    if not number.is_integer() or number < 0:
        raise InvalidParameterError(f"{field}: expected the chosen option's code, an integer "
                                    f"≥ 0; got {raw!r}")
    return int(number)


@router.post("/sections/{section_id}/sessions/{session_id}/results", response_model=ResultsAnswer,
             response_model_exclude_none=True)
async def post_results(request: Request, section_id: str, session_id: str, body: CatResults,
                       who: Platform) -> ResultsAnswer:
    """Record the item results since the last state; answer the next items and a new state."""
    services = services_of(request.app)
    section = _section_of(services, section_id, session_id, who)
    state = cat_state.read(services.cat_sections.signing_key(), body.sessionState)
    if state.session_id != session_id:
        raise InvalidParameterError("sessionState: issued for another session")
    sessions = services.live
    live = sessions.state(session_id, start_clock=True, actor=who.actor)
    results = body.assessmentResult.itemResult
    if state.position != live.view.position and not results:
        raise HTTPException(409, f"sessionState: stale — issued at position {state.position}; the "
                                 f"session stands at {live.view.position}")
    for k, result in enumerate(results):
        field = f"assessmentResult.itemResult[{k}]"
        item_id, language = _item_of(section, result.identifier, f"{field}.identifier")
        code = _score(result, field)
        payload = {"item_id": item_id, "code": code, "client_response_time_s": None,
                   "language": language}
        await record_answer(sessions, live, position=state.position + k, item_id=item_id,
                            code=code, payload=payload, actor=who.actor, field=f"{field}.")
        live = sessions.state(session_id, actor=who.actor)
    return ResultsAnswer(**_answer(services, section, live, session_id))


@router.delete("/sections/{section_id}/sessions/{session_id}", status_code=204,
               response_class=Response)
def end_session(request: Request, section_id: str, session_id: str, who: Platform) -> Response:
    """End the session (early, if items remain) and issue its profile; ending again is a no-op."""
    services = services_of(request.app)
    _section_of(services, section_id, session_id, who)
    live = services.live.close(session_id, "finish", who.actor)
    services.store.audit(who.actor, "cat.session.end", session_id,
                         {"closed": live.closed_reason})
    return Response(status_code=204)
