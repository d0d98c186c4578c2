"""``auditreports demo``: the whole product on the sample quarter, into ./out/.

samples → ingest → verify → detect → SOC 2, HIPAA and GDPR reports, with a line per
stage on stderr. Uses the committed ``data_samples/`` (generated again only when it
is missing).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import time
from pathlib import Path

from ..errors import UsageError
from ..progress import say, stage

HELP = "Run everything on data_samples/: ingest, verify, detect and the three reports into ./out/."

DEMO_PERIOD = "2026-Q3"
DEMO_RECEIVED = "2026-10-05"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=Path("data_samples"), help="sample data directory (default: data_samples)")
    p.add_argument("--out", type=Path, default=Path("out"), help="output directory (default: out)")
    p.add_argument("--subject", help="GDPR subject for the demo (default: the one named in ground_truth.json)")
    p.add_argument("--only", choices=("soc2", "hipaa", "gdpr"), action="append", help="build only these reports")


def _demo_subject(data: Path) -> str:
    truth = json.loads((data / "ground_truth.json").read_text(encoding="utf-8"))
    subject = truth.get("demo_subject") or truth.get("gdpr_subject")
    if subject:
        return str(subject)
    with (data / "customers.csv").open(newline="", encoding="utf-8") as fh:
        return next(csv.DictReader(fh))["customer_id"]


def run(args: argparse.Namespace) -> int:
    from ..integrity import verify
    from ..notebook import run_report_notebook
    from ..sources import load  # noqa: F401  (fails early with a clear import error if broken)
    from ..store import open_store, write_store

    started = time.perf_counter()
    data: Path = args.data
    out: Path = args.out
    if not (data / "ground_truth.json").is_file():
        if data != Path("data_samples"):
            raise UsageError(f"{data} holds no sample data (no ground_truth.json); generate it with `auditreports samples {data}`")
        from ..samples import generate_samples

        with stage(f"samples: generating {data}"):
            generate_samples(data)
    out.mkdir(parents=True, exist_ok=True)
    store_dir = out / "store"
    if store_dir.exists():
        shutil.rmtree(store_dir)

    with stage("ingest: workspace and conversation logs → out/store"):
        from ..sources import load as load_sources

        result = load_sources([str(data / "workspace"), str(data / "conversations")])
        write_store(store_dir, result)
        say(result.summary())
    store = open_store(store_dir)

    with stage("verify: hash chain, sequence, coverage, continuity"):
        verification = verify(store.events, period=DEMO_PERIOD)
        (out / "verification.json").write_text(json.dumps(verification.to_dict(), indent=2, default=str), encoding="utf-8")
        say(f"[auditreports] integrity verdict: {verification.verdict} ({len(verification.breaks)} break(s))")

    with stage("detect: built-in rules"):
        from ..detect import detect

        findings = detect(store.events)
        (out / "findings.json").write_text(findings.to_json(), encoding="utf-8")
        say(f"[auditreports] {findings.summary_line() if hasattr(findings, 'summary_line') else len(findings.frame)} finding(s)")

    kinds = args.only or ["soc2", "hipaa", "gdpr"]
    subject = args.subject or _demo_subject(data)
    for kind in kinds:
        params: dict[str, object] = {"store": str(store_dir), "period": DEMO_PERIOD, "out_dir": str(out / kind)}
        if kind == "gdpr":
            params |= {
                "subject": subject,
                "received": DEMO_RECEIVED,
                "processing_record": str(data / "processing_record.yml"),
                "customer_directory": str(data / "customers.csv"),
            }
        with stage(f"report {kind}"):
            run_report_notebook(kind, params)
    say(f"[auditreports] demo finished in {time.perf_counter() - started:.0f} s")
    for kind in kinds:
        print(f"{kind:6} {out / kind / 'report.pdf'}  (notebook: {out / kind / 'report.ipynb'})")
    return 0
