"""Events back in their source platform's own format, so an export can be ingested again.

Which platform an event came from is read from its ``source`` column: values
starting with ``workspace`` are the workspace audit log (docs/formats.md, format 1),
``conversation`` the conversation audit log (format 2); anything else is a
vendor log. JSON records are the original bytes (``raw``) whenever ``raw`` is a
JSON object (byte-exact, so hash chains still verify); events ingested from CSV
have a CSV line as ``raw`` and are rebuilt field for field from the canonical
columns. CSV uses each platform's documented layout; vendor events become a flat
canonical CSV (lists as JSON text). All of it is Polars expressions.
"""

from __future__ import annotations

import polars as pl

from ..schema import EVENT_SCHEMA, WORKSPACE_CATEGORIES

__all__ = [
    "CONVERSATION_CSV_COLUMNS",
    "WORKSPACE_CSV_COLUMNS",
    "platform_csv_frame",
    "platform_expr",
    "platform_json_expr",
]

WORKSPACE, CONVERSATION, VENDOR = "workspace", "conversation", "vendor"

WORKSPACE_CSV_COLUMNS = (
    "id",
    "sequence",
    "occurred_at",
    "category",
    "action",
    "actor.type",
    "actor.id",
    "actor.email",
    "actor.name",
    "actor.role",
    "resource.type",
    "resource.id",
    "outcome",
    "ip_address",
    "user_agent",
    "details.reason",
    "details.before",
    "details.after",
    "details.record_count",
    "details.subject_ids",
    "prev_hash",
    "hash",
)
CONVERSATION_CSV_COLUMNS = (
    "event_id",
    "conversation_id",
    "event_type",
    "author_kind",
    "author_id",
    "author_name",
    "timestamp",
    "before",
    "after",
    "reason",
    "ip_address",
    "user_agent",
    "channel",
    "customer_id",
)
_CANONICAL_TO_WORKSPACE_CATEGORY = {v: k for k, v in WORKSPACE_CATEGORIES.items()}


def platform_expr() -> pl.Expr:
    """``workspace``, ``conversation`` or ``vendor`` for each event, from ``source``."""
    source = pl.col("source").fill_null("")
    return (
        pl.when(source.str.starts_with(WORKSPACE))
        .then(pl.lit(WORKSPACE))
        .when(source.str.starts_with(CONVERSATION))
        .then(pl.lit(CONVERSATION))
        .otherwise(pl.lit(VENDOR))
    )


def _timestamp_text() -> pl.Expr:
    """ISO 8601 with ``Z`` and milliseconds (microseconds when the source had them)."""
    ts = pl.col("timestamp")
    return (
        pl.when(ts.dt.microsecond() % 1000 == 0)
        .then(ts.dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"))
        .otherwise(ts.dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"))
    )


def _j(expr: pl.Expr) -> pl.Expr:
    """A scalar as JSON text (strings quoted and escaped, null as ``null``), vectorised."""
    return pl.struct(expr.alias("v")).struct.json_encode().str.strip_prefix('{"v":').str.strip_suffix("}")


def _raw_json(expr: pl.Expr) -> pl.Expr:
    """A column that already holds JSON text (before/after), or ``null``."""
    return expr.fill_null("null")


def _workspace_category() -> pl.Expr:
    return pl.col("category").cast(pl.String).replace(_CANONICAL_TO_WORKSPACE_CATEGORY)


def _rebuilt_workspace() -> pl.Expr:
    pieces = [
        '{"id":',
        _j(pl.col("event_id")),
        ',"sequence":',
        _j(pl.col("seq")),
        ',"occurred_at":',
        _j(_timestamp_text()),
        ',"category":',
        _j(_workspace_category()),
        ',"action":',
        _j(pl.coalesce(pl.col("source_action"), pl.col("event_type"))),
        ',"actor":{"type":',
        _j(pl.col("actor_type").cast(pl.String)),
        ',"id":',
        _j(pl.col("actor_id")),
        ',"email":',
        _j(pl.col("actor_email")),
        ',"name":',
        _j(pl.col("actor_name")),
        ',"role":',
        _j(pl.col("actor_role")),
        '},"resource":{"type":',
        _j(pl.col("resource_type")),
        ',"id":',
        _j(pl.col("resource_id")),
        '},"outcome":',
        _j(pl.col("outcome").cast(pl.String)),
        ',"ip_address":',
        _j(pl.col("ip")),
        ',"user_agent":',
        _j(pl.col("user_agent")),
        ',"details":{"reason":',
        _j(pl.col("reason")),
        ',"before":',
        _raw_json(pl.col("before")),
        ',"after":',
        _raw_json(pl.col("after")),
        ',"record_count":',
        _j(pl.col("record_count")),
        ',"subject_ids":',
        _j(pl.col("subject_ids").fill_null(pl.lit([], dtype=pl.List(pl.String)))),
        '},"prev_hash":',
        _j(pl.col("prev_hash")),
        ',"hash":',
        _j(pl.col("hash")),
        "}",
    ]
    return pl.concat_str([pl.lit(p) if isinstance(p, str) else p for p in pieces])


def _rebuilt_conversation() -> pl.Expr:
    pieces = [
        '{"event_id":',
        _j(pl.col("event_id")),
        ',"conversation_id":',
        _j(pl.col("conversation_id")),
        ',"event_type":',
        _j(pl.coalesce(pl.col("source_action"), pl.col("event_type"))),
        ',"author":{"kind":',
        _j(pl.col("actor_type").cast(pl.String)),
        ',"id":',
        _j(pl.col("actor_id")),
        ',"name":',
        _j(pl.col("actor_name")),
        '},"timestamp":',
        _j(_timestamp_text()),
        ',"before":',
        _raw_json(pl.col("before")),
        ',"after":',
        _raw_json(pl.col("after")),
        ',"reason":',
        _j(pl.col("reason")),
        ',"ip_address":',
        _j(pl.col("ip")),
        ',"user_agent":',
        _j(pl.col("user_agent")),
        ',"channel":',
        _j(pl.col("channel")),
        ',"customer_id":',
        _j(pl.col("subject_id")),
        "}",
    ]
    return pl.concat_str([pl.lit(p) if isinstance(p, str) else p for p in pieces])


def _canonical_json() -> pl.Expr:
    cols = [c for c in EVENT_SCHEMA if c != "timestamp"]
    return pl.struct(_timestamp_text().alias("timestamp"), *[pl.col(c) for c in cols]).struct.json_encode()


def platform_json_expr() -> pl.Expr:
    """Each event as one JSON object (text) in its platform's format; needs ``platform``."""
    raw_is_json = pl.col("raw").str.strip_chars_start().str.starts_with("{").fill_null(False)
    return (
        pl.when(raw_is_json)
        .then(pl.col("raw").str.strip_chars())
        .when(pl.col("platform") == WORKSPACE)
        .then(_rebuilt_workspace())
        .when(pl.col("platform") == CONVERSATION)
        .then(_rebuilt_conversation())
        .otherwise(_canonical_json())
    )


def platform_csv_frame(events: pl.DataFrame, platform: str) -> pl.DataFrame:
    """Events of one platform in that platform's CSV layout (before neutralisation)."""
    if platform == WORKSPACE:
        lists = pl.col("subject_ids").fill_null(pl.lit([], dtype=pl.List(pl.String)))
        return events.select(
            pl.col("event_id").alias("id"),
            pl.col("seq").alias("sequence"),
            _timestamp_text().alias("occurred_at"),
            _workspace_category().alias("category"),
            pl.coalesce(pl.col("source_action"), pl.col("event_type")).alias("action"),
            pl.col("actor_type").cast(pl.String).alias("actor.type"),
            pl.col("actor_id").alias("actor.id"),
            pl.col("actor_email").alias("actor.email"),
            pl.col("actor_name").alias("actor.name"),
            pl.col("actor_role").alias("actor.role"),
            pl.col("resource_type").alias("resource.type"),
            pl.col("resource_id").alias("resource.id"),
            pl.col("outcome").cast(pl.String).alias("outcome"),
            pl.col("ip").alias("ip_address"),
            pl.col("user_agent"),
            pl.col("reason").alias("details.reason"),
            pl.col("before").alias("details.before"),
            pl.col("after").alias("details.after"),
            pl.col("record_count").alias("details.record_count"),
            _j(lists).alias("details.subject_ids"),
            pl.col("prev_hash"),
            pl.col("hash"),
        )
    if platform == CONVERSATION:
        return events.select(
            pl.col("event_id"),
            pl.col("conversation_id"),
            pl.coalesce(pl.col("source_action"), pl.col("event_type")).alias("event_type"),
            pl.col("actor_type").cast(pl.String).alias("author_kind"),
            pl.col("actor_id").alias("author_id"),
            pl.col("actor_name").alias("author_name"),
            _timestamp_text().alias("timestamp"),
            pl.col("before"),
            pl.col("after"),
            pl.col("reason"),
            pl.col("ip").alias("ip_address"),
            pl.col("user_agent"),
            pl.col("channel"),
            pl.col("subject_id").alias("customer_id"),
        )
    # vendor: the flat canonical event, lists as JSON text
    return events.select(
        *[
            _timestamp_text().alias(c)
            if c == "timestamp"
            else _j(pl.col(c)).alias(c)
            if isinstance(dtype, pl.List)
            else pl.col(c)
            for c, dtype in EVENT_SCHEMA.items()
        ]
    )
