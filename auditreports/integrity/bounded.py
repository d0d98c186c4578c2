"""Verification of a stored log in bounded memory: each source read a run of files at a time.

``verify`` on a store (any lazy frame) no longer collects the period. Per source:

1. **A plan** (one small aggregate): the source's files in chain order - by their lowest
   sequence number, then name, exactly the file rank of :func:`~.chain.physical_order` -
   with each file's row count and time range.
2. **One pass over the files**, ``CHUNK_ROWS`` rows of whole files at a time (the time range
   of the run lets Parquet statistics skip the row groups outside it). Each run is put in
   physical order and its records checked against their own hashes; the links are checked
   with the carry - the last hash before the run - so the first record of a run links to the
   last of the run before it as in one pass over the whole log. What the later checks need
   is kept, and only that: for sequence, coverage and the report of breaks, the position,
   id, sequence number, time and file/line of each event (~70 bytes, not the ~290 of every
   column); the audit-settings events whole; the first and last record of the chain (and any
   record matching the previous manifest's head). Conversation events are written to a
   temporary spill, hashed by conversation into buckets.
3. **Sequence and coverage** run on the kept columns, exactly as on the whole log;
   **continuity** replays the conversations a bucket at a time (each conversation whole, in
   one bucket; the log's start is the whole log's).

A chain that is intact needs nothing more. A damaged chain (a link or a record that fails,
or a first record that does not meet its anchor) is classified by :mod:`.damaged`: the pass
keeps the rows around each break, and further passes over the runs read only the chain
columns and keep only what the classification asks (the holders of some hashes, whether
anything links to some records, rows far from a break); its breaks are exactly those of
the source held whole, and what it holds grows with the breaks, not the source. A source
with CSV rows (whose records are rebuilt together, :mod:`.csv_rebuild`) is still read whole
and checked by :func:`~.verify.check_source`.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from ..progress import bar, say
from .chain import ChainReport, _check_anchor, finish
from .continuity import carried_over, conversation_breaks
from .coverage import SETTINGS_EVENTS
from .damaged import Damage, Runs, classify_damage
from .model import Break, CheckResult
from .period import UtcWindow
from .settings import IntegritySettings
from .verify import (
    CONVERSATION_SOURCES,
    SourceResult,
    _by_source,
    _chained,
    _frame,
    _in_period,
    _row_facts,
    check_source,
    continuity_check,
    coverage_check,
    no_chain,
    sequence_check,
)

__all__ = ["CHUNK_ROWS", "SPILL_BUCKET_ROWS", "verify_sources"]

# Rows of whole files read at once (with their stored records: ~1 KB a row while the run is checked).
CHUNK_ROWS = 500_000
# Conversation events per bucket of the continuity replay.
SPILL_BUCKET_ROWS = 1_000_000

_SOURCE = pl.col("source").fill_null("unknown")
_KEPT = ("position", "event_id", "seq", "timestamp", "source_file", "source_line")
_CHAIN = ("position", "event_id", "seq", "prev_hash", "hash", "source_file", "source_line")
# What a pass over the chain of a damaged source reads (the chain columns, and what places a row).
_SCAN = ("source", "source_file", "source_line", "seq", "event_id", "timestamp", "prev_hash", "hash")
_NOTICE = ("event_type", "event_id", "timestamp", "actor_id", "actor_name", "before", "after", "position")
_CONVERSATION = (
    "conversation_id", "source_action", "event_type", "timestamp", "position", "event_id", "source_file",
    "source_line", "before", "after",
)  # fmt: skip
_BREAK_ORDER = ("state_mismatch", "impossible_transition", "unknown_conversation")


def file_plan(lf: pl.LazyFrame) -> pl.DataFrame:
    """Every source's files in chain order, with their rows and time range (one row per file)."""
    return (
        lf.group_by(_SOURCE.alias("_source"), "source_file")
        .agg(
            pl.col("seq").min().alias("_file_seq"),
            pl.len().alias("rows"),
            pl.col("timestamp").min().alias("first"),
            pl.col("timestamp").max().alias("last"),
            pl.col("timestamp").null_count().alias("no_time"),
        )
        .sort(["_source", "_file_seq", "source_file"], nulls_last=True)
        .with_row_index("_file_rank")
        .collect()
    )


def _runs(files: pl.DataFrame, budget: int) -> Iterator[pl.DataFrame]:
    """Consecutive files of one source, about ``budget`` rows at a time (a larger file alone)."""
    start, rows = 0, 0
    counts = files["rows"].to_list()
    for k, count in enumerate(counts):
        if rows and rows + count > budget:
            yield files.slice(start, k - start)
            start, rows = k, 0
        rows += count
    if start < len(counts):
        yield files.slice(start, len(counts) - start)


def _read_run(
    lf: pl.LazyFrame, source: str, run: pl.DataFrame, *, chained: bool, columns: Sequence[str] | None = None
) -> pl.DataFrame:
    """The rows of a run of files, in physical order (file rank, line, sequence, id).

    The stored records (``raw``) are read only for a chained source: nothing else reads them.
    With ``columns``, only those are read.
    """
    if columns is not None:
        lf = lf.select(columns)
    elif not chained:
        lf = lf.with_columns(pl.lit(None, dtype=pl.String).alias("raw"))
    names = run["source_file"].drop_nulls().to_list()
    which = pl.col("source_file").is_in(names)
    if run["source_file"].null_count():
        which = which | pl.col("source_file").is_null()
    where = _SOURCE.eq(source) & which
    expected = int(run["rows"].sum())
    first, last = run["first"].min(), run["last"].max()
    if not int(run["no_time"].sum()) and first is not None and last is not None:
        # Every row has a time, so the time range lets the store skip the row groups outside the run.
        rows = lf.filter(pl.col("timestamp").is_between(first, last, closed="both") & where).collect()
        if rows.height != expected:  # never expected; then read without the hint
            rows = lf.filter(where).collect()
    else:
        rows = lf.filter(where).collect()
    if rows.height != expected:
        raise RuntimeError(
            f"the {source} log changed while it was verified: {rows.height} rows read where the plan counted {expected}"
        )
    ranks = run.select("source_file", "_file_rank")
    return (
        rows.join(ranks, on="source_file", how="left", nulls_equal=True, maintain_order="left")
        .sort(["_file_rank", "source_line", "seq", "event_id"], nulls_last=True)
        .drop("_file_rank")
    )


class _Pass:
    """What one pass over a source's runs keeps for the checks after it."""

    def __init__(self, source: str, chained: bool, previous_head: dict[str, Any] | None) -> None:
        self.source = source
        self.chained = chained
        self.previous_head = previous_head
        self.whole = False  # CSV rows, whose records are rebuilt together: checked on the whole source
        self.damage = Damage()  # broken links and failing records, and the rows around them
        self.period_rows: list[int] = []  # rows in the period of each run (a later pass must read the same)
        self.all_rows = 0  # rows of the source so far (positions of continuity)
        self.rows = 0  # rows in the period so far (positions of the other checks)
        self.carry: str | None = None  # the hash of the last record in the period so far
        self.kept: list[pl.DataFrame] = []
        self.settings_rows: list[pl.DataFrame] = []
        self.first: pl.DataFrame | None = None  # the first and the last record of the chain in the period
        self.last: pl.DataFrame | None = None
        self.before: dict[str, Any] | None = None  # the last row before the period
        self.before_hashed = False
        self.log_start: Any = None
        self.conversation_rows = 0


def verify_sources(
    lf: pl.LazyFrame,
    *,
    settings: IntegritySettings,
    period: UtcWindow | None,
    previous: dict[str, Any] | None,
    as_of: datetime,
) -> Iterator[SourceResult]:
    """Each source's results, as :func:`~.verify.check_source` gives them for the source held whole."""
    chained = set(_chained(lf, period))
    plan = file_plan(lf)
    for (source,), files in plan.partition_by("_source", maintain_order=True, as_dict=True).items():
        source = str(source)
        meta = (previous or {}).get("chains", {}).get(source)
        head = (
            None if meta is None else {**meta.get("head", {}), "first_event_id": meta.get("first", {}).get("event_id")}
        )
        spill = Path(tempfile.mkdtemp(prefix="auditreports-verify-")) if source in CONVERSATION_SOURCES else None
        try:
            buckets = max(1, math.ceil(int(files["rows"].sum()) / SPILL_BUCKET_ROWS))
            state = _Pass(source, source in chained, head)
            runs = list(_runs(files, CHUNK_ROWS))
            for number, run in enumerate(bar(runs, total=len(runs), desc=f"verifying {source}", unit="run")):
                _take(
                    state,
                    _read_run(lf, source, run, chained=state.chained),
                    number,
                    settings,
                    period,
                    sorted(chained),
                    spill,
                    buckets,
                )
                if state.whole:
                    break
            if state.whole:
                yield _whole(lf, source, settings=settings, period=period, previous=previous, as_of=as_of)
            else:
                scan = _chain_runs(lf, source, runs, period, state.period_rows)
                yield _result(
                    state, settings=settings, period=period, as_of=as_of, spill=spill, buckets=buckets, scan=scan
                )
        finally:
            if spill is not None:
                _remove_spill(spill)


def _remove_spill(spill: Path) -> None:
    """Remove the scratch copy of the conversation events (the store keeps the events); say so if it stays."""
    try:
        shutil.rmtree(spill)
    except OSError as exc:
        say(f"[auditreports] warning: could not remove verify's temporary spill {spill} ({exc}); delete it by hand")


def _take(
    state: _Pass,
    rows: pl.DataFrame,
    number: int,
    settings: IntegritySettings,
    period: UtcWindow | None,
    chained: list[str],
    spill: Path | None,
    buckets: int,
) -> None:
    """Check one run of rows and keep what the later checks need (see the module docstring)."""
    rows = rows.with_columns(
        pl.int_range(state.all_rows, state.all_rows + rows.height, dtype=pl.Int64).alias("_all"),
        pl.col("source_file").cast(pl.Categorical),
    )
    state.all_rows += rows.height
    if spill is not None:
        _spill(state, rows, period, spill, number, buckets)
    if period is not None:
        before = rows.filter(pl.col("timestamp") < period[0])
        if before.height:
            state.before = before.row(before.height - 1, named=True)
            state.before_hashed = state.before_hashed or bool(before["hash"].drop_nulls().len())
        rows = rows.filter(_in_period(period))
    state.period_rows.append(rows.height)
    if not rows.height:
        return
    rows = rows.with_columns(pl.int_range(state.rows, state.rows + rows.height, dtype=pl.Int64).alias("position"))
    if state.chained:
        facts = _row_facts(rows, settings, period, chained)
        checkable = facts["json_record"]
        failed = ~facts["content_ok"] & checkable
        csv = ~checkable & facts["raw"].is_not_null()
        links = rows.select(
            (pl.col("prev_hash") == pl.col("hash").shift(1, fill_value=state.carry)).fill_null(False)
        ).to_series()
        if state.rows == 0:
            links = links.scatter([0], True)  # the first record of the period has no predecessor in it
        if bool(csv.any()):
            state.whole = True
            return
        state.damage.take(rows.select(_CHAIN), links, failed, facts)
        state.carry = rows["hash"][-1]
        if state.rows == 0:
            state.first = rows.head(1).select(_CHAIN)
        state.last = rows.tail(1).select(_CHAIN)
    state.rows += rows.height
    state.kept.append(rows.select(_KEPT))
    state.settings_rows.append(rows.filter(pl.col("event_type").is_in(list(SETTINGS_EVENTS))).select(_NOTICE))


def _spill(state: _Pass, rows: pl.DataFrame, period: UtcWindow | None, spill: Path, number: int, buckets: int) -> None:
    """Conversation events (with the history before the period) into buckets by conversation."""
    if period is not None:
        rows = rows.filter((pl.col("timestamp") < period[1]).fill_null(False))
    rows = rows.filter(pl.col("conversation_id").is_not_null())
    if not rows.height:
        return
    first = rows["timestamp"].min()
    if first is not None and (state.log_start is None or first < state.log_start):
        state.log_start = first
    state.conversation_rows += rows.height
    out = rows.with_columns(pl.col("_all").alias("position")).select(_CONVERSATION)
    out = out.with_columns((pl.col("conversation_id").hash(seed=0) % buckets).alias("_bucket"))
    for (bucket,), part in out.partition_by("_bucket", as_dict=True, include_key=False).items():
        folder = spill / f"bucket={bucket}"
        folder.mkdir(exist_ok=True)
        part.write_parquet(folder / f"run-{number:06d}.parquet")


def _result(
    state: _Pass,
    *,
    settings: IntegritySettings,
    period: UtcWindow | None,
    as_of: datetime,
    spill: Path | None,
    buckets: int,
    scan: Runs,
) -> SourceResult:
    source = state.source
    kept = pl.concat(state.kept) if state.kept else pl.DataFrame(schema=_kept_schema())
    state.kept = []
    n = kept.height
    result = SourceResult(source, n)
    footprint: set[int] = set()
    if state.chained and n and state.first is not None and state.last is not None:
        first, last = state.first.row(0, named=True), state.last.row(0, named=True)
        anchor = _anchor(state, period)
        if state.damage.found or not continues(state, period):
            # Where the chain breaks (or does not meet its anchor), what happened is told by the
            # records around the break and where their hashes are: looked up in further passes.
            report = classify_damage(
                state.damage, scan, n=n, first=first, last=last, source=source, previous_head=anchor
            )
        else:
            report = ChainReport()
            chain = pl.concat([state.first, state.last]).unique("position", keep="first", maintain_order=True)
            _check_anchor(chain, report, source=source, previous_head=anchor)
            finish(report, first, last, n)
        footprint = report.footprint
        result.head = {"head": report.head, "first": report.first}
        result.checks.append(CheckResult("hash_chain", source, n, tuple(report.breaks), tuple(report.unverified)))
    elif n:
        result.checks.append(no_chain(source, n))
    result.checks.append(sequence_check(kept, source, footprint))
    notices = pl.concat(state.settings_rows) if state.settings_rows else None
    result.checks.append(
        coverage_check(kept, source, result, settings=settings, period=period, as_of=as_of, settings_rows=notices)
    )
    if spill is not None:
        cb, cu, stats = _replay(state, spill, buckets, settings)
        result.checks.append(continuity_check(cb, cu, stats, kept, source, result, period))
    return result


def _chain_runs(
    lf: pl.LazyFrame, source: str, runs: list[pl.DataFrame], period: UtcWindow | None, counts: list[int]
) -> Runs:
    """A new read of a source's runs in the period: the chain columns only, each row with its position."""

    def scan() -> Iterator[pl.DataFrame]:
        position = 0
        for run, expected in zip(
            bar(runs, total=len(runs), desc=f"classifying {source} breaks", unit="run"), counts, strict=True
        ):
            rows = _read_run(lf, source, run, chained=True, columns=_SCAN)
            if period is not None:
                rows = rows.filter(_in_period(period))
            if rows.height != expected:
                raise RuntimeError(
                    f"the {source} log changed while it was verified: {rows.height} rows in the period "
                    f"where the first pass read {expected}"
                )
            yield rows.select(
                pl.int_range(position, position + rows.height, dtype=pl.Int64).alias("position"), *_CHAIN[1:]
            )
            position += rows.height

    return scan


def _anchor(state: _Pass, period: UtcWindow | None) -> dict[str, Any] | None:
    """Where the chain must start: the previous manifest's head, else the last record before the period."""
    if state.previous_head is not None:
        return state.previous_head
    if period is not None and state.before is not None and state.before_hashed:
        return {k: state.before[k] for k in ("hash", "seq", "event_id")}
    return None


def continues(state: _Pass, period: UtcWindow | None) -> bool:
    """The first record of the period links to where the chain must start (or there is no such anchor).

    When it does not, what happened (a deletion, a truncated tail, a rewritten head) is told by
    where the anchor's hash and first id are in the log: the source is checked whole.
    """
    anchor = _anchor(state, period)
    if anchor is None or state.first is None:
        return True
    first = state.first.row(0, named=True)
    seq = anchor.get("seq")
    return bool(first["prev_hash"] == anchor.get("hash") and (seq is None or first["seq"] == seq + 1))


def _kept_schema() -> dict[str, pl.DataType]:
    from ..schema import EVENT_SCHEMA

    schema = {k: EVENT_SCHEMA[k] for k in _KEPT if k != "position"}
    return {"position": pl.Int64(), **schema, "source_file": pl.Categorical()}


def _replay(
    state: _Pass, spill: Path, buckets: int, settings: IntegritySettings
) -> tuple[list[Break], list[Any], dict[str, int]]:
    """Continuity a bucket of conversations at a time, merged as one replay of the whole log gives it."""
    if not state.conversation_rows:
        return [], [], {"conversations": 0}
    found: dict[str, list[Break]] = {kind: [] for kind in _BREAK_ORDER}
    conversations = events = carried = 0
    for bucket in range(buckets):
        folder = spill / f"bucket={bucket}"
        if not folder.is_dir():
            continue
        part = pl.read_parquet(sorted(folder.glob("*.parquet")))
        breaks, _, stats = conversation_breaks(part, source=state.source, settings=settings, log_start=state.log_start)
        del part
        for b in breaks:
            found[b.kind].append(b)
        conversations += stats.get("conversations", 0)
        events += stats.get("events", 0)
        carried += stats.get("carried_over", 0)
    merged = [b for kind in _BREAK_ORDER for b in sorted(found[kind], key=lambda b: b.position or 0)]
    stats = {"conversations": conversations, "events": events, "carried_over": carried}
    return merged, carried_over(carried, source=state.source, settings=settings), stats


def _whole(
    lf: pl.LazyFrame,
    source: str,
    *,
    settings: IntegritySettings,
    period: UtcWindow | None,
    previous: dict[str, Any] | None,
    as_of: datetime,
) -> SourceResult:
    """A source with CSV rows, held whole: their records are rebuilt together (:mod:`.csv_rebuild`)."""
    holder = [_frame(lf.filter(_SOURCE.eq(source)), settings, period)]
    ((name, everything),) = _by_source(holder)
    return check_source(name, everything, settings=settings, period=period, previous=previous, as_of=as_of)
