"""The technical report of a bank version: its items and scales as its live sessions used them.

:func:`bank_report` gathers, for one bank version and the answers recorded for it, what a
psychometrician hands to an agency (:mod:`qabilet.bank_report_html` writes the page):

* **the data**: sessions and answers by level and language, the period;
* **per item** (each dimension's operational items): answers, the classical mean score and
  p-value (mean over the maximum), each category's share (category use), the correlation of
  the item score with the session's EAP estimate on the dimension (adaptive tests give each
  person a few items chosen by their θ, so a rest score is not comparable between persons;
  the estimate is), the parameters with their standard errors as the version holds them, the
  locations :math:`b_k = -d_k / a` of graded and 2PL items, RMSD item fit per language
  (:func:`qabilet.calibration.rmsd`, posterior-weighted, the sparse data as they are), the
  exposure rate per level (sessions of the level that were given the item over the level's
  sessions), and the drift against the previous published version;
* **per scale and level** (the items of the dimension the level's candidates can be given):
  the pool's test information and conditional SE on :data:`GRID`, its marginal reliability,
  the exposure cap of the level's blueprint,
  and from the sessions the empirical reliability of their EAP estimates and the mean
  posterior SD (:mod:`qabilet.calibration.reliability`), and the share of the level's profiles
  flagged for person misfit on the dimension;
* **the profiles' validity flags** per level (person fit, straight-lining, acquiescence, speed,
  too few answers), each profile counted once (the latest of a session);
* **the calibrations' flags** stored with the version (misfit per language, kk/ru DIF,
  anchor drift; :meth:`~qabilet.itembank.repository.BankRepository.flags`), and the pretest
  items with their answers per language;
* **the norm sets** of the version.

*Drift against the previous version* (the newest published version numbered below this one
that holds the item): the slope's change with :math:`z = \\Delta a /
\\sqrt{\\mathrm{SE}_0^2 + \\mathrm{SE}_1^2}` where both SEs are known, and the weighted RMSD
between the two expected-score curves per score point over the version's latent density,
:math:`\\sqrt{\\sum_q w_q (E_1(\\theta_q) - E_0(\\theta_q))^2} / (K - 1)`
(:func:`qabilet.calibration.curve_rmsd`, the measure linking's and the pretest calibration's
drift checks use; above 0.05 matters).

Everything is computed per dimension on whole arrays: the answers as one sessions × items
matrix, EAP scores of every session at once, the statistics by column sums.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from qabilet.itembank.content import LEVELS

if TYPE_CHECKING:
    from qabilet.engine.bank import ItemBank
    from qabilet.itembank.profiles import Profile
    from qabilet.itembank.repository import BankRepository
    from qabilet.itembank.review import ItemFlag
    from qabilet.itembank.versions import BankVersion, NormSet

__all__ = ["GRID", "BankReport", "ItemDrift", "ItemRow", "LevelScale", "PretestRow", "ScaleReport",
           "bank_report", "exposure_targets"]

Array = NDArray[np.float64]

#: the θ grid of the curves, information and conditional SE
GRID = np.linspace(-4.0, 4.0, 81)
#: the validity checks a profile can carry, in the report's order
VALIDITY_CODES = ("misfit", "straightlining", "acquiescence", "fast", "few")
#: RMSD above which an item misfits (PISA 2015), as the pretest calibration flags
RMSD_THRESHOLD = 0.12
#: weighted RMSD of the expected-score curves per point above which a drift matters
DRIFT_THRESHOLD = 0.05


@dataclass(frozen=True, slots=True)
class ItemDrift:
    """An item's change from the previous published version.

    Attributes
    ----------
    previous : int
        That version's number.
    delta_a : float
        The slope's change (this version's minus the previous one's).
    z_a : float, optional
        ``delta_a`` over the root sum of the two SEs squared; None when a SE is unknown.
    rmsd : float
        Weighted RMSD of the two expected-score curves per score point.
    """

    previous: int
    delta_a: float
    z_a: float | None
    rmsd: float


@dataclass(frozen=True, slots=True)
class ItemRow:
    """One operational item of the version (see the module notes).

    Attributes
    ----------
    item_id, dimension, model : str
    levels : tuple of str
        The levels whose candidates can be given it.
    n : int
        Sessions that answered it.
    mean, p_value : float
        Mean item score (categories 0 … K−1) and that mean over K − 1; NaN without answers.
    item_theta_r : float
        Correlation of the item score with the sessions' EAP estimates on the dimension.
    category_use : tuple of float
        Share of the answers in each category.
    parameters, se : dict
        Parameter name → value(s) on the item's dimension as the version stores them, and their
        standard errors (None where not estimated).
    locations : tuple of float
        :math:`-d_k / a` for graded and 2PL items; empty for other models.
    rmsd : dict
        Language → RMSD item fit (languages with answers to the item).
    exposure : dict
        Level → share of the level's sessions given the item.
    drift : ItemDrift, optional
    flags : tuple of ItemFlag
        The calibrations' flags on the item stored with this version.
    """

    item_id: str
    dimension: str
    model: str
    levels: tuple[str, ...]
    n: int
    mean: float
    p_value: float
    item_theta_r: float
    category_use: tuple[float, ...]
    parameters: dict[str, Any]
    se: dict[str, Any]
    locations: tuple[float, ...]
    rmsd: dict[str, float]
    exposure: dict[str, float]
    drift: ItemDrift | None
    flags: tuple[ItemFlag, ...]


@dataclass(frozen=True, slots=True)
class LevelScale:
    """A dimension at one level: the pool the level draws on, and how its sessions measured.

    Attributes
    ----------
    level : str
    item_ids : tuple of str
        The dimension's operational items the level's candidates can be given.
    information : ndarray, shape (len(GRID),)
        Their test information on :data:`GRID`.
    marginal_reliability : float
        Of the whole pool (an upper bound for an adaptive test drawing on it).
    n_sessions : int
        The level's sessions with an answer on the dimension.
    empirical_reliability, mean_sd : float
        Of those sessions' EAP estimates (NaN under two sessions).
    misfit_rate : float, optional
        Share of the level's profiles flagged for person misfit on the dimension (None without
        profiles).
    n_profiles : int
    exposure_target : float, optional
        The rate the level's blueprint for the version caps the dimension's items at
        (Sympson–Hetter ``sh:RATE``); None without such a control.
    """

    level: str
    item_ids: tuple[str, ...]
    information: Array
    marginal_reliability: float
    n_sessions: int
    empirical_reliability: float
    mean_sd: float
    misfit_rate: float | None
    n_profiles: int
    exposure_target: float | None = None


@dataclass(frozen=True, slots=True)
class ScaleReport:
    """One dimension: its items, its scale per level, and the engine bank of its items.

    Attributes
    ----------
    dimension : str
    kind : str
        ``competency`` or ``trait``.
    names : dict
        Language → the dimension's name as the version shows it.
    items : tuple of ItemRow
    levels : tuple of LevelScale
    bank : ItemBank
        The dimension's operational items on it alone (the curves are drawn from it).
    """

    dimension: str
    kind: str
    names: dict[str, str]
    items: tuple[ItemRow, ...]
    levels: tuple[LevelScale, ...]
    bank: ItemBank


@dataclass(frozen=True, slots=True)
class PretestRow:
    """An item the version tries out: its dimension and answers per language."""

    item_id: str
    dimension: str
    answers: dict[str, int]


@dataclass(frozen=True, slots=True)
class BankReport:
    """What :func:`bank_report` gathered (see the module notes).

    Attributes
    ----------
    version : BankVersion
    previous : int, optional
        The previous published version drift is measured against.
    n_sessions, n_answers, n_pretest_answers : int
    sessions : dict
        (level, language) → sessions.
    period : (datetime, datetime), optional
        The first and last answer.
    scales : tuple of ScaleReport
    validity : dict
        Level → (profiles, {code: profiles with that flag}).
    flags : tuple of ItemFlag
        Every flag stored with the version.
    pretest : tuple of PretestRow
    norm_sets : tuple of NormSet
    """

    version: BankVersion
    previous: int | None
    n_sessions: int
    n_answers: int
    n_pretest_answers: int
    sessions: dict[tuple[str, str], int]
    period: tuple[datetime, datetime] | None
    scales: tuple[ScaleReport, ...]
    validity: dict[str, tuple[int, dict[str, int]]]
    flags: tuple[ItemFlag, ...]
    pretest: tuple[PretestRow, ...]
    norm_sets: tuple[NormSet, ...]


@dataclass(frozen=True, slots=True)
class _Answers:
    """The version's answers as arrays: one row per session."""

    sessions: tuple[str, ...]
    level: NDArray[Any]
    language: NDArray[Any]
    x: Array  # sessions × the version's items, model categories, NaN where not answered


def _answers(repo: BankRepository, version: BankVersion) -> tuple[_Answers, list[Any]]:
    from qabilet.pretest_calibration import response_matrix

    responses = repo.responses(bank_version=version.number)
    scored = [r for r in responses if not r.pretest]
    sessions = sorted({r.session_id or r.person_id for r in responses})
    first = {r.session_id or r.person_id: r for r in reversed(responses)}
    level = np.asarray([first[s].level for s in sessions], dtype=object)
    language = np.asarray([first[s].language for s in sessions], dtype=object)
    x = response_matrix(scored, sessions, version.item_ids, version.parameters.recodings())
    return _Answers(tuple(sessions), level, language, x), responses


def _correlation(x: Array, theta: Array) -> Array:
    """Per column of ``x`` (NaN = not answered), its Pearson correlation with ``theta``."""
    seen = ~np.isnan(x)
    n = seen.sum(axis=0)
    xs = np.where(seen, x, 0.0)
    ts = np.where(seen, theta[:, None], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, mt = xs.sum(axis=0) / n, ts.sum(axis=0) / n
        cov = (xs * ts).sum(axis=0) / n - mx * mt
        vx = (xs**2).sum(axis=0) / n - mx**2
        vt = (ts**2).sum(axis=0) / n - mt**2
        r: Array = cov / np.sqrt(vx * vt)
    return np.where(n >= 3, r, np.nan)


def _slope(record: Mapping[str, Any], factor: int) -> float | None:
    a = record.get("a")
    if isinstance(a, list):
        return None if a[factor] is None else float(a[factor])
    return None if a is None else float(a)


def _on_dimension(record: Mapping[str, Any], factor: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The record's parameters and SEs on its dimension (a slope vector cut to its entry)."""
    values: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    se = record.get("se") or {}
    for name in ("a", "ak", "b", "c", "u", "d", "tau"):
        if record.get(name) is None:
            continue
        value, error = record[name], se.get(name)
        if name == "a" and isinstance(value, list):
            value, error = value[factor], error[factor] if isinstance(error, list) else error
        values[name], errors[name] = value, error
    return values, errors


def _locations(model: str, values: Mapping[str, Any]) -> tuple[float, ...]:
    a, d = values.get("a"), values.get("d")
    if model not in ("grm", "2pl") or not a or d is None:
        return ()
    return tuple(-float(v) / float(a) for v in (d if isinstance(d, list) else [d]))


def _drift(bank: ItemBank, previous: ItemBank | None, records: Mapping[str, Mapping[str, Any]],
           before: Mapping[str, Mapping[str, Any]], factor: int, number: int | None
           ) -> dict[str, ItemDrift]:
    """Each item both versions calibrate: slope change and expected-score RMSD (module notes)."""
    if previous is None or number is None:
        return {}
    common = [i for i in bank.item_ids if i in set(previous.item_ids)]
    if not common:
        return {}
    from qabilet.calibration import curve_rmsd

    now = bank.subset(bank.index_of(common))
    wrmsd = curve_rmsd(previous.subset(previous.index_of(common)), now)
    out: dict[str, ItemDrift] = {}
    for j, item in enumerate(common):
        a1, a0 = _slope(records[item], factor), _slope(before[item], factor)
        s1 = _slope(records[item].get("se") or {}, factor)
        s0 = _slope(before[item].get("se") or {}, factor)
        delta = (a1 or 0.0) - (a0 or 0.0)
        z = delta / float(np.hypot(s1, s0)) if s1 and s0 else None
        out[item] = ItemDrift(number, delta, z, float(wrmsd[j]))
    return out


def _previous(repo: BankRepository, version: BankVersion) -> BankVersion | None:
    older = [v for v in repo.versions() if v.status == "published" and v.number < version.number]
    return max(older, key=lambda v: v.number) if older else None


def exposure_targets(repo: BankRepository, version: int) -> dict[tuple[str, str], float]:
    """(level, dimension) → the exposure cap of the level's blueprint for ``version``.

    The cap is the Sympson–Hetter rate (``sh:RATE``) of the newest blueprint of the level for
    the version, in the section measuring the dimension; levels and sections without one are
    absent.
    """
    from qabilet.engine.cat.blueprint import parse_exposure

    out: dict[tuple[str, str], float] = {}
    for level in LEVELS:
        mine = [b for b in repo.blueprints(level) if b.bank_version == version]
        if not mine:
            continue
        for section in max(mine, key=lambda b: b.number).sections:
            name, rate = parse_exposure(str(section.rules.get("exposure") or "none"))
            if name == "sh" and rate is not None:
                out.update({(level, dim): float(rate) for dim in section.dimensions})
    return out


def _level_scales(dimension: str, bank: ItemBank, levels: Mapping[str, set[str]], answers: _Answers,
                  theta: Array, sd: Array, answered: NDArray[np.bool_],
                  profiles: Sequence[Profile], targets: Mapping[tuple[str, str], float]
                  ) -> tuple[LevelScale, ...]:
    from qabilet.calibration import empirical_reliability, marginal_reliability

    out = []
    for level in LEVELS:
        ids = tuple(i for i in bank.item_ids if i in levels[level])
        if not ids:
            continue
        index = bank.index_of(ids)
        rows = answered & (answers.level == level)
        mine = [p for p in profiles if p.level == level]
        misfit = sum(any(f.code == "misfit" and f.dimension == dimension for f in p.validity)
                     for p in mine)
        out.append(LevelScale(
            level=level, item_ids=ids, information=bank.information(GRID)[:, index].sum(axis=1),
            marginal_reliability=marginal_reliability(bank, index),
            n_sessions=int(rows.sum()),
            empirical_reliability=empirical_reliability(theta[rows], sd[rows]),
            mean_sd=float(sd[rows].mean()) if rows.any() else float("nan"),
            misfit_rate=misfit / len(mine) if mine else None, n_profiles=len(mine),
            exposure_target=targets.get((level, dimension))))
    return tuple(out)


def _scale(repo_items: Mapping[str, Any], version: BankVersion, factor: int, dimension: str,
           answers: _Answers, names: dict[str, str], kind: str, previous: BankVersion | None,
           flags: Sequence[ItemFlag], profiles: Sequence[Profile],
           targets: Mapping[tuple[str, str], float]) -> ScaleReport | None:
    from qabilet.calibration import item_statistics, rmsd
    from qabilet.engine.scoring import eap
    from qabilet.itembank.versions import scale_bank

    column = {item: j for j, item in enumerate(version.item_ids)}
    ids = [i for i in version.item_ids if i in repo_items and repo_items[i].dimension == dimension]
    if not ids:
        return None
    bank = scale_bank(version.parameters, [dimension], ids)
    x = answers.x[:, [column[i] for i in ids]]
    seen = ~np.isnan(x)
    answered: NDArray[np.bool_] = np.asarray(seen.any(axis=1))
    estimate = eap(bank, np.where(seen, x, 0).astype(np.int64), seen)
    theta, sd = estimate.theta.reshape(-1), estimate.se.reshape(-1)
    r = _correlation(x, theta)
    n = seen.sum(axis=0)
    if answered.sum() >= 2:
        stats = item_statistics(bank, x[answered])
        means, p_values, use = stats.mean, stats.p_value, stats.proportions
        fit = rmsd(bank, x[answered], groups=answers.language[answered].astype(str))
        by_language = {(fit.item_ids[i], str(fit.groups[h])): float(fit.rmsd[h, i])
                       for h, i in np.argwhere(np.isfinite(fit.rmsd))}
    else:
        means = p_values = np.full(len(ids), np.nan)
        use = np.full((len(ids), int(bank.n_categories.max())), np.nan)
        by_language = {}
    per_level = {lv: np.flatnonzero(answers.level == lv) for lv in LEVELS}
    exposure = {lv: seen[rows].mean(axis=0) for lv, rows in per_level.items() if rows.size}
    records = {rec.id: rec.model_dump(mode="json", exclude_none=True)
               for rec in version.parameters.items if rec.id in set(ids)}
    before = ({rec.id: rec.model_dump(mode="json", exclude_none=True)
               for rec in previous.parameters.items} if previous is not None else {})
    old_bank = None
    if previous is not None and dimension in previous.dimensions:
        held = [i for i in ids if i in before]
        old_bank = scale_bank(previous.parameters, [dimension], held) if held else None
    drift = _drift(bank, old_bank, records, before, factor,
                   previous.number if previous is not None else None)
    models = bank.model_names
    rows = []
    for j, item in enumerate(ids):
        values, errors = _on_dimension(records[item], factor)
        k = int(bank.n_categories[j])
        rows.append(ItemRow(
            item_id=item, dimension=dimension, model=models[j],
            levels=tuple(lv for lv in LEVELS if lv in repo_items[item].levels), n=int(n[j]),
            mean=float(means[j]), p_value=float(p_values[j]), item_theta_r=float(r[j]),
            category_use=tuple(float(v) for v in use[j, :k]), parameters=values, se=errors,
            locations=_locations(models[j], values),
            rmsd={lang: v for (i, lang), v in by_language.items() if i == item},
            exposure={lv: float(e[j]) for lv, e in exposure.items()}, drift=drift.get(item),
            flags=tuple(f for f in flags if f.item_id == item)))
    levels: dict[str, set[str]] = {lv: {i for i in ids if lv in repo_items[i].levels}
                                   for lv in LEVELS}
    return ScaleReport(dimension, kind, names, tuple(rows),
                       _level_scales(dimension, bank, levels, answers, theta, sd, answered,
                                     profiles, targets), bank)


def bank_report(repo: BankRepository, bank_version: int | None = None) -> BankReport:
    """Gather the technical report of a bank version (see the module notes).

    Parameters
    ----------
    repo : BankRepository
    bank_version : int, optional
        Default: the newest published version.

    Raises
    ------
    NotFoundError
        No such version.
    """
    from qabilet.delivery.report_group import latest_per_session

    version = repo.version(bank_version)
    answers, responses = _answers(repo, version)
    items = {i.id: i for i in repo.items(version=version.number)}
    shown = version.shown_dimensions(repo.dimensions())
    previous = _previous(repo, version)
    flags = repo.flags(bank_version=version.number)
    profiles = latest_per_session(p for p in repo.profiles() if p.bank_version == version.number)
    targets = exposure_targets(repo, version.number)
    scales = [_scale(items, version, k, dim, answers,
                     {str(k): v for k, v in shown[dim].name.items()} if dim in shown else {},
                     shown[dim].kind if dim in shown else "competency", previous, flags, profiles,
                     targets)
              for k, dim in enumerate(version.dimensions)]
    validity: dict[str, tuple[int, dict[str, int]]] = {}
    for level in LEVELS:
        mine = [p for p in profiles if p.level == level]
        if mine:
            counts = Counter(str(f.code) for p in mine for f in {f.code: f for f in p.validity}.values())
            validity[level] = (len(mine), {c: counts.get(c, 0) for c in VALIDITY_CODES})
    pretest_answers = Counter((r.item_id, r.language) for r in responses if r.pretest)
    pretest = tuple(PretestRow(i, (items[i].dimension or "") if i in items else "",
                               {lang: n for (j, lang), n in pretest_answers.items() if j == i})
                    for i in version.pretest)
    times = [r.answered_at for r in responses if r.answered_at is not None]
    return BankReport(
        version=version, previous=previous.number if previous is not None else None,
        n_sessions=len(answers.sessions), n_answers=len(responses) - sum(pretest_answers.values()),
        n_pretest_answers=sum(pretest_answers.values()),
        sessions=dict(Counter(zip(answers.level.tolist(), answers.language.tolist(), strict=True))),
        period=(min(times), max(times)) if times else None,
        scales=tuple(s for s in scales if s is not None), validity=validity, flags=tuple(flags),
        pretest=pretest, norm_sets=tuple(repo.norm_sets(version.number)))
