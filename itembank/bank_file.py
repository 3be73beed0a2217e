"""Import and export of a whole bank: the JSON document, the parameter CSV, the mirt table, responses.

* **JSON** (``qabilet-bank``, format version 1): every record — dimensions, response scales,
  items with their texts, recommendations, bank versions with their parameters, norm sets,
  blueprints. Export then import into an empty database gives the same bank.
* **Parameter CSV**: one row per item of one bank version; ``item``, ``model``, then each
  parameter of the item's record (:mod:`qabilet.itembank.parameter_file`) — a scalar in a column of its
  name, a list in columns ``name1 … nameK`` — standard errors in ``se_<column>``, original codes in
  ``categories`` (space-separated). Importing one makes a draft version (or replaces a draft's
  parameters) with the latent distribution of the version it is based on.
* **mirt table**: slope-intercept parameters with mirt's column names (``a1 … aF``, ``d`` or
  ``d1 …``, ``g``, ``u``; ``ak0 …``/``d0 …`` for nominal and partial-credit items), as
  ``coef(fit, simplify = TRUE)$items`` prints them.
* **Responses** for calibration: the response CSV of docs/design.md §6 (``person_id``, ``language``,
  ``level``, one column per item) and a companion CSV of response times in seconds, same shape.

Every import is validated whole before anything is written: :class:`ImportRejectedError` lists
every bad row (CSV row, or JSON entry) with its field and reason, and the bank is left unchanged.
A document never changes what a published version shows: new texts of its items, dimensions or
scales go into a new draft version (:class:`ImportedBank`), and a calibrated item's options
reordered, added or removed are refused unless the document brings its new parameters as a new
version (:meth:`~qabilet.itembank.repository.BankRepository.load`).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

import numpy as np
from pydantic import BaseModel, ValidationError

from qabilet.engine.bank import ItemBank
from qabilet.engine.exceptions import (
    ConflictError,
    DataFileError,
    ImmutableRecordError,
    ImportRejectedError,
    InvalidParameterError,
    NotFoundError,
)
from qabilet.itembank._runtime import installed_version
from qabilet.itembank._schema import Schema
from qabilet.itembank.blueprints import StoredBlueprint
from qabilet.itembank.content import Dimension, Item, Recommendation, ResponseScale
from qabilet.itembank.forced_choice_parameters import (
    ForcedChoiceParameters,
    is_forced_choice_parameters,
    read_forced_choice_parameters,
)
from qabilet.itembank.parameter_file import LatentRecord, ParameterFile
from qabilet.itembank.repository import BankRepository, Response
from qabilet.itembank.versions import BankVersion, NormSet, Provenance

__all__ = [
    "BankDocument",
    "ImportedBank",
    "export_document",
    "format_block_answers",
    "format_block_design",
    "format_mirt_table",
    "format_parameters_csv",
    "format_responses",
    "import_document",
    "import_parameters",
    "is_bank_document",
    "load_document",
    "mirt_rows",
    "read_mirt_table",
    "read_parameter_json",
    "read_parameters_csv",
]

FORMAT: Final = "qabilet-bank"
_SECTIONS: dict[str, type[BaseModel]] = {
    "dimensions": Dimension, "scales": ResponseScale, "items": Item,
    "recommendations": Recommendation, "versions": BankVersion, "norm_sets": NormSet,
    "blueprints": StoredBlueprint,
}
_PARAMETERS = ("a", "ak", "b", "c", "u", "d", "tau")
_COLUMN = re.compile(r"^(?P<se>se_)?(?P<name>a|ak|b|c|u|d|tau)(?P<index>[1-9][0-9]*)?$")


class BankDocument(Schema):
    """A whole bank as one JSON document.

    Attributes
    ----------
    format : "qabilet-bank"
    format_version : 1
    exported_at : datetime, optional
    software_version : str, optional
    dimensions, scales, items, recommendations, versions, norm_sets, blueprints : lists
        The records, each as its schema.
    """

    format: Literal["qabilet-bank"] = FORMAT
    format_version: Literal[1] = 1
    exported_at: datetime | None = None
    software_version: str | None = None
    dimensions: list[Dimension] = []
    scales: list[ResponseScale] = []
    items: list[Item] = []
    recommendations: list[Recommendation] = []
    versions: list[BankVersion] = []
    norm_sets: list[NormSet] = []
    blueprints: list[StoredBlueprint] = []

    def to_json(self) -> str:
        """The document's text (UTF-8, indented, exact floats)."""
        return json.dumps(self.model_dump(mode="json", exclude_none=True), ensure_ascii=False,
                          indent=1) + "\n"

    def content(self) -> dict[str, Any]:
        """The records without the export stamp: what two equal banks share."""
        return self.model_dump(mode="json", exclude_none=True,
                               exclude={"exported_at", "software_version"})


@dataclass(frozen=True, slots=True)
class ImportedBank:
    """What :func:`import_document` did.

    Attributes
    ----------
    document : BankDocument
        The records imported.
    draft : BankVersion, optional
        The draft version that carries new texts of what a published version showed (made by
        this import, or a draft that already showed them), with the changes in its provenance.
    """

    document: BankDocument
    draft: BankVersion | None = None

    def counts(self) -> dict[str, int]:
        """Records imported, by section of the document."""
        return {key: len(getattr(self.document, key)) for key in _SECTIONS}


def export_document(repo: BankRepository, *, software_version: str | None = None) -> BankDocument:
    """Every record of the bank, as a :class:`BankDocument`."""
    return BankDocument(
        exported_at=datetime.now(UTC), software_version=software_version,
        dimensions=list(repo.dimensions().values()), scales=list(repo.scales().values()),
        items=repo.items(), recommendations=repo.recommendations(), versions=repo.versions(),
        norm_sets=repo.norm_sets(), blueprints=repo.blueprints())


def _pydantic_problems(exc: ValidationError, row: int, where: str) -> list[tuple[int, str, str]]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"])
        out.append((row, f"{where}.{loc}" if loc else where, err["msg"].removeprefix("Value error, ")))
    return out


def is_bank_document(text: str) -> bool:
    """True when ``text`` is JSON with ``"format": "qabilet-bank"``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT


def import_document(repo: BankRepository, text: str, *, path: str | None = None,
                    by: str | None = None) -> ImportedBank:
    """Import a JSON bank document; all or nothing.

    New texts of records that a published version shows go into a draft version, recorded with
    ``by``, ``path`` and the time; the published version keeps showing its own.

    Returns
    -------
    ImportedBank
        What was imported, and the draft version carrying new texts (if any).

    Raises
    ------
    ImportRejectedError
        Every bad entry: ``row`` is the entry's 1-based position in its list, ``field`` its JSON
        path (``items[3] ('SRV-L04').levels``); a calibrated item whose options are reordered,
        added or removed without its new parameters as a new version in the document; and a
        record that contradicts the stored bank.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFileError(f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
                            path=path) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DataFileError(f'expected a bank document, a JSON object with "format": "{FORMAT}"',
                            path=path)
    problems: list[tuple[int, str, str]] = []
    parsed: dict[str, list[Any]] = {}
    for key in sorted(set(data) - set(BankDocument.model_fields)):
        problems.append((0, key, f"unknown field; expected some of {', '.join(BankDocument.model_fields)}"))
    for key, schema in _SECTIONS.items():
        entries = data.get(key, [])
        if not isinstance(entries, list):
            problems.append((0, key, f"expected a list; got {type(entries).__name__}"))
            continue
        parsed[key] = []
        for k, entry in enumerate(entries):
            label = entry.get("id", entry.get("number")) if isinstance(entry, dict) else None
            where = f"{key}[{k}]" + (f" ({label!r})" if label is not None else "")
            try:
                parsed[key].append(schema.model_validate(entry))
            except ValidationError as exc:
                problems.extend(_pydantic_problems(exc, k + 1, where))
    if problems:
        raise ImportRejectedError(problems, path=path)
    try:
        document = BankDocument.model_validate({**data, **parsed})
    except ValidationError as exc:
        raise ImportRejectedError(_pydantic_problems(exc, 0, "document"), path=path) from None
    return load_document(repo, document, path=path, by=by)


def load_document(repo: BankRepository, document: BankDocument, *, path: str | None = None,
                  by: str | None = None, renumber: bool = False) -> ImportedBank:
    """Write a bank document's records in one transaction: all or nothing (:func:`import_document`).

    ``renumber``: the document's versions are new ones, numbered from the next free number in
    the same transaction (a QTI package's version, :mod:`qabilet.itembank.qti_import`).

    Raises
    ------
    ImportRejectedError
        As :func:`import_document`.
    """
    try:
        with repo.transaction() as s:
            if renumber:
                first = repo.next_version_number(s)
                document = document.model_copy(update={"versions": [
                    v.model_copy(update={"number": first + k})
                    for k, v in enumerate(document.versions)]})
            draft = repo.load(s, dimensions=document.dimensions, scales=document.scales,
                              items=document.items, recommendations=document.recommendations,
                              versions=document.versions, norm_sets=document.norm_sets,
                              blueprints=document.blueprints, by=by, source=path)
    except ImportRejectedError as exc:
        raise ImportRejectedError(exc.problems, path=path) from None
    except (ConflictError, ValueError) as exc:
        raise ImportRejectedError([(0, "document", str(exc))], path=path) from None
    return ImportedBank(document, draft)


# -- the parameter CSV ----------------------------------------------------------------------------------
def _cell(value: Any) -> str:
    return "" if value is None else repr(float(value))


def format_parameters_csv(version: BankVersion) -> str:
    """The parameters of ``version`` as CSV, one row per item (exact floats).

    Examples
    --------
    >>> pf = ParameterFile.model_validate({"model": "grm", "latent": {"mean": [0.0], "cov": [[1.0]]},
    ...     "items": [{"id": "Q1", "a": 1.5, "b": [-1.0, 0.5], "se": {"a": 0.1, "b": [0.2, 0.3]}}]})
    >>> v = BankVersion(number=1, created_at=datetime(2026, 1, 1, tzinfo=UTC),
    ...                 provenance=Provenance(method="m", software_version="0"), parameters=pf)
    >>> print(format_parameters_csv(v), end="")
    item,model,a,b1,b2,se_a,se_b1,se_b2,categories
    Q1,grm,1.5,-1.0,0.5,0.1,0.2,0.3,
    """
    pf = version.parameters
    rows: list[dict[str, str]] = []
    for item, model in zip(pf.items, pf.item_models(), strict=True):
        row = {"item": item.id, "model": model}
        for prefix, values in (("", item.parameters()), ("se_", item.se or {})):
            for name in _PARAMETERS:
                value = values.get(name)
                if isinstance(value, list):
                    row.update({f"{prefix}{name}{k + 1}": _cell(v) for k, v in enumerate(value)})
                elif value is not None:
                    row[f"{prefix}{name}"] = _cell(value)
        row["categories"] = " ".join(map(str, item.categories or []))
        rows.append(row)
    return _write_rows(rows, first=["item", "model"], last=["categories"])


def _write_rows(rows: list[dict[str, str]], *, first: list[str], last: list[str]) -> str:
    def order(column: str) -> tuple[int, int, str, int]:
        m = _COLUMN.match(column)
        if m is None:
            return (0 if column in first else 2, (first + last).index(column), column, 0)
        return (1, int(bool(m["se"])) * 10 + _PARAMETERS.index(m["name"]), "", int(m["index"] or 0))

    columns = sorted({c for row in rows for c in row} | set(first) | set(last), key=order)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def read_parameters_csv(text: str, base: ParameterFile, *, path: str | None = None) -> ParameterFile:
    """Read a parameter CSV into a parameter file with ``base``'s latent distribution and groups.

    Raises
    ------
    ImportRejectedError
        Every bad row (1-based data row), its column and the reason; a header problem as row 0.
    """
    def known(name: str) -> bool:
        return name in ("item", "model", "categories") or _COLUMN.match(name) is not None

    return _read_table(text, base, path=path, required=("item", "model"), known=known,
                       expected="item, model, categories, a … tau (with 1-based indices for "
                                "lists) or se_<column>",
                       parse=_record)


def read_mirt_table(text: str, base: ParameterFile, *, path: str | None = None) -> ParameterFile:
    """Read mirt's slope-intercept table (``coef(fit, simplify = TRUE)$items`` written as CSV).

    The first column names the item (``item``, or mirt's unnamed row-name column); then
    ``a1 … aF`` (F: the factors of ``base``), ``d`` with ``g`` and ``u`` (dichotomous), ``d1 …``
    (graded) or ``ak0 …`` with ``d0 …`` (nominal). The table has no item types: an item that is in
    ``base`` keeps its model and original codes; a new one is a 2PL, 3PL or 4PL (by ``g`` and
    ``u``), a graded or a nominal item. Partial-credit and Rasch-family items are read through
    the JSON or CSV formats, which name the model.

    Raises
    ------
    ImportRejectedError
        Every bad row, its column and the reason.
    """
    known_models = dict(zip((i.id for i in base.items), base.item_models(), strict=True))
    codes = base.recodings()
    n_dims = base.latent.n_dims

    def known(name: str) -> bool:
        return name in ("item", "", "g", "u") or _MIRT_COLUMN.match(name) is not None

    def parse(row: dict[str, str]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return _mirt_record(row, n_dims, known_models, codes)

    text = re.sub(r'^(""|)(?=,)', "item", text, count=1)  # R's write.csv leaves the row names unnamed
    return _read_table(text, base, path=path, required=("item", "a1"), known=known,
                       expected="item, a1 … aF, d or d1 … or d0 …, ak0 …, g, u", parse=parse)


def _read_table(text: str, base: ParameterFile, *, path: str | None, required: tuple[str, ...],
                known: Callable[[str], bool], expected: str,
                parse: Callable[[dict[str, str]], tuple[dict[str, Any], list[tuple[str, str]]]]
                ) -> ParameterFile:
    """A parameter table, row by row, into ``base``'s parameter file: all bad rows, or the file."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise DataFileError(f"empty file; expected a header row {', '.join(required)}, …",
                            path=path)
    problems: list[tuple[int, str, str]] = [(0, name, f"unknown column; expected {expected}")
                                            for name in header if not known(name)]
    problems += [(0, name, "missing column") for name in required if name not in header]
    if problems:
        raise ImportRejectedError(problems, path=path)
    records: list[dict[str, Any]] = []
    rows: list[int] = []
    for n, cells in enumerate(reader, start=1):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            problems.append((n, "", f"expected {len(header)} cells, as the header; got {len(cells)}"))
            continue
        record, bad = parse(dict(zip(header, cells, strict=True)))
        problems.extend((n, column, reason) for column, reason in bad)
        if not bad:
            records.append(record)
            rows.append(n)
    problems.extend(_record_problems(records, rows, base.latent.model_dump(mode="json",
                                                                        exclude_none=True)))
    if problems:
        raise ImportRejectedError(sorted(problems), path=path)
    data = base.model_dump(mode="json", exclude_none=True)
    data.update(items=records, model=None)
    for key in ("loglik", "aic", "bic", "n_iter", "converged", "method"):
        data.pop(key, None)
    return ParameterFile.model_validate(data)


_MIRT_COLUMN = re.compile(r"^(?P<name>a|ak|d)(?P<index>[0-9]+)$|^d$")
#: models the mirt table can carry without naming them
_MIRT_MODELS = ("2pl", "3pl", "4pl", "grm", "nominal")


def _mirt_record(row: dict[str, str], n_dims: int, models: dict[str, str],
                 codes: dict[str, tuple[int, ...]]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """One row of mirt's table as a slope-intercept record, and the problems of its cells."""
    bad: list[tuple[str, str]] = []
    values: dict[str, float] = {}
    for column, cell in row.items():
        if column == "item" or not cell.strip():
            continue
        try:
            values[column] = float(cell)
        except ValueError:
            bad.append((column, f"expected a number; got {cell!r}"))
    item_id = row["item"].strip()
    if not item_id:
        bad.append(("item", "expected an item id"))
    slopes = [values.get(f"a{k}") for k in range(1, n_dims + 1)]
    if any(a is None for a in slopes):
        bad.append(("a1", f"expected slopes a1 … a{n_dims}, one per factor of the bank version"))
    if bad:
        return {}, bad

    def series(prefix: str, start: int) -> list[float]:
        out, k = [], start
        while f"{prefix}{k}" in values:
            out.append(values[f"{prefix}{k}"])
            k += 1
        return out

    ak, d_nominal, d_graded = series("ak", 0), series("d", 0), series("d", 1)
    g, u = values.get("g", 0.0), values.get("u", 1.0)
    inferred = ("nominal" if ak else "grm" if d_graded else
                "4pl" if u != 1.0 else "3pl" if g != 0.0 else "2pl")
    model = models.get(item_id, inferred)
    if model not in _MIRT_MODELS:
        return {}, [("item", f"a {model} item: mirt's table does not say so; import it through the "
                             f"JSON or CSV format")]
    record: dict[str, Any] = {"id": item_id, "model": model,
                              "a": slopes[0] if n_dims == 1 else slopes}
    if model == "nominal":
        record.update(ak=ak, d=d_nominal)
    elif model == "grm":
        record["d"] = d_graded
    else:
        record["d"] = values.get("d")
        if record["d"] is None:
            return {}, [("d", "expected the intercept d of a dichotomous item")]
        if model in ("3pl", "4pl"):
            record["c"] = g
        if model == "4pl":
            record["u"] = u
        if (model == "2pl" and (g, u) != (0.0, 1.0)) or (model == "3pl" and u != 1.0):
            return {}, [("g" if g != 0.0 else "u", f"a {model} item has g = 0 and u = 1; got g = "
                                                    f"{g:g}, u = {u:g}")]
    if item_id in codes:
        record["categories"] = list(codes[item_id])
    return record, []


def _record(row: dict[str, str]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """One CSV row as an item record, and the problems of its cells."""
    bad: list[tuple[str, str]] = []
    record: dict[str, Any] = {"id": row["item"].strip(), "model": row["model"].strip()}
    lists: dict[tuple[str, str], dict[int, float]] = {}
    for column, cell in row.items():
        m = _COLUMN.match(column)
        if m is None or not cell.strip():
            continue
        try:
            number = float(cell)
        except ValueError:
            bad.append((column, f"expected a number; got {cell!r}"))
            continue
        if not np.isfinite(number):
            bad.append((column, f"expected a finite number; got {cell!r}"))
            continue
        key = (m["se"] or "", m["name"])
        if m["index"] is None:
            lists.setdefault(key, {})[0] = number
        else:
            lists.setdefault(key, {})[int(m["index"])] = number
    for (se, name), values in sorted(lists.items()):  # parameters ("") before their SEs
        if 0 in values and len(values) > 1:
            bad.append((f"{se}{name}", f"either {se}{name} or {se}{name}1 …, not both"))
            continue
        value: float | list[float | None]
        if 0 in values:
            value = values[0]
        elif se:  # shaped like its parameter; a blank cell is a parameter not estimated
            size = len(p) if isinstance(p := record.get(name), list) else max(values)
            value = [values.get(i) for i in range(1, size + 1)]
        else:
            k = sorted(values)
            if k != list(range(1, len(k) + 1)):
                bad.append((f"{name}{k[-1]}", f"list columns {name}1 … run without gaps"))
                continue
            value = [values[i] for i in k]
        if se:
            record.setdefault("se", {})[name] = value
        else:
            record[name] = value
    codes = row.get("categories", "").split()
    if codes:
        try:
            record["categories"] = [int(c) for c in codes]
        except ValueError:
            bad.append(("categories", f"expected integer codes separated by spaces; got "
                                      f"{row['categories']!r}"))
    if not record["id"]:
        bad.append(("item", "expected an item id"))
    if not record["model"]:
        bad.append(("model", "expected a model name (2pl, grm, nominal, …)"))
    return record, bad


def _record_problems(records: list[dict[str, Any]], rows: list[int], latent: dict[str, Any]
                     ) -> list[tuple[int, str, str]]:
    """Every record's own problems, and ids that repeat."""
    ids = [r.get("id") for r in records]
    return [*_check_records(records, rows, latent),
            *((rows[k], "item", f"{i!r} also on row {rows[ids.index(i)]}")
              for k, i in enumerate(ids) if ids.index(i) != k)]


def _check_records(records: list[dict[str, Any]], rows: list[int], latent: dict[str, Any]
                   ) -> list[tuple[int, str, str]]:
    """Problems of each record on its own: schema, then the engine's parameter checks."""
    out: list[tuple[int, str, str]] = []
    for row, record in zip(rows, records, strict=True):
        try:
            ParameterFile.model_validate({"latent": latent, "items": [record]}).to_bank()
        except ValidationError as exc:
            for err in exc.errors():
                loc = [str(x) for x in err["loc"] if x not in ("items", 0)]
                out.append((row, ".".join(loc) or "item", err["msg"].removeprefix("Value error, ")))
        except (DataFileError, InvalidParameterError) as exc:
            out.append((row, "parameters", str(exc).removeprefix("items[0]: ")))
    return out


def read_parameter_json(text: str, *, path: str | None = None) -> ParameterFile:
    """Read a parameter file (docs/design.md §6, as ``qabilet calibrate`` writes it), every bad item named.

    Raises
    ------
    ImportRejectedError
        Each bad item (``row``: its 1-based position in ``items``), or the latent distribution.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFileError(f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
                            path=path) from None
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise DataFileError('expected a parameter file, a JSON object with "latent" and "items"',
                            path=path)
    try:
        latent = LatentRecord.model_validate(data.get("latent")).model_dump(mode="json",
                                                                              exclude_none=True)
    except ValidationError as exc:
        raise ImportRejectedError(_pydantic_problems(exc, 0, "latent"), path=path) from None
    default = {"model": data["model"]} if isinstance(data.get("model"), str) else {}
    records, rows, problems = [], [], []
    for k, item in enumerate(data["items"]):
        if isinstance(item, dict):
            records.append({**default, **item})
            rows.append(k + 1)
        else:
            problems.append((k + 1, f"items[{k}]", f"expected an object; got {type(item).__name__}"))
    problems += _record_problems([{k: v for k, v in r.items() if k != "groups"} for r in records],
                                 rows, latent)
    if problems:
        raise ImportRejectedError(sorted(problems), path=path)
    try:  # the file as a whole (groups, …)
        return ParameterFile.model_validate(data)
    except ValidationError as exc:
        raise ImportRejectedError(_pydantic_problems(exc, 0, "file"), path=path) from None


def import_parameters(repo: BankRepository, text: str, *, path: str | None = None,
                      version: int | None = None, base: int | None = None,
                      software_version: str | None = None) -> BankVersion:
    """Import item parameters as a new draft version, or as draft ``version``'s parameters.

    The text is a parameter file (JSON, with its own latent distribution), the parameter CSV (a
    header with a ``model`` column) or mirt's table (:func:`read_mirt_table`); the tables take
    the latent distribution of ``base`` (default: the newest version) or of ``version``.

    A forced-choice parameter file (``qabilet calibrate-fc``'s,
    :mod:`qabilet.itembank.forced_choice_parameters`) gives a version its blocks: a new draft
    with the items' parameters of ``base`` (default: the newest version), or draft ``version``
    with its items' parameters kept. Its blocks must be the bank's forced-choice items, their
    statements the items' (ids, dimensions, keying), its traits the version's dimensions.

    Raises
    ------
    ImportRejectedError
        Every bad row; or items the bank does not hold.
    ImmutableRecordError
        ``version`` is published.
    """
    target = repo.version(version) if version is not None else None
    if is_forced_choice_parameters(text):
        return _import_blocks(repo, read_forced_choice_parameters(text, path=path), path=path,
                              target=target, base=base, software_version=software_version)
    notes = None
    if text.lstrip().startswith("{"):
        parameters = read_parameter_json(text, path=path)
        origin = parameters.method or "a parameter file"
        previous = target or (repo.version(base) if base is not None else _newest(repo, None))
        if previous is not None:
            parameters, kept = _keep_codes(parameters, previous.parameters)
            if kept:
                notes = (f"answer-code mappings of version {previous.number} kept for {kept} "
                         f"items calibrated on model categories")
    else:
        source = target or (repo.version(base) if base is not None else _newest(repo))
        header = next(csv.reader(io.StringIO(text)), [])
        reader = read_parameters_csv if "model" in header else read_mirt_table
        parameters = reader(text, source.parameters, path=path)
        origin = f"a parameter table; latent distribution of version {source.number}"
    try:
        if target is not None:
            return repo.update_version(target.number, parameters)
        provenance = Provenance(method=f"imported from {path or 'a file'} ({origin})",
                                software_version=software_version or installed_version(),
                                notes=notes)
        return repo.create_version(parameters, provenance)
    except ImmutableRecordError:
        raise
    except ConflictError as exc:
        raise ImportRejectedError([(0, "items", str(exc))], path=path) from None


def _import_blocks(repo: BankRepository, blocks: ForcedChoiceParameters, *, path: str | None,
                   target: BankVersion | None, base: int | None,
                   software_version: str | None) -> BankVersion:
    """Store ``blocks`` in draft ``target``, or in a new draft with ``base``'s item parameters."""
    try:
        if target is not None:
            return repo.update_version(target.number, target.parameters, forced_choice=blocks)
        source = repo.version(base) if base is not None else _newest(repo)
        method = blocks.estimation.get("method") or "forced-choice calibration"
        provenance = Provenance(
            method=f"imported from {path or 'a file'} ({len(blocks.blocks)} forced-choice "
                   f"blocks, {method}); items' parameters of version {source.number}",
            software_version=software_version or installed_version(), based_on=source.number,
            n_persons=blocks.estimation.get("n_persons"))
        return repo.create_version(source.parameters, provenance, pretest=source.pretest,
                                   forced_choice=blocks)
    except ImmutableRecordError:
        raise
    except ConflictError as exc:
        raise ImportRejectedError([(0, "blocks", str(exc))], path=path) from None
    except ValidationError as exc:  # the version refuses the blocks (an item's id, a trait)
        raise ImportRejectedError([(0, "blocks", e["msg"].removeprefix("Value error, "))
                                   for e in exc.errors()], path=path) from None


def _keep_codes(parameters: ParameterFile, previous: ParameterFile) -> tuple[ParameterFile, int]:
    """Give items fitted on model categories (codes 0 … K−1) the previous version's answer codes.

    The response export writes model categories (:func:`format_responses`), so a calibration of
    it records the identity recoding; the answer codes of a reverse-keyed statement or an
    oriented situational item are the previous version's.
    """
    old = previous.recodings()
    items, kept = [], 0
    for item in parameters.items:
        codes = old.get(item.id)
        k = len(codes) if codes else 0
        if codes and list(codes) != list(range(k)) and item.categories in (None, list(range(k))):
            item = item.model_copy(update={"categories": list(codes)})
            kept += 1
        items.append(item)
    return parameters.model_copy(update={"items": items}), kept


_REQUIRED = object()


def _newest(repo: BankRepository, default: Any = _REQUIRED) -> Any:
    versions = repo.versions()
    if not versions:
        if default is not _REQUIRED:
            return default
        raise ConflictError("the bank has no version to take a latent distribution from; import "
                            "a JSON bank or parameter file first")
    return versions[-1]


# -- the mirt table ---------------------------------------------------------------------------------------
def mirt_rows(bank: ItemBank) -> list[dict[str, Any]]:
    """Slope-intercept parameters with mirt's column names, one row per item (``item`` first)."""
    rows: list[dict[str, Any]] = [{} for _ in bank.item_ids]
    for model, positions in zip(bank.models, bank.positions, strict=True):
        names = model.param_names()
        for psi, p in zip(model.param_vector(), positions, strict=True):
            rows[p] = {"item": bank.item_ids[p],
                       **{n: float(v) for n, v in zip(names, psi, strict=True) if not np.isnan(v)}}
    return rows


def format_mirt_table(rows: Sequence[dict[str, Any]]) -> str:
    """CSV of :func:`mirt_rows` (with a leading ``group`` column when the rows have one)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if (v := row.get(c)) is None else v if isinstance(v, str)
                         else repr(float(v)) for c in columns])
    return buffer.getvalue()


# -- responses for calibration ----------------------------------------------------------------------------
def format_responses(responses: Sequence[Response], item_ids: Sequence[str] | None = None,
                     recodings: Mapping[int, Mapping[str, Sequence[int]]] | None = None
                     ) -> tuple[str, str]:
    """The response CSV of docs/design.md §6 and its companion CSV of response times (seconds).

    One row per session (per person when answers carry no session): ``person_id`` (the person's
    id, with ``/session`` appended when a person has several sessions), ``language``, ``level``,
    then one column per item, in ``item_ids`` order (default: sorted). Calibrate it with
    ``qabilet calibrate FILE --exclude language,level`` (or ``--groups language``).

    Parameters
    ----------
    recodings : mapping, optional
        Bank version → item → the answer codes of categories 0 … K−1 (a version's
        :meth:`~qabilet.itembank.parameter_file.ParameterFile.recodings`). Given, each answer is written
        as the model category of the version its session was pinned to — reverse-keyed statements
        reversed, situational options in their orientation — so that a calibration finds every
        slope positive; without it, the codes as answered.
    """
    items = list(item_ids) if item_ids is not None else sorted({r.item_id for r in responses})
    ids, row_of, column = _layout(responses, items)
    answers = np.full((len(ids), len(items)), "", dtype=object)
    times = np.full((len(ids), len(items)), "", dtype=object)
    meta: list[tuple[str, str]] = [("", "")] * len(ids)
    for r in responses:
        if r.item_id not in column:
            continue
        i, j = row_of[(r.person_id, r.session_id)], column[r.item_id]
        codes = (recodings or {}).get(r.bank_version, {}).get(r.item_id)
        answers[i, j] = str(r.code if codes is None else list(codes).index(r.code))
        times[i, j] = "" if r.response_time_s is None else repr(float(r.response_time_s))
        meta[i] = (r.language, r.level)
    return _wide(ids, meta, items, answers), _wide(ids, meta, items, times)


def _layout(responses: Sequence[Response], columns: Sequence[str]
            ) -> tuple[list[str], dict[tuple[str, str | None], int], dict[str, int]]:
    """A wide sheet's rows and columns.

    One row per session (per person when answers carry no session), its id the person's with
    ``/session`` appended when a person has several. Returns the rows' ids, (person, session)
    → row, and column name → column.
    """
    keys = list(dict.fromkeys((r.person_id, r.session_id) for r in responses))
    sessions_of: dict[str, int] = {}
    for person, _ in keys:
        sessions_of[person] = sessions_of.get(person, 0) + 1
    ids = [p if sessions_of[p] == 1 or s is None else f"{p}/{s}" for p, s in keys]
    return ids, {key: k for k, key in enumerate(keys)}, {c: k for k, c in enumerate(columns)}


def format_block_answers(responses: Sequence[Response], block_ids: Sequence[str] | None = None
                         ) -> str:
    """Block answers as the forced-choice answer file that ``qabilet calibrate-fc`` reads.

    One row per session (per person when answers carry no session; ``/session`` appended to the
    person's id when a person has several), then one column per block in ``block_ids`` order
    (default: sorted); a cell is the block's ranking as recorded (``S3>S1>S2``,
    ``S7>S5=S8>S6``), empty for a block not answered.
    """
    rows = [r for r in responses if r.ranking]
    blocks = list(block_ids) if block_ids is not None else sorted({r.item_id for r in rows})
    ids, row_of, column = _layout(rows, blocks)
    cells = np.full((len(ids), len(blocks)), "", dtype=object)
    for r in rows:
        if r.item_id in column:
            cells[row_of[(r.person_id, r.session_id)], column[r.item_id]] = r.ranking
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["person_id", *blocks])
    writer.writerows([i, *row] for i, row in zip(ids, cells.tolist(), strict=True))
    return buffer.getvalue()


def format_block_design(version: BankVersion) -> str:
    """The forced-choice design (JSON, docs/file-formats.md) of ``version``'s blocks.

    Traits, then each block's statements with their traits and keying, as ``qabilet
    calibrate-fc`` reads them with :func:`format_block_answers`' file.

    Raises
    ------
    NotFoundError
        The version has no blocks.
    """
    if version.forced_choice is None:
        raise NotFoundError(f"bank version {version.number} has no forced-choice blocks")
    fc = version.forced_choice
    return json.dumps({"traits": list(fc.traits), "blocks": [
        {"id": b.id, "statements": [{"id": st.id, "trait": st.trait, "keyed": st.keyed}
                                    for st in b.statements]} for b in fc.blocks]},
        ensure_ascii=False, indent=1) + "\n"


def _wide(ids: list[str], meta: list[tuple[str, str]], items: list[str], cells: np.ndarray) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["person_id", "language", "level", *items])
    for person, (language, level), row in zip(ids, meta, cells, strict=True):
        writer.writerow([person, language, level, *row])
    return buffer.getvalue()
