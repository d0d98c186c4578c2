"""SOC 2 queries (CC6 logical access, CC7 monitoring, CC8 change) for ``frameworks/soc2.yml``.

What the report says and in which order is in the framework file's ``report:`` block;
these functions only select and shape the events each table shows.
"""

from __future__ import annotations

import polars as pl

from .charts import events_over_time_figure, exports_figure, failed_logins_figure
from .engine import QueryContext, chart, query
from .model import actor_expr

__all__ = ["ACCESS_TYPES", "AUTH_CHANGE_TYPES"]

ACCESS_TYPES = {
    "auth.user.invited": "joiner",
    "auth.user.removed": "leaver",
    "auth.permission.changed": "role change (mover)",
    "auth.api_key.created": "API key created",
    "auth.api_key.revoked": "API key revoked",
}
AUTH_CHANGE_TYPES = ("auth.mfa.enabled", "auth.mfa.disabled", "auth.password.reset")


def _target() -> pl.Expr:
    return pl.coalesce(
        pl.col("after").str.json_path_match("$.email"),
        pl.col("after").str.json_path_match("$.user_id"),
        pl.col("resource_id"),
    ).alias("target")


def _role(which: str) -> pl.Expr:
    """The role (accounts) or the scopes (API keys) a state grants, not its raw JSON."""
    state = pl.col(which)
    scopes = state.str.json_path_match("$.scopes").str.replace_all(r'[\[\]"]', "").str.replace_all(",", ", ")
    return pl.coalesce(
        state.str.json_path_match("$.role"), pl.format("scopes: {}", scopes), state.str.slice(0, 80)
    ).alias(f"{which}_role")


@query("access_changes")
def access_changes(ctx: QueryContext) -> pl.LazyFrame:
    """Account and API-key lifecycle events and role changes, with who, whom and the roles."""
    # Evaluated eagerly on the few access events: Polars' lazy optimiser panics on this
    # combination of JSON-path and format expressions (polars 1.x, "assertion failed: i < len").
    return (
        ctx.events.filter(pl.col("event_type").is_in(list(ACCESS_TYPES)))
        .collect()
        .with_columns(
            pl.col("event_type").replace_strict(ACCESS_TYPES, default="other").alias("change"),
            actor_expr(),
            _target(),
            _role("before"),
            _role("after"),
        )
        .lazy()
    )


@query("failed_logins")
def failed_logins(ctx: QueryContext) -> pl.LazyFrame:
    return ctx.events.filter(pl.col("event_type") == "auth.login.failure")


@query("failed_logins_by_account")
def failed_logins_by_account(ctx: QueryContext) -> pl.LazyFrame:
    return (
        ctx.frame("failed_logins")
        .lazy()
        .group_by(pl.coalesce("actor_email", "actor_name", "actor_id", pl.lit("unknown")).alias("account"))
        .agg(
            pl.len().alias("failures"),
            pl.col("ip").n_unique().alias("distinct_ips"),
            pl.col("timestamp").min().alias("first"),
            pl.col("timestamp").max().alias("last"),
        )
        .sort("failures", "account", descending=[True, False])
    )


@query("auth_changes")
def auth_changes(ctx: QueryContext) -> pl.LazyFrame:
    """MFA changes and password resets."""
    return ctx.events.filter(pl.col("event_type").is_in(list(AUTH_CHANGE_TYPES))).with_columns(actor_expr(), _target())


@query("config_changes")
def config_changes(ctx: QueryContext) -> pl.LazyFrame:
    return ctx.events.filter(pl.col("category") == "config")


@query("exports")
def exports(ctx: QueryContext) -> pl.LazyFrame:
    return ctx.events.filter(pl.col("event_type") == "data.export").with_columns(
        actor_expr(), pl.col("subject_ids").list.len().alias("subjects")
    )


@query("triage_per_rule")
def triage_per_rule(ctx: QueryContext) -> pl.LazyFrame:
    """Findings per rule and severity, with how many are still open."""
    return (
        ctx.findings.lazy()
        .with_columns(
            pl.col("finding_id").is_in(list(ctx.triage)).alias("triaged"),
            pl.col("rule_name").fill_null(pl.col("rule_id")).alias("rule"),
        )
        .group_by("rule", "severity")
        .agg(
            pl.len().alias("findings"),
            pl.col("count").sum().alias("events"),
            (~pl.col("triaged")).sum().alias("open"),
            pl.col("triaged").sum().alias("triaged"),
            pl.col("window_start").min().alias("first"),
            pl.col("title").first().alias("title"),
        )
        .sort("findings", "rule", descending=[True, False])
    )


@chart("events_over_time")
def _events_over_time(ctx: QueryContext) -> object:
    return events_over_time_figure(ctx.events)


@chart("failed_logins")
def _failed_logins(ctx: QueryContext) -> object:
    return failed_logins_figure(ctx.events)


@chart("exports")
def _exports(ctx: QueryContext) -> object:
    return exports_figure(ctx.events)
