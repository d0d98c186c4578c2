"""Both platform formats load the same canonical events from every layout, plain or gzipped."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from auditreports.errors import InputError, SourceFormatError
from auditreports.schema import EVENT_SCHEMA, REQUIRED_COLUMNS
from auditreports.sources import events_from_records, formats, load

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
PROVENANCE = ["raw", "source_file", "source_line", "source_offset"]

WORKSPACE_CSV = [
    "id", "sequence", "occurred_at", "category", "action",
    "actor.type", "actor.id", "actor.email", "actor.name", "actor.role", "resource.type", "resource.id",
    "outcome", "ip_address", "user_agent",
    "details.reason", "details.before", "details.after", "details.record_count", "details.subject_ids",
    "prev_hash", "hash",
]  # fmt: skip
CONVERSATION_CSV = [
    "event_id", "conversation_id", "event_type", "author_kind", "author_id", "author_name", "timestamp",
    "before", "after", "reason", "ip_address", "user_agent", "channel", "customer_id",
]  # fmt: skip


def records(name: str) -> list[dict[str, Any]]:
    return json.loads((FIXTURES / f"{name}_events.json").read_text(encoding="utf-8"))


def _cell_json(value: object) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False)


def csv_row(fmt: str, r: dict[str, Any]) -> list[object]:
    if fmt == "workspace":
        a, res, d = r["actor"], r["resource"], r["details"]
        return [
            r["id"], r["sequence"], r["occurred_at"], r["category"], r["action"],
            a["type"], a["id"], a["email"], a["name"], a["role"], res["type"], res["id"],
            r["outcome"], r["ip_address"], r["user_agent"],
            d["reason"], _cell_json(d["before"]), _cell_json(d["after"]), d["record_count"],
            _cell_json(d["subject_ids"]), r["prev_hash"], r["hash"],
        ]  # fmt: skip
    a = r["author"]
    return [
        r["event_id"], r["conversation_id"], r["event_type"], a["kind"], a["id"], a["name"], r["timestamp"],
        _cell_json(r["before"]), _cell_json(r["after"]), r["reason"], r["ip_address"], r["user_agent"],
        r["channel"], r["customer_id"],
    ]  # fmt: skip


def render(fmt: str, layout: str, recs: list[dict[str, Any]]) -> bytes:
    """The bytes of an export in one layout, written the way the platforms write them."""
    if layout == "ndjson":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs).encode()
    if layout == "json-array-lines":
        return ("[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in recs) + "\n]\n").encode()
    if layout == "json-array-pretty":
        return (json.dumps(recs, indent=2, ensure_ascii=False) + "\n").encode()
    if layout == "json-array-compact":
        return json.dumps(recs, separators=(",", ":")).encode()
    if layout == "csv":
        buf = io.StringIO(newline="")
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(WORKSPACE_CSV if fmt == "workspace" else CONVERSATION_CSV)
        for r in recs:
            writer.writerow(["" if v is None else v for v in csv_row(fmt, r)])
        return buf.getvalue().encode()
    raise AssertionError(layout)


def write(path: Path, data: bytes, *, gz: bool = False) -> Path:
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def payload(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.drop(PROVENANCE).sort("event_id")


LAYOUTS = ["ndjson", "json-array-lines", "json-array-pretty", "json-array-compact", "csv"]


@pytest.mark.parametrize("fmt", ["workspace", "conversation"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_every_layout_loads_the_same_canonical_events(tmp_path: Path, fmt: str, layout: str, gz: bool) -> None:
    recs = records(fmt)
    reference = load(write(tmp_path / "ref.ndjson", render(fmt, "ndjson", recs))).events.collect()
    # A misleading extension on purpose: gzip is sniffed from the magic bytes, the format from the content.
    path = write(tmp_path / "export.dat", render(fmt, layout, recs), gz=gz)
    result = load(path)
    events = result.events.collect()
    assert result.quarantine.height == 0, result.quarantine.to_dicts()
    assert events.schema == pl.Schema(EVENT_SCHEMA)
    assert events.height == len(recs)
    assert payload(events).equals(payload(reference))
    entry = result.ledger[0]
    assert entry["format"] == fmt
    assert entry["compressed"] is gz
    assert entry["lines_read"] == entry["loaded"] + entry["quarantined"] + entry["blank"]
    assert entry["events"] == len(recs)


@pytest.mark.parametrize("fmt", ["workspace", "conversation"])
@pytest.mark.parametrize("layout", ["ndjson", "json-array-lines", "json-array-pretty", "csv"])
def test_raw_is_the_record_byte_exact_and_positions_point_at_it(tmp_path: Path, fmt: str, layout: str) -> None:
    data = render(fmt, layout, records(fmt))
    events = load(write(tmp_path / "x.data", data)).events.collect()
    lines = data.split(b"\n")
    for row in events.iter_rows(named=True):
        raw = row["raw"].encode()
        assert data[row["source_offset"] : row["source_offset"] + len(raw)] == raw
        assert lines[row["source_line"] - 1].lstrip(b"[ ").startswith(raw.split(b"\n")[0].rstrip(b"\r"))
    if layout != "csv":
        assert all(json.loads(r) for r in events["raw"])


def test_workspace_fields_map_to_the_canonical_event(tmp_path: Path) -> None:
    events = load(write(tmp_path / "w.ndjson", render("workspace", "ndjson", records("workspace")))).events.collect()
    rows = {r["event_id"]: r for r in events.iter_rows(named=True)}
    login = rows["evt_01"]
    assert (login["event_type"], login["source_action"], login["category"], login["outcome"]) == (
        "auth.login.failure",
        "auth.login_failed",
        "auth",
        "failure",
    )
    assert (login["actor_type"], login["actor_id"], login["actor_email"], login["actor_role"]) == (
        "user",
        "usr_9",
        "dana@acme.example",
        "admin",
    )
    assert (login["seq"], login["prev_hash"], login["hash"], login["source"]) == (1, "0" * 64, "1" * 64, "workspace")
    assert login["ip"] == "198.51.100.23" and login["reason"] == "bad_password" and login["flags"] == []
    change = rows["evt_02"]
    assert (change["before"], change["after"]) == ('{"role":"agent"}', '{"role":"admin"}')
    export = rows["evt_03"]
    assert export["record_count"] == 250 and export["subject_ids"] == ["cus_1", "cus_2"]
    assert export["subject_id"] is None  # two subjects: no single subject
    assert export["flags"] == ["removed_user"]
    viewed = rows["evt_04"]
    assert (viewed["conversation_id"], viewed["subject_id"]) == ("conv_8812", "cus_4410")
    prompt = rows["evt_05"]
    assert prompt["before"] == '{"prompt":"Be helpful.","version":3}'
    assert prompt["reason"] == "multi\nline note, with ünïcode"
    unknown = rows["evt_06"]
    assert (unknown["event_type"], unknown["category"], unknown["flags"]) == (
        "system.cache_flushed",
        "system",
        ["unknown_event_type"],
    )
    assert events.select(pl.all_horizontal(pl.col(c).is_not_null() for c in REQUIRED_COLUMNS).all()).item()


def test_conversation_fields_map_to_the_canonical_event(tmp_path: Path) -> None:
    data = render("conversation", "json-array-lines", records("conversation"))
    events = load(write(tmp_path / "c.json", data)).events.collect()
    rows = {r["event_id"]: r for r in events.iter_rows(named=True)}
    claimed = rows["aev_02"]
    assert (claimed["event_type"], claimed["category"], claimed["source_action"]) == (
        "conversation.claimed",
        "conversation",
        "claimed",
    )
    assert (claimed["actor_type"], claimed["actor_id"], claimed["actor_name"]) == ("user", "usr_9", "Dana Lee")
    assert (claimed["conversation_id"], claimed["subject_id"], claimed["subject_ids"]) == (
        "conv_8812",
        "cus_4410",
        ["cus_4410"],
    )
    assert (claimed["before"], claimed["after"], claimed["channel"]) == (
        '{"assignee":null}',
        '{"assignee":"usr_9"}',
        "web",
    )
    assert rows["aev_01"]["before"] == "{}"
    assert rows["aev_04"]["event_type"] == "bot.knowledge.retrieved" and rows["aev_04"]["category"] == "bot"
    assert rows["aev_05"]["flags"] == ["removed_user"]
    assert rows["aev_06"]["event_type"] == "sentiment_scored"
    assert rows["aev_06"]["flags"] == ["unknown_event_type"]


def test_a_split_workspace_wide_export_loads_as_one_frame(tmp_path: Path) -> None:
    recs = records("conversation")
    folder = tmp_path / "export" / "nested"
    folder.mkdir(parents=True)
    for i in range(3):
        write(
            folder / f"part-{i:04d}.json.gz",
            render("conversation", "json-array-lines", recs[i * 2 : i * 2 + 2]),
            gz=True,
        )
    (tmp_path / "export" / "README.md").write_text("not an audit log")
    (tmp_path / "export" / "customers.csv").write_text("customer_id,email\ncus_1,a@b.example\n")
    result = load(tmp_path / "export")
    assert result.events.collect().get_column("event_id").sort().to_list() == [r["event_id"] for r in recs]
    assert len(result.ledger) == 3
    # Both are listed with why: the README by its name, the customer list by its content.
    assert sorted(s["path"] for s in result.skipped) == [
        str(tmp_path / "export" / "README.md"),
        str(tmp_path / "export" / "customers.csv"),
    ]
    by_glob = load(str(tmp_path / "export" / "**" / "part-*.json.gz"))
    assert by_glob.events.collect().height == len(recs)
    by_list = load([folder / "part-0000.json.gz", folder / "part-0002.json.gz"])
    assert by_list.events.collect().height == 4


def test_format_is_detected_and_can_be_forced(tmp_path: Path) -> None:
    assert {"workspace", "conversation"} <= set(formats())
    path = write(tmp_path / "c.ndjson", render("conversation", "ndjson", records("conversation")))
    assert load(path).ledger[0]["format"] == "conversation"
    forced = load(path, format="workspace")  # the wrong format forced: every record is quarantined, none lost
    assert forced.events.collect().height == 0
    assert forced.quarantine.height == len(records("conversation"))
    assert set(forced.quarantine["reason"]) == {"the record has no 'id'"}
    with pytest.raises(SourceFormatError, match="unknown format 'nope'"):
        load(path, format="nope")


def test_a_missing_path_is_the_callers_mistake(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or directory"):
        load(tmp_path / "missing.ndjson")
    with pytest.raises(InputError, match="matches no file"):
        load(str(tmp_path / "*.ndjson"))


def test_events_from_records_maps_an_api_page_with_canonical_raw() -> None:
    recs = records("conversation")
    page: list[Any] = [*recs[:3], {"event_id": "aev_x", "conversation_id": "c", "event_type": "claimed"}, "junk"]
    events, quarantine = events_from_records(page, source_file="https://api.example/v1/audit-log?cursor=abc")
    assert events.schema == pl.Schema(EVENT_SCHEMA)
    assert events["event_id"].to_list() == ["aev_01", "aev_02", "aev_03"]
    assert events["source_line"].to_list() == [1, 2, 3]
    assert events["raw"][1] == json.dumps(recs[1], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert quarantine["source_line"].to_list() == [4, 5]
    assert quarantine["reason"][0] == "the record has no 'timestamp'"
    assert quarantine["source_file"].unique().to_list() == ["https://api.example/v1/audit-log?cursor=abc"]
    file_events = load_records_as_file(recs[:3])
    assert payload(events).equals(payload(file_events))


def load_records_as_file(recs: list[dict[str, Any]]) -> pl.DataFrame:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp) / "c.ndjson", render("conversation", "ndjson", recs))
        return load(path).events.collect()
