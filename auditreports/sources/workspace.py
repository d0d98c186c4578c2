"""Workspace audit log (docs/formats.md, format 1): admin, configuration, data-access,
authentication, integration and system events, with a sequence number and a hash chain.

The fields are mapped to the canonical event here, once, as Polars expressions;
docs/formats.md lists the mapping field by field. The hash-chain fields are carried
through untouched (``prev_hash``, ``hash``, ``seq``) so integrity can be verified
from the loaded frame and the byte-exact ``raw`` text.
"""

from __future__ import annotations

import polars as pl

from ..schema import ACTOR_TYPES, CATEGORIES, OUTCOMES, WORKSPACE_ACTIONS, WORKSPACE_CATEGORIES
from ._mapping import finish_events, flag_list, must_be_integer, one_of, present
from ._records import Field, RecordSpec, parse_bytes
from ._sniff import sniff_json_or_csv
from .registry import FormatSpec, ParsedFile, register_format

__all__ = ["WORKSPACE", "WORKSPACE_FIELDS"]

WORKSPACE_FIELDS = (
    Field("id", ("id",), "id"),
    Field("sequence", ("sequence",), "sequence"),
    Field("occurred_at", ("occurred_at",), "occurred_at"),
    Field("category", ("category",), "category"),
    Field("action", ("action",), "action"),
    Field("actor_type", ("actor", "type"), "actor.type"),
    Field("actor_id", ("actor", "id"), "actor.id"),
    Field("actor_email", ("actor", "email"), "actor.email"),
    Field("actor_name", ("actor", "name"), "actor.name"),
    Field("actor_role", ("actor", "role"), "actor.role"),
    Field("resource_type", ("resource", "type"), "resource.type"),
    Field("resource_id", ("resource", "id"), "resource.id"),
    Field("outcome", ("outcome",), "outcome"),
    Field("ip_address", ("ip_address",), "ip_address"),
    Field("user_agent", ("user_agent",), "user_agent"),
    Field("details_reason", ("details", "reason"), "details.reason"),
    Field("details_before", ("details", "before"), "details.before", "json"),
    Field("details_after", ("details", "after"), "details.after", "json"),
    Field("details_record_count", ("details", "record_count"), "details.record_count"),
    Field("details_subject_ids", ("details", "subject_ids"), "details.subject_ids", "list"),
    Field("prev_hash", ("prev_hash",), "prev_hash"),
    Field("hash", ("hash",), "hash"),
)

# The actor types the workspace log writes (the canonical "unknown" is ours, not theirs).
_SOURCE_ACTOR_TYPES = tuple(t for t in ACTOR_TYPES if t != "unknown")
REMOVED_USER = "Removed user"


def _to_events(flat: pl.LazyFrame) -> pl.LazyFrame:
    c = pl.col
    timestamp, kind = c("_ts"), c("_ts_kind")
    seq = c("sequence").str.strip_chars().cast(pl.Int64, strict=False)
    record_count = c("details_record_count").str.strip_chars().cast(pl.Int64, strict=False)
    subjects = c("details_subject_ids")
    reject = (
        pl.when(c("_field_error").is_not_null())
        .then(c("_field_error"))
        .when(~present("id"))
        .then(pl.lit("the record has no 'id'"))
        .when(~present("occurred_at"))
        .then(pl.lit("the record has no 'occurred_at' timestamp"))
        .when(timestamp.is_null())
        .then(pl.format("'occurred_at' is not a timestamp we can read: {}", c("occurred_at").str.slice(0, 60)))
        .when(~present("action"))
        .then(pl.lit("the record has no 'action'"))
        .when(c("sequence").is_not_null() & seq.is_null())
        .then(must_be_integer("sequence", c("sequence")))
        .when(c("details_record_count").is_not_null() & record_count.is_null())
        .then(must_be_integer("details.record_count", c("details_record_count")))
        .when(~present("category"))
        .then(pl.lit("the record has no 'category'"))
        .when(~c("category").is_in(list(WORKSPACE_CATEGORIES)))
        .then(one_of("category", c("category"), WORKSPACE_CATEGORIES))
        .when(~present("actor_type"))
        .then(pl.lit("the record has no 'actor.type'"))
        .when(~c("actor_type").is_in(list(_SOURCE_ACTOR_TYPES)))
        .then(one_of("actor.type", c("actor_type"), _SOURCE_ACTOR_TYPES))
        .when(c("outcome").is_not_null() & ~c("outcome").is_in(list(OUTCOMES)))
        .then(one_of("outcome", c("outcome"), OUTCOMES))
    )
    single_subject = pl.when(subjects.list.len() == 1).then(subjects.list.first())
    return finish_events(
        flat,
        reject=reject,
        event_id=c("id"),
        seq=seq,
        timestamp=timestamp,
        event_type=c("action").replace_strict(dict(WORKSPACE_ACTIONS), default=c("action"), return_dtype=pl.String),
        source_action=c("action"),
        category=c("category").replace_strict(dict(WORKSPACE_CATEGORIES), default=None, return_dtype=pl.String),
        outcome=c("outcome").fill_null("unknown"),
        actor_type=c("actor_type"),
        actor_id=c("actor_id"),
        actor_name=c("actor_name"),
        actor_email=c("actor_email"),
        actor_role=c("actor_role"),
        ip=c("ip_address"),
        user_agent=c("user_agent"),
        resource_type=c("resource_type"),
        resource_id=c("resource_id"),
        conversation_id=pl.when(c("resource_type") == "conversation").then(c("resource_id")),
        subject_id=single_subject,
        subject_ids=subjects,
        reason=c("details_reason"),
        before=c("details_before"),
        after=c("details_after"),
        record_count=record_count,
        source=pl.lit("workspace"),
        prev_hash=c("prev_hash"),
        hash=c("hash"),
        flags=flag_list(
            naive_timestamp=kind == "naive",
            odd_timestamp=kind == "odd",
            removed_user=c("actor_name") == REMOVED_USER,
            unknown_event_type=~c("action").is_in(list(WORKSPACE_ACTIONS)),
        ),
    )


WORKSPACE_RECORDS = RecordSpec(
    format="workspace", fields=WORKSPACE_FIELDS, to_events=_to_events, timestamp_field="occurred_at"
)

# Keys that only a workspace record carries: "occurred_at" and "action" beside "actor".
_JSON_MARKERS = ('"occurred_at"', '"action"')
_CSV_MARKERS = ("occurred_at", "action", "actor.type")


def _sniff(head: bytes, path: str) -> float:
    return sniff_json_or_csv(head, _JSON_MARKERS, _CSV_MARKERS)


def _parse(data: bytes, path: str) -> ParsedFile:
    return parse_bytes(data, path, WORKSPACE_RECORDS)


WORKSPACE = register_format(
    FormatSpec(
        name="workspace",
        description="workspace audit log (admin, config, data access, auth, integration, system; hash-chained)",
        sniff=_sniff,
        parse=_parse,
    )
)
assert set(CATEGORIES) >= set(WORKSPACE_CATEGORIES.values())
