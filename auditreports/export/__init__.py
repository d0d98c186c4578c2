"""Export searched events as JSON, NDJSON, spreadsheet-safe CSV or OCSF, with a manifest.

``export(store, out, format="csv", conversation_id="conv_8812")`` writes numbered
files of at most ``max_events`` events each, one series per source platform for
the platform formats (``workspace-0001.json``, ``conversation-0001.csv``,
``vendor-0001.ndjson``) and one series for OCSF (``ocsf-0001.ndjson``), plus
``manifest.json`` recording every file's SHA-256, event count and format and the
filters used, so the recipient can check that nothing was altered or left out.

JSON and CSV round-trip: ingesting the files again with ``auditreports.sources.load``
gives the same events (see docs/search-export.md for exactly what round-trips).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from ..csvsafe import safe_csv_frame
from ..errors import UsageError
from ..search import SearchFilters, search_with
from .ocsf import OCSF_VERSION, events_to_ocsf, findings_to_ocsf
from .platform import platform_csv_frame, platform_expr, platform_json_expr

__all__ = [
    "EXPORT_FORMATS",
    "ExportManifest",
    "ExportedFile",
    "events_to_ocsf",
    "export",
    "export_events",
    "findings_to_ocsf",
]

EXPORT_FORMATS = ("json", "ndjson", "csv", "ocsf")
_EXTENSIONS = {"json": "json", "ndjson": "ndjson", "csv": "csv", "ocsf": "ndjson"}
_PLATFORM_ORDER = ("workspace", "conversation", "vendor")


@dataclass(frozen=True)
class ExportedFile:
    """One written file as the manifest lists it."""

    name: str
    format: str
    platform: str
    events: int
    sha256: str
    bytes: int
    first_timestamp: str | None
    last_timestamp: str | None


@dataclass(frozen=True)
class ExportManifest:
    """What an export wrote; ``manifest.json`` is this, as JSON."""

    format: str
    max_events: int
    filters: dict[str, Any]
    total_events: int
    files: list[ExportedFile] = field(default_factory=list)
    created_at: str = ""
    ocsf_version: str | None = None

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "version": 1,
            "created_at": self.created_at,
            "format": self.format,
            "max_events": self.max_events,
            "filters": self.filters,
            "total_events": self.total_events,
            "files": [f.__dict__ for f in self.files],
        }
        if self.ocsf_version:
            doc["ocsf_version"] = self.ocsf_version
        return doc


def export(
    store: Any,
    out: str | os.PathLike[str],
    *,
    format: str = "json",
    max_events: int = 10_000,
    conversation_id: str | Sequence[str] | None = None,
    author: str | None = None,
    event_type: str | Sequence[str] | None = None,
    since: str | dt.date | dt.datetime | None = None,
    until: str | dt.date | dt.datetime | None = None,
    channel: str | Sequence[str] | None = None,
    subject: str | None = None,
    text: str | None = None,
) -> ExportManifest:
    """Search ``store`` with the given filters and write the matches to ``out``."""
    filters = SearchFilters.build(
        conversation_id=conversation_id,
        author=author,
        event_type=event_type,
        since=since,
        until=until,
        channel=channel,
        subject=subject,
        text=text,
    )
    return export_events(store, out, filters, format=format, max_events=max_events)


def export_events(
    store: Any, out: str | os.PathLike[str], filters: SearchFilters, *, format: str, max_events: int
) -> ExportManifest:
    """:func:`export` with filters already built (the CLI's entry point)."""
    if format not in EXPORT_FORMATS:
        raise UsageError(f"unknown export format {format!r}; use one of: {', '.join(EXPORT_FORMATS)}", format=format)
    if max_events < 1:
        raise UsageError(f"--max-events must be at least 1, not {max_events}", max_events=max_events)
    out_dir = Path(out)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UsageError(
            f"{out_dir} already exists and is not an empty directory; choose a new --out directory so the "
            "manifest lists exactly what is there",
            out=str(out_dir),
        )
    events = search_with(store, filters).with_columns(platform_expr().alias("platform")).collect()
    out_dir.mkdir(parents=True, exist_ok=True)
    prefix = _prefix(filters)
    files: list[ExportedFile] = []
    if format == "ocsf":
        files += _write_series(events, out_dir, f"{prefix}ocsf", "ocsf", "all", max_events)
    else:
        for platform in _PLATFORM_ORDER:
            subset = events.filter(pl.col("platform") == platform)
            if subset.height:
                files += _write_series(subset, out_dir, f"{prefix}{platform}", format, platform, max_events)
    manifest = ExportManifest(
        format=format,
        max_events=max_events,
        filters=filters.as_dict(),
        total_events=events.height,
        files=files,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        ocsf_version=OCSF_VERSION if format == "ocsf" else None,
    )
    (out_dir / "manifest.json").write_text(json.dumps(manifest.as_dict(), indent=2, ensure_ascii=False) + "\n")
    return manifest


def _prefix(filters: SearchFilters) -> str:
    """Per-conversation exports are named after the conversation."""
    if len(filters.conversation_id) == 1:
        return re.sub(r"[^A-Za-z0-9_.-]", "_", filters.conversation_id[0]) + "-"
    return ""


def _write_series(
    events: pl.DataFrame, out_dir: Path, stem: str, format: str, platform: str, max_events: int
) -> list[ExportedFile]:
    written = []
    ext = _EXTENSIONS[format]
    for number, start in enumerate(range(0, events.height, max_events), start=1):
        chunk = events.slice(start, max_events)
        name = f"{stem}-{number:04d}.{ext}"
        data = _render(chunk, format, platform)
        (out_dir / name).write_bytes(data)
        ts = chunk["timestamp"]
        written.append(
            ExportedFile(
                name=name,
                format=format,
                platform=platform,
                events=chunk.height,
                sha256=hashlib.sha256(data).hexdigest(),
                bytes=len(data),
                first_timestamp=_iso(ts.min()),
                last_timestamp=_iso(ts.max()),
            )
        )
    return written


def _render(chunk: pl.DataFrame, format: str, platform: str) -> bytes:
    if format == "ocsf":
        lines = events_to_ocsf(chunk).collect()["ocsf"]
        return (lines.str.join("\n").item() + "\n").encode()
    if format == "csv":
        frame = safe_csv_frame(platform_csv_frame(chunk, platform)).collect()
        return frame.write_csv().encode()
    records = chunk.select(platform_json_expr().alias("record"))["record"]
    if format == "ndjson":
        return (records.str.join("\n").item() + "\n").encode()
    return ("[\n" + records.str.join(",\n").item() + "\n]\n").encode()


def _iso(value: object) -> str | None:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return None
