"""CSV exports of a chained log: rebuilding the JSON record each row was cut from.

A CSV export flattens the record (dotted headers ``actor.id``, ``details.before`` as
JSON text), so the hash can only be recomputed by rebuilding the JSON event. That is
exact when every cell's type is recoverable: ``sequence`` and
``details.record_count`` are integers, ``details.before/after/subject_ids`` JSON, an
empty cell null. Where the rebuilt record does not reproduce the stored hash the
row is not called *modified* - an empty string and a null, or ``"5"`` and ``5``, look
the same in CSV - but counted as unverifiable, which makes the chain check PARTIAL.
Links (``prev_hash`` against the previous row's ``hash``) are checked as for JSON.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from typing import Any

import polars as pl
import rfc8785

__all__ = ["rebuild_csv_content"]

_INTEGER = {"sequence", "details.record_count"}
_JSON = {"details.before", "details.after", "details.subject_ids"}


def _header(path: str | None) -> list[str] | None:
    if not path:
        return None
    try:
        from ..sources._io import read_input

        data = read_input(path).data
    except Exception:  # the file is gone or unreadable: the rows stay unverifiable
        return None
    first = data.split(b"\n", 1)[0].decode("utf-8", "replace").strip("\r")
    return next(csv.reader([first]))


def _value(name: str, cell: str) -> Any:
    if cell == "":
        return None
    if name in _INTEGER:
        try:
            return int(cell)
        except ValueError:
            return cell
    if name in _JSON:
        try:
            return json.loads(cell)
        except ValueError:
            return cell
    return cell


def _rebuild(header: list[str], row_text: str) -> dict[str, Any] | None:
    cells = next(csv.reader(io.StringIO(row_text)), None)
    if cells is None or len(cells) != len(header):
        return None
    record: dict[str, Any] = {}
    for name, cell in zip(header, cells, strict=True):
        target = record
        parts = name.strip().split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = _value(name.strip(), cell)
    return record


def _digest(record: dict[str, Any], stored: str | None) -> str | None:
    """SHA-256 of the record's RFC 8785 form without "hash".

    ``json.dumps`` with sorted keys and no whitespace is RFC 8785 for records without
    floats (CSV cells rebuild to strings, integers, lists and nulls) and 20x faster,
    so it is tried first; ``rfc8785`` decides whenever that does not match.
    """
    record = {k: v for k, v in record.items() if k != "hash"}
    quick = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8", "surrogatepass"
    )
    digest = hashlib.sha256(quick).hexdigest()
    if digest == stored:
        return digest
    try:
        return hashlib.sha256(rfc8785.dumps(record)).hexdigest()
    except (rfc8785.CanonicalizationError, ValueError, TypeError):
        return None


def _empty_strings(record: dict[str, Any], header: list[str], row_text: str) -> dict[str, Any]:
    """The other reading of empty cells: "" instead of null (for text columns only)."""
    cells = next(csv.reader(io.StringIO(row_text)))
    out = json.loads(json.dumps(record))
    for name, cell in zip(header, cells, strict=True):
        name = name.strip()
        if cell == "" and name not in _INTEGER and name not in _JSON:
            target = out
            parts = name.split(".")
            for part in parts[:-1]:
                target = target[part]
            target[parts[-1]] = ""
    return out


def rebuild_csv_content(ordered: pl.DataFrame) -> tuple[pl.Series | None, dict[int, str], str | None]:
    """Content of the CSV rows of a chained source: (``not_csv``, modified rows, reason some rows are unverified).

    ``not_csv`` marks the rows the JSON hash path checks (None when there is no CSV
    row). A row whose rebuilt record does not reproduce its hash under either reading
    of empty cells is *modified* when every other CSV row of the source rebuilt
    exactly (the typing rules demonstrably fit this export); otherwise the
    mismatches are counted as unverifiable.
    """
    if ordered.select(pl.col("raw").str.starts_with("{").fill_null(True).all()).item():
        return None, {}, None  # the usual case, decided without copying a million strings
    is_csv = ordered.select(~pl.col("raw").str.contains(r"^\s*\{").fill_null(True)).to_series()
    if not is_csv.any():
        return None, {}, None
    rows = ordered.filter(is_csv).select("position", "source_file", "raw", "hash")
    headers: dict[str | None, list[str] | None] = {}
    unrebuildable = 0
    mismatched: dict[int, str] = {}
    for position, source_file, raw, stored in rows.iter_rows():
        if source_file not in headers:
            headers[source_file] = _header(source_file)
        header = headers[source_file]
        record = _rebuild(header, raw) if header else None
        if record is None or header is None:
            unrebuildable += 1
            continue
        digest = _digest(record, stored)
        if digest == stored:
            continue
        if _digest(_empty_strings(record, header, raw), stored) == stored:
            continue
        mismatched[position] = (
            f"the JSON record rebuilt from the CSV row hashes to {str(digest)[:16]}… but the row stores "
            f"{str(stored)[:16]}… (every other CSV row rebuilt exactly)"
        )
    reasons = []
    if unrebuildable:
        reasons.append(
            f"{unrebuildable} of {rows.height} CSV row(s) cannot be rebuilt into a JSON record (the file or its header "
            "is not readable, or the row does not fit the header): their content is unverified, their links were checked"
        )
    modified: dict[int, str] = {}
    if mismatched and len(mismatched) + unrebuildable < rows.height and not unrebuildable:
        modified = mismatched
    elif mismatched:
        reasons.append(
            f"{len(mismatched)} CSV row(s) do not reproduce their hash when rebuilt, and the export's cell types "
            "cannot be confirmed from the other rows: their content is unverified, their links were checked"
        )
    return ~is_csv, modified, "; ".join(reasons) or None
