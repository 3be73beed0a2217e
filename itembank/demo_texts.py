"""The demonstration bank's content: items, names, scales and recommendations in kk, ru and en.

The texts live in ``itembank/demo_content/*.json`` (editable content, validated here on every
load); the parameters are made by ``qabilet.demo_bank`` from a calibration of simulated responses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from qabilet.engine.exceptions import DataFileError
from qabilet.itembank.content import Dimension, Item, Recommendation, ResponseScale

__all__ = ["CONTENT_DIR", "DemoContent", "load_demo_content"]

#: where the content files are
CONTENT_DIR = Path(__file__).with_name("demo_content")


@dataclass(frozen=True, slots=True)
class DemoContent:
    """What the demonstration bank's authors wrote.

    Attributes
    ----------
    dimensions : tuple of Dimension
        The four competencies, then the personal qualities.
    scales : tuple of ResponseScale
    items : tuple of Item
        Competency items (Likert and situational judgement), then personal-quality statements.
    recommendations : tuple of Recommendation
    level_names : dict
        Level → language → name.
    """

    dimensions: tuple[Dimension, ...]
    scales: tuple[ResponseScale, ...]
    items: tuple[Item, ...]
    recommendations: tuple[Recommendation, ...]
    level_names: dict[str, dict[str, str]]


def _read(name: str) -> dict:
    path = CONTENT_DIR / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataFileError(f"cannot read the demonstration content: {exc}", path=str(path)) from None


_Model = TypeVar("_Model", bound=BaseModel)


def _validated(schema: type[_Model], entries: list[Any], name: str) -> tuple[_Model, ...]:
    out = []
    for k, entry in enumerate(entries):
        try:
            out.append(schema.model_validate(entry))
        except ValidationError as exc:
            raise DataFileError(f"entry {k + 1}: {exc}", path=str(CONTENT_DIR / name)) from None
    return tuple(out)


def load_demo_content() -> DemoContent:
    """Read and validate the content files.

    Examples
    --------
    >>> content = load_demo_content()
    >>> sorted({item.format for item in content.items})
    ['likert', 'sjt']
    """
    meta = _read("dimensions.json")
    items: list[Item] = []
    for name in ("service_to_public", "transparency", "accountability", "effectiveness",
                 "personal"):
        file = f"items_{name}.json"
        items += _validated(Item, _read(file)["items"], file)
    return DemoContent(
        dimensions=_validated(Dimension, meta["dimensions"], "dimensions.json"),
        scales=_validated(ResponseScale, meta["scales"], "dimensions.json"),
        items=tuple(items),
        recommendations=_validated(Recommendation, _read("recommendations.json")["recommendations"],
                                   "recommendations.json"),
        level_names={lv["id"]: lv["name"] for lv in meta["levels"]},
    )
