"""Dry-run a field map on a sample (``auditreports map-check``): what fills each field, what is left over.

The counts come from the same Polars expressions the loader uses, so what map-check says
a path fills is what ``ingest`` will load. The unused-key census parses the sample's
records in Python: it is a diagnostic on a sample, not a load path.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import polars as pl

from . import parse_vendor_file
from .fieldmap import FIELD_NAMES, FieldMap, FieldSource
from .mapping import _source_expr
from .records import split_records

__all__ = ["check_map", "record_keys"]

_INDEXES = re.compile(r"\[[^\]]*\]")
_SELECTOR_KEY = re.compile(r"\[\?([^=\]]+)=")
_EVENT_COLUMN = {"action": "source_action"}


def _normal(path: str) -> str:
    return _INDEXES.sub("", path)


def record_keys(value: Any, prefix: str = "") -> set[str]:
    """Leaf key paths of one record, array indexes dropped (``target[1].id`` -> ``target.id``)."""
    out: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            here = f"{prefix}.{k}" if prefix else str(k)
            sub = record_keys(v, here)
            out |= sub if sub else {here}
    elif isinstance(value, list):
        for item in value:
            out |= record_keys(item, prefix)
        if not value and prefix:
            out.add(prefix)
    elif prefix:
        out.add(prefix)
    return out


def _map_paths(fmap: FieldMap) -> set[str]:
    paths: list[str] = [s.path for srcs in fmap.fields.values() for s in srcs if s.path]
    paths += list(fmap.failure_if_present)
    for rule in (*fmap.event_types, *fmap.categories):
        paths += list((rule.when.get("fields") or {}).keys()) + list(rule.when.get("absent") or [])
    used: set[str] = set()
    for p in paths:
        used.add(_normal(p))
        # parameters[?name=X].value also reads parameters.name
        for m in _SELECTOR_KEY.finditer(p):
            used.add(_normal(p[: m.start()]) + "." + m.group(1))
    return used


def _is_used(key: str, used: set[str]) -> bool:
    return any(key == u or key.startswith(u + ".") for u in used)


def check_map(data: bytes, path: str, fmap: FieldMap) -> dict[str, Any]:
    split = split_records(data, fmap.envelope_keys)
    parsed = parse_vendor_file(data, path, fmap)
    events = parsed.events
    loaded_lines = events["source_line"].to_list()
    good = split.records.filter(pl.col("line").is_in(loaded_lines))

    fields: list[dict[str, Any]] = []
    for name in FIELD_NAMES:
        column = _EVENT_COLUMN.get(name, name)
        filled = int(events[column].is_not_null().sum()) if column in events.columns else 0
        srcs: tuple[FieldSource, ...] = fmap.fields.get(name, ())
        if not srcs and not filled:
            continue
        present = [_source_expr(s).is_not_null() for s in srcs]
        won_exprs = []
        for i, p in enumerate(present):
            earlier = present[:i]
            cond = p
            for e in earlier:
                cond = cond & ~e
            won_exprs.append(cond.sum().alias(f"s{i}"))
        counts = good.select(won_exprs).row(0) if won_exprs and good.height else [0] * len(srcs)
        won = [int(c or 0) for c in counts]
        sources: list[dict[str, Any]] = [
            {"path": s.path or f"const {s.const!r}", "won": w} for s, w in zip(srcs, won, strict=True)
        ]
        derived = max(filled - sum(won), 0) if name not in ("ip", "source_address") else 0
        fields.append({"field": name, "filled": filled, "sources": sources, "derived": derived})
    not_mapped = [
        n
        for n in FIELD_NAMES
        if n not in fmap.fields and not any(f["field"] == n for f in fields) and n not in ("event_id",)
    ]

    typed = (
        events.select("event_type", typed=~pl.col("flags").list.contains("unknown_event_type"))
        .group_by("event_type", "typed")
        .len()
        .sort(["len", "event_type"], descending=[True, False])
    )
    event_types = [{"event_type": t, "typed": bool(ty), "count": int(n)} for t, ty, n in typed.iter_rows()]

    used = _map_paths(fmap)
    census: Counter[str] = Counter()
    for text in good["text"].to_list():
        try:
            census.update(record_keys(json.loads(text)))
        except (ValueError, RecursionError):
            continue
    unused = [{"key": k, "records": n} for k, n in sorted(census.items()) if not _is_used(k, used)]

    quarantine = [
        {"line": int(r["source_line"]), "reason": r["reason"]} for r in parsed.quarantine.iter_rows(named=True)
    ]
    return {
        "file": path,
        "map": fmap.path,
        "format": fmap.format,
        "layout": parsed.layout,
        "records": split.records.height + len(split.bad),
        "loaded": events.height,
        "quarantined": len(quarantine),
        "fields": fields,
        "not_mapped": not_mapped,
        "event_types": event_types,
        "unused_keys": unused,
        "quarantine": quarantine,
        "notes": parsed.notes,
    }
