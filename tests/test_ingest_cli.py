"""`auditreports ingest`: per-file lines and a summary on stderr, exit codes a script can rely on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_sources_formats import records, render

from auditreports.cli import main
from auditreports.store import open_store


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    folder.mkdir()
    _write(folder / "workspace.ndjson", render("workspace", "ndjson", records("workspace")) + b"{cut off\n")
    _write(folder / "conversations.csv", render("conversation", "csv", records("conversation")))
    return folder


def test_ingest_prints_each_file_and_a_summary(
    exports: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["ingest", str(exports), "--store", str(tmp_path / "store")])
    out, err = capsys.readouterr()
    assert code == 0 and out == ""
    assert (
        f"{exports / 'workspace.ndjson'}: workspace ndjson, 7 lines: 6 loaded (6 events), 1 quarantined, 0 blank" in err
    )
    assert (
        f"{exports / 'conversations.csv'}: conversation csv, 8 lines: 7 loaded (6 events), 0 quarantined, 1 blank"
        in err
    )
    assert "Read 2 files (15 lines): 13 lines loaded as 12 events, 1 lines quarantined" in err
    assert f"{exports / 'workspace.ndjson'}:7 (the record is not valid JSON" in err
    assert "12 new events added" in err
    assert open_store(tmp_path / "store").events.collect().height == 12


def test_a_second_ingest_of_the_same_files_adds_nothing(
    exports: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", str(exports), "--store", str(tmp_path / "store")]) == 0
    capsys.readouterr()
    assert main(["ingest", str(exports), "--store", str(tmp_path / "store"), "--json"]) == 0
    out, _ = capsys.readouterr()
    doc = json.loads(out)
    assert doc["totals"]["added"] == 0
    assert sorted(doc["skipped_inputs"]) == sorted(str(p) for p in exports.iterdir())


def test_json_prints_one_document_and_strict_fails_on_quarantine(
    exports: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["ingest", str(exports / "workspace.ndjson"), "--store", str(tmp_path / "s"), "--json", "--strict"])
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert code == 1 and "--strict: 1 line(s) were quarantined" in err
    assert doc["totals"] == {
        "files": 1,
        "lines_read": 7,
        "loaded": 6,
        "events": 6,
        "quarantined": 1,
        "batches": 1,
        "blank": 0,
        "duplicates": 0,
        "conflicts": 0,
        "added": 6,
        "already_in_store": 0,
        "store_conflicts": 0,
    }
    assert doc["quarantined"] == [
        {"file": str(exports / "workspace.ndjson"), "line": 7, "reason": doc["quarantined"][0]["reason"]}
    ]
    assert doc["files"][0]["sha256"] and doc["files"][0]["lines_read"] == 7


def test_nothing_usable_is_a_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = _write(tmp_path / "junk.ndjson", b"{nope\n{also nope\n")
    code = main(["ingest", str(junk), "--store", str(tmp_path / "s"), "--format", "conversation"])
    _, err = capsys.readouterr()
    assert code == 1 and "no usable event was loaded" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/definitely/missing.ndjson"], "auditreports: error: /definitely/missing.ndjson: no such file or directory"),
        (["{exports}", "--format", "nope"], "auditreports: error: unknown format 'nope'; use one of:"),
    ],
)
def test_caller_mistakes_are_one_sentence_and_exit_2(
    exports: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    argv = ["ingest", *(a.replace("{exports}", str(exports)) for a in args), "--store", str(tmp_path / "s")]
    code = main(argv)
    _, err = capsys.readouterr()
    assert code == 2
    assert err.startswith(message) and "Traceback" not in err and err.count("\n") == 1
