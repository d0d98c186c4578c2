"""Settings of the fetch client: pages, retries, time budgets and the seams.

``sleep``, ``clock``, ``wall_clock`` and ``jitter`` are seams, not mocks: tests pass a
``sleep`` that records the waits so Retry-After handling is checked without waiting,
and users pass an ``httpx`` ``transport`` for proxies, mTLS or a recording layer.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields

import httpx

from ..errors import ConfigError

__all__ = ["FetchSettings"]


@dataclass(frozen=True)
class FetchSettings:
    """How a fetch behaves. Every default is what a production run should use.

    - ``page_size``: events per page asked for (at most 1000; each API style caps it
      at what its API allows: 500 for the platform, 1000 Okta, 100 GitHub).
    - ``pages_per_write``: pages buffered per store write; the checkpoint only ever
      names pages that are durably in the store (fewer, larger Parquet parts).
    - ``max_attempts``: attempts per page request, the first one included.
    - ``backoff_base`` / ``backoff_max``: exponential backoff with full jitter,
      ``uniform(0, min(backoff_max, backoff_base * 2**retry))`` seconds.
    - ``retry_after_cap``: the longest wait a Retry-After header can impose.
    - ``max_retry_time``: the total seconds one page may spend retrying.
    - ``timeout``: connect/read timeout of one request, seconds (per read).
    - ``page_timeout``: wall-clock seconds one page's whole body may take to arrive
      (a server sending a byte at a time never trips the per-read timeout); a slower
      page is retried like a dropped connection.
    - ``max_pages``: pages one run reads at most (a budget against a server that hands
      out fresh cursors forever); past it the run stops incomplete and resumes later.
    - ``progress_every``: pages between progress lines when stderr is not a terminal.
    - ``auth_scheme``: the ``Authorization`` scheme the token is sent with (``Bearer``;
      Okta API tokens use ``SSWS``).
    """

    page_size: int = 500
    pages_per_write: int = 20
    max_attempts: int = 8
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_cap: float = 120.0
    max_retry_time: float = 600.0
    timeout: float = 30.0
    page_timeout: float = 300.0
    max_pages: int = 1_000_000
    progress_every: int = 10
    progress: bool = True
    user_agent: str = "auditreports-fetch"
    auth_scheme: str = "Bearer"
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    jitter: Callable[[float, float], float] = random.uniform

    def __post_init__(self) -> None:
        if not 1 <= self.page_size <= 1000:
            raise ConfigError(f"page_size must be between 1 and 1000, got {self.page_size}")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*", self.auth_scheme):
            raise ConfigError(f"auth_scheme must be one word such as Bearer or SSWS, got {self.auth_scheme!r}")
        if self.pages_per_write < 1:
            raise ConfigError(f"pages_per_write must be at least 1, got {self.pages_per_write}")
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.max_pages < 1:
            raise ConfigError(f"max_pages must be at least 1, got {self.max_pages}")
        if not self.page_timeout > 0:
            raise ConfigError(f"page_timeout must be a positive number of seconds, got {self.page_timeout}")
        for name in ("backoff_base", "backoff_max", "retry_after_cap", "max_retry_time", "timeout"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.progress_every < 1:
            raise ConfigError(f"progress_every must be at least 1, got {self.progress_every}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> FetchSettings:
        """Settings from a plain mapping (a YAML section); unknown keys are a ConfigError."""
        allowed = {f.name for f in fields(cls)} - {"transport", "sleep", "clock", "wall_clock", "jitter"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ConfigError(
                f"unknown fetch setting(s): {', '.join(unknown)}; known: {', '.join(sorted(allowed))}", keys=unknown
            )
        try:
            return cls(**data)  # type: ignore[arg-type]
        except TypeError as exc:
            raise ConfigError(f"invalid fetch settings: {exc}") from None
