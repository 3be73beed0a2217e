"""Running a study on Dask: one task per cell, results written by the client, resumable.

:func:`run_study` plans the cells (:func:`qabilet.study.cells.plan_study`), skips those whose
results file ``cells/<key>.csv`` is already in the results folder, and submits one task per
remaining cell to a Dask cluster — a :class:`distributed.LocalCluster` of one-thread worker
processes by default, or the scheduler at ``scheduler``. Each bank is sent to the cluster once
(``Client.scatter``) and the tasks refer to it. The **client** writes each cell's file as its
task finishes, atomically (a temporary file renamed), so the workers need no shared filesystem
and an interrupted study leaves only whole files; a rerun skips them. When every cell is done,
the client writes the tidy table (``results.csv``), the summary and the report.

Dask is imported when a study runs, not with this module.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qabilet._version import __version__
from qabilet.engine.exceptions import QabiletError
from qabilet.itembank._files import write_text_atomic
from qabilet.study.cells import Cell, CellResult, StudyPlan, plan_study, run_cell
from qabilet.study.spec import StudySpec, load_spec
from qabilet.study.table import cell_csv, table_text

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["StudyError", "StudyProgress", "StudyRun", "run_study", "study_status"]


class StudyError(QabiletError, RuntimeError):
    """A cell's task failed on the cluster, or the cluster could not be reached.

    The message names the cell.
    """


@dataclass(frozen=True, slots=True)
class StudyProgress:
    """Where a running study is.

    Attributes
    ----------
    done : int
        Cells finished, this run's and those finished before.
    total : int
    skipped : int
        Cells finished before this run (not rerun).
    elapsed_s : float
        Since this run's first task was submitted.
    eta_s : float or None
        Time left at this run's pace so far (None before its first cell).
    cell : Cell or None
        The cell just finished.
    """

    done: int
    total: int
    skipped: int
    elapsed_s: float
    eta_s: float | None
    cell: Cell | None = None


@dataclass(frozen=True, slots=True)
class StudyRun:
    """What :func:`run_study` did.

    Attributes
    ----------
    out : Path
        The results folder.
    cells : list of Cell
    ran, skipped : list of str
        Keys of the cells run now, and of those found finished.
    complete : bool
        Every cell has its results (then ``table``, ``summary`` and ``report`` exist).
    timings : dict
        Key of each cell run now → its task's wall time and its thread's CPU time (s).
    """

    out: Path
    cells: list[Cell]
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    complete: bool = False
    timings: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def table(self) -> Path:
        """The tidy table, ``results.csv``."""
        return self.out / "results.csv"

    @property
    def summary(self) -> Path:
        """``summary.csv``: one row per cell."""
        return self.out / "summary.csv"

    @property
    def report(self) -> Path:
        """``report.html``."""
        return self.out / "report.html"


def _cell_file(out: Path, key: str) -> Path:
    return out / "cells" / f"{key}.csv"


def study_status(plan: StudyPlan, out: str | os.PathLike[str]) -> dict[str, bool]:
    """Cell key → whether its results file is in ``out`` (finished)."""
    folder = Path(out)
    return {c.key: _cell_file(folder, c.key).is_file() for c in plan.cells}


def _settings(spec: StudySpec) -> dict[str, Any]:
    return {"name": spec.name, "cells": spec.n_cells, "replications": spec.replications,
            "simulees per replication": spec.simulees, "seed": spec.seed,
            "qabilet": __version__}


def _write_manifest(plan: StudyPlan, out: Path) -> None:
    """``study.json``: the study as read and every cell's number, levels, key and definition."""
    doc = {"study": plan.spec.model_dump(mode="json"), "qabilet": __version__,
           "cells": [{"cell": c.number, **c.factors, "key": c.key, "definition": c.definition}
                     for c in plan.cells]}
    write_text_atomic(out / "study.json", json.dumps(doc, indent=1, ensure_ascii=False) + "\n")


#: Dask starts its worker processes with glibc's ``MALLOC_TRIM_THRESHOLD_`` set (64 KiB), which
#: also fixes the threshold above which an allocation is mapped afresh: every large temporary
#: array of a simulation is then a new mapping, faulted in page by page. The engine ran 2.2 times
#: slower so (measured on a cell of 1,000 simulees); the local cluster's workers keep glibc's
#: adaptive thresholds instead. A value set in the environment still applies.
_TRIM = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"


@contextmanager
def _client(scheduler: str | None, workers: int | None) -> Iterator[Client]:
    """A client of the scheduler at ``scheduler``, or of a new local cluster.

    Both are closed on the way out, Ctrl-C included.
    """
    import dask
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise StudyError(f"scheduler: cannot reach {scheduler}: {exc}") from None
        with client:
            yield client
        return
    n = workers or os.cpu_count() or 1
    # the workers ignore SIGINT (a disposition a new process keeps): Ctrl-C reaches the whole
    # foreground process group, and it is this process that closes the cluster, in order
    main = threading.current_thread() is threading.main_thread()  # where signals are set
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        with dask.config.set({_TRIM: None}):
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
    with cluster, Client(cluster) as client:
        yield client


def _finish(plan: StudyPlan, out: Path, report: bool = True) -> None:
    """The tidy table from the cells' files, then the summary and the report."""
    from qabilet.study.report import write_report

    parts = [(c.number, c.factors, _cell_file(out, c.key).read_text(encoding="utf-8"))
             for c in plan.cells]
    write_text_atomic(out / "results.csv", table_text(parts))
    if not report:
        return
    spec = plan.spec
    write_report(out, _settings(spec), bin_width=spec.report.bin_width, min_n=spec.report.min_n)


def run_study(study: StudySpec | str | os.PathLike[str], out: str | os.PathLike[str], *,
              scheduler: str | None = None, workers: int | None = None,
              client: Client | None = None,
              progress: Callable[[StudyProgress], None] | None = None,
              stop_after: int | None = None, report: bool = True) -> StudyRun:
    """Run a study's unfinished cells on Dask and write its table, summary and report.

    Parameters
    ----------
    study : StudySpec or path
        The study, or its TOML file (relative paths in it are read from the file's folder; from
        the working directory for a StudySpec).
    out : path
        The results folder (made when missing): ``study.json``, ``cells/<key>.csv`` per cell,
        then ``results.csv``, ``summary.csv``, ``conditional.csv`` and ``report.html``.
    scheduler : str, optional
        A Dask scheduler's address; default the study's ``scheduler``, else a local cluster.
    workers : int, optional
        The local cluster's worker processes (one thread each); default the study's
        ``workers``, else the machine's cores.
    client : distributed.Client, optional
        Run on this client's cluster (left open) instead.
    progress : callable, optional
        Called with a :class:`StudyProgress` after each finished cell (and once at the start).
    stop_after : int, optional
        Stop after this many cells of this run are written, as an interruption would (the
        others are cancelled; ``complete`` is False): for tests and for trying a study out.
    report : bool
        Write the summary and the report once every cell is done (else only the table).

    Returns
    -------
    StudyRun

    Raises
    ------
    DataFileError
        The study file or a file it names, or a cell whose blueprint does not fit its bank —
        before anything runs.
    StudyError
        A cell's task failed (its name in the message), or the scheduler cannot be reached.
    """
    if isinstance(study, StudySpec):
        spec, folder = study, Path(".")
    else:
        spec, folder = load_spec(study), Path(study).parent
    plan = plan_study(spec, folder)
    target = Path(out)
    (target / "cells").mkdir(parents=True, exist_ok=True)
    _write_manifest(plan, target)
    finished = study_status(plan, target)
    todo: dict[str, Cell] = {}
    for c in plan.cells:
        if not finished[c.key]:
            todo.setdefault(c.key, c)
    skipped = [k for k, done in finished.items() if done]
    total = len(finished)  # cells of one definition run once
    ran: list[str] = []
    timings: dict[str, tuple[float, float]] = {}
    if progress is not None:
        progress(StudyProgress(total - len(todo), total, len(skipped), 0.0, None))
    if todo:
        if client is not None:
            _execute(client, plan, todo, target, total, ran, timings, progress, stop_after)
        else:
            with _client(scheduler or spec.scheduler, workers or spec.workers) as own:
                _execute(own, plan, todo, target, total, ran, timings, progress, stop_after)
    complete = all(study_status(plan, target).values())
    if complete:
        _finish(plan, target, report)
    return StudyRun(target, plan.cells, ran, skipped, complete, timings)


def _execute(client: Client, plan: StudyPlan, todo: dict[str, Cell], out: Path, total: int,
             ran: list[str], timings: dict[str, tuple[float, float]],
             progress: Callable[[StudyProgress], None] | None, stop_after: int | None) -> None:
    """Submit a task per cell, write each result as it comes; cancel the rest on the way out."""
    from distributed import as_completed

    needed = {c.factors["bank"] for c in todo.values()}
    # each bank goes to the cluster once; the tasks carry a reference to it
    banks = {name: client.scatter(plan.banks[name].bank, broadcast=True, hash=False)
             for name in sorted(needed)}
    futures = {}
    for key, cell in todo.items():
        bank, definition, values = plan.task(cell)
        futures[client.submit(run_cell, banks[bank], definition, values, key=f"study-cell-{key}",
                              pure=False)] = cell
    start = time.monotonic()
    before = total - len(todo)
    try:
        for future in as_completed(futures):
            cell = futures[future]
            try:
                result: CellResult = future.result()
            except QabiletError as exc:
                raise StudyError(f"cell {cell.number} ({cell.label}): {exc}") from None
            except Exception as exc:  # a worker lost, a task that raised: name the cell
                raise StudyError(f"cell {cell.number} ({cell.label}): "
                                 f"{type(exc).__name__}: {exc}") from None
            item_ids = plan.banks[cell.factors["bank"]].bank.item_ids
            write_text_atomic(_cell_file(out, cell.key), cell_csv(result, item_ids))
            ran.append(cell.key)
            timings[cell.key] = (result.elapsed_s, result.cpu_s)
            if progress is not None:
                elapsed = time.monotonic() - start
                left = len(todo) - len(ran)
                progress(StudyProgress(before + len(ran), total, before, elapsed,
                                       elapsed / len(ran) * left, cell))
            if stop_after is not None and len(ran) >= stop_after:
                break
    finally:
        client.cancel([f for f in futures if not f.done()])
        client.cancel(list(banks.values()))
