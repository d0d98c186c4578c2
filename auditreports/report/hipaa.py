"""HIPAA PHI-access audit: who touched conversations holding PHI, when, and what left.

This is an access report for the information-system activity review of
45 CFR 164.308(a)(1)(ii)(D); it is deliberately **not** titled an accounting of
disclosures (164.528), whose content rules differ.

Which conversations hold PHI is configurable (``ReportSettings.phi_tags``,
``phi_channels``, ``phi_knowledge_bases``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from ..organisation import off_hours_expr
from ..organisation import phi_conversations as organisation_phi_conversations
from .charts import events_over_time_figure, phi_access_figure
from .common import ReportInputs, assemble
from .model import Chart, ReportModel, Section, actor_expr, table_from_frame
from .settings import ReportSettings

__all__ = ["after_hours_expr", "build_hipaa_model", "phi_access_events", "phi_conversations"]

STAFF_ACTORS = ("user", "api_key")
# Rules the activity review reads when no framework map is given (frameworks/hipaa.yml lists them).
HIPAA_RULES = (
    "conversation_snooping",
    "phi_bot_retrieval",
    "large_export",
    "export_volume_spike",
    "brute_force_login",
    "failed_then_success",
    "removed_user_activity",
    "privilege_escalation",
    "audit_logging_change",
    "mass_deletion",
)
# Listed for change review in SOC 2; audit-logging changes have their own rule above.
_NOT_PHI_REVIEW = ("config_change",)


def hipaa_rules(framework: Mapping[str, Any] | Any | None) -> list[str]:
    """The detection rules the HIPAA framework map ties to its requirements."""
    if framework is None:
        return list(HIPAA_RULES)
    if isinstance(framework, Mapping):
        reqs = framework.get("requirements") or []
        rules = [r for req in reqs for r in (req.get("rules") or [])]
    else:
        rules = [r for req in framework.requirements for r in req.rules]
    return [r for r in dict.fromkeys(rules) if r not in _NOT_PHI_REVIEW]


DISCLOSURE_TYPES = ("data.export", "integration.webhook.delivered", "integration.api.call")


def phi_conversations(events: pl.DataFrame, settings: ReportSettings) -> pl.Series:
    """Conversation ids that hold PHI: :func:`auditreports.organisation.phi_conversations`, as detection counts them."""
    return organisation_phi_conversations(events, settings.org).collect().get_column("conversation_id")


def mark_after_hours(frame: pl.DataFrame, settings: ReportSettings) -> pl.DataFrame:
    """Add ``after_hours``: judged in each staff member's own zone and hours (the staff directory)."""
    return frame.with_columns(after_hours_expr(settings))


def after_hours_expr(settings: ReportSettings) -> pl.Expr:
    """True when a person acts outside working time: the organisation's expression, as detection uses it.

    Only people (``actor_type == "user"``) can be after hours: integrations run around the clock.
    """
    return (off_hours_expr(settings.org) & (pl.col("actor_type").cast(pl.String) == "user")).alias("after_hours")


def phi_access_events(events: pl.DataFrame, phi: pl.Series, settings: ReportSettings) -> pl.DataFrame:
    """Staff (users, API keys) events on PHI conversations, each marked after-hours or not."""
    ids = phi.implode()
    touches = pl.col("conversation_id").is_in(ids) | (
        pl.col("event_type").str.starts_with("data.") & pl.col("resource_id").is_in(ids)
    )
    staff = events.filter(touches & pl.col("actor_type").cast(pl.String).is_in(list(STAFF_ACTORS)))
    return mark_after_hours(staff, settings).with_columns(
        pl.coalesce("conversation_id", "resource_id").alias("phi_conversation"),
        actor_expr(),
        pl.coalesce("actor_id", "actor_email", "actor_name", pl.lit("unknown")).alias("staff_id"),
    )


def build_hipaa_model(
    inputs: ReportInputs,
    settings: ReportSettings | None = None,
    *,
    framework: Mapping[str, Any] | Any | None = None,
    triage: Mapping[str, str] | None = None,
    parameters: Mapping[str, Any] | None = None,
    notebook_name: str | None = None,
    rule_pack_hash: str | None = None,
    manifest_hash: str | None = None,
) -> ReportModel:
    """The HIPAA PHI-access audit model from plain data (see :class:`ReportInputs`).

    Findings are those of the rules in the HIPAA framework map (``frameworks/hipaa.yml``)
    and any finding whose events touch a PHI conversation. The embedded events.csv holds
    every staff access to PHI conversations; the printed appendix holds the events an
    auditor must look at (findings, after-hours and bulk access, disclosures).
    """
    settings = settings or ReportSettings()
    ev = inputs.events
    phi = phi_conversations(ev, settings)
    access = phi_access_events(ev, phi, settings)
    patient = pl.coalesce("subject_id", pl.lit("(no patient id)"))
    per_staff = (
        access.group_by("staff_id")
        .agg(
            pl.col("actor").first(),
            pl.len().alias("accesses"),
            pl.col("phi_conversation").n_unique().alias("conversations"),
            pl.col("subject_id").drop_nulls().n_unique().alias("patients"),
            pl.col("after_hours").sum().alias("after_hours_n"),
            pl.col("timestamp").min().alias("first"),
            pl.col("timestamp").max().alias("last"),
        )
        .sort("accesses", descending=True)
    )
    per_patient = (
        access.group_by(patient.alias("patient"))
        .agg(
            pl.len().alias("accesses"),
            pl.col("staff_id").n_unique().alias("staff"),
            pl.col("actor").unique().sort().str.join(", ").alias("who"),
            pl.col("timestamp").min().alias("first"),
            pl.col("timestamp").max().alias("last"),
        )
        .sort("staff", "accesses", descending=True)
    )
    after_hours = access.filter(pl.col("after_hours"))
    after_hours_by_staff = (
        after_hours.group_by("staff_id")
        .agg(
            pl.col("actor").first(),
            pl.len().alias("accesses"),
            pl.col("phi_conversation").n_unique().alias("conversations"),
            pl.col("subject_id").drop_nulls().n_unique().alias("patients"),
            pl.col("timestamp").min().alias("first"),
            pl.col("timestamp").max().alias("last"),
        )
        .sort("accesses", descending=True)
    )
    threshold = settings.bulk_access_threshold
    bulk = (
        access.group_by("staff_id", pl.col("timestamp").dt.date().alias("day"))
        .agg(
            pl.col("actor").first(),
            pl.col("phi_conversation").n_unique().alias("conversations"),
            pl.col("subject_id").drop_nulls().n_unique().alias("patients"),
            pl.col("timestamp").min().alias("first"),
            pl.col("timestamp").max().alias("last"),
        )
        .filter(pl.col("conversations") >= threshold)
        .sort("conversations", descending=True)
    )
    # Who received the data: a webhook's URL; for API calls the integration (key) that
    # pulled it; for exports the person who downloaded the file.
    recipient = pl.coalesce(
        *[
            pl.col("after").str.json_path_match(p)
            for p in ("$.recipient", "$.destination", "$.url", "$.endpoint", "$.target")
        ],
        pl.col("reason").str.extract(r"->\s*(\S+)"),
        pl.when(pl.col("event_type").is_in(["integration.api.call", "data.export"])).then(pl.col("actor")),
        pl.concat_str([pl.col("resource_type"), pl.col("resource_id")], separator=":"),
        pl.lit("(not recorded)"),
    ).alias("recipient")
    # The stated purpose, without the per-request detail ("CRM sync: GET /v1/… 200" -> "CRM sync").
    purpose = pl.coalesce(
        pl.col("after").str.json_path_match("$.purpose"),
        pl.when(pl.col("event_type") != "data.export").then(pl.col("reason").str.extract(r"^([^:>]+?)\s*(?::|->)")),
        pl.col("reason"),
        pl.lit("(not recorded)"),
    ).alias("purpose")
    # A webhook delivery names the customer, not the conversation: it carries PHI when the
    # customer is a patient with a PHI conversation.
    patients = ev.filter(pl.col("conversation_id").is_in(phi.implode())).get_column("subject_id").drop_nulls().unique()
    on_phi = pl.col("conversation_id").is_in(phi.implode()) | (
        (pl.col("event_type") == "integration.webhook.delivered") & pl.col("subject_id").is_in(patients.implode())
    )
    disclosures = (
        ev.filter(
            (pl.col("event_type") == "data.export")
            | (pl.col("event_type").is_in(["integration.webhook.delivered", "integration.api.call"]) & on_phi)
        )
        .with_columns(actor_expr())
        .with_columns(
            recipient,
            purpose,
            pl.when(pl.col("record_count").is_not_null())
            .then(pl.col("record_count"))
            .otherwise(pl.col("subject_ids").list.len())
            .alias("records"),
        )
    )
    sections = [
        Section(
            "phi-scope",
            "Which conversations hold PHI",
            "A conversation counts as holding PHI if it was tagged "
            + (", ".join(settings.phi_tags) or "(no tag configured)")
            + ", ran on channel(s) "
            + (", ".join(settings.phi_channels) or "(none configured)")
            + ", or the bot retrieved from knowledge base(s) "
            + (", ".join(settings.phi_knowledge_bases) or "(none configured)")
            + ".",
            facts=[
                ("PHI conversations", str(phi.len())),
                ("staff accesses to them", str(access.height)),
                ("staff members", str(per_staff.height)),
                ("patients", str(access.get_column("subject_id").drop_nulls().n_unique())),
                ("after-hours accesses", str(after_hours.height)),
                ("bulk-access days", str(bulk.height)),
                ("disclosures (exports, webhooks, integrations)", str(disclosures.height)),
            ],
            charts=["phi_access"],
        ),
        Section(
            "per-staff",
            "Access per staff member",
            "Each staff member's access to PHI conversations; compare with their role's need to know.",
            tables=[
                table_from_frame(
                    per_staff,
                    {
                        "staff member": "actor",
                        "accesses": "accesses",
                        "conversations": "conversations",
                        "patients": "patients",
                        "after hours": "after_hours_n",
                        "first": "first",
                        "last": "last",
                    },
                    "Per staff member",
                    widths=["28%", "9%", "11%", "9%", "9%", "17%", "17%"],
                )
            ],
        ),
        Section(
            "per-patient",
            "Access per patient",
            "Who accessed each patient's conversations; many staff on one patient may be snooping.",
            tables=[
                table_from_frame(
                    per_patient,
                    {
                        "patient": "patient",
                        "accesses": "accesses",
                        "staff": "staff",
                        "who": "who",
                        "first": "first",
                        "last": "last",
                    },
                    "Per patient",
                    widths=["13%", "8%", "6%", "41%", "16%", "16%"],
                    limit=60,
                    note="Patients seen by the most staff members first.",
                )
            ],
        ),
        Section(
            "after-hours",
            "After-hours and bulk access",
            f"Business hours are {settings.business_hours.replace('-', '–')} "
            + (
                f"in each staff member's own time zone (staff directory; {settings.timezone} for anyone not in it)"
                if settings.actors
                else f"({settings.timezone})"
            )
            + f" on {', '.join(d.capitalize() for d in settings.business_days)}. "
            f"Bulk access is {threshold} or more distinct PHI conversations by one staff member in one day.",
            tables=[
                table_from_frame(
                    bulk,
                    {
                        "staff member": "actor",
                        "day": "day",
                        "conversations": "conversations",
                        "patients": "patients",
                        "first": "first",
                        "last": "last",
                    },
                    "Bulk access",
                    empty="No bulk access.",
                ),
                table_from_frame(
                    after_hours_by_staff,
                    {
                        "staff member": "actor",
                        "after-hours accesses": "accesses",
                        "conversations": "conversations",
                        "patients": "patients",
                        "first (UTC)": "first",
                        "last (UTC)": "last",
                    },
                    "After-hours access per staff member",
                    empty="No after-hours access.",
                    widths=["28%", "13%", "13%", "10%", "18%", "18%"],
                ),
                table_from_frame(
                    after_hours,
                    {
                        "time (UTC)": "timestamp",
                        "staff member": "actor",
                        "event": "event_type",
                        "conversation": "phi_conversation",
                        "patient": "subject_id",
                        "ip": "ip",
                    },
                    "After-hours accesses",
                    empty="No after-hours access.",
                    limit=40,
                    note="Each after-hours access is also in the appendix.",
                    widths=["15%", "24%", "21%", "13%", "12%", "15%"],
                ),
            ],
        ),
        Section(
            "disclosures",
            "Disclosures: data sent out of the platform",
            "Every data export (the log does not itemise an export's content), integration calls on PHI conversations "
            "and webhook deliveries about patients with a PHI conversation, with recipient, date and purpose as logged. This is an access report, not an "
            "accounting of disclosures under 164.528.",
            tables=[
                table_from_frame(
                    disclosures.group_by("event_type", "recipient", "purpose")
                    .agg(
                        pl.len().alias("n"),
                        pl.col("records").sum().alias("records"),
                        pl.col("timestamp").min().alias("first"),
                        pl.col("timestamp").max().alias("last"),
                    )
                    .sort("n", descending=True),
                    {
                        "event": "event_type",
                        "recipient": "recipient",
                        "purpose": "purpose",
                        "times": "n",
                        "records": "records",
                        "first (UTC)": "first",
                        "last (UTC)": "last",
                    },
                    "Disclosures per recipient and purpose",
                    empty="No data left the platform in the period.",
                    widths=["16%", "24%", "20%", "6%", "8%", "13%", "13%"],
                    limit=60,
                ),
                table_from_frame(
                    disclosures,
                    {
                        "date": "timestamp",
                        "event": "event_type",
                        "by": "actor",
                        "recipient": "recipient",
                        "purpose": "purpose",
                        "records": "records",
                    },
                    "Disclosures",
                    empty="No data left the platform in the period.",
                    widths=["13%", "17%", "19%", "22%", "21%", "8%"],
                    limit=150,
                ),
            ],
        ),
    ]
    charts = {
        "events_over_time": Chart("events_over_time", "Events per day by category", figure=events_over_time_figure(ev)),
        "phi_access": Chart("phi_access", "PHI accesses per day", figure=phi_access_figure(access)),
    }
    touched = pl.concat([access.get_column("event_id"), disclosures.get_column("event_id")]).implode()
    findings = inputs.findings.filter(
        pl.col("rule_name").is_in(hipaa_rules(framework))
        | pl.col("event_ids").list.eval(pl.element().is_in(touched)).list.any()
    )
    finding_ids = findings.select(pl.col("event_ids").explode()).to_series().drop_nulls().cast(pl.String)
    evidence_ids = pl.concat([access.get_column("event_id"), disclosures.get_column("event_id"), finding_ids])
    evidence = ev.filter(pl.col("event_id").is_in(evidence_ids.implode()))
    bulk_days = bulk.select("staff_id", "day")
    printed_ids = pl.concat(
        [
            finding_ids,
            after_hours.get_column("event_id"),
            # Exports are printed one by one; machine deliveries (webhooks, API pulls) are
            # summarised per recipient above and listed in events.csv.
            disclosures.filter(pl.col("event_type") == "data.export").get_column("event_id"),
            access.with_columns(pl.col("timestamp").dt.date().alias("day"))
            .join(bulk_days, on=["staff_id", "day"])
            .get_column("event_id"),
        ]
    )
    appendix_events = ev.filter(pl.col("event_id").is_in(printed_ids.implode()))
    return assemble(
        kind="hipaa",
        title="HIPAA PHI-access audit",
        subtitle="Access to conversations holding PHI, per staff member and per patient; after-hours and bulk access; disclosures",
        inputs=inputs,
        settings=settings,
        sections=sections,
        charts=charts,
        evidence=evidence,
        appendix_events=appendix_events,
        appendix_note=(
            f"Printed here: the {appendix_events.height} events to review (finding evidence, after-hours and bulk "
            f"access, data exports). All {evidence.height} evidence events, including every staff access to a PHI "
            "conversation and every webhook delivery and integration call, are in the embedded events.csv."
        ),
        findings=findings,
        signoff_statement=(
            "Information system activity review, 45 CFR 164.308(a)(1)(ii)(D): I reviewed the records of access to "
            "conversations holding PHI in this report for the period and recorded a decision for each finding."
        ),
        keywords=["HIPAA", "164.308(a)(1)(ii)(D)", "PHI access", "activity review", inputs.period.label],
        parameters=parameters,
        notebook_name=notebook_name,
        rule_pack_hash=rule_pack_hash,
        manifest_hash=manifest_hash,
        triage=triage,
    )
