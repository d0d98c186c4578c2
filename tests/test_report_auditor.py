"""Reports an auditor signs off (issue 20): executive summary with a conclusion per criterion,
actionable findings, the change log as one item, every framework mapping used.

Run on a held-out workspace the developers did not write (``auditreports samples --seed 7``,
a small scale), ingested and detected exactly as a user would.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from auditreports.cli import main as cli_main
from auditreports.pipeline import prepare_inputs
from auditreports.report import build_report
from auditreports.report.common import ReportInputs
from auditreports.report.render import render_html
from auditreports.report.settings import ReportSettings
from auditreports.report.summary import EXCEPTIONS, NO_EXCEPTIONS, NOT_TESTABLE
from auditreports.settings import load_settings

SOC2_CRITERIA = ("CC6.1", "CC6.2", "CC6.3", "CC6.6", "CC6.7", "CC7.2", "CC7.3", "CC8.1")
HIPAA_CRITERIA = ("164.308(a)(1)(ii)(D)", "164.308(a)(5)(ii)(C)", "164.312(b)", "164.316(b)(2)")
LOGIN_RULES = ("brute_force_login", "password_spraying", "failed_then_success")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("heldout")
    assert cli_main(["samples", str(root / "data"), "--seed", "7", "--scale", "0.1"]) == 0
    data = root / "data"
    assert (
        cli_main(["ingest", str(data / "workspace"), str(data / "conversations"), "--store", str(root / "store")]) == 0
    )
    return root


@pytest.fixture(scope="module")
def settings(workspace: Path) -> Any:
    return load_settings(workspace / "data" / "settings.yml")


@pytest.fixture(scope="module")
def prepared(workspace: Path, settings: Any) -> Any:
    return prepare_inputs(workspace / "store", period="2026-Q3", detection=settings.detection)


@pytest.fixture(scope="module")
def soc2(prepared: Any, settings: Any) -> Any:
    return build_report("soc2", prepared.inputs, settings.report)


@pytest.fixture(scope="module")
def hipaa(prepared: Any, settings: Any) -> Any:
    return build_report("hipaa", prepared.inputs, settings.report)


def _conclusions(model: Any) -> dict[str, Any]:
    summary = next(s for s in model.sections if s.kind == "summary")
    return {c.criterion: c for c in summary.extra["conclusions"]}


def test_soc2_summary_concludes_every_listed_criterion_with_one_of_three(soc2: Any) -> None:
    conclusions = _conclusions(soc2)
    assert set(SOC2_CRITERIA) <= set(conclusions)
    refs = {f.ref: f for f in soc2.findings}
    for criterion in SOC2_CRITERIA:
        c = conclusions[criterion]
        assert c.conclusion in (NO_EXCEPTIONS, EXCEPTIONS, NOT_TESTABLE), criterion
        if c.conclusion == EXCEPTIONS:
            # Each reference is a finding of the report, of a rule the criterion cites, not informational.
            assert c.refs and all(r in refs for r in c.refs)
            assert all(refs[r].severity != "info" for r in c.refs)
        if c.conclusion == NOT_TESTABLE:
            assert c.basis  # says why
    # The held-out quarter has planted login incidents: CC6.1 has exceptions that name them.
    assert conclusions["CC6.1"].conclusion == EXCEPTIONS
    assert {refs[r].rule_name for r in conclusions["CC6.1"].refs} & set(LOGIN_RULES)


def test_summary_is_page_two_material_and_has_a_table_of_contents(soc2: Any) -> None:
    html = render_html(soc2, ReportSettings(charts=False))
    summary_at = html.index("Executive summary")
    assert summary_at < html.index("Scope and population completeness</h2>")
    assert 'href="#findings"' in html and "target-counter" not in html  # the counter is CSS, not text
    for criterion in SOC2_CRITERIA:
        assert criterion in html[summary_at : html.index('id="contents"')]


def test_a_log_without_authentication_events_makes_login_criteria_not_testable(prepared: Any, settings: Any) -> None:
    inputs = prepared.inputs
    no_auth = ReportInputs(
        inputs.events.filter(pl.col("category").cast(pl.String) != "auth"),
        period=inputs.period,
        verification=inputs.verification,
        findings=inputs.findings.clear(),
        ledger=inputs.ledger,
    )
    conclusions = _conclusions(build_report("soc2", no_auth, settings.report))
    assert conclusions["CC6.1"].conclusion == NOT_TESTABLE
    assert "login" in conclusions["CC6.1"].basis
    # A criterion whose population is still there is concluded, not "not testable".
    assert conclusions["CC8.1"].conclusion == NO_EXCEPTIONS
    hipaa = _conclusions(build_report("hipaa", no_auth, settings.report))
    assert hipaa["164.308(a)(5)(ii)(C)"].conclusion == NOT_TESTABLE


def test_broken_integrity_on_the_criterions_source_makes_it_not_testable(prepared: Any, settings: Any) -> None:
    inputs = prepared.inputs
    verification = json.loads(json.dumps(inputs.verification, default=str))
    for c in verification["checks"]:
        if c["check"] == "hash_chain":
            c["verdict"], c["breaks"] = "FAILED", 1
    verification["verdict"] = "FAILED"
    broken = ReportInputs(
        inputs.events, period=inputs.period, verification=verification, findings=inputs.findings, ledger=inputs.ledger
    )
    c = _conclusions(build_report("soc2", broken, settings.report))["CC8.1"]
    assert c.conclusion == NOT_TESTABLE and "hash_chain check found 1 break" in c.basis


def test_hipaa_summary_and_every_login_incident_the_soc2_report_names(soc2: Any, hipaa: Any) -> None:
    conclusions = _conclusions(hipaa)
    for criterion in HIPAA_CRITERIA:
        assert conclusions[criterion].conclusion in (NO_EXCEPTIONS, EXCEPTIONS, NOT_TESTABLE)
    soc2_login = {f.finding_id for f in soc2.findings if f.rule_name in LOGIN_RULES}
    hipaa_ids = {f.finding_id for f in hipaa.findings}
    assert soc2_login and soc2_login <= hipaa_ids
    assert {f.rule_name for f in soc2.findings if f.rule_name in LOGIN_RULES} == set(LOGIN_RULES)
    # Login monitoring is concluded under 164.308(a)(5)(ii)(C) with the findings it names.
    login = conclusions["164.308(a)(5)(ii)(C)"]
    assert login.conclusion == EXCEPTIONS
    by_ref = {f.ref: f.finding_id for f in hipaa.findings}
    assert {by_ref[r] for r in login.refs} == {f.finding_id for f in hipaa.findings if f.rule_name in LOGIN_RULES}


def test_every_non_informational_soc2_finding_of_a_hipaa_rule_is_in_the_hipaa_report(soc2: Any, hipaa: Any) -> None:
    from auditreports.report import load_report

    hipaa_rules = set(load_report("hipaa").framework.rule_names())
    wanted = {f.finding_id for f in soc2.findings if f.rule_name in hipaa_rules}
    assert wanted <= {f.finding_id for f in hipaa.findings}


def test_findings_say_why_what_to_check_and_what_happened_next(soc2: Any) -> None:
    detailed = [f for f in soc2.findings if f.detailed]
    assert detailed
    for f in detailed:
        assert f.why_it_matters and f.what_to_check, f.rule_name
    takeover = next(f for f in detailed if f.rule_name == "failed_then_success")
    assert takeover.related is not None and takeover.related.columns  # blast radius table built
    # Local time beside UTC for staff in the directory.
    assert "actor's local time" in takeover.evidence.columns


def test_routine_changes_are_one_change_log_item_in_the_sign_off(soc2: Any) -> None:
    routine = [f for f in soc2.findings if not f.detailed]
    assert routine, "the held-out quarter has routine configuration changes"
    rows = soc2.signoff.decisions.rows
    assert len(rows) == len([f for f in soc2.findings if f.detailed]) + 1
    assert rows[-1][0] == "change log" and rows[-1][2].startswith("Change log")


def test_people_are_named_with_their_id_and_keys_with_their_owner(soc2: Any, settings: Any) -> None:
    import re

    texts = [f.summary for f in soc2.findings] + [f.group for f in soc2.findings]
    # No bare staff id: every one is "Name (usr_…)".
    assert not [t for t in texts if re.search(r"(?<!\()\busr_\d+\b(?!\))", t)]
    directory = pl.read_csv(settings.report.staff)
    names = dict(zip(directory["staff_id"], directory["name"], strict=True))
    key = next((f for f in soc2.findings if f.rule_name == "orphaned_api_key"), None)
    if key is not None:  # the owner is named, by the key's creation event or the directory
        owner = re.search(r"API key of ([^()]+) \((usr_\d+)\)", key.summary + key.group)
        assert owner and names[owner.group(2)] == owner.group(1).strip()


def test_hipaa_withholds_conversation_free_text_unless_asked(prepared: Any, settings: Any, hipaa: Any) -> None:
    from auditreports.report.minimum import WITHHELD

    notes = (
        prepared.inputs.events.filter(pl.col("event_type").str.contains("note") & pl.col("reason").is_not_null())
    ).collect()
    assert notes.height, "the held-out quarter has conversation notes"
    texts = set(notes.get_column("reason").to_list())
    evidence = hipaa.evidence_events
    assert not texts & set(evidence.get_column("reason").drop_nulls().to_list())
    conv = evidence.filter(pl.col("category").cast(pl.String) == "conversation")
    assert conv.height and set(conv.get_column("raw").to_list()) == {WITHHELD}
    html = render_html(hipaa, settings.report)
    assert not [t for t in texts if len(t) > 20 and t in html]
    # Asked for: the free text is kept.
    import dataclasses

    full = build_report("hipaa", prepared.inputs, dataclasses.replace(settings.report, phi_free_text=True))
    assert WITHHELD not in set(full.evidence_events.get_column("raw").to_list())


def test_hipaa_appendix_is_grouped_per_actor_type_week(hipaa: Any) -> None:
    assert hipaa.appendix.unit == "grouped line(s)"
    assert hipaa.appendix.shown < hipaa.evidence_events.height
    assert "actor × event type × ISO week" in hipaa.appendix.note
    assert hipaa.appendix.header.startswith("week ") and hipaa.appendix.lines[0][:4] == "2026"


def test_long_free_text_is_cut_with_an_ellipsis() -> None:
    from auditreports.report.model import table_from_frame

    t = table_from_frame(pl.DataFrame({"r": ["x" * 100_000, "short"]}), {"reason": "r"}, "", max_chars=300)
    assert len(t.rows[0][0]) == 300 and t.rows[0][0].endswith("…") and t.rows[1][0] == "short"


# ---------------------------------------------------------------- the rendered report and its HTML twin


@pytest.fixture(scope="module")
def rendered(workspace: Path, settings: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from auditreports.pipeline import framework_report

    out = tmp_path_factory.mktemp("soc2-rendered")
    return framework_report(
        "soc2", workspace / "store", period="2026-Q3", out_dir=out, settings=settings.with_report(charts=False)
    )


def _pdf_text(pdf: Path) -> str:
    import subprocess

    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout


def test_summary_is_on_page_two_and_the_contents_have_page_numbers(rendered: Any) -> None:
    import re

    from pypdf import PdfReader

    pages = [p.extract_text() or "" for p in PdfReader(str(rendered.pdf)).pages]
    assert "Executive summary" in pages[1] and "Conclusion per criterion" in pages[1]
    contents = next(p for p in pages[1:4] if "Contents" in p)
    # Each entry ends in the page it starts on (target-counter): the findings entry points at the findings page.
    m = re.search(r"Findings by severity\s*\.*\s*(\d+)", contents)
    assert m and "Findings by severity" in pages[int(m.group(1)) - 1]


def test_population_evidence_and_procedure_are_printed(rendered: Any, workspace: Path) -> None:
    import hashlib

    text = _pdf_text(rendered.pdf)
    manifest = json.loads((rendered.evidence_dir / "manifest.json").read_text(encoding="utf-8"))
    verification = json.loads((rendered.evidence_dir / "verification.json").read_text(encoding="utf-8"))
    head = verification["chain_heads"]["workspace"]["head"]
    assert head["hash"][:40] in text.replace("\n", "").replace(" ", "")
    assert "Re-performing the population test" in text and "auditreports verify --store reperform" in text
    settings_sha = hashlib.sha256((workspace / "data" / "settings.yml").read_bytes()).hexdigest()
    staff_sha = hashlib.sha256((workspace / "data" / "staff.csv").read_bytes()).hexdigest()
    hashed = {c["sha256"] for c in manifest["configuration"]}
    assert {settings_sha, staff_sha} <= hashed
    assert settings_sha[:32] in text.replace("\n", "").replace(" ", "")


def test_html_twin_is_self_contained_draws_its_charts_and_requests_nothing(rendered: Any, tmp_path: Path) -> None:
    import shutil
    import socket
    import subprocess
    import threading

    html = rendered.html
    assert html is not None and html.parent == rendered.pdf.parent and html.name == "report.html"
    source = html.read_text(encoding="utf-8")
    assert "Executive summary" in source and "Conclusion per criterion" in source
    import re

    markup = re.sub(r"<script>.*?</script>", "", source, flags=re.S)  # plotly.js itself mentions its website
    assert "<script src" not in source and "<link" not in markup
    # The evidence the report calls embedded is linked where it lies beside the page; every link resolves.
    links = re.findall(r'href="([^"#][^"]*)"', markup)
    assert "report.pdf" in links and any(link.startswith("evidence/") and link != "evidence/" for link in links)
    assert all((html.parent / link).exists() for link in links), links
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", markup)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed")
    # Every request Chromium makes goes to this proxy, which records it and refuses it.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    seen: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    seen.append(conn.recv(512))
                except OSError:
                    seen.append(b"?")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    flags = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--proxy-server=http://127.0.0.1:{port}",
        "--proxy-bypass-list=<-loopback>",
        "--virtual-time-budget=10000",
        "--window-size=1200,1600",
    ]
    try:
        dom = subprocess.run(
            [*flags, "--dump-dom", html.as_uri()], capture_output=True, text=True, timeout=180, check=False
        ).stdout
        shot = tmp_path / "twin.png"
        subprocess.run([*flags, f"--screenshot={shot}", html.as_uri()], capture_output=True, timeout=180, check=False)
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
    charts = len(rendered.model.charts)
    # Plotly drew every chart: each plotly-chart div holds its SVG.
    assert dom.count('class="plotly-chart') == charts and dom.count('class="main-svg"') >= charts
    assert shot.stat().st_size > 10_000
    # Chromium's own services (component updates, time sync) are not the page's requests.
    browser_own = re.compile(
        rb"^(GET http://|POST http://|CONNECT )[^/ ]*(google\.com|googleapis\.com|gvt1\.com|gstatic\.com)[:/ ]"
    )
    # A connection Chromium opens ahead of need (a preconnect) and closes without a byte is no request.
    from_page = [r for r in seen if r and not browser_own.match(r)]
    assert from_page == [], f"the twin requested something from the network: {from_page[:2]}"
    # And the browser is told so: the page's own policy forbids every fetch but inline code and data: images.
    assert "default-src 'none'" in source


def test_control_map_rows_give_the_conclusion_not_a_finding_count(soc2: Any) -> None:
    controls = next(s for s in soc2.sections if s.kind == "controls").tables[0]
    results = [row[-1] for row in controls.rows]
    assert results and all(r.startswith((NO_EXCEPTIONS, EXCEPTIONS, NOT_TESTABLE)) for r in results)
    assert not [r for r in results if "finding(s) to review" in r]


def test_hipaa_identities_are_consistent_and_keys_counted_apart(hipaa: Any) -> None:
    scope = next(s for s in hipaa.sections if s.key == "phi-scope")
    facts = dict(scope.facts)
    per_staff, per_key = next(s for s in hipaa.sections if s.key == "per-staff").tables[:2]
    keys = [r for r in per_key.rows if "API key" in r[0]]
    assert int(facts["staff members"]) == per_staff.total
    assert int(facts["integrations (API keys, counted separately)"]) == per_key.total == len(keys)
    # One label per person across the tables: nobody is "(user)" in one row and "(agent)" in another.
    names: dict[str, set[str]] = {}
    for section in hipaa.sections:
        for table in section.tables:
            for row in table.rows:
                for cell in row:
                    m = __import__("re").match(r"^([A-Z][a-z]+ [A-Z][a-z]+) \(([a-z_ ]+)\)$", cell)
                    if m:
                        names.setdefault(m.group(1), set()).add(m.group(2))
    assert names and not {n: r for n, r in names.items() if "user" in r and len(r) > 1}
    disclosures = next(s for s in hipaa.sections if s.key == "disclosures").tables[1]
    export_rows = [r for r in disclosures.rows if r[1] == "data.export"]
    assert export_rows and all(r[3].startswith("not recorded (downloaded by") for r in export_rows)


def test_hipaa_pages_grow_with_people_and_findings_not_with_events(
    workspace: Path, settings: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Over three times the events, same people and planted incidents: the page count stays within 1.5x."""
    from pypdf import PdfReader

    from auditreports.pipeline import framework_report

    big = tmp_path_factory.mktemp("heldout-x5")
    assert cli_main(["samples", str(big / "data"), "--seed", "7", "--scale", "0.5"]) == 0
    data = big / "data"
    assert (
        cli_main(["ingest", str(data / "workspace"), str(data / "conversations"), "--store", str(big / "store")]) == 0
    )
    pages = {}
    events = {}
    for name, root in (("small", workspace), ("big", big)):
        s = load_settings(root / "data" / "settings.yml")
        result = framework_report(
            "hipaa", root / "store", period="2026-Q3", out_dir=root / "hipaa", settings=s.with_report(charts=False)
        )
        pages[name] = len(PdfReader(str(result.pdf)).pages)
        events[name] = result.model.completeness.period_events
    assert events["big"] >= 3 * events["small"]
    assert pages["big"] <= 1.5 * pages["small"], pages


def _labels(model: Any) -> dict[str, set[str]]:
    """Person name -> the roles it is printed with, over every table, finding card and appendix line."""
    import re

    person = re.compile(r"([A-Z][a-zà-ÿ]+ [A-Z][a-zà-ÿ]+) \((agent|admin|owner|user|viewer|member)\)")
    cells: list[str] = []
    for section in model.sections:
        for table in section.tables:
            cells += [c for row in table.rows for c in row]
    for f in model.findings:
        cells += [c for row in f.evidence.rows for c in row]
        if f.related is not None:
            cells += [c for row in f.related.rows for c in row]
    cells += model.appendix.lines
    names: dict[str, set[str]] = {}
    for cell in cells:
        for name, role in person.findall(str(cell)):
            names.setdefault(name, set()).add(role)
    return names


@pytest.mark.parametrize("kind", ["soc2", "hipaa"])
def test_a_person_whose_role_changed_is_one_person_under_one_label(
    workspace: Path, prepared: Any, settings: Any, kind: str
) -> None:
    """An agent promoted to admin in the period (a role-change event) is printed under one label in
    every section: the staff directory's role when it lists them, else the last role logged."""
    events = prepared.inputs.events.collect()
    user = pl.col("actor_type").cast(pl.String) == "user"
    changed = (
        events.filter(user & pl.col("actor_role").is_not_null())
        .group_by("actor_id")
        .agg(pl.col("actor_role").n_unique().alias("roles"), pl.col("actor_name").drop_nulls().first())
        .filter(pl.col("roles") > 1)
    )
    assert changed.height, "the held-out quarter has a person whose logged role changes"
    # Without a staff directory the last logged role names them; with one, the directory's role.
    import dataclasses

    # As the pipeline prepares a framework report too (its evidence rows read again from the store).
    framework = prepare_inputs(workspace / "store", period="2026-Q3", framework=kind, detection=settings.detection)
    for inputs, report_settings in (
        (prepared.inputs, settings.report),
        (prepared.inputs, dataclasses.replace(settings.report, staff=None)),
        (framework.inputs, settings.report),
    ):
        model = build_report(kind, inputs, report_settings)
        # The printed evidence rows carry the one label, also when read again from the store.
        assert "actor_label_role" in model.evidence_events.columns
        labels = _labels(model)
        split = {n: r for n, r in labels.items() if len(r) > 1}
        assert not split, f"{kind}: people printed under two labels: {split}"
        assert set(changed["actor_name"].drop_nulls()) & set(labels)
    # The per-event role stays the evidence: events.csv keeps what each event recorded.
    model = build_report(kind, prepared.inputs, settings.report)
    from auditreports.pipeline import _csv

    header = _csv(model.evidence_events).decode().splitlines()[0]
    assert "actor_role" in header and "actor_label_role" not in header


def test_an_organisation_rule_without_reviewer_notes_loads_warns_and_shows_what_is_known(
    workspace: Path, settings: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A --rules DIR rule without why_it_matters / what_to_check runs; the run warns that its
    findings reach the auditor without them; its card has no empty heading and says what the
    rule detects instead."""
    import re
    import uuid

    from auditreports.detect.rules import builtin_rules_dir, load_rules, reviewer_note_warnings

    shipped = (builtin_rules_dir() / "brute_force_login.yml").read_text(encoding="utf-8")
    text = re.sub(r"(?ms)^(why_it_matters|what_to_check): >\n(  .*?\n)+", "", shipped)
    text = text.replace("9d70e0db-d77e-48eb-a037-b0daa78ee20b", str(uuid.uuid4()))
    text = text.replace("name: brute_force_login", "name: acme_login_guessing")
    assert "why_it_matters" not in text and "what_to_check" not in text
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "acme_login_guessing.yml").write_text(text, encoding="utf-8")

    org = next(r for r in load_rules([rules_dir]) if r.name == "acme_login_guessing")
    assert org.lacks_reviewer_notes == ("why_it_matters", "what_to_check")
    (warning,) = reviewer_note_warnings(load_rules([rules_dir]))
    assert "acme_login_guessing.yml" in warning and "why_it_matters or what_to_check" in warning

    prepared = prepare_inputs(
        workspace / "store", period="2026-Q3", detection=settings.detection, rules_dirs=[rules_dir]
    )
    assert "acme_login_guessing" in capsys.readouterr().err
    model = build_report("soc2", prepared.inputs, settings.report)
    cards = [f for f in model.findings if f.rule_name == "acme_login_guessing"]
    assert cards, "the organisation rule found the planted brute force"
    html = render_html(model, settings.report)
    card = html.split(f'id="finding-{cards[0].ref}"', 1)[1].split('<div class="finding ', 1)[0]
    assert "why it matters" not in card and "what to check" not in card
    assert "the rule" in card and "guessing that account" in card
    # The shipped rule's own card keeps its notes.
    shipped_card = next(f for f in model.findings if f.rule_name == "brute_force_login")
    assert shipped_card.why_it_matters and shipped_card.what_to_check and not shipped_card.rule_description


def test_hipaa_rows_grow_with_people_not_with_events(prepared: Any, settings: Any) -> None:
    """Three times the PHI accesses and integration calls, by the same people on the same days
    about the same conversations: every printed table and the appendix keep their row count
    (their counts grow, not their rows); events.csv carries every new event."""
    base = prepared.inputs
    events = base.events.collect()
    busy = (
        pl.col("event_type").str.starts_with("conversation.")
        | pl.col("event_type").str.starts_with("integration.")
        | (pl.col("event_type") == "data.conversation.view")
    )
    # Copies a second or two later, never across midnight (same day, same ISO week).
    copies = [
        events.filter(busy & (pl.col("timestamp").dt.hour() < 23)).with_columns(
            (pl.col("event_id") + f"-copy{n}").alias("event_id"),
            (pl.col("timestamp") + pl.duration(seconds=n)).alias("timestamp"),
        )
        for n in (1, 2)
    ]
    more = ReportInputs(
        pl.concat([events, *copies], how="diagonal_relaxed"),
        period=base.period,
        verification=base.verification,
        findings=base.findings,
        ledger=base.ledger,
        quarantine=base.quarantine,
    )
    assert more.count >= events.height + 2 * events.filter(busy).height * 0.9
    small = build_report("hipaa", base, settings.report)
    big = build_report("hipaa", more, settings.report)

    def rows(model: Any) -> dict[str, int]:
        out = {f"{s.key}/{t.title}": len(t.rows) for s in model.sections for t in s.tables}
        out["appendix lines"] = model.appendix.total
        out["findings"] = len(model.findings)
        return out

    assert rows(big) == rows(small)
    assert big.evidence_events.height > 1.5 * small.evidence_events.height


def test_summary_says_which_findings_of_the_period_this_framework_leaves_out(
    hipaa: Any, soc2: Any, prepared: Any
) -> None:
    from auditreports.report.render import render_html

    every = prepared.inputs.findings
    for model in (hipaa, soc2):
        shown = {f.finding_id for f in model.findings}
        left = every.filter(~pl.col("finding_id").is_in(list(shown)))
        summary = next(s for s in model.sections if s.kind == "summary")
        listed = {r["rule"]: r["count"] for r in summary.extra["other_rules"]}
        assert listed == dict(left.group_by("rule_name").len().iter_rows())
        text = " ".join(re.sub(r"<[^>]+>", " ", render_html(model)).split())
        if listed:
            assert f"Not in this report: {left.height} other finding(s) of the period" in text
            assert all(f"{rule}: {n}," in text for rule, n in listed.items())
        else:
            assert "Not in this report" not in text
    # HIPAA reviews the rules its map cites: the off-hours prompt change (a SOC 2 rule) is named as left out.
    hipaa_left = {r["rule"] for r in next(s for s in hipaa.sections if s.kind == "summary").extra["other_rules"]}
    assert "off_hours_config_change" in hipaa_left or "off_hours_config_change" in {f.rule_name for f in hipaa.findings}


def test_findings_citing_the_same_events_name_each_other(soc2: Any, prepared: Any) -> None:
    from auditreports.report.render import render_html

    frame = prepared.inputs.findings
    pairs = frame.select("finding_id", pl.col("event_ids").alias("e")).explode("e").drop_nulls()
    shared = (
        pairs.join(pairs, on="e", suffix="_o")
        .filter(pl.col("finding_id") != pl.col("finding_id_o"))
        .select("finding_id", "finding_id_o")
        .unique()
    )
    by_id = {f.finding_id: f for f in soc2.findings}
    expected = [(a, b) for a, b in shared.iter_rows() if a in by_id and b in by_id]
    assert expected, "the held-out quarter has findings sharing events (a prompt change seen by two rules)"
    for a, b in expected:
        assert f"{by_id[b].ref} ({by_id[b].rule}," in by_id[a].same_events
    alone = [f for f in soc2.findings if f.finding_id not in {a for a, _ in expected}]
    assert all(not f.same_events for f in alone)
    text = " ".join(re.sub(r"<[^>]+>", " ", render_html(soc2)).split())
    assert "one incident seen by more than one rule" in text


def test_a_conclusion_over_a_silent_stretch_of_its_log_says_so(soc2: Any, hipaa: Any, prepared: Any) -> None:
    gaps = prepared.inputs.verification.get("gaps") or []
    outage = next(g for g in gaps if g["source"] == "workspace")  # the planted 24 h workspace outage
    day = str(outage["start"])[:10]
    for model in (soc2, hipaa):
        conclusions = next(s for s in model.sections if s.kind == "summary").extra["conclusions"]
        tested = [c for c in conclusions if c.conclusion != "Not testable from this log" and c.population]
        assert tested
        # Every criterion here is tested on workspace events: each says that day could not be tested.
        for c in tested:
            assert f"Caveat: the workspace log is silent from {day} 00:00" in c.basis, (c.criterion, c.basis)
            assert "nothing in that stretch could be tested" in c.basis


def test_hipaa_per_staff_table_lists_people_and_integrations_apart(hipaa: Any) -> None:
    section = next(s for s in hipaa.sections if s.key == "per-staff")
    staff, keys = section.tables[0], section.tables[1]
    assert staff.title == "Per staff member" and keys.title == "Per integration (API key)"
    assert staff.rows and not [r for r in staff.rows if "key_" in r[0] or "API key" in r[0]]
    assert keys.rows and all("key_" in r[0] for r in keys.rows)


def test_appendix_cells_cut_to_their_column_end_with_an_ellipsis(soc2: Any) -> None:
    from auditreports.report.model import _APPENDIX_COLUMNS

    offsets, start = {}, 0
    for _label, col, width in _APPENDIX_COLUMNS:
        offsets[col] = (start, width)
        start += width + 1
    rows = {r["event_id"]: r for r in soc2.evidence_events.select("event_id", "event_type", "ip").to_dicts()}
    cut = whole = 0
    for line in soc2.appendix.lines:
        at, width = offsets["event_id"]
        row = rows[line[at : at + width].strip()]
        for col in ("event_type", "ip"):
            at, width = offsets[col]
            cell, value = line[at : at + width].rstrip(), row[col] or ""
            if len(value) > width:  # too wide: cut, and it says so
                assert cell == value[: width - 1] + "…", (col, cell, value)
                cut += 1
            else:
                assert cell == value, (col, cell, value)
                whole += 1
    assert cut and whole, "the held-out appendix has event types wider than their column and narrower ones"
