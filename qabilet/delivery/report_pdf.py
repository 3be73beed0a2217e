"""The report as PDF, without a browser: the HTML report laid out by WeasyPrint.

The PDF is the report's own page (:mod:`qabilet.delivery.report_html`) under its print stylesheet:
A4, each section on its page, the wide chart, the same words. WeasyPrint
(https://weasyprint.org) is a CSS layout engine in Python that draws text with Pango; it is
imported on first use, so a server that never prints does not load it.
"""

from __future__ import annotations

from typing import Literal

from qabilet.delivery.report_html import render_profile_html
from qabilet.engine.exceptions import QabiletError
from qabilet.itembank.content import Language
from qabilet.itembank.profiles import Profile

__all__ = ["PdfUnavailableError", "html_to_pdf", "render_profile_pdf"]


class PdfUnavailableError(QabiletError):
    """The machine cannot make PDFs: WeasyPrint or the Pango library it draws text with is missing."""


def html_to_pdf(html: str) -> bytes:
    """A self-contained HTML page (inline CSS and SVG, no external file) as a PDF document.

    Raises
    ------
    PdfUnavailableError
        WeasyPrint cannot be imported (it needs the system's Pango: Debian's ``libpango-1.0-0``
        and ``libpangoft2-1.0-0``).
    """
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:  # OSError: the Pango library is not on the machine
        raise PdfUnavailableError(
            f"PDF reports need WeasyPrint and the Pango library (Debian: apt-get install "
            f"libpango-1.0-0 libpangoft2-1.0-0): {exc}") from None
    document: bytes = HTML(string=html).write_pdf()
    return document


def render_profile_pdf(profile: Profile, *, view: Literal["candidate", "operator"] = "candidate",
                       language: Language | None = None) -> bytes:
    """The report of an issued profile as PDF: the same page as the HTML report, printed.

    Parameters are those of :func:`qabilet.delivery.report_html.render_profile_html`.
    """
    return html_to_pdf(render_profile_html(profile, view=view, language=language))
