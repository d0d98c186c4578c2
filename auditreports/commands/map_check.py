"""``auditreports map-check FILE --map MAP.yml``: dry-run a field map on a sample export.

Nothing is written. For each canonical column the map fills: how many records got a
value and from which of its paths (the first non-empty path wins); the keys present in
the sample that no path reads; the event types produced; and every line that would be
quarantined, with the reason. It is the loop for writing a map (docs/formats.md).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..sources._io import read_input
from ..sources.vendors import field_map, load_field_map
from ..sources.vendors.mapcheck import check_map
from ..sources.vendors.mapping import TRANSFORMS

HELP = "dry-run a field map on a sample file: which paths fill each field, unused keys, lines it would quarantine"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="a sample of the export (NDJSON, JSON array or envelope; .gz ok)")
    parser.add_argument(
        "--map", required=True, metavar="MAP", help="the field map (a .yml file, or a known format name)"
    )
    parser.add_argument("--show", type=int, default=20, metavar="N", help="quarantined lines to list (default 20)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON document on stdout")


def run(args: argparse.Namespace) -> int:
    if args.show < 0:
        raise UsageError("--show must be 0 or more")
    map_path = Path(args.map)
    if map_path.suffix in (".yml", ".yaml") or map_path.exists():
        if not map_path.is_file():
            raise UsageError(f"--map {args.map}: no such map file; give the path of your .yml map")
        fmap = load_field_map(map_path, TRANSFORMS)
    else:
        fmap = field_map(args.map)
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"{args.file}: no such file; give a sample export to check the map on")
    data = read_input(str(path)).data
    result = check_map(data, str(path), fmap)
    if args.json:
        json.dump(result, sys.stdout, ensure_ascii=False, default=str)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render(result, show=args.show))
    return 0


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _inert(text: object) -> str:
    """Keys and reasons come from the sample: control characters (terminal escapes) are shown, not sent."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def render(result: dict[str, Any], *, show: int) -> str:
    out = [
        f"{result['file']} with map {result['map']} (format {result['format']}, layout {result['layout']}): "
        f"{result['records']} records, {result['loaded']} would load, {result['quarantined']} would be quarantined",
        "",
        "Fields (records filled / records loaded, by path):",
    ]
    n = result["loaded"]
    for f in result["fields"]:
        by = ", ".join(f"{s['path']} {s['won']}" for s in f["sources"]) or "-"
        extra = f"  [+{f['derived']} set by rules/transforms]" if f.get("derived") else ""
        out.append(f"  {f['field']:<16} {f['filled']:>6} / {n:<6} {by}{extra}")
    missing = result["not_mapped"]
    if missing:
        out.append(f"  not mapped: {', '.join(missing)}")
    out += ["", "Event types:"]
    for t in result["event_types"]:
        mark = "" if t["typed"] else "   (no event_types rule: kept as <source>.<action>)"
        out.append(f"  {t['count']:>6}  {_inert(t['event_type'])}{mark}")
    out += ["", f"Source keys no field reads ({len(result['unused_keys'])}):"]
    for k in result["unused_keys"]:
        out.append(f"  {_inert(k['key'])}  (in {k['records']} records)")
    out += ["", f"Lines that would be quarantined ({result['quarantined']}):"]
    for q in result["quarantine"][:show]:
        out.append(f"  line {q['line']}: {_inert(q['reason'])}")
    if len(result["quarantine"]) > show:
        out.append(f"  ... {len(result['quarantine']) - show} more (--show N)")
    for note in result["notes"]:
        out.append(f"note: {_inert(note)}")
    return "\n".join(out) + "\n"
