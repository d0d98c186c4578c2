"""Registered Python functions: derived fields that YAML conditions cannot express.

A rule lists them under ``logic.derive``; each adds named columns to the events
(local working time, role ranks, assignment history, PHI tags, first-seen IPs,
revocations) with Polars expressions and joins, never a loop over rows. Rules then
use those columns like any other field. Organisations can register their own with
:func:`register_function` before calling :func:`auditreports.detect.detect`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from ..errors import ConfigError
from ..organisation import local_time_expr, off_hours_expr, phi_conversations, phi_marker_expr, phi_tag_state
from .settings import DetectionSettings

__all__ = ["DerivedFields", "derived_fields", "register_function"]

DeriveFn = Callable[[pl.LazyFrame, pl.LazyFrame, DetectionSettings, Mapping[str, Any]], pl.LazyFrame]


@dataclass(frozen=True)
class DerivedFields:
    """A registered function: its name, the columns it adds, the settings and rule parameters it reads."""

    name: str
    columns: Mapping[str, pl.DataType]
    fn: DeriveFn
    settings_keys: tuple[str, ...] = ()
    parameters: tuple[str, ...] = ()
    description: str = ""


_REGISTRY: dict[str, DerivedFields] = {}


def register_function(
    name: str,
    *,
    columns: Mapping[str, pl.DataType],
    settings_keys: tuple[str, ...] = (),
    parameters: tuple[str, ...] = (),
) -> Callable[[DeriveFn], DeriveFn]:
    """Register ``fn(rows, events, settings, params) -> rows`` under ``name`` for ``logic.derive``.

    ``rows`` are the events the rule is looking at (already narrowed by the rule's
    conditions on ordinary columns); ``events`` is the whole log, for history such as
    assignments, tags or revocations. The function adds its columns to ``rows``.

    ``columns`` are the columns it adds (rules are validated against them),
    ``settings_keys`` the DetectionSettings fields it reads (recorded in findings),
    ``parameters`` the rule parameters a rule using it must declare.
    """

    def decorate(fn: DeriveFn) -> DeriveFn:
        if name in _REGISTRY and _REGISTRY[name].fn is not fn:
            raise ValueError(f"derived-field function {name!r} is registered twice")
        _REGISTRY[name] = DerivedFields(name, dict(columns), fn, settings_keys, parameters, (fn.__doc__ or "").strip())
        return fn

    return decorate


def derived_fields() -> dict[str, DerivedFields]:
    """Every registered function by name."""
    return dict(_REGISTRY)


def _json_field(column: str, key: str) -> pl.Expr:
    return pl.col(column).str.json_path_match(f"$.{key}")


# --------------------------------------------------------------------------- working time


@register_function(
    "local_time",
    columns={"off_hours": pl.Boolean(), "local_time": pl.String()},
    settings_keys=("timezone", "business_hours", "business_days", "actors"),
)
def local_time(
    rows: pl.LazyFrame, events: pl.LazyFrame, settings: DetectionSettings, params: Mapping[str, Any]
) -> pl.LazyFrame:
    """``off_hours``: outside the actor's business hours/days in their own zone; ``local_time``: that local time.

    The working-time expression is the organisation's (:func:`auditreports.organisation.off_hours_expr`),
    the same one the HIPAA report's after-hours access uses.
    """
    return rows.with_columns(off_hours=off_hours_expr(settings.org), local_time=local_time_expr(settings.org))


# --------------------------------------------------------------------------- roles


@register_function(
    "role_change",
    columns={
        "role_before": pl.String(),
        "role_after": pl.String(),
        "role_raised": pl.Boolean(),
        "self_granted": pl.Boolean(),
    },
    settings_keys=("role_ranks",),
)
def role_change(
    rows: pl.LazyFrame, events: pl.LazyFrame, settings: DetectionSettings, params: Mapping[str, Any]
) -> pl.LazyFrame:
    """Roles before/after a permission change; ``role_raised`` when the rank goes up; ``self_granted`` when actor = target.

    A change to a role the ranking does not know is counted as raised (it cannot be
    shown not to be), and so is any ranked role above the lowest when there was no
    role before (a grant from nothing).
    """
    ranks = dict(settings.role_ranks)
    lowest = min(ranks.values()) if ranks else 0
    before = _json_field("before", "role").str.to_lowercase()
    after = _json_field("after", "role").str.to_lowercase()
    rank_before = before.replace_strict(ranks, default=None, return_dtype=pl.Int64)
    rank_after = after.replace_strict(ranks, default=None, return_dtype=pl.Int64)
    raised = (
        pl.when(after.is_null() | (after == before))
        .then(pl.lit(False))
        .when(rank_after.is_null())
        .then(pl.lit(True))
        .when(rank_before.is_null())
        .then(rank_after > lowest)
        .otherwise(rank_after > rank_before)
    )
    self_granted = (
        pl.col("actor_id").is_not_null()
        & (pl.col("actor_id") == pl.col("resource_id"))
        & pl.col("resource_type").fill_null("user").str.to_lowercase().is_in(["user", "member", "account"])
    ).fill_null(False)
    return rows.with_columns(role_before=before, role_after=after, role_raised=raised, self_granted=self_granted)


# --------------------------------------------------------------------------- conversation assignment

_ASSIGNMENT_TYPES = ["conversation.created", "conversation.claimed", "conversation.reassigned"]


@register_function(
    "assignment",
    columns={"assigned_to_actor": pl.Boolean(), "conversation_assignment_known": pl.Boolean()},
    parameters=("claim_grace",),
)
def assignment(
    rows: pl.LazyFrame, events: pl.LazyFrame, settings: DetectionSettings, params: Mapping[str, Any]
) -> pl.LazyFrame:
    """``assigned_to_actor``: the conversation had been assigned to this actor by then (or within ``claim_grace`` after).

    Built from the conversation log's created/claimed/reassigned events (``after.assignee``).
    Null when the conversation log has no event for the conversation at all, so a
    workspace log loaded without its conversation log cannot make every view look
    like snooping. A conversation the log covers but no human ever claimed (bot-only)
    counts as not assigned.
    """
    grace = _duration(str(params["claim_grace"]))
    assigned = (
        events.filter(pl.col("event_type").is_in(_ASSIGNMENT_TYPES) & pl.col("conversation_id").is_not_null())
        .select(
            pl.col("conversation_id").alias("_a_conv"),
            _json_field("after", "assignee").alias("_a_assignee"),
            pl.col("timestamp").alias("_a_ts"),
        )
        .filter(pl.col("_a_assignee").is_not_null())
    )
    first_by_assignee = assigned.group_by("_a_conv", "_a_assignee").agg(pl.col("_a_ts").min().alias("_a_first"))
    # The conversation log covers a conversation when it has any conversation.* event for it
    # (a bot-only conversation is created with assignee null: known, and never assigned).
    known = (
        events.filter(pl.col("event_type").str.starts_with("conversation.") & pl.col("conversation_id").is_not_null())
        .select(pl.col("conversation_id").unique().alias("_k_conv"))
        .with_columns(_k_known=pl.lit(True))
    )
    return (
        rows.join(
            first_by_assignee,
            left_on=["conversation_id", "actor_id"],
            right_on=["_a_conv", "_a_assignee"],
            how="left",
        )
        .join(known, left_on="conversation_id", right_on="_k_conv", how="left")
        .with_columns(
            conversation_assignment_known=pl.col("_k_known").fill_null(False),
            assigned_to_actor=pl.when(pl.col("_k_known").fill_null(False))
            .then(pl.col("_a_first").is_not_null() & (pl.col("_a_first") <= pl.col("timestamp") + grace))
            .otherwise(None),
        )
        .drop("_a_first", "_k_known")
    )


# --------------------------------------------------------------------------- PHI tags

_PHI_SCOPES = ("at_time", "conversation")


@register_function(
    "phi_tags",
    columns={"conversation_phi": pl.Boolean()},
    settings_keys=("phi_tags", "phi_channels", "phi_knowledge_bases"),
    parameters=("phi_scope",),
)
def phi_tags(
    rows: pl.LazyFrame, events: pl.LazyFrame, settings: DetectionSettings, params: Mapping[str, Any]
) -> pl.LazyFrame:
    """``conversation_phi``: the conversation holds PHI (:func:`auditreports.organisation.phi_conversations`).

    With ``phi_scope: conversation`` every event of a conversation that holds PHI at any
    time is marked: exactly the conversations the HIPAA report counts. With
    ``phi_scope: at_time`` a *tag* must be in force at the event's time: tag events
    carry the whole tag set after the change (``after.tags``), so the state at any
    moment is the latest tag event before it, found by an as-of join; conversations
    marked by a PHI channel or knowledge base hold PHI throughout.
    """
    scope = params["phi_scope"]
    if scope not in _PHI_SCOPES:
        raise ConfigError(f"phi_scope must be one of {', '.join(_PHI_SCOPES)}, not {scope!r}; fix the settings.")
    org = settings.org
    if scope == "conversation":
        held = phi_conversations(events, org).with_columns(_t_phi=pl.lit(True))
        return (
            rows.join(held, on="conversation_id", how="left", nulls_equal=False)
            .with_columns(conversation_phi=pl.col("_t_phi").fill_null(False))
            .drop("_t_phi")
        )
    state = phi_tag_state(events, org).select(
        pl.col("conversation_id").alias("_t_key"), pl.col("timestamp").alias("_t_ts"), pl.col("phi").alias("_t_phi")
    )
    marked = (
        events.filter(pl.col("conversation_id").is_not_null() & phi_marker_expr(org))
        .select(pl.col("conversation_id").alias("_t_marked"))
        .unique()
        .with_columns(_t_any=pl.lit(True))
    )
    return (
        rows.with_columns(pl.col("conversation_id").fill_null("").alias("_t_key"))
        .sort("timestamp")
        .join_asof(
            state.sort("_t_ts"),
            left_on="timestamp",
            right_on="_t_ts",
            by="_t_key",
            strategy="backward",
            check_sortedness=False,
        )
        .join(marked, left_on="conversation_id", right_on="_t_marked", how="left")
        .with_columns(
            conversation_phi=(pl.col("_t_phi").fill_null(False) | pl.col("_t_any").fill_null(False))
            & pl.col("conversation_id").is_not_null()
        )
        .drop("_t_key", "_t_ts", "_t_phi", "_t_any")
    )


# --------------------------------------------------------------------------- first-seen IPs


@register_function(
    "ip_history",
    columns={"new_ip_for_actor": pl.Boolean(), "actor_first_seen": pl.Datetime("us", "UTC")},
    parameters=("learning_period",),
)
def ip_history(
    rows: pl.LazyFrame, events: pl.LazyFrame, settings: DetectionSettings, params: Mapping[str, Any]
) -> pl.LazyFrame:
    """``new_ip_for_actor``: the actor's first event from this IP, after its first ``learning_period`` in the data.

    The log only shows the loaded period, so every IP is "new" at first; the
    learning period is how long an actor must have been seen before a new IP counts.
    """
    learning = _duration(str(params["learning_period"]))
    actors = rows.select(pl.col("actor_id").unique()).filter(pl.col("actor_id").is_not_null())
    seen = events.join(actors, on="actor_id", how="semi")
    first_from_ip = seen.group_by(pl.col("actor_id").alias("_h_actor"), pl.col("ip").alias("_h_ip")).agg(
        pl.col("timestamp").min().alias("_h_first_ip")
    )
    first_seen = seen.group_by(pl.col("actor_id").alias("_h_actor")).agg(
        pl.col("timestamp").min().alias("actor_first_seen")
    )
    return (
        rows.join(first_from_ip, left_on=["actor_id", "ip"], right_on=["_h_actor", "_h_ip"], how="left")
        .join(first_seen, left_on="actor_id", right_on="_h_actor", how="left")
        .with_columns(
            new_ip_for_actor=(
                pl.col("ip").is_not_null()
                & (pl.col("timestamp") == pl.col("_h_first_ip"))
                & (pl.col("_h_first_ip") >= pl.col("actor_first_seen") + learning)
            ).fill_null(False)
        )
        .drop("_h_first_ip")
    )


# --------------------------------------------------------------------------- revoked credentials

_REMOVAL_TYPES = ["auth.user.removed", "auth.api_key.revoked"]


@register_function("revocations", columns={"actor_removed_at": pl.Datetime("us", "UTC"), "after_removal": pl.Boolean()})
def revocations(
    rows: pl.LazyFrame, events: pl.LazyFrame, settings: DetectionSettings, params: Mapping[str, Any]
) -> pl.LazyFrame:
    """``after_removal``: the actor acts after its account was removed or its API key revoked (``resource_id`` of that event)."""
    removed = (
        events.filter(pl.col("event_type").is_in(_REMOVAL_TYPES) & pl.col("resource_id").is_not_null())
        .group_by(pl.col("resource_id").alias("_r_id"))
        .agg(pl.col("timestamp").min().alias("actor_removed_at"))
    )
    return rows.join(removed, left_on="actor_id", right_on="_r_id", how="left").with_columns(
        after_removal=(pl.col("timestamp") > pl.col("actor_removed_at")).fill_null(False)
    )


# --------------------------------------------------------------------------- durations


def _duration(text: str) -> pl.Expr:
    from .durations import parse_duration

    return pl.lit(parse_duration(text), dtype=pl.Duration("us"))
