"""The three reports on the sample quarter, end to end: store -> verify -> detect -> PDF + evidence.

One ingest and one run per report kind for the whole module (they are slow: WeasyPrint
renders tens of pages). The assertions are what an auditor depends on: the planted
incidents of ``data_samples/ground_truth.json`` are named in the report that should show
them, the GDPR report and every attachment hold no other customer's id or e-mail, and
the attachments are byte for byte the files in ``evidence/``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from pypdf import PdfReader

from auditreports.cli import main as cli_main
from auditreports.pipeline import ReportResult, gdpr_subject_access, hipaa_phi_access, soc2_quarterly
from auditreports.settings import Settings, load_settings
from auditreports.store import open_store

pytestmark = pytest.mark.slow

SUBJECT = "cus_1062"  # 8 conversations in the sample quarter, one of them opened by the snooping agent
RECEIVED = "2026-10-05"


def _text(pdf: Path) -> str:
    """The PDF's text as poppler extracts it (what a reader can search and copy)."""
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True)
    return out.stdout


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, data_samples: Path) -> Path:
    path = tmp_path_factory.mktemp("pipeline") / "store"
    code = cli_main(
        ["ingest", str(data_samples / "workspace"), str(data_samples / "conversations"), "--store", str(path)]
    )
    assert code == 0
    return path


@pytest.fixture(scope="module")
def truth(data_samples: Path) -> dict[str, Any]:
    return dict(json.loads((data_samples / "ground_truth.json").read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def settings(data_samples: Path) -> Settings:
    # The sample workspace's own settings file: staff time zones for detection and the
    # HIPAA after-hours view, the customer directory and the processing record.
    return load_settings(data_samples / "settings.yml").with_report(organisation="Acme Health Ltd")


@pytest.fixture(scope="module")
def soc2(store: Path, settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> ReportResult:
    # Charts on in this one run: the kaleido/Chromium path is exercised once.
    return soc2_quarterly(store, period="2026-Q3", out_dir=tmp_path_factory.mktemp("soc2"), settings=settings)


@pytest.fixture(scope="module")
def hipaa(store: Path, settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> ReportResult:
    return hipaa_phi_access(
        store, period="2026-Q3", out_dir=tmp_path_factory.mktemp("hipaa"), settings=settings.with_report(charts=False)
    )


@pytest.fixture(scope="module")
def gdpr(store: Path, settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> ReportResult:
    return gdpr_subject_access(
        store,
        period="2026-Q3",
        out_dir=tmp_path_factory.mktemp("gdpr"),
        settings=settings.with_report(charts=False),
        subject=SUBJECT,
        received=RECEIVED,
        today=date(2026, 11, 20),  # generated after the deadline (2026-11-05): the release record says OVERDUE
    )


def _incident(truth: dict[str, Any], rule: str) -> dict[str, Any]:
    return next(i for i in truth["incidents"] if i.get("rule") == rule or i.get("kind") == rule)


def _assert_evidence_printed(text: str, incident: dict[str, Any]) -> None:
    """The incident's own events are in the PDF (finding evidence or appendix), not just a rule name."""
    ids = incident["event_ids"]
    printed = [e for e in ids if e in text]
    assert printed, f"none of the {len(ids)} events of {incident['id']} ({incident['title']}) is printed"


# ---------------------------------------------------------------- SOC 2


def test_soc2_names_every_planted_incident(soc2: ReportResult, truth: dict[str, Any]) -> None:
    text = _text(soc2.pdf)
    named = {
        "brute_force_login": "Brute-force login attempts against one account",
        "password_spraying": "Password spraying from one address",
        "failed_then_success": "Successful login after repeated failures",
        "large_export": "Large data export",
        "off_hours_config_change": "Bot configuration changed outside business hours",
        "privilege_escalation": "Role raised or self-granted",
        "removed_user_activity": "Activity by a removed user or a revoked key",
        "conversation_snooping": "Agent opening many conversations not assigned to them",
    }
    flat = " ".join(text.split())
    for rule, title in named.items():
        assert title in flat, rule
        _assert_evidence_printed(text, _incident(truth, rule))
    # The numbers that make them incidents are on the page too.
    assert "4800" in flat  # the oversized export's record count
    # The self-granted admin role, people by name and id (issue #20: no raw ids alone).
    assert re.search(r"\w+ \w+ \(usr_113\) changed \w+ \w+ \(usr_113\) from agent to admin", flat)
    assert "key_sheets_export" in flat  # the removed user's API key
    # The logging gap: the integrity check's outage, shown as a coverage gap with its day.
    gap = _incident(truth, "logging_gap")
    assert re.search(rf"{gap['date']} 00:00:00\s+{gap['date'][:8]}20 00:00:00", text), "logging gap not listed"
    assert "likely outage" in flat
    # The off-hours prompt change is in the change review as a before/after diff.
    off_hours = _incident(truth, "off_hours_config_change")
    assert off_hours["window_start"][:10] + " " + off_hours["window_start"][11:19] in flat
    assert "config.system_prompt.update" in flat


def test_soc2_has_charts_and_a_sensible_page_count(soc2: ReportResult) -> None:
    reader = PdfReader(soc2.pdf)
    assert 15 <= len(reader.pages) <= 80
    assert all(c.uri and c.uri.startswith("data:image/svg+xml") for c in soc2.model.charts.values())


# ---------------------------------------------------------------- HIPAA


def test_hipaa_names_phi_access_incidents(hipaa: ReportResult, truth: dict[str, Any]) -> None:
    text = _text(hipaa.pdf)
    flat = " ".join(text.split())
    assert "PHI" in flat and "accounting of disclosures" not in flat.lower().replace("not an accounting", "")
    assert "164.308(a)(1)(ii)(D)" in flat
    snooping = _incident(truth, "conversation_snooping")
    assert "Agent opening many conversations not assigned to them" in flat
    _assert_evidence_printed(text, snooping)
    export = _incident(truth, "large_export")
    assert "4800" in flat
    _assert_evidence_printed(text, export)


# ---------------------------------------------------------------- GDPR


def _other_identifiers(data_samples: Path, subject: str) -> tuple[set[str], set[str], set[str]]:
    with (data_samples / "customers.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    me = next(r for r in rows if r["customer_id"] == subject)
    ids = {r["customer_id"] for r in rows if r["customer_id"] != subject}
    emails = {r["email"].lower() for r in rows if r["email"] and r["email"].lower() != me["email"].lower()}
    names = {r["name"] for r in rows if r["name"] and r["name"] != me["name"]}
    return ids, emails, names


def _response_documents(gdpr: ReportResult) -> dict[str, str]:
    """The response's text and every attachment: everything the data subject receives."""
    documents = {"report.pdf (text)": _text(gdpr.pdf)}
    documents.update({name: data[0].decode("utf-8") for name, data in PdfReader(gdpr.pdf).attachments.items()})
    return documents


def test_gdpr_holds_no_other_customers_identifiers(gdpr: ReportResult, data_samples: Path) -> None:
    other_ids, other_emails, other_names = _other_identifiers(data_samples, SUBJECT)
    id_pattern = re.compile(r"cus_\d+")
    email_pattern = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
    documents = _response_documents(gdpr)
    # Only the subject's own data travels with the response; the audit evidence stays internal.
    assert set(documents) == {"report.pdf (text)", "subject_data.json", "subject_data.csv"}
    for name, text in documents.items():
        leaked_ids = set(id_pattern.findall(text)) & other_ids
        leaked_emails = {e.lower() for e in email_pattern.findall(text)} & other_emails
        assert not leaked_ids, f"{name} names other customers: {sorted(leaked_ids)[:5]}"
        assert not leaked_emails, f"{name} holds other customers' e-mails: {sorted(leaked_emails)[:5]}"
        flat = " ".join(text.split())
        leaked_names = {n for n in other_names if n in flat}
        assert not leaked_names, f"{name} names other customers: {sorted(leaked_names)[:5]}"
    assert SUBJECT in documents["report.pdf (text)"]


def test_gdpr_response_names_no_staff_member(gdpr: ReportResult, data_samples: Path, store: Path) -> None:
    """Art. 15(4): no staff name, e-mail, id or IP address in the response or any attachment."""
    with (data_samples / "staff.csv").open(encoding="utf-8", newline="") as fh:
        staff = list(csv.DictReader(fh))
    # Staff who are in the log but not (or no longer) in the directory count too.
    logged = (
        open_store(store)
        .events.filter(pl.col("actor_type").cast(pl.String).is_in(["user", "api_key"]))
        .select("actor_type", "actor_id", "actor_name", "actor_email", "ip")
        .unique()
        .collect()
    )
    forbidden = {r[k] for r in staff for k in ("staff_id", "name", "email") if r[k]}
    for column in ("actor_id", "actor_email", "ip"):
        forbidden |= {v for v in logged[column].drop_nulls().to_list() if v != "Removed user"}
    # An API key's label ("Email bridge") names an integration, not a person: the response may say it.
    users = logged.filter(pl.col("actor_type").cast(pl.String) == "user")
    forbidden |= {v for v in users["actor_name"].drop_nulls().to_list() if v != "Removed user"}
    for name, text in _response_documents(gdpr).items():
        flat = " ".join(text.split()).lower()
        leaked = sorted(v for v in forbidden if v.lower() in flat)
        assert not leaked, f"{name} discloses staff: {leaked[:5]}"
        assert not re.search(r"\b(?:\d{1,3}\.){3}\d{1,3}\b", text), f"{name} holds an IP address"
        for jargon in ("sha256", "integrity verdict", "finding"):
            assert jargon not in flat, f"{name} holds audit jargon {jargon!r}"
        assert not re.search(r"\b(?:PARTIAL|VERIFIED|FAILED)\b", text), f"{name} holds an integrity verdict"


def test_gdpr_answers_art15_with_recipients_and_data(gdpr: ReportResult, data_samples: Path, store: Path) -> None:
    flat = " ".join(_text(gdpr.pdf).split())
    assert "request of 2026-10-05" in flat
    for letter in "abcdefgh":
        assert f"Art. 15(1)({letter})" in flat
    assert "Acme Health Ltd" in flat and "dpo@acme.example" in flat
    # Recipients by name from the record of processing, not "integration (API key)".
    assert "CRM vendor (processor)" in flat and "Zapier (processor)" in flat
    assert "API key" not in flat and "role not recorded" not in flat
    # Art. 77: the supervisory authority named in the record of processing.
    assert "Information Commissioner's Office (ICO)" in flat
    data = json.loads((gdpr.evidence_dir / "subject_data.json").read_text(encoding="utf-8"))
    assert data["data_subject"]["ids"] == [SUBJECT] and data["controller"] == "Acme Health Ltd"
    assert data["events"], "the machine-readable copy is empty"
    conversations = {e["conversation_id"] for e in data["events"] if e["conversation_id"]}
    theirs = (
        open_store(store)
        .events.filter((pl.col("subject_id") == SUBJECT) & pl.col("conversation_id").is_not_null())
        .select(pl.col("conversation_id").unique())
        .collect()
        .to_series()
        .to_list()
    )
    assert conversations == set(theirs) and len(theirs) >= 5  # every one of their conversations, no other
    assert {e["performed_by"] for e in data["events"]} >= {"staff (agent)", "support assistant (automated)"}


def test_gdpr_release_record_carries_what_the_response_leaves_out(gdpr: ReportResult) -> None:
    assert gdpr.release_record is not None and gdpr.release_record.parent == gdpr.pdf.parent
    assert gdpr.release_evidence_dir is not None
    flat = " ".join(_text(gdpr.release_record).split())
    assert "Answer due by 2026-11-05" in flat and "Integrity verdict" in flat
    assert "OVERDUE" in flat
    # The snooping agent's finding on the subject's conversation, with the staff member named.
    assert "Agent opening many conversations not assigned to them" in flat
    assert "(agent)" in flat and "What was redacted from the response" in flat
    attached = set(PdfReader(gdpr.release_record).attachments)
    assert attached == {"events.csv", "findings.json", "verification.json", "manifest.json", "redactions.json"}
    manifest = json.loads((gdpr.release_evidence_dir / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["released"]) == {"report.pdf", "subject_data.json", "subject_data.csv"}
    for name, digest in manifest["released"].items():
        sent = gdpr.pdf if name == "report.pdf" else gdpr.evidence_dir / name
        assert hashlib.sha256(sent.read_bytes()).hexdigest() == digest
    findings = json.loads((gdpr.release_evidence_dir / "findings.json").read_text(encoding="utf-8"))["findings"]
    events = (gdpr.release_evidence_dir / "events.csv").read_text(encoding="utf-8")
    assert findings and all(e in events for f in findings for e in f["event_ids"])


# ---------------------------------------------------------------- attachments = evidence files


@pytest.mark.parametrize("kind", ["soc2", "hipaa", "gdpr"])
def test_attachments_are_the_evidence_files(kind: str, request: pytest.FixtureRequest) -> None:
    result: ReportResult = request.getfixturevalue(kind)
    pdf, evidence_dir = result.pdf, result.evidence_dir
    if kind == "gdpr":  # the internal evidence is the release record's; the response carries only subject_data
        assert result.release_record is not None and result.release_evidence_dir is not None
        assert {p.name for p in evidence_dir.iterdir()} == {"subject_data.json", "subject_data.csv"}
        pdf, evidence_dir = result.release_record, result.release_evidence_dir
    attached = {name: data[0] for name, data in PdfReader(pdf).attachments.items()}
    on_disk = {p.name: p.read_bytes() for p in evidence_dir.iterdir()}
    assert attached == on_disk
    assert {"findings.json", "events.csv", "verification.json", "manifest.json"} <= set(on_disk)
    manifest = json.loads(on_disk["manifest.json"])
    for name, digest in manifest["files"].items():
        assert hashlib.sha256(on_disk[name]).hexdigest() == digest


@pytest.fixture(scope="module")
def detected(store: Path, data_samples: Path) -> dict[str, dict[str, Any]]:
    """``auditreports detect --json`` on the same store with the same settings file, by finding id."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli_main(["detect", "--store", str(store), "--settings", str(data_samples / "settings.yml"), "--json"])
    assert code in (0, 1)
    return {f["finding_id"]: f for f in json.loads(out.getvalue())["findings"]}


@pytest.mark.parametrize("kind", ["soc2", "hipaa"])
def test_evidence_findings_are_the_findings_detect_returns(
    kind: str, request: pytest.FixtureRequest, detected: dict[str, dict[str, Any]]
) -> None:
    """Every finding in findings.json equals the finding of the same id from detect --json."""
    result: ReportResult = request.getfixturevalue(kind)
    evidence = json.loads((result.evidence_dir / "findings.json").read_text(encoding="utf-8"))["findings"]
    assert len(evidence) == len(result.model.findings) > 1
    for finding in evidence:
        assert finding == detected[finding["finding_id"]], finding["finding_id"]
    # And the PDF's findings are those same findings (title, rule, group by id).
    views = {v.finding_id: v for v in result.model.findings}
    assert set(views) == {f["finding_id"] for f in evidence}
    for finding in evidence:
        assert views[finding["finding_id"]].title == finding["title"]
        assert views[finding["finding_id"]].rule_name == finding["rule_name"]


def test_gdpr_evidence_findings_are_matched_by_id(gdpr: ReportResult, detected: dict[str, dict[str, Any]]) -> None:
    """The release record's findings.json pairs each finding with its own title, summary and group
    (they were once zipped in different orders), keeping only the subject's events."""
    assert gdpr.release_evidence_dir is not None
    evidence = json.loads((gdpr.release_evidence_dir / "findings.json").read_text(encoding="utf-8"))["findings"]
    release = gdpr.model.extra["release_record"]
    views = {v.finding_id: v for v in release.findings}
    assert len(evidence) == len(views) >= 2  # several findings, so a positional pairing would show
    for finding in evidence:
        same = detected[finding["finding_id"]]
        view = views[finding["finding_id"]]
        for key in ("rule_id", "severity", "window_start", "title", "summary", "group"):
            assert finding[key] == same[key], (finding["finding_id"], key)
        assert (finding["title"], finding["rule_name"]) == (view.title, view.rule_name)
        assert set(finding["event_ids"]) <= set(same["event_ids"]) and finding["event_ids"]
        assert finding["event_ids_total"] == len(same["event_ids"])


def test_detection_settings_reach_the_report(soc2: ReportResult, truth: dict[str, Any]) -> None:
    """With the staff time zones of settings.yml, the only off-hours change is the planted one."""
    findings = json.loads((soc2.evidence_dir / "findings.json").read_text(encoding="utf-8"))["findings"]
    off_hours = [f for f in findings if f["rule_name"] == "off_hours_config_change"]
    planted = set(_incident(truth, "off_hours_config_change")["event_ids"])
    assert len(off_hours) == 1 and set(off_hours[0]["event_ids"]) == planted


def test_organisation_rules_run_in_the_report_and_change_the_stamp(tmp_path: Path, data_samples: Path) -> None:
    """rules_dirs: an organisation's own rule fires in the report and its file is in the rule-pack hash."""
    from auditreports.sources import load

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "password_reset.yml").write_text(
        "id: 0f7a1f9e-3d1b-4c55-9a51-7f3f1b2c9d10\n"
        "name: org_password_reset\n"
        "title: Password reset outside the service desk (Acme policy 7.2)\n"
        "description: Acme resets passwords through the service desk only.\n"
        "why_it_matters: A reset outside the desk skips the identity check.\n"
        "what_to_check: The service-desk ticket for the reset.\n"
        "severity: medium\nstatus: stable\nreferences: []\nfalsepositives: []\ntags: []\n"
        'summary: "{actor_id} reset a password"\n'
        "logic:\n  kind: match\n  where:\n    event_type: auth.password.reset\n  group_by: [actor_id]\n"
    )
    events = load(data_samples / "workspace" / "workspace-audit-2026-Q3-0001.ndjson.gz").events.collect()
    assert events.filter(pl.col("event_type") == "auth.password.reset").height > 0
    settings = Settings().with_report(charts=False)
    plain = soc2_quarterly(events, period="2026-07", out_dir=tmp_path / "plain", settings=settings)
    org = soc2_quarterly(events, period="2026-07", out_dir=tmp_path / "org", settings=settings, rules_dirs=[rules])
    names = {f["rule_name"] for f in json.loads((org.evidence_dir / "findings.json").read_text())["findings"]}
    assert "org_password_reset" in names
    assert "Password reset outside the service desk" in _text(org.pdf)
    stamp = {
        label: dict(r.model.stamp.items)["rule-pack hash (sha256)"] for label, r in (("plain", plain), ("org", org))
    }
    assert stamp["plain"] != stamp["org"]


def test_the_stamp_names_the_settings_file_and_its_hash(hipaa: ReportResult, data_samples: Path) -> None:
    file = data_samples / "settings.yml"
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    assert dict(hipaa.model.stamp.items)["settings file"] == f"{file} (sha256 {digest})"
    text = "".join(page.extract_text() or "" for page in PdfReader(hipaa.pdf).pages)
    assert digest[:16] in re.sub(r"\s+", "", text)


def test_hipaa_counts_the_phi_conversations_detection_counts(
    hipaa: ReportResult, store: Path, settings: Settings
) -> None:
    from auditreports.organisation import phi_conversations

    expected = phi_conversations(open_store(store).events, settings.organisation).collect().height
    facts = dict(fact for section in hipaa.model.sections for fact in section.facts)
    assert expected > 0 and facts["PHI conversations"] == str(expected)


def test_reports_remove_their_temporary_copy_of_the_period(
    store: Path, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report on a store copies the period to a temporary directory and removes it once its model is built."""
    import tempfile

    from auditreports.report import common

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    made: list[Path] = []
    original = common.PeriodCopy.__init__

    def spy(self: common.PeriodCopy, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        made.append(self.directory)

    monkeypatch.setattr(common.PeriodCopy, "__init__", spy)
    quiet = settings.with_report(charts=False)
    soc2_quarterly(store, period="2026-07", out_dir=tmp_path / "soc2", settings=quiet)
    gdpr_subject_access(
        store, period="2026-Q3", out_dir=tmp_path / "gdpr", settings=quiet, subject=SUBJECT, received=RECEIVED
    )
    assert len(made) == 2 and all(d.parent == scratch for d in made)
    assert not [p.name for p in scratch.iterdir() if p.name.startswith("auditreports-period-")]
