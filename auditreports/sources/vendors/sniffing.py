"""Recognise a vendor's records from the first bytes of a file, by their keys.

A map's ``sniff.required`` lists the top-level keys every record of that vendor has
(an inner list means "any of these"), ``sniff.equals`` optional key/value pairs that
only that vendor writes (``kind: admin#reports#activity``). The score grows with the
share of sampled records that match and with how specific the map is, so a Panther
fixture file of one log type is detected without ``--format``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .fieldmap import FieldMap

__all__ = ["sample_records", "sniff_score"]

_DECODER = json.JSONDecoder()
_MAX_SAMPLES = 50


def sample_records(head: bytes, envelope_keys: tuple[str, ...] = ("Records",)) -> list[dict[str, Any]]:
    """Up to 50 complete JSON object records from the start of a file (NDJSON, array or envelope)."""
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff").lstrip()
    out: list[dict[str, Any]] = []
    pos: int | None = None
    if text.startswith("["):
        pos = 1
    elif text.startswith("{"):
        first_line = text.split("\n", 1)[0]
        try:
            first = json.loads(first_line)
        except ValueError:
            first = None
        if first is None or any(isinstance(first.get(k), list) for k in envelope_keys if isinstance(first, dict)):
            key_pattern = "|".join(re.escape(k) for k in envelope_keys)
            m = re.search(r'"(' + key_pattern + r')"\s*:\s*\[', text)
            if m is not None:
                pos = m.end()
            elif first is None:
                try:
                    obj, _ = _DECODER.raw_decode(text)
                except ValueError:
                    return out
                return [obj] if isinstance(obj, dict) else out
    if pos is not None:
        while len(out) < _MAX_SAMPLES:
            while pos < len(text) and text[pos] in " \t\r\n,":
                pos += 1
            if pos >= len(text) or text[pos] == "]":
                break
            try:
                obj, pos = _DECODER.raw_decode(text, pos)
            except ValueError:
                break  # the head ends inside a record
            if isinstance(obj, dict):
                out.append(obj)
        return out
    lines = text.split("\n")
    if not head.endswith(b"\n") and len(lines) > 1:
        lines = lines[:-1]  # probably cut by the 64 KiB head
    for line in lines:
        if len(out) >= _MAX_SAMPLES:
            break
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def _has(record: dict[str, Any], key: str) -> bool:
    node: Any = record
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return node is not None


def _matches(record: dict[str, Any], fmap: FieldMap) -> bool:
    for item in fmap.sniff["required"]:
        alternatives = item if isinstance(item, list) else [item]
        if not any(_has(record, str(k)) for k in alternatives):
            return False
    for key, value in (fmap.sniff.get("equals") or {}).items():
        if _has(record, str(key)) and str(_get(record, str(key))) != str(value):
            return False
    return True


def _get(record: dict[str, Any], key: str) -> Any:
    node: Any = record
    for part in key.split("."):
        node = node[part]
    return node


def sniff_score(records: list[dict[str, Any]], fmap: FieldMap) -> float:
    """0 when under half the sampled records look like this vendor's; else 0.5-0.95 by share and specificity."""
    if not records:
        return 0.0
    share = sum(_matches(r, fmap) for r in records) / len(records)
    if share < 0.5:
        return 0.0
    specificity = len(fmap.sniff["required"]) + len(fmap.sniff.get("equals") or {})
    return min(0.95, 0.5 + 0.3 * share + 0.02 * specificity)
