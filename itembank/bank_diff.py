"""What differs between two states of a bank: two bank versions, or the bank before and after an import.

:func:`format_version_diff` is the text of ``qabilet bank diff``; :func:`document_changes` tells
which records an import added or changed (``qabilet bank import`` says so, and says when nothing
was new).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from qabilet.itembank.versions import BankVersion

__all__ = ["SectionChanges", "document_changes", "format_version_diff"]

#: how a record of each section of a bank document is identified
_KEYS: dict[str, tuple[str, ...]] = {
    "dimensions": ("id",), "scales": ("id",), "items": ("id",),
    "recommendations": ("target", "band", "levels"), "versions": ("number",),
    "norm_sets": ("number",), "blueprints": ("level", "number"),
}


@dataclass(frozen=True, slots=True)
class SectionChanges:
    """The records of one section of a bank document, by what an import did to them.

    Attributes
    ----------
    added, changed, unchanged : int
        Records that were not stored, were stored otherwise, were stored the same.
    """

    added: int
    changed: int
    unchanged: int

    @property
    def new(self) -> int:
        """Records added or changed."""
        return self.added + self.changed


def _key(record: Mapping[str, Any], fields: tuple[str, ...]) -> tuple[Any, ...]:
    """A record's identity: its key fields' values, lists (a text's ``levels``) as tuples."""
    return tuple(tuple(v) if isinstance(v := record.get(f), list) else v for f in fields)


def document_changes(before: Mapping[str, Any],
                     after: Mapping[str, Any]) -> dict[str, SectionChanges]:
    """Which records of each section differ between two bank documents.

    Parameters
    ----------
    before, after : mapping
        :meth:`qabilet.itembank.bank_file.BankDocument.content` of the bank before and after.

    Returns
    -------
    dict of str to SectionChanges
        By section (``items``, ``versions``, …), counting the records of ``after``.

    Examples
    --------
    >>> a = {"items": [{"id": "Q1", "stem": "x"}, {"id": "Q2", "stem": "y"}]}
    >>> b = {"items": [{"id": "Q1", "stem": "x"}, {"id": "Q2", "stem": "z"}, {"id": "Q3"}]}
    >>> document_changes(a, b)["items"]
    SectionChanges(added=1, changed=1, unchanged=1)
    """
    changes = {}
    for section, fields in _KEYS.items():
        old = {_key(r, fields): r for r in before.get(section, [])}
        added = changed = unchanged = 0
        for record in after.get(section, []):
            stored = old.get(_key(record, fields))
            if stored is None:
                added += 1
            elif stored != record:
                changed += 1
            else:
                unchanged += 1
        changes[section] = SectionChanges(added, changed, unchanged)
    return changes


def format_version_diff(a: BankVersion, b: BankVersion) -> str:
    """What changed from bank version ``a`` to ``b``: items, parameters, latent, texts.

    Items added, removed and changed (largest change first, by parameter); the latent
    distribution; stems and options per language, dimension names and scale labels that differ
    (when both versions hold their texts).
    """
    old = {r.id: r for r in a.parameters.items}
    new = {r.id: r for r in b.parameters.items}
    lines = [f"bank version {a.number} → {b.number}"]
    added, removed = sorted(set(new) - set(old)), sorted(set(old) - set(new))
    if added:
        lines.append(f"added ({len(added)}): {', '.join(added)}")
    if removed:
        lines.append(f"removed ({len(removed)}): {', '.join(removed)}")
    changed: list[tuple[float, str, str]] = []
    for item_id in sorted(set(old) & set(new)):
        p, q = old[item_id].parameters(), new[item_id].parameters()
        if p == q and old[item_id].model == new[item_id].model:
            continue
        deltas = []
        for name in sorted(set(p) | set(q)):
            x, y = p.get(name), q.get(name)
            if x is None or y is None or np.shape(x) != np.shape(y):
                deltas.append((float("inf"), f"{name}: {x} → {y}"))
            else:
                d = float(np.max(np.abs(np.subtract(y, x))))
                if d > 0:
                    deltas.append((d, f"{name} by up to {d:.4f}"))
        top = max(d for d, _ in deltas) if deltas else 0.0
        changed.append((top, item_id, "; ".join(text for _, text in deltas)))
    lines.append(f"changed ({len(changed)}), largest first:" if changed else "no item changed")
    lines += [f"  {item_id}: {text}" for _, item_id, text in sorted(changed, reverse=True)]
    la, lb = a.parameters.latent, b.parameters.latent
    if la != lb:
        lines.append(f"latent: mean {la.mean} → {lb.mean}; cov {la.cov} → {lb.cov}")
    if a.content is not None and b.content is not None:
        texts = a.content.changes(b.content)
        lines.append(f"texts changed ({len(texts)}):" if texts else "no text changed")
        lines += [f"  {line}" for line in texts]
    return "\n".join(lines) + "\n"
