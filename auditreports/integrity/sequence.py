"""Sequence and order: holes and repeats in ``seq``, time running backwards, repeated ids.

All four are Polars expressions over the log in physical order. They are reported
even without a hash chain (a vendor log with sequence numbers still proves holes),
and where a chain break already explains them (a deleted record is also a hole in
the sequence) ``verify`` keeps only the chain break, so one event is one break.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from .model import Break

__all__ = ["duplicate_ids", "sequence_breaks"]

CHECK = "sequence"


def _breaks(frame: pl.DataFrame, kind: str, source: str, detail: Callable[[dict[str, Any]], str]) -> list[Break]:
    # Details are formatted per break (breaks are few) rather than with pl.format, which
    # panics in Polars 2.1 on string columns of some filtered frames.
    return [
        Break(kind, CHECK, r["event_id"], r["position"], detail(r), source=source, event_ids=tuple(r["_ids"]),
              source_file=r["source_file"], source_line=r["source_line"])
        for r in frame.iter_rows(named=True)
    ]  # fmt: skip


def _ts(value: Any) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" if value is not None else "?"


def sequence_breaks(ordered: pl.DataFrame, *, source: str) -> list[Break]:
    """Holes, repeats and backward steps in ``seq`` and ``timestamp`` of one source in physical order."""
    out: list[Break] = []
    seqd = ordered.filter(pl.col("seq").is_not_null())
    if seqd.height:
        by_seq = seqd.sort(["seq", "position"]).with_columns(
            prev_seq=pl.col("seq").shift(1), prev_id=pl.col("event_id").shift(1)
        )
        holes = by_seq.filter(pl.col("seq") - pl.col("prev_seq") > 1).with_columns(
            _ids=pl.concat_list(pl.col("event_id"))
        )
        out += _breaks(
            holes,
            "seq_gap",
            source,
            lambda r: (
                f"sequence jumps from {r['prev_seq']} ({r['prev_id']}) to {r['seq']}: "
                f"{r['seq'] - r['prev_seq'] - 1} number(s) never appear in the log"
            ),
        )
        repeats = (
            seqd.filter(pl.col("seq").is_duplicated())
            .group_by("seq")
            .agg(pl.col("position").sort(), pl.col("event_id").sort_by("position").alias("_ids"),
                 pl.col("source_file").sort_by("position"), pl.col("source_line").sort_by("position"))
            .with_columns(
                position=pl.col("position").list.get(1),
                event_id=pl.col("_ids").list.get(1),
                source_file=pl.col("source_file").list.get(1),
                source_line=pl.col("source_line").list.get(1),
            )
            .sort("position")
        )  # fmt: skip
        out += _breaks(
            repeats,
            "seq_duplicate",
            source,
            lambda r: f"sequence {r['seq']} is used by {len(r['_ids'])} records: {', '.join(r['_ids'])}",
        )  # fmt: skip
        back = seqd.with_columns(prev_seq=pl.col("seq").shift(1), prev_id=pl.col("event_id").shift(1)).filter(
            pl.col("seq") < pl.col("prev_seq")
        )
        out += _breaks(
            back.with_columns(_ids=pl.concat_list("prev_id", "event_id")),
            "seq_backwards",
            source,
            lambda r: f"sequence {r['seq']} is stored after {r['prev_seq']} ({r['prev_id']})",
        )
        stamped = seqd.filter(pl.col("timestamp").is_not_null()).with_columns(
            prev_ts=pl.col("timestamp").shift(1), prev_id=pl.col("event_id").shift(1)
        )
        back_t = stamped.filter(pl.col("timestamp") < pl.col("prev_ts"))
        out += _breaks(
            back_t.with_columns(_ids=pl.concat_list("prev_id", "event_id")),
            "timestamp_backwards",
            source,
            lambda r: (
                f"time runs backwards: {_ts(r['timestamp'])} is stored after {_ts(r['prev_ts'])} of {r['prev_id']}"
            ),
        )
    return out


def duplicate_ids(ordered: pl.DataFrame, *, source: str) -> list[Break]:
    """Event ids used by more than one record (the loader keeps identical duplicates once)."""
    dup = (
        ordered.filter(pl.col("event_id").is_duplicated())
        .group_by("event_id")
        .agg(pl.col("position").sort(), pl.col("source_file").sort_by("position"),
             pl.col("source_line").sort_by("position"))
        .with_columns(
            _ids=pl.concat_list(pl.col("event_id")),
            _count=pl.col("position").list.len(),
            _positions=pl.col("position").list.eval(pl.element().cast(pl.String)).list.join(", "),
            position=pl.col("position").list.get(1),
            source_file=pl.col("source_file").list.get(1),
            source_line=pl.col("source_line").list.get(1),
        )
        .sort("position")
    )  # fmt: skip
    return _breaks(
        dup,
        "duplicate_id",
        source,
        lambda r: f"event id used by {r['_count']} different records (positions {r['_positions']})",
    )
