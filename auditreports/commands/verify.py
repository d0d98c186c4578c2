"""``auditreports verify``: is the log complete and untampered? Verdict, breaks, evidence manifest."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import NothingLoadedError, UsageError
from ..integrity import (
    IntegritySettings,
    Verification,
    build_manifest,
    load_private_key,
    parse_period,
    verify,
    write_manifest,
)
from ..integrity.manifest import file_entry
from ..integrity.verify import with_unreadable_lines
from ..period import CLI_NAMES
from ..progress import stage
from ._options import store_from_args

HELP = "verify a log's hash chain, sequence, coverage and conversation continuity; write a signed evidence manifest"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", nargs="*", metavar="SRC", help="files, directories or globs of audit logs")
    parser.add_argument("--store", metavar="DIR", help="verify the events of a store instead of SRC")
    parser.add_argument("--format", metavar="NAME", help="force a source format instead of detecting it")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON document on stdout")
    parser.add_argument("--period", metavar="PERIOD", help="the period to verify: 2026-Q3, 2026-08 or 2026")
    parser.add_argument("--from", dest="date_from", metavar="DATE", help="first day of the period (YYYY-MM-DD)")
    parser.add_argument("--to", dest="date_to", metavar="DATE", help="last day of the period, inclusive")
    parser.add_argument(
        "--previous-manifest", metavar="FILE", help="last period's manifest.json: this log must continue its chain"
    )
    parser.add_argument("--manifest-out", metavar="FILE", help="write the evidence manifest here")
    parser.add_argument("--sign-key", metavar="FILE", help="Ed25519 private key (from keygen) to sign the manifest")
    parser.add_argument(
        "--retention-days", type=int, metavar="N", help="the platform's audit-log retention (default 365; HIPAA 2190)"
    )
    parser.add_argument(
        "--settings",
        metavar="FILE",
        help="settings YAML whose integrity: section applies (default: $AUDITREPORTS_SETTINGS, else ./auditreports.yml)",
    )
    parser.add_argument("--as-of", metavar="DATE", help="measure the retention window from this day (default today)")
    parser.epilog = "Exit 0 VERIFIED, 1 FAILED, 3 PARTIAL, 2 for a usage or input error."


def _as_of(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--as-of {text!r} is not a date; write it as YYYY-MM-DD") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _load(args: argparse.Namespace) -> tuple[Any, list[dict[str, Any]], list[dict[str, Any]], Any, Path | None]:
    """(events, inputs to hash, origins from a ledger, quarantine frame, store path)."""
    if bool(args.src) == bool(args.store):
        raise UsageError("give either SRC (files, directories or globs) or --store DIR, not both and not neither")
    if args.store:
        from ..store import open_store

        store = open_store(args.store)
        files = sorted(p for p in store.path.glob("events/event_date=*/*.parquet"))
        files.append(store.path / "ledger.json")
        origins = [
            {k: e.get(k) for k in ("path", "sha256", "format", "events", "lines_read")}
            for e in store.ledger.get("inputs", [])
        ]
        return (
            store.events,
            [{"path": str(f), "role": "store"} for f in files],
            origins,
            store.quarantine,
            store.path,
        )
    from ..sources import load

    result = load(args.src if len(args.src) > 1 else args.src[0], format=args.format)
    inputs = [{"path": e["path"], "role": "input"} for e in result.ledger]
    return result.events, inputs, [], result.quarantine, None


def run(args: argparse.Namespace) -> int:
    # Every argument is checked before any work or progress line (commands._options).
    period = parse_period(args.period, start=args.date_from, end=args.date_to, names=CLI_NAMES)
    if bool(args.src) == bool(args.store):
        raise UsageError("give either SRC (files, directories or globs) or --store DIR, not both and not neither")
    from ..settings import discover_settings, load_settings

    load_settings(discover_settings(args.settings).path)  # a bad settings file first, silently
    store_from_args(args.store)
    as_of = _as_of(args.as_of)
    from ..settings import resolve_settings

    settings: IntegritySettings = resolve_settings(args.settings).integrity
    if args.retention_days is not None:
        settings = dataclasses.replace(settings, retention_days=args.retention_days)
    sign_key = load_private_key(args.sign_key) if args.sign_key else None
    if sign_key is not None and not args.manifest_out:
        raise UsageError("--sign-key signs the manifest; give --manifest-out FILE as well")
    with stage("loading"):
        events, inputs, origins, quarantine, _ = _load(args)
    quarantined = quarantine.height if quarantine is not None else 0
    with stage("verifying"):
        result = verify(events, settings=settings, period=period, previous_manifest=args.previous_manifest, as_of=as_of)
    if result.events_checked == 0 and quarantined:
        files = sorted({str(f) for f in quarantine.get_column("source_file").to_list()})
        raise NothingLoadedError(
            f"nothing could be read from {', '.join(files[:3])}{' …' if len(files) > 3 else ''} "
            f"({quarantined:,} line(s) quarantined: {quarantine.get_column('reason')[0]}); "
            "check that SRC is an audit log, or force its format with --format (see `auditreports formats`)"
        )
    # Lines the loader could not read were not verified: the verdict says so (PARTIAL), per file.
    result = with_unreadable_lines(result, quarantine)
    if result.events_checked == 0:
        raise NothingLoadedError(
            "no event to verify (nothing loaded, or nothing in the period); check SRC and --period"
        )
    manifest_path = None
    if args.manifest_out:
        base = Path(args.manifest_out).resolve().parent
        entries = [file_entry(i["path"], role=i["role"], base=base) for i in inputs]
        manifest = build_manifest(result, inputs=entries, origins=origins, previous_manifest=args.previous_manifest)
        manifest_path = write_manifest(manifest, args.manifest_out, sign_key=sign_key)
    doc = result.to_dict()
    doc["quarantined_lines"] = quarantined
    if manifest_path is not None:
        doc["manifest"] = str(manifest_path)
    if args.json:
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")
    else:
        sys.stdout.write(summary(result, quarantined=quarantined, manifest=manifest_path, signed=sign_key is not None))
    return result.exit_code


def summary(result: Verification, *, quarantined: int = 0, manifest: Path | None = None, signed: bool = False) -> str:
    """The readable report printed without --json."""
    lines = [f"Integrity: {result.verdict}  ({result.events_checked:,} events checked)"]
    for span in result.sources:
        lines.append(
            f"  {span['source']}: {span['events']:,} events, {span['first_timestamp']} .. {span['last_timestamp']}"
        )
    lines.append("Checks:")
    for c in result.checks:
        extra = f", {len(c.breaks)} break(s)" if c.breaks else ""
        lines.append(f"  {c.check:<11} {c.source:<14} {c.verdict}{extra}")
    breaks = result.breaks
    if breaks:
        lines.append(f"Breaks ({len(breaks)}):")
        for b in breaks[:50]:
            lines.append(f"  - {b.kind} at position {b.position} ({b.source}, {b.event_id}): {b.detail}")
        if len(breaks) > 50:
            lines.append(f"  … and {len(breaks) - 50} more (use --json for all)")
    if result.unverified:
        lines.append("Not verified:")
        lines += [f"  - {u.check} ({u.source}): {u.reason}" for u in result.unverified]
    if result.notices:
        lines.append("For the auditor's attention:")
        for n in result.notices:
            if n["kind"] == "beyond_retention":
                lines.append(f"  - {n['detail']}")
            else:
                lines.append(
                    f"  - {n['kind'].replace('_', ' ')} by {n['actor_name'] or n['actor_id']} at {n['timestamp']} "
                    f"({n['event_id']}): {n['before']} -> {n['after']}"
                )
    for source, chain in result.chain_heads.items():
        head = chain["head"]
        lines.append(f"Chain head ({source}): sequence {head['seq']}, hash {head['hash']}")
    if quarantined:
        lines.append(f"{quarantined} line(s) were quarantined by the loader and are not in the log verified.")
    if manifest is not None:
        lines.append(f"Manifest: {manifest}{' (signed)' if signed else ' (unsigned)'}")
    return "\n".join(lines) + "\n"
