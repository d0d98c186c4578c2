"""Simulate one quarter of the sample workspace, in memory, from a seed.

:func:`simulate_quarter` builds the people, their office hours, the conversations and
all workspace activity and plants the incidents; the two logs hold every event as a
compact record until they are sealed. :meth:`Quarter.workspace_records` and
:meth:`Quarter.conversation_events` seal them as they are read, one event at a time,
so writing files (:mod:`auditreports.samples.write`) never holds the quarter as dicts.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import incidents as inc
from .conversations import Conversation, ConversationWorld, erase_customers, simulate_conversations
from .logs import ConversationLog, Event, WorkspaceLog
from .roster import ApiKey, Roster, build_roster
from .timeline import DAY, END_MS, START_MS, build_schedule, local_ms, ms
from .workspace import (
    administration,
    assign_shift_ips,
    integrations,
    orderly_leaver,
    platform,
    sessions,
    staff_changes,
)

DEFAULT_SEED = 20260701


@dataclass
class Quarter:
    """A simulated quarter: both logs, not yet sealed, and what was planted in them.

    Read each log once, in order, with :meth:`workspace_records` and
    :meth:`conversation_events`; :meth:`incidents` and :meth:`erasures` name events by
    the ids the workspace log's sealing gives them, so they come after it.
    """

    seed: int
    scale: float
    roster: Roster
    conversations: list[Conversation]
    workspace_log: WorkspaceLog
    conversation_log: ConversationLog
    planted: list[inc.Planted] = field(default_factory=list)
    hostile_note_conversations: list[str] = field(default_factory=list)
    erasure_events: list[dict[str, Any]] = field(default_factory=list)

    def workspace_records(self) -> Iterator[tuple[Event, bytes]]:
        """Each workspace event in order with its line (canonical JSON), sealed as it is read."""
        return self.workspace_log.sealed()

    def conversation_events(self) -> Iterator[Event]:
        """Each conversation event in the export's order, sealed as it is read."""
        return self.conversation_log.sealed()

    def _sealed_workspace(self) -> None:
        if not self.workspace_log.done:
            raise RuntimeError("read workspace_records() to the end first: incidents name events by sealed id")

    def incidents(self) -> list[dict[str, Any]]:
        """The planted incidents and the logging gap as ground_truth.json records them."""
        self._sealed_workspace()
        for p in self.planted:
            lost = [e for e in p.events + p.context if e.get("lost")]
            assert not lost, f"incident {p.rule} fell on the logging gap"  # placement guarantees this
        records = [p.to_json(i + 1) for i, p in enumerate(self.planted)]
        records.append(inc.logging_gap_record())
        return records

    def erasures(self) -> list[dict[str, Any]]:
        """The GDPR erasures: whose, the workspace event that records each, the conversations erased."""
        self._sealed_workspace()
        return [
            {"customer_id": e["customer_id"], "event_id": e["event"]["id"], "conversation_ids": e["conversation_ids"]}
            for e in self.erasure_events
        ]

    def representative_conversation(self) -> str:
        """The conversation whose history shows the most of the state model (ties: lowest id)."""
        return self.conversation_log.most_varied_conversation()


def _date_ms(y: int, m: int, d: int) -> int:
    return ms(datetime(y, m, d, tzinfo=UTC))


def simulate_quarter(seed: int = DEFAULT_SEED, scale: float = 1.0) -> Quarter:
    """Everything that happened in the workspace in 2026-Q3, deterministically from ``seed``."""
    rng = random.Random(seed)
    roster = build_roster(rng, n_staff=40, n_customers=max(50, round(2000 * scale)))
    agents = roster.agents
    # Who plays which part (fixed positions, so incidents never share an actor by accident).
    removed_user, leaver, escalator, snooper, victim = agents[10], agents[12], agents[7], agents[14], agents[9]
    joiners = agents[-2:]
    joiners[0].active_from = _date_ms(2026, 8, 3)
    joiners[1].active_from = _date_ms(2026, 9, 7)
    leaver.active_until = local_ms(datetime(2026, 8, 28).date(), 18, leaver.tz)
    removed_user.active_until = local_ms(datetime(2026, 9, 2).date(), 7, removed_user.tz)
    admins = roster.admins

    schedule = build_schedule(rng, roster.staff)
    shift_ip = assign_shift_ips(rng, roster, schedule)
    ws = WorkspaceLog(random.Random(seed + 1), gap_dates={inc.LOGGING_GAP})
    cl = ConversationLog(random.Random(seed + 2))

    world = ConversationWorld(rng, roster, schedule, shift_ip, ws, cl)
    simulate_conversations(world, max(60, round(5000 * scale)))
    convs = world.conversations
    erasures = erase_customers(world, [_date_ms(2026, 8, 4), _date_ms(2026, 8, 25), _date_ms(2026, 9, 15)])

    sessions(rng, ws, roster, schedule, shift_ip)
    staff_changes(rng, ws, roster, schedule, shift_ip, joiners)
    orderly_leaver(rng, ws, roster, schedule, shift_ip, leaver)
    gap_day = ms(datetime.combine(inc.LOGGING_GAP, datetime.min.time(), UTC)) // DAY
    prompt = administration(rng, ws, roster, schedule, shift_ip, convs, scale=scale, avoid={gap_day})
    platform(rng, ws, scale=scale)

    # Integrations: keys made before the quarter, one rotated, and the leaver's own key.
    keys = roster.keys
    integrations(rng, ws, keys["key_crm_sync"], start=START_MS, end=END_MS, every_min=2.3 / scale, conversations=convs)
    rotation = _date_ms(2026, 8, 10) + 14 * 3_600_000
    integrations(
        rng, ws, keys["key_analytics"], start=START_MS, end=rotation, every_min=60, conversations=convs,
        label_path="GET /v1/metrics",
    )  # fmt: skip
    analytics_owner = keys["key_analytics"].owner
    v2 = ApiKey("key_analytics_v2", "Analytics export v2", analytics_owner, ["conversations:read"], "192.0.2.14")
    keys[v2.id] = v2
    ws.add(
        rotation - 120_000, "auth.api_key_created", analytics_owner.actor(), resource={"type": "api_key", "id": v2.id},
        ip=analytics_owner.office_ip, user_agent=analytics_owner.user_agent, after={"name": v2.label, "scopes": v2.scopes},
    )  # fmt: skip
    ws.add(
        rotation, "auth.api_key_revoked", analytics_owner.actor(), resource={"type": "api_key", "id": "key_analytics"},
        ip=analytics_owner.office_ip, user_agent=analytics_owner.user_agent, reason="Rotated: replaced by key_analytics_v2",
    )  # fmt: skip
    keys["key_analytics"].revoked_at = rotation
    integrations(
        rng,
        ws,
        v2,
        start=rotation + 60_000,
        end=END_MS,
        every_min=60,
        conversations=convs,
        label_path="GET /v1/metrics",
    )

    # The incidents.
    planted: list[inc.Planted] = []
    planted.append(inc.brute_force_login(rng, ws, admins[3]))
    sprayed = sorted(
        rng.sample([s for s in roster.staff if s.active_until is None and s not in joiners], 15), key=lambda s: s.id
    )
    planted.append(inc.password_spraying(rng, ws, sprayed))
    planted.append(inc.account_takeover(rng, ws, victim, convs))
    planted.append(inc.large_export(rng, ws, schedule, shift_ip, admins[4], convs))
    planted.append(inc.off_hours_config_change(rng, ws, admins[2], admins[1], schedule, shift_ip, prompt))
    planted.append(inc.privilege_escalation(rng, ws, schedule, shift_ip, escalator))
    sheets = ApiKey("key_sheets_export", "Sheets export", removed_user, ["conversations:read"], "192.0.2.15", True)
    keys[sheets.id] = sheets
    created, removed = inc.removed_user_key(rng, ws, schedule, shift_ip, removed_user, admins[1], sheets)
    calls = integrations(
        rng, ws, sheets, start=created["occurred_at"] + 600_000, end=END_MS, every_min=55, conversations=convs,
        collect=True,
    )  # fmt: skip
    planted.append(inc.removed_user_activity(removed_user, sheets, created, removed, calls))
    planted.append(inc.conversation_snooping(rng, ws, schedule, shift_ip, snooper, convs))
    # Already in the activity above, named for the rules that must find them (no new events, no rng).
    planted.append(inc.orphaned_api_key(removed_user, sheets, created, removed, calls))
    planted.append(inc.retention_below_required(ws.find("config.retention_changed")))

    return Quarter(
        seed=seed,
        scale=scale,
        roster=roster,
        conversations=convs,
        workspace_log=ws,
        conversation_log=cl,
        planted=planted,
        hostile_note_conversations=sorted(set(world.hostile_note_conversations)),
        erasure_events=erasures,
    )
