"""GDPR Art. 15, after a reader's review: what happened decides who received the data, integration
labels are not staff names, a late answer says so, logging gaps are told, health labels are shown.

Held-out data of tests/test_report_gdpr_release.py plus: a record of processing with an LLM
provider abroad, a workspace host and support staff (none with API keys), an e-mail bridge
whose key is labelled "Mailgate bridge" in the log, a PHI tag and an ordinary tag on the
subject's conversation, a silence in the log while that conversation is open.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from pdfminer.high_level import extract_text
from pypdf import PdfReader
from test_report_gdpr_release import AGENT, SUBJECT, SUBJECT_EMAIL, _event, _staff, held_out_events

from auditreports.pipeline import gdpr_subject_access
from auditreports.report.settings import ReportSettings

RECORD = """
controller: {name: Example Clinic GmbH, contact: privacy@clinic.example, representative_in_eu: "Clinic Rep B.V., Delft"}
purposes: [Answer your support requests, Quality assurance of our answers]
legal_bases:
  - {purpose: Answer support requests, basis: Art. 6(1)(b) contract}
  - {purpose: Quality assurance, basis: Art. 6(1)(f) legitimate interests}
data_subject_rights: {erasure: Art. 17 on request, complaint: to the authority}
recipients:
  - {name: Clinic support staff, purpose: Answer and resolve your support requests}
  - {name: Helpdesk platform vendor, purpose: Hosts the support workspace (hosting in the EU)}
  - {name: LLM provider, purpose: Generates the support assistant's answers, location: United States}
  - {name: Mailgate bridge, purpose: Delivers e-mail into the workspace, api_keys: [key_mail_ho]}
  - {name: Survey vendor, purpose: Satisfaction surveys, api_keys: [key_survey_ho]}
supervisory_authority: {name: Test Authority, member_state: Germany}
"""


def _events() -> pl.DataFrame:
    base = held_out_events()
    extra = pl.DataFrame(
        [
            _event(
                20,
                3,
                "integration.api.call",
                "integration",
                actor_type="api_key",
                actor_id="key_mail_ho",
                actor_name="Mailgate bridge",
                subject_id=SUBJECT,
                conversation_id="c_1",
                resource_id="POST /v1/conversations",
                reason="Mailgate bridge: POST /v1/conversations 201",
            ),
            _event(
                21,
                11,
                "conversation.tag_applied",
                "conversation",
                conversation_id="c_1",
                subject_id=SUBJECT,
                before='{"tags": []}',
                after='{"tags": ["phi", "repeat_prescription"]}',
                **_staff(AGENT),
            ),
        ],
        infer_schema_length=None,
    )
    return pl.concat([base, extra], how="diagonal_relaxed")


@pytest.fixture(scope="module")
def late(tmp_path_factory: pytest.TempPathFactory):
    return _answer(tmp_path_factory, today=date(2026, 7, 3))


def _answer(
    tmp_path_factory: pytest.TempPathFactory,
    record: str = RECORD,
    events: pl.DataFrame | None = None,
    period: str = "2026-Q2",
    **kwargs: object,
):
    root = tmp_path_factory.mktemp("org")
    (root / "customers.csv").write_text(f"customer_id,email,name\n{SUBJECT},{SUBJECT_EMAIL},Wang\n", encoding="utf-8")
    (root / "staff.csv").write_text(
        f"staff_id,name,email,role,time_zone\n{AGENT['id']},{AGENT['name']},{AGENT['email']},agent,UTC\n",
        encoding="utf-8",
    )
    (root / "record.yml").write_text(record, encoding="utf-8")
    settings = ReportSettings(
        organisation="Example Clinic GmbH",
        customers=root / "customers.csv",
        staff=root / "staff.csv",
        processing_record=root / "record.yml",
        charts=False,
        coverage_gap_hours=2,  # c_1 is open from 09:00 to 14:01 and the log is silent 09:12-14:00
    )
    return gdpr_subject_access(
        _events() if events is None else events,
        period=period,
        out_dir=tmp_path_factory.mktemp("late"),
        subject=SUBJECT,
        received="2026-05-31",
        settings=settings,
        **kwargs,  # type: ignore[arg-type]
    )


def _flat(pdf: Path) -> str:
    return " ".join(extract_text(str(pdf)).split())


def test_received_yours_follows_what_happened(late) -> None:
    used = {r["name"]: r["used"] for r in late.model.extra["response"]["recipients"]}
    # The assistant answered: the LLM provider abroad received the data; the host holds it; staff acted.
    assert used == {
        "Clinic support staff": True,
        "Helpdesk platform vendor": True,
        "LLM provider": True,
        "Mailgate bridge": True,
        "Survey vendor": False,  # its key never acted on the subject's data
    }
    flat = _flat(late.pdf)
    section = flat[flat.index("5. Who received your data") : flat.index("Each time your data was passed on")]
    assert "United States" in section
    # 'Those marked "yes"' in the intro, then one "yes" per recipient that received the data.
    assert section.count("yes") == 1 + 4


def test_integration_labels_are_not_redacted_as_staff(late) -> None:
    attachments = PdfReader(late.pdf).attachments
    data = json.loads(attachments["subject_data.json"][0])
    bridge = next(e for e in data["events"] if e["event_id"] == "ho_020")
    assert bridge["reason"] == "Mailgate bridge: POST /v1/conversations 201"
    assert "Mailgate bridge: POST" in attachments["subject_data.csv"][0].decode("utf-8")
    # A key labelled with a person's name is still redacted (held-out data: key_crm_ho is named after the owner).
    assert "[staff member]" in attachments["subject_data.csv"][0].decode("utf-8")


def test_late_answer_apologises_and_the_record_says_why_or_that_no_reason_was_recorded(late) -> None:
    flat = _flat(late.pdf)
    assert "sorry that this answer reaches you late" in flat and "by 2026-06-30" in flat
    record = _flat(late.release_record)
    assert "OVERDUE by 3 day(s)" in record
    assert "Reason for the late answer NONE RECORDED" in record


def test_logging_gap_over_the_subjects_conversation_is_told(late) -> None:
    flat = _flat(late.pdf)
    assert "Our records for 2026-04-06 are incomplete" in flat and "in particular for your conversation(s) c_1" in flat
    record = _flat(late.release_record)
    assert "Logging gaps that touch the subject's data" in record
    assert "2026-04-06 09:12 UTC to 2026-04-06 14:00 UTC" in record and "c_1" in record
    assert "cannot be attested to hold every event about the data subject" in record
    assert "I checked that the response and its attachments hold every event" not in record


def test_health_labels_are_shown_in_plain_words(late) -> None:
    flat = _flat(late.pdf)
    assert "marked as containing health information" in flat
    assert '"repeat prescription"' in flat


def test_the_letter_speaks_plainly_and_the_copy_has_one_time_format(late) -> None:
    flat = _flat(late.pdf)
    # Staff actions without a conversation say in words what they concerned; no resource codes.
    assert "workspace-wide export" in flat and "your customer profile" in flat
    assert "exp_1" not in flat and "conversation reference" in flat
    # Each purpose once, with its legal basis; the complaint line does not repeat the authority.
    assert flat.count("Quality assurance") == 1
    assert "Quality assurance of our answers — legal basis: Art. 6(1)(f) legitimate interests" in flat
    assert "to the authority" not in flat
    assert "Our representative in the EU Clinic Rep B.V., Delft" in flat
    attachments = PdfReader(late.pdf).attachments
    events = json.loads(attachments["subject_data.json"][0])["events"]
    csv_times = [line.split(",")[1] for line in attachments["subject_data.csv"][0].decode("utf-8").splitlines()[1:]]
    assert sorted(csv_times) == sorted(e["timestamp"] for e in events)
    assert all(t.endswith("Z") and "T" in t for t in csv_times)


def test_extended_deadline_is_explained_to_the_subject(tmp_path_factory: pytest.TempPathFactory) -> None:
    extended = _answer(tmp_path_factory, today=date(2026, 7, 3), extension="your request covers four systems")
    flat = _flat(extended.pdf)
    assert "We extended the time to answer your request by two further months" in flat
    assert "because your request covers four systems" in flat and "by 2026-08-31" in flat
    assert "sorry" not in flat
    record = _flat(extended.release_record)
    assert "Reason for the late answer" not in record  # not overdue: 2026-05-31 + 3 months = 2026-08-31


def test_each_purpose_gets_its_own_legal_basis_exactly_where_the_record_pairs_them() -> None:
    from auditreports.report.gdpr import _purposes_with_bases

    record = {
        "purposes": [
            "Quality assurance",
            "Quality assurance for model training",
            {"purpose": "Security logging", "basis": "Art. 6(1)(c) legal obligation"},
            "Answer your support requests",
        ],
        "legal_bases": [
            {"purpose": "Quality assurance", "basis": "Art. 6(1)(f) legitimate interests"},
            {"purpose": "quality  assurance for model TRAINING", "basis": "Art. 6(1)(a) consent"},
            {"purpose": "Answer support requests", "basis": "Art. 6(1)(b) contract"},
            {"purpose": "Fraud prevention", "basis": "Art. 6(1)(f) legitimate interests"},
        ],
    }
    assert _purposes_with_bases(record) == [
        "Quality assurance — legal basis: Art. 6(1)(f) legitimate interests",
        # The exact pairing wins: the shorter purpose's words alone would have matched here too.
        "Quality assurance for model training — legal basis: Art. 6(1)(a) consent",
        "Security logging — legal basis: Art. 6(1)(c) legal obligation",
        "Answer your support requests — legal basis: Art. 6(1)(b) contract",  # by its words: no exact pairing
        "Fraud prevention — legal basis: Art. 6(1)(f) legitimate interests",
    ]
    # A purpose the record gives no basis for says so; a record without any pairing lists purposes plainly.
    assert _purposes_with_bases({"purposes": [{"purpose": "Analytics", "basis": "consent"}, "Backups"]})[1] == (
        "Backups — legal basis: ask our data protection officer"
    )
    assert _purposes_with_bases({"purposes": ["Backups"]}) == []


def test_release_record_flags_a_search_that_stops_before_the_request_and_a_purpose_without_basis(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    record = RECORD.replace(
        "purposes: [Answer your support requests, Quality assurance of our answers]",
        "purposes: [Answer your support requests, Quality assurance of our answers, Triage and routing]",
    )
    failed = pl.DataFrame(
        [
            _event(
                22,
                30,
                "integration.webhook.delivered",
                "integration",
                outcome="failure",
                actor_type="api_key",
                actor_id="key_survey_ho",
                actor_name="Survey vendor",
                subject_id=SUBJECT,
                conversation_id="c_1",
                reason="Survey vendor: POST /hooks 502",
            )
        ],
        infer_schema_length=None,
    )
    answer = _answer(
        tmp_path_factory,
        record=record,
        events=pl.concat([_events(), failed], how="diagonal_relaxed"),
        period="2026-04",  # the request of 31 May comes a month after the search ends
        today=date(2026, 6, 2),
    )
    release = _flat(answer.release_record)
    assert "The search covers 2026-04-01 to 2026-04-30, but the request arrived on 2026-05-31" in release
    assert "no legal basis for: Triage and routing" in release
    letter = _flat(answer.pdf)
    assert "Triage and routing — legal basis: ask our data protection officer" in letter
    # The failed delivery is in the copy of the activity, but nothing was passed on: no disclosure row.
    data = json.loads(PdfReader(answer.pdf).attachments["subject_data.json"][0])
    assert any(e["event_type"] == "integration.webhook.delivered" and e["outcome"] == "failure" for e in data["events"])
    assert "Survey vendor" not in letter.split("Each time your data was passed on")[-1].split("How and why")[0]
