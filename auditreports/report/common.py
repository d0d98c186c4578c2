"""Assembly shared by every report kind: scope, findings, sign-off, stamp, appendix."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

import polars as pl

from ..period import Period
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
    collected without (``raw``, the stored records, is more than half of a log's bytes, and
    only the evidence rows carry it): :meth:`evidence_rows` reads every column of the rows
    a report prints or attaches.
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
        self.events = in_time_order(chosen, period)
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

    def evidence_rows(self, event_ids: pl.Series) -> pl.DataFrame:
        """The period's events with these ids, every column (``raw`` too), in :attr:`events` order.

        The same rows as ``events.filter(event_id in event_ids)`` with every column, read
        from the source again when the period was collected without ``raw``.
        """
        wanted = pl.col("event_id").is_in(event_ids.implode())
        if not self._deferred:
            return self.events.filter(wanted)
        return self._in_period.filter(wanted).sort("timestamp", "event_id", maintain_order=True).collect()


# At most this many windows of whole days (a longer period is read in windows of several days).
TIME_WINDOWS = 128


def in_time_order(events: pl.LazyFrame, period: Period) -> pl.DataFrame:
    """The period's events sorted by time and id, read and sorted a window of UTC days at a time.

    Windows do not overlap in time, so the windows each sorted and put end to end are the
    period sorted whole (rows with the same time and id keep the order they are read in, in
    both). Only one window is ever held twice while it is sorted, not the period: a store
    skips the row groups outside the window by their time statistics.
    """
    start, end = period.start_utc, period.end_utc_exclusive
    first = datetime.combine(start.date(), time(), tzinfo=UTC)
    days = max(1, -(-(end - first) // timedelta(days=1)))
    step = timedelta(days=max(1, -(-days // TIME_WINDOWS)))
    windows = []
    lo = start
    while lo < end:
        hi = min(first + step * (1 + (lo - first) // step), end)
        window = events.filter((pl.col("timestamp") >= pl.lit(lo)) & (pl.col("timestamp") < pl.lit(hi)))
        windows.append(window.collect().sort("timestamp", "event_id", maintain_order=True))
        lo = hi
    return pl.concat(windows) if windows else events.clear().collect()


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
    events_for_findings: pl.DataFrame | None = None,
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
