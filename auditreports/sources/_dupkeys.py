"""Duplicate JSON keys: found the same way in every path, and never resolved silently.

JSON allows an object to name a key twice, and parsers disagree on which value wins
(Polars keeps the first, Python's ``json`` the last). For evidence that is an
ambiguity, not a detail: a record that names a key twice in any object is
quarantined with a reason naming the key and where it is, whether it came from a
file or an API page.

Finding them costs a Python parse per record: the API client and the loaders'
per-record passes (a file whose one-call parse failed, a pretty-printed array) check
every record; the one-call fast path of a clean file does not (docs/ingestion.md).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "DuplicateKeys",
    "duplicate_key_reason",
    "loads_keeping_duplicates",
    "object_pairs_marking_duplicates",
]


class DuplicateKeys(dict):  # type: ignore[type-arg]
    """A decoded object that (or some object inside it) named a key twice: ``where`` lists them."""

    where: list[str]


def object_pairs_marking_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A ``json`` ``object_pairs_hook``: a plain dict, or :class:`DuplicateKeys` when a key repeats here or inside."""
    seen: set[str] = set()
    found: list[str] = []
    for key, value in pairs:
        if key in seen:
            found.append(repr(key))
        seen.add(key)
        if isinstance(value, DuplicateKeys):
            found.extend(f"{w} in {key!r}" for w in value.where)
        elif isinstance(value, list):
            found.extend(w for v in value if isinstance(v, DuplicateKeys) for w in v.where)
    if not found:
        return dict(pairs)
    out = DuplicateKeys(pairs)
    out.where = found
    return out


def loads_keeping_duplicates(text: str | bytes) -> Any:
    """``json.loads``, except that an object naming a key twice comes back as :class:`DuplicateKeys`.

    The outermost object carries every duplicate found inside it (``where``), so an API
    client can hand the record on and the mapper can quarantine it.
    """
    return json.loads(text, object_pairs_hook=object_pairs_marking_duplicates)


def duplicate_key_reason(value: Any) -> str | None:
    """The quarantine reason for a decoded record that named a key twice, or None."""
    if isinstance(value, DuplicateKeys):
        return (
            f"the record names {', '.join(value.where[:3])} twice"
            + (f" (and {len(value.where) - 3} more)" if len(value.where) > 3 else "")
            + "; which value is meant is ambiguous (parsers disagree), so it is quarantined"
        )
    return None
