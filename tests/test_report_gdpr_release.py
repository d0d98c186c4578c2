"""GDPR Art. 15 on held-out data: the response discloses no staff and no other subject, the release record does.

The data here is made up for this file and shares nothing with data_samples: a different
subject (with a Chinese name), a different staff member who snoops on the subject's
conversation from their own IP address, another customer quoted in a note, an integration
named in the processing record, hostile bidi text, and names in Arabic, Hindi and emoji.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from pdfminer.high_level import extract_text
from pypdf import PdfReader

from auditreports.cli import main as cli_main
from auditreports.pipeline import gdpr_subject_access
from auditreports.report.gdpr import gdpr_deadline_status
from auditreports.report.render import visible_controls
from auditreports.report.settings import ReportSettings
from auditreports.schema import conform
from auditreports.store import write_store

T0 = datetime(2026, 4, 6, 9, 0, tzinfo=UTC)
SUBJECT = "cus_8801"
SUBJECT_EMAIL = "wang.xiaoming@example.org"
OTHER = {"id": "cus_8802", "email": "layla.haddad@example.org", "name": "Layla Haddad"}
SNOOP = {"id": "usr_9001", "name": "Zoltan Pry", "email": "zoltan.pry@corp.example", "ip": "203.0.113.77"}
AGENT = {"id": "usr_9002", "name": "Meera Quill", "email": "meera.quill@corp.example", "ip": "198.51.100.41"}
OWNER = {"id": "usr_9003", "name": "Idris Vale", "email": "idris.vale@corp.example", "ip": "2001:db8::7"}
# Not in the staff directory and never touched the subject's data, but named in a note.
COLLEAGUE = {"id": "usr_9004", "name": "Ottoline Brack", "email": "o.brack@corp.example", "ip": "203.0.113.90"}
STAFF = (SNOOP, AGENT, OWNER)


def _event(i: int, minutes: int, event_type: str, category: str, **fields: object) -> dict[str, object]:
    row: dict[str, object] = {
        "event_id": f"ho_{i:03d}",
        "seq": i,
        "timestamp": T0 + timedelta(minutes=minutes),
        "event_type": event_type,
        "category": category,
        "outcome": "success",
        "actor_type": "user",
        "source": "conversation",
        "raw": "{}",
    }
    row.update(fields)
    return row


def _staff(person: dict[str, str], role: str | None = "agent") -> dict[str, object]:
    return {
        "actor_id": person["id"],
        "actor_name": person["name"],
        "actor_email": person["email"],
        "actor_role": role,
        "ip": person["ip"],
    }


def held_out_events() -> pl.DataFrame:
    bot = {"actor_type": "bot", "actor_id": "bot_help", "actor_name": "Help Bot"}
    rows = [
        _event(
            1,
            0,
            "conversation.created",
            "conversation",
            conversation_id="c_1",
            subject_id=SUBJECT,
            channel="web",
            **bot,
        ),
        _event(2, 1, "bot.message.sent", "bot", conversation_id="c_1", subject_id=SUBJECT, **bot),
        _event(
            3,
            2,
            "bot.knowledge.retrieved",
            "bot",
            conversation_id="c_1",
            subject_id=SUBJECT,
            after='{"knowledge_base": "kb_billing", "documents": ["refund-policy"]}',
            **bot,
        ),
        # The role is missing in the log: the staff directory has it.
        _event(
            4,
            10,
            "conversation.claimed",
            "conversation",
            conversation_id="c_1",
            subject_id=SUBJECT,
            after=json.dumps({"assignee": AGENT["id"]}),
            **_staff(AGENT, role=None),
        ),
        _event(
            5,
            12,
            "conversation.note_added",
            "conversation",
            conversation_id="c_1",
            subject_id=SUBJECT,
            reason=(
                f"Same refund as {OTHER['id']} ({OTHER['name']}, {OTHER['email']}); ask {OWNER['name']} "
                f"({OWNER['email']}, {OWNER['id']}) — call from {SNOOP['ip']}. File invoice\u202egpj.exe attached. "
                f"{COLLEAGUE['name']} knows the case. Meera will call back; Layla's case is the same; "
                "Vale and Ottoline approved."
            ),
            **_staff(AGENT, role=None),
        ),
        # The snoop: another agent opens the subject's conversation, not assigned to them.
        _event(
            6,
            300,
            "data.conversation.view",
            "data_access",
            conversation_id="c_1",
            resource_id="c_1",
            subject_id=SUBJECT,
            reason="curious",
            **_staff(SNOOP),
        ),
        _event(
            7,
            301,
            "data.user_profile.view",
            "data_access",
            resource_type="customer",
            resource_id=SUBJECT,
            subject_id=SUBJECT,
            **_staff(SNOOP),
        ),
        # An export of several subjects, by the owner.
        _event(
            8,
            400,
            "data.export",
            "data_access",
            resource_type="export",
            resource_id="exp_1",
            subject_ids=[SUBJECT, OTHER["id"]],
            record_count=2,
            reason="monthly refunds review",
            **_staff(OWNER, role="owner"),
        ),
        # Integrations: the CRM (named in the record), and one not named there.
        _event(
            9,
            500,
            "integration.api.call",
            "integration",
            actor_type="api_key",
            actor_id="key_crm_ho",
            actor_name=OWNER["name"],
            ip="192.0.2.200",
            subject_id=SUBJECT,
            resource_id="GET /v1/customers",
        ),
        _event(
            10,
            501,
            "integration.webhook.delivered",
            "integration",
            actor_type="api_key",
            actor_id="key_mystery",
            actor_name=SNOOP["name"],
            ip="192.0.2.201",
            subject_id=SUBJECT,
        ),
        # Another subject's conversation, which must not appear at all.
        _event(
            11,
            600,
            "conversation.created",
            "conversation",
            conversation_id="c_2",
            subject_id=OTHER["id"],
            channel="email",
            **bot,
        ),
        _event(
            12,
            601,
            "data.conversation.view",
            "data_access",
            conversation_id="c_2",
            resource_id="c_2",
            subject_id=OTHER["id"],
            **_staff(SNOOP),
        ),
        _event(13, 700, "auth.login.success", "auth", **_staff(COLLEAGUE)),
        # The unnamed key was created before it acted, under a label that names its creator.
        _event(
            14,
            -60,
            "auth.api_key.created",
            "auth",
            resource_type="api_key",
            resource_id="key_mystery",
            after=json.dumps({"name": f"{SNOOP['name'].split()[0]} scraper"}),
            **_staff(SNOOP),
        ),
    ]
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return frame.with_columns(pl.col("subject_ids").fill_null(pl.lit([], pl.List(pl.String))))


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("org")
    (root / "customers.csv").write_text(
        "customer_id,email,name\n"
        f"{SUBJECT},{SUBJECT_EMAIL},王小明\n"
        f"{OTHER['id']},{OTHER['email']},{OTHER['name']}\n"
        "cus_8803,nobody@example.org,Nadia Idle\n",
        encoding="utf-8",
    )
    (root / "staff.csv").write_text(
        "staff_id,name,email,role,time_zone\n"
        + "".join(
            f"{p['id']},{p['name']},{p['email']},{r},{tz}\n"
            for p, r, tz in zip(
                STAFF, ("agent", "agent", "owner"), ("Asia/Manila", "Europe/Berlin", "UTC"), strict=True
            )
        ),
        encoding="utf-8",
    )
    (root / "record.yml").write_text(
        """
controller: {name: Example Clinic GmbH, contact: privacy@clinic.example, data_protection_officer: dpo@clinic.example}
purposes: [Answer your support requests]
categories_of_personal_data: {customers: [Contact data, Conversation content]}
recipients:
  - {name: CRM vendor Nimbus, purpose: Customer profile sync, api_keys: [key_crm_ho]}
  - {name: Analytics vendor, purpose: Service statistics}
  - {name: Clinic support team, purpose: Our staff answer your support requests}
retention: {conversations: 2 years}
data_subject_rights: {erasure: Art. 17 on request}
supervisory_authority: {name: "Berliner Beauftragte für Datenschutz und Informationsfreiheit", member_state: Germany}
source_of_data: [Directly from you]
automated_decision_making: {present: false}
""",
        encoding="utf-8",
    )
    return root


def _settings(root: Path) -> ReportSettings:
    return ReportSettings(
        organisation="Example Clinic GmbH",
        customers=root / "customers.csv",
        staff=root / "staff.csv",
        processing_record=root / "record.yml",
        charts=False,
    )


@pytest.fixture(scope="module")
def answer(directory: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("answer")
    return gdpr_subject_access(
        held_out_events(),
        period="2026-Q2",
        out_dir=out,
        subject=SUBJECT_EMAIL.upper(),  # found through the directory, case-insensitively
        received="2026-05-31",
        settings=_settings(directory),
        today=date(2026, 7, 1),  # the deadline (30 June, month-end) has passed
    )


def _documents(pdf: Path) -> dict[str, str]:
    docs = {"text": extract_text(str(pdf))}
    docs.update({name: data[0].decode("utf-8") for name, data in PdfReader(pdf).attachments.items()})
    return docs


def test_response_and_every_attachment_disclose_no_staff_and_no_other_subject(answer) -> None:
    docs = _documents(answer.pdf)
    assert set(docs) == {"text", "subject_data.json", "subject_data.csv"}
    forbidden = [OTHER["id"], OTHER["email"], OTHER["name"], "key_crm_ho", "key_mystery", "192.0.2.20"]
    forbidden += [p[k] for p in (*STAFF, COLLEAGUE) for k in ("id", "name", "email", "ip")]
    # A first name or a surname alone names the person too.
    forbidden += [part for p in (*STAFF, COLLEAGUE, OTHER) for part in p["name"].split()]
    for where, text in docs.items():
        flat = " ".join(text.split())
        leaked = [v for v in forbidden if re.search(rf"\b{re.escape(v)}\b", flat, re.I)]
        assert not leaked, f"{where} discloses {leaked}"
        assert "c_2" not in re.findall(r"\bc_\d+\b", flat), f"{where} holds another subject's conversation"
        for jargon in ("sha256", "verdict", "finding"):
            assert jargon not in flat.lower(), f"{where} holds audit jargon {jargon!r}"
        assert not re.search(r"\b(?:PARTIAL|VERIFIED|FAILED)\b", flat), f"{where} holds an integrity verdict"
    data = json.loads(docs["subject_data.json"])
    assert data["data_subject"] == {"ids": [SUBJECT], "emails": [SUBJECT_EMAIL]}
    assert data["controller"] == "Example Clinic GmbH"
    assert {e["event_id"] for e in data["events"]} == {f"ho_{i:03d}" for i in range(1, 11)}
    export = next(e for e in data["events"] if e["event_type"] == "data.export")
    assert export["subject_ids"] == [SUBJECT]


def test_response_says_when_why_and_by_which_role_and_names_recipients(answer) -> None:
    flat = " ".join(extract_text(str(answer.pdf)).split())
    # Consultations: role, date, reason — the role of the log-less claim comes from the staff directory.
    assert "staff (agent)" in flat and "staff (owner)" in flat and "role not recorded" not in flat
    assert "curious" in flat and "2026-04-06 14:00 UTC" in flat
    # Recipients by name from the record of processing; an unnamed key is said to be unnamed.
    assert "CRM vendor Nimbus" in flat and "Customer profile sync" in flat
    # The unnamed key is told by the label it was created under, its creator's name minimised.
    assert "an integration not named in our record of processing (“[staff member] scraper”)" in flat
    assert "integration (API key)" not in flat
    # Staff who handled the data work in Manila and Berlin (their directory time zones): the
    # support team's "where" says so although the record of processing gives no location.
    assert "Clinic support team" in flat and "Germany, Philippines" in flat
    # Bot answers and the knowledge used.
    assert "kb_billing: refund-policy" in flat
    # Art. 15(1)(a)-(h), with the Art. 77 authority of the organisation's member state.
    for letter in "abcdefgh":
        assert f"Art. 15(1)({letter})" in flat
    assert "Berliner Beauftragte für Datenschutz und Informationsfreiheit (Germany)" in flat
    # Placeholders say what was replaced; the bidi override is shown, not obeyed.
    assert "[other data subject]" in flat and "[staff member]" in flat and "[IP address]" in flat
    assert "invoice<U+202E>gpj.exe" in flat


def test_release_record_beside_it_carries_what_the_response_leaves_out(answer) -> None:
    assert answer.release_record == answer.pdf.parent / "release-record.pdf"
    flat = " ".join(extract_text(str(answer.release_record)).split())
    assert "Answer due by 2026-06-30" in flat  # 31 May + one month = 30 June (month end)
    assert "OVERDUE by 1 day(s)" in flat and "Integrity verdict" in flat
    assert SNOOP["name"] in flat and SNOOP["ip"] in flat  # staff named, for the DPO
    assert "key_mystery" in flat  # the gap to fix: a key in no recipient of the record
    assert "API key key_mystery (“[staff member] scraper”) acted on the subject's data" in flat
    assert "What was redacted from the response" in flat
    assert SUBJECT_EMAIL in flat and "Found in customer directory yes" in flat
    attachments = set(PdfReader(answer.release_record).attachments)
    assert attachments == {"events.csv", "findings.json", "verification.json", "manifest.json", "redactions.json"}
    events_csv = (answer.release_evidence_dir / "events.csv").read_text(encoding="utf-8")
    assert SNOOP["name"] in events_csv and "ho_011" not in events_csv  # staff columns; the subject's events only
    # The record proves what was released: the letter itself and each of its attachments, by sha256.
    import hashlib

    manifest = json.loads((answer.release_evidence_dir / "manifest.json").read_text(encoding="utf-8"))
    sha = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (answer.pdf, *answer.evidence_dir.iterdir())}
    assert manifest["released"] == sha and set(sha) == {"report.pdf", "subject_data.json", "subject_data.csv"}
    # The response's evidence folder holds nothing of the release record.
    assert {p.name for p in answer.evidence_dir.iterdir()} == {"subject_data.json", "subject_data.csv"}


def test_deadline_is_month_end_correct_and_extension_is_noted() -> None:
    assert gdpr_deadline_status("2026-01-31", today=date(2026, 2, 1)).due == date(2026, 2, 28)
    assert gdpr_deadline_status("2028-01-31", today=date(2028, 2, 1)).due == date(2028, 2, 29)
    extended = gdpr_deadline_status("2026-01-31", extension="complex request", today=date(2026, 3, 30))
    assert extended.due == date(2026, 4, 30) and extended.extended and not extended.overdue
    late = gdpr_deadline_status("2026-05-31", today=date(2026, 7, 1))
    assert late.overdue and late.status.startswith("OVERDUE by 1 day(s)")


def test_bidi_and_zero_width_characters_are_shown_not_obeyed() -> None:
    assert visible_controls("invoice\u202egpj.exe") == "invoice<U+202E>gpj.exe"
    assert visible_controls("pay\u200bpal\u2066x\u2069") == "pay<U+200B>pal<U+2066>x<U+2069>"
    assert visible_controls("pay\u200dpal") == "pay<U+200D>pal"
    # Joiners inside emoji sequences and Devanagari are part of the writing, not tricks.
    assert visible_controls("\U0001f469\u200d\U0001f4bb") == "\U0001f469\u200d\U0001f4bb"
    assert visible_controls("क्\u200dष") == "क्\u200dष"


class KernelStarted(Exception):
    """Raised by the stand-in for the notebook runner: the CLI got as far as starting a kernel."""


def test_unknown_subject_is_refused_before_the_notebook_starts(
    directory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    write_store(store, conform(held_out_events().lazy()).collect())
    started: list[object] = []

    def kernel(*args: object, **kwargs: object) -> None:
        started.append(args)
        raise KernelStarted

    monkeypatch.setattr("auditreports.commands.report.run_report_notebook", kernel)
    out = tmp_path / "out"
    base = ["report", "gdpr", "--store", str(store), "--period", "2026-Q2", "--received", "2026-05-31"]
    base += ["--customers", str(directory / "customers.csv"), "--out", str(out)]
    code = cli_main([*base, "--subject", "cus_88O1"])  # a typo: letter O for zero
    # The error is one line; "[auditreports] settings: …" before it is the settings-discovery progress line.
    err = "\n".join(
        line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("[auditreports] ")
    )
    assert code == 2 and not started and not out.exists()
    assert len(err.splitlines()) == 1 and "cus_88O1" in err and "--no-data-confirmed" in err
    for blank in ("", "   "):
        assert cli_main([*base, "--subject", blank]) == 2
        assert "subject" in capsys.readouterr().err and not started
    # A customer of the directory with no event is a legitimate "no data held"; so is a confirmed one.
    with pytest.raises(KernelStarted):
        cli_main([*base, "--subject", "cus_8803"])
    with pytest.raises(KernelStarted):
        cli_main([*base, "--subject", "cus_88O1", "--no-data-confirmed"])
    assert len(started) == 2


def test_no_data_response_is_written_only_when_confirmed(directory: Path, tmp_path: Path) -> None:
    from auditreports.errors import ParameterError

    kwargs = {"period": "2026-Q2", "received": "2026-05-31", "settings": _settings(directory)}
    with pytest.raises(ParameterError, match="--no-data-confirmed"):
        gdpr_subject_access(held_out_events(), out_dir=tmp_path / "refused", subject="cus_0000", **kwargs)
    assert not (tmp_path / "refused").exists()
    result = gdpr_subject_access(
        held_out_events(), out_dir=tmp_path / "none", subject="cus_0000", no_data_confirmed=True, **kwargs
    )
    flat = " ".join(extract_text(str(result.pdf)).split())
    assert "found no personal data about you" in flat
    assert "given deliberately (--no-data-confirmed)" in " ".join(extract_text(str(result.release_record)).split())


NAMES = ["王小明", "محمد الحسيني", "अनन्या शर्मा", "Zoë 😀👩‍💻", "Ελένη", "Łukasz"]


def test_names_in_the_scripts_of_the_world_render_with_real_glyphs(directory: Path, tmp_path: Path) -> None:
    """Chinese, Arabic, Hindi and emoji come from the Noto fonts, not as empty boxes (look at the PNG too)."""
    if not shutil.which("fc-list"):
        pytest.skip("fontconfig's fc-list is not installed")
    families = subprocess.run(["fc-list", ":", "family"], capture_output=True, text=True, check=True).stdout
    needed = ("Noto Sans CJK SC", "Noto Sans Arabic", "Noto Sans Devanagari", "Noto Color Emoji")
    missing = [f for f in needed if f not in families]
    if missing:
        pytest.skip(f"fonts {missing} are not installed; scripts/bootstrap.sh installs them")
    events = held_out_events().with_columns(
        pl.when(pl.col("event_id") == "ho_006")
        .then(pl.lit("asked about " + ", ".join(NAMES)))
        .otherwise(pl.col("reason"))
        .alias("reason")
    )
    result = gdpr_subject_access(
        events,
        period="2026-Q2",
        out_dir=tmp_path,
        subject=SUBJECT,
        received="2026-05-31",
        settings=_settings(directory),
        today=date(2026, 6, 1),
    )
    text = " ".join(extract_text(str(result.pdf)).split())
    for name in ("王小明", "Ελένη", "Łukasz", "😀"):
        assert name in text
    fonts: set[str] = set()
    for page in PdfReader(result.pdf).pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            fonts.add(str(font.get_object()["/BaseFont"]))
    used = " ".join(fonts)
    # Arabic is in DejaVu Sans itself; Chinese, Devanagari and emoji need the Noto fallbacks.
    for family in ("Noto-Sans-CJK", "Noto-Sans-Devanagari", "Noto-Color-Emoji"):
        assert family in used, f"{family} not used: {sorted(fonts)}"
    # Digits stay in DejaVu: the emoji font is a fallback, not a family the CSS names.
    assert "DejaVu-Sans" in used


def test_another_language_is_one_template_override(directory: Path, tmp_path: Path) -> None:
    """Every word of the response is in gdpr.html: an organisation's copy answers in German."""
    from auditreports._resources import templates_dir
    from auditreports.report.common import ReportInputs
    from auditreports.report.gdpr import build_gdpr_model, resolve_subject
    from auditreports.report.period import parse_period
    from auditreports.report.render import render_html

    shipped = (templates_dir() / "gdpr.html").read_text(encoding="utf-8")
    german = shipped.replace("<h1>Your personal data</h1>", "<h1>Ihre personenbezogenen Daten</h1>").replace(
        '"opened and read your conversation"', '"hat Ihr Gespräch geöffnet und gelesen"'
    )
    assert german != shipped
    overrides = tmp_path / "templates"
    overrides.mkdir()
    (overrides / "gdpr.html").write_text(german.replace('lang="en"', 'lang="de"'), encoding="utf-8")
    settings = _settings(directory)
    subject = resolve_subject(SUBJECT, settings.customers)
    inputs = ReportInputs(held_out_events(), period=parse_period("2026-Q2"))
    model = build_gdpr_model(inputs, subject, "2026-05-31", settings)
    html = render_html(model, ReportSettings(**{**settings.__dict__, "templates_dir": overrides}))
    assert "Ihre personenbezogenen Daten" in html and "hat Ihr Gespräch geöffnet und gelesen" in html
    assert 'lang="de"' in html and SNOOP["name"] not in html
