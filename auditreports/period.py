"""Periods (quarters, months, years, date ranges) and the GDPR answer deadline.

One neutral module below integrity and reports: both read a period the same way. A period
covers whole UTC days: ``Period.start`` and ``Period.end`` are inclusive dates;
``start_utc``/``end_utc_exclusive`` are the half-open range integrity checks against.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from .errors import ParameterError

__all__ = [
    "API_NAMES",
    "CLI_NAMES",
    "PARAMETER_NAMES",
    "Period",
    "add_one_month",
    "gdpr_deadline",
    "parse_date",
    "parse_period",
    "period_problem",
]

_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$", re.IGNORECASE)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR = re.compile(r"^(\d{4})$")


@dataclass(frozen=True)
class Period:
    """An inclusive range of UTC days, with the label the user gave it."""

    start: date
    end: date
    label: str

    @property
    def start_utc(self) -> datetime:
        return datetime.combine(self.start, time(0), tzinfo=UTC)

    @property
    def end_utc_exclusive(self) -> datetime:
        """Midnight after the last day: events are in the period if ``start_utc <= t < this``."""
        return datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=UTC)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def parse_date(value: str | date, *, name: str = "date") -> date:
    """An ISO date (``2026-07-01``); a datetime string keeps its date part."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        return date.fromisoformat(text[:10]) if len(text) > 10 and text[10] in "T " else date.fromisoformat(text)
    except ValueError:
        raise ParameterError(f"{name} {value!r} is not a date; give it as YYYY-MM-DD", parameter=name) from None


# How the three inputs of a period are called where they were typed: the command line's
# options, a notebook's parameters, or this module's arguments. Every period error is
# worded here, once, with the caller's names.
CLI_NAMES = ("--period", "--from", "--to")
PARAMETER_NAMES = ("period", "date_from", "date_to")
API_NAMES = ("period", "start", "end")


def period_problem(period: object, start: object, end: object, names: tuple[str, str, str] = API_NAMES) -> str | None:
    """Why these three inputs do not name one period (neither, both, or half of from/to); None if they do."""
    p, f, t = names
    if period is not None and (start is not None or end is not None):
        return f"give either {p} or {f} and {t}, not both"
    if period is None and start is None and end is None:
        return f"give the period: {p} 2026-Q3 (or 2026-07, 2026), or {f} and {t} (first and last day, YYYY-MM-DD)"
    if period is None and (start is None or end is None):
        given, missing = (f, t) if start is not None else (t, f)
        return f"{given} needs {missing} as well (the first and last day of the period), or give {p} instead"
    return None


def parse_period(
    period: str | None = None,
    *,
    start: str | date | None = None,
    end: str | date | None = None,
    names: tuple[str, str, str] = API_NAMES,
) -> Period:
    """``"2026-Q3"``, ``"2026-07"``, ``"2026"`` or explicit ``start``/``end`` dates -> :class:`Period`.

    Returns a :class:`Period`, which unpacks like ``(start, end)`` through ``.start``/``.end``.
    ``names``: what the three inputs are called where the user typed them (errors use them:
    :data:`CLI_NAMES` for the command line, :data:`PARAMETER_NAMES` for notebook parameters).
    """
    p, f, t = names
    problem = period_problem(period, start, end, names)
    if problem:
        raise ParameterError(problem, parameter=p)
    if period is None:
        first, last = parse_date(start, name=f), parse_date(end, name=t)  # type: ignore[arg-type]
        if last < first:
            raise ParameterError(f"the period ends ({t} {last}) before it starts ({f} {first}); swap them", parameter=f)
        return Period(first, last, f"{first.isoformat()} to {last.isoformat()}")
    text = str(period).strip()
    if m := _QUARTER.match(text):
        year, q = int(m[1]), int(m[2])
        first = date(year, 3 * q - 2, 1)
        last_month = 3 * q
        last = date(year, last_month, calendar.monthrange(year, last_month)[1])
        return Period(first, last, f"{year}-Q{q}")
    if m := _MONTH.match(text):
        year, month = int(m[1]), int(m[2])
        if not 1 <= month <= 12:
            raise ParameterError(f"{p} {text!r} has no month {month}; use 2026-07 style", parameter=p)
        return Period(date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]), text)
    if m := _YEAR.match(text):
        year = int(m[1])
        return Period(date(year, 1, 1), date(year, 12, 31), text)
    raise ParameterError(
        f"{p} {text!r} is not a period; use 2026-Q3, 2026-07 or 2026 (or {f} and {t} dates)", parameter=p
    )


def add_one_month(day: date) -> date:
    """The same day next month, or that month's last day if it is shorter (31 Jan -> 28/29 Feb)."""
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def gdpr_deadline(received: str | date) -> date:
    """Art. 12(3): answer "within one month of receipt of the request"."""
    return add_one_month(parse_date(received, name="received"))
