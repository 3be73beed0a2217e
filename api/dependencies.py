"""The services of one app, and the typed dependencies through which routes reach them.

:func:`qabilet.api.app.create_app` builds one :class:`Services` and keeps it on the app;
:func:`services_of` is the one typed accessor of it (the request guard, a plain ASGI layer,
uses it too). A route names what it needs by the aliases below — ``store: Store``,
``live: Sessions`` — and FastAPI hands it over; a test may replace one with
``app.dependency_overrides``.

The dependencies are coroutines: FastAPI runs them on the event loop (a sync dependency would
hop to the thread pool and back on every candidate request, for an attribute read).
"""

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from qabilet.api.calibration_jobs import CalibrationJobs
from qabilet.api.live import LiveSessions
from qabilet.api.offload import Offload
from qabilet.api.settings import Settings
from qabilet.api.throttle import Throttle
from qabilet.attestation.accounts import AccountRepository
from qabilet.attestation.campaigns import CampaignRepository
from qabilet.attestation.interviews import InterviewRepository
from qabilet.attestation.repository import OrganisationRepository
from qabilet.attestation.sheets import SheetRepository
from qabilet.attestation.timetable import TimetableRepository
from qabilet.delivery.item_texts import ItemTexts
from qabilet.itembank.cat_sections import CatSections
from qabilet.itembank.repository import BankRepository
from qabilet.itembank.session_store import SessionStore

__all__ = ["Bank", "Config", "Imports", "Jobs", "Services", "Sessions", "Store", "Texts",
           "get_jobs", "get_live", "get_offload", "get_repo", "get_settings", "get_store",
           "get_texts", "services_of"]


@dataclass(frozen=True, slots=True)
class Services:
    """What the routes of one app work with (one per worker process).

    Attributes
    ----------
    settings : Settings
        The server's settings, read once.
    repo : BankRepository
        The bank: items, versions, norm sets, profiles.
    store : SessionStore
        Sessions' logs, candidates, API keys, the audit trail.
    live : LiveSessions
        Sessions as they stand, with the server's rules applied (:mod:`qabilet.api.live`).
    offload : Offload
        The imports' child process (:mod:`qabilet.api.offload`).
    texts : ItemTexts
        The items' shown texts.
    jobs : CalibrationJobs
        Calibrations started over the API.
    throttle : Throttle
        Failed credentials, counted (:mod:`qabilet.api.throttle`).
    organisation : OrganisationRepository
        The attestation's organisation: units, test centres, employees.
    accounts : AccountRepository
        Staff accounts, their grants and signed-in sessions; the reach of keys.
    campaigns : CampaignRepository
        Attestation campaigns, their members and exemptions.
    sheets : SheetRepository
        Evaluation sheets.
    timetable : TimetableRepository
        Proposed slots and bookings at the test centres.
    interviews : InterviewRepository
        Interviews and the commission's decisions.
    cat_sections : CatSections
        The IMS CAT interface's sections and their sessions (:mod:`qabilet.api.ims_cat`).
    """

    settings: Settings
    repo: BankRepository
    store: SessionStore
    live: LiveSessions
    offload: Offload
    texts: ItemTexts
    jobs: CalibrationJobs
    throttle: Throttle
    organisation: OrganisationRepository
    accounts: AccountRepository
    campaigns: CampaignRepository
    sheets: SheetRepository
    timetable: TimetableRepository
    interviews: InterviewRepository
    cat_sections: CatSections


def services_of(app: Any) -> Services:
    """The services of a FastAPI app made by :func:`~qabilet.api.app.create_app`.

    Parameters
    ----------
    app : fastapi.FastAPI
        ``request.app``, or ``scope["app"]`` in an ASGI layer.
    """
    services: Services = app.state.services
    return services


async def get_settings(request: Request) -> Settings:
    """The server's settings."""
    return services_of(request.app).settings


async def get_repo(request: Request) -> BankRepository:
    """The bank's repository."""
    return services_of(request.app).repo


async def get_store(request: Request) -> SessionStore:
    """The session store (logs, candidates, keys, audit)."""
    return services_of(request.app).store


async def get_live(request: Request) -> LiveSessions:
    """The live sessions."""
    return services_of(request.app).live


async def get_offload(request: Request) -> Offload:
    """The imports' child process."""
    return services_of(request.app).offload


async def get_texts(request: Request) -> ItemTexts:
    """The items' shown texts."""
    return services_of(request.app).texts


async def get_jobs(request: Request) -> CalibrationJobs:
    """The calibration jobs."""
    return services_of(request.app).jobs


Config = Annotated[Settings, Depends(get_settings)]
Bank = Annotated[BankRepository, Depends(get_repo)]
Store = Annotated[SessionStore, Depends(get_store)]
Sessions = Annotated[LiveSessions, Depends(get_live)]
Imports = Annotated[Offload, Depends(get_offload)]
Texts = Annotated[ItemTexts, Depends(get_texts)]
Jobs = Annotated[CalibrationJobs, Depends(get_jobs)]
