"""The organisation's vocabulary, read by detection and by every report alike.

One :class:`Organisation` (the ``organisation:`` section of the settings file) says who
the organisation is (name, logo), when its people work (time zone, business hours and
days, each staff member's own zone from the staff directory), which conversations hold
PHI (tags, channels, knowledge bases), where its customer directory and record of
processing are, and how long it must keep audit logs. Detection and the reports call
the same functions on it, so "after hours" and "PHI conversation" mean one thing:

- :func:`off_hours_expr` / :func:`local_time_expr`: Polars expressions of working time;
- :func:`phi_conversations`: the conversations that hold PHI;
- :func:`load_staff_directory`: the staff directory CSV, read once;
- :func:`country_of_zone`: the country an IANA time zone is in (where a staff member works).

This module is neutral: it imports nothing from ``detect`` or ``report``.
"""

from __future__ import annotations

import csv
import functools
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import polars as pl

from .errors import ConfigError

__all__ = [
    "DEFAULT_BUSINESS_DAYS",
    "DEFAULT_BUSINESS_HOURS",
    "WEEKDAYS",
    "ActorHours",
    "Organisation",
    "check_business_days",
    "check_timezone",
    "country_of_zone",
    "load_staff_directory",
    "local_time_expr",
    "off_hours_expr",
    "parse_business_hours",
    "phi_conversations",
    "phi_tag_state",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEFAULT_BUSINESS_HOURS = "08:00-18:00"
DEFAULT_BUSINESS_DAYS = ("mon", "tue", "wed", "thu", "fri")

_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def parse_business_hours(value: object, where: str = "business_hours") -> tuple[int, int]:
    """``"08:00-18:00"`` -> (480, 1080): minutes after local midnight, ``[start, end)``."""
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


def check_timezone(value: object, where: str = "timezone") -> str:
    """An IANA zone name, or a ConfigError saying so."""
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be an IANA time zone name such as 'Europe/Berlin', not {value!r}.")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"{where} {value!r} is not a known IANA time zone; use a name such as 'Europe/Berlin'."
        ) from exc
    return value


def weekday_name(value: object) -> str | None:
    """``mon``/``Monday`` -> ``mon``; anything else -> None (no guessing from numbers or prefixes)."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if text in WEEKDAYS:
        return text
    if text in _FULL_NAMES:
        return WEEKDAYS[_FULL_NAMES.index(text)]
    return None


def check_business_days(value: object, where: str = "business_days") -> tuple[str, ...]:
    """A non-empty list of weekday names (``mon`` … ``sun`` or full names) -> short names."""
    if not isinstance(value, list | tuple) or not value:
        raise ConfigError(
            f"{where} must be a non-empty list of weekdays such as [mon, tue, wed, thu, fri], not {value!r}."
        )
    days = [weekday_name(d) for d in value]
    bad = [v for v, d in zip(value, days, strict=True) if d is None]
    if bad:
        raise ConfigError(f"{where} has unknown weekday(s) {bad}; use {', '.join(WEEKDAYS)}.")
    return tuple(dict.fromkeys(d for d in days if d is not None))


@dataclass(frozen=True)
class ActorHours:
    """One staff member's own working time (they work in their own time zone)."""

    timezone: str
    business_hours: str = DEFAULT_BUSINESS_HOURS
    business_days: tuple[str, ...] = DEFAULT_BUSINESS_DAYS

    @property
    def minutes(self) -> tuple[int, int]:
        return parse_business_hours(self.business_hours)


@dataclass(frozen=True)
class Organisation:
    """The organisation vocabulary; every field is documented in docs/settings.md.

    ``staff_hours`` holds each staff member's working time (from the staff directory,
    then ``organisation.staff_hours`` entries, which win); everyone else works
    ``business_hours`` on ``business_days`` in ``timezone``.
    """

    name: str = "Organisation"
    logo: Path | None = None
    timezone: str = "UTC"
    business_hours: str = DEFAULT_BUSINESS_HOURS
    business_days: tuple[str, ...] = DEFAULT_BUSINESS_DAYS
    staff_directory: Path | None = None
    staff_hours: Mapping[str, ActorHours] = field(default_factory=lambda: MappingProxyType({}))
    phi_tags: tuple[str, ...] = ("phi",)
    phi_channels: tuple[str, ...] = ()
    phi_knowledge_bases: tuple[str, ...] = ()
    customer_directory: Path | None = None
    processing_record: Path | None = None
    retention_required_days: int | None = None

    def __post_init__(self) -> None:
        check_timezone(self.timezone, "organisation.timezone")
        parse_business_hours(self.business_hours, "organisation.business_hours")
        object.__setattr__(
            self, "business_days", check_business_days(list(self.business_days), "organisation.business_days")
        )
        object.__setattr__(self, "phi_tags", tuple(t.lower() for t in self.phi_tags))

    @property
    def business_minutes(self) -> tuple[int, int]:
        """Business hours as minutes after local midnight, ``[start, end)``."""
        return parse_business_hours(self.business_hours, "organisation.business_hours")

    def working_time_text(self) -> str:
        """The working time in words, for report prose: ``08:00–18:00 Mon–Fri (Europe/London)``."""
        days = ", ".join(d.capitalize() for d in self.business_days)
        start, end = self.business_hours.split("-")
        return f"{start}–{end} on {days} ({self.timezone})"


# --------------------------------------------------------------------------- staff directory


def load_staff_directory(
    path: Path,
    *,
    key: str = "organisation.staff_directory",
    timezone: str = "UTC",
    business_hours: str = DEFAULT_BUSINESS_HOURS,
    business_days: Iterable[str] = DEFAULT_BUSINESS_DAYS,
) -> dict[str, ActorHours]:
    """Each staff member's working time from the staff directory CSV.

    Columns: ``staff_id`` (or ``actor_id``/``id``), ``time_zone`` (or ``timezone``/``tz``),
    optionally ``business_hours``; a blank zone or hours falls back to the organisation's.
    Every problem is a ConfigError naming the file, the key and the row.
    """
    days = tuple(business_days)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except UnicodeDecodeError:
        raise ConfigError(
            f"{key}: {path} is not UTF-8 text; save the staff directory as UTF-8 CSV.", key=key, path=str(path)
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{key}: cannot read the staff directory {path} ({exc.strerror}); give an existing CSV file.",
            key=key,
            path=str(path),
        ) from None
    except csv.Error as exc:
        raise ConfigError(f"{key}: {path} is not a valid CSV file ({exc}).", key=key, path=str(path)) from None
    columns = set(rows[0]) if rows else set()
    id_col = next((c for c in ("staff_id", "actor_id", "id") if c in columns), None)
    tz_col = next((c for c in ("time_zone", "timezone", "tz") if c in columns), None)
    if id_col is None or tz_col is None:
        raise ConfigError(
            f"{key}: the staff directory {path} needs a staff_id (or actor_id) column and a time_zone column; "
            f"it has {sorted(columns) or 'no rows'}.",
            key=key,
            path=str(path),
        )
    result: dict[str, ActorHours] = {}
    for number, row in enumerate(rows, start=2):
        actor = (row.get(id_col) or "").strip()
        if not actor:
            continue
        where = f"{key} {path} line {number}"
        tz = check_timezone((row.get(tz_col) or "").strip() or timezone, f"{where} time_zone")
        hours = (row.get("business_hours") or "").strip() or business_hours
        parse_business_hours(hours, f"{where} business_hours")
        result[actor] = ActorHours(tz, hours, days)
    return result


# --------------------------------------------------------------------------- working time


def _off_hours_in(timezone: str, minutes: tuple[int, int], days: Iterable[str]) -> tuple[pl.Expr, pl.Expr]:
    local = pl.col("timestamp").dt.convert_time_zone(timezone)
    minute_of_day = local.dt.hour().cast(pl.Int32) * 60 + local.dt.minute().cast(pl.Int32)
    day_numbers = [WEEKDAYS.index(d) + 1 for d in days]  # Polars: Monday = 1
    working = local.dt.weekday().is_in(day_numbers) & (minute_of_day >= minutes[0]) & (minute_of_day < minutes[1])
    text = pl.concat_str([local.dt.strftime("%a %Y-%m-%d %H:%M"), pl.lit(f" {timezone}")])
    return ~working, text


def _per_actor(organisation: Organisation, pick: int) -> pl.Expr:
    default = _off_hours_in(organisation.timezone, organisation.business_minutes, organisation.business_days)[pick]
    profiles: dict[tuple[str, tuple[int, int], tuple[str, ...]], list[str]] = {}
    for actor_id, hours in organisation.staff_hours.items():
        profiles.setdefault((hours.timezone, hours.minutes, tuple(hours.business_days)), []).append(actor_id)
    chain: Any = None
    for (tz, minutes, days), actor_ids in profiles.items():
        expr = _off_hours_in(tz, minutes, days)[pick]
        cond = pl.col("actor_id").is_in(actor_ids)
        chain = pl.when(cond).then(expr) if chain is None else chain.when(cond).then(expr)
    return default if chain is None else chain.otherwise(default)


def off_hours_expr(organisation: Organisation) -> pl.Expr:
    """True when an event falls outside its actor's working time, in the actor's own zone.

    Staff in the directory (or ``staff_hours``) are judged by their own zone and hours;
    everyone else by the organisation's. Reads ``timestamp`` and ``actor_id``.
    """
    return _per_actor(organisation, 0)


def local_time_expr(organisation: Organisation) -> pl.Expr:
    """The event's time in its actor's zone, as text (``Wed 2026-07-01 22:14 Europe/London``)."""
    return _per_actor(organisation, 1)


# --------------------------------------------------------------------------- PHI

_TAG_TYPES = ("conversation.tag_applied", "conversation.tag_removed")
_KB_TYPE = "bot.knowledge.retrieved"


def _tags_after() -> pl.Expr:
    """The conversation's tag set after a tag event, lower-cased.

    Tag events carry the whole set (``{"tags": [...]}``); a single ``{"tag": ...}`` or a
    bare tag string is read as a set of one.
    """
    after = pl.col("after")
    as_list = after.str.json_path_match("$.tags").str.json_decode(pl.List(pl.String))
    single = after.str.json_path_match("$.tag")
    bare = pl.when(after.str.starts_with("{") | after.str.starts_with("[")).then(None).otherwise(after)
    one = pl.coalesce(single, bare)
    return (
        pl.when(as_list.is_not_null())
        .then(as_list)
        .otherwise(pl.when(one.is_not_null()).then(pl.concat_list(one)).otherwise(None))
        .list.eval(pl.element().str.to_lowercase())
    )


def phi_tag_state(events: pl.LazyFrame, organisation: Organisation) -> pl.LazyFrame:
    """Every tag change: ``conversation_id``, ``timestamp`` and ``phi`` (a PHI tag is in force after it)."""
    tags = list(organisation.phi_tags)
    return events.filter(pl.col("event_type").is_in(_TAG_TYPES) & pl.col("conversation_id").is_not_null()).select(
        "conversation_id",
        "timestamp",
        _tags_after().list.eval(pl.element().is_in(tags)).list.any().fill_null(False).alias("phi"),
    )


def phi_marker_expr(organisation: Organisation) -> pl.Expr:
    """True for an event that marks its conversation as PHI without a tag: a PHI channel or knowledge base."""
    channel = pl.col("channel").is_in(list(organisation.phi_channels)) if organisation.phi_channels else pl.lit(False)
    kbs = list(organisation.phi_knowledge_bases)
    kb = (
        (pl.col("event_type") == _KB_TYPE)
        & (
            pl.col("resource_id").is_in(kbs) | pl.col("after").str.json_path_match("$.knowledge_base").is_in(kbs)
        ).fill_null(False)
        if kbs
        else pl.lit(False)
    )
    return (channel | kb).fill_null(False)


def phi_conversations(events: pl.LazyFrame | pl.DataFrame, organisation: Organisation) -> pl.LazyFrame:
    """The conversations that hold PHI: one sorted column ``conversation_id``.

    A conversation holds PHI if it was ever tagged with one of ``phi_tags``, ran on one of
    ``phi_channels``, or the bot retrieved from one of ``phi_knowledge_bases`` in it. The
    HIPAA report and the detection rules (``phi_tags`` derived field) both read this.
    """
    lazy = events.lazy()
    tagged = phi_tag_state(lazy, organisation).filter(pl.col("phi")).select("conversation_id")
    marked = lazy.filter(pl.col("conversation_id").is_not_null() & phi_marker_expr(organisation)).select(
        "conversation_id"
    )
    return pl.concat([tagged, marked]).unique().sort("conversation_id")


# iso3166.tab's short names, where a letter to a member of the public needs the usual one.
_COUNTRY_NAMES = MappingProxyType({"GB": "United Kingdom"})


@functools.cache
def _zone_countries() -> Mapping[str, str]:
    """``zone.tab`` × ``iso3166.tab`` of the IANA time zone database: zone name → country name."""
    texts: dict[str, str] = {}
    for name in ("zone.tab", "iso3166.tab"):
        try:
            from importlib.resources import files

            texts[name] = files("tzdata.zoneinfo").joinpath(name).read_text(encoding="utf-8")
            continue
        except (ModuleNotFoundError, OSError):
            pass
        for base in zoneinfo.TZPATH:
            candidate = Path(base) / name
            if candidate.is_file():
                texts[name] = candidate.read_text(encoding="utf-8")
                break
    if len(texts) < 2:
        return {}
    rows = [line.split("\t") for line in texts["iso3166.tab"].splitlines() if line and not line.startswith("#")]
    countries = {r[0]: _COUNTRY_NAMES.get(r[0], r[1]) for r in rows if len(r) >= 2}
    out: dict[str, str] = {}
    for line in texts["zone.tab"].splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and not line.startswith("#") and parts[0] in countries:
            out[parts[2]] = countries[parts[0]]
    return MappingProxyType(out)


def country_of_zone(zone: str | None) -> str | None:
    """The country an IANA zone such as ``Asia/Manila`` lies in (``Philippines``); None for UTC or unknown."""
    return _zone_countries().get((zone or "").strip()) if zone else None
