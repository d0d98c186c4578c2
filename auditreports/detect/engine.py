"""Running rules over canonical events: :func:`detect`, :class:`Findings`, :func:`sensitivity`.

Each rule becomes one lazy plan over the events. A lazy input (a store, a load) is
narrowed to the columns the rules read (:func:`_needed_columns`) and never collected:
the plans run one after another on Polars' streaming engine, each reading the input
itself, so one rule's rows are held at a time, not the log. A DataFrame input is
already held: its plans run together (``pl.collect_all``), sharing the work.

A finding is one burst: its id is a hash of rule id, group and first evidence event,
so the same data gives the same ids on every run and machine.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import ConfigError, UsageError
from ..schema import EVENT_SCHEMA, FINDINGS_SCHEMA, SEVERITIES, conform
from .compiler import NULL_GROUP, CompiledRule
from .rules import Rule, load_rules
from .settings import DetectionSettings

__all__ = ["FINDINGS_SCHEMA", "Findings", "detect", "sensitivity"]

# FINDINGS_SCHEMA is defined once, beside the canonical event (auditreports.schema).


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Findings:
    """The findings of one detection run.

    ``frame`` has :data:`FINDINGS_SCHEMA` (one row per finding, most severe first,
    then by time); ``rules`` are the rules that ran; ``events_scanned`` how many
    events they ran over.
    """

    frame: pl.DataFrame
    rules: tuple[Rule, ...]
    settings: DetectionSettings
    events_scanned: int

    def __len__(self) -> int:
        return self.frame.height

    def to_dicts(self) -> list[dict[str, Any]]:
        """Findings as plain dicts (the ``findings`` of ``detect --json``), timestamps as ISO 8601 UTC."""
        out = []
        for row in self.frame.iter_rows(named=True):
            row["group"] = json.loads(row["group"])
            row["parameters"] = json.loads(row["parameters"])
            row["window_start"] = _iso(row["window_start"])
            row["window_end"] = _iso(row["window_end"])
            out.append(row)
        return out

    def to_json(self, *, indent: int | None = 2) -> str:
        """One JSON document: findings, the rules that ran and how many events they saw."""
        document = {
            "findings": self.to_dicts(),
            "rules": [
                {
                    "id": r.id,
                    "name": r.name,
                    "title": r.title,
                    "severity": r.severity,
                    "kind": r.kind,
                    "why_it_matters": r.why_it_matters,
                    "what_to_check": r.what_to_check,
                }
                for r in self.rules
            ],
            "events_scanned": self.events_scanned,
        }
        return json.dumps(document, indent=indent, ensure_ascii=False)

    def by_rule(self) -> pl.DataFrame:
        """How many findings and evidence events each rule produced (rules with none included)."""
        counts = self.frame.group_by("rule_name").agg(pl.len().alias("findings"), pl.col("count").sum().alias("events"))
        names = pl.DataFrame({"rule_name": [r.name for r in self.rules]})
        return names.join(counts, on="rule_name", how="left").with_columns(
            pl.col("findings").fill_null(0), pl.col("events").fill_null(0)
        )


def _canonical(events: Any) -> pl.DataFrame:
    """The events as one in-memory canonical frame (no copy when they already are one)."""
    if isinstance(events, pl.DataFrame) and events.schema == pl.Schema(EVENT_SCHEMA):
        return events
    return _as_lazy(events).collect()


def _as_lazy(events: Any) -> pl.LazyFrame:
    inner = getattr(events, "events", None)  # a LoadResult or Store
    if inner is not None and not isinstance(events, pl.DataFrame | pl.LazyFrame):
        events = inner
    if not isinstance(events, pl.DataFrame | pl.LazyFrame):
        raise UsageError(
            f"detect() needs canonical events as a Polars DataFrame or LazyFrame, not {type(events).__name__}."
        )
    return conform(events)


def _settings(settings: DetectionSettings | Mapping[str, Any] | None) -> DetectionSettings:
    if settings is None:
        return DetectionSettings()
    if isinstance(settings, DetectionSettings):
        return settings
    if isinstance(settings, Mapping):
        return DetectionSettings.from_mapping(settings)
    raise UsageError(f"settings must be DetectionSettings or a mapping, not {type(settings).__name__}.")


def _select_rules(all_rules: list[Rule], rules: Iterable[str | Rule] | None, settings: DetectionSettings) -> list[Rule]:
    by_name = {r.name: r for r in all_rules}
    for name in [*settings.rules, *settings.disabled_rules]:
        if name not in by_name:
            raise ConfigError(
                f"detection settings name rule {name!r}, which does not exist; known rules: {', '.join(sorted(by_name))}."
            )
    if rules is None:
        chosen = list(all_rules)
    else:
        chosen = []
        for item in rules:
            if isinstance(item, Rule):
                chosen.append(item)
            elif item in by_name:
                chosen.append(by_name[item])
            else:
                raise UsageError(f"unknown rule {item!r}; known rules: {', '.join(sorted(by_name))}.")
    return [r for r in chosen if r.name not in settings.disabled_rules]


def _exclusion(events: pl.DataFrame | pl.LazyFrame, settings: DetectionSettings) -> pl.Expr | None:
    """Rows from allow-listed IPs, service accounts or API keys."""
    parts = []
    if settings.allow_ips:
        networks = [ipaddress.ip_network(n, strict=False) for n in settings.allow_ips]
        allowed = []
        distinct = events.lazy().select(pl.col("ip").drop_nulls().unique()).collect(engine="streaming")
        for text in distinct.to_series().to_list():  # distinct IPs, not rows
            try:
                address = ipaddress.ip_address(text)
            except ValueError:
                continue
            if any(address in net for net in networks):
                allowed.append(text)
        parts.append(pl.col("ip").is_in(allowed))
    actors = [*settings.service_accounts, *settings.allow_api_keys]
    if actors:
        parts.append(pl.col("actor_id").is_in(actors))
    if not parts:
        return None
    return pl.any_horizontal(parts).fill_null(False)


def _text(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.String).fill_null("-")


def _number_text(expr: pl.Expr) -> pl.Expr:
    integral = expr.round(0) == expr
    return (
        pl.when(integral)
        .then(expr.cast(pl.Int64).cast(pl.String))
        .otherwise(expr.round(1).cast(pl.String))
        .fill_null("-")
    )


def _summary_expr(template: str, compiled: CompiledRule, params: Mapping[str, Any]) -> pl.Expr:
    """The rule's one-line summary template as one string expression per finding."""
    exprs: list[pl.Expr] = []
    for literal, name, _, _ in string.Formatter().parse(template):
        if literal:
            exprs.append(pl.lit(literal))
        if name is None:
            continue
        if name in compiled.group_by:
            col = pl.col(f"_g_{name}")
            exprs.append(pl.when(col == NULL_GROUP).then(pl.lit("-")).otherwise(col))
        elif name in ("count", "distinct"):
            exprs.append(_text(pl.col(name)))
        elif name in ("value", "baseline", "limit"):
            exprs.append(_number_text(pl.col(f"_{name}")))
        elif name in ("window_start", "window_end"):
            exprs.append(pl.col(name).dt.strftime("%Y-%m-%d %H:%M UTC"))
        else:
            exprs.append(pl.lit(str(params[name])))
    return pl.concat_str(exprs) if exprs else pl.lit("")


def _parameters_json(rule: Rule, compiled: CompiledRule, params: Mapping[str, Any], settings: DetectionSettings) -> str:
    used: dict[str, Any] = dict(params)
    as_dict = settings.to_dict()
    for key in sorted(compiled.settings_keys):
        used[key] = as_dict[key]
    if compiled.allowlists:
        for key in ("allow_ips", "service_accounts", "allow_api_keys"):
            if as_dict[key]:
                used[key] = as_dict[key]
    return json.dumps(used, sort_keys=True, ensure_ascii=False)


def _plan(
    rule: Rule,
    compiled: CompiledRule,
    params: Mapping[str, Any],
    events: pl.LazyFrame,
    settings: DetectionSettings,
    exclude: pl.Expr | None,
) -> pl.LazyFrame:
    rows = compiled.rows(events, settings, params, exclude).cache()
    bursts = compiled.bursts(compiled.anchors(rows))
    found = compiled.evidence(rows, bursts)
    group_fields = [
        pl.when(pl.col(f"_g_{g}") == NULL_GROUP).then(None).otherwise(pl.col(f"_g_{g}")).alias(g)
        for g in compiled.group_by
    ]
    group_json = pl.struct(group_fields).struct.json_encode() if group_fields else pl.lit("{}")
    return found.select(
        pl.lit(rule.id).alias("rule_id"),
        pl.lit(rule.name).alias("rule_name"),
        pl.coalesce(
            pl.col("_sev").replace_strict(dict(enumerate(SEVERITIES)), default=None, return_dtype=pl.String),
            pl.lit(rule.severity),
        )
        .cast(FINDINGS_SCHEMA["severity"])
        .alias("severity"),
        pl.lit(rule.title).alias("title"),
        pl.concat_str(
            _summary_expr(rule.summary, compiled, params),
            pl.when(pl.col("_sev_why").is_not_null())
            .then(pl.concat_str(pl.lit(" — "), pl.col("_sev_why")))
            .otherwise(pl.lit("")),
        ).alias("summary"),
        group_json.alias("group"),
        pl.col("window_start"),
        pl.col("window_end"),
        pl.col("count"),
        pl.col("event_ids"),
        pl.lit(_parameters_json(rule, compiled, params, settings)).alias("parameters"),
        pl.col("_first_event_id"),
    )


def _calibrated(frame: pl.DataFrame, settings: DetectionSettings) -> pl.DataFrame:
    """The organisation's severity calibration (``detection.severity``) applied to the findings.

    A ``by_<field>`` entry matching the finding's group value wins, then the rule's
    ``default``; otherwise the rule's own (content-aware) severity stands.
    """
    if not settings.severity or frame.is_empty():
        return frame
    level: Any = None
    for rule_name, override in settings.severity.items():
        of_rule = pl.col("rule_name") == rule_name
        for group_field, values in override.by.items():
            value = pl.col("group").str.json_path_match(f"$.{group_field}")
            for group_value, severity in values.items():
                cond = of_rule & (value == group_value).fill_null(False)
                level = (
                    pl.when(cond).then(pl.lit(severity)) if level is None else level.when(cond).then(pl.lit(severity))
                )
        if override.default is not None:
            level = (
                pl.when(of_rule).then(pl.lit(override.default))
                if level is None
                else level.when(of_rule).then(pl.lit(override.default))
            )
    if level is None:
        return frame
    return frame.with_columns(
        level.otherwise(pl.col("severity").cast(pl.String)).cast(FINDINGS_SCHEMA["severity"]).alias("severity")
    ).sort(["severity", "window_start", "rule_name", "finding_id"], descending=[True, False, False, False])


def _check_severity_settings(chosen: Sequence[Rule], all_rules: Sequence[Rule], settings: DetectionSettings) -> None:
    by_name = {r.name: r for r in all_rules}
    for rule_name, override in settings.severity.items():
        rule = by_name.get(rule_name)
        if rule is None:
            raise ConfigError(
                f"detection.severity names rule {rule_name!r}, which does not exist; known rules: {', '.join(sorted(by_name))}."
            )
        group_by = list(rule.logic.get("group_by") or [])
        for group_field in override.by:
            if group_field not in group_by:
                raise ConfigError(
                    f"detection.severity.{rule_name}.by_{group_field}: the rule's findings are grouped by "
                    f"{', '.join(group_by) or 'nothing'}, not {group_field!r}; use one of those fields."
                )


def _finish(frames: Sequence[pl.DataFrame]) -> pl.DataFrame:
    schema = {k: v for k, v in FINDINGS_SCHEMA.items() if k != "finding_id"} | {"_first_event_id": pl.String()}
    empty = pl.DataFrame(schema=schema)
    frame = pl.concat([empty, *[f.select(list(schema)) for f in frames]], how="vertical_relaxed")
    # A stable id: sha256 over rule id, group and first evidence event (one hash per finding, not per event).
    keys = frame.select(pl.concat_str(["rule_id", "group", "_first_event_id"], separator="\x1f")).to_series().to_list()
    ids = [hashlib.sha256(k.encode("utf-8")).hexdigest()[:24] for k in keys]
    return (
        frame.with_columns(pl.Series("finding_id", ids, dtype=pl.String))
        .select(list(FINDINGS_SCHEMA))
        .sort(["severity", "window_start", "rule_name", "finding_id"], descending=[True, False, False, False])
    )


def _prepare(events: Any, settings: Any) -> tuple[pl.DataFrame, DetectionSettings]:
    return _canonical(events), _settings(settings)


# Read whatever the rules say: the allow-lists, and what a finding counts and names.
_ALWAYS = ("event_id", "timestamp", "ip", "actor_id")


def _needed_columns(
    compiled: Sequence[tuple[Rule, CompiledRule, Mapping[str, Any]]], settings: DetectionSettings
) -> list[str]:
    """The event columns the rules' plans read: with these alone, every plan resolves.

    Each plan's schema is resolved over the columns found so far; the column Polars says
    is missing is added and the plan tried again, so a rule, built-in or an organisation's,
    never runs over a frame missing a column it reads. Should an error not name a
    canonical column, each column is tried on its own instead (slower, same answer).
    """
    names = list(EVENT_SCHEMA)
    have = [c for c in names if c in _ALWAYS]
    for rule, comp, params in compiled:
        while True:
            probe = pl.LazyFrame(schema={c: EVENT_SCHEMA[c] for c in names if c in have})
            try:
                _plan(rule, comp, params, probe, settings, None).collect_schema()
                break
            except pl.exceptions.ColumnNotFoundError as exc:
                missing = re.search(r'"([^"]+)"', str(exc))
                if missing is None or missing.group(1) not in EVENT_SCHEMA or missing.group(1) in have:
                    return _needed_one_by_one(compiled, settings)
                have.append(missing.group(1))
    return [c for c in names if c in have]


def _needed_one_by_one(
    compiled: Sequence[tuple[Rule, CompiledRule, Mapping[str, Any]]], settings: DetectionSettings
) -> list[str]:
    """:func:`_needed_columns` by leaving out one column at a time."""
    names = list(EVENT_SCHEMA)
    needed = []
    for name in names:
        if name in _ALWAYS:
            needed.append(name)
            continue
        probe = pl.LazyFrame(schema={c: EVENT_SCHEMA[c] for c in names if c != name})
        try:
            for rule, comp, params in compiled:
                _plan(rule, comp, params, probe, settings, None).collect_schema()
        except pl.exceptions.ColumnNotFoundError:
            needed.append(name)
    return needed


def detect(
    events: Any,
    *,
    rules: Iterable[str | Rule] | None = None,
    settings: DetectionSettings | Mapping[str, Any] | None = None,
    rules_dirs: Iterable[str | Path] = (),
) -> Findings:
    """Run detection rules over canonical events and return their findings.

    ``rules`` restricts the run to these rule names (or Rule objects); by default
    every built-in rule plus every rule in ``rules_dirs`` runs, minus
    ``settings.disabled_rules``. ``settings`` is a :class:`DetectionSettings` or the
    mapping of a ``detection:`` section.

    A lazy ``events`` is read once per rule (that is what keeps memory to one rule's
    rows): a store's scan or a loaded frame is cheap to read again; a plan that is costly
    to evaluate (parsing files, say) is better collected first and passed as a DataFrame.
    """
    resolved = _settings(settings)
    all_rules = load_rules(rules_dirs)
    chosen = _select_rules(all_rules, rules, resolved)
    _check_severity_settings(chosen, all_rules, resolved)
    compiled = [(rule, *rule.compile(resolved.rules.get(rule.name))) for rule in chosen]
    if isinstance(events, pl.DataFrame):
        # Already held: every plan runs over it together, sharing the work.
        frame = _canonical(events)
        exclude = _exclusion(frame, resolved)
        lf = frame.lazy()
        plans = [_plan(rule, comp, params, lf, resolved, exclude) for rule, comp, params in compiled]
        return Findings(
            _calibrated(_finish(pl.collect_all(plans) if plans else []), resolved),
            tuple(chosen),
            resolved,
            frame.height,
        )
    # A lazy input (a store, a load) is never collected whole. Each rule's plan reads the
    # input itself, one rule after another, on Polars' streaming engine: a scan reads only
    # the columns that rule reads and keeps only the rows its conditions keep, so what is
    # held at once is one rule's rows, not the log. The input is the same columns the rules
    # read together (:func:`_needed_columns`), so each plan sees the frame it saw when the
    # log was collected first, and finds the same.
    lf = _as_lazy(events).select(_needed_columns(compiled, resolved))
    exclude = _exclusion(lf, resolved)
    results = [
        _plan(rule, comp, params, lf, resolved, exclude).collect(engine="streaming") for rule, comp, params in compiled
    ]
    scanned = lf.select(pl.len()).collect(engine="streaming").item()
    return Findings(_calibrated(_finish(results), resolved), tuple(chosen), resolved, scanned)


def _tuned_parameter(rule: Rule) -> str | None:
    logic = rule.logic
    candidates = [
        logic.get("threshold"),
        (logic.get("first") or {}).get("min_count"),
        logic.get("k"),
        logic.get("min_value"),
    ]
    for value in candidates:
        if isinstance(value, str) and value.startswith("$"):
            return value[1:]
    return None


def sensitivity(
    events: Any,
    rule_name: str,
    values: Iterable[Any],
    *,
    parameter: str | None = None,
    settings: DetectionSettings | Mapping[str, Any] | None = None,
    rules_dirs: Iterable[str | Path] = (),
) -> pl.DataFrame:
    """How many findings a rule gives at each value of one parameter (its threshold by default).

    Returns one row per value: ``parameter``, ``value``, ``findings``, ``events``
    (evidence events) and ``groups`` (distinct groups), so a reviewer sees where
    the chosen threshold sits between noise and silence.
    """
    frame, resolved = _prepare(events, settings)
    by_name = {r.name: r for r in load_rules(rules_dirs)}
    if rule_name not in by_name:
        raise UsageError(f"unknown rule {rule_name!r}; known rules: {', '.join(sorted(by_name))}.")
    rule = by_name[rule_name]
    name = parameter or _tuned_parameter(rule)
    if name is None:
        raise UsageError(
            f"rule {rule_name!r} has no threshold parameter; pass parameter= with one of: {', '.join(sorted(rule.parameters)) or 'none'}."
        )
    values = list(values)
    if not values:
        raise UsageError("sensitivity() needs at least one value to try.")
    exclude = _exclusion(frame, resolved)
    lf = frame.lazy()
    plans = []
    base = dict(resolved.rules.get(rule_name, {}))
    for value in values:
        compiled, params = rule.compile({**base, name: value})
        plans.append(_plan(rule, compiled, params, lf, resolved, exclude))
    results = pl.collect_all(plans)
    return pl.DataFrame(
        {
            "parameter": [name] * len(values),
            "value": [str(v) for v in values],
            "findings": [r.height for r in results],
            "events": [int(r.get_column("count").sum()) for r in results],
            "groups": [r.get_column("group").n_unique() for r in results],
        },
        schema={
            "parameter": pl.String,
            "value": pl.String,
            "findings": pl.Int64,
            "events": pl.Int64,
            "groups": pl.Int64,
        },
    )
