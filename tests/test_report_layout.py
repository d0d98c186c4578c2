"""Layout of the rendered SOC 2 and HIPAA reports (issue 20, item 9), read back from the PDF.

What an auditor sees on paper, checked on every page with pdfminer's glyph boxes:

* no page is under a third full unless the next page starts a major section (or it is the
  cover, or the last page);
* no page ends with a heading whose content is on the next page;
* no text is drawn over the next column (a header or an id wider than its column);
* headers and ids are printed whole, never split inside a word.

Rendered from a held-out sample quarter (seed 7), ingested and detected as a user would.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pdfminer.high_level import extract_pages
from pdfminer.layout import LAParams, LTChar

from auditreports.cli import main as cli_main
from auditreports.settings import load_settings

MARGIN = 40  # pt: the running header and the footer live above/below this
H2_SIZE = 13.0  # a major section's heading (templates/report.css)
HEADING_MIN_SIZE = 8.9  # h4 is 9 pt, h3 10 pt, h2 13 pt; facts labels are 8.5 pt


@dataclass
class Page:
    number: int
    fill: float  # share of the body height between the first and the last line of text
    first_size: float  # font size of the first body line
    last_text: str
    last_is_heading: bool
    overlaps: list[str]
    lines: list[str]


def _chars(element: Any) -> Any:
    if isinstance(element, LTChar):
        yield element
    elif hasattr(element, "__iter__"):
        for child in element:
            yield from _chars(child)


def read_pages(pdf: Path) -> list[Page]:
    pages = []
    for number, layout in enumerate(extract_pages(str(pdf), laparams=LAParams()), 1):
        height = layout.height
        # Upright body text: the DRAFT watermark (rotated, 90 pt) and header/footer are not content.
        body = [
            c
            for c in _chars(layout)
            if c.upright and c.size < 30 and c.get_text().strip() and c.y0 > MARGIN and c.y1 < height - MARGIN
        ]
        rows: dict[int, list[LTChar]] = {}
        for c in body:
            rows.setdefault(round(c.y0), []).append(c)
        ys = sorted(rows, reverse=True)
        lines = ["".join(c.get_text() for c in sorted(rows[y], key=lambda c: c.x0)) for y in ys]
        fill = (max(c.y1 for c in body) - min(c.y0 for c in body)) / (height - 2 * 50) if body else 0.0
        last = rows[ys[-1]] if ys else []
        overlaps = []
        buckets: dict[int, list[LTChar]] = {}
        for c in body:
            buckets.setdefault(int(c.y0 // 2), []).append(c)
        for key, chars in buckets.items():
            line = sorted(chars + buckets.get(key + 1, []), key=lambda c: c.x0)
            for a, b in itertools.pairwise(line):
                # Two letters of one line drawn over each other by more than half a glyph
                # (kerning moves them a fraction of a point): text overflowing its column.
                if (
                    abs(a.y0 - b.y0) < 1.5
                    and a.get_text().isalnum()
                    and b.get_text().isalnum()
                    and b.x0 < a.x1 - max(1.0, 0.5 * min(a.width, b.width))
                ):
                    overlaps.append(f"{a.get_text()}{b.get_text()} at x={a.x0:.0f}")
                    break
        pages.append(
            Page(
                number=number,
                fill=fill,
                first_size=max((c.size for c in rows[ys[0]]), default=0.0) if ys else 0.0,
                last_text=lines[-1] if lines else "",
                last_is_heading=bool(last)
                and all("Bold" in c.fontname for c in last)
                and max(c.size for c in last) >= HEADING_MIN_SIZE,
                overlaps=overlaps,
                lines=lines,
            )
        )
    return pages


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from auditreports.pipeline import framework_report

    root = tmp_path_factory.mktemp("layout")
    assert cli_main(["samples", str(root / "data"), "--seed", "7", "--scale", "0.1"]) == 0
    data = root / "data"
    assert (
        cli_main(["ingest", str(data / "workspace"), str(data / "conversations"), "--store", str(root / "store")]) == 0
    )
    settings = load_settings(data / "settings.yml").with_report(charts=False)
    out = {}
    for kind in ("soc2", "hipaa"):
        result = framework_report(kind, root / "store", period="2026-Q3", out_dir=root / kind, settings=settings)
        out[kind] = (result, read_pages(result.pdf))
    return out


KINDS = ("soc2", "hipaa")


@pytest.mark.parametrize("kind", KINDS)
def test_no_near_empty_page_except_before_a_major_section(reports: dict[str, Any], kind: str) -> None:
    _, pages = reports[kind]
    thin = [
        (p.number, round(p.fill, 2), p.lines[:1], pages[i + 1].lines[:1])
        for i, p in enumerate(pages)
        if p.fill < 1 / 3
        and p.number != 1  # the cover
        and i + 1 < len(pages)  # the last page ends the report
        and pages[i + 1].first_size < H2_SIZE - 0.5  # the next page does not start a major section
    ]
    assert not thin, f"{kind}: pages under a third full in mid-section: {thin}"


@pytest.mark.parametrize("kind", KINDS)
def test_no_heading_is_left_alone_at_the_foot_of_a_page(reports: dict[str, Any], kind: str) -> None:
    _, pages = reports[kind]
    alone = [(p.number, p.last_text) for p in pages if p.last_is_heading]
    assert not alone, f"{kind}: headings at the foot of a page: {alone}"


@pytest.mark.parametrize("kind", KINDS)
def test_no_text_is_drawn_over_the_next_column(reports: dict[str, Any], kind: str) -> None:
    _, pages = reports[kind]
    overlapping = {p.number: p.overlaps for p in pages if p.overlaps}
    assert not overlapping, f"{kind}: text overflowing its column: {overlapping}"


@pytest.mark.parametrize("kind", KINDS)
def test_headers_and_ids_are_printed_whole(reports: dict[str, Any], kind: str) -> None:
    """Every column header word, finding id and evidence event id the model prints appears whole
    on one line of the PDF: none is split inside a word."""
    result, pages = reports[kind]
    model = result.model
    text_lines = [line for p in pages for line in p.lines]
    joined = "\n".join(text_lines)
    tokens: set[str] = set()
    tables = [t for s in model.sections for t in s.tables] + [model.completeness.sources, model.signoff.decisions]
    for f in model.findings:
        if f.detailed:
            tables.append(f.evidence)
            tokens.add(f.finding_id)
    for table in tables:
        if table.rows:
            tokens.update(w for c in table.columns for w in c.split())
    for f in model.findings:
        if f.detailed and f.evidence.rows:
            tokens.update(row[1] for row in f.evidence.rows if row[1].startswith(("evt_", "aev_")))
    assert tokens
    # pdfminer drops the spaces between words; a token is whole when it is inside one line.
    missing = sorted(t for t in tokens if t.replace(" ", "") not in joined)
    assert not missing, f"{kind}: split or missing on the page: {missing[:10]}"


def test_the_appendix_first_page_holds_its_intro_and_lines_without_spilling(reports: dict[str, Any]) -> None:
    """The appendix heading and intro share the first page with its first block of lines: no page
    carries a handful of lines that spilled over from it."""
    for kind in KINDS:
        _, pages = reports[kind]
        start = next(i for i, p in enumerate(pages) if any(line.startswith("Appendix:") for line in p.lines[:2]))
        appendix = pages[start:]
        assert all(p.fill >= 1 / 3 for p in appendix[:-1]), [(p.number, round(p.fill, 2)) for p in appendix]


@pytest.mark.parametrize("kind", KINDS)
def test_the_pdf_is_tagged_and_stays_pdf_a_3b_with_its_attachments(reports: dict[str, Any], kind: str) -> None:
    import re

    from pypdf import PdfReader

    result, _ = reports[kind]
    reader = PdfReader(str(result.pdf))
    root = reader.trailer["/Root"]
    assert "/StructTreeRoot" in root and root["/MarkInfo"]["/Marked"]
    xmp = root["/Metadata"].get_object().get_data().decode("utf-8", "replace")
    assert re.search(r"pdfaid:part[^0-9]{0,3}3", xmp) and re.search(r"pdfaid:conformance[^A-Z]{0,3}B", xmp)
    assert {"events.csv", "manifest.json"} <= set(reader.attachments)
