"""Real vendor audit logs (CloudTrail, Okta, GitHub, Zendesk, OpenAI, Slack, Google
Workspace, Azure AD sign-ins) loaded through declarative field maps.

Importing this package registers one :class:`~auditreports.sources.registry.FormatSpec`
per map in ``maps/*.yml``; ``auditreports.sources.load`` then detects and parses vendor
files like the platform formats. Every physical line of a file ends up loaded,
quarantined (with a one-sentence reason) or blank. See ``docs/vendors.md``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache, partial
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import rfc8785

from ...errors import ConfigError, UsageError
from ...schema import QUARANTINE_SCHEMA
from .._dupkeys import duplicate_key_reason, duplicate_key_records
from ..registry import FormatSpec, ParsedFile, register_format
from . import transforms as _transforms  # registers the named transforms
from .fieldmap import FieldMap, load_field_map, load_field_maps
from .mapping import TRANSFORMS, map_records
from .records import BadBlock, split_records
from .sniffing import sample_records, sniff_score

__all__ = [
    "MAPS_DIR",
    "FieldMap",
    "field_map",
    "load_field_map",
    "load_field_maps",
    "organisation_maps",
    "parse_vendor_file",
    "record_text",
    "register_field_maps",
    "vendor_events_from_records",
    "vendor_field_maps",
]

MAPS_DIR = Path(__file__).resolve().parent / "maps"
del _transforms


def parse_vendor_file(data: bytes, path: str, fmap: FieldMap) -> ParsedFile:
    """Parse one decompressed vendor file with ``fmap``; every line is accounted for."""
    split = split_records(data, fmap.envelope_keys)
    records = _without_duplicate_keys(split)
    mapped = map_records(records, fmap, path)
    blocks = pl.DataFrame(
        {
            "source_file": [path] * len(split.bad),
            "source_line": [b.line for b in split.bad],
            "source_offset": [b.offset for b in split.bad],
            "format": [fmap.format] * len(split.bad),
            "reason": [b.reason for b in split.bad],
            "raw": [b.raw for b in split.bad],
        },
        schema=QUARANTINE_SCHEMA,
    )
    quarantine = pl.concat([blocks, mapped.quarantine]).sort("source_line")
    notes = list(split.notes)
    if mapped.quarantine.height:
        notes.append(
            f"{mapped.quarantine.height} record(s) quarantined: "
            + "; ".join(sorted(set(mapped.quarantine["reason"].to_list()))[:3])
        )
    return ParsedFile(
        events=mapped.events,
        quarantine=quarantine,
        lines_read=split.lines_read,
        blank_lines=split.blank_lines,
        loaded_lines=mapped.loaded_lines + split.framing_lines,
        quarantined_lines=mapped.quarantined_lines + sum(b.lines for b in split.bad),
        layout=split.layout,
        notes=notes,
    )


def _without_duplicate_keys(split: Any) -> pl.DataFrame:
    """The split records less those naming a key twice, which join the quarantine (``split.bad``).

    The same check and reason as the platform formats' (sources._dupkeys): Polars' JSON
    path reading would keep the first of two values silently.
    """
    records: pl.DataFrame = split.records
    if not records.height:
        return records
    texts = records.get_column("text").to_list()
    encoded = [t.encode("utf-8") for t in texts]
    starts = np.cumsum([0] + [len(e) + 1 for e in encoded[:-1]], dtype=np.int64)
    found = duplicate_key_records(b"\n".join(encoded), starts, texts.__getitem__)
    if not found:
        return records
    rows = records.to_dicts()
    for i, reason in found:
        row = rows[i]
        split.bad.append(BadBlock(row["line"], row["offset"], encoded[i], row["lines"], reason))
    drop = pl.Series([i for i, _ in found], dtype=pl.UInt32)
    return records.with_row_index("_i").filter(~pl.col("_i").is_in(drop.implode())).drop("_i")


def _sniff(head: bytes, path: str, fmap: FieldMap) -> float:
    return sniff_score(sample_records(head, fmap.envelope_keys), fmap)


def vendor_field_maps() -> dict[str, FieldMap]:
    """The shipped vendor maps by format name."""
    return dict(_shipped_maps())


@cache
def _shipped_maps() -> dict[str, FieldMap]:
    return {m.format: m for m in load_field_maps(MAPS_DIR, TRANSFORMS)}


def record_text(record: Any) -> str:
    """The text an API record is kept as: RFC 8785 canonical JSON, so the evidence does not
    depend on which client fetched it.

    Vendor records may hold values outside RFC 8785's domain (GitHub and Okta ids above
    2**53); those records fall back to sorted-key compact JSON rather than being lost.
    """
    try:
        return rfc8785.dumps(record).decode("utf-8")
    except Exception:  # rfc8785 raises its own error types (IntegerDomainError, FloatDomainError, ...)
        return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True)


def vendor_events_from_records(
    records: Sequence[Any], *, format: str, source_file: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Map already-parsed vendor records (one API page) to ``(events, quarantine)``.

    The records go through the same field map and the same Polars mapping as a vendor
    file, so an event fetched from Okta's or GitHub's API and the same record in an
    export file are the same canonical row (``raw`` = :func:`record_text` of the record;
    a file written with that text loads to identical events). ``source_line`` is the
    record's 1-based position in ``records``; ``source_offset`` is null. A record that
    is not an object, or has no action or readable timestamp, is quarantined with a
    reason, exactly as in a file. Not de-duplicated: the store does that.
    """
    fmap = _named(format)
    if fmap is None:
        raise UsageError(f"{format!r} is not a vendor format; use one of {', '.join(sorted(_shipped_maps()))}")
    # A record the API client marked as naming a key twice is quarantined, as in a file.
    twice = [(i, duplicate_key_reason(r)) for i, r in enumerate(records)]
    twice = [(i, why) for i, why in twice if why]
    skip = {i for i, _ in twice}
    kept = [(i, r) for i, r in enumerate(records) if i not in skip]
    frame = pl.DataFrame(
        {
            "text": [record_text(r) for _, r in kept],
            "line": [i + 1 for i, _ in kept],
            "offset": [None] * len(kept),
            "lines": [1] * len(kept),
        },
        schema={"text": pl.String, "line": pl.Int64, "offset": pl.Int64, "lines": pl.Int64},
    )
    mapped = map_records(frame, fmap, source_file)
    if not twice:
        return mapped.events, mapped.quarantine
    refused = pl.DataFrame(
        {
            "source_file": [source_file] * len(twice),
            "source_line": [i + 1 for i, _ in twice],
            "source_offset": [None] * len(twice),
            "format": [fmap.format] * len(twice),
            "reason": [why for _, why in twice],
            "raw": [record_text(records[i]).encode("utf-8") for i, _ in twice],
        },
        schema=QUARANTINE_SCHEMA,
    )
    return mapped.events, pl.concat([mapped.quarantine, refused]).sort("source_line")


def _spec(fmap: FieldMap, origin: str) -> FormatSpec:
    return FormatSpec(
        name=fmap.format,
        description=fmap.title,
        sniff=partial(_sniff, fmap=fmap),
        parse=partial(parse_vendor_file, fmap=fmap),
        origin=origin,
    )


def _alias_spec(fmap: FieldMap, alias: str, origin: str) -> FormatSpec:
    # Detection reports the map's own name; the alias only answers --format.
    return FormatSpec(
        name=alias,
        description=f"{fmap.title} (same as {fmap.format})",
        sniff=lambda head, path: 0.0,
        parse=partial(parse_vendor_file, fmap=fmap),
        origin=f"alias of {fmap.format}, {origin}",
    )


def _register_map(fmap: FieldMap, origin: str, *, replace: bool = False) -> None:
    register_format(_spec(fmap, origin), replace=replace)
    for alias in fmap.aliases:
        register_format(_alias_spec(fmap, alias, origin), replace=replace)


def _register() -> None:
    for fmap in _shipped_maps().values():
        _register_map(fmap, f"built-in map {Path(fmap.path).name}")


def _named(format: str) -> FieldMap | None:
    for fmap in (*_ORG_MAPS.values(), *_shipped_maps().values()):
        if format == fmap.format or format in fmap.aliases:
            return fmap
    return None


_ORG_MAPS: dict[str, FieldMap] = {}


def organisation_maps() -> dict[str, FieldMap]:
    """The organisation maps registered in this process (``--maps`` / ``sources.maps_dirs``), by format."""
    return dict(_ORG_MAPS)


def register_field_maps(directories: Sequence[str | Path]) -> list[FieldMap]:
    """Load every map in ``directories`` (an organisation's own formats) and register each as a format.

    The maps are validated exactly like the shipped ones; every problem in every file is
    raised at once as one ``ConfigError`` (``file:line: message``) and nothing is registered.
    A map may not reuse the name of a built-in format; a map with the name of an earlier
    organisation map replaces it (a newer version of the file).
    """
    from ..registry import formats

    maps = load_field_maps([Path(d) for d in directories], TRANSFORMS)
    known = formats()
    problems = []
    for fmap in maps:
        for name in (fmap.format, *fmap.aliases):
            existing = known.get(name)
            # An organisation map may replace an earlier organisation map of that name (a
            # newer version of the file); never a built-in format.
            if existing is not None and name not in _org_names():
                problems.append(
                    f"{fmap.path}: format {name!r} is already defined ({existing.origin}); "
                    "give your map another format name"
                )
    if problems:
        raise ConfigError("; ".join(problems) + "; fix the map file(s) and rerun.", path=maps[0].path)
    for fmap in maps:
        _register_map(fmap, fmap.path, replace=True)
        _ORG_MAPS[fmap.format] = fmap
    return maps


def _org_names() -> set[str]:
    return {n for m in _ORG_MAPS.values() for n in (m.format, *m.aliases)}


def field_map(format: str) -> FieldMap:
    """The field map behind a vendor or organisation format; ``UsageError`` for other formats."""
    found = _named(format)
    if found is None:
        known = sorted({*_shipped_maps(), *_ORG_MAPS})
        raise UsageError(f"{format!r} is not a field-map format; use one of {', '.join(known)}")
    return found


_register()
