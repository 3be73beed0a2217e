"""QTI 3.0 content packages into the bank, all or nothing.

``import_package(repo, data)`` reads a package whole — the zip and the manifest
(:mod:`qabilet.itembank.qti_package`), every item (:mod:`qabilet.itembank.qti_read`) — before
anything is written; every problem is reported with the member, the element's path and line, and
the reason (:class:`~qabilet.itembank.qti_package.QtiRejectedError`), and then nothing is
imported.

**qabilet's packages** carry the bank's records in the manifest's metadata
(:mod:`qabilet.itembank.qti_write`): each resource's ``qb:item`` names the item and language,
and holds the item record, its parameters or its block's parameters; ``qb:bank`` holds the
version, the dimensions and the scales. The texts are read exactly; every language's resource
must agree with the others' record, the choices must be what the record makes of them (a Likert
item's: its scale's labels; a block's: its statements, by id), the mapping must give each choice
its answer code (its position) and the prompts must be the bank's instructions. The package
imports as the bank document it describes: the items, and the version as a new **draft**
version (:func:`qabilet.itembank.bank_file.load_document`).

**Other packages** (no ``qb:bank``) import as **draft items without parameters**, which the bank
allows (an item's review starts as a draft, :mod:`qabilet.itembank.review`); what QTI does not
say must be given (:class:`Defaults`: the dimension and levels), and is asked for by name when it
is missing. Each item's language is its ``xml:lang`` (``ru-RU`` reads as ``ru``); its id is its
identifier without a ``.<lang>`` ending, so ``Q1.kk`` and ``Q1.ru`` are one item in two
languages. A choice item with a correct response is a keyed (``dichotomous``) item; one without is
a situational-judgement item (3–5 options), whose mapping, if response processing scores with
it, gives its experts' orientation (the option mapped highest shows the dimension most, the
lowest least). Its stem is the body's paragraphs followed by the interaction's prompt. An order
interaction needs qabilet's metadata (each statement's dimension and keying) and is refused
without it.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from qabilet.itembank.bank_file import BankDocument, ImportedBank, load_document
from qabilet.itembank.content import (
    BLOCK_INSTRUCTIONS,
    COMPETENCIES,
    INSTRUCTIONS,
    LANGUAGES,
    LEVELS,
    Dimension,
    Item,
    ResponseScale,
)
from qabilet.itembank.forced_choice_parameters import BlockParameters
from qabilet.itembank.parameter_file import ItemRecord
from qabilet.itembank.qti_package import (
    CP_NAMESPACES,
    ITEM_TYPE,
    LOM_NS,
    MANIFEST,
    QB_NS,
    XML_NS,
    Package,
    Problems,
    XNode,
    json_value,
    member_name,
    open_package,
    parse_xml,
)
from qabilet.itembank.qti_read import ElementReader, ReadItem, read_item
from qabilet.itembank.qti_write import FORMAT_VERSION, scale_labels
from qabilet.itembank.repository import BankRepository
from qabilet.itembank.versions import BankVersion

__all__ = ["Defaults", "ImportedPackage", "import_package"]


@dataclass(frozen=True, slots=True)
class Defaults:
    """What items without qabilet's metadata need and QTI does not say.

    Attributes
    ----------
    dimension : str, optional
        What they measure: a dimension of the bank (a competency or a trait).
    levels : tuple of str, optional
        The position levels they are for.
    """

    dimension: str | None = None
    levels: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class ImportedPackage:
    """What :func:`import_package` did.

    Attributes
    ----------
    imported : ImportedBank
        The records imported, and the draft carrying new texts of a published version (if any).
    version : int, optional
        The draft version made with the package's parameters (qabilet's packages).
    resources : int
        Assessment items read (an item in each of its languages).
    notes : tuple of str
        What was read but not kept (resources of other types, shuffling asked for).
    """

    imported: ImportedBank
    version: int | None
    resources: int
    notes: tuple[str, ...] = ()


# -- the manifest ----------------------------------------------------------------------------------
@dataclass(slots=True)
class _Resource:
    identifier: str
    href: str
    node: XNode
    meta: XNode | None  # its qb:item


@dataclass(slots=True)
class _Manifest:
    root: XNode
    bank: XNode | None
    items: list[_Resource]
    others: int


def _qb(node: XNode | None, local: str) -> list[XNode]:
    """The ``qb:<local>`` elements in a ``metadata`` element (directly or inside ``lom``)."""
    if node is None:
        return []
    places = [node, *[c for c in node.children if c.tag == f"{{{LOM_NS}}}lom"]]
    return [c for place in places for c in place.children if c.tag == f"{{{QB_NS}}}{local}"]


def _manifest(package: Package, problems: Problems) -> _Manifest | None:
    r = ElementReader(MANIFEST, problems, exact=True)
    root = parse_xml(_read_member(package, MANIFEST, problems), MANIFEST, problems)
    if root is None:
        return None
    if root.local != "manifest" or root.namespace not in CP_NAMESPACES:
        r.fail(root, f"expected a content package's manifest (namespace {CP_NAMESPACES[0]})")
        return None
    ns = root.namespace
    r.attributes(root, ("version",), ("identifier",))
    based = [n for n in (root, *root.children, *(c for n in root.children for c in n.children))
             if f"{{{XML_NS}}}base" in n.attrib]
    if based:
        r.fail(based[0], "xml:base is not read: every href is relative to the package's root")
    metadata = next((c for c in root.children if c.tag == f"{{{ns}}}metadata"), None)
    banks = _qb(metadata, "bank")
    if len(banks) > 1:
        r.fail(banks[1], "qb:bank twice")
    resources = next((c for c in root.children if c.tag == f"{{{ns}}}resources"), None)
    if resources is None:
        r.fail(root, "no resources")
        return None
    items: list[_Resource] = []
    seen: set[str] = set()
    others = 0
    for node in resources.children:
        if node.tag != f"{{{ns}}}resource":
            r.fail(node, f"{node.local}: expected resource elements")
            continue
        attrs = r.attributes(node, ("href",), ("identifier", "type"))
        ident, kind = attrs.get("identifier", ""), attrs.get("type", "")
        if ident in seen:
            r.fail(node, f"resource identifier {ident!r} twice")
        seen.add(ident)
        for f in node.children:
            if f.tag == f"{{{ns}}}file" and member_name(f.attrib.get("href", "")) is None:
                r.fail(f, f"href {f.attrib.get('href')!r} leaves the package")
        if kind.startswith("imsqti_item_xmlv2"):
            r.fail(node, f"a QTI 2.x item ({kind}); qabilet reads QTI 3.0 items ({ITEM_TYPE})")
            continue
        if kind != ITEM_TYPE:
            others += 1
            continue
        href = attrs.get("href") or next((f.attrib.get("href", "") for f in node.children
                                          if f.tag == f"{{{ns}}}file"), "")
        name = member_name(href)
        if name is None:
            r.fail(node, f"href {href!r}: expected a relative path inside the package")
            continue
        if name not in package.members:
            r.fail(node, f"href {href!r}: the package has no such member")
            continue
        meta = next((c for c in node.children if c.tag == f"{{{ns}}}metadata"), None)
        qb = _qb(meta, "item")
        if len(qb) > 1:
            r.fail(qb[1], "qb:item twice in one resource")
        items.append(_Resource(ident, name, node, qb[0] if qb else None))
    if not items:
        r.fail(resources, f"no QTI 3.0 item (a resource of type {ITEM_TYPE})")
    return _Manifest(root, banks[0] if banks else None, items, others)


# -- the package as the bank's records ---------------------------------------------------------------
def _validated(schema: Any, data: Any, problems: Problems, node: XNode | None, where: str) -> Any:
    """``schema.model_validate(data)``, each error recorded at ``node`` with its field."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(x) for x in err["loc"])
            problems.add(MANIFEST, node, f"{where}{'.' + loc if loc else ''}: "
                                         f"{err['msg'].removeprefix('Value error, ')}")
        return None


@dataclass(slots=True)
class _Entry:
    """One resource read: its qb:item (id, language, record) and its assessment item."""

    resource: _Resource
    item_id: str
    language: str
    meta: dict[str, Any]
    read: ReadItem


def _own_entries(package: Package, manifest: _Manifest, problems: Problems) -> list[_Entry]:
    """Each resource of a qabilet package with its qb:item and its item read exactly."""
    out = []
    for res in manifest.items:
        if res.meta is None:
            problems.add(MANIFEST, res.node, "no qb:item in its metadata; every item of a qabilet "
                                             "package names its item and language")
            continue
        r = ElementReader(MANIFEST, problems, exact=True)
        attrs = r.attributes(res.meta, (), ("id", "language"))
        item_id, lang = attrs.get("id", ""), attrs.get("language", "")
        if lang and lang not in LANGUAGES:
            r.fail(res.meta, f"language {lang!r}: expected one of {', '.join(LANGUAGES)}")
        maps = [c for c in res.meta.children]
        if len(maps) != 1:
            r.fail(res.meta, "expected one fn:map (record, parameters, block)")
            continue
        meta = json_value(maps[0], MANIFEST, problems)
        if not isinstance(meta, dict) or not isinstance(meta.get("record"), dict):
            r.fail(maps[0], "expected a map with the item's record")
            continue
        read = read_item(_read_member(package, res.href, problems), res.href, problems, exact=True)
        if read is None:
            continue
        if read.identifier != f"{item_id}.{lang}":
            problems.add(res.href, read.root, f"identifier {read.identifier!r}: the manifest names "
                                              f"item {item_id!r} in {lang!r}, so {item_id}.{lang}")
        if read.language != lang:
            problems.add(res.href, read.root, f"xml:lang {read.language!r}: the manifest says "
                                              f"{lang!r}")
        out.append(_Entry(res, item_id, lang, meta, read))
    return out


def _read_member(package: Package, name: str, problems: Problems) -> bytes:
    try:
        return package.read(name)
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError, OSError) as exc:
        problems.add(name, None, f"cannot be unpacked ({exc})")
        return b""


def _grouped(entries: list[_Entry], problems: Problems) -> dict[str, list[_Entry]]:
    groups: dict[str, list[_Entry]] = {}
    for e in entries:
        mine = groups.setdefault(e.item_id, [])
        if any(o.language == e.language for o in mine):
            problems.add(MANIFEST, e.resource.node, f"item {e.item_id!r} in {e.language!r} twice")
            continue
        if mine and mine[0].meta != e.meta:
            problems.add(MANIFEST, e.resource.meta, f"item {e.item_id!r}: its record differs from "
                                                    f"the one on resource "
                                                    f"{mine[0].resource.identifier!r}")
            continue
        mine.append(e)
    return groups


def _check_choices(e: _Entry, item: dict[str, Any], scales: dict[str, ResponseScale],
                   problems: Problems) -> None:
    """A qabilet item's interaction against its record: choices, codes, prompt, key."""
    read, lang, fmt = e.read, e.language, item.get("format")
    member, node = read.member, read.nodes.get("interaction")

    def fail(where: XNode | None, reason: str) -> None:
        problems.add(member, where, reason)

    if (fmt == "forced_choice") != (read.kind == "order"):
        fail(node, f"a {read.kind} interaction; the record's format is {fmt!r}")
        return
    ids = [c for c, _ in read.choices]
    texts = [t for _, t in read.choices]
    if read.shuffle:
        fail(node, "shuffle=\"true\": qabilet shows a bank item's choices in their order and keeps "
                   "no shuffle setting; expected shuffle=\"false\"")
    if fmt == "forced_choice" and (read.mapping is not None or read.scored is not None):
        fail(read.nodes.get("mapping") or node, "a block's ranking is scored by qabilet, not by "
                                                "response processing: expected no mapping and none")
    if fmt == "forced_choice":
        statements = item.get("statements")
        want_ids = [st.get("id") if isinstance(st, dict) else None
                    for st in (statements if isinstance(statements, list) else [])]
        if ids != want_ids:
            fail(node, f"choices {', '.join(ids)}: the block's statements are "
                       f"{', '.join(map(str, want_ids))}, in that order")
        mode = item.get("answer_mode")
        want_prompt = _wording(BLOCK_INSTRUCTIONS, mode if isinstance(mode, str) else "rank", lang)
    else:
        if fmt == "likert":
            scale = scales.get(str(item.get("scale")))
            if scale is None:
                fail(node, f"scale {item.get('scale')!r}: not in the package's metadata (qb:bank)")
            elif texts != scale_labels(scale, lang):
                fail(node, f"choices {texts}: a Likert item's choices are its scale's labels "
                           f"({scale_labels(scale, lang)})")
        for code, ident in enumerate(ids):
            value = (read.mapping or {}).get(ident)
            if read.mapping is not None and value != code:
                fail(read.nodes.get("mapping"), f"choice {ident!r} is mapped to {value}; the answer "
                                                f"code qabilet's API takes for it is its position, "
                                                f"{code}")
        instruction = item.get("instruction") or "best"
        want_prompt = (_wording(INSTRUCTIONS, instruction, lang) if fmt == "sjt"
                       and isinstance(instruction, str) else None)
    if read.prompt != want_prompt:
        fail(node, f"qti-prompt {read.prompt!r}: expected "
                   + ("none" if want_prompt is None else f"the bank's instruction {want_prompt!r}"))
    key = item.get("key")
    want_correct = ([ids[key]] if fmt == "dichotomous" and isinstance(key, int)
                    and 0 <= key < len(ids) else None)
    if (read.correct or None) != want_correct:
        fail(read.nodes.get("correct") or node,
             "a preference item has no correct response" if want_correct is None
             else f"the correct response is the key, {want_correct[0]!r}")


def _wording(table: Mapping[Any, Mapping[Any, str]], name: str, lang: str) -> str | None:
    """An instruction's wording in ``lang`` (None for an instruction the bank does not have)."""
    return table.get(name, {}).get(lang)


def _own_items(groups: dict[str, list[_Entry]], scales: dict[str, ResponseScale],
               problems: Problems) -> list[Item]:
    items = []
    for item_id, entries in groups.items():
        record = dict(entries[0].meta["record"])
        if record.get("id") != item_id:
            problems.add(MANIFEST, entries[0].resource.meta, f"the record's id {record.get('id')!r} "
                                                             f"is not the qb:item's {item_id!r}")
            continue
        text: dict[str, Any] = {}
        statements = [dict(st, text={}) if isinstance(st, dict) else st
                      for st in record.get("statements") or []]
        for e in entries:
            _check_choices(e, record, scales, problems)
            choices = [t for _, t in e.read.choices]
            text[e.language] = {"stem": e.read.stem}
            if record.get("format") in ("sjt", "dichotomous"):
                text[e.language]["options"] = choices
            if record.get("format") == "forced_choice":
                for st, t in zip(statements, choices, strict=False):
                    if isinstance(st, dict):
                        st["text"][e.language] = t
        if statements:
            record["statements"] = statements
        item = _validated(Item, {**record, "text": text}, problems, entries[0].resource.meta,
                          f"item {item_id!r}")
        if item is not None:
            items.append(item)
    return items


def _own_version(meta: dict[str, Any], groups: dict[str, list[_Entry]], number: int,
                 problems: Problems, node: XNode, path: str | None) -> BankVersion | None:
    """The package's version as a new draft ``number``: its record, its items' parameters."""
    record = meta.get("version")
    if not isinstance(record, dict):
        problems.add(MANIFEST, node, "qb:bank: expected the version's record (version)")
        return None
    params, blocks = [], []
    for item_id, entries in groups.items():
        m, where = entries[0].meta, entries[0].resource.meta
        if "parameters" in m:
            rec = _validated(ItemRecord, m["parameters"], problems, where, f"item {item_id!r} parameters")
            if rec is not None and rec.id != item_id:
                problems.add(MANIFEST, where, f"parameters of {rec.id!r} on item {item_id!r}")
            params.append(m["parameters"])
        if "block" in m:
            block = _validated(BlockParameters, m["block"], problems, where, f"item {item_id!r} block")
            if block is not None and block.id != item_id:
                problems.add(MANIFEST, where, f"block parameters of {block.id!r} on item {item_id!r}")
            blocks.append(m["block"])
        unknown = sorted(set(m) - {"record", "parameters", "block"})
        if unknown:
            problems.add(MANIFEST, where, f"unknown entries {', '.join(unknown)}; expected record, "
                                          f"parameters, block")
    if problems:
        return None
    provenance = record.get("provenance")
    line = (f"imported from {path or 'a QTI package'} (bank version {record.get('number')} of "
            f"the bank that wrote it)")
    if isinstance(provenance, dict):
        notes = provenance.get("notes")
        provenance = {**provenance, "notes": f"{notes} {line}" if notes else line}
    parameters = record.get("parameters")
    if isinstance(parameters, dict):
        parameters = {**parameters, "items": params}
    data = {**record, "number": number, "status": "draft", "created_at": datetime.now(UTC),
            "published_at": None, "provenance": provenance, "parameters": parameters}
    forced_choice = record.get("forced_choice")
    if isinstance(forced_choice, dict) or (forced_choice is None and blocks):
        data["forced_choice"] = {**(forced_choice or {}), "blocks": blocks}
    return _validated(BankVersion, data, problems, node, "version")


def _own_document(package: Package, manifest: _Manifest, problems: Problems, path: str | None,
                  reads: list[ReadItem]) -> BankDocument | None:
    """A qabilet package as the bank document it describes.

    Its version is numbered 1 (renumbered when it is stored); the items read are added to
    ``reads``.
    """
    assert manifest.bank is not None
    node = manifest.bank
    maps = list(node.children)
    meta = json_value(maps[0], MANIFEST, problems) if len(maps) == 1 else None
    if not isinstance(meta, dict):
        problems.add(MANIFEST, node, "qb:bank: expected one fn:map")
        return None
    if meta.get("format_version") != FORMAT_VERSION:
        problems.add(MANIFEST, node, f"format_version {meta.get('format_version')!r}: this qabilet "
                                     f"reads {FORMAT_VERSION}")
        return None
    lists = {}
    for name in ("dimensions", "scales"):
        lists[name] = meta.get(name, [])
        if not isinstance(lists[name], list):
            problems.add(MANIFEST, node, f"qb:bank {name}: expected a list")
            lists[name] = []
    dimensions = [_validated(Dimension, d, problems, node, f"dimensions[{k}]")
                  for k, d in enumerate(lists["dimensions"])]
    scales = [_validated(ResponseScale, s, problems, node, f"scales[{k}]")
              for k, s in enumerate(lists["scales"])]
    entries = _own_entries(package, manifest, problems)
    reads += [e.read for e in entries]
    groups = _grouped(entries, problems)
    items = _own_items(groups, {s.id: s for s in scales if s is not None}, problems)
    if problems:
        return None
    version = _own_version(meta, groups, 1, problems, node, path)
    if problems or version is None:
        return None
    return BankDocument(dimensions=[d for d in dimensions if d is not None],
                        scales=[s for s in scales if s is not None], items=items,
                        versions=[version])


def _language(value: str | None) -> str | None:
    """``ru-RU`` → ``ru``: an ``xml:lang``'s primary subtag, when it is one of qabilet's languages."""
    primary = (value or "").split("-")[0].strip().lower()
    return primary if primary in LANGUAGES else None


def _foreign_document(package: Package, manifest: _Manifest, problems: Problems,
                      defaults: Defaults, repo: BankRepository, reads: list[ReadItem]
                      ) -> BankDocument | None:
    """Items without qabilet's metadata as draft items (see the module notes).

    The items read are added to ``reads``.
    """
    dims = repo.dimensions()
    dimension, levels = defaults.dimension, defaults.levels
    if dimension is None or not levels:
        missing = [what for what, given in (("--dimension ID (what they measure)", dimension),
                                            ("--levels LEVEL,… (the position levels they are "
                                             "for)", levels)) if not given]
        problems.add(MANIFEST, manifest.root,
                     f"the package has no qabilet metadata (qb:bank), so its items are imported "
                     f"as draft items without parameters, and QTI does not say what they measure "
                     f"or whom they are for: give {' and '.join(missing)}")
        return None
    if dimension not in dims:
        problems.add(MANIFEST, manifest.root, f"--dimension {dimension!r}: not a dimension of the "
                                              f"bank ({', '.join(dims) or 'none'})")
        return None
    bad = [lv for lv in levels if lv not in LEVELS]
    if bad:
        problems.add(MANIFEST, manifest.root, f"--levels: {', '.join(bad)}; expected some of "
                                              f"{', '.join(LEVELS)}")
        return None
    texts: dict[str, dict[str, ReadItem]] = {}
    for res in manifest.items:
        if res.meta is not None:
            problems.add(MANIFEST, res.meta, "qb:item without the package's qb:bank; a qabilet "
                                             "package has both")
            continue
        read = read_item(_read_member(package, res.href, problems), res.href, problems, exact=False)
        if read is None:
            continue
        reads.append(read)
        lang = _language(read.language)
        if lang is None:
            given = "no xml:lang" if read.language is None else f"xml:lang {read.language!r}"
            problems.add(read.member, read.root, f"{given}: expected one of "
                                                 f"{', '.join(LANGUAGES)} (or a region of one, "
                                                 f"ru-RU), the language of the item's texts")
            continue
        if read.kind == "order":
            problems.add(read.member, read.nodes["interaction"], "an order interaction is a "
                         "forced-choice block, whose statements' dimensions and keying only "
                         "qabilet's metadata (qb:item) carries")
            continue
        item_id = read.identifier.removesuffix(f".{lang}") or read.identifier
        mine = texts.setdefault(item_id, {})
        if lang in mine:
            problems.add(read.member, read.root, f"item {item_id!r} in {lang!r} twice (also "
                                                 f"{mine[lang].member})")
            continue
        mine[lang] = read
    if problems:
        return None
    stored = {i.id for i in repo.items()}
    items = []
    kind = "competency" if dimension in COMPETENCIES else "trait"
    for item_id, langs in texts.items():
        first = next(iter(langs.values()))
        if item_id in stored:
            problems.add(first.member, first.root, f"item {item_id!r} is already in the bank; an "
                                                   f"item without qabilet's metadata is added as a "
                                                   f"new draft")
            continue
        record: dict[str, Any] = {"id": item_id, kind: dimension, "levels": list(levels),
                                  "status": "draft", "text": {}}
        keys = {lang: [c for c, _ in r.choices].index(r.correct[0]) if r.correct else None
                for lang, r in langs.items()}
        if len(set(keys.values())) > 1:
            problems.add(first.member, first.nodes.get("correct") or first.root,
                         f"item {item_id!r}: its languages do not agree on the correct response "
                         f"(the correct choice's position: "
                         f"{', '.join(f'{lang} {k}' for lang, k in keys.items())})")
            continue
        key = next(iter(keys.values()))
        if key is not None:
            record |= {"format": "dichotomous", "key": key}
        else:
            record["format"] = "sjt"
            orientation = _orientation(first)
            if orientation is not None:
                record["orientation"] = orientation
        for lang, read in langs.items():
            stem = "\n\n".join(part for part in (read.stem, read.prompt) if part)
            record["text"][lang] = {"stem": stem, "options": [t for _, t in read.choices]}
        try:
            items.append(Item.model_validate(record))
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(x) for x in err["loc"])
                problems.add(first.member, first.nodes["interaction"],
                             f"as a {record['format']} item{' (' + loc + ')' if loc else ''}: "
                             f"{err['msg'].removeprefix('Value error, ')}")
    if problems:
        return None
    return BankDocument(items=items)


def _orientation(read: ReadItem) -> dict[str, Any] | None:
    """The experts' orientation a foreign item's mapping gives (unique highest, lowest values)."""
    if read.mapping is None or read.scored != "map":
        return None
    ids = [c for c, _ in read.choices]
    values = [read.mapping.get(c, 0.0) for c in ids]
    top, bottom = max(values), min(values)
    if top == bottom or values.count(top) != 1:
        return None
    out: dict[str, Any] = {"most_indicative": values.index(top),
                           "source": f"the QTI mapping of {read.identifier}"}
    if values.count(bottom) == 1:
        out["least_indicative"] = values.index(bottom)
    return out


def import_package(repo: BankRepository, data: bytes, *, path: str | None = None,
                   by: str | None = None, defaults: Defaults = Defaults()) -> ImportedPackage:
    """Import a QTI 3.0 content package, all or nothing (see the module notes).

    A qabilet package imports its items (as :func:`~qabilet.itembank.bank_file.import_document`
    imports a bank document's: new texts of what a published version shows go into a draft) and
    its version's parameters as a new draft version; a foreign package imports draft items.

    Raises
    ------
    QtiRejectedError
        Every problem found, each with its member, element, line and reason; nothing is
        imported.
    ImportRejectedError
        What the bank refuses (a calibrated item's categories changed, a record that contradicts
        a stored one), as for a bank document.
    """
    problems = Problems()
    package = open_package(data, problems)
    manifest = None if package is None else _manifest(package, problems)
    problems.raise_any(path)
    assert package is not None and manifest is not None
    notes = []
    if manifest.others:
        notes.append(f"{manifest.others} resource(s) of other types (tests, stimuli, media) "
                     f"were not read")
    reads: list[ReadItem] = []
    if manifest.bank is not None:
        document = _own_document(package, manifest, problems, path, reads)
    else:
        document = _foreign_document(package, manifest, problems, defaults, repo, reads)
    problems.raise_any(path)
    assert document is not None
    shuffled = sum(r.shuffle for r in reads)
    if shuffled:
        notes.append(f"{shuffled} assessment item(s) ask for their choices shuffled; qabilet shows "
                     f"them in the package's order (the answer code of a choice is its position "
                     f"there)")
    done = load_document(repo, document, path=path, by=by, renumber=True)
    number = done.document.versions[0].number if done.document.versions else None
    return ImportedPackage(done, number, len(manifest.items), tuple(notes))
