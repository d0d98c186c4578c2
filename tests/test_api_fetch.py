"""``fetch`` end to end: API pages into the Parquet store, compared event for event with file ingest.

The reference server and the client talk real HTTP on 127.0.0.1; the expected
events are what ``auditreports.sources.load`` makes of the same export files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from test_api_support import TOKEN, RecordingSleep, serving, write_export

from auditreports.api import FetchSettings, ServerFaults, fetch
from auditreports.errors import PaginationError, RetriesExhaustedError, UsageError
from auditreports.sources import load
from auditreports.sources._dedupe import PAYLOAD_COLUMNS
from auditreports.store import open_store

COMPARED = [*PAYLOAD_COLUMNS, "flags"]


def canonical(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Events as an auditor compares them: the payload and flags, in a stable order."""
    return (
        frame.lazy()
        .select(COMPARED)
        .with_columns(pl.col("flags").list.sort())
        .collect()
        .sort(pl.all().exclude("flags", "subject_ids"), nulls_last=True)
    )


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("export")
    write_export(directory, n=1500)
    return directory


@pytest.fixture(scope="module")
def expected(export: Path) -> pl.DataFrame:
    return canonical(load(export).events)


@pytest.fixture
def serve(export: Path) -> Iterator[Any]:
    with serving(export) as start:
        yield start


def quick(**kw: Any) -> FetchSettings:
    sleep = RecordingSleep()
    return FetchSettings(**{"page_size": 100, "sleep": sleep, "clock": sleep.clock, "progress": False, **kw})


def test_fetch_through_every_fault_holds_exactly_the_exported_events(serve, export, expected, tmp_path) -> None:
    faults = ServerFaults(seed=11, rate_429=0.2, burst_503=2, duplicate_boundary=2, drop_connection=0.15)
    store = tmp_path / "store"
    report = fetch(serve(faults), store, token=TOKEN, settings=quick(page_size=60, pages_per_write=4, max_attempts=20))
    assert report.complete and report.end_reason == "no next page"
    assert canonical(open_store(store).events).equals(expected)
    loaded = load(export)
    assert report.quarantined == loaded.quarantine.height == open_store(store).quarantine.height == 1
    assert report.http_429 > 0 and report.http_5xx == 2 and report.connection_errors > 0
    assert report.retries == report.http_429 + report.http_5xx + report.connection_errors
    # every page after the first repeats 2 events; the export holds 1 identical duplicate
    assert report.duplicates_dropped == 2 * (report.pages - 1) + 1
    assert report.events == 1502 + 2 * (report.pages - 1)
    assert report.events_added == expected.height

    (entry,) = open_store(store).ledger["fetches"]
    assert entry["complete"] is True and entry["resumed"] is False
    assert entry["endpoint"].endswith("/v1/audit-log") and "?" not in entry["endpoint"]
    assert entry["pages"] == report.pages == 26
    for key in ("events", "retries", "http_429", "duplicates_dropped", "conflicts", "quarantined", "first_cursor"):
        assert entry[key] == getattr(report, key)
    span = open_store(store).events.select(lo=pl.col("timestamp").min(), hi=pl.col("timestamp").max()).collect().row(0)
    assert entry["first_timestamp"] == span[0].isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert entry["last_timestamp"] == span[1].isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert entry["started_at"] <= entry["finished_at"]
    assert not (store / "fetch-checkpoints").exists()


def test_link_header_fetch_matches_too(serve, expected, tmp_path) -> None:
    url = serve(link_headers=True, body_cursor=False)
    report = fetch(url, tmp_path / "s", token=TOKEN, settings=quick(page_size=500))
    assert report.complete and report.strategy == "link-or-body-cursor"
    assert canonical(open_store(tmp_path / "s").events).equals(expected)


def test_filtered_window_is_recorded_and_respected(serve, tmp_path) -> None:
    store = tmp_path / "s"
    report = fetch(
        serve(),
        store,
        token=TOKEN,
        since="2026-07-02T00:00:00Z",
        until="2026-07-03T00:00:00Z",
        author="usr_1",
        settings=quick(),
    )
    events = open_store(store).events.collect()
    assert events.height == report.events_added > 0
    assert events["actor_id"].unique().to_list() == ["usr_1"]
    assert events["timestamp"].dt.date().unique().cast(pl.String).to_list() == ["2026-07-02"]
    entry = open_store(store).ledger["fetches"][0]
    assert entry["window"] == {"since": "2026-07-02T00:00:00Z", "until": "2026-07-03T00:00:00Z"}
    assert entry["filters"] == {"conversation_id": None, "event_type": None, "author": "usr_1"}


def test_same_id_with_another_payload_is_a_conflict_both_kept(serve, tmp_path) -> None:
    records = write_export(tmp_path / "export", n=300)
    tampered = {**records[5], "reason": "edited after the fact"}
    (tmp_path / "export" / "late.json").write_text(json.dumps([tampered]), encoding="utf-8")
    store = tmp_path / "s"
    report = fetch(serve(directory=tmp_path / "export"), store, token=TOKEN, settings=quick(page_size=50))
    versions = open_store(store).events.filter(pl.col("event_id") == records[5]["event_id"]).collect()
    assert versions.height == 2
    assert all("id_conflict" in flags for flags in versions["flags"].to_list())
    assert report.conflicts == 2
    assert canonical(open_store(store).events).equals(canonical(load(tmp_path / "export").events))


def test_fetching_again_adds_nothing(serve, expected, tmp_path) -> None:
    store = tmp_path / "s"
    url = serve(ServerFaults(duplicate_boundary=3))
    fetch(url, store, token=TOKEN, settings=quick())
    again = fetch(url, store, token=TOKEN, settings=quick())
    assert again.complete and again.events_added == 0 and again.resumed is False
    assert canonical(open_store(store).events).equals(expected)
    assert [e["events_added"] for e in open_store(store).ledger["fetches"]] == [expected.height, 0]


def test_an_interrupted_fetch_resumes_where_it_stopped(serve, expected, tmp_path) -> None:
    # The outage (requests 2..6 answer 503) outlasts the first run's 3 attempts.
    url = serve(ServerFaults(burst_503=5))
    store = tmp_path / "s"
    with pytest.raises(RetriesExhaustedError, match="page 2"):
        fetch(url, store, token=TOKEN, settings=quick(max_attempts=3, pages_per_write=1))
    first = open_store(store).ledger["fetches"]
    # page 1: 100 records, one of them the export's identical duplicate
    assert [(e["complete"], e["pages"], e["events"], e["events_added"]) for e in first] == [(False, 1, 100, 99)]
    assert "page 2" in first[0]["error"]
    checkpoint = json.loads(next((store / "fetch-checkpoints").glob("*.json")).read_text())
    assert checkpoint["next_page"] == 2 and checkpoint["next_cursor"]

    report = fetch(url, store, token=TOKEN, settings=quick(max_attempts=3, pages_per_write=1))
    assert report.complete and report.resumed and report.runs == 2
    assert report.pages == 16 and report.http_5xx == 5
    assert canonical(open_store(store).events).equals(expected)
    assert open_store(store).ledger["fetches"][-1]["resumed"] is True


def test_broken_page_stops_the_fetch_but_keeps_what_came_before(serve, tmp_path) -> None:
    store = tmp_path / "s"
    with pytest.raises(PaginationError, match=r"page 4 \(cursor .+\) is not valid JSON"):
        fetch(serve(ServerFaults(bad_json_page=4)), store, token=TOKEN, settings=quick(pages_per_write=2))
    # pages 1-3: 300 records, one of them the export's identical duplicate
    assert open_store(store).events.select(pl.len()).collect().item() == 299
    (entry,) = open_store(store).ledger["fetches"]
    assert entry["complete"] is False and "page 4" in entry["error"]


def test_token_never_lands_in_the_store(serve, tmp_path) -> None:
    store = tmp_path / "s"
    url = serve(ServerFaults(seed=2, rate_429=0.3, bad_json_page=5))
    with pytest.raises(PaginationError):
        fetch(url, store, token=TOKEN, settings=quick(pages_per_write=3))
    files = [p for p in store.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in files) and any("fetch-checkpoints" in str(p) for p in files)
    for path in files:
        assert TOKEN.encode() not in path.read_bytes(), path


def test_bad_arguments_are_usage_errors(tmp_path) -> None:
    with pytest.raises(UsageError, match="not before"):
        fetch("http://127.0.0.1:9/v1/audit-log", tmp_path, token=TOKEN, since="2026-08-01", until="2026-07-01")
    with pytest.raises(UsageError, match="ISO 8601"):
        fetch("http://127.0.0.1:9/v1/audit-log", tmp_path, token=TOKEN, since="last tuesday")
    with pytest.raises(UsageError, match="AUDITREPORTS_TOKEN"):
        fetch("http://127.0.0.1:9/v1/audit-log", tmp_path, environ={})
