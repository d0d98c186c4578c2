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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from .._frames import reorder
from ..errors import InputError, UsageError
from ..schema import conform
from .chain import verify_chain
from .continuity import conversation_breaks
from .coverage import coverage_report
from .csv_rebuild import rebuild_csv_content
from .hashing import recompute_content_ok
from .model import Break, CheckResult, Unverified, Verification
from .period import UtcWindow, parse_period
from .sequence import duplicate_ids, sequence_breaks
from .settings import IntegritySettings

__all__ = ["verify", "with_unreadable_lines"]  # (and SourceResult, check_source for .bounded)

_COLUMNS = (
    "event_id", "seq", "timestamp", "event_type", "source_action", "conversation_id", "actor_id", "actor_name",
    "before", "after", "source", "source_file", "source_line", "raw", "prev_hash", "hash",
)  # fmt: skip
CONVERSATION_SOURCES = ("conversation",)


# Rows per batch of the pass over ``raw`` (the stored records: more than half the bytes of a
# log). Only one batch's records are held at a time; what the checks need from them stays.
BATCH_ROWS = 200_000
_KEY = ("event_id", "hash")  # a batch must be the very rows of the frame it completes


def _frame(events: Any, settings: IntegritySettings, period: UtcWindow | None = None) -> pl.DataFrame:
    """The events to verify, with their stored records (``raw``) read and checked batch by batch.

    The log is collected without ``raw``; then ``raw`` is read ``BATCH_ROWS`` rows at a
    time (a slice of a store scan reads only those rows' row groups) and each record is
    checked against its own stored hash - a fact of the row alone - and dropped. What stays
    per row: ``json_record`` (its record is JSON), ``content_ok`` and ``content_why``, and
    ``raw`` only where a later check reads it (CSV rows, rebuilt per source; records that
    fail their hash, which the re-link check reads). The checks that follow give the same
    result as on the whole log with every record held.
    """
    if hasattr(events, "events") and not isinstance(events, pl.DataFrame | pl.LazyFrame):
        events = events.events
    if not isinstance(events, pl.DataFrame | pl.LazyFrame):
        raise UsageError(
            f"verify() takes a Polars frame of canonical events (or a load/store result), not {type(events).__name__}"
        )
    lf = conform(events).select(_COLUMNS)
    if isinstance(events, pl.DataFrame):  # already in memory: nothing to save, slices are views
        whole = lf.collect()
        chained = _chained(whole, period)
        facts = [_row_facts(b, settings, period, chained).select(_FACTS) for b in whole.iter_slices(BATCH_ROWS)]
        return _with_facts(whole.drop("raw"), facts or [_row_facts(whole, settings, period, chained).select(_FACTS)])
    chained = _chained(lf, period)
    n = int(lf.select(pl.len()).collect().item())
    facts, prints = [], []
    for offset in range(0, n, BATCH_ROWS):
        batch = lf.slice(offset, BATCH_ROWS).select("raw", *_KEY, "timestamp", "source").collect()
        prints.append(_fingerprint(batch))
        facts.append(_row_facts(batch, settings, period, chained).select(_FACTS))
        del batch
    # The rest of the log after the records: the memory the batches used is reused for it.
    slim = lf.drop("raw").collect()
    if slim.height != n or (n and not _fingerprint(slim).equals(pl.concat(prints))):
        # A plan that does not give its rows in the same order twice: read it once, whole.
        whole = lf.collect()
        return _with_facts(whole.drop("raw"), [_row_facts(whole, settings, period, chained).select(_FACTS)])
    if not facts:
        facts = [_row_facts(lf.clear().collect(), settings, period, chained).select(_FACTS)]
    return _with_facts(slim, facts)


def _fingerprint(frame: pl.DataFrame) -> pl.Series:
    """Which rows, in which order: a hash of each row's id and stored hash."""
    return frame.select(pl.struct(_KEY).hash().alias("_row")).to_series()


def _with_facts(slim: pl.DataFrame, facts: list[pl.DataFrame]) -> pl.DataFrame:
    # A log has few files and millions of rows: their names are held once each (read back as text).
    slim = slim.with_columns(pl.col("source_file").cast(pl.Categorical))
    return slim.hstack(pl.concat(facts, how="vertical", rechunk=False).get_columns()).select(*_COLUMNS, *_FACTS[1:])


_FACTS = ("raw", "json_record", "content_ok", "content_why")


def _in_period(period: UtcWindow | None) -> pl.Expr:
    if period is None:
        return pl.lit(True)
    return pl.col("timestamp").is_between(period[0], period[1], closed="left").fill_null(False)


def _chained(events: pl.DataFrame | pl.LazyFrame, period: UtcWindow | None) -> list[str]:
    """The sources whose records are checked: those with a hash chain in the period (as verify decides)."""
    return (
        events.lazy()
        .filter(_in_period(period))
        .group_by(pl.col("source").fill_null("unknown"))
        .agg(pl.col("hash").drop_nulls().len())
        .filter(pl.col("hash") > 0)
        .collect()["source"]
        .to_list()
    )


def _row_facts(
    batch: pl.DataFrame, settings: IntegritySettings, period: UtcWindow | None, chained: list[str]
) -> pl.DataFrame:
    """One batch with its records checked (see :func:`_frame`); ``raw`` kept only where needed later."""
    n = batch.height
    looks_json = pl.col("raw").str.contains(r"^\s*\{").fill_null(False)
    checked = looks_json & _in_period(period) & pl.col("source").fill_null("unknown").is_in(chained)
    flags = batch.select(looks_json.alias("json_record"), checked.alias("_checked"))
    idx = flags.select(pl.arg_where(pl.col("_checked"))).to_series()
    ok = pl.select(pl.repeat(True, n, dtype=pl.Boolean)).to_series().alias("content_ok")
    why = pl.select(pl.repeat(None, n, dtype=pl.String)).to_series().alias("content_why")
    if idx.len():
        every_row = idx.len() == n
        ok_sub, why_sub, _ = recompute_content_ok(
            batch["raw"] if every_row else batch["raw"].gather(idx),
            batch["hash"] if every_row else batch["hash"].gather(idx),
            workers=settings.hash_workers,
            parallel_threshold=settings.parallel_threshold,
        )
        ok = ok_sub.alias("content_ok") if every_row else ok.scatter(idx, ok_sub)
        if why_sub:
            at = list(why_sub) if every_row else [idx[k] for k in why_sub]
            why = why.scatter(at, list(why_sub.values()))
    # CSV rows are rebuilt per source (the verdict depends on all of a source's CSV rows), and
    # a record that fails its own hash is read again by the re-link check: their raw stays.
    # Built afresh from Python strings: a filtered string column would keep the whole batch's
    # string buffers alive (Polars shares them between views), which is what is to be freed.
    keep = (flags["json_record"].not_() & batch["raw"].is_not_null()) | ok.not_()
    at = keep.arg_true().to_list()
    kept: list[str | None] = [None] * n
    for k, text in zip(at, batch["raw"].gather(at).to_list() if at else [], strict=True):
        kept[k] = text
    return batch.select(pl.col("event_id")).with_columns(
        pl.Series("raw", kept, dtype=pl.String), flags["json_record"], ok, why
    )


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
    if _is_lazy(events):
        from .bounded import verify_sources  # reads a stored log a run of files at a time

        results = verify_sources(_lazy(events), settings=settings, period=period, previous=previous, as_of=as_of)
    else:
        frame = _frame(events, settings, period)
        holder = [frame]
        del frame  # _by_source sorts it column by column, freeing each column as it goes
        results = (
            check_source(source, everything, settings=settings, period=period, previous=previous, as_of=as_of)
            for source, everything in _by_source(holder)
        )
    checks: list[CheckResult] = []
    gaps: list[dict[str, Any]] = []
    notices: list[dict[str, Any]] = []
    spans: list[dict[str, Any]] = []
    heads: dict[str, dict[str, Any]] = {}
    checked = 0
    for result in results:
        checks += result.checks
        gaps += result.gaps
        notices += result.notices
        spans.append(result.span)
        checked += result.events
        if result.head is not None:
            heads[result.source] = result.head
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


@dataclass
class SourceResult:
    """What every check found in one source (``head``: where its chain ends, if it has one)."""

    source: str
    events: int
    checks: list[CheckResult] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    notices: list[dict[str, Any]] = field(default_factory=list)
    span: dict[str, Any] = field(default_factory=dict)
    head: dict[str, Any] | None = None


def _is_lazy(events: Any) -> bool:
    if hasattr(events, "events") and not isinstance(events, pl.DataFrame | pl.LazyFrame):
        events = events.events
    return isinstance(events, pl.LazyFrame)


def _lazy(events: Any) -> pl.LazyFrame:
    if hasattr(events, "events") and not isinstance(events, pl.DataFrame | pl.LazyFrame):
        events = events.events
    return conform(events).select(_COLUMNS)


def check_source(
    source: str,
    everything: pl.DataFrame,
    *,
    settings: IntegritySettings,
    period: UtcWindow | None,
    previous: dict[str, Any] | None,
    as_of: datetime,
) -> SourceResult:
    """Every check of one source held whole (``everything``: its rows in physical order, with ``position``)."""
    anchor = None
    if period is not None:
        start, end = period
        before = everything.filter(pl.col("timestamp") < start)
        if before.height and before["hash"].drop_nulls().len():
            last = before.row(before.height - 1, named=True)
            anchor = {"hash": last["hash"], "seq": last["seq"], "event_id": last["event_id"]}
        ordered = _rows_where(everything, pl.col("timestamp").is_between(start, end, closed="left"))
    else:
        ordered = everything
    n = ordered.height
    result = SourceResult(source, n)
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
        result.head = {"head": report.head, "first": report.first}
        unverified = report.unverified + (
            [Unverified("hash_chain", csv_unverified, source=source)] if csv_unverified else []
        )
        result.checks.append(CheckResult("hash_chain", source, n, tuple(report.breaks), tuple(unverified)))
    elif n:
        result.checks.append(no_chain(source, n))
    result.checks.append(sequence_check(ordered, source, footprint))
    result.checks.append(coverage_check(ordered, source, result, settings=settings, period=period, as_of=as_of))
    if source in CONVERSATION_SOURCES:
        cb, cu, stats = conversation_breaks(
            _with_history(everything, ordered, period), source=source, settings=settings
        )
        result.checks.append(continuity_check(cb, cu, stats, ordered, source, result, period))
    return result


def no_chain(source: str, n: int) -> CheckResult:
    return CheckResult("hash_chain", source, n, (), (Unverified(
        "hash_chain",
        f"the {source} log carries no hash chain: records could be altered or removed without trace, "
        "so tamper-evidence cannot be established",
        source=source, events=n),))  # fmt: skip


def sequence_check(ordered: pl.DataFrame, source: str, footprint: set[int]) -> CheckResult:
    """Sequence breaks the chain does not already explain, and what carries no sequence number."""
    seq_breaks = [b for b in sequence_breaks(ordered, source=source) + duplicate_ids(ordered, source=source)
                  if b.position not in footprint]  # fmt: skip
    seq_unverified: tuple[Unverified, ...] = ()
    without_seq = ordered.filter(pl.col("seq").is_null()).height
    if without_seq:
        seq_unverified = (Unverified("sequence", f"{without_seq} {source} event(s) carry no sequence number: holes "
                          "and order cannot be checked from the log itself", source=source, events=without_seq),)  # fmt: skip
    return CheckResult("sequence", source, ordered.height, tuple(_sorted(seq_breaks)), seq_unverified)


def coverage_check(
    ordered: pl.DataFrame,
    source: str,
    result: SourceResult,
    *,
    settings: IntegritySettings,
    period: UtcWindow | None,
    as_of: datetime,
    settings_rows: pl.DataFrame | None = None,
) -> CheckResult:
    g, cov_unverified, nts, span = coverage_report(
        ordered, source=source, settings=settings, as_of=as_of, period=period, settings_rows=settings_rows
    )
    result.gaps += g
    result.notices += nts
    result.span = span
    return CheckResult("coverage", source, ordered.height, (), tuple(cov_unverified))


def continuity_check(
    cb: list[Break],
    cu: list[Unverified],
    stats: dict[str, int],
    ordered: pl.DataFrame,
    source: str,
    result: SourceResult,
    period: UtcWindow | None,
) -> CheckResult:
    """The continuity result: with a period, only breaks at events in it (the replay also reads what came before)."""
    if period is not None and cb:
        ids = {b.event_id for b in cb}
        inside = set(ordered.filter(pl.col("event_id").is_in(list(ids)))["event_id"].to_list())
        cb = [b for b in cb if b.event_id in inside]
    result.span["conversations"] = stats.get("conversations")
    return CheckResult("continuity", source, ordered.height, tuple(cb), tuple(cu))


def _rows_where(frame: pl.DataFrame, condition: pl.Expr, *, renumber: bool = True) -> pl.DataFrame:
    """The rows meeting ``condition`` (renumbered from 0): a view, not a copy, when they are one run."""
    keep = frame.select(condition.fill_null(False)).to_series()
    kept = keep.arg_true()
    if kept.len() and int(kept[-1]) - int(kept[0]) + 1 == kept.len():  # the usual case: one block
        rows = frame.slice(int(kept[0]), kept.len())
    else:
        rows = frame.filter(keep)
    if not renumber:
        return rows
    return rows.drop("position").with_row_index("position").with_columns(pl.col("position").cast(pl.Int64))


def _by_source(holder: list[pl.DataFrame]) -> list[tuple[str, pl.DataFrame]]:
    """Each source's events in :func:`~.chain.physical_order`, sorted once for all sources.

    One sort of the whole log by source, then the source's file rank, line, sequence and id,
    is the same order as sorting each source on its own; each source is then a slice (a view,
    not a copy) with its own 0-based ``position``. The frame (taken out of ``holder``, so
    nothing else holds it) is reordered a column at a time, each old column freed once
    moved: the log is held about once, not twice.
    """
    keyed = holder.pop().with_columns(pl.col("source").fill_null("unknown").alias("_source"))
    file_rank = (
        keyed.group_by("_source", "source_file")
        .agg(pl.col("seq").min().alias("_file_seq"))
        .sort(["_source", "_file_seq", pl.col("source_file").cast(pl.String)], nulls_last=True)
        .with_row_index("_file_rank")
        .select("_source", "source_file", "_file_rank")
    )
    ranks = keyed.select("_source", "source_file").join(
        file_rank, on=["_source", "source_file"], how="left", nulls_equal=True, maintain_order="left"
    )["_file_rank"]
    order = (
        keyed.select("_source", "source_line", "seq", "event_id")
        .with_columns(ranks)
        .select(pl.arg_sort_by(["_source", "_file_rank", "source_line", "seq", "event_id"], nulls_last=True))
        .to_series()
    )
    moved = [keyed]
    del keyed
    ordered = reorder(moved, order)
    del order
    counts = ordered.group_by("_source", maintain_order=True).len()
    out = []
    offset = 0
    for source, length in counts.iter_rows():
        part = ordered.slice(offset, length).drop("_source")
        out.append((source, part.with_row_index("position").with_columns(pl.col("position").cast(pl.Int64))))
        offset += length
    return out


def _with_history(everything: pl.DataFrame, ordered: pl.DataFrame, period: UtcWindow | None) -> pl.DataFrame:
    """Continuity looks for a conversation's ``created`` before the period too, but never after it."""
    if period is None:
        return ordered
    return _rows_where(everything, pl.col("timestamp") < period[1], renumber=False)


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
