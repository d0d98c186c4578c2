"""One typed settings object, built once and passed down.

A settings file is YAML with one section per area; every key has a documented default
(docs/settings.md), and an unknown section or key is a :class:`ConfigError` naming it —
a typo must never silently fall back to a default in an audit.

```yaml
integrity: {retention_days: 365}
detection: {timezone: Europe/London, business_hours: "08:00-18:00"}
report:    {organisation: Acme Support Ltd, reviewer: Dana Lee}
fetch:     {max_attempts: 8}
sources:   {maps_dirs: [field-maps]}
```

Secrets never go here: the API token comes from ``AUDITREPORTS_TOKEN`` (or the file
named by ``AUDITREPORTS_TOKEN_FILE``) only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from .api._settings import FetchSettings
from .detect.settings import DetectionSettings
from .errors import ConfigError
from .integrity.settings import IntegritySettings
from .report.settings import ReportSettings
from .sources.vendors.settings import SourcesSettings

__all__ = ["Settings", "load_settings"]

# A key that names a secret (token, api_token, db_password, …) holding a value. Rule names
# such as password_spraying hold a mapping of parameters and are not secrets.
_SECRET_KEY = re.compile(r"(?:.*_)?(?:token|secret|password|passwd|credentials?|bearer|api_key)", re.IGNORECASE)


@dataclass(frozen=True)
class Settings:
    """Every area's settings; each section is a frozen dataclass with its own defaults."""

    integrity: IntegritySettings = field(default_factory=IntegritySettings)
    detection: DetectionSettings = field(default_factory=DetectionSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    fetch: FetchSettings = field(default_factory=FetchSettings)
    sources: SourcesSettings = field(default_factory=SourcesSettings)
    path: Path | None = None  # the file they came from, for the reproducibility stamp

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, *, path: Path | None = None) -> Settings:
        data = dict(data or {})
        sections: dict[str, Any] = {
            "integrity": IntegritySettings,
            "detection": DetectionSettings,
            "report": ReportSettings,
            "fetch": FetchSettings,
            "sources": SourcesSettings,
        }
        unknown = sorted(set(data) - set(sections))
        if unknown:
            where = f" in {path}" if path else ""
            raise ConfigError(
                f"unknown settings section(s) {', '.join(unknown)}{where}; use {', '.join(sections)}", keys=unknown
            )
        _reject_secrets(data, path)
        built: dict[str, Any] = {}
        for name, kind in sections.items():
            section = data.get(name)
            if section is not None and not isinstance(section, Mapping):
                raise ConfigError(f"settings section {name!r} must be a mapping of keys to values", section=name)
            built[name] = kind.from_mapping(section) if section else kind()
        return cls(**built, path=path)

    def with_report(self, **changes: Any) -> Settings:
        """A copy with some report settings changed (e.g. from notebook parameters)."""
        return replace(self, report=replace(self.report, **{k: v for k, v in changes.items() if v is not None}))


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
    """Settings from a YAML file, or the defaults when ``path`` is None."""
    if path is None:
        return Settings()
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read settings file {file}: {exc.strerror}", path=str(file)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"settings file {file}{line} is not valid YAML; fix it", path=str(file)) from None
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(
            f"settings file {file} must be a mapping with sections integrity, detection, report, fetch, sources",
            path=str(file),
        )
    return Settings.from_mapping(_resolve_paths(data or {}, file.parent), path=file)


# Settings that name files: a relative path means relative to the settings file, so a
# settings file and its staff directory can travel together.
_PATH_KEYS = {
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
