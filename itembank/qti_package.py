"""QTI 3.0 content packages: the zip, its XML read safely, problems named, qabilet's metadata as XML.

What :mod:`qabilet.itembank.qti_write`, :mod:`~qabilet.itembank.qti_read` and
:mod:`~qabilet.itembank.qti_import` share (docs/qti.md):

* **The zip, read defensively** (:func:`open_package`): at most :data:`MAX_PACKAGE_BYTES`
  packed, :data:`MAX_MEMBERS` members and :data:`MAX_UNPACKED_BYTES` unpacked (as the central
  directory declares them; a member is never read past its declared size); every member's name
  a relative path inside the package (no ``..``, no absolute path, no backslash, no drive, each
  name once), no encrypted or linked member; ``imsmanifest.xml`` at the root. Nothing is
  written to disk.
* **XML, parsed safely** (:func:`parse_xml`): by ``defusedxml`` (no DTD, so no entity of any
  kind and nothing fetched), into :class:`XNode` trees that know each element's line, so that
  a problem names the member, the element's path and line, and the reason
  (:class:`QtiRejectedError`).
* **XML, written exactly** (:class:`El`): text escaped so that every character reads back the
  same (a carriage return as ``&#13;``); a character XML 1.0 cannot hold is refused.
* **qabilet's records as XML** (:func:`json_element`, :func:`json_value`): a JSON value (an item
  record, its parameters, a bank version) as the W3C vocabulary of XPath 3.1's
  ``fn:json-to-xml`` — ``fn:map``, ``fn:array``, ``fn:string``, ``fn:number``, ``fn:boolean``,
  ``fn:null``, with ``key`` — inside the qabilet namespace's elements of the manifest's
  metadata. Numbers are written as Python's ``repr`` of the float (or the integer) and read
  back by JSON's rule, so every float comes back bit for bit.
"""

from __future__ import annotations

import io
import re
import stat
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from qabilet.engine.exceptions import DataFileError, ImportRejectedError

__all__ = [
    "CP_NAMESPACES",
    "CP_NS",
    "FN_NS",
    "ITEM_TYPE",
    "LOM_NS",
    "MANIFEST",
    "MAX_MEMBERS",
    "MAX_PACKAGE_BYTES",
    "MAX_UNPACKED_BYTES",
    "QB_NS",
    "QTI_NS",
    "XML_NS",
    "El",
    "Package",
    "Problems",
    "QtiRejectedError",
    "XNode",
    "is_ncname",
    "json_element",
    "json_value",
    "open_package",
    "parse_xml",
    "unwritable",
]

#: QTI 3.0 assessment items, sections and tests
QTI_NS: Final = "http://www.imsglobal.org/xsd/imsqtiasi_v3p0"
#: IMS Content Packaging as QTI 3.0 profiles it (what qabilet writes)
CP_NS: Final = "http://www.imsglobal.org/xsd/qti/qtiv3p0/imscp_v1p1"
#: the manifest namespaces qabilet reads: QTI 3.0's and plain IMS CP 1.1's
CP_NAMESPACES: Final = (CP_NS, "http://www.imsglobal.org/xsd/imscp_v1p1")
#: IEEE LOM: QTI 3.0's package profile lets metadata of other namespaces in only inside ``lom``
LOM_NS: Final = "http://ltsc.ieee.org/xsd/LOM"
#: qabilet's own metadata (a name, never fetched)
QB_NS: Final = "urn:qabilet:qti:1"
#: XPath 3.1's JSON vocabulary (``fn:json-to-xml``), for qabilet's records
FN_NS: Final = "http://www.w3.org/2005/xpath-functions"
XML_NS: Final = "http://www.w3.org/XML/1998/namespace"
#: the resource type of a QTI 3.0 item
ITEM_TYPE: Final = "imsqti_item_xmlv3p0"
MANIFEST: Final = "imsmanifest.xml"

#: the largest package read, packed (bytes)
MAX_PACKAGE_BYTES: Final = 64 * 2**20
#: the most members a package may have
MAX_MEMBERS: Final = 20_000
#: the most its members may hold together, unpacked, as the zip declares them (bytes)
MAX_UNPACKED_BYTES: Final = 256 * 2**20

_NCNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
# XML 1.0's characters (https://www.w3.org/TR/xml/#charsets): anything else cannot be written
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_JSON_NUMBER = re.compile(r"^-?(0|[1-9][0-9]*)(?P<frac>\.[0-9]+)?(?P<exp>[eE][+-]?[0-9]+)?$")


def is_ncname(value: str) -> bool:
    """True when ``value`` is a QTI identifier qabilet writes (an ASCII ``xs:NCName``)."""
    return _NCNAME.match(value) is not None


def unwritable(text: str) -> str | None:
    """The first character of ``text`` that XML 1.0 cannot hold, as ``U+0001``; None if none."""
    bad = _NOT_XML.search(text)
    return None if bad is None else f"U+{ord(bad.group()):04X}"


# -- problems -------------------------------------------------------------------------------------
class QtiRejectedError(ImportRejectedError):
    """A QTI package refused as a whole; :attr:`problems` names every problem found.

    Parameters
    ----------
    problems : list of (line, where, reason)
        ``line``: the element's line in its member (0 when the problem is the package's);
        ``where``: the member and the element's path (``items/TRN-003.kk.xml
        /qti-assessment-item/qti-item-body/qti-choice-interaction``); ``reason``: what was
        expected and what came.
    path : str, optional
        The package.

    Examples
    --------
    >>> err = QtiRejectedError([(7, "items/Q1.en.xml /qti-assessment-item/qti-item-body",
    ...                          "text directly in the body: put it in a p")], path="p.zip")
    >>> print(err)
    p.zip: 1 problem, nothing imported
      items/Q1.en.xml /qti-assessment-item/qti-item-body (line 7): text directly in the body: put it in a p
    """

    def __init__(self, problems: list[tuple[int, str, str]], *, path: str | None = None) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        lines = [f"{n} problem{'s' if n != 1 else ''}, nothing imported"]
        lines += [f"  {where}{f' (line {line})' if line else ''}: {reason}"
                  for line, where, reason in self.problems]
        DataFileError.__init__(self, "\n".join(lines), path=path)


@dataclass
class Problems:
    """Problems found while reading a package, each with its member, element and line."""

    found: list[tuple[int, str, str]] = field(default_factory=list)

    def add(self, member: str, node: XNode | None, reason: str) -> None:
        """Record that ``node`` (None: the member as a whole) of ``member`` is wrong: ``reason``."""
        where = member if node is None else f"{member} {node.path}"
        self.found.append((0 if node is None else node.line, where, reason))

    def __bool__(self) -> bool:
        return bool(self.found)

    def raise_any(self, path: str | None) -> None:
        """Raise :class:`QtiRejectedError` with every problem found, if there is one."""
        if self.found:
            raise QtiRejectedError(self.found, path=path)


# -- reading XML ----------------------------------------------------------------------------------
@dataclass(eq=False, slots=True)
class XNode:
    """An element as read: its expanded name (``{namespace}local``), attributes, line, content.

    ``text`` is the character data before the first child element; each child's ``tail`` the
    data after it (as in :mod:`xml.etree`).
    """

    tag: str
    attrib: dict[str, str]
    line: int
    parent: XNode | None = None
    children: list[XNode] = field(default_factory=list)
    text: str = ""
    tail: str = ""

    @property
    def namespace(self) -> str:
        """The namespace URI ('' for none)."""
        return self.tag[1:].partition("}")[0] if self.tag.startswith("{") else ""

    @property
    def local(self) -> str:
        """The local name."""
        return self.tag.rpartition("}")[2]

    @property
    def path(self) -> str:
        """``/qti-assessment-item/qti-item-body/p[2]``: local names, a position among namesakes."""
        parts = []
        node: XNode | None = self
        while node is not None:
            step = node.local
            if node.parent is not None:
                same = [c for c in node.parent.children if c.tag == node.tag]
                if len(same) > 1:
                    step += f"[{same.index(node) + 1}]"
            parts.append(step)
            node = node.parent
        return "/" + "/".join(reversed(parts))

    def content(self) -> Iterator[XNode | str]:
        """The element's content in order: character data (non-empty) and child elements."""
        if self.text:
            yield self.text
        for child in self.children:
            yield child
            if child.tail:
                yield child.tail


class _Builder:
    """A parser target that builds :class:`XNode` trees with each element's line."""

    def __init__(self) -> None:
        self.expat: Any = None  # the expat parser, for the line of each start tag
        self.root: XNode | None = None
        self._open: list[XNode] = []
        self._data: list[str] = []

    def _flush(self) -> None:
        if not self._data:
            return
        text = "".join(self._data)
        self._data = []
        if not self._open:
            return
        top = self._open[-1]
        if top.children:
            top.children[-1].tail += text
        else:
            top.text += text

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self._flush()
        parent = self._open[-1] if self._open else None
        node = XNode(tag, attrib, self.expat.CurrentLineNumber, parent)
        if parent is None:
            self.root = node
        else:
            parent.children.append(node)
        self._open.append(node)

    def end(self, tag: str) -> None:
        self._flush()
        self._open.pop()

    def data(self, text: str) -> None:
        self._data.append(text)

    def close(self) -> XNode | None:
        return self.root


def parse_xml(data: bytes, member: str, problems: Problems) -> XNode | None:
    """``data`` parsed into an :class:`XNode` tree; None (and a problem recorded) when it cannot be.

    No DTD is accepted (so no entity, internal or external, and nothing is ever fetched); a
    document that is not well-formed is refused with expat's reason and line.
    """
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import DefusedXMLParser, ParseError

    builder = _Builder()
    parser = DefusedXMLParser(target=builder, forbid_dtd=True, forbid_entities=True,
                              forbid_external=True)
    builder.expat = parser.parser
    try:
        parser.feed(data)
        root = parser.close()
    except ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else 0
        reason = str(exc).split(": line")[0]
        problems.found.append((line, member, f"not well-formed XML: {reason}"))
        return None
    except DefusedXmlException as exc:  # a ValueError: before the next clause
        problems.found.append((0, member, f"a DTD or entity declaration ({type(exc).__name__}); "
                                          f"qabilet reads packages without DTDs"))
        return None
    except (LookupError, UnicodeError, ValueError) as exc:  # an encoding expat cannot read
        problems.found.append((0, member, f"not well-formed XML: {exc}"))
        return None
    return root if isinstance(root, XNode) else None


# -- writing XML ----------------------------------------------------------------------------------
_ESCAPE_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ESCAPE_ATTRIBUTE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;",
                                   '"': "&quot;", "\t": "&#9;", "\n": "&#10;"})


@dataclass(slots=True)
class El:
    """An element to write: its name as written (``qti-item-body``, ``qb:item``), attributes, content.

    An element with text in its content (or ``inline``) is written on one line, its text exact;
    one with only elements puts each on a line of its own, indented.
    """

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    content: Sequence[El | str] = field(default_factory=list)
    #: written on one line whatever its content (an element holding text and ``br``)
    inline: bool = False

    def _write(self, out: list[str], indent: str | None) -> None:
        """Append the element's text to ``out``; ``indent`` None: all on one line."""
        if indent:
            out.append(indent)
        out.append("<" + self.tag)
        for k, v in self.attrs.items():
            out.append(f' {k}="{v.translate(_ESCAPE_ATTRIBUTE)}"')
        if not self.content:
            out.append("/>")
            return
        out.append(">")
        flat = indent is None or self.inline or any(isinstance(c, str) for c in self.content)
        for c in self.content:
            if isinstance(c, str):
                out.append(c.translate(_ESCAPE_TEXT))
            elif flat:
                c._write(out, None)
            else:
                out.append("\n")
                c._write(out, (indent or "") + "  ")
        if not flat:
            out.append("\n" + (indent or ""))
        out.append(f"</{self.tag}>")

    def render(self) -> str:
        """The element as XML text (without a declaration), indented where it holds no text."""
        out: list[str] = []
        self._write(out, "")
        return "".join(out)

    def document(self) -> bytes:
        """The element as a whole XML document, UTF-8."""
        return ('<?xml version="1.0" encoding="UTF-8"?>\n' + self.render() + "\n").encode("utf-8")


# -- JSON values as XML (XPath 3.1's fn:json-to-xml vocabulary) ---------------------------------
def json_element(value: Any, key: str | None = None) -> El:
    """``value`` (JSON: dict, list, str, int, float, bool, None) as ``fn:`` elements.

    Raises
    ------
    ValueError
        A float that is not finite, a key or string XML cannot hold, or a value JSON has no
        type for.
    """
    attrs = {} if key is None else {"key": key}
    if key is not None and unwritable(key):
        raise ValueError(f"key {key!r}: character {unwritable(key)} cannot be written in XML")
    if isinstance(value, dict):
        return El("fn:map", attrs, [json_element(v, str(k)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return El("fn:array", attrs, [json_element(v) for v in value])
    if value is None:
        return El("fn:null", attrs)
    if isinstance(value, bool):
        return El("fn:boolean", attrs, ["true" if value else "false"])
    if isinstance(value, int):
        return El("fn:number", attrs, [str(value)])
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{key or 'a value'}: {value!r} is not a JSON number")
        return El("fn:number", attrs, [repr(value)])
    if isinstance(value, str):
        bad = unwritable(value)
        if bad:
            raise ValueError(f"{key or 'a string'}: character {bad} cannot be written in XML")
        return El("fn:string", attrs, [value] if value else [])
    raise ValueError(f"{key or 'a value'}: {type(value).__name__} is not a JSON value")


_FN_KINDS = ("map", "array", "string", "number", "boolean", "null")


def json_value(node: XNode, member: str, problems: Problems) -> Any:
    """The JSON value that an ``fn:`` element holds (None, and problems recorded, when it is wrong).

    The inverse of :func:`json_element`: a number with a fraction or an exponent is a float,
    any other an integer (JSON's rule); a map's keys are its children's ``key`` attributes.
    """
    if node.namespace != FN_NS or node.local not in _FN_KINDS:
        problems.add(member, node, f"expected one of fn:{', fn:'.join(_FN_KINDS)} "
                                   f"(the fn namespace being {FN_NS})")
        return None
    kind = node.local
    if kind in ("map", "array"):
        if node.text.strip() or any(c.tail.strip() for c in node.children):
            problems.add(member, node, f"fn:{kind} holds elements only, no text")
        if kind == "array":
            return [json_value(c, member, problems) for c in node.children]
        out: dict[str, Any] = {}
        for child in node.children:
            key = child.attrib.get("key")
            if key is None:
                problems.add(member, child, "an entry of fn:map needs its key attribute")
            elif key in out:
                problems.add(member, child, f"key {key!r} twice in one fn:map")
            else:
                out[key] = json_value(child, member, problems)
        return out
    if node.children:
        problems.add(member, node.children[0], f"fn:{kind} holds text only")
        return None
    text = node.text
    if kind == "string":
        return text
    if kind == "null":
        if text.strip():
            problems.add(member, node, "fn:null is empty")
        return None
    if kind == "boolean":
        if text.strip() not in ("true", "false"):
            problems.add(member, node, f"expected true or false; got {text!r}")
            return None
        return text.strip() == "true"
    number = _JSON_NUMBER.match(text.strip())
    if number is None:
        problems.add(member, node, f"expected a JSON number; got {text!r}")
        return None
    return float(text) if number["frac"] or number["exp"] else int(text)


# -- the zip ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Package:
    """An opened package: its members' names and sizes, read on demand with :meth:`read`."""

    source: zipfile.ZipFile
    members: dict[str, zipfile.ZipInfo]

    def read(self, name: str) -> bytes:
        """A member's bytes (never more than its declared size)."""
        info = self.members[name]
        with self.source.open(info) as fh:
            return fh.read(info.file_size)


def member_name(href: str) -> str | None:
    """The package member a relative ``href`` names (None when it is not a path inside the package).

    Examples
    --------
    >>> member_name("items/Q%201.xml"), member_name("../secret"), member_name("/etc/passwd")
    ('items/Q 1.xml', None, None)
    """
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or parts.query or parts.fragment:
        return None
    return _safe_name(unquote(parts.path))


def _safe_name(name: str) -> str | None:
    """``name`` as a path inside the package, or None when it leaves it or is not plain."""
    if not name or "\\" in name or "\x00" in name or name.startswith("/") or ":" in name:
        return None
    path = PurePosixPath(name)
    if any(part in ("..", "") for part in name.rstrip("/").split("/")) or path.is_absolute():
        return None
    return "/".join(p for p in path.parts if p != ".")


def open_package(data: bytes, problems: Problems) -> Package | None:
    """The zip ``data`` checked (see the module notes); None, with the problems, when it is refused."""
    if len(data) > MAX_PACKAGE_BYTES:
        problems.add("the package", None, f"{len(data)} bytes; qabilet reads packages of at most "
                                          f"{MAX_PACKAGE_BYTES} bytes")
        return None
    try:
        source = zipfile.ZipFile(io.BytesIO(data))
        infos = source.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        problems.add("the package", None, f"not a zip file ({exc})")
        return None
    if len(infos) > MAX_MEMBERS:
        problems.add("the package", None, f"{len(infos)} members; at most {MAX_MEMBERS} are read")
        return None
    total = sum(i.file_size for i in infos)
    if total > MAX_UNPACKED_BYTES:
        problems.add("the package", None, f"its members unpack to {total} bytes; at most "
                                          f"{MAX_UNPACKED_BYTES} are read")
        return None
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = _safe_name(info.filename)
        mode = info.external_attr >> 16
        if name is None:
            problems.add(info.filename, None, "a member's path leaves the package (an absolute "
                                              "path, .., a drive or a backslash)")
        elif stat.S_ISLNK(mode):
            problems.add(info.filename, None, "a symbolic link; a package holds files only")
        elif info.flag_bits & 0x1:
            problems.add(info.filename, None, "an encrypted member")
        elif name in members:
            problems.add(info.filename, None, "the same name twice in the package")
        elif not info.is_dir():
            members[name] = info
    if problems:
        return None
    if MANIFEST not in members:
        problems.add(MANIFEST, None, "missing: a content package has its manifest, "
                                     "imsmanifest.xml, at the root of the zip")
        return None
    return Package(source, members)
