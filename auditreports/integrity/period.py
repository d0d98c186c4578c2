"""Reporting periods: ``2026-Q3``, ``2026-08``, ``2026`` or ``--from D --to D`` as half-open UTC ranges."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from ..errors import UsageError

__all__ = ["Period", "parse_period"]

Period = tuple[datetime, datetime]


def _day(text: str, what: str) -> datetime:
    try:
        d = date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{what} {text!r} is not a date; write it as YYYY-MM-DD", value=text) from None
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def parse_period(period: str | None = None, *, start: str | None = None, end: str | None = None) -> Period | None:
    """``[start, end)`` in UTC; ``end`` given with ``--to`` is inclusive (the whole day)."""
    if period and (start or end):
        raise UsageError("give either --period or --from/--to, not both")
    if period:
        text = period.strip()
        if m := re.fullmatch(r"(\d{4})-?Q([1-4])", text, re.IGNORECASE):
            year, q = int(m[1]), int(m[2])
            lo = datetime(year, 3 * q - 2, 1, tzinfo=UTC)
            hi = datetime(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1, tzinfo=UTC)
            return lo, hi
        if m := re.fullmatch(r"(\d{4})-(\d{2})", text):
            year, month = int(m[1]), int(m[2])
            if not 1 <= month <= 12:
                raise UsageError(f"period {period!r} has no month {month}; write e.g. 2026-08")
            return datetime(year, month, 1, tzinfo=UTC), datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
        if re.fullmatch(r"\d{4}", text):
            return datetime(int(text), 1, 1, tzinfo=UTC), datetime(int(text) + 1, 1, 1, tzinfo=UTC)
        raise UsageError(f"period {period!r} is not understood; write 2026-Q3, 2026-08 or 2026, or use --from/--to")
    if start or end:
        if not (start and end):
            raise UsageError("give both --from and --to (dates, YYYY-MM-DD)")
        lo, hi = _day(start, "--from"), _day(end, "--to") + timedelta(days=1)
        if hi <= lo:
            raise UsageError(f"--to {end} is before --from {start}; swap them")
        return lo, hi
    return None
