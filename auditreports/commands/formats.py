"""``auditreports formats``: every audit-log format this installation reads, and where its map came from."""

from __future__ import annotations

import argparse
import json
import sys

from ..sources import formats
from .ingest import load_organisation_maps

HELP = "list every known audit-log format (built-in, vendor maps, your --maps) and where each came from"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--maps", action="append", default=[], metavar="DIR", help="also load your field maps from DIR")
    parser.add_argument("--settings", dest="settings_file", metavar="FILE", help="settings YAML (sources.maps_dirs)")
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def run(args: argparse.Namespace) -> int:
    load_organisation_maps(args.maps, args.settings_file)
    rows = [
        {"format": name, "title": spec.description, "origin": spec.origin} for name, spec in sorted(formats().items())
    ]
    if args.json:
        json.dump(rows, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    width = max(len(r["format"]) for r in rows)
    title_width = max(len(r["title"]) for r in rows)
    for r in rows:
        sys.stdout.write(f"{r['format']:<{width}}  {r['title']:<{title_width}}  {r['origin']}\n")
    return 0
