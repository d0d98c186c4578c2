"""Regenerate docs/vendor-rule-agreement.md: our detection verdicts vs Panther's labels.

Panther's rule tests (../shared/data/real/panther-analysis-fixtures) label single
vendor events with ``expected_result`` for one Panther rule. For the Panther rules
that one of our built-in rules covers, this script loads each labelled event through
the vendor field maps, runs our rule on that event alone, and prints a table of our
verdict against their label, event by event.

Panther's rules judge one event at a time; ours that count (brute_force_login,
password_spraying) are evaluated with ``threshold: 1``, i.e. "does this event count
toward our rule". Everything else runs with its shipped parameters.

    .venv/bin/python benchmarks/vendor_rule_agreement.py [--out docs/vendor-rule-agreement.md]
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from pathlib import Path

import polars as pl

from auditreports.detect import detect
from auditreports.sources.registry import get_format

REPO = Path(__file__).resolve().parent.parent
REAL = REPO.parent / "shared" / "data" / "real" / "panther-analysis-fixtures"

FORMAT_OF = {
    "AWS.CloudTrail": "cloudtrail",
    "Okta.SystemLog": "okta",
    "GitHub.Audit": "github",
    "Zendesk.Audit": "zendesk",
    "OpenAI.Audit": "openai",
    "Slack.AuditLogs": "slack",
    "GSuite.ActivityEvent": "google-workspace",
}
# Panther rule -> our rule that covers the same behaviour.
COVERED = {
    "Standard.BruteForceByIP": "brute_force_login",
    "Standard.BruteForceByUser": "brute_force_login",
    "AWS.Console.RootLoginFailed": "brute_force_login",
    "OpenAI.Login.Failed": "brute_force_login",
    "OpenAI.CredentialStuffing": "password_spraying",
    "Standard.AdminRoleAssigned": "privilege_escalation",
    "Okta.AdminRoleAssigned": "privilege_escalation",
    "Okta.Group.Admin.Role.Assigned": "privilege_escalation",
    "GitHub.User.RoleUpdated": "privilege_escalation",
    "Zendesk.UserRoleChanged": "privilege_escalation",
    "Slack.AuditLogs.UserPrivilegeEscalation": "privilege_escalation",
    "OpenAI.Admin.Role.Assignment": "privilege_escalation",
    "AWS.IAM.AttachAdminUserPolicy": "privilege_escalation",
    "AWS.IAM.AttachAdminRolePolicy": "privilege_escalation",
    "AWS.CloudTrail.Stopped": "audit_logging_change",
    "AWS.CloudTrail.EventSelectorsDisabled": "audit_logging_change",
    "AWS.VPCFlow.LogsDeleted": "audit_logging_change",
    "AWS.CloudTrail.DNSLogsDeleted": "audit_logging_change",
    "AWS.S3.DisableBucketLogging": "audit_logging_change",
    "AWS.Bedrock.DeleteModelInvocationLoggingConfiguration": "audit_logging_change",
    "AWS.ConfigService.DisabledDeleted": "audit_logging_change",
    "GSuite.Workspace.DataExportCreated": "large_export",
    "Google.Workspace.ManyDocsDownloaded": "large_export",
}
# Why we disagree, per labelled event (kept beside the code that produces the verdicts).
EXPLAIN = {
    "AWS.CloudTrail.ndjson:28": "PutEventSelectors is an audit-trail change whatever it sets; we report every change to what is logged, Panther only disabling ones.",
    "AWS.CloudTrail.ndjson:52": "StartLogging is mapped to an audit-trail change on purpose: an auditor wants every change to the trail, not only stops.",
    "AWS.CloudTrail.ndjson:53": "A refused StopLogging (errorCode) is still an attempt to stop the trail; our rule does not filter on outcome.",
    "AWS.CloudTrail.ndjson:68": "A refused config-recorder deletion is an attempt; our rule does not filter on outcome.",
    "AWS.CloudTrail.ndjson:162": "The policy attached is not AdministratorAccess, but our role ranking does not know AWS policy names, and an unknown role counts as raised.",
    "AWS.CloudTrail.ndjson:164": "As above: unknown policy names count as a raise in role_change.",
    "AWS.CloudTrail.ndjson:361": "PutBucketLogging maps to an audit-trail change only when BucketLoggingStatus is empty; this fixture spells it differently. Map gap.",
    "GitHub.Audit.ndjson:92": "org.update_member carries no permission field in this fixture, so there is no role to rank.",
    "GSuite.ActivityEvent.ndjson:21": "large_export needs record_count >= 1000; one Drive download has no count. Panther's rule is a per-event alert.",
    "GSuite.ActivityEvent.ndjson:114": "A Takeout export has no record_count; large_export is about volume. Consider a data-export rule without a threshold.",
    "GSuite.ActivityEvent.ndjson:115": "As above.",
    "Okta.SystemLog.ndjson:16": "group.privilege.grant: the role granted is not in debugData.privilegeGranted in this fixture, so no role is known.",
    "OpenAI.Audit.ndjson:4": "Role names come from the assignment id (api-project-reader); our ranking does not know OpenAI role names, so any unknown role counts as raised.",
    "OpenAI.Audit.ndjson:5": "As above (api-project-viewer).",
    "Zendesk.Audit.ndjson:1": "Zendesk role names (Administrator, End User) are not in role_ranks, so a downgrade to an unknown role counts as raised.",
    "Zendesk.Audit.ndjson:20": "Panther's UserRoleChanged excludes admin grants (another rule covers them); our one rule reports both.",
}
PER_EVENT = {"brute_force_login": {"threshold": 1}, "password_spraying": {"threshold": 1}}


def agreement_rows() -> list[dict[str, str]]:
    labels = list(csv.DictReader((REAL / "rule_tests_labels.csv").open(encoding="utf-8")))
    wanted = [r for r in labels if r["rule_id"] in COVERED and r["log_type"] in FORMAT_OF]
    parsed: dict[str, tuple[pl.DataFrame, pl.DataFrame]] = {}
    rows = []
    for label in wanted:
        rel = label["file"]
        if rel not in parsed:
            data = (REAL / rel).read_bytes()
            pf = get_format(FORMAT_OF[label["log_type"]]).parse(data, rel)
            parsed[rel] = (pf.events, pf.quarantine)
        events, quarantine = parsed[rel]
        line = int(label["line"])
        ours = COVERED[label["rule_id"]]
        event = events.filter(pl.col("source_line") == line)
        expected = label["expected_result"] == "True"
        if event.height == 0:
            why = quarantine.filter(pl.col("source_line") == line)["reason"]
            verdict, event_type = "not loaded", "—"
            note = why[0] if len(why) else "?"
        else:
            findings = detect(event, rules=[ours], settings={"rules": PER_EVENT})
            fired = findings.frame.height > 0
            verdict = "fires" if fired else "silent"
            event_type = event["event_type"][0]
            note = EXPLAIN.get(f"{rel.split('/')[-1]}:{line}", "")
        agree = "n/a" if verdict == "not loaded" else ("yes" if (verdict == "fires") == expected else "**no**")
        rows.append(
            {
                "file": f"{rel.split('/')[-1]}:{line}",
                "panther_rule": label["rule_id"],
                "test": label["test_name"],
                "expected": "fire" if expected else "no fire",
                "ours": ours,
                "event_type": event_type,
                "verdict": verdict,
                "agree": agree,
                "note": note,
            }
        )
    return rows


def render(rows: list[dict[str, str]]) -> str:
    counts = Counter(r["agree"] for r in rows)
    out = [
        "# Vendor logs: our rule verdicts against Panther's labelled rule tests",
        "",
        "Generated by `benchmarks/vendor_rule_agreement.py` (do not edit by hand; rerun it).",
        "Each row is one labelled event from `panther-analysis-fixtures/rule_tests/*.ndjson`,",
        "loaded through our vendor field map and run through the one built-in rule that covers",
        "the Panther rule, on that event alone. Counting rules run with `threshold: 1`.",
        "",
        f"Agree: {counts['yes']}, disagree: {counts['**no**']}, not loaded (quarantined): {counts['n/a']}.",
        "",
        "Not loaded: Panther's fixtures are often trimmed to the fields their rule reads and",
        "have no timestamp at all. Our loader never invents a time, so those events are",
        "quarantined with that reason and have no verdict. The disagreements come in three",
        "kinds: we report more on purpose (every audit-trail change, refused attempts too);",
        "our role ranking does not know a vendor's role names and counts unknown roles as",
        "raised (add them to `detection.role_ranks`); and large_export is about volume, where",
        "Panther alerts on any export.",
        "",
        "| event (file:line) | Panther rule | Panther test | expected | our rule | our event_type | our verdict | agree | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [r[k].replace("|", "\\|").replace("\n", " ") for k in r]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the Markdown table here (default: print it)")
    args = parser.parse_args()
    if not REAL.is_dir():
        print(f"Panther fixtures not found at {REAL}; run beside ../shared.", file=sys.stderr)
        return 2
    table = render(agreement_rows())
    if args.out:
        args.out.write_text(table, encoding="utf-8")
    else:
        print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
