"""Pagination strategies: the narrow, swappable layer between HTTP and the fetch loop.

A strategy answers two questions about one decoded page: which records it holds
(:meth:`PaginationStrategy.records`) and where the next page is
(:meth:`PaginationStrategy.next_page`). The fetch loop does everything else
(retries, loop detection, checkpoints), so a new vendor's pagination is a small
class, not a new client:

- :class:`BodyCursor` — an opaque cursor in the body (``{"data", "has_more",
  "next_cursor"}``, our platform's API); field and query-parameter names are
  settings, so ``after``-style cursors work the same way.
- :class:`LinkHeader` — RFC 8288 ``Link: <…>; rel="next"`` (GitHub, Okta).
- :class:`LinkOrBodyCursor` — the default: a Link header when the server sends one,
  else the body cursor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import httpx

__all__ = ["BodyCursor", "LinkHeader", "LinkOrBodyCursor", "NextPage", "PageShapeError", "PaginationStrategy"]


class PageShapeError(ValueError):
    """The page is JSON but not shaped the way the strategy expects."""


@dataclass(frozen=True)
class NextPage:
    """Where the next page is: the full URL to request and its cursor as a position.

    ``cursor`` identifies the position (the opaque cursor, or the Link URL's query):
    the fetch loop treats a cursor it has seen before as a pagination loop.
    """

    url: str
    cursor: str


@runtime_checkable
class PaginationStrategy(Protocol):
    """What the fetch loop needs to know about an API's pagination."""

    @property
    def name(self) -> str:
        """A short stable name (part of the checkpoint key and the ledger)."""
        ...

    def records(self, body: Any) -> list[Any]:
        """The events of a decoded page; PageShapeError if the body has no list of events."""
        ...

    def next_page(self, response: httpx.Response, body: Any) -> NextPage | None:
        """The next page, or None when this was the last one."""
        ...


@dataclass(frozen=True)
class BodyCursor:
    """An opaque cursor in the response body, sent back as a query parameter.

    ``data_field=None`` means the body itself is the list of events. ``has_more_field``
    may be None for APIs that signal the end only by a missing cursor.
    ``empty_page_ends``: an empty page ends the fetch even when it points to a next page
    (a polling API such as Okta's always does); otherwise such a page is a fault that
    the fetch retries and, if it persists, stops on as incomplete.
    """

    data_field: str | None = "data"
    cursor_field: str = "next_cursor"
    has_more_field: str | None = "has_more"
    cursor_param: str = "cursor"
    name: str = "body-cursor"
    empty_page_ends: bool = False

    def records(self, body: Any) -> list[Any]:
        data = body if self.data_field is None else (body.get(self.data_field) if isinstance(body, dict) else None)
        if not isinstance(data, list):
            where = "the body" if self.data_field is None else f"the body's {self.data_field!r} field"
            raise PageShapeError(f"{where} is not a list of events")
        return data

    def next_page(self, response: httpx.Response, body: Any) -> NextPage | None:
        if not isinstance(body, dict):
            return None
        cursor = body.get(self.cursor_field)
        has_more = True if self.has_more_field is None else body.get(self.has_more_field)
        if has_more is not None and not isinstance(has_more, bool):
            raise PageShapeError(f"the body's {self.has_more_field!r} field is not true/false")
        if cursor is not None and not isinstance(cursor, str):
            raise PageShapeError(f"the body's {self.cursor_field!r} field is not a string")
        if not cursor:
            if has_more:
                raise PageShapeError(f"the page says {self.has_more_field!r} but gives no {self.cursor_field!r}")
            return None
        if has_more is False:
            return None
        url = response.request.url.copy_set_param(self.cursor_param, cursor)
        return NextPage(url=str(url), cursor=cursor)


@dataclass(frozen=True)
class LinkHeader:
    """RFC 8288 ``Link`` headers with ``rel="next"``; the body's events are at ``data_field``."""

    data_field: str | None = "data"
    name: str = "link-header"
    empty_page_ends: bool = False

    def records(self, body: Any) -> list[Any]:
        return BodyCursor(data_field=self.data_field).records(body)

    def next_page(self, response: httpx.Response, body: Any) -> NextPage | None:
        link = response.links.get("next", {}).get("url")
        if not link:
            return None
        url = response.request.url.join(link)
        request_url = response.request.url
        if (url.scheme, url.host, url.port) != (request_url.scheme, request_url.host, request_url.port):
            # The token would follow the link: only ever to the host it was given for.
            raise PageShapeError(
                f"the Link header points to another host ({url.host}); refusing to send the token there"
            )
        return NextPage(url=str(url), cursor=urlsplit(str(url)).query or str(url))


@dataclass(frozen=True)
class LinkOrBodyCursor:
    """A Link header when present (it is authoritative), else the body cursor."""

    body: BodyCursor = BodyCursor()
    link: LinkHeader = LinkHeader()
    name: str = "link-or-body-cursor"

    def records(self, body: Any) -> list[Any]:
        return self.body.records(body)

    def next_page(self, response: httpx.Response, body: Any) -> NextPage | None:
        if "next" in response.links:
            return self.link.next_page(response, body)
        return self.body.next_page(response, body)
