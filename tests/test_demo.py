"""`auditreports demo`: stages on stderr, what was written on stdout, a deterministic GDPR subject."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from auditreports.commands.demo import choose_demo_subject

REPO = Path(__file__).resolve().parent.parent


def _events(rows: list[tuple[str, str | None]]) -> pl.LazyFrame:
    return pl.LazyFrame({"event_id": [r[0] for r in rows], "subject_id": [r[1] for r in rows]})


def _findings(groups: dict[str, list[str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {"finding_id": list(groups), "event_ids": list(groups.values())},
        schema={"finding_id": pl.String, "event_ids": pl.List(pl.String)},
    )


def test_demo_subject_is_the_one_in_most_findings_then_busiest():
    events = _events(
        [
            ("e1", "cus_b"),
            ("e2", "cus_b"),
            ("e3", "cus_c"),
            ("e4", "cus_a"),
            ("e5", "cus_a"),
            ("e6", "cus_a"),
            ("e7", None),
        ]
    )
    # cus_a has the most events, but cus_b and cus_c appear in two findings each; cus_b has more events.
    findings = _findings({"f1": ["e1", "e3", "e7"], "f2": ["e2", "e3"], "f3": ["e1"]})
    assert choose_demo_subject(events, findings) == "cus_b"
    # No findings at all: the busiest subject; a tie goes to the smaller id.
    assert choose_demo_subject(events, _findings({})) == "cus_a"
    assert choose_demo_subject(_events([("e1", "cus_z"), ("e2", "cus_y")]), _findings({})) == "cus_y"


def test_demo_refuses_a_directory_that_is_not_sample_data(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.txt").write_text("mine")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "auditreports",
            "demo",
            "--data",
            str(tmp_path / "data"),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "ground_truth.json" in proc.stderr


@pytest.mark.slow
def test_demo_runs_every_stage_and_lists_what_it_wrote(tmp_path, data_samples):
    # One file of each log keeps this fast; the full quarter runs in test_notebooks and `make demo`.
    data = tmp_path / "data"
    for sub in ("workspace", "conversations"):
        (data / sub).mkdir(parents=True)
        first = sorted((data_samples / sub).iterdir())[0]
        shutil.copy(first, data / sub / first.name)
    for name in ("ground_truth.json", "customers.csv", "processing_record.yml"):
        shutil.copy(data_samples / name, data / name)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "auditreports", "demo", "--data", str(data), "--out", str(out), "--only", "gdpr"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for stage in ("ingest", "verify", "detect", "report gdpr"):
        assert any(
            line.startswith(f"[auditreports] {stage}") and "done in" in line for line in proc.stderr.splitlines()
        ), stage
    listed = [line.split()[-1] for line in proc.stdout.splitlines()[1:] if not line.rstrip().endswith(" s)")]
    listed += [line.split()[-3] for line in proc.stdout.splitlines() if line.rstrip().endswith(" s)")]
    assert {Path(p).name for p in listed} >= {
        "store",
        "verification.json",
        "findings.json",
        "report.pdf",
        "report.ipynb",
    }
    assert all((tmp_path / p).exists() or Path(p).exists() for p in listed)
    assert (out / "gdpr" / "report.pdf").read_bytes()[:5] == b"%PDF-"
    assert not (out / "soc2").exists() and not (out / "hipaa").exists()
    timings = json.loads((out / "demo_timings.json").read_text())
    assert set(timings["reports"]) == {"gdpr"}
    # The demo's request arrives on the day it runs, so its letter is never an apology for lateness.
    from pdfminer.high_level import extract_text

    letter = " ".join(extract_text(str(out / "gdpr" / "report.pdf")).split())
    assert "Our answer to your request of" in letter and "reaches you late" not in letter
