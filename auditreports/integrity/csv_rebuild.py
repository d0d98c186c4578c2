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


def rebuild_csv_content(ordered: pl.DataFrame) -> tuple[pl.Series | None, str | None]:
    """(``checkable``, reason): rows whose content can be proven; a reason when some CSV rows cannot.

    ``checkable`` is False for CSV rows (their content is decided here, not by the
    JSON hash path) and None when there is no CSV row at all.
    """
    is_csv = ordered.select(~pl.col("raw").str.strip_chars_start().str.starts_with("{").fill_null(True)).to_series()
    if not is_csv.any():
        return None, None
    rows = ordered.filter(is_csv).select("source_file", "raw", "hash")
    headers: dict[str | None, list[str] | None] = {}
    unproven = 0
    for source_file, raw, stored in rows.iter_rows():
        if source_file not in headers:
            headers[source_file] = _header(source_file)
        header = headers[source_file]
        record = _rebuild(header, raw) if header else None
        if record is None:
            unproven += 1
            continue
        record.pop("hash", None)
        try:
            digest = hashlib.sha256(rfc8785.dumps(record)).hexdigest()
        except (rfc8785.CanonicalizationError, ValueError, TypeError):
            unproven += 1
            continue
        if digest != stored:
            unproven += 1
    reason = None
    if unproven:
        reason = (
            f"{unproven} of {rows.height} CSV row(s) could not be rebuilt into the exact JSON record they were hashed "
            "from (CSV cells lose types and nulls): their content is unverified, their links were checked"
        )
    return ~is_csv, reason
