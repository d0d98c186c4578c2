"""GDPR minimisation and the HIPAA PHI-access views, from small hand-made inputs."""

from __future__ import annotations

import json
from pathlib import Path

from pdfminer.high_level import extract_text
from pypdf import PdfReader
from test_report_model import LEDGER, VERIFICATION, event, make_events, make_findings

from auditreports.period import parse_period
from auditreports.report.common import ReportInputs
from auditreports.report.engine import build_report
from auditreports.report.gdpr import build_gdpr_model, resolve_subject
from auditreports.report.render import render_pdf
from auditreports.report.settings import ReportSettings

OTHERS = ["cus_2", "cus_3", "bob@example.com", "carol@example.com"]


def gdpr_events():
    return make_events(
        [
            event(
                40,
                "conversation.created",
                "conversation",
                minutes=200,
                conversation_id="conv_1",
                subject_id="cus_1",
                channel="web",
                actor_type="bot",
            ),
            event(
                41,
                "bot.knowledge.retrieved",
                "bot",
                minutes=201,
                conversation_id="conv_1",
                actor_type="bot",
                resource_id="kb_faq",
            ),
            event(
                42,
                "conversation.note_added",
                "conversation",
                minutes=202,
                conversation_id="conv_1",
                subject_id="cus_1",
                reason="same issue as cus_3 (carol@example.com); reply to alice@example.com",
                after='{"cc": "bob@example.com", "ref": "cus_2"}',
            ),
            event(
                43,
                "conversation.note_added",
                "conversation",
                minutes=203,
                conversation_id="conv_2",
                subject_id="cus_2",
                reason="unrelated",
            ),
        ]
    )


def test_gdpr_report_holds_the_subject_and_nobody_else(tmp_path: Path) -> None:
    customers = tmp_path / "customers.csv"
    customers.write_text(
        "customer_id,email,name\ncus_1,alice@example.com,Alice\ncus_2,bob@example.com,Bob\ncus_3,carol@example.com,Carol\n"
    )
    subject = resolve_subject("ALICE@example.com", customers)
    assert subject.ids == ("cus_1",)
    settings = ReportSettings(organisation="Acme", customers=customers)
    inputs = ReportInputs(
        gdpr_events(),
        period=parse_period("2026-Q3"),
        verification=VERIFICATION,
        findings=make_findings(),
        ledger=LEDGER,
    )
    model = build_gdpr_model(inputs, subject, "2026-01-31", settings)
    assert model.extra["deadline"] == "2026-02-28"
    ids = set(model.evidence_events["event_id"].to_list())
    assert {"evt_0022", "evt_0040", "evt_0041", "evt_0042"} <= ids  # export of them, conversation, bot retrieval, note
    assert "evt_0043" not in ids and "evt_0010" not in ids
    data = model.extra["subject_data"]
    assert data.filter(data["event_id"] == "evt_0022")["subject_ids"].to_list() == [["cus_1"]]
    assert "Dana Lee" not in json.dumps(data.to_dicts(), default=str)  # staff by role
    payload = json.dumps(data.to_dicts(), default=str).encode()
    pdf = render_pdf(model, tmp_path / "r.pdf", attachments={"subject_data.json": payload}, settings=settings)
    text = extract_text(str(pdf))
    attached = b"".join(d[0] for d in PdfReader(pdf).attachments.values()).decode()
    for other in OTHERS:
        assert other not in text and other not in attached, other
    assert "cus_1" in text and "alice@example.com" in text and "[other data subject]" in text
    assert "staff (admin)" in text and "Dana Lee" not in text
    assert "Art. 15(1)(h)" in text


def test_hipaa_phi_scope_staff_patient_after_hours_and_disclosures() -> None:
    extra = [
        event(
            50,
            "conversation.tag_applied",
            "conversation",
            minutes=0,
            conversation_id="conv_p1",
            subject_id="cus_7",
            after='{"tag": "phi"}',
        ),
        event(
            51,
            "conversation.claimed",
            "conversation",
            minutes=30,
            conversation_id="conv_p1",
            subject_id="cus_7",
            actor_id="usr_2",
            actor_name="Sam Roe",
            actor_role="agent",
        ),
        # 23:30 local (UTC) on Monday: after hours
        event(
            52,
            "data.conversation.view",
            "data_access",
            minutes=14 * 60 + 30,
            resource_id="conv_p1",
            subject_id="cus_7",
            actor_id="usr_3",
            actor_name="Max Snoop",
            actor_role="agent",
        ),
        event(53, "conversation.claimed", "conversation", minutes=40, conversation_id="conv_np", subject_id="cus_8"),
        event(
            54,
            "integration.webhook.delivered",
            "integration",
            minutes=50,
            actor_type="system",
            conversation_id="conv_p1",  # a webhook carrying a PHI conversation out
            after='{"url": "https://crm.example/hook", "purpose": "CRM sync"}',
        ),
        # The same delivery for a conversation without PHI is not a PHI disclosure.
        event(
            55,
            "integration.webhook.delivered",
            "integration",
            minutes=51,
            actor_type="system",
            conversation_id="conv_np",
            after='{"url": "https://crm.example/other", "purpose": "CRM sync"}',
        ),
    ]
    inputs = ReportInputs(
        make_events(extra),
        period=parse_period("2026-Q3"),
        verification=VERIFICATION,
        findings=make_findings(),
        ledger=LEDGER,
    )
    model = build_report("hipaa", inputs, ReportSettings(phi_tags=("phi",), bulk_access_threshold=1))
    s = {x.key: x for x in model.sections}
    assert dict(s["phi-scope"].facts)["PHI conversations"] == "1"
    staff = {row[0]: row for row in s["per-staff"].tables[0].rows}
    assert set(staff) == {"Dana Lee (admin)", "Sam Roe (agent)", "Max Snoop (agent)"}
    assert staff["Max Snoop (agent)"][4] == "1"  # after hours
    assert s["per-patient"].tables[0].rows[0][:3] == ["cus_7", "3", "3"]
    assert [r[:2] for r in s["after-hours"].tables[1].rows] == [["Max Snoop (agent)", "1"]]  # per staff member
    after = s["after-hours"].tables[2].rows
    assert [r[1] for r in after] == ["Max Snoop (agent)"]
    # The appendix prints what to review; events.csv holds every PHI access.
    assert model.appendix.total <= model.evidence_events.height and model.appendix.note
    disclosures = {r[1]: r for r in s["disclosures"].tables[1].rows}
    assert len(s["disclosures"].tables[1].rows) == 2  # the export and the PHI webhook, not the other one
    assert disclosures["integration.webhook.delivered"][3:5] == ["https://crm.example/hook", "CRM sync"]
    # One line per week x event x sender x recipient x purpose: times, days, records.
    assert disclosures["data.export"][5:8] == ["1", "1", "1200"]
    assert disclosures["data.export"][0].startswith("2026-W")
    assert "accounting of disclosures" not in model.title.lower()
