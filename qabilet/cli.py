"""The command line: the ``qabilet`` app, its error handling, ``qabilet score`` and ``demo-scoring``.

The other commands live beside it (``cli_calibrate``, ``cli_forced_choice``, ``cli_bank``,
``cli_review``, ``cli_keys``, ``cli_db``, ``cli_simulate``, ``cli_study``, ``cli_report``,
``cli_serve``). The command modules import only typer and the standard library at import time;
``qabilet.engine``, ``qabilet.calibration``, ``qabilet.itembank`` and numpy are imported inside
the commands, so ``qabilet --help`` loads neither scipy nor the web stack.

Every error ends the command with ``error: …`` on stderr and exit status 2. Errors in the user's
files are one line, ``error: <file>, row <n>, column '<name>': <what was expected>; got <what
came>``, and leave no output file; a usage error (an unknown option, a bad option value) adds one
line, ``try 'qabilet <command> --help'``. Every ``--out`` is reported by a line on stdout saying
what was written where.
"""

from __future__ import annotations

import enum
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from qabilet._version import __version__

if TYPE_CHECKING:
    from qabilet.demo import DemoRun

__all__ = ["app", "main"]

#: exit status for bad input (typer uses the same for usage errors)
EXIT_BAD_INPUT = 2



class _App(TyperGroup):
    """The root command: every error as ``error: …`` lines, no placeholder on plain flags.

    Typer prints the option parser's errors in a box and shows ``<bool>`` in the help of a flag
    that takes no value; the commands print ``error: …``. One style for both: the parser's
    errors are caught here and printed as the commands print theirs.
    """

    def main(self, args: Any = None, prog_name: str | None = None,  # type: ignore[override]
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        _bare_flags(self)
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except typer.TyperException as exc:  # the parser's: usage errors, unreadable files
            _show_parser_error(exc)
            sys.exit(getattr(exc, "exit_code", 1))
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _show_parser_error(exc: typer.TyperException) -> None:
    """``error: <message>`` and, for a usage error, ``try '<command> --help'``."""
    if type(exc).__name__ == "NoArgsIsHelpError":  # the help was printed: that is the answer
        return
    typer.echo(f"error: {' '.join(exc.format_message().split())}", err=True)
    ctx = getattr(exc, "ctx", None)
    if ctx is not None and ctx.command.get_help_option(ctx) is not None:
        typer.echo(f"try '{ctx.command_path} {ctx.help_option_names[0]}'", err=True)


def _bare_flags(command: Any) -> None:
    """Show no value placeholder (typer's ``<bool>``) for options that take none, ``--help`` too."""
    ctx = command.context_class(command)
    for param in [*command.params, command.get_help_option(ctx)]:
        if getattr(param, "is_flag", False) and not getattr(param, "count", False):
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _bare_flags(sub)


app = typer.Typer(
    cls=_App,
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


#: ``--exclude COLS``, shared by the commands that read response files
ExcludeOption = Annotated[
    list[str] | None,
    typer.Option("--exclude", metavar="COLS",
                 help="Comma-separated columns that are not items (repeatable)."),
]


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
    from qabilet.engine.exceptions import ConvergenceWarning, QabiletError

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


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


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
    exclude: ExcludeOption = None,
    group: Annotated[
        str | None, typer.Option("--group", metavar="LABEL", show_default=False,
                                 help="A multi-group parameter file's group whose item parameters "
                                 "to use (its group-specific items as that group answers them); "
                                 "the top-level ones (the reference group's) by default. The "
                                 "prior stays the file's latent distribution, the same for every "
                                 "group."),
    ] = None,
) -> None:
    """Score persons: write person_id, theta, se (per factor) and status as CSV."""
    if n_points is not None and method is not Method.eap:
        raise _fail(f"--n-points applies to --method eap only; got --method {method.value}")
    with _user_errors():
        from qabilet.engine.scoring import score as score_persons
        from qabilet.itembank.parameter_file import read_parameter_file
        from qabilet.itembank.response_file import (
            format_scores_csv,
            read_responses_csv,
            write_scores_csv,
        )

        pf = read_parameter_file(params)
        if group is None:
            bank = pf.to_bank()
            specific = pf.group_specific_items()
            if specific:
                which = (f"those of the reference group {pf.reference_group!r}"
                         if pf.reference_group is not None else "the top-level ones")
                typer.echo(f"warning: {params} has group-specific parameters for "
                           f"{', '.join(specific)}; scoring with {which} (choose a group with "
                           "--group LABEL)", err=True)
        else:
            labels = list(pf.groups or {})
            if group not in labels:
                has = (f"expected one of {', '.join(labels)}" if labels
                       else "the file has no groups (it is not a multi-group calibration)")
                raise _fail(f"--group: {group!r} is not a group of {params}; {has}")
            # the group's items, but the prior every candidate gets (docs/design.md §5, fairness):
            # a group's latent distribution describes its population, not a person in it
            bank = pf.to_bank(group).with_latent(pf.latent.to_latent())
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
            typer.echo(f"Wrote the scores of {len(data.person_ids)} persons ({method.value}) "
                       f"to {out}.")


@app.command("demo-scoring")
def demo_scoring(
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
    """Simulate persons on a small fixed bank and compare EAP, MAP, ML and WLE with the truth."""
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
    from qabilet.itembank._files import write_text_atomic
    from qabilet.itembank.parameter_file import write_parameter_file
    from qabilet.itembank.response_file import format_responses_csv

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



# the commands defined in modules of their own register themselves on ``app``
from qabilet import (  # noqa: E402, F401
    cli_attestation,
    cli_bank,
    cli_calibrate,
    cli_db,
    cli_forced_choice,
    cli_keys,
    cli_report,
    cli_review,
    cli_serve,
    cli_simulate,
    cli_study,
)
