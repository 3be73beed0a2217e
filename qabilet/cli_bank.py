"""``qabilet bank …``: the item bank on its database (SQLite by default, PostgreSQL by URL).

Registered on :data:`qabilet.cli.app`. Every command takes ``--database URL``; without it the
URL comes from ``QABILET_DATABASE_URL`` or is the SQLite file ``qabilet.db`` in the working
directory. Imports and publications are transactions: a refused one changes nothing.
"""

from __future__ import annotations

import enum
import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from qabilet.cli import _fail, _user_errors, app

if TYPE_CHECKING:
    from qabilet.itembank.bank_diff import SectionChanges
    from qabilet.itembank.repository import BankRepository
    from qabilet.itembank.versions import BankVersion

__all__ = ["bank_app"]

bank_app = typer.Typer(name="bank", no_args_is_help=True, add_completion=False,
                       help="The item bank: build the demonstration bank, import, export, list, "
                            "show, publish, compare versions.")
app.add_typer(bank_app)

DatabaseOption = Annotated[
    str | None,
    typer.Option("--database", metavar="URL", envvar="QABILET_DATABASE_URL",
                 show_envvar=True, help="Database URL (default: sqlite:///qabilet.db)."),
]


class ExportFormat(enum.StrEnum):
    """What ``qabilet bank export`` writes."""

    json = "json"
    csv = "csv"
    mirt = "mirt"
    responses = "responses"
    blocks = "blocks"
    block_design = "block-design"


def _repo(database: str | None) -> BankRepository:
    from qabilet.itembank.database import connect
    from qabilet.itembank.repository import BankRepository

    try:
        return BankRepository(connect(database))
    except ValueError as exc:
        raise _fail(str(exc)) from None


def _one(numbers: dict[str, int]) -> str:
    """The blueprint number every level has, or the levels' numbers."""
    values = set(numbers.values())
    return str(values.pop()) if len(values) == 1 else ", ".join(f"{k} {v}" for k, v in numbers.items())


def _write(text: str, out: Path | None) -> None:
    """``text`` to ``out`` (atomically), or to standard output without it."""
    if out is None:
        typer.echo(text, nl=False)
        return
    from qabilet.itembank._files import write_text_atomic

    write_text_atomic(out, text)


def _count(n: int, what: str) -> str:
    """``1 item``, ``2 items``: ``what`` is the singular, made plural with ``s``."""
    return f"{n} {what}{'' if n == 1 else 's'}"


#: the sections of a bank document that messages count, and a record of each in the singular
_HELD = {"items": "item", "versions": "bank version", "norm_sets": "norm set",
         "blueprints": "blueprint"}
#: every section, for what an import added or changed
_RECORDS = {**_HELD, "dimensions": "dimension", "scales": "response scale",
            "recommendations": "recommendation"}


@bank_app.command("init-demo")
def init_demo(
    database: DatabaseOption = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulated calibration.")] = 2017,
    persons: Annotated[int, typer.Option("--persons", min=300,
                                         help="Simulated candidates per position level.")] = 1500,
    if_empty: Annotated[bool, typer.Option("--if-empty",
                                           help="Do nothing (and succeed) when a bank is there.")]
    = False,
) -> None:
    """Build the demonstration bank: 378 items and 30 forced-choice blocks in kk/ru/en, calibrated."""
    with _user_errors():
        from qabilet.demo_bank import build_demo_bank

        repo = _repo(database)
        if if_empty and not repo.is_empty():
            typer.echo("The database already holds a bank; nothing to do.")
            return
        build = build_demo_bank(repo, seed=seed, n_per_level=persons,
                                progress=lambda m: typer.echo(f"  {m}", err=True))
        worst = min(build.slope_correlation.values())
        typer.echo(
            f"Built the demonstration bank: {build.n_items} items and {build.n_blocks} "
            f"forced-choice blocks, bank version {build.version} and norm set {build.norm_set} "
            f"published, blueprints for {', '.join(build.blueprints)} positions (adaptive items: "
            f"number {_one(build.blueprints)}; forced-choice blocks: number "
            f"{_one(build.block_blueprints)}).\n"
            f"Parameters are demonstration values from calibrating {build.n_persons} simulated "
            f"candidates (true and estimated slopes correlate ≥ {worst:.3f}; factor correlations "
            f"within {build.correlation_error:.3f} of the truth).")


@bank_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(metavar="FILE", exists=True, dir_okay=False,
                                         help="A bank document or parameter file (.json: items' "
                                              "or forced-choice blocks'), a parameter CSV or "
                                              "mirt's table (.csv).")],
    database: DatabaseOption = None,
    version: Annotated[int | None, typer.Option("--bank-version", help="Parameters: the draft version "
                                                "they replace.")] = None,
    base: Annotated[int | None, typer.Option("--base", help="CSV: the version whose latent "
                                             "distribution a new version takes.")] = None,
) -> None:
    """Import a bank document, or parameters (file, CSV, mirt's table) as a draft version.

    Every bad row is reported and nothing is imported.
    """
    with _user_errors():
        from qabilet import __version__
        from qabilet.itembank.bank_diff import document_changes
        from qabilet.itembank.bank_file import (
            export_document,
            import_document,
            import_parameters,
            is_bank_document,
        )
        from qabilet.itembank.forced_choice_parameters import is_forced_choice_parameters

        repo = _repo(database)
        text = file.read_text(encoding="utf-8")
        if not is_bank_document(text):
            v = import_parameters(repo, text, path=str(file), version=version, base=base,
                                  software_version=__version__)
            what = (f"{len(v.block_ids)} forced-choice blocks' parameters (items' parameters of "
                    f"version {v.provenance.based_on or v.number})"
                    if is_forced_choice_parameters(text) else f"{len(v.item_ids)} items' parameters")
            typer.echo(f"Imported {what} into draft bank version {v.number}"
                       + (f"; {v.provenance.notes}." if v.provenance.notes else "."))
            return
        before = export_document(repo).content()
        done = import_document(repo, text, path=str(file), by=_user())
        typer.echo(_import_note(file, done.counts(),
                                document_changes(before, export_document(repo).content())))
        if done.draft is not None:
            typer.echo(_draft_note(done.draft))


def _import_note(file: Path, counts: dict[str, int], changes: dict[str, SectionChanges]) -> str:
    """What ``bank import`` says: the records the file held, and which of them were new."""
    held = ", ".join(_count(counts[k], w) for k, w in _HELD.items())
    new = [f"{_count(c.added, w)} added" if not c.changed else
           f"{_count(c.new, w)} ({c.added} added, {c.changed} changed)"
           for k, w in _RECORDS.items() if (c := changes[k]).new]
    if not new:
        return (f"Nothing new in {file}: its records ({held}) are stored already, the same; "
                f"nothing was imported.")
    return f"Imported {file} ({held}): {'; '.join(new)}."


def _draft_note(draft: BankVersion) -> str:
    """What the CLI says about the draft version that carries new texts."""
    revision = draft.provenance.revisions[-1]
    old = revision.previous_version
    if old is None:
        return (f"New texts are in draft bank version {draft.number} ({len(revision.changes)} "
                f"changes).")
    return (f"New texts of published bank version {old} are in draft bank version "
            f"{draft.number} ({len(revision.changes)} changes); version {old} keeps showing its "
            f"own. Compare with: qabilet bank diff {old} {draft.number}; show them with: "
            f"qabilet bank publish --bank-version {draft.number}")


def _user() -> str | None:
    """Who runs the command, for the provenance of new texts (the operating system's user)."""
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in the environment or the password database
        return None


@bank_app.command()
def export(
    format: Annotated[ExportFormat, typer.Option("--format", help="json: the whole bank; csv: "
                                                 "parameters; mirt: mirt's table; responses: "
                                                 "answers for calibration; blocks, block-design: "
                                                 "forced-choice answers and design for "
                                                 "calibrate-fc.")]
    = ExportFormat.json,
    out: Annotated[Path | None, typer.Option("--out", metavar="FILE", dir_okay=False,
                                             help="Write here (default: standard output).")]
    = None,
    database: DatabaseOption = None,
    version: Annotated[int | None, typer.Option("--bank-version", help="The bank version (csv, mirt: "
                                                "default the newest published; responses: "
                                                "filter).")] = None,
    language: Annotated[str | None, typer.Option("--language", help="responses: filter.")] = None,
    level: Annotated[str | None, typer.Option("--level", help="responses: filter.")] = None,
    since: Annotated[datetime | None, typer.Option("--since", help="responses: from (UTC).")]
    = None,
    until: Annotated[datetime | None, typer.Option("--until", help="responses: before (UTC).")]
    = None,
    raw: Annotated[bool, typer.Option("--raw", help="responses: the codes as answered, not the "
                                      "version's model categories.")] = False,
) -> None:
    """Export the bank, a version's parameters, or the responses (times in FILE.times.csv)."""
    with _user_errors():
        from qabilet import __version__
        from qabilet.itembank import bank_file

        repo = _repo(database)
        if format is ExportFormat.json:
            doc = bank_file.export_document(repo, software_version=__version__)
            _write(doc.to_json(), out)
            held = ", ".join(_count(len(getattr(doc, k)), w) for k, w in _HELD.items())
            what = f"the bank ({held})"
        elif format is ExportFormat.responses:
            rows = repo.responses(bank_version=version, language=language, level=level,
                                  since=_utc(since), until=_utc(until))
            recodings = None if raw else {
                n: repo.version(n).parameters.recodings() for n in {r.bank_version for r in rows}}
            answers, times = bank_file.format_responses(rows, recodings=recodings)
            _write(answers, out)
            if out is not None:
                _write(times, out.with_suffix(".times.csv"))
            persons = len(answers.splitlines()) - 1
            what = (f"{_count(len(rows), 'response')} of {_count(persons, 'person')} "
                    f"({'codes as answered' if raw else 'model categories'})")
        elif format is ExportFormat.blocks:
            rows = repo.responses(bank_version=version, language=language, level=level,
                                  since=_utc(since), until=_utc(until), blocks=True)
            answers = bank_file.format_block_answers(rows)
            _write(answers, out)
            what = (f"{_count(len(rows), 'block answer')} of "
                    f"{_count(len(answers.splitlines()) - 1, 'person')}")
        elif format is ExportFormat.block_design:
            v = repo.version(version)
            _write(bank_file.format_block_design(v), out)
            what = f"the design of {_count(len(v.block_ids), 'block')} (bank version {v.number})"
        else:
            v = repo.version(version)
            text = (bank_file.format_parameters_csv(v) if format is ExportFormat.csv
                    else bank_file.format_mirt_table(bank_file.mirt_rows(v.parameters.to_bank())))
            _write(text, out)
            table = "the parameters" if format is ExportFormat.csv else "mirt's table"
            what = f"{table} of {_count(len(v.item_ids), 'item')} (bank version {v.number})"
        if out is not None:
            extra = (f" and their response times to {out.with_suffix('.times.csv')}"
                     if format is ExportFormat.responses else "")
            typer.echo(f"Wrote {what} to {out}{extra}.")


@bank_app.command("export-qti")
def export_qti(
    version: Annotated[int, typer.Argument(metavar="VERSION", help="The bank version.")],
    out: Annotated[Path, typer.Option("--out", metavar="FILE.zip", dir_okay=False,
                                      help="The package to write.")],
    database: DatabaseOption = None,
) -> None:
    """Export a bank version as a QTI 3.0 content package: an assessment item per item and language.

    Items are choice interactions (Likert, situational judgement) and order interactions
    (forced-choice blocks); the bank's records and parameters are in the manifest's metadata
    (docs/qti.md).
    """
    with _user_errors():
        from qabilet import __version__
        from qabilet.itembank._files import write_bytes_atomic
        from qabilet.itembank.qti_write import export_package

        package = export_package(_repo(database), version, software_version=__version__)
        write_bytes_atomic(out, package.data)
        held = [_count(package.items, "item"), _count(package.blocks, "forced-choice block")]
        if package.pretest:
            held.append(f"{package.pretest} tried out")
        typer.echo(f"Wrote bank version {package.version} ({', '.join(held)}) to {out}: "
                   f"{_count(package.resources, 'QTI assessment item')}, one per item and "
                   f"language.")


@bank_app.command("import-qti")
def import_qti(
    file: Annotated[Path, typer.Argument(metavar="FILE.zip", exists=True, dir_okay=False,
                                         help="A QTI 3.0 content package.")],
    database: DatabaseOption = None,
    dimension: Annotated[str | None, typer.Option(
        "--dimension", metavar="ID", help="Items without qabilet's metadata: what they measure "
                                          "(a dimension of the bank).")] = None,
    levels: Annotated[str | None, typer.Option(
        "--levels", metavar="LEVEL,…", help="Items without qabilet's metadata: the position "
                                            "levels they are for (high, middle, low).")] = None,
) -> None:
    """Import a QTI 3.0 content package, all or nothing.

    qabilet's own package brings its items and its version's parameters as a new draft version;
    another package's choice items come in as draft items without parameters. Every problem is
    reported with its element, line and reason, and nothing is imported.
    """
    with _user_errors():
        from qabilet.itembank.bank_diff import document_changes
        from qabilet.itembank.bank_file import export_document
        from qabilet.itembank.qti_import import Defaults, import_package
        from qabilet.itembank.qti_package import MAX_PACKAGE_BYTES

        if file.stat().st_size > MAX_PACKAGE_BYTES:
            raise _fail(f"{file}: {file.stat().st_size} bytes; qabilet reads packages of at most "
                        f"{MAX_PACKAGE_BYTES} bytes")
        repo = _repo(database)
        defaults = Defaults(dimension, None if levels is None else tuple(
            lv.strip() for lv in levels.split(",") if lv.strip()))
        before = export_document(repo).content()
        done = import_package(repo, file.read_bytes(), path=str(file), by=_user(),
                              defaults=defaults)
        typer.echo(_import_note(file, done.imported.counts(),
                                document_changes(before, export_document(repo).content())))
        if done.version is not None:
            typer.echo(f"The package's parameters are in draft bank version {done.version}; "
                       f"publish it with: qabilet bank publish --bank-version {done.version}")
        if done.imported.draft is not None:
            typer.echo(_draft_note(done.imported.draft))
        for note in done.notes:
            typer.echo(f"Note: {note}.")


def _utc(value: datetime | None) -> datetime | None:
    """A time given without a zone is UTC."""
    from datetime import UTC

    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


@bank_app.command("list")
def list_(
    database: DatabaseOption = None,
    dimension: Annotated[str | None, typer.Option("--dimension", metavar="ID",
                                                  help="What the items measure (a dimension "
                                                       "id of the bank).")] = None,
    level: Annotated[str | None, typer.Option("--level", help="high, middle or low.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="draft, pretest, operational "
                                               "or retired.")] = None,
    language: Annotated[str, typer.Option("--language", help="kk, ru or en.")] = "en",
) -> None:
    """List the items: id, what they measure, format, levels, status and the stem."""
    with _user_errors():
        from qabilet.itembank.content import LANGUAGES, LEVELS, STATUSES

        repo = _repo(database)
        for option, value, allowed in (("--dimension", dimension, tuple(repo.dimensions())),
                                       ("--level", level, LEVELS), ("--status", status, STATUSES),
                                       ("--language", language, LANGUAGES)):
            if value is not None and value not in allowed:
                known = ", ".join(allowed) if allowed else "none (the bank is empty)"
                raise _fail(f"{option}: expected one of {known}; got {value!r}")
        items = repo.items(dimension=dimension, level=level, status=status)
        for item in items:
            shown = item.text_in(language)
            stem = shown.stem if len(shown.stem) <= 70 else shown.stem[:69] + "…"
            typer.echo(f"{item.id:<10} {item.dimension or 'forced choice':<21} {item.format:<7} "
                       f"{','.join(item.levels):<16} {item.status:<11} {stem}")
        typer.echo(_count(len(items), "item"))


@bank_app.command()
def show(
    item_id: Annotated[str, typer.Argument(metavar="ID")],
    database: DatabaseOption = None,
    version: Annotated[int | None, typer.Option("--bank-version", help="Show the texts this bank "
                                                "version shows, and its parameters.")] = None,
) -> None:
    """Show one item: every text, its metadata and its parameters in a bank version.

    Without ``--bank-version``: the bank's current texts (what drafts show) and the newest version's
    parameters.
    """
    with _user_errors():
        repo = _repo(database)
        item = repo.item(item_id, version=version)
        typer.echo(json.dumps(item.model_dump(mode="json", exclude_none=True), ensure_ascii=False,
                              indent=2))
        versions = [v for v in repo.versions() if version is None or v.number == version]
        for v in versions[-1:]:
            for rec in v.parameters.items:
                if rec.id == item_id:
                    reverse = ", reverse-keyed: negative slope" if rec.reverse_keyed else ""
                    typer.echo(f"parameters in bank version {v.number} ({v.status}{reverse}):")
                    typer.echo(json.dumps(rec.model_dump(mode="json", exclude_none=True),
                                          indent=2))


@bank_app.command()
def publish(
    database: DatabaseOption = None,
    version: Annotated[int | None, typer.Option("--bank-version", help="A draft bank version.")]
    = None,
    norm_set: Annotated[int | None, typer.Option("--norm-set", help="A draft norm set.")] = None,
) -> None:
    """Publish a draft bank version or norm set; published records never change."""
    with _user_errors():
        repo = _repo(database)
        if (version is None) == (norm_set is None):
            raise _fail("publish: give exactly one of --bank-version N and --norm-set N")
        if version is not None:
            v = repo.publish_version(version)
            typer.echo(f"Published bank version {v.number}.")
        else:
            n = repo.publish_norm_set(norm_set)  # type: ignore[arg-type]
            typer.echo(f"Published norm set {n.number} (bank version {n.bank_version}).")


@bank_app.command()
def versions(database: DatabaseOption = None) -> None:
    """List bank versions with their norm sets and blueprints."""
    with _user_errors():
        repo = _repo(database)
        blueprints = repo.blueprints()
        for v in repo.versions():
            demo = " (demonstration)" if v.provenance.demonstration else ""
            typer.echo(f"version {v.number}  {v.status:<9} {v.created_at:%Y-%m-%d}  "
                       f"{len(v.item_ids)} items  {v.label or ''}{demo}")
            typer.echo(f"    provenance: {v.provenance.method}")
            for r in v.provenance.revisions:
                of = "" if r.previous_version is None else f" of version {r.previous_version}"
                typer.echo(f"    new texts{of}: {len(r.changes)} changes, {r.at:%Y-%m-%d %H:%M} "
                           f"by {r.by or 'unknown'} from {r.source or 'unknown'}")
            for n in repo.norm_sets(v.number):
                levels = ", ".join(f"{lv.level} (n={lv.sample.size})" for lv in n.levels)
                typer.echo(f"    norm set {n.number}  {n.status:<9} {levels}")
            for b in blueprints:
                if b.bank_version == v.number:
                    typer.echo(f"    blueprint {b.level} #{b.number}: "
                               f"{', '.join(s.name for s in b.sections)}")


@bank_app.command()
def diff(
    v1: Annotated[int, typer.Argument(metavar="V1")],
    v2: Annotated[int, typer.Argument(metavar="V2")],
    database: DatabaseOption = None,
) -> None:
    """Compare two bank versions: parameters, latent distribution and the texts they show.

    Items added, removed and changed; stems and options per language, dimension names and
    scale labels that differ.
    """
    with _user_errors():
        repo = _repo(database)
        from qabilet.itembank.bank_diff import format_version_diff

        typer.echo(format_version_diff(repo.version(v1), repo.version(v2)), nl=False)


@app.command()
def demo(
    database: DatabaseOption = None,
    level: Annotated[str, typer.Option("--level", help="high, middle or low.")] = "middle",
    language: Annotated[str, typer.Option("--language", help="kk, ru or en.")] = "ru",
    persons: Annotated[int, typer.Option("--persons", min=1, help="Simulated candidates per "
                                         "section for the summary.")] = 500,
    seed: Annotated[int, typer.Option("--seed")] = 1,
    show: Annotated[int, typer.Option("--show", min=0, help="Items shown per section.")] = 2,
) -> None:
    """The demonstration bank at work: one adaptive session shown, then many simulated.

    Builds the demonstration bank first when the database is empty.
    """
    with _user_errors():
        from qabilet.demo_bank import build_demo_bank
        from qabilet.demo_session import format_session, run_session, simulate_sections
        from qabilet.itembank.content import LANGUAGES, LEVELS

        if level not in LEVELS or language not in LANGUAGES:
            raise _fail(f"--level: expected one of {', '.join(LEVELS)}; --language: one of "
                        f"{', '.join(LANGUAGES)}; got {level!r} and {language!r}")
        repo = _repo(database)
        if repo.is_empty():
            typer.echo("Building the demonstration bank (once; about 30 s) …", err=True)
            build_demo_bank(repo)
        results = run_session(repo, level, language, seed)
        summaries = simulate_sections(repo, level, persons, seed + 1)
        typer.echo(format_session(level, language, results, summaries, show_items=show), nl=False)
