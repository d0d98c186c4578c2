"""benchmarks/replicate.py: a larger store built from copies of a sample's store stays a valid log.

The 50M-event measurements (docs/performance.md) run on copies of one sample's store; these
tests pin what they rely on: every copy's workspace chain verifies on its own, no event is
deduplicated away, the conversations of all copies are replayed, and the ledger reconciles.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from auditreports.integrity import verify
from auditreports.sources import load
from auditreports.store import open_store, write_store
from benchmarks.replicate import replicate


def test_copies_of_a_store_are_as_many_intact_chains_and_every_event_once(data_samples: Path, tmp_path: Path) -> None:
    events = load([data_samples / "workspace", data_samples / "conversations"]).events.collect()
    write_store(tmp_path / "one", events)
    assert replicate(tmp_path / "one", tmp_path / "three", 3) == 3 * events.height
    store = open_store(tmp_path / "three")
    assert store.reconcile() == []
    stored = store.events.select("event_id", "source", "conversation_id").collect()
    assert stored.height == 3 * events.height and stored["event_id"].n_unique() == stored.height
    v = verify(store, period="2026-Q3")
    assert not v.breaks
    assert sorted(v.chain_heads) == ["workspace", "workspace~r1", "workspace~r2"]
    (continuity,) = [c for c in v.checks if c.check == "continuity"]
    conversations = events.filter(pl.col("source") == "conversation")
    assert continuity.events == 3 * conversations.height and not continuity.breaks
    assert stored["conversation_id"].n_unique() == 3 * events["conversation_id"].n_unique() - 2  # null once


def test_copies_of_a_samples_files_ingest_as_new_events_each(data_samples: Path, tmp_path: Path) -> None:
    """The files copied for the ingest measurement: every copy's events are new events, none lost or merged."""
    from auditreports.ingest import ingest
    from benchmarks.replicate import replicate_files

    one = load([data_samples / "workspace", data_samples / "conversations"]).events.collect()
    written = replicate_files(data_samples, tmp_path / "files", 2)
    assert written == 2 * len(
        [*(data_samples / "workspace").glob("*.gz"), *(data_samples / "conversations").glob("*.gz")]
    )
    ingest([tmp_path / "files"], tmp_path / "store")
    stored = open_store(tmp_path / "store").events.select("event_id", "conversation_id", "source").collect()
    assert stored.height == 2 * one.height and stored["event_id"].n_unique() == stored.height
    assert stored["conversation_id"].n_unique() == 2 * one["conversation_id"].n_unique() - 1  # null once
    copied = stored.filter(pl.col("event_id").str.contains("_r1_"))
    assert copied.height == one.height and set(copied["source"].unique()) == {"workspace", "conversation"}
