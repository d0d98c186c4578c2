"""Detection settings: the knobs a reviewer tunes, with documented defaults.

One frozen :class:`DetectionSettings` is built once (from the ``detection:``
section of the settings file, a notebook parameter or code) and passed to
:func:`auditreports.detect.detect`. Every finding records the parameters it was
produced with, so a reviewer can tell which thresholds and hours were in force.
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..errors import ConfigError

__all__ = [
    "DEFAULT_ROLE_RANKS",
    "WEEKDAYS",
    "ActorHours",
    "DetectionSettings",
    "SeverityOverride",
    "load_detection_settings",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Rank of a role: a permission change to a higher rank is an escalation.
DEFAULT_ROLE_RANKS: Mapping[str, int] = MappingProxyType(
    {
        "viewer": 0,
        "readonly": 0,
        "guest": 0,
        "member": 1,
        "agent": 1,
        "editor": 2,
        "supervisor": 2,
        "manager": 2,
        "admin": 3,
        "owner": 4,
    }
)

_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def _parse_hours(value: object, where: str) -> tuple[int, int]:
    """``"08:00-18:00"`` -> (480, 1080) minutes after midnight."""
    match = _HOURS.match(value) if isinstance(value, str) else None
    if match is None:
        raise ConfigError(
            f"{where} must look like '08:00-18:00' (24-hour HH:MM-HH:MM), not {value!r}; fix the settings."
        )
    start = int(match.group(1)) * 60 + int(match.group(2))
    end = int(match.group(3)) * 60 + int(match.group(4))
    if end <= start or end > 24 * 60:
        raise ConfigError(f"{where} {value!r} must end after it starts, within one day; fix the settings.")
    return start, end


def _check_timezone(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be an IANA time zone name such as 'Europe/Berlin', not {value!r}.")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"{where} {value!r} is not a known IANA time zone; use a name such as 'Europe/Berlin'."
        ) from exc
    return value


def _check_days(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise ConfigError(f"{where} must be a non-empty list of weekdays ({', '.join(WEEKDAYS)}).")
    days = tuple(str(d).lower()[:3] for d in value)
    bad = [d for d in value if str(d).lower()[:3] not in WEEKDAYS]
    if bad:
        raise ConfigError(f"{where} has unknown weekday(s) {bad}; use {', '.join(WEEKDAYS)}.")
    return days


def _str_tuple(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings, not {value!r}; fix the settings.")
    return tuple(value)


def _reject_unknown(mapping: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(mapping) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in {where}; allowed: {', '.join(sorted(known))}.")


@dataclass(frozen=True)
class ActorHours:
    """One staff member's own working hours (they work in their own time zone)."""

    timezone: str
    business_hours: str
    business_days: tuple[str, ...]

    @property
    def minutes(self) -> tuple[int, int]:
        return _parse_hours(self.business_hours, "business_hours")


_LEVELS = ("informational", "low", "medium", "high", "critical")
_BY_ALIASES = {"actor": "actor_id", "ip_address": "ip"}


@dataclass(frozen=True)
class SeverityOverride:
    """One rule's calibrated severity: ``default`` for all its findings, ``by`` per group field and value."""

    default: str | None = None
    by: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: MappingProxyType({}))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.default is not None:
            out["default"] = self.default
        for group_field, values in self.by.items():
            out[f"by_{group_field}"] = dict(values)
        return out


def _level(value: object, where: str) -> str:
    if value not in _LEVELS:
        raise ConfigError(f"{where} must be one of {', '.join(_LEVELS)}, not {value!r}; fix the settings.")
    return str(value)


def _severity_overrides(data: object) -> Mapping[str, SeverityOverride]:
    if not isinstance(data, Mapping):
        raise ConfigError(
            "detection.severity must map rule names to a severity or {default: …, by_actor_id: {id: severity}}."
        )
    out: dict[str, SeverityOverride] = {}
    for rule, spec in data.items():
        where = f"detection.severity.{rule}"
        if isinstance(spec, str):
            out[str(rule)] = SeverityOverride(default=_level(spec, where))
            continue
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where} must be a severity or a mapping with default and by_<field> entries.")
        default = None
        by: dict[str, Mapping[str, str]] = {}
        for key, value in spec.items():
            if key == "default":
                default = _level(value, f"{where}.default")
            elif isinstance(key, str) and key.startswith("by_") and len(key) > 3:
                if not isinstance(value, Mapping) or not value:
                    raise ConfigError(f"{where}.{key} must map group values to severities, e.g. {{svc_backup: low}}.")
                group_field = _BY_ALIASES.get(key[3:], key[3:])
                by[group_field] = MappingProxyType(
                    {str(v): _level(level, f"{where}.{key}.{v}") for v, level in value.items()}
                )
            else:
                raise ConfigError(
                    f"unknown key {key!r} in {where}; use default or by_<group field> (by_actor_id, by_ip …)."
                )
        out[str(rule)] = SeverityOverride(default=default, by=MappingProxyType(by))
    return MappingProxyType(out)


@dataclass(frozen=True)
class DetectionSettings:
    """Parameters of a detection run; every field has a default a reviewer can defend.

    - ``timezone`` / ``business_hours`` / ``business_days``: the organisation's working
      time, used by off-hours rules. ``actors`` overrides them per actor id
      (``{"usr_9": {"timezone": "Asia/Tokyo", "business_hours": "09:00-18:00"}}``);
      unspecified per-actor keys fall back to the global ones.
    - ``allow_ips`` (addresses or CIDR ranges), ``service_accounts`` (actor ids) and
      ``allow_api_keys`` (API key actor ids): activity from these is not evaluated by
      rules that honour allow-lists (rules for changes and revoked credentials do not).
    - ``role_ranks``: rank of each role name; a change to a higher rank is an escalation.
      Unknown roles have no rank, and a change to an unknown role is reported too.
    - ``phi_tags``: conversation tags that mark a conversation as holding PHI.
    - ``actors_csv``: a staff directory CSV (columns ``actor_id`` or ``staff_id``, and
      ``time_zone`` or ``timezone``, optionally ``business_hours``) read into ``actors``;
      entries under ``actors`` win over the file's.
    - ``disabled_rules``: rule names not to run.
    - ``rules``: per-rule parameter overrides, ``{"brute_force_login": {"threshold": 8}}``.
    - ``severity``: the organisation's calibration of severities, per rule either a level
      (``{privilege_escalation: medium}``) or ``{default: level, by_<group field>: {value:
      level}}`` (``{api_key_new_ip: {default: high, by_actor_id: {svc_backup: low}}}``;
      ``by_actor`` is short for ``by_actor_id``). A ``by_`` entry wins over ``default``,
      which wins over the rule's own (content-aware) severity.
    - ``retention_required_days``: the organisation's required audit-log retention, for
      ``retention_below_required`` (until the ``organisation:`` section carries it).
    """

    timezone: str = "UTC"
    business_hours: str = "08:00-18:00"
    business_days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    actors: Mapping[str, ActorHours] = field(default_factory=lambda: MappingProxyType({}))
    allow_ips: tuple[str, ...] = ()
    service_accounts: tuple[str, ...] = ()
    allow_api_keys: tuple[str, ...] = ()
    role_ranks: Mapping[str, int] = field(default_factory=lambda: DEFAULT_ROLE_RANKS)
    phi_tags: tuple[str, ...] = ("phi",)
    actors_csv: str | None = None
    disabled_rules: tuple[str, ...] = ()
    rules: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    severity: Mapping[str, SeverityOverride] = field(default_factory=lambda: MappingProxyType({}))
    retention_required_days: int | None = None

    def __post_init__(self) -> None:
        _check_timezone(self.timezone, "detection.timezone")
        _parse_hours(self.business_hours, "detection.business_hours")
        _check_days(list(self.business_days), "detection.business_days")
        for text in self.allow_ips:
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError as exc:
                raise ConfigError(
                    f"detection.allow_ips entry {text!r} is not an IP address or CIDR range; fix the settings."
                ) from exc

    @property
    def business_minutes(self) -> tuple[int, int]:
        """Global business hours as minutes after local midnight, ``[start, end)``."""
        return _parse_hours(self.business_hours, "detection.business_hours")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> DetectionSettings:
        """Build settings from the ``detection:`` section; unknown keys are a ConfigError."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ConfigError("the detection settings must be a mapping of keys to values; fix the settings file.")
        known = {f.name for f in fields(cls)}
        _reject_unknown(data, known, "detection settings")
        kwargs: dict[str, Any] = {}
        for key in ("timezone", "business_hours"):
            if key in data:
                kwargs[key] = data[key]
        if "business_days" in data:
            kwargs["business_days"] = _check_days(data["business_days"], "detection.business_days")
        for key in ("allow_ips", "service_accounts", "allow_api_keys", "phi_tags", "disabled_rules"):
            if key in data:
                kwargs[key] = _str_tuple(data[key], f"detection.{key}")
        if "phi_tags" in kwargs:
            kwargs["phi_tags"] = tuple(t.lower() for t in kwargs["phi_tags"])
        if "role_ranks" in data:
            ranks = data["role_ranks"]
            if not isinstance(ranks, Mapping) or not all(
                isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) for k, v in ranks.items()
            ):
                raise ConfigError(
                    "detection.role_ranks must map role names to integer ranks, e.g. {agent: 1, admin: 3}."
                )
            kwargs["role_ranks"] = MappingProxyType({k.lower(): v for k, v in ranks.items()})
        if "rules" in data:
            rules = data["rules"]
            if not isinstance(rules, Mapping) or not all(isinstance(v, Mapping) for v in rules.values()):
                raise ConfigError(
                    "detection.rules must map rule names to parameter overrides, e.g. {brute_force_login: {threshold: 8}}."
                )
            kwargs["rules"] = MappingProxyType({str(k): MappingProxyType(dict(v)) for k, v in rules.items()})
        if "severity" in data:
            kwargs["severity"] = _severity_overrides(data["severity"])
        if data.get("retention_required_days") is not None:
            days = data["retention_required_days"]
            if not isinstance(days, int) or isinstance(days, bool) or days < 1:
                raise ConfigError(
                    f"detection.retention_required_days must be a whole number of days (e.g. 2190), not {days!r}."
                )
            kwargs["retention_required_days"] = days
        actors: dict[str, ActorHours] = {}
        if data.get("actors_csv") is not None:
            if not isinstance(data["actors_csv"], str | Path):
                raise ConfigError("detection.actors_csv must be the path of a staff directory CSV.")
            kwargs["actors_csv"] = str(data["actors_csv"])
            actors.update(_actor_hours(_read_actor_csv(Path(data["actors_csv"])), data))
        if "actors" in data:
            actors.update(_actor_hours(data["actors"], data))
        if actors:
            kwargs["actors"] = MappingProxyType(actors)
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for JSON output and the executed notebook)."""
        return {
            "timezone": self.timezone,
            "business_hours": self.business_hours,
            "business_days": list(self.business_days),
            "actors": {
                k: {"timezone": v.timezone, "business_hours": v.business_hours, "business_days": list(v.business_days)}
                for k, v in self.actors.items()
            },
            "allow_ips": list(self.allow_ips),
            "service_accounts": list(self.service_accounts),
            "allow_api_keys": list(self.allow_api_keys),
            "role_ranks": dict(self.role_ranks),
            "phi_tags": list(self.phi_tags),
            "actors_csv": self.actors_csv,
            "disabled_rules": list(self.disabled_rules),
            "rules": {k: dict(v) for k, v in self.rules.items()},
            "severity": {k: v.to_dict() for k, v in self.severity.items()},
            "retention_required_days": self.retention_required_days,
        }


def _actor_hours(actors: object, data: Mapping[str, Any]) -> dict[str, ActorHours]:
    if not isinstance(actors, Mapping):
        raise ConfigError("detection.actors must map actor ids to {timezone, business_hours, business_days}.")
    timezone = data.get("timezone", "UTC")
    hours = data.get("business_hours", "08:00-18:00")
    days = data.get("business_days", ["mon", "tue", "wed", "thu", "fri"])
    result = {}
    for actor_id, spec in actors.items():
        where = f"detection.actors.{actor_id}"
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where} must be a mapping with timezone, business_hours and/or business_days.")
        _reject_unknown(spec, {"timezone", "business_hours", "business_days"}, where)
        tz = _check_timezone(spec.get("timezone", timezone), f"{where}.timezone")
        bh = spec.get("business_hours", hours)
        _parse_hours(bh, f"{where}.business_hours")
        result[str(actor_id)] = ActorHours(
            tz, bh, _check_days(spec.get("business_days", days), f"{where}.business_days")
        )
    return result


def _read_actor_csv(path: Path) -> dict[str, dict[str, str]]:
    """Per-actor zones (and hours) from a staff directory CSV."""
    import csv

    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise ConfigError(f"cannot read detection.actors_csv {path}: {exc.strerror}; check the path.") from exc
    columns = set(rows[0]) if rows else set()
    id_col = next((c for c in ("actor_id", "staff_id", "id") if c in columns), None)
    tz_col = next((c for c in ("time_zone", "timezone", "tz") if c in columns), None)
    if id_col is None or tz_col is None:
        raise ConfigError(
            f"detection.actors_csv {path} needs an actor_id (or staff_id) column and a time_zone column; it has {sorted(columns)}."
        )
    result: dict[str, dict[str, str]] = {}
    for row in rows:
        if not row.get(id_col):
            continue
        spec = {"timezone": (row.get(tz_col) or "").strip()}
        if row.get("business_hours"):
            spec["business_hours"] = row["business_hours"].strip()
        result[row[id_col].strip()] = spec
    return result


def load_detection_settings(path: str | Path | None) -> DetectionSettings:
    """The ``detection:`` section of a settings YAML file.

    The whole file is read and checked by :func:`auditreports.settings.load_settings`
    (unknown sections, secrets, paths relative to the file), so ``detect --settings``
    and ``report --settings`` accept exactly the same files.
    """
    from ..settings import load_settings

    return load_settings(path).detection
