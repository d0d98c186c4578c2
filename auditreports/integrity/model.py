"""What a verification found: breaks, what could not be checked, and the verdict.

A *break* is evidence that the log is not what the platform wrote (a record changed,
removed, added or moved; a sequence or a conversation that cannot have happened).
An *unverified* entry names a check that could not be run on every record and why
(no hash chain, CSV cells that cannot be rebuilt byte-exact, a likely logging outage,
a stretch beyond the retention window). The verdict follows from both:

- FAILED   when there is at least one break;
- PARTIAL  when there is none but something could not be checked;
- VERIFIED only when every check ran on every record and found nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["FAILED", "PARTIAL", "VERIFIED", "Break", "CheckResult", "Unverified", "Verification"]

VERIFIED = "VERIFIED"
PARTIAL = "PARTIAL"
FAILED = "FAILED"

EXIT_CODES = {VERIFIED: 0, FAILED: 1, PARTIAL: 3}


@dataclass(frozen=True)
class Break:
    """One piece of evidence that the log was altered or cannot be what happened.

    ``position`` is the 0-based index of the record in the log's physical order (files
    in sequence order, lines in file order), so an auditor can find it; ``event_ids``
    lists every record involved (``event_id`` is the first).
    """

    kind: str
    check: str
    event_id: str | None
    position: int | None
    detail: str
    source: str | None = None
    event_ids: tuple[str, ...] = ()
    source_file: str | None = None
    source_line: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "event_id": self.event_id,
            "position": self.position,
            "detail": self.detail,
            "check": self.check,
            "source": self.source,
            "event_ids": list(self.event_ids) or ([self.event_id] if self.event_id else []),
            "source_file": self.source_file,
            "source_line": self.source_line,
        }
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class Unverified:
    """A check that could not be run on every record, and why."""

    check: str
    reason: str
    source: str | None = None
    events: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "reason": self.reason, "source": self.source, "events": self.events}


@dataclass(frozen=True)
class CheckResult:
    """One check over one source: its own verdict and how many events it covered."""

    check: str
    source: str
    events: int
    breaks: tuple[Break, ...] = ()
    unverified: tuple[Unverified, ...] = ()
    ran: bool = True

    @property
    def verdict(self) -> str:
        if self.breaks:
            return FAILED
        if self.unverified or not self.ran:
            return PARTIAL
        return VERIFIED

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "source": self.source,
            "verdict": self.verdict,
            "events": self.events,
            "breaks": len(self.breaks),
            "unverified": [u.reason for u in self.unverified],
        }


@dataclass(frozen=True)
class Verification:
    """The result of :func:`auditreports.integrity.verify`.

    ``checks`` holds one :class:`CheckResult` per (check, source); ``gaps`` the silent
    stretches measured against the log's rhythm; ``notices`` audit-settings and
    retention changes an auditor must see; ``chain_heads`` the last hash and sequence
    of each hash-chained source (what the next quarter must continue from).
    """

    events_checked: int
    checks: tuple[CheckResult, ...]
    gaps: tuple[dict[str, Any], ...] = ()
    notices: tuple[dict[str, Any], ...] = ()
    sources: tuple[dict[str, Any], ...] = ()
    chain_heads: dict[str, dict[str, Any]] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def breaks(self) -> list[Break]:
        out = [b for c in self.checks for b in c.breaks]
        return sorted(out, key=lambda b: (b.source or "", b.position if b.position is not None else -1, b.kind))

    @property
    def unverified(self) -> list[Unverified]:
        return [u for c in self.checks for u in c.unverified]

    @property
    def checks_run(self) -> list[str]:
        return sorted({c.check for c in self.checks if c.ran})

    @property
    def verdict(self) -> str:
        if self.breaks:
            return FAILED
        if not self.checks or self.unverified or any(not c.ran for c in self.checks):
            return PARTIAL
        return VERIFIED

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def check_verdict(self, check: str, source: str | None = None) -> str:
        """The verdict of one check (over one source, or all sources that had it)."""
        found = [c for c in self.checks if c.check == check and (source is None or c.source == source)]
        if not found:
            return PARTIAL
        if any(c.verdict == FAILED for c in found):
            return FAILED
        if any(c.verdict == PARTIAL for c in found):
            return PARTIAL
        return VERIFIED

    def to_dict(self) -> dict[str, Any]:
        """The ``verify --json`` document (the documented keys first, then the detail; docs/integrity.md)."""
        return {
            "verdict": self.verdict,
            "events_checked": self.events_checked,
            "breaks": [b.to_dict() for b in self.breaks],
            "unverified": [u.to_dict() for u in self.unverified],
            "checks": [c.to_dict() for c in self.checks],
            "checks_run": self.checks_run,
            "gaps": list(self.gaps),
            "notices": list(self.notices),
            "sources": list(self.sources),
            "chain_heads": self.chain_heads,
            "parameters": self.parameters,
        }
