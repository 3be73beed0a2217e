"""Profiles and their reports for a file of answers, without a server (``qabilet report``).

:func:`qabilet.itembank.response_file.read_answer_sheets` reads the file; :func:`build_profiles`
scores each sheet into a profile against a bank version and a norm set; :func:`write_reports`
writes each profile's HTML report and JSON document, and optionally the group report.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from qabilet.delivery.profiles import Answer, build_profile
from qabilet.delivery.report_html import render_profile_html
from qabilet.delivery.version_scales import VersionScales
from qabilet.itembank._files import write_bytes_atomic, write_text_atomic
from qabilet.itembank.content import Language
from qabilet.itembank.profiles import Profile
from qabilet.itembank.repository import BankRepository
from qabilet.itembank.response_file import AnswerSheet
from qabilet.itembank.versions import BankVersion, NormSet

__all__ = ["build_profiles", "report_name", "write_reports"]


def build_profiles(repo: BankRepository, sheets: Sequence[AnswerSheet], *, version: BankVersion,
                   norm_set: NormSet, software_version: str) -> list[Profile]:
    """One unissued profile per answer sheet, scored with ``version`` against ``norm_set``.

    Parameters
    ----------
    repo : BankRepository
        Where the items' texts, the dimensions and the recommendations come from.
    sheets : sequence of AnswerSheet
    version : BankVersion
    norm_set : NormSet
        A norm set of ``version``.
    software_version : str
        Recorded in each profile.

    Raises
    ------
    InvalidParameterError
        A norm set of another bank version.
    """
    from qabilet.engine.exceptions import InvalidParameterError

    if norm_set.bank_version != version.number:
        raise InvalidParameterError(f"norm set {norm_set.number} is for bank version "
                                    f"{norm_set.bank_version}, not {version.number}")
    items = {i.id: i for i in repo.items(version=version.number)}  # as the version holds them
    dimensions, recommendations = repo.dimensions(), repo.recommendations()
    scales = VersionScales(version)  # cut once for every sheet
    return [build_profile(version=version, norm_set=norm_set, items=items, dimensions=dimensions,
                          recommendations=recommendations, level=s.level, language=s.language,
                          answers=[Answer(i, code, s.seconds.get(i), s.language)
                                   for i, code in s.codes.items()],
                          candidate_id=s.person_id, software_version=software_version,
                          scales=scales)
            for s in sheets]


def report_name(person_id: str) -> str:
    """The file name stem of a person's report: the id, with characters unsafe in names as ``_``.

    Examples
    --------
    >>> report_name("KZ/001 a")
    'KZ_001_a'
    """
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in person_id)


def write_reports(out: Path, profiles: Sequence[Profile], *,
                  view: Literal["candidate", "operator"] = "operator",
                  group_language: Language | None = None, group_min_count: int = 10,
                  language: Language | None = None, pdf: bool = False) -> list[Path]:
    """Write ``<person>.html`` and ``<person>.json`` per profile, and ``group.html`` if asked.

    Parameters
    ----------
    out : Path
        The folder (made if missing).
    profiles : sequence of Profile
    view : {"candidate", "operator"}
        Whose copy: the operator's adds the validity checks and the whole record.
    group_language : {"kk", "ru", "en"}, optional
        Also write ``group.html`` in this language, when there is a profile: the group report
        (:func:`qabilet.delivery.report_group.group_report`, no individual result).
    group_min_count : int
        Its smallest group and row shown (at least 5).
    language : {"kk", "ru", "en"}, optional
        The language of every ``<person>.html`` (default: each profile's own); the JSON is the
        record, with its words in every language.
    pdf : bool
        Also write ``<person>.pdf``, the same report printed
        (:func:`qabilet.delivery.report_pdf.render_profile_pdf`).

    Returns
    -------
    list of Path
        The files written, in order.
    """
    if group_language is not None:
        from qabilet.delivery.report_group import check_min_count, group_report

        check_min_count(group_min_count, name="group_min_count")  # before any file is written
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for p in profiles:
        name = report_name(p.candidate_id)
        document = p.model_dump(mode="json") if view == "operator" else p.candidate_view()
        for path, text in ((out / f"{name}.html", render_profile_html(p, view=view,
                                                                       language=language)),
                           (out / f"{name}.json",
                            json.dumps(document, ensure_ascii=False, indent=1) + "\n")):
            write_text_atomic(path, text)
            written.append(path)
        if pdf:
            from qabilet.delivery.report_pdf import render_profile_pdf

            path = out / f"{name}.pdf"
            write_bytes_atomic(path, render_profile_pdf(p, view=view, language=language))
            written.append(path)
    if group_language is not None and profiles:
        path = out / "group.html"
        write_text_atomic(path, group_report(profiles, language=group_language,
                                             min_count=group_min_count))
        written.append(path)
    return written
