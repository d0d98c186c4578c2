"""``auditreports demo``: the whole product on the sample quarter, into ./out/.

samples (only when ``data_samples/`` is missing) → ingest into ``out/store`` → verify →
detect → the SOC 2, HIPAA and GDPR report notebooks, with a line per stage on stderr
and, on stdout, the list of what was written.

The three report notebooks are independent, so they run side by side (``--jobs``,
default: one per core, at most three); the longest (HIPAA) starts first. Each is a
full Papermill run, the same as ``auditreports report``, so the demo's notebooks and
PDFs are exactly what an analyst would get.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import AuditReportsError, NotebookExecutionError, UsageError
from ..notebook import DEFAULT_TIMEOUT
from ..parameters import declared_parameters
from ..period import parse_period
from ..progress import say, stage

HELP = "Run everything on data_samples/: ingest, verify, detect and the three reports into ./out/."

DEMO_PERIOD = "2026-Q3"


def demo_received(today: date | None = None) -> str:
    """The demo's subject access request arrives today (not before the quarter ends).

    A fixed date would make every demo run after its one-month deadline print the
    letter's apology for a late answer, which is not what a first look should show.
    """
    today = today or datetime.now(UTC).date()
    return max(today, parse_period(DEMO_PERIOD).end + timedelta(days=1)).isoformat()


def demo_kinds() -> tuple[str, ...]:
    """The shipped report kinds (the one registry), longest first so side-by-side runs finish soonest."""
    from ..report.registry import report_kinds

    longest_first = {"hipaa": 0, "soc2": 1}
    return tuple(
        sorted((k for k, v in report_kinds().items() if v.shipped), key=lambda k: (longest_first.get(k, 2), k))
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data", type=Path, default=Path("data_samples"), help="sample data directory (default: data_samples)"
    )
    p.add_argument("--out", type=Path, default=Path("out"), help="output directory (default: out)")
    p.add_argument(
        "--subject", help="GDPR subject for the demo (default: chosen from the findings, see docs/notebooks.md)"
    )
    p.add_argument("--only", choices=demo_kinds(), action="append", help="build only this report (repeatable)")
    p.add_argument(
        "--jobs",
        type=int,
        default=min(3, os.cpu_count() or 1),
        help="report notebooks run side by side (default: one per core, at most 3)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"wall-clock limit per report notebook, seconds (default {DEFAULT_TIMEOUT:.0f})",
    )
    p.add_argument("--json", action="store_true", help="print what was written as one JSON document on stdout")


def choose_demo_subject(events: pl.LazyFrame, findings: pl.DataFrame) -> str:
    """The customer with the richest history: named in the most findings, then with the most events.

    Deterministic (ties broken by id), and it picks a subject whose report has something to
    show — on the sample quarter, a customer whose conversation a snooping colleague opened.
    """
    evidence = (
        findings.select("finding_id", pl.col("event_ids").alias("event_id")).explode("event_id").drop_nulls().lazy()
    )
    per_subject = (
        events.filter(pl.col("subject_id").is_not_null())
        .group_by("subject_id")
        .agg(pl.len().alias("events"))
        .join(
            evidence.join(events.select("event_id", "subject_id"), on="event_id")
            .group_by("subject_id")
            .agg(pl.col("finding_id").n_unique().alias("findings")),
            on="subject_id",
            how="left",
        )
        .with_columns(pl.col("findings").fill_null(0))
        .sort(["findings", "events", "subject_id"], descending=[True, True, False])
        .head(1)
        .collect()
    )
    if per_subject.is_empty():
        raise UsageError("the sample store holds no customer events, so there is no GDPR subject; give --subject")
    return str(per_subject["subject_id"][0])


def _ingest(data: Path, store_dir: Path) -> None:
    from ..sources import load
    from ..store import write_store

    if store_dir.exists():
        shutil.rmtree(store_dir)
    result = load([str(data / "workspace"), str(data / "conversations")])
    report = write_store(store_dir, result)
    say(f"[auditreports] {result.summary()}")
    say(f"[auditreports] store {store_dir}: {report['added']:,} events")


def run(args: argparse.Namespace) -> int:
    from ..detect import detect
    from ..integrity import verify
    from ..notebook import NotebookRun, run_report_notebook
    from ..settings import load_settings
    from ..store import open_store

    if args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {args.jobs}")
    started = time.perf_counter()
    data: Path = args.data
    out: Path = args.out
    if not (data / "ground_truth.json").is_file():
        if data.is_dir() and any(data.iterdir()):
            raise UsageError(
                f"{data} is not empty but holds no sample data (no ground_truth.json); move it or give --data"
            )
        from ..samples import generate_samples

        with stage(f"samples: generating {data}"):
            generate_samples(data)
    out.mkdir(parents=True, exist_ok=True)
    store_dir = out / "store"
    written: list[tuple[str, Path]] = []

    with stage(f"ingest: {data}/workspace and {data}/conversations → {store_dir}"):
        _ingest(data, store_dir)
    written.append(("store", store_dir))
    store = open_store(store_dir)

    # The sample workspace's settings: staff time zones (off-hours rules, HIPAA after-hours),
    # organisation, customer directory and processing record.
    settings_file = data / "settings.yml" if (data / "settings.yml").is_file() else None
    say(f"[auditreports] settings: {settings_file or 'built-in defaults'} (the sample workspace's)")
    settings = load_settings(settings_file)

    with stage("verify: hash chain, sequence, coverage, continuity"):
        verification = verify(store.events, period=DEMO_PERIOD, settings=settings.integrity)
        (out / "verification.json").write_text(
            json.dumps(verification.to_dict(), indent=2, default=str) + "\n", encoding="utf-8"
        )
        say(f"[auditreports] integrity verdict: {verification.verdict} ({len(verification.breaks)} break(s))")
    written.append(("verification", out / "verification.json"))

    with stage("detect: built-in rules"):
        findings = detect(store.events, settings=settings.detection)
        (out / "findings.json").write_text(findings.to_json() + "\n", encoding="utf-8")
        say(f"[auditreports] {len(findings)} finding(s) over {findings.events_scanned:,} events")
    written.append(("findings", out / "findings.json"))

    kinds = [k for k in demo_kinds() if not args.only or k in args.only]
    subject = args.subject or choose_demo_subject(store.events, findings.frame)

    def one(kind: str) -> NotebookRun:
        params: dict[str, Any] = {
            "store": str(store_dir),
            "period": DEMO_PERIOD,
            "out_dir": str(out / kind),
            "settings_file": str(settings_file) if settings_file else None,
        }
        if "subject" in declared_parameters(kind):  # a subject access request (gdpr)
            received = demo_received()
            params |= {"subject": subject, "received": received}
            say(f"[auditreports] gdpr: subject {subject}, request received {received}")
        if "processing_record" in declared_parameters(kind) and settings_file is None:
            # Sample data from before settings.yml was generated: name its directory files directly.
            params |= {
                "processing_record": str(data / "processing_record.yml"),
                "customer_directory": str(data / "customers.csv"),
            }
        with stage(f"report {kind}"):
            return run_report_notebook(kind, params, timeout=args.timeout)

    runs: dict[str, NotebookRun] = {}
    failures: list[tuple[str, AuditReportsError]] = []
    jobs = min(args.jobs, len(kinds))
    with stage(f"reports: {', '.join(kinds)} ({jobs} side by side)"), ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {kind: pool.submit(one, kind) for kind in kinds}
        for kind, future in futures.items():
            try:
                runs[kind] = future.result()
            except AuditReportsError as exc:
                failures.append((kind, exc))
                say(f"[auditreports] report {kind} FAILED: {exc}")

    timings = {
        "total_seconds": round(time.perf_counter() - started, 1),
        "jobs": jobs,
        "reports": {k: round(r.seconds, 1) for k, r in runs.items()},
    }
    (out / "demo_timings.json").write_text(json.dumps(timings, indent=2) + "\n", encoding="utf-8")
    say(f"[auditreports] demo finished in {timings['total_seconds']:.0f} s")
    if args.json:
        from .report import run_record

        print(
            json.dumps(
                {
                    "ok": not failures,
                    "written": {label: str(path) for label, path in written},
                    "verdict": verification.verdict,
                    "findings": len(findings),
                    "gdpr_subject": subject if "gdpr" in kinds else None,
                    "reports": {kind: run_record(runs[kind]) for kind in kinds if kind in runs},
                    "failed": {kind: exc.message for kind, exc in failures},
                    "timings": timings,
                },
                indent=2,
            )
        )
    else:
        _print_written(written, kinds, runs)
    if failures:
        names = ", ".join(kind for kind, _ in failures)
        first = failures[0][1]
        raise NotebookExecutionError(
            f"{len(failures)} report(s) failed ({names}); the first: {first}", reports=[k for k, _ in failures]
        )
    return 0


def written_lines(written: list[tuple[str, Path]], kinds: list[str], runs: dict[str, Any]) -> list[str]:
    """The "written:" list: the store and stage outputs, then every file of each report a user should open."""
    from .report import files_to_open

    rows = list(written)
    for kind in kinds:
        if kind in runs:
            rows += [(f"{kind} {label}", path) for label, path in files_to_open(runs[kind])]
    width = max(len(label) for label, _ in rows) + 1
    return ["written:", *(f"  {label:{width}} {path}" for label, path in rows)]


def _print_written(written: list[tuple[str, Path]], kinds: list[str], runs: dict[str, Any]) -> None:
    print("\n".join(written_lines(written, kinds, runs)))
