"""Registered Python functions: derived fields that YAML conditions cannot express.

A rule lists them under ``logic.derive``; each adds named columns to the events
(local working time, role ranks, assignment history, PHI tags, first-seen IPs,
revocations) with Polars expressions and joins, never a loop over rows. Rules then
use those columns like any other field. Organisations can register their own with
:func:`register_function` before calling :func:`auditreports.detect.detect`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

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


# The build side of a join of the rule's rows (the probe, up to the whole log) with a summary
# of the log (removals, owners, first-seen IPs: one row per key). Left to choose, Polars'
# streaming engine buffers both inputs while it samples which is smaller, and the summary is
# only ready when the whole log has been read: the rows would all be held meanwhile. (A Polars
# without ``build_side`` - older than the pinned one - chooses; same result, more memory.)
_SMALL: Final[dict[str, Any]] = (
    {"build_side": "force_right"} if "build_side" in inspect.signature(pl.LazyFrame.join).parameters else {}
)


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
    columns={
        "assigned_to_actor": pl.Boolean(),
        "conversation_assignment_known": pl.Boolean(),
        "assignment": pl.String(),
        "confidence": pl.String(),
    },
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

    ``assignment`` labels each view for reporting: ``assigned``, ``unassigned`` (the
    log shows it was never the viewer's) or ``assignment unknown`` (the log does not
    cover the conversation: opened before the period, or its log not loaded);
    ``confidence`` is how sure that label makes a snooping finding: ``high`` for
    unassigned, ``medium`` for unknown (some of those may be the viewer's own).
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
        .with_columns(
            assignment=pl.when(pl.col("assigned_to_actor").is_null())
            .then(pl.lit("assignment unknown"))
            .when(pl.col("assigned_to_actor"))
            .then(pl.lit("assigned"))
            .otherwise(pl.lit("unassigned")),
            confidence=pl.when(pl.col("assigned_to_actor").is_null())
            .then(pl.lit("medium"))
            .when(pl.col("assigned_to_actor"))
            .then(pl.lit("n/a"))
            .otherwise(pl.lit("high")),
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
    seen = events.join(actors, on="actor_id", how="semi", **_SMALL)
    first_from_ip = seen.group_by(pl.col("actor_id").alias("_h_actor"), pl.col("ip").alias("_h_ip")).agg(
        pl.col("timestamp").min().alias("_h_first_ip")
    )
    first_seen = seen.group_by(pl.col("actor_id").alias("_h_actor")).agg(
        pl.col("timestamp").min().alias("actor_first_seen")
    )
    return (
        rows.join(first_from_ip, left_on=["actor_id", "ip"], right_on=["_h_actor", "_h_ip"], how="left", **_SMALL)
        .join(first_seen, left_on="actor_id", right_on="_h_actor", how="left", **_SMALL)
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
    return rows.join(removed, left_on="actor_id", right_on="_r_id", how="left", **_SMALL).with_columns(
        after_removal=(pl.col("timestamp") > pl.col("actor_removed_at")).fill_null(False)
    )


# --------------------------------------------------------------------------- durations


def _duration(text: str) -> pl.Expr:
    from .durations import parse_duration

    return pl.lit(parse_duration(text), dtype=pl.Duration("us"))


# --------------------------------------------------------------------------- configuration content


def _content_patterns() -> dict[str, str]:
    """The content-risk patterns (``auditreports/data/content_risk.yml``), read once."""
    if not _PATTERNS:
        from importlib import resources

        import yaml

        text = (resources.files("auditreports") / "data" / "content_risk.yml").read_text(encoding="utf-8")
        _PATTERNS.update({str(k): str(v) for k, v in (yaml.safe_load(text) or {}).items()})
    return dict(_PATTERNS)


_PATTERNS: dict[str, str] = {}
_CONTENT_LABELS = {
    "url": "a URL",
    "email_address": "an e-mail address",
    "credential_request": "a request for credentials",
    "payment_request": "a request for payment details",
    "ignore_instruction": "an instruction to ignore policy",
}
_CONTENT_TYPES = ["config.system_prompt.update", "config.knowledge_base.update"]
_AUDIT_STREAM_KEYS = ("siem_stream", "stream", "streaming", "destination", "export", "enabled", "webhook_url")


@register_function(
    "config_content",
    columns={
        "content_risk": pl.Boolean(),
        "content_added": pl.String(),
        "model_switched": pl.Boolean(),
        "change_kind": pl.String(),
        "audit_logging_enabled": pl.Boolean(),
        "audit_logging_disabled": pl.Boolean(),
        "retention_shortened": pl.Boolean(),
        "retention_before": pl.Int64(),
        "retention_after": pl.Int64(),
        "retention_below_required": pl.Boolean(),
        "week": pl.String(),
    },
    settings_keys=("retention_required_days",),
)
def config_content(
    rows: pl.LazyFrame, events: pl.LazyFrame, settings: DetectionSettings, params: Mapping[str, Any]
) -> pl.LazyFrame:
    """What a configuration change did, read from its before/after states.

    - ``content_added``: which risky content (URL, e-mail address, request for credentials
      or payment, instruction to ignore policy; patterns in ``data/content_risk.yml``)
      appears in the after-state but not in the before-state; ``content_risk`` when any;
    - ``model_switched``: ``model`` or ``provider`` differs between before and after;
    - ``audit_logging_enabled`` / ``_disabled``: an audit-log setting went from off/empty
      to on/a destination, or the other way (``enabled``, ``siem_stream``, …);
    - ``retention_shortened``: the ``*retention_days`` of the after-state is below the
      before-state's (``retention_before`` / ``retention_after``, in days);
      ``retention_below_required``: the after-state is below a requirement that applies
      (the organisation's or a shipped framework's minimum: the ``retention`` function's);
    - ``change_kind``: ``content risk``, ``audit logging off``, ``retention shortened``,
      ``retention below requirement``, ``model switch`` or ``routine`` - what a change review groups by (a change that weakens
      the record or what customers are told is never "routine"); ``week``: the ISO week
      (``2026-W37``) of the change, in UTC.
    """
    before = pl.col("before").fill_null("")
    after = pl.col("after").fill_null("")
    added: list[pl.Expr] = []
    for key, pattern in _content_patterns().items():
        new = (
            after.str.extract_all(pattern)
            .list.eval(pl.element().str.to_lowercase())
            .list.set_difference(before.str.extract_all(pattern).list.eval(pl.element().str.to_lowercase()))
            .list.len()
            > 0
        )
        added.append(pl.when(new).then(pl.lit(_CONTENT_LABELS.get(key, key))).otherwise(None))
    content_added = pl.concat_list(added).list.drop_nulls().list.join(", ")
    # Content that customers read: the system prompt and the knowledge base (an audit-log
    # destination URL or a webhook address is configuration, not content).
    content_added = pl.when(pl.col("event_type").is_in(_CONTENT_TYPES)).then(content_added).otherwise(pl.lit(""))
    model_before = pl.coalesce(_json_field("before", "model"), pl.lit(""))
    model_after = pl.coalesce(_json_field("after", "model"), pl.lit(""))
    provider_before = pl.coalesce(_json_field("before", "provider"), pl.lit(""))
    provider_after = pl.coalesce(_json_field("after", "provider"), pl.lit(""))
    switched = pl.col("after").is_not_null() & ((model_before != model_after) | (provider_before != provider_after))
    on_before = pl.any_horizontal([_on(_json_field("before", k)) for k in _AUDIT_STREAM_KEYS])
    on_after = pl.any_horizontal([_on(_json_field("after", k)) for k in _AUDIT_STREAM_KEYS])
    off_after = pl.any_horizontal([_off(pl.col("after"), k) for k in _AUDIT_STREAM_KEYS])
    kept_before, kept_after = _retention_days("before"), _retention_days("after")
    required = max((days for _, days in _retention_requirements(settings)), default=0)
    below = (kept_after < required).fill_null(False) if required else pl.lit(False)
    iso = pl.col("timestamp").dt
    week = pl.concat_str([iso.iso_year().cast(pl.String), pl.lit("-W"), iso.week().cast(pl.String).str.zfill(2)])
    return rows.with_columns(
        content_added=pl.when(content_added != "").then(content_added).otherwise(None)
    ).with_columns(
        content_risk=pl.col("content_added").is_not_null(),
        model_switched=switched.fill_null(False),
        audit_logging_enabled=(~on_before & on_after).fill_null(False),
        audit_logging_disabled=(on_before & off_after).fill_null(False),
        retention_before=kept_before,
        retention_after=kept_after,
        retention_shortened=(kept_after < kept_before).fill_null(False),
        retention_below_required=below,
        change_kind=pl.when(pl.col("content_added").is_not_null())
        .then(pl.lit("content risk"))
        .when((on_before & off_after).fill_null(False))
        .then(pl.lit("audit logging off"))
        .when((kept_after < kept_before).fill_null(False))
        .then(pl.lit("retention shortened"))
        .when(below)
        .then(pl.lit("retention below requirement"))
        .when(switched.fill_null(False))
        .then(pl.lit("model switch"))
        .otherwise(pl.lit("routine")),
        week=week,
    )


def _on(value: pl.Expr) -> pl.Expr:
    """A setting's value means "on": true, or a non-empty destination."""
    text = value.str.to_lowercase()
    return (text.is_not_null() & ~text.is_in(["false", "0", "", "off", "disabled", "none", "null"])).fill_null(False)


def _off(column: pl.Expr, key: str) -> pl.Expr:
    """The after-state names the key and it is off (false, null, empty)."""
    present = column.str.contains(f'"{key}"\\s*:', literal=False).fill_null(False)
    return present & ~_on(column.str.json_path_match(f"$.{key}"))


# --------------------------------------------------------------------------- MFA


@register_function(
    "mfa_state",
    columns={
        "mfa_account": pl.String(),
        "account_role": pl.String(),
        "account_privileged": pl.Boolean(),
        "mfa_reenabled_at": pl.Datetime("us", "UTC"),
        "mfa_off_days": pl.Float64(),
        "mfa_still_off": pl.Boolean(),
    },
    settings_keys=("role_ranks",),
    parameters=("privileged_rank",),
)
def mfa_state(
    rows: pl.LazyFrame, events: pl.LazyFrame, settings: DetectionSettings, params: Mapping[str, Any]
) -> pl.LazyFrame:
    """For MFA-disabled events: whose MFA (``mfa_account``: the resource, else the actor), that
    account's role then (``account_role``: the latest role it acted with or was given before,
    else the first it is seen with), whether that role ranks at least ``privileged_rank`` in
    ``role_ranks``, and how long MFA stayed off (``mfa_off_days``: to the account's next
    ``auth.mfa.enabled``, or to the end of the loaded log - ``mfa_still_off``).
    """
    ranks = dict(settings.role_ranks)
    account = pl.coalesce(pl.col("resource_id"), pl.col("actor_id"))
    enabled = events.filter(pl.col("event_type") == "auth.mfa.enabled").select(
        pl.coalesce(pl.col("resource_id"), pl.col("actor_id")).alias("_m_acct"), pl.col("timestamp").alias("_m_on")
    )
    log_end = events.select(pl.col("timestamp").max().alias("_m_end"))
    # Roles over time: as actor (actor_role) and as the target of a permission change (after.role).
    roles = pl.concat(
        [
            events.filter(pl.col("actor_role").is_not_null() & pl.col("actor_id").is_not_null()).select(
                pl.col("actor_id").alias("_m_acct"), pl.col("timestamp").alias("_m_ts"),
                pl.col("actor_role").str.to_lowercase().alias("_m_role"),
            ),
            events.filter(pl.col("event_type") == "auth.permission.changed").select(
                pl.col("resource_id").alias("_m_acct"), pl.col("timestamp").alias("_m_ts"),
                _json_field("after", "role").str.to_lowercase().alias("_m_role"),
            ),
        ]
    ).filter(pl.col("_m_acct").is_not_null() & pl.col("_m_role").is_not_null())  # fmt: skip
    # Only the accounts whose MFA was turned off are looked up, so only their roles are kept
    # (in log order, and sorted stably: equal times resolve as they do over the whole log).
    roles = roles.join(rows.select(account.alias("_m_acct")).unique(), on="_m_acct", how="semi", maintain_order="left")
    first_role = (
        roles.sort("_m_ts", maintain_order=True)
        .group_by("_m_acct")
        .agg(pl.col("_m_role").first().alias("_m_first_role"))
    )
    base = rows.with_columns(mfa_account=account).with_row_index("_m_row")
    next_on = (
        base.select("_m_row", "mfa_account", "timestamp")
        .join(enabled, left_on="mfa_account", right_on="_m_acct", how="inner")
        .filter(pl.col("_m_on") > pl.col("timestamp"))
        .group_by("_m_row")
        .agg(pl.col("_m_on").min().alias("mfa_reenabled_at"))
    )
    role_then = (
        base.select("_m_row", pl.col("mfa_account").alias("_m_acct"), "timestamp")
        .sort("timestamp")
        .join_asof(
            roles.sort("_m_ts", maintain_order=True), left_on="timestamp", right_on="_m_ts", by="_m_acct",
            strategy="backward", check_sortedness=False,
        )
        .select("_m_row", "_m_role")
    )  # fmt: skip
    rank = pl.col("account_role").replace_strict(ranks, default=None, return_dtype=pl.Int64)
    return (
        base.join(next_on, on="_m_row", how="left")
        .join(role_then, on="_m_row", how="left")
        .join(first_role, left_on="mfa_account", right_on="_m_acct", how="left")
        .join(log_end, how="cross")
        .with_columns(account_role=pl.coalesce("_m_role", "_m_first_role"))
        .with_columns(
            account_privileged=(rank >= int(params["privileged_rank"])).fill_null(False),
            mfa_still_off=pl.col("mfa_reenabled_at").is_null(),
            mfa_off_days=(pl.coalesce("mfa_reenabled_at", "_m_end") - pl.col("timestamp")).dt.total_seconds() / 86400.0,
        )
        .drop("_m_row", "_m_role", "_m_first_role", "_m_end")
    )


# --------------------------------------------------------------------------- retention


def _retention_days(side: str) -> pl.Expr:
    """The ``*retention_days`` value of a change's ``before`` or ``after`` state, in days (null if none)."""
    return (
        pl.coalesce(pl.col(side), pl.lit(""))
        .str.extract(r'retention_days"\s*:\s*(\d+)', 1)
        .cast(pl.Int64, strict=False)
    )


def _retention_requirements(settings: DetectionSettings, rule_days: int = 0) -> list[tuple[str, int]]:
    """Every retention requirement that applies, as (label, days): the organisation's, then each framework's."""
    from .frameworks import framework_retention_minimums

    org = settings.retention_required_days or rule_days
    minimums: list[tuple[str, int]] = []
    if org > 0:
        minimums.append((f"the organisation's required {org} days", org))
    for name, (minimum_days, citation) in sorted(framework_retention_minimums().items()):
        minimums.append((f"{name.upper()} minimum {minimum_days} days ({citation})", minimum_days))
    return minimums


@register_function(
    "retention",
    columns={
        "retention_days": pl.Int64(),
        "retention_setting": pl.String(),
        "retention_before_days": pl.Int64(),
        "retention_required": pl.Int64(),
        "retention_shortfall": pl.String(),
    },
    settings_keys=("retention_required_days",),
    parameters=("retention_required_days",),
)
def retention(
    rows: pl.LazyFrame, events: pl.LazyFrame, settings: DetectionSettings, params: Mapping[str, Any]
) -> pl.LazyFrame:
    """For retention changes: the new retention in days (the after-state's ``*retention_days``
    value), the longest requirement that applies, and which requirements it falls short of.

    Requirements: the organisation's (``organisation.retention_required_days`` in the
    settings - carried here as ``detection.retention_required_days`` - else the rule
    parameter; 0 = none) and each shipped framework's own minimum
    (``retention_minimum`` in ``frameworks/*.yml``: HIPAA 2190 days, 164.316(b)(2)).
    """
    minimums = _retention_requirements(settings, int(params["retention_required_days"] or 0))
    days = _retention_days("after")
    # Which setting (conversation_retention_days, audit_log_retention_days, …) and its value before:
    # the finding says what was kept for how long, and whether the change shortened it.
    setting = pl.coalesce(pl.col("after"), pl.lit("")).str.extract(r'"(\w*retention_days)"\s*:\s*\d+', 1)
    before_days = _retention_days("before")
    short = [pl.when(pl.col("retention_days") < limit).then(pl.lit(label)).otherwise(None) for label, limit in minimums]
    shortfall = pl.concat_list(short).list.drop_nulls().list.join("; ") if short else pl.lit("")
    required = max((limit for _, limit in minimums), default=0)
    return (
        rows.with_columns(retention_days=days, retention_setting=setting, retention_before_days=before_days)
        .with_columns(retention_required=pl.lit(required, pl.Int64), _r_short=shortfall)
        .with_columns(retention_shortfall=pl.when(pl.col("_r_short") != "").then(pl.col("_r_short")).otherwise(None))
        .drop("_r_short")
    )


# --------------------------------------------------------------------------- API key owners


@register_function(
    "api_key_owner",
    columns={
        "key_owner": pl.String(),
        "key_owner_name": pl.String(),
        "owner_removed_at": pl.Datetime("us", "UTC"),
        "owner_removed": pl.Boolean(),
        "key_revoked": pl.Boolean(),
    },
)
def api_key_owner(
    rows: pl.LazyFrame, events: pl.LazyFrame, settings: DetectionSettings, params: Mapping[str, Any]
) -> pl.LazyFrame:
    """For events by an API key: its owner (who created it: ``auth.api_key.created``,
    ``resource_id`` = the key), when the owner's account was removed (``auth.user.removed``
    of the owner), whether this event comes after that (``owner_removed``) and whether the
    key itself had been revoked by then (``key_revoked``; removed_user_activity covers those).
    A key created before the loaded log has no known owner.
    """
    created = (
        events.filter((pl.col("event_type") == "auth.api_key.created") & pl.col("resource_id").is_not_null())
        .sort("timestamp")
        .group_by(pl.col("resource_id").alias("_o_key"))
        .agg(pl.col("actor_id").first().alias("key_owner"))
    )
    removed = (
        events.filter((pl.col("event_type") == "auth.user.removed") & pl.col("resource_id").is_not_null())
        .group_by(pl.col("resource_id").alias("_o_user"))
        .agg(
            pl.col("timestamp").min().alias("owner_removed_at"),
            pl.col("before").str.json_path_match("$.email").first().alias("_o_email"),
        )
    )
    names = (
        events.filter(pl.col("actor_type") == "user")
        .filter(pl.col("actor_name").is_not_null() & (pl.col("actor_name") != "Removed user"))
        .group_by(pl.col("actor_id").alias("_o_user"))
        .agg(pl.col("actor_name").first().alias("_o_name"))
    )
    revoked = (
        events.filter((pl.col("event_type") == "auth.api_key.revoked") & pl.col("resource_id").is_not_null())
        .group_by(pl.col("resource_id").alias("_o_key"))
        .agg(pl.col("timestamp").min().alias("_o_revoked"))
    )
    return (
        rows.join(created, left_on="actor_id", right_on="_o_key", how="left", **_SMALL)
        .join(removed, left_on="key_owner", right_on="_o_user", how="left", **_SMALL)
        .join(names, left_on="key_owner", right_on="_o_user", how="left", **_SMALL)
        .join(revoked, left_on="actor_id", right_on="_o_key", how="left", **_SMALL)
        .with_columns(
            key_owner_name=pl.coalesce("_o_name", "_o_email"),
            owner_removed=(pl.col("timestamp") > pl.col("owner_removed_at")).fill_null(False),
            key_revoked=(pl.col("timestamp") > pl.col("_o_revoked")).fill_null(False),
        )
        .drop("_o_email", "_o_name", "_o_revoked")
    )
