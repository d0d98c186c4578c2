"""Bounded-memory ingest: many small batches store exactly what one batch stores, event for event."""

from __future__ import annotations

import copy
import gzip
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from test_sources_formats import records

from auditreports.ingest import batches, ingest
from auditreports.store import open_store, reconcile

TEMPLATE = records("workspace")[0]


def _line(tag: str, i: int, **change: object) -> str:
    rec = copy.deepcopy(TEMPLATE)
    rec["id"] = f"evt_{tag}_{i:05d}"
    rec["sequence"] = i + 1
    rec["occurred_at"] = f"2026-07-{1 + i % 28:02d}T{i % 24:02d}:00:00.000Z"
    rec.pop("hash", None)
    rec.pop("prev_hash", None)
    rec.update(change)
    return json.dumps(rec)


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    """Three exports that overlap: identical copies, an id conflict, a bad line, a blank line, gzip."""
    folder = tmp_path / "exports"
    folder.mkdir()
    a = [_line("a", i) for i in range(300)]
    (folder / "1-a.ndjson").write_text("\n".join(a) + "\n", encoding="utf-8")
    b = [_line("b", i) for i in range(300)] + a[:50]  # 50 identical copies of a's events
    b += [_line("a", 60, outcome="success"), "{cut off", ""]  # a conflict, a bad line, a blank line
    (folder / "2-b.ndjson.gz").write_bytes(gzip.compress(("\n".join(b) + "\n").encode("utf-8"), mtime=0))
    c = [_line("c", i) for i in range(200)] + [b[10], _line("b", 20, action="auth.login_succeeded")]
    (folder / "3-c.ndjson").write_text("\n".join(c) + "\n", encoding="utf-8")
    return folder


def _stored(store: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    s = open_store(store)
    events = s.events.collect().sort("event_id", "source_file", "source_line")
    quarantine = s.quarantine.sort("source_file", "source_line")
    return events, quarantine


def test_a_byte_budget_forcing_one_batch_per_file_stores_what_one_batch_stores(tmp_path: Path, exports: Path) -> None:
    one = ingest(exports, tmp_path / "one")
    many = ingest(exports, tmp_path / "many", batch_bytes=1)
    assert one.batches == 1 and many.batches == 3
    one_events, one_quarantine = _stored(tmp_path / "one")
    many_events, many_quarantine = _stored(tmp_path / "many")
    assert one_events.height == 300 + 300 + 200 + 2  # copies kept once, the two conflicting versions both kept
    assert many_events.equals(one_events)
    assert many_quarantine.equals(one_quarantine) and many_quarantine.height == 1
    flagged = many_events.filter(pl.col("flags").list.contains("id_conflict"))
    assert sorted(flagged["event_id"].to_list()) == ["evt_a_00060", "evt_a_00060", "evt_b_00020", "evt_b_00020"]
    # Every line reconciles, per file, in both stores; the ledger agrees with the parts.
    for store, result in ((tmp_path / "one", one), (tmp_path / "many", many)):
        assert reconcile(store) == []
        entries = open_store(store).ledger["inputs"]
        assert [Path(e["path"]).name for e in entries] == ["1-a.ndjson", "2-b.ndjson.gz", "3-c.ndjson"]
        for e in entries:
            assert e["lines_read"] == e["loaded"] + e["quarantined"] + e["blank"]
        assert result.load.lines_read == 300 + 353 + 202
    # Identical copies in a later batch are found in the store, not in the batch.
    assert one.load.duplicates == 51 and one.store["already_in_store"] == 0
    assert many.load.duplicates == 0 and many.store["already_in_store"] == 51
    assert many.store["added"] == one.store["added"] == one_events.height


def test_batches_follow_the_decompressed_size_and_keep_the_order(exports: Path) -> None:
    files = [(str(p), True) for p in sorted(exports.iterdir())]
    sizes = [
        len(gzip.decompress(p.read_bytes())) if p.suffix == ".gz" else p.stat().st_size
        for p in sorted(exports.iterdir())
    ]
    assert list(batches(files, 10**9)) == [files]
    assert list(batches(files, 1)) == [[f] for f in files]
    # The gzip file counts as its text, not its compressed bytes: it does not fit beside the first file
    # in a budget its compressed size would fit in.
    on_disk = (exports / "2-b.ndjson.gz").stat().st_size
    assert sizes[1] > 4 * on_disk
    assert next(iter(batches(files, sizes[0] + on_disk))) == [files[0]]
    assert next(iter(batches(files, sizes[0] + sizes[1]))) == files[:2]


_CRASH_IN_SECOND_BATCH = """
import os, sys
import auditreports.store as store
from auditreports.ingest import ingest
real, calls = store._write_partitions, []
def write_then_die(plan):
    calls.append(1)
    out = real(plan)
    if len(calls) == 2:
        os._exit(9)   # as kill -9 would: the second batch's parts written, its ledger entry not
    return out
store._write_partitions = write_then_die
ingest(sys.argv[2], sys.argv[1], batch_bytes=1)
"""


def test_an_ingest_killed_mid_batch_is_completed_by_running_it_again(tmp_path: Path, exports: Path) -> None:
    store = tmp_path / "store"
    child = subprocess.run([sys.executable, "-c", _CRASH_IN_SECOND_BATCH, str(store), str(exports)], timeout=300)
    assert child.returncode == 9
    assert any("not in the ledger" in p for p in reconcile(store))
    assert [Path(e["path"]).name for e in open_store(store).ledger["inputs"]] == ["1-a.ndjson"]
    again = ingest(exports, store, batch_bytes=1)
    assert again.store["skipped_inputs"] == [str(exports / "1-a.ndjson")]
    assert reconcile(store) == []
    ingest(exports, tmp_path / "clean")
    assert _stored(store)[0].equals(_stored(tmp_path / "clean")[0])


def test_cli_ingest_in_batches_reports_the_batches_and_refuses_a_zero_budget(tmp_path: Path, exports: Path) -> None:
    cmd = [sys.executable, "-m", "auditreports", "ingest", str(exports), "--store", str(tmp_path / "s")]
    out = subprocess.run([*cmd, "--batch-mb", "1", "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    totals = json.loads(out.stdout)["totals"]
    assert totals["batches"] == 1 and totals["added"] == 802 and totals["quarantined"] == 1
    bad = subprocess.run([*cmd, "--batch-mb", "0"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "--batch-mb must be a positive" in bad.stderr
    assert "Traceback" not in bad.stderr
