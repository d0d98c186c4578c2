"""The engine's promises: one burst is one finding, stable ids, recorded parameters, allow-lists, sensitivity."""

from __future__ import annotations

import json

import polars as pl
import pytest

from auditreports.detect import FINDINGS_SCHEMA, DetectionSettings, detect, sensitivity
from auditreports.detect.fixtures import fixture_events
from auditreports.errors import UsageError


def failures(
    prefix: str, at: str, n: int, every: str = "30s", actor: str = "usr_1", ip: str = "203.0.113.5"
) -> dict[str, object]:
    return {
        "id": prefix,
        "at": at,
        "repeat": n,
        "every": every,
        "event_type": "auth.login.failure",
        "actor_id": actor,
        "ip": ip,
    }


def test_two_bursts_of_one_actor_are_two_findings_and_overlapping_windows_one() -> None:
    events = fixture_events([failures("a", "2026-07-01T10:00:00Z", 20), failures("b", "2026-07-01T15:00:00Z", 9)])
    findings = detect(events, rules=["brute_force_login"])
    assert findings.frame.get_column("count").to_list() == [20, 9]
    assert findings.frame.get_column("event_ids").to_list()[1] == [f"b-{i}" for i in range(1, 10)]


def test_finding_ids_are_stable_and_independent_of_row_order_and_other_rules() -> None:
    records = [
        failures("a", "2026-07-01T10:00:00Z", 9),
        {"id": "x", "event_type": "data.export", "actor_id": "usr_2", "record_count": 9000},
    ]
    events = fixture_events(records)
    first = detect(events, rules=["brute_force_login"]).frame.get_column("finding_id").to_list()
    shuffled = events.sample(fraction=1.0, shuffle=True, seed=7)
    again = detect(shuffled).frame.filter(pl.col("rule_name") == "brute_force_login").get_column("finding_id").to_list()
    assert first == again and len(first[0]) == 24


def test_findings_frame_and_json_document_follow_the_contract() -> None:
    findings = detect(fixture_events([failures("a", "2026-07-01T10:00:00Z", 9)]), rules=["brute_force_login"])
    assert findings.frame.schema == pl.Schema(FINDINGS_SCHEMA)
    document = json.loads(findings.to_json())
    (item,) = document["findings"]
    assert {
        "finding_id",
        "rule_id",
        "rule_name",
        "severity",
        "title",
        "group",
        "window_start",
        "window_end",
        "count",
        "event_ids",
        "summary",
        "parameters",
    } <= set(item)
    assert item["group"] == {"actor_id": "usr_1"}
    assert item["window_start"] == "2026-07-01T10:00:00.000000Z" and item["window_end"] == "2026-07-01T10:04:00.000000Z"
    assert item["parameters"] == {"threshold": 8, "window": "10m"}
    assert document["events_scanned"] == 9


def test_overrides_change_the_result_and_are_recorded_in_the_finding() -> None:
    events = fixture_events([failures("a", "2026-07-01T10:00:00Z", 5)])
    assert len(detect(events, rules=["brute_force_login"])) == 0
    tuned = detect(events, rules=["brute_force_login"], settings={"rules": {"brute_force_login": {"threshold": 5}}})
    assert tuned.to_dicts()[0]["parameters"]["threshold"] == 5


def test_off_hours_findings_record_the_hours_and_zones_used() -> None:
    events = fixture_events(
        [{"id": "p", "at": "2026-07-04T02:00:00Z", "event_type": "config.system_prompt.update", "actor_id": "usr_1"}]
    )
    settings = DetectionSettings.from_mapping(
        {"timezone": "Europe/London", "actors": {"usr_9": {"timezone": "Asia/Tokyo"}}}
    )
    (finding,) = detect(events, rules=["off_hours_config_change"], settings=settings).to_dicts()
    assert finding["parameters"]["timezone"] == "Europe/London"
    assert finding["parameters"]["actors"]["usr_9"]["timezone"] == "Asia/Tokyo"
    assert finding["parameters"]["business_hours"] == "08:00-18:00"


def test_allow_listed_cidr_hides_activity_from_rules_that_honour_allow_lists() -> None:
    events = fixture_events([failures("a", "2026-07-01T10:00:00Z", 9, ip="10.1.2.3")])
    assert len(detect(events, rules=["brute_force_login"], settings={"allow_ips": ["10.0.0.0/8"]})) == 0
    assert len(detect(events, rules=["brute_force_login"], settings={"allow_ips": ["192.168.0.0/16"]})) == 1


def test_disabled_rules_do_not_run() -> None:
    events = fixture_events([failures("a", "2026-07-01T10:00:00Z", 9)])
    findings = detect(events, settings={"disabled_rules": ["brute_force_login"]})
    assert "brute_force_login" not in {r.name for r in findings.rules}
    assert "brute_force_login" not in findings.frame.get_column("rule_name").to_list()


def test_phi_scope_conversation_counts_retrievals_before_the_tag() -> None:
    events = fixture_events(
        [
            {
                "id": "kr",
                "at": "2026-07-01T09:00:00Z",
                "event_type": "bot.knowledge.retrieved",
                "actor_type": "bot",
                "conversation_id": "c1",
            },
            {
                "id": "tag",
                "at": "2026-07-01T10:00:00Z",
                "event_type": "conversation.tag_applied",
                "conversation_id": "c1",
                "after": {"tags": ["phi"]},
            },
        ]
    )
    assert len(detect(events, rules=["phi_bot_retrieval"])) == 0
    conversation = detect(
        events, rules=["phi_bot_retrieval"], settings={"rules": {"phi_bot_retrieval": {"phi_scope": "conversation"}}}
    )
    assert conversation.frame.get_column("event_ids").to_list() == [["kr"]]


def test_sensitivity_table_counts_findings_per_threshold() -> None:
    events = fixture_events(
        [
            failures("a", "2026-07-01T10:00:00Z", 4, actor="usr_1"),
            failures("b", "2026-07-01T11:00:00Z", 6, actor="usr_2"),
            failures("c", "2026-07-01T12:00:00Z", 12, actor="usr_3"),
        ]
    )
    table = sensitivity(events, "brute_force_login", [3, 5, 10, 20])
    assert table.get_column("parameter").unique().to_list() == ["threshold"]
    assert table.get_column("findings").to_list() == [3, 2, 1, 0]
    assert table.get_column("events").to_list() == [22, 18, 12, 0]


def test_sensitivity_needs_a_tunable_parameter() -> None:
    events = fixture_events([failures("a", "2026-07-01T10:00:00Z", 4)])
    with pytest.raises(UsageError, match="no threshold parameter"):
        sensitivity(events, "privilege_escalation", [1, 2])


def test_empty_and_wrong_inputs() -> None:
    assert len(detect(pl.DataFrame(schema={"event_id": pl.String}))) == 0
    with pytest.raises(UsageError, match="Polars DataFrame or LazyFrame"):
        detect([{"event_id": "x"}])
    with pytest.raises(UsageError, match="unknown rule"):
        detect(fixture_events([failures("a", "2026-07-01T10:00:00Z", 1)]), rules=["brute_force"])


def test_null_group_values_form_their_own_group_shown_as_null() -> None:
    events = fixture_events(
        [
            {
                "id": "g",
                "event_type": "integration.api.call",
                "actor_type": "api_key",
                "actor_name": "Removed user",
                "flags": ["removed_user"],
            }
        ]
    )
    (finding,) = detect(events, rules=["removed_user_activity"]).to_dicts()
    assert finding["group"] == {"actor_id": None, "actor_name": "Removed user"}
