"""Organisation field maps: a made-up platform's export loaded with a map taken from the docs.

The map under test is the YAML block docs/formats.md marks as the worked example, so the
guide and the behaviour cannot drift apart: if the guide's map stops producing events the
built-in rules fire on, this fails.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from auditreports.cli import main
from auditreports.errors import ConfigError
from auditreports.sources import formats, load
from auditreports.sources.vendors import register_field_maps

REPO = Path(__file__).resolve().parent.parent
EXPORT = REPO / "tests" / "fixtures" / "vendors" / "acme" / "acme-audit-export.ndjson"


def guide_map() -> str:
    text = (REPO / "docs" / "formats.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- worked-example-map[^>]*-->\s*```yaml\n(.*?)```", text, re.S)
    assert m, "docs/formats.md lost its worked-example map block"
    return m.group(1)


@pytest.fixture
def maps_dir(tmp_path: Path) -> Path:
    d = tmp_path / "field-maps"
    d.mkdir()
    (d / "acme.yml").write_text(guide_map(), encoding="utf-8")
    return d


def test_without_a_map_the_export_is_not_recognised(tmp_path: Path) -> None:
    result = load([str(EXPORT)])
    assert result.loaded_events == 0
    assert result.quarantine.height == 17


def test_the_guide_map_turns_the_export_into_events_the_builtin_rules_fire_on(
    maps_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    assert main(["ingest", str(EXPORT), "--maps", str(maps_dir), "--store", str(store), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (entry,) = doc["files"]
    assert (entry["format"], entry["events"], entry["quarantined"]) == ("acme-assist", 16, 1)
    assert doc["quarantined"][0]["line"] == 17  # the cut-off last line, with its reason
    assert "not valid JSON" in doc["quarantined"][0]["reason"]

    assert main(["detect", "--store", str(store), "--json"]) == 0
    findings = json.loads(capsys.readouterr().out)["findings"]
    by_rule = {f["rule_name"]: f for f in findings}
    brute = by_rule["brute_force_login"]
    assert sorted(brute["event_ids"]) == [f"ev_{i:03d}" for i in range(2, 12)]
    assert brute["group"] in ("u_77", {"actor_id": "u_77"}) or "u_77" in json.dumps(brute)
    # The agent -> admin change by the same account is ranked as an escalation too.
    assert "privilege_escalation" in by_rule


def test_canonical_columns_come_from_the_paths_the_map_names(maps_dir: Path) -> None:
    register_field_maps([maps_dir])
    events = load([str(EXPORT)]).events.lazy().collect()
    row = events.filter(events["event_id"] == "ev_013").row(0, named=True)
    assert row["event_type"] == "auth.permission.changed"
    assert (row["actor_id"], row["actor_email"], row["actor_type"]) == ("u_77", "dana@example.com", "user")
    assert (row["before"], row["after"]) == ('{"role":"agent"}', '{"role":"admin"}')
    export = events.filter(events["event_id"] == "ev_014").row(0, named=True)
    assert (export["event_type"], export["record_count"], export["category"]) == ("data.export", 5400, "data_access")
    bot = events.filter(events["event_id"] == "ev_016").row(0, named=True)
    assert bot["actor_type"] == "api_key"


def test_settings_maps_dirs_relative_to_the_settings_file(
    maps_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = tmp_path / "settings.yml"
    settings.write_text("sources:\n  maps_dirs: [field-maps]\n", encoding="utf-8")
    store = tmp_path / "store2"
    assert main(["ingest", str(EXPORT), "--settings", str(settings), "--store", str(store), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["events"] == 16


def test_formats_lists_each_format_with_where_its_map_came_from(
    maps_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["formats", "--maps", str(maps_dir), "--json"]) == 0
    rows = {r["format"]: r["origin"] for r in json.loads(capsys.readouterr().out)}
    assert rows["acme-assist"] == str(maps_dir / "acme.yml")
    assert rows["okta"] == "built-in map okta.yml"
    assert rows["workspace"] == "built-in"
    assert rows["azure-ad-signin"].startswith("alias of azure-ad")


def test_an_invalid_map_is_refused_with_every_problem_and_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "bad-maps"
    d.mkdir()
    text = guide_map()
    text = text.replace("  actor_id: [performed_by.id]", "  actor_idd: [performed_by.id]")
    text = text.replace("event_type: auth.login.failure", "event_type: Auth-Login")
    text = text.replace("{ok: success,", "{ok: yes,")
    (d / "acme.yml").write_text(text, encoding="utf-8")
    (d / "other.yml").write_text("format: other\nfields: [x]\n", encoding="utf-8")
    lines = text.splitlines()
    line_of = {
        key: i + 1 for i, line in enumerate(lines) for key in ("actor_idd", "Auth-Login", "ok: yes") if key in line
    }
    assert main(["ingest", str(EXPORT), "--maps", str(d), "--store", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1
    acme = str(d / "acme.yml")
    assert f"{acme}:{line_of['actor_idd']}: maps unknown column 'actor_idd'" in err
    assert f"{acme}:{line_of['Auth-Login']}: event_types[0].event_type 'Auth-Login'" in err
    assert f"{acme}:{line_of['ok: yes']}: outcomes['ok']" in err
    assert f"{d / 'other.yml'}:2: 'fields' must be a mapping" in err
    assert f"{d / 'other.yml'}:1: lacks the required key 'source'" in err


def test_a_map_cannot_take_a_builtin_name(tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    (d / "okta.yml").write_text(guide_map().replace("format: acme-assist", "format: okta"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"format 'okta' is already defined \(built-in map okta.yml\)"):
        register_field_maps([d])
    assert formats()["okta"].origin == "built-in map okta.yml"


def test_map_check_reports_fields_paths_unused_keys_and_quarantine(
    maps_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["map-check", str(EXPORT), "--map", str(maps_dir / "acme.yml"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["records"], doc["loaded"], doc["quarantined"]) == (17, 16, 1)
    fields = {f["field"]: f for f in doc["fields"]}
    assert fields["actor_email"]["filled"] == 15  # the integration has no e-mail
    assert fields["actor_email"]["sources"] == [{"path": "performed_by.email", "won": 15}]
    assert fields["user_agent"]["filled"] == 12
    assert [k["key"] for k in doc["unused_keys"]] == ["details.format"]
    assert doc["quarantine"][0]["line"] == 17
    types = {t["event_type"]: t["count"] for t in doc["event_types"]}
    assert types["auth.login.failure"] == 10
    # The text form says the same.
    assert main(["map-check", str(EXPORT), "--map", str(maps_dir / "acme.yml")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"actor_email\s+15 / 16\s+performed_by\.email 15", out)
    assert "details.format  (in 1 records)" in out
    assert "line 17: the record is not valid JSON" in out


def test_map_check_without_a_map_file_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["map-check", str(EXPORT), "--map", "nope.yml"]) == 2
    err = capsys.readouterr().err
    assert "nope.yml" in err and "Traceback" not in err


@pytest.mark.parametrize("fmt", ["workspace", "conversation", "okta", "cloudtrail", "office365", "azure-ad"])
def test_a_forced_format_on_a_foreign_file_quarantines_instead_of_crashing(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    foreign = tmp_path / "customers.csv"
    foreign.write_text("name,plan,seats\nAcme,pro,12\nGlobex,free,1\n", encoding="utf-8")
    rc = main(["ingest", str(foreign), "--format", fmt, "--store", str(tmp_path / "s"), "--json"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert rc == 1  # nothing loaded
    (entry,) = json.loads(out)["files"]
    assert entry["events"] == 0
    assert entry["quarantined"] + entry["blank"] == 3 and entry["quarantined"] >= 2
    assert all(q["reason"] for q in json.loads(out)["quarantined"])


def test_map_check_shows_hostile_keys_inert(maps_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sample = tmp_path / "hostile.ndjson"
    record = json.loads(EXPORT.read_text(encoding="utf-8").splitlines()[0])
    record["\x1b]0;pwned\x07key"] = "x"
    sample.write_text(json.dumps(record) + "\n", encoding="utf-8")
    assert main(["map-check", str(sample), "--map", str(maps_dir / "acme.yml")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b]0;pwned\\x07key" in out
