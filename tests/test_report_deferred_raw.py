"""A framework report holds the period's events without their stored records, and reads them for the rows it prints.

``ReportInputs(defer_raw=True)`` (what ``framework_report`` uses) collects the period
without ``raw``; :meth:`ReportInputs.evidence_rows` reads every column of the rows a
report prints or attaches. These tests pin that those rows are exactly the rows, with
every column and in the same order, that the period held whole gives.
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
    assert "raw" in whole.events.columns and not set(PRINTED_ONLY) & set(deferred.events.columns)
    assert deferred.events.equals(whole.events.drop(PRINTED_ONLY))
    # Some events of the period, some repeated, one of another month and one unknown.
    ids = whole.events["event_id"].gather([5, 900, 900, 12_000, 30_000]).to_list()
    outside = events.filter(pl.col("timestamp") < period.start_utc)["event_id"][0]
    wanted = pl.Series("event_id", [*ids, outside, "evt_nowhere"])
    rows = deferred.evidence_rows(wanted)
    assert rows.equals(whole.evidence_rows(wanted))
    assert rows.height == 4 and rows["raw"].null_count() == 0
    assert rows.columns == whole.events.columns


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
