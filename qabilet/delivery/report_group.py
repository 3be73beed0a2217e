"""The group report: a group's results against its norms, with no individual's result in it.

The rules, in the order they are applied:

1. **One profile per session**, the latest issued: a profile that another one replaces
   (``replaces``) is left out, and of a session's profiles only the latest counts
   (:func:`latest_per_session`). A profile without a session (scored from a file) is its own.
2. **Filters**: the position level, the language the candidate answered in (the profile's
   ``language``), and the period, by the date of testing (``tested_at``; ``issued_at`` when
   absent), so that a session re-scored later stays in the period it was taken in.
3. **Groups**: one per level × bank version × norm set (:class:`GroupCell`). A bank version is a
   scale and a norm set a comparison group: results on different ones never share a table or
   a chart.
4. **Per dimension**: the count, the median percentile and its quartiles, the share of each
   band and of "not stated" with its Wilson interval
   (:func:`qabilet.engine.profile.band_shares`), how many of the sessions have a validity flag
   on it or on the whole profile, and a chart of each dimension's percentiles as a box over the
   norm's bands, and one of the bands' shares (:mod:`qabilet.plot`, inline SVG).
5. **Small cells**: a group, or a dimension's row, with fewer than ``min_count`` candidates
   (10 by default, never fewer than :data:`MIN_COUNT_FLOOR`) is left out with a note: neither
   its figures nor its count are written, so that no one's result can be read off the page.
6. **One language**: every word is in the report's language — the interface from
   ``texts/report.json``, the dimensions' names and the bands' words from the profiles' words
   in that language as issued (else the bank's names given as ``names``, else the id).

This module imports matplotlib (through :mod:`qabilet.plot`); the server imports it when a group
report is first asked for.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape

import numpy as np

from qabilet.delivery.profiles import load_texts
from qabilet.delivery.report_html import _CSS, _ZONES, _head, _row, _t
from qabilet.engine.exceptions import InvalidParameterError
from qabilet.engine.profile import BandShares, band_shares
from qabilet.itembank._runtime import as_utc
from qabilet.itembank.content import BANDS, LEVELS, Language, Level
from qabilet.itembank.profiles import DimensionResult, Profile
from qabilet.plot import group_bands, group_distributions, to_svg
from qabilet.plot.group import summary_percentiles

__all__ = ["DEFAULT_MIN_COUNT", "MIN_COUNT_FLOOR", "DimensionSummary", "GroupCell", "check_min_count",
           "group_cells", "group_report", "latest_per_session", "render_group_html",
           "select_profiles", "when_tested"]

#: the smallest group shown by default
DEFAULT_MIN_COUNT = 10
#: no setting, option or request may show a smaller group
MIN_COUNT_FLOOR = 5
#: the columns of the bands: the three bands, then "not stated"
_KINDS = (*BANDS, "withheld")


@dataclass(frozen=True, slots=True)
class DimensionSummary:
    """One dimension of a group: its figures, or only its name when it has too few candidates.

    Attributes
    ----------
    dimension : str
    name : str
        In the report's language.
    shown : bool
        False when fewer than the minimum of candidates have a result on it: every figure
        below is then None (and ``results`` empty).
    count : int, optional
        Candidates with a result on it.
    median, quartiles : float, (float, float), optional
        Of their percentiles (numpy's linear interpolation).
    bands : BandShares, optional
        The bands' counts, shares and Wilson intervals (development, meets, strength, not stated).
    flagged : int, optional
        Sessions with a validity flag on this dimension or on the whole profile.
    results : tuple of DimensionResult
        The results, for the charts.
    """

    dimension: str
    name: str
    shown: bool
    count: int | None = None
    median: float | None = None
    quartiles: tuple[float, float] | None = None
    bands: BandShares | None = None
    flagged: int | None = None
    results: tuple[DimensionResult, ...] = ()


@dataclass(frozen=True, slots=True)
class GroupCell:
    """A level × bank version × norm set group.

    Attributes
    ----------
    level : str
    bank_version, norm_set : int
    norm_label : str, optional
    demonstration : bool
        The norm set is the demonstration's (simulated).
    shown : bool
        False when the group has fewer than the minimum of candidates: it is then named only
        (``count``, ``flagged`` None, no dimension).
    count : int, optional
        Candidates (sessions).
    flagged : int, optional
        Sessions with any validity flag.
    band_words : dict of str
        The bands' names and the words for "not stated", in the report's language.
    dimensions : tuple of DimensionSummary
    test_centre : str, optional
        The test centre, when the report is broken down by centre (``centres``).
    """

    level: Level
    bank_version: int
    norm_set: int
    norm_label: str | None
    demonstration: bool
    shown: bool
    count: int | None
    flagged: int | None
    band_words: dict[str, str]
    dimensions: tuple[DimensionSummary, ...]
    test_centre: str | None = None


def check_min_count(min_count: int, floor: int = MIN_COUNT_FLOOR, name: str = "min_count") -> int:
    """``min_count`` when it is an integer at least ``floor``.

    Raises
    ------
    InvalidParameterError
        Naming ``name``.
    """
    if isinstance(min_count, bool) or not isinstance(min_count, int | np.integer) \
            or min_count < floor:
        raise InvalidParameterError(f"{name}: expected an integer of at least {floor} (smaller "
                                    f"groups could show one person's result); got {min_count!r}")
    return int(min_count)


def when_tested(profile: Profile) -> datetime:
    """When the profile's session took place (its issue when that is not recorded), in UTC."""
    return as_utc(profile.tested_at or profile.issued_at)


def latest_per_session(profiles: Iterable[Profile]) -> list[Profile]:
    """One profile per session: the latest issued, never one that another profile replaces.

    A profile without a session counts on its own (unless replaced). Returned oldest first.
    """
    everything = list(profiles)
    replaced = {p.replaces for p in everything if p.replaces}
    latest: dict[tuple[bool, str], Profile] = {}
    for p in everything:
        if p.id in replaced:
            continue
        key = (True, p.session_id) if p.session_id else (False, p.id)
        held = latest.get(key)
        if held is None or (as_utc(p.issued_at), p.id) > (as_utc(held.issued_at), held.id):
            latest[key] = p
    return sorted(latest.values(), key=lambda p: (as_utc(p.issued_at), p.id))


def select_profiles(profiles: Iterable[Profile], *, level: str | None = None,
                    candidate_language: str | None = None, since: datetime | None = None,
                    until: datetime | None = None) -> list[Profile]:
    """The latest profile of each session, chosen by the filters (None: no filter).

    At ``level``, answered in ``candidate_language`` (the profile's language), tested in
    ``[since, until)`` (:func:`when_tested`; a naive time is UTC).
    """
    start, end = as_utc(since), as_utc(until)
    return [p for p in latest_per_session(profiles)
            if (level is None or p.level == level)
            and (candidate_language is None or p.language == candidate_language)
            and (start is None or when_tested(p) >= start) and (end is None or when_tested(p) < end)]


def _band_words(profiles: Sequence[Profile], language: Language,
                texts: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The bands' words in ``language`` as the group's profiles were issued with them.

    Else the words of the norm set's cut method (all the group's profiles share it).
    """
    for p in profiles:
        words = (p.band_words or {}).get(language)
        if words is not None:
            return {"development": words.development, "meets": words.meets,
                    "strength": words.strength, "withheld": words.withheld}
    tx, method = texts[language], profiles[0].norms.method
    return {**{b: tx[f"band_{b}_{method}" if method else f"band_{b}"] for b in BANDS},
            "withheld": tx["band_withheld"]}


def _summary(dimension: str, results: Sequence[DimensionResult], flags: Sequence[set[str | None]],
             name: str, min_count: int) -> DimensionSummary:
    """A dimension's figures over ``results``; ``flags`` are each one's profile's flagged dimensions."""
    if len(results) < min_count:
        return DimensionSummary(dimension, name, shown=False)
    q = summary_percentiles(results)  # the numbers the chart's box is drawn at
    flagged = sum(None in f or dimension in f for f in flags)
    return DimensionSummary(dimension, name, shown=True, count=len(results), median=q["med"],
                            quartiles=(q["q1"], q["q3"]),
                            bands=band_shares([r.band or "" for r in results]), flagged=flagged,
                            results=tuple(results))


def _cell(key: tuple[Level, int, int, str | None], profiles: Sequence[Profile], *,
          language: Language, min_count: int, names: Mapping[str, str],
          texts: Mapping[str, Mapping[str, str]]) -> GroupCell:
    level, version, norm_set, centre = key
    first = profiles[0].norms
    words = _band_words(profiles, language, texts)
    if len(profiles) < min_count:
        return GroupCell(level, version, norm_set, first.label, first.demonstration, shown=False,
                         count=None, flagged=None, band_words=words, dimensions=(),
                         test_centre=centre)
    found: dict[str, list[tuple[DimensionResult, set[str | None]]]] = {}
    for p in profiles:
        flagged = {f.dimension for f in p.validity}
        for r in (*p.professional, *p.personal):
            found.setdefault(r.dimension, []).append((r, flagged))
    summaries = []
    for dim, pairs in found.items():
        results = [r for r, _ in pairs]
        name = next((r.texts[language].name for r in results
                     if r.texts is not None and language in r.texts), names.get(dim, dim))
        summaries.append(_summary(dim, results, [f for _, f in pairs], name, min_count))
    return GroupCell(level, version, norm_set, first.label, first.demonstration, shown=True,
                     count=len(profiles), flagged=sum(bool(p.validity) for p in profiles),
                     band_words=words, dimensions=tuple(summaries), test_centre=centre)


def group_cells(profiles: Sequence[Profile], *, language: Language,
                min_count: int = DEFAULT_MIN_COUNT,
                names: Mapping[int, Mapping[str, str]] | None = None,
                texts: Mapping[str, Mapping[str, str]] | None = None,
                centres: Mapping[str, str] | None = None) -> list[GroupCell]:
    """The groups of ``profiles`` by level × bank version × norm set (× test centre), summarised.

    Parameters
    ----------
    profiles : sequence of Profile
        One per session (:func:`select_profiles`): this function counts each one given.
    language : {"kk", "ru", "en"}
        Of the dimensions' names and the bands' words.
    min_count : int
        Groups and dimensions with fewer candidates are not summarised (at least
        :data:`MIN_COUNT_FLOOR`).
    names : mapping, optional
        Bank version → dimension → name in ``language``: for profiles issued before their words
        were kept.
    texts : mapping, optional
        Interface strings (default: :func:`qabilet.delivery.profiles.load_texts`).
    centres : mapping, optional
        Session id → the test centre it was held at: the groups are broken down by centre too
        (a session at none forms the centre-less group).

    Returns
    -------
    list of GroupCell
        By level (high, middle, low), then bank version, norm set and centre.
    """
    check_min_count(min_count)
    tx = texts or load_texts()
    groups: dict[tuple[Level, int, int, str | None], list[Profile]] = {}
    for p in profiles:
        centre = None if centres is None else centres.get(p.session_id or "")
        groups.setdefault((p.level, p.bank_version, p.norm_set, centre), []).append(p)
    order = sorted(groups, key=lambda k: (LEVELS.index(k[0]), k[1], k[2], k[3] or ""))
    return [_cell(k, groups[k], language=language, min_count=min_count,
                  names=(names or {}).get(k[1], {}), texts=tx) for k in order]


def _share(s: BandShares, k: int) -> str:
    return f"{100 * s.share[k]:.0f} ({100 * s.low[k]:.0f}–{100 * s.high[k]:.0f})"


def _table(cell: GroupCell, tx: Mapping[str, str], min_count: int) -> str:
    labels = ("", _t(tx, "group_count"), _t(tx, "group_median"),
              *(escape(cell.band_words[k]) for k in _KINDS), _t(tx, "group_flagged"))
    body = []
    for d in cell.dimensions:
        name = ("", f"<strong>{escape(d.name)}</strong>")
        if not d.shown or d.bands is None or d.quartiles is None:
            body.append(f'<tr class="suppressed" data-dimension="{escape(d.dimension)}"><td>'
                        f'{name[1]}</td><td colspan="{len(labels) - 1}" class="suppressed">'
                        f'{_t(tx, "group_suppressed_row", min=min_count)}</td></tr>')
            continue
        shares = d.bands
        body.append(_row([name, (labels[1], str(d.count)),
                          (labels[2], f"{d.median:.0f} ({d.quartiles[0]:.0f}–{d.quartiles[1]:.0f})"),
                          *((labels[3 + k], _share(shares, k)) for k in range(len(_KINDS))),
                          (labels[-1], str(d.flagged))]))
    return f'<table class="scores group">{_head(labels)}{"".join(body)}</table>'


def _charts(cell: GroupCell, tx: Mapping[str, str]) -> str:
    shown = {d.name: d.results for d in cell.dimensions if d.shown}
    if not shown:
        return ""
    words = cell.band_words
    distribution = group_distributions(shown, colours=dict(_ZONES), labels={
        "axis": tx["group_axis_percentile"], "norm_median": tx["group_norm_median"],
        **{b: words[b] for b in BANDS}})
    shares = group_bands(shown, labels={"axis": tx["group_axis_share"],
                                        **{k: words[k] for k in _KINDS}})
    parts = []
    for key, fig, kind in (("group_chart_distribution", distribution, "distribution"),
                           ("group_chart_bands", shares, "bands")):
        caption = tx[key]
        parts.append(f'<figure class="chart" data-chart="{kind}">'
                     f'{to_svg(fig, title=caption, css_class=f"figure figure-{kind}")}'
                     f"<figcaption>{escape(caption)}</figcaption></figure>")
    return "".join(parts)


def _section(cell: GroupCell, tx: Mapping[str, str], min_count: int) -> str:
    label = f" ({escape(cell.norm_label)})" if cell.norm_label else ""
    centre = ("" if cell.test_centre is None else
              f" · {_t(tx, 'group_test_centre', centre=cell.test_centre)}")
    centre_attribute = ("" if cell.test_centre is None else
                        f' data-test-centre="{escape(cell.test_centre)}"')
    head = (f'<section class="group" data-level="{cell.level}" '
            f'data-bank-version="{cell.bank_version}" data-norm-set="{cell.norm_set}"'
            f'{centre_attribute}><h2>{_t(tx, f"level_{cell.level}")}</h2><p class="meta">'
            f'{_t(tx, "group_cell", bank=cell.bank_version, norms=cell.norm_set)}{label}'
            f"{centre}</p>")
    if not cell.shown:
        return (f'{head}<p class="note suppressed">'
                f'{_t(tx, "group_suppressed_cell", min=min_count)}</p></section>')
    demo = (f'<p class="note demo">{_t(tx, "demonstration_note")}</p>' if cell.demonstration
            else "")
    return (f'{head}<p class="meta">{_t(tx, "group_candidates", n=cell.count)} · '
            f'{_t(tx, "group_flagged_sessions", n=cell.flagged)}</p>{demo}'
            f"{_table(cell, tx, min_count)}"
            f'<p class="meta">{_t(tx, "group_shares_note")}</p>{_charts(cell, tx)}</section>')


def render_group_html(cells: Sequence[GroupCell], *, language: Language, period: tuple[str, str],
                      min_count: int = DEFAULT_MIN_COUNT, filters: Mapping[str, str] | None = None,
                      title: str | None = None,
                      texts: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """The group report of ``cells`` (:func:`group_cells`): a self-contained HTML page.

    Parameters
    ----------
    period : (str, str)
        The first and last day, as shown.
    min_count : int
        The minimum the cells were made with (the notes say it).
    filters : mapping, optional
        ``level`` and ``candidate_language`` when the report was restricted to them.
    """
    tx = (texts or load_texts())[language]
    heading = escape(title or tx["group_title"])
    chosen = filters or {}
    meta = [f"{_t(tx, 'group_period')}: {escape(period[0])} – {escape(period[1])}"]
    if chosen.get("level"):
        meta.append(f"{_t(tx, 'position_level')}: {_t(tx, 'level_' + chosen['level'])}")
    if chosen.get("candidate_language"):
        meta.append(_t(tx, "group_candidate_language",
                       language=tx[f"language_{chosen['candidate_language']}"]))
    parts = [f'<!DOCTYPE html>\n<html lang="{language}"><head><meta charset="utf-8">'
             f'<meta name="viewport" content="width=device-width, initial-scale=1">'
             f"<title>{heading}</title><style>{_CSS}</style></head><body>",
             f"<h1>{heading}</h1>", f'<p class="note">{_t(tx, "group_note", min=min_count)}</p>',
             f'<p class="meta">{" · ".join(meta)}</p>']
    parts += [_section(c, tx, min_count) for c in cells] or [
        f'<p class="note">{_t(tx, "group_none")}</p>']
    parts.append("</body></html>\n")
    return "\n".join(parts)


def group_report(profiles: Iterable[Profile], *, language: Language,
                 min_count: int = DEFAULT_MIN_COUNT, level: str | None = None,
                 candidate_language: str | None = None, since: datetime | None = None,
                 until: datetime | None = None,
                 names: Mapping[int, Mapping[str, str]] | None = None, title: str | None = None,
                 texts: Mapping[str, Mapping[str, str]] | None = None,
                 centres: Mapping[str, str] | None = None,
                 only_centres: Collection[str] | None = None) -> str:
    """The group report of issued profiles, by the module's rules: the whole page.

    Parameters
    ----------
    profiles : iterable of Profile
        Every profile issued (superseded ones too: they are recognised and left out).
    language : {"kk", "ru", "en"}
        The report's.
    min_count : int
        The smallest group and row shown (at least :data:`MIN_COUNT_FLOOR`).
    level, candidate_language, since, until : optional
        Filters (:func:`select_profiles`); the period shown is ``since`` – ``until`` (the day
        before ``until``), or the first and last test dates of the profiles chosen.
    names : mapping, optional
        As :func:`group_cells`.
    centres : mapping, optional
        Session id → its test centre: the groups broken down by centre (:func:`group_cells`).
    only_centres : collection of str, optional
        Only the sessions held at these centres (with ``centres``).

    Raises
    ------
    InvalidParameterError
        ``min_count`` below the floor, or ``until`` not after ``since``.
    """
    check_min_count(min_count)
    start, end = as_utc(since), as_utc(until)
    if start is not None and end is not None and end <= start:
        raise InvalidParameterError(f"until: expected a time after since ({start.isoformat()}); "
                                    f"got {end.isoformat()}")
    chosen = select_profiles(profiles, level=level, candidate_language=candidate_language,
                             since=start, until=end)
    if only_centres is not None:
        held = centres or {}
        chosen = [p for p in chosen if held.get(p.session_id or "") in only_centres]
    dates = sorted(when_tested(p) for p in chosen)
    first = start if start is not None else (dates[0] if dates else None)
    last = dates[-1] if dates else None
    if end is not None:  # exclusive: the period's last day is the one before it
        last = end - timedelta(microseconds=1) if end > datetime.min.replace(tzinfo=UTC) else end
    period = (first.date().isoformat() if first else "—", last.date().isoformat() if last else "—")
    cells = group_cells(chosen, language=language, min_count=min_count, names=names, texts=texts,
                        centres=centres)
    return render_group_html(cells, language=language, period=period, min_count=min_count,
                             filters={"level": level or "",
                                      "candidate_language": candidate_language or ""},
                             title=title, texts=texts)
