"""Command-line mistakes are one line on stderr and exit 2, with what to do instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditreports.cli import main


def test_a_missing_required_option_is_one_line_not_a_usage_block(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "soc2", "--store", "q3", "--period", "2026-Q3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "auditreports: error: give --out DIR, the folder the report is written to (usage: auditreports report KIND "
        "(--store DIR | SRC...) (--period 2026-Q3 | --from DATE --to DATE) --out DIR)"
    ]
    assert main(["verify", "--no-such-option"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_a_store_given_as_src_says_to_use_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "q3"
    (store / "events").mkdir(parents=True)
    (store / "ledger.json").write_text("{}", encoding="utf-8")
    for command in (["verify", str(store)], ["detect", str(store)], ["ingest", str(store), "--store", "x"]):
        assert main(command) == 2, command
        errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
        assert len(errors) == 1 and f"pass it as --store {store}" in errors[0], errors
        assert errors[0].startswith("auditreports: error: ")
