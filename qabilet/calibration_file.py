"""A calibration result as a parameter file (docs/design.md §6): the one writer.

``qabilet calibrate --out`` and the API's calibration jobs both write what
:meth:`qabilet.calibration.MML.fit` returned with :func:`calibration_parameter_file` (or
:func:`write_calibration`, atomically); a notebook can too. The module sits in the top package
because it joins the two sides that do not import each other: the result
(:mod:`qabilet.calibration`) and the file (:mod:`qabilet.itembank.parameter_file`).

What the file holds of a result: every group's items (the reference group's at the top level,
a group-specific item's parameters in its ``groups``), the latent distributions, the fit
statistics, how the parameters were estimated (``method``), each item's original category codes,
and the standard errors of the estimated parameters shaped like the record — traditional form
for unidimensional items, the slope-intercept columns for multidimensional ones (a slope per
factor, the intercepts, the asymptotes, a nominal item's scoring), as each model declares them;
only the intercepts ``d`` of unidimensional nominal items (the record's category slopes are
products, not mirt's parameters). Anchors (items fixed at their parameters in an anchor file)
are written exactly as that file has them, without standard errors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qabilet.calibration.result import CalibrationResult, ItemEstimates
    from qabilet.engine.bank import ItemBank
    from qabilet.itembank.parameter_file import ParameterFile

__all__ = [
    "anchor_codes",
    "slope_intercept_records",
    "calibration_parameter_file",
    "read_anchor_file",
    "record_standard_errors",
    "write_calibration",
]


def record_standard_errors(item: ItemEstimates, record: Mapping[str, Any]) -> dict[str, Any]:
    """An item's standard errors keyed and shaped like its parameter-file record.

    Derived from the model's declaration (:attr:`qabilet.engine.models.ItemModel.PARAMETERS`):
    in traditional form (one factor) the delta-method standard errors of the fields whose
    standard errors a file carries; in slope-intercept form (several factors) those of the
    columns each field is (``a1 …`` for the slopes ``a``, the intercept(s) ``d`` …).

    Parameters
    ----------
    item : ItemEstimates
        The item's estimates.
    record : mapping
        Its record (:meth:`qabilet.engine.bank.ItemBank.to_records`): traditional form for one
        factor, slope-intercept form for several.

    Returns
    -------
    dict
        ``{record field: standard error(s)}``; NaN where a parameter was not estimated.
    """
    from qabilet.engine.models import get_model

    declared = get_model(item.model).PARAMETERS
    if item.traditional_names:
        written = {f.name for f in declared.traditional if f.se_written}
        return {k: v for k, v in item.traditional_se_record().items() if k in written}
    out: dict[str, Any] = {}  # several factors: the columns themselves
    for field in declared.slope_intercept:
        if field.name not in record or field.same_as is None:
            continue
        se = [float(s) for name, s in zip(item.names, item.se, strict=True)
              if declared.column(name).stem == field.same_as]
        out[field.name] = se if isinstance(record[field.name], list) else se[0]
    return out


def calibration_parameter_file(
    result: CalibrationResult,
    *,
    codes: Mapping[str, Sequence[int]] | None = None,
    method: str | None = None,
    anchor_file: ParameterFile | None = None,
    anchor_source: str | None = None,
) -> ParameterFile:
    """The parameter file of a calibration result.

    Parameters
    ----------
    result : CalibrationResult
        What :meth:`qabilet.calibration.MML.fit` returned.
    codes : mapping, optional
        ``{item id: original code of each code the calibration saw}``: a recoding applied to
        the responses before the calibration (an anchor file's, a bank version's). Each item's
        ``categories`` are the codes the calibration saw (``result.categories``), mapped back
        through it.
    method : str, optional
        How the parameters were estimated; :meth:`CalibrationResult.method` by default.
    anchor_file : ParameterFile, optional
        The file the anchors' parameters came from: they are written as it has them.
    anchor_source : str, optional
        Where ``anchor_file`` was read (for the default ``method``).

    Returns
    -------
    ParameterFile
        Validated; every group's bank builds back from it.

    Raises
    ------
    InvalidParameterError
        When the estimates are outside their domain (e.g. an asymptote at 1): no file a scorer
        would refuse is produced.
    """
    from qabilet.engine.exceptions import DataFileError, InvalidParameterError

    try:
        return _parameter_file(result, codes, method, anchor_file, anchor_source)
    except DataFileError as exc:
        raise InvalidParameterError(
            f"the calibration gave parameters outside their domain: {exc}") from None


def write_calibration(
    path: str | os.PathLike[str],
    result: CalibrationResult,
    *,
    codes: Mapping[str, Sequence[int]] | None = None,
    method: str | None = None,
    anchor_file: ParameterFile | None = None,
    anchor_source: str | None = None,
) -> None:
    """Write a calibration result as a parameter file, atomically.

    Parameters
    ----------
    path : str or path-like
        The destination; replaced only once the complete file is on disk.
    result : CalibrationResult
        What :meth:`qabilet.calibration.MML.fit` returned.
    codes, method, anchor_file, anchor_source : optional
        As for :func:`calibration_parameter_file`.

    Raises
    ------
    InvalidParameterError
        When the estimates are outside their domain; nothing is written (the message names
        ``path``).
    OSError
        When the directory is missing or not writable; nothing is written.
    """
    from qabilet.engine.exceptions import DataFileError, InvalidParameterError
    from qabilet.itembank._files import write_text_atomic

    try:
        pf = _parameter_file(result, codes, method, anchor_file, anchor_source)
    except DataFileError as exc:
        raise InvalidParameterError(f"the calibration gave parameters outside their domain; "
                                    f"{os.fspath(path)} not written: {exc}") from None
    write_text_atomic(path, pf.to_json())


def slope_intercept_records(bank: ItemBank, se: Sequence[Mapping[str, float]], factor: int,
                            n_dims: int) -> list[dict[str, Any]]:
    """Records on ``n_dims`` factors (slope on ``factor`` only) from a unidimensional fit.

    mirt's names (:meth:`param_names`) map to record fields: ``a1`` → the factor slope, ``ak*``
    → ``ak``, ``d*`` (or ``d``) → ``d``, ``g``/``u`` → the asymptotes; parameters fixed by the
    identification get a null standard error. A unidimensional fit on a factor's marginal (a
    dimension of a bank version, :func:`qabilet.itembank.versions.scale_bank`) goes back into the
    version this way.
    """
    out: list[dict[str, Any]] = [{} for _ in bank.item_ids]
    for model, positions in zip(bank.models, bank.positions, strict=True):
        names = model.param_names()
        for psi, p in zip(model.param_vector(), positions, strict=True):
            values = dict(zip(names, psi.tolist(), strict=True))
            slopes = [0.0] * n_dims
            slopes[factor] = values["a1"]
            se_a: list[float | None] = [None] * n_dims
            se_a[factor] = se[p].get("a1")
            rec: dict[str, Any] = {"id": bank.item_ids[p], "model": model.name, "a": slopes}
            err: dict[str, Any] = {"a": se_a}
            for field in ("ak", "d"):
                keys = [n for n in names if n.startswith(field) and n[len(field):].isdigit()]
                if keys:
                    rec[field] = [values[n] for n in keys]
                    err[field] = [se[p].get(n) for n in keys]
                elif field in values:  # a scalar intercept (2PL, 3PL, 4PL)
                    rec[field], err[field] = values[field], se[p].get(field)
            for field, models in (("g", ("3pl", "4pl")), ("u", ("4pl",))):
                if field in values and model.name in models:  # asymptotes the model estimates
                    rec[field], err[field] = values[field], se[p].get(field)
            rec["se"] = err
            out[p] = rec
    return out


def read_anchor_file(path: str | os.PathLike[str]) -> tuple[ParameterFile, ItemBank]:
    """An anchor file and its bank (top-level parameters), for ``MML(fixed=bank)``.

    Raises
    ------
    DataFileError
        As :func:`qabilet.itembank.parameter_file.read_parameter_file`.
    InvalidParameterError
        When the file has several factors (anchor calibration is unidimensional).
    """
    from qabilet.engine.exceptions import InvalidParameterError
    from qabilet.itembank.parameter_file import read_parameter_file

    pf = read_parameter_file(path)
    n_dims = pf.latent.n_dims
    if n_dims != 1:
        raise InvalidParameterError(f"{os.fspath(path)} has {n_dims} factors; anchor calibration "
                                    "is unidimensional")
    return pf, pf.to_bank()


def anchor_codes(pf: ParameterFile, bank: ItemBank) -> dict[str, tuple[int, ...]]:
    """The codes of every anchor's categories: its recorded codes, or 0..K−1 when it has none.

    Read the responses with these (``read_responses_csv(recodings=...)``): an anchor's
    responses must be in the categories its parameters refer to.
    """
    codes = pf.recodings()
    return {item: codes.get(item, tuple(range(int(k))))
            for item, k in zip(bank.item_ids, bank.n_categories, strict=True)}


def _parameter_file(result: CalibrationResult, codes: Mapping[str, Sequence[int]] | None,
                    method: str | None, anchor_file: ParameterFile | None,
                    anchor_source: str | None) -> ParameterFile:
    """:func:`calibration_parameter_file`, raising ``DataFileError`` for values out of domain."""
    from qabilet.itembank.parameter_file import ParameterFile

    skip = set(result.anchors)
    recodings = {}
    for item, seen in zip(result.item_ids, result.categories, strict=True):
        given = (codes or {}).get(item)
        recodings[item] = [int(c) for c in seen] if given is None else [int(given[c]) for c in seen]
    content: dict[str, Any] = {
        "recodings": recodings,
        "loglik": result.loglik, "aic": result.aic, "bic": result.bic, "n_iter": result.n_iter,
        "converged": result.converged,
        "method": result.method(anchor_source) if method is None else method,
    }
    if result.se_computed:
        content["se"] = _standard_errors(result.bank, result.reference.items, skip)
    if result.multi_group:
        content["group_banks"] = {g.label: g.bank for g in result.groups}
        content["reference_group"] = result.reference_group
        if result.se_computed:
            content["group_se"] = {g.label: _standard_errors(g.bank, g.items, skip)
                                   for g in result.groups}
    # the file's structure is checked, and every group's bank built back from it, which checks
    # the values as well (an asymptote outside [0, 1), …)
    pf = ParameterFile.from_bank(result.bank, **content)
    if anchor_file is not None and skip:
        pf = _with_anchor_records(pf, anchor_file)
    return pf


def _standard_errors(bank: ItemBank, items: Sequence[ItemEstimates], skip: set[str]
                     ) -> dict[str, dict[str, Any]]:
    return {record["id"]: record_standard_errors(item, record)
            for record, item in zip(bank.to_records(), items, strict=True)
            if record["id"] not in skip}


def _with_anchor_records(pf: ParameterFile, anchor_file: ParameterFile) -> ParameterFile:
    """The anchors written exactly as the anchor file has them (without its standard errors).

    The bank holds them in slope-intercept form, and the way back to the traditional form may
    differ in the last digit; the parameters of a fixed item are the anchor file's, so its very
    numbers are written.
    """
    from qabilet.itembank.parameter_file import ParameterFile

    given = {item.id: (item, model) for item, model in zip(anchor_file.items,
                                                           anchor_file.item_models(), strict=True)}
    items = []
    for item in pf.model_dump(mode="json", exclude_none=True)["items"]:
        if item["id"] in given:
            record, model = given[item["id"]]
            item = {"id": record.id, "model": model,
                    **record.model_dump(mode="json", exclude_none=True,
                                        exclude={"id", "model", "se"})}
        items.append(item)
    out = ParameterFile.from_data({**pf.model_dump(mode="json", exclude_none=True),
                                   "items": items})
    out.to_bank()  # the same items as the bank, up to the last digit
    return out
