"""``auditreports samples DIR``: regenerate the sample quarter deterministically."""

from __future__ import annotations

import argparse
import json
import sys

from ..progress import say, stage
from ..samples import DEFAULT_SEED, generate_samples
from ..samples.write import check_parameters

HELP = "regenerate the sample quarter (2026-Q3, both log formats, planted incidents) into DIR"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", metavar="DIR", help="directory to write into, e.g. data_samples")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="volume multiplier: 1.0 ≈ 150,000 events, 7 ≈ 1M (default 1.0)"
    )
    parser.add_argument("--json", action="store_true", help="print the summary (ground_truth.json) on stdout")


def run(args: argparse.Namespace) -> int:
    check_parameters(args.seed, args.scale)
    with stage(f"generating sample quarter into {args.dir} (seed {args.seed}, scale {args.scale})"):
        summary = generate_samples(args.dir, seed=args.seed, scale=args.scale)
    ws, cv = summary["workspace"], summary["conversations"]
    say(
        f"[auditreports] {ws['events']:,} workspace events in {len(ws['files'])} files, "
        f"{cv['events']:,} conversation events in {len(cv['files'])} files, "
        f"{len(summary['incidents'])} planted incidents, {len(summary['tampered'])} tampered copies"
    )
    if args.json:
        json.dump(summary, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    return 0
