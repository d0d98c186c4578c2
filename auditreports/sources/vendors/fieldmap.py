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

from ...detect.yamlsource import line_of, load_yaml
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
    "source_address",
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
    "aliases",
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
_WHEN_KEYS = {"action", "action_prefix", "action_regex", "outcome", "fields", "absent", "differ"}
_RULE_KEYS = {"when", "event_type", "outcome", "category", "set"}
_SOURCE_KEYS = {"path", "regex", "const", "json_key", "ignore"}
_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
_FORMAT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")


@dataclass(frozen=True)
class FieldSource:
    """One place a value may come from: a record path, optionally narrowed by a regex, or a constant."""

    path: str | None = None
    regex: str | None = None  # the first group (or the whole match) is the value
    const: str | None = None
    json_key: str | None = None  # wrap the value as {"<json_key>": value} (e.g. before/after roles)
    ignore: tuple[str, ...] = ()  # placeholder values read as absent ("unknown", "redacted", "-")


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
    origin: str = ""  # where the map came from: "built-in" or the file path
    aliases: tuple[str, ...] = ()  # other format names that mean this map (former names)


_PATH = re.compile(
    r"^[^.\[\]?]+(\[\d+\]|\[\?[A-Za-z0-9_@-]+=[^\]'\\]*\])*(\.[^.\[\]?]+(\[\d+\]|\[\?[A-Za-z0-9_@-]+=[^\]'\\]*\])*)*$"
)


class _Problems:
    """Every problem found in one map file, each with its line, reported all at once."""

    def __init__(self, file: Path | str) -> None:
        self.file = str(file)
        self.items: list[tuple[int | None, str]] = []

    def add(self, line: int | None, message: str) -> None:
        self.items.append((line, message))

    def lines(self) -> list[str]:
        return [f"{self.file}:{ln}: {m}" if ln is not None else f"{self.file}: {m}" for ln, m in self.items]


def _raise(problems: list[tuple[str, int | None, str]]) -> None:
    if not problems:
        return
    problems.sort(key=lambda p: (p[0], p[1] or 0))
    text = "; ".join(f"{f}:{ln}: {m}" if ln is not None else f"{f}: {m}" for f, ln, m in problems)
    n = len(problems)
    raise ConfigError(
        f"invalid field map ({n} problem{'s' if n > 1 else ''}): {text}; fix the map file(s) and rerun.",
        errors=list(problems),
        path=problems[0][0],
    )


def _check_path(probs: _Problems, line: int | None, p: object) -> str:
    if not isinstance(p, str) or not _PATH.match(p):
        probs.add(line, f"{p!r} is not a field path like 'actor.id', 'target[0].id' or 'parameters[?name=USER].value'")
        return ""
    return p


def _sources(probs: _Problems, name: str, spec: object, line: int | None) -> tuple[FieldSource, ...]:
    items = spec if isinstance(spec, list) else [spec]
    out: list[FieldSource] = []
    for i, item in enumerate(items):
        at = line_of(spec, i) if isinstance(spec, list) else line
        at = at or line
        if isinstance(item, str):
            out.append(FieldSource(path=_check_path(probs, at, item)))
        elif isinstance(item, dict) and item and set(item) <= _SOURCE_KEYS:
            json_key = str(item["json_key"]) if item.get("json_key") else None
            ignore = item.get("ignore") or []
            if not isinstance(ignore, list):
                ignore = [ignore]
            ignore_t = tuple(str(v) for v in ignore)
            if "const" in item:
                # {const: X} always; {path: P, const: X} is X when P has a value
                cpath = _check_path(probs, at, item["path"]) if "path" in item else None
                out.append(FieldSource(path=cpath, const=str(item["const"]), json_key=json_key, ignore=ignore_t))
                continue
            regex = item.get("regex")
            if regex is not None:
                try:
                    re.compile(str(regex))
                except re.error as exc:
                    probs.add(at, f"field {name!r} has an invalid regex {regex!r} ({exc})")
            if "path" not in item:
                probs.add(at, f"field {name!r}: a source needs a 'path' (or a 'const')")
                continue
            out.append(
                FieldSource(
                    path=_check_path(probs, at, item.get("path")),
                    regex=regex and str(regex),
                    json_key=json_key,
                    ignore=ignore_t,
                )
            )
        else:
            probs.add(at, f"field {name!r} must be a path, a list of paths or {{path, regex}} / {{const}}")
    if not out and not probs.items:
        probs.add(line, f"field {name!r} names no source")
    return tuple(out)


def _rules(probs: _Problems, key: str, items: object, line: int | None) -> tuple[Rule, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        probs.add(line, f"{key!r} must be a list of rules")
        return ()
    rules = []
    for i, item in enumerate(items):
        where = f"{key}[{i}]"
        at = line_of(items, i) or line
        if not isinstance(item, dict) or not set(item) <= _RULE_KEYS or "when" not in item:
            probs.add(at, f"{where} must have 'when' and only {sorted(_RULE_KEYS)}")
            continue
        when = item["when"]
        if not isinstance(when, dict) or not when or not set(when) <= _WHEN_KEYS:
            probs.add(line_of(item, "when") or at, f"{where}.when must use only {sorted(_WHEN_KEYS)}")
            continue
        fields_when = when.get("fields") or {}
        if not isinstance(fields_when, dict):
            probs.add(at, f"{where}.when.fields must map paths to regexes")
            fields_when = {}
        for rx in [when.get("action_regex"), *fields_when.values()]:
            if rx is not None:
                try:
                    re.compile(str(rx))
                except re.error as exc:
                    probs.add(at, f"{where} has an invalid regex {rx!r} ({exc})")
        for p in list(fields_when.keys()) + list(when.get("absent") or []):
            _check_path(probs, at, p)
        differ = when.get("differ")
        if differ is not None:
            if not isinstance(differ, list) or len(differ) != 2:
                probs.add(at, f"{where}.when.differ must list two sources (paths or {{path, regex}})")
            else:
                pair = [_sources(probs, "differ", d, at) for d in differ]
                if all(pair):
                    when = dict(when)
                    when["differ"] = [p[0] for p in pair]
        if item.get("outcome") is not None and item["outcome"] not in OUTCOMES:
            probs.add(line_of(item, "outcome") or at, f"{where}.outcome must be one of {OUTCOMES}")
        if when.get("outcome") is not None and when["outcome"] not in OUTCOMES:
            probs.add(line_of(when, "outcome") or at, f"{where}.when.outcome must be one of {OUTCOMES}")
        if item.get("category") is not None and item["category"] not in CATEGORIES:
            probs.add(line_of(item, "category") or at, f"{where}.category must be one of {CATEGORIES}")
        if item.get("event_type") is not None and not _EVENT_TYPE.match(str(item["event_type"])):
            probs.add(
                line_of(item, "event_type") or at,
                f"{where}.event_type {item['event_type']!r} must be a dotted lower-case type like 'auth.login.failure'",
            )
        set_doc = item.get("set") or {}
        if not isinstance(set_doc, dict):
            probs.add(line_of(item, "set") or at, f"{where}.set must map canonical columns to constants")
            set_doc = {}
        extra = set(set_doc) - set(FIELD_NAMES)
        if extra:
            probs.add(line_of(item, "set") or at, f"{where}.set names unknown columns {sorted(extra)}")
        if "differ" in when and not all(isinstance(d, FieldSource) for d in when["differ"]):
            continue
        rules.append(
            Rule(
                when=dict(when),
                event_type=item.get("event_type"),
                outcome=item.get("outcome"),
                category=item.get("category"),
                set={k: str(v) for k, v in set_doc.items()},
            )
        )
    return tuple(rules)


def _str_map(probs: _Problems, doc: Any, key: str, allowed: tuple[str, ...], default_key: str) -> dict[str, str]:
    table = doc.get(key) or {}
    if not isinstance(table, dict):
        probs.add(line_of(doc, key), f"{key!r} must map vendor values to one of {allowed}")
        return {}
    out = {str(k): str(v) for k, v in table.items()}
    for k, v in out.items():
        if v not in allowed:
            probs.add(line_of(table, k) or line_of(doc, key), f"{key}[{k!r}] is {v!r}; use one of {allowed}")
    if doc.get(default_key, "unknown") not in allowed:
        probs.add(line_of(doc, default_key), f"{default_key} must be one of {allowed}")
    return out


def _validate(path: Path, doc: Any, known_transforms: Mapping[str, Any] | None) -> tuple[FieldMap | None, _Problems]:
    probs = _Problems(path)
    if not isinstance(doc, dict):
        probs.add(line_of(doc), "must be a YAML mapping of map keys (format, source, title, sniff, fields, ...)")
        return None, probs
    for key in sorted(set(doc) - _TOP_KEYS):
        probs.add(line_of(doc, key), f"unknown key {key!r} (known: {', '.join(sorted(_TOP_KEYS))})")
    for key in ("format", "source", "title", "sniff", "fields"):
        if key not in doc:
            probs.add(line_of(doc), f"lacks the required key {key!r}")
    fmt = doc.get("format")
    if fmt is not None and not _FORMAT_NAME.match(str(fmt)):
        probs.add(line_of(doc, "format"), f"format {fmt!r} must be lower-case letters, digits, '-' or '_'")
    aliases = doc.get("aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) and _FORMAT_NAME.match(a) for a in aliases):
        probs.add(line_of(doc, "aliases"), "aliases must be a list of format names (lower-case letters, digits, '-')")
        aliases = []
    src = doc.get("source")
    if src is not None and not _SOURCE_NAME.match(str(src)):
        probs.add(line_of(doc, "source"), f"source {src!r} must be lower-case letters, digits or '_'")
    fields_doc = doc.get("fields")
    fields: dict[str, tuple[FieldSource, ...]] = {}
    if "fields" in doc and not isinstance(fields_doc, dict):
        probs.add(line_of(doc, "fields"), "'fields' must be a mapping of canonical column -> paths")
    elif isinstance(fields_doc, dict):
        for name, spec in fields_doc.items():
            if name not in FIELD_NAMES:
                probs.add(line_of(fields_doc, name), f"maps unknown column {name!r} (known: {', '.join(FIELD_NAMES)})")
                continue
            fields[name] = _sources(probs, name, spec, line_of(fields_doc, name))
        for required in ("timestamp", "action"):
            if required not in fields_doc:
                probs.add(line_of(doc, "fields"), f"must say where {required!r} comes from")
    native = doc.get("timestamp_native", "iso")
    if native not in TIMESTAMP_FORMS:
        probs.add(line_of(doc, "timestamp_native"), f"timestamp_native must be one of {TIMESTAMP_FORMS}")
    outcomes = _str_map(probs, doc, "outcomes", OUTCOMES, "outcome_default")
    actor_types = _str_map(probs, doc, "actor_types", ACTOR_TYPES, "actor_type_default")
    if doc.get("default_category", "system") not in CATEGORIES:
        probs.add(line_of(doc, "default_category"), f"default_category must be one of {CATEGORIES}")
    sniff = doc.get("sniff")
    if "sniff" in doc and (
        not isinstance(sniff, dict) or not isinstance(sniff.get("required"), list) or not sniff["required"]
    ):
        probs.add(
            line_of(doc, "sniff"), "sniff.required must list the keys (or lists of alternatives) every record has"
        )
    elif isinstance(sniff, dict):
        for key in sorted(set(sniff) - {"required", "equals"}):
            probs.add(line_of(sniff, key), f"sniff has unknown key {key!r} (use required, equals)")
    envelope = doc.get("envelope_keys") or ["Records"]
    if not isinstance(envelope, list) or not all(isinstance(k, str) for k in envelope):
        probs.add(line_of(doc, "envelope_keys"), "envelope_keys must be a list of key names")
        envelope = ["Records"]
    failure_if_present = doc.get("failure_if_present") or []
    if not isinstance(failure_if_present, list):
        probs.add(line_of(doc, "failure_if_present"), "failure_if_present must be a list of paths")
        failure_if_present = []
    failure_paths = tuple(_check_path(probs, line_of(doc, "failure_if_present"), p) for p in failure_if_present)
    transforms = doc.get("transforms") or []
    if not isinstance(transforms, list):
        probs.add(line_of(doc, "transforms"), "transforms must be a list of transform names")
        transforms = []
    if known_transforms is not None:
        for t in transforms:
            if t not in known_transforms:
                probs.add(
                    line_of(doc, "transforms"),
                    f"names unknown transform {t!r} (known: {', '.join(sorted(known_transforms))})",
                )
    event_types = _rules(probs, "event_types", doc.get("event_types"), line_of(doc, "event_types"))
    categories = _rules(probs, "categories", doc.get("categories"), line_of(doc, "categories"))
    if probs.items:
        return None, probs
    return (
        FieldMap(
            format=str(doc["format"]),
            source=str(doc["source"]),
            title=str(doc["title"]),
            description=str(doc.get("description", "")).strip(),
            sniff=_plain(sniff),
            fields=fields,
            envelope_keys=tuple(envelope),
            timestamp_native=native,
            outcomes=outcomes,
            outcome_default=doc.get("outcome_default", "unknown"),
            failure_if_present=failure_paths,
            actor_types=actor_types,
            actor_type_default=doc.get("actor_type_default", "unknown"),
            default_category=doc.get("default_category", "system"),
            event_types=event_types,
            categories=categories,
            transforms=tuple(str(t) for t in transforms),
            path=str(path),
            origin=str(path),
            aliases=tuple(aliases),
        ),
        probs,
    )


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _read(path: Path) -> tuple[Any, tuple[str, int | None, str] | None]:
    try:
        return load_yaml(path), None
    except ConfigError as exc:
        return None, (str(path), getattr(exc, "line", None), f"not valid YAML or not readable ({exc.message})")


def load_field_map(path: Path, known_transforms: Mapping[str, Any] | None = None) -> FieldMap:
    """Read and validate one map; ``ConfigError`` lists every problem as ``file:line: message``."""
    maps = _load_all([Path(path)], known_transforms)
    return maps[0]


def _load_all(paths: list[Path], known_transforms: Mapping[str, Any] | None) -> list[FieldMap]:
    problems: list[tuple[str, int | None, str]] = []
    maps: list[FieldMap] = []
    for p in paths:
        doc, bad = _read(p)
        if bad is not None:
            problems.append(bad)
            continue
        fmap, probs = _validate(p, doc, known_transforms)
        problems.extend((probs.file, ln, m) for ln, m in probs.items)
        if fmap is not None:
            maps.append(fmap)
    _raise(problems)
    return maps


def map_files(directory: Path) -> list[Path]:
    """The map files of a directory: ``*.yml`` and ``*.yaml``, sorted by name."""
    return sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")])


def load_field_maps(directory: Path | list[Path], known_transforms: Mapping[str, Any] | None = None) -> list[FieldMap]:
    """Every map in ``directory`` (or directories), sorted by file name; format names must be unique.

    Every problem in every file is collected and raised as one ``ConfigError``.
    """
    dirs = directory if isinstance(directory, list) else [directory]
    problems: list[tuple[str, int | None, str]] = []
    paths: list[Path] = []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            problems.append((str(d), None, "is not a directory of field maps (*.yml)"))
            continue
        paths.extend(map_files(d))
    try:
        maps = _load_all(paths, known_transforms)
    except ConfigError as exc:
        problems.extend(exc.errors)  # type: ignore[attr-defined]
        maps = []
    seen: dict[str, str] = {}
    for m in maps:
        for name in (m.format, *m.aliases):
            if name in seen:
                problems.append((m.path, None, f"format {name!r} is already defined in {seen[name]}"))
            seen[name] = m.path
    _raise(problems)
    return maps
