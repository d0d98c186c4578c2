"""``auditreports search``: find events in a store by conversation, author, type, time, subject or text."""

from __future__ import annotations

import argparse
import json
import sys

import polars as pl

from ..search import SearchFilters, search_with

HELP = "find events in a store (by conversation, author, event type, time, channel, subject or text)"

# Columns of the readable table: what an analyst scans first.
# Who acted is the actor's id and type (an API key acts under its owner's name); the IP and
# the event id are what an investigation pivots on next.
TABLE_COLUMNS = (
    "timestamp",
    "event_type",
    "outcome",
    "actor_id",
    "actor_type",
    "actor_name",
    "ip",
    "conversation_id",
    "subject_id",
    "reason",
    "event_id",
)
REASON_WIDTH = 60


def add_filter_arguments(parser: argparse.ArgumentParser) -> None:
    """The filters shared by ``search`` and ``export``."""
    parser.add_argument("--store", required=True, metavar="DIR", help="the Parquet store to search")
    parser.add_argument("--conversation-id", metavar="ID", help="exact conversation id (comma-separated for several)")
    parser.add_argument(
        "--actor",
        "--author",
        dest="author",
        metavar="WHO",
        help="actor id, name or e-mail (name and e-mail case-insensitive); --author is the same filter",
    )
    parser.add_argument(
        "--event-type", metavar="TYPE", help="exact event type or source action, or a prefix ending in '.' like 'auth.'"
    )
    parser.add_argument(
        "--period", metavar="PERIOD", help="a reporting period: 2026-Q3, 2026-08 or 2026 (UTC days), like report's"
    )
    parser.add_argument("--from", dest="since", metavar="WHEN", help="start, inclusive (YYYY-MM-DD or ISO 8601 time)")
    parser.add_argument("--to", dest="until", metavar="WHEN", help="end, inclusive; a bare date covers the whole day")
    parser.add_argument("--channel", metavar="NAME", help="conversation channel: web, email, whatsapp, slack, api")
    parser.add_argument(
        "--subject", metavar="ID", help="data subject: subject_id, or listed in a bulk export's subjects"
    )
    parser.add_argument("--text", metavar="TEXT", help="case-insensitive literal text in reasons, notes and changes")


def filters_from_args(args: argparse.Namespace) -> SearchFilters:
    since, until = args.since, args.until
    if getattr(args, "period", None) is not None:
        from ..errors import UsageError
        from ..period import CLI_NAMES, parse_period

        if since is not None or until is not None:
            raise UsageError("give either --period or --from/--to, not both")
        period = parse_period(args.period, names=CLI_NAMES)
        since, until = period.start.isoformat(), period.end.isoformat()
    return SearchFilters.build(
        conversation_id=args.conversation_id,
        author=args.author,
        event_type=args.event_type,
        since=since,
        until=until,
        channel=args.channel,
        subject=args.subject,
        text=args.text,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_filter_arguments(parser)
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="at most N events (earliest first)")
    parser.add_argument("--json", action="store_true", help="print one JSON document with the matching events")


def run(args: argparse.Namespace) -> int:
    filters = filters_from_args(args)
    found = search_with(args.store, filters, limit=args.limit)
    if not args.json:
        # The table shows a few columns: reading only those (projection pushdown) skips
        # decompressing raw records and state changes, ~3x faster on a 10M-event store.
        found = found.select(TABLE_COLUMNS)
    events = found.collect()
    if args.json:
        doc = {"filters": filters.as_dict(), "count": events.height, "events": _json_rows(events)}
        json.dump(doc, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    reason = pl.col("reason")
    table = events.select(
        pl.col("timestamp").dt.strftime("%Y-%m-%d %H:%M:%S").alias("time (UTC)"),
        *[pl.col(c) for c in TABLE_COLUMNS[1:]],
    ).with_columns(
        pl.when(reason.str.len_chars() > REASON_WIDTH)
        .then(reason.str.slice(0, REASON_WIDTH - 1) + "…")
        .otherwise(reason)
        .alias("reason")
    )
    with pl.Config(
        tbl_rows=-1,
        tbl_cols=-1,
        tbl_width_chars=260,
        fmt_str_lengths=REASON_WIDTH,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
    ):
        print(table)
    print(f"{events.height} event(s)", file=sys.stderr)
    return 0


def _json_rows(events: pl.DataFrame) -> list[dict[str, object]]:
    """Rows as JSON values: times in ISO 8601 UTC, everything else as stored."""
    text = events.with_columns(pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")).write_json()
    rows: list[dict[str, object]] = json.loads(text)
    return rows
