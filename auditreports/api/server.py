"""The reference audit-log API: a conversation log served the way the platform serves it.

Why it exists: the fetch client must be proven against real HTTP, including the
faults real APIs have (rate limits, outage bursts, dropped connections, pages
repeated across boundaries, a corrupt page). This server takes any directory of
conversation-log exports (JSON array or NDJSON, plain or gzip) and serves it as
``GET /v1/audit-log`` exactly as DESIGN.md format 2 describes, token-checked, with
switches that inject those faults deterministically from a seed.

It is a test and demonstration server (stdlib ``http.server``, files parsed with
``json``); it binds to loopback by default and is not meant for production data.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import contextlib
import gzip
import hmac
import json
import math
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from ..errors import InputError, UsageError

__all__ = ["SampleLog", "ServerFaults", "load_sample_log", "start_server"]

API_PATH = "/v1/audit-log"
MAX_LIMIT = 500
DEFAULT_LIMIT = 100
_NO_TS = 2**62  # sort key for records whose timestamp cannot be read: after everything else


@dataclass(frozen=True)
class ServerFaults:
    """Faults to inject, all deterministic from ``seed``.

    ``rate_429`` / ``drop_connection``: probability per request (drawn from the seed,
    the page's cursor and how often that page was asked for), so a resumed client sees
    the same faults for the same page. ``burst_503``: the server's requests 2..N+1
    answer 503 (an outage right after the first page). ``bad_json_page``: that page
    number always answers 200 with a body that is not JSON. ``loop_cursor_page``: that
    page hands out the cursor of the page before it again (a pagination loop).
    ``retry_after``: seconds announced in Retry-After, alternating between the
    delta-seconds and the HTTP-date form. ``retry_after_header``: send this literal
    Retry-After value instead (malformed values, for testing the client).
    ``empty_page`` / ``empty_page_times``: that page answers ``{"data": [], "has_more":
    true}`` with its real next cursor, the first ``empty_page_times`` times it is asked
    for (a server dropping a page). ``endless_from_page``: from that page on, every page
    repeats the same events with a fresh cursor (pagination that never ends).
    ``trickle_page`` / ``trickle_ms``: that page's body is sent one byte every
    ``trickle_ms`` (a slow-loris body). ``echo_token``: the token is echoed into
    ``next_cursor``, the Link URL and 401 messages (a careless server).
    """

    seed: int = 0
    rate_429: float = 0.0
    burst_503: int = 0
    slow_ms: int = 0
    duplicate_boundary: int = 0
    drop_connection: float = 0.0
    bad_json_page: int | None = None
    loop_cursor_page: int | None = None
    retry_after: int = 1
    retry_after_header: str | None = None
    empty_page: int | None = None
    empty_page_times: int = 1_000_000
    endless_from_page: int | None = None
    trickle_page: int | None = None
    trickle_ms: int = 100
    echo_token: bool = False

    def __post_init__(self) -> None:
        for name in ("rate_429", "drop_connection"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise UsageError(f"--{name.replace('_', '-')} must be a rate in [0, 1), got {value}; e.g. 0.1")
        for name in ("burst_503", "slow_ms", "duplicate_boundary", "retry_after"):
            if getattr(self, name) < 0:
                raise UsageError(f"{name} must not be negative, got {getattr(self, name)}")


@dataclass
class SampleLog:
    """The served events, sorted by (timestamp, event_id, position in the files)."""

    records: list[dict[str, Any]]
    keys: list[tuple[int, str, int]]
    files: int
    skipped_lines: int
    notes: list[str] = field(default_factory=list)


def _timestamp_us(value: object) -> int | None:
    """Microseconds since the epoch, UTC; None when unreadable (naive times read as UTC)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) > 1e11 else value
        return round(seconds * 1_000_000)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return round(parsed.timestamp() * 1_000_000) if parsed.year > 1 else None


def _parse_bound(value: str, name: str) -> int:
    us = _timestamp_us(value)
    if us is None:
        raise ValueError(f"{name} must be an ISO 8601 timestamp, got {value!r}")
    return us


def _read_records(path: Path) -> tuple[list[Any], int]:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    text = data.decode("utf-8", errors="replace")
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            pass  # a cut-off array: fall back to one element per line below
        else:
            return (parsed if isinstance(parsed, list) else [parsed]), 0
    records: list[Any] = []
    skipped = 0
    for line in text.splitlines():
        line = line.strip().rstrip(",")
        if not line or line in ("[", "]"):
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            skipped += 1
    return records, skipped


def load_sample_log(directory: str | Path) -> SampleLog:
    """Read every conversation-log file under ``directory`` (recursively) into one sorted log.

    Lines that are not JSON cannot be served by a JSON API and are skipped and counted
    (``skipped_lines``); records that are JSON but not valid events are served as they
    are, so the client's quarantine sees them exactly as a file ingest would.
    """
    root = Path(directory)
    if not root.is_dir():
        raise InputError(f"{root} is not a directory; give the folder holding the conversation-log exports")
    paths = sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and any(p.name.endswith(ext) for ext in (".json", ".ndjson", ".jsonl", ".json.gz", ".ndjson.gz", ".jsonl.gz"))
    )
    if not paths:
        raise InputError(f"{root} holds no .json/.ndjson(.gz) conversation-log files; point it at an export folder")
    rows: list[tuple[tuple[int, str, int], dict[str, Any]]] = []
    skipped = 0
    ordinal = 0
    for path in paths:
        records, bad = _read_records(path)
        skipped += bad
        for record in records:
            if not isinstance(record, dict):
                record = {"value": record}
            ts = _timestamp_us(record.get("timestamp"))
            event_id = record.get("event_id")
            key = (_NO_TS if ts is None else ts, event_id if isinstance(event_id, str) else "", ordinal)
            rows.append((key, record))
            ordinal += 1
    rows.sort(key=lambda row: row[0])
    notes = [f"{skipped} line(s) that are not JSON were skipped"] if skipped else []
    return SampleLog(
        records=[r for _, r in rows], keys=[k for k, _ in rows], files=len(paths), skipped_lines=skipped, notes=notes
    )


def encode_cursor(key: tuple[int, str, int], page: int) -> str:
    raw = json.dumps([key[0], key[1], key[2], page], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[tuple[int, str, int], int]:
    try:
        cursor = cursor.split(".")[0]  # a token echoed after the cursor (ServerFaults.echo_token)
        padded = cursor + "=" * (-len(cursor) % 4)
        ts, event_id, ordinal, page = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return (int(ts), str(event_id), int(ordinal)), int(page)
    except (ValueError, TypeError, binascii.Error):
        raise ValueError("cursor is not one this server issued") from None


@dataclass
class _Query:
    since: int | None
    until: int | None
    conversation_id: str | None
    event_types: frozenset[str] | None
    author: str | None
    limit: int
    after: tuple[int, str, int] | None
    page: int
    cursor: str | None
    params: dict[str, str]


def _parse_query(raw_query: str) -> _Query:
    qs = {k: v[-1] for k, v in parse_qs(raw_query, keep_blank_values=False).items()}
    known = {"since", "until", "conversation_id", "event_type", "author", "limit", "cursor", "after"}
    unknown = sorted(set(qs) - known)
    if unknown:
        raise ValueError(f"unknown query parameter(s): {', '.join(unknown)}")
    try:
        limit = int(qs.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise ValueError("limit must be an integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    cursor = qs.get("cursor") or qs.get("after")
    after, page = (None, 1) if cursor is None else decode_cursor(cursor)
    event_type = qs.get("event_type")
    return _Query(
        since=_parse_bound(qs["since"], "since") if "since" in qs else None,
        until=_parse_bound(qs["until"], "until") if "until" in qs else None,
        conversation_id=qs.get("conversation_id"),
        event_types=frozenset(event_type.split(",")) if event_type else None,
        author=qs.get("author"),
        limit=limit,
        after=after,
        page=page,
        cursor=cursor,
        params={k: v for k, v in qs.items() if k not in ("cursor", "after")},
    )


def _matches(record: dict[str, Any], key: tuple[int, str, int], q: _Query) -> bool:
    if (q.since is not None or q.until is not None) and key[0] == _NO_TS:
        return False
    if q.until is not None and key[0] >= q.until:
        return False
    if q.conversation_id is not None and record.get("conversation_id") != q.conversation_id:
        return False
    if q.event_types is not None and record.get("event_type") not in q.event_types:
        return False
    if q.author is not None:
        author = record.get("author")
        if not isinstance(author, dict) or author.get("id") != q.author:
            return False
    return True


class _State:
    """Counters shared by the handler threads."""

    def __init__(self, log: SampleLog, token: str, faults: ServerFaults, link_headers: bool, body_cursor: bool) -> None:
        self.log = log
        self.token = token
        self.faults = faults
        self.link_headers = link_headers
        self.body_cursor = body_cursor
        self.lock = threading.Lock()
        self.requests = 0
        self.asked: dict[str, int] = {}
        self.retry_afters = 0
        self.served_pages = 0

    def next_request(self, cursor: str | None) -> tuple[int, int]:
        with self.lock:
            self.requests += 1
            seen = self.asked.get(cursor or "", 0)
            self.asked[cursor or ""] = seen + 1
            return self.requests, seen

    def retry_after_value(self) -> str:
        with self.lock:
            self.retry_afters += 1
            use_date = self.retry_afters % 2 == 0
        if use_date:
            # HTTP dates have whole seconds: round up so the announced wait is never shorter.
            moment = math.ceil(time.time() + self.faults.retry_after)
            return format_datetime(datetime.fromtimestamp(moment, UTC), usegmt=True)
        return str(self.faults.retry_after)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests and CLI own stderr
        return

    def _send_json(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        self._send_body(status, body, headers)

    def _send_body(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        self._send_json(status, {"error": {"code": code, "message": message}}, headers)

    def do_GET(self) -> None:
        state = self.server.state
        faults = state.faults
        split = urlsplit(self.path)
        if split.path != API_PATH:
            self._error(404, "not_found", f"no such endpoint; the audit log is at {API_PATH}")
            return
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            self._error(401, "unauthorized", "missing bearer token")
            return
        if not hmac.compare_digest(auth[len("Bearer ") :].encode(), state.token.encode()):
            sent = auth[len("Bearer ") :]
            echo = f" (token {sent[:12]}... of {sent})" if faults.echo_token else ""
            self._error(401, "invalid_token", f"the bearer token is not valid for this workspace{echo}")
            return
        try:
            query = _parse_query(split.query)
        except ValueError as exc:
            self._error(400, "bad_request", str(exc))
            return
        number, seen = state.next_request(query.cursor)
        rng = random.Random(f"{faults.seed}|{query.cursor}|{seen}")
        if faults.slow_ms:
            time.sleep(faults.slow_ms / 1000)
        if 2 <= number <= faults.burst_503 + 1:
            retry_after = _raw_header(faults.retry_after_header) or state.retry_after_value()
            self._error(503, "unavailable", "service temporarily unavailable", {"Retry-After": retry_after})
            return
        if faults.rate_429 and rng.random() < faults.rate_429:
            retry_after = _raw_header(faults.retry_after_header) or state.retry_after_value()
            self._error(429, "rate_limited", "too many requests", {"Retry-After": retry_after})
            return
        body = self._page(query)
        if faults.empty_page is not None and query.page == faults.empty_page and seen < faults.empty_page_times:
            body[0]["data"] = []
        if faults.trickle_page is not None and query.page == faults.trickle_page:
            data = json.dumps(body[0], separators=(",", ":")).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(OSError):
                for i in range(len(data)):
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()
                    time.sleep(faults.trickle_ms / 1000)
            return
        if faults.bad_json_page is not None and query.page == faults.bad_json_page:
            self._send_body(200, b'{"data": [{"event_id": "aev_truncated", "timest<html>upstream error</html>')
            return
        payload = json.dumps(body[0], separators=(",", ":"), ensure_ascii=False).encode()
        if faults.drop_connection and rng.random() < faults.drop_connection:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        with state.lock:
            state.served_pages += 1
        self._send_body(200, payload, body[1])

    def _page(self, q: _Query) -> tuple[dict[str, Any], dict[str, str]]:
        state = self.server.state
        log = state.log
        faults = state.faults
        if q.after is not None:
            start = bisect.bisect_right(log.keys, q.after)
        elif q.since is not None:
            start = bisect.bisect_left(log.keys, (q.since, "", -1))
        else:
            start = 0
        data: list[dict[str, Any]] = []
        if q.after is not None and faults.duplicate_boundary and q.limit > 1:
            repeat = min(faults.duplicate_boundary, q.limit - 1)
            back: list[dict[str, Any]] = []
            i = start - 1
            while i >= 0 and len(back) < repeat:
                if (q.since is None or log.keys[i][0] >= q.since) and _matches(log.records[i], log.keys[i], q):
                    back.append(log.records[i])
                i -= 1
            data.extend(reversed(back))
        last_key: tuple[int, str, int] | None = None
        i = start
        n = len(log.records)
        more = False
        while i < n:
            key = log.keys[i]
            if q.until is not None and key[0] >= q.until:
                break
            if _matches(log.records[i], key, q):
                if len(data) >= q.limit:
                    more = True
                    break
                data.append(log.records[i])
                last_key = key
            i += 1
        next_cursor = encode_cursor(last_key, q.page + 1) if more and last_key is not None else None
        if faults.endless_from_page is not None and q.page >= faults.endless_from_page and q.after is not None:
            next_cursor = encode_cursor(q.after, q.page + 1)  # the same events again, under a new cursor
        if next_cursor is not None and faults.echo_token:
            next_cursor = f"{next_cursor}.{state.token}"
        if next_cursor is not None and faults.loop_cursor_page is not None and q.page == faults.loop_cursor_page:
            next_cursor = q.cursor or next_cursor
        body: dict[str, Any] = {"data": data}
        if state.body_cursor:
            body["has_more"] = next_cursor is not None
            body["next_cursor"] = next_cursor
        headers: dict[str, str] = {}
        if state.link_headers and next_cursor is not None:
            host, port = _address(self.server)
            url = f"http://{host}:{port}{API_PATH}?" + urlencode({**q.params, "cursor": next_cursor})
            headers["Link"] = f'<{url}>; rel="next"'
        return body, headers


def _raw_header(value: str | None) -> str | None:
    """A header value sent as its UTF-8 bytes (http.server writes headers as Latin-1)."""
    return None if value is None else value.encode("utf-8").decode("latin-1")


def _address(server: ThreadingHTTPServer) -> tuple[str, int]:
    """The bound host (bracketed when IPv6, as it appears in a URL) and port."""
    host, port = server.server_address[:2]
    text = host.decode() if isinstance(host, bytes) else str(host)
    return (f"[{text}]" if ":" in text else text), int(port)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)


def _make_server(
    directory: str | Path | SampleLog,
    *,
    token: str,
    host: str,
    port: int,
    faults: ServerFaults,
    link_headers: bool,
    body_cursor: bool,
) -> _Server:
    if not token or any(c.isspace() for c in token):
        raise UsageError("the server token must be a non-empty string without whitespace")
    log = directory if isinstance(directory, SampleLog) else load_sample_log(directory)
    if not (link_headers or body_cursor):
        raise UsageError("the server needs at least one way to paginate: body cursors or Link headers")
    try:
        server = _Server((host, port), _Handler)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port") from None
    server.state = _State(log, token, faults, link_headers, body_cursor)
    return server


def start_server(
    directory: str | Path | SampleLog,
    *,
    token: str,
    host: str = "127.0.0.1",
    port: int = 0,
    faults: ServerFaults | None = None,
    link_headers: bool = False,
    body_cursor: bool = True,
) -> tuple[str, Callable[[], None]]:
    """Serve ``directory`` in a background thread; return the endpoint URL and a ``stop()``.

    ``port=0`` picks a free port. ``body_cursor=False`` with ``link_headers=True``
    paginates by Link headers alone (GitHub/Okta style).
    """
    server = _make_server(
        directory,
        token=token,
        host=host,
        port=port,
        faults=faults or ServerFaults(),
        link_headers=link_headers,
        body_cursor=body_cursor,
    )
    thread = threading.Thread(target=server.serve_forever, name="auditreports-sample-api", daemon=True)
    thread.start()
    bound_host, bound_port = _address(server)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return f"http://{bound_host}:{bound_port}{API_PATH}", stop


def serve_forever(
    directory: str | Path,
    *,
    token: str,
    host: str = "127.0.0.1",
    port: int = 8765,
    faults: ServerFaults | None = None,
    link_headers: bool = False,
    on_ready: Callable[[str, SampleLog], None] | None = None,
) -> None:
    """Serve in the foreground until interrupted (the ``serve-sample-api`` command)."""
    server = _make_server(
        directory,
        token=token,
        host=host,
        port=port,
        faults=faults or ServerFaults(),
        link_headers=link_headers,
        body_cursor=True,
    )
    bound_host, bound_port = _address(server)
    if on_ready is not None:
        on_ready(f"http://{bound_host}:{bound_port}{API_PATH}", server.state.log)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def generate_token() -> str:
    """A fresh random bearer token for a server started without one."""
    return secrets.token_urlsafe(24)


def iter_log(log: SampleLog) -> Iterator[dict[str, Any]]:
    """The served records in API order (for tests and comparisons)."""
    yield from log.records
