"""Report settings: who the report is for, what counts as PHI, what the appendix holds.

One frozen dataclass with documented defaults, built once (settings file, environment,
notebook parameters) and passed down. ``from_mapping`` rejects unknown keys so a typo
in a settings file is a :class:`~auditreports.errors.ConfigError`, not a silent default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["ReportSettings"]

_TUPLE_FIELDS = ("phi_tags", "phi_channels", "phi_knowledge_bases", "business_days")
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
    - ``timezone``, ``business_hours`` (start, end hour), ``business_days`` (0 = Monday):
      what "after hours" means for the HIPAA report.
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
    - ``staff_names``: show staff by name in the GDPR report (default: by role only).
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
    business_hours: tuple[int, int] = (8, 18)
    business_days: tuple[int, ...] = (0, 1, 2, 3, 4)
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
    phi_free_text: bool = False

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> ReportSettings:
        """Build settings from a plain mapping (a YAML section, notebook parameters)."""
        if data is None:
            return cls()
        data = {_ALIASES.get(k, k): v for k, v in data.items()}
        names = {f.name for f in dataclasses.fields(cls)}
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
                try:
                    start, end = (int(v) for v in value)
                except (TypeError, ValueError):
                    raise ConfigError("report setting business_hours must be two hours, e.g. [8, 18].") from None
                if not 0 <= start < end <= 24:
                    raise ConfigError("report setting business_hours must satisfy 0 <= start < end <= 24.")
                values[key] = (start, end)
            elif key in ("appendix_cap", "finding_evidence_rows", "bulk_access_threshold"):
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise ConfigError(f"report setting {key} must be a non-negative integer, not {value!r}.")
                values[key] = value
            elif key == "coverage_gap_hours":
                values[key] = float(value)
            elif key in ("staff_names", "charts", "phi_free_text"):
                if not isinstance(value, bool):
                    raise ConfigError(f"report setting {key} must be true or false, not {value!r}.")
                values[key] = value
            else:
                values[key] = str(value)
        if "business_days" in values and any(not 0 <= int(d) <= 6 for d in values["business_days"]):
            raise ConfigError("report setting business_days must list weekdays 0 (Monday) to 6 (Sunday).")
        return cls(**values)
