"""GDPR Art. 15 subject access: everything the platform did with one subject's data.

Minimisation is built in, not bolted on: the subject's events are selected first,
then every text column is redacted of other subjects' ids and foreign e-mail
addresses, ``subject_ids`` lists are cut down to the subject, and staff appear by
role only (unless ``ReportSettings.staff_names``). Only findings that involve the
subject's events are shown, redacted the same way.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from ..errors import ConfigError, ParameterError
from .charts import subject_activity_figure
from .common import ReportInputs, assemble
from .model import Chart, ReportModel, Section, actor_expr, table_from_frame
from .period import gdpr_deadline, parse_date
from .redact import redact_frame, redact_text_expr
from .settings import ReportSettings

__all__ = ["ART15_SECTIONS", "Subject", "build_gdpr_model", "load_processing_record", "resolve_subject", "subject_data"]

# Art. 15(1) letter -> (heading, keys accepted in the processing record).
# Every key found is shown (in this order); dotted keys reach into nested mappings.
ART15_SECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("a", "Purposes of the processing and their legal bases", ("purposes", "legal_bases")),
    ("b", "Categories of personal data", ("categories", "data_categories", "categories_of_personal_data")),
    (
        "c",
        "Recipients or categories of recipients, including in third countries",
        ("recipients", "transfers_to_third_countries"),
    ),
    ("d", "Retention period", ("retention",)),
    ("e", "Your rights: rectification, erasure, restriction, objection", ("rights", "data_subject_rights")),
    (
        "f",
        "Right to lodge a complaint with a supervisory authority",
        ("complaint", "supervisory_authority", "data_subject_rights.complaint"),
    ),
    ("g", "Source of the data", ("source", "sources", "source_of_data")),
    (
        "h",
        "Automated decision-making, including profiling",
        ("automated_decision_making", "automated_decisions", "profiling"),
    ),
)
SUBJECT_COLUMNS = (
    "event_id",
    "timestamp",
    "event_type",
    "category",
    "outcome",
    "actor",
    "channel",
    "conversation_id",
    "resource_type",
    "resource_id",
    "subject_id",
    "subject_ids",
    "reason",
    "before",
    "after",
    "record_count",
)


@dataclass(frozen=True)
class Subject:
    """A data subject resolved through the customer directory."""

    ids: tuple[str, ...]
    emails: tuple[str, ...]
    given: str

    @property
    def label(self) -> str:
        return self.ids[0] if self.ids else self.given


def resolve_subject(subject: str, customers: Path | None) -> Subject:
    """A customer id or e-mail -> every id and e-mail of that subject in the directory."""
    given = subject.strip()
    if not given:
        raise ParameterError("a subject access report needs a subject: a customer id (cus_…) or an e-mail address.")
    if customers is None:
        if "@" in given:
            raise ParameterError(
                f"subject {given!r} is an e-mail address but no customer directory is set; set the customers setting to a CSV with customer_id and email."
            )
        return Subject((given,), (), given)
    try:
        directory = pl.read_csv(customers, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ConfigError(
            f"customer directory {customers} cannot be read ({exc}); check the customers setting."
        ) from None
    id_col = next((c for c in ("customer_id", "id", "subject_id") if c in directory.columns), None)
    if id_col is None or "email" not in directory.columns:
        raise ConfigError(f"customer directory {customers} needs customer_id and email columns.", path=str(customers))
    match = directory.filter((pl.col(id_col) == given) | (pl.col("email").str.to_lowercase() == given.lower()))
    if match.height == 0:
        if "@" in given:
            raise ParameterError(
                f"no customer with e-mail {given!r} in {customers}; check the address or give the customer id."
            )
        return Subject((given,), (), given)
    ids = tuple(sorted(set(match[id_col].drop_nulls().to_list())))
    emails = tuple(sorted({e.lower() for e in match["email"].drop_nulls().to_list()}))
    return Subject(ids, emails, given)


def load_processing_record(path: Path | None) -> dict[str, Any]:
    """The record of processing activities (YAML) that fills Art. 15(1)(a)-(h)."""
    if path is None:
        return {}
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"processing record {path} cannot be read ({exc}); check the processing_record setting."
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"processing record {path} must be a YAML mapping of purposes, categories, recipients, ….")
    return data


def _lookup(record: Mapping[str, Any], dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _controller_facts(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Who answers the request: controller, contact and DPO from the record of processing."""
    controller = record.get("controller")
    if not isinstance(controller, Mapping):
        return []
    labels = (
        ("name", "Controller"),
        ("contact", "Privacy contact"),
        ("data_protection_officer", "Data protection officer"),
        ("representative_in_eu", "EU representative"),
    )
    return [(label, str(controller[k])) for k, label in labels if controller.get(k)]


def _as_text(value: Any) -> str | list[str]:
    if isinstance(value, list):
        return [_as_line(v) for v in value]
    if isinstance(value, dict):
        return [f"{_label(k)}: {_as_line(v)}" for k, v in value.items()]
    return _as_line(value)


def _label(key: Any) -> str:
    """A record key as a reader would write it: ``how_to_exercise`` -> ``How to exercise``."""
    text = str(key).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _as_line(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return "; ".join(
            f"{_label(k) if i == 0 else _label(k).lower()}: {_as_line(v)}" for i, (k, v) in enumerate(value.items())
        )
    if isinstance(value, list):
        return ", ".join(_as_line(v) for v in value)
    return str(value)


def subject_events(events: pl.DataFrame, subject: Subject) -> pl.DataFrame:
    """Every event that touched the subject's data: theirs, their conversations, exports of them."""
    ids = list(subject.ids)
    direct = pl.col("subject_id").is_in(ids) | pl.col("subject_ids").list.eval(pl.element().is_in(ids)).list.any()
    conversations = (
        events.filter(direct & pl.col("conversation_id").is_not_null()).get_column("conversation_id").unique()
    )
    return events.filter(direct | pl.col("conversation_id").is_in(conversations.implode()))


def subject_data(events: pl.DataFrame, subject: Subject, *, staff_names: bool = False) -> pl.DataFrame:
    """The subject's events, minimised and redacted: the machine-readable copy (Art. 15(3))."""
    selected = events.with_columns(actor_expr(by_role=not staff_names)).select(SUBJECT_COLUMNS)
    return redact_frame(selected.lazy(), list(subject.ids), list(subject.emails)).collect()


def _minimised_inputs(inputs: ReportInputs, ids: list[str], emails: list[str]) -> ReportInputs:
    """Quarantine and integrity details can quote other subjects: keep only what is safe to show."""
    out = copy.copy(inputs)
    if inputs.quarantine is not None and inputs.quarantine.height:
        keep = [c for c in ("source_file", "source_line", "source_offset", "reason") if c in inputs.quarantine.columns]
        out.quarantine = redact_frame(inputs.quarantine.select(keep).lazy(), ids, emails).collect()
    verification = dict(inputs.verification)
    for key, cols in (("breaks", ("kind", "event_id", "position", "detail")), ("unverified", ("check", "reason"))):
        rows = verification.get(key) or []
        if rows:
            frame = pl.DataFrame(
                [{c: None if r.get(c) is None else str(r.get(c)) for c in cols} for r in rows],
                schema=dict.fromkeys(cols, pl.String),
            )
            verification[key] = redact_frame(frame.lazy(), ids, emails).collect().to_dicts()
    out.verification = verification
    return out


def build_gdpr_model(
    inputs: ReportInputs,
    subject: Subject,
    received: str | date,
    settings: ReportSettings | None = None,
    *,
    parameters: Mapping[str, Any] | None = None,
    notebook_name: str | None = None,
    rule_pack_hash: str | None = None,
    manifest_hash: str | None = None,
) -> ReportModel:
    """The Art. 15 subject access model from plain data (see :class:`ReportInputs`)."""
    settings = settings or ReportSettings()
    received_date = parse_date(received, name="received")
    ids, emails = list(subject.ids), list(subject.emails)
    inputs = _minimised_inputs(inputs, ids, emails)
    raw = subject_events(inputs.events, subject)
    # Everything printed or embedded is redacted, including free text, raw records and states.
    redacted = redact_frame(raw.lazy(), ids, emails).collect()
    by_role = not settings.staff_names
    actor = actor_expr(by_role=by_role)
    data = subject_data(raw, subject, staff_names=settings.staff_names)

    event_ids = raw.get_column("event_id").implode()
    findings = inputs.findings.filter(pl.col("event_ids").list.eval(pl.element().is_in(event_ids)).list.any())
    findings = findings.with_columns(
        pl.col("event_ids").list.eval(pl.element().filter(pl.element().is_in(event_ids))),
        *[redact_text_expr(pl.col(c), ids, emails).alias(c) for c in ("title", "summary", "group", "rule_name")],
    )
    conversations = (
        redacted.filter(pl.col("conversation_id").is_not_null())
        .group_by("conversation_id")
        .agg(
            pl.col("channel").drop_nulls().first(),
            pl.len().alias("events"),
            (pl.col("category") == "bot").sum().alias("bot_events"),
            pl.col("timestamp").min().alias("first"),
            pl.col("timestamp").max().alias("last"),
        )
        .sort("first")
    )
    bot = redacted.filter(pl.col("category") == "bot").with_columns(
        actor,
        pl.coalesce(
            pl.col("reason"),
            # What the bot did: the skill it ran, the knowledge base and articles it read.
            pl.concat_str([pl.lit("skill "), pl.col("after").str.json_path_match("$.skill")]),
            pl.concat_str(
                [
                    pl.col("after").str.json_path_match("$.knowledge_base"),
                    pl.lit(": "),
                    pl.col("after")
                    .str.json_path_match("$.documents")
                    .str.strip_chars("[]")
                    .str.replace_all('"', "", literal=True),
                ]
            ),
            pl.when(pl.col("resource_id") != pl.col("conversation_id")).then(
                pl.concat_str([pl.col("resource_type"), pl.col("resource_id")], separator=": ", ignore_nulls=True)
            ),
        ).alias("detail"),
    )
    exports = redacted.filter(pl.col("event_type") == "data.export").with_columns(actor)
    staff = redacted.filter(pl.col("actor_type").cast(pl.String).is_in(["user", "api_key"])).with_columns(actor)
    access = (
        staff.group_by("actor")
        .agg(
            pl.len().alias("events"),
            pl.col("event_type").unique().sort().str.join(", ").alias("what"),
            pl.col("timestamp").min().alias("first"),
            pl.col("timestamp").max().alias("last"),
        )
        .sort("events", descending=True)
    )
    record = load_processing_record(settings.processing_record)
    art15: list[tuple[str, str, str | list[str]]] = []
    for letter, heading, keys in ART15_SECTIONS:
        lines: list[str] = []
        for key in keys:
            value = _lookup(record, key)
            if value in (None, "", [], {}):
                continue
            text = _as_text(value)
            lines.extend([text] if isinstance(text, str) else text)
        art15.append(
            (
                letter,
                heading,
                lines if len(lines) != 1 else lines[0],
            )
            if lines
            else (letter, heading, "Not stated in the record of processing; ask the data protection officer.")
        )
    deadline = gdpr_deadline(received_date)
    sections = [
        Section(
            "conversations",
            "Your conversations",
            "Every conversation that involved you, with its channel and how many events it had.",
            charts=["subject_activity"],
            tables=[
                table_from_frame(
                    conversations,
                    {
                        "conversation": "conversation_id",
                        "channel": "channel",
                        "events": "events",
                        "bot events": "bot_events",
                        "first": "first",
                        "last": "last",
                    },
                    "Conversations",
                    empty="No conversation involved you.",
                )
            ],
        ),
        Section(
            "bot",
            "Bot messages and knowledge retrievals",
            "What the assistant did in your conversations: messages it sent, skills it ran, knowledge it retrieved.",
            tables=[
                table_from_frame(
                    bot,
                    {
                        "time": "timestamp",
                        "event": "event_type",
                        "conversation": "conversation_id",
                        "detail (skill, knowledge article)": "detail",
                    },
                    "Bot events",
                    empty="No bot event involved you.",
                )
            ],
        ),
        Section(
            "exports",
            "Exports that included your data",
            "Exports of conversation data that listed you among their data subjects.",
            tables=[
                table_from_frame(
                    exports,
                    {
                        "time": "timestamp",
                        "by": "actor",
                        "records": "record_count",
                        "resource": "resource_id",
                        "reason": "reason",
                    },
                    "Exports",
                    empty="No export included your data.",
                )
            ],
        ),
        Section(
            "access",
            "Who accessed your data",
            "Staff are shown by role" + (" and name." if not by_role else ", not by name (data minimisation)."),
            tables=[
                table_from_frame(
                    access,
                    {"staff": "actor", "events": "events", "what they did": "what", "first": "first", "last": "last"},
                    "Access by staff",
                    empty="No staff member accessed your data.",
                    widths=["20%", "8%", "40%", "16%", "16%"],
                )
            ],
        ),
    ]
    subject_facts = [
        *_controller_facts(record),
        ("Data subject", ", ".join(ids)),
        ("E-mail on file", ", ".join(emails) or "—"),
        ("Request received", received_date.isoformat()),
        ("Answer due by", deadline.isoformat()),
        ("Events about you in the period", str(redacted.height)),
        ("Machine-readable copy", "subject_data.json and subject_data.csv, embedded in this PDF"),
    ]
    return assemble(
        kind="gdpr",
        title="Subject access report (Art. 15 GDPR)",
        subtitle=f"Everything the platform recorded about data subject {subject.label} in the period",
        inputs=inputs,
        settings=settings,
        sections=sections,
        charts={
            "subject_activity": Chart(
                "subject_activity", "Events about you per week", figure=subject_activity_figure(redacted)
            )
        },
        evidence=redacted,
        signoff_statement=(
            "I checked that this report and its attachments hold every event about the data subject in the period and "
            "no other data subject's identifiers, and approved it for release."
        ),
        keywords=["GDPR", "Art. 15", "subject access request", subject.label, inputs.period.label],
        parameters=parameters,
        notebook_name=notebook_name,
        rule_pack_hash=rule_pack_hash,
        manifest_hash=manifest_hash,
        by_role=by_role,
        findings=findings,
        events_for_findings=redacted,
        extra={
            "received": received_date.isoformat(),
            "deadline": deadline.isoformat(),
            "subject_facts": subject_facts,
            "art15": art15,
            "subject_intro": "Under Art. 15 GDPR you may obtain confirmation that we process your personal data, a copy "
            "of it, and the information below. Staff are identified by role.",
            "cover_facts": [("Data subject", subject.label), ("Answer due by", deadline.isoformat())],
            "subject_data": data,
        },
    )
