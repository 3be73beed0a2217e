"""``qabilet calibrate``: item parameters from a response file (MML by EM or MH-RM), written as a parameter file.

The command reads its arguments, shows the EM's progress and prints the summary; the estimation
is :class:`qabilet.calibration.MML` and the parameter file :mod:`qabilet.itembank.parameter_file`.
"""

from __future__ import annotations

import enum
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from qabilet.cli import (
    ExcludeOption,
    OutputFormat,
    _fail,
    _split_columns,
    _stderr_is_terminal,
    _user_errors,
    app,
)

if TYPE_CHECKING:
    from qabilet.calibration import CalibrationResult, Progress
    from qabilet.engine.bank import ItemBank
    from qabilet.itembank.parameter_file import ParameterFile
    from qabilet.itembank.response_file import ResponseData


class FitMethod(enum.StrEnum):
    """How ``--method`` maximises the likelihood (:class:`qabilet.calibration.MML`'s ``method``)."""

    em = "em"
    mhrm = "mhrm"


class SeMethod(enum.StrEnum):
    """How ``--se`` computes the observed information (:class:`qabilet.calibration.MML`'s ``se``)."""

    louis = "louis"
    numeric = "numeric"
    sandwich = "sandwich"


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
                          "pcm, rsm (rating scale: shared thresholds) or nominal."),
    ],
    exclude: ExcludeOption = None,
    groups: Annotated[
        str | None, typer.Option("--groups", metavar="COL", show_default=False,
                                 help="Multi-group calibration: the column holding each person's "
                                 "group label (never an item). Every group but the reference "
                                 "gets its own latent mean and variance; items are equal across "
                                 "groups unless freed with --free-items."),
    ] = None,
    reference_group: Annotated[
        str | None, typer.Option("--reference-group", metavar="LABEL", show_default=False,
                                 help="The group whose latent distribution fixes the scale "
                                 "(N(0, 1), or estimated with --fixed); the first label in "
                                 "sorted order by default."),
    ] = None,
    free_items: Annotated[
        list[str] | None, typer.Option("--free-items", metavar="IDS",
                                       help="Comma-separated items estimated separately in each "
                                       "group, e.g. language versions or items with DIF "
                                       "(repeatable; needs --groups)."),
    ] = None,
    fixed: Annotated[
        Path | None, typer.Option("--fixed", metavar="PARAMS.json", show_default=False,
                                  help="Anchor calibration: the items of this parameter file "
                                  "keep its parameters (its category codes are applied to their "
                                  "columns) and the other items are calibrated on its scale, the "
                                  "latent mean and variance estimated. Prints the anchors' drift "
                                  "check."),
    ] = None,
    prior: Annotated[
        list[str] | None, typer.Option("--prior", metavar="KIND=DIST(ARGS)",
                                       help="A prior on every estimated parameter of a kind: a "
                                       "(slopes), d (intercepts), c, u (asymptotes); DIST one of "
                                       "normal(mean,sd), lognormal(meanlog,sdlog), beta(alpha,"
                                       "beta), logitnormal(mean,sd). Added to the defaults "
                                       "(c=beta(5,17) for 3pl and 4pl, u=beta(17,5) for 4pl); "
                                       "KIND=none drops one, 'none' all (repeatable)."),
    ] = None,
    dims: Annotated[
        str | None, typer.Option("--dims", metavar="SPEC", show_default=False,
                                 help="Confirmatory multidimensional calibration: factors and "
                                 "their items, e.g. 'A=A1,A2,A3;C=C1,C2,C3' (an item may load on "
                                 "several factors). Factors are standardised and correlated "
                                 "unless --orthogonal; items are written in slope-intercept "
                                 "form with a slope per factor."),
    ] = None,
    orthogonal: Annotated[
        bool, typer.Option("--orthogonal", help="Uncorrelated factors (with --dims)."),
    ] = False,
    reverse: Annotated[
        list[str] | None, typer.Option("--reverse", metavar="IDS",
                                       help="Reverse-keyed items (comma-separated, repeatable): "
                                       "each factor's sign is chosen so that these items have, on "
                                       "balance, negative slopes and the others positive ones "
                                       "(default: most slopes positive), so that a refit never "
                                       "flips the scale."),
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
                                   "columns of mirt's coef(simplify = TRUE)$items (with "
                                   "--groups, a group column and every group's items)."),
    ] = OutputFormat.json,
    tol: Annotated[
        float | None, typer.Option("--tol", metavar="TOL", show_default=False,
                                   help="Converged when no parameter moves more than this in a "
                                   "cycle (default 1e-5 for EM; 1e-3 for MH-RM, three cycles "
                                   "in a row)."),
    ] = None,
    method: Annotated[
        FitMethod, typer.Option("--method", case_sensitive=False,
                                help="em: EM on quadrature nodes (quasi-Monte Carlo points for "
                                "four or more factors); mhrm: Metropolis-Hastings Robbins-Monro "
                                "(Cai 2010), for many correlated factors (needs --dims; its "
                                "log-likelihood is an importance-sampling estimate)."),
    ] = FitMethod.em,
    seed: Annotated[
        int, typer.Option("--seed", metavar="N",
                          help="Random seed of --method mhrm (a fit is reproducible)."),
    ] = 20171,
    max_iter: Annotated[
        int, typer.Option("--max-iter", min=1, metavar="N",
                          help="Limit of EM (or MH-RM) cycles (a warning when reached)."),
    ] = 2000,
    n_points: Annotated[
        int | None, typer.Option("--n-points", min=2, metavar="N", show_default=False,
                                 help="Quadrature points per factor on [-6, 6] (default 61 for "
                                 "one factor, 31 for two, 15 for three; four or more use 4,096 "
                                 "quasi-Monte Carlo points)."),
    ] = None,
    no_se: Annotated[
        bool, typer.Option("--no-se", help="Skip the standard errors (faster for large banks)."),
    ] = False,
    se: Annotated[
        SeMethod, typer.Option("--se", case_sensitive=False,
                               help="How the standard errors are computed: louis, the "
                               "observed information in closed form by Louis' identity from one "
                               "E-step; numeric, the same by central differences of the score "
                               "(two E-steps per parameter); sandwich, the robust I^-1 J I^-1 "
                               "(J: outer products of the persons' scores)."),
    ] = SeMethod.louis,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress line on stderr (there is none "
                           "when stderr is not a terminal either)."),
    ] = False,
) -> None:
    """Calibrate item parameters by marginal maximum likelihood (EM), as R's mirt does.

    Multi-group calibration with --groups; anchor calibration with --fixed.
    """
    if tol is not None and not (math.isfinite(tol) and tol > 0):
        raise _fail(f"--tol: expected a positive number; got {tol}")
    if method is FitMethod.mhrm and dims is None:
        raise _fail("--method mhrm needs --dims SPEC (two or more factors)")
    free = list(dict.fromkeys(_split_columns(free_items)))
    dim_spec = _parse_dims(dims) if dims is not None else None
    if orthogonal and dim_spec is None:
        raise _fail("--orthogonal needs --dims SPEC")
    if dim_spec is not None and (groups is not None or fixed is not None):
        raise _fail("--dims cannot be combined with --groups or --fixed yet")
    if groups is None and (reference_group is not None or free):
        flag = "--reference-group" if reference_group is not None else "--free-items"
        raise _fail(f"{flag} needs --groups COL (the column of the group labels)")
    with _user_errors():
        from qabilet.calibration import MML
        from qabilet.calibration._design import SUPPORTED

        name = model.strip().lower()
        if name not in SUPPORTED:
            raise _fail(f"--model: unknown model {model!r} for calibration; expected one of "
                        f"{', '.join(SUPPORTED)}")
        from qabilet.calibration.priors import parse_priors
        from qabilet.calibration_file import anchor_codes
        from qabilet.itembank.response_file import read_responses_csv

        priors = parse_priors(prior or [], name, field="--prior")
        anchor_file = anchor_bank = codes = None
        if fixed is not None:
            anchor_file, anchor_bank = _read_anchor_file(fixed)
            codes = anchor_codes(anchor_file, anchor_bank)
        data = read_responses_csv(
            responses, exclude=_split_columns(exclude), group_column=groups, recodings=codes,
        )
        _check_anchors(anchor_file, fixed, data, responses, free)
        reversed_ids = list(dict.fromkeys(_split_columns(reverse)))
        unknown = [i for i in reversed_ids if i not in data.item_ids]
        if unknown:
            raise _fail(f"--reverse: {', '.join(map(repr, unknown))} not among the items of "
                        f"{responses}")
        reference = _check_groups(data, groups, reference_group, free, responses)
        progress = (_ProgressLine(tol if tol is not None else
                                  (1e-3 if method is FitMethod.mhrm else 1e-5),
                                  compute_se=not no_se, mhrm=method is FitMethod.mhrm)
                    if not quiet and _stderr_is_terminal() else None)
        estimator = MML(model=name, n_points=n_points, tol=tol, max_iter=max_iter,
                        compute_se=not no_se, se=se.value, priors=priors, fixed=anchor_bank,
                        group_specific=free, reference_group=reference, callback=progress,
                        dims=dim_spec, orthogonal=orthogonal,
                        direction=dict.fromkeys(reversed_ids, -1), method=method.value,
                        seed=seed)
        try:
            result = estimator.fit(data.responses, data.observed, item_ids=data.item_ids,
                                   groups=None if data.groups is None else list(data.groups))
        finally:
            if progress is not None:
                progress.clear()  # before any warning or error line
        # everything is computed and checked before anything is written
        if output_format is OutputFormat.mirt:
            table = _mirt_csv(result)
            if out is None:
                typer.echo(table, nl=False)
                _warn_drift(result, fixed)
                return
            from qabilet.itembank._files import write_text_atomic

            write_text_atomic(out, table)
        elif out is not None:
            from qabilet.calibration_file import write_calibration

            write_calibration(out, result, codes=codes, anchor_file=anchor_file,
                              anchor_source=None if fixed is None else str(fixed))
        typer.echo(result.summary(group_column=groups))
        _warn_drift(result, fixed)


class _ProgressLine:
    """The cycle, log-likelihood and largest change, redrawn in place on stderr.

    The cycle, log-likelihood and largest change, redrawn in place on stderr (MH-RM: the
    log-likelihood at the imputed θ, which fluctuates).
    """

    interval = 0.1  # seconds between redraws

    def __init__(self, tol: float, *, compute_se: bool, mhrm: bool = False) -> None:
        self._tol = tol
        self._labels = (("MH-RM cycle", "log-likelihood at the imputed θ") if mhrm
                        else ("EM cycle", "log-likelihood"))
        self._compute_se = compute_se
        self._width = 0
        self._last = -math.inf

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        done = progress.max_change < self._tol
        if not done and now - self._last < self.interval:
            return
        self._last = now
        cycle, loglik = self._labels
        text = (f"{cycle} {progress.iteration:>5}   {loglik} {progress.loglik:.4f}   "
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


# -- calibrate: the options' checks ----------------------------------------------------------------
def _read_anchor_file(path: Path) -> tuple[ParameterFile, ItemBank]:
    """The anchor file and its bank (the top-level parameters), read before the responses."""
    from qabilet.calibration_file import read_anchor_file
    from qabilet.engine.exceptions import DataFileError, InvalidParameterError

    try:
        return read_anchor_file(path)
    except DataFileError:
        raise
    except InvalidParameterError as exc:
        raise _fail(f"--fixed: {exc}") from None


def _check_anchors(pf: ParameterFile | None, path: Path | None, data: ResponseData,
                   responses: Path, free: list[str]) -> None:
    """Check that the anchor file fixes at least one item of the response file, and which."""
    if pf is None:
        return
    known = {item.id for item in pf.items}
    anchors = [item for item in data.item_ids if item in known]
    if not anchors:
        raise _fail(f"--fixed: no item column of {responses} is an item of {path}; nothing "
                    "anchors the scale")
    per_group = set(pf.group_specific_items()).intersection(anchors)
    if per_group:
        item = sorted(per_group)[0]
        raise _fail(f"--fixed: item {item!r} has group-specific parameters in {path}, so it "
                    f"cannot anchor one scale; leave its column out (--exclude {item})")
    freed = [item for item in free if item in known]
    if freed:
        raise _fail(f"--free-items: {freed[0]!r} is an anchor (an item of {path}); anchors are "
                    "equal in every group")


def _check_groups(data: ResponseData, column: str | None, reference: str | None,
                  free: list[str], responses: Path) -> str | None:
    """The reference group's label (None without --groups), after checking the group options."""
    if data.groups is None:
        return None
    labels = sorted(set(data.groups))
    if len(labels) < 2:
        raise _fail(f"--groups: column {column!r} of {responses} holds one group "
                    f"({labels[0]!r}); a multi-group calibration needs two or more")
    if reference is not None and reference not in labels:
        raise _fail(f"--reference-group: {reference!r} is not a group of column {column!r}; "
                    f"expected one of {', '.join(labels)}")
    for item in free:
        if item not in data.item_ids:
            raise _fail(f"--free-items: {item!r} is not an item column of {responses}")
    return labels[0] if reference is None else reference


def _parse_dims(spec: str) -> dict[str, list[str]]:
    """``'A=A1,A2;C=C1,C2'`` → ``{"A": ["A1", "A2"], "C": ["C1", "C2"]}``, strictly."""
    out: dict[str, list[str]] = {}
    for part in (p.strip() for p in spec.split(";")):
        if not part:
            continue
        factor, sep, items = part.partition("=")
        factor = factor.strip()
        ids = [i.strip() for i in items.split(",") if i.strip()]
        if not sep or not factor or not ids:
            raise _fail(f"--dims: expected FACTOR=ITEM,ITEM;…; got {part!r}")
        if factor in out:
            raise _fail(f"--dims: factor {factor!r} is given twice")
        out[factor] = ids
    if not out:
        raise _fail("--dims: expected at least one FACTOR=ITEM,… group")
    return out


def _mirt_csv(result: CalibrationResult) -> str:
    """The mirt table; with groups, a leading ``group`` column and each group's items."""
    from qabilet.itembank.bank_file import format_mirt_table, mirt_rows

    if not result.multi_group:
        return format_mirt_table(mirt_rows(result.bank))
    return format_mirt_table([{"group": g.label, **row} for g in result.groups
                              for row in mirt_rows(g.bank)])


def _warn_drift(result: CalibrationResult, anchor_path: Path | None) -> None:
    drift = result.anchor_drift
    if drift is not None and drift.drifted:
        typer.echo(f"warning: anchor item(s) {', '.join(drift.drifted)} drifted: their response "
                   f"functions in this data differ from those in {anchor_path} (see the drift "
                   "check); fixing them may bias the scale, so check them and consider "
                   "calibrating them as new items", err=True)
