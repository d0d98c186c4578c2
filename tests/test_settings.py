"""The settings file: sections with defaults, typos and secrets rejected by name."""

from __future__ import annotations

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
    import dataclasses

    text = (repo_root / "docs" / "settings.md").read_text()
    s = Settings()
    for section in ("integrity", "detection", "report", "fetch"):
        for f in dataclasses.fields(getattr(s, section)):
            if f.name in {"transport", "sleep", "clock", "wall_clock", "jitter"}:  # code seams, not settings
                continue
            assert f"`{f.name}`" in text, f"docs/settings.md does not document {section}.{f.name}"


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
