"""Verification of a store in bounded memory gives the verdict of the log held at once.

``verify`` on a store reads each source a run of files at a time (``CHUNK_ROWS``), checks
links with the carry across runs, keeps only the columns sequence and coverage read, and
replays conversations a bucket at a time (``SPILL_BUCKET_ROWS``); a damaged chain is
classified from the rows around its breaks, looked up in further passes over the runs
(:mod:`auditreports.integrity.damaged`). These tests cut the runs at every file (each sample
file is split into files of a few hundred lines, so a run boundary falls everywhere: inside a
day, across a day, inside a conversation, inside a break) and pin that the verification equals
that of the same events held in memory - intact, damaged, with a period, with the previous
period's manifest, without a chain, without files or times - and that a log of JSON records,
intact or damaged, is never held whole.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from auditreports.integrity import verify
from auditreports.sources import load
from auditreports.store import open_store, write_store

bounded = importlib.import_module("auditreports.integrity.bounded")
chain = importlib.import_module("auditreports.integrity.chain")
damaged = importlib.import_module("auditreports.integrity.damaged")
from tests.test_integrity_chain import build_chain, rehash, to_frame  # noqa: E402
from tests.test_integrity_streaming import AS_OF, _truth  # noqa: E402


@pytest.fixture(scope="module")
def sample(data_samples: Path) -> pl.DataFrame:
    """The sample quarter, each file cut into files of 400 lines (runs of one file each below)."""
    events = load([data_samples / "workspace", data_samples / "conversations"]).events.collect()
    return _split(events, 400)


def _split(events: pl.DataFrame, lines: int) -> pl.DataFrame:
    # A suffix that sorts in line order, so the physical order of the pieces is the file's.
    piece = (pl.col("source_line") // lines).cast(pl.String).str.zfill(4)
    return events.with_columns(pl.format("{}#{}", pl.col("source_file"), piece).alias("source_file"))


class _Held:
    """Counts the sources the bounded verification had to hold whole (CSV rows), the joins over every
    stored hash of a source (the classification of a source held whole), and the passes over a
    damaged chain with the rows they kept."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sources: list[str] = []
        self.joins = 0
        self.passes = 0
        self.kept = 0  # rows of the chain held for the classification (the largest number)
        original = bounded._whole

        def whole(lf: pl.LazyFrame, source: str, **kw: Any) -> Any:
            self.sources.append(source)
            return original(lf, source, **kw)

        held_chain = chain.HeldChain

        def join(*args: Any, **kw: Any) -> Any:
            self.joins += 1
            return held_chain(*args, **kw)

        one_pass = damaged._Known._pass

        def counted(known: Any, *args: Any, **kw: Any) -> Any:
            self.passes += 1
            found = one_pass(known, *args, **kw)
            self.kept = max(self.kept, len(known.rows))
            return found

        monkeypatch.setattr(bounded, "_whole", whole)
        monkeypatch.setattr(chain, "HeldChain", join)
        monkeypatch.setattr(damaged._Known, "_pass", counted)


def _both(events: pl.DataFrame, where: Path | None, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> tuple[Any, _Held]:
    """Verify the events held in memory and as a store (or any lazy frame) read a file at a time; both must agree."""
    held = verify(events, as_of=AS_OF, **kw)
    monkeypatch.setattr(bounded, "CHUNK_ROWS", 1)  # every file is a run of its own
    monkeypatch.setattr(bounded, "SPILL_BUCKET_ROWS", 2_000)  # conversations in many buckets
    whole = _Held(monkeypatch)
    if where is None:
        lazy = events.lazy()
    else:
        write_store(where, events)
        lazy = open_store(where).events
    got = verify(lazy, as_of=AS_OF, **kw)
    assert got.to_dict() == held.to_dict()
    return got, whole


def _checks(v: Any, check: str) -> list[Any]:
    return [c for c in v.checks if c.check == check]


def test_the_intact_quarter_is_verified_a_file_at_a_time_and_never_held_whole(
    sample: pl.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v, whole = _both(sample, tmp_path / "store", monkeypatch, period="2026-Q3")
    assert whole.sources == []
    assert sample["source_file"].n_unique() > 300  # hundreds of runs, so hundreds of carries
    (chain,) = [c for c in _checks(v, "hash_chain") if c.source == "workspace"]
    assert chain.breaks == () and v.chain_heads["workspace"]["head"]["position"] == chain.events - 1
    (continuity,) = _checks(v, "continuity")
    assert v.sources[0]["conversations"] and continuity.events > 50_000
    assert [g["start"][:10] for g in v.gaps] == ["2026-08-19"]  # the planted outage, from the kept times


def test_a_month_takes_its_anchor_from_the_record_before_it_and_its_conversations_history(
    sample: pl.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v, whole = _both(sample, tmp_path / "store", monkeypatch, period="2026-09")
    assert whole.sources == []
    (chain,) = [c for c in _checks(v, "hash_chain") if c.source == "workspace"]
    assert chain.breaks == () and chain.unverified == ()  # the first September record links to August's last


def test_conversation_state_breaks_found_bucket_by_bucket_are_those_of_one_replay(
    sample: pl.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversations = sample.filter(pl.col("source") == "conversation")
    # Remove a state change from every 500th conversation: its next event's before no longer matches.
    ids = conversations["conversation_id"].unique().sort()[::500].to_list()
    changes = conversations.filter(
        pl.col("conversation_id").is_in(ids) & pl.col("before").is_not_null() & pl.col("after").is_not_null()
    )
    gone = changes.group_by("conversation_id").agg(pl.col("event_id").sort_by("timestamp").get(1))["event_id"]
    v, whole = _both(sample.filter(~pl.col("event_id").is_in(gone.implode())), tmp_path / "store", monkeypatch)
    (continuity,) = _checks(v, "continuity")
    assert len({b.event_id for b in continuity.breaks}) >= len(ids) // 2
    assert [b.position for b in continuity.breaks if b.kind == "state_mismatch"] == sorted(
        b.position for b in continuity.breaks if b.kind == "state_mismatch"
    )
    assert whole.sources == []  # the workspace chain is intact; conversations have none


@pytest.mark.parametrize("kind", ["modified", "deleted", "swapped", "inserted"])
def test_a_damaged_chain_is_classified_a_run_at_a_time_as_held_whole(
    data_samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    (entry,) = [t for t in _truth(data_samples)["tampered"] if t["kind"] == kind]
    events = _split(load(data_samples / entry["path"]).events.collect(), 300)
    v, whole = _both(events, tmp_path / "store", monkeypatch)
    assert whole.sources == [] and whole.joins == 0  # never collected, never joined over every hash
    assert whole.passes <= 2 and whole.kept < 100  # of 10,000 records (a modified one needs no pass)
    assert [(b.kind, b.event_id) for b in v.breaks] == [(b["kind"], b["event_id"]) for b in entry["breaks"]]


def test_the_previous_manifest_continued_and_a_discontinuity_are_both_bounded(
    sample: pl.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = sample.filter(pl.col("source") == "workspace")
    august = verify(workspace, as_of=AS_OF, period="2026-08")
    previous = {"manifest_id": "august", "chains": august.chain_heads}
    v, whole = _both(workspace, tmp_path / "a", monkeypatch, period="2026-09", previous_manifest=previous)
    assert whole.sources == [] and not v.breaks
    # The log handed over later lost September's first records: it no longer continues August's head.
    last_august = august.chain_heads["workspace"]["head"]["seq"]
    cut = workspace.filter(~pl.col("seq").is_between(last_august + 1, last_august + 3))
    v, whole = _both(cut, tmp_path / "b", monkeypatch, period="2026-09", previous_manifest=previous)
    assert [b.kind for b in v.breaks] == ["discontinuity"]
    assert whole.sources == [] and whole.joins == 0 and whole.passes == 1  # where the head's hash is: one pass


def test_a_log_without_a_chain_gives_its_holes_repeats_and_backward_steps_across_runs(
    sample: pl.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = sample.filter(pl.col("source") == "workspace").with_columns(
        pl.lit(None, dtype=pl.String).alias("hash"), pl.lit(None, dtype=pl.String).alias("prev_hash")
    )
    seqs = workspace["seq"].sort()
    hole = seqs.gather([1000, 1001, 1002])  # three records gone (a hole spanning files of 400 lines)
    repeated = workspace.filter(pl.col("seq") == seqs[5000]).with_columns(
        pl.lit("evt_repeat").alias("event_id"), (pl.col("source_line") + 1).alias("source_line")
    )
    tampered = pl.concat([workspace.filter(~pl.col("seq").is_in(hole.implode())), repeated])
    v, whole = _both(tampered, tmp_path / "store", monkeypatch)
    (sequence,) = _checks(v, "sequence")
    assert {b.kind for b in sequence.breaks} >= {"seq_gap", "seq_duplicate"}
    (chain,) = _checks(v, "hash_chain")
    assert chain.unverified and whole.sources == []


def test_events_without_a_file_or_a_time_are_verified_as_held(
    sample: pl.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # API pages carry no file; a vendor record may carry no time (which a store does not hold:
    # the loader quarantines it; a lazy frame handed to verify() can).
    events = sample.filter(pl.col("source") == "conversation").head(20_000)
    events = events.with_columns(
        pl.when(pl.col("source_line") % 3 == 0).then(None).otherwise(pl.col("source_file")).alias("source_file"),
        pl.when(pl.col("source_line") % 97 == 0).then(None).otherwise(pl.col("timestamp")).alias("timestamp"),
    )
    v, _ = _both(events, None, monkeypatch)
    assert v.events_checked == events.height


def test_the_result_of_a_bounded_verification_is_json_as_the_manifest_writes_it(
    sample: pl.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v, _ = _both(sample.filter(pl.col("source") == "workspace"), tmp_path / "store", monkeypatch)
    assert json.loads(json.dumps(v.to_dict()))["chain_heads"]["workspace"]["head"]["hash"]


# Damaged chains built record by record (tests/test_integrity_chain.py), cut into files of a few
# records: every break and everything its classification reads around it falls across runs.


def _files(records: list[dict[str, Any]], lines: int = 7) -> pl.DataFrame:
    return _split(to_frame(records), lines)


def _deleted(records: list[dict[str, Any]], at: int) -> list[dict[str, Any]]:
    return records[:at] + records[at + 2 :]


def _modified(records: list[dict[str, Any]], at: int) -> list[dict[str, Any]]:
    records[at] = {**records[at], "outcome": "success"}
    return records


def _rehashed(records: list[dict[str, Any]], at: int) -> list[dict[str, Any]]:
    records[at] = rehash({**records[at], "outcome": "success"})
    return records


def _swapped(records: list[dict[str, Any]], at: int) -> list[dict[str, Any]]:
    records[at], records[at + 1] = records[at + 1], records[at]
    return records


def _relinked(records: list[dict[str, Any]], at: int) -> list[dict[str, Any]]:
    # A valid forged record spliced in, its successor's prev_hash re-pointed at it.
    forged = rehash({**records[at - 1], "id": "evt_forged", "prev_hash": records[at - 1]["hash"], "outcome": "success"})
    records.insert(at, forged)
    records[at + 1] = {**records[at + 1], "prev_hash": forged["hash"]}
    return records


def _relinked_over_three(records: list[dict[str, Any]], at: int) -> list[dict[str, Any]]:
    prev = records[at - 1]["hash"]
    forged = []
    for k in range(3):
        record = rehash({**records[at - 1], "id": f"evt_forged_{k}", "prev_hash": prev, "outcome": "success"})
        forged.append(record)
        prev = record["hash"]
    records[at:at] = forged
    records[at + 3] = {**records[at + 3], "prev_hash": prev}
    return records


def _copy_before(records: list[dict[str, Any]], at: int) -> list[dict[str, Any]]:
    records.insert(at, {**records[at], "id": "evt_copy"})
    return records


def _copy_after(records: list[dict[str, Any]], at: int) -> list[dict[str, Any]]:
    records.insert(at + 1, {**records[at], "id": "evt_copy"})
    return records


_TAMPERING = [_deleted, _modified, _rehashed, _swapped, _relinked, _relinked_over_three, _copy_before, _copy_after]


@pytest.mark.parametrize("tamper", _TAMPERING, ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize("offset", [-2, -1, 0, 1])
def test_a_break_across_a_run_boundary_is_classified_as_held_whole(
    monkeypatch: pytest.MonkeyPatch, tamper: Any, offset: int
) -> None:
    # Line 70 opens the eleventh file of seven lines: the break falls just before, on or after it.
    records = tamper(build_chain(160), 69 + offset)
    v, whole = _both(_files(records), None, monkeypatch)
    assert v.breaks and whole.sources == [] and whole.joins == 0


@pytest.mark.parametrize(
    ("tamper", "at"),
    [(_deleted, 0), (_modified, 0), (_rehashed, 0), (_swapped, 0), (_copy_before, 0), (_copy_after, 0),
     (_relinked, 1), (_relinked_over_three, 1), (_rehashed, 1)],
    ids=lambda x: x.__name__.strip("_") if callable(x) else str(x),
)  # fmt: skip
def test_breaks_at_the_first_record_are_classified_as_held_whole(
    monkeypatch: pytest.MonkeyPatch, tamper: Any, at: int
) -> None:
    v, whole = _both(_files(tamper(build_chain(60), at), 3), None, monkeypatch)
    assert (v.breaks or v.unverified) and whole.sources == [] and whole.joins == 0


def test_records_reordered_across_runs_are_found_by_a_look_up_of_their_predecessor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = build_chain(400)
    moved = records.pop(30)
    records.insert(300, moved)  # stored 270 records (dozens of files) after its place
    records[100], records[200] = records[200], records[100]
    v, whole = _both(_files(records), tmp_path / "store", monkeypatch)
    assert {b.kind for b in v.breaks} == {"reordered"} and len(v.breaks) >= 3
    assert whole.sources == [] and whole.joins == 0 and whole.kept < 200


def test_a_forged_copy_in_another_run_than_its_original_is_inserted_and_the_original_is_not_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    records = build_chain(400)
    late, early = records[40], records[350]
    # A copy of an early record far after it (with a sequence number that fits where it sits),
    # and a copy of a late one far before it: the copy before its original carries the hash
    # first, but the original proves it (the holder rule).
    records.insert(300, {**late, "id": "evt_copy_late", "sequence": 300})
    records.insert(20, {**early, "id": "evt_copy_early"})
    v, whole = _both(_files(records), None, monkeypatch)
    chain_breaks = [(b.kind, b.event_ids) for b in v.breaks if b.check == "hash_chain"]
    assert chain_breaks == [("inserted", ("evt_copy_early",)), ("inserted", ("evt_copy_late",))]
    assert whole.sources == [] and whole.joins == 0


def test_a_copy_ahead_of_the_first_record_and_a_deleted_run_are_classified_as_held_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    records = build_chain(300)
    records = records[:100] + records[140:]  # 40 records gone: the hole spans files
    records.insert(0, {**records[0], "id": "evt_copy_first"})
    v, whole = _both(_files(records), None, monkeypatch)
    assert [(b.kind, b.event_id) for b in v.breaks] == [
        ("inserted", "evt_copy_first"),
        ("deleted", records[101]["id"]),
    ]
    assert v.breaks[1].extra["missing_records"] == 40
    assert whole.sources == [] and whole.joins == 0


def test_a_damaged_chain_against_the_previous_manifest_and_in_a_period_is_classified_as_held_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    records = build_chain(2000, step_min=90)  # about four months from July
    previous = {"manifest_id": "earlier", "chains": verify(to_frame(records), as_of=AS_OF).chain_heads}
    # Since then: the tail cut short, a record rewritten and one deleted.
    tampered = _deleted(_modified(records[:1900], 1200), 600)
    v, whole = _both(_files(tampered, 40), None, monkeypatch, previous_manifest=previous)
    assert [b.kind for b in v.breaks] == ["deleted", "modified", "truncated"]
    assert whole.sources == [] and whole.joins == 0
    v, whole = _both(_files(tampered, 40), None, monkeypatch, period="2026-08")
    assert [b.kind for b in v.breaks] == ["deleted"]
    assert whole.sources == [] and whole.joins == 0


def test_thousands_of_breaks_keep_rows_in_proportion_to_the_breaks_not_the_log(monkeypatch: pytest.MonkeyPatch) -> None:
    records = build_chain(12_000, step_min=1)
    for at in range(11_800, 50, -11):  # from the end, so each tampering leaves the positions before it
        records = _TAMPERING[at % len(_TAMPERING)](records, at)
    v, whole = _both(_files(records, 50), None, monkeypatch)
    breaks = len(v.breaks)
    assert breaks > 1000 and {b.kind for b in v.breaks} >= {"deleted", "modified", "inserted", "reordered"}
    assert whole.sources == [] and whole.joins == 0 and whole.passes <= 3
    assert whole.kept <= 40 * breaks
