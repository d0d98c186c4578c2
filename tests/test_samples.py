"""The sample quarter: deterministic, chained, replayable, and the incidents are where ground truth says.

The checks here recompute everything independently of the generator (plain hashlib +
rfc8785 over the parsed JSON, a state-model replay written from the spec), so a bug in
the generator cannot hide behind itself.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import io
import json
import random
import re
import tracemalloc
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import rfc8785

from auditreports.cli import main
from auditreports.errors import UsageError
from auditreports.samples import (
    generate_conversation_ndjson,
    generate_samples,
    generate_workspace_ndjson,
    simulate_quarter,
)
from auditreports.samples.logs import WorkspaceLog
from auditreports.samples.timeline import DAY, START_MS

SMALL = 0.03
# sha256 of ground_truth.json for seed 7 at SMALL: it lists every file's content hash, so
# any change to any file's bytes changes it. Recorded from the generator before it wrote
# as it goes (issue #18); if the output is meant to change, regenerate data_samples too.
SMALL_GROUND_TRUTH_SHA256 = "07b132af80b3c3b6bc664535d8ff5dc12bd637b248a8deafe89e8358240383b8"
STAMP = re.compile(r"^2026-(07|08|09)-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
INITIAL = {"status": "open", "assignee": None, "priority": "normal", "tags": [], "escalated": False}


def read_workspace(root: Path) -> list[tuple[bytes, dict[str, Any]]]:
    out = []
    for path in sorted((root / "workspace").glob("*.ndjson.gz")):
        for line in gzip.decompress(path.read_bytes()).splitlines():
            out.append((line, json.loads(line)))
    return out


def read_lines(path: Path) -> list[bytes]:
    return gzip.decompress(path.read_bytes()).splitlines()


def read_conversations(root: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted((root / "conversations").glob("*.json.gz")):
        out.extend(json.loads(gzip.decompress(path.read_bytes())))
    return out


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def recompute(event: dict[str, Any]) -> str:
    return hashlib.sha256(rfc8785.dumps({k: v for k, v in event.items() if k != "hash"})).hexdigest()


def ts(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("small")
    generate_samples(root, seed=7, scale=SMALL)
    return root


@pytest.fixture(scope="module")
def committed(data_samples: Path) -> dict[str, Any]:
    truth = json.loads((data_samples / "ground_truth.json").read_text())
    events = [e for _, e in read_workspace(data_samples)]
    return {"truth": truth, "events": events, "by_id": {e["id"]: e for e in events}}


# -- determinism -------------------------------------------------------------------


@pytest.fixture(scope="module")
def again(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The same seed regenerated through the CLI, into a directory holding a stale file and a foreign one."""
    root = tmp_path_factory.mktemp("again")
    (root / "workspace").mkdir()
    (root / "workspace" / "workspace-audit-2026-Q3-0099.ndjson.gz").write_bytes(b"old generation")
    (root / "workspace" / "notes.txt").write_text("not ours")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["samples", str(root), "--seed", "7", "--scale", str(SMALL), "--json"]) == 0
    return root, out.getvalue()


def test_same_seed_gives_byte_identical_files(small: Path, again: tuple[Path, str]) -> None:
    root, _ = again
    files = sorted(p.relative_to(small) for p in small.rglob("*") if p.is_file())
    assert sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file()) == sorted(
        [*files, Path("workspace/notes.txt")]
    )
    for rel in files:
        assert (small / rel).read_bytes() == (root / rel).read_bytes(), rel


def test_another_seed_and_scale_give_the_same_bytes_as_before(small: Path) -> None:
    digest = hashlib.sha256((small / "ground_truth.json").read_bytes()).hexdigest()
    assert digest == SMALL_GROUND_TRUTH_SHA256, "the sample generator's output changed"


def test_regenerating_removes_stale_files_and_keeps_foreign_ones(again: tuple[Path, str]) -> None:
    root, _ = again
    assert not (root / "workspace" / "workspace-audit-2026-Q3-0099.ndjson.gz").exists()
    assert (root / "workspace" / "notes.txt").read_text() == "not ours"


def test_cli_json_prints_the_ground_truth(again: tuple[Path, str]) -> None:
    root, stdout = again
    assert json.loads(stdout) == json.loads((root / "ground_truth.json").read_text())


# -- the workspace log ---------------------------------------------------------------


def test_workspace_chain_verifies_and_lines_are_canonical(small: Path) -> None:
    rows = read_workspace(small)
    assert len(rows) > 5000
    prev = "0" * 64
    for n, (line, event) in enumerate(rows, start=1):
        assert event["sequence"] == n
        assert event["prev_hash"] == prev
        assert recompute(event) == event["hash"]
        assert line == rfc8785.dumps(event), "stored bytes must be the RFC 8785 form (verifier fast path)"
        assert STAMP.match(event["occurred_at"])
        prev = event["hash"]
    stamps = [e["occurred_at"] for _, e in rows]
    assert stamps == sorted(stamps)


def test_workspace_files_hold_at_most_10000_events_and_chain_across_files(small: Path) -> None:
    files = sorted((small / "workspace").glob("*.ndjson.gz"))
    assert len(files) >= 2
    sizes = [len(read_lines(p)) for p in files]
    assert all(s == 10_000 for s in sizes[:-1]) and 0 < sizes[-1] <= 10_000
    last_of_first = json.loads(read_lines(files[0])[-1])
    first_of_second = json.loads(read_lines(files[1])[0])
    assert first_of_second["prev_hash"] == last_of_first["hash"]


def test_workspace_events_have_the_documented_shape(small: Path) -> None:
    categories = {"configuration", "data_access", "authentication", "integration", "system"}
    for _, e in read_workspace(small):
        assert set(e) == {
            "id", "sequence", "occurred_at", "category", "action", "actor", "resource", "outcome",
            "ip_address", "user_agent", "details", "prev_hash", "hash",
        }  # fmt: skip
        assert e["id"].startswith("evt_") and len(e["id"]) == 30
        assert e["category"] in categories
        assert set(e["actor"]) == {"type", "id", "email", "name", "role"}
        assert e["actor"]["type"] in {"user", "api_key", "bot", "system"}
        assert set(e["details"]) == {"reason", "before", "after", "record_count", "subject_ids"}
        assert e["outcome"] in {"success", "failure"}
        if e["action"] == "data.conversation_viewed":
            assert e["resource"]["type"] == "conversation"
            assert [s[:4] for s in e["details"]["subject_ids"]] == ["cus_"]


def test_logins_follow_office_hours_in_each_persons_zone(small: Path) -> None:
    zones = {r["staff_id"]: r["time_zone"] for r in read_csv(small / "staff.csv")}
    hours = Counter()
    for _, e in read_workspace(small):
        if e["action"] == "auth.login_succeeded" and e["actor"]["id"] in zones:
            local = ts(e["occurred_at"]).astimezone(ZoneInfo(zones[e["actor"]["id"]]))
            hours["office" if 7 <= local.hour < 11 else "other"] += 1
    assert hours["office"] > 0.97 * (hours["office"] + hours["other"])


def test_weekends_are_quieter(data_samples: Path) -> None:
    per_day = Counter(
        ts(e["timestamp"]).date() for e in read_conversations(data_samples) if e["event_type"] == "created"
    )
    weekend = [n for d, n in per_day.items() if d.weekday() >= 5]
    weekday = [n for d, n in per_day.items() if d.weekday() < 5]
    assert sum(weekend) / len(weekend) < 0.7 * sum(weekday) / len(weekday)


# -- the conversation log ---------------------------------------------------------------


def replay(events: list[dict[str, Any]]) -> list[str]:
    """Apply each conversation's events to the state model; return every continuity break."""
    breaks = []
    state: dict[str, dict[str, Any]] = {}
    transitions = {
        "claimed": lambda b, a: b == {"assignee": None} and a["assignee"] is not None,
        "released": lambda b, a: b["assignee"] is not None and a == {"assignee": None},
        "reassigned": lambda b, a: None not in (b["assignee"], a["assignee"]) and b != a,
        "snoozed": lambda b, a: b == {"status": "open"} and a["status"] == "snoozed" and "snoozed_until" in a,
        "wakened": lambda b, a: b == {"status": "snoozed"} and a == {"status": "open"},
        "resolved": lambda b, a: b == {"status": "open"} and a == {"status": "resolved"},
        "reopened": lambda b, a: b == {"status": "resolved"} and a == {"status": "open"},
        "archived": lambda b, a: b == {"status": "resolved"} and a == {"status": "archived"},
        "deleted": lambda b, a: set(b) == {"status"} and a == {"status": "deleted"},
        "escalated": lambda b, a: b == {"escalated": False} and a == {"escalated": True},
        "priority_changed": lambda b, a: set(b) == set(a) == {"priority"} and b != a,
        "tag_applied": lambda b, a: set(a["tags"]) > set(b["tags"]) and a["tags"] == sorted(a["tags"]),
        "tag_removed": lambda b, a: set(a["tags"]) < set(b["tags"]) and a["tags"] == sorted(a["tags"]),
    }
    for e in sorted(events, key=lambda e: (e["timestamp"], e["event_id"])):
        cid, kind, before, after = e["conversation_id"], e["event_type"], e["before"], e["after"]
        if kind == "created":
            if cid in state or before != {} or after != INITIAL:
                breaks.append(f"{e['event_id']}: bad created")
            state[cid] = dict(after)
            continue
        current = state.get(cid)
        if current is None:
            breaks.append(f"{e['event_id']}: event before created")
            continue
        if current["status"] == "deleted":
            breaks.append(f"{e['event_id']}: event after deleted")
        if kind in ("note_added", "message_sent"):
            if before is not None or after is not None:
                breaks.append(f"{e['event_id']}: {kind} carries state")
            continue
        if kind == "skill_fired":
            if before is not None or set(after) != {"skill"}:
                breaks.append(f"{e['event_id']}: bad skill_fired")
            continue
        if kind == "knowledge_retrieved":
            if before is not None or set(after) != {"knowledge_base", "documents"}:
                breaks.append(f"{e['event_id']}: bad knowledge_retrieved")
            continue
        if any(current.get(k) != v for k, v in before.items()):
            breaks.append(f"{e['event_id']}: before {before} does not match state")
        if not transitions[kind](before, after):
            breaks.append(f"{e['event_id']}: {kind} {before} -> {after} is not a valid transition")
        current.update({k: v for k, v in after.items() if k in INITIAL})
    return breaks


def test_every_conversation_replays_without_a_break(small: Path) -> None:
    events = read_conversations(small)
    assert len({e["conversation_id"] for e in events}) >= 100
    assert replay(events) == []


def test_replay_catches_a_broken_history(small: Path) -> None:
    events = read_conversations(small)
    victim = next(e for e in events if e["event_type"] == "resolved")
    victim["before"] = {"status": "snoozed"}
    breaks = replay(events)
    assert breaks and {b.split(":")[0] for b in breaks} == {victim["event_id"]}


def test_conversation_files_are_ordered_json_arrays(small: Path) -> None:
    events = read_conversations(small)
    keys = [(e["timestamp"], e["event_id"]) for e in events]
    assert keys == sorted(keys)
    assert all(STAMP.match(e["timestamp"]) for e in events)
    assert {e["author"]["kind"] for e in events} == {"user", "api_key", "bot"}
    assert {e["channel"] for e in events} == {"web", "email", "whatsapp", "slack", "api"}


def test_notes_mention_only_their_own_customers_email(small: Path) -> None:
    emails = {r["customer_id"]: r["email"] for r in read_csv(small / "customers.csv")}
    mentioned = 0
    for e in read_conversations(small):
        if e["event_type"] == "note_added":
            found = set(re.findall(r"[\w.+-]+@example\.net", e["reason"]))
            assert found <= {emails[e["customer_id"]]}, e
            mentioned += bool(found)
    assert mentioned > 0


def test_phi_tag_on_about_8_percent_of_conversations(data_samples: Path) -> None:
    tags: dict[str, set[str]] = {}
    for e in read_conversations(data_samples):
        if e["event_type"] == "tag_applied":
            tags.setdefault(e["conversation_id"], set()).update(e["after"]["tags"])
    n = len({e["conversation_id"] for e in read_conversations(data_samples)})
    share = sum("phi" in t for t in tags.values()) / n
    assert 0.04 < share < 0.1


# -- plain exports ------------------------------------------------------------------


def test_workspace_csv_rebuilds_the_json_events_exactly(small: Path) -> None:
    truth = json.loads((small / "ground_truth.json").read_text())
    path = small / truth["examples"]["workspace_csv"]["path"]
    by_id = {e["id"]: e for _, e in read_workspace(small)}
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    assert len(rows) == truth["examples"]["workspace_csv"]["events"] > 100

    def cell(v: str) -> str | None:
        return v if v != "" else None

    for row in rows:
        event: dict[str, Any] = {"details": {}, "actor": {}, "resource": {}}
        for name, value in row.items():
            if name in ("details.before", "details.after", "details.subject_ids"):
                parsed = json.loads(value) if value else None
                event["details"][name.split(".")[1]] = parsed
            elif name in ("sequence", "details.record_count"):
                number = int(value) if value else None
                if "." in name:
                    event["details"]["record_count"] = number
                else:
                    event["sequence"] = number
            elif "." in name:
                group, key = name.split(".")
                event[group][key] = cell(value)
            else:
                event[name] = cell(value)
        assert event == by_id[event["id"]]
        assert recompute(event) == event["hash"]


def test_conversation_export_csv_matches_its_json(small: Path) -> None:
    truth = json.loads((small / "ground_truth.json").read_text())["examples"]["conversation_export"]
    from_json = json.loads((small / truth["json"]).read_text())
    rows = list(csv.DictReader(io.StringIO((small / truth["csv"]).read_text(), newline="")))
    assert len(rows) == len(from_json) >= 8
    for row, event in zip(rows, from_json, strict=True):
        assert row["event_id"] == event["event_id"] and row["author_id"] == event["author"]["id"]
        assert (json.loads(row["after"]) if row["after"] else None) == event["after"]
        assert (json.loads(row["before"]) if row["before"] else None) == event["before"]
    assert {e["conversation_id"] for e in from_json} == {truth["conversation_id"]}


def test_manifest_matches_the_files(small: Path) -> None:
    truth = json.loads((small / "ground_truth.json").read_text())
    on_disk = {str(p.relative_to(small)) for p in small.rglob("*") if p.is_file()} - {"ground_truth.json"}
    assert set(truth["files"]) == on_disk
    for rel, digest in truth["files"].items():
        data = (small / rel).read_bytes()
        assert hashlib.sha256(gzip.decompress(data) if rel.endswith(".gz") else data).hexdigest() == digest


# -- planted incidents (on the committed quarter) -----------------------------------


def incident(committed: dict[str, Any], rule: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    [found] = [i for i in committed["truth"]["incidents"] if i.get("rule") == rule]
    return found, [committed["by_id"][eid] for eid in found["event_ids"]]


def span_minutes(events: list[dict[str, Any]]) -> float:
    times = [ts(e["occurred_at"]) for e in events]
    return (max(times) - min(times)).total_seconds() / 60


def test_every_incident_names_existing_events_inside_its_window(committed: dict[str, Any]) -> None:
    rules = [i.get("rule") for i in committed["truth"]["incidents"] if i["kind"] == "detection"]
    assert sorted(rules) == sorted(
        [
            "brute_force_login", "password_spraying", "failed_then_success", "large_export",
            "off_hours_config_change", "privilege_escalation", "removed_user_activity", "conversation_snooping",
            "orphaned_api_key", "retention_below_required",
        ]
    )  # fmt: skip
    for inc in committed["truth"]["incidents"]:
        if inc["kind"] != "detection":
            continue
        events = [committed["by_id"][eid] for eid in inc["event_ids"] + inc["context_event_ids"]]
        assert len(inc["event_ids"]) == inc["count"] >= 1
        for e in events[: inc["count"]]:
            assert inc["window_start"] <= e["occurred_at"] <= inc["window_end"]


def test_brute_force_is_25_failures_on_one_admin_from_one_ip_within_minutes(committed: dict[str, Any]) -> None:
    inc, events = incident(committed, "brute_force_login")
    assert len(events) == 25
    assert {e["action"] for e in events} == {"auth.login_failed"}
    assert {e["actor"]["id"] for e in events} == {inc["actor_id"]}
    assert {e["actor"]["role"] for e in events} == {"admin"}
    assert {e["ip_address"] for e in events} == {inc["ip"]}
    assert span_minutes(events) < 10
    # background failures never come close: at most 2 in a row for anyone else
    others = Counter(
        (e["actor"]["id"], e["occurred_at"][:13])
        for e in committed["events"]
        if e["action"] == "auth.login_failed" and e["id"] not in set(inc["event_ids"])
    )
    assert max(others.values()) <= 20


def test_password_spraying_is_one_ip_across_many_accounts_in_an_hour(committed: dict[str, Any]) -> None:
    inc, events = incident(committed, "password_spraying")
    per_account = Counter(e["actor"]["id"] for e in events)
    assert len(per_account) >= 15 and max(per_account.values()) <= 2
    assert {e["ip_address"] for e in events} == {inc["ip"]}
    assert {e["action"] for e in events} == {"auth.login_failed"}
    assert span_minutes(events) <= 60
    spray_ids = set(inc["event_ids"])
    background: dict[str, set[str]] = {}
    for e in committed["events"]:
        if e["action"] == "auth.login_failed" and e["id"] not in spray_ids:
            background.setdefault(e["ip_address"] + e["occurred_at"][:13], set()).add(e["actor"]["id"])
    assert max(len(v) for v in background.values()) <= 4


def test_failed_then_success_comes_from_an_ip_new_for_that_user(committed: dict[str, Any]) -> None:
    inc, events = incident(committed, "failed_then_success")
    *failures, success = events
    assert len(failures) >= 3 and {e["action"] for e in failures} == {"auth.login_failed"}
    assert success["action"] == "auth.login_succeeded"
    assert {e["actor"]["id"] for e in events} == {inc["actor_id"]}
    earlier_ips = {
        e["ip_address"]
        for e in committed["events"]
        if e["actor"]["id"] == inc["actor_id"] and e["occurred_at"] < failures[0]["occurred_at"]
    }
    assert earlier_ips and inc["ip"] not in earlier_ips


def test_large_export_dwarfs_every_ordinary_export(committed: dict[str, Any]) -> None:
    _inc, [event] = incident(committed, "large_export")
    assert event["action"] == "data.conversations_exported" and event["details"]["record_count"] == 4800
    ordinary = [
        e["details"]["record_count"]
        for e in committed["events"]
        if e["action"] == "data.conversations_exported" and e["id"] != event["id"]
    ]
    assert len(ordinary) > 20 and max(ordinary) <= 200 and min(ordinary) >= 5


def test_off_hours_config_change_is_sunday_3am_in_the_actors_zone(
    committed: dict[str, Any], data_samples: Path
) -> None:
    inc, [event] = incident(committed, "off_hours_config_change")
    zones = {r["staff_id"]: r["time_zone"] for r in read_csv(data_samples / "staff.csv")}
    local = ts(event["occurred_at"]).astimezone(ZoneInfo(zones[inc["actor_id"]]))
    assert event["action"] == "config.system_prompt_updated"
    assert local.weekday() == 6 and 2 <= local.hour <= 3
    for e in committed["events"]:
        if e["category"] == "configuration" and e["actor"]["id"] in zones and e["id"] != event["id"]:
            t = ts(e["occurred_at"]).astimezone(ZoneInfo(zones[e["actor"]["id"]]))
            assert t.weekday() < 5 and 7 <= t.hour < 20, e


def test_privilege_escalation_is_an_agent_making_themself_admin(committed: dict[str, Any]) -> None:
    inc, [event] = incident(committed, "privilege_escalation")
    assert event["action"] == "auth.permission_changed"
    assert event["actor"]["id"] == event["resource"]["id"] == inc["actor_id"]
    assert event["details"]["before"] == {"role": "agent"} and event["details"]["after"] == {"role": "admin"}
    self_grants = [
        e
        for e in committed["events"]
        if e["action"] == "auth.permission_changed" and e["actor"]["id"] == e["resource"]["id"]
    ]
    assert self_grants == [event]


def test_removed_users_key_keeps_calling_as_removed_user(committed: dict[str, Any]) -> None:
    inc, events = incident(committed, "removed_user_activity")
    created, removed = (committed["by_id"][i] for i in inc["context_event_ids"])
    assert created["action"] == "auth.api_key_created" and created["resource"]["id"] == inc["actor_id"]
    assert removed["action"] == "auth.user_removed" and removed["resource"]["id"] == created["actor"]["id"]
    assert len(events) > 50
    for e in events:
        assert e["action"] == "integration.api_call" and e["actor"]["id"] == inc["actor_id"]
        assert e["actor"]["name"] == "Removed user" and e["occurred_at"] > removed["occurred_at"]
    assert not any(
        e["action"] == "auth.api_key_revoked" and e["resource"]["id"] == inc["actor_id"] for e in committed["events"]
    )
    after_removal = [
        e
        for e in committed["events"]
        if e["actor"]["id"] == inc["actor_id"] and e["occurred_at"] > removed["occurred_at"]
    ]
    assert [e["id"] for e in after_removal] == inc["event_ids"]


def test_snooping_is_40_customers_not_assigned_to_the_agent(committed: dict[str, Any], data_samples: Path) -> None:
    inc, events = incident(committed, "conversation_snooping")
    assert len(events) >= 35 and span_minutes(events) <= 180
    assert {e["action"] for e in events} == {"data.conversation_viewed"}
    assert len({e["details"]["subject_ids"][0] for e in events}) == len(events)
    ever_assigned: dict[str, set[str]] = {}
    for c in read_conversations(data_samples):
        if c["event_type"] in ("claimed", "reassigned"):
            ever_assigned.setdefault(c["conversation_id"], set()).add(c["after"]["assignee"])
    assert all(inc["actor_id"] not in ever_assigned.get(e["resource"]["id"], set()) for e in events)
    # Background: staff open the conversations assigned to them, almost always.
    planted = {
        eid for i in committed["truth"]["incidents"] for eid in i.get("event_ids", []) + i.get("context_event_ids", [])
    }
    views = [
        e for e in committed["events"]
        if e["action"] == "data.conversation_viewed" and e["id"] not in planted and e["details"]["reason"] != "QA review"
    ]  # fmt: skip
    own = sum(e["actor"]["id"] in ever_assigned.get(e["resource"]["id"], set()) for e in views)
    assert own / len(views) > 0.99


def test_logging_gap_is_a_wednesday_in_august_with_no_workspace_events(
    committed: dict[str, Any], data_samples: Path
) -> None:
    [gap] = [i for i in committed["truth"]["incidents"] if i["kind"] == "logging_gap"]
    day = gap["date"]
    assert datetime.fromisoformat(day).weekday() == 2 and day.startswith("2026-08")
    per_day = Counter(e["occurred_at"][:10] for e in committed["events"])
    assert per_day[day] == 0
    assert all(per_day[f"2026-08-{d:02d}"] > 100 for d in range(1, 32) if f"2026-08-{d:02d}" != day)
    conversation_days = Counter(e["timestamp"][:10] for e in read_conversations(data_samples))
    assert conversation_days[day] > 100


# -- tampered copies --------------------------------------------------------------------


def first_break(lines: list[bytes]) -> int | None:
    """Position of the first record whose own hash or link to its predecessor fails.

    Hashes the stored bytes minus the ``hash`` member (the verifier fast path; the
    lines are canonical, which the chain test proves with rfc8785 itself).
    """
    prev = "0" * 64
    for i, line in enumerate(lines):
        e = json.loads(line)
        body = line.replace(b'"hash":"' + e["hash"].encode() + b'",', b"", 1)
        if hashlib.sha256(body).hexdigest() != e["hash"] or e["prev_hash"] != prev:
            return i
        prev = e["hash"]
    return None


@pytest.mark.parametrize("kind", ["modified", "deleted", "swapped", "inserted"])
def test_tampered_copy_breaks_exactly_where_ground_truth_says(
    kind: str, committed: dict[str, Any], data_samples: Path
) -> None:
    [entry] = [t for t in committed["truth"]["tampered"] if t["kind"] == kind]
    [brk] = entry["breaks"]
    lines = read_lines(data_samples / entry["path"])
    original = read_lines(data_samples / entry["original"])
    assert first_break(original) is None
    assert json.loads(lines[brk["position"]])["id"] == brk["event_id"]
    assert first_break(lines) == brk["position"] + (1 if kind == "inserted" else 0)
    if kind == "modified":
        assert len(lines) == len(original) and sum(a != b for a, b in zip(lines, original, strict=True)) == 1
    elif kind == "deleted":
        assert lines == original[: brk["position"]] + original[brk["position"] + 1 :]
    elif kind == "swapped":
        p = brk["position"]
        assert brk["kind"] == "reordered" and lines[p : p + 2] == [original[p + 1], original[p]]
    else:
        forged = json.loads(lines[brk["position"]])
        assert recompute(forged) == forged["hash"]  # the forger computed a valid-looking hash
        assert lines[: brk["position"]] + lines[brk["position"] + 1 :] == original


# -- committed data equals a fresh generation ---------------------------------------------


def test_committed_files_match_their_manifest(data_samples: Path, committed: dict[str, Any]) -> None:
    files = committed["truth"]["files"]
    assert any(rel.startswith("workspace/") for rel in files)
    for rel, digest in files.items():
        data = (data_samples / rel).read_bytes()
        assert hashlib.sha256(gzip.decompress(data) if rel.endswith(".gz") else data).hexdigest() == digest, rel


@pytest.mark.slow
def test_committed_data_samples_equal_a_fresh_generation(data_samples: Path, tmp_path: Path) -> None:
    truth = json.loads((data_samples / "ground_truth.json").read_text())
    fresh = generate_samples(tmp_path, seed=truth["generator"]["seed"], scale=truth["generator"]["scale"])
    assert fresh == truth


def test_size_of_committed_samples_stays_under_30_mb(data_samples: Path) -> None:
    assert sum(p.stat().st_size for p in data_samples.rglob("*") if p.is_file()) < 30 * 1024 * 1024


# -- memory: the logs hold compact records, sealed one event at a time ---------------------


def _add_views(ws: WorkspaceLog, n: int) -> None:
    actor = {"type": "user", "id": "usr_101", "email": "ana@acme.example", "name": "Ana Ortiz", "role": "agent"}
    for i in range(n):
        ws.add(
            START_MS + (i * 7919) % (90 * DAY), "data.conversation_viewed", actor,
            resource={"type": "conversation", "id": f"conv_{10001 + i % 2000}"}, ip="198.51.100.7",
            user_agent="Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
            subject_ids=[f"cus_{i % 500:05d}"],
        )  # fmt: skip


def test_an_unsealed_log_holds_an_event_in_a_few_hundred_bytes_and_sealing_adds_little() -> None:
    """A million events fit in a few hundred MB: the log is not a list of dicts, sealing not a list of lines."""
    n = 20_000
    ws = WorkspaceLog(random.Random(1))
    tracemalloc.start()
    try:
        _add_views(ws, n)
        held, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        lines = sum(1 for _ in ws.sealed())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == n
    assert held / n < 250  # held as dicts (before issue #18) an event took ~1.1 KB
    assert (peak - held) / n < 120  # the sort order, one event at a time (sealing into lists took ~1.3 KB more)


def test_an_event_the_simulation_holds_is_completed_in_place_when_sealed() -> None:
    ws = WorkspaceLog(random.Random(1))
    late = ws.add(START_MS + 2_000, "auth.logout", {"type": "user", "id": "usr_101"}, ip="198.51.100.7")
    ws.add(START_MS + 1_000, "auth.login_succeeded", {"type": "user", "id": "usr_101"}, ip="198.51.100.7")
    assert late["occurred_at"] == START_MS + 2_000 and "id" not in late
    lines = [line for _, line in ws.sealed()]
    assert late["sequence"] == 2 and late["occurred_at"] == "2026-07-01T00:00:02.000Z"
    assert rfc8785.dumps(late) == lines[1]
    assert (ws.sealed_events, ws.last_hash) == (2, late["hash"])


def test_incidents_are_named_only_after_the_workspace_log_is_sealed() -> None:
    q = simulate_quarter(7, 0.01)
    with pytest.raises(RuntimeError, match="workspace_records"):
        q.incidents()
    for _ in q.workspace_records():
        pass
    assert all(i["event_ids"] for i in q.incidents() if i["kind"] == "detection")
    with pytest.raises(RuntimeError, match="sealed once"):
        next(q.workspace_records())


# -- CLI and helpers ----------------------------------------------------------------------


def test_cli_rejects_a_bad_scale_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["samples", str(tmp_path), "--scale", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("auditreports: error: scale must be") and "\n" not in err
    with pytest.raises(UsageError):
        generate_samples(tmp_path, seed=-1)


def test_benchmark_helpers_write_n_chained_events(tmp_path: Path, small: Path) -> None:
    ws = tmp_path / "ws.ndjson.gz"
    assert generate_workspace_ndjson(ws, 4321, seed=3) == 4321
    lines = read_lines(ws)
    assert len(lines) == 4321 and first_break(lines) is None
    # another seed, another quarter
    assert lines[0] != read_lines(small / "workspace" / "workspace-audit-2026-Q3-0001.ndjson.gz")[0]
    cv = tmp_path / "cv.ndjson"
    assert generate_conversation_ndjson(cv, 1234, seed=3) == 1234
    events = [json.loads(line) for line in cv.read_bytes().splitlines()]
    assert len(events) == 1234 and all(e["event_id"].startswith("aev_") for e in events)
