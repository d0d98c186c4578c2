"""Verification that reads the stored records in batches gives the verdict of the whole log held at once.

``verify`` collects a log without its stored records (``raw``) and reads them
``BATCH_ROWS`` rows at a time from the store, checking each record against its own
hash. These tests pin that the batches change nothing: on the committed sample, its
tampered copies and tampering placed across day boundaries (a store's partitions) and
across batch boundaries, the verification of a store read in small batches equals the
verification of the same events held in memory, and its chain breaks equal those of
the chain check run on every record with its ``raw`` (the whole-log path).
"""

from __future__ import annotations

import importlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from auditreports.integrity import IntegritySettings, physical_order, verify, verify_chain
from auditreports.sources import load
from auditreports.store import open_store, write_store

AS_OF = datetime(2026, 10, 15, tzinfo=UTC)
# The module (the package exports the function under the same name).
verify_module = importlib.import_module("auditreports.integrity.verify")


def _truth(data_samples: Path) -> dict[str, Any]:
    truth: dict[str, Any] = json.loads((data_samples / "ground_truth.json").read_text(encoding="utf-8"))
    return truth


def _store(events: pl.DataFrame, where: Path) -> pl.LazyFrame:
    write_store(where, events)
    return open_store(where).events


def _whole_chain(events: pl.DataFrame, source: str = "workspace") -> list[dict[str, Any]]:
    """The chain breaks of one source checked with every record held (the path before batching)."""
    ordered = physical_order(events.filter(pl.col("source") == source))
    report = verify_chain(ordered, source=source, settings=IntegritySettings())
    return [b.to_dict() for b in report.breaks]


def _chain(v: Any, source: str = "workspace") -> list[dict[str, Any]]:
    (check,) = [c for c in v.checks if c.check == "hash_chain" and c.source == source]
    return [b.to_dict() for b in check.breaks]


def _same(events: pl.DataFrame, where: Path, monkeypatch: pytest.MonkeyPatch, *, period: str | None = None) -> Any:
    """Verify the events held in memory and as a store read in small batches; both must agree."""
    held = verify(events, as_of=AS_OF, period=period)
    monkeypatch.setattr(verify_module, "BATCH_ROWS", 997)  # batches cut across days, files and breaks
    batched = verify(_store(events, where), as_of=AS_OF, period=period)
    assert batched.to_dict() == held.to_dict()
    return batched


@pytest.mark.parametrize("kind", ["modified", "deleted", "swapped", "inserted"])
def test_a_tampered_copy_read_in_batches_gives_its_ground_truth_and_the_whole_log_verdict(
    data_samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    (entry,) = [t for t in _truth(data_samples)["tampered"] if t["kind"] == kind]
    events = load(data_samples / entry["path"]).events.collect()
    v = _same(events, tmp_path / "store", monkeypatch)
    assert [(b.kind, b.event_id, b.position) for b in v.breaks] == [
        (b["kind"], b["event_id"], b["position"]) for b in entry["breaks"]
    ]
    assert _chain(v) == _whole_chain(events)
    assert v.verdict == "FAILED"


@pytest.mark.slow
def test_the_sample_quarter_read_in_batches_gives_the_verdict_of_the_quarter_held_at_once(
    data_samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = load([data_samples / "workspace", data_samples / "conversations"]).events.collect()
    v = _same(events, tmp_path / "store", monkeypatch, period="2026-Q3")
    assert (
        _chain(v) == []
        and v.chain_heads["workspace"]["head"]["seq"] == events.filter(pl.col("source") == "workspace")["seq"].max()
    )


def _days(events: pl.DataFrame) -> pl.DataFrame:
    """The workspace log in physical order, with each record's UTC day."""
    ordered = physical_order(events.filter(pl.col("source") == "workspace"))
    return ordered.with_columns(day=pl.col("timestamp").dt.date())


def _boundary(ordered: pl.DataFrame) -> int:
    """The position of the first record of a day (not the log's first day)."""
    firsts = ordered.filter(pl.col("day") != pl.col("day").shift(1)).filter(pl.col("position") > 0)
    return int(firsts["position"][1])


def test_a_day_opens_with_a_record_that_links_to_the_last_of_the_day_before_and_verifies_across_the_boundary(
    data_samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = load(data_samples / "workspace" / "workspace-audit-2026-Q3-0001.ndjson.gz").events.collect()
    ordered = _days(events)
    first = _boundary(ordered)
    assert ordered["day"][first] != ordered["day"][first - 1]
    assert ordered["prev_hash"][first] == ordered["hash"][first - 1]  # the link the partitions cut
    monkeypatch.setattr(verify_module, "BATCH_ROWS", first)  # a batch ends exactly at the day's end
    v = verify(_store(events, tmp_path / "store"), as_of=AS_OF)
    assert _chain(v) == [] and not [c for c in v.checks if c.check == "sequence" and c.breaks]


def test_records_deleted_across_a_day_boundary_are_one_deletion_of_two_in_batches_and_whole(
    data_samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = load(data_samples / "workspace" / "workspace-audit-2026-Q3-0001.ndjson.gz").events.collect()
    ordered = _days(events)
    first = _boundary(ordered)
    gone = ordered["event_id"].gather([first - 1, first]).to_list()  # a day's last record and the next day's first
    tampered = events.filter(~pl.col("event_id").is_in(gone))
    v = _same(tampered, tmp_path / "store", monkeypatch)
    (deleted,) = v.breaks
    assert (deleted.kind, deleted.event_id, deleted.position) == ("deleted", ordered["event_id"][first + 1], first - 1)
    assert deleted.extra["missing_records"] == 2
    assert _chain(v) == _whole_chain(tampered)


def test_a_day_whose_first_record_was_rewritten_is_found_in_batches_as_in_the_whole_log(
    data_samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = load(data_samples / "workspace" / "workspace-audit-2026-Q3-0001.ndjson.gz").events.collect()
    ordered = _days(events)
    first = _boundary(ordered)
    target = ordered["event_id"][first]
    # The stored record says another actor did it; its hash is left as it was.
    record = json.loads(ordered["raw"][first])
    record["actor"] = {**record.get("actor", {}), "id": "usr_forged"}
    tampered = events.with_columns(
        raw=pl.when(pl.col("event_id") == target)
        .then(pl.lit(json.dumps(record, separators=(",", ":"))))
        .otherwise(pl.col("raw"))
    )
    v = _same(tampered, tmp_path / "store", monkeypatch)
    assert [(b.kind, b.event_id, b.position) for b in v.breaks] == [("modified", target, first)]
    assert _chain(v) == _whole_chain(tampered)
