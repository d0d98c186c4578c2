"""What makes a finding actionable beyond its evidence rows: blast radius, content, revert.

For each finding card (not the informational change-log items):

* **what happened next** — what the finding's actors and IP addresses (not shared ones:
  an address more than three accounts used is an office or NAT) did in the
  ``related_hours`` after it (one row per actor × event type, with a count), so a reviewer
  sees what a taken-over account or a sprayer's address went on to do;
* **the change itself** — when a finding's events are configuration changes, their
  before/after (the text of a changed prompt is in the finding, not pages later);
* **its revert** — a later change of the same setting back to the value before.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import polars as pl

from .common import config_diffs
from .identity import identities
from .model import FindingView, Table, actor_expr, table_from_frame

__all__ = ["enrich_findings"]

RELATED_HOURS = 24
RELATED_ROWS = 12
SHARED_IP_ACTORS = 3  # an IP used by more accounts than this in the period is shared (office, NAT)


def _related(finding_events: pl.DataFrame, events: pl.DataFrame, end: object, hours: int) -> Table:
    actors = finding_events.get_column("actor_id").drop_nulls().unique().to_list()
    ips = finding_events.get_column("ip").drop_nulls().unique().to_list()
    if ips:  # an office or NAT address many people share says nothing about this finding's actor
        shared = (
            events.filter(pl.col("ip").is_in(ips))
            .group_by("ip")
            .agg(pl.col("actor_id").n_unique().alias("actors"))
            .filter(pl.col("actors") > SHARED_IP_ACTORS)
            .get_column("ip")
            .to_list()
        )
        ips = [ip for ip in ips if ip not in shared]
    ids = finding_events.get_column("event_id").implode()
    if end is None or not (actors or ips):
        return Table("", [], [])
    later = events.filter(
        (pl.col("timestamp") > pl.lit(end))
        & (pl.col("timestamp") <= pl.lit(end + timedelta(hours=hours)))  # type: ignore[operator]
        & (pl.col("actor_id").is_in(actors) | pl.col("ip").is_in(ips))
        & ~pl.col("event_id").is_in(ids)
    )
    grouped = (
        later.with_columns(actor_expr())
        .group_by("actor", "event_type", "outcome")
        .agg(
            pl.len().alias("n"),
            pl.col("ip").drop_nulls().unique().sort().str.join(", ").alias("ips"),
            pl.col("timestamp").min().alias("first"),
            pl.col("timestamp").max().alias("last"),
        )
        .sort("first", "actor", "event_type")
    )
    return table_from_frame(
        grouped,
        {
            "actor": "actor",
            "event": "event_type",
            "outcome": "outcome",
            "times": "n",
            "from IP": "ips",
            "first (UTC)": "first",
            "last (UTC)": "last",
        },
        f"What the same account(s) and IP address(es) did in the {hours} hours after",
        limit=RELATED_ROWS,
        max_chars=60,
        empty=f"Nothing else from these accounts or IP addresses in the {hours} hours after.",
        widths=["24%", "19%", "8%", "6%", "15%", "14%", "14%"],
    )


def _reverts(changes: pl.DataFrame, events: pl.DataFrame) -> list[str]:
    """Later changes of the same resource whose new value is this change's old value."""
    if not changes.height:
        return []
    later = events.filter(pl.col("category").cast(pl.String) == "config").select(
        pl.col("resource_type"),
        pl.col("resource_id"),
        pl.col("after").alias("reverted_to"),
        pl.col("timestamp").alias("reverted_at"),
        pl.col("event_id").alias("revert_id"),
        actor_expr().alias("reverted_by"),
    )
    joined = (
        changes.select("event_id", "timestamp", "resource_type", "resource_id", "before")
        .join(later, on=["resource_type", "resource_id"], how="inner", nulls_equal=True)
        .filter((pl.col("reverted_at") > pl.col("timestamp")) & (pl.col("reverted_to") == pl.col("before")))
        .sort("reverted_at")
        .unique("event_id", keep="first")
        .sort("reverted_at")
    )
    return [
        f"Reverted {r['reverted_at']:%Y-%m-%d %H:%M:%S} UTC by {r['reverted_by']} (event {r['revert_id']}): "
        f"{r['resource_type'] or 'setting'} {r['resource_id'] or ''} set back to the value before this change."
        for r in joined.iter_rows(named=True)
    ]


def enrich_findings(
    views: Sequence[FindingView],
    findings: pl.DataFrame,
    events: pl.DataFrame,
    hours: int = RELATED_HOURS,
    staff: Path | None = None,
) -> None:
    """Names for ids in every finding's text; related events, the change and its revert for detailed ones."""
    who = identities(events, staff)
    for view in views:
        view.title = who.text(view.title)
        view.summary = who.text(view.summary)
        view.group = who.text(view.group)
    by_id = {r["finding_id"]: r for r in findings.select("finding_id", "event_ids", "window_end").iter_rows(named=True)}
    for view in views:
        if not view.detailed:
            continue
        row = by_id.get(view.finding_id)
        if row is None:
            continue
        mine = events.filter(
            pl.col("event_id").is_in(pl.Series(list(row["event_ids"] or []), dtype=pl.String).implode())
        )
        view.related = _related(mine, events, row["window_end"], hours)
        changes = mine.filter(pl.col("category").cast(pl.String) == "config").sort("timestamp")
        if changes.height:
            view.diffs = config_diffs(changes, actor_expr(), limit=5)
            view.reverts = _reverts(changes, events)
