"""``qabilet study``: a simulation study's cells run on Dask, resumable, with a report.

Registered on :data:`qabilet.cli.app`; like the other commands it imports numpy, the packages
and Dask only when it runs (Dask only when cells are left to run).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from qabilet.cli import EXIT_BAD_INPUT, _stderr_is_terminal, _user_errors, app

if TYPE_CHECKING:
    from qabilet.study.run import StudyProgress

__all__ = ["study"]

#: the exit status of a study stopped by Ctrl-C (128 + SIGINT, as a shell reports it)
EXIT_INTERRUPTED = 130


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class _Progress:
    """The study's progress on stderr: ``cells 12 of 100 finished; about 0:01:20 left``.

    Redrawn in place on a terminal, else a line at most every ``every`` seconds and at the end.
    """

    def __init__(self, terminal: bool, every: float = 10.0) -> None:
        self.terminal, self.every = terminal, every
        self._last = float("-inf")
        self.done = self.total = 0

    def __call__(self, p: StudyProgress) -> None:
        self.done, self.total = p.done, p.total
        now = time.monotonic()
        last = p.done == p.total
        if not (self.terminal or last or now - self._last >= self.every):
            return
        self._last = now
        before = f" ({p.skipped} before this run)" if p.skipped else ""
        left = "" if p.eta_s is None or last else f"; about {_duration(p.eta_s)} left"
        line = f"cells {p.done:,} of {p.total:,} finished{before}{left}"
        if self.terminal:
            typer.echo(f"\r{line:<72}", err=True, nl=last)
        else:
            typer.echo(line, err=True)


@app.command()
def study(
    study_file: Annotated[
        Path, typer.Argument(metavar="STUDY.toml", show_default=False,
                             help="The study: banks, blueprints, rules, θ distributions, "
                             "replications (docs/studies.md)."),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", metavar="DIR", show_default=False,
                           help="The results folder; a rerun skips the cells finished there."),
    ],
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", metavar="ADDRESS", show_default=False,
                                 help="A Dask scheduler (tcp://host:8786) instead of a local "
                                 "cluster; overrides the study's."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, metavar="N", show_default=False,
                                 help="Worker processes of the local cluster (one thread "
                                 "each; default the study's, else the machine's cores)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the cells and which are finished; run "
                           "nothing (no cluster)."),
    ] = False,
) -> None:
    """Run a simulation study's cells on Dask; write the tidy table, summary and report."""
    progress = _Progress(_stderr_is_terminal())
    with _user_errors():
        from qabilet.study import load_spec, plan_study, run_study, study_status

        if dry_run:
            plan = plan_study(load_spec(study_file), study_file.parent)
            finished = study_status(plan, out)
            for cell in plan.cells:
                mark = "finished" if finished[cell.key] else "to run"
                typer.echo(f"{cell.number:>5}  {cell.key}  {mark:<8}  {cell.label}")
            typer.echo(f"{len(plan.cells):,} cells; {sum(finished.values()):,} finished in "
                       f"{out}")
            return
        try:
            run = run_study(study_file, out, scheduler=scheduler, workers=workers,
                            progress=progress)
        except KeyboardInterrupt:
            typer.echo(f"\ninterrupted: {progress.done:,} of {progress.total:,} cells finished "
                       f"in {out}; the same command resumes the study", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
    if not run.complete:  # only with stop_after, which the command does not set
        raise typer.Exit(EXIT_BAD_INPUT)
    typer.echo(f"Ran {len(run.ran):,} cells ({len(run.skipped):,} finished before); wrote "
               f"{run.table} (one row per simulee and cell), {run.summary} and {run.report}.")
