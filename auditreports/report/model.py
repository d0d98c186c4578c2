"""The report model: everything a report says, computed in Python from plain data.

Templates only format what is here. The inputs are plain data so the model can be
built and tested without a store: the canonical events frame, the integrity verdict
dict (``Verification.to_dict()``), the findings frame (``Findings.frame``), the
ingest ledger dict and the quarantine frame.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from .._version import __version__
from .._versions import rendering_stack
from ..period import Period
from ..schema import EVENT_SCHEMA, FINDINGS_SCHEMA
from .settings import ReportSettings

__all__ = [
    "Appendix",
    "Chart",
    "Completeness",
    "Diff",
    "FindingView",
    "ReportModel",
    "Section",
    "SignOff",
    "Stamp",
    "Table",
    "build_appendix",
    "build_completeness",
    "build_findings",
    "build_signoff",
    "build_stamp",
    "in_period",
    "table_from_frame",
]

SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
NULL = "—"
# The findings columns a report reads: FINDINGS_SCHEMA's, with severity as plain text
# (reports also accept findings frames from elsewhere, e.g. "informational" spelled "info").
FINDING_COLUMNS: dict[str, pl.DataType] = {
    name: pl.String() if name == "severity" else dtype
    for name, dtype in FINDINGS_SCHEMA.items()
    if name not in ("group", "parameters")
}


@dataclass
class Table:
    """A table as the template prints it: headers and rows of display strings."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    note: str = ""
    empty: str = "None in the period."
    widths: list[str] | None = None
    total: int | None = None  # rows before the display cap

    @property
    def truncated(self) -> bool:
        return self.total is not None and self.total > len(self.rows)


@dataclass
class Chart:
    key: str
    title: str
    uri: str | None = None  # data:image/svg+xml URI once exported
    figure: Any = None  # the Plotly figure, for notebooks
    html: str | None = None  # the interactive chart (div + script), set only while rendering the HTML twin


@dataclass
class Diff:
    """One reviewed change: what the setting was before and after."""

    time: str
    event_type: str
    actor: str
    resource: str
    reason: str
    changes: list[tuple[str, str, str]]  # (key, before, after)


@dataclass
class Section:
    key: str
    title: str
    intro: str = ""
    tables: list[Table] = field(default_factory=list)
    charts: list[str] = field(default_factory=list)  # chart keys
    diffs: list[Diff] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)  # label/value lines
    kind: str = "tables"  # the section kind that built it (a template may print kinds differently)
    extra: dict[str, Any] = field(default_factory=dict)  # what a section kind's own partial prints


@dataclass
class Completeness:
    period_events: int
    outside_period: int
    sources: Table
    fetches: Table
    quarantine: Table
    quarantined_total: int
    gaps: Table
    verdict: str
    events_checked: int
    breaks: Table
    unverified: Table
    reconciled: bool


@dataclass
class FindingView:
    finding_id: str
    rule_id: str
    rule_name: str
    severity: str
    title: str
    group: str
    window: str
    count: int
    summary: str
    evidence: Table
    triage: str = "open — awaiting review"
    ref: str = ""  # F1, F2, … in the order the report lists findings (the executive summary cites these)
    why_it_matters: str = ""  # from the rule's YAML
    rule_description: str = ""  # what the rule detects, shown when its file gives no why_it_matters
    what_to_check: str = ""  # from the rule's YAML
    related: Table | None = None  # what the same actors / IPs did next (report/actionable.py)
    same_events: str = ""  # the other findings citing any of this one's events (one incident, several rules)
    diffs: list[Diff] = field(default_factory=list)  # the change itself, when the finding is a change
    reverts: list[str] = field(default_factory=list)  # later changes that set the value back
    review: Any = None  # a report.reviewed.FindingReview once a review file is applied

    @property
    def rule(self) -> str:
        """The rule as a reader knows it (its name); the id stays in findings.json."""
        return self.rule_name if self.rule_name != NULL else self.rule_id

    @property
    def detailed(self) -> bool:
        """Informational findings are listed, not expanded: their evidence is in the kind sections."""
        return self.severity != "info"


@dataclass
class SignOff:
    statement: str
    reviewer: str
    reviewer_role: str
    decisions: Table
    date: str = ""  # the review's latest decision date, once a review file is applied


@dataclass
class Stamp:
    items: list[tuple[str, str]]
    inputs: Table | None = None


@dataclass
class Appendix:
    """Evidence events as pre-formatted fixed-width lines, one block per page.

    One text block per page is ~5x faster and far lighter for WeasyPrint than a
    table with a box per cell (benchmarks/report_appendix.py).
    """

    header: str
    lines: list[str]
    total: int
    shown: int
    cap: int
    csv_name: str = "events.csv"
    note: str = ""  # what the printed rows are when they are a subset of events.csv
    unit: str = "event(s)"  # what a printed line is ("grouped line(s)" when grouped per actor x type x day)

    @property
    def truncated(self) -> bool:
        return self.total > self.shown

    @property
    def pages(self) -> list[str]:
        """The lines in page-sized blocks; the first block is shorter by what the heading and the
        intro take on that page, so it does not spill a few lines onto a page of their own."""
        first = APPENDIX_LINES_PER_PAGE - _intro_lines(self.note)
        chunks = [self.lines[:first]] if self.lines else []
        rest = self.lines[first:]
        chunks += [rest[i : i + APPENDIX_LINES_PER_PAGE] for i in range(0, len(rest), APPENDIX_LINES_PER_PAGE)]
        return ["\n".join(c) for c in chunks]


@dataclass
class ReportModel:
    kind: str  # soc2, hipaa, gdpr
    title: str
    subtitle: str
    organisation: str
    logo_uri: str | None
    period: Period
    generated_at: datetime
    completeness: Completeness
    findings: list[FindingView]
    severity_counts: list[tuple[str, int]]
    sections: list[Section]
    charts: dict[str, Chart]
    signoff: SignOff
    stamp: Stamp
    appendix: Appendix
    evidence_events: pl.DataFrame  # every evidence event (embedded as events.csv)
    findings_frame: pl.DataFrame
    keywords: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    tool_version: str = __version__

    @property
    def metadata(self) -> dict[str, str]:
        return {
            "title": f"{self.title} — {self.organisation} — {self.period.label}",
            "author": self.organisation,
            "subject": self.subtitle,
            "keywords": ", ".join(self.keywords),
            "created": self.generated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


# ---------------------------------------------------------------- formatting helpers


def _display_expr(name: str, dtype: pl.DataType, fmt: str = "auto") -> pl.Expr:
    col = pl.col(name)
    if fmt == "text":
        return col.cast(pl.String).fill_null(NULL).alias(name)
    if fmt in ("date", "time") and isinstance(dtype, pl.Datetime | pl.Date):
        pattern = "%Y-%m-%d" if fmt == "date" else TIME_FORMAT
        value = col.dt.convert_time_zone("UTC") if isinstance(dtype, pl.Datetime) and dtype.time_zone else col
        return value.dt.strftime(pattern).fill_null(NULL).alias(name)
    if isinstance(dtype, pl.Datetime):
        out = (
            col.dt.convert_time_zone("UTC").dt.strftime(TIME_FORMAT)
            if dtype.time_zone
            else col.dt.strftime(TIME_FORMAT)
        )
    elif isinstance(dtype, pl.Date):
        out = col.dt.strftime("%Y-%m-%d")
    elif isinstance(dtype, pl.List):
        out = col.cast(pl.List(pl.String)).list.join(", ")
    elif dtype == pl.Boolean:
        out = pl.when(col).then(pl.lit("yes")).otherwise(pl.lit("no"))
    elif isinstance(dtype, pl.Struct):
        out = col.struct.json_encode()
    else:
        out = col.cast(pl.String)
    return out.fill_null(NULL).alias(name)


def _clip(text: pl.Expr, max_chars: int) -> pl.Expr:
    """Text cut to ``max_chars`` with an ellipsis when it was longer (the full value is in the evidence)."""
    return (
        pl.when(text.str.len_chars() > max_chars)
        .then(text.str.slice(0, max(max_chars - 1, 0)) + pl.lit("…"))
        .otherwise(text)
    )


def table_from_frame(
    frame: pl.DataFrame,
    columns: Mapping[str, str],
    title: str,
    *,
    limit: int | None = 200,
    note: str = "",
    empty: str = "None in the period.",
    widths: Sequence[str] | None = None,
    max_chars: int = 300,
    formats: Mapping[str, str] | None = None,
) -> Table:
    """Display strings for ``columns`` (label -> column) of ``frame``, capped at ``limit`` rows.

    ``formats`` (label -> auto, text, date, time) overrides the display chosen from the dtype.
    """
    total = frame.height
    shown = frame.head(limit) if limit is not None else frame
    schema = shown.schema
    formats = formats or {}
    exprs = [
        _clip(_display_expr(col, schema[col], formats.get(label, "auto")), max_chars).alias(label)
        for label, col in columns.items()
    ]
    rows = [list(r) for r in shown.select(exprs).rows()] if shown.height else []
    if limit is not None and total > limit:
        note = (note + " " if note else "") + f"Showing {limit} of {total} rows; all are in the embedded evidence."
    return Table(
        title, list(columns), rows, note=note, empty=empty, widths=list(widths) if widths else None, total=total
    )


def in_period(events: pl.LazyFrame, period: Period) -> pl.LazyFrame:
    return events.filter(
        (pl.col("timestamp") >= pl.lit(period.start_utc)) & (pl.col("timestamp") < pl.lit(period.end_utc_exclusive))
    )


LABEL_ROLE = "actor_label_role"  # the one role a person is printed with (report inputs only, never exported)


def actor_expr(*, by_role: bool = False) -> pl.Expr:
    """Who did it, as the report prints it (by role only for GDPR minimisation).

    An API key is named as the key, with its owner: the owner did not make the call.
    """
    # One identity per actor: a person is printed under one label in every section, the role
    # the report inputs settled on (identity.label_role_expr: the staff directory's, else the
    # last the log records) even when their role changed in the period. Frames without that
    # column (the regex selects nothing) fall back to the role their other events record.
    known = pl.col("actor_role").forward_fill().backward_fill().over("actor_id")
    role = pl.coalesce(pl.col(f"^{LABEL_ROLE}$"), pl.col("actor_role"), known, pl.col("actor_type").cast(pl.String))
    is_key = pl.col("actor_type").cast(pl.String) == "api_key"
    if by_role:
        kind = pl.col("actor_type").cast(pl.String)
        return (
            pl.when(is_key)
            .then(pl.lit("integration (API key)"))
            .when(kind == "user")
            .then(
                pl.concat_str(
                    [pl.lit("staff ("), pl.coalesce(pl.col("actor_role"), pl.lit("role not recorded")), pl.lit(")")]
                )
            )
            .otherwise(pl.coalesce(kind, pl.lit("unknown")))
            .alias("actor")
        )
    name = pl.coalesce(pl.col("actor_name"), pl.col("actor_email"), pl.col("actor_id"), pl.lit("unknown"))
    key = pl.concat_str(
        [pl.col("actor_id"), pl.lit(" (API key of "), pl.coalesce(pl.col("actor_name"), pl.lit("unknown")), pl.lit(")")]
    )
    person = pl.concat_str([name, pl.lit(" ("), role, pl.lit(")")], ignore_nulls=True)
    return pl.when(is_key & pl.col("actor_id").is_not_null()).then(key).otherwise(person).alias("actor")


def local_time_expr(zones: Mapping[str, str], *, default: str | None = None, ts: str = "timestamp") -> pl.Expr:
    """The actor's local time ("Sun 03:03 America/New_York") from the staff directory's time zones.

    One ``convert_time_zone`` per distinct zone (a directory has a handful), chosen by actor id;
    actors not in the directory get ``default`` (the organisation's zone) or "—".
    """
    out: pl.Expr = pl.lit(None, dtype=pl.String)
    by_zone: dict[str, list[str]] = {}
    for actor_id, zone in zones.items():
        by_zone.setdefault(zone, []).append(actor_id)
    branches: Any = None
    for zone, ids in sorted(by_zone.items()):
        value = pl.col(ts).dt.convert_time_zone(zone).dt.strftime("%a %H:%M ") + pl.lit(zone)
        cond = pl.col("actor_id").is_in(ids)
        branches = pl.when(cond).then(value) if branches is None else branches.when(cond).then(value)
    fallback = (
        pl.col(ts).dt.convert_time_zone(default).dt.strftime("%a %H:%M ") + pl.lit(default)
        if default and default != "UTC"
        else pl.lit(NULL)
    )
    out = fallback if branches is None else branches.otherwise(fallback)
    return out.fill_null(NULL).alias("local_time")


# ---------------------------------------------------------------- completeness


def _ledger_cell(key: str, value: Any) -> str:
    """Ledger values as a reader scans them: file name, hash prefix, time to the second."""
    if value is None:
        return NULL
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    text = str(value)
    if key in ("path", "file"):
        return text.replace("\\", "/").rsplit("/", 1)[-1]
    if key == "sha256" and len(text) > 12:
        return text[:12] + "…"
    if key.startswith(("first", "last")) and len(text) >= 16 and text[10] == "T":
        return text[:10] + " " + text[11:16]
    return text


def _ledger_table(rows: list[Mapping[str, Any]], columns: Mapping[str, Sequence[str]], title: str, empty: str) -> Table:
    out = []
    for row in rows:
        line = []
        for keys in columns.values():
            key = next((k for k in keys if k in row and row[k] is not None), keys[0])
            line.append(_ledger_cell(key, row.get(key)))
        out.append(line)
    return Table(title, list(columns), out, empty=empty)


def build_completeness(
    events: pl.DataFrame | pl.LazyFrame,
    all_events_count: int,
    verification: Mapping[str, Any] | None,
    ledger: Mapping[str, Any] | None,
    quarantine: pl.DataFrame | None,
    period: Period,
    settings: ReportSettings,
) -> Completeness:
    """Population completeness: every input line accounted for, gaps, integrity verdict."""
    ledger = ledger or {}
    inputs = list(ledger.get("inputs") or [])
    reconciled = all(
        int(i.get("lines_read", 0) or 0)
        == int(i.get("loaded", 0) or 0) + int(i.get("quarantined", 0) or 0) + int(i.get("blank", 0) or 0)
        for i in inputs
    )
    sources = _ledger_table(
        inputs,
        {
            "source file": ("path", "file"),
            "sha256": ("sha256",),
            "lines": ("lines_read",),
            "loaded": ("loaded",),
            "quar.": ("quarantined",),
            "blank": ("blank",),
            "dupl.": ("duplicates",),
            "confl.": ("conflicts",),
            "first event (UTC)": ("first_timestamp", "first"),
            "last event (UTC)": ("last_timestamp", "last"),
        },
        "Sources and ingest ledger",
        "No file inputs recorded in the ledger.",
    )
    sources.note = (
        "quar. = quarantined, dupl. = identical duplicates dropped, confl. = id conflicts; "
        "the full sha256 of each file is in the reproducibility stamp, its full path in manifest.json."
    )
    sources.widths = ["30%", "10%", "7%", "7%", "5%", "5%", "5%", "5%", "13%", "13%"]
    fetches = _ledger_table(
        list(ledger.get("fetches") or []),
        {
            "window": ("window",),
            "pages": ("pages",),
            "events": ("events",),
            "retries": ("retries",),
            "HTTP 429": ("429s", "rate_limited"),
            "duplicates": ("duplicates",),
            "conflicts": ("conflicts",),
            "complete": ("complete",),
        },
        "API fetches",
        "No API fetches recorded in the ledger.",
    )
    q = quarantine if quarantine is not None else pl.DataFrame()
    if q.height:
        q = q.with_columns(
            (pl.col("preview") if "preview" in q.columns else pl.col("raw").cast(pl.String, strict=False)).alias(
                "preview"
            )
        )
        qcols = {
            k: v
            for k, v in {
                "file": "source_file",
                "line": "source_line",
                "byte offset": "source_offset",
                "reason": "reason",
                "raw (preview)": "preview",
            }.items()
            if v in q.columns
        }
        qtable = table_from_frame(q, qcols, "Quarantined records", limit=50, max_chars=160)
    else:
        qtable = Table("Quarantined records", ["file", "line", "reason"], [], empty="No record was quarantined.")

    verification = verification or {}
    gaps = pl.concat(
        [
            coverage_gaps(events, period, settings.coverage_gap_hours).with_columns(
                pl.lit("all sources").alias("source"),
                pl.lit(f"no event at all for more than {settings.coverage_gap_hours:g} h").alias("why"),
            ),
            integrity_gaps(verification),
        ]
    ).sort("gap_start")
    gap_table = table_from_frame(
        gaps,
        {"source": "source", "silent from (UTC)": "gap_start", "until": "gap_end", "hours": "hours", "why": "why"},
        "Coverage gaps",
        empty=(
            f"No gap: no silence longer than {settings.coverage_gap_hours:g} h, "
            "and the integrity check found no outage against the log's rhythm."
        ),
        widths=["14%", "18%", "18%", "8%", "42%"],
    )
    breaks = pl.DataFrame(
        list(verification.get("breaks") or []),
        schema={"kind": pl.String, "event_id": pl.String, "position": pl.String, "detail": pl.String},
        strict=False,
    )
    unverified = pl.DataFrame(
        list(verification.get("unverified") or []), schema={"check": pl.String, "reason": pl.String}, strict=False
    )
    period_events = int(events.lazy().select(pl.len()).collect().item())
    return Completeness(
        period_events=period_events,
        outside_period=all_events_count - period_events,
        sources=sources,
        fetches=fetches,
        quarantine=qtable,
        quarantined_total=q.height,
        gaps=gap_table,
        verdict=str(verification.get("verdict", "NOT RUN")),
        events_checked=int(verification.get("events_checked", 0) or 0),
        breaks=table_from_frame(
            breaks,
            {"kind": "kind", "event id": "event_id", "position": "position", "detail": "detail"},
            "Integrity breaks",
            limit=None,
            empty="No break found.",
        ),
        unverified=table_from_frame(
            unverified,
            {"check": "check", "why it could not be checked": "reason"},
            "Checks that could not be made",
            limit=None,
            empty="Every check could be made.",
        ),
        reconciled=reconciled,
    )


_GAP_SCHEMA: dict[str, pl.DataType] = {
    "gap_start": pl.Datetime("us", "UTC"),
    "gap_end": pl.Datetime("us", "UTC"),
    "hours": pl.Float64(),
    "source": pl.String(),
    "why": pl.String(),
}


def integrity_gaps(verification: Mapping[str, Any]) -> pl.DataFrame:
    """Outages the integrity check found against one source's own rhythm (``gaps`` of verify)."""
    rows = []
    for g in verification.get("gaps") or []:
        expected = g.get("expected_events")
        why = str(g.get("status") or g.get("kind") or "gap").replace("_", " ")
        if expected is not None:
            why += f": about {float(expected):.0f} events expected from the log's rhythm, none logged"
        rows.append(
            {
                "gap_start": g.get("start"),
                "gap_end": g.get("end"),
                "hours": float(g.get("hours") or 0),
                "source": g.get("source"),
                "why": why,
            }
        )
    frame = pl.DataFrame(rows, schema={**_GAP_SCHEMA, "gap_start": pl.String, "gap_end": pl.String})
    return frame.with_columns(
        pl.col("gap_start", "gap_end").str.to_datetime(time_zone="UTC", strict=False).dt.cast_time_unit("us")
    ).select(list(_GAP_SCHEMA))


def coverage_gaps(events: pl.DataFrame | pl.LazyFrame, period: Period, hours: float) -> pl.DataFrame:
    """Silences longer than ``hours`` between consecutive events, period edges included."""
    edges = pl.LazyFrame(
        {"timestamp": [period.start_utc, period.end_utc_exclusive]}, schema={"timestamp": pl.Datetime("us", "UTC")}
    )
    times = pl.concat([events.lazy().select("timestamp"), edges]).sort("timestamp")
    limit = pl.duration(microseconds=int(hours * 3_600_000_000))
    return (
        times.with_columns(pl.col("timestamp").shift(1).alias("gap_start"))
        .rename({"timestamp": "gap_end"})
        .filter((pl.col("gap_end") - pl.col("gap_start")) > limit)
        .select(
            "gap_start",
            "gap_end",
            ((pl.col("gap_end") - pl.col("gap_start")).dt.total_seconds() / 3600).round(1).alias("hours"),
        )
        .collect()
    )


# ---------------------------------------------------------------- findings


def normalise_findings(findings: pl.DataFrame | None) -> pl.DataFrame:
    """The findings frame with every column the report reads (missing ones null)."""
    if findings is None or findings.height == 0:
        return pl.DataFrame(schema={**FINDING_COLUMNS, "group": pl.String()})
    exprs = []
    for name, dtype in FINDING_COLUMNS.items():
        if name not in findings.columns:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
        elif isinstance(dtype, pl.Datetime) and findings.schema[name] == pl.String:
            exprs.append(pl.col(name).str.to_datetime(time_zone="UTC", strict=False).alias(name))
        else:
            exprs.append(pl.col(name).cast(dtype, strict=False))
    group = findings.schema.get("group")
    if group is None:
        exprs.append(pl.lit(None, dtype=pl.String).alias("group"))
    elif isinstance(group, pl.Struct):
        exprs.append(pl.col("group").struct.json_encode().alias("group"))
    else:
        exprs.append(pl.col("group").cast(pl.String, strict=False).alias("group"))
    rank = {s: i for i, s in enumerate(SEVERITY_ORDER)}
    return (
        findings.select(exprs)
        .with_columns(pl.col("severity").str.to_lowercase().replace({"informational": "info", "information": "info"}))
        .with_columns(pl.col("severity").str.to_lowercase().replace_strict(rank, default=len(rank)).alias("_rank"))
        .sort("_rank", "window_start", "finding_id", nulls_last=True)
        .drop("_rank")
    )


def group_text(group: str | None) -> str:
    """``{"actor_id":"usr_1","ip":"…"}`` as ``actor_id usr_1 · ip …`` (what the finding is about)."""
    if not group:
        return NULL
    try:
        value = json.loads(group)
    except ValueError:
        return group
    if isinstance(value, dict):
        return " · ".join(f"{k} {v}" for k, v in value.items() if v is not None) or NULL
    return str(value)


def build_findings(
    findings: pl.DataFrame,
    events: pl.DataFrame | pl.LazyFrame,
    settings: ReportSettings,
    *,
    triage: Mapping[str, str] | None = None,
    actor: pl.Expr | None = None,
    rule_notes: Mapping[str, tuple[str, ...]] | None = None,
) -> tuple[list[FindingView], list[tuple[str, int]]]:
    """Findings by severity, each with its first evidence events."""
    actor = actor if actor is not None else actor_expr()
    n = settings.finding_evidence_rows
    zones: dict[str, str] = {}
    if rule_notes is not None:  # the engine's reports: each actor's local time, from the staff directory
        zones = {actor_id: hours.timezone for actor_id, hours in settings.actors.items()}
    local = local_time_expr(zones, default=settings.timezone)
    links = (
        findings.select("finding_id", pl.col("event_ids").list.head(n))
        .explode("event_ids")
        .rename({"event_ids": "event_id"})
        .drop_nulls("event_id")
        .with_row_index("_order")
    )
    evidence = (
        links.join(
            # Only the rows findings cite are read (not every row of the period).
            events.lazy()
            .filter(pl.col("event_id").is_in(links["event_id"].implode()))
            .select(
                "event_id",
                "timestamp",
                local,
                "event_type",
                actor,
                "ip",
                pl.coalesce("conversation_id", "resource_id").alias("target"),
                "reason",
            )
            .collect(),
            on="event_id",
            how="left",
        )
        .unique(["finding_id", "event_id"], keep="first")
        .sort("_order")
    )
    by_finding = evidence.partition_by("finding_id", as_dict=True) if evidence.height else {}
    views = []
    for index, f in enumerate(findings.iter_rows(named=True), start=1):
        ev = by_finding.get((f["finding_id"],), evidence.clear())
        count = int(f["count"] or len(f["event_ids"] or []))
        columns = {
            "time (UTC)": "timestamp",
            "event id": "event_id",
            "actor's local time": "local_time",
            "event": "event_type",
            "actor": "actor",
            "ip": "ip",
            "resource / conversation": "target",
        }
        widths = ["10%", "22%", "12%", "15%", "17%", "11%", "13%"]
        if not zones and not (settings.timezone and settings.timezone != "UTC"):
            del columns["actor's local time"]
            widths = ["11%", "24%", "20%", "18%", "12%", "15%"]
        evtable = table_from_frame(
            ev,
            columns,
            "",
            limit=None,
            empty="No evidence event ids were attached to this finding.",
            max_chars=80,
            widths=widths,
        )
        if count > ev.height:
            evtable.note = f"First {ev.height} of {count} events; all are in the appendix and events.csv."
        bounds = list(
            dict.fromkeys(x.strftime(TIME_FORMAT) for x in (f["window_start"], f["window_end"]) if x is not None)
        )
        window = " – ".join(bounds)
        notes = (*(rule_notes or {}).get(str(f["rule_name"]), ()), "", "", "")
        views.append(
            FindingView(
                finding_id=str(f["finding_id"]),
                rule_id=str(f["rule_id"] or NULL),
                rule_name=str(f["rule_name"] or NULL),
                severity=str(f["severity"] or "info").lower(),
                title=str(f["title"] or f["rule_name"] or f["rule_id"]),
                group=group_text(f["group"]),
                window=window or NULL,
                count=count,
                summary=str(f["summary"] or ""),
                evidence=evtable,
                triage=(triage or {}).get(str(f["finding_id"]), "open — awaiting review"),
                ref=f"F{index}",
                why_it_matters=notes[0],
                what_to_check=notes[1],
                rule_description="" if notes[0] else notes[2],
            )
        )
    _link_shared_events(views, findings)
    counts = findings.group_by(pl.col("severity").str.to_lowercase()).len()
    lookup = dict(counts.rows())
    severity_counts = [(s, int(lookup.get(s, 0))) for s in SEVERITY_ORDER]
    return views, severity_counts


def _link_shared_events(views: list[FindingView], findings: pl.DataFrame) -> None:
    """Name, on each finding, the other findings that cite any of its events.

    Two rules seeing the same events (an off-hours prompt change that is also a content-risk
    change; a removed person's key that is also orphaned) are one incident: the reader sees
    the pair instead of counting it twice.
    """
    if findings.height < 2 or not views:
        return
    pairs = findings.select("finding_id", pl.col("event_ids").alias("event_id")).explode("event_id").drop_nulls()
    shared = (
        pairs.join(pairs, on="event_id", suffix="_other")
        .filter(pl.col("finding_id") != pl.col("finding_id_other"))
        .group_by("finding_id", "finding_id_other")
        .len()
    )
    by_id = {v.finding_id: v for v in views}
    for finding_id, other_id, n in shared.sort("finding_id", "finding_id_other").iter_rows():
        view, other = by_id.get(finding_id), by_id.get(other_id)
        if view is None or other is None:
            continue
        text = f"{other.ref} ({other.rule}, {n} shared event{'s' if n != 1 else ''})"
        view.same_events = f"{view.same_events}; {text}" if view.same_events else text


# ---------------------------------------------------------------- sign-off, stamp, appendix


def build_signoff(statement: str, findings: list[FindingView], settings: ReportSettings) -> SignOff:
    # Informational findings (routine changes, grouped per actor x change type x week) are one
    # change log reviewed as one item, not one sign-off per edit.
    detailed = [f for f in findings if f.detailed]
    routine = [f for f in findings if not f.detailed]
    rows = [[f.finding_id, f.severity, f"{f.ref} · {f.title}" if f.ref else f.title, "", ""] for f in detailed]
    if routine:
        events = sum(f.count for f in routine)
        rows.append(
            [
                "change log",
                "info",
                f"Change log ({routine[0].ref}{'–' + routine[-1].ref if len(routine) > 1 else ''}): "
                f"{len(routine)} routine item(s), "
                f"{events} event(s), reviewed as one item",
                "",
                "",
            ]
        )
    decisions = Table(
        "Decision per finding",
        ["finding", "severity", "title", "decision", "ticket / note"],
        rows,
        note="Decision: accept, remediate or false positive. Routine changes are decided once, as the change log.",
        empty="No finding to decide on.",
        widths=["22%", "9%", "35%", "18%", "16%"],
    )
    return SignOff(statement, settings.reviewer or "", settings.reviewer_role or "", decisions)


def build_stamp(
    *,
    kind: str,
    period: Period,
    parameters: Mapping[str, Any] | None,
    notebook_name: str | None,
    rule_pack_hash: str | None,
    manifest_hash: str | None,
    ledger: Mapping[str, Any] | None,
    generated_at: datetime,
) -> Stamp:
    items = [
        ("report kind", kind),
        ("period", f"{period.label} ({period.start} to {period.end}, UTC)"),
        ("generated at", generated_at.strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("tool", f"auditreports {__version__}"),
        ("rendering stack", rendering_stack()),
        ("notebook", notebook_name or "not run from a notebook"),
        ("rule-pack hash (sha256)", rule_pack_hash or "not recorded"),
        ("manifest hash (sha256)", manifest_hash or "not recorded"),
    ]
    items.append(("parameters", json.dumps(dict(parameters or {}), sort_keys=True, default=str)))
    inputs = Table(
        "Inputs",
        ["input file", "sha256"],
        # The file name keeps a row on one line; the full path is in manifest.json.
        [
            [str(s.get("path", "?")).replace("\\", "/").rsplit("/", 1)[-1], str(s.get("sha256", "?"))]
            for s in (ledger or {}).get("inputs") or []
        ],
        empty="No file inputs recorded (events were passed in directly).",
        widths=["35%", "65%"],
    )
    return Stamp(items, inputs)


_APPENDIX_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("time (UTC)", "t", 19),
    ("event id", "event_id", 30),
    ("event", "event_type", 28),
    ("outcome", "outcome", 7),
    ("actor", "actor", 26),
    ("ip", "ip", 15),
    ("resource / conversation", "target", 26),
    ("detail", "detail", 48),
)
APPENDIX_LINES_PER_PAGE = 58  # fixed-width lines on a landscape A4 page below its column header
# The appendix heading and intro share the first page with the first block. In appendix lines
# (6.2 pt x 1.22): the heading with its margins, and per intro paragraph its margin and each line
# of 8.5 pt text, counted at a conservative 150 characters a line (landscape A4).
_HEADING_LINES = 7
_INTRO_TEMPLATE_CHARS = 300  # the template's own sentence on what is printed and where the rest is


def _intro_lines(note: str) -> int:
    paragraphs = [len(note)] if note else []
    paragraphs.append(_INTRO_TEMPLATE_CHARS)
    return _HEADING_LINES + sum(2 + 2 * -(-n // 150) for n in paragraphs)


def build_appendix(evidence: pl.DataFrame, settings: ReportSettings, *, actor: pl.Expr | None = None) -> Appendix:
    """Fixed-width evidence lines built as Polars string expressions, chunked per page."""
    actor = actor if actor is not None else actor_expr()
    cap = settings.appendix_cap
    shown = evidence.sort("timestamp", "event_id").head(cap)
    target = pl.coalesce(
        pl.col("conversation_id"),
        pl.concat_str([pl.col("resource_type"), pl.col("resource_id")], separator=":"),
        pl.col("resource_id"),
        pl.lit(""),
    )
    detail = pl.concat_str(
        [
            pl.col("reason"),
            pl.when(pl.col("record_count").is_not_null()).then(pl.format("{} records", pl.col("record_count"))),
            pl.col("subject_id"),
        ],
        separator="; ",
        ignore_nulls=True,
    )
    frame = shown.select(
        pl.col("timestamp").dt.strftime(TIME_FORMAT).alias("t"),
        "event_id",
        "event_type",
        pl.col("outcome").cast(pl.String),
        actor,
        "ip",
        target.alias("target"),
        detail.alias("detail"),
    )
    parts = []
    for i, (_, col, width) in enumerate(_APPENDIX_COLUMNS):
        text = pl.col(col).fill_null("").str.replace_all(r"[\r\n\t]+", " ")
        last = i == len(_APPENDIX_COLUMNS) - 1
        # A value wider than its column ends in "…" (the whole value is in events.csv), never cut silently.
        text = _clip(text, width) if last else _clip(text, width).str.pad_end(width)
        parts.append(text)
    lines = frame.select(pl.concat_str(parts, separator=" ").alias("line"))["line"].to_list() if frame.height else []
    header = " ".join(
        label.ljust(width) if i < len(_APPENDIX_COLUMNS) - 1 else label
        for i, (label, _, width) in enumerate(_APPENDIX_COLUMNS)
    )
    return Appendix(header=header, lines=lines, total=evidence.height, shown=len(lines), cap=cap)


def evidence_by_ids(events: pl.DataFrame, ids: pl.Series | Sequence[str]) -> pl.DataFrame:
    """The events with these ids, in time order."""
    wanted = pl.Series("event_id", list(ids) if not isinstance(ids, pl.Series) else ids, dtype=pl.String).unique()
    return events.filter(pl.col("event_id").is_in(wanted.implode())).sort("timestamp", "event_id")


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def empty_events_frame() -> pl.DataFrame:
    return pl.DataFrame(schema=EVENT_SCHEMA)
