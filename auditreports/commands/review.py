"""``auditreports review``: write (or bring up to date) the review file listing every finding of a period."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UsageError
from ..progress import say, stage
from ._options import period_from_args, store_from_args

HELP = "write the review file: every finding of the period listed, undecided; a re-run keeps decisions and adds new findings"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", required=True, metavar="DIR", help="store directory written by `auditreports ingest`")
    p.add_argument("--period", metavar="P", help="reporting period: 2026-Q3, 2026-07 or 2026")
    p.add_argument("--from", dest="date_from", metavar="DATE", help="first day of the period (YYYY-MM-DD)")
    p.add_argument("--to", dest="date_to", metavar="DATE", help="last day of the period, inclusive")
    p.add_argument("--settings", dest="settings_file", metavar="FILE", help="settings YAML (its detection section)")
    p.add_argument(
        "--rules", action="append", default=[], metavar="DIR", help="an extra directory of organisation rules"
    )
    p.add_argument("--out", required=True, metavar="FILE", help="the review file to write or update (review.yml)")


def run(args: argparse.Namespace) -> int:
    from ..detect import detect
    from ..review import load_review, period_findings, write_review
    from ..settings import load_settings
    from ..store import open_store

    # Every argument is checked before any work or progress line (commands._options).
    period = period_from_args(args, required=True)
    settings = load_settings(args.settings_file)
    store_from_args(args.store)
    for directory in args.rules:
        if not Path(directory).is_dir():
            raise UsageError(f"--rules {directory!r} is not a directory")
    if Path(args.out).exists():
        load_review(args.out)  # a broken file fails before the detection run, not after
    with stage("detect"):
        events = open_store(args.store).events
        found = detect(events, settings=settings.detection, rules_dirs=args.rules)
    findings = period_findings(found.frame, period)
    update = write_review(args.out, findings, period_label=period.label)
    say(
        f"[auditreports] review: {update.listed} finding(s) listed in {update.path}: "
        f"{len(update.added)} added undecided, {update.kept} decision(s) kept"
    )
    print(update.path)
    return 0
