"""``auditreports batch KIND``: many report runs on Dask (every GDPR request of a CSV, or one
report kind over many stores)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..batch import JobOutcome, gdpr_request_jobs, run_batch, workspace_jobs
from ..errors import UsageError
from ..notebook import DEFAULT_TIMEOUT
from ..progress import say
from ..settings import discover_settings, load_settings
from ._options import period_from_args, store_from_args

HELP = "Run many reports on Dask: every subject of a GDPR requests CSV, or one report kind over many stores."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", help="report kind (gdpr, soc2, hipaa or an organisation framework)")
    p.add_argument(
        "--store",
        dest="stores",
        action="append",
        default=[],
        help="store directory; gdpr: the one store; other kinds: repeat for one report per store",
    )
    p.add_argument("--requests", help="gdpr: CSV with subject,received columns (one response per row)")
    p.add_argument("--period", help="reporting period: 2026-Q3, 2026-07 or 2026")
    p.add_argument("--from", dest="date_from", metavar="DATE", help="first day of the period (YYYY-MM-DD)")
    p.add_argument("--to", dest="date_to", metavar="DATE", help="last day of the period, inclusive")
    p.add_argument(
        "--settings",
        dest="settings_file",
        help="settings YAML file used by every job (default: $AUDITREPORTS_SETTINGS, else ./auditreports.yml)",
    )
    p.add_argument(
        "--frameworks",
        dest="frameworks_dirs",
        action="append",
        default=[],
        metavar="DIR",
        help="directory of organisation framework files, each a report kind (repeatable)",
    )
    p.add_argument("--templates", dest="templates_dir", metavar="DIR", help="organisation template overrides")
    p.add_argument("--out", help="output directory: one folder per job and batch.json")
    p.add_argument(
        "--scheduler", metavar="ADDR", help="an existing Dask scheduler (tcp://host:port); default: a LocalCluster"
    )
    p.add_argument("--workers", type=int, help="LocalCluster workers (default: up to 2, one per core)")
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"wall-clock limit per report, seconds (default {DEFAULT_TIMEOUT:.0f})",
    )
    p.add_argument("--json", action="store_true", help="print the batch summary as one JSON document")


def run(args: argparse.Namespace) -> int:
    if not args.out:
        raise UsageError("batch needs --out DIR: the folder that receives one sub-folder per job and batch.json")
    period_from_args(args, required=True)  # every argument is checked before any work (commands._options)
    for store in args.stores:
        store_from_args(store)
    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be at least 1")
    extra: dict[str, Any] = {}
    # --settings, else $AUDITREPORTS_SETTINGS, else ./auditreports.yml: found and checked once
    # here, before any worker starts, and given to every job as an absolute path.
    source = discover_settings(args.settings_file)
    say(f"[auditreports] settings: {source.describe()}")
    if source.path is not None:
        load_settings(source.path)
        extra["settings_file"] = str(source.path.resolve())
    if args.frameworks_dirs:
        extra["frameworks_dirs"] = list(args.frameworks_dirs)
    if args.templates_dir:
        extra["templates_dir"] = args.templates_dir
    period = {"period": args.period, "date_from": args.date_from, "date_to": args.date_to}
    if args.kind == "gdpr":
        if len(args.stores) != 1:
            raise UsageError("batch gdpr needs exactly one --store (the store the requests are answered from)")
        if not args.requests:
            raise UsageError("batch gdpr needs --requests FILE: a CSV with subject,received columns")
        jobs = gdpr_request_jobs(args.requests, store=args.stores[0], out_dir=args.out, extra=extra, **period)
    else:
        if args.requests:
            raise UsageError("--requests is for batch gdpr only")
        jobs = workspace_jobs(args.kind, args.stores, out_dir=args.out, extra=extra, **period)

    def progress(outcome: JobOutcome, done: int, total: int) -> None:
        took = f"{outcome.seconds:.1f} s" if outcome.seconds is not None else "worker lost"
        line = f"[batch] {done}/{total} {outcome.status:<6} {outcome.label} ({took})"
        say(line if outcome.status == "ok" else f"{line}: {outcome.error}")

    say(f"[batch] {len(jobs)} {args.kind} report(s) → {args.out}")
    result = run_batch(
        jobs, args.out, scheduler=args.scheduler, workers=args.workers, timeout=args.timeout, on_done=progress
    )
    summary = result.to_dict()
    if args.json:
        json.dump(summary, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(
            f"{summary['ok']} of {summary['total']} report(s) written on {result.scheduler}; summary: {args.out}/batch.json"
        )
    return 1 if result.failed else 0
