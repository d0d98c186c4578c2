"""OCSF export: every emitted event, of every class, validates against the OCSF 1.3 schema.

Validation uses maintained libraries, not our own code: ``pydantic-ocsf`` (models
generated from the published OCSF schemas, every class) and, for Detection
Finding, also ``py-ocsf-models``. Because those models accept unknown attributes,
the test also checks that every top-level attribute we emit is one the class defines.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import json
from typing import Any

import polars as pl
import pytest

from auditreports.export.ocsf import EVENT_CLASS_MAP, events_to_ocsf, findings_to_ocsf
from auditreports.schema import CONVERSATION_EVENT_TYPES, WORKSPACE_ACTIONS, conform

ocsf_events = pytest.importorskip("ocsf.v1_3_0.events", reason="pydantic-ocsf is needed to validate OCSF output")
detection_models = pytest.importorskip("py_ocsf_models.events.findings.detection_finding")

MODELS: dict[int, Any] = {
    3002: ocsf_events.Authentication,
    3001: ocsf_events.AccountChange,
    3004: ocsf_events.EntityManagement,
    6003: ocsf_events.ApiActivity,
    6002: ocsf_events.ApplicationLifecycle,
    2004: ocsf_events.DetectionFinding,
}
T0 = dt.datetime(2026, 7, 3, 14, 2, 11, 532000, tzinfo=dt.UTC)


def every_event_type() -> pl.DataFrame:
    """One event of each known type (workspace and conversation vocabularies), plus a vendor one."""
    rows: list[dict[str, Any]] = []
    for i, (action, etype) in enumerate(WORKSPACE_ACTIONS.items()):
        cat = etype.split(".")[0].replace("data", "data_access")
        rows.append(
            {
                "event_id": f"w{i}",
                "event_type": etype,
                "source_action": action,
                "category": cat,
                "outcome": "failure" if "failed" in action else "success",
                "actor_type": "user" if i % 3 else "api_key",
                "actor_id": f"usr_{i}",
                "actor_name": "Dana Lee",
                "actor_email": "dana@acme.example",
                "ip": "198.51.100.23" if i % 2 else None,
                "user_agent": "Mozilla/5.0",
                "resource_type": "user"
                if action.startswith("auth.user")
                else ("api_key" if "api_key" in action else "workspace"),
                "resource_id": "usr_42" if action.startswith("auth.user") else "ws_1",
                "reason": '=HYPERLINK("x") "quoted" \\ back',
                "before": '{"role":"agent"}',
                "after": '{"role":"admin"}',
                "record_count": 12 if etype == "data.export" else None,
                "subject_ids": ["cus_1"] if etype == "data.export" else [],
                "source": "workspace",
                "raw": "{}",
            }
        )
    for j, (action, (etype, cat)) in enumerate(CONVERSATION_EVENT_TYPES.items()):
        rows.append(
            {
                "event_id": f"c{j}",
                "event_type": etype,
                "source_action": action,
                "category": cat,
                "outcome": "success",
                "actor_type": "bot" if cat == "bot" else "user",
                "actor_id": None if j == 0 else f"usr_{j}",
                "actor_name": None,
                "conversation_id": "conv_1",
                "channel": "whatsapp",
                "subject_id": "cus_4410",
                "source": "conversation",
                "raw": "{}",
                "subject_ids": [],
            }
        )
    rows.append(
        {
            "event_id": "v1",
            "event_type": "okta.user.session.start",
            "category": "auth",
            "outcome": "unknown",
            "actor_type": "unknown",
            "source": "okta",
            "raw": '{"eventType":"user.session.start"}',
            "subject_ids": [],
        }
    )
    rows.append(
        {
            "event_id": "v2",
            "event_type": "s3.GetObject",
            "category": None,
            "outcome": "success",
            "actor_type": "system",
            "source": "cloudtrail",
            "source_address": "ec2.amazonaws.com",  # CloudTrail's sourceIPAddress when a service called
            "raw": "{}",
            "subject_ids": [],
        }
    )
    frame = pl.DataFrame(rows, schema_overrides={"subject_ids": pl.List(pl.String)}, infer_schema_length=None)
    return conform(frame.with_columns(timestamp=pl.lit(T0))).collect()


def findings() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "finding_id": ["f-1", "f-2"],
            "rule_id": ["auth.failed_login_burst", "data.bulk_export"],
            "rule_name": ["Failed-login burst", "Bulk export"],
            "severity": ["high", "critical"],
            "title": ["12 failed logins for usr_9 in 5 minutes", "Export of 5,000 conversations"],
            "group": [{"actor_id": "usr_9"}, {"actor_id": "usr_7"}],
            "window_start": [T0, T0],
            "window_end": [T0 + dt.timedelta(minutes=5), T0],
            "count": [12, 1],
            "event_ids": [["w1", "w2"], ["w19"]],
            "summary": ["Brute force against one account", "One user exported many records"],
        }
    )


CLASS_NAMES = {
    3002: "authentication",
    3001: "account_change",
    3004: "entity_management",
    6003: "api_activity",
    6002: "application_lifecycle",
    2004: "detection_finding",
}


def class_attributes(class_uid: int) -> set[str]:
    """Attribute names of an OCSF 1.3 class and its parents, from the schema pydantic-ocsf ships."""
    schema = json.loads((importlib.resources.files("ocsf") / "schemas" / "v1_3_0.json").read_text())
    events = schema["events"]
    name: str | None = CLASS_NAMES[class_uid]
    # base_event pulls these in through "$include" files (classification, occurrence) the JSON leaves unresolved
    known = {
        "class_uid",
        "class_name",
        "category_uid",
        "category_name",
        "activity_id",
        "activity_name",
        "type_uid",
        "type_name",
        "time",
        "count",
        "start_time",
        "end_time",
        "duration",
        "timezone_offset",
    }
    while name:
        known |= set(events[name]["attributes"])
        parent = events[name].get("extends")
        name = parent if parent in events else ("base_event" if name != "base_event" else None)
    return known


def assert_valid(record: dict[str, Any]) -> None:
    model = MODELS[record["class_uid"]]
    model.model_validate(record)  # raises with every missing or mistyped attribute
    known = class_attributes(record["class_uid"])
    assert set(record) <= known, f"{record['class_uid']}: attributes not in the class: {set(record) - known}"
    assert record["type_uid"] == record["class_uid"] * 100 + record["activity_id"]


def test_every_canonical_event_type_maps_to_a_valid_ocsf_event() -> None:
    events = every_event_type()
    out = events_to_ocsf(events).collect()
    assert out.height == events.height
    records = [json.loads(line) for line in out["ocsf"]]
    for record in records:
        assert_valid(record)
    classes = {r["class_uid"] for r in records}
    assert classes == {3001, 3002, 3004, 6003, 6002}
    by_id = {r["metadata"]["uid"]: r for r in records}
    failed_login = by_id[f"w{list(WORKSPACE_ACTIONS).index('auth.login_failed')}"]
    assert failed_login["class_uid"] == 3002 and failed_login["status_id"] == 2
    assert failed_login["user"]["uid"] == failed_login["actor"]["user"]["uid"]
    invited = by_id[f"w{list(WORKSPACE_ACTIONS).index('auth.user_invited')}"]
    assert invited["class_uid"] == 3001 and invited["activity_id"] == 1 and invited["user"]["uid"] == "usr_42"
    prompt = by_id[f"w{list(WORKSPACE_ACTIONS).index('config.system_prompt_updated')}"]
    assert prompt["class_uid"] == 3004 and prompt["entity_result"]["data"] == {"role": "admin"}
    assert prompt["message"] == '=HYPERLINK("x") "quoted" \\ back'  # text kept exactly
    export = by_id[f"w{list(WORKSPACE_ACTIONS).index('data.conversations_exported')}"]
    assert export["class_uid"] == 6003 and export["unmapped"]["record_count"] == 12
    assert export["unmapped"]["subject_ids"] == ["cus_1"]
    assert by_id["c0"]["class_uid"] == 6003 and by_id["c0"]["resources"] == [{"uid": "conv_1", "type": "conversation"}]
    assert by_id["v1"]["raw_data"] == '{"eventType":"user.session.start"}'
    # Where a request came from when that is not an IP address travels as the endpoint's name.
    assert by_id["v2"]["src_endpoint"] == {"name": "ec2.amazonaws.com"}
    assert all(None not in r.values() for r in records)  # absent, not null
    assert set(EVENT_CLASS_MAP) <= set(events["event_type"])


def test_findings_are_valid_detection_findings_for_both_libraries() -> None:
    out = findings_to_ocsf(findings()).collect()
    records = [json.loads(line) for line in out["ocsf"]]
    for record in records:
        assert_valid(record)
        detection_models.DetectionFinding.model_validate(record)
    first = records[0]
    assert first["class_uid"] == 2004 and first["severity_id"] == 4 and records[1]["severity_id"] == 5
    assert (
        first["finding_info"]["uid"] == "f-1" and first["finding_info"]["analytic"]["uid"] == "auth.failed_login_burst"
    )
    assert [e["uid"] for e in first["finding_info"]["related_events"]] == ["w1", "w2"]
    assert first["end_time"] - first["start_time"] == 5 * 60 * 1000


def test_findings_from_detect_json_text_columns() -> None:
    """``detect --json`` gives times as ISO text and the group as an object; both work."""
    frame = findings().with_columns(
        pl.col("window_start").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"),
        pl.col("window_end").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"),
    )
    records = [json.loads(line) for line in findings_to_ocsf(frame).collect()["ocsf"]]
    for record in records:
        assert_valid(record)
    assert records[0]["start_time"] == int(T0.timestamp() * 1000)
