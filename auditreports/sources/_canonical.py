"""RFC 8785 canonical JSON, fast where that is provably the same bytes.

Evidence kept as JSON text (an API record's ``raw``, ``before``/``after``, the payload
fingerprint) must not depend on key order or whitespace, so it is written as RFC 8785
(JSON Canonicalization Scheme). The ``rfc8785`` package is pure Python (about half a
millisecond for an audit record); ``json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`` runs in C and writes the *same bytes* whenever the value holds

- no floats (RFC 8785 writes numbers the ECMAScript way: ``1.0`` is ``1``);
- only integers within RFC 8785's domain, ``±(2**53 - 1)`` (outside it rfc8785 refuses);
- only ``dict`` (string keys), ``list``, ``str``, ``int``, ``bool`` and ``None``
  (exact types: an ``IntEnum`` or a tuple takes the reference path);
- no key with a character outside the Basic Multilingual Plane (RFC 8785 sorts keys
  by UTF-16 code units, Python by code points; the two orders differ only for such keys);
- no lone surrogate in any string (RFC 8785 refuses them; ``json.dumps`` would not).

String escaping is identical: both escape ``"``, ``\\``, ``\\b \\f \\n \\r \\t`` by name and
the other control characters below U+0020 as ``\\u00xx`` (lower-case hex), and write
everything else (U+007F, U+2028, astral characters) as is. Any other value takes the
``rfc8785`` path, so the result is always RFC 8785 or rfc8785's own error.
``tests/test_sources_canonical.py`` checks the equality on hostile values.
"""

from __future__ import annotations

import json
import re
from typing import Any

import rfc8785

__all__ = ["CanonicalizationError", "canonical_json", "canonical_json_lenient"]

CanonicalizationError = rfc8785.CanonicalizationError
_INT_MAX = 2**53 - 1
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_DUMPS = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode


def _plain(value: Any) -> bool:
    """True when ``json.dumps`` writes exactly RFC 8785 for this value (see the module docstring)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return -_INT_MAX <= value <= _INT_MAX
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or (not key.isascii() and _ASTRAL.search(key)):
                return False
            if not _plain(item):
                return False
        return True
    if kind is list:
        return all(_plain(item) for item in value)
    return False


def canonical_json(value: Any) -> str:
    """The RFC 8785 text of ``value``; raises ``CanonicalizationError`` where RFC 8785 has none."""
    if _plain(value):
        text = _DUMPS(value)
        try:
            text.encode("utf-8")  # a lone surrogate: RFC 8785 refuses it, so take rfc8785's answer
        except UnicodeEncodeError:
            pass
        else:
            return text
    return rfc8785.dumps(value).decode("utf-8")


def canonical_json_lenient(value: Any) -> str:
    """RFC 8785 where it exists, else sorted compact JSON (integers beyond 2**53, NaN, lone surrogates).

    For values that must be compared or kept, never refused: a vendor id above 2**53
    is still evidence.
    """
    try:
        return canonical_json(value)
    except (CanonicalizationError, TypeError, ValueError):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=True)
        # A lone surrogate cannot be stored as UTF-8 text: keep it as the JSON escape it was read from.
        return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
