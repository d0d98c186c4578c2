"""One typed settings object, built once and passed down.

A settings file is UTF-8 YAML with one section per area; every key has a documented
default (docs/settings.md). The file is checked against a strict schema
(:mod:`auditreports._settings_schema`, pydantic v2 with ``extra="forbid"``) before
anything runs: an unknown section or key, a wrong type, a duplicate key, an anchor or
alias, a non-UTF-8 byte or a directory file that does not exist is one
:class:`ConfigError` naming the file, the line, the key and what is expected — a typo
must never silently fall back to a default in an audit.

```yaml
organisation:
  name: Acme Support Ltd
  timezone: Europe/London
  business_hours: "08:00-18:00"
  business_days: [mon, tue, wed, thu, fri]
  staff_directory: staff.csv
integrity: {retention_days: 365}
detection: {allow_ips: [10.0.0.0/8]}
report:    {reviewer: Dana Lee}
fetch:     {max_attempts: 8}
sources:   {maps_dirs: [field-maps]}
```

Which file: :func:`discover_settings` — ``--settings F``, else the environment variable
``AUDITREPORTS_SETTINGS``, else ``./auditreports.yml`` when present, else the defaults.

Secrets never go here: the API token comes from ``AUDITREPORTS_TOKEN`` (or the file
named by ``AUDITREPORTS_TOKEN_FILE``) only.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .api._settings import FetchSettings
from .detect.settings import DetectionSettings
from .errors import ConfigError
from .integrity.settings import IntegritySettings
from .organisation import ActorHours, Organisation, load_staff_directory
from .report.settings import ReportSettings
from .sources.vendors.settings import SourcesSettings

__all__ = [
    "SETTINGS_ENV",
    "SETTINGS_FILE_NAME",
    "Settings",
    "SettingsSource",
    "discover_settings",
    "load_settings",
    "resolve_settings",
]

SETTINGS_ENV = "AUDITREPORTS_SETTINGS"
SETTINGS_FILE_NAME = "auditreports.yml"

# A key that names a secret (token, api_token, db_password, …) holding a value. Rule names
# such as password_spraying hold a mapping of parameters and are not secrets.
_SECRET_KEY = re.compile(r"(?:.*_)?(?:token|secret|password|passwd|credentials?|bearer|api_key)", re.IGNORECASE)

# Report-setting names (as notebooks and with_report use them) -> organisation fields.
_REPORT_TO_ORGANISATION = {
    "organisation": "name",
    "logo": "logo",
    "timezone": "timezone",
    "business_hours": "business_hours",
    "business_days": "business_days",
    "phi_tags": "phi_tags",
    "phi_channels": "phi_channels",
    "phi_knowledge_bases": "phi_knowledge_bases",
    "customers": "customer_directory",
    "processing_record": "processing_record",
    "staff": "staff_directory",
}


@dataclass(frozen=True)
class SettingsSource:
    """Which settings file was used and why (for stderr and the reproducibility stamp)."""

    path: Path | None
    origin: str  # "--settings", "AUDITREPORTS_SETTINGS", "./auditreports.yml" or "defaults"

    def describe(self) -> str:
        if self.path is None:
            return "built-in defaults (no --settings, no AUDITREPORTS_SETTINGS, no ./auditreports.yml)"
        return f"{self.path} (from {self.origin})"


def discover_settings(explicit: str | Path | None = None, *, cwd: Path | None = None) -> SettingsSource:
    """The settings file to use: ``--settings``, else ``$AUDITREPORTS_SETTINGS``, else ``./auditreports.yml``.

    An explicit or environment path that does not exist is an error (a typo must not
    fall back to defaults); a missing ``./auditreports.yml`` means the defaults.
    """
    if explicit:
        return SettingsSource(Path(explicit), "--settings")
    env = os.environ.get(SETTINGS_ENV, "").strip()
    if env:
        if not Path(env).is_file():
            raise ConfigError(f"{SETTINGS_ENV}={env} names no settings file; fix the variable or unset it.", path=env)
        return SettingsSource(Path(env), SETTINGS_ENV)
    local = (cwd or Path.cwd()) / SETTINGS_FILE_NAME
    if local.is_file():
        return SettingsSource(Path(SETTINGS_FILE_NAME) if cwd is None else local, f"./{SETTINGS_FILE_NAME}")
    return SettingsSource(None, "defaults")


@dataclass(frozen=True)
class Settings:
    """Every area's settings; the organisation vocabulary is read by detection and reports alike.

    ``organisation`` is the one source of the organisation's name, working time, staff
    directory, PHI markers and directories; ``detection`` and ``report`` carry the same
    values (``settings.detection.organisation == settings.report.org == settings.organisation``).
    """

    integrity: IntegritySettings = field(default_factory=IntegritySettings)
    detection: DetectionSettings = field(default_factory=DetectionSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    fetch: FetchSettings = field(default_factory=FetchSettings)
    sources: SourcesSettings = field(default_factory=SourcesSettings)
    path: Path | None = None  # the file they came from, for the reproducibility stamp
    organisation: Organisation = field(default_factory=Organisation)
    sha256: str | None = None  # of the file's bytes, for the reproducibility stamp

    def __post_init__(self) -> None:
        # One vocabulary: the detection and report views are the organisation's values.
        org = self.organisation
        object.__setattr__(self, "detection", _with_organisation_detection(self.detection, org))
        object.__setattr__(self, "report", _with_organisation_report(self.report, org, self.source))

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, Any] | None,
        *,
        path: Path | None = None,
        lines: Mapping[tuple[str, ...], int] | None = None,
        sha256: str | None = None,
    ) -> Settings:
        """Validate a whole settings mapping (paths already absolute or relative to the cwd) and build it."""
        from ._settings_schema import ValidationError, explain, settings_file_model

        data = dict(data or {})
        lines = dict(lines or {})
        _reject_secrets(data, path)
        for name, section in data.items():
            if section is not None and not isinstance(section, Mapping) and name in settings_file_model().model_fields:
                where = f" in {path}" if path else ""
                raise ConfigError(
                    f"settings section {name!r}{where} must be a mapping of keys to values, not {section!r}.",
                    section=name,
                )
        try:
            settings_file_model().model_validate(data)
        except ValidationError as exc:
            raise explain(exc, path, lines) from None
        given = {name: dict(section) for name, section in data.items() if isinstance(section, Mapping)}
        where = f"settings file {path}" if path else "settings"
        organisation = _organisation(given, where, lines)
        detection = {k: v for k, v in given.get("detection", {}).items() if ("detection", k) not in _deprecated()}
        report = {k: v for k, v in given.get("report", {}).items() if ("report", k) not in _deprecated()}
        try:
            built = cls(
                integrity=IntegritySettings.from_mapping(given.get("integrity")),
                detection=DetectionSettings.from_mapping(detection),
                report=ReportSettings.from_mapping(report),
                fetch=FetchSettings.from_mapping(given.get("fetch") or {}),
                sources=SourcesSettings.from_mapping(given.get("sources")),
                path=path,
                organisation=organisation,
                sha256=sha256,
            )
        except ConfigError as exc:
            if path is not None and str(path) in exc.message:
                raise
            raise _locate(exc, where, given, lines) from None
        return built

    @property
    def source(self) -> str:
        """The settings file and its sha256, or that the defaults were used (for the stamp)."""
        if self.path is None:
            return "built-in defaults"
        return f"{self.path} (sha256 {self.sha256})" if self.sha256 else str(self.path)

    def with_report(self, **changes: Any) -> Settings:
        """A copy with some report settings changed (e.g. from notebook parameters).

        Organisation values given under their report names (``organisation``, ``phi_tags``,
        ``customers``, …) change the organisation, so detection and reports keep agreeing.
        """
        changes = {k: v for k, v in changes.items() if v is not None}
        org_changes = {
            _REPORT_TO_ORGANISATION[k]: changes.pop(k) for k in list(changes) if k in _REPORT_TO_ORGANISATION
        }
        organisation = self.organisation
        if org_changes:
            for key in ("logo", "customer_directory", "processing_record", "staff_directory"):
                if key in org_changes:
                    org_changes[key] = Path(org_changes[key])
            for key in ("phi_tags", "phi_channels", "phi_knowledge_bases", "business_days"):
                if isinstance(org_changes.get(key), str):
                    org_changes[key] = (org_changes[key],)
            if "staff_directory" in org_changes and org_changes["staff_directory"] != organisation.staff_directory:
                org_changes["staff_hours"] = MappingProxyType(
                    load_staff_directory(
                        org_changes["staff_directory"],
                        key="staff",
                        timezone=organisation.timezone,
                        business_hours=organisation.business_hours,
                        business_days=organisation.business_days,
                    )
                )
            organisation = replace(organisation, **org_changes)
        return replace(self, report=replace(self.report, **changes), organisation=organisation)


def _locate(
    exc: ConfigError, where: str, given: Mapping[str, Mapping[str, Any]], lines: Mapping[tuple[str, ...], int]
) -> ConfigError:
    """A section's own range check (e.g. ``page_size must be between 1 and 1000``) with its key and line."""
    for section, values in given.items():
        for key in values:
            if re.search(rf"\b{re.escape(str(key))}\b", exc.message):
                line = lines.get((section, str(key)))
                at = f" line {line}" if line else ""
                return ConfigError(f"{where}{at}: {section}.{key}: {exc.message}", key=f"{section}.{key}", line=line)
    return ConfigError(f"{where}: {exc.message}", **exc.context)


def _with_organisation_detection(detection: DetectionSettings, org: Organisation) -> DetectionSettings:
    view = replace(
        detection,
        timezone=org.timezone,
        business_hours=org.business_hours,
        business_days=org.business_days,
        actors=org.staff_hours,
        phi_tags=org.phi_tags,
        phi_channels=org.phi_channels,
        phi_knowledge_bases=org.phi_knowledge_bases,
        actors_csv=str(org.staff_directory) if org.staff_directory else None,
        retention_required_days=org.retention_required_days,
    )
    view.__dict__["org"] = org  # the cached ``org`` *is* the settings' organisation object
    return view


def _with_organisation_report(report: ReportSettings, org: Organisation, source: str) -> ReportSettings:
    view = replace(
        report,
        organisation=org.name,
        logo=org.logo,
        timezone=org.timezone,
        business_hours=org.business_hours,
        business_days=org.business_days,
        phi_tags=org.phi_tags,
        phi_channels=org.phi_channels,
        phi_knowledge_bases=org.phi_knowledge_bases,
        customers=org.customer_directory,
        processing_record=org.processing_record,
        staff=org.staff_directory,
        actors=org.staff_hours,
        retention_required_days=org.retention_required_days,
        settings_source=source,
    )
    view.__dict__["org"] = org
    return view


def _deprecated() -> Mapping[tuple[str, str], str]:
    from ._settings_schema import DEPRECATED

    return DEPRECATED


_NOTED: set[str] = set()


def _old_report_hours(value: Any) -> str:
    if isinstance(value, str):
        return value
    start, end = value
    return f"{start:02d}:00-{end:02d}:00"


def _old_days(value: Any) -> list[str]:
    from .organisation import WEEKDAYS

    return [WEEKDAYS[v] if isinstance(v, int) and not isinstance(v, bool) else v for v in value]


def _organisation(
    given: Mapping[str, Mapping[str, Any]], where: str, lines: Mapping[tuple[str, ...], int]
) -> Organisation:
    """The organisation section, with deprecated detection/report keys read into it (and a note on stderr)."""
    from .progress import say

    values: dict[str, Any] = dict(given.get("organisation") or {})
    origin: dict[str, str] = {k: f"organisation.{k}" for k in values}
    for (section, key), target in _deprecated().items():
        if key not in (given.get(section) or {}):
            continue
        value = given[section][key]
        if section == "report" and key == "business_hours":
            value = _old_report_hours(value)
        if key == "business_days":
            value = _old_days(value)
        old = f"{section}.{key}"
        line = lines.get((section, key))
        at = f" line {line}" if line else ""
        if target in values and _normal(target, values[target]) != _normal(target, value):
            raise ConfigError(
                f"{where}{at}: {old} ({value!r}) disagrees with {origin[target]} ({values[target]!r}); "
                f"set organisation.{target} once and remove the other.",
                key=old,
            )
        note = f"[auditreports] {where}{at}: {old} is deprecated; read as organisation.{target} — move it there."
        if note not in _NOTED:  # once per process, however often the file is loaded
            _NOTED.add(note)
            say(note)
        values.setdefault(target, value)
        origin.setdefault(target, old)
    kwargs: dict[str, Any] = {}
    for key in ("name", "timezone", "business_hours", "retention_required_days"):
        if values.get(key) is not None:
            kwargs[key] = values[key]
    for key in ("business_days", "phi_tags", "phi_channels", "phi_knowledge_bases"):
        if values.get(key) is not None:
            kwargs[key] = tuple(values[key])
    for key in ("logo", "staff_directory", "customer_directory", "processing_record"):
        if values.get(key) is not None:
            kwargs[key] = Path(values[key])
    org = Organisation(**kwargs)
    hours: dict[str, ActorHours] = {}
    if org.staff_directory is not None:
        hours.update(
            load_staff_directory(
                org.staff_directory,
                key=origin["staff_directory"],
                timezone=org.timezone,
                business_hours=org.business_hours,
                business_days=org.business_days,
            )
        )
    for actor_id, spec in (values.get("staff_hours") or {}).items():
        spec = dict(spec or {})
        hours[str(actor_id)] = ActorHours(
            spec.get("timezone") or org.timezone,
            spec.get("business_hours") or org.business_hours,
            tuple(spec.get("business_days") or org.business_days),
        )
    if hours:
        org = replace(org, staff_hours=MappingProxyType(hours))
    return org


def _normal(key: str, value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(str(v).lower()[:3] if key == "business_days" else v for v in value)
    if key in ("staff_directory", "customer_directory", "processing_record", "logo"):
        return os.path.normpath(str(value))
    return value


def _reject_secrets(data: Mapping[str, Any], path: Path | None) -> None:
    def walk(node: Any, trail: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                here = f"{trail}.{key}" if trail else str(key)
                if _SECRET_KEY.fullmatch(str(key)) and not isinstance(value, Mapping):
                    raise ConfigError(
                        f"settings key {here!r}{' in ' + str(path) if path else ''} looks like a secret; "
                        "secrets never go in settings files — use the AUDITREPORTS_TOKEN environment variable",
                        key=here,
                    )
                walk(value, here)

    walk(data, "")


def load_settings(path: str | Path | None = None) -> Settings:
    """Settings from a YAML file, or the defaults when ``path`` is None.

    Use :func:`discover_settings` first to apply ``AUDITREPORTS_SETTINGS`` and
    ``./auditreports.yml``; this function reads exactly the file it is given.
    """
    from ._yamlfile import read_yaml_mapping

    if path is None:
        return Settings()
    file = Path(path)
    data, lines = read_yaml_mapping(file)
    sha256 = hashlib.sha256(file.read_bytes()).hexdigest()
    return Settings.from_mapping(_resolve_paths(data, file.parent), path=file, lines=lines, sha256=sha256)


def resolve_settings(explicit: str | Path | None = None) -> Settings:
    """Discover the settings file (:func:`discover_settings`), say which on stderr, load and check it."""
    from .progress import say

    source = discover_settings(explicit)
    say(f"[auditreports] settings: {source.describe()}")
    return load_settings(source.path)


# Settings that name files: a relative path means relative to the settings file, so a
# settings file and its staff directory can travel together.
_PATH_KEYS = {
    "organisation": ("logo", "staff_directory", "customer_directory", "processing_record"),
    "detection": ("actors_csv",),
    "report": ("logo", "template_dir", "templates_dir", "customers", "processing_record", "staff", "frameworks_dirs"),
    "sources": ("maps_dirs",),
}


def _resolve_paths(data: Mapping[str, Any], base: Path) -> dict[str, Any]:
    out = dict(data)
    for section, keys in _PATH_KEYS.items():
        values = out.get(section)
        if not isinstance(values, Mapping):
            continue
        values = dict(values)
        for key in keys:
            value = values.get(key)
            if isinstance(value, str) and value and not Path(value).is_absolute():
                values[key] = str(base / value)
            elif isinstance(value, list):  # a list of paths (sources.maps_dirs, report.frameworks_dirs)
                values[key] = [
                    str(base / v) if isinstance(v, str) and v and not Path(v).is_absolute() else v for v in value
                ]
        out[section] = values
    return out


def settings_field_names() -> dict[str, list[str]]:
    """Every settings key by section (for docs and tests)."""
    from ._settings_schema import settings_file_model

    model = settings_file_model()
    result: dict[str, list[str]] = {}
    for name, info in model.model_fields.items():
        inner = next(a for a in info.annotation.__args__ if a is not type(None))  # type: ignore[union-attr]
        result[name] = sorted(inner.model_fields)
    return result
