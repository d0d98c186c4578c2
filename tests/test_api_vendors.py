"""Okta System Log and GitHub audit-log APIs through ``fetch``: real HTTP on 127.0.0.1.

The servers (``start_vendor_server``) paginate the way the vendors do: a bare JSON
array body and ``Link: <…after=…>; rel="next"``. The expected events are what
``auditreports.sources.load`` makes of the same records written to a file (one
record a line, as ``record_text`` serialises them), so a fetched vendor event and an
ingested one are the same canonical row, ``raw`` included.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from test_api_support import TOKEN, RecordingSleep

from auditreports.api import FetchSettings, ServerFaults, fetch, start_vendor_server
from auditreports.cli import main
from auditreports.errors import AuthenticationError, PaginationError, RetriesExhaustedError, UsageError
from auditreports.sources import load
from auditreports.sources._dedupe import PAYLOAD_COLUMNS
from auditreports.sources.vendors import record_text
from auditreports.store import open_store

COMPARED = [*PAYLOAD_COLUMNS, "raw", "flags"]
START = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


def iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def okta_records(n: int = 60) -> list[dict[str, Any]]:
    """Okta System Log events: logins (every 4th a failure), sign-outs, one privilege grant."""
    records = []
    for i in range(n):
        kind = ("user.session.start", "user.session.start", "user.session.end", "user.authentication.sso")[i % 4]
        result = "FAILURE" if i % 8 == 0 else "SUCCESS"
        if i == 13:
            kind = "user.account.privilege.grant"
        records.append(
            {
                "uuid": f"okta-{i:04d}",
                "published": iso(START + timedelta(minutes=7 * i)),
                "eventType": kind,
                "actor": {"id": f"00u{i % 5}", "type": "User", "alternateId": f"user{i % 5}@example.com"},
                "client": {"ipAddress": f"203.0.113.{i % 9}", "userAgent": {"rawUserAgent": "Mozilla/5.0"}},
                "outcome": {"result": result, "reason": "INVALID_CREDENTIALS" if result == "FAILURE" else None},
                "target": [{"id": "app1", "type": "AppInstance", "alternateId": "Chatbot"}],
                "displayMessage": "User login to Okta",
            }
        )
    records.append({"uuid": "okta-notime", "eventType": "user.session.start", "actor": {"id": "x"}})  # quarantined
    return records


def github_records(n: int = 45) -> list[dict[str, Any]]:
    """GitHub audit-log events with epoch-ms timestamps, failed logins and a member promotion."""
    actions = ("user.failed_login", "repo.create", "user.login", "org.update_member", "repo.download_zip")
    t0 = int(START.timestamp() * 1000)
    return [
        {
            "_document_id": f"doc-{i:04d}",
            "@timestamp": t0 + 60_000 * i,
            "created_at": t0 + 60_000 * i,
            "action": actions[i % len(actions)],
            "actor": f"dev{i % 4}",
            "actor_ip": f"198.51.100.{i % 7}",
            "org": "acme" if i % 3 else [],  # changes type between rows, as real exports do
            **({"permission": "admin"} if actions[i % len(actions)] == "org.update_member" else {}),
        }
        for i in range(n)
    ]


def canonical(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    return (
        frame.lazy()
        .select(COMPARED)
        .with_columns(pl.col("flags").list.sort())
        .collect()
        .sort("event_id", "raw", "timestamp", nulls_last=True)
    )


def loaded_from_file(records: list[Any], tmp_path: Path, format: str) -> Any:
    """``sources.load`` of the same records written as an export file."""
    path = tmp_path / f"{format}-export.ndjson"
    path.write_text("".join(record_text(r) + "\n" for r in records), encoding="utf-8")
    return load(path, format=format)


def settings(**kw: Any) -> FetchSettings:
    sleep = RecordingSleep()
    return FetchSettings(**{"page_size": 7, "sleep": sleep, "clock": sleep.clock, "progress": False, **kw})


class RequestLog(httpx.BaseTransport):
    """A user transport (the documented seam) over the real network that notes each request URL."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.urls: list[httpx.URL] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(request.url)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def serve() -> Iterator[Any]:
    stops = []

    def _serve(records: Any, style: str, **kw: Any) -> str:
        url, stop = start_vendor_server(records, style=style, token=TOKEN, **kw)
        stops.append(stop)
        return url

    yield _serve
    for stop in stops:
        stop()


def test_okta_link_pagination_with_429s_holds_exactly_the_file_events(serve, tmp_path) -> None:
    records = okta_records()
    url = serve(records, "okta", faults=ServerFaults(seed=3, rate_429=0.3, retry_after=1))
    transport = RequestLog()
    cfg = settings(auth_scheme="SSWS", transport=transport, max_attempts=20)
    report = fetch(url, tmp_path / "store", token=TOKEN, format="okta", settings=cfg)

    expected = loaded_from_file(records, tmp_path, "okta")
    store = open_store(tmp_path / "store")
    assert canonical(store.events).equals(canonical(expected.events))
    assert report.complete and report.source_format == "okta" and report.strategy == "okta-link"
    assert report.events == len(records) and report.quarantined == expected.quarantine.height == 1
    # No until: Okta's polling mode always links a next page; the empty page ends the fetch.
    assert report.end_reason == "empty page"
    assert report.pages == -(-len(records) // 7) + 1
    # Every page after the first was asked for through the Link header's `after` cursor.
    # (429s repeat a request, so requests are counted by distinct cursor.)
    assert "after" not in transport.urls[0].params
    afters = {u.params.get("after") for u in transport.urls}
    assert len(afters) == report.pages and all(u.params["limit"] == "7" for u in transport.urls)
    # 429s honoured: Retry-After 1 s as delta-seconds, or an HTTP date rounded up (at most 2 s away).
    waits = cfg.sleep.waits  # type: ignore[attr-defined]
    assert report.http_429 > 1 and len(waits) == report.http_429 == report.retries
    assert 1.0 in waits and all(0 < w <= 2.0 for w in waits)


def test_failed_okta_logins_are_auth_login_failures(serve, tmp_path) -> None:
    records = okta_records()
    fetch(serve(records, "okta"), tmp_path, token=TOKEN, format="okta", settings=settings(auth_scheme="SSWS"))
    events = open_store(tmp_path).events.collect()
    failed = {
        r["uuid"]
        for r in records
        if r.get("eventType") == "user.session.start" and r.get("outcome", {}).get("result") == "FAILURE"
    }
    got = events.filter(pl.col("event_type") == "auth.login.failure")
    assert failed and set(got["event_id"]) >= failed
    assert set(events.filter(pl.col("event_id").is_in(failed))["event_type"]) == {"auth.login.failure"}
    assert events.filter(pl.col("event_id") == "okta-0013")["event_type"].item() == "auth.permission.changed"


def test_okta_since_until_window_and_event_type_filter(serve, tmp_path) -> None:
    records = okta_records()
    url = serve(records, "okta")
    since, until = "2024-03-01T09:00:00Z", "2024-03-01T12:00:00Z"
    report = fetch(
        url, tmp_path / "a", since=since, until=until, token=TOKEN, format="okta", settings=settings(auth_scheme="SSWS")
    )
    events = open_store(tmp_path / "a").events.collect()
    lo, hi = datetime.fromisoformat(since), datetime.fromisoformat(until)
    inside = [r for r in records if "published" in r and lo <= datetime.fromisoformat(r["published"]) < hi]
    assert sorted(events["event_id"]) == sorted(r["uuid"] for r in inside)
    assert report.complete and report.end_reason == "no next page"  # bounded: no link after the last page
    assert report.window == {"since": since, "until": until}

    fetch(
        url,
        tmp_path / "b",
        event_type="user.session.end",
        token=TOKEN,
        format="okta",
        settings=settings(auth_scheme="SSWS"),
    )
    ended = open_store(tmp_path / "b").events.collect()
    assert ended.height == sum(r["eventType"] == "user.session.end" for r in records)
    assert set(ended["event_type"]) == {"auth.logout"}


def test_a_repeated_after_cursor_is_a_clean_pagination_error(serve, tmp_path) -> None:
    url = serve(okta_records(), "okta", faults=ServerFaults(loop_cursor_page=3))
    with pytest.raises(PaginationError, match=r"page 3 .*already read: the API's pagination loops") as caught:
        fetch(url, tmp_path, token=TOKEN, format="okta", settings=settings(auth_scheme="SSWS"))
    assert TOKEN not in str(caught.value)
    # The pages read before the loop are stored, and the ledger says the fetch is incomplete.
    assert open_store(tmp_path).events.collect().height == 2 * 7
    (entry,) = open_store(tmp_path).ledger["fetches"]
    assert entry["complete"] is False and "loops" in entry["error"] and entry["pages"] == 2


def test_okta_rejects_a_bearer_token_and_the_message_says_which_scheme(serve, tmp_path) -> None:
    url = serve(okta_records(), "okta")
    with pytest.raises(AuthenticationError) as caught:
        fetch(url, tmp_path, token=TOKEN, format="okta", settings=settings())
    message = caught.value.message
    assert "HTTP 401: Invalid token provided (E0000401)" in message
    assert "SSWS" in message and "sent Bearer" in message and TOKEN not in message


def test_github_link_pagination_newest_first_holds_exactly_the_file_events(serve, tmp_path) -> None:
    records = github_records(250)
    url = serve(records, "github", faults=ServerFaults(seed=5, rate_429=0.4, burst_503=1))
    transport = RequestLog()
    report = fetch(
        url,
        tmp_path / "s",
        token=TOKEN,
        format="github",
        settings=settings(page_size=500, transport=transport, max_attempts=20),
    )
    expected = loaded_from_file(records, tmp_path, "github")
    assert canonical(open_store(tmp_path / "s").events).equals(canonical(expected.events))
    assert report.complete and report.end_reason == "no next page" and report.http_429 > 0 and report.http_5xx == 1
    # GitHub allows 100 per page: the default 500 is capped, and the ledger says so.
    assert report.page_size == 100 and "above the 100" in report.notes[0]
    assert {u.params["per_page"] for u in transport.urls} == {"100"}
    events = open_store(tmp_path / "s").events.collect()
    assert events.filter(pl.col("source_action") == "user.failed_login")["event_type"].unique().to_list() == [
        "auth.login.failure"
    ]


def test_github_window_goes_into_the_phrase(serve, tmp_path) -> None:
    records = github_records()
    transport = RequestLog()
    since, until = "2024-03-01T08:10:00Z", "2024-03-01T08:30:00Z"
    report = fetch(
        serve(records, "github"),
        tmp_path,
        since=since,
        until=until,
        author="dev1",
        token=TOKEN,
        format="github",
        settings=settings(transport=transport),
    )
    assert transport.urls[0].params["phrase"] == f"created:>={since} created:<{until} actor:dev1"
    lo, hi = (int(datetime.fromisoformat(t).timestamp() * 1000) for t in (since, until))
    want = sorted(r["_document_id"] for r in records if lo <= r["@timestamp"] < hi and r["actor"] == "dev1")
    assert sorted(open_store(tmp_path).events.collect()["event_id"]) == want and report.complete


def test_vendor_apis_refuse_filters_they_cannot_apply(tmp_path) -> None:
    with pytest.raises(UsageError, match="cannot filter by --conversation-id"):
        fetch("http://127.0.0.1:9/orgs/acme/audit-log", tmp_path, conversation_id="c1", token=TOKEN, format="github")
    with pytest.raises(UsageError, match="no API client for the source format 'cloudtrail'"):
        fetch("http://127.0.0.1:9/x", tmp_path, token=TOKEN, format="cloudtrail")


def test_cli_serves_okta_records_and_fetches_them_with_the_ssws_scheme(tmp_path, monkeypatch, capsys) -> None:
    records = okta_records()
    source = tmp_path / "okta.ndjson"
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDITREPORTS_TOKEN")}
    server = subprocess.Popen(
        [sys.executable, "-m", "auditreports", "serve-sample-api", str(source), "--style", "okta", "--port", "0"],
        env={**env, "AUDITREPORTS_TOKEN": TOKEN},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        match = re.search(r"serving 61 okta records at (\S+) \(Authorization: SSWS", line)
        assert match, line
        for name in [k for k in os.environ if k.startswith("AUDITREPORTS_TOKEN")]:
            monkeypatch.delenv(name)
        monkeypatch.setenv("AUDITREPORTS_TOKEN", TOKEN)
        store = str(tmp_path / "s")
        args = ["fetch", match.group(1), "--store", store, "--source-format", "okta", "--json"]
        assert main(args) == 1  # Bearer by default: rejected, with the hint
        assert "SSWS" in capsys.readouterr().err
        assert main([*args, "--auth-scheme", "SSWS"]) == 0
        out = capsys.readouterr()
        record = json.loads(out.out)
        assert record["complete"] and record["source_format"] == "okta" and record["page_size"] == 1000
        assert record["events_added"] == 60 and record["quarantined"] == 1
        assert TOKEN not in out.out + out.err
    finally:
        server.terminate()
        server.communicate(timeout=10)  # also closes the stderr pipe


@pytest.mark.parametrize(
    ("fixture", "style"),
    [("Okta.SystemLog.ndjson", "okta"), ("GitHub.Audit.ndjson", "github")],
)
def test_real_vendor_records_through_the_api_equal_file_ingest(serve, shared_real, tmp_path, fixture, style) -> None:
    lines = (shared_real / "panther-analysis-fixtures" / "rule_tests" / fixture).read_text().splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    url = serve(records, style, faults=ServerFaults(seed=1, rate_429=0.2, retry_after=1))
    report = fetch(
        url,
        tmp_path / "s",
        token=TOKEN,
        format=style,
        settings=settings(page_size=9, auth_scheme="SSWS" if style == "okta" else "Bearer", max_attempts=20),
    )
    expected = loaded_from_file(records, tmp_path, style)
    store = open_store(tmp_path / "s")
    assert canonical(store.events).equals(canonical(expected.events))
    assert report.complete and report.events == len(records) and report.http_429 > 0
    assert report.quarantined == store.quarantine.height == expected.quarantine.height
    if style == "okta":
        # Panther's fixtures reuse uuids across different records, so records are matched by their text.
        failed = {
            record_text(r)
            for r in records
            if r.get("eventType") == "user.session.start"
            and isinstance(r.get("outcome"), dict)
            and r["outcome"].get("result") == "FAILURE"
        }
        events = store.events.collect()
        stored = events.filter(pl.col("raw").is_in(failed))
        assert stored.height >= 2 and set(stored["event_type"]) == {"auth.login.failure"}
        # The rest have the timestamp "redacted" upstream: quarantined with that reason, not lost.
        held = {raw.decode() for raw in store.quarantine.filter(pl.col("reason").str.contains("redacted"))["raw"]}
        assert set(stored["raw"]) | (failed & held) == failed


def test_an_interrupted_github_fetch_resumes_from_its_link_and_matches_file_ingest(serve, tmp_path) -> None:
    records = github_records(60)
    # The outage (requests 2..5 answer 503) outlasts the first run's 3 attempts.
    url = serve(records, "github", faults=ServerFaults(burst_503=4))
    store = tmp_path / "s"
    cfg = settings(page_size=10, max_attempts=3, pages_per_write=1)
    with pytest.raises(RetriesExhaustedError, match="page 2"):
        fetch(url, store, token=TOKEN, format="github", settings=cfg)
    checkpoint = json.loads(next((store / "fetch-checkpoints").glob("*.json")).read_text())
    assert checkpoint["next_page"] == 2 and "after=" in checkpoint["next_url"] and TOKEN not in json.dumps(checkpoint)

    report = fetch(url, store, token=TOKEN, format="github", settings=cfg)
    assert report.complete and report.resumed and report.runs == 2 and report.pages == 6
    expected = loaded_from_file(records, tmp_path, "github")
    assert canonical(open_store(store).events).equals(canonical(expected.events))
    assert [e["complete"] for e in open_store(store).ledger["fetches"]] == [False, True]


def test_a_non_json_okta_page_fails_with_its_position(serve, tmp_path) -> None:
    url = serve(okta_records(), "okta", faults=ServerFaults(bad_json_page=2))
    with pytest.raises(PaginationError, match=r"page 2 \(cursor .+\) is not valid JSON"):
        fetch(url, tmp_path, token=TOKEN, format="okta", settings=settings(auth_scheme="SSWS"))
    assert open_store(tmp_path).events.collect().height == 7
