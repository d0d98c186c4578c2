"""Papermill's own cost per report: kernel start and execution of an empty notebook.

Measures (1) `papermill.execute_notebook` in-process on a one-cell notebook, first and
warm runs, and (2) our runner (`auditreports.notebook.run_report_notebook`), which adds
a child process so a wall-clock timeout can stop the kernel. The numbers are the floor
under every `auditreports report` run; docs/performance.md records them.

With a store (``python benchmarks/papermill_overhead.py --store out/store``, or
``out/store`` when it exists, e.g. after ``make demo``) it also times one real report,
the GDPR one, both ways: ``pipeline.gdpr_subject_access`` called in-process and the
notebook run through the runner; the difference is what Papermill costs a real report.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import papermill


def _trivial_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("store = None\nperiod = None\nout_dir = 'out'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_code_cell(
            "from pathlib import Path\nPath(out_dir).mkdir(parents=True, exist_ok=True)\n"
            "Path(out_dir, 'report.pdf').write_bytes(b'%PDF-1.7')"
        ),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def main(argv: list[str]) -> None:
    from auditreports.notebook import run_report_notebook

    runs = 3
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        nb = _trivial_notebook(tmpdir / "trivial.ipynb")
        inproc = []
        for i in range(runs):
            start = time.perf_counter()
            papermill.execute_notebook(
                str(nb),
                str(tmpdir / f"out{i}.ipynb"),
                parameters={"out_dir": str(tmpdir / f"o{i}")},
                progress_bar=False,
                kernel_name="python3",
            )
            inproc.append(time.perf_counter() - start)
        runner = []
        for i in range(runs):
            start = time.perf_counter()
            run_report_notebook(
                "soc2", {"store": tmp, "period": "2026-Q3", "out_dir": str(tmpdir / f"r{i}")}, notebook=nb
            )
            runner.append(time.perf_counter() - start)
    print(f"{'what':52} {'first s':>8} {'median s':>9}")
    print(f"{'papermill.execute_notebook, in-process':52} {inproc[0]:8.2f} {statistics.median(inproc[1:]):9.2f}")
    print(
        f"{'auditreports runner (child process + papermill)':52} {runner[0]:8.2f} {statistics.median(runner[1:]):9.2f}"
    )
    store = Path(argv[argv.index("--store") + 1]) if "--store" in argv else Path("out/store")
    if (store / "ledger.json").is_file():
        _real_report(store)


def _real_report(store: Path) -> None:
    """One GDPR report on ``store``: the pipeline function in-process vs the notebook through the runner."""
    from auditreports.commands.demo import choose_demo_subject
    from auditreports.detect import detect
    from auditreports.notebook import run_report_notebook
    from auditreports.pipeline import gdpr_subject_access
    from auditreports.store import open_store

    events = open_store(store).events
    subject = choose_demo_subject(events, detect(events).frame)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        gdpr_subject_access(
            str(store), period="2026-Q3", out_dir=Path(tmp, "direct"), subject=subject, received="2026-10-05"
        )
        direct = time.perf_counter() - start
        start = time.perf_counter()
        run_report_notebook(
            "gdpr",
            {
                "store": str(store),
                "period": "2026-Q3",
                "out_dir": str(Path(tmp, "nb")),
                "subject": subject,
                "received": "2026-10-05",
            },
        )
        notebook = time.perf_counter() - start
    print(f"\nGDPR report for {subject} on {store}")
    print(f"{'what':52} {'seconds':>8}")
    print(f"{'pipeline.gdpr_subject_access, in-process':52} {direct:8.2f}")
    print(f"{'notebook through auditreports runner':52} {notebook:8.2f}")
    print(f"{'Papermill overhead (difference)':52} {notebook - direct:8.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
