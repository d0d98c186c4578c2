"""End to end over the committed sample quarter: every line reconciles, nothing is quarantined."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from auditreports.schema import EVENT_SCHEMA, REQUIRED_COLUMNS
from auditreports.sources import load


@pytest.mark.slow  # ~150,000 events in 28 files: a few seconds alone, more on a busy machine
def test_the_whole_sample_quarter_loads_without_loss(data_samples: Path) -> None:
    truth = json.loads((data_samples / "ground_truth.json").read_text(encoding="utf-8"))
    # Every file, the tampered copies and the exports too (named: a walk leaves them out).
    result = load([data_samples, data_samples / "tampered", data_samples / "exports"])
    events = result.events.collect()
    assert result.quarantine.height == 0, result.quarantine.head(5).to_dicts()
    for entry in result.ledger:
        assert entry["lines_read"] == entry["loaded"] + entry["quarantined"] + entry["blank"], entry
        assert entry["quarantined"] == 0 and entry["error"] is None
    # Rosters, the README and the ground truth are no audit log: skipped, not quarantined.
    skipped = {Path(s["path"]).name for s in result.skipped if Path(s["path"]).is_file()}
    assert {"customers.csv", "staff.csv", "ground_truth.json"} <= skipped
    assert all(Path(e["path"]).name not in skipped for e in result.ledger)

    per_file = {str(Path(e["path"]).relative_to(data_samples)): e for e in result.ledger}
    for part in truth["workspace"]["files"] + truth["conversations"]["files"]:
        assert per_file[part["path"]]["events"] == part["events"]
    assert (
        per_file[truth["examples"]["workspace_csv"]["path"]]["events"] == truth["examples"]["workspace_csv"]["events"]
    )
    assert per_file[truth["examples"]["workspace_csv"]["path"]]["layout"] == "csv"

    assert events.schema == pl.Schema(EVENT_SCHEMA)
    assert events.select(pl.all_horizontal(pl.col(c).is_not_null() for c in REQUIRED_COLUMNS).all()).item()
    workspace = events.filter(pl.col("source") == "workspace")
    conversation = events.filter(pl.col("source") == "conversation")
    # The week's CSV and the conversation export repeat events of the full logs: kept once.
    # The tampered copies differ from the originals only where they were tampered with.
    modified = next(t for t in truth["tampered"] if t["kind"] == "modified")["breaks"][0]["event_id"]
    conflicted = events.filter(pl.col("flags").list.contains("id_conflict"))
    assert modified in conflicted["event_id"].to_list()
    inserted = sum(len(t["breaks"]) for t in truth["tampered"] if t["kind"] == "inserted")
    assert workspace["event_id"].n_unique() == truth["workspace"]["events"] + inserted
    assert conversation["event_id"].n_unique() == truth["conversations"]["events"]
    assert set(events["flags"].explode().drop_nulls().unique()) <= {"removed_user", "id_conflict"}


@pytest.mark.slow  # loads the sample quarter
def test_the_natural_first_ingest_of_data_samples_is_the_quarter_once(data_samples: Path) -> None:
    """`ingest data_samples` loads workspace + conversations; the tampered copies and exports stay out, listed."""
    truth = json.loads((data_samples / "ground_truth.json").read_text(encoding="utf-8"))
    result = load(data_samples)
    loaded = {str(Path(e["path"]).relative_to(data_samples)) for e in result.ledger}
    assert loaded == {f["path"] for f in truth["workspace"]["files"] + truth["conversations"]["files"]}
    assert result.duplicates == 0 and result.conflicts == 0
    assert (
        result.events.select(pl.len()).collect().item()
        == truth["workspace"]["events"] + truth["conversations"]["events"]
    )
    folders = {Path(s["path"]).name: s["reason"] for s in result.skipped if Path(s["path"]).is_dir()}
    assert set(folders) == {"tampered", "exports"}
    assert "tampered copies" in folders["tampered"] and "name it explicitly" in folders["tampered"]
    assert f"{data_samples / 'tampered'} (tampered copies" in result.summary()
