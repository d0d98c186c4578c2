"""``auditreports export``: write searched events as JSON, NDJSON, safe CSV or OCSF, with a manifest."""

from __future__ import annotations

import argparse
import sys

from ..export import EXPORT_FORMATS, export_events
from .search import add_filter_arguments, filters_from_args

HELP = "export events from a store (same filters as search) as json, ndjson, spreadsheet-safe csv or OCSF"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_filter_arguments(parser)
    parser.add_argument("--format", choices=EXPORT_FORMATS, default="json", help="file format (default json)")
    parser.add_argument("--out", required=True, metavar="DIR", help="a new or empty directory for the files")
    parser.add_argument(
        "--max-events", type=int, default=10_000, metavar="N", help="at most N events per file (default 10000)"
    )


def run(args: argparse.Namespace) -> int:
    manifest = export_events(
        args.store, args.out, filters_from_args(args), format=args.format, max_events=args.max_events
    )
    print(
        f"exported {manifest.total_events} event(s) to {len(manifest.files)} file(s) in {args.out} "
        f"(manifest.json lists each file's SHA-256)",
        file=sys.stderr,
    )
    return 0
