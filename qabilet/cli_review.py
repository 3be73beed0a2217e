"""``qabilet bank review | reviews | seed | retire``: items through review, try-out and retirement.

Registered on :data:`qabilet.cli_bank.bank_app`. The moves follow
:data:`qabilet.itembank.review.MOVES`; each is recorded with who made it (``--by``, by default
the operating system's user) and why.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from qabilet.cli import _fail, _user_errors
from qabilet.cli_bank import DatabaseOption, _repo, _user, bank_app

__all__ = ["parse_note"]

ByOption = Annotated[str | None, typer.Option("--by", help="Who makes the move (default: the "
                                                            "operating system's user).")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why, in a sentence.")]
ItemsArgument = Annotated[list[str], typer.Argument(metavar="ITEM...")]


@contextmanager
def _checked() -> Iterator[None]:
    """The bank's refusals and invalid input (``field: message``) as ``error: …``, status 2."""
    with _user_errors():
        try:
            yield
        except ValueError as exc:  # pydantic's ValidationError is one
            raise _fail(_first_error(exc)) from None


def parse_note(text: str) -> dict[str, str]:
    """``ASPECT[:LANG]=TEXT`` → a review note's fields.

    Examples
    --------
    >>> parse_note("translation:kk=«Тұрғын» is better")
    {'aspect': 'translation', 'language': 'kk', 'text': '«Тұрғын» is better'}
    >>> parse_note("sensitivity=Neutral")
    {'aspect': 'sensitivity', 'text': 'Neutral'}
    """
    head, sep, body = text.partition("=")
    if not sep:
        raise ValueError(f"--note: expected ASPECT[:LANG]=TEXT, e.g. translation:kk=…; got {text!r}")
    aspect, _, language = head.partition(":")
    return {"aspect": aspect.strip(), **({"language": language.strip()} if language else {}),
            "text": body.strip()}


def _who(by: str | None) -> str:
    return by or _user() or "unknown"


@bank_app.command()
def review(
    item: Annotated[str, typer.Argument(metavar="ITEM")],
    to: Annotated[str, typer.Option("--to", help="in_review, draft (send back), pretest "
                                                 "(approve for trying out) or retired.")],
    reason: ReasonOption,
    note: Annotated[list[str] | None, typer.Option(
        "--note", metavar="ASPECT[:LANG]=TEXT", help="A reviewer's note (repeatable): aspect "
        "wording, translation, sensitivity, content, format or other; LANG kk, ru or en.")] = None,
    by: ByOption = None,
    database: DatabaseOption = None,
) -> None:
    """Move an item's status, with the reason and the reviewers' notes."""
    from qabilet.itembank.review import ReviewNote

    with _checked():
        notes = [ReviewNote.model_validate(parse_note(n)) for n in note or []]
        done = _repo(database).review(item, to, by=_who(by), reason=reason, notes=notes)
        made = f"; bank version {done.version} (draft) leaves it out" if done.version else ""
        typer.echo(f"{item}: {done.from_status} → {done.to_status}{made}.")


@bank_app.command()
def reviews(
    item: Annotated[str | None, typer.Argument(metavar="[ITEM]")] = None,
    database: DatabaseOption = None,
) -> None:
    """Every move of an item's status (of every item without ITEM), oldest first."""
    with _user_errors():
        for r in _repo(database).reviews(item):
            version = f"  [version {r.version}]" if r.version else ""
            typer.echo(f"{r.at:%Y-%m-%d %H:%M}  {r.item_id}  {r.from_status} → {r.to_status}  "
                       f"by {r.by}: {r.reason}{version}")
            for n in r.notes:
                typer.echo(f"    {n.aspect}{f' ({n.language})' if n.language else ''}: {n.text}")


@bank_app.command()
def seed(
    items: ItemsArgument,
    reason: ReasonOption,
    by: ByOption = None,
    database: DatabaseOption = None,
) -> None:
    """A draft bank version trying out approved items: the newest published one's, plus them."""
    with _checked():
        draft = _repo(database).seed_pretest(items, by=_who(by), reason=reason)
        typer.echo(f"Draft bank version {draft.number} tries out {len(draft.pretest)} item(s). "
                   f"Publish it (qabilet bank publish --bank-version {draft.number}) and store "
                   f"blueprints that seed them (a blueprint's \"pretest\": items, per_session).")


@bank_app.command()
def retire(
    items: ItemsArgument,
    reason: ReasonOption,
    by: ByOption = None,
    database: DatabaseOption = None,
) -> None:
    """Retire items; nothing is deleted, and a new draft version leaves them out."""
    with _checked():
        done = _repo(database).retire_items(items, by=_who(by), reason=reason)
        version = next((r.version for r in done if r.version), None)
        typer.echo(f"Retired {len(done)} item(s)"
                   + (f"; draft bank version {version} leaves them out (publish it to stop "
                      f"giving them)." if version else "."))


def _first_error(exc: Exception) -> str:
    """A pydantic error's first problem as ``field: message``; another error's text."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        e = exc.errors()[0]
        where = ".".join(str(p) for p in e["loc"]) or "input"
        return f"{where}: {e['msg']}"
    return str(exc)


@bank_app.command("calibrate-pretest")
def calibrate_pretest(
    database: DatabaseOption = None,
    version: Annotated[int | None, typer.Option(
        "--bank-version", help="The version that tried the items out (default: the newest "
                               "published).")] = None,
    min_answers: Annotated[int, typer.Option(
        "--min-answers", min=50, help="Answers a new item needs in each language group.")] = 300,
    languages: Annotated[str, typer.Option(
        "--languages", help="The language groups compared for DIF, comma-separated.")] = "kk,ru",
    by: ByOption = None,
) -> None:
    """Calibrate a version's pretest items onto its scale; write a draft version and flags."""
    from qabilet.pretest_calibration import calibrate_pretest as run

    with _checked():
        done = run(_repo(database), version, min_answers=min_answers,
                   languages=[x.strip() for x in languages.split(",") if x.strip()], by=_who(by))
        typer.echo(f"{'item':<12} {'answers':<18} {'a':>6} {'SE(a)':>6}  {'RMSD':<16} "
                   f"{'DIF':<4} flags")
        for i in done.items:
            counts = " ".join(f"{k}:{v}" for k, v in sorted(i.answers.items()))
            if not i.calibrated:
                typer.echo(f"{i.item_id:<12} {counts:<18} waiting for answers")
                continue
            fit = " ".join(f"{k}:{v:.3f}" for k, v in sorted(i.rmsd.items()))
            typer.echo(f"{i.item_id:<12} {counts:<18} {i.a or 0:>6.2f} {i.se_a or 0:>6.2f}  "
                       f"{fit:<16} {i.dif.ets_class if i.dif else '-':<4} "
                       f"{', '.join(i.flags) or '-'}")
        for dim, tests in done.drift.items():
            for t in tests:
                if t.drifted:
                    typer.echo(f"drift ({dim}): {t.item_id} (RMSD {t.rmsd:.3f}, chi2 "
                               f"{t.statistic:.1f} on {t.df} df, Holm p {t.p_adjusted:.2g})")
        if done.draft is None:
            typer.echo("No item has enough answers yet; nothing written.")
        else:
            typer.echo(f"Draft bank version {done.draft.number} holds {len(done.calibrated)} "
                       f"calibrated new item(s). Retire the ones to reject (qabilet bank retire), "
                       f"then publish it (qabilet bank publish --bank-version "
                       f"{done.draft.number}).")
