"""``auditreports detect``: run the detection rules over a source or a store and list the findings."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

import polars as pl

from ..errors import ConfigError, RuleError, UsageError
from ..progress import say, stage
from ._options import period_from_args, store_from_args

HELP = "run detection rules over audit events and list the findings (one burst, one finding)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", nargs="*", metavar="SRC", help="audit-log files, directories or globs")
    parser.add_argument("--store", metavar="DIR", help="read events from this Parquet store instead of SRC")
    parser.add_argument("--format", metavar="NAME", help="force the source format instead of detecting it")
    parser.add_argument("--json", action="store_true", help="print one JSON document with the findings")
    parser.add_argument(
        "--rules", action="append", default=[], metavar="DIR", help="an extra directory of rule files (repeatable)"
    )
    parser.add_argument("--rule", action="append", default=[], metavar="NAME", help="run only this rule (repeatable)")
    parser.add_argument(
        "--settings",
        "--config",
        dest="config",
        metavar="FILE",
        help="settings YAML (default: $AUDITREPORTS_SETTINGS, else ./auditreports.yml); "
        "its 'organisation:' and 'detection:' sections tune the rules",
    )
    parser.add_argument(
        "--framework",
        metavar="NAME|FILE",
        help="run only the rules this framework cites (soc2, hipaa, gdpr or a framework file) and show its requirements",
    )
    parser.add_argument(
        "--period", metavar="PERIOD", help="only findings overlapping this period: 2026-Q3, 2026-08 or 2026 (UTC)"
    )
    parser.add_argument("--from", dest="date_from", metavar="DATE", help="first day of the period (YYYY-MM-DD)")
    parser.add_argument("--to", dest="date_to", metavar="DATE", help="last day of the period, inclusive")
    parser.add_argument(
        "--sensitivity",
        metavar="RULE",
        help="instead of findings, show how many findings RULE gives at each of --values of its threshold",
    )
    parser.add_argument(
        "--values",
        default="3,5,10,20",
        metavar="LIST",
        help="comma-separated values for --sensitivity (default 3,5,10,20)",
    )


def _events(args: argparse.Namespace) -> pl.LazyFrame:
    if args.store and args.src:
        raise UsageError("give either SRC or --store, not both.")
    if args.store:
        from ..store import open_store

        return open_store(args.store).events
    if not args.src:
        raise UsageError("give the audit-log files to scan (SRC) or --store DIR.")
    from ..sources import load

    result = load(args.src, format=args.format)
    say(f"[auditreports] {result.summary()}")
    return result.events


def _period(args: argparse.Namespace) -> Any:
    return period_from_args(args, required=False)


def _sensitivity_values(text: str) -> list[Any]:
    values: list[Any] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            values.append(int(part))
        except ValueError:
            try:
                values.append(float(part))
            except ValueError:
                values.append(part)
    if not values:
        raise UsageError("--values needs at least one value, e.g. --values 3,5,10,20.")
    return values


def run(args: argparse.Namespace) -> int:
    from ..detect import detect, load_framework, sensitivity
    from ..settings import resolve_settings

    # Every argument is checked before any work or progress line (commands._options).
    period = _period(args)
    if args.store and args.src:
        raise UsageError("give either SRC or --store, not both.")
    if not args.store and not args.src:
        raise UsageError("give the audit-log files to scan (SRC) or --store DIR.")
    from ..settings import discover_settings, load_settings

    load_settings(discover_settings(args.config).path)  # a bad settings file first, silently
    store_from_args(args.store)
    try:
        settings = resolve_settings(args.config).detection
        framework = load_framework(args.framework, rules_dirs=args.rules) if args.framework else None
        rules: list[str] | None = list(args.rule) or None
        if framework is not None:
            cited = list(framework.rule_names())
            rules = [r for r in rules if r in cited] if rules else cited
        with stage("loading events"):
            events = _events(args)
        if args.sensitivity:
            with stage(f"sensitivity of {args.sensitivity}"):
                table = sensitivity(
                    events, args.sensitivity, _sensitivity_values(args.values), settings=settings, rules_dirs=args.rules
                )
            if args.json:
                print(json.dumps({"rule": args.sensitivity, "sensitivity": table.to_dicts()}))
            else:
                _print_table(table)
            return 0
        with stage("detecting"):
            # The rules see the whole log (baselines need the history before the period);
            # the period chooses which findings are reported, as the reports do.
            findings = detect(events, rules=rules, settings=settings, rules_dirs=args.rules)
        from ..detect.rules import reviewer_note_warnings

        for warning in reviewer_note_warnings(findings.rules):
            say(f"[auditreports] warning: {warning}")
        if period is not None:
            findings = dataclasses.replace(
                findings,
                frame=findings.frame.filter(
                    (pl.col("window_end") >= pl.lit(period.start_utc))
                    & (pl.col("window_start").fill_null(pl.col("window_end")) < pl.lit(period.end_utc_exclusive))
                ),
            )
    except RuleError as exc:
        print("auditreports: error: the rule files have problems:", file=sys.stderr)
        for file, line, message in exc.errors:
            where = f"{file}:{line}" if line is not None else file
            print(f"  {where}: {message}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        errors = getattr(exc, "errors", None)
        if not errors:
            raise
        print(f"auditreports: error: {exc.message}", file=sys.stderr)  # a framework file with several problems
        for file, line, message in errors:
            print(f"  {file}:{line}: {message}", file=sys.stderr)
        return 2
    if args.json:
        document = json.loads(findings.to_json(indent=None))
        if period is not None:
            document["period"] = {"label": period.label, "start": str(period.start), "end": str(period.end)}
        if framework is not None:
            document["framework"] = framework.name
            for item in document["findings"]:
                item["requirements"] = list(framework.requirements_for_rule(item["rule_name"]))
        print(json.dumps(document, ensure_ascii=False))
        return 0
    table = findings.frame.select(
        pl.col("severity").cast(pl.String),
        pl.col("rule_name").alias("rule"),
        pl.col("group").str.replace_all(r'[{}"]', "").str.replace_all(",", ", ").str.replace_all(":", "="),
        pl.concat_str(
            [pl.col("window_start").dt.strftime("%Y-%m-%d %H:%M"), pl.col("window_end").dt.strftime("%H:%M")],
            separator=" – ",
        ).alias("window (UTC)"),
        pl.col("count"),
        pl.col("summary"),
    )
    if framework is not None:
        cites = {r.name: ", ".join(framework.requirements_for_rule(r.name)) for r in findings.rules}
        table = table.with_columns(
            pl.col("rule").replace_strict(cites, default="", return_dtype=pl.String).alias(framework.name)
        )
    _print_table(table)
    by_rule = findings.by_rule().filter(pl.col("findings") > 0)
    counts = ", ".join(f"{r['rule_name']} {r['findings']}" for r in by_rule.iter_rows(named=True))
    say(
        f"{len(findings)} finding(s) from {len(findings.rules)} rule(s) over {findings.events_scanned} event(s)"
        + (f" in {period.label}" if period is not None else "")
        + (f": {counts}" if counts else "")
    )
    return 0


def _print_table(table: pl.DataFrame) -> None:
    with pl.Config(
        tbl_rows=-1,
        tbl_cols=-1,
        tbl_width_chars=220,
        fmt_str_lengths=90,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        tbl_formatting="ASCII_MARKDOWN",
    ):
        print(table)
