"""SOC 2 quarterly access and change review (CC6 logical access, CC7 monitoring, CC8 change).

Sections: user access lifecycle (joiners, movers, leavers, role changes, API keys),
authentication (failed logins, MFA changes, password resets), privileged and
configuration changes with before/after diffs, data exports, anomalies with triage
status, and the control -> evidence table from ``frameworks/soc2.yml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from .charts import events_over_time_figure, exports_figure, failed_logins_figure
from .common import ReportInputs, assemble, config_diffs
from .model import Chart, ReportModel, Section, Table, actor_expr, table_from_frame
from .settings import ReportSettings

__all__ = ["build_soc2_model", "control_evidence_table"]

ACCESS_TYPES = {
    "auth.user.invited": "joiner",
    "auth.user.removed": "leaver",
    "auth.permission.changed": "role change (mover)",
    "auth.api_key.created": "API key created",
    "auth.api_key.revoked": "API key revoked",
}
AUTH_CHANGE_TYPES = ("auth.mfa.enabled", "auth.mfa.disabled", "auth.password.reset")


def _target() -> pl.Expr:
    return pl.coalesce(
        pl.col("after").str.json_path_match("$.email"),
        pl.col("after").str.json_path_match("$.user_id"),
        pl.col("resource_id"),
    ).alias("target")


def _role(which: str) -> pl.Expr:
    """The role (accounts) or the scopes (API keys) a state grants, not its raw JSON."""
    state = pl.col(which)
    scopes = state.str.json_path_match("$.scopes").str.replace_all(r'[\[\]"]', "").str.replace_all(",", ", ")
    return pl.coalesce(
        state.str.json_path_match("$.role"), pl.format("scopes: {}", scopes), state.str.slice(0, 80)
    ).alias(f"{which}_role")


def control_evidence_table(framework: Mapping[str, Any] | Any | None, findings: pl.DataFrame, verdict: str) -> Table:
    """Requirement -> the rules and integrity checks that evidence it, with what they found."""
    title = "Control → evidence"
    if not framework:
        return Table(title, ["control", "evidence"], [], empty="No framework map was given (frameworks/soc2.yml).")
    if isinstance(framework, Mapping):
        reqs = framework.get("requirements") or framework.get("controls") or []
        if isinstance(reqs, Mapping):
            reqs = [{"id": k, **(v or {})} for k, v in reqs.items()]
    else:  # a detect.Framework
        reqs = [
            {"id": r.id, "title": r.title, "rules": list(r.rules), "integrity_checks": list(r.integrity_checks)}
            for r in framework.requirements
        ]
    per_rule: dict[str, int] = {}
    if findings.height:
        for col in ("rule_id", "rule_name"):
            for name, n in findings.group_by(col).len().rows():
                if name is not None:
                    per_rule[name] = (
                        per_rule.get(name, 0) + int(n) if col == "rule_id" else max(per_rule.get(name, 0), int(n))
                    )
    rows = []
    for req in reqs:
        rules = list(req.get("rules") or [])
        checks = list(req.get("integrity") or req.get("integrity_checks") or req.get("checks") or [])
        hits = sum(int(per_rule.get(r, 0)) for r in rules)
        status = f"{hits} finding(s) to review" if hits else "no exception found"
        if checks:
            status += f"; integrity {verdict}"
        rows.append(
            [
                str(req.get("id", "?")),
                str(req.get("title") or req.get("name") or ""),
                ", ".join(rules) or "—",
                ", ".join(checks) or "—",
                status,
            ]
        )
    return Table(
        title,
        ["control", "requirement", "detection rules", "integrity checks", "result"],
        rows,
        widths=["9%", "33%", "24%", "16%", "18%"],
        empty="The framework map lists no requirement.",
    )


def build_soc2_model(
    inputs: ReportInputs,
    settings: ReportSettings | None = None,
    *,
    framework: Mapping[str, Any] | Any | None = None,
    triage: Mapping[str, str] | None = None,
    parameters: Mapping[str, Any] | None = None,
    notebook_name: str | None = None,
    rule_pack_hash: str | None = None,
    manifest_hash: str | None = None,
) -> ReportModel:
    """The SOC 2 quarterly review model from plain data (see :class:`ReportInputs`)."""
    settings = settings or ReportSettings()
    ev = inputs.events
    actor = actor_expr()
    access = ev.filter(pl.col("event_type").is_in(list(ACCESS_TYPES))).with_columns(
        pl.col("event_type").replace_strict(ACCESS_TYPES, default="other").alias("change"),
        actor,
        _target(),
        _role("before"),
        _role("after"),
    )
    access_counts = dict(access.group_by("change").len().rows())
    failed = ev.filter(pl.col("event_type") == "auth.login.failure")
    failed_by_user = (
        failed.group_by(pl.coalesce("actor_email", "actor_name", "actor_id", pl.lit("unknown")).alias("account"))
        .agg(
            pl.len().alias("failures"),
            pl.col("ip").n_unique().alias("distinct_ips"),
            pl.col("timestamp").min().alias("first"),
            pl.col("timestamp").max().alias("last"),
        )
        .sort("failures", descending=True)
    )
    auth_changes = ev.filter(pl.col("event_type").is_in(list(AUTH_CHANGE_TYPES))).with_columns(actor, _target())
    config = ev.filter(pl.col("category") == "config")
    exports = ev.filter(pl.col("event_type") == "data.export").with_columns(
        actor, pl.col("subject_ids").list.len().alias("subjects")
    )

    sections = [
        Section(
            "access",
            "User access: joiners, movers, leavers",
            "Every account and API-key lifecycle event and every role change in the period. Reconcile joiners and "
            "leavers with HR records and check that each role change was approved.",
            facts=[(k, str(access_counts.get(k, 0))) for k in ACCESS_TYPES.values()],
            tables=[
                table_from_frame(
                    access,
                    {
                        "time": "timestamp",
                        "change": "change",
                        "by": "actor",
                        "account / key": "target",
                        "role before": "before_role",
                        "role after": "after_role",
                        "reason": "reason",
                    },
                    "Access changes",
                    widths=["12%", "10%", "17%", "17%", "9%", "17%", "18%"],
                )
            ],
        ),
        Section(
            "authentication",
            "Authentication: failed logins and MFA changes",
            f"{failed.height} failed login(s) in the period across {failed_by_user.height} account(s). MFA being turned "
            "off and password resets are listed for review.",
            charts=["failed_logins"],
            tables=[
                table_from_frame(
                    failed_by_user,
                    {
                        "account": "account",
                        "failed logins": "failures",
                        "distinct IPs": "distinct_ips",
                        "first": "first",
                        "last": "last",
                    },
                    "Failed logins per account",
                    limit=50,
                    widths=["36%", "13%", "11%", "20%", "20%"],
                ),
                table_from_frame(
                    auth_changes,
                    {
                        "time": "timestamp",
                        "event": "event_type",
                        "by": "actor",
                        "account": "target",
                        "ip": "ip",
                        "reason": "reason",
                    },
                    "MFA changes and password resets",
                ),
            ],
        ),
        Section(
            "changes",
            "Privileged and configuration changes",
            f"{config.height} configuration change(s). Each is shown as a before/after diff for change review: was it "
            "authorised, tested and expected?",
            diffs=config_diffs(config, actor),
            tables=[]
            if config.height <= 150
            else [
                Table("", [], [], note=f"The first 150 of {config.height} changes are shown; all are in events.csv.")
            ],
        ),
        Section(
            "exports",
            "Data exports",
            f"{exports.height} export(s) totalling {int(exports['record_count'].fill_null(0).sum())} record(s).",
            charts=["exports"],
            tables=[
                table_from_frame(
                    exports,
                    {
                        "time": "timestamp",
                        "by": "actor",
                        "records": "record_count",
                        "subjects": "subjects",
                        "scope": "resource_id",
                        "ip": "ip",
                        "reason": "reason",
                    },
                    "Exports",
                    widths=["12%", "20%", "8%", "9%", "7%", "14%", "30%"],
                )
            ],
        ),
        Section(
            "anomalies",
            "Anomalies and triage status",
            "Findings per detection rule and how many are still open. Each finding is listed under Findings by "
            "severity; the decision column of the sign-off records the reviewer's decision.",
            tables=[
                table_from_frame(
                    inputs.findings.with_columns(
                        pl.col("finding_id").is_in(list(triage or {})).alias("triaged"),
                        pl.col("rule_name").fill_null(pl.col("rule_id")).alias("rule"),
                    )
                    .group_by("rule", "severity")
                    .agg(
                        pl.len().alias("findings"),
                        pl.col("count").sum().alias("events"),
                        (~pl.col("triaged")).sum().alias("open"),
                        pl.col("triaged").sum().alias("triaged"),
                        pl.col("window_start").min().alias("first"),
                        pl.col("title").first().alias("title"),
                    )
                    .sort("findings", "rule", descending=[True, False]),
                    {
                        "rule": "rule",
                        "severity": "severity",
                        "what it found (first)": "title",
                        "findings": "findings",
                        "events": "events",
                        "open": "open",
                        "triaged": "triaged",
                        "first (UTC)": "first",
                    },
                    "Triage status per rule",
                    empty="No anomaly was detected in the period.",
                    widths=["18%", "9%", "31%", "8%", "7%", "6%", "7%", "14%"],
                )
            ],
        ),
        Section(
            "controls",
            "Control → evidence (SOC 2)",
            "Each Trust Services criterion in the framework map, the detection rules and integrity checks that evidence it, and what they found.",
            tables=[
                control_evidence_table(framework, inputs.findings, str(inputs.verification.get("verdict", "NOT RUN")))
            ],
        ),
    ]
    charts = {
        "events_over_time": Chart("events_over_time", "Events per day by category", figure=events_over_time_figure(ev)),
        "failed_logins": Chart("failed_logins", "Failed logins per day", figure=failed_logins_figure(ev)),
        "exports": Chart("exports", "Records exported per day", figure=exports_figure(ev)),
    }
    finding_ids = inputs.findings.select(pl.col("event_ids").explode()).to_series().drop_nulls()
    evidence = ev.filter(
        pl.col("event_id").is_in(finding_ids.implode())
        | pl.col("event_type").is_in([*ACCESS_TYPES, *AUTH_CHANGE_TYPES, "data.export"])
        | (pl.col("category") == "config")
    )
    return assemble(
        kind="soc2",
        title="SOC 2 quarterly access and change review",
        subtitle="User access, authentication, configuration changes, data exports and anomalies, with population completeness",
        inputs=inputs,
        settings=settings,
        sections=sections,
        charts=charts,
        evidence=evidence,
        signoff_statement=(
            "I reviewed the access changes, authentication events, configuration changes, exports and findings in this "
            "report for the period and recorded a decision for each finding."
        ),
        keywords=["SOC 2", "CC6", "CC7", "CC8", "access review", "change review", "audit log", inputs.period.label],
        parameters=parameters,
        notebook_name=notebook_name,
        rule_pack_hash=rule_pack_hash,
        manifest_hash=manifest_hash,
        triage=triage,
    )
