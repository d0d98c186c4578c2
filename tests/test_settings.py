"""The settings file: sections with defaults, typos and secrets rejected by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditreports.errors import ConfigError
from auditreports.settings import Settings, load_settings


def test_defaults_without_a_file():
    s = load_settings(None)
    assert s.report.organisation and s.detection.timezone == "UTC"


def test_sections_are_read(tmp_path):
    f = tmp_path / "s.yml"
    f.write_text("report:\n  organisation: Acme Support Ltd\ndetection:\n  timezone: Europe/London\n")
    s = load_settings(f)
    assert s.report.organisation == "Acme Support Ltd"
    assert s.detection.timezone == "Europe/London"
    assert s.path == f


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("reprot:\n  organisation: x\n", "reprot"),
        ("report:\n  organisaton: x\n", "organisaton"),
        ("fetch:\n  api_token: abc\n", "fetch.api_token"),
        ("report: [1, 2]\n", "report"),
        ("report: {organisation: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_settings_name_the_problem(tmp_path, text, needle):
    f = tmp_path / "s.yml"
    f.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(f)
    assert needle in err.value.message


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read settings file"):
        load_settings(tmp_path / "nope.yml")


def test_with_report_overrides_only_given_values():
    s = Settings().with_report(organisation="Acme", reviewer=None)
    assert s.report.organisation == "Acme" and s.report.reviewer is None


def test_relative_paths_are_relative_to_the_settings_file(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "staff.csv").write_text("staff_id,time_zone\nusr_1,Asia/Manila\n")
    f = tmp_path / "conf" / "s.yml"
    f.write_text("detection:\n  actors_csv: staff.csv\n")
    monkeypatch.chdir(tmp_path)  # not the settings file's folder
    s = load_settings(f)
    assert s.detection.actors_csv == str(tmp_path / "conf" / "staff.csv")
    assert s.detection.actors["usr_1"].timezone == "Asia/Manila"


def test_sample_settings_load(data_samples):
    s = load_settings(data_samples / "settings.yml")
    assert s.report.organisation == "Acme Health Ltd"
    assert len(s.detection.actors) == 40


def test_docs_list_every_setting(repo_root):
    """Every key the schema accepts is documented under its own section's heading."""
    import re

    from auditreports.settings import settings_field_names

    text = (repo_root / "docs" / "settings.md").read_text(encoding="utf-8")
    parts = dict(re.findall(r"^## `(\w+):`\n(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL))
    for section, keys in settings_field_names().items():
        assert section in parts, f"docs/settings.md has no section for {section}:"
        for key in keys:
            assert f"`{key}`" in parts[section], f"docs/settings.md does not document {section}.{key}"


def test_rule_names_that_mention_passwords_are_not_secrets(tmp_path):
    f = tmp_path / "s.yml"
    f.write_text("detection:\n  rules:\n    password_spraying: {threshold: 7}\n")
    assert load_settings(f).detection.rules["password_spraying"]["threshold"] == 7


@pytest.mark.parametrize("key", ["token", "api_token", "smtp_password", "api_key", "client_secret"])
def test_secret_valued_keys_are_refused_anywhere(tmp_path, key):
    f = tmp_path / "s.yml"
    f.write_text(f"report:\n  {key}: hunter2\n")
    with pytest.raises(ConfigError, match="looks like a secret"):
        load_settings(f)


# --------------------------------------------------------------------------- the schema: one line, file, key, line


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("organisation:\n  business_days: monday\n", ["line 2", "organisation.business_days", "list of weekdays"]),
        ("organisation:\n  business_days: [mon, funday]\n", ["line 2", "organisation.business_days", "funday"]),
        ("report:\n  coverage_gap_hours: .nan\n", ["line 2", "report.coverage_gap_hours", "finite"]),
        ("report:\n  coverage_gap_hours: -.inf\n", ["line 2", "report.coverage_gap_hours", "finite"]),
        ("report:\n  appendix_cap: '5'\n", ["line 2", "report.appendix_cap", "whole number"]),
        ("report:\n  staff_names: 'yes'\n", ["line 2", "report.staff_names", "true or false"]),
        ("integrity:\n  retention_days: true\n", ["line 2", "integrity.retention_days", "whole number"]),
        ("integrity:\n  retention_days: -1\n", ["line 2", "integrity.retention_days", "negative"]),
        ("fetch:\n  page_size: 5000\n", ["line 2", "fetch.page_size", "between 1 and 1000"]),
        ("organisation:\n  timezone: Mars/Base\n", ["line 2", "organisation.timezone", "IANA"]),
        ("organisation:\n  business_hours: 9-5\n", ["line 2", "organisation.business_hours", "08:00-18:00"]),
        ("organisation:\n  nmae: Acme\n", ["line 2", "organisation.nmae", "allows:", "name"]),
        ("organisation:\n  phi_tags: phi\n", ["line 2", "organisation.phi_tags", "list"]),
        ("organisation:\n  retention_required_days: 0\n", ["line 2", "organisation.retention_required_days", ">= 1"]),
        ("detection:\n  allow_ips: [300.1.1.1]\n", ["line 2", "detection.allow_ips", "300.1.1.1"]),
        ("organisation:\n  staff_hours: {usr_1: {timezone: Nowhere}}\n", ["organisation.staff_hours.usr_1.timezone"]),
        ("organisation: 5\n", ["organisation", "mapping"]),
    ],
)
def test_every_wrong_value_is_one_line_with_file_key_and_expectation(tmp_path, text, needles):
    f = tmp_path / "s.yml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(f)
    message = err.value.message
    assert "\n" not in message and str(f) in message
    for needle in needles:
        assert needle in message, message


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("report:\n  reviewer: a\n  reviewer: b\n", 3, "report.reviewer"),
        ("report:\n  reviewer: a\nintegrity: {}\nreport:\n  charts: false\n", 4, "report"),
        ("organisation:\n  staff_hours:\n    usr_1: {timezone: UTC}\n    usr_1: {timezone: UTC}\n", 4, "usr_1"),
    ],
)
def test_duplicate_keys_and_sections_are_refused_with_their_line(tmp_path, text, line, key):
    f = tmp_path / "s.yml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"line {line} repeats the key '[^']*{key}'"):
        load_settings(f)


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path):
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    f = tmp_path / "s.yml"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 1 uses a YAML anchor or alias"):
        load_settings(f)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("report: !!python/object/apply:os.system ['true']\n", "line 1 uses the YAML tag"),
        ("report: !!python/name:os.system\n", "not valid YAML"),
        ("report: !!set {a: null}\n", "line 1 uses the YAML tag"),
        ("report:\n  <<: {reviewer: x}\n", "line 2 uses a YAML merge key"),
    ],
)
def test_merge_keys_and_tags_are_refused(tmp_path, text, needle):
    f = tmp_path / "s.yml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=needle):
        load_settings(f)


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ("organisation:\n  name: Café\n".encode("latin-1"), "line 2 is not UTF-8"),
        ("organisation:\n  name: Café\n".encode("utf-16"), "UTF-16"),
    ],
)
def test_a_file_that_is_not_utf8_says_so(tmp_path, payload, needle):
    f = tmp_path / "s.yml"
    f.write_bytes(payload)
    with pytest.raises(ConfigError, match=needle) as err:
        load_settings(f)
    assert "UTF-8" in err.value.message


def test_a_utf8_bom_is_fine(tmp_path):
    f = tmp_path / "s.yml"
    f.write_bytes("\ufefforganisation:\n  name: Café\n".encode())
    assert load_settings(f).organisation.name == "Café"


@pytest.mark.parametrize(
    ("section", "key", "new_key"),
    [
        ("organisation", "customer_directory", "organisation.customer_directory"),
        ("organisation", "staff_directory", "organisation.staff_directory"),
        ("organisation", "processing_record", "organisation.processing_record"),
        ("report", "customers", "report.customers"),
        ("report", "staff", "report.staff"),
        ("detection", "actors_csv", "detection.actors_csv"),
    ],
)
def test_a_directory_file_that_does_not_exist_names_the_file_and_key(tmp_path, section, key, new_key):
    f = tmp_path / "s.yml"
    f.write_text(f"{section}:\n  {key}: missing.csv\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(f)
    assert new_key in err.value.message and str(tmp_path / "missing.csv") in err.value.message
    assert "does not exist" in err.value.message


def test_a_staff_directory_with_a_bad_zone_names_the_row(tmp_path):
    (tmp_path / "staff.csv").write_text("staff_id,time_zone\nusr_1,UTC\nusr_2,Atlantis/City\n", encoding="utf-8")
    f = tmp_path / "s.yml"
    f.write_text("organisation:\n  staff_directory: staff.csv\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"organisation.staff_directory .*staff.csv line 3 time_zone"):
        load_settings(f)


# --------------------------------------------------------------------------- one organisation vocabulary


def test_organisation_is_the_one_object_detection_and_reports_read(tmp_path):
    (tmp_path / "staff.csv").write_text("staff_id,time_zone\nusr_1,Asia/Manila\n", encoding="utf-8")
    (tmp_path / "customers.csv").write_text("customer_id,email\ncus_1,a@example.org\n", encoding="utf-8")
    f = tmp_path / "s.yml"
    f.write_text(
        "organisation:\n  name: Acme\n  timezone: Europe/London\n  business_hours: '09:30-17:00'\n"
        "  business_days: [mon, tue, wed]\n  staff_directory: staff.csv\n  customer_directory: customers.csv\n"
        "  phi_tags: [PHI, medical]\n  phi_channels: [whatsapp]\n  retention_required_days: 2190\n",
        encoding="utf-8",
    )
    s = load_settings(f)
    assert s.detection.org is s.organisation and s.report.org is s.organisation
    assert s.organisation.retention_required_days == 2190 == s.detection.retention_required_days
    assert s.report.business_hours == s.detection.business_hours == "09:30-17:00"
    assert s.report.business_days == s.detection.business_days == ("mon", "tue", "wed")
    assert s.report.organisation == "Acme" and s.report.customers == tmp_path / "customers.csv"
    assert s.detection.actors["usr_1"].timezone == "Asia/Manila" == s.report.actors["usr_1"].timezone
    assert s.organisation.phi_tags == ("phi", "medical") == s.detection.phi_tags == s.report.phi_tags
    assert s.report.phi_channels == s.detection.phi_channels == ("whatsapp",)


def test_with_report_changes_the_organisation_for_everyone():
    s = Settings().with_report(phi_tags=("medical",), organisation="Acme")
    assert s.organisation.phi_tags == ("medical",) == s.detection.phi_tags == s.report.phi_tags
    assert s.organisation.name == "Acme" and s.detection.org is s.organisation


def test_old_keys_are_read_into_organisation_with_a_note(tmp_path, capsys):
    (tmp_path / "staff.csv").write_text("staff_id,time_zone\nusr_1,Asia/Manila\n", encoding="utf-8")
    f = tmp_path / "s.yml"
    f.write_text(
        "detection:\n  actors_csv: staff.csv\n  timezone: Europe/London\n"
        "report:\n  organisation: Acme\n  staff: staff.csv\n  business_hours: [8, 18]\n  business_days: [0, 1, 2, 3, 4]\n",
        encoding="utf-8",
    )
    s = load_settings(f)
    err = capsys.readouterr().err
    assert "line 2: detection.actors_csv is deprecated; read as organisation.staff_directory" in err
    assert "report.business_days is deprecated" in err
    assert s.organisation.name == "Acme" and s.organisation.timezone == "Europe/London"
    assert s.organisation.business_hours == "08:00-18:00"
    assert s.organisation.business_days == ("mon", "tue", "wed", "thu", "fri")
    assert s.report.actors["usr_1"].timezone == "Asia/Manila"


def test_report_business_days_by_name_no_longer_crashes(tmp_path, capsys):
    f = tmp_path / "s.yml"
    f.write_text("report:\n  business_days: [mon]\n", encoding="utf-8")
    assert load_settings(f).report.business_days == ("mon",)


def test_two_old_keys_that_disagree_are_refused(tmp_path):
    f = tmp_path / "s.yml"
    f.write_text("detection:\n  timezone: Europe/London\nreport:\n  timezone: UTC\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line 4: report.timezone .* disagrees with detection.timezone"):
        load_settings(f)


def test_an_old_key_that_disagrees_with_organisation_is_refused(tmp_path):
    f = tmp_path / "s.yml"
    f.write_text("organisation:\n  name: Acme\nreport:\n  organisation: Other\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"disagrees with organisation\.name"):
        load_settings(f)


def test_sample_settings_use_the_organisation_section_only(data_samples, capsys):
    s = load_settings(data_samples / "settings.yml")
    assert "deprecated" not in capsys.readouterr().err
    assert s.organisation.name == "Acme Health Ltd" and len(s.organisation.staff_hours) == 40
    assert s.organisation.staff_directory == data_samples / "staff.csv"


# --------------------------------------------------------------------------- discovery


def test_discovery_order(tmp_path, monkeypatch):
    from auditreports.settings import discover_settings

    explicit, env, local = (tmp_path / n for n in ("explicit.yml", "env.yml", "auditreports.yml"))
    for f in (explicit, env, local):
        f.write_text("organisation: {name: x}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUDITREPORTS_SETTINGS", str(env))
    assert discover_settings(str(explicit)).path == explicit
    assert discover_settings(None).path == env and discover_settings(None).origin == "AUDITREPORTS_SETTINGS"
    monkeypatch.delenv("AUDITREPORTS_SETTINGS")
    assert discover_settings(None).path == Path("auditreports.yml")
    local.unlink()
    assert discover_settings(None).path is None and "defaults" in discover_settings(None).describe()


def test_a_settings_variable_naming_no_file_is_an_error(tmp_path, monkeypatch):
    from auditreports.settings import discover_settings

    monkeypatch.setenv("AUDITREPORTS_SETTINGS", str(tmp_path / "nope.yml"))
    with pytest.raises(ConfigError, match=r"AUDITREPORTS_SETTINGS=.*names no settings file"):
        discover_settings(None)


# --------------------------------------------------------------------------- the commands


def _one_line_exit_2(capsys, code):
    err = capsys.readouterr().err
    assert code == 2, err
    problems = [line for line in err.splitlines() if "error" in line]
    assert len(problems) == 1 and "Traceback" not in err
    return problems[0]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("organisation:\n  business_days: monday\n", "organisation.business_days"),
        ("report:\n  coverage_gap_hours: .nan\n", "report.coverage_gap_hours"),
        ("report:\n  reviewer: a\nreport:\n  reviewer: b\n", "line 3 repeats the key 'report'"),
        ("report:\n  business_days: [mon]\nreport: {}\n", "repeats"),
        ("organisation:\n  customer_directory: nope.csv\n", "nope.csv does not exist"),
    ],
)
def test_detect_and_report_refuse_a_bad_file_in_one_line_before_any_kernel(tmp_path, capsys, text, needle):
    from auditreports.cli import main

    bad = tmp_path / "bad.yml"
    bad.write_text(text, encoding="utf-8")
    (tmp_path / "store").mkdir()
    line = _one_line_exit_2(capsys, main(["detect", "--store", str(tmp_path / "store"), "--settings", str(bad)]))
    assert needle in line and str(bad) in line
    out = tmp_path / "out"
    code = main(
        [
            "report",
            "soc2",
            "--store",
            str(tmp_path / "store"),
            "--period",
            "2026-Q3",
            "--settings",
            str(bad),
            "--out",
            str(out),
        ]
    )
    assert needle in _one_line_exit_2(capsys, code)
    assert not (out / "report.ipynb").exists()  # no notebook was started


def test_a_latin1_file_is_one_line_from_the_command(tmp_path, capsys):
    from auditreports.cli import main

    bad = tmp_path / "bad.yml"
    bad.write_bytes("organisation:\n  name: Caf\xe9\n".encode("latin-1"))
    line = _one_line_exit_2(capsys, main(["detect", "--store", str(tmp_path), "--settings", str(bad)]))
    assert "not UTF-8" in line and "save it as UTF-8" in line


def test_detect_finds_the_settings_file_and_says_which(tmp_path, capsys, monkeypatch):
    from test_detect_cli import workspace_log

    from auditreports.cli import main

    src = workspace_log(tmp_path / "ws.ndjson", 10)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("AUDITREPORTS_SETTINGS", raising=False)
    assert main(["detect", str(src), "--json"]) == 0
    captured = capsys.readouterr()
    assert "settings: built-in defaults" in captured.err and len(json.loads(captured.out)["findings"]) == 1

    (work / "auditreports.yml").write_text("detection:\n  rules:\n    brute_force_login: {threshold: 11}\n")
    assert main(["detect", str(src), "--json"]) == 0
    captured = capsys.readouterr()
    assert "settings: auditreports.yml (from ./auditreports.yml)" in captured.err
    assert json.loads(captured.out)["findings"] == []

    env = tmp_path / "env.yml"
    env.write_text("detection:\n  rules:\n    brute_force_login: {threshold: 5}\n")
    monkeypatch.setenv("AUDITREPORTS_SETTINGS", str(env))
    assert main(["detect", str(src), "--json"]) == 0
    captured = capsys.readouterr()
    assert f"settings: {env} (from AUDITREPORTS_SETTINGS)" in captured.err
    assert len(json.loads(captured.out)["findings"]) == 1


def test_verify_reads_the_integrity_section_of_the_discovered_file(tmp_path, capsys, monkeypatch):
    from test_detect_cli import workspace_log

    from auditreports.cli import main

    src = workspace_log(tmp_path / "ws.ndjson", 3)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUDITREPORTS_SETTINGS", raising=False)
    (tmp_path / "auditreports.yml").write_text("integrity:\n  retention_days: 0\n", encoding="utf-8")
    line = _one_line_exit_2(capsys, main(["verify", str(src), "--json"]))
    assert "line 2: integrity.retention_days" in line and "at least 1" in line
    (tmp_path / "auditreports.yml").write_text("integrity:\n  retention_days: 2190\n", encoding="utf-8")
    main(["verify", str(src), "--json"])
    captured = capsys.readouterr()
    assert "settings: auditreports.yml (from ./auditreports.yml)" in captured.err
    assert json.loads(captured.out)["verdict"] in {"VERIFIED", "PARTIAL", "FAILED"}


def test_detection_retention_required_days_is_read_as_the_organisations(tmp_path, capsys):
    f = tmp_path / "s.yml"
    f.write_text("detection:\n  retention_required_days: 2190\n", encoding="utf-8")
    s = load_settings(f)
    assert "detection.retention_required_days is deprecated" in capsys.readouterr().err
    assert s.organisation.retention_required_days == 2190 == s.detection.retention_required_days
    f.write_text("organisation:\n  retention_required_days: 365\ndetection:\n  retention_required_days: 2190\n")
    with pytest.raises(ConfigError, match=r"disagrees with organisation\.retention_required_days"):
        load_settings(f)
