"""When to retry a request and how long to wait.

Retried: connection errors (refused, reset, timed out, a body cut off mid-way),
408, 429 and every 5xx. Waits: the server's ``Retry-After`` when it sends one
(delta-seconds or an HTTP date, capped), otherwise exponential backoff with full
jitter so many clients behind one rate limit do not retry in lock-step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import httpx

from ._settings import FetchSettings

__all__ = ["RETRYABLE_STATUS", "RetryStats", "backoff_delay", "is_retryable_status", "parse_retry_after"]

RETRYABLE_STATUS = frozenset({408, 429})
RETRYABLE_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError)


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUS or 500 <= status <= 599


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header, as RFC 9110 section 10.2.3 allows it.

    ``delay-seconds`` is ASCII digits only (so ``²``, ``1.5``, ``-1`` and ``+3`` are not
    waits); an HTTP date must be the IMF-fixdate ``Sun, 06 Nov 1994 08:49:37 GMT`` or
    one of the two obsolete forms (RFC 850, asctime), always GMT. ``now`` is the
    wall-clock time (epoch seconds) the date is measured from. None when absent or not
    one of those (the caller falls back to backoff); never negative.
    """
    if value is None:
        return None
    value = value.strip(" \t")
    if _DELAY_SECONDS.fullmatch(value):
        # Very long digit strings are still a number of seconds; the caller caps the wait.
        return float(int(value)) if len(value) <= 12 else 1e12
    if not any(form.fullmatch(value) for form in _HTTP_DATE_FORMS):
        return None
    text = value if "GMT" in value else value + " GMT"
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


_DELAY_SECONDS = re.compile(r"[0-9]+", re.ASCII)
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_TIME = r"[0-9]{2}:[0-9]{2}:[0-9]{2}"
_HTTP_DATE_FORMS = (
    re.compile(rf"{_DAY}, [0-9]{{2}} {_MONTH} [0-9]{{4}} {_TIME} GMT", re.ASCII),  # IMF-fixdate
    re.compile(
        rf"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), [0-9]{{2}}-{_MONTH}-[0-9]{{2}} {_TIME} GMT",
        re.ASCII,
    ),  # RFC 850
    re.compile(rf"{_DAY} {_MONTH} (?:[0-9]{{2}}| [0-9]) {_TIME} [0-9]{{4}}", re.ASCII),  # asctime
)


def backoff_delay(retry: int, settings: FetchSettings) -> float:
    """Full-jitter exponential backoff for the ``retry``-th retry (0-based)."""
    ceiling = min(settings.backoff_max, settings.backoff_base * (2**retry))
    return settings.jitter(0.0, ceiling)


@dataclass
class RetryStats:
    """What the retries of one fetch cost: counted into the completeness ledger."""

    retries: int = 0
    http_429: int = 0
    http_5xx: int = 0
    http_408: int = 0
    connection_errors: int = 0
    empty_pages: int = 0
    waited_seconds: float = 0.0
    waits: list[float] = field(default_factory=list)

    def observe(self, reason: str) -> None:
        """Count one failed attempt: ``"429"``, ``"503"``…, or ``"connection"``."""
        if reason == "429":
            self.http_429 += 1
        elif reason == "408":
            self.http_408 += 1
        elif reason.startswith("5"):
            self.http_5xx += 1
        elif reason == "empty":
            self.empty_pages += 1
        else:
            self.connection_errors += 1

    def retried(self, delay: float) -> None:
        """Count one retry after waiting ``delay`` seconds."""
        self.retries += 1
        self.waited_seconds += delay
        self.waits.append(delay)

    def as_dict(self) -> dict[str, object]:
        return {
            "retries": self.retries,
            "http_429": self.http_429,
            "http_5xx": self.http_5xx,
            "http_408": self.http_408,
            "connection_errors": self.connection_errors,
            "empty_pages": self.empty_pages,
            "waited_seconds": round(self.waited_seconds, 3),
        }

    def merge(self, saved: dict[str, object]) -> None:
        """Add the counts a checkpoint carried over from an interrupted run."""
        for name in ("retries", "http_429", "http_5xx", "http_408", "connection_errors", "empty_pages"):
            value = saved.get(name, 0)
            setattr(self, name, getattr(self, name) + (value if isinstance(value, int) else 0))
        waited = saved.get("waited_seconds", 0.0)
        self.waited_seconds += float(waited) if isinstance(waited, int | float) else 0.0
