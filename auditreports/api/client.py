"""Read an audit-log API page by page, surviving the faults real APIs have.

:func:`iter_pages` is the HTTP half of a fetch and knows nothing about the store:
it yields :class:`Page` objects (records plus where the next page is) and raises
only :class:`~auditreports.errors.FetchError` subclasses, each message free of the
token. ``fetch`` (in ``_fetch``) puts the pages into the store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ..errors import AuthenticationError, FetchError, PaginationError, RetriesExhaustedError
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
            response = client.get(url, headers={"Authorization": token.authorization(settings.auth_scheme)})
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
    stats: RetryStats | None = None,
) -> Iterator[Page]:
    """Yield the pages from ``url`` on, until there is no next page or a page is empty.

    ``start_number``/``start_cursor``/``seen_cursors`` continue a run from a checkpoint.
    A cursor seen before is a :class:`PaginationError` (the API loops); so is a body
    that is not JSON or has no list of events, naming the page and its cursor.
    """
    strategy = strategy or LinkOrBodyCursor()
    stats = stats if stats is not None else RetryStats()
    seen = seen_cursors if seen_cursors is not None else set()
    number, cursor, next_url = start_number, start_cursor, url
    while True:
        response = _get_page(
            client, next_url, token=token, number=number, cursor=cursor, settings=settings, stats=stats
        )
        where = f"page {number} (cursor {_short(cursor)})"
        try:
            body = json.loads(response.content)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PaginationError(
                f"{where} is not valid JSON ({exc}); the API sent a broken page, nothing after it was read",
                page=number,
                cursor=cursor,
            ) from None
        try:
            records = strategy.records(body)
            following = strategy.next_page(response, body) if records else None
        except PageShapeError as exc:
            raise PaginationError(f"{where} is not an audit-log page: {exc}", page=number, cursor=cursor) from None
        if following is not None:
            if following.cursor in seen or following.cursor == cursor:
                raise PaginationError(
                    f"{where} points back to cursor {_short(following.cursor)}, already read: the API's pagination loops",
                    page=number,
                    cursor=following.cursor,
                )
            seen.add(following.cursor)
        yield Page(number=number, cursor=cursor, url=next_url, records=records, next=following)
        if following is None:
            return
        number, cursor, next_url = number + 1, following.cursor, following.url
