"""On the sample quarter, every planted incident is found by its rule with exactly its evidence, and the background stays quiet."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from auditreports.detect import Findings, detect
from auditreports.schema import conform
from auditreports.sources import load

pytestmark = pytest.mark.slow  # loading the quarter (~150,000 events) takes a while on 2 cores

# Findings on the clean background, each explained in docs/detection.md ("Findings on the sample quarter").
BACKGROUND_RULES = {"config_change", "privilege_escalation", "audit_logging_change"}


@pytest.fixture(scope="module")
def quarter(data_samples: Path) -> tuple[Findings, dict[str, Any]]:
    events = load([str(data_samples / "workspace"), str(data_samples / "conversations")]).events
    findings = detect(events, settings={"actors_csv": str(data_samples / "staff.csv")})
    truth = json.loads((data_samples / "ground_truth.json").read_text(encoding="utf-8"))
    return findings, truth


def detection_incidents(truth: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in truth["incidents"] if i["kind"] == "detection"]


def test_every_planted_incident_is_one_finding_of_its_rule_with_exactly_its_evidence(
    quarter: tuple[Findings, dict[str, Any]],
) -> None:
    findings, truth = quarter
    incidents = detection_incidents(truth)
    assert len(incidents) >= 8
    for incident in incidents:
        wanted = set(incident["event_ids"])
        touching = findings.frame.filter(
            (pl.col("rule_name") == incident["rule"])
            & pl.col("event_ids").list.eval(pl.element().is_in(list(wanted))).list.any()
        )
        assert touching.height == 1, (incident["id"], touching.select("summary").to_dicts())
        assert set(touching.get_column("event_ids").item()) == wanted, incident["id"]


def test_background_findings_are_only_the_documented_ones(quarter: tuple[Findings, dict[str, Any]]) -> None:
    findings, truth = quarter
    planted = {e for i in detection_incidents(truth) for e in i["event_ids"]}
    background = findings.frame.filter(~pl.col("event_ids").list.eval(pl.element().is_in(list(planted))).list.any())
    by_rule = dict(background.group_by("rule_name").len().iter_rows())
    assert set(by_rule) <= BACKGROUND_RULES, by_rule
    assert by_rule.get("privilege_escalation", 0) <= 1 and by_rule.get("audit_logging_change", 0) <= 1
    # config_change lists every change for review, one item per actor x change type x week
    config = findings.to_dicts()
    items = [f for f in config if f["rule_name"] == "config_change"]
    keys = [
        (f["group"]["actor_id"], f["group"]["event_type"], f["group"]["change_kind"], f["group"]["week"]) for f in items
    ]
    assert len(keys) == len(set(keys))
    assert (
        sum(f["count"] for f in items) == findings.frame.filter(pl.col("rule_name") == "config_change")["count"].sum()
    )
    # calibrated severities on the background: beyond informational, only the two model switches
    # (medium) and the owner's documented promotion (medium); the SIEM stream turned on is informational
    loud = background.filter(pl.col("severity") != "informational")
    assert sorted(loud.select("rule_name", pl.col("severity").cast(pl.String)).rows()) == [
        ("config_change", "medium"),
        ("config_change", "medium"),
        ("privilege_escalation", "medium"),
    ]
    # The medium change-review items: the model switches, and the planted retention change (longer
    # than before, still below HIPAA's six years) which is never filed as routine.
    assert sorted(f["group"]["change_kind"] for f in items if f["severity"] == "medium") == [
        "model switch",
        "model switch",
        "retention below requirement",
    ]
    (stream,) = [f for f in config if f["rule_name"] == "audit_logging_change"]
    assert stream["severity"] == "informational"


def test_the_phishing_prompt_is_high_wherever_it_shows(quarter: tuple[Findings, dict[str, Any]]) -> None:
    findings, truth = quarter
    (phish,) = [i for i in truth["incidents"] if i.get("rule") == "off_hours_config_change"]
    touching = findings.frame.filter(pl.col("event_ids").list.eval(pl.element().is_in(phish["event_ids"])).list.any())
    assert set(touching.get_column("rule_name")) == {"off_hours_config_change", "config_change"}
    assert set(touching.get_column("severity").cast(pl.String)) == {"high"}
    assert all("a URL" in s and "credentials" in s for s in touching.get_column("summary"))


def test_the_orphaned_key_names_its_owner(quarter: tuple[Findings, dict[str, Any]]) -> None:
    findings, truth = quarter
    (planted,) = [i for i in truth["incidents"] if i.get("rule") == "orphaned_api_key"]
    (found,) = [f for f in findings.to_dicts() if f["rule_name"] == "orphaned_api_key"]
    assert found["group"]["key_owner"] == planted["owner_id"]
    assert set(found["group"]) == {"actor_id", "key_owner"}  # by id: a name would reach GDPR responses
    assert planted["owner_id"] in found["summary"]


def test_held_out_snooping_on_conversations_the_log_does_not_cover_is_one_finding(
    quarter: tuple[Findings, dict[str, Any]], data_samples: Path
) -> None:
    # Held-out data: the quarter plus one agent opening 60 different customers' *older*
    # conversations (opened before the period: the loaded conversation log has no event
    # for them) in 50 minutes on a Tuesday afternoon.
    baseline, _ = quarter
    events = load([str(data_samples / "workspace"), str(data_samples / "conversations")]).events.collect()
    agent = events.filter(pl.col("actor_id") == "usr_125").row(0, named=True)
    start = datetime(2026, 9, 22, 14, 0, tzinfo=UTC)
    views = pl.DataFrame(
        {
            "event_id": [f"evt_heldout_{k:02d}" for k in range(60)],
            "timestamp": [start + timedelta(seconds=50 * k) for k in range(60)],
            "conversation_id": [f"conv_0{k:04d}" for k in range(60)],
            "subject_ids": [[f"cus_old_{k}"] for k in range(60)],
        }
    ).with_columns(
        event_type=pl.lit("data.conversation.view"),
        source_action=pl.lit("data.conversation_viewed"),
        category=pl.lit("data_access"),
        outcome=pl.lit("success"),
        actor_type=pl.lit("user"),
        actor_id=pl.lit("usr_125"),
        actor_name=pl.lit(agent["actor_name"]),
        actor_role=pl.lit("agent"),
        resource_type=pl.lit("conversation"),
        resource_id=pl.col("conversation_id"),
        ip=pl.lit("198.51.100.77"),
        source=pl.lit("workspace"),
    )
    held_out = pl.concat([events, conform(views).collect()], how="diagonal_relaxed")
    findings = detect(held_out, settings={"actors_csv": str(data_samples / "staff.csv")})
    new = findings.frame.join(baseline.frame.select("finding_id"), on="finding_id", how="anti")
    assert new.height == 1, new.select("rule_name", "summary").to_dicts()
    (found,) = new.to_dicts()
    assert found["rule_name"] == "conversation_snooping" and found["severity"] == "high"
    assert set(found["event_ids"]) == set(views["event_id"])
    group = json.loads(found["group"])
    assert group["assignment"] == "assignment unknown" and group["confidence"] == "medium"
    assert "assignment unknown; confidence medium" in found["summary"]
    # every earlier finding (each planted incident among them) is still there, unchanged
    assert set(baseline.frame["finding_id"]) <= set(findings.frame["finding_id"])
