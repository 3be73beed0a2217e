"""A bank version as a QTI 3.0 content package: one assessment item per item and language.

``export_package(repo, version)`` writes a zip whose ``imsmanifest.xml`` lists, for every item
the version holds (its calibrated items, its forced-choice blocks, the items it tries out), one
resource per language the item has text in, ``items/<item id>.<lang>.xml`` — a
``qti-assessment-item`` whose ``identifier`` is ``<item id>.<lang>`` (``TRN-003.kk``) and whose
root carries ``xml:lang`` (docs/qti.md says why one item per language):

* a Likert or situational-judgement item (or a keyed dichotomous one) is a
  ``qti-choice-interaction`` with one ``qti-simple-choice`` per option (a Likert item's: its
  scale's labels), in the bank's order, never shuffled; its response ``RESPONSE`` (single,
  identifier) is mapped (``qti-mapping``) to the answer code qabilet's API takes for it — the
  option's 0-based position — and response processing sets the outcome ``SCORE`` (single,
  float) to that code, or to NULL when nothing was chosen. Preference items have no
  ``qti-correct-response``; a dichotomous item's is its key.
* a forced-choice block is a ``qti-order-interaction`` whose choices are its statements (their
  ids as identifiers, so a platform's ordered response is the ranking qabilet's API takes), with
  no outcome and no response processing: rankings are scored by qabilet, not by the platform.

The stem is one ``p`` per paragraph (a blank line in the bank's text), a line break a ``br``; a
situational-judgement item's instruction and a block's are the interaction's ``qti-prompt``.

Everything else the bank records — the item record (what it measures, format, scale and
keying, levels, status, orientation, tags …), its parameters with their standard errors and
answer codes, a block's statement parameters, the version's latent distribution and
provenance, the dimensions' names and the scales' labels — is in the manifest's metadata, as
qabilet namespace elements inside the ``lom`` element QTI 3.0's package profile allows
(:mod:`qabilet.itembank.qti_package`), so that :mod:`qabilet.itembank.qti_import` gets back
exactly what was written.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from qabilet.engine.exceptions import ConflictError
from qabilet.itembank._runtime import installed_version
from qabilet.itembank.bank_file import BankDocument
from qabilet.itembank.content import (
    BLOCK_INSTRUCTIONS,
    INSTRUCTIONS,
    LANGUAGES,
    Item,
    Language,
    ResponseScale,
)
from qabilet.itembank.qti_package import (
    CP_NS,
    FN_NS,
    ITEM_TYPE,
    LOM_NS,
    MANIFEST,
    QB_NS,
    QTI_NS,
    El,
    is_ncname,
    json_element,
    unwritable,
)
from qabilet.itembank.repository import BankRepository
from qabilet.itembank.versions import BankVersion

__all__ = ["FORMAT_VERSION", "RESPONSE", "SCORE", "ExportedPackage", "bank_metadata",
           "export_package", "item_document", "item_metadata", "scale_labels"]

#: the version of qabilet's metadata in a package (``format_version`` of ``qb:bank``)
FORMAT_VERSION = 1
#: the response and outcome qabilet's items declare
RESPONSE, SCORE = "RESPONSE", "SCORE"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # members' times fixed: the same bank gives the same members


@dataclass(frozen=True, slots=True)
class ExportedPackage:
    """A package written by :func:`export_package`.

    Attributes
    ----------
    data : bytes
        The zip.
    version : int
        The bank version exported.
    items, blocks, pretest : int
        The version's calibrated items, forced-choice blocks and items tried out.
    resources : int
        Assessment items in the package (an item in each of its languages).
    """

    data: bytes = field(repr=False)
    version: int
    items: int
    blocks: int
    pretest: int
    resources: int


def _choice_id(code: int) -> str:
    return f"C{code}"


def scale_labels(scale: ResponseScale, lang: str) -> list[str]:
    """A Likert scale's labels in ``lang``, or (as sessions show them) in the first language it has."""
    return list(scale.labels.get(lang) or next(iter(scale.labels.values())))  # type: ignore[call-overload]


def _writable(text: str, where: str) -> str:
    bad = unwritable(text)
    if bad is not None:
        raise ConflictError(f"{where}: character {bad} cannot be written in XML, so not in a QTI "
                            f"package; correct the text in the bank first")
    return text


def _lines(text: str, where: str) -> list[El | str]:
    """A text's lines with ``br`` between them (content of a ``p``, choice or prompt)."""
    out: list[El | str] = []
    for k, line in enumerate(_writable(text, where).split("\n")):
        if k:
            out.append(El("br"))
        if line:
            out.append(line)
    return out


def _paragraphs(text: str, where: str) -> list[El]:
    """A stem as ``p`` elements: one per paragraph (parts between blank lines, ``\\n\\n``)."""
    return [El("p", content=_lines(part, where), inline=True) for part in text.split("\n\n")]


def _interaction(item: Item, lang: Language, scale: ResponseScale | None) -> tuple[El, list[str]]:
    """The item's interaction in ``lang`` and its choices' identifiers, in order."""
    where = f"item {item.id!r} ({lang})"
    prompt: str | None
    if item.format == "forced_choice":
        statements = item.statements or []
        for st in statements:
            if not is_ncname(st.id or ""):
                raise ConflictError(f"{where}: statement id {st.id!r} is no QTI identifier (a "
                                    f"letter or _ first, then letters, digits, _ . -)")
        prompt = BLOCK_INSTRUCTIONS[item.answer_mode or "rank"][lang]
        choices = [(st.id or "", st.text[lang]) for st in statements]
        kind = "qti-order-interaction"
    else:
        prompt = None if item.shown_instruction is None else INSTRUCTIONS[item.shown_instruction][lang]
        if item.format == "likert":
            if scale is None:
                raise ConflictError(f"{where}: its response scale {item.scale!r} is not in the bank")
            texts = scale_labels(scale, lang)
        else:
            texts = list(item.text[lang].options or [])
        choices = [(_choice_id(k), t) for k, t in enumerate(texts)]
        kind = "qti-choice-interaction"
    attrs = {"response-identifier": RESPONSE, "shuffle": "false"}
    if kind == "qti-choice-interaction":
        attrs["max-choices"] = "1"
    content: list[El | str] = []
    if prompt is not None:
        content.append(El("qti-prompt", content=_lines(prompt, f"{where} instruction"), inline=True))
    content += [El("qti-simple-choice", {"identifier": ident},
                   _lines(text, f"{where} choice {ident}"), inline=True) for ident, text in choices]
    return El(kind, attrs, content), [ident for ident, _ in choices]


def _declarations(item: Item, choices: list[str]) -> list[El]:
    """The response declaration (with its mapping to answer codes) and the outcome SCORE."""
    if item.format == "forced_choice":
        return [El("qti-response-declaration", {"identifier": RESPONSE, "cardinality": "ordered",
                                                 "base-type": "identifier"})]
    content: list[El | str] = []
    if item.format == "dichotomous" and item.key is not None:
        content.append(El("qti-correct-response", content=[
            El("qti-value", content=[choices[item.key]])]))
    content.append(El("qti-mapping", content=[
        El("qti-map-entry", {"map-key": ident, "mapped-value": str(code), "case-sensitive": "true"})
        for code, ident in enumerate(choices)]))
    return [El("qti-response-declaration", {"identifier": RESPONSE, "cardinality": "single",
                                            "base-type": "identifier"}, content),
            El("qti-outcome-declaration", {"identifier": SCORE, "cardinality": "single",
                                           "base-type": "float"})]


def _set_score(expression: El) -> El:
    return El("qti-set-outcome-value", {"identifier": SCORE}, [expression])


def _response_processing() -> El:
    """SCORE ← the chosen choice's code (``qti-map-response``), NULL when none was chosen.

    Not the ``map_response`` template: it scores an unanswered item 0, which is an answer code.
    """
    return El("qti-response-processing", content=[El("qti-response-condition", content=[
        El("qti-response-if", content=[
            El("qti-is-null", content=[El("qti-variable", {"identifier": RESPONSE})]),
            _set_score(El("qti-null"))]),
        El("qti-response-else", content=[
            _set_score(El("qti-map-response", {"identifier": RESPONSE}))])])])


def item_document(item: Item, lang: Language, scale: ResponseScale | None = None) -> El:
    """The ``qti-assessment-item`` of ``item`` in ``lang`` (``scale``: a Likert item's).

    Raises
    ------
    ConflictError
        An id that is no QTI identifier, or a text with a character XML cannot hold.
    """
    identifier = f"{item.id}.{lang}"
    if not is_ncname(identifier):
        raise ConflictError(f"item {item.id!r}: its id is no QTI identifier (a letter or _ first, "
                            f"then letters, digits, _ . -), so it cannot be exported to QTI")
    interaction, choices = _interaction(item, lang, scale)
    body = El("qti-item-body", content=[*_paragraphs(item.text[lang].stem,
                                                     f"item {item.id!r} ({lang}) stem"), interaction])
    content = [*_declarations(item, choices), body]
    if item.format != "forced_choice":
        content.append(_response_processing())
    return El("qti-assessment-item", {
        "xmlns": QTI_NS, "identifier": identifier, "title": f"{item.id} ({lang})",
        "adaptive": "false", "time-dependent": "false", "xml:lang": lang,
        "tool-name": "qabilet", "tool-version": installed_version()}, content)


def item_metadata(item: Item, parameters: dict[str, Any] | None, block: dict[str, Any] | None
                  ) -> dict[str, Any]:
    """What the manifest says of an item (the same on each of its languages' resources).

    ``record``: the item as the bank records it, without its texts (they are the assessment
    items'); ``parameters``: its record in the version's parameter file; ``block``: a
    forced-choice block's statements' parameters.
    """
    record = item.model_dump(mode="json", exclude_none=True)
    record.pop("text")
    if "statements" in record:
        record["statements"] = [{k: v for k, v in st.items() if k != "text"}
                                for st in record["statements"]]
    out: dict[str, Any] = {"record": record}
    if parameters is not None:
        out["parameters"] = parameters
    if block is not None:
        out["block"] = block
    return out


def bank_metadata(version: BankVersion, document: BankDocument) -> dict[str, Any]:
    """What the manifest says of the version, the dimensions and the scales.

    The version's record without its items' parameters (each item's resources carry its own),
    the dimensions' names, the scales' labels, and the export's stamp.
    """
    record = version.model_dump(mode="json", exclude_none=True, exclude={"content"})
    record["parameters"].pop("items")
    if "forced_choice" in record:
        record["forced_choice"].pop("blocks")
    return {"format_version": FORMAT_VERSION, "software_version": document.software_version,
            "exported_at": None if document.exported_at is None else document.exported_at.isoformat(),
            "version": record,
            "dimensions": [d.model_dump(mode="json", exclude_none=True) for d in document.dimensions],
            "scales": [s.model_dump(mode="json", exclude_none=True) for s in document.scales]}


def _resource(identifier: str, href: str, metadata: El) -> El:
    return El("resource", {"identifier": identifier, "type": ITEM_TYPE, "href": href}, [
        El("metadata", content=[El("lom:lom", content=[metadata])]), El("file", {"href": href})])


def export_package(repo: BankRepository, version: int, *, software_version: str | None = None,
                   exported_at: datetime | None = None) -> ExportedPackage:
    """Bank version ``version`` as a QTI 3.0 content package (see the module notes).

    The items carry the texts the version shows and the bank's current record otherwise (their
    working status, levels, tags …).

    Raises
    ------
    NotFoundError
        No such version.
    ConflictError
        An item id or statement id that is no QTI identifier, or a text XML cannot hold.
    """
    v = repo.version(version)
    current = {i.id: i for i in repo.items()}
    ids = [*v.item_ids, *v.block_ids, *v.pretest]
    items = [v.shown_item(current[i]) for i in ids]
    scales = repo.scales(version=version)
    named = set(v.dimensions) | {i.dimension for i in items if i.dimension} | {
        st.dimension for i in items for st in i.statements or []}
    document = BankDocument(
        exported_at=exported_at or datetime.now(UTC), software_version=software_version,
        dimensions=[d for d in repo.dimensions(version=version).values() if d.id in named],
        scales=[s for k, s in scales.items() if k in {i.scale for i in items}])
    parameters = {r.id: r.model_dump(mode="json", exclude_none=True) for r in v.parameters.items}
    blocks = {} if v.forced_choice is None else {
        b.id: b.model_dump(mode="json", by_alias=True, exclude_none=True)
        for b in v.forced_choice.blocks}
    resources: list[El] = []
    members: list[tuple[str, bytes]] = []
    for item in items:
        try:
            meta = json_element(item_metadata(item, parameters.get(item.id), blocks.get(item.id)))
        except ValueError as exc:
            raise ConflictError(f"item {item.id!r}: {exc}") from None
        scale = scales.get(item.scale) if item.scale is not None else None
        for lang in [lang for lang in LANGUAGES if lang in item.text]:
            identifier, href = f"{item.id}.{lang}", f"items/{item.id}.{lang}.xml"
            members.append((href, item_document(item, lang, scale).document()))
            resources.append(_resource(identifier, href, El(
                "qb:item", {"id": item.id, "language": lang}, [meta], inline=True)))
    try:
        bank = El("qb:bank", content=[json_element(bank_metadata(v, document))])
    except ValueError as exc:
        raise ConflictError(f"bank version {v.number}: {exc}") from None
    manifest = El("manifest", {
        "xmlns": CP_NS, "xmlns:lom": LOM_NS, "xmlns:qb": QB_NS, "xmlns:fn": FN_NS,
        "identifier": f"qabilet-bank-version-{v.number}"}, [
        El("metadata", content=[El("schema", content=["QTI Package"]),
                                El("schemaversion", content=["3.0.0"]),
                                El("lom:lom", content=[bank])]),
        El("organizations"), El("resources", content=resources)])
    return ExportedPackage(_zip([(MANIFEST, manifest.document()), *members]), v.number,
                           len(v.item_ids), len(v.block_ids), len(v.pretest), len(resources))


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, data)
    return buffer.getvalue()
