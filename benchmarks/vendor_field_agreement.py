"""Field agreement of the vendor maps against an independent reference: Panther's log parsers.

Panther's rule-test events (../shared/data/real/panther-analysis-fixtures) carry, besides
the vendor record, the fields Panther's own parsers derived from it: ``p_event_time`` (the
event time), ``p_any_ip_addresses``, ``p_any_emails``, ``p_any_usernames``,
``p_any_actor_ids``, ``p_any_aws_arns`` (every value of that kind in the record) and
``p_udm`` (Panther's unified data model: ``source.ip``, ``user.name``, ``user.email``,
``user.provider_id``). We never read these fields in a map (they are Panther's additions,
not the vendor's), so they are a reference our maps were not fitted to.

For every event of a covered log type that has a reference value, one comparison per
canonical field:

- ``timestamp`` vs ``p_event_time`` (same instant, at the reference's precision);
- ``ip`` vs ``p_udm.source.ip`` (the client address) when present; else, when we name an
  address, its membership in ``p_any_ip_addresses`` (every address in the record, so our
  null is not compared against it: a launched instance's private IP is not the client);
- ``actor`` (our actor_name / actor_email / actor_id) vs ``p_udm.user.*`` when present,
  else membership of any of them in ``p_any_usernames`` ∪ ``p_any_emails`` ∪
  ``p_any_actor_ids`` ∪ ``p_any_aws_arns``.

    .venv/bin/python benchmarks/vendor_field_agreement.py [--show-disagreements]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from auditreports.sources.registry import get_format

REPO = Path(__file__).resolve().parent.parent
REAL = REPO.parent / "shared" / "data" / "real" / "panther-analysis-fixtures" / "rule_tests"

FORMAT_OF = {
    "AWS.CloudTrail": "cloudtrail",
    "Okta.SystemLog": "okta",
    "GitHub.Audit": "github",
    "GSuite.ActivityEvent": "google-workspace",
    "Azure.Audit": "azure-ad",
    "Microsoft365.Audit.AzureActiveDirectory": "office365",
    "Microsoft365.Audit.Exchange": "office365",
    "Microsoft365.Audit.SharePoint": "office365",
    "Slack.AuditLogs": "slack",
    "Zendesk.Audit": "zendesk",
    "OpenAI.Audit": "openai",
}


def _instant(text: str) -> dt.datetime | None:
    text = text.strip().replace("T", " ").rstrip("Z")
    head, _, frac = text.partition(".")
    try:
        base = dt.datetime.strptime(head, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    micros = int((frac + "000000")[:6]) if frac.isdigit() else 0
    return base.replace(microsecond=micros, tzinfo=dt.UTC)


def _low(values: Any) -> set[str]:
    if values is None:
        return set()
    if not isinstance(values, list):
        values = [values]
    return {str(v).lower() for v in values if v not in (None, "")}


def compare(log_type: str, fmt: str) -> list[dict[str, Any]]:
    path = REAL / f"{log_type}.ndjson"
    parsed = get_format(fmt).parse(path.read_bytes(), str(path))
    out: list[dict[str, Any]] = []
    for ev in parsed.events.iter_rows(named=True):
        rec = json.loads(ev["raw"])
        udm = rec.get("p_udm") or {}
        where = f"{log_type}:{ev['source_line']}"
        if rec.get("p_event_time"):
            ref = _instant(str(rec["p_event_time"]))
            ours = ev["timestamp"]
            # At the reference's precision: some reference times are whole seconds.
            whole = "." not in str(rec["p_event_time"])
            if whole and ours is not None:
                ours = ours.replace(microsecond=0)
            ok = ref is not None and ours is not None and abs((ours - ref).total_seconds()) < 0.001
            out.append({"field": "timestamp", "ok": ok, "ours": str(ours), "ref": rec["p_event_time"], "where": where})
        ref_ip = (udm.get("source") or {}).get("ip")
        any_ips = _low(rec.get("p_any_ip_addresses"))
        # p_any_ip_addresses holds every address in the record (a launched instance's private
        # IP too), so it is compared only when we name a client address; p_udm.source.ip is
        # the client address and is always compared.
        if ref_ip or (any_ips and ev["ip"]):
            ours = (ev["ip"] or "").lower()
            ok = ours == str(ref_ip).lower() if ref_ip else ours in any_ips
            out.append({"field": "ip", "ok": ok, "ours": ev["ip"], "ref": ref_ip or sorted(any_ips), "where": where})
        user = udm.get("user") or {}
        ref_actor = _low([user.get("name"), user.get("email"), user.get("provider_id")])
        if not ref_actor:
            ref_actor = (
                _low(rec.get("p_any_usernames"))
                | _low(rec.get("p_any_emails"))
                | _low(rec.get("p_any_actor_ids"))
                | _low(rec.get("p_any_aws_arns"))
            )
            if not (
                _low(rec.get("p_any_usernames")) | _low(rec.get("p_any_emails")) | _low(rec.get("p_any_actor_ids"))
            ):
                ref_actor = set()  # ARNs alone name resources as often as actors
        if ref_actor:
            ours_actor = _low([ev["actor_name"], ev["actor_email"], ev["actor_id"]])
            ok = bool(ours_actor & ref_actor)
            out.append(
                {"field": "actor", "ok": ok, "ours": sorted(ours_actor), "ref": sorted(ref_actor), "where": where}
            )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--show-disagreements", action="store_true")
    args = ap.parse_args(argv)
    if not REAL.is_dir():
        print(f"{REAL} not found: the Panther fixtures are needed (see ../shared/data/real/INDEX.md)", file=sys.stderr)
        return 2
    rows: list[dict[str, Any]] = []
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for log_type, fmt in FORMAT_OF.items():
        if not (REAL / f"{log_type}.ndjson").exists():
            continue
        for r in compare(log_type, fmt):
            rows.append(r)
            per[f"{fmt} ({log_type})"]["ok" if r["ok"] else "bad"] += 1
            per[f"field {r['field']}"]["ok" if r["ok"] else "bad"] += 1
    print("| scope | compared | agree | % |")
    print("|---|---|---|---|")
    for scope, c in sorted(per.items()):
        n = c["ok"] + c["bad"]
        print(f"| {scope} | {n} | {c['ok']} | {100 * c['ok'] / n:.1f} |")
    ok = sum(r["ok"] for r in rows)
    print(f"| **all** | {len(rows)} | {ok} | {100 * ok / len(rows):.1f} |")
    if args.show_disagreements:
        for r in rows:
            if not r["ok"]:
                print(f"- {r['where']} {r['field']}: ours {r['ours']!r}, reference {r['ref']!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
