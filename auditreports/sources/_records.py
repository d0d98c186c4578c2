"""From file bytes to flat records and quarantine rows, for JSON array, NDJSON and CSV.

The engine behind the platform formats. A format describes its fields
(:class:`RecordSpec`); this module splits the file into records (one per NDJSON line,
per JSON array element, per CSV record, which may span lines), parses them into a flat
frame with an explicit schema, and accounts for every physical line.

Fast path first: a clean file is parsed by Polars in one call with an explicit schema
(schema inference silently drops fields that first appear late). Only when that call
fails does a per-record pass locate the bad records, quarantine them with their line
numbers, and parse the rest in one call again.
"""

from __future__ import annotations

import bisect
import io
import json
import re
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from ..csvsafe import restore_expr
from ..schema import EVENT_SCHEMA
from ._canonical import canonical_json_lenient
from ._dupkeys import (
    duplicate_key_reason,
    duplicate_key_records,
    loads_keeping_duplicates,
    object_pairs_marking_duplicates,
)
from ._quarantine import QuarantineRow, empty_work, finish_quarantine, quarantine_frame
from ._timestamps import normalise_timestamps
from .registry import ParsedFile

__all__ = ["Field", "RecordSpec", "parse_bytes", "parse_records"]

_CSV_QUOTED = r'"(?:[^"]|"")*"'
_STRING_LIST = r'^\[\s*(?:"(?:[^"\\]|\\.)*"\s*(?:,\s*"(?:[^"\\]|\\.)*"\s*)*)?\]$'


@dataclass(frozen=True)
class Field:
    """One source field: its flat column name, JSON path and CSV header.

    ``kind`` is ``"str"`` (kept as text; numbers are cast later by the format),
    ``"json"`` (a free-form value kept as compact JSON text) or ``"list"`` (a list of strings).
    """

    name: str
    path: tuple[str, ...]
    csv: str
    kind: str = "str"


@dataclass(frozen=True)
class RecordSpec:
    """What the engine needs to know about a format.

    ``to_events`` maps the flat frame (one column per field, plus ``raw``,
    ``source_line``, ``source_offset``, ``_nlines``, the parsed timestamp ``_ts`` and its
    ``_ts_kind``: canonical, naive, odd or null) to canonical columns plus
    ``_reason``: null for a loadable record, else the sentence that quarantines it.
    """

    format: str
    fields: tuple[Field, ...]
    to_events: Callable[[pl.LazyFrame], pl.LazyFrame]
    timestamp_field: str  # parsed by the engine into ``_ts`` and ``_ts_kind`` before ``to_events``

    def json_schema(self) -> dict[str, pl.DataType]:
        schema: dict[str, pl.DataType] = {}
        nested: dict[str, dict[str, pl.DataType]] = {}
        for f in self.fields:
            leaf: pl.DataType = pl.List(pl.String()) if f.kind == "list" else pl.String()
            if len(f.path) == 1:
                schema[f.path[0]] = leaf
            else:
                nested.setdefault(f.path[0], {})[f.path[1]] = leaf
                schema.setdefault(f.path[0], pl.String())  # placeholder keeps key order
        for key, leaves in nested.items():
            schema[key] = pl.Struct(leaves)
        return schema

    def flatten(self) -> list[pl.Expr]:
        out = []
        for f in self.fields:
            expr = pl.col(f.path[0])
            if len(f.path) == 2:
                expr = expr.struct.field(f.path[1])
            out.append(expr.alias(f.name))
        return out


# --------------------------------------------------------------------------- lines


@dataclass
class _Lines:
    """The physical lines of a file (terminators removed) and where each starts."""

    series: pl.Series  # one string per line, terminator removed; "" for a line that is not valid UTF-8
    offset_series: pl.Series  # byte offset of each line
    bad_utf8: list[QuarantineRow]
    # Lines whose terminator was CR LF: a CSV value spanning lines keeps its CR (None: no CR in the file).
    crlf: pl.Series | None = None

    @property
    def count(self) -> int:
        return len(self.series)

    @cached_property
    def text(self) -> list[str]:
        return self.series.to_list()

    @cached_property
    def offsets(self) -> list[int]:
        return self.offset_series.to_list()


def _split_lines(data: bytes) -> _Lines:
    """The file's lines as one Polars column, without a Python string per line.

    Newlines are found with numpy; the lines are then handed to Polars as an Arrow
    binary array over the file's own buffer (line, newline, line, newline, ..., every
    other element taken), so the only copy is Polars' own, and UTF-8 is validated once
    by the cast. A file with invalid UTF-8 is split line by line instead.
    """
    if not data:
        return _Lines(pl.Series("t", [], dtype=pl.String), pl.Series("o", [], dtype=pl.Int64), [])
    ends = _newlines(data)
    if data[-1] != 0x0A:
        ends = np.append(ends, len(data))  # the last line has no terminator
    count = len(ends)
    starts = np.empty(count, dtype=np.int64)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    bounds = np.empty(2 * count + 1, dtype=np.int64)
    bounds[0:-1:2] = starts
    bounds[1:-1:2] = ends
    bounds[-1] = len(data)
    pieces = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), 2 * count, [None, pa.py_buffer(bounds), pa.py_buffer(data)]
    )
    binary = pl.Series("t", pieces).gather_every(2)
    try:
        series = binary.cast(pl.String)
    except pl.exceptions.ComputeError:  # invalid UTF-8 somewhere
        return _split_lines_slow(data)
    crlf = None
    if b"\r" in data:
        crlf = series.str.ends_with("\r")
        series = series.str.strip_suffix("\r")
    return _Lines(series, pl.Series("o", starts, dtype=pl.Int64), [], crlf)


def _newlines(data: bytes, chunk: int = 1 << 24) -> np.ndarray:
    """Byte positions of every LF, a cache-sized chunk at a time."""
    buf = np.frombuffer(data, dtype=np.uint8)
    found = [np.flatnonzero(buf[i : i + chunk] == 0x0A) + i for i in range(0, len(buf), chunk)]
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def _split_lines_slow(data: bytes) -> _Lines:
    """Invalid UTF-8 somewhere: decode line by line, quarantining the lines that fail."""
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    text: list[str] = []
    offsets: list[int] = []
    bad: list[QuarantineRow] = []
    offset = 0
    for number, part in enumerate(parts, start=1):
        offsets.append(offset)
        try:
            line = part.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad.append(
                (
                    number,
                    offset,
                    1,
                    f"the line is not valid UTF-8 (byte 0x{part[exc.start]:02x} at column {exc.start + 1})",
                    part,
                )
            )
            line = ""
        text.append(line[:-1] if line.endswith("\r") else line)
        offset += len(part) + 1
    return _Lines(pl.Series("t", text, dtype=pl.String), pl.Series("o", offsets, dtype=pl.Int64), bad)


# --------------------------------------------------------------------------- records


@dataclass
class _Records:
    """Candidate records: text plus where they are. ``csv_header`` is set for CSV."""

    text: list[str]
    line: list[int]  # 1-based first line
    offset: list[int | None]
    nlines: list[int]
    layout: str
    quarantine: list[QuarantineRow]
    csv_header: str | None = None
    envelope_lines: set[int] = field(default_factory=set)  # 1-based lines of an API page's envelope
    notes: list[str] = field(default_factory=list)
    ndjson_bytes: bytes | None = None  # the file itself when every record is one line of it
    parsed: pl.DataFrame | None = None  # the fast path's result, when it already ran
    # The fast NDJSON path keeps positions as a frame (raw, source_line, source_offset, _nlines)
    # and fills the lists above only if a per-record pass is needed.
    frame: pl.DataFrame | None = None
    # Records naming a key twice, found beside the one-call parse (sources._dupkeys): the
    # one-call parse keeps the first value silently, so its result is filtered by this.
    duplicate_keys: Future[list[tuple[int, str]]] | None = None

    def materialise(self) -> None:
        if self.frame is not None and not self.text:
            self.text = self.frame["raw"].to_list()
            self.line = self.frame["source_line"].to_list()
            self.offset = self.frame["source_offset"].to_list()
            self.nlines = self.frame["_nlines"].to_list()

    @property
    def count(self) -> int:
        return self.frame.height if self.frame is not None else len(self.text)


def _layout(lines: _Lines, spec_csv_headers: set[str]) -> str:
    # The first line that looks like JSON or this format's CSV header decides; lines before
    # it (a comment, an exporter's banner) do not make the whole file "text": they are
    # quarantined one by one by the layout's own per-record pass.
    text_seen = False
    for line in lines.series.head(1000):
        s = line.strip()
        if not s:
            continue
        if s.startswith("["):
            return "json-array"
        if s.startswith("{"):
            return "api-page" if not text_seen and _is_api_page(lines) else "ndjson"
        header = {h.strip().strip('"') for h in s.split(",")}
        if len(header & spec_csv_headers) >= 2 and not text_seen:
            return "csv"
        text_seen = True
    return "text" if text_seen else "ndjson"  # an empty file: nothing to parse either way


def _ndjson_records(lines: _Lines, data: bytes | None) -> _Records:
    frame = (
        pl.DataFrame({"raw": lines.series, "source_offset": lines.offset_series})
        .with_row_index("source_line", offset=1)
        .filter(~pl.col("raw").str.contains(r"^\s*$"))
        .select(
            "raw",
            pl.col("source_line").cast(pl.Int64),
            pl.col("source_offset").cast(pl.Int64),
            pl.lit(1, dtype=pl.Int64).alias("_nlines"),
        )
    )
    records = _Records([], [], [], [], "ndjson", [], ndjson_bytes=data, frame=frame)
    raw = frame.get_column("raw")
    if data is not None:
        starts = frame.get_column("source_offset").to_numpy()
        records.duplicate_keys = _CHECKER.submit(duplicate_key_records, data, starts, raw.__getitem__)
    else:
        records.duplicate_keys = _check_texts(raw.to_list())
    return records


# The duplicate-key check runs beside the one-call parse (numpy releases the GIL), like
# the SHA-256 of each file (sources._io).
_CHECKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="auditreports-dupkeys")


def _check_texts(texts: list[str]) -> Future[list[tuple[int, str]]]:
    """The duplicate-key check of records given as texts (joined one per line)."""
    encoded = [t.encode("utf-8") for t in texts]
    starts = np.cumsum([0] + [len(e) + 1 for e in encoded[:-1]], dtype=np.int64)
    return _CHECKER.submit(duplicate_key_records, b"\n".join(encoded), starts, texts.__getitem__)


def _array_line_records(lines: _Lines) -> _Records | None:
    """A JSON array written one element per line, the usual export shape; None if it is not."""
    s = lines.series.str.strip_chars()
    nonblank = (s.str.len_bytes() > 0).arg_true()
    if len(nonblank) == 0:
        return None
    first, last = int(nonblank[0]), int(nonblank[-1])
    body = s.to_list()
    body[first] = body[first][1:].lstrip()  # the opening "["
    if not body[last].endswith("]"):
        return None
    body[last] = body[last][:-1].rstrip()
    cleaned = pl.Series("t", body, dtype=pl.String).str.strip_chars().str.strip_suffix(",").str.strip_chars()
    has = cleaned.str.len_bytes() > 0
    cand = cleaned.filter(has)
    if len(cand) == 0 or not bool((cand.str.starts_with("{") & cand.str.ends_with("}")).all()):
        return None
    idx = has.arg_true()
    # Offsets: the element starts after the line's leading whitespace (and "[" on the first line).
    lead = lines.series.gather(idx)
    lead_bytes = lead.str.len_bytes() - lead.str.strip_chars_start("[ \t").str.len_bytes()
    offsets = (lines.offset_series.gather(idx) + lead_bytes).to_list()
    records = _Records(cand.to_list(), (idx + 1).to_list(), offsets, [1] * len(cand), "json-array", [])
    records.duplicate_keys = _check_texts(records.text)
    return records


class _Scanner:
    """Walks JSON text element by element with the standard library's C scanner.

    Only element boundaries are kept here; the fields are parsed by Polars afterwards
    like every other layout. A broken element is quarantined up to the next line that
    starts an element at the same indentation, so one bad element never takes the rest
    of the array with it.
    """

    def __init__(self, lines: _Lines, layout: str) -> None:
        self.lines = lines
        self.text = "\n".join(lines.text)
        self.starts = [0]
        for line in lines.text[:-1]:
            self.starts.append(self.starts[-1] + len(line) + 1)
        # Marks objects that name a key twice (sources._dupkeys), so such elements are quarantined.
        self.decoder = json.JSONDecoder(object_pairs_hook=object_pairs_marking_duplicates)
        self.records = _Records([], [], [], [], layout, [])

    def line_index(self, pos: int) -> int:
        return bisect.bisect_right(self.starts, pos) - 1

    def where(self, pos: int) -> tuple[int, int]:
        i = self.line_index(pos)
        col = pos - self.starts[i]
        return i, self.lines.offsets[i] + len(self.lines.text[i][:col].encode("utf-8"))

    def quarantine(self, begin: int, end: int, reason: str) -> None:
        chunk = self.text[begin:end].rstrip().rstrip(",").rstrip()
        i, off = self.where(begin)
        self.records.quarantine.append((i + 1, off, chunk.count("\n") + 1, reason, chunk.encode("utf-8")))

    def skip(self, pos: int, chars: str = " \t\r\n") -> int:
        n = len(self.text)
        while pos < n and self.text[pos] in chars:
            pos += 1
        return pos

    def elements(self, pos: int) -> tuple[int, bool]:
        """Walk the array whose ``[`` ends just before ``pos``; ``(position after it, closed)``."""
        text, lines, n = self.text, self.lines, len(self.text)
        while True:
            pos = self.skip(pos, " \t\r\n,")
            if pos >= n:
                return pos, False  # no closing bracket: cut off; a broken last element was quarantined below
            if text[pos] == "]":
                return pos + 1, True
            try:
                value, end = self.decoder.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                i = self.line_index(pos)
                col = pos - self.starts[i]
                prefix = lines.text[i][:col] + "{"
                nxt = next((j for j in range(i + 1, len(lines.text)) if lines.text[j].startswith(prefix)), None)
                end = self.starts[nxt] if nxt is not None else n
                if nxt is None and lines.text and lines.text[-1].strip() == "]":
                    end = self.starts[len(lines.text) - 1]
                self.quarantine(pos, end, f"the array element is not valid JSON ({exc.msg}); it may be truncated")
                pos = end
                continue
            duplicated = duplicate_key_reason(value)
            if duplicated:
                self.quarantine(pos, end, duplicated)
            elif not isinstance(value, dict):
                self.quarantine(pos, end, f"the array element is a JSON {type(value).__name__}, not an object")
            else:
                chunk = text[pos:end]
                i, off = self.where(pos)
                self.records.text.append(chunk)
                self.records.line.append(i + 1)
                self.records.offset.append(off)
                self.records.nlines.append(chunk.count("\n") + 1)
            pos = end


def _array_scan_records(lines: _Lines) -> _Records:
    """Any JSON array (pretty-printed, compact, cut off): walk it element by element."""
    scan = _Scanner(lines, "json-array")
    pos, closed = scan.elements(scan.text.index("[") + 1)
    rest = scan.text[pos:]
    if closed and rest.strip():
        scan.quarantine(pos + (len(rest) - len(rest.lstrip())), len(scan.text), "text after the end of the JSON array")
    return scan.records


# The body of one page of our platform's audit-log API (docs/api.md), saved to a file.
PAGE_KEYS = ("data", "has_more", "next_cursor")
_PAGE_START = re.compile(r'^\{?\s*"(?:' + "|".join(PAGE_KEYS) + r')"\s*:')


def _is_api_page(lines: _Lines) -> bool:
    """The file starts like ``{"data": [`` (or ``{`` then ``"data": [`` for a pretty-printed page)."""
    head = [t.strip() for t in lines.series.head(1000).to_list() if t.strip()][:2]
    if not head or not head[0].startswith("{"):
        return False
    if head[0] == "{":
        return len(head) > 1 and bool(_PAGE_START.match(head[1]))
    return bool(_PAGE_START.match(head[0]))


def _api_page_records(lines: _Lines) -> _Records:
    """The events of a saved API page ``{"data": [...], "has_more": ..., "next_cursor": ...}``.

    The envelope's own lines (the keys around the array) carry no event: they are
    counted as blank, and what the envelope says is kept in the ledger's notes.
    """
    scan = _Scanner(lines, "api-page")
    text, n = scan.text, len(scan.text)
    pos = scan.skip(text.index("{") + 1)
    envelope: dict[str, Any] = {}
    structure: list[tuple[int, int]] = []  # character ranges that are envelope, not events
    begin = 0
    while pos < n and text[pos] != "}":
        try:
            key, pos = scan.decoder.raw_decode(text, pos)
            pos = scan.skip(pos)
            if not isinstance(key, str) or text[pos : pos + 1] != ":":
                raise ValueError("a key and ':' were expected")
            pos = scan.skip(pos + 1)
            if key == "data" and text[pos : pos + 1] == "[":
                structure.append((begin, pos + 1))
                pos, closed = scan.elements(pos + 1)
                begin = max(pos - 1, 0)
                envelope["data"] = closed
            else:
                envelope[key], pos = scan.decoder.raw_decode(text, pos)
        except ValueError as exc:
            reason = getattr(exc, "msg", str(exc))
            scan.quarantine(pos, n, f"the API page is not valid JSON here ({reason}); it may be truncated")
            pos = n
            break
        pos = scan.skip(pos, " \t\r\n,")
    if pos < n:
        pos += 1  # the closing brace
        rest = text[pos:]
        if rest.strip():
            scan.quarantine(pos + (len(rest) - len(rest.lstrip())), n, "text after the end of the API page")
    structure.append((begin, pos))
    records = scan.records
    records.envelope_lines = {
        line + 1 for lo, hi in structure for line in range(scan.line_index(lo), scan.line_index(max(lo, hi - 1)) + 1)
    }
    shown = {k: v for k, v in envelope.items() if k != "data"}
    note = "events read from the 'data' array of a saved API page; the envelope's lines are counted as blank"
    if shown:
        note += " (" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in shown.items()) + ")"
    if envelope.get("has_more") is True:
        note += "; the page says more events follow: this file holds one page of a longer result"
    if "data" not in envelope:
        note += "; the page has no 'data' array"
    elif envelope["data"] is False:
        note += "; the 'data' array is cut off (every complete event was loaded)"
    records.notes.append(note)
    return records


def _csv_records(lines: _Lines) -> _Records:
    """CSV records, which may span lines inside quotes, found by quote parity (vectorised).

    A record whose quote never closes would swallow the rest of the file; instead its
    first line is quarantined and splitting restarts on the next line.
    """
    first = next(i for i, t in enumerate(lines.text) if t.strip())
    header = lines.text[first]
    ncols = pl.select(_csv_field_counts(pl.lit(header))).item()
    records = _Records([], [], [], [], "csv", [], csv_header=header)
    start = first + 1
    while start < lines.count:
        seg = pl.DataFrame({"t": lines.text[start:]}, schema={"t": pl.String})
        if lines.crlf is not None:
            # Inside a quoted value a CR LF is data: put the CR back; the record's own
            # terminator (the CR of its last line) is stripped again after joining.
            seg = seg.with_columns(tj=pl.when(lines.crlf.slice(start)).then(pl.col("t") + "\r").otherwise(pl.col("t")))
        else:
            seg = seg.with_columns(tj=pl.col("t"))
        seg = seg.with_columns(
            i=pl.int_range(start, start + seg.height, dtype=pl.Int64),
            odd=(pl.col("t").str.count_matches('"', literal=True).cum_sum() % 2 == 1),
        )
        seg = seg.with_columns(rec=pl.col("odd").not_().shift(1, fill_value=True).cum_sum())
        grouped = (
            seg.group_by("rec", maintain_order=True)
            .agg(
                first=pl.col("i").first(),
                n=pl.len(),
                text=pl.col("tj").str.join("\n").str.strip_suffix("\r"),
                open=pl.col("odd").last(),
            )
            .with_columns(blank=(pl.col("n") == 1) & (pl.col("text").str.strip_chars().str.len_bytes() == 0))
            .filter(~pl.col("blank"))
            .with_columns(fields=_csv_field_counts(pl.col("text")))
        )
        broken = grouped.filter(pl.col("open") | ((pl.col("n") > 1) & (pl.col("fields") != ncols)))
        stop = int(broken["first"][0]) if broken.height else lines.count
        good = grouped.filter(pl.col("first") < stop)
        records.text.extend(good["text"].to_list())
        records.line.extend((good["first"] + 1).to_list())
        records.offset.extend(pl.Series(lines.offsets, dtype=pl.Int64).gather(good["first"]).to_list())
        records.nlines.extend(good["n"].to_list())
        if not broken.height:
            break
        line = lines.text[stop]
        records.quarantine.append(
            (stop + 1, lines.offsets[stop], 1, "the CSV row has an unterminated quote", line.encode("utf-8"))
        )
        start = stop + 1
    return records


def _csv_field_counts(text: pl.Expr) -> pl.Expr:
    stripped = text.str.replace_all(_CSV_QUOTED, "")
    return stripped.str.count_matches(",", literal=True) + 1


# --------------------------------------------------------------------------- parsing


def _json_flat(records: _Records, spec: RecordSpec) -> tuple[pl.DataFrame, list[QuarantineRow], list[int]]:
    """Parse JSON records; returns (flat frame, quarantined, indices of parsed records)."""
    schema = spec.json_schema()
    keep = list(range(records.count))
    if not keep:
        return pl.DataFrame(schema=schema).select(spec.flatten()), [], keep
    if records.parsed is not None:
        return _without_duplicate_keys(records, records.parsed.select(spec.flatten()))
    try:
        if records.ndjson_bytes is not None:
            whole = pl.read_ndjson(io.BytesIO(records.ndjson_bytes), schema=schema)
        else:
            whole = pl.read_ndjson(io.StringIO(_one_per_line(records.text)), schema=schema)
        if whole.height == len(keep):
            return _without_duplicate_keys(records, whole.select(spec.flatten()))
    except (pl.exceptions.PolarsError, OSError):
        pass
    records.materialise()
    # Slow path: find the records that break the one-call parse, then parse the rest at once.
    bad: list[QuarantineRow] = []
    keep = []
    for i, text in enumerate(records.text):
        reason = _json_problem(text, spec)
        if reason is None:
            keep.append(i)
        else:
            bad.append(_qrow(records, i, reason))
    texts = [records.text[i] for i in keep]
    frame: pl.DataFrame | None = None
    try:
        if texts:
            frame = pl.read_ndjson(io.StringIO(_one_per_line(texts)), schema=schema)
    except pl.exceptions.PolarsError:
        survivors = []
        frames = []
        for i in keep:
            try:
                frames.append(pl.read_ndjson(io.StringIO(_one_per_line([records.text[i]])), schema=schema))
                survivors.append(i)
            except pl.exceptions.PolarsError as exc:
                first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                bad.append(_qrow(records, i, f"the record does not fit the {spec.format} format ({first_line})"))
        keep = survivors
        frame = pl.concat(frames) if frames else None
    if frame is None:
        frame = pl.DataFrame(schema=schema)
    if frame.height != len(keep):  # pragma: no cover - would mean Polars skipped a record
        raise AssertionError(f"parsed {frame.height} records but expected {len(keep)}")
    return frame.select(spec.flatten()), bad, keep


def _without_duplicate_keys(
    records: _Records, flat: pl.DataFrame
) -> tuple[pl.DataFrame, list[QuarantineRow], list[int]]:
    """The one-call parse's rows less the records that name a key twice, which are quarantined."""
    found = records.duplicate_keys.result() if records.duplicate_keys is not None else []
    keep = list(range(records.count))
    if not found:
        return flat, [], keep
    records.materialise()
    bad = [_qrow(records, i, reason) for i, reason in found]
    mask = np.ones(records.count, dtype=bool)
    mask[[i for i, _ in found]] = False
    return flat.filter(pl.Series(mask)), bad, [i for i in keep if mask[i]]


def _fast_parse(records: _Records, spec: RecordSpec) -> pl.DataFrame | None:
    try:
        frame = pl.read_ndjson(io.StringIO("\n".join(records.text)), schema=spec.json_schema())
    except pl.exceptions.PolarsError:
        return None
    return frame if frame.height == len(records.text) else None


def _one_per_line(texts: list[str]) -> str:
    # Raw newlines are JSON whitespace outside strings and illegal inside them,
    # so a pretty-printed element becomes one NDJSON line by replacing them.
    return "\n".join(t.replace("\r", " ").replace("\n", " ") for t in texts)


def _json_problem(text: str, spec: RecordSpec) -> str | None:
    try:
        value = loads_keeping_duplicates(text)
    except json.JSONDecodeError as exc:
        return f"the record is not valid JSON ({exc.msg}, character {exc.pos + 1}); it may be truncated"
    except RecursionError:
        return "the record is nested too deeply to be JSON we can read"
    duplicated = duplicate_key_reason(value)
    if duplicated:
        return duplicated
    if not isinstance(value, dict):
        return f"the record is a JSON {_json_type(value)}, not an object"
    for f in spec.fields:
        parent: object = value
        for depth, key in enumerate(f.path):
            if parent is None:
                break
            if not isinstance(parent, dict):
                return f"'{'.'.join(f.path[:depth])}' must be an object, got a JSON {_json_type(parent)}"
            parent = parent.get(key)
        if parent is None:
            continue
        if f.kind == "list":
            if not isinstance(parent, list) or any(isinstance(v, dict | list) for v in parent):
                return f"'{'.'.join(f.path)}' must be a list of strings, got {_short(parent)}"
        elif f.kind == "str" and isinstance(parent, dict | list):
            return f"'{'.'.join(f.path)}' must be a single value, got a JSON {_json_type(parent)}"
    return None


def _json_type(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}.get(
        type(value), "null"
    )


def _short(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _qrow(records: _Records, i: int, reason: str) -> QuarantineRow:
    return (records.line[i], records.offset[i], records.nlines[i], reason, records.text[i].encode("utf-8"))


def _csv_flat(records: _Records, spec: RecordSpec) -> tuple[pl.DataFrame, list[QuarantineRow], list[int]]:
    assert records.csv_header is not None
    header = [h.strip() for h in pl.read_csv(io.StringIO(records.csv_header + "\n"), infer_schema=False).columns]
    ncols = len(header)
    counts = (
        pl.DataFrame({"t": records.text}, schema={"t": pl.String})
        .select(_csv_field_counts(pl.col("t")))
        .to_series()
        .to_list()
    )
    bad: list[QuarantineRow] = []
    keep = []
    for i, count in enumerate(counts):
        if count == ncols:
            keep.append(i)
        else:
            few = "too few" if count < ncols else "too many"
            bad.append(_qrow(records, i, f"the CSV row has {few} fields ({count}, the header has {ncols})"))
    frame = _read_csv_rows(records, keep, header, bad)
    by_header = {f.csv: f for f in spec.fields}
    exprs = []
    for f in spec.fields:
        if f.csv in frame.columns:
            # Undo the spreadsheet-safety prefix of our own CSV exports (csvsafe): one leading
            # "'" before quotes-then-formula-trigger is dropped; ``raw`` keeps the line as read.
            exprs.append(restore_expr(pl.col(f.csv)).alias(f.name))
        else:
            exprs.append(pl.lit(None, dtype=pl.String).alias(f.name))
    del by_header
    flat = frame.select(exprs) if frame.width else pl.DataFrame({f.name: [] for f in spec.fields})
    return flat.cast({f.name: pl.String for f in spec.fields}), bad, keep


def _read_csv_rows(records: _Records, keep: list[int], header: list[str], bad: list[QuarantineRow]) -> pl.DataFrame:
    schema = {name: pl.String() for name in _unique(header)}

    def read(texts: list[str]) -> pl.DataFrame:
        body = "\n".join(texts) + "\n"
        return pl.read_csv(io.StringIO(body), has_header=False, new_columns=list(schema), schema=schema, quote_char='"')

    if not keep:
        return pl.DataFrame(schema=schema)
    try:
        frame = read([records.text[i] for i in keep])
        if frame.height == len(keep):
            return frame
    except pl.exceptions.PolarsError:
        pass
    frames = []
    survivors = []
    for i in keep:
        try:
            one = read([records.text[i]])
        except pl.exceptions.PolarsError as exc:
            bad.append(_qrow(records, i, f"the CSV row cannot be parsed ({str(exc).strip().splitlines()[0]})"))
            continue
        if one.height != 1:
            bad.append(_qrow(records, i, "the CSV row cannot be parsed as one record"))
            continue
        frames.append(one)
        survivors.append(i)
    keep[:] = survivors
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        if name in seen:
            seen[name] += 1
            out.append(f"{name}__{seen[name]}")
        else:
            seen[name] = 0
            out.append(name)
    return out


def _normalise_fields(flat: pl.DataFrame, spec: RecordSpec, layout: str, raw: pl.Series) -> pl.DataFrame:
    """Free-form values become RFC 8785 canonical JSON text; CSV list cells become lists.

    Canonical text makes a JSON export and a CSV export of the same event compare equal
    (key order differs between them). For JSON layouts most values are proved canonical
    by Polars expressions (:func:`_canonical_json_column`); the Python work is for the
    rest only. For CSV it is per *distinct* cell value. ``raw`` is each row's record text.
    """
    exprs: list[pl.Expr | pl.Series] = []
    errors = []
    for f in spec.fields:
        col = pl.col(f.name)
        if f.kind == "json":
            column = flat.get_column(f.name)
            if layout == "csv":
                values = column.drop_nulls().unique().to_list()
                mapping = {v: _canonical_json(v, from_csv=True) for v in values}
                # Series.replace_strict: the expression form re-materialises the mapping (10x slower).
                column = column.replace_strict(mapping, default=None, return_dtype=pl.String)
            else:
                column = _canonical_json_column(column, raw, f.path)
            exprs.append(column.alias(f.name))
        elif f.kind == "list" and layout == "csv":
            text = col.str.strip_chars()
            empty = col.is_null() | (text == "") | (text == "null")
            ok = text.str.contains(_STRING_LIST)
            exprs.append(pl.when(ok).then(text).otherwise(None).str.json_decode(pl.List(pl.String())).alias(f.name))
            errors.append(
                pl.when(~empty & ~ok.fill_null(False)).then(
                    pl.format("'{}' must be a JSON array of strings, got {}", pl.lit(f.csv), text.str.slice(0, 60))
                )
            )
    reason = pl.coalesce(errors) if errors else pl.lit(None, dtype=pl.String)
    # One with_columns: the reasons must see the cells before they are decoded.
    return flat.with_columns(*exprs, reason.cast(pl.String).alias("_field_error"))


# What ``pl.read_ndjson`` writes for a nested value read as text: ``{"k": v, "k2": v2}``
# (", " and ": " separators, keys in source order). It is only faithful for strings
# without quotes, backslashes or control characters (it escapes none of them reliably,
# and writes a lone surrogate as NUL), so those, like everything outside this small
# grammar, take the exact path. Integers: at most 15 digits (inside RFC 8785's 2**53),
# never "-0"; Polars writes every other number (floats, huge integers) with a "." or
# more digits. Keys: no character outside the Basic Multilingual Plane (RFC 8785 sorts
# by UTF-16 code units; for such keys the order differs from Polars' code-point order).
_PJ_STRING = r'"[^"\\\x00-\x1f\x{FFFD}]*"'
_PJ_KEY = r'"[^"\\\x00-\x1f\x{FFFD}\x{10000}-\x{10FFFF}]*"'
_PJ_SCALAR = rf"(?:{_PJ_STRING}|0|-?[1-9][0-9]{{0,14}}|true|false|null)"
_PJ_ARRAY = rf"\[(?:{_PJ_SCALAR}(?:, {_PJ_SCALAR})*)?\]"
_PJ_VALUE = rf"(?:{_PJ_SCALAR}|{_PJ_ARRAY})"
_PJ_OBJECT = rf"\{{(?:{_PJ_KEY}: {_PJ_VALUE}(?:, {_PJ_KEY}: {_PJ_VALUE})*)?\}}"
_PJ_SIMPLE = rf"^(?:{_PJ_OBJECT}|{_PJ_ARRAY})$"


def _canonical_json_column(column: pl.Series, raw: pl.Series, path: tuple[str, ...]) -> pl.Series:
    """A free-form JSON field of a JSON layout as RFC 8785 text, in Polars where that is provable.

    A value inside the grammar above (an object of scalars or lists of scalars, or a list
    of scalars; no escapes) is RFC 8785 once Polars' separators are made compact, if its
    keys are strictly ascending: checked as expressions. Polars hands a JSON *string*
    over as its bare content, so a string that merely looks like an object must not pass:
    a record whose raw text has the field's key (also spelled with ``\\u`` escapes) followed
    by a string (``"before": "``) takes the exact path too. The exact path
    parses the record's ``raw`` text with ``json`` and writes the value with
    :func:`canonical_json_lenient` (nested objects, floats, escapes, duplicate or unsorted
    keys, strings), because Polars' own text for such values can be lossy.
    """
    present = column.is_not_null().arg_true()
    if not len(present):
        return column
    values = column.gather(present)
    raws = raw.gather(present)
    simple = values.str.contains(_PJ_SIMPLE) & ~raws.str.contains(_key_then_string(path[-1], escapes=False))
    escaped = raws.str.contains("\\u", literal=True).arg_true()  # the (slower) spelled-out key only there
    if len(escaped):
        spelled = raws.gather(escaped).str.contains(_key_then_string(path[-1], escapes=True))
        simple = simple.scatter(escaped, simple.gather(escaped) & ~spelled)
    # Inside the grammar strings hold no quote, so '": ' always ends a key, and outside
    # strings a ", " separates; inside a string ", " is data. A string token is '"[^"]*"'.
    compact = values.str.replace_all('": ', '":', literal=True)
    commas = compact.str.contains(", ", literal=True).arg_true()
    if len(commas):
        spaced = compact.gather(commas).str.replace_all(r'("[^"]*")|(,) ', "${1}${2}")
        compact = compact.scatter(commas, spaced)
    keys = (
        pl.DataFrame({"row": pl.int_range(len(values), eager=True), "t": compact})
        .filter(simple & values.str.starts_with("{") & values.str.contains(",", literal=True))
        .select("row", key=pl.col("t").str.extract_all(r'"[^"]*":?'))
        .explode("key")
        .filter(pl.col("key").str.ends_with('":'))
        .with_columns(pl.col("key").str.slice(1).str.strip_suffix('":'))
        .with_columns(ascending=(pl.col("key") > pl.col("key").shift(1)) | (pl.col("row") != pl.col("row").shift(1)))
    )
    unsorted = keys.filter(~pl.col("ascending").fill_null(True)).get_column("row").unique()
    simple = simple.scatter(unsorted, False) if len(unsorted) else simple
    out = pl.select(pl.when(simple).then(compact)).to_series()
    exact = (~simple).arg_true()
    if len(exact):
        texts = values.gather(exact).to_list()
        records = raws.gather(exact).to_list()
        out = out.scatter(exact, [_canonical_from_raw(r, t, path) for r, t in zip(records, texts, strict=True)])
    return column.scatter(present, out)


def _key_then_string(key: str, *, escapes: bool) -> str:
    """A regex for ``"key": "`` in raw JSON text; with ``escapes``, any character of the key may be ``\\uXXXX``."""
    if not escapes:
        return rf'"{re.escape(key)}"\s*:\s*"'
    spelled = "".join(f"(?:{re.escape(c)}|\\\\u(?i:{ord(c):04x}))" for c in key)
    return rf'"{spelled}"\s*:\s*"'


def _canonical_from_raw(raw: str, text: str, path: tuple[str, ...]) -> str | None:
    """The field at ``path`` of the record ``raw``, as canonical JSON (``text``: what Polars read)."""
    try:
        value: Any = json.loads(raw)
        for key in path:
            value = value[key]
    except (ValueError, TypeError, KeyError, RecursionError):
        return _canonical_json(text, from_csv=False)
    return None if value is None else canonical_json_lenient(value)


_JSON_SCALAR = re.compile(r"^(?:true|false|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)$")


def _canonical_json(value: str, *, from_csv: bool) -> str | None:
    """One free-form value as canonical JSON text (RFC 8785; sorted compact JSON where it has none).

    From CSV the cell holds JSON text ("null" or empty is null; text that is not JSON is
    kept as a JSON string). From JSON, Polars hands objects and arrays over as JSON text
    and scalars as their bare text: a bare ``true``/number is read back as JSON, anything
    else is a JSON string.
    """
    stripped = value.strip()
    if from_csv and stripped in ("", "null"):
        return None
    parsed: Any = value
    if from_csv or stripped.startswith(("{", "[")) or _JSON_SCALAR.match(stripped):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            parsed = value
    return canonical_json_lenient(parsed)


# --------------------------------------------------------------------------- entry points


def parse_bytes(data: bytes, path: str, spec: RecordSpec) -> ParsedFile:
    """Parse one decompressed file of this format; every line is loaded, quarantined or blank."""
    lines = _split_lines(data)
    csv_headers = {f.csv for f in spec.fields}
    layout = _layout(lines, csv_headers)
    if layout == "ndjson":
        clean = not lines.bad_utf8 and not data.startswith(b"\xef\xbb\xbf")
        records = _ndjson_records(lines, data if clean else None)
    elif layout == "json-array":
        line_records = _array_line_records(lines)
        if line_records is not None:
            line_records.parsed = _fast_parse(line_records, spec)
        # One element per line parsed in one call; anything else is walked element by element.
        records = (
            line_records if line_records is not None and line_records.parsed is not None else _array_scan_records(lines)
        )
    elif layout == "api-page":
        records = _api_page_records(lines)
    elif layout == "csv":
        records = _csv_records(lines)
    else:
        records = _Records([], [], [], [], "text", [])
        for i, t in enumerate(lines.text):
            if t.strip():
                records.quarantine.append(
                    (
                        i + 1,
                        lines.offsets[i],
                        1,
                        f"the line is not a {spec.format} record (not JSON or CSV)",
                        t.encode(),
                    )
                )
    records.quarantine[:0] = lines.bad_utf8
    events, quarantine = parse_records(records, spec, path)
    return _account(lines, records, events, quarantine, path, spec)


def parse_records(records: _Records, spec: RecordSpec, path: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Candidate records to (canonical events, working quarantine frame)."""
    if records.layout == "csv":
        flat, bad, keep = _csv_flat(records, spec)
    elif records.layout == "text":
        flat, bad, keep = (
            pl.DataFrame(
                {f.name: [] for f in spec.fields},
                schema={f.name: pl.List(pl.String) if f.kind == "list" else pl.String for f in spec.fields},
            ),
            [],
            [],
        )
    else:
        flat, bad, keep = _json_flat(records, spec)
    prov_schema = {"raw": pl.String, "source_line": pl.Int64, "source_offset": pl.Int64, "_nlines": pl.Int64}
    if records.frame is not None and len(keep) == records.frame.height:
        prov = records.frame
    else:
        prov = pl.DataFrame(
            {
                "raw": [records.text[i] for i in keep],
                "source_line": [records.line[i] for i in keep],
                "source_offset": [records.offset[i] for i in keep],
                "_nlines": [records.nlines[i] for i in keep],
            },
            schema=prov_schema,
        )
    flat = _normalise_fields(flat, spec, records.layout, prov.get_column("raw"))
    timestamp, kind = normalise_timestamps(flat.get_column(spec.timestamp_field))
    flat = flat.with_columns(timestamp.alias("_ts"), kind.alias("_ts_kind"))
    mapped = (
        spec.to_events(pl.concat([flat, prov], how="horizontal").lazy())
        .with_columns(pl.lit(path).alias("source_file"))
        .collect()
    )
    if mapped.get_column("_reason").null_count() == mapped.height:
        # Nothing rejected: no filter, so the (large) raw column is not copied.
        rejected = mapped.clear()
        events = mapped.select([*EVENT_SCHEMA, "_nlines"])
    else:
        rejected = mapped.filter(pl.col("_reason").is_not_null())
        events = mapped.filter(pl.col("_reason").is_null()).select([*EVENT_SCHEMA, "_nlines"])
    work = pl.concat(
        [
            quarantine_frame(records.quarantine + bad),
            rejected.select(
                "source_line",
                "source_offset",
                "_nlines",
                pl.col("_reason").alias("reason"),
                pl.col("raw").cast(pl.Binary),
            ),
        ]
    )
    return events, work


def _covered_lines(frame: pl.DataFrame) -> np.ndarray:
    """The 1-based line numbers a frame's records cover (``source_line`` + ``_nlines``)."""
    if not frame.height:
        return np.zeros(0, dtype=np.int64)
    if frame.get_column("_nlines").max() == 1:
        return frame.get_column("source_line").to_numpy()
    spans = pl.int_ranges(pl.col("source_line"), pl.col("source_line") + pl.col("_nlines"))
    return frame.select(spans.explode()).to_series().to_numpy()


def _account(
    lines: _Lines, records: _Records, events: pl.DataFrame, work: pl.DataFrame, path: str, spec: RecordSpec
) -> ParsedFile:
    """Count each physical line once: quarantined if any bad record touches it, else loaded, else blank."""
    n = lines.count
    status = np.zeros(n + 1, dtype=np.int8)  # by 1-based line: 0 blank, 1 loaded, 2 quarantined
    status[_covered_lines(events)] = 1
    status[_covered_lines(work)] = 2
    status[[row[0] for row in lines.bad_utf8]] = 2
    counts = np.bincount(status[1:], minlength=3)
    blank, loaded_only, quarantined = (int(c) for c in counts)
    # Independent check: every line that no record covers must carry no content.
    unclaimed = status[1:] == 0
    if records.envelope_lines:
        envelope = np.zeros(n + 1, dtype=bool)
        envelope[sorted(records.envelope_lines)] = True
        unclaimed &= ~envelope[1:]  # an API page's envelope keys are structure, like array brackets
    uncovered = lines.series.filter(pl.Series(unclaimed))
    if records.csv_header is not None:
        uncovered = uncovered.filter(uncovered != records.csv_header)
    with_content = int(uncovered.str.contains(r"^[\[\],\s]*$").not_().sum()) if len(uncovered) else 0
    notes = list(records.notes)
    if records.layout == "csv":
        notes.append("the CSV header line is counted as blank")
    if records.layout == "json-array":
        notes.append("lines holding only array brackets or commas are counted as blank")
    if blank + loaded_only + quarantined != n or with_content:
        raise AssertionError(
            f"{path}: line accounting is broken ({n} read, {loaded_only} loaded, {quarantined} quarantined, "
            f"{with_content} lines with content unaccounted for); this is a bug in auditreports, please report it"
        )
    return ParsedFile(
        events=events.drop("_nlines"),
        quarantine=finish_quarantine(work.drop("_nlines"), source_file=path, format=spec.format)
        if work.height
        else finish_quarantine(empty_work().drop("_nlines"), source_file=path, format=spec.format),
        lines_read=lines.count,
        blank_lines=blank,
        loaded_lines=loaded_only,
        quarantined_lines=quarantined,
        layout=records.layout,
        notes=notes,
    )
