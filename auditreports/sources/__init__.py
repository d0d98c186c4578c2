"""Loading audit logs: files, directories and globs in, canonical events out, nothing lost.

``load(src)`` finds the files, gunzips by magic bytes, detects each file's format
through :mod:`auditreports.sources.registry` (or uses ``format=``), parses it, and
accounts for every line: ``lines_read == loaded + quarantined + blank`` per file, in
the ledger. Identical duplicates across files are kept once, id conflicts flagged.

``events_from_records`` does the same for records that were already parsed (an API
page), with the RFC 8785 canonical JSON of each record as its ``raw`` text.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from ..errors import SourceFormatError, UsageError
from ..progress import bar
from ..schema import EVENT_SCHEMA, QUARANTINE_SCHEMA, empty_events, empty_quarantine
from ._canonical import canonical_json
from ._dedupe import dedupe_events
from ._io import read_input, resolve_inputs
from ._quarantine import finish_quarantine
from ._records import RecordSpec, _Records, parse_records
from .registry import FormatSpec, ParsedFile, detect_format, formats, get_format, register_format

__all__ = [
    "FormatSpec",
    "LoadResult",
    "ParsedFile",
    "events_from_records",
    "formats",
    "get_format",
    "load",
    "register_format",
]

Source = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
_SNIFF_BYTES = 64 * 1024


@dataclass
class LoadResult:
    """What a load produced: events, quarantined records and one ledger entry per file."""

    events: pl.LazyFrame
    quarantine: pl.DataFrame
    ledger: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    conflicts: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)  # files found by walking that are no audit log

    @property
    def lines_read(self) -> int:
        return sum(e["lines_read"] for e in self.ledger)

    @property
    def loaded_events(self) -> int:
        return sum(e["events"] for e in self.ledger) - self.duplicates

    def summary(self, *, first_quarantined: int = 3) -> str:
        """One paragraph an analyst can paste into a work paper."""
        files = len(self.ledger)
        loaded = sum(e["loaded"] for e in self.ledger)
        blank = sum(e["blank"] for e in self.ledger)
        quarantined = sum(e["quarantined"] for e in self.ledger)
        text = (
            f"Read {files} file{'s' if files != 1 else ''} ({self.lines_read} lines): "
            f"{loaded} lines loaded as {self.loaded_events} events, {quarantined} lines quarantined, "
            f"{blank} blank or structural; {self.duplicates} identical duplicates dropped, "
            f"{self.conflicts} events flagged as id conflicts."
        )
        if self.quarantine.height:
            where = [
                f"{row['source_file']}:{row['source_line']} ({row['reason']})"
                for row in self.quarantine.head(first_quarantined).iter_rows(named=True)
            ]
            more = self.quarantine.height - len(where)
            text += " Quarantined: " + "; ".join(where) + (f"; and {more} more." if more else ".")
        failed = [e for e in self.ledger if e.get("error")]
        if failed:
            text += " Unreadable: " + "; ".join(f"{e['path']} ({e['error']})" for e in failed) + "."
        if self.skipped:
            text += (
                f" Skipped {len(self.skipped)} file(s) found in directories that are no audit log: "
                + ", ".join(s["path"] for s in self.skipped)
                + "."
            )
        return text


def load(
    src: Source, *, format: str | None = None, on_file: Callable[[dict[str, Any]], None] | None = None
) -> LoadResult:
    """Load audit-log files, directories or globs into canonical events.

    ``format`` forces one registered format (see :func:`formats`) for every file;
    otherwise each file's format is detected from its first bytes. Bad records never
    raise: they are quarantined with file, line, offset, raw bytes and a reason.
    A path that does not exist or an unknown ``format`` raises (the caller's mistake).
    ``on_file`` is called with each file's ledger entry as soon as it is read (for progress).
    """
    forced = get_format(format) if format is not None else None
    paths = resolve_inputs(src)
    parts: list[pl.DataFrame] = []
    quarantines: list[pl.DataFrame] = []
    ledger: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for path, named in bar(paths, total=len(paths), desc="loading", unit="file"):
        loaded = _load_file(path, forced, named)
        if loaded is None:
            skipped.append({"path": path, "reason": "not in any audit-log format we recognise"})
            continue
        parsed, entry = loaded
        parts.append(parsed.events)
        quarantines.append(parsed.quarantine)
        ledger.append(entry)
        if on_file is not None:
            on_file(entry)
    events = pl.concat(parts) if parts else empty_events()
    kept, per_file = dedupe_events(events)
    stats = {row["source_file"]: row for row in per_file.iter_rows(named=True)}
    for entry in ledger:
        row = stats.get(entry["path"], {})
        entry["duplicates"] = int(row.get("duplicates") or 0)
        entry["conflicts"] = int(row.get("conflicts") or 0)
    quarantine = pl.concat(quarantines) if quarantines else empty_quarantine()
    return LoadResult(
        events=kept.lazy(),
        quarantine=quarantine,
        ledger=ledger,
        duplicates=sum(e["duplicates"] for e in ledger),
        conflicts=sum(e["conflicts"] for e in ledger),
        skipped=skipped,
    )


def _load_file(path: str, forced: FormatSpec | None, named: bool) -> tuple[ParsedFile, dict[str, Any]] | None:
    inp = read_input(path)
    error = None
    spec: FormatSpec | None = forced
    try:
        spec = forced or detect_format(inp.data[:_SNIFF_BYTES], path)
        parsed = spec.parse(inp.data, path)
        format_name = spec.name
    except SourceFormatError as exc:
        if not named:
            return None
        # A named file we cannot recognise does not stop the others: all its lines are quarantined.
        error = exc.message
        format_name = "unknown"
        parsed = _quarantine_whole_file(inp.data, path, "the file is in no audit-log format we recognise")
    except (pl.exceptions.PolarsError, ValueError, TypeError, KeyError) as exc:
        # A file that does not fit its (forced or detected) format never stops the load with a
        # traceback: every line is quarantined with the reason, and the other files load.
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        how = "forced with --format" if forced is not None else "detected"
        format_name = spec.name if spec is not None else "unknown"
        error = f"the file does not fit the {format_name!r} format {how}: {first}"
        parsed = _quarantine_whole_file(inp.data, path, f"the record does not fit the {format_name!r} format ({first})")
    if parsed.lines_read != parsed.loaded_lines + parsed.quarantined_lines + parsed.blank_lines:
        raise AssertionError(
            f"{path}: {parsed.lines_read} lines read but {parsed.loaded_lines} loaded + "
            f"{parsed.quarantined_lines} quarantined + {parsed.blank_lines} blank; this is a bug, please report it"
        )
    ts = parsed.events.get_column("timestamp")
    entry: dict[str, Any] = {
        "path": path,
        "sha256": inp.sha256,
        "bytes": inp.size,
        "compressed": inp.compressed,
        "format": format_name,
        "layout": parsed.layout,
        "lines_read": parsed.lines_read,
        "loaded": parsed.loaded_lines,
        "quarantined": parsed.quarantined_lines,
        "blank": parsed.blank_lines,
        "events": parsed.events.height,
        "quarantined_records": parsed.quarantine.height,
        "duplicates": 0,
        "conflicts": 0,
        "first_timestamp": _iso(ts.min()) if len(ts) else None,
        "last_timestamp": _iso(ts.max()) if len(ts) else None,
        "notes": inp.notes + parsed.notes,
        "error": error,
    }
    return parsed, entry


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _quarantine_whole_file(data: bytes, path: str, reason: str) -> ParsedFile:
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    rows, offset, blank = [], 0, 0
    for number, line in enumerate(parts, start=1):
        if line.strip():
            rows.append({"source_line": number, "source_offset": offset, "reason": reason, "raw": line.rstrip(b"\r")})
        else:
            blank += 1
        offset += len(line) + 1
    work = pl.DataFrame(
        rows, schema={k: QUARANTINE_SCHEMA[k] for k in ("source_line", "source_offset", "reason", "raw")}
    )
    return ParsedFile(
        events=empty_events(),
        quarantine=finish_quarantine(work, source_file=path, format="unknown"),
        lines_read=len(parts),
        blank_lines=blank,
        loaded_lines=0,
        quarantined_lines=len(rows),
        layout="unknown",
    )


def _record_spec(format: str) -> RecordSpec | None:
    """The platform format's record spec; None for a registered vendor format."""
    get_format(format)  # raises SourceFormatError with the known names
    from .conversation import CONVERSATION_RECORDS
    from .workspace import WORKSPACE_RECORDS

    specs = {"workspace": WORKSPACE_RECORDS, "conversation": CONVERSATION_RECORDS}
    return specs.get(format)


def events_from_records(
    records: Sequence[Any], *, format: str = "conversation", source_file: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Map already-parsed records (e.g. one API page) to ``(events, quarantine)``.

    ``raw`` is the RFC 8785 canonical JSON of each record, so the evidence is the same
    bytes whichever client fetched it (written by the fast path of ``_canonical`` where
    that is provably identical). ``source_line`` is the record's 1-based position in
    ``records``; ``source_offset`` is null (there is no file). Not de-duplicated:
    :func:`auditreports.store.write_store` de-duplicates against the store. A vendor
    format (``okta``, ``github``, ...) is mapped by its field map through
    :func:`auditreports.sources.vendors.vendor_events_from_records`.
    """
    spec = _record_spec(format)
    if spec is None:
        from .vendors import vendor_events_from_records

        try:
            return vendor_events_from_records(records, format=format, source_file=source_file)
        except UsageError:
            raise UsageError(
                f"events_from_records maps the platform formats and the vendor formats with a field map; "
                f"{format!r} has neither"
            ) from None
    texts: list[str] = []
    positions: list[int] = []
    bad: list[tuple[int, int | None, int, str, bytes]] = []
    for position, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            bad.append(
                (
                    position,
                    None,
                    1,
                    f"the record is a {type(record).__name__}, not a JSON object",
                    repr(record).encode(),
                )
            )
            continue
        try:
            text = canonical_json(record)
        except Exception as exc:  # rfc8785 raises its own error types for NaN, huge ints, bad keys
            bad.append(
                (position, None, 1, f"the record cannot be written as canonical JSON ({exc})", repr(record).encode())
            )
            continue
        texts.append(text)
        positions.append(position)
    recs = _Records(texts, positions, [None] * len(texts), [1] * len(texts), "api", bad)
    events, work = parse_records(recs, spec, source_file)
    return events.select(list(EVENT_SCHEMA)), finish_quarantine(work, source_file=source_file, format=format)
