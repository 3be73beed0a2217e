"""Calibration jobs started over the API: recalibrate a bank version's items on stored responses.

A job is a row (:class:`qabilet.itembank.tables.CalibrationJobRow`): queued → running → done or failed.
It runs in a thread of the worker that accepted it (a calibration of a few thousand sessions
takes seconds, not hours); the row records which process runs it (``host:pid``, for the
reader), and that process writes the time into the row's ``heartbeat_at`` every
:data:`HEARTBEAT_S` seconds while the job runs. A queued or running job whose last beat is older
than :data:`STALE_S` — its process was killed, its machine went down, the server was restarted
— reads as ``interrupted`` on any server of the database, and can be started again. The beat is
compared with the reading server's clock: the servers' clocks must agree (NTP; see
docs/deployment.md) to well within :data:`STALE_S` − :data:`HEARTBEAT_S`.

A job of ``kind`` ``pretest`` calibrates the version's pretest items instead
(:func:`pretest`); its result names the draft version it wrote. What a recalibration computes:
for each dimension of the version, the items of that dimension that have
answers, fitted by MML-EM (:class:`qabilet.calibration.MML`) on the responses recorded for the version
(as model categories, through the version's answer-code mappings), each with the model the
version gives it, on the standard-normal scale of that dimension. The result holds, per
dimension, the fit's summary and its parameter file
(:func:`qabilet.calibration_file.calibration_parameter_file`, the writer ``qabilet calibrate`` uses), ready to
be reviewed, linked (:mod:`qabilet.calibration.linking`) and imported as a new draft version.

Every recalibration also tests each dimension's items for DIF between the Kazakh and the
Russian sessions, on the same (sparse) answers: Lagrange-multiplier tests of every item from one
multi-group calibration (:func:`qabilet.calibration.score_dif`; the items equal in both groups,
the Russian group's latent mean and variance free), Holm-adjusted over the dimension's items,
with ETS classes from the model-implied effect sizes. The result holds them under the
dimension's ``dif`` (or why they were skipped: fewer than :data:`DIF_MIN_SESSIONS` sessions in a
language), and the items of class C are flagged ``dif`` on the version
(:meth:`qabilet.itembank.repository.BankRepository.add_flags`), as a pretest calibration flags its
new items.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
import warnings
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from qabilet.engine.exceptions import NotFoundError, QabiletError
from qabilet.itembank._runtime import as_utc, now
from qabilet.itembank.tables import CalibrationJobRow

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from qabilet.itembank.repository import BankRepository

__all__ = ["DIF_LANGUAGES", "DIF_MIN_ANSWERS", "DIF_MIN_SESSIONS", "HEARTBEAT_S", "STALE_S",
           "CalibrationJobs", "pretest", "recalibrate"]

_RUNNER = f"{socket.gethostname()}:{os.getpid()}"
_log = logging.getLogger("qabilet.api.calibration")
#: seconds between a running job's beats (``calibration_jobs.heartbeat_at``)
HEARTBEAT_S = 10.0
#: a queued or running job whose last beat is older than this many seconds reads as interrupted
STALE_S = 60.0
_UNFINISHED = ("queued", "running")


#: sessions each language group needs in a dimension before its kk/ru DIF is tested
DIF_MIN_SESSIONS = 100
#: answers an item needs in each language group before its DIF is tested
DIF_MIN_ANSWERS = 100
#: the language groups compared for DIF, reference first
DIF_LANGUAGES = ("kk", "ru")


def recalibrate(repo: BankRepository, bank_version: int | None = None, *, level: str | None = None,
                language: str | None = None, min_responses: int = 200, dif: bool = True,
                actor: str = "calibration job") -> dict[str, Any]:
    """Fit each dimension's items of a version on its stored responses (see the module docstring).

    With ``dif``, each dimension's items are also tested for kk/ru DIF (:func:`_dif`) and the
    items of ETS class C flagged on the version (:meth:`BankRepository.add_flags`, by ``actor``).

    Raises
    ------
    ValueError
        Fewer than ``min_responses`` sessions answered the version.
    """
    import numpy as np

    from qabilet.calibration import MML
    from qabilet.calibration_file import calibration_parameter_file
    from qabilet.engine.exceptions import ConvergenceWarning
    from qabilet.pretest_calibration import response_matrix

    version = repo.version(bank_version)
    responses = repo.responses(bank_version=version.number, level=level, language=language)
    language_of = {r.session_id or r.person_id: r.language for r in responses}
    sessions = sorted(language_of)
    if len(sessions) < min_responses:
        raise ValueError(f"bank_version: {version.number} has answers from {len(sessions)} "
                         f"sessions{' at ' + level if level else ''}"
                         f"{' in ' + language if language else ''}; min_responses is "
                         f"{min_responses}")
    recodings = version.parameters.recodings()
    models = dict(zip(version.item_ids, version.parameters.item_models(), strict=True))
    dimension_of = {i.id: i.dimension for i in repo.items()}
    x = response_matrix(responses, sessions, version.item_ids, recodings)
    languages = np.asarray([language_of[s] for s in sessions], dtype=object)
    column = {item: j for j, item in enumerate(version.item_ids)}
    answered = (~np.isnan(x)).sum(axis=0)
    out: dict[str, Any] = {"bank_version": version.number, "n_sessions": len(sessions),
                           "dimensions": {}}
    flags: list[tuple[str, str, dict[str, Any]]] = []
    for dim in version.dimensions:
        ids = [i for i in version.item_ids if dimension_of.get(i) == dim and answered[column[i]] >= 2]
        if len(ids) < 2:
            continue
        data = x[:, [column[i] for i in ids]]
        keep = ~np.isnan(data).all(axis=1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            result = MML(model={i: models[i] for i in ids}).fit(data[keep], item_ids=ids)
        # the data are the version's model categories: its recodings give their original codes
        parameters = calibration_parameter_file(
            result, codes={i: recodings[i] for i in ids if i in recodings},
            method=f"MML-EM of {int(keep.sum())} sessions' answers to bank version "
                   f"{version.number} ({dim})")
        out["dimensions"][dim] = {
            "n_sessions": int(keep.sum()), "n_items": len(ids), "loglik": result.loglik,
            "n_iter": result.n_iter, "converged": result.converged,
            "warnings": [str(w.message) for w in caught],
            "parameters": parameters.model_dump(mode="json", exclude_none=True)}
        if dif:
            found = _dif(data[keep], languages[keep], ids, {i: models[i] for i in ids})
            out["dimensions"][dim]["dif"] = found
            flags += [(row["item_id"], "dif", {**{k: row[k] for k in _FLAG_DETAIL}, "dimension": dim,
                                               "method": found["method"]})
                      for row in found.get("items", []) if row["ets_class"] == "C"]
    if flags:
        repo.add_flags(version.number, flags, by=actor)
    return out


#: what a DIF flag's detail keeps of its row (as the pretest calibration's)
_FLAG_DETAIL = ("ets_class", "p_adjusted", "smd", "favoured")


def _dif(data: Any, languages: Any, ids: list[str], models: dict[str, str]) -> dict[str, Any]:
    """kk/ru DIF of a dimension's items: score tests from one multi-group calibration, as JSON.

    Every item at once by :func:`qabilet.calibration.score_dif` (Lagrange-multiplier tests,
    Holm-adjusted over the items, ETS classes) of the items with :data:`DIF_MIN_ANSWERS` answers
    in each language (the others are calibrated, not tested); other languages' sessions left out.
    ``{"skipped": why}`` when a language group has fewer than :data:`DIF_MIN_SESSIONS` sessions.
    """
    import time

    import numpy as np

    from qabilet.calibration import score_dif
    from qabilet.engine.exceptions import ConvergenceWarning

    counts = {lang: int(np.sum(languages == lang)) for lang in DIF_LANGUAGES}
    short = [f"{lang}: {n}" for lang, n in counts.items() if n < DIF_MIN_SESSIONS]
    if short:
        return {"skipped": f"kk/ru DIF needs {DIF_MIN_SESSIONS} sessions in each language; "
                           f"sessions {', '.join(short)}", "sessions": counts}
    pair = np.isin(languages, DIF_LANGUAGES)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        found = score_dif(data[pair], languages[pair].astype(str), model=models, item_ids=ids,
                          reference_group=DIF_LANGUAGES[0], min_answers=DIF_MIN_ANSWERS)

    def finite(v: float) -> float | None:
        return float(v) if np.isfinite(v) else None

    return {"method": found.method, "reference": str(found.reference), "focal": str(found.focal),
            "adjust": found.adjust, "alpha": found.alpha, "sessions": counts,
            "seconds": round(time.perf_counter() - started, 3),
            "items": [{"item_id": r.item, "statistic": finite(r.statistic), "df": r.df,
                       "p_adjusted": finite(r.p_adjusted), "smd": finite(r.smd),
                       "smd_sd": finite(r.smd_sd), "delta": finite(r.delta),
                       "ets_class": r.ets_class,
                       "favoured": None if r.favoured is None else str(r.favoured),
                       "note": r.note} for r in found.rows()]}


_PRETEST_ONLY = ("kind", "min_answers", "languages")


def _without(request: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in request.items() if k not in keys}


def pretest(repo: BankRepository, *, bank_version: int | None = None, min_answers: int = 300,
            languages: list[str] | None = None, actor: str = "calibration job",
            **_ignored: Any) -> dict[str, Any]:
    """A pretest calibration (:func:`qabilet.pretest_calibration.calibrate_pretest`) as JSON."""
    from qabilet.pretest_calibration import calibrate_pretest

    return calibrate_pretest(repo, bank_version, min_answers=min_answers,
                             languages=languages or ["kk", "ru"], by=actor).to_dict()


class CalibrationJobs:
    """The jobs of one database.

    Parameters
    ----------
    engine : sqlalchemy.Engine
    repo : BankRepository
        The bank the jobs calibrate.
    heartbeat_s, stale_s : float
        Seconds between a running job's beats, and the age of the last beat past which a
        queued or running job reads as interrupted (:data:`HEARTBEAT_S`, :data:`STALE_S`).

    Raises
    ------
    ValueError
        A beat that is not positive and shorter than the staleness limit.
    """

    def __init__(self, engine: Engine, repo: BankRepository, *, heartbeat_s: float = HEARTBEAT_S,
                 stale_s: float = STALE_S) -> None:
        if not 0 < heartbeat_s < stale_s:
            raise ValueError(f"heartbeat_s: expected a positive number below stale_s ({stale_s}); "
                             f"got {heartbeat_s}")
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._repo = repo
        self._heartbeat_s, self._stale = heartbeat_s, timedelta(seconds=stale_s)

    def start(self, request: dict[str, Any], actor: str) -> dict[str, Any]:
        """Queue a job and start it in a thread of this process."""
        job_id = uuid.uuid4().hex
        at = now()
        with self._sessions.begin() as s:
            s.add(CalibrationJobRow(id=job_id, status="queued", requested_by=actor,
                                    request=request, created_at=at, runner=_RUNNER,
                                    heartbeat_at=at))
        threading.Thread(target=self._run, args=(job_id, request, actor), daemon=True,
                         name=f"calibration-{job_id}").start()
        return self.get(job_id)

    def _run(self, job_id: str, request: dict[str, Any], actor: str) -> None:
        self._set(job_id, status="running", heartbeat_at=now())
        done = threading.Event()
        threading.Thread(target=self._beat, args=(job_id, done), daemon=True,
                         name=f"calibration-beat-{job_id}").start()
        try:
            result = (pretest(self._repo, **request, actor=actor) if request.get("kind") == "pretest"
                      else recalibrate(self._repo, **_without(request, _PRETEST_ONLY), actor=actor))
        except Exception as exc:  # a failed job records why; the server goes on
            done.set()
            if type(exc) is ValueError or isinstance(exc, QabiletError):  # the request's fault
                _log.info("calibration job %s refused: %s", job_id, exc)
            else:  # a fault of ours: its traceback, for the bug report
                _log.exception("calibration job %s failed", job_id)
            self._set(job_id, status="failed", error=f"{type(exc).__name__}: {exc}",
                      finished_at=now())
        else:
            done.set()
            self._set(job_id, status="done", result=result, finished_at=now())

    def _beat(self, job_id: str, done: threading.Event) -> None:
        """Write the job's beat every ``heartbeat_s`` until it is done (or no longer unfinished)."""
        while not done.wait(self._heartbeat_s):
            try:
                with self._sessions.begin() as s:
                    s.execute(update(CalibrationJobRow)
                              .where(CalibrationJobRow.id == job_id,
                                     CalibrationJobRow.status.in_(_UNFINISHED))
                              .values(heartbeat_at=now()))
            except Exception:  # the database away for a moment: the next beat tries again
                _log.warning("calibration job %s: its beat was not written", job_id,
                             exc_info=True)

    def _set(self, job_id: str, **values: Any) -> None:
        with self._sessions.begin() as s:
            row = s.get(CalibrationJobRow, job_id)
            for k, v in values.items():
                setattr(row, k, v)

    def _settled(self, row: CalibrationJobRow, at: datetime) -> CalibrationJobRow:
        """The row, marked ``interrupted`` when it is unfinished and its runner's beat is stale."""
        last = row.heartbeat_at or row.created_at
        if row.status in _UNFINISHED and at - as_utc(last) > self._stale:
            row.status, row.finished_at = "interrupted", at
        return row

    def get(self, job_id: str) -> dict[str, Any]:
        """The job as it stands (``interrupted`` when its runner stopped beating)."""
        with self._sessions.begin() as s:
            row = s.get(CalibrationJobRow, job_id)
            if row is None:
                raise NotFoundError(f"calibration job {job_id!r} does not exist")
            return self._public(self._settled(row, now()))

    def all(self) -> list[dict[str, Any]]:
        """Every job, newest first, without results (``interrupted`` as :meth:`get` reads them)."""
        at = now()
        with self._sessions.begin() as s:
            rows = s.scalars(select(CalibrationJobRow).order_by(CalibrationJobRow.created_at.desc()))
            return [{**self._public(self._settled(r, at)), "result": None} for r in rows]

    @staticmethod
    def _public(row: CalibrationJobRow) -> dict[str, Any]:
        return {"id": row.id, "status": row.status, "request": row.request,
                "created_at": as_utc(row.created_at), "finished_at": as_utc(row.finished_at),
                "result": row.result, "error": row.error}
