"""A saved page of the platform's audit-log API ({"data": [...], "has_more", "next_cursor"}) is a layout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_sources_formats import payload, records, render, write

from auditreports.sources import load

CV = records("conversation")
WS = records("workspace")


def _page(recs: list[dict[str, Any]], *, indent: int | None, has_more: bool = False, first: str = "data") -> bytes:
    body: dict[str, Any] = {"data": recs, "has_more": has_more, "next_cursor": "c_2" if has_more else None}
    if first != "data":
        body = {first: body.pop(first), **body}
    return (json.dumps(body, indent=indent, ensure_ascii=False) + "\n").encode()


@pytest.mark.parametrize("indent", [None, 2])
@pytest.mark.parametrize("fmt", ["conversation", "workspace"])
def test_a_saved_api_page_loads_the_same_events_as_an_export(tmp_path: Path, indent: int | None, fmt: str) -> None:
    recs = CV if fmt == "conversation" else WS
    page = write(tmp_path / "page.json", _page(recs, indent=indent))
    result = load(page)  # detected, no --format
    entry = result.ledger[0]
    assert (entry["format"], entry["layout"]) == (fmt, "api-page")
    assert entry["lines_read"] == entry["loaded"] + entry["blank"] and entry["quarantined"] == 0
    assert entry["events"] == len(recs)
    export = load(write(tmp_path / "export.ndjson", render(fmt, "ndjson", recs))).events.collect()
    assert payload(result.events.collect()).equals(payload(export))
    data = page.read_bytes()
    for row in result.events.collect().iter_rows(named=True):  # raw and positions point at the element
        raw = row["raw"].encode()
        assert data[row["source_offset"] : row["source_offset"] + len(raw)] == raw
        assert data[: row["source_offset"]].count(b"\n") + 1 == row["source_line"]


def test_the_envelope_is_noted_in_the_ledger_whatever_its_key_order(tmp_path: Path) -> None:
    page = write(tmp_path / "page.json", _page(CV[:2], indent=2, has_more=True, first="has_more"))
    result = load(page)
    entry = result.ledger[0]
    assert entry["layout"] == "api-page" and entry["events"] == 2 and entry["quarantined"] == 0
    note = next(n for n in entry["notes"] if "API page" in n)
    assert '"c_2"' in note and "more events follow" in note


def test_a_cut_off_page_keeps_the_complete_events_and_quarantines_the_broken_one(tmp_path: Path) -> None:
    text = _page(CV[:3], indent=2).decode()
    cut = text[: text.index(CV[2]["event_id"]) + 5]  # inside the third event
    page = write(tmp_path / "page.json", cut.encode())
    result = load(page, format="conversation")
    entry = result.ledger[0]
    assert entry["layout"] == "api-page" and entry["events"] == 2
    assert entry["lines_read"] == entry["loaded"] + entry["quarantined"] + entry["blank"]
    (row,) = result.quarantine.iter_rows(named=True)
    assert "not valid JSON" in row["reason"] and CV[2]["event_id"][:3] in row["raw"].decode()


def test_a_bad_event_inside_a_page_is_quarantined_with_its_line(tmp_path: Path) -> None:
    recs: list[Any] = [CV[0], {"event_id": "x", "timestamp": "yesterday"}, CV[1]]
    page = write(tmp_path / "page.json", _page(recs, indent=None).replace(b"}, {", b"},\n{"))
    result = load(page, format="conversation")
    assert result.ledger[0]["events"] == 2
    (row,) = result.quarantine.iter_rows(named=True)
    assert row["source_line"] == 2 and "timestamp" in row["reason"]
