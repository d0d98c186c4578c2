"""The quarter's calendar: office hours in each person's own time zone.

Times are integer epoch milliseconds throughout the generator (cheap to compare and
sort); they become ``2026-07-03T14:02:11.532Z`` strings only when written.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from .roster import Staff

QUARTER = "2026-Q3"
QUARTER_START = date(2026, 7, 1)
QUARTER_END = date(2026, 9, 30)  # inclusive
MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


START_MS = ms(datetime(2026, 7, 1, tzinfo=UTC))
END_MS = ms(datetime(2026, 10, 1, tzinfo=UTC))


def iso(t: int) -> str:
    """Epoch ms -> ``2026-07-03T14:02:11.532Z`` (millisecond precision, Z)."""
    dt = datetime.fromtimestamp(t // 1000, UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{t % 1000:03d}Z"


def utc_date(t: int) -> date:
    return datetime.fromtimestamp(t // 1000, UTC).date()


def quarter_days() -> list[date]:
    n = (QUARTER_END - QUARTER_START).days + 1
    return [QUARTER_START + timedelta(days=i) for i in range(n)]


def local_ms(d: date, hour: float, tz: str) -> int:
    """Epoch ms of local wall-clock ``hour`` on date ``d`` in zone ``tz``."""
    minutes = round(hour * 60)
    return ms(datetime(d.year, d.month, d.day, minutes // 60, minutes % 60, tzinfo=ZoneInfo(tz)))


def local_hour(t: int, tz: str) -> float:
    dt = datetime.fromtimestamp(t / 1000, ZoneInfo(tz))
    return dt.hour + dt.minute / 60


@dataclass
class Schedule:
    """Shifts (start, end) in epoch ms per staff member, and who is on duty each UTC hour."""

    shifts: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    starts: dict[str, list[int]] = field(default_factory=dict)
    by_hour: dict[int, list[str]] = field(default_factory=dict)

    def add(self, staff_id: str, start: int, end: int) -> None:
        self.shifts.setdefault(staff_id, []).append((start, end))

    def finish(self) -> None:
        for sid, shifts in self.shifts.items():
            shifts.sort()
            self.starts[sid] = [s for s, _ in shifts]
            for s, e in shifts:
                for h in range(s // HOUR, (e - 1) // HOUR + 1):
                    self.by_hour.setdefault(h, []).append(sid)

    def on_duty(self, t: int) -> list[str]:
        """Staff ids whose shift contains ``t`` (they are logged in and working)."""
        return [sid for sid in self.by_hour.get(t // HOUR, ()) if self.shift_at(sid, t) is not None]

    def shift_at(self, staff_id: str, t: int) -> tuple[int, int] | None:
        starts = self.starts.get(staff_id, [])
        i = bisect.bisect_right(starts, t) - 1
        if i >= 0:
            s, e = self.shifts[staff_id][i]
            if s <= t < e:
                return s, e
        return None

    def next_working_time(self, staff_id: str, t: int, rng: random.Random) -> int | None:
        """``t`` if the person is at work then, else a little after their next shift starts."""
        if self.shift_at(staff_id, t) is not None:
            return t
        starts = self.starts.get(staff_id, [])
        i = bisect.bisect_right(starts, t)
        if i >= len(starts):
            return None
        s, e = self.shifts[staff_id][i]
        return min(s + rng.randrange(3 * MINUTE, 50 * MINUTE), e - MINUTE)


def build_schedule(rng: random.Random, staff: list[Staff]) -> Schedule:
    """Weekday office hours in each person's zone, holidays, and a light weekend rota for agents."""
    schedule = Schedule()
    days = quarter_days()
    for person in staff:
        holiday: set[date] = set()
        if rng.random() < 0.45:  # a one- or two-week summer holiday
            first = rng.randrange(5, len(days) - 15)
            holiday.update(days[first : first + rng.choice((5, 7, 9, 12))])
        holiday.update(rng.sample(days, rng.randrange(0, 4)))
        for d in days:
            weekend = d.weekday() >= 5
            if weekend:
                if person.role != "agent" or rng.random() > 0.11:
                    continue
                length = rng.uniform(5.0, 6.5)
            else:
                if d in holiday:
                    continue
                length = rng.uniform(7.5, 9.0)
            start_hour = person.start_hour + rng.uniform(-0.25, 0.35)
            start = local_ms(d, start_hour, person.tz) + rng.randrange(0, 60_000)
            end = start + int(length * HOUR) + rng.randrange(0, 60_000)
            if person.active_until is not None and start >= person.active_until:
                continue
            if start < person.active_from:
                continue
            if start < START_MS or end >= END_MS:
                continue
            schedule.add(person.id, start, end)
    schedule.finish()
    return schedule
