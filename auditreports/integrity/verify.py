"""``verify``: run every integrity check a source supports and come to an honest verdict.

Per source (the ``source`` column: ``workspace``, ``conversation``, a vendor name):

- ``hash_chain``  content and links of the chain (PARTIAL where a source has none);
- ``sequence``    holes, repeats, backward steps, repeated ids (PARTIAL without ``seq``);
- ``coverage``    the period against the log, silences against the log's rhythm,
                  retention, audit-settings changes;
- ``continuity``  conversation state replay (conversation logs).

Sequence breaks that a chain break already explains are folded into it, so a deleted
record is one ``deleted`` break, not also a ``seq_gap``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import InputError, UsageError
from ..schema import conform
from .chain import physical_order, verify_chain
from .continuity import conversation_breaks
from .coverage import coverage_report
from .csv_rebuild import rebuild_csv_content
from .model import Break, CheckResult, Unverified, Verification
from .period import UtcWindow, parse_period
from .sequence import duplicate_ids, sequence_breaks
from .settings import IntegritySettings

__all__ = ["verify", "with_unreadable_lines"]

_COLUMNS = (
    "event_id", "seq", "timestamp", "event_type", "source_action", "conversation_id", "actor_id", "actor_name",
    "before", "after", "source", "source_file", "source_line", "raw", "prev_hash", "hash",
)  # fmt: skip
CONVERSATION_SOURCES = ("conversation",)


def _frame(events: Any) -> pl.DataFrame:
    if hasattr(events, "events") and not isinstance(events, pl.DataFrame | pl.LazyFrame):
        events = events.events
    if not isinstance(events, pl.DataFrame | pl.LazyFrame):
        raise UsageError(
            f"verify() takes a Polars frame of canonical events (or a load/store result), not {type(events).__name__}"
        )
    return conform(events).select(_COLUMNS).collect()


def _previous(previous_manifest: str | os.PathLike[str] | Mapping[str, Any] | None) -> dict[str, Any] | None:
    if previous_manifest is None:
        return None
    if isinstance(previous_manifest, Mapping):
        return dict(previous_manifest)
    path = Path(previous_manifest)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"previous manifest {path} does not exist; pass the manifest.json of last period") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(
            f"previous manifest {path} is not JSON ({exc}); pass a manifest.json written by verify"
        ) from None
    if not isinstance(data, dict) or "chains" not in data:
        raise InputError(f"previous manifest {path} is not an auditreports evidence manifest (no 'chains')")
    return data


def verify(
    events: Any,
    *,
    settings: IntegritySettings | None = None,
    period: UtcWindow | str | None = None,
    previous_manifest: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    as_of: datetime | None = None,
) -> Verification:
    """Verify canonical events: hash chain, sequence, coverage, conversation continuity.

    ``events``: a canonical frame (lazy or not), or anything with ``.events`` (a load
    result, a store). ``period``: ``(start, end)`` UTC half-open or ``"2026-Q3"``.
    ``previous_manifest``: last period's manifest (path or parsed), whose chain heads
    this log must continue. ``as_of``: the moment the retention window is measured
    from (default now; pass it to make a verification reproducible).
    """
    settings = settings or IntegritySettings()
    if isinstance(period, str):
        period = parse_period(period)
    as_of = as_of or datetime.now(UTC)
    previous = _previous(previous_manifest)
    frame = _frame(events)
    checks: list[CheckResult] = []
    gaps: list[dict[str, Any]] = []
    notices: list[dict[str, Any]] = []
    spans: list[dict[str, Any]] = []
    heads: dict[str, dict[str, Any]] = {}
    checked = 0
    source_names = sorted(frame["source"].fill_null("unknown").unique().to_list())
    for source in source_names:
        everything = physical_order(frame.filter(pl.col("source").fill_null("unknown") == source))
        anchor = None
        if period is not None:
            start, end = period
            before = everything.filter(pl.col("timestamp") < start)
            if before.height and before["hash"].drop_nulls().len():
                last = before.row(before.height - 1, named=True)
                anchor = {"hash": last["hash"], "seq": last["seq"], "event_id": last["event_id"]}
            ordered = (
                everything.filter(pl.col("timestamp").is_between(start, end, closed="left"))
                .drop("position")
                .with_row_index("position")
                .with_columns(pl.col("position").cast(pl.Int64))
            )
        else:
            ordered = everything
        n = ordered.height
        checked += n
        if previous is not None and source in previous.get("chains", {}):
            chain_meta = previous["chains"][source]
            anchor = {**chain_meta.get("head", {}), "first_event_id": chain_meta.get("first", {}).get("event_id")}
        footprint: set[int] = set()
        if n and ordered["hash"].drop_nulls().len():
            not_csv, csv_modified, csv_unverified = rebuild_csv_content(ordered)
            report = verify_chain(
                ordered,
                source=source,
                settings=settings,
                previous_head=anchor,
                content_checkable=not_csv,
                modified_elsewhere=csv_modified,
            )
            footprint = report.footprint
            heads[source] = {"head": report.head, "first": report.first}
            unverified = report.unverified + (
                [Unverified("hash_chain", csv_unverified, source=source)] if csv_unverified else []
            )
            checks.append(CheckResult("hash_chain", source, n, tuple(report.breaks), tuple(unverified)))
        elif n:
            checks.append(
                CheckResult("hash_chain", source, n, (), (Unverified(
                    "hash_chain",
                    f"the {source} log carries no hash chain: records could be altered or removed without trace, "
                    "so tamper-evidence cannot be established",
                    source=source, events=n),))
            )  # fmt: skip
        seq_breaks = [b for b in sequence_breaks(ordered, source=source) + duplicate_ids(ordered, source=source)
                      if b.position not in footprint]  # fmt: skip
        seq_unverified: tuple[Unverified, ...] = ()
        without_seq = ordered.filter(pl.col("seq").is_null()).height
        if without_seq:
            seq_unverified = (Unverified("sequence", f"{without_seq} {source} event(s) carry no sequence number: holes "
                              "and order cannot be checked from the log itself", source=source, events=without_seq),)  # fmt: skip
        checks.append(CheckResult("sequence", source, n, tuple(_sorted(seq_breaks)), seq_unverified))
        g, cov_unverified, nts, span = coverage_report(
            ordered, source=source, settings=settings, as_of=as_of, period=period
        )
        gaps += g
        notices += nts
        spans.append(span)
        checks.append(CheckResult("coverage", source, n, (), tuple(cov_unverified)))
        if source in CONVERSATION_SOURCES:
            cb, cu, stats = conversation_breaks(
                _with_history(everything, ordered, period), source=source, settings=settings
            )
            if period is not None:
                cb = [b for b in cb if b.event_id in set(ordered["event_id"].to_list())]
            span["conversations"] = stats.get("conversations")
            checks.append(CheckResult("continuity", source, n, tuple(cb), tuple(cu)))
    parameters = {
        "settings": settings.to_dict(),
        "period": None if period is None else [period[0].isoformat(), period[1].isoformat()],
        "as_of": as_of.isoformat(),
        "previous_manifest": None if previous is None else previous.get("manifest_id"),
    }
    return Verification(
        events_checked=checked,
        checks=tuple(checks),
        gaps=tuple(gaps),
        notices=tuple(notices),
        sources=tuple(spans),
        chain_heads=heads,
        parameters=parameters,
    )


def _with_history(everything: pl.DataFrame, ordered: pl.DataFrame, period: UtcWindow | None) -> pl.DataFrame:
    """Continuity looks for a conversation's ``created`` before the period too, but never after it."""
    if period is None:
        return ordered
    return everything.filter(pl.col("timestamp") < period[1])


def _sorted(breaks: list[Break]) -> list[Break]:
    return sorted(breaks, key=lambda b: (b.position if b.position is not None else -1, b.kind))


def with_unreadable_lines(verification: Verification, quarantine: pl.DataFrame | None) -> Verification:
    """The verdict with the loader's quarantine counted: lines that could not be read were not verified.

    A log whose file could not be read in part (or at all) cannot be attested complete: each
    file with quarantined lines becomes an *unverified* entry naming the file, how many lines
    and the first reason, so the verdict is PARTIAL rather than a VERIFIED that silently left
    an input out.
    """
    if quarantine is None or quarantine.height == 0 or "source_file" not in quarantine.columns:
        return verification
    per_file = (
        quarantine.group_by("source_file", maintain_order=True)
        .agg(pl.len().alias("lines"), pl.col("reason").first().alias("reason"))
        .sort("source_file")
    )
    unverified = tuple(
        Unverified(
            "load",
            f"{lines:,} line(s) of {file} could not be read ({reason}) and are not in the log verified",
            source=str(file),
            events=int(lines),
        )
        for file, lines, reason in per_file.iter_rows()
    )
    check = CheckResult("load", "loader", events=0, unverified=unverified)
    return Verification(
        events_checked=verification.events_checked,
        checks=(*verification.checks, check),
        gaps=verification.gaps,
        notices=verification.notices,
        sources=verification.sources,
        chain_heads=verification.chain_heads,
        parameters=verification.parameters,
    )
