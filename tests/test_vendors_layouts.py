"""The vendor layouts of issue 17, each on a real public sample where one covers it and
otherwise on a small fixture written from the vendor's own documentation (the doc pages
are cited in tests/fixtures/vendors/README.md).

Real samples live in ../shared/data/real (see its INDEX.md) and are skipped with a reason
when absent; the fixtures always run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from auditreports.sources import load
from auditreports.sources.registry import detect_format, get_format

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "vendors"
REAL = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "real"


def _real(rel: str) -> Path:
    path = REAL / rel
    if not path.exists():
        pytest.skip(f"real sample {rel} not available (../shared/data/real)")
    return path


def _events(path: Path, fmt: str | None = None) -> pl.DataFrame:
    data = path.read_bytes()
    spec = get_format(fmt) if fmt else detect_format(data[:65536], str(path))
    parsed = spec.parse(data, str(path))
    assert parsed.quarantine.height == 0, parsed.quarantine["reason"].to_list()
    return parsed.events


def _row(events: pl.DataFrame, **match: Any) -> dict[str, Any]:
    expr = pl.lit(True)
    for k, v in match.items():
        expr &= pl.col(k) == v
    rows = events.filter(expr)
    assert rows.height >= 1, match
    return rows.row(0, named=True)


# --- Google Workspace -----------------------------------------------------------------


def test_google_workspace_one_event_per_record_loads_with_account_warnings_affected_user() -> None:
    path = FIXTURES / "google-workspace-events.ndjson"
    assert detect_format(path.read_bytes(), str(path)).name == "google-workspace"
    ev = _events(path)
    assert ev.height == 6
    assert ev["event_type"].to_list().count("auth.login.failure") == 2  # object form and API array form
    fail = _row(ev, event_type="auth.login.failure")
    assert (fail["outcome"], fail["reason"]) == ("failure", "login_failure_invalid_password")
    warn = _row(ev, source_action="suspicious_login")
    assert (warn["resource_type"], warn["resource_id"]) == ("user", "kim@example.com")
    assert warn["actor_email"] == "liz@example.com"
    assert warn["category"] == "auth"


def test_google_workspace_flattened_real_sample_still_maps() -> None:
    data = _real("panther-analysis-fixtures/rule_tests/GSuite.ActivityEvent.ndjson").read_bytes()
    parsed = get_format("google-workspace").parse(data, "gsuite")
    logins = parsed.events.filter(pl.col("source_action") == "login_success")
    assert logins.height and logins["event_type"].unique().to_list() == ["auth.login.success"]
    renamed = _row(parsed.events, source_action="rename")
    assert renamed["resource_id"] == "1GGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGG"  # parameters.doc_id
    # Panther's stubs without id.time are the only quarantined lines.
    assert set(parsed.quarantine["reason"].str.slice(0, 24)) <= {"the record has no timest", "the record has no action"}


def test_google_alert_center_alert_id_and_affected_account() -> None:
    ev = _events(FIXTURES / "google-alertcenter-alerts.json")
    leaked = _row(ev, source_action="Leaked password")
    assert leaked["event_id"] == "6f4b0c8a-4f6e-4b7a-9c1b-0c1f2d3e4a5b"
    assert (leaked["resource_type"], leaked["resource_id"]) == ("user", "kim@example.com")
    assert leaked["ip"] == "198.51.100.77"
    assert _row(ev, source_action="Customer takeout initiated")["event_type"] == "data.export"


# --- Entra ID (Azure AD) --------------------------------------------------------------


@pytest.mark.parametrize("name", ["azure-signin-diagnostic.json", "graph-signins.json"])
def test_entra_sign_ins_are_detected_and_failures_are_login_failures(name: str) -> None:
    path = FIXTURES / name
    assert detect_format(path.read_bytes()[:65536], str(path)).name == "azure-ad"
    ev = _events(path)
    assert ev["event_type"].to_list().count("auth.login.failure") == 2
    assert ev["event_type"].to_list().count("auth.login.success") == 1
    fail = _row(ev, event_type="auth.login.failure")
    assert fail["outcome"] == "failure" and "invalid username or password" in fail["reason"]
    assert fail["actor_email"] in ("tperkins@contoso.com", "testaccount1@contoso.com")
    assert fail["actor_type"] == "user" and fail["ip"] is not None


def test_the_old_signin_format_name_still_forces_the_entra_map() -> None:
    ev = _events(FIXTURES / "graph-signins.json", "azure-ad-signin")
    assert ev["outcome"].to_list() == ["failure", "failure", "success"]


def test_entra_audit_graph_role_assignment_and_app_actor() -> None:
    ev = _events(FIXTURES / "graph-directory-audits.json")
    grant = _row(ev, source_action="Add member to role")
    assert grant["event_type"] == "auth.permission.changed"
    assert (grant["actor_email"], grant["ip"], grant["resource_id"]) == (
        "jamie@contoso.com",
        "198.51.100.20",
        "alexw@contoso.com",
    )
    assert json.loads(grant["after"]) == {"role": "Global Administrator"}
    removed = _row(ev, source_action="Delete user")
    assert (removed["event_type"], removed["outcome"], removed["actor_type"]) == (
        "auth.user.removed",
        "failure",
        "system",
    )


def test_entra_diagnostic_stream_mixing_sign_ins_and_audits_loads_whole() -> None:
    ev = _events(_real("panther-analysis-fixtures/rule_tests/Azure.Audit.ndjson"))
    assert ev.height == 48
    assert ev.filter(pl.col("event_type") == "auth.login.failure").height >= 3
    invite = _row(ev, source_action="Invite external user")
    assert (invite["event_type"], invite["actor_email"]) == ("auth.user.invited", "denethor@lotr.com")


def test_entra_sentinel_auditlogs_with_json_text_columns() -> None:
    ev = _events(_real("otrf-security-datasets/AADAuditEvents.json"))
    assert ev["actor_email"].unique().to_list() == ["pgustavo@simulandlabs.com"]
    assert "auth.api_key.created" in ev["event_type"].to_list()


# --- CloudTrail ------------------------------------------------------------------------


def test_cloudtrail_identity_center_sign_ins_service_actors_and_targets() -> None:
    ev = _events(FIXTURES / "cloudtrail-identity-center-and-targets.ndjson")
    failed = _row(ev, source_action="CredentialVerification")
    assert (failed["event_type"], failed["actor_id"]) == ("auth.login.failure", "94d00cd8-e9e6-4810-b177-b08e84725435")
    login = ev.filter(pl.col("source_action") == "UserAuthentication")
    assert login["event_type"].unique().to_list() == ["auth.login.success"]
    assert login["actor_type"].unique().to_list() == ["user"]
    assert login["actor_id"].null_count() == 0
    assert "maria.garcia@example.com" in login["actor_email"].to_list()
    recorder = _row(ev, source_action="StopConfigurationRecorder")
    assert (recorder["event_type"], recorder["resource_id"]) == ("config.audit_log_settings.update", "default")
    assert recorder["actor_email"] == "maria.garcia@example.com"  # from the SSO session name
    assume = _row(ev, source_action="AssumeRole")
    assert (assume["actor_type"], assume["actor_id"]) == ("system", "ec2.amazonaws.com")
    assert assume["resource_id"] == "arn:aws:iam::111122223333:role/EC2-Web"
    assert (assume["ip"], assume["source_address"]) == (None, "ec2.amazonaws.com")
    copies = ev.filter(pl.col("source_action") == "CopyObject").sort("resource_id")
    assert copies["event_type"].to_list() == ["data.export", "cloudtrail.CopyObject"]  # outside-archive, reports


def test_cloudtrail_ip_holds_only_addresses_on_real_records() -> None:
    data = _real("panther-analysis-fixtures/rule_tests/AWS.CloudTrail.ndjson").read_bytes()
    ev = get_format("cloudtrail").parse(data, "ct").events
    ips = ev["ip"].drop_nulls()
    assert ips.str.contains(r"^[0-9a-fA-F:.]+$").all()
    assert {"AWS Internal", "lambda.amazonaws.com"} <= set(ev["source_address"].drop_nulls())
    raw_non_ip = ev.filter(pl.col("raw").str.json_path_match("$.sourceIPAddress").str.contains("[a-z]{3}"))
    assert raw_non_ip.height and raw_non_ip["ip"].null_count() == raw_non_ip.height
    same = ev.filter(pl.col("source_action") == "CopyObject")
    assert same.filter(pl.col("event_type") == "data.export").height == 1  # the one cross-bucket copy


# --- Okta, GitHub ------------------------------------------------------------------------


def test_okta_placeholder_alternate_id_gives_way_to_the_real_id() -> None:
    data = _real("panther-analysis-fixtures/rule_tests/Okta.SystemLog.ndjson").read_bytes()
    ev = get_format("okta").parse(data, "okta").events
    assert "unknown" not in ev["resource_id"].drop_nulls().to_list()
    placeholder = ev.filter(pl.col("raw").str.contains('"alternateId": "unknown"'))
    assert placeholder.height and placeholder["resource_id"].null_count() < placeholder.height


def test_github_git_event_export_is_an_export_and_bots_are_bots() -> None:
    ev = _events(FIXTURES / "github-export-events.ndjson")
    assert _row(ev, source_action="org.audit_log_git_event_export")["event_type"] == "data.export"
    assert _row(ev, actor_name="github-actions[bot]")["actor_type"] == "bot"
    assert _row(ev, actor_name="octocat")["actor_type"] == "user"
    data = _real("panther-analysis-fixtures/rule_tests/GitHub.Audit.ndjson").read_bytes()
    real = get_format("github").parse(data, "gh").events
    bots = real.filter(pl.col("actor_name").str.ends_with("[bot]"))
    assert bots.height and bots["actor_type"].unique().to_list() == ["bot"]


# --- Office 365 Management Activity ----------------------------------------------------------


def test_office365_management_activity_logins_mailbox_files_and_roles() -> None:
    path = FIXTURES / "office365-management-activity.json"
    assert detect_format(path.read_bytes()[:65536], str(path)).name == "office365"
    ev = _events(path)
    failed = _row(ev, source_action="UserLoginFailed")
    assert (failed["event_type"], failed["outcome"], failed["actor_email"]) == (
        "auth.login.failure",
        "failure",
        "megan@contoso.com",
    )
    assert failed["user_agent"] == "Mozilla/5.0 (Windows NT 10.0)"
    role = _row(ev, source_action="Add member to role.")
    assert (role["event_type"], role["resource_id"]) == ("auth.permission.changed", "adele@contoso.com")
    assert json.loads(role["after"]) == {"role": "Exchange Administrator"}
    mail = _row(ev, source_action="MailItemsAccessed")
    assert (mail["category"], mail["resource_id"], mail["record_count"]) == ("data_access", "ceo@contoso.com", 42)
    perm = _row(ev, source_action="Add-MailboxPermission")
    assert (perm["event_type"], perm["ip"]) == ("auth.permission.changed", "2001:db8::1")  # [v6]:port
    file = _row(ev, source_action="FileAccessed")
    assert (file["event_type"], file["ip"]) == ("data.file.access", "203.0.113.66")  # v4:port
    assert _row(ev, source_action="FileDownloaded")["event_type"] == "data.export"


@pytest.mark.parametrize(
    ("rel", "n"),
    [
        ("panther-analysis-fixtures/rule_tests/Microsoft365.Audit.AzureActiveDirectory.ndjson", 4),
        ("panther-analysis-fixtures/rule_tests/Microsoft365.Audit.Exchange.ndjson", 10),
        ("panther-analysis-fixtures/rule_tests/Microsoft365.Audit.SharePoint.ndjson", 5),
        ("otrf-security-datasets/OfficeActivityEvents.json", 1),
    ],
)
def test_office365_real_samples_load_whole(rel: str, n: int) -> None:
    path = _real(rel)
    assert detect_format(path.read_bytes()[:65536], rel).name == "office365"
    ev = _events(path)
    assert ev.height == n
    assert ev["actor_name"].null_count() == 0


def test_the_new_layouts_go_through_the_loader_too() -> None:
    result = load([str(FIXTURES / "office365-management-activity.json"), str(FIXTURES / "graph-signins.json")])
    assert result.loaded_events == 10
    assert sorted(e["format"] for e in result.ledger) == ["azure-ad", "office365"]
