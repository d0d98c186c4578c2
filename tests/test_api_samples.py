"""The whole sample quarter through the fault-injecting API equals the export files, event for event."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from test_api_support import TOKEN, RecordingSleep

from auditreports.api import FetchSettings, ServerFaults, fetch, start_server
from auditreports.sources import load
from auditreports.sources._dedupe import PAYLOAD_COLUMNS
from auditreports.store import open_store


def canonical(frame: pl.LazyFrame) -> pl.DataFrame:
    return (
        frame.select([*PAYLOAD_COLUMNS, "flags"])
        .with_columns(pl.col("flags").list.sort())
        .collect()
        .sort(pl.all().exclude("flags", "subject_ids"), nulls_last=True)
    )


@pytest.mark.slow  # ~55,000 events loaded twice and fetched over HTTP with faults
def test_whole_sample_quarter_through_faults_equals_the_exports(data_samples: Path, tmp_path: Path) -> None:
    exports = data_samples / "conversations"
    expected = load(exports)
    faults = ServerFaults(seed=1, rate_429=0.05, burst_503=2, duplicate_boundary=2, drop_connection=0.03)
    url, stop = start_server(exports, token=TOKEN, faults=faults)
    try:
        sleep = RecordingSleep()
        settings = FetchSettings(sleep=sleep, clock=sleep.clock, progress=False, max_attempts=20)
        report = fetch(url, tmp_path / "store", token=TOKEN, settings=settings)
    finally:
        stop()
    store = open_store(tmp_path / "store")
    assert report.complete and report.retries > 0 and report.http_429 > 0
    assert report.quarantined == expected.quarantine.height == store.quarantine.height
    assert canonical(store.events).equals(canonical(expected.events))
    assert report.events_added == store.events.select(pl.len()).collect().item()
