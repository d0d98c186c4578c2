"""``fetch`` never calls itself complete while skipping data, never runs forever, never writes the token.

A real server on 127.0.0.1 (``auditreports.api.server`` with fault injection) and the
real client: an empty page that says more follow, pagination that hands out fresh
cursors for the same events forever, a page budget, a body sent a byte at a time,
Retry-After values RFC 9110 does not allow, and a server that echoes the token into
cursors, Link URLs and 401 messages.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from test_api_fetch import canonical
from test_api_support import TOKEN, RecordingSleep, serving, write_export

from auditreports.api import FetchSettings, ServerFaults, fetch, parse_retry_after, redact
from auditreports.errors import AuthenticationError, PaginationError, RetriesExhaustedError
from auditreports.sources import load
from auditreports.store import open_store, reconcile


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("export")
    write_export(directory, n=600)
    return directory


@pytest.fixture(scope="module")
def expected(export: Path) -> pl.DataFrame:
    return canonical(load(export).events)


@pytest.fixture
def serve(export: Path) -> Iterator[Any]:
    with serving(export) as start:
        yield start


def quick(**kw: Any) -> FetchSettings:
    sleep = RecordingSleep()
    return FetchSettings(**{"page_size": 100, "sleep": sleep, "clock": sleep.clock, "progress": False, **kw})


def _fetch_entries(store: Path) -> list[dict[str, Any]]:
    return json.loads((store / "ledger.json").read_text())["fetches"]


def test_an_empty_page_that_promises_more_is_a_fault_not_the_end(serve, tmp_path) -> None:
    store = tmp_path / "store"
    with pytest.raises(PaginationError, match=r"page 3 .* came back empty 4 times while the API says more"):
        fetch(serve(ServerFaults(empty_page=3)), store, token=TOKEN, settings=quick(max_attempts=4))
    entry = _fetch_entries(store)[-1]
    assert entry["complete"] is False and "came back empty" in entry["error"]
    assert entry["empty_pages"] == 4 and entry["pages"] == 2


def test_an_empty_page_that_comes_back_full_on_retry_completes_the_fetch(serve, tmp_path, expected) -> None:
    store = tmp_path / "store"
    report = fetch(serve(ServerFaults(empty_page=3, empty_page_times=2)), store, token=TOKEN, settings=quick())
    assert report.complete and report.empty_pages == 2 and report.retries == 2
    assert canonical(open_store(store).events).equals(expected)


def test_a_fresh_cursor_for_the_same_events_forever_is_stopped(serve, tmp_path) -> None:
    store = tmp_path / "store"
    with pytest.raises(PaginationError, match=r"page 4 .* repeats exactly the events of page 3"):
        fetch(serve(ServerFaults(endless_from_page=3)), store, token=TOKEN, settings=quick())
    assert _fetch_entries(store)[-1]["complete"] is False


def test_the_page_budget_stops_a_run_incomplete_and_the_next_run_resumes(serve, tmp_path, expected) -> None:
    store = tmp_path / "store"
    url = serve()
    with pytest.raises(PaginationError, match=r"2 pages read in this run \(the page budget, --max-pages\)"):
        fetch(url, store, token=TOKEN, settings=quick(max_pages=2, pages_per_write=1))
    assert _fetch_entries(store)[-1]["complete"] is False
    report = fetch(url, store, token=TOKEN, settings=quick(max_pages=100))
    assert report.complete and report.resumed
    assert canonical(open_store(store).events).equals(expected)
    assert reconcile(store) == []


def test_a_body_sent_a_byte_at_a_time_is_cut_off_by_the_page_timeout(serve, tmp_path) -> None:
    store = tmp_path / "store"
    # The real clock: the wall-clock budget of a page is what is tested. Each byte comes
    # well within the per-read timeout, so only the page budget can stop this.
    settings = FetchSettings(
        page_size=100, progress=False, sleep=RecordingSleep(), max_attempts=2, page_timeout=0.5, timeout=30
    )
    with pytest.raises(RetriesExhaustedError, match=r"page 2 .*the body did not arrive within 0\.5 s"):
        fetch(serve(ServerFaults(trickle_page=2, trickle_ms=20)), store, token=TOKEN, settings=settings)
    assert _fetch_entries(store)[-1]["complete"] is False


@pytest.mark.parametrize("header", ["²", "1.5", "-3", "+3", "٣", "3 s", "Wed, 21 Oct 2026 07:28:00 +0200", "tomorrow"])
def test_retry_after_values_rfc_9110_does_not_allow_fall_back_to_backoff(serve, tmp_path, header) -> None:
    assert parse_retry_after(header, time.time()) is None
    store = tmp_path / "store"
    report = fetch(serve(ServerFaults(burst_503=2, retry_after_header=header)), store, token=TOKEN, settings=quick())
    assert report.complete and report.http_5xx == 2


def test_retry_after_forms_rfc_9110_allows() -> None:
    now = 784111777.0  # Sun, 06 Nov 1994 08:49:37 GMT
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now) == 10.0
    assert parse_retry_after("Sunday, 06-Nov-94 08:49:47 GMT", now) == 10.0
    assert parse_retry_after("Sun Nov  6 08:49:47 1994", now) == 10.0
    assert parse_retry_after("9" * 5000, now) == 1e12  # the caller caps it; no int-conversion error


def _prefixes(token: str) -> list[str]:
    return [token[:n] for n in range(8, len(token) + 1)]


def test_a_token_echoed_in_cursors_and_links_never_reaches_the_disk(serve, tmp_path, expected) -> None:
    store = tmp_path / "store"
    url = serve(ServerFaults(echo_token=True), link_headers=True)
    with pytest.raises(PaginationError):
        fetch(url, store, token=TOKEN, settings=quick(max_pages=3, pages_per_write=1))
    checkpoints = list((store / "fetch-checkpoints").glob("*.json"))
    assert checkpoints  # the interrupted run left its resume point on disk ...
    report = fetch(url, store, token=TOKEN, settings=quick())  # ... and resuming from it works
    assert report.complete and report.resumed
    assert canonical(open_store(store).events).equals(expected)
    assert "[REDACTED]" in (store / "ledger.json").read_text()
    for path in [*store.rglob("*"), *checkpoints]:
        if path.is_file():
            data = path.read_bytes()
            assert not any(p.encode() in data for p in _prefixes(TOKEN[:8])), path


def test_a_401_that_quotes_part_of_the_token_is_shown_redacted(serve, tmp_path) -> None:
    wrong = "tok_wrong_0123456789abcdef"
    with pytest.raises(AuthenticationError) as info:
        fetch(serve(ServerFaults(echo_token=True)), tmp_path / "store", token=wrong, settings=quick())
    assert "[REDACTED]" in info.value.message
    assert wrong[:8] not in info.value.message


def test_redact_covers_every_prefix_of_eight_or_more_characters() -> None:
    token = "sk_live_0123456789"
    assert redact(f"a {token[:8]} b {token[:12]}… c {token} d", token) == "a [REDACTED] b [REDACTED]… c [REDACTED] d"
    assert redact(token[:7], token) == token[:7]  # seven characters say little
