"""Rule logic compiled to Polars lazy plans.

Every logic kind reduces to the same three steps, so one burst is one finding
whatever the kind:

1. **rows** — the events the rule looks at (derived fields added, ``where`` applied,
   allow-listed actors/IPs removed), with the rule's group columns as text;
2. **anchors** — intervals ``[window_start, window_end]`` per group that satisfy the
   logic (a sliding window reaching the threshold, a success preceded by enough
   failures, a bucket above its own baseline, a matching event);
3. **bursts** — overlapping anchors of one group merged (``merge_within`` widens
   the gap that still counts as the same burst); every row of the group inside a
   burst is evidence, found with an as-of join, never a loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import polars as pl

from ..schema import EVENT_SCHEMA
from .conditions import compile_where, field_expr, field_kind
from .durations import is_duration, parse_duration
from .functions import derived_fields
from .problems import Problems
from .yamlsource import line_of

__all__ = ["KINDS", "CompiledRule", "compile_logic"]

_COMMON = {"kind", "derive", "group_by", "allowlists"}
SEVERITY_RANKS = ("informational", "low", "medium", "high", "critical")
KINDS: Mapping[str, dict[str, bool]] = {
    # key -> required
    "match": {"where": True, "merge_within": False, "value": False},
    "threshold": {"where": True, "window": True, "threshold": True, "threshold_by": False, "merge_within": False},
    "distinct": {
        "where": True,
        "window": True,
        "threshold": True,
        "threshold_by": False,
        "field": True,
        "merge_within": False,
    },
    "sequence": {"where": False, "first": True, "then": True, "window": True, "merge_within": False},
    "baseline": {
        "where": True,
        "value": True,
        "bucket": False,
        "aggregate": False,
        "history": True,
        "method": False,
        "k": False,
        "percentile": False,
        "min_history": False,
        "min_value": False,
    },
}
_AGGREGATES = ("sum", "count", "max", "mean")
_METHODS = ("mad", "percentile")
NULL_GROUP = "\x00"  # stands for a missing group value while grouping; shown as null


@dataclass
class CompiledRule:
    """A rule ready to run: its expressions and resolved parameters."""

    kind: str
    group_by: list[str]
    derive: list[str]
    allowlists: bool
    where: pl.Expr
    pre: pl.Expr = field(default_factory=lambda: pl.lit(True))
    window: timedelta | None = None
    threshold: int | None = None
    # group field -> {group value: threshold}: a different bar for some groups (e.g. unknown assignment)
    threshold_by: dict[str, dict[str, int]] = field(default_factory=dict)
    # (condition, severity rank, because) in order: the first that holds sets an evidence row's severity
    severity_when: list[tuple[pl.Expr, int, pl.Expr]] = field(default_factory=list)
    merge_within: timedelta = timedelta(0)
    distinct_field: str | None = None
    first: pl.Expr | None = None
    then: pl.Expr | None = None
    min_count: int = 1
    value: str | None = None
    bucket: timedelta | None = None
    aggregate: str = "sum"
    history: timedelta | None = None
    method: str = "mad"
    k: float = 3.0
    percentile: float = 0.99
    min_history: int = 5
    min_value: float = 0.0
    used_params: set[str] = field(default_factory=set)
    settings_keys: set[str] = field(default_factory=set)

    # ------------------------------------------------------------------ plan

    def rows(
        self, events: pl.LazyFrame, settings: Any, params: Mapping[str, Any], exclude: pl.Expr | None
    ) -> pl.LazyFrame:
        """Events this rule looks at, with derived fields and group keys as text."""
        # Conditions on ordinary columns narrow the rows first, so derived fields
        # (joins, time-zone conversions) are computed for the few rows that matter.
        lf = events if _always(self.pre) else events.filter(self.pre)
        registry = derived_fields()
        for name in self.derive:
            lf = registry[name].fn(lf, events, settings, params)
        keep = self.where
        if self.kind == "sequence":
            assert self.first is not None and self.then is not None
            lf = lf.with_columns(_is_a=self.first, _is_b=self.then)
            keep = keep & (pl.col("_is_a") | pl.col("_is_b"))
        if exclude is not None and self.allowlists:
            keep = keep & ~exclude
        if not _always(keep):
            # A filter that keeps every row is left out, not merely harmless: Polars then stops
            # pushing the conditions above down into the scan (config_change read every row).
            lf = lf.filter(keep)
        if self.severity_when:
            rank: Any = None
            why: Any = None
            for cond, level, because in self.severity_when:
                c = cond.fill_null(False)
                rank = pl.when(c).then(pl.lit(level)) if rank is None else rank.when(c).then(pl.lit(level))
                why = pl.when(c).then(because) if why is None else why.when(c).then(because)
            lf = lf.with_columns(
                rank.otherwise(pl.lit(None, pl.Int64)).cast(pl.Int64).alias("_sev"),
                why.otherwise(pl.lit(None, pl.String)).alias("_sev_why"),
            )
        else:
            lf = lf.with_columns(pl.lit(None, pl.Int64).alias("_sev"), pl.lit(None, pl.String).alias("_sev_why"))
        keys = [field_expr(g, _ALL_FIELDS).cast(pl.String).fill_null(NULL_GROUP).alias(_gcol(g)) for g in self.group_by]
        if not keys:
            keys = [
                pl.lit("all").alias("_g_all")
                if self.kind != "match" or self.merge_within
                else pl.col("event_id").alias("_g_event")
            ]
        return lf.with_columns(keys)

    def group_cols(self) -> list[str]:
        if self.group_by:
            return [_gcol(g) for g in self.group_by]
        return ["_g_all"] if self.kind != "match" or self.merge_within else ["_g_event"]

    def anchors(self, rows: pl.LazyFrame) -> pl.LazyFrame:
        """Intervals per group that satisfy the logic: group cols, window_start, window_end, metrics."""
        g = self.group_cols()
        ts = pl.col("timestamp")
        metrics_null = [pl.lit(None, pl.Float64).alias(m) for m in ("_value", "_baseline", "_limit")]
        if self.kind == "match":
            if self.value is not None:
                metrics_null[0] = field_expr(self.value, _ALL_FIELDS).cast(pl.Float64).alias("_value")
            return rows.select(*g, ts.alias("window_start"), ts.alias("window_end"), *metrics_null)
        if self.kind in ("threshold", "distinct"):
            assert self.window is not None and self.threshold is not None
            if self.kind == "threshold":
                measure = pl.len().cast(pl.Int64)
            else:
                assert self.distinct_field is not None
                measure = field_expr(self.distinct_field, _ALL_FIELDS).drop_nulls().n_unique().cast(pl.Int64)
            return (
                rows.sort([*g, "timestamp"])
                .rolling("timestamp", period=_pl_duration(self.window), group_by=g)
                .agg(measure.alias("_m"), ts.min().alias("window_start"))
                .filter(pl.col("_m") >= self._threshold_expr())
                .select(*g, "window_start", ts.alias("window_end"), *metrics_null)
            )
        if self.kind == "sequence":
            assert self.window is not None
            period = _pl_duration(self.window)
            return (
                rows.sort([*g, "timestamp"])
                .with_columns(
                    _n_a=pl.col("_is_a").cast(pl.Int64).rolling_sum_by("timestamp", period).over(g),
                    _first_a=pl.when("_is_a").then(ts).rolling_min_by("timestamp", period).over(g),
                )
                .filter(pl.col("_is_b") & (pl.col("_n_a") >= self.min_count))
                .select(*g, pl.col("_first_a").alias("window_start"), ts.alias("window_end"), *metrics_null)
            )
        return self._baseline_anchors(rows, g)

    def _threshold_expr(self) -> pl.Expr:
        """The threshold for each group: the rule's, or the one ``threshold_by`` sets for its value."""
        expr: Any = None
        for group_field, by_value in self.threshold_by.items():
            for value, limit in by_value.items():
                cond = pl.col(_gcol(group_field)) == value
                expr = pl.when(cond).then(pl.lit(limit)) if expr is None else expr.when(cond).then(pl.lit(limit))
        return pl.lit(self.threshold) if expr is None else expr.otherwise(pl.lit(self.threshold))

    def _baseline_anchors(self, rows: pl.LazyFrame, g: list[str]) -> pl.LazyFrame:
        assert self.history is not None and self.value is not None
        ts = pl.col("timestamp")
        value = pl.lit(1.0) if self.value == "count" else field_expr(self.value, _ALL_FIELDS).cast(pl.Float64)
        if self.bucket is not None:
            agg = {
                "sum": pl.col("_v").sum(),
                "count": pl.len().cast(pl.Float64),
                "max": pl.col("_v").max(),
                "mean": pl.col("_v").mean(),
            }[self.aggregate]
            series = (
                rows.with_columns(_v=value, _bucket=ts.dt.truncate(_pl_duration(self.bucket)))
                .group_by([*g, "_bucket"])
                .agg(agg.alias("_v"))
                .select(*g, pl.col("_bucket").alias("timestamp"), "_v")
            )
            span = self.bucket - timedelta(microseconds=1)
        else:
            series = rows.select(*g, "timestamp", value.alias("_v"))
            span = timedelta(0)
        v = pl.col("_v")
        if self.method == "mad":
            baseline = v.median()
            spread = (v - v.median()).abs().median() * 1.4826
            stats = [baseline.alias("_baseline"), spread.alias("_spread")]
        else:
            stats = [v.quantile(self.percentile, "linear").alias("_baseline"), pl.lit(0.0).alias("_spread")]
        history = (
            series.sort([*g, "timestamp"])
            .rolling("timestamp", period=_pl_duration(self.history), closed="left", group_by=g)
            .agg(pl.len().alias("_n_hist"), *stats)
            .unique([*g, "timestamp"])
        )
        limit = pl.col("_baseline") + self.k * pl.col("_spread") if self.method == "mad" else pl.col("_baseline")
        return (
            series.join(history, on=[*g, "timestamp"], how="left")
            .with_columns(_limit=limit)
            .filter(
                (pl.col("_n_hist") >= self.min_history)
                & (pl.col("_v") >= self.min_value)
                & (pl.col("_v") > pl.col("_limit"))
            )
            .select(
                *g,
                ts.alias("window_start"),
                (ts + span).alias("window_end"),
                pl.col("_v").alias("_value"),
                pl.col("_baseline").cast(pl.Float64),
                pl.col("_limit").cast(pl.Float64),
            )
        )

    def bursts(self, anchors: pl.LazyFrame) -> pl.LazyFrame:
        """Merge overlapping (or within ``merge_within``) anchors of a group into one burst each."""
        g = self.group_cols()
        gap = self.merge_within
        return (
            anchors.sort([*g, "window_start", "window_end"])
            .with_columns(_prev_end=pl.col("window_end").cum_max().shift(1).over(g))
            .with_columns(_new=pl.col("_prev_end").is_null() | (pl.col("window_start") > pl.col("_prev_end") + gap))
            .with_columns(_burst=pl.col("_new").cum_sum())
            .group_by([*g, "_burst"])
            .agg(
                pl.col("window_start").min().alias("_b_start"),
                pl.col("window_end").max().alias("_b_end"),
                pl.col("_value").max(),
                pl.col("_baseline").first(),
                pl.col("_limit").first(),
            )
        )

    def evidence(self, rows: pl.LazyFrame, bursts: pl.LazyFrame) -> pl.LazyFrame:
        """Every row of a group inside one of its bursts, aggregated into one finding per burst."""
        g = self.group_cols()
        joined = (
            rows.sort("timestamp")
            .join_asof(
                bursts.sort("_b_start"),
                left_on="timestamp",
                right_on="_b_start",
                by=g,
                strategy="backward",
                check_sortedness=False,
            )
            .filter(pl.col("_burst").is_not_null() & (pl.col("timestamp") <= pl.col("_b_end")))
        )
        order = ["timestamp", "event_id"]
        aggs = [
            pl.col("event_id").sort_by(order).alias("event_ids"),
            pl.len().cast(pl.Int64).alias("count"),
            pl.col("timestamp").min().alias("window_start"),
            pl.col("timestamp").max().alias("window_end"),
            pl.col("event_id").sort_by(order).first().alias("_first_event_id"),
            pl.col("_value").first(),
            pl.col("_baseline").first(),
            pl.col("_limit").first(),
            pl.col("_sev").max().alias("_sev"),
            pl.col("_sev_why").sort_by("_sev", descending=True, nulls_last=True).first().alias("_sev_why"),
        ]
        if self.kind == "distinct" and self.distinct_field is not None:
            aggs.append(
                field_expr(self.distinct_field, _ALL_FIELDS).drop_nulls().n_unique().cast(pl.Int64).alias("distinct")
            )
        else:
            aggs.append(pl.lit(None, pl.Int64).alias("distinct"))
        if self.kind == "baseline":
            # A bucket's window is the bucket; report it, not the first/last event inside.
            aggs[2] = pl.col("_b_start").min().alias("window_start")
            aggs[3] = pl.col("_b_end").max().alias("window_end")
        return joined.group_by([*g, "_burst"]).agg(aggs)


def _because_expr(
    text: str, fields: Mapping[str, pl.DataType], file: str, line: int | None, problems: Problems
) -> pl.Expr:
    """A ``because`` text as an expression; ``{field}`` is the row's value of that field."""
    import string

    parts: list[pl.Expr] = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        problems.add(file, line, f"'because' is not a valid template: {exc}")
        return pl.lit(text)
    for literal, name, _, _ in parsed:
        if literal:
            parts.append(pl.lit(literal))
        if name is None:
            continue
        if field_kind(name, fields) is None:
            problems.add(file, line, f"'because' uses unknown field {{{name}}}")
            continue
        parts.append(field_expr(name, _ALL_FIELDS).cast(pl.String).fill_null("-"))
    return pl.concat_str(parts) if parts else pl.lit("")


def _base_only(node: Any, derived: set[str]) -> bool:
    """True when a condition uses no derived field (so it can run before the derivations)."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in ("all", "any", "not"):
                if not _base_only(value, derived):
                    return False
            elif key in derived or (
                isinstance(value, Mapping)
                and any(op in ("eq_field", "ne_field") and value[op] in derived for op in value)
            ):
                return False
        return True
    if isinstance(node, list):
        return all(_base_only(item, derived) for item in node)
    return True


def _split_where(
    where: Any, fields: Mapping[str, pl.DataType], params: Mapping[str, Any], derive: list[str]
) -> tuple[pl.Expr, pl.Expr]:
    """``where`` as (conditions on ordinary columns, conditions on derived fields)."""
    if not isinstance(where, Mapping) or not where:
        return pl.lit(True), pl.lit(True)
    derived = {c for name in derive for c in derived_fields()[name].columns}
    pre = {k: v for k, v in where.items() if _base_only({k: v}, derived)}
    post = {k: v for k, v in where.items() if k not in pre}
    scratch = Problems()  # already validated as a whole

    def compile_one(block: Mapping[str, Any]) -> pl.Expr:
        if not block:
            return pl.lit(True)
        return compile_where(block, file="", fields=fields, params=params, problems=scratch)

    return compile_one(pre), compile_one(post)


def _always(expr: pl.Expr) -> bool:
    """The condition is the literal ``True`` (no condition at all)."""
    return expr.meta.eq(pl.lit(True))


def _gcol(name: str) -> str:
    return f"_g_{name}"


def _pl_duration(delta: timedelta) -> str:
    return f"{int(delta.total_seconds())}s"


# Only the dtype of enum columns matters to field_expr, and derived fields are never enums.
_ALL_FIELDS: Mapping[str, pl.DataType] = EVENT_SCHEMA


def known_fields(derive: list[str]) -> dict[str, pl.DataType]:
    """Event columns plus the columns of the given derived-field functions."""
    registry = derived_fields()
    fields: dict[str, pl.DataType] = dict(EVENT_SCHEMA)
    for name in derive:
        if name in registry:
            fields.update(registry[name].columns)
    return fields


def compile_logic(
    logic: Any,
    *,
    file: str,
    params: Mapping[str, Any],
    problems: Problems,
    line: int | None,
    severity_when: Any = None,
) -> CompiledRule | None:
    """Validate and compile a ``logic:`` block; every problem goes to ``problems`` with its line."""
    if not isinstance(logic, Mapping):
        problems.add(file, line, "'logic' must be a mapping with a 'kind'")
        return None
    before = len(problems)
    kind = str(logic.get("kind"))
    if kind not in KINDS:
        problems.add(
            file, line_of(logic, "kind"), f"unknown logic kind {logic.get('kind')!r}; use one of {', '.join(KINDS)}"
        )
        return None
    spec = KINDS[kind]
    for key in logic:
        if key not in spec and key not in _COMMON:
            problems.add(
                file,
                line_of(logic, key),
                f"unknown key {key!r} in {kind} logic; allowed: {', '.join(sorted(set(spec) | _COMMON))}",
            )
    for key, required in spec.items():
        if required and key not in logic:
            problems.add(file, line_of(logic), f"{kind} logic needs {key!r}")

    used: set[str] = set()

    def resolve(key: str, value: Any) -> Any:
        if isinstance(value, str) and value.startswith("$"):
            name = value[1:]
            if name not in params:
                problems.add(
                    file, line_of(logic, key), f"unknown parameter reference {value!r}; declare it under 'parameters:'"
                )
                return None
            used.add(name)
            return params[name]
        return value

    def duration(key: str, container: Mapping[str, Any] = logic) -> timedelta | None:
        if key not in container:
            return None
        value = resolve(key, container[key])
        if not is_duration(value):
            problems.add(
                file, line_of(container, key), f"{key!r} must be a duration like 30s, 10m, 1h, 7d or 2w, not {value!r}"
            )
            return None
        return parse_duration(value)

    def number(
        key: str, *, integer: bool, minimum: float, maximum: float | None = None, container: Mapping[str, Any] = logic
    ) -> Any:
        if key not in container:
            return None
        value = resolve(key, container[key])
        ok = isinstance(value, int if integer else int | float) and not isinstance(value, bool)
        if not ok or value < minimum or (maximum is not None and value > maximum):
            what = "an integer" if integer else "a number"
            bound = f" between {minimum} and {maximum}" if maximum is not None else f" of at least {minimum}"
            problems.add(file, line_of(container, key), f"{key!r} must be {what}{bound}, not {value!r}")
            return None
        return value

    derive = logic.get("derive", [])
    registry = derived_fields()
    if not isinstance(derive, list) or not all(isinstance(d, str) for d in derive):
        problems.add(file, line_of(logic, "derive"), "'derive' must be a list of registered function names")
        derive = []
    for i, name in enumerate(derive):
        if name not in registry:
            problems.add(
                file,
                line_of(derive, i),
                f"unknown derived-field function {name!r}; registered: {', '.join(sorted(registry))}",
            )
            continue
        for needed in registry[name].parameters:
            if needed not in params:
                problems.add(
                    file,
                    line_of(derive, i),
                    f"function {name!r} needs rule parameter {needed!r}; declare it under 'parameters:'",
                )
            used.add(needed)
    derive = [d for d in derive if d in registry]
    fields = known_fields(derive)

    group_by = logic.get("group_by", [])
    if not isinstance(group_by, list) or not all(isinstance(g, str) for g in group_by):
        problems.add(file, line_of(logic, "group_by"), "'group_by' must be a list of field names")
        group_by = []
    for i, g in enumerate(group_by):
        if field_kind(g, fields) in (None, "list"):
            problems.add(file, line_of(group_by, i), f"cannot group by {g!r}: unknown field or a list field")
    allowlists = logic.get("allowlists", True)
    if not isinstance(allowlists, bool):
        problems.add(file, line_of(logic, "allowlists"), "'allowlists' must be true or false")
        allowlists = True

    def where(block: Any, optional: bool = False) -> pl.Expr:
        if block is None and optional:
            return pl.lit(True)
        return compile_where(block, file=file, fields=fields, params=params, problems=problems, used_params=used)

    rule = CompiledRule(
        kind=kind,
        group_by=list(group_by),
        derive=list(derive),
        allowlists=allowlists,
        where=where(logic.get("where"), optional=kind == "sequence"),
    )
    rule.pre, rule.where = _split_where(logic.get("where"), fields, params, derive)
    rule.window = duration("window")
    rule.merge_within = duration("merge_within") or timedelta(0)
    if kind in ("threshold", "distinct"):
        rule.threshold = number("threshold", integer=True, minimum=1)
        by = logic.get("threshold_by")
        if by is not None:
            if not isinstance(by, Mapping) or not all(isinstance(v, Mapping) for v in by.values()):
                problems.add(
                    file,
                    line_of(logic, "threshold_by"),
                    "'threshold_by' must map a group_by field to {value: threshold}",
                )
            else:
                for group_field, values in by.items():
                    if group_field not in group_by:
                        problems.add(
                            file, line_of(by, group_field), f"'threshold_by' field {group_field!r} is not in group_by"
                        )
                        continue
                    limits: dict[str, int] = {}
                    for value in values:
                        limit = number(str(value), integer=True, minimum=1, container=values)
                        if limit is not None:
                            limits[str(value)] = int(limit)
                    rule.threshold_by[str(group_field)] = limits
    if kind == "distinct":
        f = logic.get("field")
        if not isinstance(f, str) or field_kind(f, fields) in (None, "list"):
            problems.add(
                file, line_of(logic, "field"), f"'field' must name a field to count distinct values of, not {f!r}"
            )
        rule.distinct_field = f if isinstance(f, str) else None
    if kind == "sequence":
        for step in ("first", "then"):
            block = logic.get(step)
            if not isinstance(block, Mapping) or "where" not in block:
                problems.add(file, line_of(logic, step), f"sequence {step!r} must be a mapping with 'where'")
                continue
            allowed = {"where", "min_count"} if step == "first" else {"where"}
            for key in block:
                if key not in allowed:
                    problems.add(
                        file,
                        line_of(block, key),
                        f"unknown key {key!r} in sequence {step!r}; allowed: {', '.join(sorted(allowed))}",
                    )
            setattr(rule, step, where(block["where"]))
            if step == "first" and "min_count" in block:
                rule.min_count = number("min_count", integer=True, minimum=1, container=block) or 1
    if kind == "match" and "value" in logic:
        value = logic["value"]
        if not isinstance(value, str) or field_kind(value, fields) != "num":
            problems.add(file, line_of(logic, "value"), f"'value' must be a numeric field to report, not {value!r}")
        rule.value = value if isinstance(value, str) else None
    if kind == "baseline":
        value = logic.get("value")
        if value != "count" and (not isinstance(value, str) or field_kind(value, fields) != "num"):
            problems.add(file, line_of(logic, "value"), f"'value' must be a numeric field or 'count', not {value!r}")
        rule.value = value if isinstance(value, str) else None
        rule.bucket = duration("bucket")
        rule.history = duration("history")
        aggregate = resolve("aggregate", logic.get("aggregate", "sum"))
        if aggregate not in _AGGREGATES:
            problems.add(
                file,
                line_of(logic, "aggregate"),
                f"'aggregate' must be one of {', '.join(_AGGREGATES)}, not {aggregate!r}",
            )
        elif "aggregate" in logic and rule.bucket is None:
            problems.add(file, line_of(logic, "aggregate"), "'aggregate' needs a 'bucket' to aggregate over")
        rule.aggregate = aggregate if aggregate in _AGGREGATES else "sum"
        method = resolve("method", logic.get("method", "mad"))
        if method not in _METHODS:
            problems.add(
                file, line_of(logic, "method"), f"'method' must be one of {', '.join(_METHODS)}, not {method!r}"
            )
        rule.method = method if method in _METHODS else "mad"
        rule.k = float(number("k", integer=False, minimum=0) or 3.0)
        rule.percentile = float(number("percentile", integer=False, minimum=0.5, maximum=1.0) or 0.99)
        rule.min_history = int(number("min_history", integer=True, minimum=1) or 5)
        rule.min_value = float(number("min_value", integer=False, minimum=0) or 0.0)
    if kind == "sequence" and not derive and rule.first is not None and rule.then is not None:
        rule.pre = rule.pre & (rule.first | rule.then)
    if severity_when is not None:
        if not isinstance(severity_when, list):
            problems.add(file, line, "'severity_when' must be a list of {where, severity, because}")
        else:
            for i, entry in enumerate(severity_when):
                where_line = line_of(severity_when, i)
                if (
                    not isinstance(entry, Mapping)
                    or set(entry) - {"where", "severity", "because"}
                    or "where" not in entry
                ):
                    problems.add(file, where_line, "each 'severity_when' entry needs 'where', 'severity' and 'because'")
                    continue
                level = entry.get("severity")
                because = entry.get("because")
                if level not in SEVERITY_RANKS:
                    problems.add(
                        file, where_line, f"'severity' must be one of {', '.join(SEVERITY_RANKS)}, not {level!r}"
                    )
                    continue
                if not isinstance(because, str) or not because.strip():
                    problems.add(file, where_line, "'because' must say in words why this severity applies")
                    continue
                text = _because_expr(because.strip(), fields, file, where_line, problems)
                rule.severity_when.append((where(entry["where"]), SEVERITY_RANKS.index(level), text))
    rule.used_params = used
    rule.settings_keys = {key for name in derive for key in registry[name].settings_keys}
    if len(problems) > before:
        return None
    return rule
