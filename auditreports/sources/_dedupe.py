"""Duplicates and id conflicts: the same event exported twice is one event.

Exports overlap (a daily export and a monthly one, a re-fetched API page), so the
same event arrives more than once. Two rows are the *same event* only when they have
the same ``event_id`` and the same **payload fingerprint**, which is exact (values are
compared, never hashes):

1. every canonical column except provenance (``source_file``, ``source_line``,
   ``source_offset``, ``raw``) and ``flags`` (timestamps compared to the microsecond); and
2. the part of the original record those columns do not carry: for a JSON record
   (file or API), its RFC 8785 canonical form with the fields the platform format maps
   removed (for a vendor format: the whole record), so whitespace, key order and string
   escapes do not matter but any other difference in any field does; for a CSV row of a
   platform format, nothing (a CSV export carries only the format's columns, which (1)
   already compares), so a JSON export and a CSV export of the same event are one event.

Part (2) needs a JSON parse per row, so it is computed only for rows that share an id
and a part (1) with a row whose raw text differs; byte-identical raw text is identical.
Identical rows are kept once. Same id with a different fingerprint is a conflict, which
may be tampering or a broken exporter: every version is kept and flagged ``id_conflict``.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import polars as pl

from ..schema import EVENT_SCHEMA
from ._canonical import canonical_json_lenient

__all__ = ["PAYLOAD_COLUMNS", "add_flag", "dedupe_events", "fingerprint"]

PAYLOAD_COLUMNS = tuple(
    name for name in EVENT_SCHEMA if name not in {"source_file", "source_line", "source_offset", "raw", "flags"}
)
_PLATFORM = ("workspace", "conversation")


def add_flag(flag: str, condition: pl.Expr) -> pl.Expr:
    flags = pl.col("flags")
    return (
        pl.when(condition & ~flags.list.contains(flag))
        .then(pl.concat_list([flags, pl.lit([flag], dtype=pl.List(pl.String))]))
        .otherwise(flags)
        .alias("flags")
    )


@cache
def _mapped_paths(source: str) -> tuple[tuple[str, ...], ...]:
    """The JSON paths a platform format maps to canonical columns (compared by part 1)."""
    from .conversation import CONVERSATION_FIELDS
    from .workspace import WORKSPACE_FIELDS

    fields = {"workspace": WORKSPACE_FIELDS, "conversation": CONVERSATION_FIELDS}.get(source, ())
    return tuple(f.path for f in fields)


def _without(record: dict[str, Any], paths: tuple[tuple[str, ...], ...]) -> dict[str, Any]:
    rest = dict(record)
    for path in paths:
        if len(path) == 1:
            rest.pop(path[0], None)
            continue
        parent = rest.get(path[0])
        if isinstance(parent, dict):
            parent = {k: v for k, v in parent.items() if k != path[1]}
            if parent:
                rest[path[0]] = parent
            else:
                rest.pop(path[0])
    return rest


def _unmapped(raw: str, source: str) -> str:
    """Part (2) of the fingerprint for one row."""
    if not raw.lstrip().startswith("{"):
        # A CSV row of a platform format: its columns are all mapped. Anything else: the exact text.
        return "{}" if source in _PLATFORM else raw
    try:
        record = json.loads(raw)
    except ValueError:
        return raw
    if not isinstance(record, dict):
        return raw
    return canonical_json_lenient(_without(record, _mapped_paths(source)))


def fingerprint(frame: pl.DataFrame) -> pl.Series:
    """The exact payload fingerprint of each row (a string; compare, never store)."""
    if not frame.height:
        return pl.Series("_fp", [], dtype=pl.String)
    columns = [pl.col(n).dt.epoch("us") if n == "timestamp" else pl.col(n) for n in PAYLOAD_COLUMNS]
    marked = frame.select(
        "raw",
        pl.col("source").cast(pl.String),
        _mapped=pl.struct(columns).struct.json_encode(),
    ).with_columns(_differs=pl.col("raw").n_unique().over(pl.col("_mapped")) > 1)
    # Part (2) only where part (1) ties and the raw text differs; elsewhere the raw text stands in.
    rest = marked.get_column("raw").to_list()
    sources = marked.get_column("source").to_list()
    for i in marked.get_column("_differs").arg_true().to_list():
        rest[i] = _unmapped(rest[i], sources[i])
    return (
        marked.select(pl.concat_str([pl.col("_mapped"), pl.Series(rest, dtype=pl.String)], separator="\n"))
        .to_series()
        .alias("_fp")
    )


def dedupe_events(events: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(kept, per_file)``: identical duplicates dropped (first kept), conflicts flagged.

    ``per_file`` has ``source_file``, ``duplicates`` (rows of that file dropped as an
    identical copy) and ``conflicts`` (kept rows of that file flagged ``id_conflict``).
    """
    ids = events.get_column("event_id")
    # n_unique first: a hash count is several times cheaper than marking the repeats.
    if not events.height or ids.n_unique() == events.height:
        # Every id is unique: nothing to compare, and no fingerprint to pay for.
        files = events.get_column("source_file").unique(maintain_order=True)
        zeros = pl.Series([0] * len(files), dtype=pl.Int64)
        return events, pl.DataFrame({"source_file": files, "duplicates": zeros, "conflicts": zeros})
    repeated = ids.is_duplicated()
    # Only rows whose id repeats are compared (and fingerprinted); the rest pass through untouched.
    # (Built by filter and concat: a scattered string column miscounts n_unique().over() in Polars 2.1.)
    marked = events.with_row_index("_row")
    single = marked.filter(~repeated)
    group = marked.filter(repeated)
    group = group.with_columns(fingerprint(group)).with_columns(
        _dup=~pl.struct("event_id", "_fp").is_first_distinct(),
        _conflict=pl.col("_fp").n_unique().over("event_id") > 1,
    )
    per_file = group.group_by("source_file").agg(
        duplicates=pl.col("_dup").sum().cast(pl.Int64),
        conflicts=(pl.col("_conflict") & ~pl.col("_dup")).sum().cast(pl.Int64),
    )
    survivors = (
        group.filter(~pl.col("_dup"))
        .with_columns(add_flag("id_conflict", pl.col("_conflict")))
        .drop("_fp", "_dup", "_conflict")
    )
    kept = pl.concat([single, survivors]).sort("_row").drop("_row")
    return kept, per_file
