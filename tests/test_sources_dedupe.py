"""Identical duplicates are dropped only when the original record is the same; otherwise a conflict."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from test_sources_formats import records, render, write

from auditreports.sources import load
from auditreports.store import open_store, write_store

WS = records("workspace")


@pytest.mark.shared
def test_azure_sign_ins_sharing_an_id_are_conflicts_not_duplicates(shared_real: Path) -> None:
    # 86 distinct sign-in records, 45 distinct Ids: the mapped columns tie for many of them,
    # the records do not. None may be dropped as an "identical duplicate".
    path = shared_real / "msticpy-testdata/aad_logons.ndjson"
    lines = path.read_bytes().splitlines()
    assert len({json.dumps(json.loads(x), sort_keys=True) for x in lines}) == 86
    result = load(path)
    events = result.events.collect()
    assert (events.height, result.duplicates) == (86, 0)
    repeated = events.filter(pl.col("event_id").is_duplicated())
    assert repeated.height == result.conflicts > 0
    assert repeated["flags"].list.contains("id_conflict").all()
    assert not events.filter(~pl.col("event_id").is_duplicated())["flags"].list.contains("id_conflict").any()


@pytest.mark.shared
def test_re_ingesting_the_azure_file_under_another_name_adds_nothing(shared_real: Path, tmp_path: Path) -> None:
    original = shared_real / "msticpy-testdata/aad_logons.ndjson"
    # The same records re-serialised (other key order and spacing) are the same events.
    copy = tmp_path / "aad_copy.ndjson"
    copy.write_text(
        "".join(
            json.dumps(json.loads(x), sort_keys=True, indent=None) + "\n" for x in original.read_text().splitlines()
        )
    )
    write_store(tmp_path / "store", load(original))
    report = write_store(tmp_path / "store", load(copy))
    assert (report["added"], report["already_in_store"], report["conflicts"]) == (0, 86, 0)
    assert open_store(tmp_path / "store").events.collect().height == 86


def test_whitespace_and_key_order_do_not_make_a_record_different(tmp_path: Path) -> None:
    record = WS[0]
    reordered = dict(reversed(list(record.items())))
    a = write(tmp_path / "a.ndjson", (json.dumps(record) + "\n").encode())
    b = write(tmp_path / "b.ndjson", (json.dumps(reordered, indent=None, separators=(" ,", " : ")) + "\n").encode())
    result = load([a, b])
    assert (result.events.collect().height, result.duplicates, result.conflicts) == (1, 1, 0)


def test_a_json_export_and_a_csv_export_of_the_same_events_are_one_set(tmp_path: Path) -> None:
    a = write(tmp_path / "a.json", render("workspace", "json-array-pretty", WS))
    b = write(tmp_path / "b.csv", render("workspace", "csv", WS))
    result = load([a, b])
    assert (result.events.collect().height, result.duplicates, result.conflicts) == (len(WS), len(WS), 0)


def test_a_difference_in_a_field_the_format_does_not_map_is_a_conflict(tmp_path: Path) -> None:
    # Same id, same mapped fields, but the exporter added a field with another value:
    # not the same record, so both are kept and flagged (in one load and against a store).
    first = {**WS[0], "export_batch": "2026-07-01"}
    second = {**WS[0], "export_batch": "2026-07-02"}
    a = write(tmp_path / "a.ndjson", render("workspace", "ndjson", [first]))
    b = write(tmp_path / "b.ndjson", render("workspace", "ndjson", [second]))
    result = load([a, b])
    events = result.events.collect()
    assert (events.height, result.duplicates, result.conflicts) == (2, 0, 2)
    assert events["flags"].list.contains("id_conflict").all()
    write_store(tmp_path / "store", load(a))
    report = write_store(tmp_path / "store", load(b))
    assert (report["added"], report["conflicts"]) == (1, 1)
    stored = open_store(tmp_path / "store").events.collect()
    assert stored["flags"].list.contains("id_conflict").to_list() == [True, True]
