"""Reports that prove the review: decisions in the PDF, sign-off, hashes, the attached file, DRAFT vs final.

On the held-out sample quarter (conftest ``held_out``): ``auditreports review`` writes
the file, one high finding is decided as an incident with a note, and the SOC 2 report
run with ``--review`` prints that note; ``--final`` exits 1 naming exactly the still
undecided high findings and exits 0 once every one is decided. The PDFs are read back
with pdftotext and pypdf (attachments byte for byte).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import numpy as np
import papermill
import pytest
from pypdf import PdfReader

from auditreports.cli import main as cli_main
from auditreports.pipeline import ReportResult, hipaa_phi_access, soc2_quarterly
from auditreports.review import load_review, record_decision
from auditreports.settings import Settings

pytestmark = pytest.mark.slow

NOTE = "INC-2291: password reset, IP blocked <b>not markup</b>"
FAST = Settings().with_report(charts=False, appendix_cap=200, organisation="Held-out Health")


def _pages(pdf: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    return text.split("\f")[:-1] if text.endswith("\f") else text.split("\f")


def _text(pdf: Path) -> str:
    return "\n".join(_pages(pdf))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("review_report")


@pytest.fixture(scope="module")
def review_file(held_out: Path, workdir: Path) -> Path:
    path = workdir / "review.yml"
    assert cli_main(["review", "--store", str(held_out), "--period", "2026-Q3", "--out", str(path)]) == 0
    text = path.read_text(encoding="utf-8").replace("  name:\n  role:\n", "  name: Dana Lee\n  role: Security lead\n")
    path.write_text(text, encoding="utf-8")
    return path


def _high(review: Path) -> list[str]:
    """The high/critical finding ids, in file order, from the comments `review` wrote."""
    lines = review.read_text(encoding="utf-8").splitlines()
    return [
        ln.split("finding: ")[1].split()[0]
        for ln in lines
        if "finding: " in ln and ("# high" in ln or "# critical" in ln)
    ]


@pytest.fixture(scope="module")
def decided_one(review_file: Path) -> tuple[Path, str]:
    first = _high(review_file)[0]
    record_decision(review_file, first, "incident", note=NOTE, by="Dana Lee", at="2026-10-03")
    return review_file, first


@pytest.fixture(scope="module")
def draft(held_out: Path, decided_one: tuple[Path, str], workdir: Path) -> ReportResult:
    review, _ = decided_one
    snapshot = workdir / "review-draft.yml"  # the file as it was for this run (later tests decide more)
    shutil.copy(review, snapshot)
    return soc2_quarterly(held_out, period="2026-Q3", out_dir=workdir / "draft", settings=FAST, review=snapshot)


def test_report_shows_the_decision_note_who_and_when(draft: ReportResult, decided_one: tuple[Path, str]) -> None:
    _, fid = decided_one
    text = _text(draft.pdf)
    assert "INC-2291: password reset, IP blocked <b>not markup</b>" in text  # printed as text, not markup
    view = next(f for f in draft.model.findings if f.finding_id == fid)
    assert (view.review.decision, view.review.note, view.review.by, view.review.at) == (
        "incident",
        NOTE,
        "Dana Lee",
        "2026-10-03",
    )
    # The finding's detail block: decision, who, when and the note together.
    detail = next(
        p for p in _pages(draft.pdf) if fid in p and "decision" in p and "by, on" in p and "Contents" not in p
    )
    assert "incident" in detail and "Dana Lee, 2026-10-03" in detail
    undecided_high = [f for f in draft.model.findings if f.severity == "high" and f.finding_id != fid]
    assert undecided_high and all(f.review.decision is None for f in undecided_high)


def test_summary_counts_and_signoff_come_from_the_review(draft: ReportResult) -> None:
    n = len(draft.model.findings)
    text = _text(draft.pdf)
    assert f"1 of {n} finding(s) decided, {n - 1} undecided" in text
    signoff = next(p for p in _pages(draft.pdf) if "Review and sign-off" in p and "Contents" not in p)
    assert "Dana Lee" in signoff and "Security lead" in signoff and "2026-10-03" in signoff
    assert draft.model.signoff.reviewer == "Dana Lee"
    rows = {row[0]: row[3:] for row in draft.model.signoff.decisions.rows}
    assert sorted(map(tuple, rows.values()))[-1] == ("incident", NOTE, "Dana Lee, 2026-10-03")
    assert sum(1 for r in rows.values() if r[0]) == 1  # the others are blank: undecided


def test_review_file_hash_in_manifest_stamp_and_attached(draft: ReportResult, workdir: Path) -> None:
    data = (workdir / "review-draft.yml").read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    manifest = json.loads((draft.evidence_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["review"]["sha256"] == digest
    assert manifest["files"]["review.yml"] == digest
    assert manifest["final"] is False
    assert (draft.evidence_dir / "review.yml").read_bytes() == data
    stamp = next(p for p in _pages(draft.pdf) if "Reproducibility" in p and "Contents" not in p)
    assert digest in stamp.replace("\n", "").replace(" ", "")
    attachments = PdfReader(draft.pdf).attachments
    assert attachments["review.yml"] == [data]
    embedded_manifest = json.loads(attachments["manifest.json"][0])
    assert embedded_manifest["review"]["sha256"] == digest


def test_without_final_every_page_is_marked_draft(draft: ReportResult, workdir: Path) -> None:
    pages = _pages(draft.pdf)
    assert len(pages) == len(PdfReader(draft.pdf).pages) > 5
    assert all("DRAFT — not final" in p for p in pages), [i + 1 for i, p in enumerate(pages) if "DRAFT" not in p]
    # The mark is drawn: a reddish corner on the cover and the appendix (landscape) page alike.
    for page in (1, len(pages)):
        prefix = workdir / f"draft-{page}"
        subprocess.run(
            ["pdftoppm", "-png", "-r", "40", "-f", str(page), "-l", str(page), str(draft.pdf), str(prefix)], check=True
        )
        png = next(workdir.glob(f"draft-{page}*.png"))
        from PIL import Image

        img = Image.open(png).convert("RGB")
        w, h = img.size
        corner = img.crop((int(w * 0.6), 0, w, int(h * 0.06)))
        px = np.asarray(corner).astype(int)
        red = int(((px[..., 0] > 140) & (px[..., 1] < 110) & (px[..., 2] < 110)).sum())
        assert red > 20, f"no red DRAFT mark in the top-right corner of page {page}"


def test_final_refuses_then_passes_through_the_cli(
    held_out: Path, decided_one: tuple[Path, str], workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    review, first = decided_one
    high = _high(review)
    out = workdir / "final"
    args = ["report", "soc2", "--store", str(held_out), "--period", "2026-Q3", "--review", str(review), "--final"]
    args += ["--out", str(out), "-p", "appendix_cap=200"]
    assert cli_main(args) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1  # refused before any kernel started: no progress line, no notebook
    err = lines[0]
    left = [f for f in high if f != first]
    head = f"auditreports: error: --final refused: {len(left)} critical/high finding(s) undecided: "
    command = f"auditreports review --store {held_out} --period 2026-Q3 --out {review}"
    tail = f"; set a decision on each in {review} (`{command}` lists any missing) and run again"
    assert err.startswith(head) and err.endswith(tail)
    named = re.findall(r'([0-9a-f]{24}) \((critical|high)\) "([^"]+)"', err.removeprefix(head).removesuffix(tail))
    assert sorted(fid for fid, _, _ in named) == sorted(left)  # exactly the undecided high ones, each with its title
    titles = {
        ln.split("finding: ")[1].split()[0]: ln
        for ln in review.read_text(encoding="utf-8").splitlines()
        if "finding: " in ln
    }
    for fid, severity, title in named:
        assert title in titles[fid] and f"# {severity}" in titles[fid]  # the title the review file shows beside it
    assert not (out / "report.ipynb").exists()
    assert not (out / "report.pdf").exists() and not (out / "report.INCOMPLETE.pdf").exists()
    for fid in left:
        record_decision(review, fid, "expected", note="reviewed with the team lead", by="Dana Lee", at="2026-10-04")
    assert cli_main(args) == 0
    pdf = out / "report.pdf"
    text = _text(pdf)
    assert "DRAFT" not in text
    assert "FINAL — every critical and high finding decided" in text
    assert "reviewed with the team lead" in text
    manifest = json.loads((out / "evidence" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["final"] is True
    assert manifest["review"]["sha256"] == load_review(review).sha256


def test_unknown_finding_id_in_the_review_fails_the_run_with_file_and_line(
    held_out: Path, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = workdir / "unknown.yml"
    bad.write_text("decisions:\n  - finding: 000000000000000000000000\n    decision: expected\n", encoding="utf-8")
    code = cli_main(
        ["report", "soc2", "--store", str(held_out), "--period", "2026-Q3", "--review", str(bad), "--out",
         str(workdir / "unknown")]
    )  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"auditreports: error: {bad}:2: unknown finding id '000000000000000000000000': no such finding in this "
        "period; fix the id or remove the entry"
    )


def test_previous_report_new_recurring_resolved_and_suggestions(
    held_out: Path, draft: ReportResult, decided_one: tuple[Path, str], workdir: Path
) -> None:
    _, fid = decided_one
    # Last quarter's folder: the draft's evidence, with one finding dropped (so it is new now) and one
    # finding this run cannot have (so it is resolved).
    previous = workdir / "previous"
    shutil.copytree(draft.pdf.parent, previous)
    doc = json.loads((previous / "evidence" / "findings.json").read_text(encoding="utf-8"))
    dropped = next(f for f in doc["findings"] if f["finding_id"] != fid)
    gone = dict(dropped, finding_id="f" * 24, group={"actor_id": "usr_left_in_june"}, rule_id=dropped["rule_id"])
    doc["findings"] = [f for f in doc["findings"] if f["finding_id"] != dropped["finding_id"]] + [gone]
    (previous / "evidence" / "findings.json").write_text(json.dumps(doc), encoding="utf-8")
    soc2 = soc2_quarterly(held_out, period="2026-Q3", out_dir=workdir / "qoq", settings=FAST, previous=previous)
    history = {f.finding_id: f.review.history for f in soc2.model.findings}
    assert history.pop(dropped["finding_id"]) == "new"
    assert set(history.values()) == {"recurring"}
    text = _text(soc2.pdf)
    assert "Compared with the previous report (2026-Q3)" in text
    assert "usr_left_in_june" in text  # the resolved finding is listed
    section = next(s for s in soc2.model.sections if s.key == "quarter-over-quarter")
    assert dict(section.facts)["Resolved (not seen this period)"] == "1"
    assert dict(section.facts)["New this period"] == "1"
    # Last period's decision is offered as a suggestion, never applied as this period's decision.
    view = next(f for f in soc2.model.findings if f.finding_id == fid)
    assert view.review.decision is None
    assert view.review.suggestion == f"incident — {NOTE} (Dana Lee, 2026-10-03)"
    detail = next(p for p in _pages(soc2.pdf) if fid in p and "suggestion, not a decision" in p and "Contents" not in p)
    assert "INC-2291" in detail
    manifest = json.loads((soc2.evidence_dir / "manifest.json").read_text(encoding="utf-8"))
    assert (
        manifest["previous_report"]["review_sha256"]
        == hashlib.sha256((workdir / "review-draft.yml").read_bytes()).hexdigest()
    )


def test_hipaa_report_reads_the_review_too(held_out: Path, draft: ReportResult, workdir: Path) -> None:
    snapshot = workdir / "review-draft.yml"
    result = hipaa_phi_access(held_out, period="2026-Q3", out_dir=workdir / "hipaa", settings=FAST, review=snapshot)
    text = _text(result.pdf)
    assert "DRAFT — not final" in text
    assert "finding(s) decided" in text
    assert PdfReader(result.pdf).attachments["review.yml"] == [snapshot.read_bytes()]
    signoff = next(p for p in _pages(result.pdf) if "Review and sign-off" in p and "Contents" not in p)
    assert "Dana Lee" in signoff


def test_explore_notebook_lists_undecided_and_records_a_decision(
    held_out: Path, review_file: Path, decided_one: tuple[Path, str], workdir: Path, repo_root: Path
) -> None:
    review = workdir / "explore-review.yml"
    shutil.copy(review_file, review)
    before = load_review(review)
    target = next(f for f, e in before.entries.items() if not e.decided)
    nb = nbformat.read(repo_root / "notebooks" / "explore.ipynb", as_version=4)
    # What an analyst types in a new cell at the end: one plain call.
    nb.cells.append(nbformat.v4.new_code_cell(f'decide("{target}", "false_positive", by="Sam Ortiz")'))
    source = workdir / "explore-in.ipynb"
    nbformat.write(nb, source)
    executed = workdir / "explore-out.ipynb"
    papermill.execute_notebook(
        str(source),
        str(executed),
        parameters={"store": str(held_out), "review_file": str(review)},
        kernel_name="python3",
        progress_bar=False,
        cwd=str(workdir),
    )
    out = nbformat.read(executed, as_version=4)
    text = "".join(o.get("text", "") for c in out.cells if c.cell_type == "code" for o in c.outputs)
    n_undecided = len(before.entries) - len(before.decisions)
    assert f"{len(before.decisions)} decided, {n_undecided} undecided of {len(before.entries)} listed" in text
    after = load_review(review)
    assert after.decisions[target].decision == "false_positive"
    assert after.decisions[target].by == "Sam Ortiz"
    assert len(after.decisions) == len(before.decisions) + 1
