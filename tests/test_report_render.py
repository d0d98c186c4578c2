"""Rendering: PDF/A-3b with attachments and metadata, untrusted text stays text, overrides, atomic write."""

from __future__ import annotations

import io
import json
import socket
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from pdfminer.high_level import extract_text
from pypdf import PdfReader
from test_report_model import LEDGER, VERIFICATION, event, make_events, make_findings

from auditreports.errors import ReportError, UnsafeResourceError
from auditreports.period import parse_period
from auditreports.report.common import ReportInputs
from auditreports.report.engine import build_report
from auditreports.report.render import override_directory, render_html, render_pdf, write_pdf_bytes
from auditreports.report.settings import ReportSettings

ATTACKS = [
    '<img src="file:///etc/passwd">',
    '<link rel="attachment" href="file:///etc/passwd">',
    "<style>@import url(http://127.0.0.1:{port}/x)</style>",
    '<img src="http://127.0.0.1:{port}/pixel.png">',
]


class Listener:
    """A loopback TCP listener that records whether anything connected."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def listener():
    lst = Listener()
    yield lst
    lst.close()


def model_with(notes: list[str], **settings: object):
    extra = [
        event(
            200 + i,
            "config.model_settings.update",
            "config",
            minutes=90 + i,
            reason=note,
            user_agent=note,
            before="{}",
            after=json.dumps({"note": note}),
        )
        for i, note in enumerate(notes)
    ]
    extra.append(
        event(
            300,
            "config.retention.update",
            "config",
            minutes=100,
            before='{"days": 30}',
            after='{"days": "' + notes[0].replace('"', "'") + '"}',
        )
    )
    inputs = ReportInputs(
        make_events(extra),
        period=parse_period("2026-Q3"),
        verification=VERIFICATION,
        findings=make_findings(),
        ledger=LEDGER,
    )
    s = ReportSettings(organisation="Acme Health", **settings)  # type: ignore[arg-type]
    model = build_report("soc2", inputs, s)
    # Each attack is a change reason (printed in the diff heading) and an after-state value.
    return model, s


def test_pdf_is_pdfa3b_with_attachments_and_metadata(tmp_path: Path) -> None:
    model, settings = model_with(["plain note"])
    files = {"findings.json": b'{"findings": []}\n', "events.csv": b"event_id\nevt_1\n", "manifest.json": b"{}\n"}
    pdf = render_pdf(model, tmp_path / "report.pdf", attachments=files, settings=settings)
    reader = PdfReader(pdf)
    assert {name: data[0] for name, data in reader.attachments.items()} == files
    meta = reader.metadata
    assert meta is not None
    assert "SOC 2" in (meta.title or "") and meta.author == "Acme Health"
    assert "access review" in str(meta.get("/Keywords"))
    assert meta.get("/CreationDate")
    xmp = reader.xmp_metadata
    assert xmp is not None and xmp.pdfaid_part == "3" and xmp.pdfaid_conformance == "B"
    text = extract_text(str(pdf))
    assert "Page 1 of" in text and "Integrity verdict: FAILED" in text
    assert "6 failed logins for eve@acme.example" in text
    assert list(tmp_path.iterdir()) == [pdf]  # no temporary file left behind


def test_untrusted_markup_renders_as_text_and_fetches_nothing(tmp_path: Path, listener: Listener) -> None:
    notes = [a.format(port=listener.port) for a in ATTACKS]
    model, settings = model_with(notes, appendix_cap=10_000)
    pdf = render_pdf(model, tmp_path / "report.pdf", settings=settings)
    text = extract_text(str(pdf))
    flat = "".join(text.split())  # line wrapping may split a long note anywhere
    for note in notes:
        assert "reason:“" + "".join(note.split()) + "”" in flat  # printed verbatim, as text
    reader = PdfReader(pdf)
    assert reader.attachments == {}  # the <link rel=attachment> did not attach /etc/passwd
    assert listener.connections == 0
    assert b"root:x:0:0" not in pdf.read_bytes()


def test_fetcher_refuses_anything_but_data_urls_loudly(listener: Listener) -> None:
    html = f'<p>x</p><img src="http://127.0.0.1:{listener.port}/x.png">'
    with pytest.raises(UnsafeResourceError, match="only inline data: URLs"):
        write_pdf_bytes(html, "")
    with pytest.raises(UnsafeResourceError):
        write_pdf_bytes("<p>x</p>", "@import url(file:///etc/passwd);")
    assert listener.connections == 0
    pixel = (
        "data:image/svg+xml;base64,PHN2ZyB4bWxucz0naHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmcnIHdpZHRoPScxJyBoZWlnaHQ9JzEnLz4="
    )
    assert write_pdf_bytes(f'<img src="{pixel}">', "").startswith(b"%PDF")


def test_organisation_overrides_and_logo(tmp_path: Path) -> None:
    overrides = tmp_path / "templates"
    overrides.mkdir()
    (overrides / "soc2.html").write_text(
        '{% extends "base.html" %}{% block cover_note %}<p>Prepared for the Acme audit committee</p>{% endblock %}'
    )
    logo = tmp_path / "logo.svg"
    logo.write_text(
        "<svg xmlns='http://www.w3.org/2000/svg' width='40' height='20'><rect width='40' height='20' fill='red'/></svg>"
    )
    model, settings = model_with(["n"], templates_dir=overrides, logo=logo)
    assert model.logo_uri is not None and model.logo_uri.startswith("data:image/svg+xml;base64,")
    pdf = render_pdf(model, tmp_path / "out" / "report.pdf", settings=settings)
    assert "Prepared for the Acme audit committee" in extract_text(str(pdf))


def test_failed_render_leaves_no_report(tmp_path: Path) -> None:
    overrides = tmp_path / "t"
    overrides.mkdir()
    (overrides / "soc2.html").write_text(
        '{% extends "base.html" %}{% block cover_note %}<img src="file:///etc/hostname">{% endblock %}'
    )
    model, settings = model_with(["n"], templates_dir=overrides)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UnsafeResourceError):
        render_pdf(model, out / "report.pdf", settings=settings)
    assert not (out / "report.pdf").exists()
    assert not any(out.iterdir())


def test_appendix_beyond_cap_is_announced(tmp_path: Path) -> None:
    model, settings = model_with(["n"], appendix_cap=3)
    pdf = render_pdf(model, tmp_path / "r.pdf", settings=settings)
    text = " ".join(extract_text(io.BytesIO(pdf.read_bytes())).split())
    assert f"The first 3 are printed here (cap 3); all {model.appendix.total} are in the embedded events.csv" in text


def test_templates_folder_in_working_directory_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, settings = model_with(["n"])
    monkeypatch.chdir(tmp_path)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "soc2.html").write_text(
        '{% extends "base.html" %}{% block cover_note %}<p>Prepared for the audit committee</p>{% endblock %}',
        encoding="utf-8",
    )
    (tmp_path / "templates" / "report.html").write_text("{{ cycler.__init__.__globals__ }}", encoding="utf-8")
    assert override_directory(settings) is None
    html = render_html(model, settings)
    assert "Prepared for the audit committee" not in html
    assert "Population" in html or "population" in html  # the shipped template rendered
    # Named explicitly (--templates / report.templates_dir), the same directory is used.
    named = replace(settings, templates_dir=tmp_path / "templates")
    assert "Prepared for the audit committee" in render_html(model, named)


def test_override_extends_the_shipped_template_with_default_prefix(tmp_path: Path) -> None:
    overrides = tmp_path / "org"
    overrides.mkdir()
    # Same name as the shipped base.html: without the prefix this would extend itself.
    (overrides / "base.html").write_text(
        '{% extends "default:base.html" %}{% block cover_note %}<p>Acme internal use only</p>{% endblock %}',
        encoding="utf-8",
    )
    model, settings = model_with(["n"], templates_dir=overrides)
    html = render_html(model, settings)
    assert "Acme internal use only" in html
    assert "Scope and population completeness" in html  # everything else is the shipped base


def test_unknown_template_directory_is_a_clear_error(tmp_path: Path) -> None:
    model, settings = model_with(["n"], templates_dir=tmp_path / "missing")
    with pytest.raises(ReportError, match=r"template directory .* does not exist"):
        render_html(model, settings)


HOSTILE = [
    "{{ cycler.__init__.__globals__.os.system('touch MARKER') }}",
    "{{ model.__class__.__mro__[1].__subclasses__() }}",
    "{{ lipsum.__globals__['os'].system('touch MARKER') }}",
    "{% set x = joiner.__init__.__globals__ %}{{ x.os.system('touch MARKER') }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ model.completeness.sources.rows.__class__.__base__.__subclasses__() }}",
    "{{ namespace.__init__.__globals__.os.system('touch MARKER') }}",
    "{{ model.generated_at.__class__.__module__ }}{{ model.extra.__class__.__init__.__globals__ }}",
]


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_override_cannot_run_code(tmp_path: Path, source: str) -> None:
    marker = tmp_path / "pwned"
    overrides = tmp_path / "org"
    overrides.mkdir()
    (overrides / "soc2.html").write_text(source.replace("MARKER", str(marker)), encoding="utf-8")
    model, settings = model_with(["n"], templates_dir=overrides)
    try:
        html = render_html(model, settings)
    except ReportError as exc:
        assert "template" in exc.message and "\n" not in exc.message
    else:  # rendered inert: nothing of Python's internals printed
        assert "<function" not in html and "<class" not in html and "subclasses" not in html
    assert not marker.exists()


HOSTILE_LABEL = "</script><img id=pwned src=x onerror=\"document.title='pwned'\"><!--<script>"


def test_chart_labels_in_the_html_twin_stay_text(tmp_path: Path) -> None:
    """Chart labels carry actor names and event types: in the twin's inline scripts they stay data.

    plotly.io.to_json escapes ``<``, ``>`` and ``/`` itself today and render._chart_html escapes
    ``<`` and ``>`` again; this pins the outcome in a real browser whichever of the two does it.
    """
    import re
    import shutil
    import subprocess

    import plotly.graph_objects as go

    from auditreports.report.model import Chart
    from auditreports.report.render import render_html_twin

    model, settings = model_with(["plain"])
    figure = go.Figure(go.Bar(x=[HOSTILE_LABEL, "bob"], y=[3, 1]))
    figure.update_layout(title=HOSTILE_LABEL)
    assert "failed_logins" in model.charts
    model.charts["failed_logins"] = Chart(key="failed_logins", title="Actors", figure=figure)
    html = render_html_twin(model, settings)
    # One script for plotly.js and one per chart; the label never closes or opens one.
    scripts = 1 + sum(c.figure is not None for c in model.charts.values())
    assert html.count("<script") == html.count("</script>") == scripts
    assert HOSTILE_LABEL not in html and "<img id=pwned" not in html
    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed")
    dom = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    ).stdout
    # The chart drew, with the label as its text; no element or title came from the label.
    assert 'class="main-svg"' in dom
    assert not re.search(r"<img[^>]*id=\"?pwned", dom) and "<title>pwned" not in dom
    assert "&lt;/script&gt;&lt;img id=pwned" in dom


def test_kept_words_in_table_cells_stay_escaped() -> None:
    """keep_words wraps hyphenated tokens in a span: the untrusted text around and inside stays text."""
    import markupsafe

    from auditreports.report.render import keep_words

    hostile = '<script>alert("x-y")</script> 2026-07-02 <img src=x onerror=a-b> \u202efile-name'
    out = keep_words(hostile)
    assert isinstance(out, markupsafe.Markup)
    assert "<script" not in out and "<img" not in out and "&lt;script&gt;" in out and "&lt;img" in out
    assert '<span class="nw">2026-07-02</span>' in out
    assert "&lt;U+202E&gt;file-name" in out  # the bidi override shown, not obeyed
    # Removing the only markup the filter adds leaves exactly the escaped text.
    plain = str(out).replace('<span class="nw">', "").replace("</span>", "")
    assert plain == str(markupsafe.escape(hostile.replace("\u202e", "<U+202E>")))
    # Already-safe markup and non-text pass through untouched; the template's autoescape handles the rest.
    assert keep_words(markupsafe.Markup("<b>a-b</b>")) == markupsafe.Markup("<b>a-b</b>")
    assert keep_words(42) == 42


def test_a_hostile_table_cell_renders_as_text(tmp_path: Path) -> None:
    from auditreports.report.model import Section, Table

    model, settings = model_with(["plain"])
    cell = '<img src="http://127.0.0.1:9/x-y.png"> 2026-07-02 </td><script>a-b</script>'
    model.sections.append(Section("hostile", "Hostile", "", tables=[Table("t", ["value"], [[cell]])]))
    html = render_html(model, settings)
    assert '<img src="http://127.0.0.1:9/x-y.png">' not in html and "<script>a-b" not in html
    assert "&lt;/td&gt;&lt;script&gt;" in html
    pdf = render_pdf(model, tmp_path / "report.pdf", settings=settings)
    flat = "".join(extract_text(str(pdf)).split())
    assert "".join(cell.split()) in flat
