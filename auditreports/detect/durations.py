"""Durations in rule files: ``30s``, ``10m``, ``1h``, ``7d``, ``2w`` (what a reviewer writes)."""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["is_duration", "parse_duration"]

_DURATION = re.compile(r"^(\d+)(s|m|h|d|w)$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def is_duration(value: object) -> bool:
    return isinstance(value, str) and _DURATION.match(value) is not None and parse_duration(value) > timedelta(0)


def parse_duration(text: str) -> timedelta:
    """``"10m"`` -> 10 minutes; raises ValueError for anything else."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"not a duration: {text!r}")
    return timedelta(seconds=int(match.group(1)) * _SECONDS[match.group(2)])
