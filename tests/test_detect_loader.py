"""Loading rule files validates everything and reports every problem at once, each with file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from auditreports.detect import DetectionSettings, builtin_rules_dir, detect, load_rules
from auditreports.detect.fixtures import fixture_events
from auditreports.detect.rules import reviewer_note_warnings
from auditreports.errors import ConfigError, RuleError, UsageError

GOOD = """\
id: 2f1d7a9e-3c4b-4f6a-9b8e-1a2b3c4d5e6f
name: many_exports
title: Many exports by one actor
description: Lots of exports in an hour.
severity: medium
status: experimental
parameters:
  threshold: 3
summary: "{actor_id} ran {count} exports"
logic:
  kind: threshold
  where:
    event_type: data.export
  group_by: [actor_id]
  window: 1h
  threshold: $threshold
why_it_matters: Bulk exports move customer data out of the platform.
what_to_check: The ticket behind each export.
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_builtin_rules_load_with_unique_ids_and_the_seventeen_names() -> None:
    rules = load_rules()
    assert {r.name for r in rules} == {
        "brute_force_login",
        "password_spraying",
        "failed_then_success",
        "large_export",
        "export_volume_spike",
        "privilege_escalation",
        "off_hours_config_change",
        "config_change",
        "mass_deletion",
        "api_key_new_ip",
        "removed_user_activity",
        "audit_logging_change",
        "conversation_snooping",
        "phi_bot_retrieval",
        "mfa_disabled_privileged",
        "retention_below_required",
        "orphaned_api_key",
    }
    assert len({r.id for r in rules}) == len(rules)
    assert {r.kind for r in rules} == {"match", "threshold", "distinct", "sequence", "baseline"}


def test_an_organisation_rule_directory_adds_rules_that_run(tmp_path: Path) -> None:
    write(tmp_path, "many_exports.yml", GOOD)
    events = fixture_events(
        [
            {
                "id": "e",
                "at": "2026-07-01T10:00:00Z",
                "repeat": 3,
                "every": "5m",
                "event_type": "data.export",
                "actor_id": "usr_1",
            }
        ]
    )
    findings = detect(events, rules=["many_exports"], rules_dirs=[tmp_path])
    assert [f["summary"] for f in findings.to_dicts()] == ["usr_1 ran 3 exports"]


def test_every_problem_is_reported_at_once_with_file_and_line(tmp_path: Path) -> None:
    bad = GOOD.replace("severity: medium", "severity: urgent").replace("window: 1h", "window: an hour")
    bad = bad.replace("    event_type: data.export", "    event_typ: data.export")
    bad += "colour: red\n"
    write(tmp_path, "bad.yml", bad)
    write(
        tmp_path,
        "kind.yml",
        GOOD.replace("many_exports", "other")
        .replace("kind: threshold", "kind: regression")
        .replace("2f1d7a9e", "3f1d7a9e"),
    )
    with pytest.raises(RuleError) as caught:
        load_rules([tmp_path], builtin=False)
    problems = {(Path(f).name, line, message.split(";")[0]) for f, line, message in caught.value.errors}
    assert (
        "bad.yml",
        5,
        "'severity' must be one of informational, low, medium, high, critical, not 'urgent'",
    ) in problems
    assert ("bad.yml", 13, "unknown field 'event_typ'") in problems
    assert ("bad.yml", 15, "'window' must be a duration like 30s, 10m, 1h, 7d or 2w, not 'an hour'") in problems
    assert any(f == "bad.yml" and line == 19 and "unknown key 'colour'" in m for f, line, m in problems)
    assert any(f == "kind.yml" and line == 11 and "unknown logic kind 'regression'" in m for f, line, m in problems)
    assert "bad.yml:5:" in caught.value.message


def test_duplicate_ids_and_names_are_errors(tmp_path: Path) -> None:
    shutil.copy(builtin_rules_dir() / "brute_force_login.yml", tmp_path / "copy.yml")
    with pytest.raises(RuleError) as caught:
        load_rules([tmp_path])
    assert any("duplicate rule id 9d70e0db" in m for _, _, m in caught.value.errors)


def test_bad_parameter_references_operators_and_enum_values_are_errors(tmp_path: Path) -> None:
    text = GOOD.replace("threshold: $threshold", "threshold: $limit").replace(
        "    event_type: data.export",
        "    event_type: data.export\n    outcome: {equals: failure}\n    category: authentication",
    )
    write(tmp_path, "r.yml", text)
    with pytest.raises(RuleError) as caught:
        load_rules([tmp_path], builtin=False)
    messages = [m for _, _, m in caught.value.errors]
    assert any("unknown parameter reference '$limit'" in m for m in messages)
    assert any("unknown operator 'equals'" in m for m in messages)
    assert any("'category' has no value 'authentication'" in m for m in messages)


def test_a_declared_parameter_that_nothing_uses_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "r.yml", GOOD.replace("  threshold: 3\n", "  threshold: 3\n  window: 2h\n"))
    with pytest.raises(RuleError) as caught:
        load_rules([tmp_path], builtin=False)
    assert [(line, m) for _, line, m in caught.value.errors] == [(9, "parameter 'window' is declared but never used")]


def test_summary_fields_must_exist(tmp_path: Path) -> None:
    write(tmp_path, "r.yml", GOOD.replace("{actor_id} ran {count}", "{ip} ran {count}"))
    with pytest.raises(RuleError) as caught:
        load_rules([tmp_path], builtin=False)
    assert any("'summary' uses unknown field {ip} (group by it to use it)" in m for _, _, m in caught.value.errors)


def test_yaml_syntax_errors_are_collected_with_their_line(tmp_path: Path) -> None:
    write(tmp_path, "broken.yml", GOOD.replace("  group_by: [actor_id]", "  group_by: [actor_id"))
    with pytest.raises(RuleError) as caught:
        load_rules([tmp_path], builtin=False)
    (file, line, message), *_ = caught.value.errors
    assert Path(file).name == "broken.yml" and line is not None and "not valid YAML" in message


def test_missing_rules_directory_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_rules([tmp_path / "nope"])


def test_settings_reject_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        DetectionSettings.from_mapping({"thresholds": {}})
    with pytest.raises(ConfigError, match="IANA time zone"):
        DetectionSettings.from_mapping({"timezone": "Mars/Olympus"})
    with pytest.raises(ConfigError, match="08:00-18:00"):
        DetectionSettings.from_mapping({"business_hours": "9 to 5"})
    with pytest.raises(ConfigError, match="not an IP address"):
        DetectionSettings.from_mapping({"allow_ips": ["10.0.0.300"]})
    with pytest.raises(ConfigError, match="unknown key"):
        DetectionSettings.from_mapping({"actors": {"usr_1": {"tz": "UTC"}}})
    settings = DetectionSettings.from_mapping(
        {"actors": {"usr_1": {"timezone": "Asia/Tokyo"}}, "business_hours": "09:00-17:00"}
    )
    assert settings.actors["usr_1"].business_hours == "09:00-17:00"


def test_rule_overrides_are_checked_against_the_rule() -> None:
    events = fixture_events([{"id": "e", "event_type": "auth.login.failure", "actor_id": "usr_1"}])
    with pytest.raises(ConfigError, match="has no parameter 'treshold'"):
        detect(events, settings={"rules": {"brute_force_login": {"treshold": 3}}})
    with pytest.raises(ConfigError, match="must be a duration"):
        detect(events, settings={"rules": {"brute_force_login": {"window": 10}}})
    with pytest.raises(ConfigError, match="does not exist"):
        detect(events, settings={"disabled_rules": ["brute_force"]})


def test_staff_directory_gives_each_actor_their_own_zone(tmp_path: Path) -> None:
    (tmp_path / "staff.csv").write_text(
        "staff_id,name,time_zone\nusr_1,Ana,Asia/Manila\nusr_2,Bo,America/New_York\n", encoding="utf-8"
    )
    (tmp_path / "settings.yml").write_text(
        "detection:\n  actors_csv: staff.csv\n  actors:\n    usr_2: {timezone: Europe/London}\n", encoding="utf-8"
    )
    from auditreports.settings import load_settings

    settings = load_settings(tmp_path / "settings.yml").detection
    assert {k: v.timezone for k, v in settings.actors.items()} == {"usr_1": "Asia/Manila", "usr_2": "Europe/London"}
    # 02:00 UTC on a Wednesday is 10:00 in Manila: business hours for usr_1, not for anyone in UTC
    events = fixture_events(
        [
            {"id": "a", "at": "2026-07-01T02:00:00Z", "event_type": "config.system_prompt.update", "actor_id": "usr_1"},
            {"id": "b", "at": "2026-07-01T02:00:00Z", "event_type": "config.system_prompt.update", "actor_id": "usr_3"},
        ]
    )
    findings = detect(events, rules=["off_hours_config_change"], settings=settings)
    assert findings.frame.get_column("event_ids").to_list() == [["b"]]
    with pytest.raises(ConfigError, match=r"needs a staff_id \(or actor_id\) column"):
        DetectionSettings.from_mapping({"actors_csv": str(tmp_path / "settings.yml")})


def test_settings_example_loads_and_documents_every_rules_defaults(repo_root: Path) -> None:
    from auditreports.settings import load_settings

    settings = load_settings(repo_root / "docs" / "settings.example.yml").detection
    defaults = {r.name: dict(r.parameters) for r in load_rules() if r.parameters}
    assert {name: dict(values) for name, values in settings.rules.items()} == defaults
    assert DetectionSettings.from_mapping(settings.to_dict()).to_dict() == settings.to_dict()  # round trip


def test_every_rule_says_why_it_matters_and_what_to_check(tmp_path: Path) -> None:
    for rule in load_rules():
        assert len(rule.why_it_matters) > 40 and len(rule.what_to_check) > 40, rule.name
    # An organisation rule may leave the reviewer notes out: it loads and is warned about.
    missing = GOOD.replace("why_it_matters: Bulk exports move customer data out of the platform.\n", "")
    (tmp_path / "org").mkdir()
    write(tmp_path / "org", "missing.yml", missing)
    (rule,) = load_rules([tmp_path / "org"], builtin=False)
    assert rule.lacks_reviewer_notes == ("why_it_matters",) and rule.what_to_check
    (warning,) = reviewer_note_warnings([rule])
    assert "missing.yml" in warning and "many_exports" in warning and "why_it_matters" in warning
    assert reviewer_note_warnings(load_rules()) == []
    # Given but empty is a mistake in the file, not a choice.
    empty = GOOD.replace("what_to_check: The ticket behind each export.", 'what_to_check: "  "')
    (tmp_path / "bad").mkdir()
    write(tmp_path / "bad", "empty.yml", empty)
    with pytest.raises(RuleError) as caught:
        load_rules([tmp_path / "bad"], builtin=False)
    problems = {(Path(f).name, m) for f, _, m in caught.value.errors}
    assert ("empty.yml", "'what_to_check' must be non-empty text") in problems


def test_severity_when_and_threshold_by_are_validated_with_lines(tmp_path: Path) -> None:
    text = GOOD.replace(
        "severity: medium\n",
        "severity: medium\nseverity_when:\n  - where: {outcome: failure}\n    severity: urgent\n    because: x\n"
        "  - where: {outcome: failure}\n    severity: high\n    because: 'see {no_such_field}'\n",
    ).replace("  threshold: $threshold\n", "  threshold: $threshold\n  threshold_by:\n    ip: {198.51.100.1: 2}\n")
    write(tmp_path, "r.yml", text)
    with pytest.raises(RuleError) as caught:
        load_rules([tmp_path], builtin=False)
    messages = [m for _, _, m in caught.value.errors]
    assert any("'severity' must be one of" in m and "'urgent'" in m for m in messages)
    assert any("'because' uses unknown field {no_such_field}" in m for m in messages)
    assert any("'threshold_by' field 'ip' is not in group_by" in m for m in messages)
