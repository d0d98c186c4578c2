"""A report keeps the period's events without their stored records, in a sorted copy it queries.

``ReportInputs(deferred=...)`` (what ``framework_report`` uses) keeps the period without
``raw``; :meth:`ReportInputs.evidence_rows` reads every column of the rows a report prints
or attaches. A lazy input (a store) is read a window of days at a time into a temporary
Parquet copy of the period in time order (``PeriodCopy``), which sections query. These
tests pin that those rows are exactly the rows, with every column and in the same order,
that the period held whole gives, and that the copy is removed.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from auditreports.period import parse_period
from auditreports.pipeline import PRINTED_ONLY, printed_only_columns
from auditreports.report.common import ReportInputs
from auditreports.sources import load
from auditreports.store import open_store, write_store


def test_evidence_rows_read_from_the_store_are_the_rows_of_the_period_held_whole(
    data_samples: Path, tmp_path: Path
) -> None:
    events = load([str(data_samples / "workspace"), str(data_samples / "conversations")]).events.collect()
    write_store(tmp_path / "store", events)
    period = parse_period("2026-08")
    whole = ReportInputs(open_store(tmp_path / "store").events, period=period)
    deferred = ReportInputs(open_store(tmp_path / "store").events, period=period, deferred=PRINTED_ONLY)
    whole_events, deferred_events = whole.events.collect(), deferred.events.collect()
    assert "raw" in whole_events.columns and not set(PRINTED_ONLY) & set(deferred_events.columns)
    assert deferred_events.equals(whole_events.drop(PRINTED_ONLY))
    # Some events of the period, some repeated, one of another month and one unknown.
    ids = whole_events["event_id"].gather([5, 900, 900, 12_000, 30_000]).to_list()
    outside = events.filter(pl.col("timestamp") < period.start_utc)["event_id"][0]
    wanted = pl.Series("event_id", [*ids, outside, "evt_nowhere"])
    rows = deferred.evidence_rows(wanted)
    assert rows.equals(whole.evidence_rows(wanted))
    assert rows.height == 4 and rows["raw"].null_count() == 0
    assert rows.columns == whole_events.columns


def test_a_column_an_organisation_framework_names_is_kept_with_the_period(tmp_path: Path) -> None:
    framework = tmp_path / "acme.yml"
    framework.write_text(
        "report:\n  sections:\n    - columns: [{label: client, field: user_agent}]\n", encoding="utf-8"
    )
    deferred = printed_only_columns(framework)
    assert "user_agent" not in deferred and "raw" in deferred and "prev_hash" in deferred


def test_the_period_read_a_window_of_days_at_a_time_is_the_period_sorted_whole(
    data_samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Report inputs read and sort the period a window of days at a time; the result is one sort of it."""
    from auditreports.report import common

    events = load([str(data_samples / "workspace"), str(data_samples / "conversations")]).events.collect()
    # Ties: copies of events at the same instant whose ids sort before and after the original.
    ties = events.filter(pl.col("event_id").hash(seed=1) % 50 == 0)
    events = pl.concat(
        [
            events,
            ties.with_columns(pl.col("event_id") + "~b"),
            ties.with_columns(("~a" + pl.col("event_id")).alias("event_id")),
        ]
    )
    write_store(tmp_path / "store", events)
    for spec, windows in (("2026-Q3", 128), ("2026-Q3", 7), (("2026-08-18", "2026-08-20"), 128)):
        period = parse_period(spec) if isinstance(spec, str) else parse_period(start=spec[0], end=spec[1])
        monkeypatch.setattr(common, "TIME_WINDOWS", windows)  # 92 windows of a day; 7 of two weeks
        got = common.in_time_order(open_store(tmp_path / "store").events, period)
        whole = (
            open_store(tmp_path / "store")
            .events.filter(pl.col("timestamp").is_between(period.start_utc, period.end_utc_exclusive, closed="left"))
            .collect()
            .sort("timestamp", "event_id", maintain_order=True)
        )
        assert got.height == whole.height > 0 and got.equals(whole)


def test_the_period_copy_is_the_period_in_time_order_and_is_removed(data_samples: Path, tmp_path: Path) -> None:
    """A store's period is copied to disk in time order: the same rows and order as the period held in memory."""
    import gc
    from datetime import timedelta

    events = load([str(data_samples / "workspace"), str(data_samples / "conversations")]).events.collect()
    write_store(tmp_path / "store", events)
    period = parse_period("2026-08")
    copied = ReportInputs(open_store(tmp_path / "store").events, period=period, deferred=PRINTED_ONLY)
    held = ReportInputs(events, period=period, deferred=PRINTED_ONLY)
    got, expected = copied.events.collect(), held.events.collect()
    assert copied._copy is not None and held._copy is None
    assert copied.count == held.count == got.height > 10_000 and got.equals(expected)
    directory = copied._copy.directory
    assert len(list(directory.glob("*.parquet"))) == 31  # a file per day of August
    # The hours after an instant, read from the copy's files of those hours only: what a filter of the period gives.
    start = got["timestamp"][got.height // 2]
    end = start + timedelta(hours=30)
    hours = (pl.col("timestamp") > start) & (pl.col("timestamp") <= end)
    assert copied.between(start, end).collect().equals(got.filter(hours))
    assert copied.between(start, end).collect().equals(held.between(start, end).collect())
    # Added columns (the printed label roles) come with both.
    copied.add_columns(pl.lit("x").alias("marker"))
    assert copied.between(start, end).collect()["marker"].to_list() == ["x"] * got.filter(hours).height
    copied.close()
    assert not directory.exists()
    # Dropped without close: removed when collected.
    again = ReportInputs(open_store(tmp_path / "store").events, period=period)
    assert again.count == got.height
    directory = again._copy.directory if again._copy is not None else None
    assert directory is not None and directory.is_dir()
    del again
    gc.collect()
    assert not directory.exists()


def test_an_empty_period_copy_keeps_the_schema(data_samples: Path, tmp_path: Path) -> None:
    events = load(str(data_samples / "workspace")).events.collect()
    write_store(tmp_path / "store", events)
    empty = ReportInputs(open_store(tmp_path / "store").events, period=parse_period("2024-01"), deferred=PRINTED_ONLY)
    assert empty.count == 0 and empty.events.collect().height == 0
    assert "event_id" in empty.events.collect_schema().names() and "raw" not in empty.events.collect_schema().names()
    empty.close()
