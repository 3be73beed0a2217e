"""Online calibration of pretest items: the answers live sessions gave them, onto the bank's scale.

A bank version tries new items out (its ``pretest`` list); sessions pinned to it gave them,
unscored, beside the operational items they were scored on. :func:`calibrate_pretest` fits,
per dimension, the new items that have enough answers in every language group with the
version's operational items of that dimension held at their published parameters —
fixed-parameter calibration by MWU-MEM (Kim 2006; :class:`qabilet.calibration.MML` with
``fixed``), each language group with its own latent mean and variance and every item's
parameters common to the groups — and checks what it finds:

* **item fit** on the sparse data of adaptive tests: RMSD between the model's and the
  posterior-weighted observed category curves, per language (:func:`qabilet.calibration.rmsd`;
  flag above 0.12, PISA 2015);
* **DIF between the Kazakh and the Russian versions** of each new item: likelihood ratio with
  the item free in each group against the item equal in both, the anchors at their published
  parameters in every fit, the p-values Holm-adjusted over the items tested, ETS classes from
  the effect sizes (:func:`qabilet.calibration.likelihood_ratio_dif`; class C flagged); and
  the operational items' kk/ru DIF on the same answers, by Lagrange-multiplier tests of all of
  them at once from the drift test's free calibration (every item free, a latent mean and
  variance per language; :func:`qabilet.calibration.score_dif`), those with ``min_answers``
  answers in each language; class C flagged — not with the anchors fixed, where an anchor's
  drift would read as DIF;
* **anchor drift**: every item re-estimated freely on the same answers — the anchors with at
  least :data:`DRIFT_MIN_ANSWERS` of them: an adaptive test gives some items rarely, and a free
  estimate from a handful of answers diverges (a slope in the hundreds), bends the linking and
  leaves a singular covariance (standard errors by
  Louis' identity) and linked to the anchors' published parameters by Stocking–Lord
  (:mod:`qabilet.calibration.linking`); for each anchor with a slope and intercepts (2–4PL,
  graded) a Wald test of its linked parameters against the published ones,
  :math:`\\chi^2 = \\boldsymbol\\delta^\\top(J\\Sigma J^\\top)^{-1}\\boldsymbol\\delta` with
  :math:`\\boldsymbol\\delta` the differences of :math:`(a^*, d^*_1, \\dots)` from the published
  ones, :math:`a^* = a/A`, :math:`d^*_k = d_k - (B/A)a` (the linking :math:`b^* = Ab + B` in
  slope-intercept form), :math:`\\Sigma` the item's whole estimated covariance and :math:`J` the
  linking's Jacobian (the published parameters and the linking constants taken as known), on
  as many degrees of freedom as parameters, the p-values
  Holm-adjusted over the anchors; an anchor is flagged when its adjusted p is below 0.05 **and**
  its linked response function differs by a weighted RMSD above :data:`DRIFT_THRESHOLD` per
  category point — significant and large enough to matter. (Sparse data make the RMSD of a
  rarely given anchor noisy, so the threshold alone flags chance; the test alone flags
  negligible moves of items given often.) The linking is **purified** (Candell & Drasgow
  1988): flagged anchors leave it and the tests rerun, up to :data:`PURIFICATION_ROUNDS`
  times, so that one drifted anchor does not bend the constants and make its neighbours look
  drifted.

It writes a **new draft version**: the version's parameters with the new items' (slope on their
dimension, intercepts, their standard errors), the items still waiting for answers left in its
pretest list; and stores the flags on the items (:meth:`BankRepository.add_flags`). The
psychometrician reads them, retires the items to reject, and publishes the draft.

The module sits in the top package: it joins the bank (:mod:`qabilet.itembank`) and the
calibration (:mod:`qabilet.calibration`), which do not import each other.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from qabilet.calibration.dif_lr import ItemDIF
    from qabilet.itembank.repository import BankRepository, Response
    from qabilet.itembank.versions import BankVersion

__all__ = ["DRIFT_ALPHA", "DRIFT_MIN_ANSWERS", "DRIFT_THRESHOLD", "MIN_ANSWERS", "RMSD_THRESHOLD", "AnchorDrift",
           "PretestCalibration",
           "PretestItem", "calibrate_pretest", "response_matrix"]

#: answers per language group a new item needs before it is calibrated
MIN_ANSWERS = 300
#: RMSD above which an item misfits (PISA 2015)
RMSD_THRESHOLD = 0.12
#: weighted RMSD of an anchor's linked response function, per category point, above which a
#: significant drift matters
DRIFT_THRESHOLD = 0.05
#: level of the Holm-adjusted drift tests
DRIFT_ALPHA = 0.05
#: Rounds of purification: anchors flagged for drift leave the linking and the tests rerun.
PURIFICATION_ROUNDS = 5
#: Answers an anchor needs (every language together) to be re-estimated for the drift test
DRIFT_MIN_ANSWERS = 100


def response_matrix(responses: Sequence[Response], rows: Sequence[str], columns: Sequence[str],
                    recodings: dict[str, tuple[int, ...]]) -> NDArray[np.float64]:
    """Answers as a (rows × columns) matrix of model categories, NaN where not answered.

    ``rows`` are session ids (the person id for answers without one); an answer's code becomes
    its category through the item's recoding (the version's ``categories``: the code of each
    category), or is the category itself. Answers outside ``rows`` or ``columns`` are left out.

    Raises
    ------
    ValueError
        An answer's code is not one of its item's recoded categories.
    """
    x = np.full((len(rows), len(columns)), np.nan)
    if not responses:
        return x
    i = _positions([r.session_id or r.person_id for r in responses], rows)
    j = _positions([r.item_id for r in responses], columns)
    code = np.fromiter((r.code for r in responses), dtype=np.int64, count=len(responses))
    keep = (i >= 0) & (j >= 0)
    i, j, code = i[keep], j[keep], code[keep]
    category = code.astype(np.float64)
    recoded = [(k, recodings[c]) for k, c in enumerate(columns) if recodings.get(c)]
    if recoded:  # a lookup table (column, code) → category for the recoded columns
        low = min(int(code.min()), *(min(c) for _, c in recoded))
        high = max(int(code.max()), *(max(c) for _, c in recoded))
        table = np.full((len(columns), high - low + 1), np.nan)
        uses = np.zeros(len(columns), dtype=bool)
        for k, codes in recoded:  # per recoded item, not per answer
            table[k, np.asarray(codes) - low] = np.arange(len(codes))
            uses[k] = True
        mapped = table[j, code - low]
        bad = uses[j] & np.isnan(mapped)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise ValueError(f"item {columns[j[first]]!r}: the answer code {int(code[first])} is "
                             f"not one of its categories {list(recodings[columns[j[first]]])}")
        category = np.where(uses[j], mapped, category)
    x[i, j] = category
    return x


def _positions(values: Sequence[str], universe: Sequence[str]) -> NDArray[np.intp]:
    """Each value's index in ``universe`` (−1 where absent), by sorting rather than a loop."""
    names = np.asarray(universe, dtype=str)
    wanted = np.asarray(values, dtype=str)
    if not len(names):
        return np.full(wanted.shape, -1, dtype=np.intp)
    order = np.argsort(names, kind="stable")
    ordered = names[order]
    at = np.clip(np.searchsorted(ordered, wanted), 0, len(names) - 1)
    return np.where(ordered[at] == wanted, order[at], -1).astype(np.intp)


@dataclass(frozen=True, slots=True)
class PretestItem:
    """One new item's answers, estimates and checks.

    Attributes
    ----------
    item_id, dimension : str
    answers : dict
        Language → answers.
    calibrated : bool
        It had enough answers in every language group and got parameters.
    a, b : float or tuple, optional
        Slope and thresholds (traditional form), NaN-free when calibrated.
    se_a : float, optional
    se_b : tuple of float, optional
        Delta-method standard errors of ``a`` and ``b``.
    rmsd : dict
        Language → RMSD.
    dif : ItemDIF, optional
        The kk/ru DIF test.
    flags : list of str
        ``misfit:<lang>``, ``dif``.
    """

    item_id: str
    dimension: str
    answers: dict[str, int]
    calibrated: bool
    a: float | None = None
    b: tuple[float, ...] | None = None
    se_a: float | None = None
    se_b: tuple[float, ...] | None = None
    rmsd: dict[str, float] = field(default_factory=dict)
    dif: ItemDIF | None = None
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AnchorDrift:
    """One operational item's drift test.

    Attributes
    ----------
    item_id : str
    rmsd : float
        Weighted RMSD of its linked free response function from the published one, per
        category point.
    statistic : float
        Wald χ² of the linked parameters against the published ones (NaN: not tested — a
        model without a slope-and-locations form).
    df : int
    p_value, p_adjusted : float
        The χ² p-value and its Holm adjustment over the tested anchors.
    drifted : bool
        ``p_adjusted < DRIFT_ALPHA`` and ``rmsd > DRIFT_THRESHOLD``.
    """

    item_id: str
    rmsd: float
    statistic: float
    df: int
    p_value: float
    p_adjusted: float
    drifted: bool


@dataclass(frozen=True, slots=True)
class PretestCalibration:
    """What :func:`calibrate_pretest` found and wrote.

    Attributes
    ----------
    base : int
        The version whose sessions gave the answers.
    draft : BankVersion, optional
        The new draft version (None when no item had enough answers).
    items : tuple of PretestItem
    drift : dict
        Dimension → the anchors' drift tests (:class:`AnchorDrift`).
    anchor_rmsd : dict
        ``(item id, language)`` → RMSD of the operational items on the same data.
    latent : dict
        Dimension → language → (mean, SD) of the group on the version's scale.
    anchor_dif : dict
        Dimension → the operational items' kk/ru DIF tests (score tests, every item free).
    """

    base: int
    draft: BankVersion | None
    items: tuple[PretestItem, ...]
    drift: dict[str, tuple[AnchorDrift, ...]]
    anchor_rmsd: dict[tuple[str, str], float]
    latent: dict[str, dict[str, tuple[float, float]]]
    anchor_dif: dict[str, tuple[ItemDIF, ...]] = field(default_factory=dict)

    @property
    def calibrated(self) -> tuple[str, ...]:
        """The new items that got parameters."""
        return tuple(i.item_id for i in self.items if i.calibrated)

    @property
    def drifted(self) -> tuple[str, ...]:
        """Anchors flagged for drift, every dimension."""
        return tuple(a.item_id for tests in self.drift.values() for a in tests if a.drifted)

    def to_dict(self) -> dict[str, Any]:
        """The findings as JSON (a calibration job's result)."""
        def finite(v: float | None) -> float | None:
            return None if v is None or not np.isfinite(v) else float(v)

        return {
            "bank_version": self.base,
            "draft_version": None if self.draft is None else self.draft.number,
            "items": [{"item_id": i.item_id, "dimension": i.dimension, "answers": i.answers,
                       "calibrated": i.calibrated, "a": finite(i.a), "se_a": finite(i.se_a),
                       "b": None if i.b is None else [finite(v) for v in i.b],
                       "se_b": None if i.se_b is None else [finite(v) for v in i.se_b],
                       "rmsd": {k: finite(v) for k, v in i.rmsd.items()},
                       "dif": None if i.dif is None else _dif_detail(i.dif),
                       "flags": list(i.flags)} for i in self.items],
            "drift": {dim: [{"item_id": a.item_id, "rmsd": finite(a.rmsd),
                             "statistic": finite(a.statistic), "df": a.df,
                             "p_adjusted": finite(a.p_adjusted), "drifted": a.drifted}
                            for a in tests] for dim, tests in self.drift.items()},
            "latent": {dim: {g: list(v) for g, v in groups.items()}
                       for dim, groups in self.latent.items()},
            "anchor_dif": {dim: [{"item_id": d.item, **_dif_detail(d)} for d in tests]
                           for dim, tests in self.anchor_dif.items()}}


def calibrate_pretest(repo: BankRepository, bank_version: int | None = None, *,
                      min_answers: int = MIN_ANSWERS, languages: Sequence[str] = ("kk", "ru"),
                      by: str = "pretest calibration", dif: bool = True) -> PretestCalibration:
    """Calibrate a version's pretest items on its sessions' answers (see the module notes).

    Parameters
    ----------
    repo : BankRepository
    bank_version : int, optional
        The version that tried the items out (default: the newest published one).
    min_answers : int
        Answers a new item needs in each of ``languages`` (those the answers hold).
    languages : sequence of str
        The language groups compared for DIF; each needs ``min_answers`` answers per item.
    by : str
        Recorded in the draft's provenance and with the flags.
    dif : bool
        Run the kk/ru DIF tests (a likelihood-ratio fit per new item; score tests of the
        operational items from one more calibration).

    Raises
    ------
    ValueError
        The version tries out no item.
    """
    from qabilet.calibration import MML, likelihood_ratio_dif, rmsd, score_dif
    from qabilet.engine.exceptions import ConvergenceWarning
    from qabilet.itembank.versions import scale_bank

    version = repo.version(bank_version)
    if not version.pretest:
        raise ValueError(f"bank_version: version {version.number} tries out no item (its "
                         f"pretest list is empty)")
    responses = repo.responses(bank_version=version.number)
    items = {i.id: i for i in repo.items(version=version.number)}
    sessions = sorted({r.session_id or r.person_id for r in responses})
    language_of = {r.session_id or r.person_id: r.language for r in responses}
    groups = np.asarray([language_of[s] for s in sessions], dtype=object)
    recodings = version.parameters.recodings()
    models = dict(zip(version.item_ids, version.parameters.item_models(), strict=True))
    counts: dict[str, dict[str, int]] = {i: {} for i in version.pretest}
    for r in responses:
        if r.item_id in counts:
            counts[r.item_id][r.language] = counts[r.item_id].get(r.language, 0) + 1
    compared = [lang for lang in languages if lang in set(groups.tolist())]
    ready = {i for i, n in counts.items()
             if compared and all(n.get(lang, 0) >= min_answers for lang in compared)}
    found: list[PretestItem] = []
    new_records: list[dict[str, Any]] = []
    drift: dict[str, tuple[AnchorDrift, ...]] = {}
    anchor_rmsd: dict[tuple[str, str], float] = {}
    latent: dict[str, dict[str, tuple[float, float]]] = {}
    anchor_dif: dict[str, tuple[ItemDIF, ...]] = {}
    for k, dim in enumerate(version.dimensions):
        new = [i for i in version.pretest if i in ready and items[i].dimension == dim]
        waiting = [i for i in version.pretest if i not in ready and items[i].dimension == dim]
        found += [PretestItem(i, dim, counts[i], False) for i in waiting]
        if not new:
            continue
        anchors = [i for i in version.item_ids if items.get(i) is not None
                   and items[i].dimension == dim]
        x = response_matrix(responses, sessions, anchors + new, recodings)
        keep = ~np.isnan(x[:, len(anchors):]).all(axis=1)  # the sessions that met a new item
        x, g = x[keep], groups[keep]
        # anchors these sessions answered in two categories at least (an adaptive test leaves
        # many unanswered; an item seen in one category tells the fit nothing)
        used = [j for j in range(len(anchors)) if np.unique(x[:, j][~np.isnan(x[:, j])]).size >= 2]
        anchors = [anchors[j] for j in used]
        x = x[:, [*used, *range(x.shape[1] - len(new), x.shape[1])]]
        ids = anchors + new
        model = {**{i: models[i] for i in anchors},
                 **{i: items[i].calibration_model or "grm" for i in new}}
        fixed = scale_bank(version.parameters, [dim], anchors)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            result = MML(model=model, fixed=fixed, reference_group=compared[0],
                         drift_check=False).fit(x, item_ids=ids, groups=g)  # drift: _drift
        steady = [i for i, n in zip(anchors, np.sum(~np.isnan(x[:, :len(anchors)]), axis=0),
                                    strict=True) if n >= DRIFT_MIN_ANSWERS]
        kept = [ids.index(i) for i in steady + new]
        xs, ids_s, model_s = x[:, kept], steady + new, {i: model[i] for i in steady + new}
        drift[dim], free = _drift(xs, g, ids_s, model_s, scale_bank(version.parameters, [dim], steady),
                                  steady, compared[0])
        latent[dim] = {str(gr.label): (float(gr.bank.latent.mean[0]),
                                       float(np.sqrt(gr.bank.latent.cov[0, 0])))
                       for gr in result.groups}
        fit = rmsd(result, x, groups=g, threshold=RMSD_THRESHOLD)
        by_item = {(fit.item_ids[i], str(fit.groups[h])): float(fit.rmsd[h, i])
                   for h, i in np.argwhere(np.isfinite(fit.rmsd))}
        for (item_id, lang), value in by_item.items():
            if item_id in anchors:
                anchor_rmsd[(item_id, str(lang))] = value
        tests: dict[str, ItemDIF] = {}
        if dif and len(compared) >= 2:
            pair = np.isin(g, compared[:2])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                tested = likelihood_ratio_dif(x[pair], g[pair], model=model, item_ids=ids,
                                              items=new, reference_group=compared[0],
                                              fixed=fixed, drift_check=False)  # anchors fixed
            tests = {row.item: row for row in tested.rows()}
            with warnings.catch_warnings():  # every item free: the drift test's calibration
                warnings.simplefilter("ignore", ConvergenceWarning)
                anchor_dif[dim] = score_dif(
                    xs[pair], g[pair], model=model_s, item_ids=ids_s, items=steady,
                    reference_group=compared[0], min_answers=min_answers,
                    fit=free if pair.all() else None).rows()
        estimates = {e.id: e for e in result.items}
        records = _records(result, new, k, len(version.dimensions))
        new_records += records
        for item_id in new:
            est = estimates[item_id]
            trad = dict(zip(est.traditional_names, est.traditional_values.tolist(), strict=True))
            trad_se = dict(zip(est.traditional_names, est.traditional_se.tolist(), strict=True))
            flags = [f"misfit:{lang}" for (i, lang), v in by_item.items()
                     if i == item_id and v > RMSD_THRESHOLD]
            test = tests.get(item_id)
            if test is not None and test.ets_class == "C":
                flags.append("dif")
            found.append(PretestItem(
                item_id, dim, counts[item_id], True, a=trad.get("a"),
                b=tuple(v for n, v in trad.items() if n.startswith("b")) or None,
                se_a=trad_se.get("a"),
                se_b=tuple(v for n, v in trad_se.items() if n.startswith("b")) or None,
                rmsd={str(lang): v for (i, lang), v in by_item.items() if i == item_id},
                dif=test, flags=tuple(flags)))
    draft = _write_draft(repo, version, new_records, [i for i in version.pretest if i not in ready],
                         found, drift, anchor_dif, by) if new_records else None
    return PretestCalibration(version.number, draft, tuple(found), drift, anchor_rmsd, latent,
                              anchor_dif)


def _records(result: Any, new: list[str], factor: int, n_dims: int) -> list[dict[str, Any]]:
    """The new items' records on the version's factors (slope on ``factor``), with SEs."""
    from qabilet.calibration_file import slope_intercept_records

    index = result.bank.index_of(new)
    bank = result.bank.subset(index)
    by_id = {e.id: e for e in result.items}
    se = [by_id[i].slope_intercept_se() for i in new]
    records = slope_intercept_records(bank, se, factor, n_dims)
    for rec, j in zip(records, index, strict=True):
        codes = [int(c) for c in result.categories[j]]
        if codes != list(range(len(codes))):
            rec["categories"] = codes
    return records


def _drift(x: NDArray[np.float64], groups: NDArray[Any], ids: list[str], model: dict[str, str],
           fixed: Any, anchors: list[str], reference: str) -> tuple[tuple[AnchorDrift, ...], Any]:
    """The anchors' drift tests (see the module notes), and the free calibration they came from."""
    from qabilet.calibration import MML
    from qabilet.engine.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        free = MML(model=model, reference_group=reference).fit(x, item_ids=ids, groups=groups)

    def form(bank: Any, item_id: str) -> tuple[str, int]:
        j = bank.index_of([item_id])
        return bank.subset(j).model_names[0], int(bank.n_categories[j[0]])

    same = [i for i in anchors if form(free.bank, i) == form(fixed, i)]
    if len(same) < 2:
        return (), free
    linking_anchors = same
    tests: tuple[AnchorDrift, ...] = ()
    for _ in range(PURIFICATION_ROUNDS):
        tests = _wald_drift(free, fixed, same, linking_anchors)
        keep = [a.item_id for a in tests if not a.drifted]
        if keep == linking_anchors or len(keep) < 2:
            break
        linking_anchors = keep
    return tests, free


def _wald_drift(free: Any, fixed: Any, same: list[str],
                linking_anchors: list[str]) -> tuple[AnchorDrift, ...]:
    """Every anchor's drift test, the free calibration linked through ``linking_anchors``."""
    from scipy.stats import chi2

    from qabilet.calibration import curve_rmsd, holm, link

    linking = link(free.bank, fixed, method="stocking-lord", anchors=linking_anchors,
                   drift_threshold=DRIFT_THRESHOLD)
    moved = linking.transform(free.bank)
    rmsd = curve_rmsd(moved.subset(moved.index_of(same)), fixed.subset(fixed.index_of(same)))
    estimates = {e.id: e for e in free.items}
    stats, dfs = [], []
    for item_id in same:
        new: Any = moved.subset(moved.index_of([item_id])).models[0]
        old: Any = fixed.subset(fixed.index_of([item_id])).models[0]
        statistic, df = _wald(estimates[item_id], new, old, free.covariance, linking.slope,
                              linking.shift)
        stats.append(statistic)
        dfs.append(df)
    stat = np.asarray(stats)
    p = np.where(np.isfinite(stat), chi2.sf(stat, np.maximum(dfs, 1)), np.nan)
    tested = np.isfinite(p)
    adjusted = np.full(p.shape, np.nan)
    adjusted[tested] = holm(p[tested])
    return tuple(AnchorDrift(i, float(r), float(c), d, float(q), float(qa),
                             bool(qa < DRIFT_ALPHA and r > DRIFT_THRESHOLD))
                 for i, r, c, d, q, qa in zip(same, rmsd, stat, dfs, p, adjusted, strict=True))


def _wald(estimate: Any, new: Any, old: Any, covariance: NDArray[np.float64], slope: float,
          shift: float) -> tuple[float, int]:
    """One anchor's Wald χ² of its linked slope and intercepts against the published ones.

    In slope-intercept form the linking :math:`a^* = a/A`, :math:`b^* = Ab + B` is linear,
    :math:`a^* = a/A`, :math:`d_k^* = d_k - (B/A)a`, so the linked estimates' covariance is
    :math:`J\\Sigma J^\\top` with :math:`\\Sigma` the free calibration's (Louis') covariance of
    the item's :math:`(a, d_1, \\dots)` — the whole matrix: an item's intercepts share its
    slope's and location's error, and squared z-values summed as if independent would give the
    statistic heavier tails than :math:`\\chi^2` (false flags at Holm-adjusted levels). NaN
    (and 0 degrees of freedom) for items without a single slope and intercepts, or without
    standard errors.
    """
    from qabilet.engine.models import FourPL, GradedResponse

    names = list(estimate.names)
    wanted = [k for k, n in enumerate(names) if n == "a1" or n == "d" or
              (n.startswith("d") and n[1:].isdigit())]
    # the intercepts move as d − (B/A)a only where the kernel is a·θ + d (graded, 2–4PL)
    graded_like = all(isinstance(m, GradedResponse | FourPL) for m in (new, old))
    if "a1" not in names or len(wanted) < 2 or not graded_like:
        return float("nan"), 0
    rows = np.asarray(estimate.index)[wanted]
    if np.any(rows < 0):
        return float("nan"), 0
    labels = [names[k] for k in wanted]
    position = {n: k for k, n in enumerate(new.param_names())}
    if any(n not in position for n in labels) or list(old.param_names()) != list(new.param_names()):
        return float("nan"), 0
    at = [position[n] for n in labels]
    diff = np.ravel(new.param_vector())[at] - np.ravel(old.param_vector())[at]
    jac = np.eye(len(labels))
    jac[0, 0] = 1.0 / slope
    jac[1:, 0] = -shift / slope
    cov = jac @ covariance[np.ix_(rows, rows)] @ jac.T
    if not np.all(np.isfinite(cov)) or not np.all(np.isfinite(diff)):
        return float("nan"), 0
    try:
        return float(diff @ np.linalg.solve(cov, diff)), len(labels)
    except np.linalg.LinAlgError:  # an estimate on the boundary: no test
        return float("nan"), 0


def _write_draft(repo: BankRepository, version: BankVersion, records: list[dict[str, Any]],
                 still: list[str], found: list[PretestItem],
                 drift: dict[str, tuple[AnchorDrift, ...]],
                 anchor_dif: dict[str, tuple[ItemDIF, ...]], by: str) -> BankVersion:
    """The new draft version, and the flags stored on the items."""
    from qabilet import __version__
    from qabilet.itembank.parameter_file import ParameterFile
    from qabilet.itembank.versions import Provenance

    data = version.parameters.model_dump(mode="json", exclude_none=True)
    data["items"] = [*data["items"], *records]
    n = len(records)
    provenance = Provenance(
        method=f"pretest calibration: {n} new item(s) by MWU-MEM with bank version "
               f"{version.number}'s operational items fixed at their published parameters, a "
               f"latent mean and variance per language group",
        data_fingerprint=version.provenance.data_fingerprint, calibrated_on=date.today(),
        software_version=__version__, based_on=version.number,
        n_persons=max((sum(i.answers.values()) for i in found if i.calibrated), default=0),
        demonstration=version.provenance.demonstration,
        notes=f"by {by}; still trying out: {', '.join(still) or 'none'}")
    draft = repo.create_version(ParameterFile.model_validate(data), provenance,
                                label=f"version {version.number} with {n} calibrated new item(s)",
                                pretest=still)
    flags = [(i.item_id, f, _detail(i, f)) for i in found for f in i.flags]
    flags += [(a.item_id, "drift", {"rmsd": a.rmsd, "statistic": a.statistic, "df": a.df,
                                    "p_adjusted": a.p_adjusted, "dimension": dim})
              for dim, tests in drift.items() for a in tests if a.drifted]
    flags += [(d.item, "dif", {**_dif_detail(d), "dimension": dim, "method": "score"})
              for dim, tests in anchor_dif.items() for d in tests if d.ets_class == "C"]
    repo.add_flags(draft.number, flags, by=by)
    return draft


def _dif_detail(d: ItemDIF) -> dict[str, Any]:
    """What a DIF flag and the JSON keep of a test (NaN as None)."""
    def finite(v: float) -> float | None:
        return float(v) if np.isfinite(v) else None

    return {"ets_class": d.ets_class, "p_adjusted": finite(d.p_adjusted), "smd": finite(d.smd),
            "favoured": None if d.favoured is None else str(d.favoured)}


def _detail(item: PretestItem, flag: str) -> dict[str, Any]:
    if flag == "dif" and item.dif is not None:
        return _dif_detail(item.dif)
    lang = flag.partition(":")[2]
    return {"rmsd": item.rmsd.get(lang), "language": lang}
