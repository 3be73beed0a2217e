"""``qabilet calibrate-fc``: statement parameters of forced-choice blocks (Thurstonian IRT)."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from qabilet.cli import _user_errors, app

if TYPE_CHECKING:
    from qabilet.calibration import ForcedChoiceFit


class FcMethod(enum.StrEnum):
    """How ``calibrate-fc`` estimates (:mod:`qabilet.calibration.forced_choice_li` and ``_mhrm``)."""

    mhrm = "mhrm"
    dwls = "dwls"
    uls = "uls"


@app.command("calibrate-fc")
def calibrate_fc(
    design: Annotated[
        Path, typer.Argument(metavar="DESIGN.json", show_default=False,
                             help='The blocks: {"traits": [...], "blocks": [{"id": "B1", '
                             '"statements": [{"id": "S1", "trait": "T1", "keyed": 1}, ...]}]}.'),
    ],
    responses: Annotated[
        Path, typer.Argument(metavar="RESPONSES.csv", show_default=False,
                             help="person_id and a column per block; a cell is the block's "
                             "statements from most to least like the person joined by > "
                             "(S3>S1>S2), = where the order was not observed (S7>S5=S8>S6: "
                             "most and least), empty when not answered."),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="FILE", show_default=False,
                                  help="Write the parameter file here (atomically)."),
    ] = None,
    method: Annotated[
        FcMethod, typer.Option("--method", case_sensitive=False,
                               help="mhrm: full information (the exact likelihood of every "
                               "answer, most/least included) by Metropolis-Hastings "
                               "Robbins-Monro from the dwls estimates; dwls: diagonally "
                               "weighted least squares on the pairwise tetrachorics (the "
                               "limited-information estimator of Mplus and lavaan); uls: "
                               "unweighted."),
    ] = FcMethod.mhrm,
    seed: Annotated[
        int, typer.Option("--seed", metavar="N", help="Random seed of --method mhrm."),
    ] = 20111,
) -> None:
    """Calibrate forced-choice statements: loadings, intercepts, error variances, trait correlations.

    Per block the first statement has mu = 0 and psi2 = 1 (pairs: both psi2 = 0.5); traits have
    unit variances. The summary goes to stdout, the parameter file to --out.
    """
    with _user_errors():
        from qabilet.calibration import fit_forced_choice
        from qabilet.itembank._files import write_text_atomic
        from qabilet.itembank.forced_choice_file import read_block_answers, read_design

        blocks = read_design(design)
        answers = read_block_answers(responses, blocks)
        fit = fit_forced_choice(blocks, answers.responses,
                                weights="uls" if method is FcMethod.uls else "dwls")
        if method is FcMethod.mhrm:
            from qabilet.calibration import fit_forced_choice_mhrm

            fit = fit_forced_choice_mhrm(blocks, answers.responses, start=fit, seed=seed)
        if out is not None:
            write_text_atomic(out, json.dumps(fit.to_dict(), indent=1) + "\n")
        typer.echo(summary(fit))
        if out is not None:
            typer.echo(f"wrote {out}")


def summary(fit: ForcedChoiceFit) -> str:
    """A few lines: the data, the method and its convergence, the fit, the trait correlations."""
    d, st = fit.design, fit.statistics
    lines = [f"{fit.n_persons} persons, {d.n_blocks} blocks, {d.n_statements} statements, "
             f"{d.n_traits} traits",
             f"method {fit.method}: {'converged' if fit.converged else 'NOT converged'} after "
             f"{fit.iterations} iterations in {fit.seconds:.1f} s"]
    if "chisq_scaled" in st:
        lines.append(f"scaled-shifted chi-square {st['chisq_scaled']:.1f} on {st['df']} df "
                     f"({st['n_redundancies']} redundancies removed), p = {st['pvalue']:.3f}, "
                     f"RMSEA {st['rmsea']:.3f}")
    if "loglik" in st:
        lines.append(f"log-likelihood {st['loglik']:.2f}")
    width = max(len(t) for t in d.traits)
    lines.append("trait correlations:")
    for i, t in enumerate(d.traits):
        lines.append(f"  {t:<{width}} " + " ".join(f"{v:6.3f}" for v in fit.phi[i, :i + 1]))
    return "\n".join(lines)
