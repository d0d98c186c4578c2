"""API styles: how one vendor's audit-log API is asked for a window of events.

The fetch loop (retries, checkpoints, loop detection, the store) is the same for
every API; what differs is small and lives here: the query parameters of the first
request (time window, filters, page size), the largest page the API allows, the
pagination strategy, and the record format whose field map turns the API's records
into canonical events.

- ``conversation`` — our platform (DESIGN.md format 2): ``since``/``until``/
  ``conversation_id``/``event_type``/``author``/``limit``, body cursor or Link.
- ``okta`` — Okta System Log (``GET /api/v1/logs``): ``since``/``until``/``limit``
  (≤ 1000), ``filter`` (SCIM expression built from the event-type and actor
  filters), a bare JSON array body and ``Link: <…after=…>; rel="next"``. Okta API
  tokens use the ``SSWS`` scheme (``FetchSettings(auth_scheme="SSWS")``); OAuth
  access tokens use ``Bearer``.
- ``github`` — GitHub audit log (``GET /orgs/{org}/audit-log``): the window and
  filters become ``phrase`` qualifiers (``created:>=… created:<… action:… actor:…``),
  ``per_page`` (≤ 100), a bare JSON array body, ``Link: <…after=…>; rel="next"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import UsageError
from .pagination import LinkHeader, LinkOrBodyCursor, PaginationStrategy

__all__ = ["API_STYLES", "ApiStyle", "Filters", "get_style"]

Filters = dict[str, str | None]
QueryBuilder = Callable[[str | None, str | None, Filters, int], dict[str, str | int | None]]


@dataclass(frozen=True)
class ApiStyle:
    """What differs between audit-log APIs, and nothing else.

    ``query(since, until, filters, page_size)`` gives the first request's query
    parameters; ``filters`` names the filters the API can apply (others are a usage
    error, never silently ignored); ``auth_hint`` is added to a 401/403 message.
    """

    name: str
    format: str
    title: str
    strategy: PaginationStrategy
    max_page_size: int
    filters: frozenset[str]
    query: QueryBuilder
    auth_hint: str = ""


def _conversation_query(
    since: str | None, until: str | None, filters: Filters, page_size: int
) -> dict[str, str | int | None]:
    return {"since": since, "until": until, **filters, "limit": page_size}


def _scim_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _okta_query(since: str | None, until: str | None, filters: Filters, page_size: int) -> dict[str, str | int | None]:
    terms = []
    if filters.get("event_type"):
        terms.append(f"eventType eq {_scim_string(str(filters['event_type']))}")
    if filters.get("author"):
        terms.append(f"actor.id eq {_scim_string(str(filters['author']))}")
    return {"since": since, "until": until, "filter": " and ".join(terms) or None, "limit": page_size}


def _phrase_value(value: str) -> str:
    return f'"{value}"' if any(c.isspace() for c in value) else value


def _github_query(
    since: str | None, until: str | None, filters: Filters, page_size: int
) -> dict[str, str | int | None]:
    terms = []
    if since:
        terms.append(f"created:>={since}")
    if until:
        terms.append(f"created:<{until}")
    if filters.get("event_type"):
        terms.append(f"action:{_phrase_value(str(filters['event_type']))}")
    if filters.get("author"):
        terms.append(f"actor:{_phrase_value(str(filters['author']))}")
    return {"phrase": " ".join(terms) or None, "per_page": page_size}


API_STYLES: dict[str, ApiStyle] = {
    "conversation": ApiStyle(
        name="conversation",
        format="conversation",
        title="the platform's conversation audit log",
        strategy=LinkOrBodyCursor(),
        max_page_size=500,
        filters=frozenset({"conversation_id", "event_type", "author"}),
        query=_conversation_query,
    ),
    "okta": ApiStyle(
        name="okta",
        format="okta",
        title="the Okta System Log API",
        strategy=LinkHeader(data_field=None, name="okta-link", empty_page_ends=True),
        max_page_size=1000,
        filters=frozenset({"event_type", "author"}),
        query=_okta_query,
        auth_hint="Okta API tokens need the SSWS scheme (--auth-scheme SSWS), OAuth access tokens Bearer",
    ),
    "github": ApiStyle(
        name="github",
        format="github",
        title="the GitHub audit log API",
        strategy=LinkHeader(data_field=None, name="github-link"),
        max_page_size=100,
        filters=frozenset({"event_type", "author"}),
        query=_github_query,
        auth_hint="GitHub needs a token with the read:audit_log scope",
    ),
}


def get_style(name: str) -> ApiStyle:
    """The API style named ``name``; a UsageError naming the known styles otherwise."""
    try:
        return API_STYLES[name]
    except KeyError:
        raise UsageError(
            f"no API client for the source format {name!r}; fetch knows {', '.join(sorted(API_STYLES))} "
            "(other vendor logs: export them to files and use `auditreports ingest`)"
        ) from None
