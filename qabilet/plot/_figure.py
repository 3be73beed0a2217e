"""Figures without pyplot, and a figure as inline SVG for a self-contained HTML page.

A figure here is a :class:`matplotlib.figure.Figure` with the non-interactive Agg canvas
attached, made without :mod:`matplotlib.pyplot`: no backend is chosen, no figure is registered
with pyplot, and rcParams are read, never set (the SVG writer's two settings are applied for the
time of one rendering, under a lock). So plotting here leaves a notebook's own state alone.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
from collections.abc import Mapping
from html import escape
from xml.etree import ElementTree

import matplotlib
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from qabilet.engine.exceptions import InvalidParameterError

__all__ = ["figure_and_axes", "labels_with", "to_svg"]

_SVG = "http://www.w3.org/2000/svg"
_XLINK = "http://www.w3.org/1999/xlink"
#: CSS properties that SVG also takes as presentation attributes (SVG 1.1 and 2): a matplotlib
#: ``style`` made of these becomes attributes, which a Content-Security-Policy without
#: 'unsafe-inline' styles still applies
_PRESENTATION = frozenset({
    "alignment-baseline", "baseline-shift", "clip", "clip-path", "clip-rule", "color",
    "color-interpolation", "color-interpolation-filters", "color-rendering", "cursor",
    "direction", "display", "dominant-baseline", "fill", "fill-opacity", "fill-rule", "filter",
    "flood-color", "flood-opacity", "font-family", "font-size", "font-size-adjust",
    "font-stretch", "font-style", "font-variant", "font-weight", "image-rendering",
    "letter-spacing", "lighting-color", "marker-end", "marker-mid", "marker-start", "mask",
    "opacity", "overflow", "paint-order", "pointer-events", "shape-rendering", "stop-color",
    "stop-opacity", "stroke", "stroke-dasharray", "stroke-dashoffset", "stroke-linecap",
    "stroke-linejoin", "stroke-miterlimit", "stroke-opacity", "stroke-width", "text-anchor",
    "text-decoration", "text-rendering", "unicode-bidi", "vector-effect", "visibility",
    "white-space", "word-spacing", "writing-mode"})
#: matplotlib's one stylesheet rule, ``*{stroke-linejoin: round; stroke-linecap: butt}``, as
#: inherited attributes of the root
_ROOT_STROKE = {"stroke-linejoin": "round", "stroke-linecap": "butt"}
_URL = re.compile(r"url\(#([^)]+)\)")
#: one rendering at a time: the SVG writer reads two rcParams, set for its duration
_RENDER = threading.Lock()


def figure_and_axes(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    """The figure to return and the axes to draw on: ``ax`` and its figure, or new ones.

    A new figure has the Agg canvas and constrained layout, and is not known to pyplot.
    """
    if ax is not None:
        fig = ax.get_figure(root=True)
        if fig is None:
            raise InvalidParameterError("ax: expected axes placed on a figure")
        return fig, ax
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def labels_with(defaults: Mapping[str, str], given: Mapping[str, str] | None) -> dict[str, str]:
    """``defaults`` overridden by ``given``; a key ``given`` has that ``defaults`` lacks is refused."""
    unknown = set(given or ()) - set(defaults)
    if unknown:
        raise InvalidParameterError(f"labels: unknown key(s) {sorted(unknown)}; expected some of "
                                    f"{sorted(defaults)}")
    return {**defaults, **(given or {})}


def to_svg(fig: Figure, *, title: str | None = None, css_class: str = "figure") -> str:
    """The figure as one ``<svg>`` element to write into an HTML page (UTF-8 text).

    Text stays text (searchable, in the page's font, in any script); the element carries no
    ``style`` attribute and no ``<style>`` (matplotlib's inline styles become SVG presentation
    attributes, which a Content-Security-Policy without ``'unsafe-inline'`` still applies),
    no metadata and no date, so the same figure gives the same text. Its ids are prefixed by a
    digest of the drawing, so that several figures on one page do not share an id. It scales
    to its container's width (``width="100%"`` and the ``viewBox``).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    title : str, optional
        The SVG's ``<title>`` and ``aria-label`` (what a screen reader says).
    css_class : str
        The ``class`` of the ``<svg>`` element.

    Examples
    --------
    >>> from qabilet.plot import item_curves
    >>> from qabilet.engine.bank import ItemBank
    >>> from qabilet.engine.models import TwoPL
    >>> svg = to_svg(item_curves(ItemBank([TwoPL([1.0], [0.0])])), title="One item")
    >>> svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"'), "style=" in svg
    (True, False)
    """
    buffer = io.BytesIO()
    with _RENDER, matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "qabilet"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    drawn = buffer.getvalue()
    root = ElementTree.fromstring(drawn)
    prefix = "f" + hashlib.sha256(drawn).hexdigest()[:10]
    _strip(root)
    for el in root.iter():
        _rewrite(el, prefix)
    root.attrib.pop("width", None)
    root.attrib.pop("height", None)
    root.attrib.pop("version", None)
    head = {"width": "100%", "class": css_class, "role": "img",
            **({"aria-label": title} if title else {}), **_ROOT_STROKE}
    root.attrib = {**head, **root.attrib}
    if title:
        caption = ElementTree.Element(f"{{{_SVG}}}title")
        caption.text = title
        root.insert(0, caption)
    out: list[str] = []
    _write(root, out, top=True)
    return "".join(out)


def _strip(root: ElementTree.Element) -> None:
    """Drop the metadata and the ``<style>`` elements (and ``<defs>`` left empty)."""
    for parent in list(root.iter()):
        for child in list(parent):
            if child.tag in (f"{{{_SVG}}}metadata", f"{{{_SVG}}}style"):
                parent.remove(child)
        for child in list(parent):
            if child.tag == f"{{{_SVG}}}defs" and len(child) == 0:
                parent.remove(child)


def _rewrite(el: ElementTree.Element, prefix: str) -> None:
    """``style`` as presentation attributes; ids and the references to them prefixed."""
    style = el.attrib.pop("style", None)
    if style:
        for declaration in filter(None, (d.strip() for d in style.split(";"))):
            name, _, value = declaration.partition(":")
            name, value = name.strip(), value.strip()
            if name not in _PRESENTATION:
                raise InvalidParameterError(f"fig: its SVG has the style property {name!r}, "
                                            f"which SVG takes only as CSS")
            el.attrib[name] = value
    for key, value in list(el.attrib.items()):
        if key == "id":
            el.attrib[key] = f"{prefix}-{value}"
        elif key == f"{{{_XLINK}}}href" and value.startswith("#"):
            el.attrib[key] = f"#{prefix}-{value[1:]}"
        elif "url(#" in value:
            el.attrib[key] = _URL.sub(lambda m: f"url(#{prefix}-{m.group(1)})", value)


def _name(key: str) -> str:
    """An attribute's name as written in HTML: ``xlink:href`` for the XLink namespace."""
    if key.startswith(f"{{{_XLINK}}}"):
        return "xlink:" + key.split("}", 1)[1]
    return key


def _write(el: ElementTree.Element, out: list[str], top: bool = False) -> None:
    """Serialise ``el`` without namespace prefixes (an SVG in HTML), whitespace between tags dropped."""
    tag = el.tag.split("}", 1)[1] if el.tag.startswith("{") else el.tag
    names = (f' xmlns="{_SVG}" xmlns:xlink="{_XLINK}"' if top else "")
    attrs = names + "".join(f' {_name(k)}="{escape(v, quote=True)}"' for k, v in el.attrib.items())
    text = el.text or ""
    if tag not in ("text", "title", "tspan") and not text.strip():
        text = ""
    if len(el) == 0 and not text:
        out.append(f"<{tag}{attrs}/>")
    else:
        out.append(f"<{tag}{attrs}>{escape(text, quote=False)}")
        for child in el:
            _write(child, out)
        out.append(f"</{tag}>")
    if el.tail and el.tail.strip():
        out.append(escape(el.tail, quote=False))
