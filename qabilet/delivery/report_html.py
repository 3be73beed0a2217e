"""The HTML report of a profile, and of a group: self-contained pages with SVG charts.

One function per page, each returning the whole document (inline CSS, inline SVG, no scripts,
no external files), so a report can be written to disk, mailed, served or printed; a print
stylesheet keeps each section on its page. Texts come from ``qabilet/delivery/texts/report.json`` (kk, ru,
en); names, recommendations, band words and validity messages come from the profile, which keeps
them in every language as they were issued (:meth:`qabilet.itembank.profiles.Profile.in_language`).

The chart of a section has one row per dimension on the percentile scale of the candidate's norm
group: the three bands shaded (development area, meets the level, strength — the edges are the
norm set's cut scores), the estimate as a dot and its interval as a line. The candidate's view
and the operator's differ only in the validity checks, which are the operator's.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Literal

from qabilet.itembank.content import Language
from qabilet.itembank.profiles import DimensionResult, Profile

__all__ = ["CONTENT_SECURITY_POLICY", "GroupRow", "group_rows", "render_group_html",
           "render_profile_html"]

_CSS = """
body { font-family: "Noto Sans", "DejaVu Sans", Arial, sans-serif; color: #1d2733; margin: 2rem auto;
       max-width: 60rem; padding: 0 1rem; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.25rem; margin-top: 2rem; }
.meta { color: #4a5866; font-size: .95rem; } .note { background: #f3f6f9; padding: .6rem .9rem;
  border-left: 4px solid #7a93ac; } .demo { border-left-color: #c98a1b; background: #fdf6e8; }
table.scores { border-collapse: collapse; width: 100%; font-size: .92rem; margin-top: .6rem; }
table.scores th, table.scores td { border-bottom: 1px solid #d9e0e7; padding: .35rem .4rem;
  text-align: left; vertical-align: top; }
.band-development { color: #8a4b00; } .band-meets { color: #2f5d8a; } .band-strength { color: #1e6b3a; }
.flags li { margin: .2rem 0; } svg text { font-family: inherit; }
.rec h3 { font-size: 1rem; margin: 1rem 0 .2rem; } .direction { font-style: italic; }
@media print { body { margin: 0; max-width: none; } section { break-inside: avoid; }
  section.page { break-after: page; } .noprint { display: none; } }
"""

#: the policy a served report needs: its one stylesheet (allowed by its digest), nothing else —
#: no script, no request, no form
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'sha256-"
    + base64.b64encode(hashlib.sha256(_CSS.encode("utf-8")).digest()).decode("ascii")
    + "'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'")

_ZONES = (("development", "#f6e3c8"), ("meets", "#dbe7f3"), ("strength", "#d7eedc"))


def _t(texts: dict[str, str], key: str, **values: object) -> str:
    return escape(texts[key].format(**values) if values else texts[key])


def _chart(rows: Sequence[DimensionResult], texts: dict[str, str], title: str) -> str:
    """An SVG chart: one row per dimension on the 0–100 percentile scale."""
    left, width, row_h, top = 230, 480, 34, 28
    height = top + row_h * len(rows) + 30
    x = lambda p: left + width * p / 100  # noqa: E731 - a local scale
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" '
             f'viewBox="0 0 {left + width + 20} {height}" width="100%" '
             f'aria-label="{escape(title)}">', f"<title>{escape(title)}</title>"]
    for p in (0, 25, 50, 75, 100):
        parts.append(f'<line x1="{x(p):.1f}" y1="{top - 6}" x2="{x(p):.1f}" '
                     f'y2="{height - 24}" stroke="#c5ced8" stroke-width="0.6"/>')
        parts.append(f'<text x="{x(p):.1f}" y="{height - 8}" font-size="11" '
                     f'text-anchor="middle" fill="#4a5866">{p}</text>')
    parts.append(f'<text x="{left}" y="14" font-size="11" fill="#4a5866">'
                 f'{_t(texts, "scale_lower")}</text>')
    parts.append(f'<text x="{left + width}" y="14" font-size="11" text-anchor="end" '
                 f'fill="#4a5866">{_t(texts, "scale_higher")}</text>')
    for k, r in enumerate(rows):
        y = top + k * row_h
        edges = (0.0, *r.band_edges, 100.0)
        for (band, colour), a, b in zip(_ZONES, edges[:-1], edges[1:], strict=True):
            parts.append(f'<rect class="zone zone-{band}" x="{x(a):.1f}" y="{y}" '
                         f'width="{x(b) - x(a):.1f}" height="{row_h - 10}" fill="{colour}"/>')
        mid = y + (row_h - 10) / 2
        lo, hi = r.percentile_interval
        parts.append(f'<text x="{left - 8}" y="{mid + 4:.1f}" font-size="12.5" '
                     f'text-anchor="end">{escape(r.name)}</text>')
        parts.append(f'<line class="interval" x1="{x(lo):.1f}" y1="{mid:.1f}" x2="{x(hi):.1f}" '
                     f'y2="{mid:.1f}" stroke="#1d2733" stroke-width="2"/>')
        parts.append(f'<circle class="estimate" cx="{x(r.percentile):.1f}" cy="{mid:.1f}" r="5.5" '
                     f'fill="#1d2733"><title>{escape(r.name)}: {r.percentile:.0f}</title></circle>')
    parts.append("</svg>")
    return "\n".join(parts)


def _band_text(r: DimensionResult, texts: dict[str, str]) -> str:
    if r.band is None:
        return f'<span class="band-withheld">{_t(texts, "band_withheld")}</span>'
    band = texts[f"band_{r.band}"]
    return (f'<span class="band-{r.band}">'
            f'{_t(texts, "likely_band", band=band, p=percent(r.band_probability))}</span>')


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


def _table(rows: Sequence[DimensionResult], texts: dict[str, str], level: float) -> str:
    head = "".join(f"<th>{h}</th>" for h in (
        "", _t(texts, "percentile"), escape(f"{texts['interval']}"), _t(texts, "sten"),
        _t(texts, "t_score"), _t(texts, "reliability"), _t(texts, "items_answered")))
    body = []
    for r in rows:
        lo, hi = r.percentile_interval
        body.append(
            f"<tr><td><strong>{escape(r.name)}</strong><br>{_band_text(r, texts)}</td>"
            f"<td>{r.percentile:.0f}</td><td>{lo:.0f}–{hi:.0f}</td>"
            f"<td>{r.sten} ({r.sten_interval[0]}–{r.sten_interval[1]})</td>"
            f"<td>{r.t_score:.0f} ({r.t_interval[0]:.0f}–{r.t_interval[1]:.0f})</td>"
            f"<td>{r.reliability:.2f}</td><td>{r.n_items}</td></tr>")
    return f'<table class="scores"><tr>{head}</tr>{"".join(body)}</table>'


def _advice(rows: Sequence[DimensionResult], texts: dict[str, str]) -> str:
    develop = [r for r in rows if r.band == "development" and r.recommendation]
    strong = [r for r in rows if r.band == "strength" and r.recommendation]
    out = []
    for key, chosen in (("recommendations_title", develop), ("strengths_title", strong)):
        if not chosen:
            continue
        out.append(f'<div class="rec"><h3>{_t(texts, key)}</h3>')
        for r in chosen:
            direction = (f'<p class="direction">{_t(texts, "direction")}: {escape(r.direction)}</p>'
                         if r.direction else "")
            out.append(f"<p><strong>{escape(r.name)}.</strong> {escape(r.recommendation or '')}"
                       f"</p>{direction}")
        out.append("</div>")
    return "".join(out)


def render_profile_html(profile: Profile, *, view: Literal["candidate", "operator"] = "candidate",
                        texts: dict[str, dict[str, str]] | None = None,
                        language: Language | None = None) -> str:
    """The report of an issued profile, in ``language`` or the profile's own.

    Parameters
    ----------
    view : {"candidate", "operator"}
        The operator's view adds the validity checks.
    texts : dict, optional
        Interface strings (default: :func:`qabilet.delivery.profiles.load_texts`).
    language : {"kk", "ru", "en"}, optional
        The report's language (default: the profile's, the language the candidate answered in
        last). The profile's words are the ones it was issued with in that language; a profile
        issued before they were kept is shown in its own language (see ``profile.languages``).
    """
    from qabilet.delivery.profiles import load_texts

    profile = profile.in_language(language or profile.language)
    tx = (texts or load_texts())[profile.language]
    issued = (profile.band_words or {}).get(profile.language)
    if issued is not None:  # the words the profile was issued with
        tx = {**tx, **{f"band_{band}": word for band, word in issued.model_dump().items()}}
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
        parts += [f'<section class="page" id="{key}"><h2>{escape(title)}</h2>',
                  _chart(rows, tx, title), _table(rows, tx, profile.interval_level),
                  _advice(rows, tx), "</section>"]
    note = _t(tx, "norms_note", label=n.label or n.norm_set, level=level_name, n=n.sample_size,
              start=n.collected_from, end=n.collected_to)
    parts.append(f'<p class="note">{note}</p>')
    if n.demonstration:
        parts.append(f'<p class="note demo">{_t(tx, "demonstration_note")}</p>')
    if view == "operator":
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


@dataclass(frozen=True, slots=True)
class GroupRow:
    """One dimension at one level in a group report: counts only, no individual result."""

    level: str
    dimension: str
    name: str
    count: int
    mean_percentile: float
    bands: dict[str, int]


def render_group_html(rows: Sequence[GroupRow], *, language: str, period: tuple[str, str],
                      title: str | None = None,
                      texts: dict[str, dict[str, str]] | None = None) -> str:
    """A group report: per level and dimension, the count, mean percentile and band counts."""
    from qabilet.delivery.profiles import load_texts

    tx = (texts or load_texts())[language]
    heading = escape(title or tx["group_title"])
    parts = [f'<!DOCTYPE html>\n<html lang="{language}"><head><meta charset="utf-8">'
             f"<title>{heading}</title><style>{_CSS}</style></head><body>",
             f"<h1>{heading}</h1><p class=\"note\">{_t(tx, 'group_note')}</p>",
             f"<p class=\"meta\">{_t(tx, 'group_period')}: {escape(period[0])} – "
             f"{escape(period[1])}</p>"]
    for level in ("high", "middle", "low"):
        mine = [r for r in rows if r.level == level]
        if not mine:
            continue
        cells = "".join(
            f"<tr><td>{escape(r.name)}</td><td>{r.count}</td><td>{r.mean_percentile:.0f}</td>"
            + "".join(f"<td>{r.bands.get(b, 0)}</td>" for b in ("development", "meets", "strength"))
            + "</tr>" for r in mine)
        head = "".join(f"<th>{h}</th>" for h in ("", _t(tx, "group_count"), _t(tx, "group_mean"),
                                                    _t(tx, "group_low"), _t(tx, "group_mid"),
                                                    _t(tx, "group_high")))
        parts.append(f"<section><h2>{_t(tx, f'level_{level}')}</h2><table class=\"scores\">"
                     f"<tr>{head}</tr>{cells}</table></section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def group_rows(profiles: Sequence[Profile], language: Language | None = None) -> list[GroupRow]:
    """Per level and dimension: how many profiles, their mean percentile, their band counts.

    The dimensions are named in ``language`` where the profiles kept their words in it (each
    profile's own language otherwise).
    """
    groups: dict[tuple[str, str], list[DimensionResult]] = {}
    for p in profiles:
        shown = p.in_language(language) if language else p
        for r in (*shown.professional, *shown.personal):
            groups.setdefault((p.level, r.dimension), []).append(r)
    out = []
    for (level, dim), rs in groups.items():
        bands = {b: sum(r.band == b for r in rs) for b in ("development", "meets", "strength")}
        out.append(GroupRow(level, dim, rs[0].name, len(rs),
                            sum(r.percentile for r in rs) / len(rs), bands))
    return out
