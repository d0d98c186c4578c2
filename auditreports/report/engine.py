"""The report engine: a framework's ``report:`` block (YAML) + named queries -> a report model.

A framework file (``frameworks/soc2.yml``) holds the control map and, under ``report:``,
what the report says: its title, which findings it reviews, which events are its
evidence, and its sections in order. Each section has a *kind* (a registered Python
function that turns the section's YAML into a :class:`~.model.Section`), a title, an
intro and tables; each table names a *query* (a registered function returning a Polars
LazyFrame from the report inputs) and its columns (label, field, width, format).

Prose lives in the YAML (intros are small sandboxed Jinja strings that may print counts
and settings) and in the templates; Python holds the queries and the section kinds.
The shared parts every report has (cover, population completeness, findings,
sign-off, stamp, appendix) are built by :func:`~.common.assemble`.

Adding a section kind (an executive summary, a conclusion per criterion) is one
function registered with :func:`section_kind` plus, if it prints something new, a
``_section_<kind>.html`` partial; adding a query is one function registered with
:func:`query`. See docs/reports.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jinja2
import polars as pl
from jinja2.sandbox import SandboxedEnvironment

from ..detect.frameworks import Framework
from ..errors import ConfigError, ReportError
from .common import ReportInputs, assemble, config_diffs
from .minimum import GROUP_UNITS
from .model import Chart, ReportModel, Section, Table, actor_expr, table_from_frame
from .settings import ReportSettings

__all__ = [
    "CHARTS",
    "QUERIES",
    "SECTION_KINDS",
    "QueryContext",
    "ReportSpec",
    "build_report",
    "chart",
    "parse_report_spec",
    "query",
    "section_kind",
]

Query = Callable[["QueryContext"], pl.LazyFrame]
ChartFigure = Callable[["QueryContext"], Any]
SectionBuilder = Callable[[Mapping[str, Any], "QueryContext"], Section]

QUERIES: dict[str, Query] = {}
CHARTS: dict[str, ChartFigure] = {}
SECTION_KINDS: dict[str, SectionBuilder] = {}


def query(name: str) -> Callable[[Query], Query]:
    """Register ``fn(ctx) -> pl.LazyFrame`` under ``name`` for framework files to cite."""

    def register(fn: Query) -> Query:
        if name in QUERIES and QUERIES[name] is not fn:
            raise ConfigError(f"report query {name!r} is registered twice; give the second one another name.")
        QUERIES[name] = fn
        return fn

    return register


def chart(name: str) -> Callable[[ChartFigure], ChartFigure]:
    """Register ``fn(ctx) -> plotly Figure`` under ``name``."""

    def register(fn: ChartFigure) -> ChartFigure:
        CHARTS[name] = fn
        return fn

    return register


def section_kind(name: str) -> Callable[[SectionBuilder], SectionBuilder]:
    """Register ``fn(spec, ctx) -> Section`` as the section kind ``name``."""

    def register(fn: SectionBuilder) -> SectionBuilder:
        SECTION_KINDS[name] = fn
        return fn

    return register


@dataclass
class QueryContext:
    """What a query sees: the report inputs, the settings, the framework map, the triage.

    ``frame(name)`` runs a registered query once and keeps its result, so queries may be
    built from other queries (``ctx.frame("phi_access").lazy()``) without recomputing them.
    """

    inputs: ReportInputs
    settings: ReportSettings
    framework: Framework | None = None
    triage: Mapping[str, str] = field(default_factory=dict)
    spec: ReportSpec | None = None
    selected_findings: pl.DataFrame | None = None  # set once the report's findings: selection is made
    _frames: dict[str, pl.DataFrame] = field(default_factory=dict, repr=False)

    @property
    def events(self) -> pl.LazyFrame:
        """The canonical events of the period, in time order (query the columns and rows you need)."""
        return self.inputs.events

    @property
    def findings(self) -> pl.DataFrame:
        """The findings this report reviews (after the framework's ``findings:`` selection)."""
        return self.inputs.findings if self.selected_findings is None else self.selected_findings

    def frame(self, name: str) -> pl.DataFrame:
        if name not in self._frames:
            fn = QUERIES.get(name)
            if fn is None:
                raise ConfigError(
                    f"report query {name!r} is not registered; known: {', '.join(sorted(QUERIES))}.", query=name
                )
            self._frames[name] = fn(self).collect()
        return self._frames[name]

    # Helpers for the intro and fact strings of a framework file (sandboxed Jinja).
    def rows(self, name: str) -> int:
        return self.frame(name).height

    def distinct(self, name: str, column: str) -> int:
        return int(self.frame(name).get_column(column).drop_nulls().n_unique())

    def total(self, name: str, column: str) -> int:
        return int(self.frame(name).get_column(column).fill_null(0).sum())

    def count(self, name: str, column: str, value: Any) -> int:
        return int(self.frame(name).filter(pl.col(column) == value).height)


# ---------------------------------------------------------------- the report: block


@dataclass(frozen=True)
class ReportSpec:
    """The ``report:`` block of a framework file, checked."""

    kind: str
    title: str
    subtitle: str
    signoff: str
    keywords: tuple[str, ...]
    charts: tuple[tuple[str, str], ...]  # (chart function, title)
    sections: tuple[Mapping[str, Any], ...]
    evidence: tuple[str, ...]  # queries whose events are evidence (beside the findings' events)
    appendix: tuple[str, ...] | None  # queries printed in the appendix (None: all evidence)
    appendix_note: str
    findings_rules: str  # "all" or "framework"
    findings_except: tuple[str, ...]
    findings_touching: tuple[str, ...]
    builder: str = "sections"  # or a custom builder's name (gdpr)
    notebook: str | None = None
    parameters: tuple[str, ...] = ()
    path: str = ""
    summary: Mapping[str, Any] | None = None  # how each criterion is concluded (report/summary.py)
    minimum_necessary: bool = False  # withhold conversation free text unless settings.phi_free_text
    appendix_grouped: bool = False  # print the appendix as actor x event type x day (or week) with a count
    appendix_group_unit: str = "day"  # group: true | day | week


_TOP = (
    "title",
    "subtitle",
    "signoff",
    "keywords",
    "charts",
    "findings",
    "evidence",
    "appendix",
    "sections",
    "builder",
    "notebook",
    "parameters",
    "summary",
    "minimum_necessary",
)
_SECTION = ("key", "kind", "title", "intro", "facts", "charts", "tables", "query", "limit", "note")
_TABLE = ("title", "query", "columns", "limit", "empty", "note", "max_chars")
_COLUMN = ("label", "field", "width", "format")
FORMATS = ("auto", "text", "date", "time")


def _fail(path: str, where: str, message: str) -> ConfigError:
    return ConfigError(f"{path}: report.{where}: {message}; fix the framework file.", path=path, key=where)


def _keys(node: Any, allowed: Sequence[str], path: str, where: str) -> Mapping[str, Any]:
    if not isinstance(node, Mapping):
        raise _fail(path, where, "must be a mapping")
    unknown = sorted(set(node) - set(allowed))
    if unknown:
        raise _fail(path, where, f"unknown key(s) {', '.join(map(str, unknown))}; allowed: {', '.join(allowed)}")
    return node


def _text(node: Mapping[str, Any], key: str, path: str, where: str, *, required: bool = False) -> str:
    value = node.get(key)
    if value is None:
        if required:
            raise _fail(path, f"{where}.{key}" if where else key, "is required")
        return ""
    if not isinstance(value, str):
        raise _fail(path, f"{where}.{key}" if where else key, f"must be text, not {type(value).__name__}")
    return value.strip()


def _names(value: Any, path: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(path, where, "must be a list of names")
    return tuple(value)


def _check_query(name: str, path: str, where: str) -> None:
    if name not in QUERIES:
        raise _fail(path, where, f"unknown query {name!r}; registered: {', '.join(sorted(QUERIES))}")


def parse_report_spec(kind: str, block: Any, path: str) -> ReportSpec:
    """Check a framework's ``report:`` block: every key, query, chart and section kind is known."""
    _load_builtin_queries()
    node = _keys(block, _TOP, path, "") if block is not None else None
    if node is None:
        raise ConfigError(f"{path} has no report: block, so it is a control map only; add one (docs/reports.md).")
    builder = _text(node, "builder", path, "") or "sections"
    notebook = _text(node, "notebook", path, "") or None
    parameters = _names(node.get("parameters"), path, "parameters")
    if builder != "sections":
        # A custom builder (GDPR) owns its content; the block only names it.
        return ReportSpec(
            kind=kind,
            title=_text(node, "title", path, ""),
            subtitle="",
            signoff="",
            keywords=(),
            charts=(),
            sections=(),
            evidence=(),
            appendix=None,
            appendix_note="",
            findings_rules="all",
            findings_except=(),
            findings_touching=(),
            builder=builder,
            notebook=notebook,
            parameters=parameters,
            path=path,
        )
    charts = []
    for i, c in enumerate(node.get("charts") or []):
        c = _keys(c, ("chart", "title"), path, f"charts[{i}]")
        name = _text(c, "chart", path, f"charts[{i}]", required=True)
        if name not in CHARTS:
            raise _fail(path, f"charts[{i}]", f"unknown chart {name!r}; registered: {', '.join(sorted(CHARTS))}")
        charts.append((name, _text(c, "title", path, f"charts[{i}]", required=True)))
    findings = node.get("findings", "all")
    if isinstance(findings, str):
        findings = {"rules": findings}
    findings = _keys(findings, ("rules", "except", "touching"), path, "findings")
    rules = findings.get("rules", "all")
    if rules not in ("all", "framework"):
        raise _fail(path, "findings.rules", f"must be all or framework, not {rules!r}")
    touching = _names(findings.get("touching"), path, "findings.touching")
    evidence = _names(node.get("evidence"), path, "evidence")
    appendix_node = node.get("appendix")
    appendix: tuple[str, ...] | None = None
    appendix_note = ""
    if appendix_node is not None:
        appendix_node = _keys(appendix_node, ("queries", "note", "group"), path, "appendix")
        appendix = _names(appendix_node.get("queries"), path, "appendix.queries")
        appendix_note = _text(appendix_node, "note", path, "appendix")
    group = (appendix_node or {}).get("group", False)
    if group is True:
        group = "day"
    if group is not False and group not in GROUP_UNITS:
        raise _fail(path, "appendix.group", f"must be true, false, {' or '.join(GROUP_UNITS)}, not {group!r}")
    for where, names in (("findings.touching", touching), ("evidence", evidence), ("appendix", appendix or ())):
        for name in names:
            _check_query(name, path, where)
    sections = []
    seen: set[str] = set()
    raw_sections = node.get("sections") or []
    if not isinstance(raw_sections, list):
        raise _fail(path, "sections", "must be a list")
    for i, s in enumerate(raw_sections):
        where = f"sections[{i}]"
        s = _keys(s, _SECTION, path, where)
        key = _text(s, "key", path, where, required=True)
        if key in seen:
            raise _fail(path, where, f"duplicate section key {key!r}")
        seen.add(key)
        _text(s, "title", path, where, required=True)
        kind_name = s.get("kind", "tables")
        if kind_name not in SECTION_KINDS:
            raise _fail(
                path, f"{where}.kind", f"unknown section kind {kind_name!r}; known: {', '.join(sorted(SECTION_KINDS))}"
            )
        if s.get("query") is not None:
            _check_query(str(s["query"]), path, f"{where}.query")
        known_charts = {"events_over_time", *(name for name, _ in charts)}
        for chart_name in _names(s.get("charts"), path, f"{where}.charts"):
            if chart_name not in known_charts:
                raise _fail(
                    path,
                    f"{where}.charts",
                    f"chart {chart_name!r} is not in report.charts ({', '.join(sorted(known_charts))})",
                )
        for j, fact in enumerate(s.get("facts") or []):
            if not isinstance(fact, Mapping) or set(fact) != {"label", "value"}:
                raise _fail(path, f"{where}.facts[{j}]", "must have exactly label and value")
        for j, t in enumerate(s.get("tables") or []):
            tw = f"{where}.tables[{j}]"
            t = _keys(t, _TABLE, path, tw)
            _check_query(_text(t, "query", path, tw, required=True), path, f"{tw}.query")
            columns = t.get("columns")
            if not isinstance(columns, list) or not columns:
                raise _fail(path, f"{tw}.columns", "must list the columns (label, field)")
            for k, c in enumerate(columns):
                c = _keys(c, _COLUMN, path, f"{tw}.columns[{k}]")
                _text(c, "label", path, f"{tw}.columns[{k}]", required=True)
                _text(c, "field", path, f"{tw}.columns[{k}]", required=True)
                if c.get("format", "auto") not in FORMATS:
                    raise _fail(path, f"{tw}.columns[{k}].format", f"must be one of {', '.join(FORMATS)}")
        sections.append(s)
    return ReportSpec(
        kind=kind,
        title=_text(node, "title", path, "", required=True),
        subtitle=_text(node, "subtitle", path, ""),
        signoff=_text(node, "signoff", path, "", required=True),
        keywords=_names(node.get("keywords"), path, "keywords"),
        charts=tuple(charts),
        sections=tuple(sections),
        evidence=evidence,
        appendix=appendix,
        appendix_note=appendix_note,
        findings_rules=str(rules),
        findings_except=_names(findings.get("except"), path, "findings.except"),
        findings_touching=touching,
        builder=builder,
        notebook=notebook,
        parameters=parameters,
        path=path,
        summary=node.get("summary"),
        minimum_necessary=bool(node.get("minimum_necessary", False)),
        appendix_grouped=group is not False,
        appendix_group_unit=group or "day",
    )


def _load_builtin_queries() -> None:
    # The shipped queries register themselves on import.
    from . import hipaa, soc2, summary  # noqa: F401


# ---------------------------------------------------------------- prose


# Prose is filled in as plain text, not HTML: the report templates (autoescape always on, no
# `|safe` on any prose field) escape it once when they print it. Escaping here too would print
# "&amp;" for "&"; tests/test_report_engine.py pins that a hostile value arrives escaped.
_PROSE = SandboxedEnvironment(autoescape=False, undefined=jinja2.StrictUndefined)


def prose(text: str, ctx: QueryContext, where: str, **extra: Any) -> str:
    """An intro or fact string of a framework file, with its counts filled in (sandboxed Jinja).

    The result is plain text: the report template escapes it when it prints it.
    """
    if "{" not in text:
        return text
    try:
        return _PROSE.from_string(text).render(
            rows=ctx.rows,
            distinct=ctx.distinct,
            total=ctx.total,
            count=ctx.count,
            settings=ctx.settings,
            period=ctx.inputs.period,
            **extra,
        )
    except jinja2.TemplateError as exc:
        path = ctx.spec.path if ctx.spec else "framework file"
        raise ReportError(f"{path}: report.{where} cannot be filled in ({exc}); fix the text.") from None


# ---------------------------------------------------------------- section kinds


def _table(t: Mapping[str, Any], ctx: QueryContext, where: str) -> Table:
    frame = ctx.frame(str(t["query"]))
    columns = list(t["columns"])
    missing = [c["field"] for c in columns if c["field"] not in frame.columns]
    if missing:
        raise ReportError(
            f"{ctx.spec.path if ctx.spec else ''}: report.{where} shows field(s) {', '.join(missing)} that query "
            f"{t['query']!r} does not return (it returns {', '.join(frame.columns)}); fix the columns."
        )
    widths = [str(c["width"]) for c in columns if c.get("width")]
    limit = t.get("limit", 200)
    return table_from_frame(
        frame,
        {str(c["label"]): str(c["field"]) for c in columns},
        prose(str(t.get("title") or ""), ctx, f"{where}.title"),
        limit=None if limit is None else int(limit),
        note=prose(str(t.get("note") or ""), ctx, f"{where}.note"),
        empty=prose(str(t.get("empty") or "None in the period."), ctx, f"{where}.empty"),
        widths=widths if len(widths) == len(columns) else None,
        max_chars=int(t.get("max_chars", 300)),
        formats={str(c["label"]): str(c["format"]) for c in columns if c.get("format")},
    )


def _facts(spec: Mapping[str, Any], ctx: QueryContext, where: str) -> list[tuple[str, str]]:
    out = []
    for i, item in enumerate(spec.get("facts") or []):
        if not isinstance(item, Mapping) or set(item) != {"label", "value"}:
            raise ReportError(f"report.{where}.facts[{i}] must have exactly label and value; fix the framework file.")
        out.append((str(item["label"]), prose(str(item["value"]), ctx, f"{where}.facts[{i}]")))
    return out


@section_kind("tables")
def tables_section(spec: Mapping[str, Any], ctx: QueryContext) -> Section:
    """Title, intro, label/value facts, charts and tables: most of a report."""
    where = f"sections[{spec['key']}]"
    return Section(
        key=str(spec["key"]),
        title=str(spec["title"]),
        intro=prose(str(spec.get("intro") or ""), ctx, f"{where}.intro"),
        facts=_facts(spec, ctx, where),
        charts=list(spec.get("charts") or []),
        tables=[_table(t, ctx, f"{where}.tables[{i}]") for i, t in enumerate(spec.get("tables") or [])],
        kind="tables",
    )


@section_kind("changes")
def changes_section(spec: Mapping[str, Any], ctx: QueryContext) -> Section:
    """Before/after diffs of the changes a query returns (change review), capped at ``limit``."""
    where = f"sections[{spec['key']}]"
    changes = ctx.frame(str(spec.get("query") or "config_changes"))
    limit = int(spec.get("limit") or 150)
    section = tables_section(spec, ctx)
    section.kind = "changes"
    section.diffs = config_diffs(changes, actor_expr(), limit=limit)
    if changes.height > limit:
        note = prose(
            str(spec.get("note") or "The first {{ limit }} of {{ changes }} changes are shown; all are in events.csv."),
            ctx,
            f"{where}.note",
            limit=limit,
            changes=changes.height,
        )
        section.tables.append(Table("", [], [], note=note))
    return section


@section_kind("controls")
def controls_section(spec: Mapping[str, Any], ctx: QueryContext) -> Section:
    """Requirement -> the rules and integrity checks that evidence it, with what they found."""
    section = tables_section(spec, ctx)
    section.kind = "controls"
    from .summary import conclude

    conclusions = {c.criterion: f"{c.conclusion}: {c.basis}" for c in conclude(ctx, every_requirement=True)}
    section.tables.insert(
        0,
        control_evidence_table(
            ctx.framework, ctx.findings, str(ctx.inputs.verification.get("verdict", "NOT RUN")), conclusions
        ),
    )
    return section


def control_evidence_table(
    framework: Framework | None,
    findings: pl.DataFrame,
    verdict: str,
    conclusions: Mapping[str, str] | None = None,
) -> Table:
    """One row per requirement of the framework map: its rules, its checks, what they found
    (the requirement's conclusion, as the executive summary gives it, when ``conclusions`` has it)."""
    title = "Control → evidence"
    if framework is None:
        return Table(title, ["control", "evidence"], [], empty="No framework map was given.")
    per_rule: dict[str, int] = {}
    if findings.height:
        for col in ("rule_id", "rule_name"):
            for name, n in findings.group_by(col).len().rows():
                if name is not None:
                    per_rule[name] = (
                        per_rule.get(name, 0) + int(n) if col == "rule_id" else max(per_rule.get(name, 0), int(n))
                    )
    rows = []
    for req in framework.requirements:
        hits = sum(int(per_rule.get(r, 0)) for r in req.rules)
        status = f"{hits} finding(s) to review" if hits else "no exception found"
        if req.integrity_checks:
            status += f"; integrity {verdict}"
        if conclusions and req.id in conclusions:
            status = conclusions[req.id]
        rows.append([req.id, req.title, ", ".join(req.rules) or "—", ", ".join(req.integrity_checks) or "—", status])
    return Table(
        title,
        ["control", "requirement", "detection rules", "integrity checks", "result"],
        rows,
        widths=["10%", "22%", "22%", "14%", "32%"],
        empty="The framework map lists no requirement.",
    )


# ---------------------------------------------------------------- the report


def _event_ids(frames: Iterable[pl.DataFrame]) -> pl.Series:
    parts = [f.get_column("event_id").cast(pl.String) for f in frames]
    return pl.concat(parts) if parts else pl.Series("event_id", [], dtype=pl.String)


def _finding_event_ids(findings: pl.DataFrame) -> pl.Series:
    return findings.select(pl.col("event_ids").explode()).to_series().drop_nulls().cast(pl.String)


def select_findings(spec: ReportSpec, ctx: QueryContext) -> pl.DataFrame:
    """The findings a report reviews: all, or the framework's rules (minus ``except``) and any
    finding whose events are in one of the ``touching`` queries."""
    findings = ctx.inputs.findings
    if spec.findings_rules == "all":
        return findings
    rules = [r for r in (ctx.framework.rule_names() if ctx.framework else ()) if r not in spec.findings_except]
    touched = _event_ids(ctx.frame(q) for q in spec.findings_touching).implode()
    return findings.filter(
        pl.col("rule_name").is_in(rules) | pl.col("event_ids").list.eval(pl.element().is_in(touched)).list.any()
    )


def build_report(
    framework: Framework | str,
    inputs: ReportInputs,
    settings: ReportSettings | None = None,
    *,
    spec: ReportSpec | None = None,
    triage: Mapping[str, str] | None = None,
    parameters: Mapping[str, Any] | None = None,
    notebook_name: str | None = None,
    rule_pack_hash: str | None = None,
    manifest_hash: str | None = None,
) -> ReportModel:
    """The report model of ``framework`` (its map and its ``report:`` block) from plain data.

    ``framework`` is a report kind's name (``"soc2"``), a framework file, or a loaded
    :class:`~auditreports.detect.Framework`; ``spec`` defaults to that file's report block.
    """
    if isinstance(framework, str) or spec is None:
        from .registry import load_report

        loaded = load_report(framework if isinstance(framework, str) else framework.path)
        framework = loaded.framework
        spec = spec or loaded.spec
    if spec.builder != "sections":
        raise ReportError(
            f"the {spec.kind} report is built by its own builder ({spec.builder}); use its pipeline function."
        )
    settings = settings or ReportSettings()
    from .identity import copy_label_roles, label_role_expr

    inputs.add_columns(label_role_expr(inputs.events, settings.staff))
    ctx = QueryContext(inputs, settings, framework, dict(triage or {}), spec)
    findings = select_findings(spec, ctx)
    ctx.selected_findings = findings
    sections = [SECTION_KINDS[str(s.get("kind", "tables"))](s, ctx) for s in spec.sections]
    charts = {"events_over_time": ("events_over_time", "Events per day by category")}
    charts.update({name: (name, title) for name, title in spec.charts})
    chart_models = {key: Chart(key, title, figure=CHARTS[fn](ctx)) for key, (fn, title) in charts.items()}
    finding_ids = _finding_event_ids(findings)

    def rows(ids: pl.Series) -> pl.DataFrame:
        # Every column of the rows printed or attached (their stored records too), and nothing more.
        found = copy_label_roles(inputs.evidence_rows(ids), inputs.events)
        if spec.minimum_necessary and not settings.phi_free_text:
            from .minimum import withhold_free_text

            found = withhold_free_text(found)
        return found

    evidence = rows(pl.concat([_event_ids(ctx.frame(q) for q in spec.evidence), finding_ids]))
    appendix_events = None
    appendix_note = ""
    printed = finding_ids
    if spec.appendix is not None:
        printed = pl.concat([finding_ids, _event_ids(ctx.frame(q) for q in spec.appendix)])
        appendix_events = rows(printed)
        appendix_note = prose(
            spec.appendix_note, ctx, "appendix.note", printed=appendix_events.height, evidence=evidence.height
        )
    model = assemble(
        kind=spec.kind,
        title=spec.title,
        subtitle=spec.subtitle,
        inputs=inputs,
        settings=settings,
        sections=sections,
        charts=chart_models,
        evidence=evidence,
        appendix_events=appendix_events,
        appendix_note=appendix_note,
        findings=findings,
        signoff_statement=spec.signoff,
        keywords=[*spec.keywords, inputs.period.label],
        parameters=parameters,
        notebook_name=notebook_name,
        rule_pack_hash=rule_pack_hash,
        manifest_hash=manifest_hash,
        triage=triage,
        rule_notes={**_rule_notes(), **inputs.rule_notes},
    )
    from .actionable import enrich_findings

    enrich_findings(model.findings, findings, inputs.events, staff=settings.staff, between=inputs.between)
    if spec.appendix_grouped:
        from .minimum import grouped_appendix

        model.appendix = grouped_appendix(
            appendix_events if appendix_events is not None else evidence,
            settings,
            note=appendix_note,
            unit=spec.appendix_group_unit,
        )
    from .summary import population_evidence

    model.extra["population"] = population_evidence(ctx)
    return model


def _rule_notes() -> dict[str, tuple[str, str, str]]:
    """rule name -> (why it matters, what to check, description), from the shipped rule files."""
    from ..detect.rules import load_rules

    return {r.name: (r.why_it_matters, r.what_to_check, r.description) for r in load_rules()}
