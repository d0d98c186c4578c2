"""What a newcomer hits first on the command line: files that are not audit logs, `report`
without arguments, --final, the demo's list of files, and the wording of store and period
errors. Each asserts the exact behaviour: exit code, the one line, its words.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_sources_formats import records, render

from auditreports.cli import main
from auditreports.commands.demo import written_lines
from auditreports.store import open_store

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 4


def _err_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


# --------------------------------------------------------------------------- files that are not audit logs


def test_files_that_are_not_audit_logs_are_one_line_each_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "screenshot.png").write_bytes(PNG)
    (tmp_path / "README.md").write_text("# Export\n\nThe files of the Q3 export.\n", encoding="utf-8")
    (tmp_path / "customers.csv").write_text("name,email,plan\nAda,ada@x.example,pro\n", encoding="utf-8")
    files = [str(tmp_path / n) for n in ("screenshot.png", "README.md", "customers.csv")]
    store = tmp_path / "store"
    assert main(["ingest", *files, "--store", str(store)]) == 2
    todo = (
        "give audit-log exports (`auditreports formats` lists the formats read), "
        "or force one with --format NAME if it is one"
    )
    png_lines = sum(1 for line in PNG.split(b"\n") if line.strip())
    assert _err_lines(capsys) == [
        f"auditreports: error: {files[0]}: a PNG image, not an audit log in a format auditreports reads; {todo} "
        f"({png_lines} lines kept in the quarantine)",
        f"auditreports: error: {files[1]}: a text document (Markdown), not an audit log in a format auditreports "
        f"reads; {todo} (2 lines kept in the quarantine)",
        f"auditreports: error: {files[2]}: a table with the columns name, email, plan, not an audit log in a format "
        f"auditreports reads; {todo} (2 lines kept in the quarantine)",
    ]
    # nothing lost: every line is still quarantined with its file and line, and each ledger entry reconciles
    stored = open_store(store)
    for entry in stored.ledger["inputs"]:
        assert entry["lines_read"] == entry["loaded"] + entry["quarantined"] + entry["blank"]
        assert "not an audit log" in entry["error"]
    assert set(stored.quarantine.get_column("source_file").to_list()) == set(files)


def test_a_file_that_is_not_an_audit_log_beside_a_good_one_is_named_once_and_the_rest_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "screenshot.png").write_bytes(PNG)
    good = tmp_path / "conversation.ndjson"
    good.write_bytes(render("conversation", "ndjson", records("conversation")))
    assert main(["ingest", str(tmp_path / "screenshot.png"), str(good), "--store", str(tmp_path / "s")]) == 0
    err = _err_lines(capsys)
    png_lines = [line for line in err if "screenshot.png" in line]
    assert len(png_lines) == 2  # its own line, and once under "Unreadable" in the summary
    assert png_lines[0].startswith(f"{tmp_path / 'screenshot.png'}: a PNG image, not an audit log")
    assert "Quarantined: " not in err[-2]  # its lines are not listed one by one
    assert open_store(tmp_path / "s").events.collect().height == len(records("conversation"))


def test_an_archive_says_to_unpack_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "export.zip").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    assert main(["ingest", str(tmp_path / "export.zip"), "--store", str(tmp_path / "s")]) == 2
    (line,) = _err_lines(capsys)
    assert "a ZIP archive (or an Office document)" in line and "unpack it and give the audit-log files inside" in line


# --------------------------------------------------------------------------- report without arguments


def test_report_without_arguments_names_the_kinds_and_the_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report"]) == 2
    assert _err_lines(capsys) == [
        "auditreports: error: give a report kind: gdpr, hipaa, soc2 (usage: auditreports report KIND "
        "(--store DIR | SRC...) (--period 2026-Q3 | --from DATE --to DATE) --out DIR; "
        "see `auditreports report --help`)"
    ]


# --------------------------------------------------------------------------- --final before any kernel


def test_final_is_refused_before_any_notebook_runs(
    held_out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import auditreports.commands.report as report_command

    def no_kernel(*args: object, **kwargs: object) -> None:
        raise AssertionError("a notebook was started for a --final run that must be refused")

    monkeypatch.setattr(report_command, "run_report_notebook", no_kernel)
    out = tmp_path / "final"
    code = main(["report", "soc2", "--store", str(held_out), "--period", "2026-Q3", "--final", "--out", str(out)])
    assert code == 1
    (line,) = _err_lines(capsys)
    assert line.startswith("auditreports: error: --final refused: ")
    assert '(high) "Brute-force login attempts against one account"' in line  # id, severity and title
    assert line.endswith(
        f"write a review file with `auditreports review --store {held_out} --period 2026-Q3 --out review.yml`, "
        "decide each, and run again with --review review.yml"
    )
    assert not out.exists()


# --------------------------------------------------------------------------- the demo's list of files


def test_the_demo_lists_every_file_a_user_opens_including_the_release_record(tmp_path: Path) -> None:
    runs = {}
    for kind in ("soc2", "gdpr"):
        out = tmp_path / kind
        (out / "evidence").mkdir(parents=True)
        for name in ("report.pdf", "report.ipynb"):
            (out / name).write_bytes(b"x")
        if kind == "gdpr":
            (out / "release-record.pdf").write_bytes(b"x")
            (out / "release-record-evidence").mkdir()
        else:
            (out / "report.html").write_text("x")
        runs[kind] = SimpleNamespace(out_dir=out, pdf=out / "report.pdf", notebook=out / "report.ipynb", seconds=1.0)
    lines = written_lines([("store", tmp_path / "store")], ["soc2", "gdpr"], runs)
    listed = {line.split()[-1] for line in lines[1:]}
    assert str(tmp_path / "gdpr" / "release-record.pdf") in listed
    assert str(tmp_path / "gdpr" / "release-record-evidence") in listed
    assert str(tmp_path / "soc2" / "report.html") in listed
    # every file or folder written under a report folder is listed
    for kind in runs:
        assert {str(p) for p in (tmp_path / kind).iterdir()} <= listed


# --------------------------------------------------------------------------- one wording, option names as typed


COMMANDS_READING_A_STORE = [
    ["verify", "--store", "{store}"],
    ["detect", "--store", "{store}"],
    ["report", "soc2", "--store", "{store}", "--period", "2026-Q3", "--out", "{tmp}/o"],
    ["search", "--store", "{store}"],
    ["export", "--store", "{store}", "--out", "{tmp}/e"],
    ["batch", "soc2", "--store", "{store}", "--period", "2026-Q3", "--out", "{tmp}/b"],
    ["review", "--store", "{store}", "--period", "2026-Q3", "--out", "{tmp}/r.yml"],
]


@pytest.mark.parametrize("argv", COMMANDS_READING_A_STORE, ids=lambda a: a[0])
def test_a_missing_store_is_one_wording_in_every_command(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "q3"
    args = [a.format(store=missing, tmp=tmp_path) for a in argv]
    assert main(args) == 2
    assert _err_lines(capsys) == [
        f"auditreports: error: {missing}: no such store; create it with `auditreports ingest SRC --store {missing}`"
    ]
    not_a_store = tmp_path / "docs"
    not_a_store.mkdir()
    assert main([a.format(store=not_a_store, tmp=tmp_path) for a in argv]) == 2
    assert _err_lines(capsys) == [
        f"auditreports: error: {not_a_store}: not an auditreports store (no ledger.json); "
        "point --store at a directory made by `auditreports ingest`"
    ]


PERIOD_COMMANDS = [
    ["verify", "--store", "{store}"],
    ["detect", "--store", "{store}"],
    ["report", "soc2", "--store", "{store}", "--out", "{tmp}/o"],
    ["batch", "soc2", "--store", "{store}", "--out", "{tmp}/b"],
    ["review", "--store", "{store}", "--out", "{tmp}/r.yml"],
]
PERIOD_MISTAKES = [
    (["--period", "2026-13"], "--period '2026-13' has no month 13; use 2026-07 style"),
    (["--period", "Q3"], "--period 'Q3' is not a period; use 2026-Q3, 2026-07 or 2026 (or --from and --to dates)"),
    (
        ["--from", "2026-07-01"],
        "--from needs --to as well (the first and last day of the period), or give --period instead",
    ),
    (["--from", "July", "--to", "2026-09-30"], "--from 'July' is not a date; give it as YYYY-MM-DD"),
    (["--period", "2026-Q3", "--to", "2026-09-30"], "give either --period or --from and --to, not both"),
    (
        ["--from", "2026-09-30", "--to", "2026-07-01"],
        "the period ends (--to 2026-07-01) before it starts (--from 2026-09-30); swap them",
    ),
]


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("small_store")
    src = root / "conversation.ndjson"
    src.write_bytes(render("conversation", "ndjson", records("conversation")))
    assert main(["ingest", str(src), "--store", str(root / "store")]) == 0
    return root / "store"


@pytest.mark.parametrize("argv", PERIOD_COMMANDS, ids=lambda a: a[0])
@pytest.mark.parametrize(
    ("period", "message"), PERIOD_MISTAKES, ids=lambda p: " ".join(p) if isinstance(p, list) else ""
)
def test_a_period_mistake_is_the_only_line_in_every_command_with_the_option_names(
    argv: list[str],
    period: list[str],
    message: str,
    small_store: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    args = [a.format(store=small_store, tmp=tmp_path) for a in argv] + period
    assert main(args) == 2
    # checked before any work: no "settings", "loading" or "detect" progress line before it
    assert _err_lines(capsys) == [f"auditreports: error: {message}"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["search", "--from", "last tuesday"], "--from 'last tuesday' is not a date or time"),
        (["search", "--to", "soon"], "--to 'soon' is not a date or time"),
        (["export", "--from", "X", "--out", "{tmp}/e"], "--from 'X' is not a date or time"),
        (["search", "--from", "2026-08-01", "--to", "2026-07-01"], "--to 2026-07-01 is before --from 2026-08-01"),
    ],
)
def test_search_and_export_errors_use_the_option_names_as_typed(
    argv: list[str], message: str, small_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    args = [argv[0], "--store", str(small_store), *(a.format(tmp=tmp_path) for a in argv[1:])]
    assert main(args) == 2
    (line,) = _err_lines(capsys)
    assert line.startswith(f"auditreports: error: {message}")
    assert "since" not in line and "until" not in line


def test_ingest_checks_its_options_before_reading_settings_or_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = tmp_path / "auditreports.yml"
    settings.write_text("{}\n", encoding="utf-8")
    src = tmp_path / "c.ndjson"
    src.write_bytes(render("conversation", "ndjson", records("conversation")))
    code = main(["ingest", str(src), "--store", str(tmp_path / "s"), "--settings", str(settings), "--batch-mb", "0"])
    assert code == 2
    assert _err_lines(capsys) == ["auditreports: error: --batch-mb must be a positive number of megabytes, not 0"]
    assert not (tmp_path / "s").exists()


def test_json_output_of_an_unloadable_ingest_is_one_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "screenshot.png").write_bytes(PNG)
    assert main(["ingest", str(tmp_path / "screenshot.png"), "--store", str(tmp_path / "s"), "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["totals"]["events"] == 0 and "a PNG image" in doc["files"][0]["error"]
