"""The report model from small hand-made inputs: sections, completeness, findings, appendix."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from auditreports.errors import ConfigError, ParameterError
from auditreports.period import gdpr_deadline, parse_period
from auditreports.report.common import ReportInputs, config_diffs
from auditreports.report.engine import build_report
from auditreports.report.model import actor_expr
from auditreports.report.settings import ReportSettings
from auditreports.schema import EVENT_SCHEMA, conform

T0 = datetime(2026, 7, 6, 9, 0, tzinfo=UTC)  # a Monday


def event(i: int, event_type: str, category: str, *, minutes: int = 0, **fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "event_id": f"evt_{i:04d}",
        "seq": i,
        "timestamp": T0 + timedelta(minutes=minutes),
        "event_type": event_type,
        "category": category,
        "outcome": "failure" if event_type.endswith("failure") else "success",
        "actor_type": "user",
        "actor_id": "usr_1",
        "actor_name": "Dana Lee",
        "actor_email": "dana@acme.example",
        "actor_role": "admin",
        "ip": "198.51.100.23",
        "source": "workspace",
        "raw": "{}",
    }
    base.update(fields)
    return base


def make_events(extra: list[dict[str, object]] | None = None) -> pl.DataFrame:
    rows = [
        event(1, "auth.user.invited", "auth", after=json.dumps({"email": "new@acme.example", "role": "agent"})),
        event(
            2,
            "auth.permission.changed",
            "auth",
            minutes=5,
            before='{"role": "agent"}',
            after='{"role": "admin"}',
            resource_id="usr_7",
        ),
        event(3, "auth.user.removed", "auth", minutes=10, resource_id="usr_8"),
        *[
            event(
                10 + k,
                "auth.login.failure",
                "auth",
                minutes=20 + k,
                actor_email="eve@acme.example",
                ip=f"203.0.113.{k}",
            )
            for k in range(6)
        ],
        event(20, "auth.mfa.disabled", "auth", minutes=40),
        event(
            21,
            "config.system_prompt.update",
            "config",
            minutes=60,
            before='{"prompt": "Be helpful", "temperature": 0.2}',
            after='{"prompt": "Be helpful and leak", "temperature": 0.2}',
            resource_type="bot",
            resource_id="bot_1",
            reason="tuning",
        ),
        event(
            22,
            "data.export",
            "data_access",
            minutes=70,
            record_count=1200,
            subject_ids=["cus_1", "cus_2"],
            resource_id="exp_1",
        ),
        event(
            23,
            "conversation.note_added",
            "conversation",
            minutes=80,
            conversation_id="conv_1",
            subject_id="cus_1",
            reason='<img src="file:///etc/passwd">',
        ),
        event(99, "auth.login.success", "auth", minutes=60 * 24 * 120),  # outside the quarter
    ]
    rows += extra or []
    return conform(
        pl.DataFrame(
            rows,
            schema_overrides={
                k: v
                for k, v in EVENT_SCHEMA.items()
                if k in rows[0]
                or k
                in (
                    "subject_ids",
                    "record_count",
                    "before",
                    "after",
                    "reason",
                    "resource_id",
                    "resource_type",
                    "conversation_id",
                    "subject_id",
                )
            },
            strict=False,
        )
    ).collect()


def make_findings() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "finding_id": ["F-0001", "F-0002"],
            "rule_id": ["failed_login_burst", "mfa_disabled"],
            "rule_name": ["Failed login burst", "MFA disabled"],
            "severity": ["medium", "high"],
            "title": ["6 failed logins for eve@acme.example", "MFA disabled by Dana Lee"],
            "group": [{"account": "eve@acme.example"}, {"account": "dana@acme.example"}],
            "window_start": [T0 + timedelta(minutes=20), T0 + timedelta(minutes=40)],
            "window_end": [T0 + timedelta(minutes=25), T0 + timedelta(minutes=40)],
            "count": [6, 1],
            "event_ids": [[f"evt_{10 + k:04d}" for k in range(6)], ["evt_0020"]],
            "summary": ["Six failures from six IPs in five minutes.", "MFA turned off."],
        }
    )


LEDGER = {
    "version": 1,
    "inputs": [
        {
            "path": "audit.ndjson",
            "sha256": "ab" * 32,
            "lines_read": 12,
            "loaded": 10,
            "quarantined": 1,
            "blank": 1,
            "duplicates": 0,
            "conflicts": 0,
        }
    ],
    "fetches": [],
}
VERIFICATION = {
    "verdict": "FAILED",
    "events_checked": 10,
    "breaks": [{"kind": "modified", "event_id": "evt_0021", "position": 6, "detail": "hash mismatch"}],
    "unverified": [{"check": "signature", "reason": "no public key given"}],
}


def soc2_model(**kw: object):
    period = parse_period("2026-Q3")
    inputs = ReportInputs(
        make_events(), period=period, verification=VERIFICATION, findings=make_findings(), ledger=LEDGER
    )
    return build_report("soc2", inputs, ReportSettings(organisation="Acme", appendix_cap=5), **kw)  # type: ignore[arg-type]


def test_period_parser_accepts_quarter_month_year_and_dates() -> None:
    q = parse_period("2026-Q3")
    assert (q.start.isoformat(), q.end.isoformat()) == ("2026-07-01", "2026-09-30")
    m = parse_period("2026-02")
    assert m.end.isoformat() == "2026-02-28"
    y = parse_period("2024")
    assert (y.start.isoformat(), y.end.isoformat()) == ("2024-01-01", "2024-12-31")
    r = parse_period(start="2026-07-03", end="2026-07-09")
    assert r.days == 7
    for bad in ("2026-Q5", "Q3", "2026-13"):
        with pytest.raises(ParameterError):
            parse_period(bad)
    with pytest.raises(ParameterError):
        parse_period(start="2026-07-09", end="2026-07-03")


def test_gdpr_deadline_is_one_calendar_month_month_end_correct() -> None:
    assert gdpr_deadline("2026-01-31").isoformat() == "2026-02-28"
    assert gdpr_deadline("2028-01-31").isoformat() == "2028-02-29"
    assert gdpr_deadline("2026-03-31").isoformat() == "2026-04-30"
    assert gdpr_deadline("2026-12-15").isoformat() == "2027-01-15"


def test_settings_reject_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ConfigError, match="organization"):
        ReportSettings.from_mapping({"organization": "typo"})
    with pytest.raises(ConfigError):
        ReportSettings.from_mapping({"business_hours": [18, 8]})
    s = ReportSettings.from_mapping({"phi_tags": "phi", "business_hours": [7, 19], "logo": "x.png"})
    assert s.phi_tags == ("phi",) and s.business_hours == "07:00-19:00" and s.logo is not None  # old form read as HH:MM


def test_soc2_model_covers_access_auth_changes_exports_and_completeness() -> None:
    model = soc2_model()
    c = model.completeness
    assert c.period_events == 13 and c.outside_period == 1
    assert c.verdict == "FAILED" and c.breaks.rows[0][:2] == ["modified", "evt_0021"]
    assert c.unverified.rows == [["signature", "no public key given"]]
    assert c.reconciled
    sections = {s.key: s for s in model.sections}
    access = sections["access"].tables[0]
    changes = {row[1]: row for row in access.rows}
    assert changes["role change (mover)"][4:6] == ["agent", "admin"]
    assert "new@acme.example" in changes["joiner"][3]
    failed = sections["authentication"].tables[0].rows
    assert failed[0][:3] == ["eve@acme.example", "6", "6"]
    (diff,) = sections["changes"].diffs
    assert diff.changes == [("prompt", "Be helpful", "Be helpful and leak")]  # unchanged temperature not shown
    assert sections["exports"].tables[0].rows[0][2:4] == ["1200", "2"]


def test_findings_are_ordered_by_severity_with_their_evidence() -> None:
    model = soc2_model(triage={"F-0001": "closed — known pen test"})
    assert [f.finding_id for f in model.findings] == ["F-0002", "F-0001"]
    burst = model.findings[1]
    assert burst.triage == "closed — known pen test"
    # finding_evidence_rows (5) of its 6 events under the finding; the note points to the rest.
    assert len(burst.evidence.rows) == 5 and burst.evidence.rows[0][1] == "evt_0010"
    assert burst.evidence.note.startswith("First 5 of 6 events")
    assert dict(model.severity_counts)["high"] == 1
    assert [r[0] for r in model.signoff.decisions.rows] == ["F-0002", "F-0001"]


def test_appendix_is_capped_and_says_the_rest_is_in_the_csv() -> None:
    model = soc2_model()
    assert model.appendix.total == model.evidence_events.height > 5
    assert model.appendix.shown == 5 and model.appendix.truncated
    first = model.appendix.pages[0].splitlines()[0]
    assert first.startswith("2026-07-06 09:00:00 evt_0001")


def test_change_review_shows_only_changed_settings_and_says_when_nothing_changed() -> None:
    changes = make_events(
        [
            event(
                90,
                "config.model_settings.update",
                "config",
                before='{"model":"a","temperature":0.2}',
                after='{"model":"a","temperature":0.5}',
            ),
            event(
                91,
                "config.model_settings.update",
                "config",
                before='{"model":"a","temperature":0.5}',
                after='{"model":"a","temperature":0.5}',
            ),
        ]
    ).filter(pl.col("event_type") == "config.model_settings.update")
    diffs = config_diffs(changes, actor_expr())
    assert diffs[0].changes == [("temperature", "0.2", "0.5")]
    assert diffs[1].changes[0][0] == "(no setting differs)" and "no value differs" in diffs[1].changes[0][2]
