"""Imports off the serving process: a bank document or a parameter file imported by a child process.

Reading, validating and writing a document of tens of megabytes is seconds of Python, and Python
code holds the interpreter's lock: in a thread of a serving worker it would hold up every other
request of that worker — a candidate's next item waited 3–4 s behind a 40 MB document. A child
process does the import on the same database and the worker's event loop only awaits its answer,
so the candidates it serves meanwhile wait for nothing.

The child is one process per worker, started with the first import (``spawn``: it imports only
what an import needs, and nothing of the worker's threads), at a lower scheduling priority (on a
machine whose cores are all busy, the candidates' requests go first), and kept for the next ones; a child
that died is replaced (its transaction never committed). An import's errors (an
:class:`~qabilet.engine.exceptions.ImportRejectedError` naming its first bad entries) come back to the
request as raised. The database must be one that other processes can open — a SQLite file or
PostgreSQL — as it must be for several workers.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from qabilet.engine.exceptions import DataFileError, ImportRejectedError

if TYPE_CHECKING:
    from qabilet.itembank.database import DatabaseSettings
    from qabilet.itembank.repository import BankRepository
    from qabilet.itembank.versions import RecordStatus

__all__ = ["IMPORT_NICENESS", "MAX_PROBLEMS", "BankImported", "Offload", "ParametersImported",
           "import_bank", "import_parameters"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BankImported:
    """What a bank import did: records imported by section, and the draft holding new texts."""

    counts: dict[str, int]
    draft_version: int | None


@dataclass(frozen=True, slots=True)
class ParametersImported:
    """The draft version a parameter file became."""

    number: int
    status: RecordStatus
    n_items: int


#: how much lower the import process's scheduling priority is than its worker's (``nice``)
IMPORT_NICENESS = 10
#: an import's 422 names this many problems at most: a 32 MiB document of bad entries would
#: otherwise come back as a list of some 70 MB
MAX_PROBLEMS = 100


def _bounded(exc: ImportRejectedError) -> ImportRejectedError:
    """The refusal with its first :data:`MAX_PROBLEMS` problems and a count of the others."""
    if len(exc.problems) <= MAX_PROBLEMS:
        return exc
    rows = len({row for row, _, _ in exc.problems})
    more = (0, "document", f"{len(exc.problems) - MAX_PROBLEMS} more problems not listed "
                           f"({len(exc.problems)} problems in {rows} rows in all)")
    return ImportRejectedError([*exc.problems[:MAX_PROBLEMS], more], path="request body")


def _text(body: bytes) -> str:
    """An import's body as JSON text, refused as the edge refuses a small body (:mod:`qabilet.api.edge`).

    Raises
    ------
    DataFileError
        Not UTF-8 JSON, not an object, or holding a value no field can take (NaN, Infinity, a
        number that overflows, NUL or a lone surrogate…), naming its JSON path.
    """
    from qabilet.api.edge import json_problem

    problem = json_problem(body)
    if problem is not None:
        where = "/".join(str(part) for part in problem["loc"][1:]) or "the document"
        raise DataFileError(f"{where}: {problem['msg']}", path="request body")
    text = body.decode("utf-8")  # json_problem found it UTF-8 or let only ASCII pass
    if not text.lstrip().startswith("{"):
        raise DataFileError("expected a JSON object", path="request body")
    return text


def import_bank(repo: BankRepository, body: bytes, by: str) -> BankImported:
    """Import a bank document (:func:`qabilet.itembank.bank_file.import_document`), all or nothing.

    Raises
    ------
    DataFileError
        The body is no strict JSON object (:func:`_text`).
    ImportRejectedError
        Naming the first :data:`MAX_PROBLEMS` bad entries, and how many more there are.
    """
    from qabilet.itembank.bank_file import import_document

    text = _text(body)
    try:
        done = import_document(repo, text, path="request body", by=by)
    except ImportRejectedError as exc:
        raise _bounded(exc) from None
    return BankImported(done.counts(), None if done.draft is None else done.draft.number)


def import_parameters(repo: BankRepository, body: bytes) -> ParametersImported:
    """A parameter file as a new draft version (:func:`qabilet.itembank.bank_file.import_parameters`).

    Raises
    ------
    DataFileError, ImportRejectedError
        As :func:`import_bank`.
    """
    from qabilet.itembank.bank_file import import_parameters as load

    text = _text(body)
    try:
        version = load(repo, text, path="request body")
    except ImportRejectedError as exc:
        raise _bounded(exc) from None
    return ParametersImported(version.number, version.status, len(version.item_ids))


def _in_child(job: Callable[..., T], settings: DatabaseSettings, args: tuple[Any, ...]) -> T:
    """Run ``job(repo, *args)`` on a repository of its own over the database (in the child)."""
    from qabilet.itembank.database import connect
    from qabilet.itembank.repository import BankRepository

    engine = connect(settings=settings, migrate=False)
    try:
        return job(BankRepository(engine), *args)
    finally:
        engine.dispose()


def _yielding() -> None:
    """Lower the child's priority: on a busy machine the candidates' requests go first."""
    os.nice(IMPORT_NICENESS)


class Offload:
    """The import jobs of one serving process.

    Parameters
    ----------
    settings : DatabaseSettings
        The worker's database settings (handed to the child, which reads no environment).
    """

    def __init__(self, settings: DatabaseSettings) -> None:
        self._settings = settings
        self._pool: ProcessPoolExecutor | None = None
        self._start = threading.Lock()

    async def run(self, job: Callable[..., T], *args: Any) -> T:
        """``job(repo, *args)`` in the child process, on a repository of its own.

        ``job`` is one of this module's functions; its error is raised here.
        """
        loop = asyncio.get_running_loop()
        pool = self._executor()
        try:
            return await loop.run_in_executor(pool, _in_child, job, self._settings, args)
        except BrokenProcessPool:  # the child died (killed): its transaction never committed
            self._drop(pool)
            return await loop.run_in_executor(self._executor(), _in_child, job, self._settings,
                                              args)

    def _drop(self, pool: ProcessPoolExecutor) -> None:
        with self._start:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False)

    def _executor(self) -> ProcessPoolExecutor:
        with self._start:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_yielding)
            return self._pool

    def shutdown(self) -> None:
        """Let a running import finish, then stop the child."""
        with self._start:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
