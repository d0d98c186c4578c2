"""Duplicates and id conflicts: the same event exported twice is one event.

Exports overlap (a daily export and a monthly one, a re-fetched API page), so the
same event arrives more than once. Two rows are the *same event* when they have the
same ``event_id`` and the same payload: every canonical column except where the row
was read from (file, line, offset, raw text) and its flags. Those are kept once.
Same id with a different payload is not a duplicate but a conflict, which may be
tampering or a broken exporter: every version is kept and flagged ``id_conflict``.
"""

from __future__ import annotations

import polars as pl

from ..schema import EVENT_SCHEMA

__all__ = ["PAYLOAD_COLUMNS", "dedupe_events", "payload_hash"]

PAYLOAD_COLUMNS = tuple(
    name for name in EVENT_SCHEMA if name not in {"source_file", "source_line", "source_offset", "raw", "flags"}
)


def payload_hash() -> pl.Expr:
    """A hash of the payload columns; compared only within one process, never stored."""
    return pl.struct([pl.col(name) for name in PAYLOAD_COLUMNS]).hash(seed=0)


def add_flag(flag: str, condition: pl.Expr) -> pl.Expr:
    flags = pl.col("flags")
    return (
        pl.when(condition & ~flags.list.contains(flag))
        .then(pl.concat_list([flags, pl.lit([flag], dtype=pl.List(pl.String))]))
        .otherwise(flags)
        .alias("flags")
    )


def dedupe_events(events: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(kept, per_file)``: identical duplicates dropped (first kept), conflicts flagged.

    ``per_file`` has ``source_file``, ``duplicates`` (rows of that file dropped as an
    identical copy) and ``conflicts`` (kept rows of that file flagged ``id_conflict``).
    """
    if not events.height or not bool(events.get_column("event_id").is_duplicated().any()):
        # Every id is unique: nothing to compare, and no payload hashing to pay for.
        files = events.get_column("source_file").unique(maintain_order=True)
        zeros = pl.Series([0] * len(files), dtype=pl.Int64)
        return events, pl.DataFrame({"source_file": files, "duplicates": zeros, "conflicts": zeros})
    marked = events.with_columns(_payload=payload_hash()).with_columns(
        _dup=~pl.struct("event_id", "_payload").is_first_distinct(),
        _conflict=pl.col("_payload").n_unique().over("event_id") > 1,
    )
    per_file = marked.group_by("source_file").agg(
        duplicates=pl.col("_dup").sum().cast(pl.Int64),
        conflicts=(pl.col("_conflict") & ~pl.col("_dup")).sum().cast(pl.Int64),
    )
    kept = (
        marked.filter(~pl.col("_dup"))
        .with_columns(add_flag("id_conflict", pl.col("_conflict")))
        .drop("_payload", "_dup", "_conflict")
    )
    return kept, per_file
