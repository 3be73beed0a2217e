"""``qabilet simulate``: adaptive tests for many simulees, on a calibrated bank.

Registered on :data:`qabilet.cli.app`; like the other commands it imports numpy and the packages
only when it runs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from qabilet.cli import _fail, _stderr_is_terminal, _user_errors, app

if TYPE_CHECKING:
    from qabilet.engine.cat.exposure_floor import ExposureFloor

__all__ = ["simulate"]


class _StepLine:
    """``test position k of K`` redrawn in place on stderr (only when it is a terminal)."""

    def __init__(self) -> None:
        self._last = -1.0

    def __call__(self, step: int, total: int) -> None:
        now = time.monotonic()
        if step < total and now - self._last < 0.1:
            return
        self._last = now
        typer.echo(f"\rtest position {step:>4} of {total}", err=True, nl=False)

    def clear(self) -> None:
        if self._last >= 0:
            typer.echo("\r" + " " * 30 + "\r", err=True, nl=False)


def _summary_text(result: dict[str, Any], bank_file: Path, settings: dict[str, Any]) -> str:
    s = result["summary"]
    stop = (f"stop at SE < {settings['se_target']} or {settings['max_items']} items"
            if settings["se_target"] is not None else f"{settings['max_items']} items")
    lines = [f"CAT simulation on {bank_file}: {s['n']:,} simulees, selection "
             f"{settings['selection']}, exposure {settings['exposure']}, estimator "
             f"{settings['estimator']}, {stop}", ""]
    rows = [("mean length", s["mean_length"]), ("SD length", s["sd_length"]),
            ("min length", s["min_length"]), ("max length", s["max_length"]),
            ("bias", s["bias"]), ("RMSE", s["rmse"]), ("correlation", s["correlation"]),
            ("mean SE", s["mean_se"]), ("max exposure", s["max_exposure"]),
            ("overlap", s["overlap"]), ("elapsed s", s["elapsed_s"])]
    for name, value in rows:
        text = "—" if value is None else f"{value:.4f}"
        lines.append(f"  {name:<12} {text:>10}")
    classified = result.get("classification") or {}
    if classified:
        cuts = ", ".join(f"{c:g}" for c in settings["cut_scores"])
        lines += ["", f"Bands at the cut scores {cuts}:"]
        if "observed" in classified:
            lines.append(f"  accuracy (simulees' true bands)      {classified['observed']['accuracy']:.4f}")
        rudner = classified["rudner"]
        lines.append(f"  accuracy (Rudner, from θ̂ and SE)     {rudner['accuracy']:.4f}")
        lines.append(f"  consistency (Rudner)                 {rudner['consistency']:.4f}")
        if "stated" in classified:
            rule = settings["stated_rule"]
            lines.append(f"Bands a profile states (probability >= {rule['min_confidence']:g}, "
                         f"SD <= {rule['max_sd']:g}): {classified['stated']['stated']:.1%} stated")
            if "stated_observed" in classified:
                lines.append(f"  accuracy (simulees' true bands)      "
                             f"{classified['stated_observed']['accuracy']:.4f}")
            lines.append(f"  accuracy (Rudner, from θ̂ and SE)     "
                         f"{classified['stated']['accuracy']:.4f}")
    return "\n".join(lines) + "\n"


@app.command()
def simulate(
    bank_file: Annotated[
        Path, typer.Option("--bank", metavar="PARAMS.json", show_default=False,
                           help="Parameter file of the calibrated bank."),
    ],
    blueprint_file: Annotated[
        Path | None, typer.Option("--blueprint", metavar="FILE", show_default=False,
                                  help="Blueprint JSON (fields of engine.cat.Blueprint); the "
                                  "options below override it."),
    ] = None,
    n: Annotated[
        int | None, typer.Option("--n", min=1, metavar="N", show_default=False,
                                 help="Simulees drawn from the bank's latent distribution "
                                 "(1,000 when neither --theta nor --responses is given)."),
    ] = None,
    theta_file: Annotated[
        Path | None, typer.Option("--theta", metavar="FILE", show_default=False,
                                  help="True values: CSV with person_id,theta."),
    ] = None,
    responses_file: Annotated[
        Path | None, typer.Option("--responses", metavar="FILE", show_default=False,
                                  help="A full response matrix (every simulee answers every "
                                  "item; docs/design.md §6 layout), so that engines can be compared "
                                  "on identical answers."),
    ] = None,
    select: Annotated[
        str | None, typer.Option("--select", metavar="RULE", show_default=False,
                                 help="Selection: mfi (default), mpwi, mepv, kl, klp, dopt, aopt "
                                 "(several factors; dopt is their default) or random."),
    ] = None,
    exposure: Annotated[
        str | None, typer.Option("--exposure", metavar="RULE", show_default=False,
                                 help="Exposure control: none (default), randomesque:K, sh:RATE "
                                 "(Sympson–Hetter, parameters derived by simulation first) or "
                                 "astrat:S (a-stratification with b-blocking)."),
    ] = None,
    estimator: Annotated[
        str | None, typer.Option("--estimator", metavar="METHOD", show_default=False,
                                 help="eap (default), map or ml."),
    ] = None,
    stop_se: Annotated[
        float | None, typer.Option("--stop-se", metavar="SE", show_default=False,
                                   help="Stop when the SE is below this (default 0.3); 0 for "
                                   "fixed length."),
    ] = None,
    max_items: Annotated[
        int | None, typer.Option("--max-items", min=1, metavar="K", show_default=False,
                                 help="Maximum test length (default 30)."),
    ] = None,
    sh_simulees: Annotated[
        int, typer.Option("--sh-simulees", min=100, metavar="N",
                          help="Simulees per round when deriving Sympson–Hetter parameters "
                          "(per class with --sh-classes)."),
    ] = 2000,
    sh_classes: Annotated[
        str | None, typer.Option("--sh-classes", metavar="C1,C2,…", show_default=False,
                                 help="Conditional Sympson–Hetter: cut points on θ; every "
                                 "ability class keeps each item below the rate."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of draws and random choices.")] = 0,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="FILE", show_default=False,
                                  help="Write the full results (JSON: summary, conditional, "
                                  "exposure, simulees) here."),
    ] = None,
) -> None:
    """Simulate adaptive tests and report length, precision and exposure."""
    if n is not None and (theta_file is not None or responses_file is not None):
        raise _fail("--n: give either --n or --theta/--responses, not both")
    with _user_errors():
        from qabilet.delivery.profiles import ProfilePolicy
        from qabilet.engine.cat import Blueprint, derive_sympson_hetter, simulate_cat
        from qabilet.engine.cat.blueprint import parse_exposure
        from qabilet.engine.cat.exposure_floor import exposure_floor
        from qabilet.engine.exceptions import InvalidParameterError
        from qabilet.itembank._files import write_text_atomic
        from qabilet.itembank.parameter_file import read_parameter_file
        from qabilet.itembank.simulation_inputs import read_blueprint_fields, read_simulees

        pf = read_parameter_file(bank_file)
        bank = pf.to_bank()
        fields = {} if blueprint_file is None else read_blueprint_fields(blueprint_file)
        overrides = {"selection": select, "exposure": exposure, "estimator": estimator,
                     "max_items": max_items}
        fields.update({k: v for k, v in overrides.items() if v is not None})
        if bank.n_dims > 1:  # maximum information's several-factor form is D-optimality
            fields.setdefault("selection", "dopt")
        if stop_se is not None:
            fields["se_target"] = None if stop_se == 0 else stop_se
        if sh_classes is not None:
            fields["sh_classes"] = _numbers("--sh-classes", sh_classes)
        sh_target = None
        spec = str(fields.get("exposure", "none"))
        if spec.lower().startswith("sh:") and fields.get("sh_parameters") is None:
            sh_target = spec  # derived below, once the bank and the design are known
            fields["exposure"] = "none"
        try:
            blueprint = Blueprint.from_dict(fields)
            if sh_target is not None:
                rate = parse_exposure(sh_target)[1]
                assert rate is not None  # sh always has its rate
                floor = exposure_floor(bank, blueprint)
                if rate < floor.rate:
                    raise _fail(_unreachable(rate, floor))
                typer.echo(f"deriving Sympson–Hetter parameters for {sh_target} "
                           f"({sh_simulees:,} simulees per round) …", err=True)
                derived = derive_sympson_hetter(bank, blueprint, target=rate, n=sh_simulees,
                                                rng=seed)
                blueprint = derived.blueprint
                typer.echo(f"  {derived.n_rounds} rounds; largest exposure "
                           f"{derived.max_exposure[-1]:.3f}", err=True)
        except InvalidParameterError as exc:
            where = f"{blueprint_file}: " if blueprint_file is not None else ""
            raise InvalidParameterError(f"{where}{exc}") from None
        simulees = read_simulees(bank, responses=responses_file, theta=theta_file,
                                 recodings=pf.recodings())
        if simulees.person_ids is None:
            n = 1000 if n is None else n
        line = _StepLine() if _stderr_is_terminal() else None
        try:
            sim = simulate_cat(bank, blueprint, theta=simulees.theta,
                               responses=simulees.responses, n=n, rng=seed, progress=line)
        finally:
            if line is not None:
                line.clear()
        policy = ProfilePolicy()  # the rule by which a profile states a band or withholds it
        rule = {"min_confidence": policy.min_confidence, "max_sd": policy.max_sd}
        result = {"settings": {**blueprint.to_dict(), "seed": seed, "bank": str(bank_file),
                               "stated_rule": rule},
                  **sim.to_dict(simulees.person_ids)}
        result["classification"] = {k: v.to_dict() for k, v in sim.classification(**rule).items()}
        if out is not None:
            write_text_atomic(out, json.dumps(result, indent=1, allow_nan=False) + "\n")
        typer.echo(_summary_text(result, bank_file, result["settings"]), nl=False)
        if out is not None:
            typer.echo(f"\nWrote the results of {result['summary']['n']:,} simulees (summary, "
                       f"conditional, exposure, simulees) to {out}.")


def _numbers(option: str, text: str) -> list[float]:
    """Comma-separated numbers of an option, or a clear error naming it."""
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise _fail(f"{option}: expected comma-separated numbers; got {text!r}") from None


def _unreachable(rate: float, floor: ExposureFloor) -> str:
    """Why ``--exposure sh:RATE`` cannot be met, with the numbers."""
    of = "" if floor.category is None else f" of content category {floor.category!r}"
    return (f"--exposure: sh:{rate:g} cannot be met: every test gives at least {floor.length} "
            f"of the {floor.eligible} eligible items{of}, so their exposure rates average "
            f"{floor.length}/{floor.eligible} = {floor.rate:.3f} and the largest is at least "
            f"that; ask for sh:{floor.rate:.3g} or more, a shorter test or more items")
