"""Write notebooks/*.ipynb from this script, so the notebooks stay thin and reviewable.

    .venv/bin/python scripts/make_notebooks.py          # rewrite the notebooks
    .venv/bin/python scripts/make_notebooks.py --check  # exit 1 if a notebook differs

One generic notebook (``framework_report.ipynb``) renders every report kind built from a
framework file's sections (soc2, hipaa, an organisation's own); a kind with its own builder
(gdpr) has its own notebook. The parameters cell is generated from
``auditreports.parameters`` (``generic_notebook_parameters()``, ``declared_parameters(kind)``),
so the names and defaults a notebook declares are the ones the CLI checks. Cells carry fixed ids and no
outputs, so the committed files are byte-stable and hold no results.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from auditreports.parameters import declared_parameters, generic_notebook_parameters  # noqa: E402

NOTEBOOK_DIR = REPO / "notebooks"

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (auditreports)", "language": "python"}

REPORTS = {
    "framework": {
        "file": "framework_report.ipynb",
        "function": "framework_report",
        "title": "Framework report (SOC 2, HIPAA or an organisation's own framework)",
        "intro": (
            "The report of one framework file (`kind`: its stem, e.g. `soc2`, `hipaa`, or `acme` for an "
            "organisation's `acme.yml` in `frameworks_dirs`): is the period's audit log complete and untampered, "
            "what does each section of the framework's report show, what was anomalous, and has someone reviewed "
            "it? Run by `auditreports report KIND --store DIR --period 2026-Q3 --out DIR`, which checks the "
            "parameters first and keeps this executed notebook beside the PDF as the record of how the report was "
            "made. To run it by hand, set `kind`, `store` and `period` in the parameters cell."
        ),
    },
    "gdpr": {
        "file": "gdpr_subject_access.ipynb",
        "function": "gdpr_subject_access",
        "title": "GDPR Art. 15 subject access report",
        "intro": (
            "Everything the platform did with one data subject's data, without disclosing anyone else's. Run by "
            "`auditreports report gdpr --store DIR --period 2026-Q3 --subject cus_… --received 2026-10-05 --out DIR`. "
            "This notebook shows only what the report model already minimised: no other subject's identifiers."
        ),
    },
}


def _declared(kind: str) -> dict:
    return generic_notebook_parameters() if kind == "framework" else declared_parameters(kind)


def _parameters_cell(kind: str) -> nbformat.NotebookNode:
    lines = ["# Parameters (Papermill injects the values given on the command line after this cell)."]
    for spec in _declared(kind).values():
        lines.append(f"{spec.name} = {spec.default!r}  # {spec.help}")
    cell = nbformat.v4.new_code_cell("\n".join(lines))
    cell.metadata["tags"] = ["parameters"]
    return cell


def _code(source: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(source.strip("\n"))


def _md(source: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(source.strip("\n"))


def _settings_source(kind: str) -> str:
    overrides = [
        'organisation=params["organisation"]',
        'reviewer=params["reviewer"]',
        'appendix_cap=params["appendix_cap"]',
    ]
    overrides.append('templates_dir=Path(params["templates_dir"]) if params["templates_dir"] else None')
    if kind == "framework":
        # Only the kind's own parameters are in params (its framework file lists them).
        overrides += [
            'phi_tags=tuple(params["phi_tags"]) if params.get("phi_tags") is not None else None',
            'phi_channels=tuple(params["phi_channels"]) if params.get("phi_channels") is not None else None',
            'phi_knowledge_bases=tuple(params["phi_knowledge_bases"]) if params.get("phi_knowledge_bases") is not None else None',
        ]
    if kind == "gdpr":
        overrides += [
            'customers=Path(params["customer_directory"]) if params["customer_directory"] else None',
            'processing_record=Path(params["processing_record"]) if params["processing_record"] else None',
            'staff_names=True if params["staff_by_name"] else None',
        ]
    joined = ",\n    ".join(overrides)
    return f"""
from pathlib import Path

from auditreports.settings import load_settings

# Settings come from the settings file; parameters given to this run override the report settings
# (a parameter left at None keeps the file's value).
settings = load_settings(params["settings_file"]).with_report(
    {joined},
)
report_settings = settings.report
# Organisation rules run beside the built-in ones and are hashed into the stamp's rule-pack hash.
rules_dirs = [params["rules_dir"]] if params["rules_dir"] else []
print(f"organisation: {{report_settings.organisation}}; appendix cap: {{report_settings.appendix_cap:,}} rows")
"""


_INPUTS = """
from types import SimpleNamespace

from auditreports.sources import load

if params["store"]:
    source = params["store"]
else:
    # Files, directories or globs: loaded here so a forced source_format is honoured; the ledger
    # and quarantine travel with the events into the completeness section.
    loaded = load(params["src"], format=params["source_format"])
    print(loaded.summary())
    source = SimpleNamespace(
        events=loaded.events,
        ledger={"version": 1, "inputs": loaded.ledger, "fetches": []},
        quarantine=loaded.quarantine,
    )
report_period = params["period"] or (params["date_from"], params["date_to"])
# What the reproducibility stamp records: every parameter of this run, dates as ISO text.
stamp_parameters = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in params.items()}
"""


def _run_source(kind: str) -> str:
    function = REPORTS[kind]["function"]
    extra = (
        '    subject=params["subject"],\n    received=params["received"],\n'
        '    no_data_confirmed=params["no_data_confirmed"],\n    extension=params["extension"],\n    late_reason=params["late_reason"],\n'
        if kind == "gdpr"
        else ""
    )
    if kind == "framework":
        # The review file's decisions, the previous report to compare with, and final vs DRAFT.
        extra = (
            '    frameworks_dirs=params["frameworks_dirs"],\n'
            '    review=params["review_file"],\n    previous=params["previous_dir"],\n    final=params["final"],\n'
        )
    first = '    params["kind"],\n' if kind == "framework" else ""
    release = (
        "# The response to the data subject is result.pdf (no findings, staff by role). What follows is the\n"
        "# internal release record: integrity, findings touching the subject with staff named, redactions.\n"
        'response = model\nmodel = response.extra["release_record"]\nmodel.charts.update(response.charts)\n'
        if kind == "gdpr"
        else ""
    )
    return f'''
from auditreports.pipeline import {function}

result = {function}(
{first}    source,
    period=report_period,
    out_dir=params["out_dir"],
{extra}    settings=settings,
    rules_dirs=rules_dirs,
    notebook_name="{REPORTS[kind]["file"]}",
    parameters=stamp_parameters,
)
model = result.model
{release}'''


_SUMMARY = """
import polars as pl
from IPython.display import display

c = model.completeness
print(f"{model.title}: {model.organisation}, {model.period.label} ({model.period.start} to {model.period.end}, UTC)")
print(f"integrity verdict: {result.verdict} ({c.events_checked:,} events checked)")
print(f"events in period: {c.period_events:,}; outside the period: {c.outside_period:,}; quarantined: {c.quarantined_total:,}")
print(f"findings: {result.findings}  " + ", ".join(f"{sev}: {n}" for sev, n in model.severity_counts))

findings_table = pl.DataFrame(
    [
        {
            "severity": f.severity,
            "rule": f.rule_name,
            "title": f.title,
            "window": f.window,
            "events": f.count,
            "triage": f.triage,
            "finding_id": f.finding_id,
        }
        for f in model.findings
    ],
    schema={
        "severity": pl.String,
        "rule": pl.String,
        "title": pl.String,
        "window": pl.String,
        "events": pl.Int64,
        "triage": pl.String,
        "finding_id": pl.String,
    },
)
with pl.Config(tbl_rows=100, fmt_str_lengths=100, tbl_hide_dataframe_shape=True):
    display(findings_table)
"""

_CHARTS = """
import plotly.express as px

from auditreports.report.charts import use_static_images

# The Plotly mimetype renders natively in JupyterLab and VS Code and keeps the executed
# notebook small (no plotly.js copied into every output); a static SVG of every figure
# sits beside it for viewers without Plotly's JavaScript (nbconvert HTML, GitHub).
use_static_images()
for chart in model.charts.values():
    if chart.figure is not None:
        chart.figure.show()
if findings_table.height:
    by_rule = findings_table.group_by("rule", "severity").agg(pl.len().alias("findings")).sort("findings", descending=True)
    px.bar(by_rule, x="rule", y="findings", color="severity", title="Findings by rule").show()
"""

_SECTIONS = """
# What each section of the PDF says, in brief (the full tables are in the PDF and evidence/).
for section in model.sections:
    rows = sum(t.total if t.total is not None else len(t.rows) for t in section.tables)
    print(f"- {section.title}: {len(section.tables)} table(s), {rows:,} row(s)")
    for label, value in section.facts:
        print(f"    {label}: {value}")
"""

_PDF = """
from pypdf import PdfReader

pages = len(PdfReader(result.pdf).pages)
print(f"report:   {result.pdf} ({pages} pages, {result.pdf.stat().st_size:,} bytes)")
for name, path in sorted(result.evidence.items()):
    print(f"evidence: {path} ({path.stat().st_size:,} bytes)")
if result.release_record is not None:
    # GDPR: the internal release record and its evidence, never sent to the data subject.
    print(f"release record (internal): {result.release_record}")
    print(f"release evidence (internal): {result.release_evidence_dir}")
"""


def _check_source(kind: str) -> str:
    if kind == "framework":
        return (
            "from auditreports.parameters import check_parameters, declared_parameters, search_frameworks_dirs\n\n"
            "# The kind's framework file says which parameters beyond the common ones it takes.\n"
            "declared = declared_parameters(kind, search_frameworks_dirs(globals()))\n"
            "params = check_parameters(kind, {name: globals().get(name) for name in declared})"
        )
    return (
        "from auditreports.parameters import check_parameters, declared_parameters\n\n"
        f'params = check_parameters("{kind}", {{name: globals()[name] for name in declared_parameters("{kind}")}})'
    )


def report_notebook(kind: str) -> nbformat.NotebookNode:
    spec = REPORTS[kind]
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _md(f"# {spec['title']}\n\n{spec['intro']}"),
        _parameters_cell(kind),
        _md(
            "## Parameters checked\n\nThe same checks the CLI runs before starting this kernel: unknown names, "
            "secrets (never parameters: this notebook is saved), types, the period and the input."
        ),
        _code(_check_source(kind)),
        _code(_settings_source(kind)),
        _md(
            "## Inputs and the report\n\nOpen the store (or load the files), verify, detect, build the model, "
            "render the PDF/A and write `evidence/`: one call into `auditreports.pipeline`."
        ),
        _code(_INPUTS),
        _code(_run_source(kind)),
        _md("## Summary"),
        _code(_SUMMARY),
        _code(_SECTIONS),
        _md("## Charts\n\nThe report's charts, interactive here (the PDF holds the same figures as SVG)."),
        _code(_CHARTS),
        _md("## The PDF and its evidence"),
        _code(_PDF),
    ]
    return _finish(nb, kind)


_EXPLORE_SETUP = '''
from pathlib import Path

import plotly.express as px
import polars as pl
from IPython.display import display

from auditreports.errors import UsageError
from auditreports.parameters import check_parameters, declared_parameters
from auditreports.period import parse_period
from auditreports.report.charts import use_static_images
from auditreports.search import search
from auditreports.settings import load_settings
from auditreports.store import open_store

# Plotly figures: interactive in JupyterLab, plus a static SVG beside each for other viewers.
use_static_images()
pl.Config(tbl_rows=25, tbl_cols=-1, fmt_str_lengths=80, tbl_hide_dataframe_shape=True, tbl_width_chars=250)

params = check_parameters("explore", {name: globals()[name] for name in declared_parameters("explore")})
# Default store: out/store of the project (written by `make demo`), from the repo root or notebooks/.
store_dir = params["store"] or next((str(p) for p in (Path("out/store"), Path("../out/store")) if p.is_dir()), None)
if store_dir is None:
    raise UsageError("no store to explore: set the store parameter, or run `make demo` (it writes out/store)")
store = open_store(store_dir)
# The settings detect runs with (staff time zones for off-hours rules, thresholds), as the
# reports use them: the parameter, else the sample workspace's settings when exploring the
# demo's store (`make demo` built it with data_samples/settings.yml).
settings_file = params["settings_file"]
if settings_file is None and params["store"] is None:
    found_settings = (Path("data_samples/settings.yml"), Path("../data_samples/settings.yml"))
    settings_file = next((str(p) for p in found_settings if p.is_file()), None)
settings = load_settings(settings_file)
print(f"settings: {settings.path or 'built-in defaults'}")
# The period (2026-Q3, 2026-08, 2026): the integrity check and the findings cover it, and the
# filters below default to its first and last day. Without it: the whole store.
period = parse_period(params["period"]) if params["period"] else None
since = params["since"] or (period.start if period else None)
until = params["until"] or (period.end if period else None)
print(f"period: {period.label if period else 'the whole store'}")


def show(frame: pl.DataFrame, what: str = "rows", limit: int = 25) -> None:
    """Display at most ``limit`` rows, and say so when there are more (the frame holds them all)."""
    if frame.height > limit:
        print(f"showing the first {limit} of {frame.height:,} {what}; the frame holds them all")
    with pl.Config(tbl_rows=limit):
        display(frame.head(limit))


def hover_safe(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Plotly hover labels interpret a few HTML tags; notes and reasons are untrusted, so show them as text."""
    return frame.with_columns(
        pl.col(c).cast(pl.String).str.replace_all("<", "&lt;", literal=True).fill_null("") for c in columns
    )


# Who acted is the actor's id and type: an API key acts under its owner's name, a removed
# person's key as "Removed user", so a name alone would credit a key's calls to a person.
SHOW = [
    "timestamp", "event_type", "outcome", "actor_id", "actor_type", "actor_name", "actor_role",
    "ip", "conversation_id", "channel", "reason",
]  # fmt: skip
'''

_EXPLORE_OVERVIEW = """
overview = (
    store.events.group_by("source", "category")
    .agg(
        pl.len().alias("events"),
        pl.col("timestamp").min().alias("first"),
        pl.col("timestamp").max().alias("last"),
    )
    .sort("events", descending=True)
    .collect()
)
print(f"store {store_dir}: {overview['events'].sum():,} events")
display(overview)
"""

_EXPLORE_FILTER = """
filters = {
    "actor": params["actor"],
    "event_type": params["event_type"] or None,
    "since": since,
    "until": until,
    "conversation_id": params["conversation_id"],
    "channel": params["channel"] or None,
    "text": params["text"],
}
active = {k: v for k, v in filters.items() if v is not None}
selected = search(store_dir, **filters).collect()
print(f"{selected.height:,} events match {active or 'no filter (the whole store)'}")
show(selected.select(SHOW), "events")
"""

_EXPLORE_INTEGRITY = """
from auditreports.integrity import verify

window = (period.start_utc, period.end_utc_exclusive) if period else None
verification = verify(store.events, period=window, settings=settings.integrity)
print(f"integrity verdict: {verification.verdict} ({verification.events_checked:,} events checked)")
for b in verification.breaks[:20]:
    print(f"  break: {b.kind} at {b.event_id or b.position} ({b.source}): {b.detail}")
for u in verification.unverified:
    print(f"  not verified ({u.check}, {u.source or 'all sources'}): {u.reason}")
# Silent stretches the log's own rhythm says should hold events: outages (or deletions).
gaps = pl.DataFrame(
    [{k: g.get(k) for k in ("source", "start", "end", "hours", "expected_events", "status")} for g in verification.gaps],
    schema={"source": pl.String, "start": pl.String, "end": pl.String, "hours": pl.Float64,
            "expected_events": pl.Float64, "status": pl.String},
)  # fmt: skip
show(gaps, "silent stretches")
"""

_EXPLORE_DAILY = """
daily = selected.group_by(pl.col("timestamp").dt.date().alias("day"), "category").agg(pl.len().alias("events")).sort("day")
fig = px.bar(
    daily, x="day", y="events", color="category", title="Selected events per day (UTC days)",
    category_orders={"category": sorted(daily["category"].drop_nulls().unique().to_list())},
    labels={"day": "day (UTC)", "events": "events", "category": "category"},
)  # fmt: skip
# A silent stretch is not a quiet day: shade every logging gap the integrity check found.
for g in verification.gaps:
    fig.add_vrect(x0=g["start"], x1=g["end"], fillcolor="red", opacity=0.15, line_width=0,
                  annotation_text=f"{g.get('source')} log silent", annotation_position="top left")  # fmt: skip
fig.show()
"""

_EXPLORE_TOP = """
n = params["top_n"]
# One row per actor id (a key logged under several names is one actor; its names are listed).
top_actors = (
    selected.group_by("actor_id", "actor_type")
    .agg(
        pl.col("actor_name").drop_nulls().unique().sort().str.join(" / ").alias("names"),
        pl.col("actor_role").drop_nulls().unique().sort().str.join(" / ").alias("roles"),
        pl.len().alias("events"),
        (pl.col("outcome") == "failure").sum().alias("failures"),
        pl.col("ip").drop_nulls().n_unique().alias("distinct_ips"),
        pl.col("conversation_id").drop_nulls().n_unique().alias("conversations"),
    )
    .sort(["events", "actor_id"], descending=[True, False])
    .head(n)
)
by_ip = (
    selected.filter(pl.col("ip").is_not_null())
    .group_by("ip")
    .agg(
        pl.len().alias("events"),
        (pl.col("outcome") == "failure").sum().alias("failures"),
        ((pl.col("outcome") == "failure") & (pl.col("category") == "auth")).sum().alias("failed_logins"),
        pl.col("actor_id").drop_nulls().n_unique().alias("distinct_actors"),
    )
)
# By volume the integrations lead (and their failures are API errors); an attacker's address
# leads by failed logins, then by the accounts it tried.
top_ips = by_ip.sort(["events", "ip"], descending=[True, False]).head(n)
suspect_ips = by_ip.filter(pl.col("failed_logins") > 0).sort(
    ["failed_logins", "distinct_actors", "ip"], descending=[True, True, False]
).head(n)
print(f"top {n} actors by events")
show(top_actors, "actors", n)
print(f"top {n} IP addresses by events")
show(top_ips, "addresses", n)
print(f"top {n} IP addresses by failed logins (then by accounts they tried)")
show(suspect_ips, "addresses", n)
if suspect_ips.height:
    px.bar(
        suspect_ips, x="ip", y="failed_logins", hover_data=["events", "distinct_actors"],
        title=f"Top {n} IP addresses by failed logins", labels={"ip": "IP address", "failed_logins": "failed logins"},
    ).show()  # fmt: skip
px.bar(
    top_ips, x="ip", y="events", hover_data=["failures", "distinct_actors"], log_y=True,
    title=f"Top {n} IP addresses by events (log scale)", labels={"ip": "IP address", "events": "events"},
).show()  # fmt: skip
"""

_EXPLORE_TIMELINE = """
# Timeline of one conversation or one actor: the parameter, else the filter, else the conversation
# people (not integrations or bots) acted on most.
who = params["timeline_of"] or params["conversation_id"] or params["actor"]
if who is None:
    busiest = (
        selected.filter(pl.col("conversation_id").is_not_null() & (pl.col("actor_type").cast(pl.String) == "user"))
        .group_by("conversation_id")
        .len()
        .sort(["len", "conversation_id"], descending=[True, False])
        .head(1)
    )
    who = busiest["conversation_id"][0] if busiest.height else None
timeline = pl.DataFrame(schema=selected.schema)
if who is not None:
    timeline = search(store_dir, conversation_id=who).collect()
    kind = "conversation"
    if timeline.is_empty():
        timeline = search(store_dir, actor=who).collect()
        kind = "actor"
    print(f"timeline of {kind} {who}: {timeline.height:,} events")
if timeline.height:
    shown = hover_safe(timeline, ["actor_name", "actor_role", "ip", "reason", "before", "after"])
    fig = px.scatter(
        shown,
        x="timestamp",
        y="event_type",
        color="actor_name",
        symbol="outcome",
        hover_data=["event_id", "actor_role", "ip", "channel", "reason", "before", "after"],
        title=f"Timeline of {who}",
    )
    fig.update_traces(marker={"size": 9})
    fig.show()
    show(timeline.select(SHOW), "events", 50)
"""

_EXPLORE_FINDINGS = """
import dataclasses

from auditreports.detect import detect

# The rules see the whole store (baselines need the history before the period); the period
# chooses which findings are shown, as `auditreports detect --period` and the reports do.
found = detect(store.events, settings=settings.detection)
if period is not None:
    found = dataclasses.replace(found, frame=found.frame.filter(
        (pl.col("window_end") >= period.start_utc)
        & (pl.col("window_start").fill_null(pl.col("window_end")) < period.end_utc_exclusive)
    ))  # fmt: skip
print(f"{len(found)} finding(s) over {found.events_scanned:,} events")
# Findings citing the same events are one incident seen by several rules: each row names the others.
pairs = found.frame.select("finding_id", "event_ids").explode("event_ids")
shared = (
    pairs.join(pairs, on="event_ids", suffix="_other")
    .filter(pl.col("finding_id") != pl.col("finding_id_other"))
    .group_by("finding_id")
    .agg(pl.col("finding_id_other").unique().sort().str.slice(0, 8).str.join(", ").alias("shares_events_with"))
)
findings_table = found.frame.join(shared, on="finding_id", how="left").select(
    pl.col("finding_id").str.slice(0, 8).alias("finding"), "severity", "rule_name", "title", "summary",
    "window_start", "count", "shares_events_with",
)  # fmt: skip
print(found.frame.group_by("severity").len().sort("len", descending=True).rows())
show(findings_table, "findings", max(25, found.frame.height))
"""

_EXPLORE_FINDING_EVENTS = """
# From a finding to its events: the finding named by the parameter, else the most severe one.
chosen = (
    found.frame.filter(pl.col("finding_id") == params["finding_id"]) if params["finding_id"] else found.frame.head(1)
)
if params["finding_id"] and chosen.is_empty():
    raise UsageError(f"no finding {params['finding_id']!r} in this store; pick a finding_id from the table above")
if chosen.height:
    finding = chosen.row(0, named=True)
    print(f"{finding['severity']} {finding['rule_name']}: {finding['title']}")
    print(finding["summary"])
    evidence = store.events.filter(pl.col("event_id").is_in(finding["event_ids"])).sort("timestamp", "event_id").collect()
    print(f"{evidence.height} of {finding['count']} evidence events found in the store")
    display(evidence.select(["event_id", *SHOW]))
    px.scatter(
        hover_safe(evidence, ["actor_name", "ip", "reason"]),
        x="timestamp",
        y="actor_name",
        color="event_type",
        hover_data=["event_id", "ip", "reason"],
        title=f"Evidence of {finding['finding_id']}",
    ).show()
"""


_EXPLORE_REVIEW = """
# The review file (review_file parameter; write it with `auditreports review --store DIR --period P --out review.yml`):
# which of its findings are still undecided, and plain calls that record a decision in it.
from auditreports.review import DECISIONS, load_review, record_decision, undecided

if params["review_file"]:
    review = load_review(params["review_file"])
    listed = found.frame.filter(pl.col("finding_id").is_in(list(review.entries)))
    to_decide = undecided(listed, review)
    print(f"{review.path}: {len(review.decisions)} decided, {to_decide.height} undecided of {listed.height} listed")
    display(to_decide.select("finding_id", "severity", "rule_name", "title", "window_start", "count"))
else:
    print("no review_file given: set it above to list undecided findings and record decisions")


def decide(finding_id: str, decision: str, note: str | None = None, by: str | None = None) -> None:
    \"\"\"Record one decision in the review file (validated first); decision is one of DECISIONS.\"\"\"
    if not params["review_file"]:
        raise UsageError("set the review_file parameter first")
    entry = record_decision(
        params["review_file"], finding_id, decision, note=note, by=by, finding_ids=found.frame["finding_id"]
    )
    print(f"{entry.finding}: {entry.describe()}")


# For example:
# decide("<finding id>", "incident", note="INC-2291: password reset, IP blocked", by="Dana Lee")
print("decisions:", ", ".join(DECISIONS))
"""


def explore_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _md(
            "# Explore an audit-log store\n\nFilters over the same frames the reports use (actor, event type, "
            "dates, conversation, channel, free text in reasons and notes), top actors and IPs, a timeline of one "
            "conversation or actor, and from a finding to its events. Set the parameters below and run all; "
            "`auditreports lab` opens this notebook with the project's kernel."
        ),
        _parameters_cell("explore"),
        _code(_EXPLORE_SETUP),
        _md("## The store"),
        _code(_EXPLORE_OVERVIEW),
        _md(
            "## Integrity of the log\n\nThe hash chain, sequence, coverage and continuity checks of `auditreports "
            "verify` over the period: a silent stretch (logging outage or deletion) is shaded on the daily chart."
        ),
        _code(_EXPLORE_INTEGRITY),
        _md("## Filtered events\n\nEvery filter given above applies (`auditreports.search`: pushed down to Parquet)."),
        _code(_EXPLORE_FILTER),
        _code(_EXPLORE_DAILY),
        _md("## Top actors and IP addresses"),
        _code(_EXPLORE_TOP),
        _md("## Timeline"),
        _code(_EXPLORE_TIMELINE),
        _md("## Findings, and from a finding to its events"),
        _code(_EXPLORE_FINDINGS),
        _code(_EXPLORE_FINDING_EVENTS),
        _md(
            "## Review: decide on findings\n\nThe review file lists every finding of the period; a report run with "
            "`--review review.yml` shows each decision, and `--final` needs one on every critical and high finding."
        ),
        _code(_EXPLORE_REVIEW),
    ]
    return _finish(nb, "explore")


def _finish(nb: nbformat.NotebookNode, stem: str) -> nbformat.NotebookNode:
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{stem}-{i:02d}"
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def all_notebooks() -> dict[str, nbformat.NotebookNode]:
    built = {REPORTS[kind]["file"]: report_notebook(kind) for kind in REPORTS}
    built["explore.ipynb"] = explore_notebook()
    return built


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, nb in all_notebooks().items():
        text = nbformat.writes(nb) + "\n"
        path = NOTEBOOK_DIR / name
        if check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run scripts/make_notebooks.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
