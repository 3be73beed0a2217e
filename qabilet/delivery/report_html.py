"""The HTML report of a profile: a self-contained page with SVG charts (and the reports' stylesheet).

One function per page, each returning the whole document (inline CSS, inline SVG, no scripts,
no external files), so a report can be written to disk, mailed, served or printed; a print
stylesheet keeps each section on its page. Texts come from ``qabilet/delivery/texts/report.json`` (kk, ru,
en); names, recommendations, band words and validity messages come from the profile, which keeps
them in every language as they were issued (:meth:`qabilet.itembank.profiles.Profile.in_language`).

The chart of a section has one row per dimension on the percentile scale of the candidate's norm
group: the three bands shaded (their edges are the norm set's cut scores, their names follow how
the cuts were set), the estimate as a dot and its interval as a line. It is drawn twice, wide and
narrow (names above the bars), and the stylesheet shows the one that fits: on a phone the text
stays at its size and the tables stack their cells. The candidate's copy reads the results in
plain words; the operator's has the technical columns, how the cuts were set and the validity
checks. :func:`qabilet.delivery.report_pdf.render_profile_pdf` prints the same page to PDF.

The group report (:mod:`qabilet.delivery.report_group`) shares the stylesheet: the pages' one
Content-Security-Policy admits exactly it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Literal

from qabilet.itembank.content import BANDS, Language
from qabilet.itembank.profiles import DimensionResult, NormReference, Profile

__all__ = ["CONTENT_SECURITY_POLICY", "profile_texts", "render_profile_html"]

_CSS = """
body { font-family: "Noto Sans", "DejaVu Sans", Arial, sans-serif; color: #1d2733; margin: 2rem auto;
       max-width: 60rem; padding: 0 1rem; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.25rem; margin-top: 2rem; }
.meta { color: #4a5866; font-size: .95rem; } .note { background: #f3f6f9; padding: .6rem .9rem;
  border-left: 4px solid #7a93ac; } .demo { border-left-color: #c98a1b; background: #fdf6e8; }
table.scores { border-collapse: collapse; width: 100%; font-size: .92rem; margin-top: .6rem; }
table.scores th, table.scores td { border-bottom: 1px solid #d9e0e7; padding: .35rem .4rem;
  text-align: left; vertical-align: top; }
table.scores td:first-child { width: 30%; }
.band-development { color: #8a4b00; } .band-meets { color: #2f5d8a; } .band-strength { color: #1e6b3a; }
.band-withheld { color: #4a5866; } .probability { color: #4a5866; font-size: .88rem; }
.flags li { margin: .2rem 0; } svg text { font-family: inherit; }
.rec h3 { font-size: 1rem; margin: 1rem 0 .2rem; } .direction { font-style: italic; }
.rec .reason { color: #4a5866; } .rec .pair { margin-left: 1rem; }
svg.chart-narrow { display: none; }
figure.chart { margin: 1rem 0 1.6rem; overflow-x: auto; } figure.chart svg { display: block; min-width: 34rem; }
figure.chart figcaption, .suppressed { color: #4a5866; font-size: .9rem; } td.suppressed { font-style: italic; }
@media (max-width: 40rem) {
  body { margin: 1rem auto; padding: 0 .75rem; } h1 { font-size: 1.35rem; }
  svg.chart-wide { display: none; } svg.chart-narrow { display: block; }
  table.scores, table.scores tbody, table.scores tr, table.scores td { display: block; width: auto; }
  table.scores tr.head { display: none; }
  table.scores tr { border-bottom: 1px solid #d9e0e7; padding: .4rem 0; }
  table.scores td, table.scores td:first-child { border: none; padding: .1rem 0; width: auto; }
  table.scores td[data-label]::before { content: attr(data-label) ": "; color: #4a5866; }
}
@media print { body { margin: 0; max-width: none; font-size: 10.5pt; }
  section.page { break-after: page; } .noprint { display: none; }
  tr, .advice, svg.chart, figure.chart, h2, h3 { break-inside: avoid; } h2, h3 { break-after: avoid; }
  table.operator { font-size: 8.5pt; }
  svg.chart-wide { display: block; } svg.chart-narrow { display: none; } }
@page { size: A4; margin: 16mm 14mm; }
"""

#: the policy a served report needs: its one stylesheet (allowed by its digest), nothing else —
#: no script, no request, no form
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'sha256-"
    + base64.b64encode(hashlib.sha256(_CSS.encode("utf-8")).digest()).decode("ascii")
    + "'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'")

_ZONES = (("development", "#f6e3c8"), ("meets", "#dbe7f3"), ("strength", "#d7eedc"))


def _t(texts: Mapping[str, str], key: str, **values: object) -> str:
    return escape(texts[key].format(**values) if values else texts[key])


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where a chart draws: the plot's left edge and width, a row's height, where a name sits.

    ``wide`` puts the names left of the bars (a page or a printout); ``narrow`` puts each name
    above its bar, so that at a phone's 390 px the text is drawn at about its nominal size.
    """

    name: str
    left: float
    width: float
    row_h: float
    bar_h: float
    label_above: bool
    font: float


_WIDE = _Layout("wide", left=230, width=480, row_h=34, bar_h=24, label_above=False, font=12.5)
_NARROW = _Layout("narrow", left=8, width=344, row_h=46, bar_h=18, label_above=True, font=14)


def _chart(rows: Sequence[DimensionResult], texts: Mapping[str, str], title: str,
           layout: _Layout = _WIDE) -> str:
    """An SVG chart: one row per dimension on the 0–100 percentile scale."""
    left, width, row_h, top = layout.left, layout.width, layout.row_h, 28
    height = top + row_h * len(rows) + 30
    x = lambda p: left + width * p / 100  # noqa: E731 - a local scale
    small = layout.font - 1.5
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart chart-{layout.name}" '
             f'viewBox="0 0 {left + width + 12:g} {height}" width="100%" '
             f'aria-label="{escape(title)}">', f"<title>{escape(title)}</title>"]
    for p in (0, 25, 50, 75, 100):
        parts.append(f'<line x1="{x(p):.1f}" y1="{top - 6}" x2="{x(p):.1f}" '
                     f'y2="{height - 24}" stroke="#c5ced8" stroke-width="0.6"/>')
        parts.append(f'<text x="{x(p):.1f}" y="{height - 8}" font-size="{small:g}" '
                     f'text-anchor="middle" fill="#4a5866">{p}</text>')
    parts.append(f'<text x="{left}" y="14" font-size="{small:g}" fill="#4a5866">'
                 f'{_t(texts, "scale_lower")}</text>')
    parts.append(f'<text x="{left + width}" y="14" font-size="{small:g}" text-anchor="end" '
                 f'fill="#4a5866">{_t(texts, "scale_higher")}</text>')
    estimate = "estimate" if layout is _WIDE else f"estimate estimate-{layout.name}"
    for k, r in enumerate(rows):
        y = top + k * row_h + (row_h - layout.bar_h - 6 if layout.label_above else 0)
        edges = (0.0, *r.band_edges, 100.0)
        for (band, colour), a, b in zip(_ZONES, edges[:-1], edges[1:], strict=True):
            parts.append(f'<rect class="zone zone-{band}" x="{x(a):.1f}" y="{y}" '
                         f'width="{x(b) - x(a):.1f}" height="{layout.bar_h}" fill="{colour}"/>')
        mid = y + layout.bar_h / 2
        lo, hi = r.percentile_interval
        label = ((left, y - 5, "start") if layout.label_above
                 else (left - 8, mid + 4, "end"))
        parts.append(f'<text x="{label[0]:g}" y="{label[1]:.1f}" font-size="{layout.font:g}" '
                     f'text-anchor="{label[2]}">{escape(r.name)}</text>')
        parts.append(f'<line class="interval" x1="{x(lo):.1f}" y1="{mid:.1f}" x2="{x(hi):.1f}" '
                     f'y2="{mid:.1f}" stroke="#1d2733" stroke-width="2"/>')
        parts.append(f'<circle class="{estimate}" cx="{x(r.percentile):.1f}" cy="{mid:.1f}" '
                     f'r="5.5" fill="#1d2733"><title>{escape(r.name)}: {r.percentile:.0f}</title>'
                     f"</circle>")
    parts.append("</svg>")
    return "\n".join(parts)


def percent(p: float) -> str:
    """A probability as a whole percentage, never a certainty: "> 99" above 0.99, "< 1" below 0.01.

    Examples
    --------
    >>> percent(0.9996), percent(0.874), percent(0.004)
    ('> 99', '87', '< 1')
    """
    if p > 0.99:
        return "> 99"
    if p < 0.01:
        return "< 1"
    return str(round(100 * p))


def _band_cell(r: DimensionResult, texts: Mapping[str, str]) -> str:
    """The band stated and how likely it is, or that none is stated."""
    if r.band is None:
        return f'<span class="band-withheld">{_t(texts, "band_withheld")}</span>'
    return (f'<span class="band-{r.band}">{_t(texts, f"band_{r.band}")}</span> '
            f'<span class="probability">({_t(texts, "band_probability", p=percent(r.band_probability))})'
            f"</span>")


def _row(cells: Sequence[tuple[str, str]]) -> str:
    """A table row whose cells carry their column's name (shown before them on a phone)."""
    return "<tr>" + "".join(f'<td data-label="{label}">{cell}</td>' if label else f"<td>{cell}</td>"
                            for label, cell in cells) + "</tr>"


def _head(labels: Sequence[str]) -> str:
    return '<tr class="head">' + "".join(f"<th>{h}</th>" for h in labels) + "</tr>"


def _candidate_table(rows: Sequence[DimensionResult], texts: Mapping[str, str], level: float
                     ) -> str:
    """The candidate's reading: the band, the percentile in words and where the result lies."""
    labels = ("", _t(texts, "band"), _t(texts, "your_result"), _t(texts, "where_it_lies"))
    body = [_row([("", f"<strong>{escape(r.name)}</strong>"), (labels[1], _band_cell(r, texts)),
                  (labels[2], _t(texts, "plain_percentile", p=f"{r.percentile:.0f}")),
                  (labels[3], _t(texts, "plain_interval", lo=f"{r.percentile_interval[0]:.0f}",
                                 hi=f"{r.percentile_interval[1]:.0f}",
                                 level=f"{100 * level:g}"))])
            for r in rows]
    return f'<table class="scores candidate">{_head(labels)}{"".join(body)}</table>'


def _operator_table(rows: Sequence[DimensionResult], texts: Mapping[str, str]) -> str:
    """The operator's columns: every number of the result, the band's probabilities too."""
    labels = ("", f'{_t(texts, "percentile")} ({_t(texts, "interval")})', _t(texts, "theta_sd"),
              _t(texts, "sten"), _t(texts, "t_score"), _t(texts, "reliability"),
              _t(texts, "band_probabilities"), _t(texts, "items_answered"))
    body = []
    for r in rows:
        lo, hi = r.percentile_interval
        p = " · ".join(percent(r.band_probabilities.get(b, 0.0)) for b in BANDS)
        body.append(_row([
            ("", f"<strong>{escape(r.name)}</strong><br>{_band_cell(r, texts)}"),
            (labels[1], f"{r.percentile:.0f} ({lo:.0f}–{hi:.0f})"),
            (labels[2], f"{r.theta:.2f} ({r.sd:.2f})"),
            (labels[3], f"{r.sten} ({r.sten_interval[0]}–{r.sten_interval[1]})"),
            (labels[4], f"{r.t_score:.0f} ({r.t_interval[0]:.0f}–{r.t_interval[1]:.0f})"),
            (labels[5], f"{r.reliability:.2f}"), (labels[6], p),
            (labels[7], str(r.n_items) if r.measured_by == "items"
             else f"{r.n_items} ({_t(texts, 'in_blocks')})")]))
    return f'<table class="scores operator">{_head(labels)}{"".join(body)}</table>'


def _guidance(recommendation: str | None, direction: str | None, texts: Mapping[str, str]) -> str:
    if not recommendation:
        return ""
    way = (f'<p class="direction">{_t(texts, "direction")}: {escape(direction)}</p>'
           if direction else "")
    return f"<p>{escape(recommendation)}</p>{way}"


def _advice(rows: Sequence[DimensionResult], texts: Mapping[str, str]) -> str:
    """Development directions for every band stated.

    For a band withheld: the reason, and the guidance of both neighbouring bands.
    """
    out = []
    for key, chosen in (("advice_development", [r for r in rows if r.band == "development"]),
                        ("advice_withheld", [r for r in rows if r.band is None]),
                        ("advice_meets", [r for r in rows if r.band == "meets"]),
                        ("advice_strength", [r for r in rows if r.band == "strength"])):
        shown = []
        for r in chosen:
            if r.band is not None:
                if r.recommendation:
                    shown.append(f'<div class="advice" data-band="{r.band}"><p><strong>'
                                 f"{escape(r.name)}.</strong></p>"
                                 f"{_guidance(r.recommendation, r.direction, texts)}</div>")
                continue
            lower, upper = r.neighbours or ("development", "meets")
            reason = _t(texts, f"withheld_{r.withheld or 'uncertain'}",
                        lower=texts[f"band_{lower}"], upper=texts[f"band_{upper}"])
            pairs = "".join(f'<div class="pair" data-band="{a.band}"><p><span class="band-{a.band}">'
                            f'{_t(texts, f"band_{a.band}")}</span></p>'
                            f"{_guidance(a.recommendation, a.direction, texts)}</div>"
                            for a in r.alternatives)
            shown.append(f'<div class="advice" data-withheld="{r.withheld}"><p><strong>'
                         f'{escape(r.name)}.</strong> <span class="reason">{reason}</span></p>'
                         f"{pairs}</div>")
        if shown:
            out.append(f'<div class="rec"><h3>{_t(texts, key)}</h3>{"".join(shown)}</div>')
    return "".join(out)


def _cuts_note(n: NormReference, texts: Mapping[str, str]) -> str:
    """How the cut scores were set (the operator's copy): percentiles, or the expert panel."""
    if n.method == "percentile" and n.percentiles:
        return _t(texts, "cuts_percentile", low=f"{n.percentiles[0]:g}", high=f"{n.percentiles[1]:g}")
    if n.method == "expert" and n.panel is not None:
        out = _t(texts, "cuts_expert", procedure=n.panel.procedure, n=n.panel.panel_size,
                 date=f"{n.panel.held_on:%Y-%m-%d}")
        if n.panel.cut_se:
            values = "; ".join(f"{dim} {a:.2f} / {b:.2f}" for dim, (a, b) in n.panel.cut_se.items())
            out += " " + _t(texts, "cut_se", values=values)
        return out
    return escape(n.cut_method)


def profile_texts(profile: Profile, texts: Mapping[str, Mapping[str, str]] | None = None
                  ) -> dict[str, str]:
    """The interface strings of ``profile``'s language with the words it was issued with.

    The bands' names and the reasons a band is withheld are the record's (frozen when issued,
    and following the norm set's cut method); the explanation of how to read the chart follows
    the method too.
    """
    from qabilet.delivery.profiles import load_texts

    tx = dict((texts or load_texts())[profile.language])
    issued = (profile.band_words or {}).get(profile.language)
    if issued is not None:
        tx.update({f"band_{key}" if key in (*BANDS, "withheld") else key: word
                   for key, word in issued.model_dump().items() if word is not None})
    method = profile.norms.method
    tx["how_to_read"] = tx[f"how_to_read_{method}"] if method else tx["how_to_read"]
    return tx


def render_profile_html(profile: Profile, *, view: Literal["candidate", "operator"] = "candidate",
                        texts: dict[str, dict[str, str]] | None = None,
                        language: Language | None = None) -> str:
    """The report of an issued profile, in ``language`` or the profile's own.

    Parameters
    ----------
    view : {"candidate", "operator"}
        The candidate's copy reads each result in plain words (the band, "higher than about p of
        100 people at this level", "your result most likely lies between …"); the operator's
        copy has the technical columns instead (θ and its posterior SD, percentile and interval,
        sten, T-score, reliability, the bands' probabilities, items answered), how the cuts were
        set, and the validity checks.
    texts : dict, optional
        Interface strings (default: :func:`qabilet.delivery.profiles.load_texts`).
    language : {"kk", "ru", "en"}, optional
        The report's language (default: the profile's, the language the candidate answered in
        last). The profile's words are the ones it was issued with in that language; a profile
        issued before they were kept is shown in its own language (see ``profile.languages``).
    """
    profile = profile.in_language(language or profile.language)
    tx = profile_texts(profile, texts)
    n = profile.norms
    level_name = tx[f"level_{profile.level}"]
    tested = profile.tested_at or profile.issued_at
    head = (f'<!DOCTYPE html>\n<html lang="{profile.language}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_t(tx, 'report_title')}</title><style>{_CSS}</style></head><body>")
    parts = [head, f"<header><h1>{_t(tx, 'report_title')}</h1>",
             f'<p class="meta">{_t(tx, "operator_view" if view == "operator" else "candidate_view")}'
             f" · {_t(tx, 'candidate')}: {escape(profile.candidate_id)} · "
             f"{_t(tx, 'position_level')}: {escape(level_name)} · {_t(tx, 'test_date')}: "
             f"{tested:%Y-%m-%d} · {_t(tx, 'issued')}: {profile.issued_at:%Y-%m-%d}</p></header>",
             f'<p class="note">{_t(tx, "no_right_wrong")}</p>',
             f"<p>{_t(tx, 'how_to_read')}</p>"]
    for key, rows in (("section_professional", profile.professional),
                      ("section_personal", profile.personal)):
        if not rows:
            continue
        title = tx[key]
        table = (_operator_table(rows, tx) if view == "operator"
                 else _candidate_table(rows, tx, profile.interval_level))
        parts += [f'<section class="page" id="{key}"><h2>{escape(title)}</h2>',
                  _chart(rows, tx, title), _chart(rows, tx, title, _NARROW), table,
                  _advice(rows, tx), "</section>"]
    note = _t(tx, "norms_note", label=n.label or n.norm_set, level=level_name, n=n.sample_size,
              start=n.collected_from, end=n.collected_to)
    parts.append(f'<p class="note">{note}</p>')
    if n.demonstration:
        parts.append(f'<p class="note demo">{_t(tx, "demonstration_note")}</p>')
    if view == "operator":
        parts.append(f'<p class="meta" id="cuts">{_cuts_note(n, tx)}</p>'
                     f'<p class="meta" id="technical">'
                     f'{_t(tx, "technical_note", level=f"{100 * profile.interval_level:g}")}</p>')
        flags = "".join(f'<li data-flag="{f.code}">{escape(f.message)}</li>'
                        for f in profile.validity) or f"<li>{_t(tx, 'flag_none')}</li>"
        parts.append(f'<section id="validity"><h2>{_t(tx, "validity_title")}</h2>'
                     f'<ul class="flags">{flags}</ul></section>')
    if profile.replaces:
        when = f"{profile.replaces_issued_at:%Y-%m-%d}" if profile.replaces_issued_at else "—"
        parts.append(f'<p class="meta">{_t(tx, "replaces", id=profile.replaces, date=when)}</p>')
    provenance = _t(tx, "provenance", bank=profile.bank_version, norms=profile.norm_set,
                    software=profile.software_version)
    parts.append(f'<footer class="meta"><p>{provenance} · {escape(profile.id)}</p></footer>'
                 f"</body></html>\n")
    return "\n".join(parts)
