"""Benchmark: 10,000 evidence rows in the PDF appendix, ours vs a plain WeasyPrint table.

Each variant runs in its own process so peak RSS is measured per variant.

    .venv/bin/python benchmarks/report_appendix.py [--rows 10000] [--skip-plain]

Target (issue #6): 10,000 rows in <= 15 s and <= 600 MB. The plain table (one box per
cell, automatic layout) takes about a minute and 1.5 GB here.
"""

from __future__ import annotations

import argparse
import html
import json
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta


def events(n: int):
    import polars as pl

    from auditreports.schema import conform

    t0 = datetime(2026, 7, 1, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "event_id": [f"evt_{i:010d}" for i in range(n)],
            "timestamp": [t0 + timedelta(seconds=37 * i) for i in range(n)],
            "event_type": ["data.conversation.view" if i % 3 else "auth.login.failure" for i in range(n)],
            "category": ["data_access" if i % 3 else "auth" for i in range(n)],
            "outcome": ["success"] * n,
            "actor_type": ["user"] * n,
            "actor_name": [f"Agent {i % 40}" for i in range(n)],
            "actor_role": ["agent"] * n,
            "ip": [f"198.51.100.{i % 250}" for i in range(n)],
            "conversation_id": [f"conv_{i % 900}" for i in range(n)],
            "reason": [f"looked at ticket #{i} <b>escalation</b>" for i in range(n)],
            "source": ["bench"] * n,
            "raw": ["{}"] * n,
        }
    )
    return conform(frame).collect()


def run_ours(n: int) -> None:
    from auditreports.report.model import build_appendix
    from auditreports.report.render import write_pdf_bytes
    from auditreports.report.settings import ReportSettings

    ev = events(n)
    start = time.perf_counter()
    appendix = build_appendix(ev, ReportSettings(appendix_cap=n))
    pages = "".join(
        f'<pre class="evidence-page"><b>{html.escape(appendix.header)}</b>\n{html.escape(p)}</pre>'
        for p in appendix.pages
    )
    from auditreports.report.render import PACKAGE_TEMPLATES

    css = (PACKAGE_TEMPLATES / "report.css").read_text()
    pdf = write_pdf_bytes(f'<section class="appendix">{pages}</section>', css)
    report(n, "ours: one text block per page", time.perf_counter() - start, len(pdf))


def run_plain(n: int) -> None:
    from auditreports.report.render import write_pdf_bytes

    ev = events(n)
    start = time.perf_counter()
    cols = ["timestamp", "event_id", "event_type", "outcome", "actor_name", "ip", "conversation_id", "reason"]
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in ev.select(cols).rows()
    )
    body = f"<table><thead><tr>{''.join(f'<th>{c}</th>' for c in cols)}</tr></thead><tbody>{rows}</tbody></table>"
    pdf = write_pdf_bytes(body, "@page { size: A4 landscape } body { font-size: 7pt }")
    report(n, "plain: table, one box per cell", time.perf_counter() - start, len(pdf))


def report(n: int, name: str, seconds: float, size: int) -> None:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "variant": name,
                "rows": n,
                "seconds": round(seconds, 1),
                "peak_rss_mb": round(rss),
                "pdf_kb": size // 1024,
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--skip-plain", action="store_true", help="skip the slow plain-table baseline")
    parser.add_argument("--variant", choices=("ours", "plain"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        (run_ours if args.variant == "ours" else run_plain)(args.rows)
        return 0
    results = []
    for variant in ("ours", *(() if args.skip_plain else ("plain",))):
        out = subprocess.run(
            [sys.executable, __file__, "--variant", variant, "--rows", str(args.rows)],
            capture_output=True,
            text=True,
            check=True,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'variant':34} {'rows':>7} {'seconds':>8} {'peak RSS MB':>12} {'PDF KB':>8}")
    for r in results:
        print(f"{r['variant']:34} {r['rows']:>7} {r['seconds']:>8} {r['peak_rss_mb']:>12} {r['pdf_kb']:>8}")
    print("target: 10,000 rows in <= 15 s and <= 600 MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
