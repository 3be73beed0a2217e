"""Hostile request values for the edge's tests and the fuzzing: strategies and raw JSON tokens.

JSON as Python writes it (``NaN``, ``Infinity``), numbers that overflow (``1e400``), integers
beyond 64 bits, strings with NUL or a lone surrogate, in a document at any depth — each with the
problem type :mod:`qabilet.api.edge` names for it.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

__all__ = ["HOSTILE_TOKENS", "at", "clean_json", "hostile_text", "hostile_values", "leaf_paths",
           "put", "with_token"]

#: raw JSON texts of values no field of the API takes, and the problem type the edge gives each
HOSTILE_TOKENS: dict[str, str] = {
    "NaN": "finite_number", "Infinity": "finite_number", "-Infinity": "finite_number",
    "1e400": "finite_number", "-2.5E+999": "finite_number", "1" + "0" * 400 + ".5": "finite_number",
    "1" + "0" * 30: "int_too_large", "-9223372036854775809": "int_too_large",
    '"\\udc00"': "string_surrogate", '"ok \\ud83d"': "string_surrogate",
    '"a\\u0000b"': "string_nul", '"\\u0000"': "string_nul",
}
_SENTINEL = "\x01hostile-value\x01"

_clean_text = st.text(st.characters(exclude_characters="\x00"), max_size=12)
_keys = st.text(st.characters(exclude_characters="\x00", max_codepoint=0x2FFF), min_size=1,
                max_size=12)
_clean_scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
                  | st.floats(allow_nan=False, allow_infinity=False) | _clean_text)
#: JSON documents that every field's type check may refuse, but the edge never does
clean_json = st.recursive(_clean_scalars,
                          lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(_keys, inner, max_size=4),
                          max_leaves=16)

#: text with at least one NUL or lone surrogate somewhere
hostile_text = st.builds(lambda a, bad, b: a + bad + b, _clean_text,
                         st.just("\x00") | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
                         _clean_text)
#: Python values that serialise (``allow_nan``) to JSON no field takes, with their problem type
hostile_values = st.one_of(
    st.sampled_from([float("nan"), float("inf"), float("-inf")]).map(lambda v: (v, "finite_number")),
    (st.integers(min_value=2**63) | st.integers(max_value=-(2**63) - 1)).map(
        lambda v: (v, "int_too_large")),
    hostile_text.map(lambda v: (v, "string_nul" if "\x00" in v else "string_surrogate")))


def leaf_paths(document: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path in ``document`` at which a value may be put (each member, element and the root)."""
    out = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            out += leaf_paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            out += leaf_paths(value, (*prefix, index))
    return out


def at(document: Any, path: tuple) -> Any:
    """The value at ``path``."""
    for step in path:
        document = document[step]
    return document


def put(document: Any, path: tuple, value: Any) -> Any:
    """``document`` with ``value`` at ``path`` (the root when the path is empty); changed in place."""
    if not path:
        return value
    at(document, path[:-1])[path[-1]] = value
    return document


def with_token(document: Any, path: tuple, token: str, *, ensure_ascii: bool = True) -> bytes:
    """The JSON of ``document`` with the raw JSON text ``token`` as the value at ``path``."""
    text = json.dumps(put(document, path, _SENTINEL), ensure_ascii=ensure_ascii)
    return text.replace(json.dumps(_SENTINEL, ensure_ascii=ensure_ascii), token, 1).encode(
        "utf-8", "surrogatepass")
