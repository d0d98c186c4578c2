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
from ._canonical import canonical_json, canonical_json_lenient
from ._dedupe import dedupe_events
from ._dupkeys import duplicate_key_reason
from ._io import read_input, resolve_inputs
from ._quarantine import finish_quarantine
from ._records import RecordSpec, _Records, parse_records
from ._unrecognised import describe_content, not_an_audit_log
from .registry import FormatSpec, ParsedFile, detect_format, formats, get_format, register_format

__all__ = [
    "FormatSpec",
    "LoadResult",
    "ParsedFile",
    "events_from_records",
    "formats",
    "get_format",
    "load",
    "load_paths",
    "refused_whole",
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
    # every path a directory walk passed over, with why ({"path", "reason"}): also kept in the ledger
    skipped: list[dict[str, str]] = field(default_factory=list)
    # how many records were quarantined when ``quarantine`` holds only the first of them (batched ingest)
    quarantined_records: int | None = None

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
        failed = [e for e in self.ledger if e.get("error")]
        # A file refused whole (not an audit log, unreadable, empty) is named once, under
        # "Unreadable", not line by line: its lines are in the quarantine all the same.
        refused = {e["path"] for e in failed if refused_whole(e)}
        shown = self.quarantine.filter(~pl.col("source_file").is_in(list(refused))) if refused else self.quarantine
        if shown.height:
            where = [
                f"{row['source_file']}:{row['source_line']} ({row['reason']})"
                for row in shown.head(first_quarantined).iter_rows(named=True)
            ]
            total = self.quarantine.height if self.quarantined_records is None else self.quarantined_records
            total -= self.quarantine.height - shown.height
            more = total - len(where)
            text += " Quarantined: " + "; ".join(where) + (f"; and {more} more." if more else ".")
        if failed:
            text += " Unreadable: " + "; ".join(f"{e['path']} ({e['error']})" for e in failed) + "."
        if self.skipped:
            text += (
                f" Skipped {len(self.skipped)} path(s) found in directories: "
                + "; ".join(f"{s['path']} ({s['reason']})" for s in self.skipped)
                + "."
            )
        return text


def refused_whole(entry: dict[str, Any]) -> bool:
    """Whether a ledger entry is a file nothing could be read from: not an audit log, unreadable text, empty."""
    return bool(entry.get("error")) and entry.get("events") == 0 and entry.get("format") in ("unknown", "empty")


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
    skipped: list[dict[str, str]] = []
    paths = resolve_inputs(src, skipped)
    return load_paths(paths, forced=forced, on_file=on_file, skipped=skipped)


def load_paths(
    paths: Sequence[tuple[str, bool]],
    *,
    forced: FormatSpec | None = None,
    on_file: Callable[[dict[str, Any]], None] | None = None,
    skipped: list[dict[str, str]] | None = None,
    progress: bool = True,
) -> LoadResult:
    """:func:`load` on files already found by ``resolve_inputs`` (``(path, named)`` pairs).

    Bounded-memory ingest (:func:`auditreports.store.ingest`) calls this once per batch of files.
    """
    skipped = [] if skipped is None else skipped
    parts: list[pl.DataFrame] = []
    quarantines: list[pl.DataFrame] = []
    ledger: list[dict[str, Any]] = []
    for path, named in bar(paths, total=len(paths), desc="loading", unit="file") if progress else paths:
        before = len(skipped)
        loaded = _load_file(path, forced, named, skipped)
        if loaded is None:
            if len(skipped) == before:
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


def _load_file(
    path: str, forced: FormatSpec | None, named: bool, skipped: list[dict[str, str]]
) -> tuple[ParsedFile, dict[str, Any]] | None:
    inp = read_input(path)
    error = None
    notes: list[str] = []
    data = inp.data
    spec: FormatSpec | None = forced
    unreadable = inp.refused or _not_utf8_text(inp.data)
    if not inp.data.strip() and not unreadable and inp.tail is None:
        what = "the file is empty" if not inp.data else "the file holds only blank lines"
        if not named:
            skipped.append({"path": path, "reason": what})
            return None
        error, format_name = what, "empty"
        parsed = _quarantine_whole_file(inp.data, path, what)
    elif unreadable:
        if not named:
            skipped.append({"path": path, "reason": unreadable})
            return None
        error, format_name = unreadable, "unknown"
        content = inp.data if not inp.refused else _raw_on_disk(path)
        parsed = _quarantine_whole_file(content, path, unreadable, whole=True)
    else:
        if b"\n" not in data and b"\r" in data.rstrip(b"\r"):
            # Classic Mac line endings: CR alone ends each line. Same length, so offsets hold.
            data = data.replace(b"\r", b"\n")
            notes.append("lines end in CR alone (classic Mac line endings); read as line breaks")
        try:
            try:
                spec = forced or detect_format(data[:_SNIFF_BYTES], path)
                parsed = spec.parse(data, path)
            except RecursionError:
                parsed, spec = _parse_without_deep_records(data, path, forced)
            format_name = spec.name
        except SourceFormatError:
            if not named:
                skipped.append({"path": path, "reason": f"{describe_content(data, path)}, not an audit log"})
                return None
            # A named file we cannot recognise does not stop the others: all its lines are
            # quarantined, and the ledger says in one sentence what the file is and what to do.
            error = not_an_audit_log(data, path)
            format_name = "unknown"
            parsed = _quarantine_whole_file(data, path, "the file is in no audit-log format we recognise")
        except (pl.exceptions.PolarsError, ValueError, TypeError, KeyError) as exc:
            # A file that does not fit its (forced or detected) format never stops the load with a
            # traceback: every line is quarantined with the reason, and the other files load.
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            how = "forced with --format" if forced is not None else "detected"
            format_name = spec.name if spec is not None else "unknown"
            error = f"the file does not fit the {format_name!r} format {how}: {first}"
            parsed = _quarantine_whole_file(data, path, f"the record does not fit the {format_name!r} format ({first})")
    if parsed.layout == "csv":
        duplicated = _duplicate_csv_headers(data)
        if duplicated:
            # Which of two same-named columns is meant cannot be known: refuse the file, loudly.
            error = duplicated
            parsed = _quarantine_whole_file(data, path, duplicated)
    if inp.tail is not None:
        parsed = _with_tail(parsed, inp, path, format_name)
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
        "notes": inp.notes + notes + parsed.notes,
        "error": error,
    }
    return parsed, entry


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _quarantine_whole_file(data: bytes, path: str, reason: str, *, whole: bool = False) -> ParsedFile:
    """Every non-blank line quarantined with ``reason``; ``whole``: the file's bytes as one record
    (text in an encoding we do not read, or a refused gzip stream: its lines are not ours to split)."""
    if whole:
        rows = [{"source_line": 1, "source_offset": 0, "reason": reason, "raw": data}] if data else []
        work = pl.DataFrame(
            rows, schema={k: QUARANTINE_SCHEMA[k] for k in ("source_line", "source_offset", "reason", "raw")}
        )
        return ParsedFile(
            events=empty_events(),
            quarantine=finish_quarantine(work, source_file=path, format="unknown"),
            lines_read=len(rows),
            blank_lines=0,
            loaded_lines=0,
            quarantined_lines=len(rows),
            layout="unknown",
        )
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


def _duplicate_csv_headers(data: bytes) -> str | None:
    """Why a CSV file's header is ambiguous (a name given to two columns), or None."""
    import csv

    for line in data.split(b"\n", 64)[:64]:
        if line.strip():
            header = next(csv.reader([line.decode("utf-8", "replace").rstrip("\r")]))
            break
    else:
        return None
    seen: dict[str, int] = {}
    dups = []
    for i, name in enumerate(header, start=1):
        key = name.strip()
        if key in seen:
            dups.append(f"{key!r} (columns {seen[key]} and {i})")
        else:
            seen[key] = i
    if not dups:
        return None
    return (
        f"the CSV header names {', '.join(dups)} twice; which column holds the value is ambiguous, so the file "
        "is refused: fix the header and ingest it again"
    )


def _raw_on_disk(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


_WIDE_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32 (little-endian)", "UTF-32LE"),
    (b"\x00\x00\xfe\xff", "UTF-32 (big-endian)", "UTF-32BE"),
    (b"\xff\xfe", "UTF-16 (little-endian)", "UTF-16LE"),
    (b"\xfe\xff", "UTF-16 (big-endian)", "UTF-16BE"),
)


def _not_utf8_text(data: bytes) -> str | None:
    """Why ``data`` is text in a wide encoding we do not read (UTF-16/32), naming it; None otherwise."""
    head = data[:4096]
    name = iconv = None
    for bom, label, codec in _WIDE_BOMS:
        if head.startswith(bom):
            name, iconv = label, codec
            break
    else:
        even, odd = head[0::2], head[1::2]
        if len(head) >= 8 and head.count(0) * 3 >= len(head):
            if (
                head[0::4].count(0) == 0
                and head[1::4].count(0) * 4 >= len(head[1::4]) * 3
                and head[2::4].count(0) * 4 >= len(head[2::4]) * 3
                and head[3::4].count(0) * 4 >= len(head[3::4]) * 3
            ):
                name, iconv = "UTF-32 (little-endian)", "UTF-32LE"
            elif odd.count(0) * 4 >= len(odd) * 3 and even.count(0) * 4 < len(even):
                name, iconv = "UTF-16 (little-endian)", "UTF-16LE"
            elif even.count(0) * 4 >= len(even) * 3 and odd.count(0) * 4 < len(odd):
                name, iconv = "UTF-16 (big-endian)", "UTF-16BE"
    if name is None:
        return None
    return (
        f"the file is {name} text; auditreports reads UTF-8: convert it "
        f"(iconv -f {iconv} -t UTF-8 FILE > FILE.utf8) and ingest the converted file"
    )


MAX_JSON_DEPTH = 200


def _line_depths(data: bytes) -> tuple[list[int], list[int], list[int]]:
    """(line numbers, offsets, nesting depths) of lines whose JSON nests deeper than MAX_JSON_DEPTH."""
    import numpy as np

    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(data)]))
    opens = ((buf == ord("{")) | (buf == ord("["))).astype(np.int64)
    counts = np.add.reduceat(opens, np.minimum(starts, max(len(data) - 1, 0))) if len(data) else np.zeros(1, np.int64)
    counts = np.where(starts < ends, counts, 0)
    lines, offsets, depths = [], [], []
    for i in np.flatnonzero(counts > MAX_JSON_DEPTH):
        depth = _json_depth(data[starts[i] : ends[i]])
        if depth > MAX_JSON_DEPTH:
            lines.append(int(i) + 1)
            offsets.append(int(starts[i]))
            depths.append(depth)
    return lines, offsets, depths


def _json_depth(line: bytes) -> int:
    """The deepest nesting of brackets outside strings (a linear scan, no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in line:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x7B, 0x5B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x7D, 0x5D):
            depth -= 1
    return deepest


def _parse_without_deep_records(data: bytes, path: str, forced: FormatSpec | None) -> tuple[ParsedFile, FormatSpec]:
    """Parse again with every line nested deeper than MAX_JSON_DEPTH quarantined on its own.

    Python's JSON parser recurses per level, so a record nested thousands deep raises
    RecursionError wherever it is parsed (sniffing, parsing, canonicalising). Those lines
    are set aside (replaced by spaces, so every other offset is unchanged), the file is
    parsed again, and each one becomes a quarantined record.
    """
    lines, offsets, depths = _line_depths(data)
    if not lines:
        raise SourceFormatError(
            f"{path}: a record is nested too deeply to parse, and no single line is; quarantined whole", path=path
        )
    buf = bytearray(data)
    raws = []
    for offset in offsets:
        end = data.find(b"\n", offset)
        end = len(data) if end == -1 else end
        raws.append(data[offset:end].rstrip(b"\r"))
        buf[offset:end] = b" " * (end - offset)
    cleaned = bytes(buf)
    try:
        spec = forced or detect_format(cleaned[:_SNIFF_BYTES], path)
        parsed = spec.parse(cleaned, path)
    except RecursionError:
        raise SourceFormatError(
            f"{path}: a record spanning several lines is nested too deeply to parse; quarantined whole", path=path
        ) from None
    work = pl.DataFrame(
        {
            "source_line": lines,
            "source_offset": offsets,
            "reason": [
                f"the record is nested {d} levels deep, more than the {MAX_JSON_DEPTH} we parse" for d in depths
            ],
            "raw": raws,
        },
        schema={k: QUARANTINE_SCHEMA[k] for k in ("source_line", "source_offset", "reason", "raw")},
    )
    deep = finish_quarantine(work, source_file=path, format=spec.name)
    return (
        ParsedFile(
            events=parsed.events,
            quarantine=pl.concat([parsed.quarantine, deep]).sort("source_line"),
            lines_read=parsed.lines_read,
            blank_lines=parsed.blank_lines - len(lines),  # the blanked lines were counted blank
            loaded_lines=parsed.loaded_lines,
            quarantined_lines=parsed.quarantined_lines + len(lines),
            layout=parsed.layout,
            notes=[*parsed.notes, f"{len(lines)} record(s) nested more than {MAX_JSON_DEPTH} levels deep quarantined"],
        ),
        spec,
    )


def _with_tail(parsed: ParsedFile, inp: Any, path: str, format_name: str) -> ParsedFile:
    """Add what followed the readable part of a gzip file to the quarantine, as lines after the last one."""
    tail = inp.tail
    first_line = parsed.lines_read + 1
    offset = len(inp.data)
    if tail.plain:
        pieces = tail.raw.split(b"\n")
        if pieces and pieces[-1] == b"":
            pieces.pop()
    else:
        pieces = [tail.raw]
    rows = []
    blank = 0
    for i, piece in enumerate(pieces):
        if piece.strip() or not tail.plain:
            rows.append(
                {
                    "source_line": first_line + i,
                    "source_offset": offset,
                    "reason": (
                        f"{tail.reason}; this line at byte {tail.disk_offset + offset - len(inp.data)} on disk"
                        if tail.plain
                        else tail.reason
                    ),
                    "raw": piece.rstrip(b"\r"),
                }
            )
        else:
            blank += 1
        offset += len(piece) + 1
    work = pl.DataFrame(
        rows, schema={k: QUARANTINE_SCHEMA[k] for k in ("source_line", "source_offset", "reason", "raw")}
    )
    extra = finish_quarantine(work, source_file=path, format=format_name)
    return ParsedFile(
        events=parsed.events,
        quarantine=pl.concat([parsed.quarantine, extra]),
        lines_read=parsed.lines_read + len(pieces),
        blank_lines=parsed.blank_lines + blank,
        loaded_lines=parsed.loaded_lines,
        quarantined_lines=parsed.quarantined_lines + len(rows),
        layout=parsed.layout,
        notes=parsed.notes,
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
        duplicated = duplicate_key_reason(record)
        if duplicated:
            bad.append((position, None, 1, duplicated, canonical_json_lenient(record).encode()))
            continue
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
