"""Reporting periods for verification as half-open UTC ranges.

The calendar rules (quarters, months, years, inclusive ``--to`` dates) live in one
place, :func:`auditreports.period.parse_period`; verification only needs the
period as ``[start, end)`` datetimes.
"""

from __future__ import annotations

from datetime import date, datetime

from ..period import parse_period as _parse_period

__all__ = ["UtcWindow", "parse_period"]

UtcWindow = tuple[datetime, datetime]  # [start, end) — a Period as verification reads it


def parse_period(
    period: str | None = None,
    *,
    start: str | date | None = None,
    end: str | date | None = None,
    names: tuple[str, str, str] = ("period", "start", "end"),
) -> UtcWindow | None:
    """``[start, end)`` in UTC, or None when no period is given; ``end`` is inclusive (the whole day)."""
    if not period and not start and not end:
        return None
    p = _parse_period(period or None, start=start or None, end=end or None, names=names)
    return p.start_utc, p.end_utc_exclusive
