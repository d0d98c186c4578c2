"""Vendor field maps: the YAML data that says how a vendor's record becomes a canonical event.

One file per vendor in ``maps/*.yml``. A map names where each canonical column comes
from (dotted paths with fallbacks), how timestamps, outcomes and actor types read,
and which vendor actions are which canonical ``event_type`` (so the built-in
detection rules fire on vendor logs). Docs: ``docs/vendors.md``.

Keeping this as data, not code, is what lets an analyst check a mapping against the
vendor's documentation line by line, and add a vendor without writing Python.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ...errors import ConfigError
from ...schema import ACTOR_TYPES, CATEGORIES, OUTCOMES

__all__ = ["FIELD_NAMES", "FieldMap", "FieldSource", "Rule", "load_field_map", "load_field_maps"]

# Canonical columns a map may fill from the record (plus ``action``, the vendor's verb).
FIELD_NAMES = (
    "event_id",
    "timestamp",
    "action",
    "outcome",
    "actor_type",
    "actor_id",
    "actor_name",
    "actor_email",
    "actor_role",
    "ip",
    "user_agent",
    "resource_type",
    "resource_id",
    "conversation_id",
    "channel",
    "subject_id",
    "reason",
    "before",
    "after",
    "record_count",
)
TIMESTAMP_FORMS = ("iso", "epoch_ms", "epoch_s")
_TOP_KEYS = {
    "format",
    "source",
    "title",
    "description",
    "envelope_keys",
    "sniff",
    "fields",
    "timestamp_native",
    "outcomes",
    "outcome_default",
    "failure_if_present",
    "actor_types",
    "actor_type_default",
    "default_category",
    "event_types",
    "categories",
    "transforms",
}
_WHEN_KEYS = {"action", "action_prefix", "action_regex", "outcome", "fields", "absent"}
_RULE_KEYS = {"when", "event_type", "outcome", "category", "set"}
_PATH = re.compile(r"^[^.\[\]]+(\[\d+\])*(\.[^.\[\]]+(\[\d+\])*)*$")


@dataclass(frozen=True)
class FieldSource:
    """One place a value may come from: a record path, optionally narrowed by a regex, or a constant."""

    path: str | None = None
    regex: str | None = None  # the first group (or the whole match) is the value
    const: str | None = None
    json_key: str | None = None  # wrap the value as {"<json_key>": value} (e.g. before/after roles)


@dataclass(frozen=True)
class Rule:
    """``when`` all conditions hold, set ``event_type`` / ``outcome`` / ``category`` / constants."""

    when: Mapping[str, Any]
    event_type: str | None = None
    outcome: str | None = None
    category: str | None = None
    set: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FieldMap:
    format: str
    source: str
    title: str
    description: str
    sniff: Mapping[str, Any]
    fields: Mapping[str, tuple[FieldSource, ...]]
    envelope_keys: tuple[str, ...] = ("Records",)
    timestamp_native: str = "iso"
    outcomes: Mapping[str, str] = field(default_factory=dict)
    outcome_default: str = "unknown"
    failure_if_present: tuple[str, ...] = ()
    actor_types: Mapping[str, str] = field(default_factory=dict)
    actor_type_default: str = "unknown"
    default_category: str = "system"
    event_types: tuple[Rule, ...] = ()
    categories: tuple[Rule, ...] = ()
    transforms: tuple[str, ...] = ()
    path: str = ""


def _fail(path: Path | str, message: str) -> ConfigError:
    return ConfigError(f"{path}: {message}; fix the vendor field map.", path=str(path))


def _check_path(file: Path | str, p: object) -> str:
    if not isinstance(p, str) or not _PATH.match(p):
        raise _fail(file, f"{p!r} is not a dotted field path like 'actor.id' or 'target[0].id'")
    return p


def _sources(file: Path | str, name: str, spec: object) -> tuple[FieldSource, ...]:
    items = spec if isinstance(spec, list) else [spec]
    out: list[FieldSource] = []
    for item in items:
        if isinstance(item, str):
            out.append(FieldSource(path=_check_path(file, item)))
        elif isinstance(item, dict) and set(item) <= {"path", "regex", "const", "json_key"} and item:
            json_key = str(item["json_key"]) if item.get("json_key") else None
            if "const" in item:
                out.append(FieldSource(const=str(item["const"]), json_key=json_key))
                continue
            regex = item.get("regex")
            if regex is not None:
                try:
                    re.compile(regex)
                except re.error as exc:
                    raise _fail(file, f"field {name!r} has an invalid regex {regex!r} ({exc})") from None
            out.append(FieldSource(path=_check_path(file, item.get("path")), regex=regex, json_key=json_key))
        else:
            raise _fail(file, f"field {name!r} must be a path, a list of paths or {{path, regex}} / {{const}}")
    return tuple(out)


def _rules(file: Path | str, key: str, items: object) -> tuple[Rule, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise _fail(file, f"{key!r} must be a list of rules")
    rules = []
    for i, item in enumerate(items):
        where = f"{key}[{i}]"
        if not isinstance(item, dict) or not set(item) <= _RULE_KEYS or "when" not in item:
            raise _fail(file, f"{where} must have 'when' and only {sorted(_RULE_KEYS)}")
        when = item["when"]
        if not isinstance(when, dict) or not when or not set(when) <= _WHEN_KEYS:
            raise _fail(file, f"{where}.when must use only {sorted(_WHEN_KEYS)}")
        for rx in [when.get("action_regex"), *((when.get("fields") or {}).values())]:
            if rx is not None:
                try:
                    re.compile(str(rx))
                except re.error as exc:
                    raise _fail(file, f"{where} has an invalid regex {rx!r} ({exc})") from None
        for p in list((when.get("fields") or {}).keys()) + list(when.get("absent") or []):
            _check_path(file, p)
        if item.get("outcome") is not None and item["outcome"] not in OUTCOMES:
            raise _fail(file, f"{where}.outcome must be one of {OUTCOMES}")
        if when.get("outcome") is not None and when["outcome"] not in OUTCOMES:
            raise _fail(file, f"{where}.when.outcome must be one of {OUTCOMES}")
        if item.get("category") is not None and item["category"] not in CATEGORIES:
            raise _fail(file, f"{where}.category must be one of {CATEGORIES}")
        extra = set(item.get("set") or {}) - set(FIELD_NAMES)
        if extra:
            raise _fail(file, f"{where}.set names unknown columns {sorted(extra)}")
        rules.append(
            Rule(
                when=when,
                event_type=item.get("event_type"),
                outcome=item.get("outcome"),
                category=item.get("category"),
                set={k: str(v) for k, v in (item.get("set") or {}).items()},
            )
        )
    return tuple(rules)


def load_field_map(path: Path) -> FieldMap:
    """Read and validate one vendor map; ``ConfigError`` names the file and the problem."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise _fail(path, f"is not valid YAML ({exc})") from None
    if not isinstance(doc, dict):
        raise _fail(path, "must be a YAML mapping")
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise _fail(path, f"has unknown keys {sorted(unknown)}")
    for key in ("format", "source", "title", "sniff", "fields"):
        if key not in doc:
            raise _fail(path, f"lacks the required key {key!r}")
    fields_doc = doc["fields"]
    if not isinstance(fields_doc, dict):
        raise _fail(path, "'fields' must be a mapping of canonical column -> paths")
    unknown_fields = set(fields_doc) - set(FIELD_NAMES)
    if unknown_fields:
        raise _fail(path, f"maps unknown columns {sorted(unknown_fields)} (known: {', '.join(FIELD_NAMES)})")
    for required in ("timestamp", "action"):
        if required not in fields_doc:
            raise _fail(path, f"must say where {required!r} comes from")
    native = doc.get("timestamp_native", "iso")
    if native not in TIMESTAMP_FORMS:
        raise _fail(path, f"timestamp_native must be one of {TIMESTAMP_FORMS}")
    outcomes = {str(k): str(v) for k, v in (doc.get("outcomes") or {}).items()}
    if bad := {v for v in [*outcomes.values(), doc.get("outcome_default", "unknown")] if v not in OUTCOMES}:
        raise _fail(path, f"outcomes must map to {OUTCOMES}, not {sorted(bad)}")
    actor_types = {str(k): str(v) for k, v in (doc.get("actor_types") or {}).items()}
    if bad := {v for v in [*actor_types.values(), doc.get("actor_type_default", "unknown")] if v not in ACTOR_TYPES}:
        raise _fail(path, f"actor_types must map to {ACTOR_TYPES}, not {sorted(bad)}")
    if doc.get("default_category", "system") not in CATEGORIES:
        raise _fail(path, f"default_category must be one of {CATEGORIES}")
    sniff = doc["sniff"]
    if not isinstance(sniff, dict) or not isinstance(sniff.get("required"), list) or not sniff["required"]:
        raise _fail(path, "sniff.required must list the top-level keys (or lists of alternatives) every record has")
    return FieldMap(
        format=str(doc["format"]),
        source=str(doc["source"]),
        title=str(doc["title"]),
        description=str(doc.get("description", "")).strip(),
        sniff=sniff,
        fields={name: _sources(path, name, spec) for name, spec in fields_doc.items()},
        envelope_keys=tuple(doc.get("envelope_keys") or ("Records",)),
        timestamp_native=native,
        outcomes=outcomes,
        outcome_default=doc.get("outcome_default", "unknown"),
        failure_if_present=tuple(_check_path(path, p) for p in doc.get("failure_if_present") or ()),
        actor_types=actor_types,
        actor_type_default=doc.get("actor_type_default", "unknown"),
        default_category=doc.get("default_category", "system"),
        event_types=_rules(path, "event_types", doc.get("event_types")),
        categories=_rules(path, "categories", doc.get("categories")),
        transforms=tuple(doc.get("transforms") or ()),
        path=str(path),
    )


def load_field_maps(directory: Path) -> list[FieldMap]:
    """Every ``*.yml`` map in ``directory``, sorted by file name; format names must be unique."""
    maps = [load_field_map(p) for p in sorted(directory.glob("*.yml"))]
    seen: dict[str, str] = {}
    for m in maps:
        if m.format in seen:
            raise _fail(m.path, f"format {m.format!r} is already defined in {seen[m.format]}")
        seen[m.format] = m.path
    return maps
