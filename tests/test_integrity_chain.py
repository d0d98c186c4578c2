"""Hash chain: every kind of tampering is found, classified and placed, and nothing else is reported.

Chains are built here record by record the way the platform writes them (RFC 8785
JSON, sha256 over the record without "hash"), then loaded into canonical frames.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
import rfc8785

from auditreports.integrity import GENESIS, IntegritySettings, canonical_hash, verify
from auditreports.schema import conform

AS_OF = datetime(2026, 10, 15, tzinfo=UTC)
START = datetime(2026, 7, 1, tzinfo=UTC)


def chain_hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(rfc8785.dumps({k: v for k, v in record.items() if k != "hash"})).hexdigest()


def build_chain(
    n: int, *, first_seq: int = 1, prev: str = GENESIS, start: datetime = START, step_min: int = 5
) -> list[dict[str, Any]]:
    """``n`` workspace records chained from ``prev`` (genesis by default)."""
    out = []
    for i in range(n):
        record = {
            "id": f"evt_{first_seq + i:08d}",
            "sequence": first_seq + i,
            "occurred_at": (start + timedelta(minutes=step_min * i)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "category": "authentication",
            "action": "auth.login_failed",
            "actor": {"type": "user", "id": "usr_9", "email": "dana@acme.example", "name": "Dana Lée", "role": "admin"},
            "resource": {"type": "workspace", "id": "ws_1"},
            "outcome": "failure",
            "ip_address": "198.51.100.23",
            "user_agent": "Mozilla/5.0",
            "details": {
                "reason": "bad_password",
                "before": None,
                "after": None,
                "record_count": None,
                "subject_ids": [],
            },
            "prev_hash": prev,
        }
        record["hash"] = chain_hash(record)
        prev = record["hash"]
        out.append(record)
    return out


def rehash(record: dict[str, Any]) -> dict[str, Any]:
    record = dict(record)
    record["hash"] = chain_hash(record)
    return record


def to_frame(
    records: list[dict[str, Any]],
    *,
    lines: list[str] | None = None,
    file: str = "workspace-0001.ndjson",
    source: str = "workspace",
) -> pl.DataFrame:
    """Canonical events as a loader would produce them from an NDJSON file (one record per line)."""
    lines = lines if lines is not None else [rfc8785.dumps(r).decode() for r in records]
    n = len(records)
    return conform(
        pl.DataFrame(
            {
                "event_id": [r["id"] for r in records],
                "seq": [r.get("sequence") for r in records],
                "timestamp": [datetime.fromisoformat(r["occurred_at"].replace("Z", "+00:00")) for r in records],
                "event_type": ["auth.login.failure"] * n,
                "source_action": [r["action"] for r in records],
                "category": ["auth"] * n,
                "outcome": ["failure"] * n,
                "actor_type": ["user"] * n,
                "actor_id": [r["actor"]["id"] for r in records],
                "source": [source] * n,
                "source_file": [file] * n,
                "source_line": list(range(1, n + 1)),
                "raw": lines,
                "prev_hash": [r.get("prev_hash") for r in records],
                "hash": [r.get("hash") for r in records],
            },
            schema_overrides={"seq": pl.Int64},
        )
    ).collect()


def chain_breaks(records: list[dict[str, Any]], **kw: Any) -> list[tuple[str, str | None, int | None]]:
    v = verify(to_frame(records), as_of=AS_OF, **kw)
    return [(b.kind, b.event_id, b.position) for b in v.breaks]


def test_the_builder_writes_what_the_definition_says() -> None:
    record = build_chain(1)[0]
    assert canonical_hash(record) == record["hash"]
    assert json.loads(rfc8785.dumps(record))["hash"] == record["hash"]


def test_an_intact_chain_from_genesis_is_verified() -> None:
    v = verify(to_frame(build_chain(300)), as_of=AS_OF)
    assert v.check_verdict("hash_chain") == "VERIFIED"
    assert v.check_verdict("sequence") == "VERIFIED"
    assert v.breaks == []
    assert v.chain_heads["workspace"]["head"]["seq"] == 300


def test_a_modified_record_is_named_at_its_position() -> None:
    records = build_chain(200)
    records[57] = {**records[57], "ip_address": "203.0.113.9"}
    assert chain_breaks(records) == [("modified", records[57]["id"], 57)]


def test_a_modified_record_with_a_recomputed_hash_is_still_modified() -> None:
    records = build_chain(200)
    records[80] = rehash({**records[80], "outcome": "success"})
    assert chain_breaks(records) == [("modified", records[80]["id"], 80)]


def test_a_deleted_record_names_the_record_after_the_hole_and_how_many_are_missing() -> None:
    records = build_chain(200)
    gone = records.pop(120)
    v = verify(to_frame(records), as_of=AS_OF)
    assert [(b.kind, b.event_id, b.position) for b in v.breaks] == [("deleted", records[120]["id"], 120)]
    assert v.breaks[0].extra["missing_sequence"] == [gone["sequence"]]


def test_several_deleted_records_in_a_row_are_one_break() -> None:
    records = build_chain(200)
    del records[40:45]
    v = verify(to_frame(records), as_of=AS_OF)
    assert [(b.kind, b.position) for b in v.breaks] == [("deleted", 40)]
    assert v.breaks[0].extra["missing_records"] == 5


def test_swapped_records_are_one_reordered_break_naming_the_one_now_first() -> None:
    records = build_chain(200)
    records[150], records[151] = records[151], records[150]
    assert chain_breaks(records) == [("reordered", records[150]["id"], 150)]


def test_a_forged_record_with_a_valid_own_hash_is_inserted() -> None:
    records = build_chain(200)
    forged = rehash(
        {**records[99], "id": "evt_forged", "prev_hash": records[99]["hash"], "action": "data.conversations_exported"}
    )
    records.insert(100, forged)
    assert chain_breaks(records) == [("inserted", "evt_forged", 100)]


def test_every_break_is_found_when_there_are_several() -> None:
    records = build_chain(600)
    records[500], records[501] = records[501], records[500]
    records.insert(400, rehash({**records[399], "id": "evt_forged", "prev_hash": records[399]["hash"]}))
    del records[250]
    records[10] = {**records[10], "outcome": "success"}
    kinds = [k for k, _, _ in chain_breaks(records)]
    assert kinds == ["modified", "deleted", "inserted", "reordered"]


def test_lines_that_are_not_canonical_are_verified_by_the_slow_path() -> None:
    records = build_chain(50)
    lines = [json.dumps(r, indent=None, sort_keys=False, ensure_ascii=True) for r in records]  # key order, \u escapes
    v = verify(to_frame(records, lines=lines), as_of=AS_OF)
    assert v.check_verdict("hash_chain") == "VERIFIED"
    lines[7] = lines[7].replace("198.51.100.23", "198.51.100.24")
    v = verify(to_frame(records, lines=lines), as_of=AS_OF)
    assert [(b.kind, b.position) for b in v.breaks] == [("modified", 7)]


def test_a_nested_hash_member_does_not_fool_the_fast_path() -> None:
    records = build_chain(3)
    records[1]["details"]["hash"] = "0" * 64  # a "hash" key inside details, before the top-level one
    records[1] = rehash(records[1])
    records[2] = rehash({**records[2], "prev_hash": records[1]["hash"]})
    v = verify(to_frame(records), as_of=AS_OF)
    assert v.check_verdict("hash_chain") == "VERIFIED"


def test_parallel_hashing_finds_the_same_breaks() -> None:
    records = build_chain(3000)
    records[2500] = {**records[2500], "outcome": "success"}
    records[100] = {**records[100], "outcome": "success"}
    settings = IntegritySettings(hash_workers=2, parallel_threshold=1)
    v = verify(to_frame(records), as_of=AS_OF, settings=settings)
    assert [(b.kind, b.position) for b in v.breaks] == [("modified", 100), ("modified", 2500)]


def test_parallel_hashing_reads_records_across_buffers_in_physical_not_stored_order() -> None:
    # Rows arrive shuffled, so the physical order gathers string views that jump between
    # Polars' data buffers; chunks are claimed by two processes. Same breaks either way.
    records = build_chain(6000)
    for k in (0, 2999, 3000, 5999):
        records[k] = {**records[k], "ip_address": "203.0.113.7"}
    frame = to_frame(records).sample(fraction=1.0, shuffle=True, seed=7)
    for workers in (1, 2):
        settings = IntegritySettings(hash_workers=workers, parallel_threshold=1)
        v = verify(frame, as_of=AS_OF, settings=settings)
        assert [(b.kind, b.position) for b in v.breaks] == [
            ("modified", 0),
            ("modified", 2999),
            ("modified", 3000),
            ("modified", 5999),
        ]


def test_a_stored_hash_in_capitals_still_proves_the_content() -> None:
    records = build_chain(20)
    frame = to_frame(records).with_columns(
        pl.when(pl.col("seq") == 20).then(pl.col("hash").str.to_uppercase()).otherwise("hash").alias("hash")
    )
    v = verify(frame, as_of=AS_OF)
    assert v.check_verdict("hash_chain") == "VERIFIED"


def test_a_log_that_starts_mid_chain_without_a_previous_manifest_is_partial() -> None:
    later = build_chain(100, first_seq=101, prev="a" * 64)
    v = verify(to_frame(later), as_of=AS_OF)
    assert v.breaks == []
    assert v.verdict == "PARTIAL"
    assert "previous period's manifest" in v.unverified[0].reason


def test_a_chain_spans_split_files_in_sequence_order() -> None:
    records = build_chain(300)
    first, second = to_frame(records[:150], file="b-first.ndjson"), to_frame(records[150:], file="a-second.ndjson")
    v = verify(pl.concat([second, first]), as_of=AS_OF)  # file names sort the wrong way; sequence decides
    assert v.check_verdict("hash_chain") == "VERIFIED"


@pytest.mark.parametrize("bad", ["", "not json", "[1, 2]"])
def test_a_record_that_is_not_a_json_object_is_a_break_not_an_exception(bad: str) -> None:
    records = build_chain(10)
    lines = [rfc8785.dumps(r).decode() for r in records]
    lines[4] = "{" + bad if bad else "{}"
    v = verify(to_frame(records, lines=lines), as_of=AS_OF)
    assert [(b.kind, b.position) for b in v.breaks] == [("modified", 4)]


def test_a_forged_copy_of_the_next_record_is_inserted_and_the_genuine_record_is_not_named() -> None:
    # Held-out shape: the forger copies the next record, gives it a new id and reason and
    # keeps that record's prev_hash, hash and sequence. Its removal restores the chain.
    records = build_chain(300)
    genuine = records[180]
    forged = {**genuine, "id": "evt_forged_copy", "details": {**genuine["details"], "reason": "approved export"}}
    records.insert(180, forged)
    v = verify(to_frame(records), as_of=AS_OF)
    assert [(b.kind, b.event_id, b.position) for b in v.breaks] == [("inserted", "evt_forged_copy", 180)]
    assert v.breaks[0].event_ids == ("evt_forged_copy",)  # the intact record after it is not accused
    assert genuine["id"] not in {e for b in v.breaks for e in (b.event_ids or ())}
    assert v.verdict == "FAILED"


def test_several_forged_copies_in_a_row_are_one_inserted_break() -> None:
    records = build_chain(120)
    copies = [{**records[60], "id": f"evt_copy_{k}"} for k in range(3)]
    records[60:60] = copies
    assert chain_breaks(records) == [("inserted", "evt_copy_0", 60)]


def test_a_forged_copy_ahead_of_the_first_record_is_inserted() -> None:
    records = build_chain(50)
    records.insert(0, {**records[0], "id": "evt_copy_first"})
    assert chain_breaks(records) == [("inserted", "evt_copy_first", 0)]


def test_an_inserted_record_with_its_own_hash_and_a_relinked_successor_is_inserted() -> None:
    # The forger writes a valid record and re-points the successor's prev_hash at it
    # (leaving the successor's stored hash): every link holds, only the successor fails
    # its hash - and setting its prev_hash back to the record before the forgery makes
    # it hash again, which proves the forgery was spliced in.
    records = build_chain(200)
    forged = rehash({**records[99], "id": "evt_forged", "prev_hash": records[99]["hash"], "outcome": "success"})
    records.insert(100, forged)
    records[101] = {**records[101], "prev_hash": forged["hash"]}
    v = verify(to_frame(records), as_of=AS_OF)
    assert [(b.kind, b.event_id, b.position) for b in v.breaks] == [("inserted", "evt_forged", 100)]
    assert v.breaks[0].event_ids == ("evt_forged",)
    assert v.breaks[0].extra["relinked_event_id"] == records[101]["id"]


def test_a_relinked_successor_that_was_also_changed_is_still_modified() -> None:
    records = build_chain(200)
    forged = rehash({**records[99], "id": "evt_forged", "prev_hash": records[99]["hash"]})
    records.insert(100, forged)
    records[101] = {**records[101], "prev_hash": forged["hash"], "ip_address": "203.0.113.9"}
    kinds = [(k, e) for k, e, _ in chain_breaks(records)]
    # the successor is modified beyond its link; the forgery's repeated sequence number still shows
    assert kinds == [("seq_duplicate", "evt_forged"), ("modified", records[101]["id"])]


def test_an_inserted_record_with_the_successor_rehashed_is_a_modified_successor() -> None:
    # What cannot be told apart without signatures: the forger re-links *and* rehashes the
    # successor. The forgery now links and is linked to; what shows is the successor
    # whose hash nothing links to (a rewritten record) - docs/integrity.md says so.
    records = build_chain(200)
    forged = rehash({**records[99], "id": "evt_forged", "prev_hash": records[99]["hash"]})
    records.insert(100, forged)
    records[101] = rehash({**records[101], "prev_hash": forged["hash"]})
    breaks = chain_breaks(records)
    # only the forgery's repeated sequence number points at it; with its own fresh number it would not
    assert breaks == [("seq_duplicate", "evt_forged", 100), ("modified", records[101]["id"], 101)]


def test_a_forged_copy_after_its_original_is_inserted() -> None:
    records = build_chain(80)
    records.insert(41, {**records[40], "id": "evt_copy_after"})
    assert chain_breaks(records) == [("inserted", "evt_copy_after", 41)]
