"""The demonstration bank's forced-choice statements and blocks, read from their content file.

``itembank/demo_content/forced_choice.json`` holds first-person statements about work in the civil
service, each on one of the nine dimensions of ``dimensions.json`` and written in Kazakh, Russian
and English, and the triplets a person ranks them in (most to least like them; Thurstonian IRT,
:mod:`qabilet.engine.forced_choice`)::

    {"notes": "...",
     "statements": [{"id": "FC-SRV-01", "dimension": "service_to_public", "keyed": 1,
                     "desirability": 3.9, "mu": 0.26, "lambda": 0.71, "psi2": 0.5,
                     "text": {"kk": "...", "ru": "...", "en": "..."}}, ...],
     "blocks": [{"id": "FC-B01", "statements": ["FC-STR-01", "FC-LRN-05", "FC-ACC-01"]}, ...]}

``keyed`` is −1 for a statement whose endorsement indicates *low* standing on its dimension (its
loading is negative); ``desirability`` a rating from 1 to 5 of how desirable it is to say the
statement about oneself in a high-stakes attestation; ``mu``, ``lambda`` and ``psi2`` the
statement's utility intercept, loading and error variance — for the demonstration, values to
simulate answers with, not a calibration.

A file is refused unless its blocks make a balanced, desirability-matched form:

* every statement is in exactly one block, and a block holds :data:`BLOCK_SIZE` statements on
  different dimensions whose desirability ratings lie within :data:`MAX_GAP` of each other;
* each dimension is measured in the same number of blocks, and every pair of dimensions is
  compared in at least one block (the comparisons between dimensions are what make the scores
  normative rather than ipsative; Brown & Maydeu-Olivares 2011);
* at least a third of the blocks mix positively and negatively keyed statements
  (:data:`MIXED_SHARE`).

The statements' and blocks' ids are unique, each statement has a text in every one of
:data:`~qabilet.itembank.content.LANGUAGES`, and its loading's sign is its keying.
"""

from __future__ import annotations

import itertools
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Self

import numpy as np
from numpy.typing import NDArray
from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from qabilet.engine.exceptions import DataFileError
from qabilet.engine.forced_choice import BlockDesign, ThurstonianBlocks
from qabilet.itembank._schema import Schema
from qabilet.itembank.content import (
    LANGUAGES,
    LEVELS,
    Dimension,
    Identifier,
    Item,
    ItemText,
    Language,
    Level,
    Name,
    Statement,
    Text,
)
from qabilet.itembank.demo_texts import CONTENT_DIR

__all__ = ["BLOCK_LEAD", "BLOCK_SIZE", "CONTENT_FILE", "MAX_GAP", "MIXED_SHARE", "ForcedChoiceBlock",
           "ForcedChoiceContent", "ForcedChoiceForm", "ForcedChoiceStatement",
           "demo_forced_choice_form", "load_forced_choice_content"]

Array = NDArray[np.float64]

#: the demonstration bank's forced-choice content
CONTENT_FILE = CONTENT_DIR / "forced_choice.json"
#: statements per block
BLOCK_SIZE = 3
#: the widest range of desirability ratings within a block
MAX_GAP = 0.5
#: the share of blocks, at least, that hold statements keyed both ways
MIXED_SHARE = 1 / 3
#: the lead above a demonstration block's statements
BLOCK_LEAD: dict[Language, str] = {"kk": "Жұмыста…", "ru": "В работе…", "en": "At work…"}
#: ratings are given to a tenth; a gap is compared after rounding to this many decimals
_DECIMALS = 6


class ForcedChoiceStatement(Schema):
    """A statement of the forced-choice blocks.

    Attributes
    ----------
    id : str
        Stable id (``FC-SRV-01``).
    dimension : str
        The competency or personal quality the statement indicates.
    keyed : {1, -1}
        −1 when endorsing the statement indicates low standing on the dimension.
    desirability : float
        How socially desirable it is to say this about oneself in an attestation, 1–5.
    mu, lam, psi2 : float
        The Thurstonian utility's intercept, loading (``lambda`` in the file; its sign is
        ``keyed``) and error variance (> 0).
    text : dict
        Language → the statement, in each of :data:`~qabilet.itembank.content.LANGUAGES`.
    """

    id: Identifier
    dimension: Name
    keyed: Literal[1, -1]
    desirability: float = Field(ge=1, le=5)
    mu: float = Field(allow_inf_nan=False)
    lam: float = Field(alias="lambda", allow_inf_nan=False)
    psi2: float = Field(gt=0, allow_inf_nan=False)
    text: dict[Language, Text]

    @field_validator("text")
    @classmethod
    def _every_language(cls, value: dict[Language, str]) -> dict[Language, str]:
        missing = [lang for lang in LANGUAGES if lang not in value]
        if missing:
            raise ValueError(f"expected a text in each of {', '.join(LANGUAGES)}; missing "
                             f"{', '.join(missing)}")
        return value

    @model_validator(mode="after")
    def _loading_keyed(self) -> Self:
        if self.lam == 0 or (self.lam > 0) != (self.keyed > 0):
            raise ValueError(f"lambda: expected a loading of the sign of keyed ({self.keyed}); "
                             f"got {self.lam}")
        return self


class ForcedChoiceBlock(Schema):
    """A block: its id and the ids of its statements, in the order they are shown.

    Attributes
    ----------
    id : str
    statements : tuple of str
        :data:`BLOCK_SIZE` statement ids.
    """

    id: Identifier
    statements: tuple[Identifier, ...] = Field(min_length=BLOCK_SIZE, max_length=BLOCK_SIZE)


def _twice(values: list[str]) -> str | None:
    """The first value that occurs twice, or None."""
    seen: set[str] = set()
    for v in values:
        if v in seen:
            return v
        seen.add(v)
    return None


class ForcedChoiceContent(Schema):
    """The forced-choice content file: statements and blocks (see the module notes).

    Validated with ``context={"dimensions": (...)}`` the dimensions are those ids, in that order
    (:func:`load_forced_choice_content` passes ``dimensions.json``'s); without it, the
    dimensions the statements name, in order of first appearance.

    Attributes
    ----------
    notes : str
        What the file is and how it was made.
    statements : tuple of ForcedChoiceStatement
    blocks : tuple of ForcedChoiceBlock
    """

    notes: str = ""
    statements: tuple[ForcedChoiceStatement, ...] = Field(min_length=BLOCK_SIZE)
    blocks: tuple[ForcedChoiceBlock, ...] = Field(min_length=1)
    _dimensions: tuple[str, ...] = PrivateAttr(default=())

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The dimensions measured, in order: the traits of :meth:`form`'s design."""
        return self._dimensions

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> Self:
        given = (info.context or {}).get("dimensions")
        dims = tuple(given) if given is not None else tuple(dict.fromkeys(
            s.dimension for s in self.statements))
        for k, s in enumerate(self.statements):
            if s.dimension not in dims:
                raise ValueError(f"statements.{k}.dimension: expected one of {', '.join(dims)}; "
                                 f"got {s.dimension!r}")
        for what, ids in (("statements", [s.id for s in self.statements]),
                          ("blocks", [b.id for b in self.blocks])):
            twice = _twice(ids)
            if twice is not None:
                raise ValueError(f"{what}: the id {twice!r} is used twice")
        by_id = {s.id: s for s in self.statements}
        for b, block in enumerate(self.blocks):
            for j, sid in enumerate(block.statements):
                if sid not in by_id:
                    raise ValueError(f"blocks.{b}.statements.{j}: {sid!r} is not a statement of "
                                     f"the file")
        placed = [sid for block in self.blocks for sid in block.statements]
        twice = _twice(placed)
        if twice is not None:
            raise ValueError(f"blocks: statement {twice!r} is in two blocks; expected each "
                             f"statement in one")
        left = [s.id for s in self.statements if s.id not in set(placed)]
        if left:
            raise ValueError(f"blocks: statement {left[0]!r} is in no block; expected each "
                             f"statement in one ({len(left)} left out)")
        for b, block in enumerate(self.blocks):
            self._check_block(b, [by_id[sid] for sid in block.statements])
        self._check_form(dims, by_id)
        self._dimensions = dims
        return self

    def _check_block(self, b: int, members: list[ForcedChoiceStatement]) -> None:
        dims = [s.dimension for s in members]
        if len(set(dims)) != len(dims):
            twice = _twice(dims)
            raise ValueError(f"blocks.{b}.statements: two statements measure {twice}; expected "
                             f"each statement of a block on another dimension")
        rated = [s.desirability for s in members]
        gap = round(max(rated) - min(rated), _DECIMALS)
        if gap > MAX_GAP:
            raise ValueError(f"blocks.{b}.statements: desirability ratings {rated} span {gap:g}; "
                             f"expected at most {MAX_GAP}")

    def _check_form(self, dims: tuple[str, ...], by_id: dict[str, ForcedChoiceStatement]
                    ) -> None:
        measured = [{by_id[sid].dimension for sid in block.statements} for block in self.blocks]
        count = Counter(d for block in measured for d in block)
        lo = min(dims, key=lambda d: count[d])
        hi = max(dims, key=lambda d: count[d])
        if count[lo] != count[hi]:
            raise ValueError(f"blocks: {lo} is measured in {count[lo]} blocks and {hi} in "
                             f"{count[hi]}; expected every dimension in the same number")
        for a, c in itertools.combinations(dims, 2):
            if not any(a in block and c in block for block in measured):
                raise ValueError(f"blocks: no block compares {a} with {c}; expected every pair "
                                 f"of dimensions in one block at least")
        mixed = sum(len({by_id[sid].keyed for sid in block.statements}) == 2
                    for block in self.blocks)
        need = int(np.ceil(MIXED_SHARE * len(self.blocks) - 1e-9))
        if mixed < need:
            raise ValueError(f"blocks: {mixed} blocks mix positively and negatively keyed "
                             f"statements; expected at least {need}")

    # -- reading -----------------------------------------------------------------------------------
    def block_items(self, levels: tuple[Level, ...] = LEVELS) -> list[Item]:
        """The blocks as items of the bank (format ``forced_choice``, ranked), operational.

        Each block's statements carry their ids, dimensions, keying (``direction``),
        desirability and texts; the block's stem is :data:`BLOCK_LEAD` in each language.
        """
        by_id = {s.id: s for s in self.statements}
        return [Item(id=block.id, levels=list(levels), format="forced_choice", answer_mode="rank",
                     status="operational", text={lang: ItemText(stem=BLOCK_LEAD[lang]) for lang in LANGUAGES},
                     statements=[Statement(id=sid, dimension=by_id[sid].dimension,
                                           direction=by_id[sid].keyed,
                                           desirability=by_id[sid].desirability,
                                           text=by_id[sid].text) for sid in block.statements])
                for block in self.blocks]

    def form(self) -> ForcedChoiceForm:
        """The blocks as the engine takes them, with the statements' parameters and texts.

        Everything per statement is in the design's order (block by block).
        """
        by_id = {s.id: s for s in self.statements}
        design = BlockDesign.from_blocks(self.dimensions, [
            (block.id, [(sid, by_id[sid].dimension, by_id[sid].keyed)
                        for sid in block.statements]) for block in self.blocks])
        ordered = [by_id[sid] for sid in design.statement_ids]

        def values(name: str) -> Array:
            return np.array([getattr(s, name) for s in ordered], dtype=np.float64)

        return ForcedChoiceForm(design, values("mu"), values("lam"), values("psi2"),
                                values("desirability"),
                                {lang: tuple(s.text[lang] for s in ordered) for lang in LANGUAGES})


@dataclass(frozen=True, slots=True, eq=False)
class ForcedChoiceForm:
    """The forced-choice blocks ready for the engine.

    Attributes
    ----------
    design : BlockDesign
        The blocks; its traits are the dimensions.
    mu, lam, psi2 : ndarray, shape (n_statements,)
        The statements' parameters, in ``design.statement_ids`` order.
    desirability : ndarray, shape (n_statements,)
        Their desirability ratings, in that order.
    texts : dict
        Language → the statements' texts, in that order.
    """

    design: BlockDesign
    mu: Array
    lam: Array
    psi2: Array
    desirability: Array
    texts: dict[Language, tuple[str, ...]]

    def model(self) -> ThurstonianBlocks:
        """The Thurstonian model of the blocks with the file's parameters."""
        return ThurstonianBlocks(self.design, self.mu, self.lam, self.psi2)


def load_forced_choice_content(path: str | os.PathLike[str] | None = None) -> ForcedChoiceContent:
    """Read and check a forced-choice content file (see the module notes).

    Parameters
    ----------
    path : path-like, optional
        The file; the demonstration bank's (:data:`CONTENT_FILE`) by default. Its statements'
        dimensions are checked against the demonstration ``dimensions.json``.

    Raises
    ------
    DataFileError
        Naming the field (``statements.4.text``, ``blocks.12.statements``) and what was
        expected.

    Examples
    --------
    >>> content = load_forced_choice_content()
    >>> len(content.statements), len(content.blocks), content.dimensions[0]
    (90, 30, 'service_to_public')
    """
    source = str(CONTENT_FILE if path is None else path)
    dims_file = CONTENT_DIR / "dimensions.json"
    try:
        data = json.loads(Path(source).read_text(encoding="utf-8-sig"))
        known = json.loads(dims_file.read_text(encoding="utf-8"))["dimensions"]
    except OSError as exc:
        raise DataFileError(f"cannot read: {exc.strerror}", path=source) from None
    except json.JSONDecodeError as exc:
        raise DataFileError(f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
                            path=source) from None
    dims = tuple(Dimension.model_validate(d).id for d in known)
    try:
        return ForcedChoiceContent.model_validate(data, context={"dimensions": dims})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        msg = first["msg"].removeprefix("Value error, ")
        raise DataFileError(f"{where}: {msg}" if where else msg, path=source) from None


def demo_forced_choice_form() -> ForcedChoiceForm:
    """The demonstration bank's forced-choice blocks, parameters and texts.

    Examples
    --------
    >>> form = demo_forced_choice_form()
    >>> form.design.n_blocks, form.design.n_traits, form.design.statement_ids[:3]
    (30, 9, ('FC-STR-01', 'FC-LRN-05', 'FC-ACC-01'))
    >>> form.texts["en"][0]
    'Even on a day when everything goes wrong, I manage to get the essentials done.'
    """
    return load_forced_choice_content().form()
