"""One organisation vocabulary: detection and the HIPAA report read the same PHI set and working time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import MappingProxyType

import polars as pl
import pytest

from auditreports.detect import detect
from auditreports.detect.functions import derived_fields
from auditreports.detect.settings import DetectionSettings
from auditreports.organisation import ActorHours, Organisation, off_hours_expr, phi_conversations
from auditreports.report.hipaa import after_hours_expr
from auditreports.report.hipaa import phi_conversations as hipaa_phi_conversations
from auditreports.report.settings import ReportSettings
from auditreports.schema import EVENT_SCHEMA, conform

T0 = datetime(2026, 7, 6, 9, 0, tzinfo=UTC)  # a Monday


def frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    base = {
        "actor_type": "user",
        "actor_id": "usr_1",
        "category": "conversation",
        "outcome": "success",
        "source": "conversation",
        "raw": "{}",
    }
    full = [
        {**base, "event_id": f"e{i}", "seq": i, "timestamp": T0 + timedelta(minutes=i), **row}
        for i, row in enumerate(rows)
    ]
    columns = {k for row in full for k in row} | {"conversation_id", "channel", "after", "resource_id"}
    data = {k: [row.get(k) for row in full] for k in columns}
    return conform(pl.DataFrame(data, schema={k: EVENT_SCHEMA[k] for k in columns})).collect()


def tag(conversation: str, after: str, event_type: str = "conversation.tag_applied") -> dict[str, object]:
    return {"event_type": event_type, "conversation_id": conversation, "after": after}


def phi_events() -> pl.DataFrame:
    return frame(
        [
            tag("c_tags", '{"tags": ["billing", "PHI"]}'),
            tag("c_tag", '{"tag": "phi"}'),
            tag("c_removed", '{"tags": ["phi"]}'),
            tag("c_removed", '{"tags": []}', "conversation.tag_removed"),
            tag("c_other", '{"tags": ["billing"]}'),
            tag("c_text", '{"tags": ["philosophy"]}'),  # a tag containing "phi" is not the tag phi
            {"event_type": "conversation.created", "conversation_id": "c_wa", "channel": "whatsapp"},
            {"event_type": "conversation.created", "conversation_id": "c_web", "channel": "web"},
            {
                "event_type": "bot.knowledge.retrieved",
                "conversation_id": "c_kb",
                "actor_type": "bot",
                "after": '{"knowledge_base": "kb_clinical", "documents": ["d1"]}',
            },
            {"event_type": "bot.knowledge.retrieved", "conversation_id": "c_kb2", "resource_id": "kb_clinical"},
            {"event_type": "bot.knowledge.retrieved", "conversation_id": "c_faq", "resource_id": "kb_faq"},
        ]
    )


ORG = Organisation(phi_tags=("phi",), phi_channels=("whatsapp",), phi_knowledge_bases=("kb_clinical",))
EXPECTED = ["c_kb", "c_kb2", "c_removed", "c_tag", "c_tags", "c_wa"]


def test_phi_conversations_reads_tags_channels_and_knowledge_bases() -> None:
    got = phi_conversations(phi_events(), ORG).collect().get_column("conversation_id").to_list()
    assert got == EXPECTED


def test_detection_and_the_hipaa_report_count_the_same_phi_conversations() -> None:
    events = phi_events()
    report = ReportSettings(
        phi_tags=ORG.phi_tags, phi_channels=ORG.phi_channels, phi_knowledge_bases=ORG.phi_knowledge_bases
    )
    detection = DetectionSettings(
        phi_tags=ORG.phi_tags, phi_channels=ORG.phi_channels, phi_knowledge_bases=ORG.phi_knowledge_bases
    )
    from_report = hipaa_phi_conversations(events, report).to_list()
    fn = derived_fields()["phi_tags"].fn
    marked = fn(events.lazy(), events.lazy(), detection, {"phi_scope": "conversation"}).collect()
    from_detection = sorted(marked.filter("conversation_phi").get_column("conversation_id").unique().to_list())
    assert from_report == from_detection == EXPECTED


def test_at_time_scope_needs_the_tag_in_force_but_channels_hold_throughout() -> None:
    events = frame(
        [
            {"event_type": "bot.knowledge.retrieved", "conversation_id": "c1", "actor_type": "bot"},
            tag("c1", '{"tags": ["phi"]}'),
            {"event_type": "bot.knowledge.retrieved", "conversation_id": "c1", "actor_type": "bot"},
            {"event_type": "bot.knowledge.retrieved", "conversation_id": "c2", "channel": "whatsapp"},
        ]
    )
    settings = DetectionSettings(phi_channels=("whatsapp",))
    fn = derived_fields()["phi_tags"].fn
    marked = fn(events.lazy(), events.lazy(), settings, {"phi_scope": "at_time"}).collect().sort("event_id")
    assert dict(zip(marked["event_id"], marked["conversation_phi"], strict=True)) == {
        "e0": False,
        "e1": True,
        "e2": True,
        "e3": True,
    }


def at(day: int, hour: int, minute: int = 0, actor: str = "usr_1", actor_type: str = "user") -> dict[str, object]:
    return {
        "event_type": "config.system_prompt.update",
        "category": "config",
        "timestamp": datetime(2026, 7, day, hour, minute, tzinfo=UTC),
        "actor_id": actor,
        "actor_type": actor_type,
    }


def test_working_time_is_one_expression_for_detection_and_the_report() -> None:
    events = frame(
        [
            at(6, 8, 29),  # Monday 09:29 London: before 09:30
            at(6, 8, 30),  # 09:30 London: working
            at(6, 16, 0),  # 17:00 London: after hours ([start, end))
            at(8, 12, 0),  # Wednesday: not a business day here
            at(6, 2, 0, actor="usr_mnl"),  # 10:00 Manila: working for this person
            at(6, 2, 0, actor="key_1", actor_type="api_key"),  # integrations are never after hours in the report
        ]
    )
    hours = MappingProxyType({"usr_mnl": ActorHours("Asia/Manila", "09:30-17:00", ("mon", "tue"))})
    report = ReportSettings(
        timezone="Europe/London", business_hours="09:30-17:00", business_days=("mon", "tue"), actors=hours
    )
    detection = DetectionSettings(
        timezone="Europe/London", business_hours="09:30-17:00", business_days=("mon", "tue"), actors=hours
    )
    assert report.org.business_minutes == detection.org.business_minutes
    after = events.select(after_hours_expr(report)).to_series().to_list()
    off = events.select(off_hours_expr(detection.org)).to_series().to_list()
    assert off == [True, False, True, True, False, True]
    assert after == [True, False, True, True, False, False]
    fn = derived_fields()["local_time"].fn
    local = fn(events.lazy(), events.lazy(), detection, {}).collect().sort("event_id")
    assert local["off_hours"].to_list() == off
    assert local["local_time"][4] == "Mon 2026-07-06 10:00 Asia/Manila"


def test_old_report_forms_mean_the_same_working_time() -> None:
    old = ReportSettings.from_mapping({"business_hours": [8, 18], "business_days": [0, 1, 2, 3, 4]})
    assert (old.business_hours, old.business_days) == ("08:00-18:00", ("mon", "tue", "wed", "thu", "fri"))
    assert ReportSettings.from_mapping({"business_days": ["mon"]}).business_days == ("mon",)
    with pytest.raises(Exception, match="business_days"):
        ReportSettings.from_mapping({"business_days": ["someday"]})


def test_retention_required_days_reaches_detection(tmp_path) -> None:
    from auditreports.settings import load_settings

    f = tmp_path / "s.yml"
    f.write_text("organisation:\n  retention_required_days: 2190\n", encoding="utf-8")
    s = load_settings(f)
    assert s.detection.org.retention_required_days == 2190 == s.organisation.retention_required_days
    assert detect(phi_events().lazy(), settings=s.detection).events_scanned == phi_events().height
