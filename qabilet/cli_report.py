"""``qabilet report``: profiles and their HTML reports from a response file, without the server.

Registered on :data:`qabilet.cli.app`.
"""

from __future__ import annotations

import csv
import enum
import json
from pathlib import Path
from typing import Annotated

import typer

from qabilet.cli import _fail, _user_errors, app
from qabilet.cli_bank import DatabaseOption, _repo

__all__ = ["report"]


class View(enum.StrEnum):
    """Whose copy of the report."""

    candidate = "candidate"
    operator = "operator"


def _read_rows(path: Path, items: set[str], exclude: set[str]) -> tuple[list[str], list[dict[str, str]]]:
    """The file's item columns (in file order) and rows; bad cells name their row and column."""
    from qabilet.engine.exceptions import DataFileError, ImportRejectedError

    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or [])
        rows = list(reader)
    meta = {"person_id", "language", "level", *exclude}
    columns = [c for c in header if c not in meta]
    unknown = [c for c in columns if c not in items]
    if not header or "person_id" not in header:
        raise DataFileError("expected a header with a person_id column", path=str(path))
    if unknown:
        raise DataFileError(f"columns {', '.join(unknown[:5])} are not items of the bank version "
                            f"(name other columns in --exclude)", path=str(path))
    problems = [(n, c, f"expected an answer code 0, 1, …; got {row[c]!r}")
                for n, row in enumerate(rows, start=1) for c in columns
                if row[c].strip() and not row[c].strip().isdigit()]
    if problems:
        raise ImportRejectedError(problems, path=str(path))
    return columns, rows


def _read_times(path: Path, columns: list[str]) -> dict[str, dict[str, str]]:
    """The companion file of response times by person; a cell that is not seconds is an error."""
    from qabilet.engine.exceptions import ImportRejectedError

    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    problems = []
    for n, row in enumerate(rows, start=1):
        for c in columns:
            cell = (row.get(c) or "").strip()
            try:
                if cell and not float(cell) >= 0:
                    raise ValueError
            except ValueError:
                problems.append((n, c, f"expected seconds ≥ 0; got {cell!r}"))
    if problems:
        raise ImportRejectedError(problems, path=str(path))
    return {r.get("person_id", ""): r for r in rows}


@app.command()
def report(
    responses: Annotated[Path, typer.Argument(metavar="RESPONSES.csv", exists=True, dir_okay=False,
                                              help="Answers as given (codes 0, 1, … of the "
                                                   "options or scale points), one row per "
                                                   "candidate: person_id, optional language "
                                                   "and level columns, one column per item.")],
    out: Annotated[Path, typer.Option("--out", metavar="DIR", file_okay=False,
                                      help="Folder for <person>.html and <person>.json.")],
    database: DatabaseOption = None,
    level: Annotated[str, typer.Option("--level", help="Position level when the file has no "
                                       "level column.")] = "middle",
    language: Annotated[str, typer.Option("--language", help="Report language when the file "
                                          "has no language column.")] = "ru",
    times: Annotated[Path | None, typer.Option("--times", metavar="TIMES.csv", exists=True,
                                               help="Response times in seconds, same shape "
                                                    "(the export's companion file).")] = None,
    version: Annotated[int | None, typer.Option("--version", help="Bank version (default: the "
                                                "newest published).")] = None,
    norm_set: Annotated[int | None, typer.Option("--norm-set", help="Norm set (default: the "
                                                 "newest published of the version).")] = None,
    view: Annotated[View, typer.Option("--view", help="candidate, or operator (adds the "
                                       "validity checks).")] = View.operator,
    group: Annotated[bool, typer.Option("--group", help="Also write group.html: counts and "
                                        "bands by level, no individual result.")] = False,
    issue: Annotated[bool, typer.Option("--issue", help="Store the profiles as issued records.")]
    = False,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", metavar="COLS",
                                                      help="Columns that are not items.")] = None,
) -> None:
    """Score every candidate of a response file into a profile, and write its report."""
    with _user_errors():
        from qabilet import __version__
        from qabilet.delivery.profiles import Answer, build_profile
        from qabilet.delivery.report_html import group_rows, render_group_html, render_profile_html
        from qabilet.itembank._files import write_text_atomic
        from qabilet.itembank.content import LANGUAGES, LEVELS

        repo = _repo(database)
        v = repo.version(version)
        ns = repo.norm_set(norm_set, bank_version=v.number) if norm_set is None else \
            repo.norm_set(norm_set)
        if ns.bank_version != v.number:
            raise _fail(f"--norm-set: norm set {ns.number} is for bank version {ns.bank_version}, "
                        f"not {v.number}")
        items = {i.id: i for i in repo.items()}
        excluded = {c.strip() for e in exclude or [] for c in e.split(",") if c.strip()}
        columns, rows = _read_rows(responses, set(v.item_ids), excluded)
        time_rows = {} if times is None else _read_times(times, columns)
        dims, recs = repo.dimensions(), repo.recommendations()
        out.mkdir(parents=True, exist_ok=True)
        profiles = []
        for n, row in enumerate(rows, start=1):
            lv, lang = row.get("level") or level, row.get("language") or language
            if lv not in LEVELS or lang not in LANGUAGES:
                raise _fail(f"{responses}, row {n}: level must be one of {', '.join(LEVELS)} and "
                            f"language one of {', '.join(LANGUAGES)}; got {lv!r}, {lang!r}")
            seconds = time_rows.get(row["person_id"], {})
            answers = [Answer(c, int(row[c]), float(seconds[c]) if seconds.get(c) else None)
                       for c in columns if row[c].strip()]
            p = build_profile(version=v, norm_set=ns, items=items, dimensions=dims,
                              recommendations=recs, level=lv, language=lang, answers=answers,
                              candidate_id=row["person_id"], software_version=__version__)
            if issue:
                repo.issue_profile(p)
            profiles.append(p)
            name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in row["person_id"])
            write_text_atomic(out / f"{name}.html", render_profile_html(p, view=view.value))
            document = p.model_dump(mode="json") if view is View.operator else p.candidate_view()
            write_text_atomic(out / f"{name}.json", json.dumps(document, ensure_ascii=False,
                                                               indent=1) + "\n")
        if group and profiles:
            dates = sorted(f"{(p.tested_at or p.issued_at):%Y-%m-%d}" for p in profiles)
            write_text_atomic(out / "group.html", render_group_html(
                group_rows(profiles), language=language, period=(dates[0], dates[-1])))
        typer.echo(f"Wrote {len(profiles)} profiles to {out}"
                   + (" and group.html" if group and profiles else "")
                   + (f"; issued {len(profiles)}." if issue else "."))
