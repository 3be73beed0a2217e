"""The command line: ``qabilet calibrate``, ``qabilet score`` and ``qabilet demo``.

This module imports only typer and the standard library at import time; ``engine``,
``calibration``, ``itembank`` and numpy are imported inside the commands, so ``qabilet --help``
loads neither scipy nor the web stack (DESIGN.md §4). Errors in the user's files end the command
with one line on stderr, ``error: <file>, row <n>, column '<name>': <what was expected>; got <what
came>``, exit status 2, and no output file.
"""

from __future__ import annotations

import enum
import math
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from qabilet._version import __version__

if TYPE_CHECKING:
    from calibration import MML, Progress
    from qabilet.demo import DemoRun

__all__ = ["app", "main"]

#: exit status for bad input (typer uses the same for usage errors)
EXIT_BAD_INPUT = 2

app = typer.Typer(
    name="qabilet",
    help="qabilet: an adaptive psychometric testing engine (IRT calibration and scoring from the "
    "command line).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


class Method(enum.StrEnum):
    """Scoring methods of ``qabilet score``."""

    eap = "eap"
    map = "map"
    ml = "ml"
    wle = "wle"


class OutputFormat(enum.StrEnum):
    """Output formats of ``qabilet calibrate``."""

    json = "json"
    mirt = "mirt"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"qabilet {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True,
                     help="Show the version and exit."),
    ] = False,
) -> None:
    """Qabilet: an adaptive psychometric testing engine.

    Calibrate item parameters from response files, score persons with a calibrated item bank, or
    run the demonstration.
    """


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn errors in the user's input into ``error: …`` on stderr and exit status 2.

    Warnings raised meanwhile are printed as ``warning: …`` lines, before the error line.
    """
    from engine.exceptions import ConvergenceWarning, QabiletError

    failure: str | None = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            yield
        except QabiletError as exc:
            failure = str(exc)
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            failure = f"{where}{exc.strerror or exc}"
        finally:
            for w in caught:
                typer.echo(f"warning: {w.message}", err=True)
    if failure is not None:
        raise _fail(failure)


def _split_columns(values: list[str] | None) -> list[str]:
    return [c.strip() for v in values or [] for c in v.split(",") if c.strip()]


@app.command()
def calibrate(
    responses: Annotated[
        Path, typer.Argument(metavar="RESPONSES.csv", help="Responses: a header, one row per "
                             "person, an optional person_id column, integer codes >= 0 per item "
                             "(recoded to 0..K-1 in sorted order), an empty cell when missing.",
                             show_default=False),
    ],
    model: Annotated[
        str, typer.Option("--model", "-m", metavar="MODEL", show_default=False,
                          help="Item response model of every item: rasch (a = 1, latent variance "
                          "estimated), 1pl (one common slope, N(0, 1)), 2pl, 3pl, 4pl, grm, gpcm, "
                          "pcm or nominal."),
    ],
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", metavar="COLS",
                                       help="Comma-separated columns that are not items "
                                       "(repeatable)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="FILE",
                                  help="Write the result here (atomically): the parameter file "
                                  "(json), or the table (mirt) instead of stdout."),
    ] = None,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", case_sensitive=False,
                                   help="json: the parameter file, to --out (the summary goes to "
                                   "stdout); mirt: slope-intercept parameters as CSV with the "
                                   "columns of mirt's coef(simplify = TRUE)$items."),
    ] = OutputFormat.json,
    tol: Annotated[
        float, typer.Option("--tol", metavar="TOL",
                            help="Converged when no parameter moves more than this in an EM "
                            "cycle."),
    ] = 1e-5,
    max_iter: Annotated[
        int, typer.Option("--max-iter", min=1, metavar="N",
                          help="Limit of EM cycles (a warning when reached)."),
    ] = 2000,
    n_points: Annotated[
        int, typer.Option("--n-points", min=2, metavar="N",
                          help="Quadrature points on [-6, 6]."),
    ] = 61,
    no_se: Annotated[
        bool, typer.Option("--no-se", help="Skip the standard errors (faster for large banks)."),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress line on stderr (there is none "
                           "when stderr is not a terminal either)."),
    ] = False,
) -> None:
    """Calibrate item parameters by marginal maximum likelihood (EM), as R's mirt does."""
    if not (math.isfinite(tol) and tol > 0):
        raise _fail(f"--tol: expected a positive number; got {tol}")
    with _user_errors():
        from calibration import MML
        from calibration._design import SUPPORTED

        name = model.strip().lower()
        if name not in SUPPORTED:
            raise _fail(f"--model: unknown model {model!r} for calibration; expected one of "
                        f"{', '.join(SUPPORTED)}")
        from itembank.response_file import read_responses_csv

        data = read_responses_csv(responses, exclude=_split_columns(exclude))
        progress = (_ProgressLine(tol, compute_se=not no_se)
                    if not quiet and _stderr_is_terminal() else None)
        estimator = MML(model=name, n_points=n_points, tol=tol, max_iter=max_iter,
                        compute_se=not no_se, callback=progress)
        try:
            fit = estimator.fit(data.responses, data.observed, item_ids=data.item_ids)
        finally:
            if progress is not None:
                progress.clear()  # before any warning or error line
        # everything is computed and checked before anything is written
        if output_format is OutputFormat.mirt:
            table = _mirt_csv(fit)
            if out is None:
                typer.echo(table, nl=False)
                return
            from itembank._files import write_text_atomic

            write_text_atomic(out, table)
        elif out is not None:
            _write_calibration(fit, out)
        typer.echo(fit.summary())


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


class _ProgressLine:
    """The EM cycle, log-likelihood and largest change, redrawn in place on stderr."""

    interval = 0.1  # seconds between redraws

    def __init__(self, tol: float, *, compute_se: bool) -> None:
        self._tol = tol
        self._compute_se = compute_se
        self._width = 0
        self._last = -math.inf

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        done = progress.max_change < self._tol
        if not done and now - self._last < self.interval:
            return
        self._last = now
        text = (f"EM cycle {progress.iteration:>5}   log-likelihood {progress.loglik:.4f}   "
                f"max change {progress.max_change:.2e}")
        if done and self._compute_se:
            text += "   converged; standard errors..."
        self._draw(text)

    def _draw(self, text: str) -> None:
        typer.echo("\r" + text.ljust(self._width), err=True, nl=False)
        self._width = len(text)

    def clear(self) -> None:
        if self._width:
            typer.echo("\r" + " " * self._width + "\r", err=True, nl=False)
            self._width = 0


def _method_text(fit: MML) -> str:
    """How the parameters were estimated, for the parameter file's ``method``."""
    lo, hi = fit.bounds
    text = f"MML-EM (Bock-Aitkin), {fit.n_points} quadrature points on [{lo:g}, {hi:g}]"
    if fit.accelerate:
        text += ", SQUAREM"
    if not fit.compute_se:
        return text + "; SE: not computed"
    text += "; SE: observed information (Oakes)"
    if "var" in fit.latent_se_:  # the file has no other place for the latent variance's SE
        se = fit.latent_se_["var"]
        text += (f"; latent variance estimated, SE {se:.4g}" if math.isfinite(se)
                 else "; latent variance estimated, SE not available")
    return text


def _standard_errors(fit: MML) -> dict[str, dict[str, Any]]:
    """Standard errors per item, keyed like the item's record in the parameter file."""
    out: dict[str, dict[str, Any]] = {}
    for record, traditional, slope_intercept in zip(fit.bank_.to_records(), fit.se_traditional_,
                                                    fit.se_, strict=True):
        if record["model"] == "nominal":
            # the record holds a_k = a1·ak_k and d_k; only the d_k are mirt's parameters as they
            # are (d_0 = 0 is fixed), so only their standard errors are written
            n_cat = len(record["d"])
            out[record["id"]] = {"d": [None, *(slope_intercept.get(f"d{k}")
                                               for k in range(1, n_cat))]}
        else:
            out[record["id"]] = {k: v for k, v in traditional.items() if k in record}
    return out


def _write_calibration(fit: MML, path: Path) -> None:
    from engine.exceptions import DataFileError, InvalidParameterError
    from itembank.parameter_file import ParameterFile, write_parameter_file

    recodings = {item_id: codes.tolist() for item_id, codes in zip(fit.bank_.item_ids,
                                                                   fit.categories_, strict=True)}
    content: dict[str, Any] = {
        "recodings": recodings,
        "se": _standard_errors(fit) if fit.compute_se else None,
        "loglik": fit.loglik_, "aic": fit.aic_, "bic": fit.bic_, "n_iter": fit.n_iter_,
        "converged": fit.converged_, "method": _method_text(fit),
    }
    # the writer checks the file's structure; building the bank back checks the values as well
    # (an asymptote outside [0, 1), …), so no file is written that `qabilet score` would refuse
    try:
        ParameterFile.from_bank(fit.bank_, **content).to_bank()
    except DataFileError as exc:
        raise InvalidParameterError(f"the calibration gave parameters outside their domain; "
                                    f"{path} not written: {exc}") from None
    write_parameter_file(path, fit.bank_, **content)


def _mirt_csv(fit: MML) -> str:
    import csv
    import io

    rows = fit.mirt_table()
    columns = list(dict.fromkeys(key for row in rows for key in row))  # "item" first
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row["item"], *("" if (v := row.get(c)) is None else repr(float(v))
                                        for c in columns[1:])])
    return buffer.getvalue()


@app.command()
def score(
    params: Annotated[
        Path, typer.Argument(metavar="PARAMS.json", help="Parameter file of the calibrated bank.",
                             show_default=False),
    ],
    responses: Annotated[
        Path, typer.Argument(metavar="RESPONSES.csv", help="Responses: a header, one row per "
                             "person, an optional person_id column, an empty cell when missing.",
                             show_default=False),
    ],
    method: Annotated[
        Method, typer.Option("--method", "-m", case_sensitive=False,
                             help="Estimator: expected a posteriori, maximum a posteriori, "
                             "maximum likelihood or weighted likelihood (Warm)."),
    ] = Method.eap,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="FILE",
                                  help="Write the scores here (atomically) instead of stdout."),
    ] = None,
    n_points: Annotated[
        int | None, typer.Option("--n-points", min=2, metavar="N", show_default=False,
                                 help="Quadrature points per dimension (eap only; by default 121 "
                                 "for one factor, 41, 21, 13 for two to four)."),
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", metavar="COLS",
                                       help="Comma-separated columns that are not items "
                                       "(repeatable)."),
    ] = None,
) -> None:
    """Score persons: write person_id, theta, se (per factor) and status as CSV."""
    if n_points is not None and method is not Method.eap:
        raise _fail(f"--n-points applies to --method eap only; got --method {method.value}")
    with _user_errors():
        from engine.scoring import score as score_persons
        from itembank.parameter_file import read_parameter_file
        from itembank.response_file import format_scores_csv, read_responses_csv, write_scores_csv

        pf = read_parameter_file(params)
        bank = pf.to_bank()
        data = read_responses_csv(
            responses, item_ids=bank.item_ids, n_categories=bank.n_categories,
            recodings=pf.recodings(), exclude=_split_columns(exclude),
        )
        options = {} if n_points is None else {"n_points": n_points}
        estimate = score_persons(bank, data.responses, data.observed, method=method.value,
                                 **options)
        if out is None:
            typer.echo(format_scores_csv(data.person_ids, estimate), nl=False)
        else:
            write_scores_csv(out, data.person_ids, estimate)


@app.command()
def demo(
    persons: Annotated[int, typer.Option("--persons", min=1, help="Persons to simulate.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulation.")] = 2017,
    show: Annotated[int, typer.Option("--show", min=0, help="Persons to list.")] = 12,
    save: Annotated[
        Path | None, typer.Option("--save", metavar="DIR", file_okay=False,
                                  help="Also write demo_bank.json, demo_responses.csv and "
                                  "demo_theta.csv (true θ) to this directory, ready for "
                                  "`qabilet score`."),
    ] = None,
) -> None:
    """Simulate persons on a demonstration bank and compare EAP, MAP, ML and WLE with the truth."""
    with _user_errors():
        from qabilet.demo import format_report, run_demo

        run = run_demo(persons, seed)
        typer.echo(format_report(run, show), nl=False)
        if save is not None:
            _save_demo(run, save)
            typer.echo(f"\nWrote {save / 'demo_bank.json'}, {save / 'demo_responses.csv'} and "
                       f"{save / 'demo_theta.csv'}; try:\n"
                       f"  qabilet score {save / 'demo_bank.json'} "
                       f"{save / 'demo_responses.csv'} --method wle")


def _save_demo(run: DemoRun, directory: Path) -> None:
    from itembank._files import write_text_atomic
    from itembank.parameter_file import write_parameter_file
    from itembank.response_file import format_responses_csv

    directory.mkdir(parents=True, exist_ok=True)
    ids = run.person_ids
    write_parameter_file(directory / "demo_bank.json", run.bank, method="known (demonstration)")
    write_text_atomic(directory / "demo_responses.csv",
                      format_responses_csv(ids, run.bank.item_ids, run.responses))
    theta_lines = ["person_id,theta", *(f"{p},{t!r}" for p, t in zip(ids, run.theta.tolist(),
                                                                      strict=True))]
    write_text_atomic(directory / "demo_theta.csv", "\n".join(theta_lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    """Run the command line (the ``qabilet`` console script).

    Parameters
    ----------
    argv : list of str, optional
        Arguments; ``sys.argv[1:]`` when omitted.
    """
    app(args=argv, prog_name="qabilet")

