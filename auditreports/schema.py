"""The canonical audit event: one row per event, whatever the source.

Every loader maps its source to :data:`EVENT_SCHEMA`; every later stage
(integrity, detection, reports, search, export) reads only these columns.
docs/schema.md documents each column; docs/formats.md each source's mapping.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

__all__ = [
    "ACTOR_TYPES",
    "CATEGORIES",
    "CONVERSATION_EVENT_TYPES",
    "EVENT_SCHEMA",
    "FINDINGS_SCHEMA",
    "FLAGS",
    "OUTCOMES",
    "QUARANTINE_SCHEMA",
    "REQUIRED_COLUMNS",
    "SEVERITIES",
    "WORKSPACE_ACTIONS",
    "conform",
    "empty_events",
    "empty_quarantine",
]

CATEGORIES = ("auth", "config", "data_access", "integration", "system", "conversation", "bot")
OUTCOMES = ("success", "failure", "unknown")
ACTOR_TYPES = ("user", "api_key", "bot", "system", "unknown")

# Row flags: data-quality facts about one event that later stages and reports show.
FLAGS = {
    "naive_timestamp": "the source timestamp had no time zone; read as UTC",
    "odd_timestamp": "the source timestamp was in an unusual form (offset, epoch, no fraction) and was normalised",
    "removed_user": "the author is a deleted account ('Removed user')",
    "id_conflict": "another event has the same id with a different payload; both are kept",
    "unknown_event_type": "the source's action is not in the known vocabulary; kept verbatim",
    "synthetic_id": "the source had no id; event_id is a stable hash of the raw record",
}

EVENT_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "seq": pl.Int64(),
    "timestamp": pl.Datetime("us", "UTC"),
    "event_type": pl.String(),
    "source_action": pl.String(),
    "category": pl.Enum(list(CATEGORIES)),
    "outcome": pl.Enum(list(OUTCOMES)),
    "actor_type": pl.Enum(list(ACTOR_TYPES)),
    "actor_id": pl.String(),
    "actor_name": pl.String(),
    "actor_email": pl.String(),
    "actor_role": pl.String(),
    "ip": pl.String(),
    "user_agent": pl.String(),
    "source_address": pl.String(),
    "resource_type": pl.String(),
    "resource_id": pl.String(),
    "conversation_id": pl.String(),
    "channel": pl.String(),
    "subject_id": pl.String(),
    "subject_ids": pl.List(pl.String()),
    "reason": pl.String(),
    "before": pl.String(),
    "after": pl.String(),
    "record_count": pl.Int64(),
    "source": pl.String(),
    "source_file": pl.String(),
    "source_line": pl.Int64(),
    "source_offset": pl.Int64(),
    "raw": pl.String(),
    "prev_hash": pl.String(),
    "hash": pl.String(),
    "flags": pl.List(pl.String()),
}

# Columns a loader must fill for every event (the rest may be null).
REQUIRED_COLUMNS = ("event_id", "timestamp", "event_type", "category", "outcome", "actor_type", "source", "raw")

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "source_file": pl.String(),
    "source_line": pl.Int64(),  # 1-based line of the first line of the record
    "source_offset": pl.Int64(),  # byte offset of the record in the (decompressed) file
    "format": pl.String(),
    "reason": pl.String(),  # one sentence: what is wrong with this record
    "raw": pl.Binary(),  # the record's bytes, exactly as read
}

# Workspace audit log (DESIGN.md format 1): source action -> canonical event_type.
WORKSPACE_ACTIONS: Mapping[str, str] = {
    "auth.login_succeeded": "auth.login.success",
    "auth.login_failed": "auth.login.failure",
    "auth.logout": "auth.logout",
    "auth.mfa_enabled": "auth.mfa.enabled",
    "auth.mfa_disabled": "auth.mfa.disabled",
    "auth.password_reset": "auth.password.reset",
    "auth.permission_changed": "auth.permission.changed",
    "auth.user_invited": "auth.user.invited",
    "auth.user_removed": "auth.user.removed",
    "auth.api_key_created": "auth.api_key.created",
    "auth.api_key_revoked": "auth.api_key.revoked",
    "config.system_prompt_updated": "config.system_prompt.update",
    "config.model_settings_updated": "config.model_settings.update",
    "config.knowledge_base_updated": "config.knowledge_base.update",
    "config.retention_changed": "config.retention.update",
    "config.audit_log_settings_changed": "config.audit_log_settings.update",
    "data.conversation_viewed": "data.conversation.view",
    "data.conversations_exported": "data.export",
    "data.user_profile_viewed": "data.user_profile.view",
    "data.customer_deleted": "data.customer.delete",
    "integration.api_call": "integration.api.call",
    "integration.webhook_delivered": "integration.webhook.delivered",
    "system.deployed": "system.deploy",
    "system.error": "system.error",
    "system.outage": "system.outage",
}

# Workspace `category` values -> canonical category.
WORKSPACE_CATEGORIES: Mapping[str, str] = {
    "authentication": "auth",
    "configuration": "config",
    "data_access": "data_access",
    "integration": "integration",
    "system": "system",
}

# Conversation audit log (DESIGN.md format 2): event_type -> (canonical event_type, category).
CONVERSATION_EVENT_TYPES: Mapping[str, tuple[str, str]] = {
    **{
        t: (f"conversation.{t}", "conversation")
        for t in (
            "created",
            "claimed",
            "released",
            "reassigned",
            "snoozed",
            "wakened",
            "tag_applied",
            "tag_removed",
            "priority_changed",
            "escalated",
            "note_added",
            "resolved",
            "reopened",
            "deleted",
            "archived",
        )
    },
    "skill_fired": ("bot.skill.fired", "bot"),
    "message_sent": ("bot.message.sent", "bot"),
    "knowledge_retrieved": ("bot.knowledge.retrieved", "bot"),
}


def empty_events() -> pl.DataFrame:
    """An empty frame with the canonical schema."""
    return pl.DataFrame(schema=EVENT_SCHEMA)


def empty_quarantine() -> pl.DataFrame:
    """An empty quarantine frame."""
    return pl.DataFrame(schema=QUARANTINE_SCHEMA)


def conform(frame: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Add missing canonical columns as nulls, cast to the canonical types, order columns.

    Extra columns are kept after the canonical ones (a source may need more).
    """
    lf = frame.lazy()
    names = lf.collect_schema().names()
    exprs = []
    for name, dtype in EVENT_SCHEMA.items():
        if name in names:
            exprs.append(pl.col(name).cast(dtype))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
    extras = [pl.col(n) for n in names if n not in EVENT_SCHEMA]
    return lf.select(*exprs, *extras)


# ---------------------------------------------------------------- findings (contract)

SEVERITIES = ("informational", "low", "medium", "high", "critical")

# One row per finding, as detection returns it and as reports and evidence carry it
# (``detect --json`` prints these columns; findings.json holds the same objects).
FINDINGS_SCHEMA: dict[str, pl.DataType] = {
    "finding_id": pl.String(),
    "rule_id": pl.String(),
    "rule_name": pl.String(),
    "severity": pl.Enum(list(SEVERITIES)),
    "title": pl.String(),
    "summary": pl.String(),
    "group": pl.String(),  # JSON object: the group's fields and values
    "window_start": pl.Datetime("us", "UTC"),
    "window_end": pl.Datetime("us", "UTC"),
    "count": pl.Int64(),
    "event_ids": pl.List(pl.String()),
    "parameters": pl.String(),  # JSON object: the parameters and settings this finding was produced with
}
