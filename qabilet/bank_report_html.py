"""The technical report of a bank version as one self-contained HTML page, in one language.

:func:`render_bank_report` writes what :func:`qabilet.bank_report.bank_report` gathered: the
data, each scale per level (test information, conditional SE, marginal and empirical
reliability, person misfit), each dimension's items (classical statistics, category use,
parameters with SEs, item fit per language, exposure per level, drift), their characteristic
and information curves, the profiles' validity flags, the calibrations' flags (misfit, kk/ru
DIF, drift), the items tried out, the norm sets, and how each figure is computed. The charts
are :mod:`qabilet.plot`'s, inline SVG with their titles in the report's language; the page
loads nothing (no script, no font, no image file) and prints on A4.

Every word is in the report's language: the interface from ``texts/bank_report.json`` and the
levels' and languages' names from the profile report's texts (``texts/report.json``), the
dimensions' names as the version shows them in that language. Numbers carry ``data-*``
attributes naming the item or scale and the statistic, so that a reader (or a test) can find
them.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qabilet.delivery.report_html import _head, _t
from qabilet.itembank.content import LANGUAGES, LEVELS, Language

if TYPE_CHECKING:
    from qabilet.bank_report import BankReport, ItemRow, ScaleReport
    from qabilet.itembank.versions import NormSet

__all__ = ["CONTENT_SECURITY_POLICY", "load_bank_report_texts", "render_bank_report"]

_TEXTS = Path(__file__).parent / "delivery" / "texts"
_EXTRA_CSS = """
body { max-width: 78rem; }
table.items { font-size: .8rem; } table.items td, table.items th { white-space: nowrap; }
table.items td.wrap { white-space: normal; min-width: 9rem; }
.flagged { color: #8a1c1c; font-weight: 600; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(22rem, 1fr)); gap: .5rem 1.5rem; }
.charts figure.chart svg { min-width: 0; }
dl.methods dt { font-weight: 600; margin-top: .6rem; } dl.methods dd { margin-left: 1rem; }
.scroll { overflow-x: auto; }
"""


def _stylesheet() -> str:
    from qabilet.delivery.report_html import _CSS

    return _CSS + _EXTRA_CSS


#: the policy the served page needs: its one stylesheet (allowed by its digest), nothing else
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'sha256-"
    + base64.b64encode(hashlib.sha256(_stylesheet().encode("utf-8")).digest()).decode("ascii")
    + "'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'")


def load_bank_report_texts() -> dict[str, dict[str, str]]:
    """Language → key → text: ``texts/bank_report.json`` with the levels' and languages' names."""
    own = json.loads((_TEXTS / "bank_report.json").read_text("utf-8"))
    profile = json.loads((_TEXTS / "report.json").read_text("utf-8"))
    names = ("level_high", "level_middle", "level_low", "language_kk", "language_ru", "language_en")
    return {lang: {**{k: profile[lang][k] for k in names}, **own[lang]} for lang in LANGUAGES}


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or not np.isfinite(value):
        return "—"
    return f"{value:.{digits}f}"


def _cell(value: str, **data: str) -> str:
    attrs = "".join(f' data-{k}="{escape(v)}"' for k, v in data.items())
    return f"<td{attrs}>{value}</td>"


def _table(head: Sequence[str], rows: Sequence[str], css: str = "scores") -> str:
    return (f'<div class="scroll"><table class="{css}">{_head(head)}{"".join(rows)}</table>'
            f"</div>")


def _name(scale: ScaleReport, language: Language) -> str:
    return scale.names.get(language) or scale.dimension


def _figure(fig: Any, title: str, *, xlabel: str | None = None, ylabel: str | None = None,
            legend: bool = True) -> str:
    """The figure, retitled in the report's language, as a captioned inline SVG."""
    from qabilet.plot import to_svg

    ax = fig.axes[0]
    ax.set_title("")  # the caption says it, in the page's font and width
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    if not legend and ax.get_legend() is not None:
        ax.get_legend().remove()
    return (f'<figure class="chart">{to_svg(fig, title=title, css_class="chart")}'
            f"<figcaption>{escape(title)}</figcaption></figure>")


def _level_charts(scale: ScaleReport, tx: Mapping[str, str], language: Language) -> str:
    """Test information and conditional SE of the pool at each level."""
    from matplotlib.figure import Figure

    from qabilet.bank_report import GRID
    from qabilet.plot import conditional_se, information

    name = _name(scale, language)
    charts = []
    for kind, draw in (("information", information), ("cse", conditional_se)):
        fig = Figure(figsize=(6.0, 3.6), layout="constrained")
        ax = fig.add_subplot()
        for level in scale.levels:
            draw(scale.bank, list(level.item_ids), theta=GRID, ax=ax)
            ax.lines[-1].set_label(tx[f"level_{level.level}"])
        ax.set_autoscaley_on(True)  # each draw fixed the top at its own curve's
        ax.relim()
        ax.autoscale_view()
        ax.set_ylim(bottom=0)
        ax.legend(fontsize="small")
        charts.append(_figure(fig, _t(tx, f"chart_{kind}", scale=name), xlabel="θ",
                              ylabel=tx[f"axis_{kind}"]))
    return "".join(charts)


def _item_charts(scale: ScaleReport, tx: Mapping[str, str], language: Language) -> str:
    """Every item's expected-score curve and information curve, and the exposure by level."""
    from qabilet.bank_report import GRID
    from qabilet.plot import exposure, information, item_curves

    name = _name(scale, language)
    charts = (_figure(item_curves(scale.bank, theta=GRID), _t(tx, "chart_icc", scale=name),
                      xlabel="θ", ylabel=tx["axis_expected"], legend=False)
              + _figure(information(scale.bank, per_item=True, theta=GRID),
                        _t(tx, "chart_item_information", scale=name), xlabel="θ",
                        ylabel=tx["axis_information"], legend=False))
    rates = {tx[f"level_{lv.level}"]: [it.exposure[lv.level] for it in scale.items
                                      if lv.level in it.exposure and it.item_id in lv.item_ids]
             for lv in scale.levels if lv.n_sessions}
    if not rates:
        return charts
    targets = {lv.exposure_target for lv in scale.levels if lv.n_sessions}
    fig = exposure(rates, target=targets.pop() if len(targets) == 1 else None)
    ax = fig.axes[0]
    if ax.get_legend() is not None:
        for line in ax.lines:
            if line.get_label() == "target":
                line.set_label(tx["exposure_target"])
        ax.legend(fontsize="small")
    return charts + _figure(fig, _t(tx, "chart_exposure", scale=name),
                            xlabel=tx["axis_exposure_items"], ylabel=tx["axis_exposure"])


def _with_se(value: Any, se: Any) -> str:
    """``1.234 (0.056)``, element-wise for a list; a fixed value without its brackets."""
    if isinstance(value, list):
        errors = se if isinstance(se, list) else [None] * len(value)
        return "; ".join(_with_se(v, e) for v, e in zip(value, errors, strict=True))
    text = _num(value)
    return f"{text} ({_num(se)})" if se is not None else text


def _parameters(item: ItemRow) -> str:
    return "<br>".join(f"{escape(k)} = {_with_se(v, item.se.get(k))}"
                       for k, v in item.parameters.items())


def _flag_words(kind: str, tx: Mapping[str, str]) -> str:
    base, _, language = kind.partition(":")
    if language:
        return _t(tx, "flag_misfit_in", language=tx.get(f"language_{language}", language))
    return _t(tx, f"flag_{base}")


def _item_table(scale: ScaleReport, tx: Mapping[str, str], languages: Sequence[str],
                levels: Sequence[str]) -> str:
    head = [_t(tx, "item"), _t(tx, "model"), _t(tx, "answers"), _t(tx, "mean"), "p",
            _t(tx, "item_theta_r"), _t(tx, "category_use"), _t(tx, "parameters"),
            _t(tx, "locations"),
            *(_t(tx, "rmsd_in", language=tx[f"language_{lang}"]) for lang in languages),
            *(_t(tx, "exposure_at", level=tx[f"level_{lv}"]) for lv in levels),
            _t(tx, "drift"), _t(tx, "flags")]
    rows = []
    for it in scale.items:
        use = " · ".join(f"{100 * u:.0f}" for u in it.category_use) if it.n else "—"
        drift = ("—" if it.drift is None else
                 f"Δa {it.drift.delta_a:+.3f}"
                 + (f", z {it.drift.z_a:+.2f}" if it.drift.z_a is not None else "")
                 + f", RMSD {it.drift.rmsd:.3f}")
        flags = ", ".join(_flag_words(f.kind, tx) for f in it.flags)
        rmsd = [_cell(_num(it.rmsd.get(lang)), item=it.item_id, stat=f"rmsd-{lang}")
                for lang in languages]
        rows.append(
            "<tr>" + _cell(escape(it.item_id)) + _cell(escape(it.model))
            + _cell(str(it.n), item=it.item_id, stat="n")
            + _cell(_num(it.mean), item=it.item_id, stat="mean")
            + _cell(_num(it.p_value), item=it.item_id, stat="p")
            + _cell(_num(it.item_theta_r), item=it.item_id, stat="r")
            + _cell(use) + f'<td class="wrap">{_parameters(it)}</td>'
            + _cell("; ".join(_num(b, 2) for b in it.locations) or "—")
            + "".join(rmsd)
            + "".join(_cell(_num(it.exposure.get(lv), 2), item=it.item_id, stat=f"exposure-{lv}")
                      for lv in levels)
            + _cell(drift) + f'<td class="{"flagged" if flags else ""}">{flags or "—"}</td>'
            + "</tr>")
    return _table(head, rows, "scores items")


def _scale_table(report: BankReport, tx: Mapping[str, str], language: Language) -> str:
    head = [_t(tx, "scale"), _t(tx, "level"), _t(tx, "pool_items"), _t(tx, "marginal_rxx"),
            _t(tx, "sessions"), _t(tx, "empirical_rxx"), _t(tx, "mean_sd"), _t(tx, "misfit_rate")]
    rows = []
    for s in report.scales:
        for lv in s.levels:
            key = {"scale": s.dimension, "level": lv.level}
            rows.append("<tr>" + _cell(escape(_name(s, language))) + _cell(_t(tx, f"level_{lv.level}"))
                        + _cell(str(len(lv.item_ids)), **key, stat="pool")
                        + _cell(_num(lv.marginal_reliability), **key, stat="marginal")
                        + _cell(str(lv.n_sessions), **key, stat="sessions")
                        + _cell(_num(lv.empirical_reliability), **key, stat="empirical")
                        + _cell(_num(lv.mean_sd), **key, stat="mean-sd")
                        + _cell("—" if lv.misfit_rate is None else f"{100 * lv.misfit_rate:.1f} %",
                                **key, stat="misfit") + "</tr>")
    return _table(head, rows)


def _data_section(report: BankReport, tx: Mapping[str, str]) -> str:
    languages = sorted({lang for _, lang in report.sessions}, key=_language_order)
    head = [_t(tx, "level"), *(tx[f"language_{lang}"] for lang in languages), _t(tx, "total")]
    rows = []
    for level in LEVELS:
        counts = [report.sessions.get((level, lang), 0) for lang in languages]
        if sum(counts):
            rows.append("<tr>" + _cell(_t(tx, f"level_{level}"))
                        + "".join(_cell(str(c), level=level, language=lang, stat="sessions")
                                  for c, lang in zip(counts, languages, strict=True))
                        + _cell(str(sum(counts))) + "</tr>")
    period = ("—" if report.period is None else
              f"{report.period[0].date().isoformat()} – {report.period[1].date().isoformat()}")
    facts = _t(tx, "data_facts", sessions=report.n_sessions, answers=report.n_answers,
               pretest=report.n_pretest_answers, period=period)
    return (f'<h2 id="data">{_t(tx, "data")}</h2><p data-stat="data">{facts}</p>'
            + (_table(head, rows) if rows else f'<p class="note">{_t(tx, "no_data")}</p>'))


def _validity_section(report: BankReport, tx: Mapping[str, str]) -> str:
    from qabilet.bank_report import VALIDITY_CODES

    if not report.validity:
        return f'<h2 id="validity">{_t(tx, "validity")}</h2><p class="note">{_t(tx, "no_profiles")}</p>'
    head = [_t(tx, "level"), _t(tx, "profiles"), *(_t(tx, f"validity_{c}") for c in VALIDITY_CODES)]
    rows = []
    for level, (n, counts) in report.validity.items():
        rows.append("<tr>" + _cell(_t(tx, f"level_{level}")) + _cell(str(n))
                    + "".join(_cell(f"{counts[c]} ({100 * counts[c] / n:.1f} %)", level=level,
                                    stat=f"validity-{c}") for c in VALIDITY_CODES) + "</tr>")
    return (f'<h2 id="validity">{_t(tx, "validity")}</h2><p>{_t(tx, "validity_note")}</p>'
            + _table(head, rows))


def _detail(detail: Mapping[str, object]) -> str:
    parts = []
    for k, v in detail.items():
        shown = _num(v) if isinstance(v, float) else escape(str(v))
        parts.append(f"{escape(k)} = {shown}")
    return "; ".join(parts)


def _flags_section(report: BankReport, tx: Mapping[str, str]) -> str:
    title = f'<h2 id="flags">{_t(tx, "flags_title")}</h2><p>{_t(tx, "flags_note")}</p>'
    if not report.flags:
        return title + f'<p class="note">{_t(tx, "no_flags")}</p>'
    head = [_t(tx, "item"), _t(tx, "flag"), _t(tx, "statistics"), _t(tx, "by"), _t(tx, "when")]
    rows = ["<tr>" + _cell(escape(f.item_id)) + _cell(_flag_words(f.kind, tx), item=f.item_id,
                                                      stat=f"flag-{f.kind}")
            + f'<td class="wrap">{_detail(f.detail)}</td>' + _cell(escape(f.by))
            + _cell(f.at.date().isoformat()) + "</tr>" for f in report.flags]
    return title + _table(head, rows)


def _pretest_section(report: BankReport, tx: Mapping[str, str], names: Mapping[str, str]) -> str:
    if not report.pretest:
        return ""
    languages = sorted({lang for p in report.pretest for lang in p.answers}, key=_language_order)
    head = [_t(tx, "item"), _t(tx, "scale"), *(tx[f"language_{lang}"] for lang in languages)]
    rows = ["<tr>" + _cell(escape(p.item_id)) + _cell(escape(names.get(p.dimension, p.dimension)))
            + "".join(_cell(str(p.answers.get(lang, 0)), item=p.item_id, stat=f"pretest-{lang}")
                      for lang in languages) + "</tr>" for p in report.pretest]
    return (f'<h2 id="pretest">{_t(tx, "pretest")}</h2><p>{_t(tx, "pretest_note")}</p>'
            + _table(head, rows))


def _norms_section(norm_sets: Sequence[NormSet], tx: Mapping[str, str],
                   names: Mapping[str, str]) -> str:
    parts = [f'<h2 id="norms">{_t(tx, "norm_sets")}</h2>']
    if not norm_sets:
        return parts[0] + f'<p class="note">{_t(tx, "no_norm_sets")}</p>'
    for ns in norm_sets:
        status = _t(tx, f"status_{ns.status}") + (f" · {_t(tx, 'demonstration')}"
                                                  if ns.demonstration else "")
        parts.append(f"<h3>{_t(tx, 'norm_set', number=ns.number)}"
                     f"{' — ' + escape(ns.label) if ns.label else ''} ({status})</h3>")
        head = [_t(tx, "level"), _t(tx, "scale"), _t(tx, "norm_sample"), _t(tx, "norm_mean"),
                _t(tx, "norm_sd"), _t(tx, "norm_cuts"), _t(tx, "cut_method")]
        rows = []
        for lv in ns.levels:
            sample = (f"{lv.sample.size} ({lv.sample.collected_from.isoformat()} – "
                      f"{lv.sample.collected_to.isoformat()})")
            for dim, norm in lv.dimensions.items():
                rows.append("<tr>" + _cell(_t(tx, f"level_{lv.level}"))
                            + _cell(escape(names.get(dim, dim))) + _cell(sample)
                            + _cell(_num(norm.mean), norm_set=str(ns.number), level=lv.level,
                                    scale=dim, stat="norm-mean")
                            + _cell(_num(norm.sd)) + _cell("; ".join(_num(c) for c in norm.cuts))
                            + _cell(_t(tx, f"cut_{lv.cut_method.method}")) + "</tr>")
        parts.append(_table(head, rows))
    return "".join(parts)


def _language_order(language: str) -> int:
    return LANGUAGES.index(language) if language in LANGUAGES else len(LANGUAGES)


def _methods(tx: Mapping[str, str]) -> str:
    keys = ("m_classical", "m_parameters", "m_information", "m_marginal", "m_empirical",
            "m_rmsd", "m_exposure", "m_drift", "m_dif", "m_person_fit")
    items = "".join(f"<dt>{_t(tx, k + '_title')}</dt><dd>{_t(tx, k)}</dd>" for k in keys)
    return f'<h2 id="methods">{_t(tx, "methods")}</h2><dl class="methods">{items}</dl>'


def render_bank_report(report: BankReport, *, language: Language = "en",
                       generated_at: datetime | None = None,
                       texts: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """The technical report as one self-contained HTML page.

    Parameters
    ----------
    report : BankReport
    language : {"kk", "ru", "en"}
        Every word of the page is in it.
    generated_at : datetime, optional
        Shown (default: now).
    texts : mapping, optional
        In place of :func:`load_bank_report_texts`.
    """
    from qabilet import __version__

    tx = (texts or load_bank_report_texts())[language]
    v = report.version
    names = {s.dimension: _name(s, language) for s in report.scales}
    heading = _t(tx, "title", number=v.number)
    made = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    meta = [_t(tx, f"status_{v.status}"),
            _t(tx, "created", date=v.created_at.date().isoformat()),
            *([_t(tx, "published", date=v.published_at.date().isoformat())] if v.published_at else []),
            _t(tx, "previous", number=report.previous) if report.previous else _t(tx, "no_previous"),
            _t(tx, "generated", when=made, software=__version__)]
    languages = sorted({lang for _, lang in report.sessions}, key=_language_order)
    levels = [lv for lv in LEVELS if any(lv == k for k, _ in report.sessions)]
    contents = "".join(f'<li><a href="#{a}">{_t(tx, k)}</a></li>' for a, k in (
        ("data", "data"), ("scales", "scales"), ("validity", "validity"), ("flags", "flags_title"),
        ("norms", "norm_sets"), ("methods", "methods")))
    parts = [f'<!DOCTYPE html>\n<html lang="{language}"><head><meta charset="utf-8">'
             f'<meta name="viewport" content="width=device-width, initial-scale=1">'
             f"<title>{heading}</title><style>{_stylesheet()}</style></head><body>",
             f"<h1>{heading}</h1>",
             f'<p class="meta">{escape(v.label) + " · " if v.label else ""}{" · ".join(meta)}</p>',
             f'<p class="meta">{_t(tx, "provenance")}: {escape(v.provenance.method)}</p>',
             *([f'<p class="note demo">{_t(tx, "demonstration_note")}</p>']
               if v.provenance.demonstration else []),
             f"<nav><ol>{contents}</ol></nav>",
             _data_section(report, tx),
             f'<h2 id="scales">{_t(tx, "scales")}</h2><p>{_t(tx, "scales_note")}</p>',
             _scale_table(report, tx, language)]
    for s in report.scales:
        parts.append(f'<section class="scale" data-scale="{escape(s.dimension)}">'
                     f"<h3>{escape(_name(s, language))}</h3>"
                     f'<div class="charts">{_level_charts(s, tx, language)}'
                     f"{_item_charts(s, tx, language)}</div>"
                     f"{_item_table(s, tx, languages, levels)}</section>")
    parts += [_validity_section(report, tx), _flags_section(report, tx),
              _pretest_section(report, tx, names), _norms_section(report.norm_sets, tx, names),
              _methods(tx), "</body></html>\n"]
    return "\n".join(parts)
