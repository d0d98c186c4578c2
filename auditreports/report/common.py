"""Assembly shared by every report kind: scope, findings, sign-off, stamp, appendix."""

from __future__ import annotations

import json
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from ..period import Period
from ..progress import bar, say
from ..schema import conform
from .model import (
    Chart,
    Diff,
    ReportModel,
    Section,
    actor_expr,
    build_appendix,
    build_completeness,
    build_findings,
    build_signoff,
    build_stamp,
    in_period,
    normalise_findings,
    now_utc,
)
from .safety import file_data_uri
from .settings import ReportSettings

__all__ = ["ReportInputs", "assemble", "config_diffs"]


class ReportInputs:
    """The plain data every report is built from, normalised once.

    ``events`` any canonical frame (lazy or not); ``verification`` the verdict dict;
    ``findings`` the findings frame; ``ledger`` the ingest ledger dict;
    ``quarantine`` the quarantine frame. ``deferred``: columns the period's events are
    kept without (``raw``, the stored records, is more than half of a log's bytes, and
    only the evidence rows carry it): :meth:`evidence_rows` reads every column of the rows
    a report prints or attaches.

    :attr:`events` is the period's events in time order, as a lazy frame every section
    queries for the columns and rows it reads. A lazy input (a store, files) is read a
    window of days at a time, each window sorted and written to a temporary Parquet copy
    of the period (:class:`PeriodCopy`), so no stage holds the period in memory however
    large the quarter; an in-memory frame is sorted and kept as it is. :meth:`close`
    removes the copy (it is also removed when the inputs are garbage-collected).
    """

    def __init__(
        self,
        events: pl.LazyFrame | pl.DataFrame,
        *,
        period: Period,
        verification: Mapping[str, Any] | None = None,
        findings: pl.DataFrame | None = None,
        ledger: Mapping[str, Any] | None = None,
        quarantine: pl.DataFrame | None = None,
        deferred: Sequence[str] = (),
    ) -> None:
        lf = conform(events.lazy())
        self.all_count = int(lf.select(pl.len()).collect().item())
        self._in_period = in_period(lf, period)
        self._deferred = tuple(deferred)
        chosen = self._in_period.drop(self._deferred) if self._deferred else self._in_period
        self._chosen, self._held = chosen, isinstance(events, pl.DataFrame)
        self._copy: PeriodCopy | None = None
        self._events: pl.LazyFrame | None = None
        self._count = 0
        self._added: dict[str, pl.Expr] = {}
        self.period = period
        # rule name -> (why it matters, what to check, description), for the rules that ran
        # (organisation rules included); the shipped rules' notes are the default.
        self.rule_notes: dict[str, tuple[str, str, str]] = {}
        self.verification = dict(verification or {})
        findings = normalise_findings(findings)
        # Only findings that touch the period belong in a period report.
        self.findings = findings.filter(
            pl.col("window_end").is_null()
            | (
                (pl.col("window_end") >= pl.lit(period.start_utc))
                & (pl.col("window_start").fill_null(pl.col("window_end")) < pl.lit(period.end_utc_exclusive))
            )
        )
        self.ledger = dict(ledger or {})
        self.quarantine = quarantine

    @property
    def events(self) -> pl.LazyFrame:
        """The period's events in time order (read, sorted and copied on first use)."""
        if self._events is None:
            if self._held:
                held = in_time_order(self._chosen, self.period)
                self._events, self._count = held.lazy(), held.height
            else:
                self._copy = PeriodCopy(self._chosen, self.period)
                self._events, self._count = self._copy.scan(), self._copy.rows
        return self._events.with_columns(*self._added.values()) if self._added else self._events

    @property
    def count(self) -> int:
        """How many events the period holds."""
        self.events  # noqa: B018 - read on first use
        return self._count

    @property
    def every_column(self) -> pl.LazyFrame:
        """The period's events with every column (``raw`` too), as the source holds them (not sorted)."""
        return self._in_period

    def evidence_rows(self, event_ids: pl.Series) -> pl.DataFrame:
        """The period's events with these ids, every column (``raw`` too), in :attr:`events` order.

        The same rows as ``events.filter(event_id in event_ids)`` with every column, read
        from the source again when the period was kept without ``raw``.
        """
        wanted = pl.col("event_id").is_in(event_ids.implode())
        if not self._deferred:
            return self.events.filter(wanted).collect()
        return self._in_period.filter(wanted).sort("timestamp", "event_id", maintain_order=True).collect()

    def between(self, start: datetime, end: datetime) -> pl.LazyFrame:
        """The period's events with ``start < timestamp <= end``, in time order.

        From the period copy, only the files (windows of days) and row groups of those hours are read.
        """
        hours = (pl.col("timestamp") > pl.lit(start)) & (pl.col("timestamp") <= pl.lit(end))
        events = self.events  # the copy is made on first use
        if self._copy is None:
            return events.filter(hours)
        return self._copy.scan(start, end).filter(hours).with_columns(*self._added.values())

    def add_columns(self, *columns: pl.Expr) -> None:
        """Add (or replace) columns of :attr:`events` and of what :meth:`between` gives, such as the printed
        label roles; each expression names its column (``.alias``)."""
        self._added.update({column.meta.output_name(): column for column in columns})

    def close(self) -> None:
        """Remove the temporary copy of the period (:attr:`events` cannot be read after)."""
        if self._copy is not None:
            self._copy.remove()


# At most this many windows of whole days (a longer period is read in windows of several days).
TIME_WINDOWS = 128


def time_windows(events: pl.LazyFrame, period: Period) -> Iterator[pl.DataFrame]:
    """The period's events a window of UTC days at a time, each window sorted by time and id.

    Windows do not overlap in time, so the windows each sorted and put end to end are the
    period sorted whole (rows with the same time and id keep the order they are read in, in
    both). Only one window is held at a time: a store skips the row groups outside the
    window by their time statistics.
    """
    start, end = period.start_utc, period.end_utc_exclusive
    first = datetime.combine(start.date(), time(), tzinfo=UTC)
    days = max(1, -(-(end - first) // timedelta(days=1)))
    step = timedelta(days=max(1, -(-days // TIME_WINDOWS)))
    lo = start
    while lo < end:
        hi = min(first + step * (1 + (lo - first) // step), end)
        window = events.filter((pl.col("timestamp") >= pl.lit(lo)) & (pl.col("timestamp") < pl.lit(hi)))
        yield window.collect().sort("timestamp", "event_id", maintain_order=True)
        lo = hi


def in_time_order(events: pl.LazyFrame, period: Period) -> pl.DataFrame:
    """The period's events sorted by time and id, in memory (:func:`time_windows` end to end)."""
    windows = list(time_windows(events, period))
    return pl.concat(windows) if windows else events.clear().collect()


class PeriodCopy:
    """The period's events in time order, written to a temporary directory a window at a time.

    Sections then read it lazily, each the columns and rows it needs (a sorted file: a time
    range skips the row groups outside it). The directory is made with :mod:`tempfile`
    (``TMPDIR`` chooses where) and removed by :meth:`remove`, or when the copy is
    garbage-collected or the process exits.
    """

    ROW_GROUP = 100_000

    def __init__(self, events: pl.LazyFrame, period: Period) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="auditreports-period-"))
        self._finalizer = weakref.finalize(self, _remove_copy, self.directory)
        self.rows = 0
        self.files: list[tuple[Path, datetime, datetime]] = []  # (file, first event, last event)
        windows = time_windows(events, period)
        for number, window in enumerate(bar(windows, desc="reading the period", unit="window")):
            if window.height:
                self._write(number, window)
        if not self.files:  # an empty period: one empty file keeps the schema
            self._write(0, events.clear().collect())

    def _write(self, number: int, window: pl.DataFrame) -> None:
        path = self.directory / f"{number:05d}.parquet"
        window.write_parquet(path, compression="lz4", statistics=True, row_group_size=self.ROW_GROUP)
        stamps = window.get_column("timestamp")
        self.files.append((path, stamps.min(), stamps.max()))  # type: ignore[arg-type]
        self.rows += window.height

    def scan(self, start: datetime | None = None, end: datetime | None = None) -> pl.LazyFrame:
        """The copy, or only its files that can hold events with ``start < timestamp <= end``."""
        files = [
            path
            for path, first, last in self.files
            if start is None or end is None or first is None or (first <= end and last > start)
        ]
        return pl.scan_parquet(files or [self.files[0][0]])

    def remove(self) -> None:
        self._finalizer()


def _remove_copy(directory: Path) -> None:
    """Remove a period copy (a scratch copy of events the store keeps); say so if it stays."""
    try:
        shutil.rmtree(directory)
    except FileNotFoundError:
        pass
    except OSError as exc:
        say(f"[auditreports] warning: the temporary copy of the period {directory} could not be removed ({exc}).")


def assemble(
    *,
    kind: str,
    title: str,
    subtitle: str,
    inputs: ReportInputs,
    settings: ReportSettings,
    sections: list[Section],
    charts: dict[str, Chart],
    evidence: pl.DataFrame,
    signoff_statement: str,
    appendix_events: pl.DataFrame | None = None,
    appendix_note: str = "",
    keywords: list[str],
    parameters: Mapping[str, Any] | None = None,
    notebook_name: str | None = None,
    rule_pack_hash: str | None = None,
    manifest_hash: str | None = None,
    triage: Mapping[str, str] | None = None,
    by_role: bool = False,
    findings: pl.DataFrame | None = None,
    events_for_findings: pl.DataFrame | pl.LazyFrame | None = None,
    extra: dict[str, Any] | None = None,
    rule_notes: Mapping[str, tuple[str, ...]] | None = None,
) -> ReportModel:
    generated = now_utc()
    appendix = build_appendix(
        evidence if appendix_events is None else appendix_events, settings, actor=actor_expr(by_role=by_role)
    )
    appendix.note = appendix_note
    findings = inputs.findings if findings is None else findings
    actor = actor_expr(by_role=by_role)
    views, counts = build_findings(
        findings,
        inputs.events if events_for_findings is None else events_for_findings,
        settings,
        triage=triage,
        actor=actor,
        rule_notes=rule_notes,
    )
    return ReportModel(
        kind=kind,
        title=title,
        subtitle=subtitle,
        organisation=settings.organisation,
        logo_uri=file_data_uri(settings.logo) if settings.logo else None,
        period=inputs.period,
        generated_at=generated,
        completeness=build_completeness(
            inputs.events,
            inputs.all_count,
            inputs.verification,
            inputs.ledger,
            inputs.quarantine,
            inputs.period,
            settings,
        ),
        findings=views,
        severity_counts=counts,
        sections=sections,
        charts=charts,
        signoff=build_signoff(signoff_statement, views, settings),
        stamp=build_stamp(
            kind=kind,
            period=inputs.period,
            parameters=parameters,
            notebook_name=notebook_name,
            rule_pack_hash=rule_pack_hash,
            manifest_hash=manifest_hash,
            ledger=inputs.ledger,
            generated_at=generated,
        ),
        appendix=appendix,
        evidence_events=evidence,
        findings_frame=findings,
        keywords=keywords,
        extra=extra or {},
    )


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix or "value": value}


def _show(value: Any, limit: int = 600) -> str:
    if value is None:
        return "(not set)"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + f" … [{len(text) - limit} more characters in events.csv]"


def _parse(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def config_diffs(changes: pl.DataFrame, actor: pl.Expr, limit: int = 150) -> list[Diff]:
    """Before/after diffs of reviewed changes, one row per setting that changed.

    Change events are few (a quarter holds hundreds, not millions), so parsing their
    JSON states one by one is fine; the list is capped at ``limit`` for the PDF.
    """
    rows = changes.head(limit).select(
        pl.col("timestamp").dt.strftime("%Y-%m-%d %H:%M:%S").alias("time"),
        "event_type",
        actor,
        pl.concat_str([pl.col("resource_type"), pl.col("resource_id")], separator=":", ignore_nulls=True).alias(
            "resource"
        ),
        "reason",
        "before",
        "after",
    )
    diffs = []
    for r in rows.iter_rows(named=True):
        before, after = _flatten(_parse(r["before"])), _flatten(_parse(r["after"]))
        keys = sorted(set(before) | set(after))
        changed = [(k, _show(before.get(k)), _show(after.get(k))) for k in keys if before.get(k) != after.get(k)]
        if not changed and (r["before"] or r["after"]):
            changed = [
                (
                    "(no setting differs)",
                    _show(r["before"]),
                    "identical to before: the event recorded a change but no value differs",
                )
            ]
        diffs.append(
            Diff(
                r["time"],
                r["event_type"],
                r["actor"] or "",
                r["resource"] or "",
                r["reason"] or "",
                changed or [("(no state recorded)", "", "")],
            )
        )
    return diffs
