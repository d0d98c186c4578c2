"""The audit-log API client (``fetch``) and the reference server (``start_server``).

``fetch(url, store, ...)`` reads a paginated audit-log API into the Parquet store,
surviving rate limits, outages and dropped connections, resuming after a crash,
and recording a completeness entry in the ledger; ``format="okta"``/``"github"``
reads those vendors' audit-log APIs through the same loop (see ``styles``). ``start_server(dir, ...)`` serves
a folder of conversation-log exports through the same API, with faults to inject;
``start_vendor_server(records, style=...)`` serves vendor records Okta- or GitHub-style.
See docs/api.md.
"""

from __future__ import annotations

from ._fetch import FetchReport, fetch, public_endpoint
from ._retry import RetryStats, parse_retry_after
from ._settings import FetchSettings
from ._token import TOKEN_ENV, TOKEN_FILE_ENV, Token, load_token, redact
from .client import Page, iter_pages, open_client
from .pagination import BodyCursor, LinkHeader, LinkOrBodyCursor, NextPage, PaginationStrategy
from .server import ServerFaults, load_sample_log, start_server
from .styles import API_STYLES, ApiStyle
from .vendor_server import start_vendor_server

__all__ = [
    "API_STYLES",
    "TOKEN_ENV",
    "TOKEN_FILE_ENV",
    "ApiStyle",
    "BodyCursor",
    "FetchReport",
    "FetchSettings",
    "LinkHeader",
    "LinkOrBodyCursor",
    "NextPage",
    "Page",
    "PaginationStrategy",
    "RetryStats",
    "ServerFaults",
    "Token",
    "fetch",
    "iter_pages",
    "load_sample_log",
    "load_token",
    "open_client",
    "parse_retry_after",
    "public_endpoint",
    "redact",
    "start_server",
    "start_vendor_server",
]
