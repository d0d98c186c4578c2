"""``auditreports detect``: a readable table, exactly one JSON document with --json, rule errors with file:line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditreports.cli import main


def workspace_log(path: Path, failures: int) -> Path:
    """A workspace audit log (docs/formats.md, format 1) with a burst of failed logins."""
    lines = []
    for i in range(failures):
        lines.append(
            {
                "id": f"evt_{i:03d}",
                "sequence": i + 1,
                "occurred_at": f"2026-07-21T02:{10 + i // 2:02d}:{(i % 2) * 30:02d}.000Z",
                "category": "authentication",
                "action": "auth.login_failed",
                "actor": {
                    "type": "user",
                    "id": "usr_104",
                    "email": "dana@acme.example",
                    "name": "Dana Lee",
                    "role": "admin",
                },
                "resource": {"type": "workspace", "id": "ws_1"},
                "outcome": "failure",
                "ip_address": "192.0.2.201",
                "user_agent": "curl/8",
                "details": {
                    "reason": "bad_password",
                    "before": None,
                    "after": None,
                    "record_count": None,
                    "subject_ids": [],
                },
                "prev_hash": "0" * 64,
                "hash": "0" * 64,
            }
        )
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def test_json_is_one_document_with_the_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = workspace_log(tmp_path / "ws.ndjson", 10)
    assert main(["detect", str(src), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    (finding,) = document["findings"]
    assert finding["rule_name"] == "brute_force_login"
    assert finding["event_ids"] == [f"evt_{i:03d}" for i in range(10)]


def test_table_shows_severity_rule_group_window_count_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = workspace_log(tmp_path / "ws.ndjson", 10)
    assert main(["detect", str(src)]) == 0
    out, err = capsys.readouterr()
    header = out.splitlines()[0]
    for column in ("severity", "rule", "group", "window (UTC)", "count", "summary"):
        assert column in header
    assert "actor_id=usr_104" in out and "10 failed logins for usr_104" in out
    assert "1 finding(s) from 17 rule(s) over 10 event(s)" in err


def test_config_file_tunes_the_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = workspace_log(tmp_path / "ws.ndjson", 10)
    config = tmp_path / "settings.yml"
    config.write_text(
        "detection:\n  rules:\n    brute_force_login: {threshold: 11}\nreport:\n  organisation: Acme\n",
        encoding="utf-8",
    )
    assert main(["detect", str(src), "--json", "--config", str(config)]) == 0
    assert json.loads(capsys.readouterr().out)["findings"] == []


def test_framework_restricts_rules_and_names_requirements(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = workspace_log(tmp_path / "ws.ndjson", 10)
    assert main(["detect", str(src), "--json", "--framework", "hipaa"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["framework"] == "hipaa"
    # Brute force is activity review and log-in monitoring (164.308(a)(5)(ii)(C), issue 20).
    assert document["findings"][0]["requirements"] == ["164.308(a)(1)(ii)(D)", "164.308(a)(5)(ii)(C)"]
    assert "api_key_new_ip" not in {r["name"] for r in document["rules"]}


def test_sensitivity_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = workspace_log(tmp_path / "ws.ndjson", 10)
    assert main(["detect", str(src), "--json", "--sensitivity", "brute_force_login", "--values", "5,10,20"]) == 0
    rows = json.loads(capsys.readouterr().out)["sensitivity"]
    assert [(r["value"], r["findings"]) for r in rows] == [("5", 1), ("10", 1), ("20", 0)]


def test_rule_errors_are_listed_with_file_and_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = workspace_log(tmp_path / "ws.ndjson", 3)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "bad.yml").write_text("id: not-a-uuid\nname: Bad Name\n", encoding="utf-8")
    assert main(["detect", str(src), "--rules", str(rules)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{rules / 'bad.yml'}:1: 'id' must be a UUID" in captured.err
    assert f"{rules / 'bad.yml'}:2: 'name' must be snake_case" in captured.err


def test_source_and_store_together_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = workspace_log(tmp_path / "ws.ndjson", 3)
    assert main(["detect", str(src), "--store", str(tmp_path)]) == 2
    assert "either SRC or --store" in capsys.readouterr().err


def test_detect_reads_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from auditreports.sources import load
    from auditreports.store import write_store

    src = workspace_log(tmp_path / "ws.ndjson", 12)
    write_store(tmp_path / "store", load(str(src)))
    assert main(["detect", "--store", str(tmp_path / "store"), "--json"]) == 0
    (finding,) = json.loads(capsys.readouterr().out)["findings"]
    assert finding["count"] == 12 and finding["rule_name"] == "brute_force_login"


def test_settings_file_is_checked_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """detect --settings accepts exactly what report --settings accepts: a typo in any section is an error."""
    src = workspace_log(tmp_path / "ws.ndjson", 10)
    config = tmp_path / "settings.yml"
    config.write_text("detection: {}\nreport:\n  organisaton: Acme\n", encoding="utf-8")
    assert main(["detect", str(src), "--settings", str(config)]) == 2
    assert "organisaton" in capsys.readouterr().err


def test_period_keeps_the_findings_that_overlap_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = workspace_log(tmp_path / "ws.ndjson", 10)  # a burst on 2026-07-21
    assert main(["detect", str(src), "--period", "2026-07", "--json"]) == 0
    inside = json.loads(capsys.readouterr().out)
    assert [f["rule_name"] for f in inside["findings"]] == ["brute_force_login"]
    assert inside["period"] == {"label": "2026-07", "start": "2026-07-01", "end": "2026-07-31"}
    assert main(["detect", str(src), "--from", "2026-08-01", "--to", "2026-08-31", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["findings"] == []
    assert main(["detect", str(src), "--period", "2026-Q9"]) == 2
    assert main(["detect", str(src), "--period", "2026-07", "--from", "2026-07-01"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("auditreports: error: ")]
    assert len(errors) == 2 and "2026-Q9" in errors[0] and "not both" in errors[1]
