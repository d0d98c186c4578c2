"""Reference servers for vendor audit-log APIs: Okta System Log and GitHub audit log.

Why they exist: ``fetch(format="okta"|"github")`` must be proven against real HTTP
the way those vendors paginate — a bare JSON array body and ``Link: <…after=…>;
rel="next"`` — with their own query languages, auth schemes and rate limits, and
without a vendor account. They serve any list of vendor records (or NDJSON / JSON
array files) on loopback:

- ``okta``: ``GET /api/v1/logs?since=&until=&limit=&after=&filter=&sortOrder=``,
  ``Authorization: SSWS <token>`` (scheme configurable), ``limit`` ≤ 1000 (default
  100), ``filter`` understands ``eventType eq "…"`` and ``actor.id eq "…"`` joined
  by ``and``. Like Okta, a bounded request (with ``until``) has a next link only while
  more events exist; a polling request (no ``until``) always has one, and the client
  stops at the empty page. Errors are Okta-shaped (``errorCode``/``errorSummary``).
- ``github``: ``GET /orgs/{org}/audit-log?phrase=&per_page=&after=&order=``,
  ``Authorization: Bearer <token>``, ``per_page`` ≤ 100 (default 30), newest first
  unless ``order=asc`` (GitHub's default), ``phrase`` understands ``created:>=T``,
  ``created:>T``, ``created:<T``, ``created:<=T``, ``created:A..B``, ``action:X``,
  ``actor:X``. Errors are GitHub-shaped (``{"message": …}``).

Faults (from :class:`~auditreports.api.server.ServerFaults`, deterministic from the
seed): ``rate_429`` (Retry-After alternating delta-seconds and HTTP-date forms),
``burst_503``, ``slow_ms``, ``bad_json_page``, ``loop_cursor_page`` (page N hands out
the ``after`` cursor it was asked with again). A test server: stdlib ``http.server``.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hmac
import json
import random
import shlex
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from ..errors import InputError, UsageError
from .server import _NO_TS, ServerFaults, _address, _Handler, _read_records, _Server, _State, _timestamp_us

__all__ = ["VENDOR_STYLES", "VendorLog", "load_vendor_log", "serve_vendor_forever", "start_vendor_server"]

VENDOR_STYLES = ("okta", "github")
OKTA_PATH = "/api/v1/logs"
# Where each vendor keeps the event time (as in the vendor field maps), first present wins.
_TIME_KEYS = {
    "okta": ("published", "p_event_time"),
    "github": ("@timestamp", "created_at", "at_sign_timestamp", "p_event_time"),
}
_PAGE_LIMITS = {"okta": (100, 1000), "github": (30, 100)}  # (default, maximum)


@dataclass
class VendorLog:
    """The served records in ascending (event time, position) order; untimed records last."""

    style: str
    records: list[Any]
    keys: list[tuple[int, int]]
    skipped_lines: int = 0  # lines of the files that are not JSON: a JSON API cannot serve them


def load_vendor_log(source: str | Path | Sequence[Any], style: str) -> VendorLog:
    """Vendor records from a list, a file or a folder of NDJSON / JSON-array files, in time order."""
    if style not in VENDOR_STYLES:
        raise UsageError(f"unknown vendor API style {style!r}; use one of {', '.join(VENDOR_STYLES)}")
    if isinstance(source, str | Path):
        root = Path(source)
        if not root.exists():
            raise InputError(f"{root} does not exist; give a file or folder of {style} records (NDJSON or JSON array)")
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        records: list[Any] = []
        skipped = 0
        for path in paths:
            read, bad = _read_records(path)
            records.extend(read)
            skipped += bad
    else:
        records, skipped = list(source), 0
    rows = []
    for ordinal, record in enumerate(records):
        us = None
        if isinstance(record, dict):
            for key in _TIME_KEYS[style]:
                if record.get(key) not in (None, ""):
                    us = _timestamp_us(record[key])
                    break
        rows.append(((_NO_TS if us is None else us, ordinal), record))
    rows.sort(key=lambda row: row[0])
    return VendorLog(style=style, records=[r for _, r in rows], keys=[k for k, _ in rows], skipped_lines=skipped)


def _encode(key: tuple[int, int], page: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([*key, page]).encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[tuple[int, int], int]:
    try:
        ts, ordinal, page = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))
        return (int(ts), int(ordinal)), int(page)
    except (ValueError, TypeError, binascii.Error):
        raise ValueError("the after cursor is not one this server issued") from None


@dataclass
class _VendorQuery:
    since: int | None
    until: int | None
    limit: int
    ascending: bool
    after: tuple[int, int] | None
    page: int
    cursor: str | None
    field_equals: dict[str, str]  # record key path -> required value
    params: dict[str, str]


def _bound(value: str, name: str) -> int:
    us = _timestamp_us(value)
    if us is None:
        raise ValueError(f"{name} must be an ISO 8601 timestamp, got {value!r}")
    return us


def _limit(qs: dict[str, str], name: str, style: str) -> int:
    default, maximum = _PAGE_LIMITS[style]
    try:
        limit = int(qs.get(name, default))
    except ValueError:
        raise ValueError(f"{name} must be an integer") from None
    if not 1 <= limit <= maximum:
        raise ValueError(f"{name} must be between 1 and {maximum}")
    return limit


def _okta_query(qs: dict[str, str]) -> _VendorQuery:
    unknown = sorted(set(qs) - {"since", "until", "limit", "after", "filter", "sortOrder", "q"})
    if unknown:
        raise ValueError(f"unknown query parameter(s): {', '.join(unknown)}")
    if qs.get("sortOrder", "ASCENDING") != "ASCENDING":
        raise ValueError("this server only serves sortOrder=ASCENDING")
    if "q" in qs:
        raise ValueError("this server does not support the q keyword search; use filter")
    equals: dict[str, str] = {}
    if qs.get("filter"):
        for term in qs["filter"].split(" and "):
            parts = shlex.split(term)
            if len(parts) != 3 or parts[1] != "eq" or parts[0] not in ("eventType", "actor.id"):
                raise ValueError(f'unsupported filter {term!r}; use eventType eq "…" / actor.id eq "…"')
            equals[parts[0]] = parts[2]
    after, page = (None, 1) if not qs.get("after") else _decode(qs["after"])
    return _VendorQuery(
        since=_bound(qs["since"], "since") if "since" in qs else None,
        until=_bound(qs["until"], "until") if "until" in qs else None,
        limit=_limit(qs, "limit", "okta"),
        ascending=True,
        after=after,
        page=page,
        cursor=qs.get("after"),
        field_equals=equals,
        params={k: v for k, v in qs.items() if k != "after"},
    )


def _github_query(qs: dict[str, str]) -> _VendorQuery:
    unknown = sorted(set(qs) - {"phrase", "per_page", "after", "order", "include"})
    if unknown:
        raise ValueError(f"unknown query parameter(s): {', '.join(unknown)}")
    order = qs.get("order", "desc")
    if order not in ("asc", "desc"):
        raise ValueError("order must be asc or desc")
    since = until = None
    equals: dict[str, str] = {}
    for term in shlex.split(qs.get("phrase", "")):
        name, _, value = term.partition(":")
        if name == "created":
            if ".." in value:
                lo, _, hi = value.partition("..")
                since, until = _bound(lo, "created"), _bound(hi, "created") + 1  # a range is inclusive
            elif value.startswith(">="):
                since = _bound(value[2:], "created")
            elif value.startswith(">"):
                since = _bound(value[1:], "created") + 1
            elif value.startswith("<="):
                until = _bound(value[2:], "created") + 1
            elif value.startswith("<"):
                until = _bound(value[1:], "created")
            else:
                raise ValueError(f"unsupported created qualifier {term!r}")
        elif name in ("action", "actor") and value:
            equals[name] = value
        else:
            raise ValueError(f"unsupported phrase qualifier {term!r}; this server knows created:, action:, actor:")
    after, page = (None, 1) if not qs.get("after") else _decode(qs["after"])
    return _VendorQuery(
        since=since,
        until=until,
        limit=_limit(qs, "per_page", "github"),
        ascending=order == "asc",
        after=after,
        page=page,
        cursor=qs.get("after"),
        field_equals=equals,
        params={k: v for k, v in qs.items() if k != "after"},
    )


def _path_value(record: Any, path: str) -> Any:
    for part in path.split("."):
        record = record.get(part) if isinstance(record, dict) else None
    return record


class _VendorState(_State):
    def __init__(self, log: VendorLog, token: str, faults: ServerFaults, auth_scheme: str) -> None:
        super().__init__(log, token, faults, link_headers=True, body_cursor=False)  # type: ignore[arg-type]
        self.vendor_log = log
        self.auth_scheme = auth_scheme


class _VendorHandler(_Handler):
    server: _VendorServer

    def _vendor_error(self, status: int, summary: str, headers: dict[str, str] | None = None) -> None:
        if self.server.state.vendor_log.style == "okta":
            payload: dict[str, Any] = {"errorCode": f"E{status:07d}", "errorSummary": summary, "errorCauses": []}
        else:
            payload = {"message": summary, "documentation_url": "https://docs.github.com/rest"}
        self._send_json(status, payload, headers)

    def do_GET(self) -> None:
        state = self.server.state
        style = state.vendor_log.style
        split = urlsplit(self.path)
        parts = split.path.strip("/").split("/")
        if (style == "okta" and split.path != OKTA_PATH) or (
            style == "github" and (len(parts) != 3 or parts[0] != "orgs" or parts[2] != "audit-log")
        ):
            where = OKTA_PATH if style == "okta" else "/orgs/{org}/audit-log"
            self._vendor_error(404, f"Not Found; the audit log is at {where}")
            return
        scheme, _, secret = self.headers.get("Authorization", "").partition(" ")
        if scheme != state.auth_scheme or not hmac.compare_digest(secret.encode(), state.token.encode()):
            self._vendor_error(401, "Invalid token provided" if style == "okta" else "Bad credentials")
            return
        qs = {k: v[-1] for k, v in parse_qs(split.query).items()}
        try:
            query = _okta_query(qs) if style == "okta" else _github_query(qs)
        except ValueError as exc:
            self._vendor_error(400, str(exc))
            return
        faults = state.faults
        number, seen = state.next_request(query.cursor)
        rng = random.Random(f"{faults.seed}|{query.cursor}|{seen}")
        if faults.slow_ms:
            time.sleep(faults.slow_ms / 1000)
        if 2 <= number <= faults.burst_503 + 1:
            self._vendor_error(503, "Service Unavailable", {"Retry-After": state.retry_after_value()})
            return
        if faults.rate_429 and rng.random() < faults.rate_429:
            self._vendor_error(429, "API call exceeded rate limit", {"Retry-After": state.retry_after_value()})
            return
        if faults.bad_json_page is not None and query.page == faults.bad_json_page:
            self._send_body(200, b'[{"uuid": "truncated", "published": "2022-<html>upstream error</html>')
            return
        records, next_cursor = self._vendor_page(query)
        host, port = _address(self.server)
        base = f"http://{host}:{port}{split.path}"
        links = [
            f'<{base}?{urlencode({**query.params, **({"after": query.cursor} if query.cursor else {})})}>; rel="self"'
        ]
        if next_cursor is not None:
            links.append(f'<{base}?{urlencode({**query.params, "after": next_cursor})}>; rel="next"')
        with state.lock:
            state.served_pages += 1
        self._send_json(200, records, {"Link": ", ".join(links)})

    def _vendor_page(self, q: _VendorQuery) -> tuple[list[Any], str | None]:
        state = self.server.state
        log = state.vendor_log
        n = len(log.keys)
        if q.ascending:
            i = bisect.bisect_right(log.keys, q.after) if q.after is not None else 0
            step = 1
        else:
            i = (bisect.bisect_left(log.keys, q.after) if q.after is not None else n) - 1
            step = -1
        out: list[Any] = []
        last: tuple[int, int] | None = None
        more = False
        while 0 <= i < n:
            key, record = log.keys[i], log.records[i]
            i += step
            windowed = q.since is not None or q.until is not None
            if windowed and (
                key[0] == _NO_TS
                or (q.since is not None and key[0] < q.since)
                or (q.until is not None and key[0] >= q.until)
            ):
                continue
            if any(_path_value(record, path) != value for path, value in q.field_equals.items()):
                continue
            if len(out) >= q.limit:
                more = True
                break
            out.append(record)
            last = key
        polling = log.style == "okta" and q.until is None
        if last is not None and (more or polling):
            next_cursor: str | None = _encode(last, q.page + 1)
        elif polling:
            next_cursor = q.cursor or _encode((-1, -1), q.page + 1)  # nothing new yet: ask again later
        else:
            next_cursor = None
        faults = state.faults
        if next_cursor is not None and faults.loop_cursor_page is not None and q.page == faults.loop_cursor_page:
            next_cursor = q.cursor or next_cursor
        return out, next_cursor


class _VendorServer(_Server):
    state: _VendorState  # type: ignore[assignment]


def _make_vendor_server(
    source: str | Path | Sequence[Any] | VendorLog,
    *,
    style: str,
    token: str,
    auth_scheme: str | None,
    host: str,
    port: int,
    faults: ServerFaults | None,
) -> _VendorServer:
    faults = faults or ServerFaults()
    if faults.drop_connection or faults.duplicate_boundary:
        raise UsageError("the vendor servers do not inject dropped connections or duplicate boundaries")
    if not token or any(c.isspace() for c in token):
        raise UsageError("the server token must be a non-empty string without whitespace")
    log = source if isinstance(source, VendorLog) else load_vendor_log(source, style)
    if log.style != style:
        raise UsageError(f"the log was loaded for {log.style!r}, not {style!r}")
    try:
        server = _VendorServer((host, port), _VendorHandler)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port") from None
    server.state = _VendorState(log, token, faults, auth_scheme or ("SSWS" if style == "okta" else "Bearer"))
    return server


def _endpoint(server: _VendorServer, style: str) -> str:
    host, port = _address(server)
    return f"http://{host}:{port}{OKTA_PATH if style == 'okta' else '/orgs/acme/audit-log'}"


def start_vendor_server(
    source: str | Path | Sequence[Any] | VendorLog,
    *,
    style: str,
    token: str,
    auth_scheme: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    faults: ServerFaults | None = None,
) -> tuple[str, Callable[[], None]]:
    """Serve vendor records Okta- or GitHub-style in a background thread; return (endpoint URL, stop).

    ``auth_scheme`` defaults to the vendor's own (``SSWS`` for Okta API tokens,
    ``Bearer`` for GitHub). The GitHub endpoint is ``/orgs/acme/audit-log``.
    """
    server = _make_vendor_server(
        source, style=style, token=token, auth_scheme=auth_scheme, host=host, port=port, faults=faults
    )
    thread = threading.Thread(target=server.serve_forever, name=f"auditreports-{style}-api", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return _endpoint(server, style), stop


def serve_vendor_forever(
    source: str | Path,
    *,
    style: str,
    token: str,
    auth_scheme: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8765,
    faults: ServerFaults | None = None,
    on_ready: Callable[[str, VendorLog, str], None] | None = None,
) -> None:
    """Serve in the foreground until interrupted (``serve-sample-api --style okta|github``)."""
    server = _make_vendor_server(
        source, style=style, token=token, auth_scheme=auth_scheme, host=host, port=port, faults=faults
    )
    if on_ready is not None:
        on_ready(_endpoint(server, style), server.state.vendor_log, server.state.auth_scheme)
    try:
        server.serve_forever()
    finally:
        server.server_close()
