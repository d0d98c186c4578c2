"""Nothing lost: every bad record is quarantined with file, line, offset, raw bytes and a reason."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from test_sources_formats import records, render

from auditreports.samples import generate_workspace_ndjson
from auditreports.sources import load

WS = records("workspace")


def line(r: dict[str, Any]) -> bytes:
    return json.dumps(r, ensure_ascii=False).encode()


def reconciles(entry: dict[str, Any]) -> bool:
    return entry["lines_read"] == entry["loaded"] + entry["quarantined"] + entry["blank"]


def by_line(result: Any) -> dict[int, dict[str, Any]]:
    return {r["source_line"]: r for r in result.quarantine.iter_rows(named=True)}


def test_bad_ndjson_lines_are_quarantined_with_their_positions(tmp_path: Path) -> None:
    bad_seq = line({**WS[1], "sequence": "abc"})
    no_id = line({k: v for k, v in WS[2].items() if k != "id"})
    bad_time = line({**WS[3], "occurred_at": "yesterday at noon"})
    lines = [
        line(WS[0]),  # 1
        b"",  # 2 blank
        line(WS[4])[:40],  # 3 truncated
        b'{"id": "evt_x", "name": "caf\xe9"}',  # 4 invalid UTF-8 (latin-1 byte)
        bad_seq,  # 5
        no_id,  # 6
        bad_time,  # 7
        b"   ",  # 8 blank
        line(WS[5]),  # 9
        b'["not", "an", "object"]',  # 10
    ]
    data = b"\n".join(lines) + b"\n"
    path = tmp_path / "audit.ndjson"
    path.write_bytes(data)
    result = load(path, format="workspace")
    assert result.events.collect()["event_id"].to_list() == ["evt_01", "evt_06"]
    q = by_line(result)
    assert sorted(q) == [3, 4, 5, 6, 7, 10]
    assert "not valid JSON" in q[3]["reason"] and "truncated" in q[3]["reason"]
    assert q[4]["reason"] == "the line is not valid UTF-8 (byte 0xe9 at column 29)"
    assert q[5]["reason"] == "'sequence' must be an integer, got abc"
    assert q[6]["reason"] == "the record has no 'id'"
    assert q[7]["reason"] == "'occurred_at' is not a timestamp we can read: yesterday at noon"
    assert q[10]["reason"] == "the record is a JSON array, not an object"
    for number, row in q.items():
        assert row["raw"] == lines[number - 1]
        assert data[row["source_offset"] : row["source_offset"] + len(row["raw"])] == row["raw"]
        assert row["source_file"] == str(path) and row["format"] == "workspace"
    entry = result.ledger[0]
    assert (entry["lines_read"], entry["loaded"], entry["quarantined"], entry["blank"]) == (10, 2, 6, 2)
    assert reconciles(entry)


def test_csv_rows_with_wrong_field_counts_or_an_open_quote(tmp_path: Path) -> None:
    text = render("conversation", "csv", records("conversation")).decode()
    rows = text.split("\r\n")
    # rows[0] header; aev_03 (rows[3]) has a quoted reason spanning two lines.
    assert rows[3].startswith("aev_03") and rows[3].count("\n") == 1
    broken = [
        rows[0],  # 1 header
        rows[1],  # 2 good
        "aev_t1,conv_1,claimed,user",  # 3 too few
        rows[2] + ",extra",  # 4 too many
        'aev_t2,conv_1,claimed,user,usr_1,"Dana,2026-07-03T14:02:11.532Z,,,,,,web,cus_1',  # 5 unterminated quote
        rows[3],  # 6 good, a quoted note spanning lines 6-7
        "",  # 8 blank
        rows[4],  # 9 good
    ]
    data = ("\r\n".join(broken) + "\r\n").encode()
    path = tmp_path / "conv.csv"
    path.write_bytes(data)
    result = load(path)
    events = result.events.collect()
    assert events["event_id"].to_list() == ["aev_01", "aev_03", "aev_04"]
    assert events["source_line"].to_list() == [2, 6, 9]
    assert (
        events.filter(pl.col("event_id") == "aev_03")["reason"].item()
        == 'customer asked, "please" call back\nnext week'
    )
    q = by_line(result)
    assert q[3]["reason"] == "the CSV row has too few fields (4, the header has 14)"
    assert q[4]["reason"] == "the CSV row has too many fields (15, the header has 14)"
    assert q[5]["reason"] == "the CSV row has an unterminated quote"
    assert sorted(q) == [3, 4, 5]
    for number, row in q.items():
        assert row["raw"] == broken[number - 1].encode()
        assert data[row["source_offset"] : row["source_offset"] + len(row["raw"])] == row["raw"]
    entry = result.ledger[0]
    assert (entry["lines_read"], entry["loaded"], entry["quarantined"], entry["blank"]) == (9, 4, 3, 2)


@pytest.mark.parametrize("layout", ["json-array-lines", "json-array-pretty"])
def test_a_cut_off_json_array_keeps_the_intact_elements(tmp_path: Path, layout: str) -> None:
    data = render("workspace", layout, WS)
    cut = data[: data.index(b'"evt_05"') + 60]  # inside the fifth element, no closing bracket
    path = tmp_path / "cut.json"
    path.write_bytes(cut)
    result = load(path)
    events = result.events.collect()
    assert events["event_id"].to_list() == ["evt_01", "evt_02", "evt_03", "evt_04"]
    whole = load(_write(tmp_path / "whole.json", data)).events.collect()
    assert events["source_line"].to_list() == whole["source_line"].to_list()[:4]
    assert result.quarantine.height == 1
    tail = result.quarantine.row(0, named=True)
    assert tail["source_line"] == whole["source_line"][4]
    assert tail["raw"] == cut[tail["source_offset"] :].rstrip()
    assert "not valid JSON" in tail["reason"]
    assert reconciles(result.ledger[0])


def test_a_broken_element_in_the_middle_of_a_pretty_array_takes_nothing_else(tmp_path: Path) -> None:
    data = render("workspace", "json-array-pretty", WS)
    broken = data.replace(b'"sequence": 3,', b'"sequence": 3,,', 1)
    result = load(_write(tmp_path / "b.json", broken))
    assert result.events.collect()["event_id"].to_list() == ["evt_01", "evt_02", "evt_04", "evt_05", "evt_06"]
    (row,) = result.quarantine.iter_rows(named=True)
    assert row["raw"].startswith(b"{") and b'"evt_03"' in row["raw"] and b'"evt_04"' not in row["raw"]
    assert broken.split(b"\n")[row["source_line"] - 1].strip() == b"{"
    assert reconciles(result.ledger[0])


def test_timestamps_are_normalised_to_utc_and_flagged(tmp_path: Path) -> None:
    forms = {
        "evt_01": ("2026-07-03T14:02:11.532Z", []),
        "evt_02": ("2026-07-03T14:02:11.532", ["naive_timestamp"]),
        "evt_03": ("2026-07-03T16:02:11.532+02:00", ["odd_timestamp", "removed_user"]),
        "evt_04": ("2026-07-03T14:02:11Z", ["odd_timestamp"]),
        "evt_05": ("1783087331", ["odd_timestamp"]),  # epoch seconds, as a string
        "evt_06": (1783087331532, ["odd_timestamp", "unknown_event_type"]),  # epoch milliseconds, as a number
    }
    recs = [{**r, "occurred_at": forms[r["id"]][0]} for r in WS]
    events = load(_write(tmp_path / "t.ndjson", render("workspace", "ndjson", recs))).events.collect()
    got = {r["event_id"]: r for r in events.iter_rows(named=True)}
    assert events.schema["timestamp"] == pl.Datetime("us", "UTC")
    for event_id, (_, flags) in forms.items():
        assert got[event_id]["flags"] == flags
    assert got["evt_02"]["timestamp"] == got["evt_03"]["timestamp"] == got["evt_01"]["timestamp"]
    assert got["evt_04"]["timestamp"].isoformat() == "2026-07-03T14:02:11+00:00"
    assert got["evt_05"]["timestamp"].isoformat() == "2026-07-03T14:02:11+00:00"
    assert got["evt_06"]["timestamp"].isoformat() == "2026-07-03T14:02:11.532000+00:00"


def test_identical_duplicates_are_kept_once_and_conflicts_flagged(tmp_path: Path) -> None:
    first = _write(tmp_path / "a.ndjson", render("workspace", "ndjson", WS[:4]))
    changed = {**WS[3], "outcome": "failure"}  # same id, different payload
    second = _write(tmp_path / "b.csv", render("workspace", "csv", [*WS[2:3], changed, *WS[4:]]))
    result = load([first, second])
    events = result.events.collect()
    assert result.duplicates == 1  # evt_03, once as JSON and once as CSV: the same event
    assert result.conflicts == 2
    assert events.height == 7
    conflicted = events.filter(pl.col("flags").list.contains("id_conflict"))
    assert conflicted["event_id"].to_list() == ["evt_04", "evt_04"]
    assert sorted(conflicted["outcome"].cast(pl.String).to_list()) == ["failure", "success"]
    ledger = {Path(e["path"]).name: e for e in result.ledger}
    assert (ledger["a.ndjson"]["duplicates"], ledger["b.csv"]["duplicates"]) == (0, 1)
    assert (ledger["a.ndjson"]["conflicts"], ledger["b.csv"]["conflicts"]) == (1, 1)
    assert "1 identical duplicates dropped, 2 events flagged as id conflicts" in result.summary()


def test_a_broken_file_never_stops_the_other_files(tmp_path: Path) -> None:
    good = _write(tmp_path / "1-good.ndjson", render("workspace", "ndjson", WS[:3]))
    full = gzip.compress(render("workspace", "ndjson", WS[3:]))
    cut_gzip = _write(tmp_path / "2-cut.ndjson.gz", full[: len(full) // 2])
    stranger = _write(tmp_path / "3-notes.txt", b"minutes of the meeting\nnothing to see\n")
    result = load([good, cut_gzip, stranger])
    ledger = {Path(e["path"]).name: e for e in result.ledger}
    assert result.events.collect().height >= 3
    assert all(reconciles(e) for e in result.ledger)
    assert any("cut off" in note for note in ledger["2-cut.ndjson.gz"]["notes"])
    assert ledger["3-notes.txt"]["format"] == "unknown"
    assert ledger["3-notes.txt"]["quarantined"] == 2
    assert set(result.quarantine.filter(pl.col("source_file") == str(stranger))["raw"]) == {
        b"minutes of the meeting",
        b"nothing to see",
    }


def test_a_corrupted_copy_of_a_real_sample_quarantines_exactly_the_corrupted_lines(tmp_path: Path) -> None:
    clean = tmp_path / "workspace.ndjson"
    generate_workspace_ndjson(clean, 400)
    lines = clean.read_bytes().split(b"\n")[:-1]
    corrupt = {
        17: lines[16][: len(lines[16]) // 2],  # truncated
        42: lines[41].replace(b'"action":"', b'"action":"\xff', 1),  # invalid UTF-8
        100: lines[99].replace(b'"sequence":100', b'"sequence":"abc"', 1),  # wrong type
        250: lines[249].replace(b'"occurred_at":"2026', b'"occurred_at":"20X6', 1),  # bad timestamp
    }
    for number, text in corrupt.items():
        assert text != lines[number - 1]
        lines[number - 1] = text
    copy = _write(tmp_path / "corrupted.ndjson", b"\n".join(lines) + b"\n")
    result = load(copy)
    assert result.quarantine["source_line"].to_list() == sorted(corrupt)
    assert result.quarantine["raw"].to_list() == [corrupt[n] for n in sorted(corrupt)]
    assert result.events.collect().height == 400 - len(corrupt)
    entry = result.ledger[0]
    assert (entry["lines_read"], entry["loaded"], entry["quarantined"], entry["blank"]) == (400, 396, 4, 0)
    reference = load(clean).events.collect()
    assert reference.height == 400 and reference["flags"].list.len().sum() == 0


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_crlf_csv_file_keeps_crlf_inside_quoted_values_only(tmp_path):
    """A CR LF file: record terminators are not data, a CR LF inside quotes is."""
    from auditreports.sources import load

    header = "event_id,conversation_id,event_type,author_kind,author_id,author_name,timestamp,before,after,reason,ip_address,user_agent,channel,customer_id"
    rows = [
        'aev_1,conv_1,note_added,user,usr_1,Dana,2026-07-03T14:02:11.532Z,,,"first\r\nsecond",198.51.100.23,UA,web,cus_1',
        "aev_2,conv_1,note_added,user,usr_1,Dana,2026-07-03T14:03:11.532Z,,,plain,198.51.100.23,UA,web,cus_1",
    ]
    path = tmp_path / "c.csv"
    path.write_bytes(("\r\n".join([header, *rows]) + "\r\n").encode())
    events = load(path).events.collect().sort("event_id")
    assert events["reason"].to_list() == ["first\r\nsecond", "plain"]
    assert events["raw"].to_list() == [rows[0], rows[1]]
