"""Forced-choice files: a design (JSON) and block answers (CSV), read and checked at the edge.

*Design* (JSON): ``{"traits": ["T1", ...], "blocks": [{"id": "B1", "statements": [{"id": "S1",
"trait": "T1", "keyed": 1}, ...]}, ...]}`` — ``keyed`` −1 for a negatively keyed statement
(the sign its loading starts with); 2 to 4 statements per block, each on another trait; other
keys are ignored.

*Answers* (CSV): ``person_id`` and one column per block, named by its id; a cell lists the
block's statement ids from most to least like the person joined by ``>`` (``S3>S1>S2``);
statements whose order was not observed are joined by ``=`` (``S7>S5=S8>S6``: most S7, least
S6); an empty cell is a block not answered. A block of the design without a column was answered
by nobody.

Errors name the file, the row (1-based; the header is row 0) or the field, and what was
expected; nothing is returned from a file with an error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from qabilet.engine.exceptions import DataFileError, InvalidParameterError
from qabilet.engine.forced_choice import BlockDesign, BlockResponses, consistent_rankings
from qabilet.itembank.response_file import PERSON_ID, _read_rows

__all__ = ["BlockAnswers", "DesignDocument", "parse_block_answer", "read_block_answers", "read_design"]

Id = Annotated[str, StringConstraints(min_length=1, max_length=128, strip_whitespace=True,
                                      pattern=r"^[^<>=,\s]+$")]


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class DesignStatement(_Loose):
    """A statement of a block: its id, the trait it measures, its keying."""

    id: Id
    trait: Id
    keyed: Literal[1, -1] = 1


class DesignBlock(_Loose):
    """A block: its id and its 2 to 4 statements."""

    id: Id
    statements: list[DesignStatement] = Field(min_length=2, max_length=4)


class DesignDocument(_Loose):
    """A forced-choice design (see the module notes)."""

    traits: list[Id] = Field(min_length=1)
    blocks: list[DesignBlock] = Field(min_length=1)

    def to_design(self) -> BlockDesign:
        """The engine's design (checks that the traits and ids hold together)."""
        return BlockDesign.from_blocks(self.traits, [
            (b.id, [(s.id, s.trait, s.keyed) for s in b.statements]) for b in self.blocks])


@dataclass(frozen=True, slots=True, eq=False)
class BlockAnswers:
    """Answers read from a file: who answered, and their answers as the engine holds them."""

    person_ids: tuple[str, ...]
    responses: BlockResponses


def read_design(path: str | os.PathLike[str]) -> BlockDesign:
    """Read a design file (see the module notes).

    Raises
    ------
    DataFileError
        Naming the field (``blocks.3.statements.1.trait``) and what was expected.
    """
    source = str(path)
    try:
        data = json.loads(open(path, encoding="utf-8-sig").read())
    except UnicodeDecodeError:
        raise DataFileError("expected UTF-8 text", path=source) from None
    except json.JSONDecodeError as exc:
        raise DataFileError(f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
                            path=source) from None
    try:
        return DesignDocument.model_validate(data).to_design()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the document"
        raise DataFileError(f"{where}: {first['msg']}", path=source) from None
    except InvalidParameterError as exc:
        raise DataFileError(str(exc), path=source) from None


def parse_block_answer(cell: str, ids: Sequence[str]) -> list[list[int]]:
    """A block's answer as tiers of positions in the block: ``S3>S1=S2`` → ``[[2], [0, 1]]``.

    ``ids`` are the block's statement ids in its order; a tier lists statements whose order was
    not observed. The file's cells and the answers sessions record are written so.

    Raises
    ------
    ValueError
        Saying what is wrong: a statement not of the block, given twice, or left out.

    Examples
    --------
    >>> parse_block_answer("S7>S5=S8>S6", ["S5", "S6", "S7", "S8"])
    [[2], [0, 3], [1]]
    """
    position = {s: k for k, s in enumerate(ids)}
    tiers: list[list[int]] = []
    for part in cell.split(">"):
        tier = []
        for sid in part.split("="):
            sid = sid.strip()
            if sid not in position:
                raise ValueError(f"{sid!r} is not a statement of this block ({', '.join(ids)})")
            tier.append(position[sid])
        tiers.append(tier)
    given = [ids[i] for tier in tiers for i in tier]
    twice = sorted({s for s in given if given.count(s) > 1})
    if twice:
        raise ValueError(f"{twice[0]!r} is given twice")
    left = [s for s in ids if s not in given]
    if left:
        raise ValueError(f"{', '.join(left)} left out (each of the block's {len(ids)} statements "
                         f"is given once)")
    return tiers


def read_block_answers(path: str | os.PathLike[str], design: BlockDesign) -> BlockAnswers:
    """Read a file of block answers (see the module notes) for ``design``.

    Each distinct answer of a block is parsed once; persons giving the same answer share it.

    Raises
    ------
    DataFileError
        Naming the row and column: an unknown or repeated column, a missing or repeated person
        id, a row with too few or too many cells, a statement not of its block, a statement
        given twice or left out.
    """
    source = str(path)
    header, rows, numbers = _read_rows(path, source)
    names = [h.strip() for h in header]
    if PERSON_ID not in names:
        raise DataFileError(f"expected a {PERSON_ID} column", path=source, row=0)
    block_index = {b: k for k, b in enumerate(design.block_ids)}
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataFileError("column name repeats in the header", path=source, row=0, column=name)
        seen.add(name)
        if name != PERSON_ID and name not in block_index:
            raise DataFileError(f"not a block of the design (blocks: {', '.join(design.block_ids[:8])}"
                                f"{', …' if design.n_blocks > 8 else ''})", path=source, row=0,
                                column=name)
    if not rows:
        raise DataFileError("no data rows after the header", path=source)
    for row, number in zip(rows, numbers, strict=True):
        if len(row) != len(names):
            raise DataFileError(f"the header has {len(names)} columns; this row has {len(row)} "
                                f"cells", path=source, row=number)
    cells = np.char.strip(np.asarray(rows, dtype=str))
    persons = cells[:, names.index(PERSON_ID)]
    empty = np.flatnonzero(persons == "")
    if empty.size:
        raise DataFileError("missing person id", path=source, row=numbers[int(empty[0])],
                            column=PERSON_ID)
    unique, first, counts = np.unique(persons, return_index=True, return_counts=True)
    if np.any(counts > 1):
        twice = str(unique[counts > 1][0])
        rows_of = np.flatnonzero(persons == twice)
        raise DataFileError(f"person id {twice!r} repeats (first in row {numbers[int(rows_of[0])]})",
                            path=source, row=numbers[int(rows_of[1])], column=PERSON_ID)
    codes = np.full((len(rows), design.n_blocks), -1, dtype=np.int64)
    tables = [np.zeros((0, len(consistent_rankings(m.size, [list(range(m.size))]))), dtype=bool)
              for m in design.blocks]
    for j, name in enumerate(names):
        if name == PERSON_ID:
            continue
        b = block_index[name]
        members = design.blocks[b]
        ids = [design.statement_ids[i] for i in members]
        answers, inverse = np.unique(cells[:, j], return_inverse=True)
        table_row: dict[bytes, int] = {}  # answers written differently with the same rankings
        table: list[np.ndarray] = []
        code_of = np.full(answers.size, -1, dtype=np.int64)
        for k, answer in enumerate(answers.tolist()):
            if not answer:
                continue
            try:
                consistent = consistent_rankings(members.size, parse_block_answer(answer, ids))
            except ValueError as exc:
                where = int(np.flatnonzero(inverse == k)[0])
                raise DataFileError(f"answer {answer!r}: {exc}; expected the block's statements "
                                    f"from most to least like the person, joined by > (= where "
                                    f"the order was not observed)", path=source,
                                    row=numbers[where], column=name
                                    ) from None
            code_of[k] = table_row.setdefault(consistent.tobytes(), len(table))
            if code_of[k] == len(table):
                table.append(consistent)
        codes[:, b] = code_of[inverse]
        if table:
            tables[b] = np.asarray(table, dtype=bool)
    return BlockAnswers(tuple(persons.tolist()), BlockResponses(codes, tuple(tables)))
