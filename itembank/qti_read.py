"""A strict reader of the QTI 3.0 assessment items qabilet supports.

No QTI 3.0 schema ships with a package qabilet can depend on (docs/qti.md says which were
looked at), so this module checks the elements qabilet reads itself, element by element, and
refuses anything else by name, each problem recorded with the member, the element's path and
line, and the reason (:class:`~qabilet.itembank.qti_package.Problems`):

* a ``qti-assessment-item`` (``identifier``, ``title``, ``time-dependent``; ``adaptive`` false)
  with one response declaration, outcome declarations, an item body and optional response
  processing, in that order;
* the body: the stem as ``p`` (and ``div``) of plain text with ``br``, then exactly one
  ``qti-choice-interaction`` (one choice: a situational-judgement, Likert or keyed item) or
  ``qti-order-interaction`` (a forced-choice block), with an optional ``qti-prompt`` and its
  ``qti-simple-choice`` elements (plain text and ``br``; identifiers unique);
* the response declaration the interaction names: single (choice) or ordered (order)
  cardinality, base type identifier, an optional ``qti-correct-response`` (a keyed item's key)
  and ``qti-mapping`` whose keys must be the interaction's choices;
* response processing: none, the ``match_correct`` or ``map_response`` template, or SCORE set
  from ``qti-map-response`` (qabilet's own form: NULL when nothing was chosen).

Texts are read exactly (qabilet's packages) or as a browser shows them (white space runs as one
space: other platforms' items). :mod:`qabilet.itembank.qti_import` puts the items read into the
bank.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from qabilet.itembank.qti_package import QTI_NS, XML_NS, Problems, XNode, parse_xml

__all__ = ["ElementReader", "ReadItem", "read_item"]

_XSI = "http://www.w3.org/2001/XMLSchema-instance"
#: attributes any body element may carry (presentation; read and ignored)
_PRESENTATION = frozenset({"class", "id", "label", "lang", "dir", "role"})
_TEMPLATE = re.compile(r"/rptemplates/(?P<name>match_correct|map_response)(\.xml)?$")
_SPACE = re.compile(r"[ \t\r\n]+")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
#: an xs:NCName, letters and digits of any script (what QTI's identifiers are)
_IDENTIFIER = re.compile(r"^[^\W\d][\w.\-]*$")


# -- one assessment item -------------------------------------------------------------------------
@dataclass(slots=True)
class ReadItem:
    """A ``qti-assessment-item`` as the strict reader read it.

    ``choices`` are (identifier, text) in document order; ``mapping`` the response's map
    (choice → value, None without one); ``scored`` whether response processing sets an outcome
    from that map (``map``) or by the correct response (``correct``), or not at all (None).
    """

    member: str
    root: XNode
    identifier: str
    language: str | None
    kind: Literal["choice", "order"]
    stem: str
    prompt: str | None
    choices: list[tuple[str, str]]
    shuffle: bool
    correct: list[str] | None
    mapping: dict[str, float] | None
    scored: Literal["map", "correct"] | None
    nodes: dict[str, XNode] = field(default_factory=dict)


class ElementReader:
    """Reads one member's elements, recording each problem with its element.

    ``exact``: texts as written; otherwise as a browser shows them.
    """

    def __init__(self, member: str, problems: Problems, exact: bool) -> None:
        self.member, self.problems, self.exact = member, problems, exact

    def fail(self, node: XNode | None, reason: str) -> None:
        """Record that ``node`` of the member is wrong: ``reason``."""
        self.problems.add(self.member, node, reason)

    def attributes(self, node: XNode, allowed: Iterable[str] = (), required: Iterable[str] = (),
                   presentation: bool = False) -> dict[str, str]:
        """The element's unqualified attributes, checked: required present, none unknown.

        Attributes of other namespaces (``xml:lang``, ``xsi:schemaLocation``, extensions) are
        let through; ``data-*`` and ``aria-*`` too where ``presentation`` is allowed.
        """
        allowed = set(allowed) | set(required)
        out: dict[str, str] = {}
        for name, value in node.attrib.items():
            if name.startswith("{"):
                continue
            if name in allowed or presentation and (
                    name in _PRESENTATION or name.startswith(("data-", "aria-"))):
                out[name] = value
            else:
                self.fail(node, f"unknown attribute {name!r}"
                                + (f"; expected some of {', '.join(sorted(allowed))}" if allowed
                                   else "; it takes none"))
        for name in required:
            if name not in node.attrib:
                self.fail(node, f"missing attribute {name!r}")
        return out

    def boolean(self, node: XNode, attrs: dict[str, str], name: str, default: bool) -> bool:
        """Attribute ``name`` as an ``xs:boolean`` (``default`` when absent or wrong)."""
        value = attrs.get(name)
        if value is None:
            return default
        if value.strip() not in ("true", "false", "1", "0"):
            self.fail(node, f"{name}: expected true or false; got {value!r}")
            return default
        return value.strip() in ("true", "1")

    def identifier(self, node: XNode, attrs: dict[str, str], name: str) -> str:
        """Attribute ``name``, checked to be a QTI identifier (an ``xs:NCName``)."""
        value = attrs.get(name, "")
        if value and _IDENTIFIER.match(value) is None:
            self.fail(node, f"{name}: {value!r} is no QTI identifier (an xs:NCName: a letter or _ "
                            f"first, then letters, digits, _ . -)")
        return value

    def no_text(self, node: XNode) -> None:
        """Refuse character data in an element that holds elements only."""
        for piece in node.content():
            if isinstance(piece, str) and piece.strip():
                self.fail(node, f"text {piece.strip()[:40]!r} where only elements may be")
                return

    def qti(self, node: XNode) -> bool:
        """True when ``node`` is in the QTI 3.0 namespace (else a problem is recorded)."""
        if node.namespace == QTI_NS:
            return True
        self.fail(node, f"an element of namespace {node.namespace or '(none)'!r} in a QTI item; "
                        f"qabilet reads QTI 3.0 ({QTI_NS})")
        return False

    # -- text -----------------------------------------------------------------------------------
    def inline(self, node: XNode) -> str:
        """The plain text of ``node``: its character data, ``br`` as a line break.

        Any other markup is refused (the bank's texts are plain text).
        """
        parts: list[str] = []
        for piece in node.content():
            if isinstance(piece, str):
                parts.append(piece if self.exact else _SPACE.sub(" ", piece))
            elif piece.namespace == QTI_NS and piece.local == "br":
                self.attributes(piece, presentation=True)
                if piece.children or piece.text.strip():
                    self.fail(piece, "br is empty")
                parts.append("\n")
            else:
                self.fail(piece, f"{piece.local}: markup qabilet cannot hold; its texts are plain "
                                 f"text (paragraphs and line breaks)")
        text = "".join(parts)
        if not self.exact:
            text = "\n".join(line.strip() for line in text.split("\n")).strip()
        return text

    def paragraphs(self, node: XNode) -> list[str]:
        """The paragraphs of a ``p`` or ``div`` (a div's own text is a paragraph of its own)."""
        if node.local == "p":
            self.attributes(node, presentation=True)
            return [self.inline(node)]
        self.attributes(node, presentation=True)
        out: list[str] = []
        for piece in node.content():
            if isinstance(piece, str):
                if piece.strip():
                    out.append(piece if self.exact else _SPACE.sub(" ", piece).strip())
            elif piece.namespace == QTI_NS and piece.local in ("p", "div"):
                out += self.paragraphs(piece)
            else:
                self.fail(piece, f"{piece.local}: qabilet reads a stem of paragraphs (p, div) of "
                                 f"plain text")
        return out


def read_item(data: bytes, member: str, problems: Problems, *, exact: bool) -> ReadItem | None:
    """The assessment item in ``data``, read strictly (see the module notes); None when refused.

    ``exact``: texts as written (qabilet's packages); otherwise as a browser shows them.
    """
    before = len(problems.found)
    root = parse_xml(data, member, problems)
    if root is None:
        return None
    r = ElementReader(member, problems, exact)
    if root.tag != f"{{{QTI_NS}}}qti-assessment-item":
        if root.local in ("assessmentItem", "qti-assessment-item"):
            r.fail(root, f"a QTI 2.x item (namespace {root.namespace!r}); qabilet reads QTI 3.0 "
                         f"items ({QTI_NS}): convert it first")
        else:
            r.fail(root, "expected a qti-assessment-item")
        return None
    attrs = r.attributes(root, ("adaptive", "label", "tool-name", "tool-version"),
                         ("identifier", "title", "time-dependent"))
    identifier = r.identifier(root, attrs, "identifier")
    r.boolean(root, attrs, "time-dependent", False)
    if r.boolean(root, attrs, "adaptive", False):
        r.fail(root, "adaptive items (several attempts, feedback) are not read; expected "
                     "adaptive=\"false\"")
    for name in root.attrib:
        if name.startswith("{") and not name.startswith((f"{{{XML_NS}}}", f"{{{_XSI}}}")):
            r.fail(root, f"attribute {name}: not read")
    r.no_text(root)
    language = root.attrib.get(f"{{{XML_NS}}}lang")
    declarations: dict[str, XNode] = {}
    outcomes: dict[str, XNode] = {}
    body = processing = None
    order = ["qti-response-declaration", "qti-outcome-declaration", "qti-item-body",
             "qti-response-processing"]
    last = -1
    for child in root.children:
        if not r.qti(child):
            continue
        if child.local not in order:
            r.fail(child, f"{child.local}: not read by qabilet (an item holds response and "
                          f"outcome declarations, an item body and response processing)")
            continue
        place = order.index(child.local)
        if place < last or (place == last and place >= 2):
            r.fail(child, f"{child.local} out of place; expected the order "
                          f"{', '.join(order)} (one body, one response processing)")
        last = max(last, place)
        if child.local == "qti-response-declaration":
            ident = child.attrib.get("identifier", "")
            if ident in declarations:
                r.fail(child, f"response {ident!r} declared twice")
            declarations[ident] = child
        elif child.local == "qti-outcome-declaration":
            outcomes[child.attrib.get("identifier", "")] = child
            _outcome(r, child)
        elif child.local == "qti-item-body":
            body = child
        else:
            processing = child
    if body is None:
        r.fail(root, "no qti-item-body: nothing to show")
        return None
    read = _body(r, body)
    if read is None:
        return None
    kind, interaction, response = read.kind, read.interaction, read.response
    declaration = declarations.get(response)
    if declaration is None:
        r.fail(interaction, f"response-identifier {response!r}: no qti-response-declaration "
                            f"declares it")
        return None
    for ident, extra in declarations.items():
        if ident != response:
            r.fail(extra, f"response {ident!r} is not the interaction's ({response!r}); an item "
                          f"holds one interaction")
    ids = [c for c, _ in read.choices]
    correct, mapping, nodes = _declaration(r, declaration, kind, ids)
    nodes |= {"body": body, "interaction": interaction}
    scored = None if processing is None else _processing(r, processing, response, outcomes)
    if scored == "map" and mapping is None:
        r.fail(processing, f"qti-map-response needs a qti-mapping in the declaration of "
                           f"{response!r}")
    if scored == "correct" and not correct:
        r.fail(processing, f"match_correct needs a qti-correct-response in the declaration of "
                           f"{response!r}")
    if len(problems.found) > before:
        return None
    return ReadItem(member, root, identifier, language, kind, read.stem, read.prompt, read.choices,
                    read.shuffle, correct, mapping, scored, nodes)


def _outcome(r: ElementReader, node: XNode) -> None:
    r.attributes(node, ("base-type", "view", "interpretation", "long-interpretation",
                        "normal-maximum", "normal-minimum", "mastery-value", "external-scored",
                        "variable-identifier-ref"), ("identifier", "cardinality"))
    r.no_text(node)
    for child in node.children:
        if not r.qti(child):
            continue
        if child.local != "qti-default-value":
            r.fail(child, f"{child.local}: not read in an outcome declaration")
            continue
        r.attributes(child, ("interpretation",))
        for value in child.children:
            if r.qti(value) and value.local != "qti-value":
                r.fail(value, "expected qti-value")


@dataclass(slots=True)
class _Body:
    kind: Literal["choice", "order"]
    stem: str
    prompt: str | None
    choices: list[tuple[str, str]]
    interaction: XNode
    shuffle: bool
    response: str


def _body(r: ElementReader, body: XNode) -> _Body | None:
    """The stem, the interaction and its choices, from ``qti-item-body``."""
    r.attributes(body, presentation=True)
    r.no_text(body)
    paragraphs: list[str] = []
    interaction: XNode | None = None
    for child in body.children:
        if not r.qti(child):
            continue
        if child.local.endswith("-interaction"):
            if interaction is not None:
                r.fail(child, "a second interaction; a qabilet item holds one")
            elif child.local not in ("qti-choice-interaction", "qti-order-interaction"):
                r.fail(child, f"{child.local}: an interaction qabilet does not read; it reads "
                              f"qti-choice-interaction (Likert, situational-judgement and keyed "
                              f"items) and qti-order-interaction (forced-choice blocks)")
                return None
            interaction = child
        elif child.local in ("p", "div"):
            if interaction is not None:
                r.fail(child, "text after the interaction; qabilet shows the stem above it")
            paragraphs += r.paragraphs(child)
        else:
            r.fail(child, f"{child.local}: qabilet reads a stem of paragraphs (p, div) of plain "
                          f"text, then one interaction")
    if interaction is None:
        r.fail(body, "no interaction; expected a qti-choice-interaction or qti-order-interaction")
        return None
    kind: Literal["choice", "order"] = ("choice" if interaction.local == "qti-choice-interaction"
                                        else "order")
    attrs = r.attributes(interaction, ("shuffle", "max-choices", "min-choices", "orientation"),
                         ("response-identifier",), presentation=True)
    response = r.identifier(interaction, attrs, "response-identifier")
    shuffle = r.boolean(interaction, attrs, "shuffle", False)
    r.no_text(interaction)
    prompt: str | None = None
    choices: list[tuple[str, str]] = []
    for child in interaction.children:
        if not r.qti(child):
            continue
        if child.local == "qti-prompt" and not choices and prompt is None:
            r.attributes(child, presentation=True)
            prompt = r.inline(child)
        elif child.local == "qti-simple-choice":
            cattrs = r.attributes(child, ("fixed",), ("identifier",), presentation=True)
            ident = r.identifier(child, cattrs, "identifier")
            if ident in [c for c, _ in choices]:
                r.fail(child, f"choice identifier {ident!r} twice")
            r.boolean(child, cattrs, "fixed", False)
            choices.append((ident, r.inline(child)))
        else:
            r.fail(child, f"{child.local}: expected an optional qti-prompt, then "
                          f"qti-simple-choice elements")
    if not choices:
        r.fail(interaction, "no qti-simple-choice")
    for name, need in (("max-choices", "1" if kind == "choice" else str(len(choices))),
                       ("min-choices", None)):
        value = attrs.get(name)
        if value is None:
            continue
        if not (value.strip().isascii() and value.strip().isdigit()):
            r.fail(interaction, f"{name}: expected a whole number; got {value!r}")
        elif name == "max-choices" and value.strip() != need and not (
                kind == "order" and value.strip() == "0"):
            r.fail(interaction, f"max-choices {value}: qabilet's items take "
                                + ("one choice" if kind == "choice" else "a full ranking")
                                + f"; expected {need}")
        elif name == "min-choices" and int(value) > (1 if kind == "choice" else len(choices)):
            r.fail(interaction, f"min-choices {value}: more than can be chosen")
    return _Body(kind, "\n\n".join(paragraphs), prompt, choices, interaction, shuffle, response)


def _declaration(r: ElementReader, node: XNode, kind: str, choices: list[str]
                 ) -> tuple[list[str] | None, dict[str, float] | None, dict[str, XNode]]:
    """The correct response and mapping of the interaction's response declaration."""
    attrs = r.attributes(node, ("base-type",), ("identifier", "cardinality"))
    want = "single" if kind == "choice" else "ordered"
    if attrs.get("cardinality") != want:
        r.fail(node, f"cardinality {attrs.get('cardinality')!r}: a {kind} interaction's response "
                     f"is {want}")
    if attrs.get("base-type") != "identifier":
        r.fail(node, f"base-type {attrs.get('base-type')!r}: expected identifier (the choices')")
    r.no_text(node)
    correct: list[str] | None = None
    mapping: dict[str, float] | None = None
    nodes: dict[str, XNode] = {}
    for child in node.children:
        if not r.qti(child):
            continue
        if child.local == "qti-correct-response" and correct is None and mapping is None:
            r.attributes(child, ("interpretation",))
            r.no_text(child)
            correct = []
            nodes["correct"] = child
            for value in child.children:
                if not r.qti(value) or value.local != "qti-value" or value.children:
                    r.fail(value, "expected qti-value elements holding choice identifiers")
                    continue
                r.attributes(value, ("base-type", "field-identifier"))
                if value.text.strip() not in choices:
                    r.fail(value, f"{value.text.strip()!r} is not a choice of the interaction "
                                  f"({', '.join(choices)})")
                correct.append(value.text.strip())
            if kind == "choice" and len(correct) != 1:
                r.fail(child, f"a single response has one correct value; got {len(correct)}")
        elif child.local == "qti-mapping" and mapping is None:
            mapping = _mapping(r, child, choices)
            nodes["mapping"] = child
        else:
            r.fail(child, f"{child.local}: expected an optional qti-correct-response, then an "
                          f"optional qti-mapping")
    return correct, mapping, nodes


def _number(r: ElementReader, node: XNode, attrs: dict[str, str], name: str) -> float | None:
    value = attrs.get(name)
    if value is None:
        return None
    if not _NUMBER.match(value.strip()):
        r.fail(node, f"{name}: expected a number; got {value!r}")
        return None
    return float(value)


def _mapping(r: ElementReader, node: XNode, choices: list[str]) -> dict[str, float]:
    attrs = r.attributes(node, ("default-value", "lower-bound", "upper-bound"))
    for name in attrs:
        _number(r, node, attrs, name)
    r.no_text(node)
    out: dict[str, float] = {}
    for entry in node.children:
        if not r.qti(entry):
            continue
        if entry.local != "qti-map-entry" or entry.children:
            r.fail(entry, "expected qti-map-entry elements")
            continue
        e = r.attributes(entry, ("case-sensitive",), ("map-key", "mapped-value"))
        key = e.get("map-key", "").strip()
        value = _number(r, entry, e, "mapped-value")
        if "map-key" in e and key not in choices:
            r.fail(entry, f"map-key {key!r} is not a choice of the interaction "
                          f"({', '.join(choices)})")
        elif key in out:
            r.fail(entry, f"map-key {key!r} twice")
        elif value is not None:
            out[key] = value
    if not node.children:
        r.fail(node, "a qti-mapping holds qti-map-entry elements")
    return out


def _sig(node: XNode) -> tuple[Any, ...]:
    """A response-processing element as a comparable tuple (white space between elements ignored)."""
    attrs = tuple(sorted((k, v.strip()) for k, v in node.attrib.items()))
    return (node.local, attrs, node.text.strip(), tuple(_sig(c) for c in node.children))


def _processing(r: ElementReader, node: XNode, response: str, outcomes: dict[str, XNode]
                ) -> Literal["map", "correct"] | None:
    """What response processing does with the response: ``map`` it to SCORE, or ``correct``."""
    attrs = r.attributes(node, ("template", "template-location"))
    template = attrs.get("template")
    if template is not None:
        found = _TEMPLATE.search(template.strip())
        if node.children or found is None:
            r.fail(node, f"template {template!r}: qabilet reads the match_correct and "
                         f"map_response templates, without rules of their own")
            return None
        name = found["name"]
        score = "SCORE"
    else:
        if any(c.namespace != QTI_NS for c in node.children):
            r.fail(node, "elements of another namespace in response processing")
            return None
        rules = [_sig(c) for c in node.children]
        score = next((c.attrib.get("identifier", "") for c in _walk(node)
                      if c.local == "qti-set-outcome-value"), "SCORE")
        mapped = ("qti-set-outcome-value", (("identifier", score),), "",
                  (("qti-map-response", (("identifier", response),), "", ()),))
        null = ("qti-is-null", (), "", (("qti-variable", (("identifier", response),), "", ()),))
        if rules == [mapped]:
            name = "map_response"
        elif (len(rules) == 1 and rules[0][0] == "qti-response-condition"
              and len(rules[0][3]) == 2 and rules[0][3][0][:3] == ("qti-response-if", (), "")
              and rules[0][3][1] == ("qti-response-else", (), "", (mapped,))
              and len(rules[0][3][0][3]) == 2 and rules[0][3][0][3][0] == null
              and _sets_nothing(rules[0][3][0][3][1], score)):
            name = "map_response"
        else:
            r.fail(node, "response processing qabilet does not read: it reads none, the "
                         "match_correct or map_response template, or SCORE set from "
                         "qti-map-response (NULL or a number when nothing was chosen)")
            return None
    declared = outcomes.get(score)
    if declared is None:
        r.fail(node, f"sets the outcome {score!r}, which no qti-outcome-declaration declares")
    elif (declared.attrib.get("cardinality") != "single"
          or declared.attrib.get("base-type") not in ("float", "integer")):
        r.fail(declared, f"{score}: expected cardinality single and base-type float or integer")
    return "map" if name == "map_response" else "correct"


def _walk(node: XNode) -> Iterable[XNode]:
    yield node
    for child in node.children:
        yield from _walk(child)


def _sets_nothing(rule: tuple[Any, ...], score: str) -> bool:
    """True for ``SCORE ← qti-null`` or ``SCORE ← a number`` (what an unanswered item gets)."""
    if rule[0] != "qti-set-outcome-value" or rule[1] != (("identifier", score),) or len(rule[3]) != 1:
        return False
    value = rule[3][0]
    if value[0] == "qti-null":
        return value[1:] == ((), "", ())
    return (value[0] == "qti-base-value" and dict(value[1]).get("base-type") in ("float", "integer")
            and _NUMBER.match(value[2]) is not None and not value[3])
