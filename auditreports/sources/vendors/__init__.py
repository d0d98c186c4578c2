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

import polars as pl
import rfc8785

from ...errors import ConfigError, UsageError
from ...schema import QUARANTINE_SCHEMA
from ..registry import FormatSpec, ParsedFile, register_format
from . import transforms as _transforms  # registers the named transforms
from .fieldmap import FieldMap, load_field_map, load_field_maps
from .mapping import TRANSFORMS, map_records
from .records import split_records
from .sniffing import sample_records, sniff_score

__all__ = [
    "MAPS_DIR",
    "FieldMap",
    "load_field_map",
    "load_field_maps",
    "parse_vendor_file",
    "record_text",
    "vendor_events_from_records",
    "vendor_field_maps",
]

MAPS_DIR = Path(__file__).resolve().parent / "maps"
del _transforms


def parse_vendor_file(data: bytes, path: str, fmap: FieldMap) -> ParsedFile:
    """Parse one decompressed vendor file with ``fmap``; every line is accounted for."""
    split = split_records(data, fmap.envelope_keys)
    mapped = map_records(split.records, fmap, path)
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


def _sniff(head: bytes, path: str, fmap: FieldMap) -> float:
    return sniff_score(sample_records(head, fmap.envelope_keys), fmap)


def vendor_field_maps() -> dict[str, FieldMap]:
    """The shipped vendor maps by format name."""
    return dict(_shipped_maps())


@cache
def _shipped_maps() -> dict[str, FieldMap]:
    return {m.format: m for m in load_field_maps(MAPS_DIR)}


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
    fmap = _shipped_maps().get(format)
    if fmap is None:
        raise UsageError(f"{format!r} is not a vendor format; use one of {', '.join(sorted(_shipped_maps()))}")
    frame = pl.DataFrame(
        {
            "text": [record_text(r) for r in records],
            "line": list(range(1, len(records) + 1)),
            "offset": [None] * len(records),
            "lines": [1] * len(records),
        },
        schema={"text": pl.String, "line": pl.Int64, "offset": pl.Int64, "lines": pl.Int64},
    )
    mapped = map_records(frame, fmap, source_file)
    return mapped.events, mapped.quarantine


def _register() -> None:
    for fmap in load_field_maps(MAPS_DIR):
        unknown = [t for t in fmap.transforms if t not in TRANSFORMS]
        if unknown:
            raise ConfigError(f"{fmap.path}: names unknown transforms {unknown}; fix the vendor field map.")
        register_format(
            FormatSpec(
                name=fmap.format,
                description=fmap.title,
                sniff=partial(_sniff, fmap=fmap),
                parse=partial(parse_vendor_file, fmap=fmap),
            )
        )


_register()
