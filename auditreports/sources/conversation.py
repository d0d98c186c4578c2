"""Conversation audit log (docs/formats.md, format 2): who did what to which customer conversation.

Helpdesk-style events (claimed, reassigned, note_added, ...) and bot events
(skill_fired, message_sent, knowledge_retrieved). Every event concerns one
conversation and one end customer, so ``conversation_id`` and ``subject_id`` are
always filled: that is what GDPR and HIPAA reports select on.
"""

from __future__ import annotations

import polars as pl

from ..schema import CONVERSATION_EVENT_TYPES
from ._mapping import finish_events, flag_list, one_of, present
from ._records import Field, RecordSpec, parse_bytes
from ._sniff import sniff_json_or_csv
from .registry import FormatSpec, ParsedFile, register_format

__all__ = ["CONVERSATION", "CONVERSATION_FIELDS"]

CONVERSATION_FIELDS = (
    Field("event_id", ("event_id",), "event_id"),
    Field("conversation_id", ("conversation_id",), "conversation_id"),
    Field("event_type", ("event_type",), "event_type"),
    Field("author_kind", ("author", "kind"), "author_kind"),
    Field("author_id", ("author", "id"), "author_id"),
    Field("author_name", ("author", "name"), "author_name"),
    Field("timestamp", ("timestamp",), "timestamp"),
    Field("before", ("before",), "before", "json"),
    Field("after", ("after",), "after", "json"),
    Field("reason", ("reason",), "reason"),
    Field("ip_address", ("ip_address",), "ip_address"),
    Field("user_agent", ("user_agent",), "user_agent"),
    Field("channel", ("channel",), "channel"),
    Field("customer_id", ("customer_id",), "customer_id"),
)

AUTHOR_KINDS = ("user", "api_key", "bot", "system")
REMOVED_USER = "Removed user"
_TYPES = {source: canonical for source, (canonical, _category) in CONVERSATION_EVENT_TYPES.items()}
_CATEGORIES = {source: category for source, (_canonical, category) in CONVERSATION_EVENT_TYPES.items()}


def _to_events(flat: pl.LazyFrame) -> pl.LazyFrame:
    c = pl.col
    timestamp, kind = c("_ts"), c("_ts_kind")
    reject = (
        pl.when(c("_field_error").is_not_null())
        .then(c("_field_error"))
        .when(~present("event_id"))
        .then(pl.lit("the record has no 'event_id'"))
        .when(~present("timestamp"))
        .then(pl.lit("the record has no 'timestamp'"))
        .when(timestamp.is_null())
        .then(pl.format("'timestamp' is not a timestamp we can read: {}", c("timestamp").str.slice(0, 60)))
        .when(~present("event_type"))
        .then(pl.lit("the record has no 'event_type'"))
        .when(~present("conversation_id"))
        .then(pl.lit("the record has no 'conversation_id'"))
        .when(~present("author_kind"))
        .then(pl.lit("the record has no 'author.kind'"))
        .when(~c("author_kind").is_in(list(AUTHOR_KINDS)))
        .then(one_of("author.kind", c("author_kind"), AUTHOR_KINDS))
    )
    customer = c("customer_id")
    return finish_events(
        flat,
        reject=reject,
        event_id=c("event_id"),
        timestamp=timestamp,
        event_type=c("event_type").replace_strict(_TYPES, default=c("event_type"), return_dtype=pl.String),
        source_action=c("event_type"),
        # An event type outside the vocabulary is still a conversation-log event.
        category=c("event_type").replace_strict(_CATEGORIES, default="conversation", return_dtype=pl.String),
        # The conversation log records changes that took effect; it has no failures.
        outcome=pl.lit("success"),
        actor_type=c("author_kind"),
        actor_id=c("author_id"),
        actor_name=c("author_name"),
        ip=c("ip_address"),
        user_agent=c("user_agent"),
        resource_type=pl.lit("conversation"),
        resource_id=c("conversation_id"),
        conversation_id=c("conversation_id"),
        channel=c("channel"),
        subject_id=customer,
        subject_ids=pl.when(customer.is_not_null()).then(pl.concat_list([customer])),
        reason=c("reason"),
        before=c("before"),
        after=c("after"),
        source=pl.lit("conversation"),
        flags=flag_list(
            naive_timestamp=kind == "naive",
            odd_timestamp=kind == "odd",
            removed_user=c("author_name") == REMOVED_USER,
            unknown_event_type=~c("event_type").is_in(list(_TYPES)),
        ),
    )


CONVERSATION_RECORDS = RecordSpec(
    format="conversation", fields=CONVERSATION_FIELDS, to_events=_to_events, timestamp_field="timestamp"
)

_JSON_MARKERS = ('"conversation_id"', '"event_type"', '"author"')
_CSV_MARKERS = ("event_id", "conversation_id", "event_type", "author_kind")


def _sniff(head: bytes, path: str) -> float:
    return sniff_json_or_csv(head, _JSON_MARKERS, _CSV_MARKERS)


def _parse(data: bytes, path: str) -> ParsedFile:
    return parse_bytes(data, path, CONVERSATION_RECORDS)


CONVERSATION = register_format(
    FormatSpec(
        name="conversation",
        description="conversation audit log (helpdesk and bot events per customer conversation)",
        sniff=_sniff,
        parse=_parse,
    )
)
