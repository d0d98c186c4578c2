"""What each report notebook does, as one function per report kind.

    open store (or load files) -> verify -> detect -> build model -> charts -> render PDF + evidence

Each function leaves ``out_dir/report.pdf`` (PDF/A-3b, written atomically) and
``out_dir/evidence/`` with findings.json, events.csv, verification.json,
manifest.json; the same bytes are embedded in the PDF. GDPR is two documents: the
response ``report.pdf`` with only the subject's data (``evidence/subject_data.*``),
and the internal ``release-record.pdf`` with ``release-record-evidence/``. Lower-level pieces (``prepare_inputs``, the ``build_*_model``
functions, ``ChartExporter``, ``render_pdf``) are public so a notebook can show
the charts and tables on the way.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import polars as pl

from .csvsafe import safe_csv_frame
from .errors import ParameterError, StoreError
from .period import Period, parse_period
from .progress import stage
from .report.charts import ChartExporter, draw_charts
from .report.common import ReportInputs
from .report.engine import build_report
from .report.gdpr import build_gdpr_model, refuse_unknown_subject, resolve_subject
from .report.model import LABEL_ROLE, ReportModel
from .report.registry import load_report, report_kind
from .report.render import (
    PACKAGE_TEMPLATES,
    atomic_write,
    override_directory,
    render_html_twin,
    render_pdf,
    render_pdf_bytes,
)
from .report.reviewed import apply_review
from .report.settings import ReportSettings
from .settings import Settings

__all__ = [
    "ReportResult",
    "evidence_files",
    "framework_report",
    "gdpr_subject_access",
    "gdpr_subject_files",
    "hipaa_phi_access",
    "prepare_inputs",
    "release_evidence_files",
    "soc2_quarterly",
]


@dataclass(frozen=True)
class ReportResult:
    """Where a report run left its files, and the model it rendered."""

    pdf: Path
    evidence_dir: Path
    evidence: dict[str, Path]
    model: ReportModel = field(repr=False)
    verdict: str
    findings: int
    # GDPR only: the internal release record beside the response, and its own evidence.
    release_record: Path | None = None
    release_evidence_dir: Path | None = None
    html: Path | None = None  # the HTML twin (report.html) of a report built from sections


@dataclass
class _Prepared:
    inputs: ReportInputs
    findings_doc: dict[str, Any]
    rule_pack_hash: str | None
    framework: Any


def _period(period: str | Period | tuple[Any, Any]) -> Period:
    if isinstance(period, Period):
        return period
    if isinstance(period, tuple):
        return parse_period(start=period[0], end=period[1])
    return parse_period(str(period))


def _open(store_or_src: Any) -> tuple[pl.LazyFrame, dict[str, Any], pl.DataFrame | None]:
    """A store directory, a source path/glob, or an already-loaded events frame."""
    if isinstance(store_or_src, pl.DataFrame | pl.LazyFrame):
        return store_or_src.lazy(), {}, None
    if hasattr(store_or_src, "events") and hasattr(store_or_src, "ledger"):
        return store_or_src.events, store_or_src.ledger, store_or_src.quarantine
    path = Path(os.fspath(store_or_src))
    if path.is_dir() and (path / "ledger.json").is_file():
        from .store import open_store

        store = open_store(path)
        problems = store.reconcile()
        if problems:
            raise StoreError(
                f"{path}: the ledger does not reconcile with the stored events ({'; '.join(problems)}); "
                "re-ingest the sources into a new store",
                path=str(path),
            )
        return store.events, store.ledger, store.quarantine
    from .sources import load

    loaded = load(store_or_src)
    return loaded.events, {"version": 1, "inputs": loaded.ledger, "fetches": []}, loaded.quarantine


def _verify(
    events: pl.LazyFrame, period: Period, integrity: Any = None, quarantine: pl.DataFrame | None = None
) -> dict[str, Any]:
    from .integrity import IntegritySettings
    from .integrity.verify import verify, with_unreadable_lines

    if isinstance(integrity, Mapping):
        integrity = IntegritySettings.from_mapping(integrity)
    # Coverage is measured against the requested period, not just what the log holds.
    window = (period.start_utc, period.end_utc_exclusive)
    # Lines the loader could not read were not verified: PARTIAL, naming each file.
    return dict(with_unreadable_lines(verify(events, period=window, settings=integrity), quarantine).to_dict())


# Columns no report section, chart or summary reads (only the evidence rows carry them to
# events.csv): the stored record, the chain hashes, the record's place in its file and the
# platform's own name for the action (sections read the canonical event_type).
PRINTED_ONLY = (
    "raw", "prev_hash", "hash", "user_agent", "flags", "source_address", "source_file", "source_line",
    "source_offset", "source_action",
)  # fmt: skip


def printed_only_columns(framework_path: str | os.PathLike[str] | None) -> tuple[str, ...]:
    """The :data:`PRINTED_ONLY` columns a framework file does not name (``raw`` always).

    An organisation's framework may show any column in a table or test a population on it:
    a column its file names anywhere is kept with the period's events.
    """
    text = Path(framework_path).read_text(encoding="utf-8") if framework_path else ""
    return tuple(c for c in PRINTED_ONLY if c == "raw" or not re.search(rf"\b{c}\b", text))


def prepare_inputs(
    store_or_src: Any,
    *,
    period: str | Period | tuple[Any, Any],
    framework: str | None = None,
    detection: Any = None,
    integrity: Any = None,
    rules_dirs: Sequence[str | os.PathLike[str]] = (),
    frameworks_dirs: Sequence[str | os.PathLike[str]] = (),
) -> _Prepared:
    """Open, verify and detect: the plain data every report model is built from.

    ``detection`` / ``integrity`` are the settings sections (or mappings) the run uses;
    ``rules_dirs`` are organisation rule directories run beside the built-in rules and
    hashed into the rule-pack hash of the reproducibility stamp. ``framework`` is a report
    kind (a framework file's stem, looked up in the shipped frameworks and ``frameworks_dirs``)
    whose map and report block are loaded (``_Prepared.framework`` is a ``LoadedReport``).
    """
    p = _period(period)
    with stage("open"):
        events, ledger, quarantine = _open(store_or_src)
    with stage("verify"):
        verification = _verify(events, p, integrity, quarantine)
    with stage("detect"):
        from .detect import builtin_rules_dir, detect

        dirs = tuple(Path(d) for d in rules_dirs)
        found = detect(events, settings=detection, rules_dirs=dirs)
        from .detect.rules import reviewer_note_warnings
        from .progress import say

        for warning in reviewer_note_warnings(found.rules):
            say(f"[auditreports] warning: {warning}")
        findings_doc = json.loads(found.to_json())
        rule_hash = hashlib.sha256()
        for directory in (builtin_rules_dir(), *rules_dirs):
            for path in sorted(Path(directory).glob("*.yml")):
                rule_hash.update(path.name.encode() + b"\0" + path.read_bytes())
        fw = load_report(framework, frameworks_dirs=frameworks_dirs, rules_dirs=dirs) if framework else None
    # A framework report reads some columns only in the rows it prints: they are read for those
    # rows alone (ReportInputs.evidence_rows), not held for the whole period.
    inputs = ReportInputs(
        events,
        period=p,
        verification=verification,
        findings=found.frame,
        ledger=ledger,
        quarantine=quarantine,
        deferred=printed_only_columns(fw.spec.path if fw is not None else None),
    )
    # Organisation rules explain their findings too (or say they do not).
    inputs.rule_notes = {r.name: (r.why_it_matters, r.what_to_check, r.description) for r in found.rules}
    return _Prepared(inputs, findings_doc, rule_hash.hexdigest(), fw)


def _csv(frame: pl.DataFrame) -> bytes:
    frame = frame.drop(LABEL_ROLE, strict=False)  # a printing aid, not evidence
    flat = frame.with_columns(
        [
            pl.col(c).cast(pl.List(pl.String)).list.join("|").alias(c)
            for c, t in frame.schema.items()
            if isinstance(t, pl.List)
        ]
        + [
            pl.col(c).dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").alias(c)
            for c, t in frame.schema.items()
            if isinstance(t, pl.Datetime)
        ]
    )
    return safe_csv_frame(flat).collect().write_csv().encode("utf-8")


def _json(document: Any) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True, default=str) + "\n").encode("utf-8")


def evidence_files(model: ReportModel, prepared: _Prepared) -> dict[str, bytes]:
    """The evidence documents, as bytes, exactly as they are written and embedded.

    For the GDPR response (kind ``gdpr``) these are only the subject's own data,
    minimised: ``subject_data.json`` and ``subject_data.csv``. The internal evidence
    (events with staff columns, findings by id, verification, manifest) belongs to the
    release record: :func:`release_evidence_files`.
    """
    if model.kind == "gdpr":
        return gdpr_subject_files(model)
    # The findings of the report, by id, exactly as detect returned them (detect --json).
    by_id = {f["finding_id"]: f for f in prepared.findings_doc["findings"]}
    keep = model.findings_frame.get_column("finding_id").to_list()
    wanted = set(keep)
    missing = [i for i in keep if i not in by_id]
    if missing:  # pragma: no cover - a model is built from these findings
        raise ParameterError(f"the report holds finding(s) {', '.join(missing)} that detection did not return.")
    findings = [f for i, f in by_id.items() if i in wanted]
    files = {
        "findings.json": _json(
            {"findings": findings, "rules": prepared.findings_doc.get("rules", []), "period": model.period.label}
        ),
        "events.csv": _csv(model.evidence_events),
        "verification.json": _json(prepared.inputs.verification),
    }
    # The review hook (report.reviewed.apply_review) adds the review file and its manifest keys.
    files.update(model.extra.get("attachments", {}))
    manifest = _manifest(model, prepared, files)
    manifest.update(model.extra.get("manifest", {}))
    files["manifest.json"] = _json(manifest)
    return files


def _manifest(model: ReportModel, prepared: _Prepared, files: Mapping[str, bytes]) -> dict[str, Any]:
    return {
        "report": model.kind,
        "period": {"label": model.period.label, "start": model.period.start, "end": model.period.end},
        "generated_at": model.generated_at,
        "inputs": [
            {"path": i.get("path"), "sha256": i.get("sha256")} for i in prepared.inputs.ledger.get("inputs") or []
        ],
        "rule_pack_sha256": prepared.rule_pack_hash,
        # The settings file and the directories it names change the results: hashed too.
        "configuration": model.extra.get("configuration_inputs", []),
        "files": {name: hashlib.sha256(payload).hexdigest() for name, payload in sorted(files.items())},
    }


def gdpr_subject_files(model: ReportModel) -> dict[str, bytes]:
    """The data subject's machine-readable copy (Art. 15(3)): what report.pdf carries, nothing else."""
    # One timestamp format in both files: ISO 8601 in UTC with a Z (2026-07-02T02:40:04.798000Z).
    data = model.extra["subject_data"].with_columns(
        pl.col(pl.Datetime).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
    )
    response = model.extra["response"]
    document = {
        "controller": response["organisation"],
        "data_subject": {"ids": response["subject_ids"], "emails": response["subject_emails"]},
        "request_received": model.extra["received"],
        "period": {"start": model.period.start, "end": model.period.end},
        "events": data.to_dicts(),
    }
    return {"subject_data.json": _json(document), "subject_data.csv": _csv(data)}


def release_evidence_files(release: ReportModel, prepared: _Prepared, sent: Mapping[str, bytes]) -> dict[str, bytes]:
    """The release record's own evidence: events with staff columns, findings by id, verification, manifest.

    ``sent`` are the files attached to the response; the manifest records their sha256
    so the record proves what was released.
    """
    subject_events = set(release.evidence_events.get_column("event_id").to_list())
    by_id = {f["finding_id"]: f for f in prepared.findings_doc["findings"]}
    findings = []
    for finding_id in release.findings_frame.get_column("finding_id").to_list():
        f = by_id.get(finding_id)
        if f is None:
            continue
        ids = list(f.get("event_ids") or [])
        findings.append({**f, "event_ids": [e for e in ids if e in subject_events], "event_ids_total": len(ids)})
    files = {
        "findings.json": _json(
            {"findings": findings, "rules": prepared.findings_doc.get("rules", []), "period": release.period.label}
        ),
        "events.csv": _csv(release.evidence_events),
        "verification.json": _json(_gdpr_verification(prepared.inputs.verification, subject_events)),
        "redactions.json": _json(
            {
                "redactions": release.extra["redactions"],
                "gaps": release.extra["gaps"],
                "subject": release.extra["subject"],
            }
        ),
    }
    manifest = _manifest(release, prepared, files)
    manifest["released"] = {name: hashlib.sha256(payload).hexdigest() for name, payload in sorted(sent.items())}
    files["manifest.json"] = _json(manifest)
    return files


def _gdpr_verification(verification: Mapping[str, Any], ids: set[str]) -> dict[str, Any]:
    """Only the verdict, counts and breaks on the subject's own events (no one else's ids)."""
    return {
        "verdict": verification.get("verdict"),
        "events_checked": verification.get("events_checked"),
        "breaks_total": len(verification.get("breaks") or []),
        "breaks": [b for b in verification.get("breaks") or [] if b.get("event_id") in ids],
        "unverified": verification.get("unverified") or [],
    }


def _finish(model: ReportModel, prepared: _Prepared, out_dir: Path, settings: ReportSettings) -> ReportResult:
    out_dir.mkdir(parents=True, exist_ok=True)
    evidence_dir = out_dir / "evidence"
    if settings.charts:
        with stage("charts"), ChartExporter() as exporter:
            draw_charts(model.charts, exporter)
    files = evidence_files(model, prepared)
    manifest_hash = hashlib.sha256(files["manifest.json"]).hexdigest()
    model.stamp.items = [(k, manifest_hash if k.startswith("manifest hash") else v) for k, v in model.stamp.items]
    model.stamp.items.append(("template overrides", _overrides_used(settings)))
    model.stamp.items.append(("settings file", settings.settings_source))
    written = {}
    for name, payload in files.items():
        atomic_write(evidence_dir / name, payload)
        written[name] = evidence_dir / name
    with stage("render PDF"):
        pdf = render_pdf(model, out_dir / "report.pdf", attachments=files, settings=settings)
    html = None
    if model.kind != "gdpr":  # the twin of the framework reports (GDPR answers are sent as the PDF)
        with stage("render HTML twin"):
            html = out_dir / "report.html"
            atomic_write(html, render_html_twin(model, settings).encode("utf-8"))
    return ReportResult(pdf, evidence_dir, written, model, model.completeness.verdict, len(model.findings), html=html)


def _overrides_used(settings: ReportSettings) -> str:
    """Which shipped templates an organisation directory replaced: part of reproducing the PDF."""
    directory = override_directory(settings)
    if directory is None:
        return "none (package templates)"
    shipped = {p.name for p in PACKAGE_TEMPLATES.iterdir()}
    replaced = sorted(p.name for p in directory.iterdir() if p.name in shipped)
    return f"{directory}: {', '.join(replaced)}" if replaced else f"{directory}: none of the shipped templates replaced"


def _settings(settings: Settings | ReportSettings | Mapping[str, Any] | None) -> tuple[ReportSettings, Any, Any]:
    """(report, detection, integrity) settings from a full Settings, a ReportSettings or a report mapping."""
    if isinstance(settings, Settings):
        return settings.report, settings.detection, settings.integrity
    if isinstance(settings, ReportSettings):
        return settings, None, None
    return ReportSettings.from_mapping(settings), None, None


def framework_report(
    kind: str,
    store_or_src: Any,
    *,
    period: str | Period | tuple[Any, Any],
    out_dir: str | os.PathLike[str],
    settings: Settings | ReportSettings | Mapping[str, Any] | None = None,
    notebook_name: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    triage: Mapping[str, str] | None = None,
    rules_dirs: Sequence[str | os.PathLike[str]] = (),
    frameworks_dirs: Sequence[str | os.PathLike[str]] = (),
    review: Any = None,
    previous: Any = None,
    final: bool = False,
) -> ReportResult:
    """The report of any framework built from sections (soc2, hipaa, an organisation's own).

    ``kind`` is a framework file's stem, looked up in the shipped frameworks, then in
    ``frameworks_dirs`` and the settings' ``report.frameworks_dirs``. ``settings``: a full
    :class:`~auditreports.settings.Settings` (detection and integrity sections apply too), a
    :class:`ReportSettings` or a mapping of report settings. ``triage``: finding id -> status
    shown in the findings table. ``rules_dirs``: organisation rule directories run beside the
    built-in rules. ``review``: the review file (path or :class:`~auditreports.review.Review`)
    whose decisions the report shows; ``previous``: the previous report's output folder (new /
    recurring / resolved); ``final``: refuse while a critical or high finding is undecided, else
    the report is marked DRAFT (:func:`~auditreports.report.reviewed.apply_review`). Leaves
    report.pdf + evidence/ in ``out_dir``.
    """
    s, detection, integrity = _settings(settings)
    dirs = [*frameworks_dirs, *s.frameworks_dirs]
    found = report_kind(kind, dirs)
    if found.builder != "sections":
        raise ParameterError(
            f"the {kind} report has its own builder ({found.builder}) and pipeline function "
            "(gdpr: pipeline.gdpr_subject_access); framework_report builds reports made of sections."
        )
    prepared = prepare_inputs(
        store_or_src,
        period=period,
        framework=str(found.path),
        detection=detection,
        integrity=integrity,
        rules_dirs=rules_dirs,
    )
    try:
        with stage("report model"):
            model = build_report(
                prepared.framework.framework,
                prepared.inputs,
                s,
                spec=prepared.framework.spec,
                triage=triage,
                parameters=parameters,
                notebook_name=notebook_name,
                rule_pack_hash=prepared.rule_pack_hash,
            )
    finally:
        prepared.inputs.close()  # the temporary copy of the period: the model holds what it prints
    model.extra["configuration_inputs"] = configuration_inputs(settings, s, detection)
    known = [f["finding_id"] for f in prepared.findings_doc["findings"]]
    apply_review(model, review, previous, final=final, known_ids=known)
    return _finish(model, prepared, Path(out_dir), s)


def configuration_inputs(settings: Any, report: ReportSettings, detection: Any) -> list[dict[str, str]]:
    """The settings file and every directory file it names, with their SHA-256 (they change results)."""
    named: list[tuple[str, Any]] = [("settings file", getattr(settings, "path", None))]
    named += [
        ("staff directory (report)", report.staff),
        ("customer directory", report.customers),
        ("processing record", report.processing_record),
        ("staff directory (detection)", getattr(detection, "actors_csv", None)),
    ]
    out = []
    for what, path in named:
        if path is None:
            continue
        file = Path(path)
        digest = hashlib.sha256(file.read_bytes()).hexdigest() if file.is_file() else "missing"
        out.append({"what": what, "path": str(file), "sha256": digest})
    return out


def soc2_quarterly(store_or_src: Any, **kwargs: Any) -> ReportResult:
    """The SOC 2 quarterly review (``framework_report("soc2", …)``; arguments as there)."""
    return framework_report("soc2", store_or_src, **kwargs)


def hipaa_phi_access(store_or_src: Any, **kwargs: Any) -> ReportResult:
    """The HIPAA PHI-access audit (``framework_report("hipaa", …)``; arguments as there)."""
    return framework_report("hipaa", store_or_src, **kwargs)


def gdpr_subject_access(
    store_or_src: Any,
    *,
    period: str | Period | tuple[Any, Any],
    out_dir: str | os.PathLike[str],
    subject: str,
    received: str | date | datetime,
    settings: Settings | ReportSettings | Mapping[str, Any] | None = None,
    notebook_name: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    rules_dirs: Sequence[str | os.PathLike[str]] = (),
    no_data_confirmed: bool = False,
    extension: str | None = None,
    late_reason: str | None = None,
    today: date | None = None,
) -> ReportResult:
    """The GDPR Art. 15 answer: ``report.pdf`` for the data subject, ``release-record.pdf`` for the organisation.

    ``out_dir/report.pdf`` carries only the subject's minimised data (``subject_data.json``
    and ``.csv``, also written to ``out_dir/evidence/``); ``out_dir/release-record.pdf``
    carries the internal evidence, also written to ``out_dir/release-record-evidence/``.
    A subject in no event and not in the customer directory is refused unless
    ``no_data_confirmed``; ``extension`` (a reason) extends the deadline by two months.
    """
    s, detection, integrity = _settings(settings)
    who = resolve_subject(subject, s.customers)
    # Opened once: the refusal of an unknown subject comes before verify and detect.
    events, ledger, quarantine = _open(store_or_src)
    refuse_unknown_subject(events, who, no_data_confirmed=no_data_confirmed)
    opened = SimpleNamespace(events=events, ledger=ledger, quarantine=quarantine)
    prepared = prepare_inputs(opened, period=period, detection=detection, integrity=integrity, rules_dirs=rules_dirs)
    try:
        with stage("report model"):
            model = build_gdpr_model(
                prepared.inputs,
                who,
                received,
                s,
                parameters=parameters,
                notebook_name=notebook_name,
                rule_pack_hash=prepared.rule_pack_hash,
                extension=extension,
                late_reason=late_reason,
                today=today,
            )
    finally:
        prepared.inputs.close()  # the temporary copy of the period: the models hold what they print
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if s.charts:
        with stage("charts"), ChartExporter() as exporter:
            draw_charts(model.charts, exporter)
    sent = gdpr_subject_files(model)
    evidence_dir = out / "evidence"
    written = {}
    for name, payload in sent.items():
        atomic_write(evidence_dir / name, payload)
        written[name] = evidence_dir / name
    release: ReportModel = model.extra["release_record"]
    # The settings file and the directories it names change what the record says: hashed into its manifest.
    release.extra["configuration_inputs"] = configuration_inputs(settings, s, detection)
    with stage("render PDF (response)"):
        # Rendered before the record so the record's manifest holds the sha256 of the letter itself.
        response_pdf = render_pdf_bytes(model, attachments=sent, settings=s)
    files = release_evidence_files(release, prepared, {**sent, "report.pdf": response_pdf})
    manifest_hash = hashlib.sha256(files["manifest.json"]).hexdigest()
    release.stamp.items = [(k, manifest_hash if k.startswith("manifest hash") else v) for k, v in release.stamp.items]
    release.stamp.items.append(("template overrides", _overrides_used(s)))
    release_dir = out / "release-record-evidence"
    for name, payload in files.items():
        atomic_write(release_dir / name, payload)
    with stage("render PDF (release record)"):
        # The record first: a response is never left without the record of its release.
        record = render_pdf(release, out / "release-record.pdf", attachments=files, settings=s)
    pdf = out / "report.pdf"
    atomic_write(pdf, response_pdf)
    return ReportResult(
        pdf,
        evidence_dir,
        written,
        model,
        release.completeness.verdict,
        len(release.findings),
        release_record=record,
        release_evidence_dir=release_dir,
    )
