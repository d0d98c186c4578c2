"""Real vendor audit logs (CloudTrail, Okta, GitHub, Zendesk, OpenAI, Slack, Google
Workspace, Azure AD sign-ins) loaded through declarative field maps.

Importing this package registers one :class:`~auditreports.sources.registry.FormatSpec`
per map in ``maps/*.yml``; ``auditreports.sources.load`` then detects and parses vendor
files like the platform formats. Every physical line of a file ends up loaded,
quarantined (with a one-sentence reason) or blank. See ``docs/vendors.md``.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import polars as pl

from ...errors import ConfigError
from ...schema import QUARANTINE_SCHEMA
from ..registry import FormatSpec, ParsedFile, register_format
from . import transforms as _transforms  # registers the named transforms
from .fieldmap import FieldMap, load_field_map, load_field_maps
from .mapping import TRANSFORMS, map_records
from .records import split_records
from .sniffing import sample_records, sniff_score

__all__ = ["MAPS_DIR", "FieldMap", "load_field_map", "load_field_maps", "parse_vendor_file", "vendor_field_maps"]

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
    return {m.format: m for m in load_field_maps(MAPS_DIR)}


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
