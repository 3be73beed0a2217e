"""Forced-choice parameters as a bank version holds them: the file ``qabilet calibrate-fc`` writes.

The layout (docs/file-formats.md, "forced-choice parameter file"): ``latent`` — the traits and
their correlation matrix (unit variances) — and ``blocks``, each with its ``statements`` carrying
``mu``, ``lambda``, ``psi2`` and their ``se``, plus ``scale`` (how the utilities' origin and
unit were fixed) and ``estimation`` (method, convergence, fit statistics), kept as written.

In the bank a block is an item of format ``forced_choice`` (:class:`~qabilet.itembank.content.Item`)
whose id is the block's and whose statements' ids, dimensions and directions are the file's
statements' ids, traits and keying; :func:`check_blocks` holds the two together. The traits are
dimensions of the version: the forced-choice scores sit on the version's latent scale when the
blocks were calibrated on its reference population (unit variances, zero means), as the
demonstration bank's were, and are then read against the version's norms like any other score.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import ConfigDict, Field, ValidationError, model_validator

from qabilet.engine.exceptions import DataFileError, InvalidParameterError
from qabilet.engine.forced_choice import BlockDesign, ThurstonianBlocks
from qabilet.itembank._files import parse_json
from qabilet.itembank._schema import Schema
from qabilet.itembank.content import Item
from qabilet.itembank.forced_choice_file import Id

__all__ = ["FORMAT", "ForcedChoiceParameters", "check_blocks", "is_forced_choice_parameters",
           "read_forced_choice_parameters"]

#: the ``format`` field of the file
FORMAT: Literal["qabilet-forced-choice-parameters"] = "qabilet-forced-choice-parameters"

Number = float


class _Errors(Schema):
    """Standard errors of a statement's parameters (null where not estimated: fixed ones)."""

    mu: Number | None = None
    lam: Number | None = Field(default=None, alias="lambda")
    psi2: Number | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class StatementParameters(Schema):
    """A statement: id, trait, keying and the utility's parameters.

    ``t = mu + lambda * eta[trait] + e``, ``e ~ N(0, psi2)`` (Brown & Maydeu-Olivares 2011).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: Id
    trait: Id
    keyed: Literal[1, -1] = 1
    mu: Number = Field(allow_inf_nan=False)
    lam: Number = Field(alias="lambda", allow_inf_nan=False)
    psi2: Number = Field(gt=0, allow_inf_nan=False)
    se: _Errors = Field(default_factory=_Errors)


class BlockParameters(Schema):
    """A block: its id (the bank item's) and its 2–4 statements in the order they are shown."""

    id: Id
    statements: list[StatementParameters] = Field(min_length=2, max_length=4)


class TraitLatent(Schema):
    """The traits and their correlation matrix (the scoring prior: N(0, Φ))."""

    traits: list[Id] = Field(min_length=1)
    correlation: list[list[Number]]
    correlation_se: list[list[Number | None]] | None = None
    variances: list[Number] | None = None

    @model_validator(mode="after")
    def _a_correlation_matrix(self) -> TraitLatent:
        k = len(self.traits)
        if len(set(self.traits)) != k:
            raise ValueError(f"traits: expected each once; got {self.traits}")
        phi = np.asarray(self.correlation, dtype=np.float64) if all(
            len(row) == k for row in self.correlation) else None
        if phi is None or phi.shape != (k, k):
            raise ValueError(f"correlation: expected a {k} x {k} matrix (one row and column per "
                             f"trait)")
        if not np.all(np.isfinite(phi)) or not np.allclose(phi, phi.T, atol=1e-9):
            raise ValueError("correlation: expected a finite symmetric matrix")
        if not np.allclose(np.diag(phi), 1.0, atol=1e-9):
            raise ValueError("correlation: expected ones on the diagonal (unit trait variances)")
        if np.linalg.eigvalsh(phi).min() <= 1e-10:
            raise ValueError("correlation: expected a positive definite matrix")
        if self.variances is not None and not np.allclose(self.variances, 1.0):
            raise ValueError(f"variances: the traits' variances are fixed at 1; got {self.variances}")
        return self


class ForcedChoiceParameters(Schema):
    """A forced-choice parameter file (see the module notes).

    Examples
    --------
    >>> p = ForcedChoiceParameters.model_validate({
    ...     "format": FORMAT, "version": 1,
    ...     "latent": {"traits": ["a", "b"], "correlation": [[1, 0.3], [0.3, 1]]},
    ...     "blocks": [{"id": "B1", "statements": [
    ...         {"id": "S1", "trait": "a", "mu": 0, "lambda": 0.8, "psi2": 0.5},
    ...         {"id": "S2", "trait": "b", "mu": 0.2, "lambda": 0.7, "psi2": 0.5}]}]})
    >>> p.block_ids, p.model().design.statement_ids
    (('B1',), ('S1', 'S2'))
    """

    format: Literal["qabilet-forced-choice-parameters"] = FORMAT
    version: Literal[1] = 1
    latent: TraitLatent
    blocks: list[BlockParameters] = Field(min_length=1)
    scale: dict[str, Any] = Field(default_factory=dict)
    estimation: dict[str, Any] = Field(default_factory=dict)
    notes: str | None = None

    @model_validator(mode="after")
    def _whole(self) -> ForcedChoiceParameters:
        traits = set(self.latent.traits)
        seen_blocks: set[str] = set()
        seen: set[str] = set()
        for b, block in enumerate(self.blocks):
            if block.id in seen_blocks:
                raise ValueError(f"blocks[{b}].id: block {block.id!r} twice")
            seen_blocks.add(block.id)
            mine: set[str] = set()
            for j, st in enumerate(block.statements):
                where = f"blocks[{b}].statements[{j}]"
                if st.trait not in traits:
                    raise ValueError(f"{where}.trait: {st.trait!r} is not one of latent.traits "
                                     f"({', '.join(self.latent.traits)})")
                if st.trait in mine:
                    raise ValueError(f"{where}.trait: {st.trait!r} twice in block {block.id!r} "
                                     f"(each statement of a block on another trait)")
                if st.id in seen:
                    raise ValueError(f"{where}.id: statement {st.id!r} twice")
                mine.add(st.trait)
                seen.add(st.id)
        return self

    @property
    def block_ids(self) -> tuple[str, ...]:
        """The blocks, in file order."""
        return tuple(b.id for b in self.blocks)

    @property
    def traits(self) -> tuple[str, ...]:
        """The traits, in the latent block's order."""
        return tuple(self.latent.traits)

    def correlation(self) -> NDArray[np.float64]:
        """The traits' correlation matrix Φ."""
        return np.asarray(self.latent.correlation, dtype=np.float64)

    def model(self, block_ids: Sequence[str] | None = None) -> ThurstonianBlocks:
        """The engine's model of ``block_ids`` (default: every block), in that order."""
        by_id = {b.id: b for b in self.blocks}
        chosen = [by_id[b] for b in (block_ids if block_ids is not None else self.block_ids)]
        design = BlockDesign.from_blocks(self.traits, [
            (b.id, [(s.id, s.trait, s.keyed) for s in b.statements]) for b in chosen])
        st = [s for b in chosen for s in b.statements]
        return ThurstonianBlocks(design, [s.mu for s in st], [s.lam for s in st],
                                 [s.psi2 for s in st])


def is_forced_choice_parameters(text: str) -> bool:
    """True when ``text`` is a JSON object whose ``format`` is :data:`FORMAT`."""
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT


def read_forced_choice_parameters(text: str, *, path: str | None = None) -> ForcedChoiceParameters:
    """Read and check a forced-choice parameter file's text.

    Raises
    ------
    DataFileError
        Naming the field (``blocks.3.statements.1.psi2``) and what was expected.
    """
    data = parse_json(text, path=path)
    try:
        parameters = ForcedChoiceParameters.model_validate(data)
        parameters.model()  # the engine's own checks (loadings, ids)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        msg = first["msg"].removeprefix("Value error, ")
        raise DataFileError(f"{where}: {msg}" if where else msg, path=path) from None
    except InvalidParameterError as exc:
        raise DataFileError(str(exc), path=path) from None
    return parameters


def check_blocks(parameters: ForcedChoiceParameters, items: Mapping[str, Item],
                 dimensions: Sequence[str]) -> list[str]:
    """What keeps ``parameters`` from calibrating the bank's blocks: one line per problem.

    Each block must be a forced-choice item of the bank with the same statements (ids, in the
    item's order), each statement's trait its dimension and its keying its direction; every
    trait a dimension of the version (``dimensions``).
    """
    problems = [f"latent.traits: {t!r} is not a dimension of the version "
                f"({', '.join(dimensions)})" for t in parameters.traits if t not in dimensions]
    for b, block in enumerate(parameters.blocks):
        item = items.get(block.id)
        where = f"blocks[{b}] ({block.id!r})"
        if item is None or item.format != "forced_choice":
            problems.append(f"{where}: the bank has no forced-choice item {block.id!r}"
                            if item is None else f"{where}: item {block.id!r} is a {item.format} "
                                                 f"item, not a forced-choice block")
            continue
        mine = {s.id: s for s in item.statements or []}
        ids = [s.id for s in block.statements]
        if ids != list(mine):
            problems.append(f"{where}.statements: the item's statements are {', '.join(map(str, mine))} "
                            f"(in that order); the file has {', '.join(ids)}")
            continue
        for j, st in enumerate(block.statements):
            own = mine[st.id]
            if st.trait != own.dimension:
                problems.append(f"{where}.statements[{j}].trait: statement {st.id!r} measures "
                                f"{own.dimension} in the bank; the file says {st.trait}")
            if st.keyed != own.direction:
                problems.append(f"{where}.statements[{j}].keyed: statement {st.id!r} has "
                                f"direction {own.direction} in the bank; the file says {st.keyed}")
    return problems
