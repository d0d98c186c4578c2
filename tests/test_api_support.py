"""Shared helpers of the API tests: a small conversation-log export written into tmp_path.

The export follows docs/formats.md, format 2 field for field and deliberately holds what
real exports hold: several files (JSON array gzip, NDJSON plain), events sharing a
timestamp (ordered by event_id), an identical duplicate across two files, and one
record whose timestamp cannot be read (quarantined by the loaders).
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

TOKEN = "tok_live_5f3c9a7e1d2b4c6a8e0f"  # a distinctive string to grep for in every written file

EVENT_TYPES = ("created", "claimed", "note_added", "tag_applied", "priority_changed", "resolved", "message_sent")
AUTHORS = (("user", "usr_1", "Dana Lee"), ("user", "usr_2", "Sam Ortiz"), ("bot", "bot_faq", "FAQ bot"))


def make_events(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    start = datetime(2026, 7, 1, tzinfo=UTC)
    events = []
    t = start
    for i in range(n):
        if rng.random() > 0.15:  # ~15% share the previous event's timestamp
            t += timedelta(milliseconds=rng.randint(1, 600_000))
        kind, author_id, name = AUTHORS[rng.randrange(len(AUTHORS))]
        events.append(
            {
                "event_id": f"aev_{rng.getrandbits(48):012x}{i:05d}",
                "conversation_id": f"conv_{rng.randint(1, 40):04d}",
                "event_type": EVENT_TYPES[rng.randrange(len(EVENT_TYPES))],
                "author": {"kind": kind, "id": author_id, "name": name},
                "timestamp": t.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "before": {"priority": "low"},
                "after": {"priority": "high"},
                "reason": None if i % 5 else f"note {i}: customer asked for ünïcode & <b>markup</b>",
                "ip_address": f"198.51.100.{i % 250}",
                "user_agent": "Mozilla/5.0",
                "channel": ("web", "email", "slack")[i % 3],
                "customer_id": f"cus_{i % 60:04d}",
            }
        )
    return events


def write_export(directory: Path, n: int = 1200, seed: int = 7) -> list[dict[str, Any]]:
    """Write the export into ``directory``; return the records as written (including the bad one)."""
    directory.mkdir(parents=True, exist_ok=True)
    events = make_events(n, seed)
    third = n // 3
    parts = [events[:third], events[third : 2 * third], events[2 * third :]]
    parts[1] = [*parts[1], dict(parts[0][10])]  # an identical duplicate in another file
    parts[2] = [*parts[2], {**events[20], "event_id": "aev_badtime", "timestamp": "not a time"}]
    array = "[\n" + ",\n".join(json.dumps(e, ensure_ascii=False) for e in parts[0]) + "\n]\n"  # one event a line
    (directory / "conversation-audit-0001.json.gz").write_bytes(gzip.compress(array.encode()))
    (directory / "conversation-audit-0002.json").write_text(json.dumps(parts[1], indent=1), encoding="utf-8")
    (directory / "conversation-audit-0003.ndjson").write_text(
        "".join(json.dumps(e) + "\n" for e in parts[2]), encoding="utf-8"
    )
    return [e for part in parts for e in part]


def api_order(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records in the API's order, (timestamp, event_id), unreadable timestamps last."""

    def key(r: dict[str, Any]) -> tuple[int, str]:
        try:
            ts = datetime.fromisoformat(r["timestamp"])
            return round(ts.timestamp() * 1_000_000), r["event_id"]
        except ValueError:
            return 2**62, r["event_id"]

    return sorted(records, key=key)


class RecordingSleep:
    """A ``sleep`` seam for FetchSettings that records each wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.now = 0.0

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        """A monotonic clock that the recorded waits advance (the ``clock`` seam)."""
        return self.now


@contextmanager
def serving(export: Path) -> Iterator[Callable[..., str]]:
    """Start sample API servers on loopback (``serve(faults=…, directory=…)`` → URL); all stop on exit."""
    from auditreports.api import ServerFaults, start_server

    stops = []

    def serve(faults: ServerFaults | None = None, directory: Path | None = None, **kw: Any) -> str:
        url, stop = start_server(directory or export, token=TOKEN, faults=faults, **kw)
        stops.append(stop)
        return url

    try:
        yield serve
    finally:
        for stop in stops:
            stop()


@contextmanager
def json_server(respond: Callable[[str], tuple[int, bytes]]) -> Iterator[str]:
    """A loopback HTTP server answering each GET with ``respond(path)`` → (status, JSON body); yields its URL."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = respond(self.path)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/audit-log"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
