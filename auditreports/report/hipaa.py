"""HIPAA PHI-access queries for ``frameworks/hipaa.yml``: who touched PHI, when, and what left.

This is an access report for the information-system activity review of
45 CFR 164.308(a)(1)(ii)(D); it is deliberately **not** titled an accounting of
disclosures (164.528), whose content rules differ.

Which conversations hold PHI is configurable (``ReportSettings.phi_tags``,
``phi_channels``, ``phi_knowledge_bases``).
"""

from __future__ import annotations

import polars as pl

from ..organisation import off_hours_expr
from ..organisation import phi_conversations as organisation_phi_conversations
from .charts import phi_access_figure
from .engine import QueryContext, chart, query
from .model import actor_expr
from .settings import ReportSettings

__all__ = ["after_hours_expr", "phi_access_events", "phi_conversations"]

STAFF_ACTORS = ("user", "api_key")
DISCLOSURE_TYPES = ("data.export", "integration.webhook.delivered", "integration.api.call")


def phi_conversations(events: pl.DataFrame | pl.LazyFrame, settings: ReportSettings) -> pl.Series:
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


def phi_access_events(events: pl.DataFrame | pl.LazyFrame, phi: pl.Series, settings: ReportSettings) -> pl.DataFrame:
    """Staff (users, API keys) events on PHI conversations, each marked after-hours or not."""
    ids = phi.implode()
    touches = pl.col("conversation_id").is_in(ids) | (
        pl.col("event_type").str.starts_with("data.") & pl.col("resource_id").is_in(ids)
    )
    staff = events.lazy().filter(touches & pl.col("actor_type").cast(pl.String).is_in(list(STAFF_ACTORS))).collect()
    return mark_after_hours(staff, settings).with_columns(
        pl.coalesce("conversation_id", "resource_id").alias("phi_conversation"),
        actor_expr(),
        pl.coalesce("actor_id", "actor_email", "actor_name", pl.lit("unknown")).alias("staff_id"),
    )


@query("phi_conversations")
def phi_conversation_ids(ctx: QueryContext) -> pl.LazyFrame:
    """The conversations that hold PHI (one column, ``conversation_id``)."""
    return phi_conversations(ctx.events, ctx.settings).to_frame("conversation_id").lazy()


@query("phi_access")
def phi_access(ctx: QueryContext) -> pl.LazyFrame:
    """Every staff access to a PHI conversation, marked after hours or not."""
    return phi_access_events(
        ctx.events, ctx.frame("phi_conversations").get_column("conversation_id"), ctx.settings
    ).lazy()


@query("phi_access_per_staff")
def phi_access_per_staff(ctx: QueryContext) -> pl.LazyFrame:
    return (
        ctx.frame("phi_access")
        .lazy()
        .group_by("staff_id")
        .agg(
            pl.col("actor").first(),
            pl.col("actor_type").cast(pl.String).first().alias("actor_kind"),
            pl.len().alias("accesses"),
            pl.col("phi_conversation").n_unique().alias("conversations"),
            pl.col("subject_id").drop_nulls().n_unique().alias("patients"),
            pl.col("after_hours").sum().alias("after_hours_n"),
            pl.col("timestamp").min().alias("first"),
            pl.col("timestamp").max().alias("last"),
        )
        .sort("accesses", "staff_id", descending=[True, False])
    )


@query("phi_access_by_staff_members")
def phi_access_by_staff_members(ctx: QueryContext) -> pl.LazyFrame:
    """People only: an integration's key is not a staff member (its own table follows)."""
    return ctx.frame("phi_access_per_staff").lazy().filter(pl.col("actor_kind") == "user")


@query("phi_access_by_integrations")
def phi_access_by_integrations(ctx: QueryContext) -> pl.LazyFrame:
    return ctx.frame("phi_access_per_staff").lazy().filter(pl.col("actor_kind") != "user")


@query("phi_access_per_patient")
def phi_access_per_patient(ctx: QueryContext) -> pl.LazyFrame:
    patient = pl.coalesce("subject_id", pl.lit("(no patient id)"))
    return (
        ctx.frame("phi_access")
        .lazy()
        .group_by(patient.alias("patient"))
        .agg(
            pl.len().alias("accesses"),
            pl.col("staff_id").n_unique().alias("staff"),
            pl.col("actor").unique().sort().str.join(", ").alias("who"),
            pl.col("timestamp").min().alias("first"),
            pl.col("timestamp").max().alias("last"),
        )
        .sort("staff", "accesses", "patient", descending=[True, True, False])
    )


@query("after_hours_access")
def after_hours_access(ctx: QueryContext) -> pl.LazyFrame:
    return ctx.frame("phi_access").lazy().filter(pl.col("after_hours"))


@query("after_hours_per_staff")
def after_hours_per_staff(ctx: QueryContext) -> pl.LazyFrame:
    return (
        ctx.frame("after_hours_access")
        .lazy()
        .group_by("staff_id")
        .agg(
            pl.col("actor").first(),
            pl.col("actor_type").cast(pl.String).first().alias("actor_kind"),
            pl.len().alias("accesses"),
            pl.col("phi_conversation").n_unique().alias("conversations"),
            pl.col("subject_id").drop_nulls().n_unique().alias("patients"),
            pl.col("timestamp").min().alias("first"),
            pl.col("timestamp").max().alias("last"),
        )
        .sort("accesses", "staff_id", descending=[True, False])
    )


@query("bulk_access")
def bulk_access(ctx: QueryContext) -> pl.LazyFrame:
    """Staff-days with ``bulk_access_threshold`` or more distinct PHI conversations."""
    return (
        ctx.frame("phi_access")
        .lazy()
        .group_by("staff_id", pl.col("timestamp").dt.date().alias("day"))
        .agg(
            pl.col("actor").first(),
            pl.col("phi_conversation").n_unique().alias("conversations"),
            pl.col("subject_id").drop_nulls().n_unique().alias("patients"),
            pl.col("timestamp").min().alias("first"),
            pl.col("timestamp").max().alias("last"),
        )
        .filter(pl.col("conversations") >= ctx.settings.bulk_access_threshold)
        .sort("conversations", "staff_id", "day", descending=[True, False, False])
    )


@query("bulk_access_events")
def bulk_access_events(ctx: QueryContext) -> pl.LazyFrame:
    """The accesses of each bulk-access staff-day."""
    days = ctx.frame("bulk_access").lazy().select("staff_id", "day")
    return (
        ctx.frame("phi_access")
        .lazy()
        .with_columns(pl.col("timestamp").dt.date().alias("day"))
        .join(days, on=["staff_id", "day"])
    )


@query("disclosures")
def disclosures(ctx: QueryContext) -> pl.LazyFrame:
    """Data sent out of the platform: every export, integration calls on PHI conversations and
    webhook deliveries about patients with a PHI conversation, with recipient and purpose."""
    ev = ctx.events
    phi = ctx.frame("phi_conversations").get_column("conversation_id").implode()
    # Who received the data: a webhook's URL; for API calls the integration (key) that
    # pulled it; for exports the person who downloaded the file.
    recipient = pl.coalesce(
        *[
            pl.col("after").str.json_path_match(p)
            for p in ("$.recipient", "$.destination", "$.url", "$.endpoint", "$.target")
        ],
        pl.col("reason").str.extract(r"->\s*(\S+)"),
        pl.when(pl.col("event_type") == "integration.api.call").then(pl.col("actor")),
        # An export's file goes to whoever downloaded it; the log does not say who received it then.
        pl.when(pl.col("event_type") == "data.export").then(
            pl.concat_str([pl.lit("not recorded (downloaded by "), pl.col("actor"), pl.lit(")")])
        ),
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
    patients = (
        ev.filter(pl.col("conversation_id").is_in(phi) & pl.col("subject_id").is_not_null())
        .select(pl.col("subject_id").unique())
        .collect()
        .get_column("subject_id")
    )
    on_phi = pl.col("conversation_id").is_in(phi) | (
        (pl.col("event_type") == "integration.webhook.delivered") & pl.col("subject_id").is_in(patients.implode())
    )
    return (
        ev.lazy()
        .filter(
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


@query("disclosures_per_recipient")
def disclosures_per_recipient(ctx: QueryContext) -> pl.LazyFrame:
    return (
        ctx.frame("disclosures")
        .lazy()
        .group_by("event_type", "recipient", "purpose")
        .agg(
            pl.len().alias("n"),
            pl.col("records").sum().alias("records"),
            pl.col("timestamp").min().alias("first"),
            pl.col("timestamp").max().alias("last"),
        )
        .sort("n", "event_type", "recipient", "purpose", descending=[True, False, False, False])
    )


@query("disclosures_per_week")
def disclosures_per_week(ctx: QueryContext) -> pl.LazyFrame:
    """Disclosures grouped per ISO week x event x sender x recipient x purpose, with a count:
    a webhook firing a dozen times a day is one line a week, not a page (every row in events.csv)."""
    return (
        ctx.frame("disclosures")
        .lazy()
        .group_by(pl.col("timestamp").dt.truncate("1w").alias("_week"), "event_type", "actor", "recipient", "purpose")
        .agg(
            pl.len().alias("n"),
            pl.col("timestamp").dt.date().n_unique().alias("days"),
            pl.col("records").sum().alias("records"),
            pl.col("timestamp").min().alias("first"),
            pl.col("timestamp").max().alias("last"),
        )
        .sort("_week", "event_type", "actor", "recipient", "purpose")
        .with_columns(pl.col("_week").dt.strftime("%G-W%V").alias("week"))
    )


@query("disclosed_exports")
def disclosed_exports(ctx: QueryContext) -> pl.LazyFrame:
    """Exports are printed one by one; machine deliveries are summarised per recipient."""
    return ctx.frame("disclosures").lazy().filter(pl.col("event_type") == "data.export")


@chart("phi_access")
def _phi_access_chart(ctx: QueryContext) -> object:
    return phi_access_figure(ctx.frame("phi_access"))
