"""The Parquet store: partitioned by UTC date, idempotent, conflicts flagged, never half-written."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from test_sources_formats import records, render

from auditreports.errors import StoreError
from auditreports.schema import EVENT_SCHEMA
from auditreports.sources import events_from_records, load
from auditreports.store import open_store, write_store

WS = records("workspace")
CV = records("conversation")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_events_round_trip_through_date_partitions(tmp_path: Path) -> None:
    src = _write(tmp_path / "w.ndjson", render("workspace", "ndjson", WS))
    result = load(src)
    report = write_store(tmp_path / "store", result)
    assert report["added"] == len(WS)
    assert report["partitions"] == ["2026-07-03", "2026-07-04", "2026-07-05", "2026-07-06"]
    parts = sorted(p.relative_to(tmp_path / "store").parts[:2] for p in (tmp_path / "store").rglob("*.parquet"))
    assert [p[1] for p in parts] == [
        "event_date=2026-07-03",
        "event_date=2026-07-04",
        "event_date=2026-07-05",
        "event_date=2026-07-06",
    ]
    store = open_store(tmp_path / "store")
    stored = store.events.collect()
    assert stored.schema == pl.Schema(EVENT_SCHEMA)
    original = result.events.collect().sort("event_id")
    assert stored.sort("event_id").equals(original)
    # evt_05 happened at 23:59:59.999 UTC on 5 July: it belongs to that day's partition.
    day = store.events_between(dt.date(2026, 7, 5), dt.date(2026, 7, 6)).collect()
    assert day["event_id"].to_list() == ["evt_05"]
    pushed = store.events.filter(pl.col("timestamp") >= dt.datetime(2026, 7, 4, tzinfo=dt.UTC)).collect()
    assert pushed["event_id"].sort().to_list() == ["evt_03", "evt_04", "evt_05", "evt_06"]
    assert not list((tmp_path / "store").rglob("*.tmp"))


def test_ingesting_the_same_file_twice_adds_nothing(tmp_path: Path) -> None:
    src = _write(tmp_path / "w.ndjson", render("workspace", "ndjson", WS) + b"{broken\n")
    first = write_store(tmp_path / "store", load(src))
    second = write_store(tmp_path / "store", load(src))
    assert (first["added"], first["quarantined"]) == (len(WS), 1)
    assert (second["added"], second["quarantined"], second["skipped_inputs"]) == (0, 0, [str(src)])
    store = open_store(tmp_path / "store")
    assert store.events.collect().height == len(WS)
    assert store.quarantine.height == 1
    inputs = store.ledger["inputs"]
    assert [e["status"] for e in inputs] == ["ingested", "already_ingested"]
    assert inputs[1]["same_as"] == str(src) and inputs[0]["sha256"] == inputs[1]["sha256"]
    assert inputs[0]["added"] == len(WS) and inputs[0]["lines_read"] == len(WS) + 1


def test_an_overlapping_export_adds_only_the_new_events(tmp_path: Path) -> None:
    write_store(tmp_path / "store", load(_write(tmp_path / "a.ndjson", render("workspace", "ndjson", WS[:4]))))
    # The next export overlaps by two events and is a CSV: same events, other bytes.
    report = write_store(tmp_path / "store", load(_write(tmp_path / "b.csv", render("workspace", "csv", WS[2:]))))
    assert (report["added"], report["already_in_store"], report["conflicts"]) == (2, 2, 0)
    stored = open_store(tmp_path / "store").events.collect()
    assert stored["event_id"].sort().to_list() == [r["id"] for r in WS]
    assert stored.filter(pl.col("event_id") == "evt_03")["source_file"].item() == str(tmp_path / "a.ndjson")
    entry = open_store(tmp_path / "store").ledger["inputs"][1]
    assert (entry["added"], entry["already_in_store"]) == (2, 2)


def test_a_conflict_with_a_stored_event_is_kept_and_flagged_on_both_sides(tmp_path: Path) -> None:
    write_store(tmp_path / "store", load(_write(tmp_path / "a.ndjson", render("workspace", "ndjson", WS[:2]))))
    tampered = {**WS[1], "details": {**WS[1]["details"], "after": {"role": "owner"}}}
    report = write_store(
        tmp_path / "store", load(_write(tmp_path / "b.ndjson", render("workspace", "ndjson", [tampered])))
    )
    assert (report["added"], report["conflicts"]) == (1, 1)
    stored = open_store(tmp_path / "store").events.collect().filter(pl.col("event_id") == "evt_02")
    assert sorted(stored["after"].to_list()) == ['{"role":"admin"}', '{"role":"owner"}']
    assert stored["flags"].to_list() == [["id_conflict"], ["id_conflict"]]


def test_api_pages_are_written_as_fetches(tmp_path: Path) -> None:
    events, quarantine = events_from_records(
        [*CV[:3], {"event_id": "bad"}], source_file="https://api.example/v1/audit-log"
    )
    entry = {"url": "https://api.example/v1/audit-log", "pages": 1, "events": events.height}
    report = write_store(tmp_path / "store", events, quarantine=quarantine, ledger_entries=[entry], kind="fetches")
    assert (report["added"], report["quarantined"]) == (3, 1)
    again = write_store(tmp_path / "store", events, ledger_entries=[entry], kind="fetches")
    assert (again["added"], again["already_in_store"]) == (0, 3)
    store = open_store(tmp_path / "store")
    assert [e["url"] for e in store.ledger["fetches"]] == [entry["url"]] * 2
    assert store.ledger["inputs"] == []
    q = store.quarantine.row(0, named=True)
    assert q["raw"] == b'{"event_id":"bad"}' and q["source_line"] == 4


def test_quarantine_file_keeps_raw_bytes_as_base64_with_a_preview(tmp_path: Path) -> None:
    src = _write(tmp_path / "w.ndjson", render("workspace", "ndjson", WS[:1]) + b'{"id": "caf\xe9\n')
    write_store(tmp_path / "store", load(src))
    rows = [json.loads(x) for x in (tmp_path / "store" / "quarantine.ndjson").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["source_line"] == 2 and "raw_base64" in rows[0] and "raw_preview" in rows[0]
    assert open_store(tmp_path / "store").quarantine["raw"].to_list() == [b'{"id": "caf\xe9']


def test_a_directory_that_is_not_a_store_is_refused_with_a_sentence(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no such store; create it"):
        open_store(tmp_path / "nowhere")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="not an auditreports store"):
        open_store(tmp_path / "docs")
    with pytest.raises(StoreError, match="not empty and not an auditreports store"):
        write_store(tmp_path / "docs", load(_write(tmp_path / "w.ndjson", render("workspace", "ndjson", WS))))
    assert sorted(p.name for p in (tmp_path / "docs").iterdir()) == ["notes.txt"]


def test_an_empty_store_reads_as_an_empty_canonical_frame(tmp_path: Path) -> None:
    report = write_store(tmp_path / "store", load(_write(tmp_path / "bad.ndjson", b"{oops\n"), format="workspace"))
    assert report["added"] == 0
    store = open_store(tmp_path / "store")
    assert store.events.collect().schema == pl.Schema(EVENT_SCHEMA)
    assert store.events.collect().height == 0


def test_fetch_ledger_entries_are_kept_as_the_api_client_wrote_them(tmp_path: Path) -> None:
    # The API client records its own counts (events_added, duplicates_dropped, ...) and
    # appends the entry after the pages were written; the store must not add zeros beside them.
    events, _ = events_from_records(CV[:3], source_file="https://api.example/v1/audit-log#fetch=f1&page=1")
    write_store(tmp_path / "store", events, kind="fetches")
    entry = {"fetch_id": "f1", "events": 3, "events_added": 3, "duplicates_dropped": 0, "complete": True}
    write_store(tmp_path / "store", pl.DataFrame(schema=EVENT_SCHEMA), ledger_entries=[entry], kind="fetches")
    assert open_store(tmp_path / "store").ledger["fetches"] == [entry]


def test_quarantine_is_not_doubled_when_a_file_is_ingested_again_without_its_ledger_entry(tmp_path: Path) -> None:
    src = _write(tmp_path / "w.ndjson", render("workspace", "ndjson", WS[:2]) + b"{broken\n" + b'{"id": "caf\xe9\n')
    write_store(tmp_path / "store", load(src))
    ledger_path = tmp_path / "store" / "ledger.json"
    ledger = json.loads(ledger_path.read_text())
    ledger["inputs"] = []  # an analyst removed the entry to force a re-ingest
    ledger_path.write_text(json.dumps(ledger))
    again = write_store(tmp_path / "store", load(src))
    assert (again["added"], again["quarantined"]) == (0, 0)
    quarantine = open_store(tmp_path / "store").quarantine
    assert quarantine["source_line"].to_list() == [3, 4]
    # The same position with other bytes (the line was edited in place) is a new quarantine row.
    _write(src, render("workspace", "ndjson", WS[:2]) + b"{brokeN\n" + b'{"id": "caf\xe9\n')
    edited = write_store(tmp_path / "store", load(src))
    assert edited["quarantined"] == 1
    assert sorted(open_store(tmp_path / "store").quarantine["source_line"].to_list()) == [3, 3, 4]


def test_a_resumed_fetch_rewriting_a_page_does_not_double_its_quarantine(tmp_path: Path) -> None:
    page = [*CV[:2], {"event_id": "bad"}, {"event_id": "bad"}]
    events, quarantine = events_from_records(page, source_file="https://api.example/v1/audit-log#fetch=f1&page=1")
    assert quarantine.height == 2  # two positions, same bytes: two rows
    write_store(tmp_path / "store", events, quarantine=quarantine, kind="fetches")
    again = write_store(tmp_path / "store", events, quarantine=quarantine, kind="fetches")
    assert again["quarantined"] == 0
    assert open_store(tmp_path / "store").quarantine["source_line"].to_list() == [3, 4]
