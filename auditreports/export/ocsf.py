"""Canonical events and detection findings as OCSF 1.3 events, for a SIEM.

Each event type maps to one OCSF class and activity (``EVENT_CLASS_MAP``); types
not in the table fall back by category (``CATEGORY_FALLBACK``). The whole mapping
is documented in docs/ocsf.md. Every record is built with Polars expressions and
encoded by Polars (no row loop): the class's attributes become a struct, the struct
is JSON-encoded, and null attributes are then dropped from the JSON text, because
OCSF consumers expect absent attributes, not nulls.
"""

from __future__ import annotations

import polars as pl

__all__ = [
    "CATEGORY_FALLBACK",
    "EVENT_CLASS_MAP",
    "OCSF_VERSION",
    "PRODUCT_NAME",
    "events_to_ocsf",
    "findings_to_ocsf",
]

OCSF_VERSION = "1.3.0"
PRODUCT_NAME = "auditreports"

# OCSF class uids and their categories (3 = Identity & Access Management,
# 6 = Application Activity, 2 = Findings).
AUTHENTICATION, ACCOUNT_CHANGE, ENTITY_MANAGEMENT = 3002, 3001, 3004
API_ACTIVITY, APPLICATION_LIFECYCLE, DETECTION_FINDING = 6003, 6002, 2004
CLASS_NAMES = {
    AUTHENTICATION: "Authentication",
    ACCOUNT_CHANGE: "Account Change",
    ENTITY_MANAGEMENT: "Entity Management",
    API_ACTIVITY: "API Activity",
    APPLICATION_LIFECYCLE: "Application Lifecycle",
    DETECTION_FINDING: "Detection Finding",
}

# canonical event_type -> (class_uid, activity_id, activity_name)
EVENT_CLASS_MAP: dict[str, tuple[int, int, str]] = {
    "auth.login.success": (AUTHENTICATION, 1, "Logon"),
    "auth.login.failure": (AUTHENTICATION, 1, "Logon"),
    "auth.logout": (AUTHENTICATION, 2, "Logoff"),
    # OCSF models MFA enrolment as an account change, not an authentication.
    "auth.mfa.enabled": (ACCOUNT_CHANGE, 10, "MFA Factor Enable"),
    "auth.mfa.disabled": (ACCOUNT_CHANGE, 11, "MFA Factor Disable"),
    "auth.password.reset": (ACCOUNT_CHANGE, 4, "Password Reset"),
    "auth.permission.changed": (ACCOUNT_CHANGE, 99, "Permission Change"),
    "auth.user.invited": (ACCOUNT_CHANGE, 1, "Create"),
    "auth.user.removed": (ACCOUNT_CHANGE, 6, "Delete"),
    "auth.api_key.created": (ACCOUNT_CHANGE, 1, "Create"),
    "auth.api_key.revoked": (ACCOUNT_CHANGE, 5, "Disable"),
    "config.system_prompt.update": (ENTITY_MANAGEMENT, 3, "Update"),
    "config.model_settings.update": (ENTITY_MANAGEMENT, 3, "Update"),
    "config.knowledge_base.update": (ENTITY_MANAGEMENT, 3, "Update"),
    "config.retention.update": (ENTITY_MANAGEMENT, 3, "Update"),
    "config.audit_log_settings.update": (ENTITY_MANAGEMENT, 3, "Update"),
    "data.conversation.view": (API_ACTIVITY, 2, "Read"),
    "data.user_profile.view": (API_ACTIVITY, 2, "Read"),
    "data.export": (API_ACTIVITY, 2, "Read"),
    "data.customer.delete": (API_ACTIVITY, 4, "Delete"),
    "integration.api.call": (API_ACTIVITY, 99, "Other"),
    "integration.webhook.delivered": (API_ACTIVITY, 99, "Other"),
    "conversation.created": (API_ACTIVITY, 1, "Create"),
    "conversation.deleted": (API_ACTIVITY, 4, "Delete"),
    "conversation.archived": (API_ACTIVITY, 3, "Update"),
    "system.deploy": (APPLICATION_LIFECYCLE, 8, "Update"),
    "system.error": (APPLICATION_LIFECYCLE, 99, "Other"),
    "system.outage": (APPLICATION_LIFECYCLE, 4, "Stop"),
}

# category -> (class_uid, activity_id, activity_name) for event types not in the table
# (other conversation events, bot events, vendor actions).
CATEGORY_FALLBACK: dict[str, tuple[int, int, str]] = {
    "auth": (ACCOUNT_CHANGE, 99, "Other"),
    "config": (ENTITY_MANAGEMENT, 3, "Update"),
    "data_access": (API_ACTIVITY, 2, "Read"),
    "integration": (API_ACTIVITY, 99, "Other"),
    "conversation": (API_ACTIVITY, 3, "Update"),
    "bot": (API_ACTIVITY, 99, "Other"),
    "system": (APPLICATION_LIFECYCLE, 99, "Other"),
}
_UNKNOWN_FALLBACK = (API_ACTIVITY, 99, "Other")

_SEVERITY_IDS = {"informational": 1, "info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5, "fatal": 6}
_STATUS = {"success": (1, "Success"), "failure": (2, "Failure"), "unknown": (0, "Unknown")}
# In Polars' JSON text a user string's quotes are escaped, so a bare-quoted marker is always ours.
_PLACEHOLDER = "__auditreports_json__:"
_NULL_MEMBER = r'(?:,"[A-Za-z_]+":null)|(?:"[A-Za-z_]+":null,?)'
_EMPTY_OBJECT = r'(?:,"[A-Za-z_]+":\{\})|(?:"[A-Za-z_]+":\{\},?)'


def events_to_ocsf(events: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """One column ``ocsf``: each canonical event as an OCSF JSON object (text), in input order.

    Also returns ``class_uid`` so callers can count or split by class.
    """
    lf = events.lazy().with_columns(_class_columns())
    base = _base_fields()
    actor_user = _user(pl.col("actor_id"), pl.col("actor_name"), pl.col("actor_email"), pl.col("actor_type"))
    target_user = _user(
        pl.when(pl.col("resource_type").is_in(["user", "api_key"]))
        .then(pl.col("resource_id"))
        .otherwise(pl.col("actor_id")),
        pl.when(pl.col("resource_type").is_in(["user", "api_key"]))
        .then(pl.lit(None, pl.String))
        .otherwise(pl.col("actor_name")),
        pl.when(pl.col("resource_type").is_in(["user", "api_key"]))
        .then(pl.lit(None, pl.String))
        .otherwise(pl.col("actor_email")),
        pl.when(pl.col("resource_type") == "api_key").then(pl.lit("api_key")).otherwise(pl.col("actor_type")),
    )
    actor = pl.struct(actor_user.alias("user"), pl.lit(PRODUCT_NAME).alias("app_name")).alias("actor")
    src = pl.struct(
        pl.col("ip").alias("ip"),
        pl.when(pl.col("ip").is_null())
        .then(pl.coalesce(pl.col("source_address"), pl.col("channel"), pl.col("source"), pl.lit("unknown")))
        .otherwise(pl.lit(None, pl.String))
        .alias("name"),
    )
    http = pl.struct(pl.col("user_agent").alias("user_agent"))
    service = pl.struct(pl.coalesce(pl.col("source"), pl.lit(PRODUCT_NAME)).alias("name"))
    entity = pl.struct(
        pl.coalesce(pl.col("resource_id"), pl.col("event_type")).alias("uid"),
        pl.coalesce(pl.col("resource_type"), pl.col("event_type").str.split(".").list.get(1, null_on_oob=True)).alias(
            "type"
        ),
        pl.coalesce(pl.col("resource_type"), pl.col("event_type")).alias("name"),
        _object_placeholder("before").alias("data"),
    )
    entity_result = pl.struct(
        pl.coalesce(pl.col("resource_id"), pl.col("event_type")).alias("uid"),
        pl.coalesce(pl.col("resource_type"), pl.col("event_type")).alias("name"),
        _object_placeholder("after").alias("data"),
    )
    api = pl.struct(
        pl.coalesce(pl.col("source_action"), pl.col("event_type")).alias("operation"),
        pl.struct(pl.coalesce(pl.col("source"), pl.lit(PRODUCT_NAME)).alias("name")).alias("service"),
    )
    resources = pl.when(pl.col("resource_id").is_not_null() | pl.col("conversation_id").is_not_null()).then(
        pl.concat_list(
            pl.struct(
                pl.coalesce(pl.col("resource_id"), pl.col("conversation_id")).alias("uid"),
                pl.when(pl.col("resource_id").is_not_null())
                .then(pl.col("resource_type"))
                .otherwise(pl.lit("conversation"))
                .alias("type"),
            )
        )
    )
    # the audited platform is the application; its vendor is not in the log, so name it by the source
    app = pl.struct(
        pl.coalesce(pl.col("source"), pl.lit(PRODUCT_NAME)).alias("name"),
        pl.coalesce(pl.col("source"), pl.lit(PRODUCT_NAME)).alias("vendor_name"),
    )

    per_class = {
        AUTHENTICATION: [
            actor_user.alias("user"),
            actor,
            service.alias("service"),
            src.alias("src_endpoint"),
            http.alias("http_request"),
        ],
        ACCOUNT_CHANGE: [target_user.alias("user"), actor, src.alias("src_endpoint"), http.alias("http_request")],
        ENTITY_MANAGEMENT: [
            entity.alias("entity"),
            entity_result.alias("entity_result"),
            actor,
            src.alias("src_endpoint"),
            http.alias("http_request"),
        ],
        API_ACTIVITY: [
            actor,
            api.alias("api"),
            src.alias("src_endpoint"),
            http.alias("http_request"),
            resources.alias("resources"),
        ],
        APPLICATION_LIFECYCLE: [app.alias("app")],  # the class has no actor; unmapped.actor_id keeps it
    }
    encoded = pl.lit(None, pl.String)
    for class_uid, fields in per_class.items():
        record = pl.struct(*base, *fields, _unmapped().alias("unmapped"), pl.col("raw").alias("raw_data"))
        encoded = pl.when(pl.col("class_uid") == class_uid).then(record.struct.json_encode()).otherwise(encoded)
    for column in ("before", "after"):
        # splice the state-change JSON object in where its placeholder string stands
        encoded = encoded.str.replace(f'"{_PLACEHOLDER}{column}"', pl.col(column).fill_null("null"), literal=True)
    return lf.select(pl.col("class_uid"), _drop_nulls(encoded).alias("ocsf"))


def _object_placeholder(column: str) -> pl.Expr:
    """A marker for a JSON object column (OCSF ``data`` must be an object, not text), or null."""
    is_object = pl.col(column).str.strip_chars_start().str.starts_with("{").fill_null(False)
    return pl.when(is_object).then(pl.lit(_PLACEHOLDER + column)).otherwise(pl.lit(None, pl.String))


def findings_to_ocsf(findings: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """Detection findings (columns of ``detect --json``) as OCSF Detection Finding (2004) JSON text.

    Expected columns: finding_id, rule_id, rule_name, severity, title, group,
    window_start, window_end, count, event_ids, summary. ``group`` may be a struct
    or JSON text; ``event_ids`` a list of strings.
    """
    lf = findings.lazy()
    names = lf.collect_schema()
    group = pl.col("group")
    if names.get("group") is not None and not isinstance(names["group"], pl.String):
        group = pl.col("group").struct.json_encode()
    start_ms = _epoch_ms(_as_datetime(pl.col("window_start"), names.get("window_start")))
    end_ms = _epoch_ms(_as_datetime(pl.col("window_end"), names.get("window_end")))
    severity_id = (
        pl.col("severity")
        .cast(pl.String)
        .str.to_lowercase()
        .replace_strict(_SEVERITY_IDS, default=99, return_dtype=pl.Int64)
    )
    record = pl.struct(
        pl.lit(DETECTION_FINDING).alias("class_uid"),
        pl.lit(CLASS_NAMES[DETECTION_FINDING]).alias("class_name"),
        pl.lit(2).alias("category_uid"),
        pl.lit("Findings").alias("category_name"),
        pl.lit(1).alias("activity_id"),
        pl.lit("Create").alias("activity_name"),
        pl.lit(DETECTION_FINDING * 100 + 1).alias("type_uid"),
        pl.lit("Detection Finding: Create").alias("type_name"),
        pl.coalesce(end_ms, start_ms).alias("time"),
        severity_id.alias("severity_id"),
        pl.col("severity").cast(pl.String).str.to_titlecase().alias("severity"),
        pl.lit(1).alias("status_id"),
        pl.lit("New").alias("status"),
        pl.col("summary").alias("message"),
        pl.col("count").cast(pl.Int64).alias("count"),
        start_ms.alias("start_time"),
        end_ms.alias("end_time"),
        pl.struct(
            pl.col("finding_id").cast(pl.String).alias("uid"),
            pl.col("title").alias("title"),
            pl.col("summary").alias("desc"),
            start_ms.alias("first_seen_time"),
            end_ms.alias("last_seen_time"),
            pl.struct(
                pl.col("rule_id").alias("uid"),
                pl.col("rule_name").alias("name"),
                pl.lit("Rule").alias("type"),
            ).alias("analytic"),
            pl.col("event_ids").list.eval(pl.struct(pl.element().alias("uid"))).alias("related_events"),
        ).alias("finding_info"),
        _metadata(pl.col("finding_id").cast(pl.String), log_name=pl.lit("findings")).alias("metadata"),
        pl.struct(group.alias("group"), pl.col("rule_id").alias("rule_id")).alias("unmapped"),
    )
    return lf.select(_drop_nulls(record.struct.json_encode()).alias("ocsf"))


def _class_columns() -> list[pl.Expr]:
    table = EVENT_CLASS_MAP
    cat = pl.col("category").cast(pl.String)
    exact_class = pl.col("event_type").replace_strict(
        {k: v[0] for k, v in table.items()}, default=None, return_dtype=pl.Int64
    )
    exact_act = pl.col("event_type").replace_strict(
        {k: v[1] for k, v in table.items()}, default=None, return_dtype=pl.Int64
    )
    exact_name = pl.col("event_type").replace_strict(
        {k: v[2] for k, v in table.items()}, default=None, return_dtype=pl.String
    )
    fb = CATEGORY_FALLBACK
    return [
        pl.coalesce(
            exact_class, cat.replace_strict({k: v[0] for k, v in fb.items()}, default=None, return_dtype=pl.Int64)
        )
        .fill_null(_UNKNOWN_FALLBACK[0])
        .alias("class_uid"),
        pl.coalesce(
            exact_act, cat.replace_strict({k: v[1] for k, v in fb.items()}, default=None, return_dtype=pl.Int64)
        )
        .fill_null(_UNKNOWN_FALLBACK[1])
        .alias("activity_id"),
        pl.coalesce(
            exact_name, cat.replace_strict({k: v[2] for k, v in fb.items()}, default=None, return_dtype=pl.String)
        )
        .fill_null(_UNKNOWN_FALLBACK[2])
        .alias("activity_name"),
    ]


def _base_fields() -> list[pl.Expr]:
    class_uid = pl.col("class_uid")
    outcome = pl.col("outcome").cast(pl.String)
    return [
        class_uid.alias("class_uid"),
        class_uid.replace_strict(CLASS_NAMES, return_dtype=pl.String).alias("class_name"),
        (class_uid // 1000).alias("category_uid"),
        (class_uid // 1000)
        .replace_strict({3: "Identity & Access Management", 6: "Application Activity"}, return_dtype=pl.String)
        .alias("category_name"),
        pl.col("activity_id").alias("activity_id"),
        pl.col("activity_name").alias("activity_name"),
        (class_uid * 100 + pl.col("activity_id")).alias("type_uid"),
        pl.concat_str(
            class_uid.replace_strict(CLASS_NAMES, return_dtype=pl.String), pl.lit(": "), pl.col("activity_name")
        ).alias("type_name"),
        _epoch_ms(pl.col("timestamp")).alias("time"),
        pl.lit(1).alias("severity_id"),
        pl.lit("Informational").alias("severity"),
        outcome.replace_strict({k: v[0] for k, v in _STATUS.items()}, default=0, return_dtype=pl.Int64).alias(
            "status_id"
        ),
        outcome.replace_strict({k: v[1] for k, v in _STATUS.items()}, default="Unknown", return_dtype=pl.String).alias(
            "status"
        ),
        pl.when(outcome == "failure").then(pl.col("reason")).alias("status_detail"),
        pl.coalesce(pl.col("reason"), pl.col("event_type")).alias("message"),
        _metadata(pl.col("event_id"), log_name=pl.col("source")).alias("metadata"),
    ]


def _metadata(uid: pl.Expr, *, log_name: pl.Expr) -> pl.Expr:
    return pl.struct(
        pl.lit(OCSF_VERSION).alias("version"),
        uid.alias("uid"),
        log_name.alias("log_name"),
        pl.struct(pl.lit(PRODUCT_NAME).alias("name"), pl.lit(PRODUCT_NAME).alias("vendor_name")).alias("product"),
    )


def _user(uid: pl.Expr, name: pl.Expr, email: pl.Expr, kind: pl.Expr) -> pl.Expr:
    kind_s = kind.cast(pl.String)
    # OCSF user.type_id: 1 User, 2 Admin, 3 System, 99 Other.
    type_id = (
        pl.when(kind_s == "user")
        .then(pl.lit(1))
        .when(kind_s == "system")
        .then(pl.lit(3))
        .when(kind_s.is_null() | (kind_s == "unknown"))
        .then(pl.lit(0))
        .otherwise(pl.lit(99))
    )
    return pl.struct(
        pl.coalesce(uid, name, pl.lit("unknown")).alias("uid"),
        name.alias("name"),
        email.alias("email_addr"),
        type_id.alias("type_id"),
        pl.when(type_id == 99).then(kind_s).otherwise(pl.lit(None, pl.String)).alias("type"),
    )


def _unmapped() -> pl.Expr:
    """Canonical fields with no OCSF home, so nothing is lost on the way to the SIEM."""
    return pl.struct(
        pl.col("event_type"),
        pl.col("source_action"),
        pl.col("category").cast(pl.String),
        pl.col("actor_id"),
        pl.col("actor_role"),
        pl.col("conversation_id"),
        pl.col("channel"),
        pl.col("subject_id"),
        pl.col("subject_ids"),
        pl.col("before"),
        pl.col("after"),
        pl.col("record_count"),
        pl.col("seq"),
        pl.col("prev_hash"),
        pl.col("hash"),
        pl.col("flags"),
    )


def _as_datetime(expr: pl.Expr, dtype: pl.DataType | None) -> pl.Expr:
    """Findings from ``detect --json`` carry ISO 8601 text; from ``detect()`` datetimes."""
    if dtype is not None and dtype == pl.String:
        return expr.str.to_datetime(time_unit="us", time_zone="UTC", strict=False)
    return expr


def _epoch_ms(expr: pl.Expr) -> pl.Expr:
    return expr.dt.epoch("ms")


def _drop_nulls(json_text: pl.Expr) -> pl.Expr:
    """Remove ``"key":null`` members and then empty objects / lists from Polars' JSON text.

    Safe on user text: inside JSON strings every ``"`` is escaped, so the patterns,
    which need a bare ``"`` around an identifier key, only ever match real members.
    """
    out = json_text.str.replace_all(_NULL_MEMBER, "")
    out = out.str.replace_all(_EMPTY_OBJECT, "")
    return out.str.replace_all(r'(?:,"[A-Za-z_]+":\[\])|(?:"[A-Za-z_]+":\[\],?)', "")
