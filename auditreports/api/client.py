"""Read an audit-log API page by page, surviving the faults real APIs have.

:func:`iter_pages` is the HTTP half of a fetch and knows nothing about the store:
it yields :class:`Page` objects (records plus where the next page is) and raises
only :class:`~auditreports.errors.FetchError` subclasses, each message free of the
token. ``fetch`` (in ``_fetch``) puts the pages into the store.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ..errors import AuthenticationError, FetchError, PaginationError, RetriesExhaustedError
from ..sources._dupkeys import loads_keeping_duplicates
from ._retry import RETRYABLE_ERRORS, RetryStats, backoff_delay, is_retryable_status, parse_retry_after
from ._settings import FetchSettings
from ._token import Token, redact
from .pagination import LinkOrBodyCursor, NextPage, PageShapeError, PaginationStrategy

__all__ = ["Page", "first_page_url", "iter_pages", "open_client"]


@dataclass(frozen=True)
class Page:
    """One page as received: its position, its records and the next page (None at the end)."""

    number: int
    cursor: str | None
    url: str
    records: list[Any]
    next: NextPage | None


def first_page_url(url: str, params: Mapping[str, str | int | None]) -> str:
    """The endpoint with the filters and page size as query parameters (None values left out)."""
    try:
        base = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise FetchError(
            f"{url!r} is not a valid URL ({exc}); give the endpoint, e.g. https://host/v1/audit-log"
        ) from None
    if base.scheme not in ("http", "https") or not base.host:
        raise FetchError(f"{url!r} is not an http(s) URL; give the endpoint, e.g. https://host/v1/audit-log")
    for name, value in params.items():
        if value is not None:
            base = base.copy_set_param(name, str(value))
    return str(base)


def open_client(settings: FetchSettings) -> httpx.Client:
    """The HTTP client of a fetch: no redirects (the token must not follow them), explicit timeouts."""
    return httpx.Client(
        transport=settings.transport,
        timeout=settings.timeout,
        follow_redirects=False,
        headers={"Accept": "application/json", "User-Agent": settings.user_agent},
    )


def _short(cursor: str | None) -> str:
    if cursor is None:
        return "none (first page)"
    return cursor if len(cursor) <= 80 else cursor[:77] + "..."


def _server_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip().replace("\n", " ")
        return text[:200] or "no message"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
        return f"{message} ({code})" if code else str(message)
    if isinstance(body, dict) and isinstance(body.get("errorSummary"), str):  # Okta
        code = body.get("errorCode")
        return f"{body['errorSummary']} ({code})" if code else body["errorSummary"]
    if isinstance(body, dict) and isinstance(body.get("message"), str):  # GitHub
        return body["message"][:200]
    return str(body)[:200]


class _BodyTooSlow(Exception):
    """The page's body did not arrive within ``FetchSettings.page_timeout`` (a slow-loris server)."""


def _get_within(client: httpx.Client, url: str, *, token: Token, settings: FetchSettings) -> httpx.Response:
    """GET ``url`` and read the whole body within ``settings.page_timeout`` seconds of wall-clock time.

    httpx's timeout is per read: a server dribbling one byte per second never trips it.
    So the body is read chunk by chunk against a deadline and given back as a complete,
    already-read response (decoded the same way httpx would).
    """
    deadline = settings.clock() + settings.page_timeout
    headers = {"Authorization": token.authorization(settings.auth_scheme)}
    with client.stream("GET", url, headers=headers) as streamed:
        chunks = []
        for chunk in streamed.iter_raw():
            chunks.append(chunk)
            if settings.clock() > deadline:
                raise _BodyTooSlow(
                    f"the body did not arrive within {settings.page_timeout:g} s "
                    f"({sum(map(len, chunks))} bytes so far; FetchSettings.page_timeout)"
                )
        response = httpx.Response(
            streamed.status_code,
            headers=streamed.headers,
            content=b"".join(chunks),
            request=streamed.request,
            extensions=streamed.extensions,
        )
    return response


def _get_page(
    client: httpx.Client,
    url: str,
    *,
    token: Token,
    number: int,
    cursor: str | None,
    settings: FetchSettings,
    stats: RetryStats,
) -> httpx.Response:
    """GET one page, retrying what is worth retrying; the response is 2xx and fully read."""
    started = settings.clock()
    attempt = 0
    where = f"page {number} (cursor {_short(cursor)})"
    while True:
        attempt += 1
        retry_after: float | None = None
        try:
            response = _get_within(client, url, token=token, settings=settings)
        except _BodyTooSlow as exc:
            reason = "connection"
            detail = str(exc)
        except RETRYABLE_ERRORS as exc:
            reason = "connection"
            detail = redact(f"{type(exc).__name__}: {exc}", token)
        except httpx.HTTPError as exc:
            raise FetchError(f"cannot request {where}: {redact(str(exc), token)}; check the URL", page=number) from None
        else:
            status = response.status_code
            if 200 <= status < 300:
                return response
            message = redact(_server_message(response), token)
            if status in (401, 403):
                what = "rejected the token" if status == 401 else "refused access with this token"
                raise AuthenticationError(
                    f"the API {what} (HTTP {status}: {message}); check AUDITREPORTS_TOKEN and the token's permissions",
                    status=status,
                    server_message=message,
                )
            if not is_retryable_status(status):
                raise FetchError(
                    f"the API answered HTTP {status} for {where}: {message}; check the URL and the filters",
                    status=status,
                    page=number,
                )
            reason = str(status)
            detail = f"HTTP {status}: {message}"
            retry_after = parse_retry_after(response.headers.get("Retry-After"), settings.wall_clock())
        stats.observe(reason)
        if attempt >= settings.max_attempts:
            raise RetriesExhaustedError(
                f"gave up on {where} after {attempt} attempts (last: {detail}); run the same command again later to resume",
                page=number,
                attempts=attempt,
            )
        delay = (
            min(retry_after, settings.retry_after_cap)
            if retry_after is not None
            else backoff_delay(attempt - 1, settings)
        )
        if settings.clock() - started + delay > settings.max_retry_time:
            raise RetriesExhaustedError(
                f"gave up on {where}: retrying would exceed {settings.max_retry_time:g} s (last: {detail}); "
                "run the same command again later to resume",
                page=number,
                attempts=attempt,
            )
        stats.retried(delay)
        settings.sleep(delay)


def iter_pages(
    client: httpx.Client,
    url: str,
    *,
    token: Token,
    settings: FetchSettings,
    strategy: PaginationStrategy | None = None,
    start_number: int = 1,
    start_cursor: str | None = None,
    seen_cursors: set[str] | None = None,
    seen_pages: dict[str, int] | None = None,
    stats: RetryStats | None = None,
) -> Iterator[Page]:
    """Yield the pages from ``url`` on, until the API says there is no next page.

    ``start_number``/``start_cursor``/``seen_cursors``/``seen_pages`` continue a run from
    a checkpoint. Each of these stops the run with a :class:`PaginationError` (the fetch
    is then recorded incomplete), naming the page and its cursor:

    - a cursor seen before (the API loops);
    - a page whose events repeat an earlier page's exactly, under a fresh cursor (the
      API loops without repeating cursors);
    - an empty page that says more pages follow (``has_more: true``, a next link), after
      ``max_attempts`` tries: the API dropped a page, and ending there would call an
      incomplete fetch complete (APIs whose empty page ends a poll, such as Okta's,
      declare ``empty_page_ends`` on their strategy);
    - more than ``settings.max_pages`` pages in this run (a page budget);
    - a body that is not JSON or has no list of events.
    """
    strategy = strategy or LinkOrBodyCursor()
    stats = stats if stats is not None else RetryStats()
    seen = seen_cursors if seen_cursors is not None else set()
    contents = seen_pages if seen_pages is not None else {}
    empty_page_ends = bool(getattr(strategy, "empty_page_ends", False))
    number, cursor, next_url = start_number, start_cursor, url
    pages_this_run = 0
    while True:
        pages_this_run += 1
        where = f"page {number} (cursor {_short(redact(cursor or '', token) or None)})"
        if pages_this_run > settings.max_pages:
            raise PaginationError(
                f"stopped before {where}: {settings.max_pages} pages read in this run (the page budget, --max-pages); "
                "the fetch is incomplete: run it again to continue, or raise --max-pages",
                page=number,
                cursor=cursor,
            )
        empty_tries = 0
        while True:
            response = _get_page(
                client, next_url, token=token, number=number, cursor=cursor, settings=settings, stats=stats
            )
            try:
                # Records naming a key twice come back marked; the mapper quarantines them.
                body = loads_keeping_duplicates(response.content)
            except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                raise PaginationError(
                    f"{where} is not valid JSON ({exc}); the API sent a broken page, nothing after it was read",
                    page=number,
                    cursor=cursor,
                ) from None
            try:
                records = strategy.records(body)
                following = strategy.next_page(response, body)
            except PageShapeError as exc:
                raise PaginationError(
                    f"{where} is not an audit-log page: {redact(str(exc), token)}", page=number, cursor=cursor
                ) from None
            if records or following is None:
                break
            if empty_page_ends:
                following = None
                break
            # An empty page that promises more: the server dropped this page. Ask again.
            empty_tries += 1
            stats.observe("empty")
            if empty_tries >= settings.max_attempts:
                raise PaginationError(
                    f"{where} came back empty {empty_tries} times while the API says more pages follow; "
                    "stopping rather than calling the fetch complete: run it again later to resume",
                    page=number,
                    cursor=cursor,
                )
            delay = backoff_delay(empty_tries - 1, settings)
            stats.retried(delay)
            settings.sleep(delay)
        if records:
            digest = hashlib.sha256(
                json.dumps(records, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
            ).hexdigest()[:32]
            if digest in contents:
                raise PaginationError(
                    f"{where} repeats exactly the events of page {contents[digest]} under a new cursor: "
                    "the API's pagination loops; stopping, the fetch is incomplete",
                    page=number,
                    cursor=cursor,
                )
            contents[digest] = number
        if following is not None:
            if following.cursor in seen or following.cursor == cursor:
                raise PaginationError(
                    f"{where} points back to cursor {_short(redact(following.cursor, token))}, already read: "
                    "the API's pagination loops",
                    page=number,
                    cursor=redact(following.cursor, token),
                )
            seen.add(following.cursor)
        yield Page(number=number, cursor=cursor, url=next_url, records=records, next=following)
        if following is None:
            return
        number, cursor, next_url = number + 1, following.cursor, following.url
