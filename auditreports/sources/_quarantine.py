"""Quarantine rows: the records we could not load, kept with everything needed to find them.

A quarantined record is evidence too (a truncated line can be the trace of tampering),
so it keeps the file, the 1-based line of its first line, its byte offset in the
decompressed file, its bytes exactly as read and one sentence saying what is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from ..schema import QUARANTINE_SCHEMA

__all__ = ["QuarantineRow", "finish_quarantine", "quarantine_frame"]

# (line, offset, line_count, reason, raw bytes)
QuarantineRow = tuple[int, int | None, int, str, bytes]

# The working form inside a parser: QUARANTINE_SCHEMA's row facts plus how many lines the record spans.
_WORK_SCHEMA = {
    "source_line": pl.Int64(),
    "source_offset": pl.Int64(),
    "_nlines": pl.Int64(),
    "reason": pl.String(),
    "raw": pl.Binary(),
}


def quarantine_frame(rows: Sequence[QuarantineRow]) -> pl.DataFrame:
    """A working quarantine frame from rows collected by a per-record pass."""
    if not rows:
        return pl.DataFrame(schema=_WORK_SCHEMA)
    line, offset, nlines, reason, raw = zip(*rows, strict=True)
    return pl.DataFrame(
        {"source_line": line, "source_offset": offset, "_nlines": nlines, "reason": reason, "raw": raw},
        schema=_WORK_SCHEMA,
    )


def empty_work() -> pl.DataFrame:
    return pl.DataFrame(schema=_WORK_SCHEMA)


def finish_quarantine(work: pl.DataFrame, *, source_file: str, format: str) -> pl.DataFrame:
    """The public QUARANTINE_SCHEMA frame, ordered by position in the file."""
    return (
        work.sort("source_line", "source_offset", nulls_last=True)
        .with_columns(pl.lit(source_file).alias("source_file"), pl.lit(format).alias("format"))
        .select([pl.col(name).cast(dtype) for name, dtype in QUARANTINE_SCHEMA.items()])
    )
