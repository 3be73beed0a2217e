"""A study's TOML file: the conditions crossed, validated at the edge (pydantic).

A study crosses **banks** × **blueprints** × **selection rules** × **exposure rules** ×
**stopping rules** × **true-θ distributions**; every combination is a *cell*, run for
``replications`` × ``simulees`` simulees. Every key is described in ``docs/studies.md``.

An error names the key and what was expected, e.g. ``selection[2]: unknown rule 'foo';
expected one of mfi, mpwi, …`` (list positions count from 0), with the file in front.
"""

from __future__ import annotations

import math
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from qabilet.engine.cat.blueprint import CLASSIFICATIONS, SELECTIONS, Blueprint, parse_exposure
from qabilet.engine.exceptions import DataFileError, InvalidParameterError

__all__ = ["BankSpec", "BlueprintSpec", "ReportSpec", "StoppingSpec", "StudySpec", "ThetaSpec",
           "load_spec", "parse_spec"]

#: the Blueprint fields a stopping rule sets (the rest of a blueprint is not its business)
STOPPING_FIELDS = ("min_items", "max_items", "se_target", "min_information", "classification",
                   "cut_scores", "indifference", "alpha", "beta")
#: keys of a blueprint entry that are not Blueprint fields
_BLUEPRINT_OWN = ("name", "file")


def _problem(message: str) -> PydanticCustomError:
    """A validation error whose message is ours, word for word."""
    return PydanticCustomError("study", "{message}", {"message": message})


def _label(value: str) -> str:
    text = value.strip()
    if not text or any(c in text for c in "\r\n\t"):
        raise _problem(f"expected a name of 1–80 characters on one line; got {value!r}")
    return text


#: a level's name: shown in the tidy table's factor columns and the report
Label = Annotated[str, Field(min_length=1, max_length=80), AfterValidator(_label)]


def _selection(value: str) -> str:
    name = value.strip().lower()
    if name not in SELECTIONS:
        raise _problem(f"unknown rule {value!r}; expected one of {', '.join(SELECTIONS)}")
    return name


def _exposure(value: str) -> str:
    try:
        name, setting = parse_exposure(value)
    except InvalidParameterError as exc:
        raise _problem(str(exc).removeprefix("exposure: ")) from None
    return name if setting is None else f"{name}:{setting:g}"


class _Spec(BaseModel):
    """Frozen; an unknown key is an error naming it."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class BankSpec(_Spec):
    """One bank: a parameter file, or a section of a bank version in the database.

    Attributes
    ----------
    name : str
        The level's name in the tidy table (column ``bank``).
    file : path, optional
        A parameter file (relative to the study file's folder).
    database : str, optional
        A database URL (``sqlite:///qabilet.db``, ``postgresql://…``); with ``level`` and
        ``section``, and optionally ``blueprint`` (the stored blueprint's number; default the
        level's newest) and ``bank_version`` (default the one the blueprint was validated
        against). The section's items and stored rules are the cell's starting blueprint.
    """

    name: Label
    file: Path | None = None
    database: str | None = Field(default=None, min_length=1)
    bank_version: int | None = Field(default=None, ge=1)
    level: Literal["high", "middle", "low"] | None = None
    section: str | None = Field(default=None, min_length=1)
    blueprint: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_source(self) -> BankSpec:
        if (self.file is None) == (self.database is None):
            raise _problem("expected exactly one of 'file' (a parameter file) and 'database' "
                           "(with 'level' and 'section')")
        stored = ("bank_version", "level", "section", "blueprint")
        if self.file is not None:
            given = [k for k in stored if getattr(self, k) is not None]
            if given:
                raise _problem(f"{given[0]!r} goes with 'database', not with 'file'")
        elif self.level is None or self.section is None:
            raise _problem("a bank from the database needs 'level' and 'section' (the stored "
                           "blueprint's section whose items and rules the study runs)")
        return self


class BlueprintSpec(_Spec):
    """One blueprint: fields of :class:`qabilet.engine.cat.Blueprint` over the bank's own.

    ``file`` (a blueprint JSON, relative to the study file's folder) is read first, the keys
    written here override it; both override the bank's stored rules (a database bank) or the
    engine's defaults (a parameter file).
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    name: Label
    file: Path | None = None

    @model_validator(mode="after")
    def _known_fields(self) -> BlueprintSpec:
        # the values are checked once the cell's whole blueprint is known (a blueprint's
        # min_items may need a stopping rule's max_items); the names here
        known = set(Blueprint.__dataclass_fields__)
        unknown = sorted(set(self.model_extra or {}) - known)
        if unknown:
            raise _problem(f"unknown key {unknown[0]!r}; expected name, file or fields of a "
                           f"blueprint: {', '.join(sorted(known))}")
        return self

    @property
    def fields(self) -> dict[str, Any]:
        """The Blueprint fields written here (``se_target = 0``: no SE stop)."""
        out = dict(self.model_extra or {})
        if out.get("se_target") == 0:
            out["se_target"] = None
        return out


class StoppingSpec(_Spec):
    """One stopping rule: the stopping fields of a Blueprint it sets (the others stay).

    ``se_target = 0`` means no SE stop (a fixed length of ``max_items``).
    """

    name: Label
    se_target: float | None = Field(default=None, ge=0)
    min_items: int | None = Field(default=None, ge=0)
    max_items: int | None = Field(default=None, ge=1)
    min_information: float | None = Field(default=None, gt=0)
    classification: str | None = None
    cut_scores: list[float] | None = None
    indifference: float | None = Field(default=None, gt=0)
    alpha: float | None = Field(default=None, gt=0, lt=0.5)
    beta: float | None = Field(default=None, gt=0, lt=0.5)

    @field_validator("classification")
    @classmethod
    def _rule(cls, value: str | None) -> str | None:
        if value is not None and value.lower() not in CLASSIFICATIONS:
            raise _problem(f"unknown rule {value!r}; expected one of {', '.join(CLASSIFICATIONS)}")
        return None if value is None else value.lower()

    @property
    def fields(self) -> dict[str, Any]:
        """The Blueprint fields this rule sets."""
        out = {k: getattr(self, k) for k in STOPPING_FIELDS if k in self.model_fields_set}
        if out.get("se_target") == 0:
            out["se_target"] = None
        return out


class ThetaSpec(_Spec):
    """One distribution of the simulees' true θ.

    ``distribution``: ``normal`` (``mean``, ``sd``), ``uniform`` (``low``, ``high``), ``bank``
    (each bank's latent distribution) or ``file`` (``path``: a ``person_id,theta`` CSV whose
    values every replication reuses; the study's ``simulees`` does not apply).
    """

    name: Label
    distribution: Literal["normal", "uniform", "bank", "file"]
    mean: float | None = None
    sd: float | None = Field(default=None, gt=0)
    low: float | None = None
    high: float | None = None
    path: Path | None = None

    @model_validator(mode="after")
    def _parameters(self) -> ThetaSpec:
        takes = {"normal": ("mean", "sd"), "uniform": ("low", "high"), "bank": (),
                 "file": ("path",)}[self.distribution]
        extra = [k for k in ("mean", "sd", "low", "high", "path")
                 if k not in takes and getattr(self, k) is not None]
        if extra:
            raise _problem(f"{extra[0]!r} does not go with distribution {self.distribution!r} "
                           f"(which takes {', '.join(map(repr, takes)) or 'nothing'})")
        for name in ("mean", "sd", "low", "high"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise _problem(f"{name}: expected a finite number; got {value}")
        if self.distribution == "uniform":
            if self.low is None or self.high is None or not self.low < self.high:
                raise _problem(f"a uniform distribution needs 'low' < 'high'; got low = "
                               f"{self.low}, high = {self.high}")
        if self.distribution == "file" and self.path is None:
            raise _problem("a distribution from a file needs 'path' (a person_id,theta CSV)")
        return self


class ReportSpec(_Spec):
    """The report's settings (they change no cell: a rerun redraws the report only)."""

    bin_width: float = Field(default=0.5, gt=0, le=10)
    min_n: int = Field(default=30, ge=1)


def _unique_names(entries: list[Any], key: str) -> None:
    names = [e.name for e in entries]
    for k, name in enumerate(names):
        if name in names[:k]:
            raise _problem(f"{key}[{k}].name: {name!r} is already the name of {key}"
                           f"[{names.index(name)}]; expected distinct names")


class StudySpec(_Spec):
    """A whole study: its seed and size, the conditions it crosses, where it runs.

    Attributes
    ----------
    name : str
    seed : int
        The study's seed; each cell × replication's is derived from it and the cell's definition.
    simulees : int
        Simulees per replication.
    replications : int
        Replications per cell, each with its own simulees and answers.
    scheduler : str, optional
        A Dask scheduler's address (``tcp://host:8786``); default: a local cluster.
    workers : int, optional
        The local cluster's workers (processes of one thread); default: the machine's cores.
    bank, blueprint, stopping, theta : lists of tables
        The levels of each factor; ``blueprint`` defaults to the bank's own rules, ``stopping``
        to the blueprint's, ``theta`` to each bank's latent distribution.
    selection, exposure : lists of str
        Rules by name (``mfi``, … ; ``none``, ``randomesque:K``, ``sh:RATE``, ``astrat:S``);
        default the blueprint's.
    sh_simulees : int
        Simulees per round when Sympson–Hetter parameters are derived for an ``sh:RATE`` cell.
    report : table
        ``bin_width`` of the θ bins (0.5) and ``min_n``, the fewest simulees a bin is drawn with.
    """

    name: Label = "study"
    seed: int = Field(default=0, ge=0, lt=2**63)
    simulees: int = Field(default=1000, ge=1, le=10_000_000)
    replications: int = Field(default=1, ge=1, le=100_000)
    scheduler: str | None = Field(default=None, min_length=1)
    workers: int | None = Field(default=None, ge=1, le=1024)
    sh_simulees: int = Field(default=2000, ge=100)
    bank: list[BankSpec] = Field(min_length=1)
    blueprint: list[BlueprintSpec] = Field(default_factory=lambda: [BlueprintSpec(name="bank")])
    selection: list[Annotated[str, AfterValidator(_selection)]] | None = Field(
        default=None, min_length=1)
    exposure: list[Annotated[str, AfterValidator(_exposure)]] | None = Field(
        default=None, min_length=1)
    stopping: list[StoppingSpec] | None = Field(default=None, min_length=1)
    theta: list[ThetaSpec] = Field(default_factory=lambda: [ThetaSpec(name="bank",
                                                                      distribution="bank")])
    report: ReportSpec = Field(default_factory=ReportSpec)

    @model_validator(mode="after")
    def _distinct(self) -> StudySpec:
        for key in ("bank", "blueprint", "stopping", "theta"):
            _unique_names(getattr(self, key) or [], key)
        for key in ("selection", "exposure"):
            values = getattr(self, key) or []
            for k, v in enumerate(values):
                if v in values[:k]:
                    raise _problem(f"{key}[{k}]: {v!r} is listed twice")
        return self

    @property
    def n_cells(self) -> int:
        """The number of cells: the product of the factors' numbers of levels."""
        return (len(self.bank) * len(self.blueprint) * len(self.selection or [None])
                * len(self.exposure or [None]) * len(self.stopping or [None]) * len(self.theta))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _path(loc: tuple[int | str, ...]) -> str:
    """``("selection", 2)`` → ``selection[2]``; ``("bank", 0, "file")`` → ``bank[0].file``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not part.startswith(("function-after", "function-before")):
            out += f".{part}" if out else part
    return out


def _describe(exc: ValidationError) -> str:
    """The first error as ``<key>: <what was expected>; got <what came>``."""
    errors = exc.errors()
    err = errors[0]
    kind = err["type"]
    if kind == "study":
        message = str((err.get("ctx") or {}).get("message", err["msg"]))
    elif kind == "missing":
        message = "missing (a required key)"
    elif kind == "extra_forbidden":
        message = "unknown key"
    else:
        message = err["msg"].replace("Input should be", "expected")
        message = message[0].lower() + message[1:] + f"; got {_show(err.get('input'))}"
    where = _path(tuple(err["loc"]))
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    if not where and kind == "study":  # the study's own checks name their keys
        return f"{message}{more}"
    return f"{where or 'top level'}: {message}{more}"


def parse_spec(data: Any, *, source: str | None = None) -> StudySpec:
    """A study from the mapping a TOML file holds.

    Raises
    ------
    DataFileError
        Naming the key and what was expected (and ``source``, the file, in front).
    """
    if not isinstance(data, dict):
        raise DataFileError(f"expected a table of keys; got {type(data).__name__}", path=source)
    try:
        return StudySpec.model_validate(data)
    except ValidationError as exc:
        raise DataFileError(_describe(exc), path=source) from None


def load_spec(path: str | os.PathLike[str]) -> StudySpec:
    """Read and validate a study's TOML file.

    Raises
    ------
    DataFileError
        Not TOML (with the line), or a key out of place (named).
    OSError
        The file cannot be read.
    """
    where = str(path)
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DataFileError(f"expected UTF-8 text; byte {exc.start} is not", path=where) from None
    except tomllib.TOMLDecodeError as exc:
        raise DataFileError(f"expected TOML; {exc}", path=where) from None
    return parse_spec(data, source=where)
