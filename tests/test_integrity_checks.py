"""Sequence, coverage, conversation continuity, settings: each check on frames built here."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from test_integrity_chain import AS_OF, build_chain, to_frame

from auditreports.errors import ConfigError
from auditreports.integrity import IntegritySettings, verify
from auditreports.schema import conform

# -- settings -------------------------------------------------------------------------


def test_settings_from_mapping_rejects_unknown_keys() -> None:
    assert IntegritySettings.from_mapping({"retention_days": 2190}).retention_days == 2190
    with pytest.raises(ConfigError, match="retention_dayz"):
        IntegritySettings.from_mapping({"retention_dayz": 30})


@pytest.mark.parametrize("bad", [{"retention_days": 0}, {"min_silent_hours": -1}, {"max_silence_chance": 0},
                                 {"retention_days": "365"}])  # fmt: skip
def test_settings_reject_values_that_make_no_sense(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        IntegritySettings.from_mapping(bad)


# -- sequence without a chain ----------------------------------------------------------


def _vendor(records: list[dict[str, Any]]) -> pl.DataFrame:
    """A sequenced log without hashes (a vendor export)."""
    frame = to_frame(records, source="vendorlog")
    return frame.with_columns(pl.lit(None, pl.String).alias("hash"), pl.lit(None, pl.String).alias("prev_hash"))


def test_sequence_holes_repeats_and_backward_time_are_breaks_without_a_chain() -> None:
    records = build_chain(100)
    del records[30]
    records[60] = {**records[60], "sequence": records[59]["sequence"]}
    records[80] = {**records[80], "occurred_at": "2026-06-30T00:00:00.000Z"}
    v = verify(_vendor(records), as_of=AS_OF)
    kinds = sorted((b.kind, b.position) for b in v.breaks)
    assert ("seq_gap", 30) in kinds
    assert ("seq_duplicate", 60) in kinds
    assert ("timestamp_backwards", 80) in kinds
    assert v.verdict == "FAILED"
    assert v.check_verdict("hash_chain") == "PARTIAL"  # no chain: tamper-evidence not established


def test_a_source_without_a_chain_is_partial_never_verified() -> None:
    v = verify(_vendor(build_chain(50)), as_of=AS_OF)
    assert v.breaks == []
    assert v.verdict == "PARTIAL"
    assert any(u.check == "hash_chain" and "no hash chain" in u.reason for u in v.unverified)


def test_an_id_used_twice_with_different_records_is_a_break() -> None:
    records = build_chain(20)
    frame = _vendor(records)
    frame = frame.with_columns(
        pl.when(pl.col("seq") == 12).then(pl.lit(records[3]["id"])).otherwise("event_id").alias("event_id")
    )
    v = verify(frame, as_of=AS_OF)
    assert [(b.kind, b.event_id) for b in v.breaks] == [("duplicate_id", records[3]["id"])]


# -- coverage -------------------------------------------------------------------------


def _rhythmic(days: int, *, skip: tuple[datetime, datetime] | None = None) -> pl.DataFrame:
    """A workspace log busy on weekdays 08-18 UTC (40 events/hour), quiet at night and at weekends."""
    rows = []
    t0 = datetime(2026, 7, 6, tzinfo=UTC)  # a Monday
    for d in range(days):
        day = t0 + timedelta(days=d)
        for h in range(24):
            busy = day.weekday() < 5 and 8 <= h < 18
            count = 40 if busy else (1 if h % 6 == 0 else 0)
            for k in range(count):
                t = day + timedelta(hours=h, seconds=k * 60)
                if skip and skip[0] <= t < skip[1]:
                    continue
                rows.append(t)
    n = len(rows)
    return conform(
        pl.DataFrame({"event_id": [f"e{i}" for i in range(n)], "seq": list(range(1, n + 1)), "timestamp": rows,
                      "event_type": ["auth.login.success"] * n, "source": ["workspace"] * n,
                      "source_file": ["w.ndjson"] * n, "source_line": list(range(1, n + 1)), "raw": ["{}"] * n})
    ).collect()  # fmt: skip


def test_a_silent_working_day_is_a_likely_outage_and_the_verdict_is_not_verified() -> None:
    wednesday = datetime(2026, 8, 19, tzinfo=UTC)
    v = verify(_rhythmic(56, skip=(wednesday, wednesday + timedelta(days=1))), as_of=AS_OF)
    gaps = [g for g in v.gaps if g["status"] == "likely_outage"]
    assert len(gaps) == 1
    assert gaps[0]["weekday"] == "Wednesday"
    assert gaps[0]["start"] <= "2026-08-19T08:00:00Z" and gaps[0]["end"] >= "2026-08-19T18:00:00Z"
    assert v.check_verdict("coverage") == "PARTIAL"


def test_quiet_nights_and_weekends_are_not_outages() -> None:
    v = verify(_rhythmic(42), as_of=AS_OF)
    assert v.gaps == ()
    assert v.check_verdict("coverage") == "VERIFIED"


def test_a_period_longer_than_the_log_leaves_the_uncovered_working_days_unverified() -> None:
    v = verify(_rhythmic(28), period=(datetime(2026, 7, 6, tzinfo=UTC), datetime(2026, 8, 17, tzinfo=UTC)), as_of=AS_OF)
    assert v.gaps and v.gaps[-1]["silent_until"] == "2026-08-17T00:00:00Z"
    assert v.check_verdict("coverage") == "PARTIAL"


def test_stretches_beyond_the_retention_window_are_unverifiable_not_missing() -> None:
    v = verify(_rhythmic(14), period=(datetime(2026, 7, 6, tzinfo=UTC), datetime(2026, 7, 20, tzinfo=UTC)),
               as_of=datetime(2027, 12, 1, tzinfo=UTC))  # fmt: skip
    assert any("retention" in u.reason for u in v.unverified)
    assert any(n["kind"] == "beyond_retention" for n in v.notices)
    v6 = verify(_rhythmic(14), as_of=datetime(2027, 12, 1, tzinfo=UTC), settings=IntegritySettings(retention_days=2190))
    assert not any("retention" in u.reason for u in v6.unverified)


def test_audit_settings_and_retention_changes_are_reported() -> None:
    records = build_chain(10)
    frame = to_frame(records).with_columns(
        pl.when(pl.col("seq") == 4).then(pl.lit("config.retention.update"))
        .when(pl.col("seq") == 7).then(pl.lit("config.audit_log_settings.update"))
        .otherwise("event_type").alias("event_type")
    )  # fmt: skip
    v = verify(frame, as_of=AS_OF)
    assert [(n["kind"], n["event_id"]) for n in v.notices] == [
        ("retention_change", records[3]["id"]),
        ("audit_log_settings_change", records[6]["id"]),
    ]


# -- conversation continuity ------------------------------------------------------------

INITIAL = {"status": "open", "assignee": None, "priority": "normal", "tags": [], "escalated": False}


class Conv:
    """Writes a conversation's events the way the platform's state model does."""

    def __init__(self, conv_id: str, t: datetime) -> None:
        self.id, self.t, self.state, self.events = conv_id, t, dict(INITIAL), []  # type: list[dict[str, Any]]

    def emit(self, kind: str, before: Any, after: Any) -> Conv:
        self.t += timedelta(minutes=3)
        self.events.append({"event_id": f"{self.id}-{len(self.events)}", "conversation_id": self.id, "kind": kind,
                            "timestamp": self.t, "before": before, "after": after})  # fmt: skip
        return self

    def created(self) -> Conv:
        return self.emit("created", {}, dict(self.state))

    def set(self, kind: str, key: str, value: Any) -> Conv:
        before = {key: self.state[key]}
        self.state[key] = value
        return self.emit(kind, before, {key: value})

    def note(self) -> Conv:
        return self.emit("note_added", None, None)


def conv_frame(*convs: Conv) -> pl.DataFrame:
    rows = [e for c in convs for e in c.events]
    n = len(rows)
    return conform(
        pl.DataFrame({
            "event_id": [r["event_id"] for r in rows], "conversation_id": [r["conversation_id"] for r in rows],
            "timestamp": [r["timestamp"] for r in rows], "source_action": [r["kind"] for r in rows],
            "event_type": [f"conversation.{r['kind']}" for r in rows],
            "before": [None if r["before"] is None else json.dumps(r["before"]) for r in rows],
            "after": [None if r["after"] is None else json.dumps(r["after"]) for r in rows],
            "source": ["conversation"] * n, "source_file": ["c.json"] * n, "source_line": list(range(1, n + 1)),
            "raw": ["{}"] * n,
        })
    ).collect()  # fmt: skip


T0 = datetime(2026, 7, 1, 9, tzinfo=UTC)


def lifecycle(conv_id: str, t: datetime = T0) -> Conv:
    c = Conv(conv_id, t).created().set("claimed", "assignee", "usr_1").note()
    c.set("tag_applied", "tags", ["billing"]).set("snoozed", "status", "snoozed").set("wakened", "status", "open")
    return (
        c.set("resolved", "status", "resolved").set("reopened", "status", "open").set("resolved", "status", "resolved")
    )


def continuity(frame: pl.DataFrame) -> list[tuple[str, str | None]]:
    v = verify(frame, as_of=AS_OF)
    return [(b.kind, b.event_id) for b in v.breaks if b.check == "continuity"]


def test_a_consistent_conversation_log_has_continuity_verified() -> None:
    v = verify(conv_frame(lifecycle("c1"), lifecycle("c2", T0 + timedelta(hours=1))), as_of=AS_OF)
    assert v.check_verdict("continuity") == "VERIFIED"
    assert v.verdict == "PARTIAL"  # no hash chain, no sequence: never VERIFIED


def test_a_removed_state_change_shows_as_a_before_that_does_not_match() -> None:
    c = lifecycle("c1")
    del c.events[3]  # the tag_applied event
    frame = conv_frame(c)
    assert continuity(frame) == []  # tags are not touched again, so this one cannot be seen ...
    c = lifecycle("c1")
    del c.events[1]  # ... but a removed claim leaves resolved-by-nobody: before of nothing else changes
    c2 = Conv("c2", T0).created().set("claimed", "assignee", "usr_1").set("reassigned", "assignee", "usr_2")
    del c2.events[1]
    assert continuity(conv_frame(c2)) == [("state_mismatch", "c2-2")]


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda c: c.set("wakened", "status", "open"), "wakened but was not snoozed"),
        (lambda c: c.set("resolved", "status", "resolved").emit("resolved", {"status": "resolved"}, {"status": "resolved"}),
         "resolved twice"),
        (lambda c: c.set("reopened", "status", "open"), "reopened but was not resolved"),
        (lambda c: c.set("deleted", "status", "deleted").emit("claimed", {"assignee": None}, {"assignee": "usr_2"}),
         "claimed after the conversation was deleted"),
        (lambda c: c.emit("created", {}, dict(INITIAL)), "created again"),
    ],
)  # fmt: skip
def test_impossible_transitions_are_breaks(build: Any, expected: str) -> None:
    c = build(Conv("c9", T0).created())
    v = verify(conv_frame(c), as_of=AS_OF)
    found = [b for b in v.breaks if b.kind == "impossible_transition"]
    assert len(found) == 1 and expected in found[0].detail
    assert found[0].event_id == c.events[-1]["event_id"]


def test_a_conversation_without_created_is_unknown_unless_it_began_before_the_log() -> None:
    early = Conv("old", T0).set("claimed", "assignee", "usr_1")  # first seen at the log's start: carried over
    late = Conv("ghost", T0 + timedelta(days=45)).set("resolved", "status", "resolved")
    frame = conv_frame(lifecycle("c1"), early, late)
    v = verify(frame, as_of=AS_OF)
    assert [(b.kind, b.event_id) for b in v.breaks] == [("unknown_conversation", "ghost-0")]
    assert any("began before the log" in u.reason for u in v.unverified)
