"""What the integrity checks assume about the platform and the log's rhythm.

One frozen dataclass, built once (from a settings file, the command line or notebook
parameters) and passed down; every default is documented in docs/integrity.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

__all__ = ["IntegritySettings"]


@dataclass(frozen=True)
class IntegritySettings:
    """Settings of :func:`auditreports.integrity.verify`.

    ``retention_days``: how long the platform keeps audit events (365 for most SaaS
    plans, 2190 = six years for HIPAA). A stretch older than this is *unverifiable*
    (the platform may lawfully have purged it), never *missing*.

    The log's rhythm: the expected number of events in each (weekday, hour) slot is
    learned from the log itself (mean and variance per slot). A silent stretch of at
    least ``min_silent_hours`` whose expected volume is at least
    ``min_expected_events`` and whose chance of happening by chance (negative
    binomial per slot: bursty traffic is silent more often than Poisson says) is at
    most ``max_silence_chance`` is reported as a likely logging outage. Sunday
    nights expect little and are silent often, so they are not flagged.
    ``min_rhythm_days`` is the span the log must cover before the weekday pattern is
    trusted; shorter logs use the hour-of-day pattern alone.

    ``carryover_days``: a conversation with no ``created`` event whose first event is
    within this many days of the log's start was probably opened before the log began
    (unverifiable); later than that it is a conversation of unknown origin (a break).

    ``hash_workers``: processes that recompute hashes (0 = one per CPU core, at most
    4); ``parallel_threshold``: below this many records hashing stays in-process.
    """

    retention_days: int = 365
    min_silent_hours: int = 3
    min_expected_events: float = 10.0
    max_silence_chance: float = 1e-6
    min_rhythm_days: int = 14
    carryover_days: int = 30
    hash_workers: int = 0
    parallel_threshold: int = 200_000

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"integrity setting {f.name} must be a number, not {value!r}; fix the settings file")
            if value < 0:
                raise ConfigError(f"integrity setting {f.name} must not be negative ({value}); fix the settings file")
        if not 0 < self.max_silence_chance <= 1:
            raise ConfigError(
                "integrity setting max_silence_chance must be a probability in (0, 1]; fix the settings file"
            )
        if self.retention_days < 1:
            raise ConfigError("integrity setting retention_days must be at least 1; fix the settings file")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> IntegritySettings:
        """Build from a mapping (a YAML section); unknown keys are a ConfigError, not ignored."""
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"unknown integrity setting(s) {', '.join(unknown)}; use only: {', '.join(sorted(known))}",
                unknown=unknown,
            )
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
