"""Split a vendor file into records, accounting for every physical line.

Vendors ship audit logs in three containers: NDJSON (one record a line: Okta,
GitHub and Slack streams, Logstash-shipped CloudTrail), a JSON array (API pages
saved to disk), and an envelope object holding an array (CloudTrail's S3
delivery ``{"Records": [...]}``). Whatever the container, the loader promises
``lines_read == loaded + quarantined + blank``, so this module hands back each
record's text with its first line, byte offset and the number of physical lines
it owns, plus what could not be split into records (quarantine candidates).

NDJSON is split without a per-line Python loop; containers are walked record by
record with ``json.JSONDecoder.raw_decode`` (C speed), which also lets a file
with a missing comma between records (a real upstream CloudTrail export) load
the records that are intact while the defect is reported, not hidden.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import polars as pl

__all__ = ["BadBlock", "SplitFile", "split_records"]

_BOM = b"\xef\xbb\xbf"
_DECODER = json.JSONDecoder()
_WS = re.compile(r"[ \t\r\n]*")


@dataclass(frozen=True)
class BadBlock:
    """Bytes that could not be read as records: quarantined as one entry."""

    line: int  # 1-based first line
    offset: int  # byte offset in the (decompressed) file
    raw: bytes
    lines: int  # physical lines it owns
    reason: str


@dataclass
class SplitFile:
    """A file cut into record texts (``records`` columns: text, line, offset, lines)."""

    records: pl.DataFrame
    bad: list[BadBlock]
    lines_read: int
    blank_lines: int
    framing_lines: int  # non-blank container lines (``{"Records": [``, ``]``) outside any record
    layout: str
    notes: list[str] = field(default_factory=list)


def _count_lines(data: bytes) -> int:
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def _empty_records() -> pl.DataFrame:
    return pl.DataFrame(schema={"text": pl.String, "line": pl.Int64, "offset": pl.Int64, "lines": pl.Int64})


def split_records(data: bytes, envelope_keys: tuple[str, ...] = ("Records",)) -> SplitFile:
    """Cut ``data`` into records; the container is recognised from the first bytes."""
    bom = len(_BOM) if data.startswith(_BOM) else 0
    start = bom + len(data[bom:]) - len(data[bom:].lstrip())
    first = data[start : start + 1]
    if first == b"[":
        split = _split_container(data, bom, envelope_keys, array_at=start)
        if split is not None:
            return split
    if first == b"{":
        first_line_end = data.find(b"\n", start)
        first_line = data[start:] if first_line_end < 0 else data[start:first_line_end]
        try:
            head = json.loads(first_line)
        except (ValueError, UnicodeDecodeError):
            head = None
        if not isinstance(head, dict) or any(isinstance(head.get(k), list) for k in envelope_keys):
            # A pretty-printed object (an envelope, or one record): walk it as a container.
            split = _split_container(data, bom, envelope_keys, array_at=None)
            if split is not None:
                return split
    return _split_ndjson(data, bom)


def _split_ndjson(data: bytes, bom: int) -> SplitFile:
    body = data[:-1] if data.endswith(b"\n") else data
    parts = body.split(b"\n") if data else []
    lengths = pl.Series("len", [len(p) + 1 for p in parts], dtype=pl.Int64)
    offsets = (lengths.cum_sum() - lengths).alias("offset")
    if bom and parts:
        parts[0] = parts[0][bom:]
    raw = pl.Series("raw", parts, dtype=pl.Binary)
    if bom and parts:
        offsets = offsets + pl.Series([bom] + [0] * (len(parts) - 1), dtype=pl.Int64)
    frame = pl.DataFrame([raw, offsets]).with_columns(line=pl.int_range(1, pl.len() + 1, dtype=pl.Int64))
    # Strip a trailing CR (CRLF files) from the record text, not from the raw bytes.
    try:
        text = frame["raw"].cast(pl.String)
    except pl.exceptions.ComputeError:
        text = pl.Series("raw", [_utf8_or_none(p) for p in frame["raw"].to_list()], dtype=pl.String)
    frame = frame.with_columns(text=text.str.strip_suffix("\r"))
    bad: list[BadBlock] = []
    invalid = frame.filter(pl.col("text").is_null())
    for row in invalid.iter_rows(named=True):  # only lines that are not UTF-8: rare
        bad.append(BadBlock(row["line"], row["offset"], row["raw"], 1, "the line is not valid UTF-8 text"))
    frame = frame.filter(pl.col("text").is_not_null())
    is_blank = pl.col("text").str.strip_chars().str.len_bytes() == 0
    blank = frame.filter(is_blank).height
    records = frame.filter(~is_blank).select("text", "line", "offset", lines=pl.lit(1, dtype=pl.Int64))
    return SplitFile(records, bad, lines_read=len(parts), blank_lines=blank, framing_lines=0, layout="ndjson")


def _utf8_or_none(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


class _LineMap:
    """Character position -> (1-based line, byte offset) for a decoded file."""

    def __init__(self, text: str, bom: int) -> None:
        self.text = text
        self.bom = bom
        self._pos = 0
        self._byte = bom
        self._line = 1

    def at(self, pos: int) -> tuple[int, int]:
        if pos < self._pos:  # positions are visited in order; restart if not
            self._pos, self._byte, self._line = 0, self.bom, 1
        chunk = self.text[self._pos : pos]
        self._byte += len(chunk.encode("utf-8"))
        self._line += chunk.count("\n")
        self._pos = pos
        return self._line, self._byte


def _split_container(data: bytes, bom: int, envelope_keys: tuple[str, ...], array_at: int | None) -> SplitFile | None:
    try:
        text = data[bom:].decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines_read = _count_lines(data)
    notes: list[str] = []
    lm = _LineMap(text, bom)
    if array_at is not None:
        pos = array_at - bom + 1
        layout = "json-array"
    else:
        key_pattern = "|".join(re.escape(k) for k in envelope_keys)
        m = re.match(r'\s*\{\s*"(' + key_pattern + r')"\s*:\s*\[', text)
        if m is None:
            m = re.search(r'"(' + key_pattern + r')"\s*:\s*\[', text)
        if m is None:
            return _single_object(data, text, bom, lines_read)
        pos = m.end()
        layout = "json-object"
        notes.append(f"records read from the {m.group(1)!r} array of a JSON envelope object")
    spans: list[tuple[int, int]] = []  # (start, end) character positions of records
    bad: list[BadBlock] = []
    closed = False
    while True:
        pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
        if pos >= len(text):
            break
        ch = text[pos]
        if ch == "]":
            closed = True
            pos += 1
            break
        if ch == "," and spans:
            pos += 1
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            if pos < len(text) and text[pos] == "]":
                notes.append("a trailing comma before the closing ']' was ignored (not valid JSON)")
                continue
        elif spans:
            line, _ = lm.at(pos)
            notes.append(
                f"the file is not valid JSON: a ',' is missing between two records at line {line}; "
                "the records on both sides decode on their own and were loaded"
            )
        try:
            _, end = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            line, offset = lm.at(pos)
            raw = text[pos:].encode("utf-8")
            bad.append(
                BadBlock(
                    line,
                    offset,
                    raw,
                    _count_lines(raw),
                    f"the record starting here is not valid JSON ({exc.msg} at line {exc.lineno + line - 1}); "
                    "the rest of the file cannot be split into records",
                )
            )
            pos = len(text)
            break
        spans.append((pos, end))
        pos = end
    if not closed and not bad:
        notes.append("the file ends before the record array is closed (truncated); every complete record was loaded")
    # Anything after the array other than closing brackets is reported, never dropped silently.
    tail_start = pos
    tail = text[tail_start:]
    if tail.strip() and not re.fullmatch(r"[\s}\]]*", tail) and not bad:
        line, offset = lm.at(tail_start)
        raw = tail.encode("utf-8")
        bad.append(BadBlock(line, offset, raw, 0, "unexpected text after the record array"))
    return _assign_lines(data, text, lm, spans, bad, lines_read, layout, notes)


def _single_object(data: bytes, text: str, bom: int, lines_read: int) -> SplitFile | None:
    try:
        _, end = _DECODER.raw_decode(text, len(text) - len(text.lstrip()))
    except json.JSONDecodeError:
        return None
    if text[end:].strip():
        return None
    lm = _LineMap(text, bom)
    start = len(text) - len(text.lstrip())
    return _assign_lines(
        data, text, lm, [(start, end)], [], lines_read, "json-object", ["one JSON object holding one record"]
    )


def _assign_lines(
    data: bytes,
    text: str,
    lm: _LineMap,
    spans: list[tuple[int, int]],
    bad: list[BadBlock],
    lines_read: int,
    layout: str,
    notes: list[str],
) -> SplitFile:
    # Every physical line belongs to the first record touching it; lines touching no record
    # are blank or container framing.
    covered = [False] * (lines_read + 2)
    texts: list[str] = []
    starts: list[int] = []
    offsets: list[int] = []
    owned: list[int] = []
    for s, e in spans:
        first, offset = lm.at(s)
        last = first + text.count("\n", s, e)
        n = 0
        for ln in range(first, last + 1):
            if not covered[ln]:
                covered[ln] = True
                n += 1
        texts.append(text[s:e])
        starts.append(first)
        offsets.append(offset)
        owned.append(n)
    adjusted: list[BadBlock] = []
    for b in bad:
        last = b.line + max(b.lines - 1, 0)
        n = 0
        for ln in range(b.line, min(last, lines_read) + 1):
            if not covered[ln]:
                covered[ln] = True
                n += 1
        adjusted.append(BadBlock(b.line, b.offset, b.raw, n, b.reason))
    blank = framing = 0
    all_lines = data.split(b"\n")
    for ln in range(1, lines_read + 1):
        if not covered[ln]:
            if all_lines[ln - 1].strip(b" \t\r\n" + _BOM):
                framing += 1
            else:
                blank += 1
    records = (
        pl.DataFrame(
            {"text": texts, "line": starts, "offset": offsets, "lines": owned},
            schema={"text": pl.String, "line": pl.Int64, "offset": pl.Int64, "lines": pl.Int64},
        )
        if texts
        else _empty_records()
    )
    if framing:
        notes.append(f"{framing} container line(s) ({layout} brackets and keys) hold no record and count as loaded")
    return SplitFile(records, adjusted, lines_read, blank, framing, layout, notes)
