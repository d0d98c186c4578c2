"""``fetch``: an audit-log API into the Parquet store, resumable, with a completeness record.

Order of operations, which is what makes a kill -9 harmless:

1. pages are received and buffered (``settings.pages_per_write`` at a time, so the
   store gets a few large Parquet parts rather than one per page);
2. the buffered events go into the store (the store de-duplicates by event id and
   payload, so writing the same page twice adds nothing);
3. only then the checkpoint moves past those pages (atomically).

A run killed anywhere re-fetches at most the pages after the last checkpoint, and
re-writing them is harmless, so the finished store holds exactly the events of an
uninterrupted run. At the end one entry goes into the store's ledger under
``fetches``: the evidence that the population tested was complete.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import AuthenticationError, FetchError, StoreError, UsageError
from ..store import store_lock
from ._checkpoint import Checkpoint, checkpoint_key
from ._retry import RetryStats
from ._settings import FetchSettings
from ._sink import conflicts_of_fetch, store_batch, store_ledger_entry
from ._token import Token, load_token, redact, seal, unseal
from .client import Page, first_page_url, iter_pages, open_client
from .pagination import PaginationStrategy
from .styles import get_style

__all__ = ["FetchReport", "fetch", "public_endpoint"]

_SECRET_PARAM_HINTS = ("token", "key", "secret", "sig", "password", "auth", "code", "credential")


def public_endpoint(url: str) -> str:
    """The URL as it may be written down: no user:password, secret-looking query values masked."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    query = "&".join(
        f"{k}=[REDACTED]" if any(h in k.lower() for h in _SECRET_PARAM_HINTS) else (f"{k}={v}" if v else k)
        for k, _, v in (item.partition("=") for item in parts.query.split("&") if item)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _store_dir_for_writing(store_dir: Path) -> None:
    try:
        store_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"{store_dir}: cannot create the store directory ({exc.strerror}); choose a writable place",
            path=str(store_dir),
        ) from None


def _utc_iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _check_window(since: str | None, until: str | None) -> None:
    parsed = {}
    for name, value in (("since", since), ("until", until)):
        if value is None:
            continue
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise UsageError(f"--{name} {value!r} is not an ISO 8601 time; use e.g. 2026-07-01T00:00:00Z") from None
        parsed[name] = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if "since" in parsed and "until" in parsed and parsed["since"] >= parsed["until"]:
        raise UsageError(f"--since {since} is not before --until {until}; the window would be empty")


@dataclass
class FetchReport:
    """What one fetch did; ``as_ledger()`` is the entry written under ``fetches`` in the ledger.

    ``complete`` is true only when the last page was read (no next page, or an empty
    page) and every page is in the store. ``resumed`` says the run continued from a
    checkpoint left by an interrupted run.
    """

    endpoint: str
    fetch_id: str
    strategy: str
    source_format: str
    window: dict[str, str | None]
    filters: dict[str, str | None]
    page_size: int
    pages: int = 0
    events: int = 0
    events_added: int = 0
    duplicates_dropped: int = 0
    conflicts: int = 0
    quarantined: int = 0
    retries: int = 0
    http_429: int = 0
    http_5xx: int = 0
    http_408: int = 0
    connection_errors: int = 0
    empty_pages: int = 0
    waited_seconds: float = 0.0
    first_cursor: str | None = None
    last_cursor: str | None = None
    first_timestamp: str | None = None
    last_timestamp: str | None = None
    started_at: str = ""
    finished_at: str | None = None
    duration_seconds: float = 0.0
    resumed: bool = False
    runs: int = 1
    complete: bool = False
    end_reason: str | None = None
    error: str | None = None
    store: str = ""
    notes: list[str] = field(default_factory=list)

    def as_ledger(self) -> dict[str, Any]:
        entry = asdict(self)
        entry.pop("store")
        return entry

    def summary(self) -> str:
        state = "complete" if self.complete else "INCOMPLETE"
        text = (
            f"fetch {state}: {self.pages} pages, {self.events} events received, {self.events_added} added to the store, "
            f"{self.duplicates_dropped} duplicates dropped, {self.conflicts} conflicts, {self.quarantined} quarantined, "
            f"{self.retries} retries ({self.http_429}x429, {self.http_5xx}x5xx, {self.connection_errors} connection errors), "
            f"{self.duration_seconds:.1f} s" + (" (resumed)" if self.resumed else "")
        )
        return text if self.error is None else f"{text}; stopped: {self.error}"


class _Progress:
    """Progress on stderr: a live line on a terminal, one line per N pages otherwise."""

    def __init__(self, settings: FetchSettings, stats: RetryStats) -> None:
        self.enabled = settings.progress
        self.every = settings.progress_every
        self.tty = sys.stderr.isatty()
        self.stats = stats
        self.started = time.monotonic()
        self.events_at_start = 0

    def page(self, pages: int, events: int, *, final: bool = False) -> None:
        if not self.enabled or (not self.tty and not final and pages % self.every):
            return
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = (events - self.events_at_start) / elapsed
        line = (
            f"[auditreports] fetch: {pages} pages, {events} events, {rate:,.0f} events/s, "
            f"{self.stats.retries} retries ({self.stats.http_429}x429)"
        )
        if self.tty:
            print("\r" + line, end="\n" if final else "", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)


def fetch(
    url: str,
    store: str | Path,
    *,
    since: str | None = None,
    until: str | None = None,
    conversation_id: str | None = None,
    event_type: str | None = None,
    author: str | None = None,
    token: Token | str | None = None,
    settings: FetchSettings | None = None,
    strategy: PaginationStrategy | None = None,
    format: str = "conversation",
    environ: Mapping[str, str] | None = None,
) -> FetchReport:
    """Fetch the audit log at ``url`` into the store ``store``; resume if a checkpoint says so.

    ``format`` names the API and its records: ``conversation`` (the platform),
    ``okta`` (System Log API, ``/api/v1/logs``) or ``github`` (``/orgs/ORG/audit-log``);
    see :mod:`auditreports.api.styles`. It decides the query (window, filters, page
    size), the pagination strategy (unless ``strategy`` is given) and the field map
    that turns the records into canonical events.

    ``token``: a :class:`Token` or the secret; by default read from
    ``AUDITREPORTS_TOKEN`` / ``AUDITREPORTS_TOKEN_FILE``. Raises ``FetchError``
    subclasses when the API cannot be read completely; the pages read until then stay
    in the store, the checkpoint lets the same call continue, and the ledger records
    the incomplete fetch.
    """
    settings = settings or FetchSettings()
    secret = token if isinstance(token, Token) else (Token(token) if token is not None else load_token(environ))
    style = get_style(format)
    strategy = strategy or style.strategy
    _check_window(since, until)
    store_dir = Path(store)
    if store_dir.exists() and not store_dir.is_dir():
        raise UsageError(f"--store {store_dir} is a file; give a directory for the Parquet store")
    filters = {"conversation_id": conversation_id, "event_type": event_type, "author": author}
    for name, value in filters.items():
        items = value.split(",") if value is not None and name == "event_type" else [value]
        if value is not None and any(not (item or "").strip() for item in items):
            flag = "--" + name.replace("_", "-")
            raise UsageError(
                f"{flag} {value!r} is empty or blank (or has an empty item); give a value, or leave {flag} out "
                "to fetch everything (an empty filter is never read as 'no filter')"
            )
    unsupported = sorted(name for name, value in filters.items() if value is not None and name not in style.filters)
    if unsupported:
        raise UsageError(
            f"{style.title} cannot filter by {', '.join('--' + n.replace('_', '-') for n in unsupported)}; "
            f"it filters by {', '.join('--' + n.replace('_', '-') for n in sorted(style.filters))}"
        )
    notes: list[str] = []
    page_size = settings.page_size
    if page_size > style.max_page_size:
        notes.append(
            f"page size {page_size} is above the {style.max_page_size} {style.title} allows; asked for {style.max_page_size}"
        )
        page_size = style.max_page_size
    start_url = first_page_url(url, style.query(since, until, filters, page_size))
    endpoint = redact(public_endpoint(url.split("?")[0] if "?" in url else url), secret)
    fetch_id = checkpoint_key(start_url, filters, page_size, strategy.name)
    _store_dir_for_writing(store_dir)
    # One writer at a time, for the whole run: another ingest or fetch into this store waits.
    with store_lock(store_dir):
        checkpoint = Checkpoint(store_dir, fetch_id)
        source_prefix = f"{endpoint}#fetch={fetch_id}&page="
        saved = checkpoint.load()
        if saved is not None and saved.get("next_url") is None:
            saved = None  # a finished run that stopped before clearing its checkpoint: start afresh

        stats = RetryStats()
        report = FetchReport(
            endpoint=endpoint,
            strategy=strategy.name,
            source_format=style.format,
            window={"since": since, "until": until},
            filters=filters,
            page_size=page_size,
            started_at=_utc_iso(settings.wall_clock()),
            fetch_id=fetch_id,
            store=str(store_dir),
            notes=notes,
        )
        seen: set[str] = set()
        contents: dict[str, int] = {}
        next_url, number, cursor = start_url, 1, None
        if saved is not None:
            _restore(report, stats, saved)
            seen = {c for c in (unseal(c, secret) for c in saved.get("cursors_seen", [])) if c is not None}
            contents = {str(k): int(v) for k, v in saved.get("pages_seen", {}).items()}
            next_url = unseal(saved["next_url"], secret) or start_url
            number, cursor = int(saved["next_page"]), unseal(saved.get("next_cursor"), secret)
        started_clock = time.monotonic()
        previous_duration = report.duration_seconds
        progress = _Progress(settings, stats)
        progress.events_at_start = report.events
        buffer: list[Page] = []

        position: dict[str, Any] = {"next_url": next_url, "next_cursor": cursor, "next_page": number}

        def flush(next_page: Page | None) -> None:
            if buffer:
                outcome = store_batch(store_dir, buffer, source_prefix=source_prefix, format=style.format)
                report.events_added += outcome.added
                report.duplicates_dropped += outcome.duplicates
                report.quarantined += outcome.quarantined
                if outcome.first_timestamp and (
                    report.first_timestamp is None or outcome.first_timestamp < report.first_timestamp
                ):
                    report.first_timestamp = outcome.first_timestamp
                if outcome.last_timestamp and (
                    report.last_timestamp is None or outcome.last_timestamp > report.last_timestamp
                ):
                    report.last_timestamp = outcome.last_timestamp
                buffer.clear()
            following = next_page.next if next_page is not None else None
            position.update(
                next_url=following.url if following is not None else None,
                next_cursor=following.cursor if following is not None else None,
                next_page=next_page.number + 1 if next_page is not None else None,
            )
            save()

        def save() -> None:
            report.duration_seconds = previous_duration + time.monotonic() - started_clock
            # The checkpoint is on disk: a cursor or URL the server built around the token is sealed.
            checkpoint.save(_checkpoint_state(report, stats, seen, contents, position, secret))

        with open_client(settings) as client:
            try:
                for page in iter_pages(
                    client,
                    next_url,
                    token=secret,
                    settings=settings,
                    strategy=strategy,
                    start_number=number,
                    start_cursor=cursor,
                    seen_cursors=seen,
                    seen_pages=contents,
                    stats=stats,
                ):
                    buffer.append(page)
                    report.pages = page.number
                    report.events += len(page.records)
                    report.last_cursor = redact(page.cursor, secret) if page.cursor is not None else report.last_cursor
                    if page.number == 1 and page.next is not None:
                        report.first_cursor = redact(page.next.cursor, secret)
                    progress.page(report.pages, report.events)
                    if page.next is None:
                        report.end_reason = "empty page" if not page.records else "no next page"
                        flush(None)
                    elif len(buffer) >= settings.pages_per_write:
                        flush(page)
            except (FetchError, KeyboardInterrupt) as exc:
                # The pages received so far are good: keep them and the resume point, record the stop.
                if buffer:
                    flush(buffer[-1])
                elif report.pages > 0:
                    save()  # same resume point; keeps the retries this run spent for the ledger
                if isinstance(exc, AuthenticationError) and style.auth_hint:
                    exc.message = f"{exc.message} ({style.auth_hint}; this fetch sent {settings.auth_scheme})"
                if isinstance(exc, FetchError):
                    report.error = redact(exc.message, secret)
                    exc.message = report.error
                    exc.args = (report.error,)
                else:
                    report.error = "interrupted"
                _finish(
                    report,
                    stats,
                    settings,
                    store_dir,
                    source_prefix,
                    previous_duration,
                    started_clock,
                    record=report.pages > 0,
                )
                raise
        report.complete = True
        _finish(report, stats, settings, store_dir, source_prefix, previous_duration, started_clock, record=True)
        checkpoint.clear()
        progress.page(report.pages, report.events, final=True)
        return report


def _finish(
    report: FetchReport,
    stats: RetryStats,
    settings: FetchSettings,
    store_dir: Path,
    source_prefix: str,
    previous_duration: float,
    started_clock: float,
    *,
    record: bool,
) -> None:
    for name, value in stats.as_dict().items():
        setattr(report, name, value)
    report.finished_at = _utc_iso(settings.wall_clock())
    report.duration_seconds = round(previous_duration + time.monotonic() - started_clock, 3)
    if record:
        report.conflicts = conflicts_of_fetch(store_dir, source_prefix)
        store_ledger_entry(store_dir, report.as_ledger())


def _checkpoint_state(
    report: FetchReport,
    stats: RetryStats,
    seen: set[str],
    contents: dict[str, int],
    position: dict[str, Any],
    secret: Token,
) -> dict[str, Any]:
    return {
        "report": report.as_ledger(),
        "retry_stats": stats.as_dict(),
        "cursors_seen": sorted(str(seal(c, secret)) for c in seen),
        "pages_seen": contents,
        "next_url": seal(position.get("next_url"), secret),
        "next_cursor": seal(position.get("next_cursor"), secret),
        "next_page": position.get("next_page"),
        "saved_at": _utc_iso(time.time()),
    }


def _restore(report: FetchReport, stats: RetryStats, saved: dict[str, Any]) -> None:
    previous = saved.get("report", {})
    for name in (
        "pages",
        "events",
        "events_added",
        "duplicates_dropped",
        "conflicts",
        "quarantined",
        "first_cursor",
        "last_cursor",
        "first_timestamp",
        "last_timestamp",
        "started_at",
        "duration_seconds",
    ):
        if name in previous:
            setattr(report, name, previous[name])
    report.runs = int(previous.get("runs", 1)) + 1
    report.resumed = True
    stats.merge(saved.get("retry_stats", {}))
