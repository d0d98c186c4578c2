"""``auditreports ingest``: audit-log files, directories or globs into a Parquet store.

Prints one line per file on stderr and a summary an analyst can paste into a work
paper; ``--json`` prints the same facts as one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import UsageError
from ..ingest import DEFAULT_BATCH_BYTES, ingest
from ..progress import say
from ..settings import discover_settings, load_settings
from ..sources import refused_whole
from ..sources.vendors import register_field_maps

HELP = "load audit-log files, directories or globs into a Parquet store (nothing lost: bad lines are quarantined)"

_SHOW_QUARANTINED = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", nargs="+", metavar="SRC", help="audit-log files, directories (recursive) or globs")
    parser.add_argument("--store", required=True, metavar="DIR", help="the store directory (created if new)")
    parser.add_argument("--format", metavar="NAME", help="force this format for every file instead of detecting it")
    parser.add_argument(
        "--maps",
        action="append",
        default=[],
        metavar="DIR",
        help="a directory of your own field maps (*.yml, docs/formats.md); repeatable; adds to sources.maps_dirs",
    )
    parser.add_argument("--settings", dest="settings_file", metavar="FILE", help="settings YAML (sources.maps_dirs)")
    parser.add_argument(
        "--batch-mb",
        type=int,
        default=DEFAULT_BATCH_BYTES // (1024 * 1024),
        metavar="MB",
        help="parse and write the files in batches of about this many MB of (decompressed) text, "
        "so memory stays bounded whatever the input size (default %(default)s)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 if any line was quarantined")
    parser.add_argument("--json", action="store_true", help="print one JSON document with the result on stdout")


def _file_line(entry: dict[str, Any]) -> str:
    if refused_whole(entry):
        # One line: what the file is and what to do; its lines are in the store's quarantine.
        kept = entry["quarantined"]
        return f"{entry['path']}: {entry['error']} ({kept} line{'s' if kept != 1 else ''} kept in the quarantine)"
    kind = {"unknown": "format not recognised", "empty": "empty file"}.get(
        entry["format"], f"{entry['format']} {entry['layout']}"
    )
    text = (
        f"{entry['path']}: {kind}, {entry['lines_read']} lines: "
        f"{entry['loaded']} loaded ({entry['events']} events), {entry['quarantined']} quarantined, {entry['blank']} blank"
    )
    if entry.get("error"):
        text += f" [{entry['error']}]"
    for note in entry.get("notes", []):
        if "gzip" in note:
            text += f" [{note}]"
    return text


def load_organisation_maps(maps: list[str], settings_file: str | None) -> list[str]:
    """Register the field maps of ``sources.maps_dirs`` and ``--maps``; the formats they add."""
    # --settings, else $AUDITREPORTS_SETTINGS, else ./auditreports.yml (named on stderr when one is used).
    source = discover_settings(settings_file)
    if source.path is not None:
        say(f"[auditreports] settings: {source.describe()}")
    dirs = list(load_settings(source.path).sources.maps_dirs) if source.path is not None else []
    dirs += list(maps or [])
    return [m.format for m in register_field_maps(dirs)] if dirs else []


def run(args: argparse.Namespace) -> int:
    if args.batch_mb <= 0:  # every argument is checked before any work or progress line
        raise UsageError(f"--batch-mb must be a positive number of megabytes, not {args.batch_mb}")
    added = load_organisation_maps(args.maps, args.settings_file)
    if added and not args.json:
        say(f"Organisation field maps loaded: {', '.join(added)}")
    refused: list[str] = []

    def on_file(entry: dict[str, Any]) -> None:
        # Files that are not audit logs are said once each, at the end, if nothing else loads;
        # otherwise in order with the others.
        if refused_whole(entry):
            refused.append(_file_line(entry))
        elif not args.json:
            for line in refused:
                say(line)
            refused.clear()
            say(_file_line(entry))

    done = ingest(args.src, args.store, format=args.format, batch_bytes=args.batch_mb * 1024 * 1024, on_file=on_file)
    result, report = done.load, done.store
    loaded_events = result.loaded_events
    quarantined_lines = sum(e["quarantined"] for e in result.ledger)
    skipped = report["skipped_inputs"]
    if not skipped and all(refused_whole(e) for e in result.ledger):
        # Nothing loadable was given: one line per file (what it is, what to do), exit 2.
        # Its lines are in the store's quarantine all the same (nothing lost silently).
        if args.json:
            _print_json(result, report, skipped, done.batches, loaded_events, quarantined_lines)
        else:
            for line in refused:
                say(f"auditreports: error: {line}")
            for s in result.skipped:
                say(f"auditreports: error: {s['path']}: {s['reason']} (skipped)")
            if not result.ledger and not result.skipped:
                say("auditreports: error: no file to read was found in the inputs; give audit-log exports")
        return 2
    for line in refused:
        if not args.json:
            say(line)
    if args.json:
        _print_json(result, report, skipped, done.batches, loaded_events, quarantined_lines)
    else:
        say(result.summary(first_quarantined=_SHOW_QUARANTINED))
        line = (
            f"Store {report['store']}: {report['added']} new events added, "
            f"{report['already_in_store']} already there, {report['conflicts']} id conflicts with stored events"
        )
        if skipped:
            line += f"; {len(skipped)} file(s) skipped as already ingested (same sha256): " + ", ".join(skipped)
        say(line + ".")
    if loaded_events == 0 and not skipped:
        say("auditreports: error: no usable event was loaded from the inputs; check the files and --format")
        return 1
    if args.strict and quarantined_lines:
        say(f"auditreports: --strict: {quarantined_lines} line(s) were quarantined")
        return 1
    return 0


def _print_json(
    result: Any, report: dict[str, Any], skipped: list[str], batches: int, loaded_events: int, quarantined_lines: int
) -> None:
    doc = {
        "store": report["store"],
        "files": result.ledger,
        "totals": {
            "files": len(result.ledger),
            "lines_read": result.lines_read,
            "loaded": sum(e["loaded"] for e in result.ledger),
            "events": loaded_events,
            "quarantined": quarantined_lines,
            "batches": batches,
            "blank": sum(e["blank"] for e in result.ledger),
            "duplicates": result.duplicates,
            "conflicts": result.conflicts,
            "added": report["added"],
            "already_in_store": report["already_in_store"],
            "store_conflicts": report["conflicts"],
        },
        "skipped_inputs": skipped,
        "skipped_paths": result.skipped,
        "quarantined": [
            {"file": r["source_file"], "line": r["source_line"], "reason": r["reason"]}
            for r in result.quarantine.head(100).iter_rows(named=True)
        ],
    }
    json.dump(doc, sys.stdout, ensure_ascii=False, default=str)
    sys.stdout.write("\n")
