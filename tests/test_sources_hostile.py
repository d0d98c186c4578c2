"""Hostile and odd inputs: nothing lost, nothing silently skipped, one clear sentence for each.

Damaged and odd gzip, a decompression bomb, wide encodings, CR-only line endings, empty
files, comment lines, records nested thousands deep, and directory walks that pass
over symbolic links, rotated and backup copies, dangling links and pipes.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
from pathlib import Path

import pytest
from test_sources_formats import records, render

from auditreports.cli import main
from auditreports.sources import _io as io
from auditreports.sources import load
from auditreports.store import open_store

BASE = records("conversation")[0]


def _lines(n: int) -> bytes:
    out = []
    for i in range(n):
        rec = copy.deepcopy(BASE)
        rec["event_id"] = f"aev_{i:06d}"
        rec["reason"] = f"note {i} " + "x" * (i % 97)  # varied, so the stream does not compress to nothing
        out.append(json.dumps(rec))
    return ("\n".join(out) + "\n").encode()


def _reconciles(entry: dict) -> bool:
    return entry["lines_read"] == entry["loaded"] + entry["quarantined"] + entry["blank"]


def test_a_gzip_damaged_mid_stream_keeps_every_line_before_the_damage(tmp_path: Path) -> None:
    data = _lines(20_000)
    packed = bytearray(gzip.compress(data))
    at = len(packed) * 3 // 4
    packed[at : at + 64] = bytes(64)  # 64 zero bytes in the middle of the deflate stream
    src = tmp_path / "damaged.ndjson.gz"
    src.write_bytes(bytes(packed))
    result = load(src)
    entry = result.ledger[0]
    assert _reconciles(entry)
    assert entry["loaded"] > 10_000  # before this change: 0
    assert any("damaged" in n for n in entry["notes"])
    last = result.quarantine.sort("source_line").row(-1, named=True)
    assert "the gzip stream is damaged" in last["reason"] and "on disk" in last["reason"]
    assert last["source_offset"] is not None and last["raw"]  # kept, with where it starts
    loaded = result.events.collect()["event_id"].to_list()
    assert loaded == [f"aev_{i:06d}" for i in range(len(loaded))]  # a clean prefix, in order


def test_plain_lines_after_a_gzip_member_are_quarantined_not_ignored(tmp_path: Path) -> None:
    data = _lines(50)
    src = tmp_path / "appended.ndjson.gz"
    src.write_bytes(gzip.compress(data) + b'{"event_id": "aev_appended"}\n\nsecond appended line\n')
    result = load(src)
    entry = result.ledger[0]
    assert _reconciles(entry)
    assert (entry["loaded"], entry["quarantined"], entry["blank"]) == (50, 2, 1)
    rows = result.quarantine.sort("source_line").to_dicts()
    assert [r["raw"] for r in rows] == [b'{"event_id": "aev_appended"}', b"second appended line"]
    assert all("plain (not gzip-compressed) bytes after the end of the gzip stream" in r["reason"] for r in rows)
    assert rows[0]["source_line"] == 51


def test_several_gzip_members_and_zero_padding_read_whole(tmp_path: Path) -> None:
    src = tmp_path / "members.ndjson.gz"
    src.write_bytes(gzip.compress(_lines(10)) + gzip.compress(_lines(20)[len(_lines(10)) :]) + bytes(512))
    entry = load(src).ledger[0]
    assert (entry["loaded"], entry["quarantined"]) == (20, 0)


def test_a_gzip_bomb_is_refused_with_a_clear_sentence(tmp_path: Path, monkeypatch) -> None:
    # A small floor so the test needs no gigabytes: 300 KB of zeros from a ~300-byte file.
    monkeypatch.setattr(io, "GZIP_FLOOR_BYTES", 100_000)
    src = tmp_path / "bomb.ndjson.gz"
    src.write_bytes(gzip.compress(bytes(300_000), compresslevel=9))
    result = load(src)
    entry = result.ledger[0]
    assert "refused as a possible decompression bomb" in entry["error"]
    assert (entry["lines_read"], entry["quarantined"], entry["events"]) == (1, 1, 0)
    assert result.quarantine["raw"][0] == src.read_bytes()  # the file as delivered is the evidence


@pytest.mark.parametrize(
    ("codec", "bom", "name"),
    [("utf-16", True, "UTF-16 (little-endian)"), ("utf-16-be", False, "UTF-16 (big-endian)"),
     ("utf-16-le", False, "UTF-16 (little-endian)"), ("utf-32", True, "UTF-32 (little-endian)")],
)  # fmt: skip
def test_wide_encodings_are_named(tmp_path: Path, codec: str, bom: bool, name: str, capsys) -> None:
    text = render("conversation", "ndjson", records("conversation")).decode()
    src = tmp_path / "wide.ndjson"
    src.write_bytes(text.encode(codec))
    # nothing loadable was given: one line naming the encoding, exit 2 (its line is still quarantined)
    assert main(["ingest", str(src), "--store", str(tmp_path / "store")]) == 2
    err = capsys.readouterr().err
    assert f"the file is {name} text" in err and "iconv" in err
    entry = open_store(tmp_path / "store").ledger["inputs"][0]
    assert _reconciles(entry) and entry["quarantined"] == 1


def test_cr_only_line_endings_are_lines(tmp_path: Path) -> None:
    src = tmp_path / "mac.ndjson"
    src.write_bytes(render("conversation", "ndjson", records("conversation")).replace(b"\n", b"\r"))
    entry = load(src).ledger[0]
    assert (entry["loaded"], entry["quarantined"]) == (6, 0)
    assert any("CR alone" in n for n in entry["notes"])


@pytest.mark.parametrize(
    ("content", "says"), [(b"", "the file is empty"), (b"\n  \n", "the file holds only blank lines")]
)
def test_an_empty_file_says_it_is_empty(tmp_path: Path, content: bytes, says: str, capsys) -> None:
    (tmp_path / "in").mkdir()
    src = tmp_path / "in" / "empty.ndjson"
    src.write_bytes(content)
    assert main(["ingest", str(src), "--store", str(tmp_path / "store")]) == 2  # nothing loadable was given
    err = capsys.readouterr().err
    assert says in err and "cannot tell which" not in err
    # found by walking a directory, it is listed as skipped with the same reason
    assert {"path": str(src), "reason": says} in load(tmp_path / "in").skipped


def test_a_comment_line_above_ndjson_is_one_quarantined_line(tmp_path: Path, capsys) -> None:
    src = tmp_path / "commented.ndjson"
    src.write_bytes(b"# exported 2026-07-03 by tool\n" + render("conversation", "ndjson", records("conversation")))
    for args in ([], ["--format", "conversation"]):
        entry = load(src, format=args[1] if args else None).ledger[0]
        assert (entry["loaded"], entry["quarantined"], entry["blank"]) == (6, 1, 0)


def test_reingesting_the_same_bytes_as_another_format_is_not_skipped(tmp_path: Path, capsys) -> None:
    src = tmp_path / "odd.log"
    src.write_bytes(b"banner line\n" + render("conversation", "ndjson", records("conversation")))
    store = tmp_path / "store"
    # Not recognised by sniffing (the banner is not a comment): every line quarantined, as unknown;
    # nothing loadable was given, so exit 2.
    assert main(["ingest", str(src), "--store", str(store)]) == 2
    assert main(["ingest", str(src), "--store", str(store), "--format", "conversation"]) == 0
    err = capsys.readouterr().err
    assert "already ingested" not in err
    ledger = open_store(store).ledger
    assert [e["status"] for e in ledger["inputs"]] == ["ingested", "ingested"]
    assert any("ingested before as unknown" in n for n in ledger["inputs"][1]["notes"])
    assert open_store(store).events.collect().height == 6
    # the same bytes with the same format again: skipped, as before
    assert main(["ingest", str(src), "--store", str(store), "--format", "conversation"]) == 0
    assert "already ingested" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_a_record_nested_ten_thousand_deep_is_one_quarantined_line(tmp_path: Path, where: str) -> None:
    good = render("conversation", "ndjson", records("conversation")).splitlines(keepends=True)
    deep = b'{"event_id": "aev_deep", "before": ' + b"[" * 10_000 + b"]" * 10_000 + b"}\n"
    at = {"first": 0, "middle": 3, "last": len(good)}[where]
    src = tmp_path / "deep.ndjson"
    src.write_bytes(b"".join(good[:at]) + deep + b"".join(good[at:]))
    result = load(src)
    entry = result.ledger[0]
    assert (entry["loaded"], entry["quarantined"], entry["blank"]) == (6, 1, 0)
    row = result.quarantine.row(0, named=True)
    assert row["source_line"] == at + 1 and "nested 10001 levels deep" in row["reason"]
    assert row["raw"] == deep.rstrip(b"\n")


def test_a_directory_walk_lists_every_path_it_passes_over(tmp_path: Path, capsys) -> None:
    export = tmp_path / "export"
    (export / "sub").mkdir(parents=True)
    good = render("conversation", "ndjson", records("conversation"))
    (export / "sub" / "a.ndjson").write_bytes(good)
    (export / "a.ndjson.1").write_bytes(good)
    (export / "export.json.bak").write_bytes(good)
    (export / ".hidden.ndjson").write_bytes(good)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "b.ndjson").write_bytes(good)
    (export / "linked").symlink_to(elsewhere, target_is_directory=True)
    (export / "dangling.ndjson").symlink_to(tmp_path / "missing.ndjson")
    os.mkfifo(export / "pipe.ndjson")
    store = tmp_path / "store"
    assert main(["ingest", str(export), "--store", str(store)]) == 0
    err = capsys.readouterr().err
    reasons = {Path(s["path"]).name: s["reason"] for s in open_store(store).ledger["skipped"]}
    assert set(reasons) == {
        "a.ndjson.1",
        "export.json.bak",
        ".hidden.ndjson",
        "linked",
        "dangling.ndjson",
        "pipe.ndjson",
    }
    assert "rotated or backup" in reasons["a.ndjson.1"] and "rotated or backup" in reasons["export.json.bak"]
    assert "symbolic link to a directory" in reasons["linked"]
    assert "target does not exist" in reasons["dangling.ndjson"]
    assert "not a regular file" in reasons["pipe.ndjson"]
    for name in reasons:
        assert name in err  # the summary lists each one
    assert open_store(store).events.collect().height == 6


def test_a_leap_second_in_a_file_is_flagged_odd_timestamp(tmp_path: Path) -> None:
    rec = copy.deepcopy(BASE)
    rec["timestamp"] = "2016-12-31T23:59:60.000Z"
    src = tmp_path / "leap.ndjson"
    src.write_text(json.dumps(rec) + "\n")
    event = load(src).events.collect().row(0, named=True)
    assert "odd_timestamp" in event["flags"]
    assert event["timestamp"].isoformat() == "2017-01-01T00:00:00+00:00"


@pytest.mark.parametrize("name", ["event_id", "timestamp", " channel"])
def test_a_csv_header_naming_a_column_twice_refuses_the_file(tmp_path: Path, name: str, capsys) -> None:
    text = render("conversation", "csv", records("conversation")).decode()
    header, rest = text.split("\r\n", 1)
    src = tmp_path / "dup.csv"
    src.write_text(f"{header},{name}\r\n" + "".join(line + ",x\r\n" for line in rest.split("\r\n") if line))
    store = tmp_path / "store"
    assert main(["ingest", str(src), "--store", str(store)]) == 1
    err = capsys.readouterr().err
    assert f"the CSV header names '{name.strip()}'" in err and "refused" in err
    entry = open_store(store).ledger["inputs"][0]
    assert entry["loaded"] == 0 and _reconciles(entry) and "ambiguous" in entry["error"]
