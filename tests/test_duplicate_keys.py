"""Duplicate JSON keys: a record that names a key twice is quarantined, naming the key.

Through an API page (a real HTTP server on 127.0.0.1 sending the bytes as they are)
and through a file's per-record pass. See docs/ingestion.md for what the one-call
fast path of a clean file does not check.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
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

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = bodies.pop(0).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/audit-log", bodies
    server.shutdown()
    server.server_close()


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
