"""``qabilet report`` and ``qabilet bank report``: the reports, written without the server.

``qabilet report`` scores a response file into profiles and their HTML reports (registered on
:data:`qabilet.cli.app`); ``qabilet bank report`` writes a bank version's technical report
(on :data:`qabilet.cli_bank.bank_app`).
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from qabilet.cli import ExcludeOption, _fail, _split_columns, _user_errors, app
from qabilet.cli_bank import DatabaseOption, _repo, bank_app

__all__ = ["bank_report", "report"]


class View(enum.StrEnum):
    """Whose copy of the report."""

    candidate = "candidate"
    operator = "operator"


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
    language: Annotated[str | None, typer.Option("--language", help="The reports' language, kk, "
                                                 "ru or en (default: each candidate's, from the "
                                                 "file's language column); also the language of "
                                                 "the answers when the file has no such column "
                                                 "(default: ru).")] = None,
    times: Annotated[Path | None, typer.Option("--times", metavar="TIMES.csv", exists=True,
                                               help="Response times in seconds, same shape "
                                                    "(the export's companion file).")] = None,
    version: Annotated[int | None, typer.Option("--bank-version", help="Bank version (default: the "
                                                "newest published).")] = None,
    norm_set: Annotated[int | None, typer.Option("--norm-set", help="Norm set (default: the "
                                                 "newest published of the version).")] = None,
    view: Annotated[View, typer.Option("--view", help="candidate, or operator (adds the "
                                       "validity checks).")] = View.operator,
    group: Annotated[bool, typer.Option("--group", help="Also write group.html: the group "
                                        "report (medians, quartiles and bands by level, with "
                                        "charts; no individual result).")] = False,
    group_min: Annotated[int, typer.Option("--group-min", min=5, metavar="N",
                                           help="The group report's smallest group and row "
                                                "shown (at least 5).")] = 10,
    pdf: Annotated[bool, typer.Option("--pdf", help="Also write <person>.pdf: the same report "
                                      "printed (A4), made without a browser.")] = False,
    issue: Annotated[bool, typer.Option("--issue", help="Store the profiles as issued records.")]
    = False,
    exclude: ExcludeOption = None,
) -> None:
    """Score every candidate of a response file into a profile, and write its report."""
    with _user_errors():
        from qabilet import __version__
        from qabilet.delivery.answer_reports import build_profiles, write_reports
        from qabilet.itembank.content import LANGUAGES, LEVELS, is_language
        from qabilet.itembank.response_file import read_answer_sheets

        for option, value, allowed in (("--level", level, LEVELS),
                                       ("--language", language or "ru", LANGUAGES)):
            if value not in allowed:
                raise _fail(f"{option}: expected one of {', '.join(allowed)}; got {value!r}")
        repo = _repo(database)
        v = repo.version(version)
        ns = repo.norm_set(norm_set, bank_version=v.number) if norm_set is None else \
            repo.norm_set(norm_set)
        if ns.bank_version != v.number:
            raise _fail(f"--norm-set: norm set {ns.number} is for bank version {ns.bank_version}, "
                        f"not {v.number}")
        sheets = read_answer_sheets(responses, v.item_ids, exclude=_split_columns(exclude),
                                    times=times, level=level, language=language or "ru")
        profiles = build_profiles(repo, sheets, version=v, norm_set=ns,
                                  software_version=__version__)
        if issue:
            for p in profiles:
                repo.issue_profile(p)
        write_reports(out, profiles, view="candidate" if view is View.candidate else "operator",
                      group_language=(language if is_language(language) else "ru") if group else None,
                      group_min_count=group_min,
                      language=language if is_language(language) else None, pdf=pdf)
        typer.echo(f"Wrote {len(profiles)} profiles (<person>.html, <person>.json"
                   + (", <person>.pdf" if pdf else "") + f") to {out}"
                   + (" and group.html" if group and profiles else "")
                   + (f"; issued {len(profiles)}." if issue else "."))


@bank_app.command("report")
def bank_report(
    version: Annotated[int | None, typer.Argument(
        metavar="[VERSION]", min=1, help="The bank version (default: the newest published).")
    ] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="FILE", dir_okay=False,
        help="Where to write the page (default: bank-report-<VERSION>.html here).")] = None,
    language: Annotated[str, typer.Option("--language", help="The report's language: kk, ru "
                                          "or en.")] = "en",
    database: DatabaseOption = None,
) -> None:
    """Write a bank version's technical report: one self-contained HTML page with charts."""
    with _user_errors():
        from qabilet.bank_report import bank_report as gather
        from qabilet.bank_report_html import render_bank_report
        from qabilet.itembank.content import LANGUAGES, is_language

        if not is_language(language):
            raise _fail(f"--language: expected one of {', '.join(LANGUAGES)}; got {language!r}")
        found = gather(_repo(database), version)
        target = out or Path(f"bank-report-{found.version.number}.html")
        target.write_text(render_bank_report(found, language=language), encoding="utf-8")
        typer.echo(f"Wrote the technical report of bank version {found.version.number} "
                   f"({found.n_sessions} sessions, {len(found.scales)} scales) to {target}")
