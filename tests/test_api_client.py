"""The HTTP half of fetch, over real loopback HTTP against the reference server.

Every test starts ``auditreports.api.start_server`` on 127.0.0.1 with a port of its
own and reads it with ``iter_pages``; waits go through the ``sleep`` seam of
FetchSettings so Retry-After handling is checked without waiting.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_api_support import TOKEN, RecordingSleep, api_order, write_export

from auditreports.api import (
    BodyCursor,
    FetchSettings,
    LinkHeader,
    RetryStats,
    ServerFaults,
    Token,
    iter_pages,
    load_sample_log,
    open_client,
    start_server,
)
from auditreports.api.client import first_page_url
from auditreports.errors import AuthenticationError, FetchError, PaginationError, RetriesExhaustedError


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    directory = tmp_path_factory.mktemp("export")
    return directory, write_export(directory)


@pytest.fixture
def serve(export: tuple[Path, list[dict[str, Any]]]) -> Iterator[Any]:
    stops = []

    def _serve(faults: ServerFaults | None = None, **kwargs: Any) -> str:
        url, stop = start_server(export[0], token=TOKEN, faults=faults, **kwargs)
        stops.append(stop)
        return url

    yield _serve
    for stop in stops:
        stop()


def read_all(url: str, *, settings: FetchSettings | None = None, params: dict[str, Any] | None = None, **kw: Any):
    settings = settings or FetchSettings(page_size=100, sleep=RecordingSleep())
    stats = RetryStats()
    start = first_page_url(url, {"limit": settings.page_size, **(params or {})})
    with open_client(settings) as client:
        pages = list(
            iter_pages(client, start, token=Token(kw.pop("token", TOKEN)), settings=settings, stats=stats, **kw)
        )
    return pages, stats


def test_pages_hold_every_event_once_in_api_order(serve, export) -> None:
    pages, stats = read_all(serve())
    records = [r for p in pages for r in p.records]
    expected = api_order(export[1])
    assert [r["event_id"] for r in records] == [r["event_id"] for r in expected]
    assert records == expected
    assert [p.number for p in pages] == list(range(1, len(pages) + 1))
    assert pages[-1].next is None and all(p.next is not None for p in pages[:-1])
    assert stats.retries == 0


@pytest.mark.parametrize(
    "params",
    [
        {"conversation_id": "conv_0007"},
        {"event_type": "claimed"},
        {"author": "bot_faq"},
        {"since": "2026-07-02T00:00:00Z", "until": "2026-07-04T12:00:00Z"},
        {"author": "usr_1", "event_type": "resolved", "since": "2026-07-02T00:00:00Z"},
    ],
)
def test_filters_select_exactly_the_matching_events(serve, export, params) -> None:
    from datetime import datetime

    def keep(r: dict[str, Any]) -> bool:
        try:
            ts = datetime.fromisoformat(r["timestamp"])
        except ValueError:
            ts = None
        if ("since" in params or "until" in params) and ts is None:
            return False
        if "since" in params and ts < datetime.fromisoformat(params["since"]):
            return False
        if "until" in params and ts >= datetime.fromisoformat(params["until"]):
            return False
        return all(
            (r["author"]["id"] if k == "author" else r[k]) == v
            for k, v in params.items()
            if k not in ("since", "until")
        )

    pages, _ = read_all(serve(), params=params, settings=FetchSettings(page_size=7))
    got = [r["event_id"] for p in pages for r in p.records]
    want = [r["event_id"] for r in api_order(export[1]) if keep(r)]
    assert want, "the filter should match something"
    assert got == want


@pytest.mark.parametrize("strategy", [LinkHeader(), None], ids=["link-header", "default"])
def test_link_header_pagination_reads_the_same_events(serve, export, strategy) -> None:
    url = serve(link_headers=True, body_cursor=False)
    pages, _ = read_all(url, strategy=strategy)
    assert len(pages) > 3
    assert [r["event_id"] for p in pages for r in p.records] == [r["event_id"] for r in api_order(export[1])]


def test_after_style_body_cursor_through_the_same_strategy(serve, export) -> None:
    # Okta-style `after` cursor: only the names change, not the client.
    pages, _ = read_all(serve(), strategy=BodyCursor(cursor_param="after"))
    assert all("after=" in p.url for p in pages[1:])
    assert len([r for p in pages for r in p.records]) == len(export[1])


def test_retry_after_is_honoured_in_both_forms(serve, export) -> None:
    sleep = RecordingSleep()
    settings = FetchSettings(page_size=100, sleep=sleep, max_attempts=30)
    pages, stats = read_all(serve(ServerFaults(seed=3, rate_429=0.5, retry_after=3)), settings=settings)
    assert [r["event_id"] for p in pages for r in p.records] == [r["event_id"] for r in api_order(export[1])]
    assert stats.http_429 == len(sleep.waits) >= 4
    # delta-seconds form: exactly 3 s; HTTP-date form (whole seconds, rounded up): 3 to 4 s from the
    # server's clock, measured by the client a few milliseconds later.
    seconds_form = [w for w in sleep.waits if w == 3.0]
    date_form = [w for w in sleep.waits if w != 3.0]
    assert seconds_form and date_form
    assert all(2.5 < w <= 4.0 for w in date_form)


def test_retry_after_is_capped(serve) -> None:
    sleep = RecordingSleep()
    settings = FetchSettings(page_size=500, sleep=sleep, retry_after_cap=2.0)
    read_all(serve(ServerFaults(burst_503=2, retry_after=3600)), settings=settings)
    assert sleep.waits == [2.0, 2.0]


def test_outage_burst_is_retried_with_backoff(serve, export) -> None:
    sleep = RecordingSleep()
    pages, stats = read_all(serve(ServerFaults(burst_503=3)), settings=FetchSettings(page_size=100, sleep=sleep))
    assert stats.http_5xx == 3 and stats.retries == 3
    assert len([r for p in pages for r in p.records]) == len(export[1])


def test_backoff_without_retry_after_is_exponential_with_full_jitter() -> None:
    from auditreports.api._retry import backoff_delay

    ceilings: list[float] = []
    settings = FetchSettings(backoff_base=0.5, backoff_max=6.0, jitter=lambda lo, hi: ceilings.append(hi) or hi)
    for retry in range(6):
        backoff_delay(retry, settings)
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 6.0, 6.0]
    draws = [backoff_delay(3, FetchSettings()) for _ in range(200)]
    assert all(0 <= d <= 4.0 for d in draws) and len(set(draws)) > 150


def test_dropped_connections_mid_body_are_retried(serve, export) -> None:
    sleep = RecordingSleep()
    settings = FetchSettings(page_size=100, sleep=sleep, max_attempts=20)
    pages, stats = read_all(serve(ServerFaults(seed=5, drop_connection=0.4)), settings=settings)
    assert stats.connection_errors >= 2
    assert [r["event_id"] for p in pages for r in p.records] == [r["event_id"] for r in api_order(export[1])]


def test_duplicate_boundary_repeats_events_across_pages(serve, export) -> None:
    pages, _ = read_all(serve(ServerFaults(duplicate_boundary=2)))
    ids = [r["event_id"] for p in pages for r in p.records]
    assert len(ids) == len(export[1]) + 2 * (len(pages) - 1)
    assert pages[1].records[:2] == pages[0].records[-2:]
    assert list(dict.fromkeys(ids)) == list(dict.fromkeys(r["event_id"] for r in api_order(export[1])))


def test_non_json_page_fails_with_its_position(serve) -> None:
    with pytest.raises(PaginationError) as info:
        read_all(serve(ServerFaults(bad_json_page=3)))
    assert info.value.page == 3
    assert info.value.cursor
    assert "page 3" in info.value.message and info.value.cursor[:20] in info.value.message
    assert "not valid JSON" in info.value.message


def test_repeated_cursor_is_a_pagination_loop(serve) -> None:
    with pytest.raises(PaginationError, match="loops") as info:
        read_all(serve(ServerFaults(loop_cursor_page=3)))
    assert info.value.page == 3


def test_wrong_token_fails_at_once_without_showing_it(serve) -> None:
    sleep = RecordingSleep()
    with pytest.raises(AuthenticationError) as info:
        read_all(serve(), token="tok_wrong_0123456789", settings=FetchSettings(sleep=sleep))
    assert info.value.status == 401
    assert "401" in info.value.message and "not valid" in info.value.message
    assert "tok_wrong_0123456789" not in info.value.message
    assert sleep.waits == []


def test_attempts_are_bounded(serve) -> None:
    settings = FetchSettings(page_size=100, sleep=RecordingSleep(), max_attempts=3)
    with pytest.raises(RetriesExhaustedError, match="after 3 attempts") as info:
        read_all(serve(ServerFaults(burst_503=5)), settings=settings)
    assert info.value.page == 2  # the first page is served, the outage starts with the second request


def test_total_retry_time_is_bounded(serve) -> None:
    sleep = RecordingSleep()
    settings = FetchSettings(page_size=100, sleep=sleep, clock=sleep.clock, max_retry_time=1.5)
    with pytest.raises(RetriesExhaustedError, match=r"exceed 1\.5 s"):
        read_all(serve(ServerFaults(burst_503=5, retry_after=1)), settings=settings)
    # 1 s (delta-seconds form), then an HTTP date 1-2 s ahead: past the 1.5 s budget, so it gives up.
    assert sleep.waits == [1.0]


def test_client_errors_are_not_retried(serve) -> None:
    sleep = RecordingSleep()
    url = serve()
    with pytest.raises(FetchError, match="HTTP 400") as info, open_client(FetchSettings()) as client:
        list(iter_pages(client, url + "?limit=501", token=Token(TOKEN), settings=FetchSettings(sleep=sleep)))
    assert "limit must be between 1 and 500" in info.value.message
    assert sleep.waits == []


def test_connection_refused_is_retried_then_reported(tmp_path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleep = RecordingSleep()
    settings = FetchSettings(sleep=sleep, max_attempts=3)
    with pytest.raises(RetriesExhaustedError, match="ConnectError"):
        read_all(f"http://127.0.0.1:{port}/v1/audit-log", settings=settings)
    assert len(sleep.waits) == 2


def test_users_transport_is_used(serve, export) -> None:
    # The seam for proxies, mTLS, recording: a real transport wrapped by the user's own layer.
    seen: list[str] = []

    class Recording(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(str(request.url))
            return super().handle_request(request)

    settings = FetchSettings(page_size=250, transport=Recording())
    pages, _ = read_all(serve(), settings=settings)
    assert len(seen) == len(pages) == 5


def test_server_reads_every_layout(export) -> None:
    log = load_sample_log(export[0])
    assert log.files == 3
    assert len(log.records) == len(export[1])
    assert log.skipped_lines == 0
