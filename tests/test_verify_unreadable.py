"""An input the loader could not read (in part or at all) is never part of a clean VERIFIED."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from auditreports.cli import main
from auditreports.integrity.verify import verify, with_unreadable_lines

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests" / "fixtures" / "ingest" / "workspace_events.json"
FIRST_FILE = sorted((REPO / "data_samples" / "workspace").iterdir())[0]  # the chain starts here: VERIFIED alone


def test_a_file_that_is_no_audit_log_makes_the_verdict_partial_and_is_named(tmp_path, capsys):
    junk = tmp_path / "notes.txt"
    junk.write_text("this is not an audit log\nnor is this\n", encoding="utf-8")
    assert main(["verify", str(FIRST_FILE), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == "VERIFIED"
    code = main(["verify", str(junk), str(FIRST_FILE), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 3 and doc["verdict"] == "PARTIAL"
    load = [u for u in doc["unverified"] if u["check"] == "load"]
    assert len(load) == 1 and load[0]["source"] == str(junk) and load[0]["events"] == 2
    assert "notes.txt" in load[0]["reason"] and "not in the log verified" in load[0]["reason"]


def test_nothing_readable_is_one_line_naming_the_file(tmp_path, capsys):
    junk = tmp_path / "README.md"
    junk.write_text("# hello\nworld\n", encoding="utf-8")
    assert main(["verify", str(junk)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and "README.md" in err[-1] and "--format" in err[-1]
    assert not any("Traceback" in line for line in err)


def test_no_quarantine_leaves_the_verdict_alone(tmp_path):
    from auditreports.sources import load

    loaded = load(str(FIXTURE))
    result = verify(loaded.events)
    assert with_unreadable_lines(result, loaded.quarantine) == result
    empty = pl.DataFrame(schema={"source_file": pl.String, "reason": pl.String})
    assert with_unreadable_lines(result, empty).verdict == result.verdict
