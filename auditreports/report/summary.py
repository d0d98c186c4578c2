"""The executive summary: scope, population, integrity in plain words, a conclusion per criterion.

How a criterion is concluded is data in the framework file (``report: summary:``)::

    summary:
      exceptions: [critical, high, medium, low]   # finding severities that are exceptions
      criteria:
        - id: CC6.1                                # a requirement of this framework's map
          population: {category: [auth]}          # the events the criterion is tested on
          without: no authentication events (logins, MFA or password changes) are in the log
          relies_on: [hash_chain, sequence]       # integrity checks it cannot do without

Each criterion gets exactly one of three conclusions:

* **Not testable from this log** when its population is empty (``without`` says why), or
  when an integrity check it relies on failed or could not be made on a source its
  population comes from (the check, the source and the reason are named);
* **Exceptions noted** when a finding of one of the requirement's rules has a severity in
  ``exceptions`` (the finding references are listed);
* **No exceptions noted** otherwise.

Python holds this engine only; the wording of each conclusion is the three fixed phrases
above, the reasons come from the framework file and the integrity verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from ..errors import ConfigError
from .engine import QueryContext, section_kind
from .model import SEVERITY_ORDER, Section, Table

__all__ = [
    "EXCEPTIONS",
    "NOT_TESTABLE",
    "NO_EXCEPTIONS",
    "Conclusion",
    "check_summary_spec",
    "conclude",
    "finding_refs",
]

NO_EXCEPTIONS = "No exceptions noted"
EXCEPTIONS = "Exceptions noted"
NOT_TESTABLE = "Not testable from this log"
DEFAULT_EXCEPTIONS = ("critical", "high", "medium", "low")
_CRITERION = ("id", "population", "without", "relies_on")


@dataclass
class Conclusion:
    criterion: str
    title: str
    conclusion: str  # one of the three phrases
    basis: str  # finding references, or why it is not testable, or what was tested
    refs: list[str] = field(default_factory=list)
    population: int = 0


def check_summary_spec(node: Any, path: str, requirement_ids: Sequence[str], checks: Sequence[str]) -> None:
    """One-line errors for a ``report: summary:`` block that names unknown keys, criteria or checks."""
    if node is None:
        return
    where = f"{path}: report.summary"
    if not isinstance(node, Mapping):
        raise ConfigError(f"{where} must be a mapping (exceptions, criteria); fix the framework file.")
    unknown = sorted(set(node) - {"exceptions", "criteria"})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: exceptions, criteria.")
    for sev in node.get("exceptions") or []:
        if sev not in ("critical", "high", "medium", "low", "info"):
            raise ConfigError(f"{where}.exceptions: {sev!r} is not a severity (critical, high, medium, low, info).")
    for i, crit in enumerate(node.get("criteria") or []):
        cw = f"{where}.criteria[{i}]"
        if not isinstance(crit, Mapping) or "id" not in crit:
            raise ConfigError(f"{cw} must be a mapping with an id; fix the framework file.")
        bad = sorted(set(crit) - set(_CRITERION))
        if bad:
            raise ConfigError(f"{cw}: unknown key(s) {', '.join(bad)}; allowed: {', '.join(_CRITERION)}.")
        if str(crit["id"]) not in requirement_ids:
            raise ConfigError(
                f"{cw}.id: {crit['id']!r} is not a requirement of this framework ({', '.join(requirement_ids)})."
            )
        for check in crit.get("relies_on") or []:
            if check not in checks:
                raise ConfigError(f"{cw}.relies_on: unknown integrity check {check!r}; known: {', '.join(checks)}.")
        population = crit.get("population") or {}
        if not isinstance(population, Mapping):
            raise ConfigError(f"{cw}.population must map event columns to values ({{category: [auth]}}).")
        if population and not crit.get("without"):
            raise ConfigError(f"{cw}: a population needs `without`, the reason it is not testable when empty.")


def _population(events: pl.LazyFrame, population: Mapping[str, Any] | None) -> dict[str, int]:
    """Events per source of the population a criterion is tested on: every column condition
    holds (a value ending in * is a prefix); no condition, the whole period. A count per source
    is all a criterion needs (it counts its population and names its logs)."""
    cond = pl.lit(True)
    names = events.collect_schema().names()
    for column, values in (population or {}).items():
        if column not in names:
            raise ConfigError(f"report.summary population names column {column!r}, which events do not have.")
        values = [values] if isinstance(values, str) else list(values)
        exact = [v for v in values if not str(v).endswith("*")]
        prefixes = [str(v)[:-1] for v in values if str(v).endswith("*")]
        col = pl.col(column).cast(pl.String)
        one = col.is_in(exact) if exact else pl.lit(False)
        for p in prefixes:
            one = one | col.str.starts_with(p)
        cond = cond & one.fill_null(False)
    counts = events.filter(cond).group_by("source").len().collect()
    return {"" if source is None else str(source): int(n) for source, n in counts.rows()}


def finding_refs(findings: pl.DataFrame) -> dict[str, str]:
    """finding id -> its reference in the report (F1, F2, … in the order findings are listed)."""
    return {fid: f"F{i}" for i, fid in enumerate(findings.get_column("finding_id").to_list(), start=1)}


def _integrity_blocker(verification: Mapping[str, Any], relies_on: Sequence[str], sources: set[str]) -> str:
    """Why the integrity of the criterion's stretch of the log cannot be relied on ('' when it can)."""
    checks = list(verification.get("checks") or [])
    if not checks:
        if relies_on:
            return f"integrity was not verified, and this criterion relies on {', '.join(relies_on)}"
        return ""
    reasons = []
    for check in relies_on:
        for c in checks:
            if c.get("check") != check or (c.get("source") not in sources and sources):
                continue
            if c.get("verdict") == "FAILED":
                reasons.append(
                    f"the {check} check found {c.get('breaks')} break(s) in the {c.get('source')} log, "
                    "which this criterion's events come from"
                )
            elif c.get("verdict") == "PARTIAL":
                why = "; ".join(str(u) for u in (c.get("unverified") or [])) or "it could not be run"
                reasons.append(f"the {check} check could not be made on the {c.get('source')} log ({why})")
    return "; ".join(reasons)


def _gap_caveat(verification: Mapping[str, Any], sources: set[str]) -> str:
    """The silent stretches (logging outages, deletions) of the criterion's sources, as a caveat ('' if none).

    A day the log did not record is a day no event of the criterion was tested: a conclusion
    that does not say so would read as covering the whole period.
    """
    parts = []
    for g in verification.get("gaps") or []:
        if sources and g.get("source") not in sources:
            continue
        start, end = str(g.get("start") or "")[:16].replace("T", " "), str(g.get("end") or "")[:16].replace("T", " ")
        expected = g.get("expected_events")
        about = f", about {float(expected):,.0f} events expected" if expected else ""
        status = str(g.get("status") or "gap").replace("_", " ")
        parts.append(f"the {g.get('source')} log is silent from {start} to {end} UTC ({status}{about})")
    if not parts:
        return ""
    return " Caveat: " + "; ".join(parts) + ": nothing in that stretch could be tested."


def conclude(ctx: QueryContext, *, every_requirement: bool = False) -> list[Conclusion]:
    """One conclusion per criterion listed in the framework's ``report: summary:`` block
    (``every_requirement``: also the map's other requirements, tested on every event)."""
    spec = ctx.spec
    node = (spec.summary if spec is not None else None) or {}
    framework = ctx.framework
    if framework is None:
        return []
    exceptions = tuple(node.get("exceptions") or DEFAULT_EXCEPTIONS)
    findings = ctx.findings
    refs = finding_refs(findings)
    out = []
    criteria = list(node.get("criteria") or [{"id": r.id} for r in framework.requirements])
    if every_requirement:
        listed = {str(c["id"]) for c in criteria}
        criteria += [{"id": r.id} for r in framework.requirements if r.id not in listed]
        order = {r.id: i for i, r in enumerate(framework.requirements)}
        criteria.sort(key=lambda c: order.get(str(c["id"]), len(order)))
    for crit in criteria:
        req = framework.requirement(str(crit["id"]))
        population = crit.get("population") or {}
        per_source = _population(ctx.events, population)
        size = sum(per_source.values())
        sources = {s for s in per_source if s}
        if population and size == 0:
            out.append(Conclusion(req.id, req.title, NOT_TESTABLE, str(crit.get("without")), population=0))
            continue
        blocker = _integrity_blocker(ctx.inputs.verification, list(crit.get("relies_on") or []), sources)
        if blocker:
            out.append(
                Conclusion(req.id, req.title, NOT_TESTABLE, blocker[0].upper() + blocker[1:] + ".", population=size)
            )
            continue
        hits = findings.filter(pl.col("rule_name").is_in(list(req.rules)) & pl.col("severity").is_in(list(exceptions)))
        tested = f"{size:,} event(s) tested with {', '.join(req.rules) or 'no rule'}"
        caveat = _gap_caveat(ctx.inputs.verification, sources)
        if hits.height:
            ids = [refs[f] for f in hits.get_column("finding_id").to_list()]
            rules = ", ".join(dict.fromkeys(hits.get_column("rule_name").to_list()))
            out.append(
                Conclusion(req.id, req.title, EXCEPTIONS, f"{', '.join(ids)} ({rules}).{caveat}", ids, population=size)
            )
        else:
            out.append(Conclusion(req.id, req.title, NO_EXCEPTIONS, tested + "." + caveat, population=size))
    return out


def population_evidence(ctx: QueryContext) -> dict[str, Any]:
    """What an auditor re-performs the population test against: per source, events in the period,
    sequence range, first and last event, and the hash-chain head the integrity check reached."""
    heads = dict(ctx.inputs.verification.get("chain_heads") or {})
    rows = []
    if ctx.inputs.count:
        per = (
            ctx.events.group_by("source")
            .agg(
                pl.len().alias("n"),
                pl.col("seq").min().alias("seq_min"),
                pl.col("seq").max().alias("seq_max"),
                pl.col("timestamp").min().alias("first"),
                pl.col("timestamp").max().alias("last"),
            )
            .sort("source")
            .collect()
        )
        for r in per.iter_rows(named=True):
            head = (heads.get(r["source"]) or {}).get("head") or {}
            seq = f"{r['seq_min']} – {r['seq_max']}" if r["seq_min"] is not None else "— (no sequence numbers)"
            rows.append(
                [
                    str(r["source"]),
                    f"{r['n']:,}",
                    seq,
                    f"{r['first']:%Y-%m-%d %H:%M:%S}",
                    f"{r['last']:%Y-%m-%d %H:%M:%S}",
                    f"{head.get('hash')} (seq {head.get('seq')}, {head.get('event_id')})"
                    if head.get("hash")
                    else "no hash chain",
                ]
            )
    rows.append(["all sources", f"{ctx.inputs.count:,}", "", "", "", ""])
    table = Table(
        "Population per source (events in the period)",
        ["source", "events", "sequence range", "first (UTC)", "last (UTC)", "hash-chain head reached by verify"],
        rows,
        widths=["11%", "9%", "13%", "14%", "14%", "39%"],
    )
    files = [str(i.get("path")) for i in ctx.inputs.ledger.get("inputs") or [] if i.get("path")]
    return {"table": table, "files": files, "period": ctx.inputs.period.label}


def _source_totals(events: pl.LazyFrame) -> list[tuple[str, int]]:
    return sorted(_population(events, None).items())


def _other_rules(every: pl.DataFrame, selected: pl.DataFrame) -> list[dict[str, Any]]:
    """Findings of the period this report leaves out (rules its framework does not map), per rule.

    Said on the summary so a reader comparing reports (or ``detect``) with this one sees why a
    finding is absent rather than wondering whether it was lost.
    """
    if every.height == 0:
        return []
    rank = {s: i for i, s in enumerate(SEVERITY_ORDER)} | {"informational": SEVERITY_ORDER.index("info")}
    left = every.filter(~pl.col("finding_id").is_in(selected.get_column("finding_id").implode()))
    out = []
    for rule, group in sorted(left.group_by("rule_name"), key=lambda kv: str(kv[0][0])):
        severities = sorted({str(x) for x in group.get_column("severity").to_list()}, key=lambda x: rank.get(x, 9))
        out.append({"rule": str(rule[0]), "count": group.height, "highest": severities[0] if severities else ""})
    return sorted(out, key=lambda r: (rank.get(r["highest"], 9), r["rule"]))


@section_kind("summary")
def summary_section(spec: Mapping[str, Any], ctx: QueryContext) -> Section:
    """Executive summary: scope, population in one sentence, integrity in plain words, conclusions.

    Printed on page 2 (before the scope section), followed by the table of contents.
    """
    conclusions = conclude(ctx)
    table = Table(
        "",
        ["criterion", "requirement", "conclusion", "basis"],
        [[c.criterion, c.title, c.conclusion, c.basis] for c in conclusions],
        widths=["15%", "25%", "17%", "43%"],
        empty="The framework file lists no criterion to conclude on.",
    )
    section = Section(
        key=str(spec.get("key") or "summary"),
        title=str(spec.get("title") or "Executive summary"),
        intro="",
        kind="summary",
    )
    findings = ctx.findings
    triage = ctx.triage
    # Review hook: a finding is decided when the review file (or triage) records a decision for it.
    decided = sum(1 for f in findings.get_column("finding_id").to_list() if f in triage)
    sev = dict(findings.group_by("severity").len().rows()) if findings.height else {}
    ledger_inputs = list(ctx.inputs.ledger.get("inputs") or [])
    verification = ctx.inputs.verification
    section.extra = {
        "sources": _source_totals(ctx.events),
        "events": ctx.inputs.count,
        "outside": ctx.inputs.all_count - ctx.inputs.count,
        "files": len(ledger_inputs),
        "lines": sum(int(i.get("lines_read", 0) or 0) for i in ledger_inputs),
        "quarantined": sum(int(i.get("quarantined", 0) or 0) for i in ledger_inputs),
        "reconciled": all(
            int(i.get("lines_read", 0) or 0)
            == int(i.get("loaded", 0) or 0) + int(i.get("quarantined", 0) or 0) + int(i.get("blank", 0) or 0)
            for i in ledger_inputs
        ),
        "verdict": str(verification.get("verdict", "NOT RUN")),
        "breaks": len(verification.get("breaks") or []),
        "unverified": [
            f"{u.get('check')} on {u.get('source') or 'all sources'}: {u.get('reason')}"
            for u in verification.get("unverified") or []
        ],
        "findings": findings.height,
        "other_rules": _other_rules(ctx.inputs.findings, findings),
        "severities": [(s, int(sev.get(s, 0))) for s in ("critical", "high", "medium", "low", "info") if sev.get(s)],
        "decided": decided,
        "undecided": findings.height - decided,
        "conclusions": conclusions,
        "table": table,
        "framework": ctx.framework.title if ctx.framework else "",
        "organisation": ctx.settings.organisation,
        "period": ctx.inputs.period,
    }
    return section
