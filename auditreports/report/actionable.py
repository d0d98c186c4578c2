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

from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl

from .common import config_diffs
from .identity import identities
from .model import FindingView, Table, actor_expr, table_from_frame

__all__ = ["enrich_findings"]

RELATED_HOURS = 24
RELATED_ROWS = 12
SHARED_IP_ACTORS = 3  # an IP used by more accounts than this in the period is shared (office, NAT)


class _Period:
    """What every finding card looks up in the period, worked out once for all cards.

    A report can hold hundreds of findings over tens of millions of events: each card must
    not scan the period. ``between(start, end)`` gives the events with ``start < timestamp
    <= end`` (the report's period copy reads only the files and row groups of those hours);
    by default the period is filtered.
    """

    def __init__(
        self, events: pl.DataFrame | pl.LazyFrame, between: Callable[[Any, Any], pl.LazyFrame] | None = None
    ) -> None:
        self.events = events.lazy()
        self._between = between
        self._ip_actors: dict[str, int] | None = None
        self._config: pl.DataFrame | None = None

    def ip_actors(self, ip: str) -> int:
        """How many accounts used an IP address in the period."""
        if self._ip_actors is None:
            counts = (
                self.events.filter(pl.col("ip").is_not_null())
                .group_by("ip")
                .agg(pl.col("actor_id").n_unique().alias("actors"))
                .collect()
            )
            self._ip_actors = dict(counts.iter_rows())
        return self._ip_actors.get(ip, 0)

    def after(self, start: Any, end: Any) -> pl.LazyFrame:
        """The events with ``start < timestamp <= end``."""
        if self._between is not None:
            return self._between(start, end)
        return self.events.filter((pl.col("timestamp") > pl.lit(start)) & (pl.col("timestamp") <= pl.lit(end)))

    @property
    def config(self) -> pl.DataFrame:
        """Every configuration change of the period, as a revert of an earlier change would show."""
        if self._config is None:
            self._config = (
                self.events.filter(pl.col("category").cast(pl.String) == "config")
                .select(
                    pl.col("resource_type"),
                    pl.col("resource_id"),
                    pl.col("after").alias("reverted_to"),
                    pl.col("timestamp").alias("reverted_at"),
                    pl.col("event_id").alias("revert_id"),
                    actor_expr().alias("reverted_by"),
                )
                .collect()
            )
        return self._config


def _related(finding_events: pl.DataFrame, period: _Period, end: object, hours: int) -> Table:
    actors = finding_events.get_column("actor_id").drop_nulls().unique().to_list()
    ips = finding_events.get_column("ip").drop_nulls().unique().to_list()
    # An office or NAT address many people share says nothing about this finding's actor.
    ips = [ip for ip in ips if period.ip_actors(ip) <= SHARED_IP_ACTORS]
    ids = finding_events.get_column("event_id").implode()
    if end is None or not (actors or ips):
        return Table("", [], [])
    later = period.after(end, end + timedelta(hours=hours)).filter(  # type: ignore[operator]
        (pl.col("actor_id").is_in(actors) | pl.col("ip").is_in(ips)) & ~pl.col("event_id").is_in(ids)
    )
    grouped = (
        later.collect()
        .with_columns(actor_expr())
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


def _reverts(changes: pl.DataFrame, period: _Period) -> list[str]:
    """Later changes of the same resource whose new value is this change's old value."""
    if not changes.height:
        return []
    later = period.config
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
    events: pl.DataFrame | pl.LazyFrame,
    hours: int = RELATED_HOURS,
    staff: Path | None = None,
    between: Callable[[Any, Any], pl.LazyFrame] | None = None,
) -> None:
    """Names for ids in every finding's text; related events, the change and its revert for detailed ones.

    ``between(start, end)``: the events with ``start < timestamp <= end`` (default: ``events`` filtered).
    """
    who = identities(events, staff)
    for view in views:
        view.title = who.text(view.title)
        view.summary = who.text(view.summary)
        view.group = who.text(view.group)
    by_id = {r["finding_id"]: r for r in findings.select("finding_id", "event_ids", "window_end").iter_rows(named=True)}
    period = _Period(events, between)
    # The events the detailed cards cite, read from the period once (not once per card).
    wanted = [i for v in views if v.detailed and v.finding_id in by_id for i in by_id[v.finding_id]["event_ids"] or []]
    cited = events.lazy().filter(pl.col("event_id").is_in(pl.Series(wanted, dtype=pl.String).implode())).collect()
    for view in views:
        if not view.detailed:
            continue
        row = by_id.get(view.finding_id)
        if row is None:
            continue
        mine = cited.filter(
            pl.col("event_id").is_in(pl.Series(list(row["event_ids"] or []), dtype=pl.String).implode())
        )
        view.related = _related(mine, period, row["window_end"], hours)
        changes = mine.filter(pl.col("category").cast(pl.String) == "config").sort("timestamp")
        if changes.height:
            view.diffs = config_diffs(changes, actor_expr(), limit=5)
            view.reverts = _reverts(changes, period)
