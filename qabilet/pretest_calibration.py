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
  the item free in each group, the p-values Holm-adjusted over the items tested, ETS classes
  from the effect sizes (:func:`qabilet.calibration.likelihood_ratio_dif`; class C flagged);
* **anchor drift**: every item re-estimated freely on the same answers, linked to the anchors'
  published parameters by Stocking–Lord, an anchor flagged when its response function still
  differs by a weighted RMSD above 0.05 per category point (:mod:`qabilet.calibration.linking`).

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
    from qabilet.calibration.linking import LinkingResult
    from qabilet.itembank.repository import BankRepository, Response
    from qabilet.itembank.versions import BankVersion

__all__ = ["DRIFT_THRESHOLD", "MIN_ANSWERS", "RMSD_THRESHOLD", "PretestCalibration",
           "PretestItem", "calibrate_pretest", "response_matrix"]

#: answers per language group a new item needs before it is calibrated
MIN_ANSWERS = 300
#: RMSD above which an item misfits (PISA 2015)
RMSD_THRESHOLD = 0.12
#: weighted RMSD of an anchor's linked response function, per category point, above which it
#: has drifted
DRIFT_THRESHOLD = 0.05


def response_matrix(responses: Sequence[Response], rows: Sequence[str], columns: Sequence[str],
                    recodings: dict[str, tuple[int, ...]]) -> NDArray[np.float64]:
    """Answers as a (rows × columns) matrix of model categories, NaN where not answered.

    ``rows`` are session ids (the person id for answers without one); an answer's code becomes
    its category through the item's recoding (the version's ``categories``: the code of each
    category), or is the category itself.
    """
    row = {s: k for k, s in enumerate(rows)}
    column = {item: j for j, item in enumerate(columns)}
    x = np.full((len(rows), len(columns)), np.nan)
    for r in responses:
        j, i = column.get(r.item_id), row.get(r.session_id or r.person_id)
        if j is None or i is None:
            continue
        codes = recodings.get(r.item_id)
        x[i, j] = codes.index(r.code) if codes else r.code
    return x


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
    rmsd: dict[str, float] = field(default_factory=dict)
    dif: ItemDIF | None = None
    flags: tuple[str, ...] = ()


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
        Dimension → the anchors' linking to their published parameters.
    anchor_rmsd : dict
        ``(item id, language)`` → RMSD of the operational items on the same data.
    latent : dict
        Dimension → language → (mean, SD) of the group on the version's scale.
    """

    base: int
    draft: BankVersion | None
    items: tuple[PretestItem, ...]
    drift: dict[str, LinkingResult]
    anchor_rmsd: dict[tuple[str, str], float]
    latent: dict[str, dict[str, tuple[float, float]]]

    @property
    def calibrated(self) -> tuple[str, ...]:
        """The new items that got parameters."""
        return tuple(i.item_id for i in self.items if i.calibrated)

    @property
    def drifted(self) -> tuple[str, ...]:
        """Anchors flagged for drift, every dimension."""
        return tuple(a for d in self.drift.values() for a in d.drifted)


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
        Run the kk/ru DIF tests (a likelihood-ratio fit per new item).

    Raises
    ------
    ValueError
        The version tries out no item.
    """
    from qabilet.calibration import MML, likelihood_ratio_dif, rmsd
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
    drift: dict[str, LinkingResult] = {}
    anchor_rmsd: dict[tuple[str, str], float] = {}
    latent: dict[str, dict[str, tuple[float, float]]] = {}
    for k, dim in enumerate(version.dimensions):
        new = [i for i in version.pretest if i in ready and items[i].dimension == dim]
        waiting = [i for i in version.pretest if i not in ready and items[i].dimension == dim]
        found += [PretestItem(i, dim, counts[i], False) for i in waiting]
        if not new:
            continue
        anchors = [i for i in version.item_ids if items.get(i) is not None
                   and items[i].dimension == dim]
        ids = anchors + new
        x = response_matrix(responses, sessions, ids, recodings)
        keep = ~np.isnan(x[:, len(anchors):]).all(axis=1)  # the sessions that met a new item
        x, g = x[keep], groups[keep]
        model = {**{i: models[i] for i in anchors},
                 **{i: items[i].calibration_model or "grm" for i in new}}
        fixed = scale_bank(version.parameters, [dim], anchors)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            result = MML(model=model, fixed=fixed, reference_group=compared[0]).fit(
                x, item_ids=ids, groups=g)
        if result.anchor_drift is not None:
            drift[dim] = result.anchor_drift
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
                                              items=new, reference_group=compared[0])
            tests = {row.item: row for row in tested.rows()}
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
                rmsd={str(lang): v for (i, lang), v in by_item.items() if i == item_id},
                dif=test, flags=tuple(flags)))
    draft = _write_draft(repo, version, new_records, [i for i in version.pretest if i not in ready],
                         found, drift, by) if new_records else None
    return PretestCalibration(version.number, draft, tuple(found), drift, anchor_rmsd, latent)


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


def _write_draft(repo: BankRepository, version: BankVersion, records: list[dict[str, Any]],
                 still: list[str], found: list[PretestItem], drift: dict[str, LinkingResult],
                 by: str) -> BankVersion:
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
    flags += [(a, "drift", {"rmsd": r, "dimension": dim}) for dim, d in drift.items()
              for a, r in zip(d.anchors, d.rmsd, strict=True) if a in d.drifted]
    repo.add_flags(draft.number, flags, by=by)
    return draft


def _detail(item: PretestItem, flag: str) -> dict[str, Any]:
    if flag == "dif" and item.dif is not None:
        d = item.dif
        return {"ets_class": d.ets_class, "p_adjusted": d.p_adjusted, "smd": d.smd,
                "favoured": None if d.favoured is None else str(d.favoured)}
    lang = flag.partition(":")[2]
    return {"rmsd": item.rmsd.get(lang), "language": lang}
