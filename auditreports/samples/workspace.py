"""Ordinary workspace activity: sessions, administration, configuration, integrations.

This is the background the detections must stay quiet on: typo'd passwords followed by
a login from a known address, exports of a few dozen records, configuration changes in
office hours, keys revoked before their owner leaves, a steady hum of integration calls.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .conversations import Conversation
from .logs import DEPLOY_ACTOR, SYSTEM_ACTOR, WorkspaceLog, key_actor
from .roster import INTEGRATION_AGENT, ApiKey, Roster, Staff
from .timeline import DAY, END_MS, HOUR, MINUTE, START_MS, Schedule, local_hour

SECOND = 1000

SYSTEM_PROMPTS = (
    "You are Acme Health's support assistant. Answer from the help centre only; hand off billing disputes.",
    "You are Acme Health's support assistant. Answer from the help centre only; hand off billing disputes and anything clinical.",
    "You are Acme Health's support assistant. Be concise. Answer from the help centre only; never give medical advice; hand off billing disputes and anything clinical.",
    "You are Acme Health's support assistant. Be concise and friendly. Answer from the help centre and billing FAQ; never give medical advice; hand off disputes and anything clinical.",
)
MODELS = ("gpt-4.1-mini", "gpt-4.1", "claude-sonnet-4")


def assign_shift_ips(rng: random.Random, roster: Roster, schedule: Schedule) -> dict[tuple[str, int], str]:
    """Where each person works from on each shift: their office most days, home otherwise."""
    out = {}
    for person in roster.staff:
        for start, _ in schedule.shifts.get(person.id, ()):
            out[(person.id, start)] = person.office_ip if rng.random() < 0.72 else person.home_ip
    return out


def sessions(rng: random.Random, ws: WorkspaceLog, roster: Roster, schedule: Schedule, shift_ip: dict) -> None:
    """A login at the start of each shift (sometimes after a typo), a logout at the end."""
    for person in roster.staff:
        for start, end in schedule.shifts.get(person.id, ()):
            ip = shift_ip[(person.id, start)]
            t = start - rng.randrange(30 * SECOND, 8 * MINUTE)
            if rng.random() < 0.035:  # a typo or two, then in
                for _ in range(rng.choice((1, 1, 2))):
                    t -= rng.randrange(15 * SECOND, 90 * SECOND)
                    ws.add(
                        t,
                        "auth.login_failed",
                        person.actor(),
                        outcome="failure",
                        ip=ip,
                        user_agent=person.user_agent,
                        reason=rng.choice(("bad_password", "bad_password", "mfa_code_invalid")),
                    )
                t = start - rng.randrange(10 * SECOND, 30 * SECOND)
            ws.add(
                t, "auth.login_succeeded", person.actor(), ip=ip, user_agent=person.user_agent, reason="password+totp"
            )
            if rng.random() < 0.82:
                ws.add(
                    end + rng.randrange(0, 10 * MINUTE),
                    "auth.logout",
                    person.actor(),
                    ip=ip,
                    user_agent=person.user_agent,
                )


@dataclass
class Admin:
    """Helpers to place an admin's action inside one of their shifts."""

    rng: random.Random
    ws: WorkspaceLog
    schedule: Schedule
    shift_ip: dict

    def moment(self, person: Staff, after: int, before: int = END_MS) -> tuple[int, str] | None:
        """A random time inside a shift of ``person`` between ``after`` and ``before``."""
        shifts = [(s, e) for s, e in self.schedule.shifts.get(person.id, ()) if s >= after and e <= before]
        if not shifts:
            return None
        s, e = self.rng.choice(shifts)
        return self.rng.randrange(s + 20 * MINUTE, e - 20 * MINUTE), self.shift_ip[(person.id, s)]

    def do(self, person: Staff, when: tuple[int, str], action: str, **kw) -> dict:
        t, ip = when
        return self.ws.add(t, action, person.actor(), ip=ip, user_agent=person.user_agent, **kw)


def administration(
    rng: random.Random,
    ws: WorkspaceLog,
    roster: Roster,
    schedule: Schedule,
    shift_ip: dict,
    conversations: list[Conversation],
    *,
    scale: float,
    avoid: set,
) -> tuple[str, int]:
    """Configuration changes, exports, QA reviews, role and MFA changes, in office hours.

    Returns the bot's system prompt and its version as the background left them.
    """
    adm = Admin(rng, ws, schedule, shift_ip)
    admins = roster.admins
    owner = admins[0]

    def when(person: Staff, after: int = START_MS, before: int = END_MS) -> tuple[int, str] | None:
        for _ in range(20):
            m = adm.moment(person, after, before)
            if m is not None and m[0] // DAY not in avoid:
                return m
        return None

    # System prompt revisions, model settings, knowledge-base refreshes.
    prompt = 0
    for i in range(1, len(SYSTEM_PROMPTS)):
        person = rng.choice(admins)
        m = when(person, START_MS + (i - 1) * 23 * DAY, START_MS + i * 23 * DAY)
        if m:
            adm.do(
                person,
                m,
                "config.system_prompt_updated",
                resource={"type": "bot", "id": "bot_faq"},
                before={"system_prompt": SYSTEM_PROMPTS[prompt], "version": prompt + 1},
                after={"system_prompt": SYSTEM_PROMPTS[i], "version": i + 1},
                reason="Prompt review",
            )
            prompt = i
    settings = {"model": MODELS[0], "temperature": 0.2, "max_tokens": 800}
    for _ in range(5):
        person = rng.choice(admins)
        m = when(person)
        if m:
            new = dict(settings)
            knob = rng.choice(("model", "temperature", "max_tokens"))
            if knob == "model":
                new["model"] = rng.choice([x for x in MODELS if x != settings["model"]])
            elif knob == "temperature":
                new["temperature"] = rng.choice((0.1, 0.2, 0.3, 0.5))
            else:
                new["max_tokens"] = rng.choice((600, 800, 1000, 1200))
            adm.do(
                person, m, "config.model_settings_updated", resource={"type": "bot", "id": "bot_faq"},
                before=settings, after=new,
            )  # fmt: skip
            settings = new
    docs = {"kb_help_center": 212, "kb_billing": 48, "kb_clinical_faq": 63}
    for _ in range(max(3, int(26 * min(scale, 3)))):
        person = rng.choice(admins)
        m = when(person)
        if m:
            kb = rng.choice(sorted(docs))
            added = rng.randrange(1, 6)
            adm.do(
                person, m, "config.knowledge_base_updated", resource={"type": "knowledge_base", "id": kb},
                before={"documents": docs[kb]}, after={"documents": docs[kb] + added},
                reason=f"Added {added} article(s)",
            )  # fmt: skip
            docs[kb] += added
    m = when(owner, START_MS + 20 * DAY)
    if m:
        adm.do(
            owner, m, "config.retention_changed", resource={"type": "workspace", "id": "ws_1"},
            before={"conversation_retention_days": 365}, after={"conversation_retention_days": 730},
            reason="Align with HIPAA six-year documentation policy review",
        )  # fmt: skip
    m = when(owner, START_MS + 40 * DAY)
    if m:
        adm.do(
            owner, m, "config.audit_log_settings_changed", resource={"type": "workspace", "id": "ws_1"},
            before={"siem_stream": None}, after={"siem_stream": "https://siem.acme.example/ingest"},
            reason="Stream audit log to the SIEM",
        )  # fmt: skip

    # Ordinary exports: a few to a couple of hundred conversations.
    for _ in range(max(4, int(60 * min(scale, 3)))):
        person = rng.choice(admins + rng.sample(roster.agents, 3))
        m = when(person)
        if not m:
            continue
        known = [c for c in conversations if c.created < m[0] and (c.erased_at is None or c.erased_at > m[0])]
        if len(known) < 5:
            continue
        n = rng.randrange(5, min(200, len(known)) + 1)
        picked = rng.sample(known, n)
        adm.do(
            person, m, "data.conversations_exported", resource={"type": "workspace", "id": "ws_1"},
            reason=rng.choice(("CSV export: tag billing, last 30 days", "CSV export: my resolved conversations",
                               "JSON export for QA sampling", "CSV export: escalations this month")),
            record_count=n, subject_ids=sorted({c.customer.id for c in picked}),
        )  # fmt: skip

    # QA: admins open a handful of other people's conversations per shift.
    by_created = sorted(conversations, key=lambda c: c.created)
    for person in admins:
        for s, e in schedule.shifts.get(person.id, ()):
            k = rng.choice((0, 1, 2, 2, 3, 4))
            recent = [c for c in by_created if s - 7 * DAY < c.created < s and not c.deleted]
            for c in rng.sample(recent, min(k, len(recent))):
                t = rng.randrange(s + 10 * MINUTE, e - 10 * MINUTE)
                ws.add(
                    t, "data.conversation_viewed", person.actor(), resource={"type": "conversation", "id": c.id},
                    ip=shift_ip[(person.id, s)], user_agent=person.user_agent, reason="QA review",
                    subject_ids=[c.customer.id],
                )  # fmt: skip

    # A promotion by the owner, a lost phone, a couple of self-service password resets.
    promoted = roster.agents[3]
    m = when(owner, START_MS + 30 * DAY)
    if m:
        adm.do(
            owner, m, "auth.permission_changed", resource={"type": "user", "id": promoted.id},
            before={"role": "agent"}, after={"role": "admin"}, reason="Promoted to team lead",
        )  # fmt: skip
        ws.role_changes.setdefault(promoted.id, []).append((m[0], "admin"))
    lost = roster.agents[5]
    m = when(admins[1], START_MS + 50 * DAY)
    if m:
        adm.do(
            admins[1], m, "auth.mfa_disabled", resource={"type": "user", "id": lost.id},
            reason="Lost phone; identity verified by video call",
        )  # fmt: skip
        m2 = when(lost, m[0] + HOUR)
        if m2:
            adm.do(lost, m2, "auth.mfa_enabled", resource={"type": "user", "id": lost.id})
    for person in rng.sample(roster.staff[1:], 5):
        m = when(person)
        if m:
            adm.do(person, m, "auth.password_reset", resource={"type": "user", "id": person.id}, reason="self_service")
    return SYSTEM_PROMPTS[prompt], prompt + 1


def staff_changes(
    rng: random.Random, ws: WorkspaceLog, roster: Roster, schedule: Schedule, shift_ip: dict, joiners: list[Staff]
) -> None:
    """Invitations for joiners (MFA on their first day) and an orderly leaver."""
    adm = Admin(rng, ws, schedule, shift_ip)
    inviter = roster.admins[1]
    for person in joiners:
        first = schedule.shifts.get(person.id)
        if not first:
            continue
        m = adm.moment(inviter, person.active_from - 6 * DAY, person.active_from)
        if m:
            adm.do(
                inviter, m, "auth.user_invited", resource={"type": "user", "id": person.id},
                after={"email": person.email, "role": person.role},
            )  # fmt: skip
        s, _ = first[0]
        ws.add(
            s + 4 * MINUTE, "auth.mfa_enabled", person.actor(), resource={"type": "user", "id": person.id},
            ip=shift_ip[(person.id, s)], user_agent=person.user_agent,
        )  # fmt: skip


def orderly_leaver(
    rng: random.Random, ws: WorkspaceLog, roster: Roster, schedule: Schedule, shift_ip: dict, leaver: Staff
) -> None:
    """A leaver whose access is removed the right way: no key, removal in office hours."""
    adm = Admin(rng, ws, schedule, shift_ip)
    assert leaver.active_until is not None
    m = adm.moment(roster.admins[2], leaver.active_until, leaver.active_until + 5 * DAY)
    if m:
        adm.do(
            roster.admins[2], m, "auth.user_removed", resource={"type": "user", "id": leaver.id},
            before={"role": leaver.role, "email": leaver.email}, reason="Leaver: last working day",
        )  # fmt: skip
        ws.removals[leaver.id] = m[0]


def integrations(
    rng: random.Random,
    ws: WorkspaceLog,
    key: ApiKey,
    *,
    start: int,
    end: int,
    every_min: float,
    conversations: list[Conversation],
    label_path: str = "GET /v1/conversations",
    collect: bool = False,
) -> list[dict]:
    """A key polling the API around the clock from its integration server.

    Returns the calls' events if ``collect`` (an incident names them), else nothing: the
    background's calls are most of the log and need not be held twice.
    """
    out = []
    by_created = sorted(conversations, key=lambda c: c.created)
    created = [c.created for c in by_created]
    import bisect

    t = start + rng.randrange(int(every_min * MINUTE))
    while t < end:
        if rng.random() < 0.3 and by_created:
            hi = bisect.bisect_left(created, t)
            c = by_created[rng.randrange(max(0, hi - 200), hi)] if hi else None
            if c is not None and (c.erased_at is None or c.erased_at > t):
                ev = ws.add(
                    t,
                    "integration.api_call",
                    key_actor(key),
                    resource={"type": "conversation", "id": c.id},
                    ip=key.ip,
                    user_agent=INTEGRATION_AGENT,
                    reason=f"{key.label}: GET /v1/conversations/{c.id} 200",
                    record_count=1,
                    subject_ids=[c.customer.id],
                    owner=key.owner,
                )
                if collect:
                    out.append(ev)
        else:
            status = "200" if rng.random() > 0.004 else "429"
            ev = ws.add(
                t,
                "integration.api_call",
                key_actor(key),
                resource={"type": "api_endpoint", "id": label_path},
                outcome="success" if status == "200" else "failure",
                ip=key.ip,
                user_agent=INTEGRATION_AGENT,
                reason=f"{key.label}: {label_path}?updated_since=… {status}",
                record_count=rng.randrange(0, 40) if status == "200" else None,
                owner=key.owner,
            )
            if collect:
                out.append(ev)
        t += int(every_min * MINUTE * (0.5 + rng.random()))
    return out


def platform(rng: random.Random, ws: WorkspaceLog, *, scale: float) -> None:
    """Deploys twice a week in London office hours, a trickle of errors, one short outage."""
    version = 1
    t = START_MS
    while t < END_MS:
        t += rng.choice((2, 3, 4)) * DAY
        day_start = t - t % DAY
        when = day_start + 9 * HOUR + rng.randrange(0, 6 * HOUR)
        if when >= END_MS:
            break
        if local_hour(when, "Europe/London") < 9 or rng.random() < 0.1:
            continue
        ws.add(
            when, "system.deployed", DEPLOY_ACTOR, resource={"type": "service", "id": "chat-api"},
            before={"version": f"2026.{version}"}, after={"version": f"2026.{version + 1}"},
        )  # fmt: skip
        version += 1
    for _ in range(int(180 * max(scale, 0.2))):
        when = rng.randrange(START_MS, END_MS)
        ws.add(
            when, "system.error", SYSTEM_ACTOR, resource={"type": "service", "id": rng.choice(("chat-api", "llm-gateway"))},
            outcome="failure",
            reason=rng.choice(("LLM provider timeout after 30 s", "Webhook endpoint returned 502",
                               "Knowledge index refresh failed; retried", "Rate limited by LLM provider")),
        )  # fmt: skip
    when = START_MS + 61 * DAY + 14 * HOUR + 7 * MINUTE
    ws.add(
        when, "system.outage", SYSTEM_ACTOR, resource={"type": "service", "id": "llm-gateway"}, outcome="failure",
        reason="LLM provider degraded; bot replies paused for 37 minutes", after={"duration_minutes": 37},
    )  # fmt: skip
