"""Vendor field maps on real third-party audit logs (../shared/data/real).

Each file must be detected as its vendor's format without ``--format`` and every
physical line must be loaded, quarantined with a reason, or blank.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from auditreports.sources.registry import ParsedFile, detect_format, get_format

pytestmark = pytest.mark.shared

# file -> (format, events loaded, records quarantined)
FILES = {
    "panther-analysis-fixtures/rule_tests/AWS.CloudTrail.ndjson": ("cloudtrail", 448, 27),
    "otrf-security-datasets/ec2_proxy_s3_exfiltration_2020-09-14011940.json": ("cloudtrail", 103, 0),
    "stratus-cloudtrail-detonations/aws.credential-access.secretsmanager-retrieve-secrets.json": ("cloudtrail", 10, 0),
    "stratus-cloudtrail-detonations/aws.defense-evasion.cloudtrail-delete.json": ("cloudtrail", 1, 0),
    "stratus-cloudtrail-detonations/aws.execution.ec2-user-data.json": ("cloudtrail", 3, 0),
    "stratus-cloudtrail-detonations/aws.exfiltration.ec2-share-ebs-snapshot.json": ("cloudtrail", 1, 0),
    "panther-analysis-fixtures/rule_tests/Okta.SystemLog.ndjson": ("okta", 73, 15),
    "panther-analysis-fixtures/rule_tests/GitHub.Audit.ndjson": ("github", 73, 34),
    "azure-sentinel-github-audit/Github_sample_logs.json": ("github", 63, 0),
    "panther-analysis-fixtures/rule_tests/Zendesk.Audit.ndjson": ("zendesk", 24, 0),
    "panther-analysis-fixtures/rule_tests/OpenAI.Audit.ndjson": ("openai", 33, 0),
    "panther-analysis-fixtures/rule_tests/Slack.AuditLogs.ndjson": ("slack", 34, 32),
    "panther-analysis-fixtures/rule_tests/GSuite.ActivityEvent.ndjson": ("google-workspace", 98, 67),
    "msticpy-testdata/aad_logons.ndjson": ("azure-ad", 86, 0),
}


def _parse(shared_real: Path, rel: str, fmt: str | None = None) -> ParsedFile:
    data = (shared_real / rel).read_bytes()
    spec = get_format(fmt) if fmt else detect_format(data[:65536], rel)
    return spec.parse(data, rel)


@pytest.mark.parametrize("rel", sorted(FILES))
def test_every_line_is_accounted_for_and_the_vendor_is_detected(shared_real: Path, rel: str) -> None:
    fmt, loaded, quarantined = FILES[rel]
    data = (shared_real / rel).read_bytes()
    assert detect_format(data[:65536], rel).name == fmt
    parsed = get_format(fmt).parse(data, rel)
    physical = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    assert parsed.lines_read == physical
    assert parsed.lines_read == parsed.loaded_lines + parsed.quarantined_lines + parsed.blank_lines
    assert (parsed.events.height, parsed.quarantine.height) == (loaded, quarantined)
    assert all(len(reason) > 20 for reason in parsed.quarantine["reason"])
    for name in ("event_id", "timestamp", "event_type", "category", "outcome", "actor_type", "source", "raw"):
        assert parsed.events[name].null_count() == 0, name
    # Provenance: the raw text at (line, offset) is the record itself, byte for byte.
    for row in parsed.events.head(5).iter_rows(named=True):
        raw = row["raw"].encode("utf-8")
        assert data[row["source_offset"] : row["source_offset"] + len(raw)] == raw
        assert data[: row["source_offset"]].count(b"\n") + 1 == row["source_line"]
    for row in parsed.quarantine.iter_rows(named=True):
        assert data[row["source_offset"] : row["source_offset"] + len(row["raw"])] == row["raw"]


def test_okta_session_start_failure_and_success_become_login_events(shared_real: Path) -> None:
    events = _parse(shared_real, "panther-analysis-fixtures/rule_tests/Okta.SystemLog.ndjson").events
    starts = events.filter(pl.col("source_action") == "user.session.start")
    by_outcome = dict(starts.group_by("outcome").agg(pl.col("event_type").unique()).iter_rows())
    assert by_outcome["failure"] == ["auth.login.failure"]
    assert by_outcome["success"] == ["auth.login.success"]
    grants = events.filter(pl.col("source_action") == "user.account.privilege.grant")
    assert grants["event_type"].unique().to_list() == ["auth.permission.changed"]
    assert "Organization administrator" in grants["after"].drop_nulls()[0]
    assert set(events.filter(pl.col("source_action").str.starts_with("system.api_token"))["event_type"]) == {
        "auth.api_key.created",
        "auth.api_key.revoked",
    }


def test_cloudtrail_console_logins_audit_trail_changes_and_unmapped_actions(shared_real: Path) -> None:
    events = _parse(shared_real, "panther-analysis-fixtures/rule_tests/AWS.CloudTrail.ndjson").events
    logins = events.filter(pl.col("source_action") == "ConsoleLogin")
    assert set(logins.filter(pl.col("outcome") == "failure")["event_type"]) == {"auth.login.failure"}
    assert set(logins.filter(pl.col("outcome") == "success")["event_type"]) == {"auth.login.success"}
    trail = events.filter(pl.col("source_action").is_in(["StopLogging", "DeleteTrail"]))
    assert trail.height > 0 and set(trail["event_type"]) == {"config.audit_log_settings.update"}
    get_object = events.filter(pl.col("source_action") == "GetObject").row(0, named=True)
    assert get_object["event_type"] == "cloudtrail.GetObject"
    assert "unknown_event_type" in get_object["flags"]
    assert events.filter(pl.col("source_action") == "CreateAccessKey")["event_type"].unique().to_list() == [
        "auth.api_key.created"
    ]
    # An API call that AWS refused (errorCode present) is a failure, with the error as reason.
    refused = events.filter(pl.col("raw").str.contains(r'"errorCode": ?"[^"]'))
    assert refused.height > 0 and set(refused["outcome"]) == {"failure"}


def test_logstash_cloudtrail_without_event_time_reads_the_timestamp_field(shared_real: Path) -> None:
    rel = "otrf-security-datasets/ec2_proxy_s3_exfiltration_2020-09-14011940.json"
    events = _parse(shared_real, rel).events
    first = json.loads(events["raw"][0])
    assert "eventTime" not in first
    assert events["timestamp"][0].isoformat().startswith(first["@timestamp"][:19])
    attacker = events.filter(pl.col("actor_id").str.contains("MordorNginxStack-BankingWAFRole"))
    assert attacker.height == 11
    assert set(attacker["source_action"]) == {"ListBuckets", "ListObjects", "GetObject"}


def test_stratus_file_with_a_missing_comma_loads_its_records_and_says_the_file_is_malformed(shared_real: Path) -> None:
    rel = "stratus-cloudtrail-detonations/aws.execution.ec2-user-data.json"
    data = (shared_real / rel).read_bytes()
    with pytest.raises(json.JSONDecodeError):
        json.loads(data)
    parsed = _parse(shared_real, rel)
    assert parsed.events["source_action"].to_list() == ["StopInstances", "ModifyInstanceAttribute", "StartInstances"]
    assert any("not valid JSON" in n and "line 112" in n for n in parsed.notes)
    assert parsed.events["user_agent"].str.starts_with("stratus-red-team_").all()  # Datadog's http.useragent
    delete = _parse(shared_real, "stratus-cloudtrail-detonations/aws.defense-evasion.cloudtrail-delete.json").events
    assert delete["event_type"].to_list() == ["config.audit_log_settings.update"]
    assert delete["actor_name"].to_list() == ["christophe.tafanidereeper"]
    share = _parse(shared_real, "stratus-cloudtrail-detonations/aws.exfiltration.ec2-share-ebs-snapshot.json").events
    assert share["event_type"].to_list() == ["data.export"]


def test_github_export_with_fields_that_change_type_keeps_every_value(shared_real: Path) -> None:
    rel = "azure-sentinel-github-audit/Github_sample_logs.json"
    with pytest.raises(pl.exceptions.PolarsError):
        pl.read_ndjson(shared_real / rel, infer_schema_length=None)
    events = _parse(shared_real, rel).events
    # org is sometimes a string, sometimes []: both survive as text in the raw and as resource ids.
    raws = [json.loads(r) for r in events["raw"]]
    assert {type(r.get("org")).__name__ for r in raws if "org" in r} == {"str", "list"}
    assert events["timestamp"].max().isoformat() == "2024-03-26T05:33:15.806000+00:00"
    assert events.filter(pl.col("source_action") == "user.failed_login")["event_type"].unique().to_list() == [
        "auth.login.failure"
    ]
    assert events.filter(pl.col("event_type") == "auth.login.failure").height == 5
    assert events.filter(pl.col("source_action") == "user.audit_log_export")["event_type"].unique().to_list() == [
        "data.export"
    ]
    admin = events.filter(pl.col("source_action") == "org.add_member")
    assert admin["event_type"].to_list() == ["auth.permission.changed"]
    # epoch milliseconds are the native form: not flagged as odd
    assert not events["flags"].list.contains("odd_timestamp").any()


def test_openai_role_assignment_and_api_keys(shared_real: Path) -> None:
    events = _parse(shared_real, "panther-analysis-fixtures/rule_tests/OpenAI.Audit.ndjson").events
    roles = events.filter(pl.col("source_action") == "role.assignment.created")
    assert set(roles["event_type"]) == {"auth.permission.changed"}
    first = roles.row(0, named=True)
    assert first["resource_id"] == "user-newadmin456"
    assert json.loads(first["after"]) == {"role": "api-organization-owner"}
    assert first["actor_email"] == "admin@company.com" and first["ip"] == "203.0.113.100"
    assert set(events.filter(pl.col("source_action") == "api_key.created")["event_type"]) == {"auth.api_key.created"}
    assert set(events.filter(pl.col("source_action") == "login.failed")["outcome"]) == {"failure"}


def test_zendesk_role_changes_carry_before_and_after(shared_real: Path) -> None:
    events = _parse(shared_real, "panther-analysis-fixtures/rule_tests/Zendesk.Audit.ndjson").events
    promoted = events.filter(pl.col("reason") == "Role changed from End User to Administrator").row(0, named=True)
    assert promoted["event_type"] == "auth.permission.changed"
    assert (json.loads(promoted["before"]), json.loads(promoted["after"])) == (
        {"role": "End User"},
        {"role": "Administrator"},
    )
    assert events.filter(pl.col("reason") == "Organization: AAAA is asigned")["event_type"][0] == "zendesk.update"


def test_slack_google_and_azure_map_logins_roles_and_exports(shared_real: Path) -> None:
    slack = _parse(shared_real, "panther-analysis-fixtures/rule_tests/Slack.AuditLogs.ndjson").events
    assert set(slack.filter(pl.col("source_action") == "role_change_to_admin")["event_type"]) == {
        "auth.permission.changed"
    }
    gsuite = _parse(shared_real, "panther-analysis-fixtures/rule_tests/GSuite.ActivityEvent.ndjson").events
    assert set(gsuite.filter(pl.col("source_action") == "login_failure")["event_type"]) == {"auth.login.failure"}
    assert set(gsuite.filter(pl.col("source_action") == "download")["event_type"]) == {"data.export"}
    aad = _parse(shared_real, "msticpy-testdata/aad_logons.ndjson").events
    failures = aad.filter(pl.col("event_type") == "auth.login.failure")
    assert failures.height == 2
    assert failures["raw"].map_elements(lambda r: json.loads(r)["ResultType"], return_dtype=pl.String).ne("0").all()
    assert aad["flags"].list.contains("naive_timestamp").all()
