"""``auditreports fetch`` and ``serve-sample-api`` as a user runs them: subprocesses, real HTTP, kill -9."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from test_api_support import TOKEN, json_server, write_export

from auditreports.api import FetchSettings, ServerFaults, fetch, start_server
from auditreports.store import open_store


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("export")
    write_export(directory, n=1500)
    return directory


@pytest.fixture
def serve(export: Path) -> Iterator[Any]:
    stops = []

    def _serve(faults: ServerFaults | None = None) -> str:
        url, stop = start_server(export, token=TOKEN, faults=faults)
        stops.append(stop)
        return url

    yield _serve
    for stop in stops:
        stop()


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AUDITREPORTS_TOKEN")}
    return {**base, **extra}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "auditreports", *args]


def whole_store(store: Path) -> pl.DataFrame:
    """Every column of every stored event, provenance and raw bytes included, in a stable order."""
    frame = open_store(store).events.collect().with_columns(pl.col("flags").list.sort())
    return frame.sort("event_id", "source_file", "source_line")


def assert_no_token_in(paths: list[Path], *texts: str) -> None:
    for path in paths:
        assert TOKEN.encode() not in path.read_bytes(), path
    for text in texts:
        assert TOKEN not in text


@pytest.mark.slow  # ~10-15 s: four CLI processes, three of them killed
def test_kill_9_at_any_moment_then_rerun_gives_the_uninterrupted_result(tmp_path) -> None:
    write_export(tmp_path / "export", n=600)
    faults = ServerFaults(seed=4, slow_ms=30, duplicate_boundary=2, drop_connection=0.05)
    url, stop = start_server(tmp_path / "export", token=TOKEN, faults=faults)
    try:
        _kill_and_resume(url, tmp_path)
    finally:
        stop()


def _kill_and_resume(url: str, tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    fetch(url, reference, token=TOKEN, settings=FetchSettings(page_size=15, progress=False))

    store = tmp_path / "store"
    args = cli("fetch", url, "--store", str(store), "--page-size", "15", "--pages-per-write", "2")
    checkpoints = store / "fetch-checkpoints"

    def pages_checkpointed() -> int:
        # The checkpoint itself, never a temp file a kill left half-written beside it.
        for path in checkpoints.glob("[!.]*.json") if checkpoints.is_dir() else []:
            try:
                return int(json.loads(path.read_text())["report"]["pages"])
            except (ValueError, KeyError, OSError):
                return 0  # being replaced right now
        return 0

    outputs: list[str] = []
    # Kill on an observable event, not after a guessed delay: as soon as this run's 1st, 2nd or
    # 3rd checkpoint appears (the run is then somewhere inside its next write, unsynchronised).
    for writes in (1, 2, 3):
        seen = pages_checkpointed()
        proc = subprocess.Popen(args, env=env(AUDITREPORTS_TOKEN=TOKEN), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # A generous wait for the event (interpreter start-up alone takes tens of seconds on a
        # loaded machine); the kill itself always follows an observed checkpoint.
        deadline = time.monotonic() + 600
        observed = 0
        while observed < writes and proc.poll() is None and time.monotonic() < deadline:
            now = pages_checkpointed()
            if now != seen:
                observed, seen = observed + 1, now
            else:
                time.sleep(0.005)
        assert observed == writes or proc.poll() is not None, "no checkpoint appeared within 10 minutes"
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, "the fetch finished before it could be killed; slow the server"
        outputs += [out.decode(), err.decode()]
    assert 0 < pages_checkpointed() < 41  # 602 records, 15 a page (+2 repeated): 43 pages

    done = subprocess.run(args, env=env(AUDITREPORTS_TOKEN=TOKEN), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "fetch complete" in done.stderr and "(resumed)" in done.stderr
    assert re.search(r"fetch: \d+ pages, \d+ events, [\d,]+ events/s, \d+ retries", done.stderr)
    outputs += [done.stdout, done.stderr]

    assert whole_store(store).equals(whole_store(reference))
    assert open_store(store).quarantine.height == open_store(reference).quarantine.height == 1
    entries = open_store(store).ledger["fetches"]
    assert entries[-1]["complete"] is True and entries[-1]["resumed"] is True and entries[-1]["runs"] >= 2
    assert entries[-1]["pages"] == open_store(reference).ledger["fetches"][0]["pages"]
    assert not (store / "fetch-checkpoints").exists()
    assert_no_token_in([p for p in store.rglob("*") if p.is_file()], *outputs)


def test_wrong_token_is_one_clear_line_and_a_quick_exit(serve, tmp_path) -> None:
    url = serve()
    result = subprocess.run(
        cli("fetch", url, "--store", str(tmp_path / "s")),
        env=env(AUDITREPORTS_TOKEN="tok_not_the_right_one_42"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("auditreports: error: the API rejected the token (HTTP 401")
    assert "AUDITREPORTS_TOKEN" in lines[0]
    assert "tok_not_the_right_one_42" not in result.stderr + result.stdout
    assert not (tmp_path / "s").exists() or not any((tmp_path / "s").rglob("*.parquet"))


def test_missing_token_is_a_usage_error(serve, tmp_path) -> None:
    result = subprocess.run(
        cli("fetch", serve(), "--store", str(tmp_path / "s")), env=env(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "auditreports: error: no API token: set AUDITREPORTS_TOKEN (or AUDITREPORTS_TOKEN_FILE to a file holding the "
        "token); tokens are never accepted on the command line"
    ]


def test_token_file_and_json_record(serve, tmp_path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    result = subprocess.run(
        cli("fetch", serve(), "--store", str(tmp_path / "s"), "--conversation-id", "conv_0003", "--json"),
        env=env(AUDITREPORTS_TOKEN_FILE=str(token_file)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["complete"] is True and record["filters"]["conversation_id"] == "conv_0003"
    assert record["events_added"] == open_store(tmp_path / "s").events.select(pl.len()).collect().item() > 0
    assert TOKEN not in result.stdout + result.stderr


def test_serve_sample_api_generates_a_token_and_serves(export, tmp_path) -> None:
    proc = subprocess.Popen(
        cli("serve-sample-api", str(export), "--port", "0", "--duplicate-boundary"),
        env=env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        lines = [proc.stderr.readline(), proc.stderr.readline()]
        token = re.search(r"this server's token: (\S+)", lines[0])
        url = re.search(r"serving 1502 events from 3 files at (http://127\.0\.0\.1:\d+/v1/audit-log)", lines[1])
        assert token and url, lines
        report = fetch(url.group(1), tmp_path / "s", token=token.group(1), settings=FetchSettings(progress=False))
        # 1502 records: one identical duplicate dropped, one unreadable timestamp quarantined
        assert report.complete and report.events_added == 1500
        assert report.duplicates_dropped == 2 * (report.pages - 1) + 1  # page boundaries, and the export's own
        assert report.quarantined == 1
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
        if proc.stderr is not None:
            proc.stderr.close()


def test_a_rejected_token_is_asked_once_never_retried(tmp_path) -> None:
    """A 401 is final: one request, no retry with backoff (a quick exit, counted not timed)."""
    seen: list[str] = []

    def reject(path: str) -> tuple[int, bytes]:
        seen.append(path)
        return 401, b'{"error": "invalid_token"}'

    with json_server(reject) as url:
        result = subprocess.run(
            cli("fetch", url, "--store", str(tmp_path / "s")),
            env=env(AUDITREPORTS_TOKEN="tok_not_the_right_one_42"),
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 1 and "rejected the token (HTTP 401" in result.stderr
    assert len(seen) == 1, seen
