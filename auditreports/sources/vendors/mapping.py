"""Apply a vendor field map to record texts with Polars expressions.

Every value is pulled out of the record's JSON text with ``str.json_path_match``, so a
field that is a string in one row and an array or number in the next (GitHub's
``org``/``org_id``, CloudTrail's ``requestParameters``) keeps its value as text
instead of failing the file or being dropped. No Python loop runs per record except
to word the reason of a line that is not JSON (a per-line pass on failures only)
and to hash records that have no id of their own.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable

import polars as pl

from ...schema import EVENT_SCHEMA, QUARANTINE_SCHEMA, conform
from .fieldmap import FIELD_NAMES, FieldMap, FieldSource, Rule

# Map fields copied as text; the others are parsed or derived above.
_TEXT_FIELDS = tuple(
    n
    for n in FIELD_NAMES
    if n not in {"event_id", "timestamp", "action", "outcome", "actor_type", "record_count", "ip", "source_address"}
)

__all__ = ["TRANSFORMS", "MappedRecords", "json_path", "map_records", "transform"]

Transform = Callable[[pl.LazyFrame, FieldMap], pl.LazyFrame]
TRANSFORMS: dict[str, Transform] = {}

# Canonical event_type prefix -> category, for mapped types.
_PREFIX_CATEGORY = {
    "auth": "auth",
    "config": "config",
    "data": "data_access",
    "integration": "integration",
    "system": "system",
    "conversation": "conversation",
    "bot": "bot",
}


def transform(name: str) -> Callable[[Transform], Transform]:
    """Register a named Python step for what a YAML map cannot say (see ``transforms.py``)."""

    def register(fn: Transform) -> Transform:
        TRANSFORMS[name] = fn
        return fn

    return register


_SEGMENT = re.compile(r"([^.\[\]?]+)((?:\[\d+\]|\[\?[^=\]]+=[^\]]*\])*)")
_INDEX = re.compile(r"\[(\d+)\]|\[\?([^=\]]+)=([^\]]*)\]")


def _quote(name: str) -> str:
    return "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


def json_path(path: str) -> str:
    """``actor.session.ip_address`` / ``target[0].id`` / ``parameters[?name=USER_EMAIL].value`` /
    ``@timestamp`` -> a JSONPath in bracket form (``[?name=X]`` picks the array item whose
    ``name`` is ``X``)."""
    out = ["$"]
    for m in _SEGMENT.finditer(path):
        out.append("[" + _quote(m.group(1)) + "]")
        for idx in _INDEX.finditer(m.group(2)):
            if idx.group(1) is not None:
                out.append(f"[{idx.group(1)}]")
            else:
                out.append(f"[?(@.{idx.group(2)} == {_quote(idx.group(3))})]")
    return "".join(out)


# An IPv4 or IPv6 address (optionally with a zone or a v4 tail); anything else a vendor writes
# in its "source IP" field (ec2.amazonaws.com, AWS Internal, redacted) is a source address.
IP_PATTERN = (
    r"^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}"
    r"|(?i:[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3})?(?:%[\w.]+)?))$"
)


def field_expr(path: str) -> pl.Expr:
    """The value at ``path`` as text (objects and arrays as compact JSON), empty string as null."""
    value = pl.col("text").str.json_path_match(json_path(path))
    return pl.when(value.str.len_bytes() > 0).then(value)


def _source_expr(src: FieldSource) -> pl.Expr:
    if src.const is not None:
        value = pl.lit(src.const, dtype=pl.String)
        if src.path is not None:  # the constant, when the path has a value
            value = pl.when(field_expr(src.path).is_not_null()).then(value)
    else:
        assert src.path is not None
        value = field_expr(src.path)
        if src.regex is not None:
            group = 1 if re.compile(src.regex).groups else 0
            value = value.str.extract(src.regex, group)
        if src.ignore:
            value = pl.when(~value.str.to_lowercase().is_in([v.lower() for v in src.ignore])).then(value)
    if src.json_key is not None:
        # The detection rules read roles as {"role": ...} in before/after.
        value = pl.when(value.is_not_null()).then(pl.struct(value.alias(src.json_key)).struct.json_encode())
    return value


def sources_expr(sources: tuple[FieldSource, ...]) -> pl.Expr:
    exprs = [_source_expr(s) for s in sources]
    return exprs[0] if len(exprs) == 1 else pl.coalesce(exprs)


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _condition(rule: Rule) -> pl.Expr:
    when = rule.when
    cond = pl.lit(True)
    if "action" in when:
        cond &= pl.col("_action").is_in(_as_list(when["action"]))
    if "action_prefix" in when:
        prefixes = _as_list(when["action_prefix"])
        cond &= pl.any_horizontal([pl.col("_action").str.starts_with(p) for p in prefixes])
    if "action_regex" in when:
        cond &= pl.col("_action").str.contains(str(when["action_regex"]))
    if "outcome" in when:
        cond &= pl.col("_outcome_base") == when["outcome"]
    for path, regex in (when.get("fields") or {}).items():
        cond &= field_expr(path).str.contains(str(regex)).fill_null(False)
    for path in when.get("absent") or []:
        cond &= field_expr(path).is_null()
    if "differ" in when:
        left, right = (_source_expr(s) for s in when["differ"])
        cond &= (left.is_not_null() & right.is_not_null() & (left != right)).fill_null(False)
    return cond


def _chain(pairs: list[tuple[pl.Expr, pl.Expr]], otherwise: pl.Expr) -> pl.Expr:
    if not pairs:
        return otherwise
    expr = pl.when(pairs[0][0]).then(pairs[0][1])
    for cond, value in pairs[1:]:
        expr = expr.when(cond).then(value)  # type: ignore[assignment]
    return expr.otherwise(otherwise)


def _lookup(col: pl.Expr, table: dict[str, str], default: str) -> pl.Expr:
    """Case-insensitive value map; ``*`` maps any other present value."""
    lowered = {k.lower(): v for k, v in table.items() if k != "*"}
    present_default = table.get("*", default)
    mapped = col.str.to_lowercase().replace_strict(lowered, default=None, return_dtype=pl.String)
    return pl.when(col.is_null()).then(pl.lit(default)).otherwise(mapped.fill_null(pl.lit(present_default)))


def _timestamp_exprs(native: str) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(timestamp, naive?, odd?) from the text column ``_ts``."""
    ts = pl.col("_ts").str.strip_chars()
    is_epoch = ts.str.contains(r"^-?\d+(\.\d+)?$")
    number = ts.cast(pl.Float64, strict=False)
    magnitude = number.abs()
    micros = (
        pl.when(magnitude >= 1e14)
        .then(number)
        .when(magnitude >= 1e11)
        .then(number * 1_000)
        .otherwise(number * 1_000_000)
    )
    epoch_form = (
        pl.when(magnitude >= 1e14)
        .then(pl.lit("epoch_us"))
        .when(magnitude >= 1e11)
        .then(pl.lit("epoch_ms"))
        .otherwise(pl.lit("epoch_s"))
    )
    from_epoch = micros.round(0).cast(pl.Int64, strict=False).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    iso = ts.str.replace(r"^(\d{4}-\d{2}-\d{2})[ T]", "${1}T").str.replace(r"(?i)(\s*UTC|Z)$", "+00:00")
    has_zone = iso.str.contains(r"[+-]\d{2}:?\d{2}$")
    zoned = iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="us", time_zone="UTC")
    naive = iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us").dt.replace_time_zone("UTC")
    timestamp = pl.when(is_epoch).then(from_epoch).when(has_zone).then(zoned).otherwise(naive)
    is_naive = ~is_epoch & ~has_zone
    utc_offset = iso.str.contains(r"[+-]00:?00$")
    odd = (is_epoch | (has_zone & ~utc_offset)) if native == "iso" else (~is_epoch | (epoch_form != native))
    return timestamp, is_naive.fill_null(False), odd.fill_null(False)


class MappedRecords:
    """Events and quarantine rows from one file's records."""

    def __init__(self, events: pl.DataFrame, quarantine: pl.DataFrame, loaded_lines: int, quarantined_lines: int):
        self.events = events
        self.quarantine = quarantine
        self.loaded_lines = loaded_lines
        self.quarantined_lines = quarantined_lines


def _json_error(text: str) -> str:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"the record is not valid JSON ({exc.msg} at column {exc.colno})"
    except RecursionError:
        return "the record is JSON nested too deeply to read"
    return f"the record is JSON but a {type(value).__name__}, not an object"


def map_records(records: pl.DataFrame, fmap: FieldMap, path: str) -> MappedRecords:
    """Map record texts (columns text, line, offset, lines) to canonical events + quarantine."""
    f = fmap.fields
    lf = records.lazy().with_columns(_root=pl.col("text").str.json_path_match("$"))
    lf = lf.with_columns(_is_object=pl.col("_root").str.starts_with("{").fill_null(False))
    extract = {name: sources_expr(srcs).alias(f"_{name}") for name, srcs in f.items()}
    lf = lf.with_columns(
        extract["timestamp"].alias("_ts"),
        extract["action"].alias("_action"),
        *[e for name, e in extract.items() if name not in ("timestamp", "action")],
    )
    for name in fmap.transforms:
        lf = TRANSFORMS[name](lf, fmap)
    timestamp, is_naive, is_odd = _timestamp_exprs(fmap.timestamp_native)
    lf = lf.with_columns(_timestamp=timestamp, _naive=is_naive, _odd=is_odd)

    outcome = (
        _lookup(pl.col("_outcome"), dict(fmap.outcomes), fmap.outcome_default)
        if "outcome" in f
        else pl.lit(fmap.outcome_default)
    )
    if fmap.failure_if_present:
        present = pl.any_horizontal([field_expr(p).is_not_null() for p in fmap.failure_if_present])
        outcome = pl.when(present).then(pl.lit("failure")).otherwise(outcome)
    lf = lf.with_columns(_outcome_base=outcome)

    conds = [_condition(r) for r in fmap.event_types]
    lf = lf.with_columns([c.alias(f"_rule{i}") for i, c in enumerate(conds)])
    rule_cols = [pl.col(f"_rule{i}") for i in range(len(conds))]
    matched = pl.any_horizontal(rule_cols) if rule_cols else pl.lit(False)
    vendor_type = pl.lit(fmap.source + ".") + pl.col("_action")
    typed = [(c, pl.lit(r.event_type)) for c, r in zip(rule_cols, fmap.event_types, strict=True) if r.event_type]
    event_type = _chain(typed, vendor_type)
    outcomes = [(c, pl.lit(r.outcome)) for c, r in zip(rule_cols, fmap.event_types, strict=True) if r.outcome]
    outcome_final = _chain(outcomes, pl.col("_outcome_base"))
    cat_rules = [_condition(r) for r in fmap.categories]
    rule_category = [(c, pl.lit(r.category)) for c, r in zip(rule_cols, fmap.event_types, strict=True) if r.category]
    derived = (
        pl.col("event_type")
        .str.extract(r"^([a-z_]+)\.", 1)
        .replace_strict(_PREFIX_CATEGORY, default=None, return_dtype=pl.String)
    )
    fallback = _chain(
        [(c, pl.lit(r.category)) for c, r in zip(cat_rules, fmap.categories, strict=True)],
        pl.lit(fmap.default_category),
    )
    category = _chain(rule_category, pl.when(pl.col("_typed")).then(derived).otherwise(None).fill_null(fallback))

    set_columns: dict[str, list[tuple[pl.Expr, pl.Expr]]] = {}
    for c, r in zip(rule_cols, fmap.event_types, strict=True):
        for set_name, value in r.set.items():
            set_columns.setdefault(set_name, []).append((c, pl.lit(value)))

    lf = lf.with_columns(
        event_type=event_type,
        outcome=outcome_final,
        _typed=pl.any_horizontal([c for c, r in zip(rule_cols, fmap.event_types, strict=True) if r.event_type])
        if typed
        else pl.lit(False),
        _matched=matched,
    ).with_columns(category=category)

    extracted = set(lf.collect_schema().names())

    def column(name: str) -> pl.Expr:
        base = pl.col(f"_{name}") if f"_{name}" in extracted else pl.lit(None, dtype=pl.String)
        return _chain(set_columns[name], base) if name in set_columns else base

    actor_type = (
        _lookup(column("actor_type"), dict(fmap.actor_types), fmap.actor_type_default)
        if "_actor_type" in extracted or "actor_type" in set_columns
        else pl.lit(fmap.actor_type_default)
    )
    ip_text = (
        column("ip")
        .str.strip_chars()
        .str.replace(r"^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$", "${1}")
        .str.replace(r"^\[([0-9A-Fa-f:.%\w]+)\](?::\d{1,5})?$", "${1}")
    )
    flags = pl.concat_list(
        pl.when(pl.col("_naive")).then(pl.lit("naive_timestamp")),
        pl.when(pl.col("_odd")).then(pl.lit("odd_timestamp")),
        pl.when(~pl.col("_typed")).then(pl.lit("unknown_event_type")),
        pl.when(pl.col("_event_id").is_null() if "event_id" in f else pl.lit(True)).then(pl.lit("synthetic_id")),
    ).list.drop_nulls()
    reason = (
        pl.when(pl.col("_root").is_null())
        .then(pl.lit("__json__"))
        .when(~pl.col("_is_object"))
        .then(pl.lit("__json__"))
        .when(pl.col("_action").is_null())
        .then(pl.lit(f"the record has no action (looked in {_paths(f['action'])})"))
        .when(pl.col("_ts").is_null())
        .then(pl.lit(f"the record has no timestamp (looked in {_paths(f['timestamp'])})"))
        .when(pl.col("_timestamp").is_null())
        .then(pl.lit("the record's timestamp ") + pl.col("_ts").str.slice(0, 60) + pl.lit(" is not a date and time"))
    )
    lf = lf.with_columns(_why=reason)
    out = lf.select(
        event_id=pl.col("_event_id") if "event_id" in f else pl.lit(None, dtype=pl.String),
        timestamp=pl.col("_timestamp"),
        event_type=pl.col("event_type"),
        source_action=pl.col("_action"),
        category=pl.col("category"),
        outcome=pl.col("outcome"),
        actor_type=actor_type,
        **{name: column(name) for name in _TEXT_FIELDS},
        ip=pl.when(ip_text.str.contains(IP_PATTERN)).then(ip_text),
        source_address=pl.coalesce(column("source_address"), pl.when(~ip_text.str.contains(IP_PATTERN)).then(ip_text)),
        record_count=column("record_count").cast(pl.Float64, strict=False).cast(pl.Int64, strict=False),
        source=pl.lit(fmap.source),
        source_file=pl.lit(path),
        source_line=pl.col("line"),
        source_offset=pl.col("offset"),
        raw=pl.col("text"),
        flags=flags,
        _why=pl.col("_why"),
        _lines=pl.col("lines"),
    ).collect()

    good = out.filter(pl.col("_why").is_null())
    bad = out.filter(pl.col("_why").is_not_null())
    loaded_lines = int(good["_lines"].sum() or 0)
    quarantined_lines = int(bad["_lines"].sum() or 0)
    missing_id = good["event_id"].is_null()
    if missing_id.any():
        ids = [
            "sha256:" + hashlib.sha256(t.encode("utf-8")).hexdigest() if m else i
            for i, t, m in zip(good["event_id"], good["raw"], missing_id, strict=True)
        ]
        good = good.with_columns(event_id=pl.Series(ids, dtype=pl.String))
    reasons = [_json_error(t) if r == "__json__" else r for r, t in zip(bad["_why"], bad["raw"], strict=True)]
    quarantine = pl.DataFrame(
        {
            "source_file": [path] * bad.height,
            "source_line": bad["source_line"],
            "source_offset": bad["source_offset"],
            "format": [fmap.format] * bad.height,
            "reason": reasons,
            "raw": [t.encode("utf-8") for t in bad["raw"]],
        },
        schema=QUARANTINE_SCHEMA,
    )
    events = conform(good.drop("_why", "_lines")).collect()
    assert list(events.columns)[: len(EVENT_SCHEMA)] == list(EVENT_SCHEMA)
    return MappedRecords(events, quarantine, loaded_lines, quarantined_lines)


def _paths(sources: tuple[FieldSource, ...]) -> str:
    return ", ".join(s.path or f"const {s.const!r}" for s in sources)
