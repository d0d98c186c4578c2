"""Duplicate JSON keys: a record that names a key twice is quarantined, naming the key.

Through an API page (a real HTTP server on 127.0.0.1 sending the bytes as they are)
and through a file's per-record pass. See docs/ingestion.md for what the one-call
fast path of a clean file does not check.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_api_support import json_server
from test_sources_formats import records

from auditreports.api import FetchSettings, fetch
from auditreports.sources import events_from_records, load
from auditreports.sources._dupkeys import loads_keeping_duplicates
from auditreports.store import open_store

TOKEN = "tok_dupkeys_0123456789"
GOOD = records("conversation")
TARGET = next(i for i, r in enumerate(GOOD) if isinstance(r.get("before"), dict) and r["before"])


def _with_duplicate(rec: dict, where: str) -> str:
    text = json.dumps(rec)
    if where == "top":
        return text[:-1] + ', "event_type": "deleted"}'
    if where == "before":
        key = next(iter(rec["before"]))
        return text.replace('"before": {', f'"before": {{"{key}": "usr_x", ', 1)
    return text.replace('"author": {', '"author": {"id": "usr_other", ', 1)


@pytest.fixture
def page_server() -> Iterator[tuple[str, list[str]]]:
    bodies: list[str] = []
    with json_server(lambda path: (200, bodies.pop(0).encode())) as url:
        yield url, bodies


@pytest.mark.parametrize("where", ["top", "before", "author"])
def test_an_api_record_naming_a_key_twice_is_quarantined(page_server, tmp_path: Path, where: str) -> None:
    url, bodies = page_server
    recs = [json.dumps(r) for r in GOOD]
    recs[TARGET] = _with_duplicate(GOOD[TARGET], where)
    bodies.append('{"data": [' + ", ".join(recs) + '], "has_more": false, "next_cursor": null}')
    report = fetch(url, tmp_path / "store", token=TOKEN, settings=FetchSettings(progress=False))
    assert report.complete and report.quarantined == 1
    q = open_store(tmp_path / "store").quarantine.row(0, named=True)
    assert "twice" in q["reason"] and "ambiguous" in q["reason"] and q["source_line"] == TARGET + 1
    assert open_store(tmp_path / "store").events.collect().height == len(recs) - 1


def test_nested_duplicates_are_named_with_their_place() -> None:
    value = loads_keeping_duplicates('{"a": 1, "b": {"c": 1, "c": 2}, "l": [{"x": 1, "x": 2}]}')
    events, quarantine = events_from_records([value], format="conversation", source_file="api")
    assert events.height == 0
    assert "'c' in 'b'" in quarantine["reason"][0] and "'x'" in quarantine["reason"][0]


@pytest.mark.parametrize("where", ["top", "before", "author"])
def test_a_file_record_naming_a_key_twice_is_quarantined_in_the_per_record_pass(tmp_path: Path, where: str) -> None:
    lines = [json.dumps(r) for r in GOOD]
    target = TARGET
    lines[target] = _with_duplicate(GOOD[target], where)
    src = tmp_path / "dup.ndjson"
    src.write_text("\n".join(lines) + "\n{cut off\n")
    result = load(src)
    reasons = dict(zip(result.quarantine["source_line"], result.quarantine["reason"], strict=True))
    assert "twice" in reasons[target + 1]
    assert result.ledger[0]["loaded"] == len(GOOD) - 1


def test_a_pretty_printed_array_element_naming_a_key_twice_is_quarantined(tmp_path: Path) -> None:
    elements = [json.dumps(r, indent=2) for r in GOOD]
    elements[TARGET] = json.dumps(GOOD[TARGET], indent=2).replace('"event_id":', '"reason": "dup",\n  "event_id":', 1)
    src = tmp_path / "pretty.json"
    src.write_text("[\n" + ",\n".join(elements) + "\n]\n")
    result = load(src)
    assert result.ledger[0]["layout"] == "json-array"
    assert result.quarantine.height == 1 and "'reason' twice" in result.quarantine["reason"][0]
    assert result.ledger[0]["events"] == len(GOOD) - 1


# --------------------------------------------------------------------------- every file path, the same way
#
# A clean file takes the one-call Polars parse (which keeps the first value silently); the
# duplicate-key check beside it must quarantine exactly what the per-record pass does.

REASON = (
    "the record names 'event_type' twice; which value is meant is ambiguous (parsers disagree), so it is quarantined"
)


def _ndjson(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def _array_per_line(lines: list[str]) -> bytes:
    return ("[\n" + ",\n".join(lines) + "\n]\n").encode()


def _page(lines: list[str]) -> bytes:
    return ('{"data": [\n' + ",\n".join(lines) + '\n], "has_more": false, "next_cursor": null}\n').encode()


def _gz(lines: list[str]) -> bytes:
    return gzip.compress(_ndjson(lines))


LAYOUTS = {
    "ndjson": ("x.ndjson", _ndjson),
    "array": ("x.json", _array_per_line),
    "page": ("x.json", _page),
    "gzip": ("x.ndjson.gz", _gz),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_a_clean_file_naming_a_key_twice_is_quarantined_by_ingest_and_load(tmp_path: Path, layout: str) -> None:
    name, write = LAYOUTS[layout]
    lines = [json.dumps(r, separators=(",", ":")) for r in GOOD]
    lines[TARGET] = _with_duplicate(GOOD[TARGET], "top")
    src = tmp_path / name
    src.write_bytes(write(lines))
    result = load(src)
    assert result.quarantine.height == 1
    row = result.quarantine.row(0, named=True)
    assert row["reason"] == REASON
    assert row["raw"].decode() == lines[TARGET]
    assert result.ledger[0]["events"] == len(GOOD) - 1
    # the real CLI: the same record quarantined in the store, the others stored
    store = tmp_path / "store"
    proc = subprocess.run(
        [sys.executable, "-m", "auditreports", "ingest", str(src), "--store", str(store)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr  # quarantined lines are reported, not a failure (--strict makes them one)
    assert "twice" in proc.stderr
    stored = open_store(store)
    assert stored.quarantine.get_column("reason").to_list() == [REASON]
    assert stored.events.collect().height == len(GOOD) - 1


@pytest.mark.parametrize("where", ["top", "before", "author"])
@pytest.mark.parametrize("separators", [(",", ":"), (", ", ": ")])
def test_the_fast_path_names_the_key_and_its_place_like_the_per_record_pass(
    tmp_path: Path, where: str, separators: tuple[str, str]
) -> None:
    lines = [json.dumps(r, separators=separators) for r in GOOD]
    dup = _with_duplicate(GOOD[TARGET], where)
    lines[TARGET] = dup if separators == (",", ":") else dup.replace('", "', '","')
    clean = tmp_path / "clean.ndjson"
    clean.write_bytes(_ndjson(lines))
    broken = tmp_path / "broken.ndjson"
    broken.write_bytes(_ndjson([*lines, "{cut off"]))  # forces the per-record pass
    fast, slow = load(clean), load(broken)
    assert fast.ledger[0]["quarantined"] == 1
    fast_q = dict(zip(fast.quarantine["source_line"], fast.quarantine["reason"], strict=True))
    slow_q = dict(zip(slow.quarantine["source_line"], slow.quarantine["reason"], strict=True))
    assert fast_q == {TARGET + 1: slow_q[TARGET + 1]}
    assert "twice" in fast_q[TARGET + 1]


def _line(**extra: str) -> str:
    """A conversation record with raw JSON text spliced in before its closing brace."""
    base = json.dumps(GOOD[0], separators=(",", ":"))
    return base[:-1] + "".join(f",{v}" for v in extra.values()) + "}"


HOSTILE = {
    # a key repeated behind braces and colons inside strings (they must not be read as structure)
    "brace in a string": _line(a='"note":"}{","channel":"x"'),
    "key-like text in a string": _line(a='"note":"\\"channel\\":1"', b='"channel":"y"'),
    "the same key spelled with an escape": _line(a='"\\u0063hannel":"y"'),
    "a long key twice": _line(
        a='"a_rather_long_key_name_of_forty_characters":1', b='"a_rather_long_key_name_of_forty_characters":2'
    ),
    "two long keys with one tail, then one twice": _line(a='"home_address":1', b='"peer_address":2,"home_address":3'),
    "in an object inside an array": _line(a='"items":[{"k":1,"k":2}]'),
    "a colon after whitespace": _line(a='"channel" :"y"'),
    "a string starting with a colon": _line(a='"note":":","channel":"y"'),
}


def test_hostile_spellings_of_a_repeated_key_are_all_found_on_the_fast_path(tmp_path: Path) -> None:
    lines = [json.dumps(r, separators=(",", ":")) for r in GOOD]
    # each hostile record sits among clean records of the same shape as its clean twin
    hostile = list(HOSTILE.values())
    body = lines + hostile + lines
    src = tmp_path / "hostile.ndjson"
    src.write_bytes(_ndjson(body))
    result = load(src)
    lines_quarantined = sorted(result.quarantine["source_line"].to_list())
    expected = [len(lines) + i + 1 for i in range(len(hostile))]
    assert lines_quarantined == expected, dict(
        zip(result.quarantine["source_line"], result.quarantine["reason"], strict=True)
    )
    assert all("twice" in r for r in result.quarantine["reason"])


def test_records_of_one_shape_are_judged_each_when_the_shape_is_unclear(tmp_path: Path) -> None:
    # 'home_address' and 'peer_address' share their last 8 bytes: the fast check cannot tell
    # them apart by shape, so a clean record of that shape must not vouch for a repeating one.
    clean = _line(a='"home_address":1', b='"peer_address":2')
    repeated = _line(a='"peer_address":1', b='"peer_address":2')
    src = tmp_path / "tails.ndjson"
    src.write_bytes(_ndjson([clean] * 50 + [repeated] + [clean] * 50))
    result = load(src)
    assert result.quarantine["source_line"].to_list() == [51]
    assert "'peer_address' twice" in result.quarantine["reason"][0]
    assert result.ledger[0]["events"] == 100


def test_a_clean_file_without_repeated_keys_loses_no_record(tmp_path: Path) -> None:
    lines = [json.dumps(r, separators=(",", ":")) for r in GOOD] * 3
    src = tmp_path / "clean.ndjson"
    src.write_bytes(_ndjson(lines))
    result = load(src)
    assert result.quarantine.height == 0 and result.ledger[0]["loaded"] == len(lines)


def test_the_check_reads_the_bytes_in_slices_without_losing_a_record_at_a_boundary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from auditreports.sources import _dupkeys

    monkeypatch.setattr(_dupkeys, "_SLICE", 700)  # a few records per slice
    lines = [json.dumps(r, separators=(",", ":")) for r in GOOD] * 20
    repeated = {i: _with_duplicate(json.loads(lines[i]), "top") for i in range(0, len(lines), 7)}
    for i, text in repeated.items():
        lines[i] = text
    src = tmp_path / "sliced.ndjson"
    src.write_bytes(_ndjson(lines))
    result = load(src)
    assert sorted(result.quarantine["source_line"].to_list()) == [i + 1 for i in sorted(repeated)]
    assert result.ledger[0]["events"] == len(lines) - len(repeated)


VENDOR_FIXTURE = Path(__file__).parent / "fixtures" / "vendors" / "github-export-events.ndjson"


def test_a_vendor_file_record_naming_a_key_twice_is_quarantined(tmp_path: Path) -> None:
    lines = VENDOR_FIXTURE.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1][:-1] + ',"action":"repo.destroy"}'  # GitHub's action named twice
    src = tmp_path / "github.ndjson"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = load(src, format="github")
    entry = result.ledger[0]
    assert result.quarantine["source_line"].to_list() == [2]
    assert result.quarantine["reason"][0].startswith("the record names 'action' twice")
    assert entry["events"] == len(lines) - 1
    assert entry["lines_read"] == entry["loaded"] + entry["quarantined"] + entry["blank"]


def test_a_vendor_api_record_naming_a_key_twice_is_quarantined() -> None:
    lines = VENDOR_FIXTURE.read_text(encoding="utf-8").splitlines()
    page = [loads_keeping_duplicates(line) for line in lines]
    page[0] = loads_keeping_duplicates(lines[0][:-1] + ',"actor":"mallory"}')
    events, quarantine = events_from_records(page, format="github", source_file="api page 1")
    assert events.height == len(lines) - 1
    assert quarantine["source_line"].to_list() == [1]
    assert quarantine["reason"][0].startswith("the record names 'actor' twice")
