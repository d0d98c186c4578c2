"""The review file in a report: one hook, :func:`apply_review`, called on a built model before rendering.

It only sets fields on a finished :class:`~.model.ReportModel` — each finding's
decision (:class:`FindingReview`), the sign-off, the stamp, the cover facts, the
DRAFT mark, a quarter-over-quarter section — and leaves ``model.extra["attachments"]``
(files to embed and write to evidence/, hashed into the manifest) and
``model.extra["manifest"]`` (keys added to manifest.json). Any report kind built on
the report model can call it; the GDPR response to a data subject does not.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import polars as pl

from ..errors import ReviewFileError, ReviewIncompleteError
from ..review import (
    BLOCKING_SEVERITIES,
    REVIEW_FILE_NAME,
    Previous,
    Review,
    compare_findings,
    final_refusal_message,
    load_previous,
    load_review,
    review_command,
)
from .model import SEVERITY_ORDER, ReportModel, Section, Table, group_text

__all__ = ["FindingReview", "apply_review"]


@dataclass
class FindingReview:
    """What the review says about one finding, as the template prints it."""

    decision: str | None  # expected | exception | incident | false_positive, None while undecided
    note: str = ""
    by: str = ""
    at: str = ""
    history: str = ""  # new | recurring (against --previous), "" without one
    suggestion: str = ""  # last period's decision on a recurring finding: a suggestion, not a decision

    @property
    def label(self) -> str:
        return self.decision.replace("_", " ") if self.decision else "undecided"


def _load(review: str | os.PathLike[str] | Review | None, known: Iterable[str]) -> Review | None:
    if review is None:
        return None
    if not isinstance(review, Review):
        return load_review(review, finding_ids=known)
    unknown = [e for e in review.entries.values() if e.finding not in set(known)]
    if unknown:
        errors = [(str(review.path), e.line, f"unknown finding id {e.finding!r}") for e in unknown]
        raise ReviewFileError(
            "\n".join(
                f"{f}:{line}: {m}: no such finding in this period; fix the id or remove the entry"
                for f, line, m in errors
            ),
            errors,
        )
    return review


def apply_review(
    model: ReportModel,
    review: str | os.PathLike[str] | Review | None = None,
    previous: str | os.PathLike[str] | Previous | None = None,
    *,
    final: bool = False,
    known_ids: Iterable[str] | None = None,
) -> None:
    """Put the review file's decisions (and the previous report's) into ``model``.

    ``known_ids``: every finding id the run detected (default: the model's); a
    review entry naming any other id is an error with its file:line. ``final``
    refuses (:class:`~auditreports.errors.ReviewIncompleteError`, exit 1) while a
    critical or high finding of the report is undecided; otherwise the report is
    marked DRAFT on every page.
    """
    ids = [f.finding_id for f in model.findings]
    loaded = _load(review, list(known_ids) if known_ids is not None else ids)
    if final:
        blockers = [
            (f.finding_id, f.severity, f.title)
            for f in model.findings
            if f.severity in BLOCKING_SEVERITIES and (loaded is None or loaded.decision_for(f.finding_id) is None)
        ]
        if blockers:
            # The CLI refuses before any kernel starts (review.final_refusal); this is the
            # same check, in the same words, for the Python API and the notebook.
            command = review_command(
                {"period": model.period.label, "review_file": str(loaded.path) if loaded is not None else None}
            )
            raise ReviewIncompleteError(
                final_refusal_message(blockers, loaded.path if loaded is not None else None, command),
                finding_ids=[b[0] for b in blockers],
            )
    before = load_previous(previous) if previous is not None and not isinstance(previous, Previous) else previous
    comparison = compare_findings(model.findings_frame, before) if before is not None else None
    history = (
        dict(comparison.filter(pl.col("finding_id").is_not_null()).select("finding_id", "status").rows())
        if comparison is not None
        else {}
    )
    suggestions = (
        dict(comparison.filter(pl.col("suggestion").is_not_null()).select("finding_id", "suggestion").rows())
        if comparison is not None
        else {}
    )
    decided = 0
    for f in model.findings:
        entry = loaded.decision_for(f.finding_id) if loaded is not None else None
        info = FindingReview(
            decision=entry.decision if entry else None,
            note=(entry.note or "") if entry else "",
            by=(entry.by or "") if entry else "",
            at=entry.at.isoformat() if entry and entry.at else "",
            history=history.get(f.finding_id, ""),
            suggestion=suggestions.get(f.finding_id) or "",
        )
        f.review = info
        if entry is not None:
            decided += 1
            f.triage = info.label + (f" — {info.note}" if info.note else "")
        elif f.triage == "open — awaiting review":  # the model's default; a triage given by the caller stays
            f.triage = "undecided — awaiting review"
    undecided = len(model.findings) - decided
    open_blocking = sum(1 for f in model.findings if f.severity in BLOCKING_SEVERITIES and not f.review.decision)
    summary = f"{decided} of {len(model.findings)} finding(s) decided, {undecided} undecided"
    if open_blocking:
        summary += f" ({open_blocking} of them critical/high)"
    model.extra["review_summary"] = summary
    for section in model.sections:  # the executive summary counts decided / undecided from the review
        if section.kind == "summary":
            section.extra.update(decided=decided, undecided=undecided)
    model.extra["draft"] = not final
    facts = list(model.extra.get("cover_facts", []))
    facts.append(("Review", summary))
    facts.append(("Status", "FINAL — every critical and high finding decided" if final else "DRAFT"))
    model.extra["cover_facts"] = facts
    _signoff(model, loaded)
    manifest: dict[str, Any] = {"final": final}
    if loaded is not None:
        model.stamp.items.append(("review file (sha256)", f"{loaded.path.name}: {loaded.sha256}"))
        model.extra.setdefault("attachments", {})[REVIEW_FILE_NAME] = loaded.data
        manifest["review"] = {
            "file": loaded.path.name,
            "sha256": loaded.sha256,
            "reviewer": {"name": loaded.reviewer_name, "role": loaded.reviewer_role},
            "decided": decided,
            "undecided": undecided,
        }
    else:
        model.stamp.items.append(("review file (sha256)", "none (no decisions recorded)"))
    if before is not None and comparison is not None:
        model.sections.append(_comparison_section(comparison, before))
        manifest["previous_report"] = {
            "folder": str(before.directory),
            "period": before.period,
            "review_sha256": before.review.sha256 if before.review is not None else None,
        }
    model.extra["manifest"] = manifest


def _signoff(model: ReportModel, review: Review | None) -> None:
    signoff = model.signoff
    if review is not None:
        signoff.reviewer = review.reviewer_name or signoff.reviewer
        signoff.reviewer_role = review.reviewer_role or signoff.reviewer_role
        dates = [e.at for e in review.decisions.values() if e.at is not None]
        signoff.date = max(dates).isoformat() if dates else ""
    rows = []
    for f in model.findings:
        if not f.detailed:
            continue
        r = f.review
        rows.append(
            [
                f.finding_id,
                f.severity,
                f"{f.ref} · {f.title}" if f.ref else f.title,
                r.label if r.decision else "",
                r.note,
                ", ".join(x for x in (r.by, r.at) if x),
            ]
        )
    # Routine changes (informational, grouped per actor x change type x week) are one change
    # log reviewed as one item: one row, decided when every item of it is.
    routine = [f for f in model.findings if not f.detailed]
    if routine:
        labels = {f.review.label for f in routine if f.review.decision}
        done = sum(1 for f in routine if f.review.decision)
        decision = labels.pop() if done == len(routine) and len(labels) == 1 else ""
        rows.append(
            [
                "change log",
                "info",
                f"Change log ({routine[0].ref}{'–' + routine[-1].ref if len(routine) > 1 else ''}): "
                f"{len(routine)} routine item(s), {sum(f.count for f in routine)} event(s), reviewed as one item",
                decision,
                "" if decision or not done else f"{done} of {len(routine)} item(s) decided",
                "",
            ]
        )
    signoff.decisions = Table(
        "Decision per finding",
        ["finding", "severity", "title", "decision", "note / ticket", "by, on"],
        rows,
        note="Decision: expected, exception, incident or false positive; from the review file (its sha256 is in the "
        "reproducibility stamp). A blank decision is undecided.",
        empty="No finding to decide on.",
        widths=["20%", "8%", "26%", "11%", "22%", "13%"],
    )


def _comparison_section(comparison: pl.DataFrame, previous: Previous) -> Section:
    counts = dict(comparison.group_by("status").len().rows())
    label = previous.period or str(previous.directory)
    rows = []
    rank = {sev: i for i, sev in enumerate(SEVERITY_ORDER)}
    shown = comparison.filter(pl.col("status") != "new").with_columns(
        pl.col("severity").replace_strict(rank, default=len(rank), return_dtype=pl.Int64).alias("_rank")
    )
    for r in shown.sort("status", "_rank", maintain_order=True).iter_rows(named=True):
        rows.append(
            [
                r["status"],
                r["finding_id"] or ", ".join(r["previous_ids"]),
                r["severity"] or "",
                r["title"] or "",
                group_text(r["group"]),
                (r["suggestion"] or "")
                + (" (suggestion, not a decision)" if r["suggestion"] and r["status"] == "recurring" else ""),
            ]
        )
    table = Table(
        "Recurring and resolved findings",
        [
            "status",
            "finding (this period; resolved: last period's)",
            "severity",
            "title",
            "about",
            "last period's decision",
        ],
        rows,
        empty="No finding of the previous report recurs or was resolved.",
        widths=["9%", "20%", "8%", "23%", "20%", "20%"],
        note="Recurring: the same rule fired on the same actor / address as last period. Last period's decision is shown "
        "as a suggestion only; this period's decision is the one in this period's review file.",
    )
    return Section(
        key="quarter-over-quarter",
        title=f"Compared with the previous report ({label})",
        intro=f"Findings of this period against the previous report's evidence/findings.json in {previous.directory}.",
        tables=[table],
        facts=[
            ("New this period", str(counts.get("new", 0))),
            ("Recurring", str(counts.get("recurring", 0))),
            ("Resolved (not seen this period)", str(counts.get("resolved", 0))),
            ("Previous review file", previous.review.sha256 if previous.review is not None else "none in that folder"),
        ],
    )
