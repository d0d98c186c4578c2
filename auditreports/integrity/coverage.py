"""Coverage: does the log cover the period, and are its silences plausible for this log?

A log can be intact record by record and still incomplete: the platform may have
stopped writing. Silence is judged against the log's own rhythm. Events are counted
per hour; the expected count of each (weekday, hour-of-day) slot is the mean over
the whole log; a run of silent hours is a *likely logging outage* when the volume
the rhythm expects for it is at least ``min_expected_events`` (the chance of that
silence happening by chance is then below e^-min_expected_events under a Poisson
model, or the negative binomial with the slot's own variance when traffic is bursty,
which it usually is), and the chance of that silence by chance is below
``max_silence_chance``. A silent working day is flagged; a silent Sunday night,
which expects almost nothing, is not.

Stretches older than the platform's retention window are *unverifiable* (the
platform may lawfully have purged them), never missing. Changes to the audit-log
settings or the retention period are reported for the auditor to read: they can
explain a silence or a shorter history.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from .model import Unverified
from .settings import IntegritySettings

__all__ = ["SETTINGS_EVENTS", "coverage_report"]

CHECK = "coverage"
SETTINGS_EVENTS = {
    "config.audit_log_settings.update": "audit_log_settings_change",
    "config.retention.update": "retention_change",
}
_ISO = "%Y-%m-%dT%H:%M:%SZ"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.strftime(_ISO)


def coverage_report(
    ordered: pl.DataFrame,
    *,
    source: str,
    settings: IntegritySettings,
    as_of: datetime,
    period: tuple[datetime, datetime] | None = None,
    settings_rows: pl.DataFrame | None = None,
) -> tuple[list[dict[str, Any]], list[Unverified], list[dict[str, Any]], dict[str, Any]]:
    """Silent stretches, what could not be verified, settings notices and the span covered, for one source.

    ``settings_rows``: the source's audit-settings events with their columns, where ``ordered``
    holds only what the silence check reads (a bounded verification); by default read from it.
    """
    stamps = ordered.select(pl.col("timestamp").drop_nulls())
    first, last = stamps["timestamp"].min(), stamps["timestamp"].max()
    boundary = as_of - timedelta(days=settings.retention_days)
    span = {"source": source, "first_timestamp": _iso(first), "last_timestamp": _iso(last),  # type: ignore[arg-type]
            "events": ordered.height, "retention_boundary": _iso(boundary)}  # fmt: skip
    unverified: list[Unverified] = []
    notices = _settings_notices(ordered if settings_rows is None else settings_rows, source)
    if first is None or last is None:
        unverified.append(Unverified(CHECK, "no event has a timestamp: coverage cannot be measured", source=source))
        return [], unverified, notices, span
    assert isinstance(first, datetime) and isinstance(last, datetime)
    start, end = period if period is not None else (first, last)
    old = ordered.filter(pl.col("timestamp") < boundary).height
    if old:
        notices.append({"kind": "beyond_retention", "source": source, "events": old,
                        "detail": f"{old} event(s) are older than the {settings.retention_days}-day retention window "
                                  f"(before {_iso(boundary)}); the platform may have purged their neighbours"})  # fmt: skip
    if start < boundary:
        unverified.append(
            Unverified(
                CHECK,
                f"the period before {_iso(boundary)} is beyond the platform's {settings.retention_days}-day retention "
                "window: events missing there cannot be told from events lawfully purged",
                source=source,
            )
        )
    gaps = _silent_stretches(ordered, start=start, end=end, settings=settings, source=source, boundary=boundary)
    for gap in gaps:
        if gap["status"] == "beyond_retention":
            continue
        unverified.append(
            Unverified(
                CHECK,
                f"likely logging outage: no {source} events from {gap['start']} to {gap['end']} "
                f"({gap['hours']} h) where the log's own rhythm expects about {gap['expected_events']:.0f}; "
                "completeness cannot be attested for that stretch",
                source=source,
            )
        )
    return gaps, unverified, notices, span


def _settings_notices(ordered: pl.DataFrame, source: str) -> list[dict[str, Any]]:
    rows = ordered.filter(pl.col("event_type").is_in(list(SETTINGS_EVENTS))).sort("position")
    return [
        {
            "kind": SETTINGS_EVENTS[r["event_type"]],
            "source": source,
            "event_id": r["event_id"],
            "timestamp": _iso(r["timestamp"]),
            "actor_id": r["actor_id"],
            "actor_name": r["actor_name"],
            "before": r["before"],
            "after": r["after"],
            "position": r["position"],
        }
        for r in rows.select(
            "event_type", "event_id", "timestamp", "actor_id", "actor_name", "before", "after", "position"
        ).iter_rows(named=True)
    ]


def _log_silence_chance(mean: pl.Expr, variance: pl.Expr) -> pl.Expr:
    """ln P(an hour is silent) for a slot: negative binomial when the counts are overdispersed, else Poisson.

    Real traffic is bursty (one conversation writes ten events in a minute), so the
    Poisson chance of silence is far too small for quiet, bursty hours; the negative
    binomial with the slot's own mean and variance (r = m^2 / (v - m)) is not.
    """
    r = mean.pow(2) / (variance - mean)
    nb = r * (r / (r + mean)).log()
    return pl.when(mean <= 0).then(0.0).when(variance > mean).then(nb).otherwise(-mean)


def _silent_stretches(
    ordered: pl.DataFrame,
    *,
    start: datetime,
    end: datetime,
    settings: IntegritySettings,
    source: str,
    boundary: datetime,
) -> list[dict[str, Any]]:
    """Runs of silent hours whose expected volume (from the log's rhythm) makes silence implausible."""
    hour = pl.col("timestamp").dt.truncate("1h")
    counts = (
        ordered.filter(pl.col("timestamp").is_between(start, end, closed="both"))
        .group_by(hour.alias("hour"))
        .agg(pl.len().alias("events"))
    )
    lo = start.replace(minute=0, second=0, microsecond=0)
    grid = pl.DataFrame(
        {"hour": pl.datetime_range(lo, end - timedelta(microseconds=1), "1h", time_unit="us", time_zone="UTC", eager=True)}
    )  # fmt: skip
    if grid.height == 0:
        return []
    days = (end - start).total_seconds() / 86400
    slot = [pl.col("hour").dt.weekday(), pl.col("hour").dt.hour()] if days >= settings.min_rhythm_days else [
        pl.col("hour").dt.hour()]  # fmt: skip
    hourly = (
        grid.join(counts.with_columns(pl.col("hour").cast(grid.schema["hour"])), on="hour", how="left")
        .with_columns(pl.col("events").fill_null(0).cast(pl.Float64))
        .sort("hour")
        .with_columns(
            expected=pl.col("events").mean().over(slot),
            variance=pl.col("events").var().over(slot).fill_null(0.0),
            run=(pl.col("events") == 0).rle_id(),
        )
        .with_columns(log_p0=_log_silence_chance(pl.col("expected"), pl.col("variance")))
    )
    runs = (
        hourly.filter(pl.col("events") == 0)
        .group_by("run")
        .agg(
            # Reported from the first to the last hour that expects at least one event: a silent working
            # day is shown as that day, not stretched over the quiet night around it.
            start=pl.coalesce(pl.col("hour").filter(pl.col("expected") >= 1).min(), pl.col("hour").min()),
            end=pl.coalesce(pl.col("hour").filter(pl.col("expected") >= 1).max(), pl.col("hour").max())
            + timedelta(hours=1),
            silent_from=pl.col("hour").min(),
            silent_until=pl.col("hour").max() + timedelta(hours=1),
            hours=pl.len(),
            expected_events=pl.col("expected").sum(),
            log_chance=pl.col("log_p0").sum(),
        )
        .filter(
            (pl.col("hours") >= settings.min_silent_hours)
            & (pl.col("expected_events") >= settings.min_expected_events)
            & (pl.col("log_chance") <= math.log(settings.max_silence_chance))
        )
        .sort("start")
    )
    out = []
    for r in runs.iter_rows(named=True):
        gap_end = min(r["end"], end) if r["end"] > end else r["end"]
        out.append(
            {
                "kind": "logging_gap",
                "source": source,
                "start": _iso(max(r["start"], start)),
                "end": _iso(gap_end),
                "hours": r["hours"],
                "silent_from": _iso(r["silent_from"]),
                "silent_until": _iso(r["silent_until"]),
                "expected_events": round(float(r["expected_events"]), 1),
                "chance": float(f"{math.exp(r['log_chance']):.3g}"),
                "weekday": r["start"].strftime("%A"),
                "status": "beyond_retention" if gap_end <= boundary else "likely_outage",
            }
        )
    return out
