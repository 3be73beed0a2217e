"""A study's cells: the factors crossed, each cell's full definition, its key and its seeds.

Everything here runs on the client except :func:`run_cell`, the task a Dask worker runs: it
takes the bank (sent once to the cluster) and the cell's definition, and runs the engine's
lock-step simulation (:func:`qabilet.engine.cat.simulate_cat`) once per replication.

**Keys.** A cell's *definition* is everything its numbers depend on: the bank's parameters (by
digest), the whole blueprint, the Sympson–Hetter target, the θ distribution, the simulees per
replication, the replications, the study's seed, and qabilet's version. Its key is the first
20 hex digits of the SHA-256 of the definition as canonical JSON; the names of the levels are
not part of it (renaming a level reruns nothing).

**Seeds.** Replication :math:`r` of a cell draws its answers and the rules' random choices
from ``SeedSequence(entropy=S_cell, spawn_key=(1, r))``, and derives Sympson–Hetter parameters
from ``spawn_key=(0,)``, where :math:`S_{cell}` is the SHA-256 of the definition without the
number of replications (so a study given more replications reproduces the first ones). The
true θ of replication :math:`r` come from ``SeedSequence(entropy=S_\\theta, spawn_key=(r,))``,
:math:`S_\\theta` the SHA-256 of the study's seed, the θ distribution and the simulees: cells
with the same θ distribution test the same simulees (common random numbers), so that their
differences are the rules', not the draws'.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qabilet._version import __version__
from qabilet.engine.bank import ItemBank
from qabilet.engine.cat import Blueprint, derive_sympson_hetter, simulate_cat
from qabilet.engine.cat.blueprint import parse_exposure
from qabilet.engine.cat.exposure_floor import exposure_floor
from qabilet.engine.exceptions import DataFileError, InvalidParameterError, QabiletError
from qabilet.study.spec import BankSpec, StoppingSpec, StudySpec, ThetaSpec

__all__ = ["FACTORS", "Cell", "CellResult", "ResolvedBank", "StudyPlan", "plan_study", "run_cell"]

#: the factors a study crosses, in the order of the tidy table's columns
FACTORS = ("bank", "blueprint", "selection", "exposure", "stopping", "theta_distribution")
#: the definition's format: a change of what a cell holds changes every key
FORMAT = 1


def _digest(value: Any) -> str:
    """SHA-256 of ``value`` as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def bank_digest(bank: ItemBank) -> str:
    """The digest of a bank's items, parameters and latent distribution."""
    latent = bank.latent
    return _digest({"items": bank.to_records(), "factors": list(latent.factor_names),
                    "mean": latent.mean.tolist(), "cov": latent.cov.tolist()})


@dataclass(frozen=True, slots=True, eq=False)
class ResolvedBank:
    """A bank of the study, loaded: the engine's bank and the blueprint fields it brings.

    Attributes
    ----------
    name : str
    bank : ItemBank
    base : dict
        The blueprint fields the cells start from: a database section's stored rules with its
        eligible items; empty for a parameter file (the engine's defaults).
    digest : str
        :func:`bank_digest`.
    """

    name: str
    bank: ItemBank
    base: dict[str, Any]
    digest: str


@dataclass(frozen=True, slots=True)
class Cell:
    """One cell of the crossing.

    Attributes
    ----------
    number : int
        1-based, in the order of the crossing (banks slowest, θ distributions fastest).
    factors : dict
        The level of each factor (:data:`FACTORS`) by name.
    key : str
        The definition's key (its results file is ``cells/<key>.csv``).
    definition : dict
        Everything its numbers depend on (JSON-ready).
    """

    number: int
    factors: dict[str, str]
    key: str
    definition: dict[str, Any] = field(repr=False)

    @property
    def label(self) -> str:
        """The levels, joined: ``fit / short / mfi / none / se30 / normal``."""
        return " / ".join(self.factors[f] for f in FACTORS)


@dataclass(frozen=True, slots=True, eq=False)
class StudyPlan:
    """The cells of a study and what their tasks need.

    Attributes
    ----------
    spec : StudySpec
    cells : list of Cell
    banks : dict
        Bank name → :class:`ResolvedBank`.
    theta_values : dict
        θ-distribution name → the values of a ``file`` distribution.
    """

    spec: StudySpec
    cells: list[Cell]
    banks: dict[str, ResolvedBank]
    theta_values: dict[str, NDArray[np.float64]]

    def task(self, cell: Cell) -> tuple[str, dict[str, Any], NDArray[np.float64] | None]:
        """(bank name, definition, θ values) of a cell's task."""
        theta = cell.definition["theta"]
        values = self.theta_values.get(cell.factors["theta_distribution"]) \
            if theta["distribution"] == "file" else None
        return cell.factors["bank"], cell.definition, values


def _from_database(spec: BankSpec) -> ResolvedBank:
    from qabilet.itembank.blueprints import section_items
    from qabilet.itembank.database import connect
    from qabilet.itembank.repository import BankRepository
    from qabilet.itembank.versions import scale_bank

    assert spec.database is not None and spec.level is not None and spec.section is not None
    try:
        engine = connect(spec.database)
    except ValueError as exc:
        raise InvalidParameterError(f"database: {exc}") from None
    try:
        repo = BankRepository(engine)
        stored = repo.blueprint(spec.level, spec.blueprint)
        sections = {s.name: s for s in stored.sections}
        section = sections.get(spec.section)
        if section is None:
            raise InvalidParameterError(
                f"section: blueprint {stored.number} of level {spec.level!r} has no section "
                f"{spec.section!r}; it has {', '.join(map(repr, sections))}")
        if section.blocks is not None or len(section.dimensions) != 1:
            raise InvalidParameterError(
                f"section: {spec.section!r} gives forced-choice blocks or measures several "
                f"dimensions; a study runs sections of items on one dimension")
        version = repo.version(spec.bank_version or stored.bank_version)
        items = {i.id: i for i in repo.items(version=version.number)}
        rules = section.blueprint(section_items(section, spec.level, items, version))
        bank = scale_bank(version.parameters, section.dimensions, list(rules.items or ()))
    finally:
        engine.dispose()
    base = {k: v for k, v in rules.to_dict().items() if k not in ("pretest_items",
                                                                   "pretest_positions")}
    return ResolvedBank(spec.name, bank, base, bank_digest(bank))


def _resolve_bank(spec: BankSpec, folder: Path) -> ResolvedBank:
    from qabilet.itembank.parameter_file import read_parameter_file

    if spec.file is not None:
        bank = read_parameter_file(folder / spec.file).to_bank()
        resolved = ResolvedBank(spec.name, bank, {}, bank_digest(bank))
    else:
        resolved = _from_database(spec)
    if resolved.bank.n_dims != 1:
        raise InvalidParameterError(f"the bank measures {resolved.bank.n_dims} factors; a study "
                                    f"runs one-factor banks (a section of one dimension)")
    return resolved


def _theta_definition(spec: ThetaSpec, bank: ResolvedBank,
                      values: NDArray[np.float64] | None) -> dict[str, Any]:
    """The θ distribution as it is drawn (``bank``: the bank's latent normal)."""
    if spec.distribution == "normal":
        return {"distribution": "normal", "mean": float(spec.mean or 0.0),
                "sd": float(1.0 if spec.sd is None else spec.sd)}
    if spec.distribution == "uniform":
        return {"distribution": "uniform", "low": spec.low, "high": spec.high}
    if spec.distribution == "bank":
        latent = bank.bank.latent
        return {"distribution": "normal", "mean": float(latent.mean[0]),
                "sd": float(np.sqrt(latent.cov[0, 0]))}
    assert values is not None
    return {"distribution": "file", "n": int(values.size), "digest": _digest(values.tolist())}


def _blueprint(fields: dict[str, Any], bank: ItemBank) -> tuple[Blueprint, float | None]:
    """The cell's blueprint checked against its bank, and its Sympson–Hetter target."""
    target = None
    if str(fields.get("exposure", "none")).lower().startswith("sh:") and \
            fields.get("sh_parameters") is None:
        rate = parse_exposure(str(fields["exposure"]))[1]
        target = float(rate) if rate is not None else None
        fields = {**fields, "exposure": "none"}  # derived on the worker, for this cell
    blueprint = Blueprint.from_dict(fields)
    blueprint.check_bank(bank)
    if target is not None:
        floor = exposure_floor(bank, blueprint)
        if target < floor.rate:
            raise InvalidParameterError(
                f"exposure: sh:{target:g} cannot be met: every test gives at least "
                f"{floor.length} of the {floor.eligible} eligible items; ask for "
                f"sh:{floor.rate:.3g} or more")
    return blueprint, target


def _read_blueprint_file(path: Path) -> dict[str, Any]:
    from qabilet.itembank.simulation_inputs import read_blueprint_fields

    return read_blueprint_fields(path)


def plan_study(spec: StudySpec, folder: str | Path = ".") -> StudyPlan:
    """Load the banks, cross the factors and define every cell (no Dask).

    Parameters
    ----------
    spec : StudySpec
    folder : path
        Where the study file is: relative paths in it are read from here.

    Raises
    ------
    DataFileError
        A file of the study cannot be read or is malformed, or a cell's blueprint does not fit
        its bank — naming the key (``bank[1]``, ``blueprint[0]``, …) or the cell.
    """
    from qabilet.itembank.theta_file import read_theta_csv

    folder = Path(folder)
    banks: dict[str, ResolvedBank] = {}
    for k, b in enumerate(spec.bank):
        try:
            banks[b.name] = _resolve_bank(b, folder)
        except (QabiletError, OSError) as exc:
            raise DataFileError(f"bank[{k}] ({b.name!r}): {_text(exc)}") from None
    files: dict[str, dict[str, Any]] = {}
    for k, bp in enumerate(spec.blueprint):
        fields: dict[str, Any] = {}
        if bp.file is not None:
            try:
                fields = _read_blueprint_file(folder / bp.file)
            except (QabiletError, OSError) as exc:
                raise DataFileError(f"blueprint[{k}] ({bp.name!r}).file: {_text(exc)}") from None
        files[bp.name] = {**fields, **bp.fields}
    theta_values: dict[str, NDArray[np.float64]] = {}
    for k, th in enumerate(spec.theta):
        if th.path is not None:
            try:
                theta_values[th.name] = read_theta_csv(folder / th.path)[1]
            except (QabiletError, OSError) as exc:
                raise DataFileError(f"theta[{k}] ({th.name!r}).path: {_text(exc)}") from None
    cells: list[Cell] = []
    unset: list[None] = [None]  # a factor not crossed: the blueprint's own
    selections: list[str | None] = [*spec.selection] if spec.selection else [*unset]
    exposures: list[str | None] = [*spec.exposure] if spec.exposure else [*unset]
    stoppings: list[StoppingSpec | None] = [*spec.stopping] if spec.stopping else [*unset]
    crossing = itertools.product(spec.bank, spec.blueprint, selections, exposures, stoppings,
                                 spec.theta)
    for number, (b, bp, sel, exp, stop, th) in enumerate(crossing, start=1):
        bank = banks[b.name]
        fields = {**bank.base, **files[bp.name]}
        if sel is not None:
            fields["selection"] = sel
        if exp is not None:
            fields["exposure"] = exp
        if stop is not None:
            fields.update(stop.fields)
        factors = {"bank": b.name, "blueprint": bp.name, "selection": sel or "",
                   "exposure": exp or "", "stopping": stop.name if stop is not None else "blueprint",
                   "theta_distribution": th.name}
        try:
            blueprint, target = _blueprint(fields, bank.bank)
        except QabiletError as exc:
            where = " / ".join(v for v in factors.values() if v)
            raise DataFileError(f"cell {number} ({where}): {_text(exc)}") from None
        factors["selection"] = blueprint.selection
        factors["exposure"] = f"sh:{target:g}" if target is not None else blueprint.exposure
        theta = _theta_definition(th, bank, theta_values.get(th.name))
        simulees = int(theta["n"]) if theta["distribution"] == "file" else spec.simulees
        definition = {
            "format": FORMAT, "qabilet": __version__, "seed": spec.seed, "bank": bank.digest,
            "blueprint": blueprint.to_dict(), "theta": theta, "simulees": simulees,
            "sympson_hetter": None if target is None else {"rate": target,
                                                           "simulees": spec.sh_simulees},
            "replications": spec.replications,
        }
        cells.append(Cell(number, factors, _digest(definition)[:20], definition))
    return StudyPlan(spec, cells, banks, theta_values)


def _text(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, QabiletError):
        return f"{exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}"
    return str(exc)


def _seed(definition: Mapping[str, Any], *without: str) -> int:
    """An entropy for ``SeedSequence``: the definition's SHA-256 (less ``without``) as an int."""
    return int(_digest({k: v for k, v in definition.items() if k not in without}), 16)


def _true_theta(definition: Mapping[str, Any], replication: int,
                values: NDArray[np.float64] | None) -> NDArray[np.float64]:
    """Replication ``replication``'s true θ (the same for every cell with this distribution)."""
    theta = definition["theta"]
    if theta["distribution"] == "file":
        assert values is not None
        return np.asarray(values, dtype=np.float64)
    entropy = _seed({"seed": definition["seed"], "theta": theta,
                     "simulees": definition["simulees"]})
    gen = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(replication,)))
    n = int(definition["simulees"])
    if theta["distribution"] == "uniform":
        return gen.uniform(theta["low"], theta["high"], n)
    return gen.normal(theta["mean"], theta["sd"], n)


@dataclass(frozen=True, slots=True, eq=False)
class CellResult:
    """What a cell's task sends back: one row per simulee of every replication.

    Attributes
    ----------
    replication, simulee : ndarray of int
        1-based.
    true_theta, theta, se : ndarray of float
    length : ndarray of int
    stop_reason : ndarray of str
    items : ndarray of int, shape (rows, max_items)
        Bank indices in the order given, −1 after the end of each test.
    elapsed_s, cpu_s : float
        The task's wall time on its worker, and the CPU time of the thread that ran it.
    """

    replication: NDArray[np.int64]
    simulee: NDArray[np.int64]
    true_theta: NDArray[np.float64]
    theta: NDArray[np.float64]
    se: NDArray[np.float64]
    length: NDArray[np.int64]
    stop_reason: NDArray[np.str_]
    items: NDArray[np.intp]
    elapsed_s: float
    cpu_s: float = float("nan")


def run_cell(bank: ItemBank, definition: dict[str, Any],
             theta_values: NDArray[np.float64] | None = None) -> CellResult:
    """Run one cell: its replications, each a lock-step simulation of its simulees.

    The task a worker runs (it imports nothing but the engine). Seeds as the module says.
    """
    import time

    start, cpu = time.perf_counter(), time.thread_time()
    blueprint = Blueprint.from_dict(definition["blueprint"])
    entropy = _seed(definition, "replications")
    sh = definition.get("sympson_hetter")
    if sh is not None:
        derived = derive_sympson_hetter(
            bank, blueprint, target=sh["rate"], n=int(sh["simulees"]),
            rng=np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(0,))))
        blueprint = derived.blueprint
    parts = []
    for r in range(int(definition["replications"])):  # a handful; each is vectorised
        true = _true_theta(definition, r, theta_values)
        gen = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(1, r)))
        parts.append((r, simulate_cat(bank, blueprint, theta=true, rng=gen)))
    n = [sim.n for _, sim in parts]
    return CellResult(
        replication=np.repeat(np.arange(1, len(parts) + 1), n),
        simulee=np.concatenate([np.arange(1, k + 1) for k in n]),
        true_theta=np.concatenate([np.asarray(s.true_theta) for _, s in parts]),
        theta=np.concatenate([s.theta for _, s in parts]),
        se=np.concatenate([s.se for _, s in parts]),
        length=np.concatenate([s.length for _, s in parts]),
        stop_reason=np.concatenate([s.stop_reason for _, s in parts]),
        items=np.concatenate([s.items for _, s in parts]),
        elapsed_s=time.perf_counter() - start, cpu_s=time.thread_time() - cpu)
