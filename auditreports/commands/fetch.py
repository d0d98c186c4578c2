"""``auditreports fetch``: read the audit-log API into the store, resumable, with a completeness record."""

from __future__ import annotations

import argparse
import json
import sys

from ..api import FetchSettings, fetch
from ..api._token import TOKEN_ENV, TOKEN_FILE_ENV
from ..api.styles import API_STYLES

HELP = f"fetch the audit log from the API into a store (token from {TOKEN_ENV}; resumes after an interruption)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "url",
        metavar="URL",
        help="the endpoint, e.g. https://api.example.com/v1/audit-log, https://ORG.okta.com/api/v1/logs, "
        "https://api.github.com/orgs/ORG/audit-log",
    )
    parser.add_argument(
        "--source-format",
        choices=sorted(API_STYLES),
        default="conversation",
        help="which API and record format: conversation (the platform, default), okta (System Log), github (audit log)",
    )
    parser.add_argument(
        "--auth-scheme",
        default="Bearer",
        metavar="SCHEME",
        help="Authorization scheme the token is sent with (default Bearer; Okta API tokens: SSWS)",
    )
    parser.add_argument("--store", required=True, metavar="DIR", help="the Parquet store to write into")
    parser.add_argument("--since", metavar="WHEN", help="start of the window, inclusive (ISO 8601)")
    parser.add_argument("--until", metavar="WHEN", help="end of the window, exclusive (ISO 8601)")
    parser.add_argument("--conversation-id", metavar="ID", help="only this conversation (conversation API only)")
    parser.add_argument(
        "--event-type",
        metavar="TYPE",
        help="only this event type, in the API's own words (claimed; Okta eventType; GitHub action)",
    )
    parser.add_argument(
        "--author", metavar="ID", help="only events by this author (author id; Okta actor.id; GitHub actor)"
    )
    parser.add_argument(
        "--page-size",
        type=int,
        default=None,
        metavar="N",
        help="events per page (default and maximum: 500 conversation, 1000 Okta, 100 GitHub)",
    )
    parser.add_argument(
        "--pages-per-write",
        type=int,
        default=20,
        metavar="N",
        help="pages buffered per store write; an interruption re-fetches at most this many (default 20)",
    )
    parser.add_argument("--max-attempts", type=int, default=8, metavar="N", help="attempts per page (default 8)")
    parser.add_argument(
        "--max-pages",
        type=int,
        default=1_000_000,
        metavar="N",
        help="pages one run reads at most; past it the fetch stops incomplete and the next run resumes (default 1,000,000)",
    )
    parser.add_argument("--json", action="store_true", help="print the completeness record as one JSON document")
    parser.epilog = (
        f"The token is read from {TOKEN_ENV} or from the file named by {TOKEN_FILE_ENV}, never from the command line. "
        "Exit 0 when the fetch is complete, 1 when the API could not be read completely (run again to resume), "
        "2 for a usage error."
    )


def run(args: argparse.Namespace) -> int:
    style = API_STYLES[args.source_format]
    settings = FetchSettings(
        page_size=args.page_size if args.page_size is not None else style.max_page_size,
        pages_per_write=args.pages_per_write,
        max_attempts=args.max_attempts,
        max_pages=args.max_pages,
        auth_scheme=args.auth_scheme,
    )
    report = fetch(
        args.url,
        args.store,
        since=args.since,
        until=args.until,
        conversation_id=args.conversation_id,
        event_type=args.event_type,
        author=args.author,
        settings=settings,
        format=args.source_format,
    )
    for note in report.notes:
        print(f"[auditreports] note: {note}", file=sys.stderr)
    print(f"[auditreports] {report.summary()}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.as_ledger(), indent=2))
    return 0 if report.complete else 1
