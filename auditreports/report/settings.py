"""Report settings: who the report is for, what counts as PHI, what the appendix holds.

One frozen dataclass with documented defaults, built once (settings file, environment,
notebook parameters) and passed down. ``from_mapping`` rejects unknown keys so a typo
in a settings file is a :class:`~auditreports.errors.ConfigError`, not a silent default.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..errors import ConfigError
from ..organisation import (
    DEFAULT_BUSINESS_DAYS,
    DEFAULT_BUSINESS_HOURS,
    WEEKDAYS,
    ActorHours,
    Organisation,
    check_business_days,
    load_staff_directory,
    parse_business_hours,
)

__all__ = ["ReportSettings"]

_TUPLE_FIELDS = ("phi_tags", "phi_channels", "phi_knowledge_bases", "business_days")
_NOT_GIVEN = ("actors", "settings_source")  # filled by Settings, not keys of the file
_PATH_FIELDS = ("logo", "templates_dir", "customers", "processing_record", "staff")
_ALIASES = {"template_dir": "templates_dir"}  # the earlier name, still accepted


@dataclass(frozen=True)
class ReportSettings:
    """Settings of every report kind.

    - ``organisation``: shown on the cover and in the PDF metadata (author).
    - ``logo``: an image file (PNG, JPEG or SVG) read once and inlined as a ``data:`` URI;
      the renderer never fetches files.
    - ``templates_dir`` (also accepted as ``template_dir``): organisation template overrides,
      searched before the package's; the only place besides ``--templates`` overrides come from.
    - ``frameworks_dirs``: directories of organisation framework files (``acme.yml`` is the
      report kind ``acme``), beside the shipped ones; ``--frameworks DIR`` adds more.
    - ``reviewer`` / ``reviewer_role``: pre-filled in the sign-off block (blank lines if unset).
    - ``appendix_cap``: evidence rows printed in the PDF appendix; the rest are only in
      the embedded ``events.csv`` (the PDF says so).
    - ``finding_evidence_rows``: evidence events shown under each finding.
    - ``timezone``, ``business_hours`` (``"08:00-18:00"``), ``business_days`` (``mon`` …):
      the organisation's working time, the same as detection's (``organisation:`` in the
      settings file); ``actors`` each staff member's own working time from the staff
      directory. :attr:`org` gives them as one :class:`~auditreports.organisation.Organisation`.
    - ``phi_tags`` / ``phi_channels`` / ``phi_knowledge_bases``: a conversation holds PHI
      if it was ever tagged with one of the tags, ran on one of the channels, or the bot
      retrieved from one of the knowledge bases in it.
    - ``bulk_access_threshold``: distinct PHI conversations one staff member opens in one
      day that count as bulk access.
    - ``coverage_gap_hours``: a silence in the log longer than this is listed as a gap.
    - ``customers``: the subject directory (CSV with ``customer_id`` and ``email``) used to
      resolve a GDPR subject given by email.
    - ``processing_record``: the YAML record of processing (Art. 30) that fills the GDPR
      Art. 15(1)(a)-(h) sections.
    - ``staff``: the staff directory (CSV with ``staff_id`` or ``actor_id`` and ``time_zone``);
      when set, "after hours" in the HIPAA report is judged in each staff member's own
      time zone (``timezone`` for everyone not listed).
    - ``staff_names``: kept for compatibility; the GDPR response names staff by role only
      (Art. 15(4)) whatever it says, and the internal release record always names them.
    - ``charts``: draw charts (needs kaleido + Chromium); off renders tables only.
    - ``phi_free_text``: print free text of conversations (notes, message bodies) in a report
      whose framework applies minimum necessary (HIPAA); default false: withheld there, in the
      PDF and in its embedded events.csv.
    """

    organisation: str = "Organisation"
    logo: Path | None = None
    templates_dir: Path | None = None
    frameworks_dirs: tuple[Path, ...] = ()
    reviewer: str | None = None
    reviewer_role: str | None = None
    appendix_cap: int = 10_000
    finding_evidence_rows: int = 5
    timezone: str = "UTC"
    business_hours: str = DEFAULT_BUSINESS_HOURS
    business_days: tuple[str, ...] = DEFAULT_BUSINESS_DAYS
    phi_tags: tuple[str, ...] = ("phi",)
    phi_channels: tuple[str, ...] = ()
    phi_knowledge_bases: tuple[str, ...] = ()
    bulk_access_threshold: int = 20
    coverage_gap_hours: float = 24.0
    customers: Path | None = None
    processing_record: Path | None = None
    staff: Path | None = None
    staff_names: bool = False
    charts: bool = True
    actors: Mapping[str, ActorHours] = field(default_factory=lambda: MappingProxyType({}))
    retention_required_days: int | None = None
    settings_source: str = "built-in defaults"  # the settings file and its sha256, for the stamp
    phi_free_text: bool = False

    def __post_init__(self) -> None:
        parse_business_hours(self.business_hours, "report business_hours")
        check_business_days(list(self.business_days), "report business_days")
        if self.staff is not None and not self.actors:
            # Built directly (not from a settings file): read the staff directory here.
            hours = load_staff_directory(
                Path(self.staff),
                key="staff",
                timezone=self.timezone,
                business_hours=self.business_hours,
                business_days=self.business_days,
            )
            object.__setattr__(self, "actors", MappingProxyType(hours))

    @functools.cached_property
    def org(self) -> Organisation:
        """The organisation vocabulary (working time, staff hours, PHI markers), as detection reads it."""
        return Organisation(
            name=self.organisation,
            logo=self.logo,
            timezone=self.timezone,
            business_hours=self.business_hours,
            business_days=self.business_days,
            staff_directory=self.staff,
            staff_hours=self.actors,
            phi_tags=self.phi_tags,
            phi_channels=self.phi_channels,
            phi_knowledge_bases=self.phi_knowledge_bases,
            customer_directory=self.customers,
            processing_record=self.processing_record,
            retention_required_days=self.retention_required_days,
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> ReportSettings:
        """Build settings from a plain mapping (a YAML section, notebook parameters)."""
        if data is None:
            return cls()
        data = {_ALIASES.get(k, k): v for k, v in data.items()}
        names = {f.name for f in dataclasses.fields(cls)} - set(_NOT_GIVEN)
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(
                f"unknown report setting(s) {', '.join(unknown)}; use one of {', '.join(sorted(names))}.",
                keys=unknown,
            )
        values: dict[str, Any] = {}
        for key, value in data.items():
            if value is None:
                values[key] = None
            elif key in _PATH_FIELDS:
                values[key] = Path(value)
            elif key == "frameworks_dirs":
                if isinstance(value, str):
                    value = [value]
                if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                    raise ConfigError("report setting frameworks_dirs must be a list of directories.")
                values[key] = tuple(Path(v) for v in value)
            elif key in _TUPLE_FIELDS:
                if isinstance(value, str):
                    value = [value]
                values[key] = tuple(value)
            elif key == "business_hours":
                values[key] = _business_hours(value)
            elif key in ("appendix_cap", "finding_evidence_rows", "bulk_access_threshold", "retention_required_days"):
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise ConfigError(f"report setting {key} must be a non-negative integer, not {value!r}.")
                values[key] = value
            elif key == "coverage_gap_hours":
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int | float)
                    or not math.isfinite(value)
                    or value <= 0
                ):
                    raise ConfigError(
                        f"report setting coverage_gap_hours must be a finite number of hours > 0, not {value!r}."
                    )
                values[key] = float(value)
            elif key in ("staff_names", "charts", "phi_free_text"):
                if not isinstance(value, bool):
                    raise ConfigError(f"report setting {key} must be true or false, not {value!r}.")
                values[key] = value
            else:
                values[key] = str(value)
        if "business_days" in values:
            values["business_days"] = _business_days(values["business_days"])
        return cls(**values)


def _business_hours(value: object) -> str:
    """``"08:00-18:00"``; the old form ``[8, 18]`` (whole hours) is read as that."""
    if isinstance(value, str):
        parse_business_hours(value, "report setting business_hours")
        return value
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and 0 <= value[0] < value[1] <= 24
    ):
        return f"{value[0]:02d}:00-{value[1]:02d}:00"
    raise ConfigError(f"report setting business_hours must look like '08:00-18:00', not {value!r}.")


def _business_days(value: tuple[Any, ...]) -> tuple[str, ...]:
    """Weekday names; the old form 0 (Monday) … 6 is read as names."""
    names = [WEEKDAYS[v] if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 6 else v for v in value]
    return check_business_days(names, "report setting business_days")
