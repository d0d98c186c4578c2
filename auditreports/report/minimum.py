"""Minimum necessary and bounded volume for reports on PHI (HIPAA).

* :func:`withhold_free_text` — conversation free text (notes, message bodies, the raw
  record and before/after states of conversation and bot events) is replaced by a marker in
  everything the report prints and embeds, unless the ``phi_free_text`` setting asks for it.
  Who, what, when and which conversation stay: that is what an activity review needs.
* :func:`grouped_appendix` — the printed appendix as one line per actor × event type × day
  (or × ISO week, ``group: week``) with a count, first and last time and the first event id,
  so pages grow with people and the period, not with events; every row is in the embedded
  events.csv.
"""

from __future__ import annotations

import polars as pl

from .model import Appendix, actor_expr
from .settings import ReportSettings

__all__ = ["GROUP_UNITS", "WITHHELD", "grouped_appendix", "withhold_free_text"]

WITHHELD = "[free text withheld: minimum necessary]"
FREE_TEXT_CATEGORIES = ("conversation", "bot")
FREE_TEXT_COLUMNS = ("reason", "before", "after", "raw")


def withhold_free_text(events: pl.DataFrame) -> pl.DataFrame:
    """Conversation and bot events with their free text replaced by :data:`WITHHELD`."""
    free = pl.col("category").cast(pl.String).is_in(list(FREE_TEXT_CATEGORIES))
    return events.with_columns(
        [
            pl.when(free & pl.col(c).is_not_null()).then(pl.lit(WITHHELD)).otherwise(pl.col(c)).alias(c)
            for c in FREE_TEXT_COLUMNS
            if c in events.columns
        ]
    )


_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("day", "day", 10),
    ("actor", "actor", 34),
    ("event", "event_type", 30),
    ("count", "n", 6),
    ("first (UTC)", "first", 8),
    ("last (UTC)", "last", 8),
    ("first event id", "event_id", 30),
    ("ip / resources", "detail", 60),
)
# Per ISO week: the period column names the week, first/last carry the day as well.
_WEEK_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("week", "day", 8),
    ("actor", "actor", 34),
    ("event", "event_type", 30),
    ("count", "n", 6),
    ("days", "days", 4),
    ("first (UTC)", "first", 14),
    ("last (UTC)", "last", 14),
    ("first event id", "event_id", 30),
    ("ip / resources", "detail", 50),
)
GROUP_UNITS = ("day", "week")


def grouped_appendix(events: pl.DataFrame, settings: ReportSettings, *, note: str = "", unit: str = "day") -> Appendix:
    """The appendix grouped per actor × event type × ``unit`` (day or ISO week): count, first/last,
    first event id. A week bounds the lines by people × event types × weeks, whatever the volume."""
    weekly = unit == "week"
    period = pl.col("timestamp").dt.truncate("1w") if weekly else pl.col("timestamp").dt.date()
    columns = _WEEK_COLUMNS if weekly else _COLUMNS
    time_format = "%m-%d %H:%M" if weekly else "%H:%M:%S"
    grouped = (
        events.sort("timestamp", "event_id")
        .with_columns(actor_expr(), period.alias("_day"))
        .group_by("_day", "actor", "event_type")
        .agg(
            pl.len().alias("n"),
            pl.col("timestamp").dt.date().n_unique().cast(pl.String).alias("days"),
            pl.col("timestamp").min().dt.strftime(time_format).alias("first"),
            pl.col("timestamp").max().dt.strftime(time_format).alias("last"),
            pl.col("event_id").first(),
            pl.col("ip").drop_nulls().unique().sort().str.join(", ").alias("_ips"),
            pl.coalesce("conversation_id", "resource_id").drop_nulls().n_unique().alias("_res"),
        )
        .sort("_day", "actor", "event_type")
        .with_columns(
            pl.col("_day").dt.strftime("%G-W%V" if weekly else "%Y-%m-%d").alias("day"),
            pl.col("n").cast(pl.String),
            pl.concat_str(
                [pl.col("_ips"), pl.format("{} resource(s)", pl.col("_res"))], separator="; ", ignore_nulls=True
            ).alias("detail"),
        )
    )
    cap = settings.appendix_cap
    shown = grouped.head(cap)
    parts = []
    for i, (_, col, width) in enumerate(columns):
        text = pl.col(col).cast(pl.String).fill_null("").str.replace_all(r"[\r\n\t]+", " ")
        last = i == len(columns) - 1
        clipped = pl.when(text.str.len_chars() > width).then(text.str.slice(0, width - 1) + "…").otherwise(text)
        parts.append(clipped if last else clipped.str.pad_end(width))
    lines = shown.select(pl.concat_str(parts, separator=" ").alias("l"))["l"].to_list() if shown.height else []
    header = " ".join(
        label.ljust(width) if i < len(columns) - 1 else label for i, (label, _, width) in enumerate(columns)
    )
    grouped_note = (
        f"{events.height:,} event(s) printed as {grouped.height:,} line(s), one per actor × event type × "
        f"{'ISO week (with the days active)' if weekly else 'day'} with a count, the first and last time and the first "
        "event id; every event, with every column, is in the embedded events.csv."
    )
    appendix = Appendix(
        header=header, lines=lines, total=grouped.height, shown=len(lines), cap=cap, unit="grouped line(s)"
    )
    appendix.note = f"{note} {grouped_note}".strip()
    return appendix
