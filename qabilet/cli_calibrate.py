"""``qabilet calibrate``: item parameters from a response file (MML-EM), written as a parameter file.

The command reads its arguments, shows the EM's progress and prints the summary; the estimation
is :class:`qabilet.calibration.MML` and the parameter file :mod:`qabilet.itembank.parameter_file`.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    from qabilet.calibration import MML, Progress
    from qabilet.calibration.priors import Prior
    from qabilet.engine.bank import ItemBank
    from qabilet.itembank.parameter_file import ParameterFile
    from qabilet.itembank.response_file import ResponseData


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
        float, typer.Option("--tol", metavar="TOL",
                            help="Converged when no parameter moves more than this in an EM "
                            "cycle."),
    ] = 1e-5,
    max_iter: Annotated[
        int, typer.Option("--max-iter", min=1, metavar="N",
                          help="Limit of EM cycles (a warning when reached)."),
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
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress line on stderr (there is none "
                           "when stderr is not a terminal either)."),
    ] = False,
) -> None:
    """Calibrate item parameters by marginal maximum likelihood (EM), as R's mirt does.

    Multi-group calibration with --groups; anchor calibration with --fixed.
    """
    if not (math.isfinite(tol) and tol > 0):
        raise _fail(f"--tol: expected a positive number; got {tol}")
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
        priors = _parse_priors(prior or [], name)
        from qabilet.itembank.response_file import read_responses_csv

        anchor_file, anchor_bank = _read_anchor_file(fixed) if fixed is not None else (None, None)
        data = read_responses_csv(
            responses, exclude=_split_columns(exclude), group_column=groups,
            recodings=None if anchor_bank is None else _anchor_codes(anchor_file, anchor_bank),
        )
        anchors = _check_anchors(anchor_file, fixed, data, responses, free)
        reference = _check_groups(data, groups, reference_group, free, responses)
        progress = (_ProgressLine(tol, compute_se=not no_se)
                    if not quiet and _stderr_is_terminal() else None)
        estimator = MML(model=name, n_points=n_points, tol=tol, max_iter=max_iter,
                        compute_se=not no_se, priors=priors, fixed=anchor_bank,
                        group_specific=free, reference_group=reference, callback=progress,
                        dims=dim_spec, orthogonal=orthogonal)
        try:
            fit = estimator.fit(data.responses, data.observed, item_ids=data.item_ids,
                                groups=None if data.groups is None else list(data.groups))
        finally:
            if progress is not None:
                progress.clear()  # before any warning or error line
        run = _Run(fit, data, name, priors, reference, groups, anchor_file, fixed, anchors)
        # everything is computed and checked before anything is written
        if output_format is OutputFormat.mirt:
            table = _mirt_csv(run)
            if out is None:
                typer.echo(table, nl=False)
                _warn_drift(run)
                return
            from qabilet.itembank._files import write_text_atomic

            write_text_atomic(out, table)
        elif out is not None:
            _write_calibration(run, out)
        typer.echo(_summary(run))
        _warn_drift(run)


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


# -- calibrate: the options' checks ----------------------------------------------------------------
#: prior kinds (docs/design.md §5 names), what they are, the distributions that suit them, and the
#: calibrated models that estimate them
_PRIOR_KINDS: dict[str, tuple[str, tuple[str, ...], frozenset[str]]] = {
    "a": ("slopes", ("normal", "lognormal"),
          frozenset({"1pl", "2pl", "3pl", "4pl", "grm", "gpcm", "nominal"})),
    "d": ("intercepts", ("normal",),
          frozenset({"rasch", "1pl", "2pl", "3pl", "4pl", "grm", "gpcm", "pcm", "nominal"})),
    "c": ("lower asymptotes", ("beta", "logitnormal"), frozenset({"3pl", "4pl"})),
    "u": ("upper asymptotes", ("beta", "logitnormal"), frozenset({"4pl"})),
}
#: distribution name -> (its class in calibration.priors, its arguments, those that must be > 0)
_PRIOR_DISTRIBUTIONS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "normal": ("Normal", ("mean", "sd"), ("sd",)),
    "lognormal": ("LogNormal", ("meanlog", "sdlog"), ("sdlog",)),
    "beta": ("Beta", ("alpha", "beta"), ("alpha", "beta")),
    "logitnormal": ("LogitNormal", ("mean", "sd"), ("sd",)),
}
_PRIOR_SYNTAX = re.compile(r"^\s*(?P<kind>\w+)\s*=\s*(?P<dist>\w+)\s*(?:\((?P<args>[^()]*)\))?\s*$")


def _parse_priors(specs: list[str], model: str) -> dict[str, Prior] | None:
    """``--prior`` values → the priors of :class:`qabilet.calibration.MML` (None: the defaults).

    Each ``KIND=DIST(ARGS)`` replaces the default prior of its kind, ``KIND=none`` drops it,
    ``none`` alone drops them all.
    """
    if not specs:
        return None
    from qabilet.calibration import priors as prior_module

    if any(s.strip().lower() == "none" for s in specs):
        others = [s for s in specs if s.strip().lower() != "none"]
        if others:
            raise _fail(f"--prior none means no priors at all; it cannot be combined with "
                        f"--prior {others[0]!r}")
        return {}
    chosen: dict[str, Prior | None] = {}
    given: dict[str, str] = {}
    for spec in specs:
        match = _PRIOR_SYNTAX.match(spec)
        if match is None:
            raise _fail(f"--prior {spec!r}: expected KIND=DISTRIBUTION(ARGS), e.g. "
                        "a=lognormal(0,0.5), KIND=none, or none")
        kind, dist = match["kind"].lower(), match["dist"].lower()
        if kind not in _PRIOR_KINDS:
            names = ", ".join(f"{k} ({what})" for k, (what, _, _) in _PRIOR_KINDS.items())
            raise _fail(f"--prior {spec!r}: unknown parameter kind {match['kind']!r}; expected "
                        f"one of {names}")
        if kind in given:
            raise _fail(f"--prior {spec!r}: a second prior on {kind}; --prior {given[kind]!r} "
                        "gave one already")
        given[kind] = spec
        what, suits, models = _PRIOR_KINDS[kind]
        if model not in models:
            has = ", ".join(m for m in ("rasch", "1pl", "2pl", "3pl", "4pl", "grm", "gpcm", "pcm",
                                        "nominal") if m in models)
            raise _fail(f"--prior {spec!r}: {model} items have no estimated {what} ({kind}); "
                        f"{has} have")
        if dist == "none" and match["args"] is None:
            chosen[kind] = None
            continue
        if dist not in _PRIOR_DISTRIBUTIONS:
            forms = ", ".join(f"{d}({','.join(args)})"
                              for d, (_, args, _) in _PRIOR_DISTRIBUTIONS.items())
            raise _fail(f"--prior {spec!r}: unknown distribution {match['dist']!r}; expected one "
                        f"of {forms}, or none")
        cls_name, arg_names, positive = _PRIOR_DISTRIBUTIONS[dist]
        if dist not in suits:
            raise _fail(f"--prior {spec!r}: a {dist} prior does not suit {what} ({kind}); use "
                        f"{' or '.join(suits)}")
        cells = [] if match["args"] is None or not match["args"].strip() else [
            c.strip() for c in match["args"].split(",")]
        if len(cells) != len(arg_names):
            raise _fail(f"--prior {spec!r}: {dist} takes {len(arg_names)} arguments "
                        f"({', '.join(arg_names)}); got {len(cells)}")
        values = []
        for arg, cell in zip(arg_names, cells, strict=True):
            try:
                value = float(cell)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                raise _fail(f"--prior {spec!r}: {arg} must be a finite number; got {cell!r}")
            if arg in positive and value <= 0:
                raise _fail(f"--prior {spec!r}: {arg} must be positive; got {cell}")
            values.append(value)
        chosen[kind] = getattr(prior_module, cls_name)(*values)
    merged: dict[str, Prior | None] = {**prior_module.DEFAULT_PRIORS.get(model, {}), **chosen}
    return {kind: p for kind, p in merged.items() if p is not None}


def _read_anchor_file(path: Path) -> tuple[ParameterFile, ItemBank]:
    """The anchor file and its bank (the top-level parameters), read before the responses."""
    from qabilet.itembank.parameter_file import read_parameter_file

    pf = read_parameter_file(path)
    n_dims = pf.latent.n_dims
    if n_dims != 1:
        raise _fail(f"--fixed: {path} has {n_dims} factors; anchor calibration is unidimensional")
    return pf, pf.to_bank()


def _anchor_codes(pf: ParameterFile | None, bank: ItemBank) -> dict[str, tuple[int, ...]]:
    """The codes of every anchor's categories: its recorded codes, or 0..K−1 when it has none."""
    codes = {} if pf is None else pf.recodings()
    return {item: codes.get(item, tuple(range(int(k))))
            for item, k in zip(bank.item_ids, bank.n_categories, strict=True)}


def _check_anchors(pf: ParameterFile | None, path: Path | None, data: ResponseData,
                   responses: Path, free: list[str]) -> list[str]:
    """The response file's items that the anchor file fixes (at least one)."""
    if pf is None:
        return []
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
    return anchors


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


# -- calibrate: what is written and printed ---------------------------------------------------------
@dataclass(frozen=True)
class _Run:
    """A fitted calibration and what the command knows about its input."""

    fit: MML
    data: ResponseData
    model: str
    priors: dict[str, Prior] | None  # None: the library's defaults
    reference: str | None  # the reference group, with --groups
    group_column: str | None
    anchor_file: ParameterFile | None
    anchor_path: Path | None
    anchors: list[str]

    @property
    def labels(self) -> list[str]:
        """The groups, reference first (empty without --groups)."""
        return [] if self.reference is None else list(self.fit.groups_)

    def recodings(self) -> dict[str, list[int]]:
        """Original codes of each item's categories (anchors: the anchor file's).

        A calibrated item's are the codes seen in the data, in sorted order: the recoding the
        calibration applied. (``MML.categories_`` has one entry per estimated column, which
        differs from one per item when items are group-specific.)
        """
        anchor_codes = {} if self.anchor_file is None else self.anchor_file.recodings()
        data = self.data
        out: dict[str, list[int]] = {}
        for j, item in enumerate(data.item_ids):
            if item in self.anchors:
                if item in anchor_codes:
                    out[item] = list(anchor_codes[item])
                continue
            out[item] = sorted(set(data.responses[data.observed[:, j], j].tolist()))
        return out

    def priors_used(self) -> dict[str, Prior]:
        """The priors on the calibrated (not anchored) items."""
        from qabilet.calibration.priors import DEFAULT_PRIORS

        return dict(DEFAULT_PRIORS.get(self.model, {}) if self.priors is None else self.priors)


def _prior_text(prior: Prior) -> str:
    values = ", ".join(f"{getattr(prior, f.name):g}" for f in fields(prior))  # type: ignore[arg-type]
    return f"{type(prior).__name__}({values})"


def _method_text(run: _Run) -> str:
    """How the parameters were estimated, for the parameter file's ``method``."""
    fit = run.fit
    lo, hi = fit.bounds
    n_dims = fit.bank_.n_dims
    nodes = fit._nodes.shape[0]
    if n_dims == 1:
        grid = f"{nodes} quadrature points on [{lo:g}, {hi:g}]"
    elif n_dims <= 3:
        grid = (f"{n_dims} correlated factors" if not fit.orthogonal else f"{n_dims} factors") + (
            f", product grid of {round(nodes ** (1 / n_dims))}^{n_dims} points on [{lo:g}, {hi:g}]")
    else:
        grid = (f"{n_dims} {'orthogonal' if fit.orthogonal else 'correlated'} factors, "
                f"quasi-Monte Carlo EM with {nodes} Sobol points")
    text = f"MML-EM (Bock-Aitkin), {grid}"
    if fit.accelerate:
        text += ", SQUAREM"
    if run.reference is not None:
        text += (f"; {len(run.labels)} groups (reference {run.reference})"
                 + (f", group-specific items {', '.join(fit.group_specific)}"
                    if fit.group_specific else ""))
    if run.anchors:
        text += (f"; {len(run.anchors)} anchor item(s) fixed at their parameters in "
                 f"{run.anchor_path} (not estimated here: no SE)")
    priors = run.priors_used()
    if priors:
        text += "; priors " + ", ".join(f"{k} ~ {_prior_text(p)}" for k, p in priors.items())
    if not fit.compute_se:
        return text + "; SE: not computed"
    text += "; SE: observed information (Oakes)"
    # the file has no other place for the SEs of the estimated latent means and variances
    for key, se in fit.latent_se_.items():
        label, _, what = key.rpartition(":")
        name = {"mean": "mean", "var": "variance"}.get(what, what)
        text += f"; {f'group {label}: ' if label else ''}latent {name} estimated, " + (
            f"SE {se:.4g}" if math.isfinite(se) else "SE not available")
    return text


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


def _write_calibration(run: _Run, path: Path) -> None:
    from qabilet.engine.exceptions import DataFileError, InvalidParameterError
    from qabilet.itembank._files import write_text_atomic
    from qabilet.itembank.parameter_file import ParameterFile, record_standard_errors

    fit = run.fit
    content: dict[str, Any] = {
        "recodings": run.recodings(),
        "se": (record_standard_errors(fit.bank_, fit.se_traditional_, fit.se_, run.anchors)
               if fit.compute_se else None),
        "loglik": fit.loglik_, "aic": fit.aic_, "bic": fit.bic_, "n_iter": fit.n_iter_,
        "converged": fit.converged_, "method": _method_text(run),
    }
    if run.reference is not None:
        content["group_banks"] = fit.group_banks_
        content["reference_group"] = run.reference
        if fit.compute_se:
            content["group_se"] = {
                label: record_standard_errors(fit.group_banks_[label], traditional, slope_intercept,
                                        run.anchors)
                for label, (slope_intercept, traditional) in fit.group_se_.items()}
    # the writer checks the file's structure and builds every group's bank back, which checks the
    # values as well (an asymptote outside [0, 1), …): no file is written that `qabilet score`
    # would refuse
    try:
        pf = ParameterFile.from_bank(fit.bank_, **content)
    except DataFileError as exc:
        raise InvalidParameterError(f"the calibration gave parameters outside their domain; "
                                    f"{path} not written: {exc}") from None
    if run.anchor_file is not None:
        pf = _with_anchor_records(pf, run.anchor_file)
    write_text_atomic(path, pf.to_json())


def _with_anchor_records(pf: ParameterFile, anchor_file: ParameterFile) -> ParameterFile:
    """The anchors written exactly as the anchor file has them (without its standard errors).

    The bank holds them in slope-intercept form, and the way back to the traditional form may
    differ in the last digit; the parameters of a fixed item are the anchor file's, so its very
    numbers are written.
    """
    from qabilet.itembank.parameter_file import ParameterFile

    given = {item.id: (item, model) for item, model in zip(anchor_file.items,
                                                           anchor_file.item_models(), strict=True)}
    items = []
    for item in pf.model_dump(mode="json", exclude_none=True)["items"]:
        if item["id"] in given:
            record, model = given[item["id"]]
            item = {"id": record.id, "model": model,
                    **record.model_dump(mode="json", exclude_none=True,
                                        exclude={"id", "model", "se"})}
        items.append(item)
    out = ParameterFile.from_data({**pf.model_dump(mode="json", exclude_none=True),
                                   "items": items})
    out.to_bank()  # the same items as the bank, up to the last digit
    return out


def _mirt_csv(run: _Run) -> str:
    """The mirt table; with groups, a leading ``group`` column and each group's items."""
    from qabilet.itembank.bank_file import format_mirt_table, mirt_rows

    fit = run.fit
    if run.reference is None:
        return format_mirt_table(mirt_rows(fit.bank_))
    return format_mirt_table([{"group": label, **row} for label in run.labels
                              for row in mirt_rows(fit.group_banks_[label])])


def _se_cell(fit: MML, key: str) -> str:
    if not fit.compute_se:
        return ""
    se = fit.latent_se_.get(key)
    if se is None:
        return "(fixed)"
    return f"({se:.4f})" if math.isfinite(se) else "(n/a)"


def _summary(run: _Run) -> str:
    """The library's summary, then the latent distributions, group-specific items and anchors."""
    fit = run.fit
    parts = [fit.summary()]
    if run.reference is not None or run.anchors:
        lines = []
        if run.reference is not None:
            counts = {label: 0 for label in run.labels}
            for label in run.data.groups or ():
                counts[label] += 1
            scale = ", on the anchors' scale" if run.anchors else ""
            lines.append(f"Latent distribution by group (column {run.group_column!r}, reference "
                         f"{run.reference}{scale}):")
        else:
            counts = {None: run.data.n_persons}
            lines.append("Latent distribution (estimated on the anchors' scale):")
        se_head = f" {'(SE)':>10}" if fit.compute_se else ""
        lines.append(f"  {'group':<12} {'persons':>8} {'mean':>10}{se_head} {'variance':>10}"
                     f"{se_head}")
        for label, n in counts.items():
            latent = fit.groups_[label]
            prefix = "" if label is None else f"{label}:"
            mean_se = f" {_se_cell(fit, prefix + 'mean'):>10}" if fit.compute_se else ""
            var_se = f" {_se_cell(fit, prefix + 'var'):>10}" if fit.compute_se else ""
            lines.append(f"  {'(all)' if label is None else label:<12} {n:>8} "
                         f"{latent.mean[0]:>10.4f}{mean_se} {latent.cov[0, 0]:>10.4f}{var_se}")
        parts.append("\n".join(lines))
    if run.reference is not None and fit.group_specific:
        lines = ["Group-specific items" + (" (standard errors in parentheses):"
                                           if fit.compute_se else ":")]
        for item in fit.group_specific:
            for label in run.labels:
                bank = fit.group_banks_[label]
                j = int(bank.index_of([item])[0])
                record = bank.to_records()[j]
                se = fit.group_se_[label][1][j]
                params = "  ".join(f"{k}={_number_text(v)}"
                                   + (f" ({_number_text(se[k])})" if k in se else "")
                                   for k, v in record.items() if k not in ("id", "model"))
                lines.append(f"{item:<12} {label:<8} {record['model']:<8} {params}")
        parts.append("\n".join(lines))
    if run.anchors:
        drift = fit.anchor_drift_
        parts.append("Anchor drift check (a free calibration linked to the anchors):\n"
                     + (drift.summary() if drift is not None else
                        f"one anchor ({run.anchors[0]}); the drift check needs two or more"))
    return "\n\n".join(parts)


def _number_text(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_number_text(x) for x in v) + "]"
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _warn_drift(run: _Run) -> None:
    drift = run.fit.anchor_drift_ if run.anchors else None
    if drift is not None and drift.drifted:
        typer.echo(f"warning: anchor item(s) {', '.join(drift.drifted)} drifted: their response "
                   f"functions in this data differ from those in {run.anchor_path} (see the drift "
                   "check); fixing them may bias the scale, so check them and consider "
                   "calibrating them as new items", err=True)
